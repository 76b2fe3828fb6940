#!/usr/bin/env bash
# Benchmark: hearth's netlink apply vs the equivalent shell script of `tc` commands (as SQM
# does), for a 64-device plan, each in a fresh network namespace; and the no-op re-apply.
#
# usage: sudo scripts/bench/apply.sh [--no-build]     (BENCH_DEVICES=64 BENCH_ROUNDS=5)
#
# Prints a Markdown table of medians and ratios measured side by side in one run. Needs root
# (namespaces) and iproute2; everything happens inside namespaces it creates and deletes.
# Not a test: nothing is asserted (see docs/benchmarks.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib.sh

build=1
case ${1:-} in
    --no-build) build=0 ;;
    -h|--help) sed -n '5p' "$0" | sed 's/^# //'; exit 0 ;;
    '') ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
esac
if [ "$(id -u)" != 0 ]; then
    echo "apply benchmark: needs root (it creates network namespaces)" >&2
    exit 1
fi
apt_ensure tc iproute2
if [ "$build" = 1 ]; then
    rust_ensure
    cargo build --release --locked -p hearth
fi
HEARTH_BIN=${HEARTH_BIN:-$PWD/target/release/hearth} exec python3 scripts/bench/apply_bench.py
