//! The LuCI app's files follow LuCI's conventions and agree with each other and with hearth:
//! every JSON file parses; the menu's view paths point at existing views (and every view has
//! a menu entry) under `admin/services/hearth`; the ACL grants exactly `uci: hearth` and the
//! ubus methods the views call, all of which the rpcd plugin lists; every JS file passes
//! `node --check`; views are `view.extend` modules, edit through `form.Map('hearth')` and use
//! only options hearth accepts (as documented in docs/configuration.md, itself checked
//! against the code by agent/tests/docs_config.rs).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use hearth_e2e::{run_hearth, workspace_root};
use serde_json::Value;

fn app() -> PathBuf {
    workspace_root().join("openwrt-package/luci-app-hearth")
}

fn views_dir() -> PathBuf {
    app().join("htdocs/luci-static/resources/view/hearth")
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn json(p: &Path) -> Value {
    serde_json::from_str(&read(p)).unwrap_or_else(|e| panic!("{} does not parse: {e}", p.display()))
}

/// (name, source) of every view.
fn views() -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = std::fs::read_dir(views_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "js"))
        .map(|p| {
            (
                p.file_stem().unwrap().to_string_lossy().into_owned(),
                read(&p),
            )
        })
        .collect();
    v.sort();
    v
}

/// Every JS file of the app and the dashboard.
fn js_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![app().join("htdocs")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "js") {
                out.push(p);
            }
        }
    }
    out.push(workspace_root().join("agent/src/control/dashboard/app.js"));
    out.push(workspace_root().join("tests/browser/dashboard.cjs"));
    out.sort();
    out
}

/// The single-quoted string after each occurrence of `prefix` in `src`.
fn quoted_after<'a>(src: &'a str, prefix: &str) -> Vec<&'a str> {
    src.match_indices(prefix)
        .filter_map(|(i, _)| {
            let rest = &src[i + prefix.len()..];
            let rest = rest.trim_start().strip_prefix('\'')?;
            rest.split_once('\'').map(|(s, _)| s)
        })
        .collect()
}

/// The ubus methods a view calls: `rpc.declare({ object: 'hearth', method: 'M' ... })`.
fn methods_called(src: &str) -> BTreeSet<String> {
    src.match_indices("rpc.declare(")
        .map(|(i, _)| {
            let decl = &src[i..i + src[i..].find("})").expect("rpc.declare closes")];
            assert_eq!(
                quoted_after(decl, "object:"),
                ["hearth"],
                "views call only the hearth object: {decl}"
            );
            quoted_after(decl, "method:")[0].to_string()
        })
        .collect()
}

#[test]
fn every_json_file_parses_and_the_menu_points_at_existing_views() {
    let menu = json(&app().join("root/usr/share/luci/menu.d/luci-app-hearth.json"));
    let menu = menu.as_object().expect("the menu is an object");
    let root = &menu["admin/services/hearth"];
    assert_eq!(root["action"]["type"], "firstchild");
    assert_eq!(root["depends"]["acl"][0], "luci-app-hearth");
    assert_eq!(root["depends"]["uci"]["hearth"], true);
    let mut in_menu = BTreeSet::new();
    for (path, entry) in menu {
        assert!(
            path.starts_with("admin/services/hearth"),
            "{path} is outside admin/services/hearth"
        );
        if entry["action"]["type"] == "view" {
            let view = entry["action"]["path"].as_str().expect("view path");
            let file = app()
                .join("htdocs/luci-static/resources/view")
                .join(format!("{view}.js"));
            assert!(
                file.exists(),
                "menu entry {path} points at missing {}",
                file.display()
            );
            assert!(
                entry["title"].is_string() && entry["order"].is_number(),
                "{path}"
            );
            in_menu.insert(view.trim_start_matches("hearth/").to_string());
        }
    }
    let files: BTreeSet<String> = views().into_iter().map(|(n, _)| n).collect();
    assert_eq!(in_menu, files, "every view has a menu entry and vice versa");
    for v in ["overview", "devices", "llm", "vpn", "planner"] {
        assert!(files.contains(v), "view {v}.js");
    }
}

