#!/usr/bin/env bash
# Builds a stripped, statically linked hearth for one router architecture and prints its size.
#
#   scripts/build-static.sh TARGET
#
# TARGET (with the OpenWRT targets it serves):
#   x86_64-unknown-linux-musl        x86/64 (VMs, PC routers)
#   aarch64-unknown-linux-musl       mediatek/filogic, qualcommax: most Wi-Fi 6/7 routers
#   armv7-unknown-linux-musleabihf   ipq40xx, mvebu
#   mipsel-unknown-linux-musl        ramips/mt7621 (soft-float)
#
# The first two use stable Rust with zig as the C compiler and linker (ring compiles C);
# armv7 (not on our rustup mirror) and mipsel (tier 3) build std from source with nightly
# (-Zbuild-std), zig again as linker, and a non-PIE static binary (static-pie crashes under
# qemu-mipsel): see ../shared/MACHINE-NOTES.md. Users with Docker can use `cross` instead
# (Cross.toml). Prints the binary's path on the last line.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

target=${1:-}
case "$target" in
    x86_64-unknown-linux-musl | aarch64-unknown-linux-musl) nightly=0 ;;
    armv7-unknown-linux-musleabihf | mipsel-unknown-linux-musl) nightly=1 ;;
    *)
        echo "usage: $0 TARGET (x86_64-unknown-linux-musl, aarch64-unknown-linux-musl, armv7-unknown-linux-musleabihf, mipsel-unknown-linux-musl)" >&2
        exit 2
        ;;
esac

rust_ensure
zig_ensure
if [ "$nightly" = 1 ]; then
    rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
    rustup +nightly component add rust-src >/dev/null
    # A non-PIE, fully static binary; zig links it (no self-contained musl objects from rustc).
    RUSTFLAGS="${RUSTFLAGS:-} -C link-self-contained=no -C relocation-model=static -C target-feature=+crt-static" \
        cargo +nightly zigbuild -Zbuild-std=std,panic_abort --release --locked --target "$target" -p hearth
else
    rustup target add "$target" >/dev/null
    cargo zigbuild --release --locked --target "$target" -p hearth
fi

bin=target/$target/release/hearth
# The release profile strips already (strip = true); say so if a toolchain did not.
if file -b "$bin" 2>/dev/null | grep -q 'not stripped'; then
    warn "$bin is not stripped"
fi
if file -b "$bin" 2>/dev/null | grep -q 'dynamically linked'; then
    echo "error: $bin is dynamically linked; a router has no matching libc" >&2
    exit 1
fi
printf '%-32s %9d bytes  %s\n' "$target" "$(stat -c %s "$bin")" "$(file -b "$bin" | cut -d, -f1-2,4-6)"
echo "$bin"
