-- Usage an operator reads (netadmin usage, netily_core::db::usage): bytes
-- up and down, time online and sessions begun, per subscriber, router and
-- hour, kept as accounting arrives so that no report reads radacct.
--
-- What is counted is what a session's counters grew by since its previous
-- report (the accounting writer's delta: a retransmit or a late, reordered
-- Interim-Update moves nothing). Growth within one hour is that hour's;
-- growth across hours is spread over them in proportion to the time in
-- each, in integer shares that sum exactly (netily_usage_spread); a
-- session silent for longer than 7 days has its growth spread over the
-- last 7. A session counts once, in the hour it began.
--
-- Hours begin on the ISP's clock (netily_settings.timezone, written by
-- `netadmin migrate` from netily.conf's `timezone`) and are stored as UTC
-- instants: in a zone 5:30 ahead of UTC an hour begins at :30 UTC, so days
-- and months in that zone are exact sums of hours. Changing the zone later
-- leaves earlier rows on the old zone's hours.
--
-- Months (usage_months) and routers' hours (router_usage_hours) are sums
-- of subscribers' hours too, folded in once an hour is over
-- (netily_fold_usage, run by the enforcer and `netadmin usage fold`): a
-- month's top users then read one row per subscriber and router, not 720,
-- and a router's week 168 rows, not one per subscriber and hour. Until an
-- hour is folded, a report adds it from usage_hours
-- (netily_settings.usage_folded_upto: hours before it are folded); growth
-- that arrives late, for an hour already folded, is added to the
-- subscriber's hour and month at once and appended to router_usage_late,
-- which the next fold adds to the router's hour.
-- Writing only the subscriber's hour on the accounting path keeps what the
-- rollups cost there to one row each, and keeps writers of one router from
-- queueing on its row.

CREATE TABLE netily_settings (
    only_row          boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    timezone          text NOT NULL DEFAULT 'UTC',
    usage_folded_upto timestamptz NOT NULL DEFAULT date_trunc('hour', now())
);
INSERT INTO netily_settings DEFAULT VALUES;

CREATE FUNCTION netily_zone() RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce((SELECT timezone FROM netily_settings), 'UTC')
$$;

-- bytes_up is Acct-Input-Octets (from the subscriber), bytes_down
-- Acct-Output-Octets. Sums saturate at the top of bigint, never fail.
CREATE TABLE usage_hours (
    username     text        NOT NULL,
    hour         timestamptz NOT NULL,
    nasipaddress inet        NOT NULL,
    bytes_up     bigint      NOT NULL DEFAULT 0,
    bytes_down   bigint      NOT NULL DEFAULT 0,
    seconds      bigint      NOT NULL DEFAULT 0,
    sessions     integer     NOT NULL DEFAULT 0,
    PRIMARY KEY (username, hour, nasipaddress)
) WITH (fillfactor = 90);
-- (The day's or hour range's top users; rows arrive in hour order.)
CREATE INDEX usage_hours_hour_brin ON usage_hours USING brin (hour);

CREATE TABLE usage_months (
    month        timestamptz NOT NULL,
    username     text        NOT NULL,
    nasipaddress inet        NOT NULL,
    bytes_up     bigint      NOT NULL DEFAULT 0,
    bytes_down   bigint      NOT NULL DEFAULT 0,
    seconds      bigint      NOT NULL DEFAULT 0,
    sessions     integer     NOT NULL DEFAULT 0,
    PRIMARY KEY (month, username, nasipaddress)
) WITH (fillfactor = 90);
CREATE INDEX usage_months_username_idx ON usage_months (username, month);

CREATE TABLE router_usage_hours (
    nasipaddress inet        NOT NULL,
    hour         timestamptz NOT NULL,
    bytes_up     bigint      NOT NULL DEFAULT 0,
    bytes_down   bigint      NOT NULL DEFAULT 0,
    seconds      bigint      NOT NULL DEFAULT 0,
    sessions     integer     NOT NULL DEFAULT 0,
    PRIMARY KEY (nasipaddress, hour)
) WITH (fillfactor = 90);

