#!/bin/sh
# A private FreeRADIUS with rlm_netily, for development and tests.
#
#   scripts/freeradius-run.sh prepare   build the private raddb only
#   scripts/freeradius-run.sh start     prepare, start radiusd in the background, wait until ready
#   scripts/freeradius-run.sh stop      stop the radiusd that `start` recorded
#   scripts/freeradius-run.sh status
#
# Environment (defaults in brackets):
#   NETILY_RADIUS_DIR    private directory [.run/freeradius]: raddb/, lib/rlm_netily.so, radiusd.log, radiusd.pid
#   NETILY_MODULE        the built module [target/debug/librlm_netily.so]
#   NETILY_CONFIG_FILE   Netily config for the module [.run/netily.conf]
#   NETILY_AUTH_PORT     [18122]   NETILY_ACCT_PORT [18132]   (loopback only; 1812/1813 and the
#                                   stock inner-tunnel's 18120 stay free)
#
# The system's /etc/freeradius/3.0 is copied, never modified. The copy runs
# our `netily` site only (default, inner-tunnel and eap are disabled: Netily
# serves PAP/CHAP/MS-CHAP) and finds rlm_netily.so through
# libdir = <private lib>:/usr/lib/freeradius. Started as root it switches to
# the stock `freerad` user like the packaged server (so permission mistakes
# show up here, not in production): the private log/ and run/ dirs are given
# to freerad, and the Netily config must be readable by it. Started as
# another user, the user/group switch is left out.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
dir=${NETILY_RADIUS_DIR:-${NETILY_RUN_DIR:-$here/.run}/freeradius}
module=${NETILY_MODULE:-$here/target/debug/librlm_netily.so}
config_file=${NETILY_CONFIG_FILE:-$here/.run/netily.conf}
auth_port=${NETILY_AUTH_PORT:-18122}
acct_port=${NETILY_ACCT_PORT:-18132}
# Where the site listens: loopback, or `*` (a test serving routers through
# the VPN tunnel runs radiusd in the VPN server's network namespace).
listen_address=${NETILY_LISTEN_ADDRESS:-127.0.0.1}
system_raddb=${NETILY_SYSTEM_RADDB:-/etc/freeradius/3.0}

die() { echo "freeradius-run: $*" >&2; exit 1; }

