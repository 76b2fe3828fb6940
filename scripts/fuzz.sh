#!/usr/bin/env bash
# Builds every cargo-fuzz target and runs each for SECONDS (default 60) from its seed corpus.
# Fails on any crash. Needs a nightly toolchain (installed here if missing) and cargo-fuzz.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
secs=${1:-60}

rust_ensure
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    rustup toolchain install nightly --profile minimal || { warn "SKIPPED fuzzing: no nightly toolchain"; exit 0; }
fi
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked

cd agent
cargo +nightly fuzz build
[ "$secs" = 0 ] && exit 0
for target in $(cargo +nightly fuzz list); do
    work=$(mktemp -d)
    cp fuzz/corpus/"$target"/seed-* "$work"/
    echo "fuzzing $target for ${secs}s"
    cargo +nightly fuzz run "$target" "$work" -- -max_total_time="$secs" -print_final_stats=0 2>&1 | tail -n 2
    rm -rf "$work"
done
