#!/usr/bin/env bash
# Builds the OpenWRT packages for one router architecture, in opkg's real .ipk format:
#
#   scripts/build-ipk.sh TARGET [--bin PATH] [--out DIR]
#
#   hearth_<version>-r<release>_<arch>.ipk   the static binary, init script, default config,
#                                            uci-defaults and the rpcd plugin symlink
#   luci-app-hearth_<version>-r<release>_all.ipk   the LuCI views, menu and ACL
#
# TARGET is a Rust target (see scripts/build-static.sh); IPK_ARCH=NAME overrides the
# package architecture (e.g. arm_cortex-a9_vfpv3-d16 for mvebu); --bin packages an existing binary
# instead of building one (tests use it); --out is the output directory (default
# target/ipk). Versions come from Cargo.toml (PKG_VERSION) and the feed Makefile
# (PKG_RELEASE), and are apk-valid (X.Y.Z-rN) for OpenWRT 25.12.
#
# Format (OpenWRT scripts/ipkg-build): a gzip'd tar (not ar) of ./debian-binary ("2.0"),
# ./control.tar.gz and ./data.tar.gz; owners 0:0 numeric, names sorted, mtimes from the last
# commit (SOURCE_DATE_EPOCH), gzip without names or stamps: the same input gives the same
# bytes. The control file carries Package, Version, Depends, Source, SourceName, License,
# Section, SourceDateEpoch, URL, Maintainer, Architecture, Installed-Size, Description;
# conffiles lists /etc/config/hearth; postinst/prerm do what OpenWRT's default_postinst /
# default_prerm do.
set -euo pipefail
cd "$(dirname "$0")/.."

target=""
bin=""
out=target/ipk
while [ $# -gt 0 ]; do
    case "$1" in
        --bin) bin=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        -*) echo "unknown option $1" >&2; exit 2 ;;
        *) target=$1; shift ;;
    esac
done

case "$target" in
    x86_64-unknown-linux-musl) arch=x86_64 ;;
    aarch64-unknown-linux-musl) arch=aarch64_cortex-a53 ;;
    armv7-unknown-linux-musleabihf) arch=arm_cortex-a7_neon-vfpv4 ;;
    mipsel-unknown-linux-musl) arch=mipsel_24kc ;;
    *)
        echo "usage: $0 TARGET [--bin PATH] [--out DIR]; TARGET: x86_64-unknown-linux-musl, aarch64-unknown-linux-musl, armv7-unknown-linux-musleabihf, mipsel-unknown-linux-musl" >&2
        exit 2
        ;;
esac
# Another arch name for the same binary (armv7 also runs on mvebu: arm_cortex-a9_vfpv3-d16).
arch=${IPK_ARCH:-$arch}

if [ -z "$bin" ]; then
    bin=$(scripts/build-static.sh "$target" | tail -n 1)
fi
[ -x "$bin" ] || { echo "error: $bin is not an executable binary" >&2; exit 1; }

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
release=$(sed -n 's/^PKG_RELEASE:=//p' openwrt-package/hearth/Makefile)
full="$version-r$release"
case "$full" in
    [0-9]*.[0-9]*.[0-9]*-r[0-9]*) ;;
    *) echo "error: version '$full' is not X.Y.Z-rN (apk and opkg both need that)" >&2; exit 1 ;;
esac
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
maintainer="hearth maintainers <hearth@example.invalid>"
url="https://example.invalid/hearth"

mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# tar_dir DIR FILE: a reproducible gzip'd tar of DIR's content as ./...
tar_dir() {
    (cd "$1" && tar --format=gnu --sort=name --owner=0 --group=0 --numeric-owner \
        --mtime="@$epoch" -cf - .) | gzip -9n >"$2"
}

# pack NAME ARCH DATA_DIR CONTROL_DIR: writes $out/NAME_VERSION_ARCH.ipk from the two trees.
pack() {
    local name=$1 parch=$2 data=$3 control=$4 pkg=$work/$1.pkg
    mkdir -p "$pkg"
    echo "2.0" >"$pkg/debian-binary"
    tar_dir "$data" "$pkg/data.tar.gz"
    tar_dir "$control" "$pkg/control.tar.gz"
    local ipk="$out/${name}_${full}_${parch}.ipk"
    (cd "$pkg" && tar --format=gnu --owner=0 --group=0 --numeric-owner --mtime="@$epoch" \
        -cf - ./control.tar.gz ./data.tar.gz ./debian-binary) | gzip -9n >"$ipk"
    printf '%-60s %9d bytes\n' "$ipk" "$(stat -c %s "$ipk")"
}

# installed_size DIR: bytes of the regular files (what opkg shows as Installed-Size).
installed_size() {
    find "$1" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'
}

