//! Reads one UCI section into typed values, collecting every problem instead of stopping.
//!
//! Each accessor marks the option name as known; `finish` then reports every option of the
//! section that nobody asked for (a typo such as `uplaod` is an error, never ignored) with the
//! closest known name. The set of names the readers ask for is therefore the schema:
//! `config::schema` runs them on empty sections to list it.

use std::path::Path;

use super::error::ConfigError;
use super::suggest::closest;
use crate::uci::{OptionKind, Section, UciOption};

/// Typed access to one section.
pub struct SectionReader<'a> {
    /// File name for messages.
    path: &'a Path,
    /// The section being read.
    section: &'a Section,
    /// Name for messages (`name` or `@type[N]`).
    name: String,
    /// Option names asked for so far: the known options of this section type.
    known: Vec<&'static str>,
    /// Problems found so far.
    errors: &'a mut Vec<ConfigError>,
}

impl<'a> SectionReader<'a> {
    pub fn new(
        path: &'a Path,
        section: &'a Section,
        name: String,
        errors: &'a mut Vec<ConfigError>,
    ) -> Self {
        SectionReader {
            path,
            section,
            name,
            known: Vec::new(),
            errors,
        }
    }

    /// The section's display name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Line of the section header.
    pub fn line(&self) -> u32 {
        self.section.line
    }

    /// Records a problem with option `option` (or the section itself) at `line`.
    pub fn error(&mut self, option: Option<&str>, line: u32, message: impl Into<String>) {
        self.errors.push(ConfigError {
            path: self.path.to_path_buf(),
            line,
            section: Some((self.name.clone(), self.section.stype.clone())),
            option: option.map(str::to_string),
            message: message.into(),
        });
    }

    fn raw(&mut self, name: &'static str) -> Option<&'a UciOption> {
        if !self.known.contains(&name) {
            self.known.push(name);
        }
        self.section.option(name)
    }

    /// The single string value of `name`, with list misuse reported.
    fn single(&mut self, name: &'static str) -> Option<(&'a str, u32)> {
        let o = self.raw(name)?;
        if o.kind == OptionKind::List {
            self.error(
                Some(name),
                o.kind_line,
                "takes one value: write 'option', not 'list'",
            );
            return None;
        }
        Some((o.values[0].as_str(), o.line()))
    }

    /// An optional value; a bad value is reported and read as `None`.
    pub fn opt<T>(
        &mut self,
        name: &'static str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Option<T> {
        let (raw, line) = self.single(name)?;
        match parse(raw) {
            Ok(v) => Some(v),
            Err(msg) => {
                self.error(Some(name), line, msg);
                None
            }
        }
    }

    /// A value with a default.
    pub fn get<T>(
        &mut self,
        name: &'static str,
        default: T,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> T {
        self.opt(name, parse).unwrap_or(default)
    }

    /// A required value: missing is an error on the section line.
    pub fn req<T>(
        &mut self,
        name: &'static str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Option<T> {
        let present = self.section.option(name).is_some();
        let v = self.opt(name, parse);
        if !present {
            let line = self.line();
            self.error(Some(name), line, "is required but missing");
        }
        v
    }

    /// A list (written with `list`, or a single `option`); each bad item is reported on its
    /// own line and left out.
    pub fn list<T>(
        &mut self,
        name: &'static str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Vec<(T, u32)> {
        let Some(o) = self.raw(name) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (v, &line) in o.values.iter().zip(&o.lines) {
            match parse(v) {
                Ok(t) => out.push((t, line)),
                Err(msg) => self.error(Some(name), line, msg),
            }
        }
        out
    }

    /// The line of option `name`, else of the section header.
    pub fn line_of(&self, name: &str) -> u32 {
        self.section
            .option(name)
            .map_or(self.section.line, |o| o.line())
    }

    /// Whether the section sets option `name` (marks it known).
    pub fn has(&mut self, name: &'static str) -> bool {
        self.raw(name).is_some()
    }

    /// Reports every option nobody asked for, with the closest known name.
    pub fn finish(mut self) -> Vec<&'static str> {
        let section = self.section;
        let unknown: Vec<&UciOption> = section
            .options
            .iter()
            .filter(|o| !self.known.contains(&o.name.as_str()))
            .collect();
        for o in unknown {
            let hint = match closest(&o.name, &self.known) {
                Some(k) => format!("unknown option (did you mean '{k}'?)"),
                None => format!(
                    "unknown option for a '{}' section (known: {})",
                    section.stype,
                    self.known.join(", ")
                ),
            };
            self.error(Some(&o.name), o.lines[0], hint);
        }
        self.known
    }
}
