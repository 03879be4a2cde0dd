-- login_grants: every Access-Accept updates its subscriber's row (the reply
-- and when it was granted), so the update must be cheap. With an index on
-- granted_at each update was a new row version in both indexes; without
-- it, and with room left on each page, PostgreSQL updates in place (a HOT
-- update: no index touched). Measured on 10,000-login batches over 100,000
-- grants: 20 us a login before, 10 after. The hourly pruning reads the
-- table instead, a thousand pages per statement (db/enforcement.rs).
-- The table is rewritten with pages half full by 0028 (which locks it
-- while it runs: a few seconds at a million grants).
DROP INDEX login_grants_granted_at_idx;
ALTER TABLE login_grants SET (fillfactor = 50);
