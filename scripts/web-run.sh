#!/bin/sh
# netily-web in the background, for development and `make run`, with a demo
# operator (admin) whose password is printed on start.
#
#   scripts/web-run.sh start    start it, wait until it answers
#   scripts/web-run.sh stop     stop the one `start` recorded
#   scripts/web-run.sh status
#
# Environment (defaults in brackets):
#   NETILY_RUN_DIR       state dir [.run]: web.pid, web.log, web-demo-operator
#   NETILY_CONFIG_FILE   Netily config [.run/netily.conf; .run/openvpn/netily.conf
#                        when scripts/openvpn-run.sh wrote one]
#   NETILY_RELEASE_DIR   where netily-web and netadmin are [target/release]
#   NETILY_WEB_LISTEN    address:port [127.0.0.1:8080]
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
dir=${NETILY_RUN_DIR:-$here/.run}
config_file=${NETILY_CONFIG_FILE:-$dir/netily.conf}
# `make run`'s VPN config adds vpn_remote and the CA key seal: with it the
# console can hand out router profiles and scripts.
[ -f "$dir/openvpn/netily.conf" ] && config_file=$dir/openvpn/netily.conf
release=${NETILY_RELEASE_DIR:-$here/target/release}
listen=${NETILY_WEB_LISTEN:-127.0.0.1:8080}
log=$dir/web.log
demo=$dir/web-demo-operator

die() { echo "web-run: $*" >&2; exit 1; }
pid() { cat "$dir/web.pid" 2>/dev/null || true; }
running() { p=$(pid); [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }

start() {
    if running; then die "already running (pid $(pid)); run \`$0 stop\` first"; fi
    [ -x "$release/netily-web" ] || die "$release/netily-web missing; run \`make build\`"
    [ -f "$config_file" ] || die "no Netily config at $config_file (set NETILY_CONFIG_FILE)"
    mkdir -p "$dir"
    # The demo operator, once per database (its password kept, root-only).
    if ! "$release/netadmin" --config "$config_file" operator list | grep -q '^demo '; then
        (umask 077 && "$release/netadmin" --config "$config_file" --json operator add demo \
            --role admin --generate-password |
            sed -n 's/.*"password": *"\([^"]*\)".*/\1/p' >"$demo")
    fi
    : >"$log"
    setsid "$release/netily-web" --config "$config_file" --listen "$listen" >/dev/null 2>>"$log" &
    echo $! >"$dir/web.pid"
    i=0
    while [ $i -lt 100 ]; do
        if grep -q "listening on" "$log"; then
            echo "web-run: serving http://$listen (pid $(pid)), log $log"
            [ -s "$demo" ] && echo "web-run: log in as demo / $(cat "$demo")"
            return 0
        fi
        if ! running; then
            rm -f "$dir/web.pid"
            cat "$log" >&2
            die "netily-web exited"
        fi
        sleep 0.1
        i=$((i + 1))
    done
    echo "web-run: started (pid $(pid)) but not answering yet; see $log"
}

stop() {
    p=$(pid)
    [ -n "$p" ] || { echo "web-run: not running"; return 0; }
    if kill "$p" 2>/dev/null; then
        i=0
        while kill -0 "$p" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
        kill -0 "$p" 2>/dev/null && kill -9 "$p" 2>/dev/null || true
    fi
    rm -f "$dir/web.pid"
    echo "web-run: stopped (pid $p)"
}

case ${1:-} in
    start) start ;;
    stop) stop ;;
    status) if running; then echo "running (pid $(pid))"; else echo "not running"; exit 1; fi ;;
    *) die "usage: $0 start|stop|status" ;;
esac
