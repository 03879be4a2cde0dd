#!/bin/sh
# The enforcer (`netadmin enforce --follow`) in the background, for
# development and `make run`.
#
#   scripts/enforcer-run.sh start    start it, wait until it acts
#   scripts/enforcer-run.sh stop     stop the one `start` recorded
#   scripts/enforcer-run.sh status
#
# Environment (defaults in brackets):
#   NETILY_RUN_DIR       state dir [.run]: enforcer.pid, enforcer.log
#   NETILY_CONFIG_FILE   Netily config [.run/netily.conf]
#   NETILY_RELEASE_DIR   where netadmin is [target/release]
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
dir=${NETILY_RUN_DIR:-$here/.run}
config_file=${NETILY_CONFIG_FILE:-$dir/netily.conf}
netadmin=${NETILY_RELEASE_DIR:-$here/target/release}/netadmin
log=$dir/enforcer.log

die() { echo "enforcer-run: $*" >&2; exit 1; }
pid() { cat "$dir/enforcer.pid" 2>/dev/null || true; }
running() { p=$(pid); [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }

start() {
    if running; then die "already running (pid $(pid)); run \`$0 stop\` first"; fi
    [ -x "$netadmin" ] || die "$netadmin missing; run \`make build\`"
    [ -f "$config_file" ] || die "no Netily config at $config_file (set NETILY_CONFIG_FILE)"
    mkdir -p "$dir"
    : >"$log"
    # setsid: not in the caller's process group, so `make`'s Ctrl-C leaves it.
    setsid "$netadmin" --config "$config_file" enforce --follow >/dev/null 2>>"$log" &
    echo $! >"$dir/enforcer.pid"
    i=0
    while [ $i -lt 100 ]; do
        if grep -q "reviewed every online session" "$log"; then
            echo "enforcer-run: acting (pid $(pid)), log $log"
            return 0
        fi
        if ! running; then
            rm -f "$dir/enforcer.pid"
            cat "$log" >&2
            die "the enforcer exited"
        fi
        sleep 0.1
        i=$((i + 1))
    done
    echo "enforcer-run: started (pid $(pid)) but not acting yet; see $log"
}

stop() {
    p=$(pid)
    [ -n "$p" ] || { echo "enforcer-run: not running"; return 0; }
    if kill "$p" 2>/dev/null; then
        i=0
        while kill -0 "$p" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
        kill -0 "$p" 2>/dev/null && kill -9 "$p" 2>/dev/null || true
    fi
    rm -f "$dir/enforcer.pid"
    echo "enforcer-run: stopped (pid $p)"
}

case ${1:-} in
    start) start ;;
    stop) stop ;;
    status) if running; then echo "running (pid $(pid))"; else echo "not running"; exit 1; fi ;;
    *) die "usage: $0 start|stop|status" ;;
esac
