#!/bin/bash
# `make bench-scale`: radacct at scale, on this machine, in one run.
#
#   1. scripts/bench.sh with two configs side by side: rlm_netily on the
#      seeded database (radacct empty) and on a copy whose radacct holds
#      BENCH_RADACCT_ROWS [20000000] closed sessions of the 100,000
#      synthetic subscribers over 13 months, with the usage rollups they
#      make (bench/fill-radacct.sql): accounting throughput, paired per
#      round, full vs empty
#   2. on the full copy: `netadmin usage USER --period 12m`, `usage top
#      --period last-month`, a subscriber's last 50 sessions from radacct
#      (radacct_user_start_idx), each run 7 times (median and spread);
#      bytes per radacct row (tables and indexes); dropping the oldest
#      month (`netadmin retention` with keep_radacct_months = 11)
#   3. the figures, the goals, and JSON lines in BENCH_RESULTS if set
#
# Environment: BENCH_RADACCT_ROWS; BENCH_SCALE_REUSE=1 runs step 2 alone on
# the database the last run left in BENCH_DIR; and bench.sh's (BENCH_ROUNDS [2],
# BENCH_THREADS [32], BENCH_SECONDS, BENCH_DIR, BENCH_PG_PORT ...).
# Takes about half an hour here for 20,000,000 rows, most of it the fill.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
export BENCH_CONFIGS="netily netily-full" BENCH_STORM=0 BENCH_KEEP=1
export BENCH_THREADS=${BENCH_THREADS:-32} BENCH_ROUNDS=${BENCH_ROUNDS:-2}
export BENCH_RADACCT_ROWS=${BENCH_RADACCT_ROWS:-20000000}
dir=${BENCH_DIR:-$root/.run/bench}
port=${BENCH_PG_PORT:-55442}
netadmin=$root/target/release/netadmin
say() { echo "bench-scale: $*" >&2; }

stop_pg() {
    NETILY_PG_DIR=$dir/pg NETILY_PG_PORT=$port "$root/scripts/pg.sh" stop >/dev/null 2>&1 || true
}
trap stop_pg EXIT

if [ "${BENCH_SCALE_REUSE:-}" = 1 ]; then
    # Only step 2, on the database a previous run kept (.run/bench/pg).
    NETILY_PG_DIR=$dir/pg NETILY_PG_PORT=$port "$root/scripts/pg.sh" start >/dev/null
else
    "$root/scripts/bench.sh"
fi

pg_real=$(readlink -f "$dir/pg")
sql() {
    (cd / && runuser -u postgres -- psql -X -q -A -t -v ON_ERROR_STOP=1 -h "$pg_real" -p "$port" -U postgres -d netily_full "$@")
}
conf=$dir/netily-full.conf

# Wall milliseconds of `netadmin --config $conf "$@"`, 7 runs: "median min max".
timed() {
    local runs=() t0
    for _ in 1 2 3 4 5 6 7; do
        t0=$(date +%s%N)
        "$netadmin" --config "$conf" "$@" >/dev/null
        runs+=($((($(date +%s%N) - t0) / 1000000)))
    done
    printf '%s\n' "${runs[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[4], a[1], a[NR] }'
}
# Server milliseconds of one statement (EXPLAIN ANALYZE), 7 runs: "median min max".
explained() {
    for _ in 1 2 3 4 5 6 7; do
        sql -c "EXPLAIN (ANALYZE, FORMAT JSON) $1" | jq '.[0]["Execution Time"] + .[0]["Planning Time"]'
    done | sort -n | awk '{ a[NR] = $1 } END { printf "%.1f %.1f %.1f\n", a[4], a[1], a[NR] }'
}

