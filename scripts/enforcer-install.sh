#!/bin/sh
# Install the enforcer's systemd unit (called by `make install`, after
# netadmin itself is installed). Enables and starts nothing: set up the
# routers' CoA (README, "Live enforcement") first, then
#   systemctl enable --now netily-enforcer
#
#   DESTDIR  staging root (default /)      PREFIX  default /usr/local
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/usr/local}
unit=$DESTDIR/etc/systemd/system/netily-enforcer.service

install -d -m 0755 "$DESTDIR/etc/systemd/system"
# The unit names the default prefix; another PREFIX is written into it.
sed "s|/usr/local/bin/netadmin|$PREFIX/bin/netadmin|" \
    "$root/systemd/netily-enforcer.service" >"$unit.netily-new"
chmod 0644 "$unit.netily-new"
mv "$unit.netily-new" "$unit"
echo "installed $unit (systemctl enable --now netily-enforcer)"