-- a + b, or the top of bigint where that would overflow (b >= 0): sums
-- never fail, whatever a row written by hand holds.
CREATE FUNCTION netily_add(a bigint, b bigint) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN a > 9223372036854775807 - b THEN 9223372036854775807 ELSE a + b END
$$;

-- Growth that arrived for routers' hours already folded: appended, never
-- updated, so writers never wait on a router's row (every session of a
-- router would, after an outage); the next fold adds it in.
CREATE TABLE router_usage_late (
    nasipaddress inet        NOT NULL,
    hour         timestamptz NOT NULL,
    bytes_up     bigint      NOT NULL,
    bytes_down   bigint      NOT NULL,
    seconds      bigint      NOT NULL,
    sessions     integer     NOT NULL
);

-- What grew between `since` and `upto` (up, down, secs), by hour of `zone`.
-- Within one hour (Interim-Updates minutes apart: nearly every packet) it
-- is that hour's. Across hours each hour's share is floor(total * elapsed
-- at its end / span) minus the same at its start, so the shares sum to the
-- total exactly. Growth with no span (a retransmit's moment, or `since`
-- unknown) is all in upto's hour.
CREATE FUNCTION netily_usage_spread(since timestamptz, upto timestamptz, zone text,
                                    up bigint, down bigint, secs bigint)
RETURNS TABLE (hour timestamptz, up bigint, down bigint, secs bigint)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT date_trunc('hour', upto, zone), up, down, secs
     WHERE since IS NULL OR since >= upto OR since >= date_trunc('hour', upto, zone)
    UNION ALL
    SELECT h,
           (floor(up::numeric * e1 / span) - floor(up::numeric * e0 / span))::bigint,
           (floor(down::numeric * e1 / span) - floor(down::numeric * e0 / span))::bigint,
           (floor(secs::numeric * e1 / span) - floor(secs::numeric * e0 / span))::bigint
      FROM (SELECT greatest(since, upto - interval '7 days') AS s) b,
           LATERAL (SELECT extract(epoch FROM upto - b.s) AS span) w,
           LATERAL generate_series(date_trunc('hour', b.s, zone), upto, interval '1 hour') AS h,
           LATERAL (SELECT extract(epoch FROM greatest(h, b.s) - b.s) AS e0,
                           extract(epoch FROM least(h + interval '1 hour', upto) - b.s) AS e1) e
     WHERE since < date_trunc('hour', upto, zone) AND h < upto
$$;

-- Adds subscribers' hours to the months and, with p_routers (the fold,
-- which holds the writers off), to the routers' hours (one element per
-- hour row; rows of one key are summed first, and locked in key order).
CREATE FUNCTION netily_add_folded(p_zone text, p_hour timestamptz[], p_who text[], p_nas inet[],
                                  p_up bigint[], p_down bigint[], p_secs bigint[],
                                  p_n integer[], p_routers boolean)
