#!/bin/bash
# `make run` / `make stop`: bring up a local Netily, and take it down again.
#
# Steps, in order: the private PostgreSQL (scripts/pg.sh), netadmin migrate +
# seed demo, then each optional component whose script exists:
#   scripts/freeradius-run.sh   FreeRADIUS with rlm_netily
#   scripts/openvpn-run.sh      OpenVPN with the Netily plugin
#   scripts/enforcer-run.sh     the enforcer (CoA/Disconnect to routers)
#   scripts/web-run.sh          the web console and API (a demo operator)
# A component script is called as `<script> start` and `<script> stop`, from
# the project root, with these exported:
#   NETILY_DATABASE_URL  the private cluster's URL
#   NETILY_CONFIG_FILE   .run/netily.conf (the example with that URL)
#   NETILY_RUN_DIR       .run (or /var/tmp/netily-run-<hash> when other
#                        users cannot enter the checkout)
#   NETILY_RELEASE_DIR   where `make build` put the binaries and plugins
#   NETILY_MODULE        $NETILY_RELEASE_DIR/librlm_netily.so
# On start it starts its server in the background (PID under .run) and
# prints what to try; on stop it stops only what it started. If it has a
# `status` verb exiting 0 while its server runs, a second `make run` skips it.
# `stop` runs the components in reverse order, each even if another fails.
#
# Usage: scripts/run.sh start|stop
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export NETILY_RUN_DIR="$root/.run"
# radiusd (as freerad) and postgres cannot reach files in a checkout other
# users cannot enter (/root is 0700, so is `mktemp -d`): then the run dir is
# a fixed place in /var/tmp named after the checkout.
if [ "$(id -u)" -eq 0 ] && ! runuser -u nobody -- test -x "$root"; then
    NETILY_RUN_DIR=/var/tmp/netily-run-$(printf %s "$root" | md5sum | cut -c1-12)
fi
mkdir -p "$NETILY_RUN_DIR"
chmod 755 "$NETILY_RUN_DIR"
export NETILY_PG_DIR=${NETILY_PG_DIR:-$NETILY_RUN_DIR/pg}
NETILY_DATABASE_URL=$(scripts/pg.sh url)
export NETILY_DATABASE_URL
export NETILY_RELEASE_DIR="${CARGO_TARGET_DIR:-$root/target}/release"
export NETILY_MODULE="$NETILY_RELEASE_DIR/librlm_netily.so"
export NETILY_CONFIG_FILE="$NETILY_RUN_DIR/netily.conf"
netadmin="$NETILY_RELEASE_DIR/netadmin"
components=(freeradius openvpn enforcer web)

start() {
    trap 'echo "run.sh: start failed; \`make stop\` stops what did start" >&2' ERR
    echo "== PostgreSQL"
    scripts/pg.sh start

    # The example config, pointed at the private cluster (it holds a password).
    (umask 077 && sed "s|^database_url = .*|database_url = $NETILY_DATABASE_URL|" \
        netily.conf.example >"$NETILY_CONFIG_FILE")

    echo "== schema and demo data"
    [ -x "$netadmin" ] || { echo "run.sh: $netadmin missing; run \`make build\`" >&2; exit 1; }
    "$netadmin" --database-url "$NETILY_DATABASE_URL" migrate
    # Once per cluster: seed refuses a database that already has subscribers.
    if [ ! -e "$NETILY_PG_DIR/demo-seeded" ]; then
        "$netadmin" --database-url "$NETILY_DATABASE_URL" seed demo
        touch "$NETILY_PG_DIR/demo-seeded"
    else
        echo "demo data already loaded (scripts/pg.sh destroy starts over)"
    fi

    for c in "${components[@]}"; do
        if [ -x "scripts/$c-run.sh" ]; then
            echo "== $c"
            if "scripts/$c-run.sh" status >/dev/null 2>&1; then
                echo "$c already running"
            else
                "scripts/$c-run.sh" start
            fi
        fi
    done

    cat <<TRY

Netily is running (state in $NETILY_RUN_DIR). Try:
  export NETILY_DATABASE_URL=$NETILY_DATABASE_URL
  $netadmin --help
  psql "$NETILY_DATABASE_URL"
Watch the enforcer act on a demo session (its log: $NETILY_RUN_DIR/enforcer.log):
  # alice comes online on demo-router (127.0.0.1), as a router would report it
  echo 'User-Name = "alice", Acct-Status-Type = Start, Acct-Session-Id = "demo-1", NAS-IP-Address = 127.0.0.1, Framed-IP-Address = 10.0.0.7' \
    | radclient 127.0.0.1:18132 acct testing123
  $netadmin plan update home-20M --rate 15M/15M   # a CoA-Request with the new rate, at once
  $netadmin customer suspend alice                # a Disconnect-Request
  $netadmin coa-log    # what was sent and the answer: no-answer here after the retries (~14 s), no router listens on 127.0.0.1:3799
  $netadmin enforce --dry-run                     # what would be sent now, and why
Usage (after some accounting, as above with Interim-Update and Acct-Input-Octets):
  $netadmin usage alice --by hour --period today
  $netadmin usage top ; $netadmin usage routers --csv ; $netadmin usage plans
The web console: http://127.0.0.1:8080 (log in as demo, password in
$NETILY_RUN_DIR/web-demo-operator; the API with a token from
\`$netadmin operator token add demo --label me\`):
  curl -H "Authorization: Bearer <token>" http://127.0.0.1:8080/api/v1/subscribers?q=alice
  $netadmin audit       # who changed what, from the console, the API or netadmin
Stop everything with: make stop
TRY
}

stop() {
    local rc=0
    for ((i = ${#components[@]} - 1; i >= 0; i--)); do
        c=${components[i]}
        if [ -x "scripts/$c-run.sh" ]; then
            echo "== stopping $c"
            "scripts/$c-run.sh" stop || rc=1
        fi
    done
    echo "== stopping PostgreSQL"
    scripts/pg.sh stop || rc=1
    return $rc
}

case "${1:-}" in
start) start ;;
stop) stop ;;
*)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
