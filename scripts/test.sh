#!/usr/bin/env bash
# Sets up everything the tests need (by package name) and runs every test lane.
# This is the README's test command and what CI (.ci/run) runs on a fresh machine.
#
#   FUZZ_SECONDS=N   seconds per fuzz target (default 20; 0 = build only)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

say "setup: system packages"
apt_ensure cc build-essential
apt_ensure g++ g++
apt_ensure kill procps
apt_ensure ip iproute2
apt_ensure ping iputils-ping
apt_ensure curl curl
apt_ensure iperf3 iperf3
apt_ensure qemu-aarch64-static qemu-user-static || warn "qemu-user-static unavailable: the aarch64 binary will be built but not run"
rust_ensure
rustup target add x86_64-unknown-linux-musl aarch64-unknown-linux-musl >/dev/null
# The official openai Python SDK, for the real-client test (tests/tests/openai_sdk.rs).
py_ensure openai
export HEARTH_PYTHON="$PWD/target/tools/py/bin/python"

say "lint: rustfmt and clippy"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

say "unit + integration tests (UCI, config, CLI, daemon lifecycle)"
cargo test --workspace --locked

say "example configs pass 'hearth check'"
for f in configs/*; do
    case "$f" in *.csv|*.json|*.md) continue ;; esac
    ./target/debug/hearth check --config "$f"
done

say "router builds: static musl x86_64 and aarch64, release profile"
# ring (TLS) compiles C for the target: zig is the cross C compiler and linker (MACHINE-NOTES).
zig_ensure
for t in x86_64-unknown-linux-musl aarch64-unknown-linux-musl; do
    cargo zigbuild --release --locked --target "$t" -p hearth
    bin=target/$t/release/hearth
    printf '%-28s %8d bytes  %s\n' "$t" "$(stat -c %s "$bin")" "$(file -b "$bin" | cut -d, -f1-2,4)"
done
./target/x86_64-unknown-linux-musl/release/hearth check --config configs/family
if command -v qemu-aarch64-static >/dev/null; then
    qemu-aarch64-static target/aarch64-unknown-linux-musl/release/hearth --version
    qemu-aarch64-static target/aarch64-unknown-linux-musl/release/hearth check --config configs/family
else
    warn "SKIPPED running the aarch64 binary: qemu-aarch64-static is missing"
fi

say "full-kernel lane: Debian's kernel in a TCG microVM (docs/vm-lane.md)"
scripts/vm/selftest.sh

say "fuzz targets (cargo fuzz, nightly)"
scripts/fuzz.sh "${FUZZ_SECONDS:-20}"

say "all lanes passed"
