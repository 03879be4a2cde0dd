-- radacct partitioned by month of acctstarttime, so a month is dropped in
-- O(1) (DETACH + DROP) however many rows it holds, and a reader's
-- acctstarttime range reads only its months.
--
-- Still the stock table for stock readers: same name, same columns, same
-- index names for the same lookups. What changes:
-- * PostgreSQL requires the partition key in every unique index, so
--   AcctUniqueId is unique per (AcctUniqueId, AcctStartTime), and RadAcctId
--   per (RadAcctId, AcctStartTime). Netily's accounting writer keeps one
--   row per session itself: it looks the session up by AcctUniqueId first
--   (in the months around the packet's start, then everywhere for a packet
--   that is not a Start), inserts with the start it found, so its
--   ON CONFLICT (acctuniqueid, acctstarttime) meets the stored row, and
--   never moves a row's start into another month.
-- * Partitions: radacct_YYYY_MM for a UTC month; radacct_history holds the
--   rows from before this migration, everything before the month after it
--   ran (it is dropped whole once that month passes retention);
--   radacct_default holds what no month takes: a start with no partition
--   yet (a router whose clock is years off) or none at all. Months are
--   created ahead by the enforcer and `netadmin retention`
--   (netily_radacct_month), which also gives a month still in the default
--   partition its own partition, moving its rows there.
-- * radacct_user_start_idx (UserName, AcctStartTime): a subscriber's session
--   history, newest first, reads one index range per month.
-- * AcctStartTime is required (the partition key; rows without one could
--   never be matched by the writer's upsert): a row from before without one
--   takes its update or stop time (else 1970-01-01).
-- * radacct_active_session_idx (AcctUniqueId WHERE open), the stock index
--   dropped by 0011, is back: an open session looked up by its id (the
--   enforcer's grants, a kick) reads each month's small index of open
--   sessions, not its index of every session.
--
-- Time: this migration reads the table once and builds the two unique
-- indexes and the history index on the existing rows (about a minute per
-- ten million rows here). Accounting waits in radiusd's journal meanwhile.

-- Nothing this migration moves or changes is news to the snapshots, nor
-- usage to count (the radacct triggers skip Netily's own writers).
SELECT set_config('netily.accounting_writer', 'on', true);

ALTER TABLE radacct RENAME TO radacct_history;
UPDATE radacct_history
   SET acctstarttime = coalesce(acctupdatetime, acctstoptime, to_timestamp(0))
 WHERE acctstarttime IS NULL;
ALTER TABLE radacct_history ALTER COLUMN acctstarttime SET NOT NULL;
-- (The new unique indexes below take over; these would only cost space.)
ALTER TABLE radacct_history DROP CONSTRAINT radacct_pkey;
ALTER TABLE radacct_history DROP CONSTRAINT radacct_acctuniqueid_key;
ALTER INDEX radacct_bulk_close RENAME TO radacct_history_bulk_close;
ALTER INDEX radacct_start_user_idx RENAME TO radacct_history_start_user_idx;
ALTER INDEX radacct_class_idx RENAME TO radacct_history_class_idx;
ALTER INDEX radacct_open_user_idx RENAME TO radacct_history_open_user_idx;

CREATE TABLE radacct (LIKE radacct_history INCLUDING DEFAULTS INCLUDING STORAGE INCLUDING COMMENTS)
    PARTITION BY RANGE (acctstarttime);
ALTER TABLE radacct ALTER COLUMN acctstarttime SET NOT NULL;
-- The ids go on from the same sequence, which must outlive the history.
ALTER SEQUENCE radacct_radacctid_seq OWNED BY radacct.radacctid;
-- Whoever could read or write radacct still can (stock setup.sql grants
-- the radius role; reporting roles).
DO $$
DECLARE
    g record;
BEGIN
    FOR g IN SELECT a.grantee, a.privilege_type, a.is_grantable
               FROM pg_class c, aclexplode(c.relacl) a
              WHERE c.oid = 'radacct_history'::regclass AND a.grantee <> c.relowner
    LOOP
        EXECUTE format('GRANT %s ON radacct TO %s%s', g.privilege_type,
                       CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE g.grantee::regrole::text END,
                       CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
    END LOOP;
END
$$;

CREATE UNIQUE INDEX radacct_id_idx ON radacct (RadAcctId, AcctStartTime);
CREATE UNIQUE INDEX radacct_acctuniqueid_key ON radacct (AcctUniqueId, AcctStartTime);
CREATE INDEX radacct_bulk_close ON radacct (NASIPAddress, AcctStartTime) WHERE AcctStopTime IS NULL;
CREATE INDEX radacct_start_user_idx ON radacct (AcctStartTime, UserName);
CREATE INDEX radacct_class_idx ON radacct (Class) WHERE Class IS NOT NULL;
CREATE INDEX radacct_open_user_idx ON radacct (UserName) WHERE AcctStopTime IS NULL;
CREATE INDEX radacct_user_start_idx ON radacct (UserName, AcctStartTime);
CREATE INDEX radacct_active_session_idx ON radacct (AcctUniqueId) WHERE AcctStopTime IS NULL;

CREATE TABLE radacct_default PARTITION OF radacct DEFAULT WITH (fillfactor = 50);

-- A partition deleted from (retention's cleanup of the default partition, a
-- month given its own partition) must not report open sessions as closed:
-- the delete trigger now skips what Netily's own writers do, as the others do.
DROP TRIGGER radacct_delete_notify ON radacct_history;
CREATE TRIGGER radacct_delete_notify AFTER DELETE ON radacct_history
    FOR EACH ROW WHEN (OLD.acctstoptime IS NULL AND OLD.username IS NOT NULL
                       AND current_setting('netily.accounting_writer', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION netily_notify_session();

-- Every trigger moves to the partitioned table (and so to each partition),
-- as it was defined, whoever defined it.
DO $$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT tgname, pg_get_triggerdef(oid) AS def
               FROM pg_trigger
              WHERE tgrelid = 'radacct_history'::regclass AND NOT tgisinternal
              ORDER BY tgname
    LOOP
        EXECUTE format('DROP TRIGGER %I ON radacct_history', t.tgname);
        EXECUTE regexp_replace(t.def, ' ON (public\.)?radacct_history ', ' ON radacct ');
    END LOOP;
END
$$;

-- The rows from before: rows starting past the month after this one go to
-- the default partition, the rest become radacct_history. An empty table is
-- simply dropped.
DO $$
DECLARE
    upto timestamptz := (date_trunc('month', now() AT TIME ZONE 'UTC') + interval '1 month')
                        AT TIME ZONE 'UTC';
BEGIN
    IF NOT EXISTS (SELECT 1 FROM radacct_history) THEN
        DROP TABLE radacct_history;
        RETURN;
    END IF;
    WITH moved AS (
        DELETE FROM radacct_history
         WHERE acctstarttime >= upto
        RETURNING *
    )
    INSERT INTO radacct_default SELECT * FROM moved;
    EXECUTE format('ALTER TABLE radacct ATTACH PARTITION radacct_history FOR VALUES FROM (MINVALUE) TO (%L)',
                   upto);
END
$$;

-- radacct's partitions, each with its range; lower is NULL for the history
-- (from the beginning), both are NULL for the default partition.
CREATE FUNCTION netily_radacct_partitions()
RETURNS TABLE (name text, lower timestamptz, upper timestamptz, is_default boolean)
LANGUAGE sql STABLE AS $$
    SELECT c.relname::text,
           substring(b.bound FROM 'FROM \(''([^'']+)''\)')::timestamptz,
           substring(b.bound FROM 'TO \(''([^'']+)''\)')::timestamptz,
           b.bound = 'DEFAULT'
      FROM pg_inherits i
      JOIN pg_class c ON c.oid = i.inhrelid
      CROSS JOIN LATERAL (SELECT pg_get_expr(c.relpartbound, c.oid) AS bound) b
     WHERE i.inhparent = 'radacct'::regclass
     ORDER BY 3 NULLS LAST
$$;

-- Gives the UTC month that holds p_month its partition, unless one exists
-- or another partition covers part of it; the month's rows move out of the
-- default partition into it. Returns the new partition's name, or NULL.
-- Takes an exclusive lock on the default partition for the move: callers
-- set a lock_timeout.
CREATE FUNCTION netily_radacct_month(p_month timestamptz) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    lo timestamptz := date_trunc('month', p_month, 'UTC');
    hi timestamptz := date_trunc('month', lo + interval '32 days', 'UTC');
    part text := format('radacct_%s', to_char(lo AT TIME ZONE 'UTC', 'YYYY_MM'));
BEGIN
    -- One at a time (the enforcer and netadmin may both run retention).
    PERFORM pg_advisory_xact_lock(128017107690854);
    IF to_regclass(part) IS NOT NULL
       OR EXISTS (SELECT 1 FROM netily_radacct_partitions() p
                   WHERE NOT p.is_default
                     AND coalesce(p.lower < hi, true) AND p.upper > lo) THEN
        RETURN NULL;
    END IF;
    PERFORM set_config('netily.accounting_writer', 'on', true);
    EXECUTE format('CREATE TABLE %I (LIKE radacct INCLUDING DEFAULTS INCLUDING STORAGE)
                    WITH (fillfactor = 50)', part);
    EXECUTE format('WITH moved AS (DELETE FROM radacct_default
                                    WHERE acctstarttime >= $1 AND acctstarttime < $2
                                   RETURNING *)
                    INSERT INTO %I SELECT * FROM moved', part) USING lo, hi;
    EXECUTE format('ALTER TABLE radacct ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                   part, lo, hi);
    RETURN part;
END
$$;

-- The months around now: last month to two months ahead.
SELECT count(netily_radacct_month(now() + make_interval(months => m))) FROM generate_series(-1, 2) m;

-- Sessions still open in radacct partition p_name (any partition's name).
CREATE FUNCTION netily_radacct_open_sessions(p_name text) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE
    n bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM netily_radacct_partitions() p WHERE p.name = p_name) THEN
        RAISE EXCEPTION 'no radacct partition %', p_name USING ERRCODE = 'undefined_table';
    END IF;
    EXECUTE format('SELECT count(*) FROM %I WHERE acctstoptime IS NULL', p_name) INTO n;
    RETURN n;
END
$$;

-- Detaches radacct partition p_name (O(1) however many rows it holds),
-- unless sessions in it are still open; returns those and the bytes it
-- takes. Holds an exclusive lock on radacct until the transaction ends, so
-- the caller commits at once, sets a lock_timeout, and drops the detached
-- table (netily_radacct_forget) in a transaction of its own.
CREATE FUNCTION netily_radacct_detach(p_name text, OUT open_sessions bigint, OUT bytes bigint)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(128017107690854);
    IF NOT EXISTS (SELECT 1 FROM netily_radacct_partitions() p
                    WHERE p.name = p_name AND NOT p.is_default) THEN
        RAISE EXCEPTION 'no radacct partition %', p_name USING ERRCODE = 'undefined_table';
    END IF;
    -- Locked first, so no session in it can be reopened once counted.
    LOCK TABLE radacct IN ACCESS EXCLUSIVE MODE;
    open_sessions := netily_radacct_open_sessions(p_name);
    bytes := pg_total_relation_size(format('%I', p_name)::regclass);
    IF open_sessions = 0 THEN
        EXECUTE format('ALTER TABLE radacct DETACH PARTITION %I', p_name);
    END IF;
END
$$;

-- Drops a table netily_radacct_detach detached (a radacct_ table that is no
-- partition of radacct); true if there was one.
CREATE FUNCTION netily_radacct_forget(p_name text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF p_name NOT LIKE 'radacct\_%' OR to_regclass(format('%I', p_name)) IS NULL
       OR EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = format('%I', p_name)::regclass) THEN
        RETURN false;
    END IF;
    EXECUTE format('DROP TABLE %I', p_name);
    RETURN true;
END
$$;
