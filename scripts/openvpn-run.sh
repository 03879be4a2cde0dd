#!/bin/bash
# OpenVPN with the Netily plugin, for `make run` (called by scripts/run.sh).
#
#   scripts/openvpn-run.sh start   the router PKI through netadmin (CA in the
#                                  database, once; server files; a certificate
#                                  for the demo router), then the UDP server
#                                  from openvpn-conf/server.conf on 127.0.0.1
#                                  as a background child; PID in .run/openvpn.pid
#   scripts/openvpn-run.sh stop    stops only that PID
#   scripts/openvpn-run.sh status  exits 0 while that PID runs
#
# Uses NETILY_RUN_DIR, NETILY_CONFIG_FILE, NETILY_RELEASE_DIR, NETILY_PG_DIR
# from run.sh.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
run_dir=${NETILY_RUN_DIR:-$root/.run}
release_dir=${NETILY_RELEASE_DIR:-${CARGO_TARGET_DIR:-$root/target}/release}
config_file=${NETILY_CONFIG_FILE:-$run_dir/netily.conf}
pg_dir=${NETILY_PG_DIR:-$run_dir/pg}
ovpn_dir=$run_dir/openvpn
pid_file=$run_dir/openvpn.pid
plugin=$release_dir/libopenvpn_plugin_netily.so
netadmin=$release_dir/netadmin
# The VPN's own config: run.sh's plus what the PKI commands need.
vpn_config=$ovpn_dir/netily.conf
# The CA key in the database is sealed with this key, so it lives and dies
# with the cluster (`scripts/pg.sh destroy` removes both).
seal_file=$pg_dir/netily-ca-key-seal
demo_router=demo-router

running() {
    [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null
}

na() {
    "$netadmin" --config "$vpn_config" "$@"
}

pki() {
    if [ ! -s "$seal_file" ]; then
        (umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$seal_file")
    fi
    (umask 077 && grep -Ev '^[[:space:]]*(vpn_remote|ca_key_seal|ca_key_seal_file)[[:space:]]*=' \
        "$config_file" >"$vpn_config")
    printf '%s\n' "vpn_remote = 127.0.0.1:1194" "ca_key_seal_file = $seal_file" >>"$vpn_config"

    na ca show >/dev/null 2>&1 || na ca init
    na server-cert --out-dir "$ovpn_dir/pki"
    # The demo router from `seed demo` was added before the CA existed.
    local out
    if ! out=$(na cert issue "$demo_router" 2>&1); then
        case $out in
        *"already has active certificate"*) ;;
        *) echo "$out" >&2; return 1 ;;
        esac
    else
        echo "$out"
    fi
}

start() {
    if running; then
        echo "openvpn already running (pid $(cat "$pid_file"))"
        return 0
    fi
    command -v openvpn >/dev/null || { echo "openvpn not installed (make deps)" >&2; exit 1; }
    [ -e /dev/net/tun ] || { echo "no /dev/net/tun: OpenVPN's server needs a tun device" >&2; exit 1; }
    [ -f "$plugin" ] || { echo "$plugin missing: run make build" >&2; exit 1; }
    [ -x "$netadmin" ] || { echo "$netadmin missing: run make build" >&2; exit 1; }
    mkdir -p "$ovpn_dir"
    chmod 700 "$ovpn_dir"
    pki
    sed -e "s|/etc/netily/pki/|$ovpn_dir/pki/|g" \
        -e "s|/run/netily/|$ovpn_dir/|g" \
        -e "s|/usr/lib/netily/libopenvpn_plugin_netily.so|$plugin|" \
        -e "s|config=/etc/netily/netily.conf|config=$vpn_config|" \
        -e "s|^port 1194|port 1194\nlocal 127.0.0.1|" \
        openvpn-conf/server.conf >"$ovpn_dir/server.conf"
    grep -q "^plugin $plugin config=$vpn_config " "$ovpn_dir/server.conf" || {
        echo "openvpn-conf/server.conf: its plugin line is not the one this script rewrites" >&2
        exit 1
    }
    openvpn --config "$ovpn_dir/server.conf" >"$ovpn_dir/openvpn.log" 2>&1 &
    echo $! >"$pid_file"
    for _ in $(seq 1 100); do
        if grep -q "Initialization Sequence Completed" "$ovpn_dir/openvpn.log"; then
            echo "openvpn: UDP 127.0.0.1:1194 with the Netily plugin (pid $(cat "$pid_file")), log $ovpn_dir/openvpn.log"
            cat <<TRY
Connect a test client as router '$demo_router' (dev null: no tun, no routes on this host):
  (umask 077 && $netadmin --config $vpn_config ovpn $demo_router > /tmp/$demo_router.ovpn)
  openvpn --config /tmp/$demo_router.ovpn --dev null --ifconfig-noexec --route-noexec
It logs "Initialization Sequence Completed" and the address the plugin pushed; then:
  $netadmin --config $vpn_config vpn status $demo_router
TRY
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
        if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fi
    fi
    rm -f "$pid_file"
    echo "openvpn stopped"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) running ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
