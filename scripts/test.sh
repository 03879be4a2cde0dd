#!/bin/bash
# `make test`: build the workspace, start a throwaway PostgreSQL cluster for
# this run, run every test against it (NETILY_TEST_PG), and remove the
# cluster again whatever happens.
#
# Usage: scripts/test.sh [extra `cargo test` arguments]
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

echo "== cargo build --workspace"
cargo build --workspace

# Own dir and a free port: several runs (or `make run`'s cluster) may coexist.
export NETILY_PG_DIR="$root/.run/test-pg.$$"
port=55433
# Test data is disposable: trade durability for speed.
export NETILY_PG_OPTS="-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300"

cleanup() { scripts/pg.sh destroy || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# A port that looks free can still be taken before postgres binds it (the
# kernel hands out ephemeral ports from this range too): try a few.
for attempt in 1 2 3 4 5; do
    while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
    export NETILY_PG_PORT=$port
    echo "== test PostgreSQL on 127.0.0.1:$port"
    if scripts/pg.sh start; then break; fi
    scripts/pg.sh destroy || true
    [ "$attempt" -lt 5 ] || { echo "test PostgreSQL did not start" >&2; exit 1; }
    port=$((port + 1))
done
NETILY_TEST_PG=$(scripts/pg.sh url)
export NETILY_TEST_PG

echo "== cargo test --workspace"
cargo test --workspace "$@"
