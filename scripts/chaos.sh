#!/bin/bash
# `make chaos`: the fault-injection suite. Every tests/tests/chaos_*.rs, its
# tests marked #[ignore] so `make test` skips them, run one at a time (they
# stop databases and kill servers; two at once would measure each other)
# through scripts/test.sh, which builds the workspace and provides a
# throwaway PostgreSQL for tests that want one; the rest start their own
# servers (a primary and a standby for a failover). Figures are printed.
#
# Usage: scripts/chaos.sh [chaos_NAME ...]   (default: all)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

names=("$@")
if [ ${#names[@]} -eq 0 ]; then
    for f in tests/tests/chaos_*.rs; do
        [ -e "$f" ] && names+=("$(basename "$f" .rs)")
    done
fi
[ ${#names[@]} -gt 0 ] || { echo "chaos.sh: no tests/tests/chaos_*.rs" >&2; exit 1; }

# The load generator some of them drive (optimized: a debug build cannot
# send tens of thousands of requests a second).
cargo build --release -p netily-bench --bin radload
export NETILY_RADLOAD="$root/target/release/radload"

args=()
for n in "${names[@]}"; do args+=(--test "$n"); done
echo "== chaos: ${names[*]}"
exec scripts/test.sh "${args[@]}" -- --ignored --test-threads=1 --nocapture