#[test]
fn the_acl_grants_exactly_uci_hearth_and_the_methods_the_views_call() {
    let acl = json(&app().join("root/usr/share/rpcd/acl.d/luci-app-hearth.json"));
    let obj = acl.as_object().unwrap();
    assert_eq!(obj.keys().collect::<Vec<_>>(), ["luci-app-hearth"]);
    let a = &acl["luci-app-hearth"];
    assert!(a["description"].is_string());
    let keys = |v: &Value| -> Vec<String> {
        v.as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    };
    assert_eq!(keys(a), ["description", "read", "write"]);
    assert_eq!(keys(&a["read"]), ["ubus", "uci"], "no file or other access");
    assert_eq!(keys(&a["write"]), ["uci"], "writes only the config");
    assert_eq!(a["read"]["uci"], serde_json::json!(["hearth"]));
    assert_eq!(a["write"]["uci"], serde_json::json!(["hearth"]));
    assert_eq!(
        keys(&a["read"]["ubus"]),
        ["hearth"],
        "only the hearth object"
    );
    let granted: BTreeSet<String> = a["read"]["ubus"]["hearth"]
        .as_array()
        .expect("a method list")
        .iter()
        .map(|m| m.as_str().unwrap().to_string())
        .collect();
    let used: BTreeSet<String> = views()
        .iter()
        .flat_map(|(_, src)| methods_called(src))
        .collect();
    assert_eq!(granted, used, "the ACL grants exactly what the views call");
    // …and the plugin offers all of them.
    let out = run_hearth(&["rpcd", "list"]);
    let listed: Value = serde_json::from_slice(&out.stdout).expect("rpcd list");
    for m in &used {
        assert!(listed[m].is_object(), "the rpcd plugin does not list '{m}'");
    }
}

#[test]
fn every_js_file_passes_node_check() {
    if Command::new("node").arg("--version").output().is_err() {
        let msg = "SKIPPED node --check: node (Debian package nodejs) is missing";
        if std::env::var_os("HEARTH_REQUIRE_BROWSER").is_some_and(|v| v == "1") {
            panic!("{msg}");
        }
        eprintln!("\n!!!!!!!! {msg} !!!!!!!!\n");
        return;
    }
    for f in js_files() {
        let out = Command::new("node")
            .arg("--check")
            .arg(&f)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            f.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn views_are_luci_modules_that_edit_only_known_options() {
    let docs = read(&workspace_root().join("docs/configuration.md"));
    let documented: BTreeSet<&str> = docs
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once('`').map(|(n, _)| n))
        .collect();
    let render = app().join("htdocs/luci-static/resources/hearth/render.js");
    let mut edited = 0;
    for (name, src) in views() {
        assert!(
            src.starts_with("'use strict';\n"),
            "{name}: 'use strict' first"
        );
        assert!(src.contains("'require view';"), "{name}");
        assert!(src.contains("return view.extend({"), "{name}");
        if src.contains("'require hearth.render as render';") {
            assert!(render.exists());
        }
        if src.contains("'require form';") {
            assert!(
                src.contains("new form.Map('hearth'"),
                "{name} edits /etc/config/hearth"
            );
            for opt in quoted_after(&src, "s.option(form.Value,")
                .into_iter()
                .chain(quoted_after(&src, "s.option(form.Flag,"))
                .chain(quoted_after(&src, "s.option(form.ListValue,"))
                .chain(quoted_after(&src, "s.option(form.DynamicList,"))
            {
                edited += 1;
                assert!(
                    documented.contains(opt),
                    "{name}.js edits option '{opt}', which hearth does not accept"
                );
            }
        }
        if !methods_called(&src).is_empty() {
            assert!(src.contains("'require rpc';"), "{name}");
        }
    }
    assert!(edited > 40, "the option scan found only {edited} options");
    let overview = views()
        .into_iter()
        .find(|(n, _)| n == "overview")
        .unwrap()
        .1;
    assert!(
        overview.contains("poll.add("),
        "the overview refreshes itself"
    );
    assert!(
        overview.contains("handleSaveApply: null"),
        "a read-only page has no Save"
    );
}
