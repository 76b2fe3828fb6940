//! The capability probe's answer, remembered in `runtime_dir` (tmpfs) so that `hearth apply`
//! does not create and delete a throwaway IFB every time: deleting a network device waits
//! for an RCU grace period (about 30 ms here), several times what a no-op re-apply costs.
//!
//! The answer is reused only while the kernel's qdisc/classifier modules cannot have changed:
//! same boot (`/proc/sys/kernel/random/boot_id`), same set of loaded modules (`/proc/modules`),
//! and the same modification time of `/lib/modules/RELEASE` (installing a kmod package adds a
//! file there). Anything unreadable means probe again.

use std::path::Path;

use super::Capabilities;
use crate::netlink::{shaping as exec, socket::NlError, socket::RouteSocket};

/// File name in `runtime_dir`.
pub const FILE: &str = "capabilities.json";

/// What the cached answer is valid for; `None` if it cannot be told.
fn fingerprint() -> Option<String> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let modules = std::fs::read_to_string("/proc/modules").unwrap_or_default();
    let mut names: Vec<&str> = modules
        .lines()
        .filter_map(|l| l.split(' ').next())
        .collect();
    names.sort_unstable();
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
    let mtime = std::fs::metadata(format!("/lib/modules/{}", release.trim()))
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    Some(format!(
        "{} {:016x} {mtime}",
        boot.trim(),
        crate::budget::store::fnv1a64(names.join(",").as_bytes())
    ))
}

/// The capabilities: from the cache in `runtime_dir` when still valid (`true`), else probed
/// now and remembered (`false`).
pub fn probe(sock: &mut RouteSocket, runtime_dir: &Path) -> Result<(Capabilities, bool), NlError> {
    let path = runtime_dir.join(FILE);
    let print = fingerprint();
    if let (Some(fp), Ok(text)) = (&print, std::fs::read_to_string(&path)) {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
            if v["fingerprint"].as_str() == Some(fp.as_str()) {
                let b = |k: &str| v[k].as_bool();
                if let (Some(cake), Some(fq_codel), Some(fw)) = (b("cake"), b("fq_codel"), b("fw"))
                {
                    return Ok((Capabilities { cake, fq_codel, fw }, true));
                }
            }
        }
    }
    let caps = exec::probe(sock)?;
    // The probe may have loaded modules: fingerprint what is there now.
    if let Some(fp) = fingerprint() {
        let v = serde_json::json!({"fingerprint": fp, "cake": caps.cake, "fq_codel": caps.fq_codel, "fw": caps.fw});
        let tmp = path.with_extension("tmp");
        let saved = std::fs::create_dir_all(runtime_dir)
            .and_then(|()| std::fs::write(&tmp, v.to_string()))
            .and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(e) = saved {
            log::debug!(
                "cannot remember the capability probe in {}: {e}",
                path.display()
            );
        }
    }
    Ok((caps, false))
}
