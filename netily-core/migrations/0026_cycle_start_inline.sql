-- netily_cycle_start (0021) restated so PostgreSQL inlines it: one SQL
-- expression, immutable in truth (UTC timestamps throughout, no plpgsql
-- call for monthly plans). As 0021 wrote it, its body was only stable
-- (timestamptz arithmetic), so every call started an executor, and a
-- monthly plan's ran the plpgsql function of 0017 as well: measured, 10-15%
-- of the accounting writer's time in PostgreSQL. Same rule, to the second
-- (netadmin/tests/record.rs holds it to netily_core::cycle::cycle_of).
CREATE OR REPLACE FUNCTION netily_cycle_start(anchor timestamptz, at timestamptz, days integer)
RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN days IS NULL THEN
            -- The cycle starting in at's month, or else the one before it.
            ((anchor AT TIME ZONE 'UTC')
             + make_interval(months =>
                   ((extract(year FROM at AT TIME ZONE 'UTC') - extract(year FROM anchor AT TIME ZONE 'UTC')) * 12
                    + extract(month FROM at AT TIME ZONE 'UTC') - extract(month FROM anchor AT TIME ZONE 'UTC'))::int
                   - CASE WHEN (anchor AT TIME ZONE 'UTC')
                               + make_interval(months =>
                                     ((extract(year FROM at AT TIME ZONE 'UTC')
                                       - extract(year FROM anchor AT TIME ZONE 'UTC')) * 12
                                      + extract(month FROM at AT TIME ZONE 'UTC')
                                      - extract(month FROM anchor AT TIME ZONE 'UTC'))::int)
                               > at AT TIME ZONE 'UTC'
                          THEN 1 ELSE 0 END)) AT TIME ZONE 'UTC'
        ELSE ((anchor AT TIME ZONE 'UTC')
              + make_interval(secs => (days::bigint * 86400
                  * floor((extract(epoch FROM at AT TIME ZONE 'UTC') - extract(epoch FROM anchor AT TIME ZONE 'UTC'))
                          / (days::bigint * 86400)))::double precision)) AT TIME ZONE 'UTC'
    END
$$;
