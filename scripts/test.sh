#!/usr/bin/env bash
# Sets up everything the tests need (by package name) and runs every test lane.
# This is the README's test command and what CI (.ci/run) runs on a fresh machine.
#
#   FUZZ_SECONDS=N   seconds per fuzz target (default 60; 0 = build only)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
# Whatever fails, the last line names the lane it failed in (CI often shows only the end).
trap 'rc=$?; [ $rc -eq 0 ] || printf "\n\033[1;31m== FAILED (exit %d) in lane: %s\033[0m\n" "$rc" "${HEARTH_LANE:-setup}"' EXIT

say "setup: system packages"
apt_ensure cc build-essential
apt_ensure g++ g++
apt_ensure kill procps
apt_ensure ip iproute2
apt_ensure ping iputils-ping
apt_ensure curl curl
apt_ensure iperf3 iperf3
apt_ensure file file
apt_ensure qemu-aarch64-static qemu-user-static || warn "qemu-user-static unavailable: the router binaries will be built but not run"
# The dashboard's browser lane (tests/tests/dashboard_browser.rs): Debian's Chromium driven
# by playwright-core from npm; HEARTH_REQUIRE_BROWSER=1 turns a missing tool into a failure.
apt_ensure chromium chromium
npm_ensure target/tools/browser playwright-core
export PLAYWRIGHT_CORE="$PWD/target/tools/browser/node_modules/playwright-core"
export HEARTH_REQUIRE_BROWSER=1
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

say "router builds: static musl for x86_64, aarch64, armv7 and mipsel (scripts/build-static.sh)"
# x86_64/aarch64 on stable with zig as C compiler and linker (ring compiles C); armv7 and
# mipsel with nightly -Zbuild-std (MACHINE-NOTES). Each binary runs under qemu-user.
zig_ensure
declare -A qemu=(
    [x86_64-unknown-linux-musl]=""
    [aarch64-unknown-linux-musl]=qemu-aarch64-static
    [armv7-unknown-linux-musleabihf]=qemu-arm-static
    [mipsel-unknown-linux-musl]=qemu-mipsel-static
)
rm -rf target/ipk
for t in x86_64-unknown-linux-musl aarch64-unknown-linux-musl armv7-unknown-linux-musleabihf mipsel-unknown-linux-musl; do
    start=$SECONDS
    bin=$(scripts/build-static.sh "$t" | tail -n 1)
    echo "$t: built in $((SECONDS - start)) s"
    q=${qemu[$t]}
    if [ -z "$q" ] || command -v "$q" >/dev/null; then
        $q "$bin" --version
        $q "$bin" check --config configs/family
    else
        warn "SKIPPED running the $t binary: $q (qemu-user-static) is missing"
    fi
    scripts/build-ipk.sh "$t" --bin "$bin" --out target/ipk
done

say "packages: ipk layout, control, scripts; the packaged binaries run (tests/tests/ipk_layout.rs)"
HEARTH_IPK_DIR="$PWD/target/ipk" cargo test -p hearth-e2e --locked --test ipk_layout
echo "packages in target/ipk/; dashboard screenshot: target/browser/dashboard.png"

say "the README demo: unprivileged, then (as root) the household in namespaces (scripts/demo.sh)"
# The demo checks every claim of its report against an independent count and exits non-zero
# when one does not hold.
scripts/demo.sh --unprivileged
if [ "$(id -u)" -eq 0 ]; then
    scripts/demo.sh --no-build
else
    warn "SKIPPED the namespaced demo household: needs root"
fi

say "full-kernel lane: Debian's kernel in a TCG microVM (docs/vm-lane.md)"
scripts/vm/selftest.sh

say "fuzz targets (cargo fuzz, nightly)"
scripts/fuzz.sh "${FUZZ_SECONDS:-60}"

say "all lanes passed"
