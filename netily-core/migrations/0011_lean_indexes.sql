-- Fewer index writes per accounting packet and per login, same lookups.
--
-- Every Accounting-Request updates radacct and every login inserts into
-- radpostauth; each index on them is one more write per packet. These go:
-- * radacct_active_session_idx (AcctUniqueId WHERE open): the unique index
--   on AcctUniqueId already finds any session, open or not;
-- * radpostauth_username_idx: radpostauth_username_authdate_idx starts with
--   username and serves the same lookups;
-- and the two Class indexes only hold rows that have a Class (Netily writes
-- none; a lookup by Class still uses them).
-- radacct keeps 15% of each page free, so an Interim-Update, which changes
-- no indexed column, is written in place (a HOT update) without touching
-- any index.

DROP INDEX radacct_active_session_idx;
DROP INDEX radacct_calss_idx;
CREATE INDEX radacct_class_idx ON radacct (Class) WHERE Class IS NOT NULL;
ALTER TABLE radacct SET (fillfactor = 85);

DROP INDEX radpostauth_username_idx;
DROP INDEX radpostauth_class_idx;
CREATE INDEX radpostauth_class_idx ON radpostauth (Class) WHERE Class IS NOT NULL;