RETURNS bigint LANGUAGE sql SET jit = off AS $$
    WITH x AS MATERIALIZED (
        SELECT * FROM unnest(p_hour, p_who, p_nas, p_up, p_down, p_secs, p_n)
                      AS x(hour, who, nas, up, down, secs, n)
    ), months AS (
        INSERT INTO usage_months AS u (month, username, nasipaddress, bytes_up, bytes_down,
                                       seconds, sessions)
        SELECT date_trunc('month', hour, p_zone), who, nas,
               least(sum(up), 9223372036854775807)::bigint,
               least(sum(down), 9223372036854775807)::bigint,
               least(sum(secs), 9223372036854775807)::bigint, least(sum(n), 2147483647)::integer
          FROM x GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (month, username, nasipaddress) DO UPDATE SET
            bytes_up = netily_add(u.bytes_up, EXCLUDED.bytes_up),
            bytes_down = netily_add(u.bytes_down, EXCLUDED.bytes_down),
            seconds = netily_add(u.seconds, EXCLUDED.seconds),
            sessions = least(u.sessions::bigint + EXCLUDED.sessions, 2147483647)::integer
        RETURNING 1
    ), routers AS (
        INSERT INTO router_usage_hours AS u (nasipaddress, hour, bytes_up, bytes_down, seconds,
                                             sessions)
        SELECT nas, hour, least(sum(up), 9223372036854775807)::bigint,
               least(sum(down), 9223372036854775807)::bigint,
               least(sum(secs), 9223372036854775807)::bigint, least(sum(n), 2147483647)::integer
          FROM x WHERE p_routers GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (nasipaddress, hour) DO UPDATE SET
            bytes_up = netily_add(u.bytes_up, EXCLUDED.bytes_up),
            bytes_down = netily_add(u.bytes_down, EXCLUDED.bytes_down),
            seconds = netily_add(u.seconds, EXCLUDED.seconds),
            sessions = least(u.sessions::bigint + EXCLUDED.sessions, 2147483647)::integer
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM months) + (SELECT count(*) FROM routers)
$$;

-- Folds the hours from usage_folded_upto up to `upto` (at most the start
-- of the current hour, and at most `max_hours` of them) into the months
-- and the routers' hours; returns the hours folded. Waits for writers in
-- flight (their shared lock), at most lock_timeout, and holds them off
-- until it commits: callers fold an hour per call.
CREATE FUNCTION netily_fold_usage(upto timestamptz, max_hours integer)
RETURNS integer LANGUAGE plpgsql SET jit = off SET lock_timeout = '2s' AS $$
DECLARE
    zone text := netily_zone();
    since timestamptz;
    target timestamptz;
BEGIN
    -- Nothing to fold (nearly every call): no lock, no wait for writers.
    SELECT usage_folded_upto INTO since FROM netily_settings;
    IF least(upto, date_trunc('hour', now(), zone)) <= since
       AND NOT EXISTS (SELECT 1 FROM router_usage_late) THEN
        RETURN 0;
    END IF;
    PERFORM pg_advisory_xact_lock(128017107690853);
    SELECT usage_folded_upto INTO since FROM netily_settings FOR UPDATE;
    target := greatest(since, least(upto, date_trunc('hour', now(), zone),
                                    since + make_interval(hours => greatest(max_hours, 0))));
    PERFORM netily_add_folded(zone, array_agg(hour), array_agg(username),
                              array_agg(nasipaddress), array_agg(bytes_up), array_agg(bytes_down),
                              array_agg(seconds), array_agg(sessions), true)
       FROM usage_hours WHERE hour >= since AND hour < target;
    WITH late AS (
        DELETE FROM router_usage_late RETURNING *
    )
    INSERT INTO router_usage_hours AS u (nasipaddress, hour, bytes_up, bytes_down, seconds, sessions)
    SELECT nasipaddress, hour, least(sum(bytes_up), 9223372036854775807)::bigint,
           least(sum(bytes_down), 9223372036854775807)::bigint,
           least(sum(seconds), 9223372036854775807)::bigint,
           least(sum(sessions), 2147483647)::integer
      FROM late GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (nasipaddress, hour) DO UPDATE SET
        bytes_up = netily_add(u.bytes_up, EXCLUDED.bytes_up),
        bytes_down = netily_add(u.bytes_down, EXCLUDED.bytes_down),
        seconds = netily_add(u.seconds, EXCLUDED.seconds),
        sessions = least(u.sessions::bigint + EXCLUDED.sessions, 2147483647)::integer;
    UPDATE netily_settings SET usage_folded_upto = target;
    RETURN floor(extract(epoch FROM target - since) / 3600)::integer;
END
$$;