prepare() {
    [ -f "$module" ] || die "no module at $module; run \`cargo build -p rlm_netily\` first"
    [ -d "$system_raddb" ] || die "no FreeRADIUS config at $system_raddb; run \`make deps\`"
    mkdir -p "$dir/lib" "$dir/run" "$dir/log"
    rm -rf "$dir/raddb"
    cp -a "$system_raddb" "$dir/raddb"
    raddb=$dir/raddb
    # A copy, not a link: a later cargo build must not swap a running module.
    cp "$module" "$dir/lib/rlm_netily.so.tmp" && mv "$dir/lib/rlm_netily.so.tmp" "$dir/lib/rlm_netily.so"

    # A private copy of the Netily config, readable by the user radiusd runs
    # as (it holds the database password: owner + group only).
    [ -f "$config_file" ] || die "no Netily config at $config_file (set NETILY_CONFIG_FILE)"
    cp "$config_file" "$dir/netily.conf.tmp"
    if [ "$(id -u)" = 0 ] && id freerad >/dev/null 2>&1; then
        chown root:freerad "$dir/netily.conf.tmp" && chmod 0640 "$dir/netily.conf.tmp"
    else
        chmod 0600 "$dir/netily.conf.tmp"
    fi
    mv "$dir/netily.conf.tmp" "$dir/netily.conf"
    # The journals: private to this radiusd ($dir/journal, kept across
    # restarts so a crash test finds what was acknowledged).
    mkdir -p "$dir/journal"
    sed -e "s|^\([[:space:]]*config_file[[:space:]]*=\).*|\1 \"$dir/netily.conf\"|" \
        -e "s|^\([[:space:]]*journal_dir[[:space:]]*=\).*|\1 \"$dir/journal\"|" \
        "$here/raddb/mods-available/netily" > "$raddb/mods-available/netily"
    ln -sf ../mods-available/netily "$raddb/mods-enabled/netily"
    # Loopback only (or $listen_address), on our ports (first listen is
    # auth, second acct).
    awk -v auth="$auth_port" -v acct="$acct_port" -v addr="$listen_address" '
        /^[[:space:]]*ipaddr[[:space:]]*=/ { sub(/=.*/, "= " addr) }
        /^[[:space:]]*port[[:space:]]*=/ { n++; sub(/=.*/, "= " (n == 1 ? auth : acct)) }
        { print }' "$here/raddb/sites-available/netily" > "$raddb/sites-available/netily"
    ln -sf ../sites-available/netily "$raddb/sites-enabled/netily"
    # Routers from the nas table without a restart (dynamic clients).
    cp "$here/raddb/sites-available/netily-dynamic-clients" "$raddb/sites-available/netily-dynamic-clients"
    ln -sf ../sites-available/netily-dynamic-clients "$raddb/sites-enabled/netily-dynamic-clients"
    rm -f "$raddb/sites-enabled/default" "$raddb/sites-enabled/inner-tunnel" "$raddb/mods-enabled/eap"

    sed -i \
        -e "s|^libdir = .*|libdir = $dir/lib:/usr/lib/freeradius|" \
        -e "s|^run_dir = .*|run_dir = $dir/run|" \
        -e "s|^logdir = .*|logdir = $dir/log|" \
        "$raddb/radiusd.conf"
    if [ "$(id -u)" = 0 ] && id freerad >/dev/null 2>&1; then
        chown -R freerad:freerad "$dir/log" "$dir/run" "$dir/journal"
    else
        sed -i -e 's/^\([[:space:]]*\)user = /\1#user = /' \
            -e 's/^\([[:space:]]*\)group = /\1#group = /' "$raddb/radiusd.conf"
    fi
}

pid() { cat "$dir/radiusd.pid" 2>/dev/null || true; }

running() { p=$(pid); [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }

start() {
    if running; then die "already running (pid $(pid)); run \`$0 stop\` first"; fi
    prepare
    : > "$dir/radiusd.log"
    freeradius -f -l stdout -d "$dir/raddb" >> "$dir/radiusd.log" 2>&1 &
    echo $! > "$dir/radiusd.pid"
    i=0
    while [ $i -lt 100 ]; do
        if grep -q "Ready to process requests" "$dir/radiusd.log"; then
            echo "freeradius-run: ready (pid $(pid)), auth 127.0.0.1:$auth_port acct 127.0.0.1:$acct_port, log $dir/radiusd.log"
            echo "  try: echo 'User-Name = \"alice\", User-Password = \"alice-pass\"' | radclient -x 127.0.0.1:$auth_port auth testing123"
            return 0
        fi
        if ! running; then
            cat "$dir/radiusd.log" >&2
            rm -f "$dir/radiusd.pid"
            die "radiusd exited during startup (log above)"
        fi
        sleep 0.1
        i=$((i + 1))
    done
    tail -20 "$dir/radiusd.log" >&2
    stop
    die "radiusd not ready after 10 s"
}

stop() {
    p=$(pid)
    if [ -z "$p" ]; then echo "freeradius-run: not running"; return 0; fi
    if kill "$p" 2>/dev/null; then
        i=0
        while kill -0 "$p" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
        kill -0 "$p" 2>/dev/null && kill -9 "$p" 2>/dev/null || true
    fi
    rm -f "$dir/radiusd.pid"
    echo "freeradius-run: stopped (pid $p)"
}

case ${1:-} in
    prepare) prepare; echo "$dir/raddb" ;;
    start) start ;;
    stop) stop ;;
    status) if running; then echo "running (pid $(pid))"; else echo "not running"; exit 1; fi ;;
    *) die "usage: $0 prepare|start|stop|status" ;;
esac
