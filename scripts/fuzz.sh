#!/bin/bash
# Fuzz Netily's parsers and renderers with cargo-fuzz (fuzz/, libFuzzer).
#
# Usage: scripts/fuzz.sh smoke              each target for a few seconds (CI)
#        scripts/fuzz.sh long [TARGET...]   each target FUZZ_SECONDS (default 300)
#
# Needs a nightly toolchain and cargo-fuzz; installs both (rustup, cargo
# install) when missing. Builds into fuzz/target, apart from the workspace's
# target dir, so a fuzz build never waits on (or invalidates) the stable one.
# Inputs found are kept in fuzz/target/corpus/<target>; the committed seeds in
# fuzz/corpus/<target> are only read. A crash is written to
# fuzz/artifacts/<target>/ and fails the run.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$HOME/.cargo/bin:$PATH"

mode=${1:-}
shift || true
case "$mode" in
smoke) seconds=${FUZZ_SMOKE_SECONDS:-5} ;;
long) seconds=${FUZZ_SECONDS:-300} ;;
*)
    echo "usage: scripts/fuzz.sh smoke|long [TARGET...]" >&2
    exit 2
    ;;
esac

say() { echo "fuzz: $*"; }

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    say "installing the nightly toolchain (cargo-fuzz needs -Zsanitizer)"
    rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    say "installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

target_dir="$root/fuzz/target"
fuzz=(cargo +nightly fuzz)
if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <("${fuzz[@]}" list --fuzz-dir fuzz)
fi

start=$SECONDS
"${fuzz[@]}" build --fuzz-dir fuzz --target-dir "$target_dir"
say "built ${#targets[@]} targets in $((SECONDS - start)) s"

failed=()
for t in "${targets[@]}"; do
    work="$target_dir/corpus/$t"
    mkdir -p "$work" "fuzz/corpus/$t"
    say "$t: ${seconds} s"
    # The first corpus dir receives new inputs; the committed one is read only.
    # -rss_limit_mb: a parser that allocates without bound is a finding too.
    if ! "${fuzz[@]}" run --fuzz-dir fuzz --target-dir "$target_dir" "$t" \
        "$work" "fuzz/corpus/$t" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 \
        >"$target_dir/$t.log" 2>&1; then
        failed+=("$t")
        say "$t FAILED: input in fuzz/artifacts/$t/, output in $target_dir/$t.log"
        grep -a -E "panicked at|ERROR: libFuzzer|SUMMARY" -A3 "$target_dir/$t.log" | head -20 || true
        continue
    fi
    runs=$(grep -a -o 'stat::number_of_executed_units: *[0-9]*' "$target_dir/$t.log" | grep -o '[0-9]*$' || echo '?')
    say "$t: ok, $runs runs"
done
say "done in $((SECONDS - start)) s"
if [ ${#failed[@]} -gt 0 ]; then
    say "failed: ${failed[*]}"
    say "reproduce: cargo +nightly fuzz run --fuzz-dir fuzz TARGET fuzz/artifacts/TARGET/crash-..."
    exit 1
fi
