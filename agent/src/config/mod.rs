//! The typed model of `/etc/config/hearth` and its validation.
//!
//! `load` reads the file with the UCI engine, builds each section with its typed reader
//! (unknown types and options are errors with a suggestion), then checks what spans sections:
//! references (a device's group, a route's endpoints, ...), uniqueness (MACs, addresses,
//! tables, marks) and combinations (`on_exhaust downgrade` needs a route). Every problem is
//! collected, so one run of `hearth check` lists them all, each as
//! `PATH:LINE: section 'NAME' (TYPE) option 'OPT': message`.

mod build;
pub mod error;
pub mod model;
mod reader;
pub mod suggest;
mod validate;
pub mod values;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

pub use build::SECTION_TYPES;
pub use error::{ConfigError, LoadError};
pub use model::*;
pub use values::{Bytes, Cidr, Dbm, Fwmark, Kbps, Mac, Money, Url};

use crate::uci::{Document, Package};
use reader::SectionReader;

/// Section types other sections refer to by name, so an anonymous one is a mistake.
const REFERABLE: &[&str] = &["group", "vpn", "route"];

/// Where hearth looks for its config when neither `--config` nor `HEARTH_CONFIG` is given.
pub const DEFAULT_PATH: &str = "/etc/config/hearth";

/// Reads and validates the config file at `path`.
pub fn load(path: &Path) -> Result<Config, LoadError> {
    let doc = Document::load(path)?;
    from_package(doc.package(), path)
}

/// Validates an already parsed package (`path` is used in messages).
pub fn from_package(pkg: &Package, path: &Path) -> Result<Config, LoadError> {
    let mut errors = Vec::new();
    let mut cfg = Config {
        path: path.to_path_buf(),
        agent: Agent::default(),
        shapers: Vec::new(),
        groups: Vec::new(),
        devices: Vec::new(),
        vpns: Vec::new(),
        wireguard_peers: Vec::new(),
        balancer: None,
        endpoints: Vec::new(),
        routes: Vec::new(),
        planners: Vec::new(),
    };
    let mut first_of: Vec<(&str, u32)> = Vec::new();
    for (idx, section) in pkg.sections.iter().enumerate() {
        let name = pkg.section_ref(idx);
        let mut r = SectionReader::new(path, section, name, &mut errors);
        let stype = section.stype.as_str();
        if matches!(stype, "agent" | "balancer") {
            if let Some((_, line)) = first_of.iter().find(|(t, _)| *t == stype) {
                let msg = format!(
                    "only one '{stype}' section is allowed; the first one is on line {line}"
                );
                let l = r.line();
                r.error(None, l, msg);
                continue;
            }
            first_of.push((stype, section.line));
        }
        if section.name.is_none() && REFERABLE.contains(&stype) {
            let l = r.line();
            r.error(
                None,
                l,
                format!("needs a name (config {stype} 'NAME'): other sections refer to it by name"),
            );
        }
        match stype {
            "agent" => cfg.agent = build::agent(&mut r),
            "shaper" => cfg.shapers.push(build::shaper(&mut r)),
            "group" => cfg.groups.push(build::group(&mut r)),
            "device" => cfg.devices.push(build::device(&mut r)),
            "vpn" => cfg.vpns.push(build::vpn(&mut r)),
            "wireguard_peer" => cfg.wireguard_peers.push(build::wireguard_peer(&mut r)),
            "balancer" => cfg.balancer = Some(build::balancer(&mut r)),
            "endpoint" => cfg.endpoints.push(build::endpoint(&mut r)),
            "route" => cfg.routes.push(build::route(&mut r)),
            "planner" => cfg.planners.push(build::planner(&mut r)),
            other => {
                let hint = match suggest::closest(other, SECTION_TYPES) {
                    Some(t) => format!("unknown section type '{other}' (did you mean '{t}'?)"),
                    None => format!(
                        "unknown section type '{other}' (known: {})",
                        SECTION_TYPES.join(", ")
                    ),
                };
                let l = r.line();
                r.error(None, l, hint);
                continue;
            }
        }
        r.finish();
    }
    validate::cross_check(&cfg, pkg, path, &mut errors);
    if errors.is_empty() {
        Ok(cfg)
    } else {
        errors.sort_by_key(|e| e.line);
        Err(LoadError::Invalid(errors))
    }
}

/// The config path to use: `--config`, else a non-empty `$HEARTH_CONFIG`, else
/// [`DEFAULT_PATH`].
pub fn resolve_path(cli: Option<PathBuf>) -> PathBuf {
    cli.or_else(|| {
        std::env::var_os("HEARTH_CONFIG")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    })
    .unwrap_or_else(|| PathBuf::from(DEFAULT_PATH))
}

/// The options each section type accepts, in the order the readers ask for them (the schema,
/// for documentation checks and for LuCI).
pub fn known_options(stype: &str) -> Vec<&'static str> {
    let section = crate::uci::Section {
        stype: stype.to_string(),
        name: Some("x".into()),
        options: Vec::new(),
        line: 1,
        config_stmts: vec![0],
    };
    let mut errors = Vec::new();
    let path = Path::new("-");
    let mut r = SectionReader::new(path, &section, "x".into(), &mut errors);
    match stype {
        "agent" => drop(build::agent(&mut r)),
        "shaper" => drop(build::shaper(&mut r)),
        "group" => drop(build::group(&mut r)),
        "device" => drop(build::device(&mut r)),
        "vpn" => drop(build::vpn(&mut r)),
        "wireguard_peer" => drop(build::wireguard_peer(&mut r)),
        "balancer" => drop(build::balancer(&mut r)),
        "endpoint" => drop(build::endpoint(&mut r)),
        "route" => drop(build::route(&mut r)),
        "planner" => drop(build::planner(&mut r)),
        _ => return Vec::new(),
    }
    r.finish()
}
