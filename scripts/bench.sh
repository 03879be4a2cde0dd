#!/bin/bash
# `make bench`: stock rlm_sql, stock rlm_files and rlm_netily side by side,
# on this machine, in one run, with the same subscribers.
#
#   1. a private PostgreSQL 15 (scripts/pg.sh, cluster in .run/bench/pg)
#   2. N synthetic subscribers via netadmin (migrate; seed synthetic), mirrored
#      with the same passwords, rate limits and refusals into the stock
#      FreeRADIUS schema (schema `stock` in the same database, stock
#      schema.sql, no Netily triggers) and into an rlm_files users file
#   3. per config, a private `freeradius -f -l stdout` on loopback (copy of
#      /etc/freeradius/3.0, one site `bench` that differs only in the module),
#      warm-up, then with radload (bench/): Access-Request throughput
#      (saturating), p50/p99 at half of that peak, accounting throughput
#      (sessions: Start, Interim, Stop)
#   4. a table with ratios, the goals, and whether the generator was the
#      bottleneck
#   5. the reconnect storm (rlm_sql and rlm_netily, stock 32 threads, after
#      each round's measurements): a NAS with 10,000 subscribers online sends
#      Accounting-On, then each subscriber Access-Request and, on Accept,
#      Accounting-Start (radload --mode storm): time to every Accept, every
#      Start answered and every session recorded in radacct, and a check that
#      radacct was left right (the run fails if not)
#
# Environment (defaults in brackets):
#   BENCH_SUBSCRIBERS [100000]  BENCH_SECONDS [15] per measurement  BENCH_WARMUP [3]
#   BENCH_WINDOW [128] requests in flight when saturating
#   BENCH_THREADS ["32 128"] radiusd thread pools (start = max = spare) to
#                 run every config with; each figure is the config's best.
#                 A module that waits on a database (rlm_sql's queries,
#                 Netily's accounting commits) serves at most one request per
#                 thread, so the stock 32 caps it; rlm_sql does best with 32
#   BENCH_ROUNDS [2] rounds; each round runs every config at every thread
#                 pool, one right after the other. This machine kind's speed
#                 drifts by 20-30% within minutes, so every ratio compares
#                 runs of the same round (paired), never across rounds
#   BENCH_CONFIGS ["sql files netily"]   BENCH_PG_PORT [55442]
#                     (also: netily-nolog, rlm_netily without the authentication
#                     log, to see what the log costs; netily-full, rlm_netily
#                     on a copy of the database whose radacct holds
#                     BENCH_RADACCT_ROWS [20000000] sessions over 13 months:
#                     bench/fill-radacct.sql, `make bench-scale`)
#   BENCH_PORT [18142] (auth; acct is +1)   BENCH_DIR [.run/bench]
#   BENCH_NETILY_MODULE [target/release/librlm_netily.so]
#   BENCH_STORM [1]  1 = the reconnect storm after each round's measurements,
#                 0 = no storm, only = the storm alone
#   BENCH_STORM_SUBSCRIBERS [10000]  the rebooting NAS's subscribers (admitted ones)
#   BENCH_STORM_WINDOW [256] requests the NAS has in flight at most
#   BENCH_STORM_TIMEOUT [3000] ms before the NAS sends a request again (3 tries)
#   BENCH_STORM_THREADS [32] radiusd thread pool for the storm (the stock one)
#   BENCH_RESULTS  also write the results as JSON lines to this file
#   BENCH_PIN [unset]  1 = PostgreSQL on the last CPU, radiusd and radload on
#                     the others (the database as on a server of its own)
#   BENCH_NICE [-10]  niceness of radiusd, PostgreSQL and radload ("" = leave
#                     alone): other work on a shared machine then disturbs less
#   BENCH_KEEP [unset]  1 = leave the benchmark PostgreSQL running at the end
#                     (for profiling; stop it with NETILY_PG_DIR=.run/bench/pg
#                     NETILY_PG_PORT=55442 scripts/pg.sh stop)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
export PATH="$HOME/.cargo/bin:$PATH"
N=${BENCH_SUBSCRIBERS:-100000}
SECS=${BENCH_SECONDS:-15}
WARM=${BENCH_WARMUP:-3}
WINDOW=${BENCH_WINDOW:-128}
THREAD_POOLS=${BENCH_THREADS:-32 128}
ROUNDS=${BENCH_ROUNDS:-2}
STORM=${BENCH_STORM:-1}
STORM_N=${BENCH_STORM_SUBSCRIBERS:-10000}
STORM_WINDOW=${BENCH_STORM_WINDOW:-256}
STORM_TIMEOUT=${BENCH_STORM_TIMEOUT:-3000}
STORM_THREADS=${BENCH_STORM_THREADS:-32}
case $STORM in 0 | 1 | only) ;; *) echo "bench: BENCH_STORM: 0, 1 or only" >&2; exit 2 ;; esac
[ "$STORM" = only ] && THREAD_POOLS=$STORM_THREADS
max_threads=$(tr ' ' '\n' <<<"$THREAD_POOLS $STORM_THREADS" | sort -n | tail -n 1)
CONFIGS=${BENCH_CONFIGS:-sql files netily}
PGPORT=${BENCH_PG_PORT:-55442}
AUTH_PORT=${BENCH_PORT:-18142}
ACCT_PORT=$((AUTH_PORT + 1))
dir=${BENCH_DIR:-$root/.run/bench}
NICE=${BENCH_NICE--10}
nice_cmd=()
[ -z "$NICE" ] || nice_cmd=(nice -n "$NICE")
# BENCH_PIN=1: PostgreSQL on the last CPU, radiusd and radload on the
# others, as with the database on a server of its own.
PIN=${BENCH_PIN:-}
last_cpu=$(($(nproc) - 1))
if [ "$PIN" = 1 ]; then
    [ "$last_cpu" -ge 1 ] || { echo "bench: BENCH_PIN needs 2 CPUs or more" >&2; exit 2; }
    nice_cmd=(taskset -c "0-$((last_cpu - 1))" "${nice_cmd[@]}")
