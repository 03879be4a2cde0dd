#!/bin/bash
# `make install`: put Netily into the system dirs, for a system FreeRADIUS and
# OpenVPN. Run `make build` first. Never overwrites an existing config.
#
#   DESTDIR  staging root (packaging); default /
#   PREFIX   default /usr/local
#
# The FreeRADIUS module, the OpenVPN plugin, the enforcer's systemd unit and
# netily-web install themselves through scripts/freeradius-install.sh,
# scripts/openvpn-install.sh, scripts/enforcer-install.sh and
# scripts/web-install.sh when those
# exist (called with DESTDIR and PREFIX exported).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export DESTDIR=${DESTDIR:-}
export PREFIX=${PREFIX:-/usr/local}

bin=${CARGO_TARGET_DIR:-target}/release/netadmin
[ -x "$bin" ] || { echo "install.sh: $bin missing; run \`make build\`" >&2; exit 1; }
install -D -m 0755 "$bin" "$DESTDIR$PREFIX/bin/netadmin"
echo "installed $DESTDIR$PREFIX/bin/netadmin"

# The config holds the database password: root-only.
conf="$DESTDIR/etc/netily/netily.conf"
install -d -m 0755 "$DESTDIR/etc/netily"
if [ -e "$conf" ]; then
    echo "kept existing $conf"
else
    install -m 0600 netily.conf.example "$conf"
    echo "installed $conf (edit database_url)"
fi

for c in freeradius openvpn enforcer web; do
    if [ -x "scripts/$c-install.sh" ]; then
        "scripts/$c-install.sh"
    fi
done
