# Shared helpers for hearth's scripts: install what is missing by package name, loudly.
# shellcheck shell=bash

say() { HEARTH_LANE="$*"; printf '\n\033[1m== %s\033[0m\n' "$*"; }
warn() { printf '\033[33mWARNING: %s\033[0m\n' "$*" >&2; }

# apt_ensure CMD PACKAGE...: install PACKAGEs when CMD is not on PATH.
apt_ensure() {
    local cmd=$1; shift
    command -v "$cmd" >/dev/null 2>&1 && return 0
    apt_install "$@"
}

# apt_install PACKAGE...: install PACKAGEs by name.
apt_install() {
    if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null; then
        warn "cannot install $* (not root, no sudo)"; return 1
    fi
    local SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
    if [ -z "${APT_UPDATED:-}" ]; then
        $SUDO apt-get update -qq || warn "apt-get update failed"
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@"
}

# Rust toolchain: rustup's stable with rustfmt and clippy.
rust_ensure() {
    if ! command -v cargo >/dev/null 2>&1; then
        if [ -x "$HOME/.cargo/bin/cargo" ]; then
            export PATH="$HOME/.cargo/bin:$PATH"
        else
            apt_ensure curl curl ca-certificates
            curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
            export PATH="$HOME/.cargo/bin:$PATH"
        fi
    fi
    rustup component add rustfmt clippy >/dev/null 2>&1 || warn "could not add rustfmt/clippy"
}

# zig + cargo-zigbuild from PyPI in a venv under target/ (re-created by each fresh checkout).
zig_ensure() {
    local venv=target/tools/zig
    if [ ! -x "$venv/bin/cargo-zigbuild" ]; then
        apt_ensure python3 python3 python3-venv
        python3 -m venv "$venv" 2>/dev/null || { apt_install python3-venv; python3 -m venv "$venv"; }
        "$venv/bin/pip" install -q ziglang cargo-zigbuild
    fi
    export PATH="$PWD/$venv/bin:$PATH"
}

# py_ensure PACKAGE...: a venv under target/tools/py with PACKAGEs from PyPI.
py_ensure() {
    local venv=target/tools/py
    if [ ! -x "$venv/bin/python" ]; then
        apt_ensure python3 python3 python3-venv
        python3 -m venv "$venv" 2>/dev/null || { apt_install python3-venv; python3 -m venv "$venv"; }
    fi
    "$venv/bin/pip" install -q "$@"
}

# npm_ensure DIR PACKAGE...: npm PACKAGEs installed under DIR (node_modules), for tests that
# drive tools written in JavaScript (playwright-core for the browser lane).
npm_ensure() {
    local dir=$1; shift
    apt_ensure node nodejs
    apt_ensure npm npm || true
    mkdir -p "$dir"
    local p missing=()
    for p in "$@"; do
        [ -f "$dir/node_modules/$p/package.json" ] || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] || npm install --no-audit --no-fund --prefix "$dir" "${missing[@]}"
}