fi
SECRET=testing123
SQL_PASSWORD=radpass
system_raddb=/etc/freeradius/3.0
radload=$root/target/release/radload
netadmin=$root/target/release/netadmin
module=${BENCH_NETILY_MODULE:-$root/target/release/librlm_netily.so}

say() { echo "bench: $*" >&2; }
die() { say "$*"; exit 1; }

radiusd_pid=
cleanup() {
    if [ -n "$radiusd_pid" ] && kill -0 "$radiusd_pid" 2>/dev/null; then
        kill "$radiusd_pid" 2>/dev/null || true
        wait "$radiusd_pid" 2>/dev/null || true
    fi
    [ "${BENCH_KEEP:-}" = 1 ] && return 0
    NETILY_PG_DIR=$dir/pg NETILY_PG_PORT=$PGPORT "$root/scripts/pg.sh" stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$dir"
started=$(date +%s)
loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- build
say "building netadmin, radload and rlm_netily (release)"
cargo build --release -q -p netadmin -p netily-bench || die "cargo build failed"
netily_skip=
if ! cargo build --release -q -p rlm_netily 2>"$dir/rlm_netily-build.log"; then
    netily_skip="does not build (see $dir/rlm_netily-build.log)"
elif [ ! -f "$module" ]; then
    netily_skip="no $module after the build"
fi

# ------------------------------------------------------------- database
export NETILY_PG_DIR=$dir/pg NETILY_PG_PORT=$PGPORT
"$root/scripts/pg.sh" destroy >/dev/null 2>&1 || true
# rlm_sql opens a connection per radiusd thread. Sized as a production
# server would be (PostgreSQL's defaults fit a 1 GB machine): with 128 MB of
# shared buffers and 1 GB of WAL between checkpoints, a few minutes of logins
# evict index pages and rewrite them whole into the WAL after every
# checkpoint, a cost for rlm_sql and Netily alike.
pg_sizing="-c shared_buffers=1GB -c wal_buffers=64MB -c max_wal_size=8GB -c checkpoint_timeout=30min"
NETILY_PG_OPTS="-c max_connections=$((max_threads + 100)) $pg_sizing ${NETILY_PG_OPTS:-}" "$root/scripts/pg.sh" start
pg_real=$(readlink -f "$dir/pg")
pg_pid=$(cat "$pg_real/postgres.pid")
if [ "$PIN" = 1 ]; then
    # Backends forked from now on inherit the postmaster's CPU.
    # (A child may exit meanwhile.)
    for p in "$pg_pid" $(ps -o pid= --ppid "$pg_pid"); do taskset -a -p -c "$last_cpu" "$p" >/dev/null || true; done
fi
if [ -n "$NICE" ]; then
    # Backends forked later inherit the postmaster's niceness.
    # shellcheck disable=SC2046
    renice -n "$NICE" -p "$pg_pid" $(ps -o pid= --ppid "$pg_pid") >/dev/null
fi
url="postgresql://netily:netily@127.0.0.1:$PGPORT/netily"
psql_su() {
    # The superuser over the cluster's private socket (trust), as pg.sh runs it.
    (cd / && runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -h "$pg_real" -p "$PGPORT" -U postgres -d netily "$@")
}
[ "$(id -u)" -eq 0 ] || die "run as root (the private cluster runs as postgres, radiusd as root)"

cat >"$dir/netily.conf" <<EOF
# Written by scripts/bench.sh: the private benchmark database, defaults otherwise.
database_url = $url
EOF
grace_days=7

say "loading $N synthetic subscribers"
"$netadmin" --config "$dir/netily.conf" migrate >/dev/null
"$netadmin" --config "$dir/netily.conf" --json seed synthetic --subscribers "$N" --routers 1 >"$dir/seed.json"
say "seeded in $(jq -r '.seconds | floor' "$dir/seed.json") s"

# The stock side, fed from the same rows. Refused = what Netily refuses in
# this data: not active, or an unpaid invoice past grace.
say "mirroring subscribers into the stock schema and an rlm_files users file"
{
    cat <<EOF
DROP ROLE IF EXISTS radius;
CREATE ROLE radius LOGIN PASSWORD '$SQL_PASSWORD';
CREATE SCHEMA stock AUTHORIZATION radius;
ALTER ROLE radius SET search_path = stock;
SET ROLE radius;
SET search_path = stock;
EOF
    # The stock schema file, verbatim (root reads it; psql gets it on stdin).
    cat "$system_raddb/mods-config/sql/main/postgresql/schema.sql"
    cat <<EOF
RESET ROLE;
RESET search_path;
CREATE TABLE public.bench_mirror AS
SELECT c.username, c.password, p.rate, p.interim_interval,
       (c.status <> 'active' OR EXISTS (
           SELECT 1 FROM public.invoices i
            WHERE i.customer_id = c.id AND i.status = 'unpaid'
              AND i.due_at + make_interval(days => $grace_days) < now())) AS refused
  FROM public.customers c
  JOIN public.subscriptions s ON s.customer_id = c.id AND s.active
  JOIN public.plans p ON p.id = s.plan_id
 WHERE c.username LIKE 'synth%';
INSERT INTO stock.radcheck (username, attribute, op, value)
SELECT username, CASE WHEN refused THEN 'Auth-Type' ELSE 'Cleartext-Password' END, ':=',
       CASE WHEN refused THEN 'Reject' ELSE password END
  FROM public.bench_mirror;
INSERT INTO stock.radreply (username, attribute, op, value)
SELECT username, 'Mikrotik-Rate-Limit', ':=', rate FROM public.bench_mirror WHERE NOT refused
UNION ALL
SELECT username, 'Acct-Interim-Interval', ':=', interim_interval::text FROM public.bench_mirror
 WHERE NOT refused AND interim_interval IS NOT NULL
UNION ALL
SELECT username, 'Reply-Message', ':=', 'Account suspended' FROM public.bench_mirror WHERE refused;
ANALYZE stock.radcheck;
ANALYZE stock.radreply;
EOF
} | psql_su
psql_su -A -t -F $'\t' -c "SELECT username, password, coalesce(rate, ''), coalesce(interim_interval::text, ''), refused
    FROM public.bench_mirror ORDER BY username" >"$dir/mirror.tsv"
psql_su -A -t -F $'\t' -c "SELECT username, password FROM public.customers WHERE username LIKE 'synth%' ORDER BY id" \
    >"$dir/subscribers.tsv"
psql_su -c "DROP TABLE public.bench_mirror"
# shellcheck disable=SC2016
awk -F'\t' '
    $5 == "t" { printf "%s\tAuth-Type := Reject\n\tReply-Message := \"Account suspended\"\n\n", $1; next }
    {
        printf "%s\tCleartext-Password := \"%s\"\n\tMikrotik-Rate-Limit := \"%s\"", $1, $2, $3
        if ($4 != "") printf ",\n\tAcct-Interim-Interval := %s", $4
        printf "\n\n"
    }' "$dir/mirror.tsv" >"$dir/users"
refused=$(awk -F'\t' '$5 == "t"' "$dir/mirror.tsv" | wc -l)
# The rebooting NAS's subscribers: admitted ones (the storm checks that
# every one is admitted again).
awk -F'\t' -v n="$STORM_N" '$5 == "f" && k < n { print $1 "\t" $2; k++ }' "$dir/mirror.tsv" >"$dir/storm-users.tsv"
[ "$STORM" = 0 ] || [ "$(wc -l <"$dir/storm-users.tsv")" -eq "$STORM_N" ] ||
    die "BENCH_STORM_SUBSCRIBERS=$STORM_N: only $(wc -l <"$dir/storm-users.tsv") admitted subscribers (raise BENCH_SUBSCRIBERS)"
say "$(wc -l <"$dir/subscribers.tsv") subscribers, $refused refused (suspended or overdue)"

if [[ " $CONFIGS " == *" netily-full "* ]]; then
    rows=${BENCH_RADACCT_ROWS:-20000000}
    say "netily-full: a copy of the database, its radacct filled with $rows sessions over 13 months"
    (cd / && runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -h "$pg_real" -p "$PGPORT" -U postgres -d postgres \
        -c "DROP DATABASE IF EXISTS netily_full" -c "CREATE DATABASE netily_full TEMPLATE netily OWNER netily")
    fill_started=$SECONDS
    (cd / && runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -v rows="$rows" -h "$pg_real" -p "$PGPORT" \
        -U postgres -d netily_full) <"$root/bench/fill-radacct.sql" >"$dir/fill.log"
    say "netily-full: filled in $((SECONDS - fill_started)) s"
    sed "s|/netily\$|/netily_full|" "$dir/netily.conf" >"$dir/netily-full.conf"
fi

# ---------------------------------------------------------- freeradius
# A private raddb whose only site is `bench`; $1 names the config, $2 is the
# thread pool.
make_raddb() {
    local name=$1 threads=$2 base=$dir/$1 raddb authz postauth postauth_reject acct
    rm -rf "$base"
    mkdir -p "$base/lib" "$base/run" "$base/log/radacct"
    cp -a "$system_raddb" "$base/raddb"
    raddb=$base/raddb
    rm -f "$raddb"/sites-enabled/* "$raddb/mods-enabled/eap"
    sed -i \
        -e "s|^libdir = .*|libdir = $base/lib:/usr/lib/freeradius|" \
        -e "s|^run_dir = .*|run_dir = $base/run|" \
        -e "s|^logdir = .*|logdir = $base/log|" \
        -e "s/^\([[:space:]]*\)\(user\|group\) = /\1#\2 = /" \
        -e "s|^\([[:space:]]*reject_delay\) = .*|\1 = 0|" \
        -e "s|^\([[:space:]]*start_servers\) = .*|\1 = $threads|" \
        -e "s|^\([[:space:]]*max_servers\) = .*|\1 = $threads|" \
        -e "s|^\([[:space:]]*max_spare_servers\) = .*|\1 = $threads|" \
        "$raddb/radiusd.conf"
    case $name in
    sql)
        sed -i \
            -e 's|^\([[:space:]]*dialect\) = .*|\1 = "postgresql"|' \
            -e 's|^\([[:space:]]*driver\) = "rlm_sql_null"|\1 = "rlm_sql_${dialect}"|' \
            -e "s|^#\([[:space:]]*server\) = \"localhost\"|\1 = \"127.0.0.1\"|" \
            -e "s|^#\([[:space:]]*port\) = 3306|\1 = $PGPORT|" \
            -e 's|^#\([[:space:]]*login\) = "radius"|\1 = "radius"|' \
            -e "s|^#\([[:space:]]*password\) = \"radpass\"|\1 = \"$SQL_PASSWORD\"|" \
            -e 's|^\([[:space:]]*radius_db\) = .*|\1 = "netily"|' \
            "$raddb/mods-available/sql"
        ln -sf ../mods-available/sql "$raddb/mods-enabled/sql"
        authz=sql postauth=sql postauth_reject=sql acct=sql preacct=acct_unique
        ;;
    files)
        cp "$dir/users" "$raddb/mods-config/files/authorize"
        authz=files postauth= postauth_reject= acct=detail preacct=acct_unique
        ;;
    netily | netily-nolog | netily-full)
        cp "$module" "$base/lib/rlm_netily.so"
        local conf=$dir/netily.conf
        [ "$name" = netily-full ] && conf=$dir/netily-full.conf
        sed -e "s|^\([[:space:]]*config_file[[:space:]]*=\).*|\1 \"$conf\"|" \
            "$root/raddb/mods-available/netily" >"$raddb/mods-available/netily"
        ln -sf ../mods-available/netily "$raddb/mods-enabled/netily"
        # Netily's site gives the stock acct_unique policy's id itself
        # (raddb/sites-available/netily: the policy leaks in 3.2.1).
        authz=netily postauth=netily postauth_reject=netily acct=netily preacct=netily
        # What the authentication log costs: the same module, post-auth empty.
        [ "$name" = netily-nolog ] && postauth= postauth_reject=
        ;;
    esac
    # The same site for all three: only the module differs (as in the stock
    # default site, the SQL/Netily module also logs post-auth).
    cat >"$raddb/sites-enabled/bench" <<EOF
server bench {
	listen {
		type = auth
		ipaddr = 127.0.0.1
		port = $AUTH_PORT
	}
	listen {
		type = acct
		ipaddr = 127.0.0.1
		port = $ACCT_PORT
	}
	authorize {
		filter_username
		preprocess
		chap
		mschap
		$authz
		pap
	}
	authenticate {
		Auth-Type PAP {
			pap
		}
		Auth-Type CHAP {
			chap
		}
		Auth-Type MS-CHAP {
			mschap
		}
	}
	preacct {
		preprocess
		$preacct
	}
	accounting {
		$acct
	}
	post-auth {
		$postauth
		Post-Auth-Type REJECT {
			attr_filter.access_reject
			$postauth_reject
		}
	}
}
EOF
}

# Starts radiusd for config $1; sets radiusd_pid. Fails with the log's tail.
start_radiusd() {
    local log=$dir/$1/radiusd.log
    : >"$log"
    "${nice_cmd[@]}" freeradius -f -l stdout -d "$dir/$1/raddb" >>"$log" 2>&1 &
    radiusd_pid=$!
    for _ in $(seq 1 600); do
        if grep -q "Ready to process requests" "$log"; then return 0; fi
        if ! kill -0 "$radiusd_pid" 2>/dev/null; then
            wait "$radiusd_pid" 2>/dev/null || true
            radiusd_pid=
            start_error=$(grep -iE "error|fail|undefined" "$log" | tail -n 3 | tr '\n' ' ')
            return 1
        fi
        sleep 0.1
    done
    start_error="not ready after 60 s"
    stop_radiusd
    return 1
}

stop_radiusd() {
    [ -n "$radiusd_pid" ] || return 0
    kill "$radiusd_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$radiusd_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$radiusd_pid" 2>/dev/null || true
    wait "$radiusd_pid" 2>/dev/null || true
    radiusd_pid=
}

load() { # port, then radload options
    local port=$1
    shift
    "${nice_cmd[@]}" "$radload" --server "127.0.0.1:$port" --secret "$SECRET" --users "$dir/subscribers.tsv" \
        --watch "radiusd=$radiusd_pid" --watch "postgres=$pg_pid+" --json "$@"
}

results=$dir/results.jsonl
: >"$results"

# Ready = answers a request (a module with a cache may need a moment).
wait_answering() {
    for _ in $(seq 1 60); do
        if [ "$(load "$AUTH_PORT" --count 20 --window 4 --timeout-ms 1000 | jq '.accepts')" -gt 0 ]; then
            return 0
        fi
        sleep 0.5
    done
    return 1
}

# One config with one thread pool: $1 config, $2 threads; a JSON line in
# $results either way.
measure() {
    local cfg=$1 threads=$2 round=$3
    say "--- round $round: $cfg, $threads threads: starting freeradius"
    make_raddb "$cfg" "$threads"
    start_error=
    if ! start_radiusd "$cfg"; then
        jq -nc --arg c "$cfg" --argjson t "$threads" --argjson n "$round" --arg r "radiusd did not start: $start_error" '{config: $c, threads: $t, round: $n, skipped: $r}' >>"$results"
        say "$cfg: not measured (radiusd did not start: $start_error)"
        return 0
    fi
    if ! wait_answering; then
        jq -nc --arg c "$cfg" --argjson t "$threads" --argjson n "$round" --arg r "no Access-Accept within 30 s of start" '{config: $c, threads: $t, round: $n, skipped: $r}' >>"$results"
        say "$cfg: not measured (no Access-Accept within 30 s)"
        stop_radiusd
        return 0
    fi
    say "$cfg: warm-up ${WARM}s"
    load "$AUTH_PORT" --duration "$WARM" --window "$WINDOW" >/dev/null
    say "$cfg: Access-Request, saturating, ${SECS}s"
    peak=$(load "$AUTH_PORT" --duration "$SECS" --window "$WINDOW")
    half_rate=$(jq -r '(.throughput / 2) | floor' <<<"$peak")
    say "$cfg: $(jq -r '.throughput | floor' <<<"$peak")/s; latency at half of that ($half_rate/s), ${SECS}s"
    half=$(load "$AUTH_PORT" --duration "$SECS" --rate "$half_rate" --window 2048)
    say "$cfg: accounting sessions (Start, Interim, Stop), saturating, ${SECS}s"
    acct=$(load "$ACCT_PORT" --mode acct --interims 1 --duration "$SECS" --window "$WINDOW" --timeout-ms 1000)
    # rlm_netily answers once a packet is in its journal: the figure counts
    # only with the journal applied to PostgreSQL afterwards (how long that
    # took is reported).
    applied_after=null
    if [ "$cfg" != sql ] && [ "$cfg" != files ]; then
        local t0=$SECONDS backlog=1
        while [ $((SECONDS - t0)) -lt 300 ]; do
            backlog=$("$netadmin" --config "$dir/netily.conf" --json journal --dir "$dir/$cfg/log/radacct/netily-journal" \
                | jq '.accounting.backlog_bytes // 0')
            [ "$backlog" = 0 ] && break
            sleep 0.2
        done
        [ "$backlog" = 0 ] && applied_after=$((SECONDS - t0))
    fi
    errors=$(grep -ciE "error|segfault|panic" "$dir/$cfg/radiusd.log" || true)
    # rlm_netily's authentication log drops records (and says so) when its
    # writer falls behind: a figure bought with lost log rows would not count.
    dropped=$(grep -ci "dropped" "$dir/$cfg/radiusd.log" || true)
    alive=true
    kill -0 "$radiusd_pid" 2>/dev/null || alive=false
    stop_radiusd
    jq -nc --arg c "$cfg" --argjson t "$threads" --argjson n "$round" --argjson peak "$peak" --argjson half "$half" --argjson acct "$acct" \
        --argjson errors "$errors" --argjson alive "$alive" --argjson dropped "$dropped" --argjson applied "$applied_after" \
        '{config: $c, threads: $t, round: $n, auth: $peak, half: $half, acct: $acct, log_errors: $errors, alive: $alive,
          auth_log_drop_warnings: $dropped, acct_applied_after_s: $applied}' >>"$results"
}

# The reconnect storm for config $1 (sql or netily) in round $2: a fresh
# radiusd at the stock thread pool; a JSON line {kind: "storm", ...} in
# $results either way. radload exits with 3 when radacct was left wrong.
storm_failed=
storm() {
    local cfg=$1 round=$2 db_url table out status=0
    say "--- round $round: reconnect storm, $cfg, $STORM_THREADS threads, $STORM_N subscribers"
    make_raddb "$cfg" "$STORM_THREADS"
    start_error=
    if ! start_radiusd "$cfg" || ! wait_answering; then
        jq -nc --arg c "$cfg" --argjson t "$STORM_THREADS" --argjson n "$round" --arg r "radiusd did not start or answer: $start_error" \
            '{kind: "storm", config: $c, threads: $t, round: $n, skipped: $r}' >>"$results"
        say "$cfg: storm not measured (radiusd did not start or answer: $start_error)"
        storm_failed=1
        stop_radiusd
        return 0
    fi
    case $cfg in
    sql) db_url="postgresql://radius:$SQL_PASSWORD@127.0.0.1:$PGPORT/netily" table=stock.radacct ;;
    *) db_url=$url table=public.radacct ;;
    esac
    # A NAS: 256 requests in flight at most, each sent again after 3 s,
    # three tries in all (BENCH_STORM_WINDOW, BENCH_STORM_TIMEOUT ms).
    out=$("${nice_cmd[@]}" "$radload" --mode storm --server "127.0.0.1:$AUTH_PORT" --acct-server "127.0.0.1:$ACCT_PORT" \
        --secret "$SECRET" --users "$dir/storm-users.tsv" --subscribers "$STORM_N" --window "$STORM_WINDOW" \
        --timeout-ms "$STORM_TIMEOUT" --tries 3 --db-url "$db_url" --db-table "$table" --record-timeout 300 --json) || status=$?
    errors=$(grep -ciE "error|segfault|panic" "$dir/$cfg/radiusd.log" || true)
    cp "$dir/$cfg/radiusd.log" "$dir/$cfg/radiusd-storm-r$round.log"
    stop_radiusd
    if [ "$status" = 0 ] || [ "$status" = 3 ]; then
        jq -c --arg c "$cfg" --argjson t "$STORM_THREADS" --argjson n "$round" --argjson e "$errors" \
            '{kind: "storm", config: $c, threads: $t, round: $n, log_errors: $e} + .' <<<"$out" >>"$results"
    else
        jq -nc --arg c "$cfg" --argjson t "$STORM_THREADS" --argjson n "$round" --arg r "radload failed (exit $status)" \
            '{kind: "storm", config: $c, threads: $t, round: $n, skipped: $r}' >>"$results"
    fi
    if [ "$status" != 0 ]; then
        storm_failed=1
        say "STORM FAILED for $cfg (round $round): $(jq -r '.check.problems // [] | join("; ")' <<<"${out:-null}" 2>/dev/null)"
    fi
}

if [ -n "$netily_skip" ]; then
    jq -nc --arg r "$netily_skip" '{config: "netily", skipped: $r}' >>"$results"
    say "rlm_netily: not measured ($netily_skip)"
fi
for round in $(seq 1 "$ROUNDS"); do
    if [ "$STORM" != only ]; then
        for threads in $THREAD_POOLS; do
            for cfg in $CONFIGS; do
                case $cfg in netily*) [ -z "$netily_skip" ] || continue ;; esac
                measure "$cfg" "$threads" "$round"
            done
        done
    fi
    if [ "$STORM" != 0 ]; then
        for cfg in $CONFIGS; do
            case $cfg in sql) ;; netily) [ -z "$netily_skip" ] || continue ;; *) continue ;; esac
            storm "$cfg" "$round"
        done
    fi
done

# ---------------------------------------------------------------- report
[ -z "${BENCH_RESULTS:-}" ] || cp "$results" "$BENCH_RESULTS"
elapsed=$(($(date +%s) - started))
echo
echo "Netily benchmark, $(date -u +%Y-%m-%d), $(nproc) cores, $N subscribers ($refused refused), ${SECS}s per figure, window $WINDOW, radiusd thread pools: $THREAD_POOLS, $ROUNDS round(s); run took ${elapsed}s"
echo "Load average before the run: $loadavg_start; after: $(cut -d' ' -f1-3 /proc/loadavg) (a busy machine lowers every figure)"
[ "$PIN" != 1 ] || echo "Pinned (BENCH_PIN=1): PostgreSQL on CPU $last_cpu; radiusd and radload on CPU 0-$((last_cpu - 1))"
# Every run is a row. Ratios and goals compare each run with the best
# figure rlm_sql and rlm_files reached in the same round (at any thread
# pool: they get every advantage but the machine's drift); the goals are
# judged for each Netily run on its own.
[ "$STORM" = only ] || NPROC=$(nproc) jq -rs -f /dev/stdin "$results" <<'JQ'
def r0: if . == null then "-" else (. | floor | tostring) end;
def r2: if . == null then "-" else ((. * 100 | round) / 100 | tostring) end;
def x(a; b): if a == null or b == null or b == 0 then "-" else ((a / b * 100 | round) / 100 | tostring) + "x" end;
def met(c): if c then "met" else "NOT met" end;
# Accounting counts only when (nearly) every packet was answered.
def acct_tp: if .acct == null or .acct.acct_responses < 0.99 * .acct.sent then null else .acct.throughput end;
def name: .config + (if .threads == null then "" else "@" + (.threads | tostring) end)
  + (if .round == null then "" else " r" + (.round | tostring) end);
. as $all
| def best(cfg; f; $round): [$all[] | select(.config == cfg and .auth != null and .round == $round) | f | select(. != null)] | max;
  def sql_auth: best("sql"; .auth.throughput; .round);
  def sql_acct: best("sql"; acct_tp; .round);
  # rlm_files' accounting is the stock detail file.
  def detail_acct: best("files"; acct_tp; .round);
  def files_auth: best("files"; .auth.throughput; .round);
  # rlm_files at the same thread pool: the run made just before this one.
  def files_pair: .threads as $t | .round as $r
    | [$all[] | select(.config == "files" and .auth != null and .round == $r and .threads == $t) | .auth.throughput] | max;
  [$all[] | select(.config == "netily" and .auth != null)] as $netily
| (["run", "auth/s", "vs sql", "vs files", "vs files same pool", "p50 ms", "p99 ms", "(at /s)", "acct/s", "vs sql", "vs detail", "applied after s", "accept", "reject", "timeout", "radload CPU", "radiusd CPU", "postgres CPU", "other CPU auth/half/acct"]
   | @tsv),
  (map(select(.kind != "storm")) | sort_by(.round, .threads, .config)[] |
   if .skipped then [name, "not measured: " + .skipped] | @tsv else
   [name, (.auth.throughput | r0),
    x(.auth.throughput; sql_auth), x(.auth.throughput; files_auth), x(.auth.throughput; files_pair),
    (.half.latency_ms.p50 | r2), (.half.latency_ms.p99 | r2), (.half.target_rate | r0),
    ((acct_tp | r0) + (if acct_tp == null then " (" + (.acct.acct_responses | tostring) + "/" + (.acct.sent | tostring) + " answered)" else "" end)),
    x(acct_tp; sql_acct), x(acct_tp; detail_acct),
    (if .config | startswith("netily") then (.acct_applied_after_s | if . == null then "NOT in 300 s" else tostring end) else "-" end),
    (.auth.accepts | tostring), (.auth.rejects | tostring), ((.auth.timeouts + .half.timeouts) | tostring),
    (.auth.cpu_cores.radload | r2), (.auth.cpu_cores.watched.radiusd | r2), (.auth.cpu_cores.watched.postgres | r2),
    ([.auth, .half, .acct] | map(.cpu_cores | (.machine_busy - .radload - .watched.radiusd - .watched.postgres)
       | if . < 0 then 0 else . end | r2) | join("/"))] | @tsv
   end),
  "",
  (if ($netily | length) == 0
   then "Goals: rlm_netily not measured" + ([$all[] | select(.config == "netily") | " (" + .skipped + ")"] | first // "")
   else
   ($netily[] | . as $n |
    "Goals for \(name) (rlm_netily@radiusd threads, round):",
    "  authorize >= 3x rlm_sql: " + (if sql_auth then met($n.auth.throughput >= 3 * sql_auth) + " (" + x($n.auth.throughput; sql_auth) + ")" else "no rlm_sql figure" end),
    "  authorize >= 0.8x rlm_files: " + (if files_auth then met($n.auth.throughput >= 0.8 * files_auth) + " (" + x($n.auth.throughput; files_auth) + " of the round's best; " + x($n.auth.throughput; $n | files_pair) + " of rlm_files at the same pool, run just before)" else "no rlm_files figure" end),
    "  accounting >= 3x rlm_sql" + (if $n.threads == 32 then " (at the stock 32 threads)" else "" end) + ": "
        + (if ($n | acct_tp) == null then "NOT met (only " + ($n.acct.acct_responses | tostring) + " of " + ($n.acct.sent | tostring) + " Accounting-Requests answered)"
        elif sql_acct == null then "no rlm_sql figure"
        else met(($n | acct_tp) >= 3 * sql_acct) + " (" + x($n | acct_tp; sql_acct) + ")" end),
    "  accounting >= 0.5x the detail file: " + (if ($n | acct_tp) == null or detail_acct == null then "no figure"
        else met(($n | acct_tp) >= 0.5 * detail_acct) + " (" + x($n | acct_tp; detail_acct) + ")" end),
    "  accounting applied to PostgreSQL afterwards: " + (if $n.acct_applied_after_s == null then "NOT within 300 s" else "yes, " + ($n.acct_applied_after_s | tostring) + " s after the load" end),
    "  p99 < 5 ms at half peak: " + met($n.half.latency_ms.p99 < 5) + " (" + ($n.half.latency_ms.p99 | tostring) + " ms at " + ($n.half.target_rate | floor | tostring) + "/s)",
    "  authentication log complete (no record dropped): " + (if ($n.auth_log_drop_warnings // 0) == 0 then "yes" else "NO (" + ($n.auth_log_drop_warnings | tostring) + " drop warnings in the log)" end)),
   "",
   "Best rlm_netily run per round (the operator picks the thread pool once):",
   ($netily | group_by(.round)[] | max_by(.auth.throughput) as $b | $b |
    "  round \(.round): \(name) auth \(.auth.throughput | r0)/s = \(x(.auth.throughput; files_auth)) rlm_files, \(x(.auth.throughput; sql_auth)) rlm_sql;"
    + " accounting best \([$netily[] | select(.round == $b.round) | acct_tp] | max | r0)/s = \(x([$netily[] | select(.round == $b.round) | acct_tp] | max; sql_acct)) rlm_sql")
   end),
  "",
  "Generator check (saturating Access-Request runs): radload CPU < 0.5 core means it was not the bottleneck:",
  ($all[] | select(.auth) |
   "  \(name): radload \(.auth.cpu_cores.radload | r2) core, radiusd \(.auth.cpu_cores.watched.radiusd | r2), postgres \(.auth.cpu_cores.watched.postgres | r2) of \($ENV.NPROC) cores -> " +
   (if .auth.cpu_cores.radload < 0.5 then "generator not the bottleneck" else "GENERATOR MAY BE THE BOTTLENECK" end)),
  "Other CPU = whole-machine busy time not used by radload, radiusd or postgres (other work on the machine, kernel"
  + " network time); high values mean the figures are pessimistic. Steal (hypervisor) during the runs: "
  + ([$all[] | select(.auth) | "\(name) \(.auth.cpu_cores.machine_steal | r2)"] | join(", ")) + " cores.",
  ($all[] | select(.auth) | select(.alive | not) | "  WARNING: radiusd for \(name) had died by the end of the run"),
  ($all[] | select(.auth) | select(.log_errors > 0) | "  note: \(name) radiusd log has \(.log_errors) error line(s)"),
  ([$all[] | select(.auth) | {c: name, r: (.auth.rejects / (.auth.accepts + .auth.rejects))}] as $mix
   | if ($mix | length) > 1 and (($mix | map(.r) | max) - ($mix | map(.r) | min)) > 0.01
     then "  WARNING: reject share differs between runs: " + ($mix | map("\(.c) \((.r * 1000 | round) / 10)%") | join(", "))
     else empty end),
  ($all[] | select(.auth) | select((.auth.accepts_with_rate_limit) < (.auth.accepts)) | "  note: \(name): \(.auth.accepts - .auth.accepts_with_rate_limit) Access-Accepts without Mikrotik-Rate-Limit")
JQ
# The storm: one row per run, each compared with rlm_sql's run of the same
# round (times: Netily/rlm_sql, lower is better), then the spread.
[ "$STORM" = 0 ] || STORM_N=$STORM_N STORM_WINDOW=$STORM_WINDOW STORM_THREADS=$STORM_THREADS STORM_TIMEOUT=$STORM_TIMEOUT \
    jq -rs -f /dev/stdin "$results" <<'JQ'
def r2: if . == null then "-" else ((. * 100 | round) / 100 | tostring) end;
def x(a; b): if a == null or b == null or b == 0 then "-" else ((a / b * 100 | round) / 100 | tostring) + "x" end;
def span(f): [.[] | f | select(. != null)] | if length == 0 then "-" else "\(min | r2)-\(max | r2) s" end;
def name: (if .config == "sql" then "rlm_sql" else "rlm_netily" end) + " r" + (.round | tostring);
[.[] | select(.kind == "storm")] as $s
| ($s | map(select(.skipped == null))) as $ran
| def sql(f; $round): [$ran[] | select(.config == "sql" and .round == $round) | f] | first;
  "",
  "Reconnect storm: a NAS with \($ENV.STORM_N) subscribers online restarts: Accounting-On, then each subscriber"
  + " Access-Request and, on Accept, Accounting-Start (\($ENV.STORM_WINDOW) in flight, sent again after \($ENV.STORM_TIMEOUT) ms, 3 tries);"
  + " radiusd \($ENV.STORM_THREADS) threads. Seconds from the Accounting-On until every subscriber is accepted,"
  + " every Start answered, and radacct holds every new session open and every earlier one closed;"
  + " 99%: until 99 of each 100 subscribers were through. In brackets: Netily's time / rlm_sql's in the same"
  + " round (lower is better).",
  (["run", "all accepted s", "all Starts answered s", "all recorded s", "99% accepted s", "99% Starts answered s",
    "rejects", "timeouts", "retransmits", "gave up", "UDP drops (machine)", "p99 ms", "radacct"] | @tsv),
  ($s | sort_by(.round, .config != "sql")[] |
   if .skipped then [name, "not measured: " + .skipped] | @tsv else
   . as $run | .round as $r |
   def t(f): ($run | f | r2) + (if $run.config == "sql" then "" else " (" + x($run | f; sql(f; $r)) + ")" end);
   [name, t(.last_accept_s), t(.last_start_s), t(.recorded_s), t(.accepted_99_s), t(.started_99_s),
    (.storm.rejects | tostring), (.storm.timeouts | tostring), (.storm.retransmits | tostring), (.storm.gave_up | tostring),
    (.udp_rcvbuf_drops_machine | tostring), (.latency_ms.p99 | r2),
    (if .ok then "right" else "WRONG: " + (.check.problems | join("; ")) end)] | @tsv
   end),
  ("Spread over \([$s[] | .round] | unique | length) round(s): "
   + (["sql", "netily"] | map(. as $c | [$ran[] | select(.config == $c)]
       | "\(if $c == "sql" then "rlm_sql" else "rlm_netily" end) all answered \(span(.last_start_s)), all recorded \(span(.recorded_s)), 99% answered \(span(.started_99_s))") | join("; "))
   + "; Netily/rlm_sql all recorded: "
   + ([$ran[] | select(.config == "netily") | .round as $r | x(.recorded_s; sql(.recorded_s; $r))] | join(", "))
   + ", 99% answered: "
   + ([$ran[] | select(.config == "netily") | .round as $r | x(.started_99_s; sql(.started_99_s; $r))] | join(", "))),
  ($s[] | select((.log_errors // 0) > 0) | "  note: storm \(name): radiusd log has \(.log_errors) error line(s)")
JQ
echo "Details: $results"
if [ -n "$storm_failed" ]; then
    say "the reconnect storm FAILED: radacct left wrong or a run not measured (see above and $results)"
    exit 1
fi
