-- radpostauth's planner statistics from a 3,000-row sample instead of 30,000.
--
-- The authentication log only grows, by every login, so PostgreSQL's
-- autovacuum re-analyzes it after each 10% of growth: while the table is
-- young that is many times per million logins, and each default analyze
-- reads 30,000 rows at random (0.45 s of a core on a 10-million-row log on
-- the benchmark machine, about as much as writing the rows themselves
-- during a saturating benchmark run). Netily reads the log by subscriber,
-- reply and time only (`netadmin auth-log`, the dashboard), whose plans a
-- small sample serves as well; with a statistics target of 10 on every
-- column an analyze reads 3,000 rows (0.03 s). Catalog change only.

ALTER TABLE radpostauth
    ALTER COLUMN id SET STATISTICS 10,
    ALTER COLUMN username SET STATISTICS 10,
    ALTER COLUMN pass SET STATISTICS 10,
    ALTER COLUMN reply SET STATISTICS 10,
    ALTER COLUMN calledstationid SET STATISTICS 10,
    ALTER COLUMN callingstationid SET STATISTICS 10,
    ALTER COLUMN authdate SET STATISTICS 10,
    ALTER COLUMN class SET STATISTICS 10,
    ALTER COLUMN reason SET STATISTICS 10,
    ALTER COLUMN nasipaddress SET STATISTICS 10;
