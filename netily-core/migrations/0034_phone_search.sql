-- The console's subscriber search by phone number matches the number's end
-- (db::customers::list_customers): "0722 123 456" finds "+254 722 123 456".
-- A b-tree over the reversed digits serves it as a prefix match.
CREATE INDEX customers_phone_tail_idx ON customers
    (reverse(regexp_replace(coalesce(phone, ''), '[^0-9]', '', 'g')) text_pattern_ops);

-- The console's sessions online, newest first: the open ones alone, in
-- start order (an open session's start never changes, so an Interim-Update
-- can still be a HOT update).
CREATE INDEX radacct_open_start_idx ON radacct (acctstarttime) WHERE acctstoptime IS NULL;

-- The new expression has no statistics until analyzed: without them the
-- planner cannot tell a phone search is selective.
ANALYZE customers;
