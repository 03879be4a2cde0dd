#!/bin/sh
# Install the OpenVPN side of Netily for the system OpenVPN (called by
# `make install`).
#
#   DESTDIR  staging root (default /)      PREFIX  default /usr/local
#   NETILY_OPENVPN_PLUGIN  the plugin to install (default: the release build)
#
# Puts the plugin at $PREFIX/lib/netily/libopenvpn_plugin_netily.so and
# copies openvpn-conf/server.conf and server-tcp.conf to
# /etc/openvpn/server/netily.conf and netily-tcp.conf unless they exist, with
# their plugin line pointing at that path. Creates /run/netily, where the
# configs keep OpenVPN's status file and management socket. It starts and
# enables nothing: the server needs the PKI from `netadmin server-cert` first.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/usr/local}
so=${NETILY_OPENVPN_PLUGIN:-${CARGO_TARGET_DIR:-$root/target}/release/libopenvpn_plugin_netily.so}
confdir=/etc/openvpn/server
plugin=$PREFIX/lib/netily/libopenvpn_plugin_netily.so
# The shipped configs name the packaged layout's path.
shipped_plugin=/usr/lib/netily/libopenvpn_plugin_netily.so

[ -f "$so" ] || { echo "openvpn-install: $so missing; run \`make build\`" >&2; exit 1; }

# The plugin is code, not config: a new build replaces it.
install -D -m 0644 "$so" "$DESTDIR$plugin"
echo "installed $DESTDIR$plugin"

install -d -m 0755 "$DESTDIR$confdir"
for pair in server.conf:netily.conf server-tcp.conf:netily-tcp.conf; do
    src=$root/openvpn-conf/${pair%%:*}
    dest=$DESTDIR$confdir/${pair#*:}
    if [ -e "$dest" ]; then
        echo "kept existing $dest"
    else
        # Written whole under a temporary name, so a failed run leaves no
        # half config that a later run would keep.
        sed "s|$shipped_plugin|$plugin|" "$src" >"$dest.netily-new"
        grep -q "^plugin $plugin " "$dest.netily-new" || {
            rm -f "$dest.netily-new"
            echo "openvpn-install: no plugin line for $shipped_plugin in $src" >&2
            exit 1
        }
        chmod 0644 "$dest.netily-new"
        mv "$dest.netily-new" "$dest"
        echo "installed $dest"
    fi
done

# The status file the plugin reads for heartbeats, and the management socket
# it ends revoked routers' tunnels through. /run is emptied at boot:
# recreate it before starting OpenVPN (systemd's openvpn-server@ unit does
# not).
install -d -m 0755 "$DESTDIR/run/netily"
echo "created $DESTDIR/run/netily"

cat <<TODO
To run the management VPN (as root):
  in /etc/netily/netily.conf set vpn_remote (the host[:port] routers dial),
  vpn_network (must match the \`server\` line of $confdir/netily.conf) and
  ca_key_seal_file; create that key file once:
    (umask 077 && openssl rand -hex 32 > /etc/netily/ca-key-seal)
  netadmin migrate
  netadmin ca init
  netadmin server-cert --out-dir /etc/netily/pki
  netadmin crl --out /etc/netily/pki/crl.pem   # again after each \`cert revoke\`
  mkdir -p /run/netily
  openvpn --config $confdir/netily.conf        # or: systemctl enable --now openvpn-server@netily
  (TCP variant: $confdir/netily-tcp.conf, its own network 10.9.0.0/24)
Then for each router: netadmin ovpn ROUTER, or netadmin mikrotik-script ROUTER.
TODO
