#!/bin/sh
# Install rlm_netily for the system FreeRADIUS (called by `make install`).
#
#   DESTDIR  staging root (default /)      PREFIX  default /usr/local
#
# Puts the module at $PREFIX/lib/netily/rlm_netily.so, links it into
# FreeRADIUS's stock libdir (/usr/lib/freeradius) so no radiusd.conf edit is
# needed, and copies mods-available/netily, sites-available/netily and
# sites-available/netily-dynamic-clients into /etc/freeradius/3.0 unless they
# exist. It enables nothing: an enabled module needs a valid
# /etc/netily/netily.conf, so the operator links it when ready.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/usr/local}
so=${NETILY_MODULE:-${CARGO_TARGET_DIR:-$root/target}/release/librlm_netily.so}
raddb=${NETILY_SYSTEM_RADDB:-/etc/freeradius/3.0}
libdir=${NETILY_FREERADIUS_LIBDIR:-/usr/lib/freeradius}

[ -f "$so" ] || { echo "freeradius-install: $so missing; run \`make build\`" >&2; exit 1; }

install -D -m 0644 "$so" "$DESTDIR$PREFIX/lib/netily/rlm_netily.so"
install -d "$DESTDIR$libdir"
ln -sfn "$PREFIX/lib/netily/rlm_netily.so" "$DESTDIR$libdir/rlm_netily.so"
echo "installed $DESTDIR$PREFIX/lib/netily/rlm_netily.so (linked from $libdir)"

for f in mods-available/netily sites-available/netily sites-available/netily-dynamic-clients; do
    dest="$DESTDIR$raddb/$f"
    if [ -e "$dest" ]; then
        echo "kept existing $dest"
    else
        install -D -m 0644 "$root/raddb/$f" "$dest"
        echo "installed $dest"
    fi
done

# radiusd instantiates modules as the freerad user (effective uid), so the
# module can only read the Netily config through the group.
conf="$DESTDIR/etc/netily/netily.conf"
if [ -f "$conf" ] && getent group freerad >/dev/null 2>&1; then
    chgrp freerad "$conf" && chmod 0640 "$conf"
    echo "made $conf readable by group freerad (mode 0640)"
fi

cat <<TODO
To serve subscribers with FreeRADIUS:
  edit /etc/netily/netily.conf (database_url), then
  ln -s ../mods-available/netily $raddb/mods-enabled/netily
  ln -s ../sites-available/netily $raddb/sites-enabled/netily
  (disable $raddb/sites-enabled/default if it listens on the same ports)
  optional, to accept routers added with \`netadmin router add\` without a
  restart or a clients.conf entry (narrow its ipaddr to your routers' networks):
  ln -s ../sites-available/netily-dynamic-clients $raddb/sites-enabled/netily-dynamic-clients
  then: freeradius -XC   # check, then restart freeradius
TODO