-- Adds sessions' growth to the subscribers' hours (and, for hours already
-- folded, to the months and routers' hours): one element per session in
-- each array (who, its router, its previous report, this one, what grew,
-- and when it began if this report opened it, else NULL). Netily's
-- accounting writer calls it once per batch (db/accounting/sql.rs), the
-- trigger below once per row written by anyone else (stock rlm_sql,
-- netadmin, a hand-written UPDATE). A subscriber's hours are written by
-- one writer at a time (its packets are never in two batches at once); a
-- late hour's router growth is appended to router_usage_late, so writers
-- never wait on a router's row (measured: with one shared row, batches
-- replayed after the bench queued behind each other past the statement
-- timeout and were never applied). The shared
-- advisory lock keeps a fold from running between reading
-- usage_folded_upto and this transaction's commit (each statement here
-- takes its snapshot after the lock: the fold's is seen).
CREATE FUNCTION netily_count_traffic(p_who text[], p_nas inet[], p_since timestamptz[],
                                     p_upto timestamptz[], p_up bigint[], p_down bigint[],
                                     p_secs bigint[], p_began timestamptz[])
RETURNS void LANGUAGE plpgsql
-- (A batch of thousands is costed high enough to be compiled by JIT: 2 s
-- of compiling for 0.2 s of work.)
SET jit = off AS $$
DECLARE
    p_zone text := netily_zone();
    p_folded timestamptz;
    p_done bigint;