user=$(sql -c "SELECT username FROM usage_months GROUP BY 1 ORDER BY sum(bytes_down) DESC LIMIT 1")
read -r rows bytes < <(sql -F ' ' -c "
    SELECT sum(c.reltuples)::bigint, sum(pg_total_relation_size(c.oid))
      FROM netily_radacct_partitions() p JOIN pg_class c ON c.relname = p.name")
months=$(sql -c "SELECT count(*) FROM netily_radacct_partitions() WHERE NOT is_default")
say "radacct: $rows rows in $months months, $bytes bytes; timing reports for $user"
read -r year_ms year_min year_max < <(timed usage "$user" --period 12m --by month)
read -r month_ms month_min month_max < <(timed usage "$user" --period month --by day)
read -r top_ms top_min top_max < <(timed usage top --period last-month --limit 20)
# (netadmin sessions --user's statement.)
read -r hist_ms hist_min hist_max < <(explained "SELECT * FROM radacct WHERE username = '$user' ORDER BY acctstarttime DESC, radacctid DESC LIMIT 50")
read -r noop_ms _ _ < <(timed --version)

oldest=$(sql -c "SELECT name FROM netily_radacct_partitions() WHERE NOT is_default ORDER BY lower LIMIT 1")
oldest_rows=$(sql -c "SELECT reltuples::bigint FROM pg_class WHERE relname = '$oldest'")
cp "$conf" "$dir/keep-11.conf"
echo "keep_radacct_months = 11" >>"$dir/keep-11.conf"
t0=$(date +%s%N)
"$netadmin" --config "$dir/keep-11.conf" --json retention >"$dir/retention.json"
drop_ms=$((($(date +%s%N) - t0) / 1000000))
dropped=$(jq -r '[.run.dropped[] | .partition] | join(", ")' "$dir/retention.json")

# Accounting, paired per round: full / empty.
acct=$(jq -sr '
    [.[] | select(.acct != null)] | group_by(.round)[]
    | (map(select(.config == "netily"))[0].acct.throughput) as $empty
    | (map(select(.config == "netily-full"))[0].acct.throughput) as $full
    | "round \(.[0].round): empty \($empty | floor)/s, full \($full | floor)/s = \(($full / $empty * 100 | floor) / 100)x"' \
    "$dir/results.jsonl")
worst=$(jq -sr '
    [[.[] | select(.acct != null)] | group_by(.round)[]
     | (map(select(.config == "netily-full"))[0].acct.throughput) / (map(select(.config == "netily"))[0].acct.throughput)]
    | min * 100 | floor / 100' "$dir/results.jsonl")
per_row=$((bytes / (rows > 0 ? rows : 1)))

goal() { if awk "BEGIN { exit !($2) }"; then echo "  $1: met"; else echo "  $1: NOT met"; fi; }
cat <<EOF

Netily at scale, $(date -u +%F), $(nproc) cores: radacct $rows rows over $months months, 100,000 subscribers
  accounting (Start, Interim, Stop), rlm_netily, 32 threads, full vs empty radacct, paired:
$(sed 's/^/    /' <<<"$acct")
  usage $user --period 12m --by month: $year_ms ms (min $year_min, max $year_max; netadmin --version alone $noop_ms ms)
  usage $user --period month --by day: $month_ms ms (min $month_min, max $month_max)
  usage top --period last-month --limit 20: $top_ms ms (min $top_min, max $top_max)
  the subscriber's last 50 sessions from radacct (server time): $hist_ms ms (min $hist_min, max $hist_max)
  dropping the oldest month ($dropped, ~$oldest_rows rows), whole retention run: $drop_ms ms
  radacct bytes per row (heap, TOAST and indexes): $per_row
  extrapolated to 100,000,000 rows: $((per_row * 100000000 / 1000000000)) GB
Goals:
$(goal "accounting with the full table >= 0.9x the empty one (worst round ${worst}x)" "$worst >= 0.9")
$(goal "usage USER for a year < 50 ms" "$year_ms < 50")
$(goal "usage top for a month < 500 ms" "$top_ms < 500")
$(goal "dropping a month < 1 s" "$drop_ms < 1000")
EOF
if [ -n "${BENCH_RESULTS:-}" ]; then
    jq -nc --argjson rows "$rows" --argjson bytes "$bytes" --argjson year "$year_ms" --argjson month "$month_ms" \
        --argjson top "$top_ms" --argjson history "$hist_ms" --argjson drop "$drop_ms" --argjson worst "$worst" \
        '{kind: "scale", radacct_rows: $rows, radacct_bytes: $bytes, usage_year_ms: $year, usage_month_ms: $month,
          top_month_ms: $top, history_ms: $history, drop_month_ms: $drop, acct_full_vs_empty_worst: $worst}' >>"$BENCH_RESULTS"
fi
