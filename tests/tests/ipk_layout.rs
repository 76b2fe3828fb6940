//! The .ipk files are real opkg packages, checked the way opkg reads them — with `tar`:
//! the outer gzip'd tar holds exactly `./control.tar.gz`, `./data.tar.gz` and
//! `./debian-binary` ("2.0"), owned 0:0, in sorted order; every control field; conffiles;
//! file modes (0755 binary, init script and uci-defaults, 0644 config); the rpcd plugin
//! symlink; maintainer scripts that parse and, in an image build (`$IPKG_INSTROOT`), only
//! enable the service. `data.tar.gz` is unpacked into a fresh root, whose `/usr/bin/hearth`
//! runs `--version`, `check` on the shipped `/etc/config/hearth`, and `rpcd list`.
//!
//! Packages: every `hearth_*.ipk` in `$HEARTH_IPK_DIR` (scripts/test.sh builds the x86_64,
//! aarch64, armv7 and mipsel ones there; foreign binaries run under qemu-user, skipped loudly
//! when it is missing). Without `$HEARTH_IPK_DIR`, the test packages the debug binary for
//! x86_64 with scripts/build-ipk.sh --bin, so `cargo test` alone checks the layout.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use hearth_e2e::{hearth_bin, workspace_root};

fn sh(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One `tar tv` line: mode string, owner, size, name, link target.
#[derive(Debug)]
struct Entry {
    mode: String,
    owner: String,
    name: String,
    link: Option<String>,
}

fn list(archive: &Path) -> Vec<Entry> {
    sh(Command::new("tar")
        .args(["-tvzf"])
        .arg(archive)
        .arg("--numeric-owner"))
    .lines()
    .map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let rest = f[5..].join(" ");
        let (name, link) = match rest.split_once(" -> ") {
            Some((n, t)) => (n.to_string(), Some(t.to_string())),
            None => (rest, None),
        };
        Entry {
            mode: f[0].to_string(),
            owner: f[1].to_string(),
            name,
            link,
        }
    })
    .collect()
}

/// The packages to check (built once per test process when `$HEARTH_IPK_DIR` is not set).
fn packages() -> Vec<PathBuf> {
    static BUILT: OnceLock<(Vec<PathBuf>, Option<tempfile::TempDir>)> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let (dir, keep) = match std::env::var_os("HEARTH_IPK_DIR") {
                Some(d) => (PathBuf::from(d), None),
                None => {
                    let tmp = tempfile::tempdir().unwrap();
                    sh(Command::new(workspace_root().join("scripts/build-ipk.sh"))
                        .arg("x86_64-unknown-linux-musl")
                        .arg("--bin")
                        .arg(hearth_bin())
                        .arg("--out")
                        .arg(tmp.path()));
                    (tmp.path().to_path_buf(), Some(tmp))
                }
            };
            let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "ipk"))
                .collect();
            v.sort();
            assert!(!v.is_empty(), "no .ipk in {}", dir.display());
            (v, keep)
        })
        .0
        .clone()
}

fn control_fields(text: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    let mut last = String::new();
    for l in text.lines() {
        if let Some(cont) = l.strip_prefix(' ') {
            m.entry(last.clone()).and_modify(|v: &mut String| {
                v.push('\n');
                v.push_str(cont)
            });
        } else if let Some((k, v)) = l.split_once(':') {
            last = k.to_string();
            m.insert(k.to_string(), v.trim().to_string());
        }
    }
    m
}

/// Unpacks `ipk` into `dir`: outer, then control into `dir/control`, data into `dir/root`.
fn unpack(ipk: &Path, dir: &Path) -> (PathBuf, PathBuf) {
    sh(Command::new("tar").arg("-xzf").arg(ipk).arg("-C").arg(dir));
    let (control, root) = (dir.join("control"), dir.join("root"));
    for (archive, into) in [("control.tar.gz", &control), ("data.tar.gz", &root)] {
        std::fs::create_dir_all(into).unwrap();
        sh(Command::new("tar")
            .arg("-xzf")
            .arg(dir.join(archive))
            .arg("-C")
            .arg(into));
    }
    (control, root)
}

fn check_outer(ipk: &Path) {
    let outer = list(ipk);
    let names: Vec<&str> = outer.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        ["./control.tar.gz", "./data.tar.gz", "./debian-binary"],
        "{}",
        ipk.display()
    );
    assert!(outer.iter().all(|e| e.owner == "0/0"), "{outer:?}");
    let gz = std::fs::read(ipk).unwrap();
    assert_eq!(
        &gz[..2],
        b"\x1f\x8b",
        "the outer archive is gzip'd tar, not ar"
    );
}

