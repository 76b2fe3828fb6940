//! The planner as the config asks for it: pick the planner section, find and read its survey,
//! and plan. Shared by `hearth plan` (which adds `--survey`, `--ap`, ...), the rpcd `plan`
//! method LuCI calls, and the dashboard's `/plan` — so all three give the same report.
//!
//! Reading the survey is the only I/O; the rest is the pure planner.

use std::path::{Path, PathBuf};

use super::{csv, json, ApPlacement, Home, Plan, Problem, ReadOptions, Settings};
use crate::config::Config;

/// What to plan, beyond the config.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// Survey file; `None` = the planner section's `survey`.
    pub survey: Option<PathBuf>,
    /// Leave bad survey rows out (each one reported) instead of rejecting the file.
    pub skip_bad: bool,
    /// Extra AP placements; an id given here replaces the section's `list ap` entry.
    pub aps: Vec<ApPlacement>,
    /// The planner section to use; `None` = the first.
    pub planner: Option<String>,
    /// Run the mesh placement search (off only for the benchmark's baseline).
    pub search: bool,
    /// A live radio snapshot (`hearth plan --collect`) to add to the survey ([`super::live`]).
    pub snapshot: Option<PathBuf>,
}

/// A finished plan and what the report needs to say about its input.
pub struct Outcome {
    /// The plan.
    pub plan: Plan,
    /// The survey's name as the user gave it (shown in reports).
    pub input: String,
    /// Rows left out with `skip_bad`.
    pub skipped: Vec<Problem>,
    /// What the live snapshot changed (empty without `--snapshot`), for the text report.
    pub live: Vec<String>,
}

/// Why no plan was made.
#[derive(Debug)]
pub enum RunError {
    /// The request, config or survey is wrong: one message per line, for the user to fix.
    Invalid(Vec<String>),
    /// The survey could not be read.
    Io(String),
}

impl RunError {
    /// Every line of the message.
    pub fn lines(&self) -> Vec<String> {
        match self {
            RunError::Invalid(l) => l.clone(),
            RunError::Io(m) => vec![m.clone()],
        }
    }
}