# === hearth ===
data=$work/hearth.data
control=$work/hearth.control
install -d -m 0755 "$data/usr/bin" "$data/etc/init.d" "$data/etc/config" \
    "$data/etc/uci-defaults" "$data/usr/libexec/rpcd" "$control"
install -m 0755 "$bin" "$data/usr/bin/hearth"
install -m 0755 openwrt-package/hearth/files/hearth.init "$data/etc/init.d/hearth"
install -m 0644 openwrt-package/hearth/files/hearth.config "$data/etc/config/hearth"
install -m 0755 openwrt-package/hearth/files/hearth.uci-defaults "$data/etc/uci-defaults/90-hearth"
ln -s /usr/bin/hearth "$data/usr/libexec/rpcd/hearth"

cat >"$control/control" <<EOF
Package: hearth
Version: $full
Depends: libc
Source: feeds/packages/net/hearth
SourceName: hearth
License: GPL-2.0-only
Section: net
SourceDateEpoch: $epoch
URL: $url
Maintainer: $maintainer
Architecture: $arch
Installed-Size: $(installed_size "$data")
Description:  hearth is one agent for a home router: traffic shaping per device and group,
 VPN policy, an LLM request balancer with budgets, and a Wi-Fi planner. Configured by
 /etc/config/hearth, run by procd, read by LuCI (luci-app-hearth).
EOF
echo "/etc/config/hearth" >"$control/conffiles"

cat >"$control/postinst" <<'EOF'
#!/bin/sh
# What OpenWRT's default_postinst (/lib/functions.sh) does for this package: on a live
# system run the uci-defaults once, enable (not on upgrade) and start the service, and let
# rpcd pick up the plugin; in an image build ($IPKG_INSTROOT set) only enable the service.
[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0
if [ -n "${IPKG_INSTROOT}" ]; then
	"${IPKG_INSTROOT}/etc/rc.common" "${IPKG_INSTROOT}/etc/init.d/hearth" enable
	exit 0
fi
if [ -f /etc/uci-defaults/90-hearth ]; then
	( . /etc/uci-defaults/90-hearth ) && rm -f /etc/uci-defaults/90-hearth
fi
[ "${PKG_UPGRADE}" = "1" ] || /etc/init.d/hearth enable
/etc/init.d/hearth start
[ -x /etc/init.d/rpcd ] && /etc/init.d/rpcd reload
exit 0
EOF
cat >"$control/prerm" <<'EOF'
#!/bin/sh
# What OpenWRT's default_prerm does: stop the service and (unless upgrading) disable it; in
# an image build only disable it.
if [ -n "${IPKG_INSTROOT}" ]; then
	"${IPKG_INSTROOT}/etc/rc.common" "${IPKG_INSTROOT}/etc/init.d/hearth" disable
	exit 0
fi
/etc/init.d/hearth stop
[ "${PKG_UPGRADE}" = "1" ] || /etc/init.d/hearth disable
exit 0
EOF
chmod 0755 "$control/postinst" "$control/prerm"
chmod 0644 "$control/control" "$control/conffiles"
pack hearth "$arch" "$data" "$control"

# === luci-app-hearth ===
data=$work/luci.data
control=$work/luci.control
app=openwrt-package/luci-app-hearth
install -d -m 0755 "$data/www" "$control"
cp -R "$app/htdocs/." "$data/www/"
cp -R "$app/root/." "$data/"
find "$data" -type d -exec chmod 0755 {} +
find "$data" -type f -exec chmod 0644 {} +

cat >"$control/control" <<EOF
Package: luci-app-hearth
Version: $full
Depends: luci-base, hearth
Source: feeds/luci/applications/luci-app-hearth
SourceName: luci-app-hearth
License: GPL-2.0-only
Section: luci
SourceDateEpoch: $epoch
URL: $url
Maintainer: $maintainer
Architecture: all
Installed-Size: $(installed_size "$data")
Description:  LuCI support for hearth: overview, devices and budgets, LLM endpoints, VPN
 and Wi-Fi planner pages.
EOF
cat >"$control/postinst" <<'EOF'
#!/bin/sh
# As OpenWRT's default_postinst for LuCI apps: drop LuCI's caches and reload rpcd (new ACL).
[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0
[ -n "${IPKG_INSTROOT}" ] && exit 0
rm -f /tmp/luci-indexcache /tmp/luci-indexcache.*
rm -rf /tmp/luci-modulecache/
[ -x /etc/init.d/rpcd ] && /etc/init.d/rpcd reload
exit 0
EOF
cat >"$control/prerm" <<'EOF'
#!/bin/sh
# Nothing runs for the LuCI app; rpcd and LuCI re-read their files on the next reload.
exit 0
EOF
chmod 0755 "$control/postinst" "$control/prerm"
chmod 0644 "$control/control"
pack luci-app-hearth all "$data" "$control"
