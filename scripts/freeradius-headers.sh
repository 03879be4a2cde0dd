#!/bin/sh
# Fetch the FreeRADIUS source matching the installed server, for the headers
# Debian's libfreeradius-dev leaves out (log.h, xlat.h, tmpl.h, ...).
#
# Usage: scripts/freeradius-headers.sh [CACHE_DIR]
# Prints the path of the unpacked source's src/include on stdout.
#
# The machine's apt setup is left untouched: a private sources list, a private
# Dir::State::Lists and a private archive cache. The source is unpacked under
# CACHE_DIR/<version> (default target/freeradius-src) and reused on later runs.
# FreeRADIUS is GPLv2: this cache lives under target/ and is never committed.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
cache=${1:-${NETILY_FREERADIUS_SRC:-$here/target/freeradius-src}}

version=$(dpkg-query -W -f='${Version}' libfreeradius-dev 2>/dev/null || true)
if [ -z "$version" ]; then
    echo "freeradius-headers: libfreeradius-dev is not installed; run \`make deps\`" >&2
    exit 1
fi
server=$(dpkg-query -W -f='${Version}' freeradius 2>/dev/null || true)
if [ -n "$server" ] && [ "$server" != "$version" ]; then
    echo "freeradius-headers: freeradius $server and libfreeradius-dev $version differ; install matching versions" >&2
    exit 1
fi

dest=$cache/$version
if [ -f "$dest/src/include/radiusd.h" ] && [ -f "$dest/src/include/log.h" ]; then
    echo "$dest/src/include"
    exit 0
fi

work=$cache/.apt
mkdir -p "$work/lists/partial" "$work/archives/partial" "$work/download"
# The suites the installed packages come from (a +debNNuN version may live in
# the point-release suite or in the security archive).
cat > "$work/sources.list" <<LIST
deb-src http://deb.debian.org/debian bookworm main
deb-src http://deb.debian.org/debian bookworm-updates main
deb-src http://deb.debian.org/debian-security bookworm-security main
LIST
apt_opts="-o Dir::Etc::SourceList=$work/sources.list -o Dir::Etc::SourceParts=/dev/null
 -o Dir::State::Lists=$work/lists -o Dir::Cache::Archives=$work/archives
 -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= -o APT::Sandbox::User=root"

echo "freeradius-headers: fetching Debian source freeradius=$version into $cache" >&2
# shellcheck disable=SC2086
apt-get -q $apt_opts update >&2
rm -rf "$work/download"/*
# shellcheck disable=SC2086
(cd "$work/download" && apt-get -q $apt_opts source --download-only "freeradius=$version" >&2)

dsc=$(ls "$work/download"/freeradius_*.dsc)
rm -rf "$dest.tmp"
# dpkg-source applies Debian's patches, so the headers are what the server was built from.
dpkg-source --no-check -x "$dsc" "$dest.tmp" >&2
rm -rf "$dest"
mv "$dest.tmp" "$dest"
rm -rf "$work/download"
echo "$dest/src/include"
