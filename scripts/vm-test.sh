#!/usr/bin/env bash
# The full-kernel test lane: runs static x86_64 test binaries inside Debian's kernel in a QEMU microVM
# (TCG, no KVM), for kernel features the CI host lacks (CAKE, fq_codel, WireGuard, mac80211_hwsim, …).
# See docs/vm-lane.md.
#
#   scripts/vm-test.sh [OPTIONS] BINARY [ARGS...] [-- BINARY2 [ARGS...]]...
#   scripts/vm-test.sh [OPTIONS] --all [-- BINARY [ARGS...]]...
#
# Every test runs in one boot, as root, from /repo: the checkout, shared read-only over 9p (also
# reachable at its host path, so CARGO_MANIFEST_DIR paths work). Binaries outside the checkout are
# copied into the initramfs. Exit status 0 only if every test exited 0.
#
# Options (before the first BINARY):
#   --all            also run every line of scripts/vm/tests.list (building what it names first)
#   --keep           keep the run directory (initramfs tree, image, console log) and print its path
#   --host-bin NAME  also copy the host's NAME (e.g. tc, nft) and its libraries into the guest,
#                    replacing busybox's applet of that name (repeatable)
#   -h, --help       this text
# Environment:
#   VM_TIMEOUT=300       seconds before a hung VM is killed and the lane fails
#   VM_TEST_TIMEOUT=120  seconds per test inside the guest
#   VM_MEMORY=512        guest RAM in MiB
#   VM_TESTS_LIST=FILE   a registry other than scripts/vm/tests.list for --all
set -euo pipefail

CALLER_PWD=$PWD
cd "$(dirname "$0")/.."
REPO=$PWD
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

VM_DIR=$REPO/target/vm
ROOT=$VM_DIR/root            # dpkg -x of the Debian packages (qemu, firmware, kernel, busybox, wg)
STAMP=$VM_DIR/root.complete  # written last by setup: "KVER"
RUN=$VM_DIR/last             # this run: initramfs tree, image, console log, results
LIST=${VM_TESTS_LIST:-$REPO/scripts/vm/tests.list} # override to run another registry
MUSL=x86_64-unknown-linux-musl
VM_TIMEOUT=${VM_TIMEOUT:-300}
VM_TEST_TIMEOUT=${VM_TEST_TIMEOUT:-120}
VM_MEMORY=${VM_MEMORY:-512}
# Debian packages dpkg -x'd into $ROOT. The kernel image package is resolved at setup.
DEBS=(qemu-system-x86 qemu-system-common qemu-system-data seabios ipxe-qemu busybox-static wireguard-tools
    wireless-regdb)
# The Wi-Fi test's tools (tests/tests/wifi_hwsim.rs: an AP and a client on mac80211_hwsim radios, iw as
# the independent observer) and the libraries they link that a CI host may lack. Unpacked into $ROOT
# too, once ($WIFI_STAMP), so a checkout set up before they were added gets them without a new setup.
WIFI_DEBS=(hostapd wpasupplicant iw libnl-3-200 libnl-genl-3-200 libnl-route-3-200 libssl3 libdbus-1-3
    libpcsclite1 libreadline8)
# Their programs, copied into the guest's /usr/sbin with their libraries ($ROOT's first, then the host's).
WIFI_BINS=(hostapd wpa_supplicant iw)
WIFI_STAMP=$VM_DIR/root.wifi.complete

die() {
    printf '\n\033[1;31mVM LANE FAILED: %s\033[0m\n' "$*" >&2
    exit 1
}
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

# === arguments ===

keep=0
all=0
declare -A CARGO_TESTS=() # "PACKAGE TEST" -> test binary, for tests.list's cargo-test lines
host_bins=()
while [ $# -gt 0 ]; do
    case "$1" in
    --all) all=1 ;;
    --keep) keep=1 ;;
    --host-bin)
        [ $# -ge 2 ] || die "--host-bin needs a program name"
        host_bins+=("$2")
        shift
        ;;
    -h | --help)
        usage
        exit 0
        ;;
    --) shift; break ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) break ;;
    esac
    shift
