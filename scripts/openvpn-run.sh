#!/bin/bash
# OpenVPN with the Netily plugin, for `make run` (called by scripts/run.sh).
#
#   scripts/openvpn-run.sh start   development PKI (once), then the UDP server
#                                  from openvpn-conf/server.conf on 127.0.0.1
#                                  as a background child; PID in .run/openvpn.pid
#   scripts/openvpn-run.sh stop    stops only that PID
#
# Uses NETILY_RUN_DIR, NETILY_CONFIG_FILE, NETILY_RELEASE_DIR from run.sh.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
run_dir=${NETILY_RUN_DIR:-$root/.run}
release_dir=${NETILY_RELEASE_DIR:-${CARGO_TARGET_DIR:-$root/target}/release}
config_file=${NETILY_CONFIG_FILE:-$run_dir/netily.conf}
ovpn_dir=$run_dir/openvpn
pid_file=$run_dir/openvpn.pid
plugin=$release_dir/libopenvpn_plugin_netily.so

start() {
    if [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
        echo "openvpn already running (pid $(cat "$pid_file"))"
        return 0
    fi
    command -v openvpn >/dev/null || { echo "openvpn not installed (make deps)" >&2; exit 1; }
    [ -e /dev/net/tun ] || { echo "no /dev/net/tun: OpenVPN's server needs a tun device" >&2; exit 1; }
    [ -f "$plugin" ] || { echo "$plugin missing: run make build" >&2; exit 1; }
    mkdir -p "$ovpn_dir"
    cargo run --quiet --release -p openvpn_plugin_netily --example vpn_pki -- "$ovpn_dir/pki"
    sed -e "s|/etc/netily/pki/|$ovpn_dir/pki/|g" \
        -e "s|/run/netily/|$ovpn_dir/|g" \
        -e "s|/usr/lib/netily/libopenvpn_plugin_netily.so|$plugin|" \
        -e "s|config=/etc/netily/netily.conf|config=$config_file|" \
        -e "s|^port 1194|port 1194\nlocal 127.0.0.1|" \
        openvpn-conf/server.conf >"$ovpn_dir/server.conf"
    openvpn --config "$ovpn_dir/server.conf" >"$ovpn_dir/openvpn.log" 2>&1 &
    echo $! >"$pid_file"
    for _ in $(seq 1 50); do
        if grep -q "Initialization Sequence Completed" "$ovpn_dir/openvpn.log"; then
            echo "openvpn: UDP 127.0.0.1:1194 with the Netily plugin (pid $(cat "$pid_file")), log $ovpn_dir/openvpn.log"
            return 0
        fi
        kill -0 "$(cat "$pid_file")" 2>/dev/null || break
        sleep 0.1
    done
    echo "openvpn did not start; last lines of $ovpn_dir/openvpn.log:" >&2
    tail -20 "$ovpn_dir/openvpn.log" >&2
    stop
    exit 1
}

stop() {
    [ -f "$pid_file" ] || return 0
    pid=$(cat "$pid_file")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    fi
    rm -f "$pid_file"
    echo "openvpn stopped"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
