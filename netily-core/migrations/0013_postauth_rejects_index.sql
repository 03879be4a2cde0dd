-- radpostauth: one subscriber's rejects indexed; accepts found by time.
--
-- Every login writes a radpostauth row, and the B-tree on (username,
-- authdate) was most of what a row cost PostgreSQL: each insert lands on a
-- random leaf of an index as large as the log. Measured on the benchmark
-- (2 cores, ~28,000 logins/s): PostgreSQL spent 0.25 of a core on the log
-- with it and 0.12 without; as a bulk insert, 6.3 us a row with it and
-- 2.3 us without.
--
-- What an operator asks one subscriber's log is "why was X refused": those
-- rows keep an index (rejects are the small share of a busy log). Accepts
-- of one subscriber are found by time through the BRIN index on authdate,
-- newest window first (netadmin auth-log --user); the subscriber's sessions
-- (radacct) show every login that connected.

DROP INDEX radpostauth_username_authdate_idx;
CREATE INDEX radpostauth_rejects_idx ON radpostauth (username, authdate)
    WHERE reply = 'Access-Reject';
