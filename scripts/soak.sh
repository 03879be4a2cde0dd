#!/bin/bash
# `make soak`: the soak (tests/tests/soak.rs, #[ignore]d so `make test`
# skips it): authentication, accounting and CoA at half of the measured
# peak for SOAK_MINUTES (default 30) against real PostgreSQL, FreeRADIUS
# with rlm_netily, the enforcer, a FreeRADIUS standing in for the router,
# and OpenVPN with our plugin; radiusd's and the plugin's RSS and
# descriptors, PostgreSQL's connections and each window's p99 sampled
# and checked flat. The test starts its own servers.
#
# The module, plugin, netadmin (the enforcer) and radload are release
# builds, copied into the run's directory so a rebuild in the tree during
# the soak does not swap them under the running servers.
#
# Environment: SOAK_MINUTES (30), SOAK_SAMPLE_SECONDS (10),
# SOAK_PEAK_SECONDS (10), SOAK_AUTH_RATE / SOAK_ACCT_RATE (requests per
# second instead of half of the measured peak), SOAK_DIR (where the
# samples go; default target/soak/<date>).
#
# Usage: scripts/soak.sh
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

export SOAK_MINUTES=${SOAK_MINUTES:-30}
export SOAK_DIR=${SOAK_DIR:-$root/target/soak/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$SOAK_DIR/bin"

echo "== building the release module, plugin, netadmin and radload"
cargo build --release -p netily-bench --bin radload
cargo build --release -p rlm_netily -p openvpn_plugin_netily -p netadmin
for f in radload netadmin librlm_netily.so libopenvpn_plugin_netily.so; do
    cp "target/release/$f" "$SOAK_DIR/bin/$f"
done
# radiusd and openvpn run as other users in places: let them read it.
chmod -R a+rX "$SOAK_DIR"
export NETILY_RADLOAD="$SOAK_DIR/bin/radload"
export NETILY_NETADMIN="$SOAK_DIR/bin/netadmin"
export NETILY_TEST_MODULE="$SOAK_DIR/bin/librlm_netily.so"
export NETILY_TEST_OPENVPN_PLUGIN="$SOAK_DIR/bin/libopenvpn_plugin_netily.so"

echo "== soak: $SOAK_MINUTES min; samples in $SOAK_DIR"
status=0
cargo test -p netily-tests --test soak -- --ignored --test-threads=1 --nocapture || status=$?
# The copies take 160 MB a run; the samples, summary and verdict stay.
rm -rf "$SOAK_DIR/bin"
echo "== soak: samples.jsonl, summary.txt and verdict.txt in $SOAK_DIR"
exit "$status"
