-- `make bench-scale`: fills radacct with :rows closed sessions of the
-- synthetic subscribers, spread evenly over the 12 months before this one
-- and this month up to now (in start order, as accounting arrives), 20
-- routers, and the usage rollups those sessions make (usage_months for
-- every month, usage_hours and router_usage_hours for this month and the
-- last, all folded), as if a year of accounting had been applied.
-- psql -v rows=N -f bench/fill-radacct.sql (as the database's owner or a
-- superuser). The radacct triggers are skipped: nothing here is counted
-- twice.

\set ON_ERROR_STOP on
-- The months are created as the enforcer would: owned by Netily's role.
SET ROLE netily;
SET netily.accounting_writer = on;
SET synchronous_commit = off;
SET max_parallel_workers_per_gather = 2;
SET maintenance_work_mem = '1GB';
\timing on

SELECT count(netily_radacct_month(date_trunc('month', now(), 'UTC') - make_interval(months => m)))
  FROM generate_series(0, 12) m;

CREATE TEMP TABLE fill_users AS
SELECT row_number() OVER (ORDER BY id) - 1 AS n, username FROM customers WHERE username LIKE 'synth%';
CREATE UNIQUE INDEX ON fill_users (n);
ANALYZE fill_users;
SELECT count(*) AS users FROM fill_users \gset

-- One month per statement, so each commits and shows its progress.
SELECT date_trunc('month', now(), 'UTC') - interval '12 months' AS first_month,
       extract(epoch FROM now() - (date_trunc('month', now(), 'UTC') - interval '12 months')) AS span
\gset
CREATE TEMP TABLE fill_months AS
SELECT m, greatest(date_trunc('month', now(), 'UTC') - make_interval(months => 12 - m), :'first_month'::timestamptz) AS lo,
       least(date_trunc('month', now(), 'UTC') - make_interval(months => 11 - m), now()) AS hi
  FROM generate_series(0, 12) m;

SELECT format(
  'INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, nasportid, nasporttype,
        acctstarttime, acctupdatetime, acctstoptime, acctinterval, acctsessiontime, acctauthentic,
        acctinputoctets, acctoutputoctets, calledstationid, callingstationid, acctterminatecause,
        servicetype, framedprotocol, framedipaddress)
   SELECT to_hex(g), md5(''fill'' || g), u.username, (''10.20.0.'' || (g %% 20 + 1))::inet,
          ''<pppoe-'' || u.username || ''>'', ''Ethernet'',
          s.started, s.started + s.secs * interval ''1 second'', s.started + s.secs * interval ''1 second'',
          300, s.secs, ''RADIUS'', s.up, s.down, ''pppoe-service'',
          upper(substr(md5(u.username), 1, 12)), ''User-Request'', ''Framed-User'', ''PPP'',
          (''100.64.0.0''::inet + (g %% 65000))
     FROM generate_series(%s::bigint, %s::bigint) g
     JOIN fill_users u ON u.n = g %% %s
     CROSS JOIN LATERAL (SELECT %L::timestamptz + (g::float8 / %s) * %s * interval ''1 second'' AS started,
                                600 + (hashint8(g) & 16383)::bigint AS secs,
                                (hashint8(g * 7) & 268435455)::bigint AS up,
                                (hashint8(g * 13) & 1073741823)::bigint * 4 AS down) s',
  ceil(:rows::float8 * extract(epoch FROM lo - :'first_month'::timestamptz) / :span)::bigint,
  ceil(:rows::float8 * extract(epoch FROM hi - :'first_month'::timestamptz) / :span)::bigint - 1,
  :users, :'first_month', :rows, :span)
  FROM fill_months ORDER BY m
\gexec

-- The rollups as the writer and the fold would have left them: in time
-- order, as they arrive.
INSERT INTO usage_months (month, username, nasipaddress, bytes_up, bytes_down, seconds, sessions)
SELECT date_trunc('month', acctstarttime, netily_zone()), username, nasipaddress,
       sum(acctinputoctets), sum(acctoutputoctets), sum(acctsessiontime), count(*)
  FROM radacct GROUP BY 1, 2, 3 ORDER BY 1;
INSERT INTO usage_hours (username, hour, nasipaddress, bytes_up, bytes_down, seconds, sessions)
SELECT username, date_trunc('hour', acctstarttime), nasipaddress,
       sum(acctinputoctets), sum(acctoutputoctets), sum(acctsessiontime), count(*)
  FROM radacct WHERE acctstarttime >= date_trunc('month', now(), 'UTC') - interval '1 month'
 GROUP BY 1, 2, 3 ORDER BY 2;
INSERT INTO router_usage_hours (nasipaddress, hour, bytes_up, bytes_down, seconds, sessions)
SELECT nasipaddress, hour, sum(bytes_up), sum(bytes_down), sum(seconds), sum(sessions)
  FROM usage_hours GROUP BY 1, 2 ORDER BY 2;
UPDATE netily_settings SET usage_folded_upto = date_trunc('hour', now());
ANALYZE;
