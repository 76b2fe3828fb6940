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
# Each target's output goes to a log; on a crash the log's tail, the reproducer (base64) and
# the command to replay it are printed, so a CI excerpt is enough to reproduce it here.
# Every target runs even when one fails; the script fails at the end naming the ones that did.
out=../target/fuzz
rm -rf "$out"; mkdir -p "$out"
failed=()
for target in $(cargo +nightly fuzz list); do
    work=$(mktemp -d)
    cp fuzz/corpus/"$target"/seed-* "$work"/
    echo "fuzzing $target for ${secs}s"
    log="$out/$target.log"
    if cargo +nightly fuzz run "$target" "$work" -- -max_total_time="$secs" -print_final_stats=0 \
        -artifact_prefix="$out/$target-" >"$log" 2>&1; then
        tail -n 1 "$log"
    else
        failed+=("$target")
        printf '\033[1;31mFUZZ CRASH in %s\033[0m; the last 60 lines of its log:\n' "$target"
        tail -n 60 "$log"
        for a in "$out/$target"-*; do
            [ -f "$a" ] || continue
            echo "reproducer $a ($(stat -c %s "$a") bytes), base64:"
            base64 -w 0 "$a" | head -c 4096; echo
            echo "replay: base64 -d > crash <<< '...'; (cd agent && cargo +nightly fuzz run $target crash)"
        done
    fi
    rm -rf "$work"
done
if [ ${#failed[@]} -gt 0 ]; then
    printf '\033[1;31mFUZZING FOUND CRASHES in: %s\033[0m (logs and reproducers in target/fuzz/)\n' "${failed[*]}"
    exit 1
fi