/// How to run a binary of `arch` here: nothing (native), qemu-user, or `None` (no way).
fn runner(arch: &str) -> Option<Vec<String>> {
    let qemu = match arch {
        "x86_64" => return Some(Vec::new()),
        a if a.starts_with("aarch64") => "qemu-aarch64-static",
        a if a.starts_with("arm_") => "qemu-arm-static",
        a if a.starts_with("mipsel") => "qemu-mipsel-static",
        _ => return None,
    };
    Command::new(qemu)
        .arg("--version")
        .output()
        .ok()
        .map(|_| vec![qemu.to_string()])
}

#[test]
fn hearth_ipk_layout_control_and_binary() {
    let ipks = packages();
    let mut checked = 0;
    for ipk in ipks.iter().filter(|p| {
        p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("hearth_"))
    }) {
        checked += 1;
        check_outer(ipk);
        let dir = tempfile::tempdir().unwrap();
        let (control, root) = unpack(ipk, dir.path());
        assert_eq!(
            std::fs::read_to_string(dir.path().join("debian-binary")).unwrap(),
            "2.0\n"
        );
        let f = control_fields(&std::fs::read_to_string(control.join("control")).unwrap());
        let file = ipk.file_name().unwrap().to_string_lossy().to_string();
        for k in [
            "Package",
            "Version",
            "Depends",
            "Source",
            "SourceName",
            "License",
            "Section",
            "SourceDateEpoch",
            "URL",
            "Maintainer",
            "Architecture",
            "Installed-Size",
            "Description",
        ] {
            assert!(
                f.get(k).is_some_and(|v| !v.is_empty()),
                "{file}: no {k}: {f:?}"
            );
        }
        assert_eq!(f["Package"], "hearth");
        assert_eq!(f["Depends"], "libc", "a static binary needs nothing else");
        assert_eq!(f["Section"], "net");
        assert_eq!(f["License"], "GPL-2.0-only");
        let version = &f["Version"];
        let (xyz, rel) = version.split_once("-r").expect("X.Y.Z-rN");
        assert_eq!(xyz.split('.').count(), 3, "{version}");
        assert!(
            xyz.split('.')
                .chain([rel])
                .all(|p| p.parse::<u32>().is_ok()),
            "apk-valid version: {version}"
        );
        assert_eq!(
            file,
            format!("hearth_{version}_{}.ipk", f["Architecture"]),
            "file name is NAME_VERSION_ARCH.ipk"
        );
        assert!(
            [
                "x86_64",
                "aarch64_cortex-a53",
                "arm_cortex-a7_neon-vfpv4",
                "mipsel_24kc"
            ]
            .contains(&f["Architecture"].as_str()),
            "{}",
            f["Architecture"]
        );
        let size: u64 = f["Installed-Size"]
            .parse()
            .expect("Installed-Size is a number");
        let bin_size = std::fs::metadata(root.join("usr/bin/hearth"))
            .unwrap()
            .len();
        assert!(
            size >= bin_size,
            "Installed-Size {size} counts the binary ({bin_size})"
        );
        assert_eq!(
            std::fs::read_to_string(control.join("conffiles")).unwrap(),
            "/etc/config/hearth\n"
        );

        // Maintainer scripts: parse, and in an image build only enable the service.
        for s in ["postinst", "prerm"] {
            let e = list(&dir.path().join("control.tar.gz"));
            let entry = e.iter().find(|x| x.name == format!("./{s}")).expect(s);
            assert_eq!(entry.mode, "-rwxr-xr-x", "{s} is executable");
            sh(Command::new("sh").arg("-n").arg(control.join(s)));
        }
        let instroot = tempfile::tempdir().unwrap();
        let etc = instroot.path().join("etc");
        std::fs::create_dir_all(etc.join("init.d")).unwrap();
        std::fs::write(
            etc.join("rc.common"),
            "#!/bin/sh\necho \"$@\" >>\"$(dirname \"$0\")/rc.calls\"\n",
        )
        .unwrap();
        sh(Command::new("chmod").arg("+x").arg(etc.join("rc.common")));
        for s in ["postinst", "prerm"] {
            sh(Command::new("sh")
                .arg(control.join(s))
                .env("IPKG_INSTROOT", instroot.path()));
        }
        let calls = std::fs::read_to_string(etc.join("rc.calls")).unwrap();
        let init = instroot.path().join("etc/init.d/hearth");
        assert_eq!(
            calls,
            format!("{0} enable\n{0} disable\n", init.display()),
            "image build: rc.d links only, no live actions"
        );

        // Data: paths, modes, owners, the plugin symlink.
        let data = list(&dir.path().join("data.tar.gz"));
        let mode = |p: &str| -> String {
            data.iter()
                .find(|e| e.name == p)
                .unwrap_or_else(|| panic!("{file}: no {p} in data.tar.gz: {data:?}"))
                .mode
                .clone()
        };
        assert_eq!(mode("./usr/bin/hearth"), "-rwxr-xr-x");
        assert_eq!(mode("./etc/init.d/hearth"), "-rwxr-xr-x");
        assert_eq!(mode("./etc/uci-defaults/90-hearth"), "-rwxr-xr-x");
        assert_eq!(mode("./etc/config/hearth"), "-rw-r--r--");
        let plugin = data
            .iter()
            .find(|e| e.name == "./usr/libexec/rpcd/hearth")
            .expect("the rpcd plugin");
        assert!(plugin.mode.starts_with('l'), "a symlink: {plugin:?}");
        assert_eq!(plugin.link.as_deref(), Some("/usr/bin/hearth"));
        assert!(data.iter().all(|e| e.owner == "0/0"), "{data:?}");
        let mut names: Vec<&str> = data.iter().map(|e| e.name.as_str()).collect();
        let listed = names.clone();
        names.sort();
        assert_eq!(listed, names, "sorted names");

        // The packaged binary runs, checks the packaged config, and speaks rpcd.
        let Some(prefix) = runner(&f["Architecture"]) else {
            eprintln!(
                "\n!!!!!!!! SKIPPED running the {} binary of {file}: qemu-user (Debian package qemu-user-static) is missing !!!!!!!!\n",
                f["Architecture"]
            );
            continue;
        };
        let run = |args: &[&str]| {
            let bin = root.join("usr/bin/hearth");
            let mut c = match prefix.first() {
                Some(q) => {
                    let mut c = Command::new(q);
                    c.arg(&bin);
                    c
                }
                None => Command::new(&bin),
            };
            c.args(args).env_remove("HEARTH_CONFIG");
            sh(&mut c)
        };
        assert!(run(&["--version"]).starts_with("hearth "), "{file}");
        let cfg = root.join("etc/config/hearth");
        assert!(run(&["check", "--config", cfg.to_str().unwrap()]).contains(": OK"));
        let methods: serde_json::Value =
            serde_json::from_str(&run(&["rpcd", "list"])).expect("rpcd list prints JSON");
        assert!(methods["status"].is_object(), "{methods}");
        eprintln!("{file}: layout OK, binary ran ({})", f["Architecture"]);
    }
    assert!(checked > 0, "no hearth_*.ipk found");
}