BEGIN
    IF coalesce(cardinality(p_who), 0) = 0 THEN
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock_shared(128017107690853);
    SELECT usage_folded_upto INTO p_folded FROM netily_settings;
    WITH g AS MATERIALIZED (
        SELECT who, nas, since, upto, up, down, secs, began,
               date_trunc('hour', upto, p_zone) AS hour
          FROM unnest(p_who, p_nas, p_since, p_upto, p_up, p_down, p_secs, p_began)
               AS g(who, nas, since, upto, up, down, secs, began)
         WHERE who IS NOT NULL AND nas IS NOT NULL
    ), grew AS MATERIALIZED (
        SELECT who, nas, hour, least(sum(up), 9223372036854775807)::bigint AS up,
               least(sum(down), 9223372036854775807)::bigint AS down,
               least(sum(secs), 9223372036854775807)::bigint AS secs,
               least(sum(n), 2147483647)::integer AS n
          FROM (-- Within the hour of the report (nearly every packet).
                SELECT who, nas, hour, up, down, secs,
                       CASE WHEN began >= hour THEN 1 ELSE 0 END AS n
                  FROM g
                 WHERE since IS NULL OR since >= upto OR since >= hour
                UNION ALL
                SELECT g.who, g.nas, s.hour, s.up, s.down, s.secs, 0
                  FROM g, LATERAL netily_usage_spread(g.since, g.upto, p_zone, g.up, g.down, g.secs) s
                 WHERE g.since < g.hour AND (s.up > 0 OR s.down > 0 OR s.secs > 0)
                UNION ALL
                SELECT who, nas, date_trunc('hour', began, p_zone), 0, 0, 0, 1
                  FROM g
                 WHERE began < hour OR (began >= hour AND NOT (since IS NULL OR since >= upto OR since >= hour))) x
         GROUP BY who, nas, hour
    ), updated AS (
        -- An UPDATE joined to the batch, then an insert of the rest: half
        -- the cost of INSERT .. ON CONFLICT for rows that exist (nearly
        -- all: a subscriber's hour is created once and updated at every
        -- report), measured 6 against 12 us a row.
        UPDATE usage_hours u
           SET bytes_up = netily_add(u.bytes_up, grew.up),
               bytes_down = netily_add(u.bytes_down, grew.down),
               seconds = netily_add(u.seconds, grew.secs),
               sessions = least(u.sessions::bigint + grew.n, 2147483647)::integer
          FROM grew
         WHERE u.username = grew.who AND u.hour = grew.hour AND u.nasipaddress = grew.nas
        RETURNING u.username, u.hour, u.nasipaddress
    ), inserted AS (
        -- (A row another writer inserted meanwhile is added to.)
        INSERT INTO usage_hours AS u (username, hour, nasipaddress, bytes_up, bytes_down, seconds, sessions)
        SELECT who, hour, nas, up, down, secs, n FROM grew
         WHERE NOT EXISTS (SELECT 1 FROM updated d
                            WHERE d.username = grew.who AND d.hour = grew.hour
                              AND d.nasipaddress = grew.nas)
         ORDER BY who, hour, nas
        ON CONFLICT (username, hour, nasipaddress) DO UPDATE SET
            bytes_up = netily_add(u.bytes_up, EXCLUDED.bytes_up),
            bytes_down = netily_add(u.bytes_down, EXCLUDED.bytes_down),
            seconds = netily_add(u.seconds, EXCLUDED.seconds),
            sessions = least(u.sessions::bigint + EXCLUDED.sessions, 2147483647)::integer
        RETURNING 1
    ), late AS (
        -- Hours already folded (growth that arrived late): into the months
        -- as well (the routers' share goes to router_usage_late, below).
        SELECT netily_add_folded(p_zone, array_agg(hour), array_agg(who), array_agg(nas),
                                 array_agg(up), array_agg(down), array_agg(secs), array_agg(n),
                                 false) AS n
          FROM grew WHERE hour < p_folded
    ), late_routers AS (
        INSERT INTO router_usage_late (nasipaddress, hour, bytes_up, bytes_down, seconds, sessions)
        SELECT nas, hour, least(sum(up), 9223372036854775807)::bigint,
               least(sum(down), 9223372036854775807)::bigint,
               least(sum(secs), 9223372036854775807)::bigint, least(sum(n), 2147483647)::integer
          FROM grew WHERE hour < p_folded GROUP BY nas, hour
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM inserted) + coalesce((SELECT n FROM late), 0)
           + (SELECT count(*) FROM late_routers) INTO p_done;
END
$$;

CREATE FUNCTION netily_count_session_traffic() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    grew_up   numeric := coalesce(NEW.acctinputoctets, 0);
    grew_down numeric := coalesce(NEW.acctoutputoctets, 0);
    grew_secs numeric := coalesce(NEW.acctsessiontime, 0);
    since     timestamptz := NEW.acctstarttime;
    began     timestamptz := NEW.acctstarttime;
BEGIN
    IF NEW.username IS NULL THEN
        RETURN NULL;
    END IF;
    -- (A row that only now has a username counts from the start.)
    IF TG_OP = 'UPDATE' AND OLD.username IS NOT NULL THEN
        grew_up := greatest(grew_up - coalesce(OLD.acctinputoctets, 0), 0);
        grew_down := greatest(grew_down - coalesce(OLD.acctoutputoctets, 0), 0);
        grew_secs := greatest(grew_secs - coalesce(OLD.acctsessiontime, 0), 0);
        since := coalesce(OLD.acctupdatetime, OLD.acctstarttime);
        began := NULL;
    END IF;
    IF grew_up = 0 AND grew_down = 0 AND grew_secs = 0 AND began IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM netily_count_traffic(ARRAY[NEW.username], ARRAY[NEW.nasipaddress], ARRAY[since],
        ARRAY[coalesce(greatest(NEW.acctstoptime, NEW.acctupdatetime, NEW.acctstarttime), now())],
        ARRAY[least(grew_up, 9223372036854775807)::bigint],
        ARRAY[least(grew_down, 9223372036854775807)::bigint],
        ARRAY[least(grew_secs, 9223372036854775807)::bigint], ARRAY[began]);
    RETURN NULL;
END
$$;

CREATE TRIGGER radacct_traffic
    AFTER INSERT OR UPDATE OF acctinputoctets, acctoutputoctets, acctsessiontime, username ON radacct
    FOR EACH ROW WHEN (current_setting('netily.accounting_writer', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION netily_count_session_traffic();
