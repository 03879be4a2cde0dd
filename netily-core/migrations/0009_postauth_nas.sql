-- The NAS an authentication came from, for the authentication log
-- (radpostauth has no NAS column in the stock schema). Nullable and added
-- at the end: the stock rlm_sql post-auth query still inserts unchanged.
ALTER TABLE radpostauth ADD COLUMN nasipaddress inet;