done
# Remaining words: test commands separated by "--". Each test is stored as one line, words joined by
# the unit separator (\x1f), so that arguments keep their spaces.
SEP=$'\x1f'
cli_tests=()
cur=()
for w in "$@"; do
    if [ "$w" = "--" ]; then
        [ ${#cur[@]} -gt 0 ] && cli_tests+=("$(IFS=$SEP; echo "${cur[*]}")")
        cur=()
    else
        cur+=("$w")
    fi
done
[ ${#cur[@]} -gt 0 ] && cli_tests+=("$(IFS=$SEP; echo "${cur[*]}")")
if [ $all -eq 0 ] && [ ${#cli_tests[@]} -eq 0 ]; then
    usage >&2
    die "nothing to run: give a BINARY or --all"
fi

# One lane at a time per checkout: setup and the run directory are shared.
mkdir -p "$VM_DIR"
exec 9>"$VM_DIR/lock"
if ! flock -w 900 9; then
    die "another scripts/vm-test.sh in this checkout held $VM_DIR/lock for 15 minutes"
fi

# === phase 1: setup (Debian packages into $ROOT; host libraries for qemu; kmod) ===

apt_refresh() {
    [ -n "${APT_UPDATED:-}" ] && return 0
    apt-get update -qq || warn "apt-get update failed; trying with the package lists we have"
    APT_UPDATED=1
}

# qemu's shared libraries, taken from the Depends of the qemu-system-x86 package we unpacked; only
# the missing ones are installed, and never if apt would remove anything (qemu-utils from backports
# Breaks qemu-system-common < 8.0: `apt-get install qemu-system-x86` would remove it).
host_libs_ensure() {
    local need=() p
    command -v modprobe >/dev/null && command -v depmod >/dev/null || need+=(kmod)
    command -v xz >/dev/null || need+=(xz-utils)
    while read -r p; do
        dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' || need+=("$p")
    done <"$VM_DIR/qemu-libs.txt"
    if [ ${#need[@]} -gt 0 ]; then
        say "vm setup: installing host packages: ${need[*]}"
        [ "$(id -u)" -eq 0 ] || die "need root to apt-get install ${need[*]}"
        apt_refresh
        local sim
        sim=$(apt-get -s install --no-install-recommends "${need[@]}" 2>&1) ||
            die "apt-get cannot install ${need[*]}:
$sim"
        if grep -q '^Remv' <<<"$sim"; then
            die "installing ${need[*]} would remove packages; refusing:
$(grep '^Remv' <<<"$sim")"
        fi
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            -o DPkg::Lock::Timeout=300 "${need[@]}" >/dev/null ||
            die "apt-get install ${need[*]} failed"
    fi
    local missing
    missing=$(ldd "$ROOT/usr/bin/qemu-system-x86_64" | grep 'not found' || true)
    [ -z "$missing" ] || die "qemu-system-x86_64 is missing libraries after setup:
$missing
Add their packages to host_libs_ensure in scripts/vm-test.sh."
}

# The bzImage decompresses itself (xz) under TCG in ~5 s, every boot. The kernel has a PVH entry point
# (CONFIG_PVH), so qemu can boot the uncompressed ELF vmlinux directly: extract it once here.
# Without it, the lane still works from vmlinuz, only slower.
extract_vmlinux() {
    local z=$ROOT/boot/vmlinuz-$KVER out=$ROOT/boot/vmlinux-$KVER off
    if ! grep -q '^CONFIG_PVH=y' "$ROOT/boot/config-$KVER"; then
        warn "kernel $KVER has no PVH entry point: booting the compressed vmlinuz (slower)"
        return 0
    fi
    off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$z" | head -n1 | cut -d: -f1 || true)
    if [ -n "$off" ] && command -v xz >/dev/null &&
        xz -dc --single-stream <(tail -c +$((off + 1)) "$z") >"$out.tmp" 2>/dev/null &&
        [ "$(head -c4 "$out.tmp" | od -An -c | tr -d ' ')" = '177ELF' ]; then
        mv "$out.tmp" "$out"
        echo "vm setup: extracted the uncompressed kernel for a PVH boot ($(($(stat -c %s "$out") >> 20)) MB)"
    else
        rm -f "$out.tmp"
        warn "could not extract vmlinux from $z (no xz?): booting the compressed vmlinuz (slower)"
    fi
}

setup() {
    local t0 kpkg d
    t0=$(now)
    if [ -f "$STAMP" ] && [ -x "$ROOT/usr/bin/qemu-system-x86_64" ]; then
        KVER=$(cat "$STAMP")
        host_libs_ensure
        echo "vm setup: re-using $ROOT (kernel $KVER; rm -rf target/vm to start over)"
        T_SETUP="$(elapsed "$t0")s (re-used)"
        return
    fi
    say "vm setup: Debian packages into target/vm/root"
    command -v apt-get >/dev/null || die "apt-get not found: the VM lane needs a Debian-like host"
    apt_refresh
    kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
        sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -n1)
    [ -n "$kpkg" ] || die "cannot resolve the kernel package from linux-image-amd64 (apt-cache depends linux-image-amd64)"
    KVER=${kpkg#linux-image-}
    echo "kernel package: $kpkg"

    rm -rf "$VM_DIR/debs" "$ROOT" "$ROOT.tmp" "$STAMP" "$WIFI_STAMP"
    mkdir -p "$VM_DIR/debs" "$ROOT.tmp"
    local sandbox=()
    # As root, apt drops to user _apt for downloads, who cannot write into target/.
    [ "$(id -u)" -eq 0 ] && sandbox=(-o APT::Sandbox::User=root)
    (cd "$VM_DIR/debs" && apt-get download -q "${sandbox[@]}" "${DEBS[@]}" "$kpkg") ||
        die "apt-get download ${DEBS[*]} $kpkg failed"
    for d in "$VM_DIR"/debs/*.deb; do
        dpkg -x "$d" "$ROOT.tmp" || die "dpkg -x $d failed"
    done
    dpkg-deb -f "$VM_DIR"/debs/qemu-system-x86_*.deb Depends | tr ',' '\n' |
        sed 's/|.*//; s/(.*)//; s/ //g' | grep '^lib' >"$VM_DIR/qemu-libs.txt" ||
        die "cannot read qemu-system-x86's Depends"
    rm -rf "$VM_DIR/debs"
    mv "$ROOT.tmp" "$ROOT"
    host_libs_ensure
    [ -f "$ROOT/boot/vmlinuz-$KVER" ] || die "no $ROOT/boot/vmlinuz-$KVER in $kpkg"
    depmod -b "$ROOT" "$KVER" || die "depmod -b $ROOT $KVER failed"
    extract_vmlinux
    echo "$KVER" >"$STAMP"
    du -sh "$ROOT" | sed 's/^/vm setup: /'
    T_SETUP="$(elapsed "$t0")s"
}

# The Wi-Fi tools of WIFI_DEBS into $ROOT (after setup; once per checkout).
wifi_tools_ensure() {
    local tmp d
    [ -f "$WIFI_STAMP" ] && return 0
    say "vm setup: Wi-Fi test tools into target/vm/root (${WIFI_DEBS[*]})"
    apt_refresh
    tmp=$VM_DIR/wifi-debs
    rm -rf "$tmp"
    mkdir -p "$tmp"
    local sandbox=()
    [ "$(id -u)" -eq 0 ] && sandbox=(-o APT::Sandbox::User=root)
    (cd "$tmp" && apt-get download -q "${sandbox[@]}" "${WIFI_DEBS[@]}") ||
        die "apt-get download ${WIFI_DEBS[*]} failed"
    for d in "$tmp"/*.deb; do
        dpkg -x "$d" "$ROOT" || die "dpkg -x $d failed"
    done
    rm -rf "$tmp"
    touch "$WIFI_STAMP"
}

# === phase 2: build the test binaries tests.list names (only with --all) ===

build_lane_binaries() {
    local t0
    t0=$(now)
    say "vm build: static $MUSL binaries for tests.list"
    command -v cargo >/dev/null || rust_ensure
    rustup target add "$MUSL" >/dev/null
    zig_ensure
    cargo zigbuild --release --locked --target "$MUSL" -p hearth
    cargo zigbuild --release --locked --target "$MUSL" \
        --manifest-path scripts/vm/probe/Cargo.toml --target-dir target/vm/probe-build
    # "cargo-test PACKAGE TEST ARGS..." lines: that integration test's harness binary, static musl.
    local words raw exe
    while IFS= read -r raw || [ -n "$raw" ]; do
        raw=${raw%%#*}
        read -r -a words <<<"$raw"
        [ "${words[0]:-}" = cargo-test ] || continue
        [ ${#words[@]} -ge 3 ] || die "tests.list: '$raw': want cargo-test PACKAGE TEST [ARGS...]"
        exe=$(cargo zigbuild --locked --target "$MUSL" -p "${words[1]}" --test "${words[2]}" \
            --message-format=json-render-diagnostics | python3 -c '
import json, sys
name = sys.argv[1]
for line in sys.stdin:
    m = json.loads(line)
    t = m.get("target") or {}
    if m.get("reason") == "compiler-artifact" and t.get("name") == name and "test" in t.get("kind", []) and m.get("executable"):
        print(m["executable"])' "${words[2]}") || die "building cargo-test ${words[1]} ${words[2]} failed"
        [ -n "$exe" ] || die "cargo built no test binary for ${words[1]} --test ${words[2]}"
        CARGO_TESTS["${words[1]} ${words[2]}"]=$exe
    done <"$LIST"
    T_BUILD="$(elapsed "$t0")s"
}

# === phase 3: the initramfs ===

# q WORD: WORD single-quoted for sh.
q() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

# host_bin NAME: the host's NAME plus its shared libraries, in place of busybox's applet.
host_bin() {
    local name=$1 path lib
    path=$(command -v "$name") || die "--host-bin $name: no $name on this host's PATH"
    rm -f "$TREE/bin/$name" "$TREE/sbin/$name"
    cp -L "$path" "$TREE/usr/sbin/$name"
    for lib in $(ldd "$path" 2>/dev/null | grep -o '/[^ ]*'); do
        [ -e "$TREE$lib" ] || cp -L --parents "$lib" "$TREE/"
    done
}

# root_bin NAME: $ROOT's program NAME (from WIFI_DEBS) into the guest's /usr/sbin, with its libraries:
# those $ROOT has (unpacked from WIFI_DEBS), else the host's (glibc; the same Debian release).
root_bin() {
    local name=$1 path libs lib dest
    path=$(find "$ROOT/usr/sbin" "$ROOT/sbin" "$ROOT/usr/bin" -maxdepth 1 -name "$name" -type f 2>/dev/null | head -n1)
    [ -n "$path" ] || die "no $name in $ROOT (WIFI_DEBS); rm $WIFI_STAMP to unpack them again"
    libs=$(LD_LIBRARY_PATH="$ROOT/usr/lib/x86_64-linux-gnu:$ROOT/lib/x86_64-linux-gnu" ldd "$path") ||
        die "ldd $path failed"
    if grep -q 'not found' <<<"$libs"; then
        die "$name needs libraries neither $ROOT nor the host has (add their packages to WIFI_DEBS):
$(grep 'not found' <<<"$libs")"
    fi
    cp -L "$path" "$TREE/usr/sbin/$name"
    for lib in $(grep -o '/[^ ]*' <<<"$libs"); do
        dest=${lib#"$ROOT"}
        [ -e "$TREE$dest" ] && continue
        mkdir -p "$TREE$(dirname "$dest")"
        cp -L "$lib" "$TREE$dest"
    done
}

# add_test LINE ORIGIN [LABEL]: resolve one test (words joined by $SEP) and append it to the guest's
# list. ORIGIN "list" = binary relative to the repo; "cli" = relative to the caller's directory.
ntests=0
add_test() {
    local line=$1 origin=$2 label=${3:-} words bin abs guest a
    IFS=$SEP read -r -a words <<<"$line"
    bin=${words[0]}
    if [ "$origin" = cli ]; then
        abs=$(cd "$CALLER_PWD" && realpath -e -- "$bin" 2>/dev/null) || die "test binary $bin not found (from $CALLER_PWD)"
    else
        case "$bin" in /*) ;; *) bin=$REPO/$bin ;; esac
        abs=$(realpath -e -- "$bin" 2>/dev/null) ||
            die "test binary $bin (scripts/vm/tests.list) not found: build it first"
    fi
    if [ ! -f "$abs" ] || [ ! -x "$abs" ]; then
        die "test binary $abs is not an executable file"
    fi
    if ldd "$abs" 2>/dev/null | grep -q '=>'; then
        die "test binary $abs is dynamically linked; the guest has no libc. Build it static:
    cargo zigbuild --target $MUSL ..."
    fi
    ntests=$((ntests + 1))
    case "$abs" in
    "$REPO"/*) guest=/repo/${abs#"$REPO"/} ;;
    *)
        mkdir -p "$TREE/ext/$ntests"
        cp "$abs" "$TREE/ext/$ntests/"
        guest=/ext/$ntests/$(basename "$abs")
        ;;
    esac
    label="${label:-$(basename "$bin")}${words[1]:+ ${words[*]:1}}"
    label=${label:0:70}
    {
        printf 'run_test %d %s %s' "$ntests" "$(q "$label")" "$(q "$guest")"
        for a in "${words[@]:1}"; do printf ' %s' "$(q "$a")"; done
        printf '\n'
    } >>"$TREE/etc/vm-lane/tests"
    echo "  test $ntests: $label"
}

build_initramfs() {
    local t0 m line mods kmods path opts lib applet
    t0=$(now)
    say "vm initramfs: busybox, modules, tests"
    rm -rf "$RUN"
    TREE=$RUN/tree
    mkdir -p "$TREE"/{bin,sbin,usr/bin,usr/sbin,etc/vm-lane,etc/modprobe.d,proc,sys,dev,tmp,run,root,repo}
    mkdir -p "$TREE/lib/modules/$KVER"

    cp "$ROOT/bin/busybox" "$TREE/bin/busybox"
    for applet in $("$ROOT/bin/busybox" --list); do
        [ "$applet" = busybox ] || ln -s busybox "$TREE/bin/$applet"
    done
    # The kernel's module autoloader calls /sbin/modprobe.
    ln -s ../bin/busybox "$TREE/sbin/modprobe"
    # cfg80211's regulatory database (Debian-signed; the Debian kernel trusts that key).
    mkdir -p "$TREE/lib/firmware"
    cp "$ROOT/lib/firmware/regulatory.db-debian" "$TREE/lib/firmware/regulatory.db"
    cp "$ROOT/lib/firmware/regulatory.db.p7s-debian" "$TREE/lib/firmware/regulatory.db.p7s"
    cp "$ROOT/usr/bin/wg" "$TREE/usr/bin/wg"
    for lib in $(ldd "$ROOT/usr/bin/wg" | grep -o '/[^ ]*'); do
        cp -L --parents "$lib" "$TREE/"
    done
    for applet in "${WIFI_BINS[@]}"; do root_bin "$applet"; done
    for applet in "${host_bins[@]}"; do host_bin "$applet"; done
    cp scripts/vm/init "$TREE/init"
    chmod 755 "$TREE/init"

    # Modules and their dependencies, in load order, as kmod resolves them against the unpacked kernel.
    mods=$(grep -v '^[[:space:]]*\(#\|$\)' scripts/vm/modules.list)
    : >"$TREE/etc/vm-lane/modules"
    kmods=0
    local -A seen=()
    for m in $mods; do
        line=$(modprobe -C scripts/vm/modprobe.conf -d "$ROOT" -S "$KVER" --show-depends "$m" 2>&1) ||
            die "kernel $KVER has no module $m (scripts/vm/modules.list): $line"
        while read -r kind path opts; do
            [ "$kind" = insmod ] || continue
            path=${path#"$ROOT/lib/modules/$KVER/"}
            [ -z "${seen[$path]:-}" ] || continue
            seen[$path]=1
            mkdir -p "$TREE/lib/modules/$KVER/$(dirname "$path")"
            cp "$ROOT/lib/modules/$KVER/$path" "$TREE/lib/modules/$KVER/$path"
            echo "$path $opts" >>"$TREE/etc/vm-lane/modules"
            kmods=$((kmods + 1))
        done <<<"$line"
    done
    cp "$ROOT/lib/modules/$KVER"/modules.{order,builtin,builtin.modinfo} "$TREE/lib/modules/$KVER/"
    depmod -b "$TREE" "$KVER" || die "depmod for the initramfs failed"
    cp scripts/vm/modprobe.conf "$TREE/etc/modprobe.d/vm-lane.conf"

    # Tests: tests.list (with --all), then the command line.
    : >"$TREE/etc/vm-lane/tests"
    if [ $all -eq 1 ]; then
        local words=() raw exe
        while IFS= read -r raw || [ -n "$raw" ]; do
            raw=${raw%%#*}
            read -r -a words <<<"$raw"
            [ ${#words[@]} -gt 0 ] || continue
            if [ "${words[0]}" = cargo-test ]; then
                # "cargo-test PACKAGE TEST ARGS...": the test binary build_lane_binaries made.
                exe=${CARGO_TESTS["${words[1]:-} ${words[2]:-}"]:-}
                [ -n "$exe" ] || die "tests.list: '$raw' was not built (want: cargo-test PACKAGE TEST [ARGS...])"
                add_test "$(IFS=$SEP; echo "${exe#"$REPO"/}${SEP}${words[*]:3}")" list "${words[1]}/${words[2]}"
            else
                add_test "$(IFS=$SEP; echo "${words[*]}")" list
            fi
        done <"$LIST"
    fi
    for line in "${cli_tests[@]}"; do add_test "$line" cli; done
    [ $ntests -gt 0 ] || die "no tests to run (scripts/vm/tests.list is empty?)"
    cat >"$TREE/etc/vm-lane/config" <<EOF
TOTAL=$ntests
TEST_TIMEOUT=$VM_TEST_TIMEOUT
KVER=$KVER
HOST_REPO=$(q "$REPO")
EOF

    INITRD=$RUN/initramfs.cpio.gz
    (cd "$TREE" && find . -print | "$ROOT/bin/busybox" cpio -o -H newc 2>/dev/null | gzip -1 >"$INITRD") ||
        die "packing the initramfs failed"
    printf 'initramfs: %d modules, %d test(s), %s MB compressed\n' "$kmods" "$ntests" \
        "$(du -m "$INITRD" | cut -f1)"
    T_INITRAMFS="$(elapsed "$t0")s"
}

# === phase 4: boot, stream the console, judge ===

boot() {
    local t0 rc passed failed result kernel
    t0=$(now)
    kernel=$ROOT/boot/vmlinux-$KVER
    [ -f "$kernel" ] || kernel=$ROOT/boot/vmlinuz-$KVER
    say "vm boot: qemu-system-x86_64 (TCG), kernel $KVER, timeout ${VM_TIMEOUT}s"
    rc=0
    # stdin from /dev/null: qemu must not put a terminal into raw mode or read CI's stdin.
    timeout -k 10 "$VM_TIMEOUT" "$ROOT/usr/bin/qemu-system-x86_64" \
        -L "$ROOT/usr/share/qemu" -L "$ROOT/usr/share/seabios" \
        -accel tcg -cpu max -m "$VM_MEMORY" -smp 2 \
        -nographic -no-reboot -nic none \
        -fsdev "local,id=repo,path=$REPO,security_model=none,readonly=on" \
        -device virtio-9p-pci,fsdev=repo,mount_tag=repo \
        -kernel "$kernel" -initrd "$INITRD" \
        -append "console=ttyS0 quiet panic=-1 rdinit=/init" </dev/null 2>&1 |
        tee "$RUN/console.raw" |
        sed -u 's/\r//g; s/\x1b\[[0-9;?]*[a-zA-Z]//g; s/\x1bc//g; s/^/  | /' || rc=${PIPESTATUS[0]}
    T_BOOT="$(elapsed "$t0")s"
    sed 's/\r//g; s/\x1b\[[0-9;?]*[a-zA-Z]//g; s/\x1bc//g' "$RUN/console.raw" >"$RUN/console.log"
    grep -E '^VM-LANE: (PASS|FAIL) ' "$RUN/console.log" | sed 's/^VM-LANE: //' >"$RUN/results.txt" || true

    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        RESULT_MSG="the VM did not power off within ${VM_TIMEOUT}s (hung test or boot); console: ${RUN#"$REPO"/}/console.log"
        return 1
    fi
    [ "$rc" -eq 0 ] || { RESULT_MSG="qemu exited with status $rc; console: ${RUN#"$REPO"/}/console.log"; return 1; }
    result=$(grep -E '^VM-LANE-RESULT: [0-9]+ passed, [0-9]+ failed' "$RUN/console.log" | tail -n1 || true)
    if [ -z "$result" ]; then
        RESULT_MSG="no VM-LANE-RESULT line: the guest crashed or /init failed; console: ${RUN#"$REPO"/}/console.log"
        return 1
    fi
    passed=$(sed -E 's/.* ([0-9]+) passed.*/\1/' <<<"$result")
    failed=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$result")
    RESULT_MSG="$passed of $ntests test(s) passed, $failed failed"
    [ "$failed" -eq 0 ] && [ "$passed" -eq "$ntests" ]
}

finish() {
    local status=$1
    say "vm lane timings"
    printf '  setup (download, unpack, host libs): %s\n' "${T_SETUP:--}"
    [ -n "${T_BUILD:-}" ] && printf '  build (tests.list binaries):          %s\n' "$T_BUILD"
    printf '  initramfs:                           %s\n' "${T_INITRAMFS:--}"
    printf '  boot to poweroff:                    %s\n' "${T_BOOT:--}"
    if [ -s "$RUN/results.txt" ]; then
        say "vm lane results"
        sed 's/^/  /' "$RUN/results.txt"
    fi
    if [ $keep -eq 1 ]; then
        echo "kept: $RUN (tree/, initramfs.cpio.gz, console.log)"
    else
        rm -rf "$RUN/tree" "$RUN/initramfs.cpio.gz" "$RUN/console.raw"
    fi
    if [ "$status" -eq 0 ]; then
        printf '\n\033[1;32mVM LANE PASSED: %s\033[0m\n' "$RESULT_MSG"
    else
        die "$RESULT_MSG"
    fi
}

T_START=$(now)
setup
wifi_tools_ensure
[ $all -eq 1 ] && build_lane_binaries
build_initramfs
status=0
boot || status=1
echo "  total: $(elapsed "$T_START")s"
finish $status