/// Plans with `cfg` (the file at `config_path`; `None` = no config, defaults apply).
pub fn run(cfg: Option<&Config>, config_path: &Path, req: Request) -> Result<Outcome, RunError> {
    let section = match (&req.planner, cfg) {
        (Some(name), Some(c)) => match c.planners.iter().find(|p| &p.meta.name == name) {
            Some(p) => Some(p),
            None => {
                let known: Vec<&str> = c.planners.iter().map(|p| p.meta.name.as_str()).collect();
                return Err(RunError::Invalid(vec![format!(
                    "hearth plan: {} has no planner section '{name}' (known: {})",
                    config_path.display(),
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                )]));
            }
        },
        (None, Some(c)) => c.planners.first(),
        _ => None,
    };
    let mut settings = Settings {
        search: req.search,
        ..Default::default()
    };
    if let Some(c) = cfg {
        settings.currency = c.agent.currency.clone();
        let download = c.shapers.iter().map(|s| s.download.0).max().unwrap_or(0);
        settings.wan_mbps = (download > 0).then(|| download as f64 / 1000.0);
    }
    if let Some(p) = section {
        settings.target_rssi = p.target_rssi.0 as f64;
        settings.budget = p.budget.0 as f64 / 1e6;
        settings.resolution = p.resolution;
    }
    // The survey: as requested, else the section's, relative to the config's directory.
    let survey_path = match (&req.survey, section.and_then(|p| p.survey.as_ref())) {
        (Some(s), _) => s.clone(),
        (None, Some(s)) if s.is_relative() => config_path
            .parent()
            .map(|d| d.join(s))
            .unwrap_or_else(|| s.clone()),
        (None, Some(s)) => s.clone(),
        (None, None) => {
            let live = if req.snapshot.is_some() {
                " (a snapshot adds live radio data to a survey; it has no positions to map)"
            } else {
                ""
            };
            return Err(RunError::Invalid(vec![format!(
                "hearth plan: no survey file: give --survey FILE, or set option survey in the planner section of {}{live}",
                config_path.display()
            )]));
        }
    };
    // The snapshot first: a bad one fails before the survey is even read.
    let snapshot = match &req.snapshot {
        None => None,
        Some(p) => {
            let name = p.display().to_string();
            let text = std::fs::read_to_string(p).map_err(|e| {
                RunError::Io(format!("hearth plan: cannot read the snapshot {name}: {e}"))
            })?;
            let snap = crate::wifi::file::read(&text, &name)
                .map_err(|e| RunError::Invalid(vec![format!("hearth plan: {e}")]))?;
            Some((snap, name))
        }
    };
    let name = survey_path.display().to_string();
    let text = std::fs::read_to_string(&survey_path)
        .map_err(|e| RunError::Io(format!("hearth plan: cannot read the survey {name}: {e}")))?;
    // APs: the section's `list ap`, then the request's (same id: the request wins).
    let mut aps: Vec<ApPlacement> = section.map(|p| p.aps.clone()).unwrap_or_default();
    for a in req.aps {
        aps.retain(|x| x.id != a.id);
        aps.push(a);
    }
    let is_json = match survey_path.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("json") => true,
        Some(e) if e.eq_ignore_ascii_case("csv") => false,
        _ => text.trim_start().starts_with('{'),
    };
    let opts = ReadOptions {
        skip_bad: req.skip_bad,
        aps: aps.clone(),
    };
    let read = if is_json {
        json::read(&text, &name, &opts)
    } else {
        let home = Home {
            width: section.map_or(12.0, |p| p.width),
            height: section.map_or(9.0, |p| p.height),
            floors: section.map_or(1, |p| p.floors),
            wan_mbps: None,
        };
        csv::read(
            &text,
            &name,
            home,
            aps.iter().map(ApPlacement::to_ap).collect(),
            &opts,
        )
    };
    let mut read = read.map_err(|e| {
        let mut lines: Vec<String> = e.problems.iter().map(|p| p.to_string()).collect();
        if e.skippable {
            lines.push(format!(
                "hearth plan: {} bad row(s) in {name}: the survey is rejected; fix them, or use --skip-bad to leave them out",
                e.problems.len()
            ));
        }
        RunError::Invalid(lines)
    })?;
    if !is_json {
        for a in aps.iter().filter(|a| a.standard.is_none()) {
            read.survey.notes.push(format!(
                "AP '{}' is assumed to be Wi-Fi 5 (say ID:X,Y,FLOOR:wifi6 etc. to change it)",
                a.id
            ));
        }
    }
    let live = match &snapshot {
        Some((snap, name)) => {
            super::live::apply(&mut read.survey, snap, name, settings.target_rssi).notes
        }
        None => Vec::new(),
    };
    Ok(Outcome {
        plan: super::plan(read.survey, settings),
        input: name,
        skipped: read.skipped,
        live,
    })
}

/// The report LuCI and the dashboard show: the config's first planner section with its
/// survey, as `{"report": <what hearth plan --json prints>, "svg": "<svg ...>"}`.
pub fn report_for(cfg: &Config) -> Result<serde_json::Value, RunError> {
    if !cfg.planners.iter().any(|p| p.survey.is_some()) {
        return Err(RunError::Invalid(vec![format!(
            "no survey configured: add a 'config planner' section with option survey FILE to {} (see docs/planner.md)",
            cfg.path.display()
        )]));
    }
    let request = Request {
        search: true,
        ..Default::default()
    };
    let outcome = run(Some(cfg), &cfg.path, request)?;
    Ok(serde_json::json!({
        "report": super::report::to_json(&outcome.plan, &outcome.input, &outcome.skipped),
        "svg": super::svg::render(&outcome.plan),
    }))
}
