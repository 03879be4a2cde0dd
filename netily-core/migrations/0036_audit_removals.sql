-- A subscriber's history starts after the last removal of their username
-- (db::audit::last_removal, read on every subscriber page): one probe of
-- this index instead of reading every audit row of the subscriber.
CREATE INDEX audit_log_removals_idx ON audit_log (subscriber, id)
    WHERE entity = 'customers' AND after IS NULL;