#[test]
fn luci_ipk_layout_and_control() {
    let ipks = packages();
    let ipk = ipks
        .iter()
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("luci-app-hearth_"))
        })
        .expect("luci-app-hearth_*.ipk");
    check_outer(ipk);
    let dir = tempfile::tempdir().unwrap();
    let (control, root) = unpack(ipk, dir.path());
    let f = control_fields(&std::fs::read_to_string(control.join("control")).unwrap());
    assert_eq!(f["Package"], "luci-app-hearth");
    assert_eq!(f["Architecture"], "all");
    assert_eq!(f["Depends"], "luci-base, hearth");
    assert_eq!(f["Section"], "luci");
    assert!(ipk
        .file_name()
        .unwrap()
        .to_string_lossy()
        .ends_with(&format!("_{}_all.ipk", f["Version"])));
    sh(Command::new("sh").arg("-n").arg(control.join("postinst")));
    let data = list(&dir.path().join("data.tar.gz"));
    for p in [
        "./www/luci-static/resources/view/hearth/overview.js",
        "./www/luci-static/resources/view/hearth/devices.js",
        "./www/luci-static/resources/view/hearth/llm.js",
        "./www/luci-static/resources/view/hearth/vpn.js",
        "./www/luci-static/resources/view/hearth/planner.js",
        "./www/luci-static/resources/hearth/render.js",
        "./usr/share/luci/menu.d/luci-app-hearth.json",
        "./usr/share/rpcd/acl.d/luci-app-hearth.json",
    ] {
        let e = data
            .iter()
            .find(|e| e.name == p)
            .unwrap_or_else(|| panic!("no {p} in {data:?}"));
        assert_eq!(e.mode, "-rw-r--r--", "{p}");
        assert_eq!(e.owner, "0/0", "{p}");
    }
    assert!(root
        .join("usr/share/rpcd/acl.d/luci-app-hearth.json")
        .exists());
}
