#!/bin/sh
# Install netily-web and its systemd unit (called by `make install`).
# Enables and starts nothing: add an operator first
# (`netadmin operator add NAME --role admin`), then
#   systemctl enable --now netily-web
#
#   DESTDIR  staging root (default /)      PREFIX  default /usr/local
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/usr/local}
bin=${CARGO_TARGET_DIR:-$root/target}/release/netily-web
unit=$DESTDIR/etc/systemd/system/netily-web.service

[ -x "$bin" ] || { echo "web-install: $bin missing; run \`make build\`" >&2; exit 1; }
install -D -m 0755 "$bin" "$DESTDIR$PREFIX/bin/netily-web"
echo "installed $DESTDIR$PREFIX/bin/netily-web"
install -d -m 0755 "$DESTDIR/etc/systemd/system"
sed "s|/usr/local/bin/netily-web|$PREFIX/bin/netily-web|" \
    "$root/systemd/netily-web.service" >"$unit.netily-new"
chmod 0644 "$unit.netily-new"
mv "$unit.netily-new" "$unit"
echo "installed $unit (systemctl enable --now netily-web)"
