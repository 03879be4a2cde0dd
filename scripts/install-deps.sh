#!/bin/bash
# Install what Netily needs to build, run and test on Debian 12, and nothing
# that is already there. Safe to run again; needs root (or sudo) for apt-get.
#
# Usage: scripts/install-deps.sh
set -euo pipefail

# PostgreSQL 15 is Debian 12's; the server runs privately (scripts/pg.sh and
# the test harness), never as the system cluster.
packages=(
    postgresql-15 postgresql-client-15
    freeradius freeradius-utils freeradius-postgresql libfreeradius-dev
    openvpn
    clang libclang-dev libtalloc-dev libpcre3-dev libssl-dev pkg-config
    dpkg-dev build-essential
    iproute2 procps util-linux curl ca-certificates
    # The console's browser tests: headless Chromium over WebDriver.
    chromium chromium-driver
)

say() { echo "install-deps: $*"; }

sudo_=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then sudo_=(sudo); else
        say "not root and no sudo; run as root" >&2
        exit 1
    fi
fi

missing=()
for p in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
    say "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # No init system here: stop package scripts from starting services
    # (the system PostgreSQL cluster, freeradius, openvpn).
    policy=/usr/sbin/policy-rc.d
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | "${sudo_[@]}" tee "$policy" >/dev/null
        "${sudo_[@]}" chmod 755 "$policy"
        trap '"${sudo_[@]}" rm -f "$policy"' EXIT
    fi
    # ... and from creating a "main" cluster we would never use.
    "${sudo_[@]}" mkdir -p /etc/postgresql-common/createcluster.d
    echo "create_main_cluster = false" |
        "${sudo_[@]}" tee /etc/postgresql-common/createcluster.d/netily.conf >/dev/null

    "${sudo_[@]}" apt-get update -q
    "${sudo_[@]}" apt-get install -y -q --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        "${missing[@]}"
else
    say "all ${#packages[@]} packages present"
fi

# initdb and postgres refuse root: the harness and scripts/pg.sh run them as
# "postgres". postgresql-common creates that user; make sure it exists anyway.
if ! id postgres >/dev/null 2>&1; then
    say "creating system user postgres"
    "${sudo_[@]}" useradd --system --user-group --home-dir /var/lib/postgresql \
        --shell /bin/bash postgres
fi

# Rust: rustup only when there is no cargo at all.
if ! command -v cargo >/dev/null && [ ! -x "$HOME/.cargo/bin/cargo" ]; then
    say "installing Rust with rustup"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs |
        sh -s -- -y --profile minimal --component rustfmt,clippy
fi
export PATH="$HOME/.cargo/bin:$PATH"
# `make lint` needs rustfmt and clippy.
if command -v rustup >/dev/null; then
    for c in rustfmt clippy; do
        rustup component list --installed 2>/dev/null | grep -q "^$c" ||
            rustup component add "$c"
    done
fi
say "ok ($(cargo --version))"
