//! Helpers for hearth's end-to-end tests: find (or build) the `hearth` binary, run it.
//!
//! The kernel (netns), proxy, package and browser lanes of later issues live in this crate's
//! `tests/`; what they share lives here.

pub mod client;
pub mod daemon;
pub mod fake_upstream;
pub mod netns;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The workspace root (parent of this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests crate lives in the workspace")
        .to_path_buf()
}

/// Path of a built `hearth` binary: `$HEARTH_BIN` if set, otherwise the debug build of this
/// workspace, built once per test process with the same cargo that runs the tests.
pub fn hearth_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("HEARTH_BIN") {
            return PathBuf::from(p);
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "hearth", "--bin", "hearth"])
            .current_dir(workspace_root())
            .status()
            .expect("run cargo build for the hearth binary");
        assert!(status.success(), "cargo build -p hearth failed");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace_root().join("target"));
        target.join("debug").join("hearth")
    })
}

/// Runs `hearth ARGS` with a clean `HEARTH_CONFIG` and returns its output.
pub fn run_hearth(args: &[&str]) -> Output {
    Command::new(hearth_bin())
        .args(args)
        .env_remove("HEARTH_CONFIG")
        .output()
        .expect("spawn hearth")
}
