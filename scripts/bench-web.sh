#!/bin/bash
# `make bench-web`: the console's pages and the API's lists at 1,000,000
# subscribers, server time per request (netily-web's Server-Timing header:
# from the request's arrival to its response, database included).
#
#   1. a private PostgreSQL in BENCH_WEB_DIR [.run/bench-web] with
#      BENCH_WEB_SUBSCRIBERS [1000000] synthetic subscribers (`netadmin seed
#      synthetic`; every one with a phone number, 1 in 10 with an unpaid
#      invoice), 20,000 sessions online and 200,000 logins in the auth log;
#      kept for the next run (delete the dir to start over)
#   2. netily-web (release) with an operator logged in through the form
#   3. each page and API list BENCH_WEB_ROUNDS [20] times: median, p95 and
#      max of the server time, and whether the median meets the goal
#      (< 100 ms)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
N=${BENCH_WEB_SUBSCRIBERS:-1000000}
rounds=${BENCH_WEB_ROUNDS:-20}
dir=${BENCH_WEB_DIR:-$root/.run/bench-web}
export NETILY_PG_DIR=$dir/pg NETILY_PG_PORT=${BENCH_WEB_PG_PORT:-55444}
listen=127.0.0.1:${BENCH_WEB_PORT:-18090}
release=${CARGO_TARGET_DIR:-$root/target}/release
netadmin=$release/netadmin
say() { echo "bench-web: $*" >&2; }

mkdir -p "$dir"
chmod 755 "$dir"
cargo build --release -p netadmin -p netily-web
scripts/pg.sh start >/dev/null
web_pid=
cleanup() {
    [ -n "$web_pid" ] && kill "$web_pid" 2>/dev/null || true
    scripts/pg.sh stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
url=$(scripts/pg.sh url)
conf=$dir/netily.conf
(umask 077 && printf 'database_url = %s\npool_size = 8\n' "$url" >"$conf")
sql() {
    (cd / && runuser -u postgres -- psql -X -q -A -t -v ON_ERROR_STOP=1 \
        -h "$(readlink -f "$NETILY_PG_DIR")" -p "$NETILY_PG_PORT" -U postgres -d netily "$@")
}

if [ ! -e "$dir/seeded-$N" ]; then
    say "loading $N subscribers (once; kept in $dir)"
    # From an empty cluster: a load that stopped half way is not reused.
    scripts/pg.sh destroy >/dev/null
    scripts/pg.sh start >/dev/null
    "$netadmin" --config "$conf" migrate >/dev/null
    t0=$SECONDS
    "$netadmin" --config "$conf" seed synthetic --subscribers "$N" --routers 10 >/dev/null
    sql <<'SQL'
SET netily.audit = off;
UPDATE customers SET phone = '+2547' || lpad(id::text, 8, '0');
INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime,
                     acctupdatetime, framedipaddress, callingstationid, acctinputoctets, acctoutputoctets)
SELECT 's' || g, md5('s' || g), 'synth' || lpad((g * 37 % 1000000 + 1)::text, 7, '0'),
       ('127.16.0.' || (g % 10 + 1))::inet, now() - interval '2 hours', now() - interval '1 minute',
       ('10.64.0.0'::inet + g), '02:00:00:00:' || lpad(to_hex(g / 256 % 256), 2, '0') || ':' || lpad(to_hex(g % 256), 2, '0'),
       g * 1000, g * 5000
  FROM generate_series(1, 20000) g;
INSERT INTO radpostauth (username, pass, reply, authdate, nasipaddress)
SELECT 'synth' || lpad((g % 1000000 + 1)::text, 7, '0'), '', CASE WHEN g % 20 = 0 THEN 'Access-Reject' ELSE 'Access-Accept' END,
       now() - (g || ' seconds')::interval, '127.16.0.1'
  FROM generate_series(1, 200000) g;
VACUUM ANALYZE;
SQL
    touch "$dir/seeded-$N"
    say "loaded in $((SECONDS - t0)) s"
fi

# A kept database gets the schema of this build.
"$netadmin" --config "$conf" migrate >/dev/null
if ! "$netadmin" --config "$conf" operator list | grep -q '^bench '; then
    "$netadmin" --config "$conf" operator add bench --role admin --generate-password >/dev/null
fi
password=$("$netadmin" --config "$conf" --json operator passwd bench --generate-password |
    sed -n 's/.*"password": *"\([^"]*\)".*/\1/p')

"$release/netily-web" --config "$conf" --listen "$listen" 2>"$dir/web.log" &
web_pid=$!
for _ in $(seq 100); do curl -sf "http://$listen/healthz" >/dev/null && break; sleep 0.1; done

jar=$dir/cookies
rm -f "$jar"
form=$(curl -s -c "$jar" -b "$jar" "http://$listen/login")
csrf=$(printf '%s' "$form" | sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p')
curl -s -c "$jar" -b "$jar" -o /dev/null --data-urlencode "name=bench" \
    --data-urlencode "password=$password" --data-urlencode "csrf=$csrf" "http://$listen/login"

# Server milliseconds of GET $1, $rounds times (after one warm-up):
# "median p95 max".
timed() {
    local times=()
    curl -s -b "$jar" -o /dev/null "http://$listen$1"
    for _ in $(seq "$rounds"); do
        times+=("$(curl -s -b "$jar" -o /dev/null -D - "http://$listen$1" |
            tr -d '\r' | sed -n 's/^server-timing: app;dur=//p')")
    done
    printf '%s\n' "${times[@]}" | sort -g | awk '{ a[NR] = $1 }
        END { p = int(NR * 0.95 + 0.5); if (p < 1) p = 1; print a[int((NR + 1) / 2)], a[p], a[NR] }'
}

deep=$(printf 'synth%07d' $((N * 9 / 10)))
echo
echo "netily-web at $N subscribers: server time per request, ms ($rounds runs each)"
printf '%-58s %8s %8s %8s  %s\n' "PAGE" "MEDIAN" "P95" "MAX" "GOAL <100"
for page in \
    "/" \
    "/subscribers" \
    "/subscribers?after=$deep" \
    "/subscribers?q=Subscriber%20777777" \
    "/subscribers?q=Subscriber" \
    "/subscribers?q=Synthetic%20Subscriber" \
    "/subscribers?q=%2B254700123456" \
    "/subscribers?q=10.64.0.77" \
    "/subscribers?status=suspended" \
    "/subscribers/synth0500000" \
    "/sessions" \
    "/invoices?status=unpaid" \
    "/auth-log" \
    "/auth-log?user=synth0500000" \
    "/enforcement" \
    "/audit" \
    "/plans" \
    "/routers" \
    "/api/v1/subscribers?q=777777&limit=50" \
    "/api/v1/subscribers/synth0500000" \
    "/api/v1/sessions?limit=500" \
    "/api/v1/invoices?limit=500" \
    "/api/v1/dashboard"; do
    read -r median p95 max < <(timed "$page")
    ok=$(awk -v m="$median" 'BEGIN { print (m < 100) ? "yes" : "NO" }')
    printf '%-58s %8s %8s %8s  %s\n' "$page" "$median" "$p95" "$max" "$ok"
done
