//! Config errors: every problem names the file, the line, the section and the option.

use std::fmt;
use std::path::PathBuf;

use crate::uci::UciError;

/// One problem in the config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file, as given on the command line.
    pub path: PathBuf,
    /// 1-based line of the option (or of the section header when no option is involved).
    pub line: u32,
    /// `(name, type)` of the section; the name is `@type[N]` for anonymous sections.
    pub section: Option<(String, String)>,
    /// The option, when the problem is about one.
    pub option: Option<String>,
    /// What is wrong and, where possible, what to write instead.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:", self.path.display(), self.line)?;
        let mut located = false;
        if let Some((name, stype)) = &self.section {
            write!(f, " section '{name}' ({stype})")?;
            located = true;
        }
        if let Some(o) = &self.option {
            write!(f, " option '{o}'")?;
            located = true;
        }
        if located {
            f.write_str(":")?;
        }
        write!(f, " {}", self.message)
    }
}

/// Why a config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file is missing, unreadable, not text, or not valid UCI.
    #[error("{0}")]
    Uci(#[from] UciError),
    /// The file is valid UCI but not a valid hearth config; every problem is listed.
    #[error("{}", render(.0))]
    Invalid(Vec<ConfigError>),
}

fn render(errors: &[ConfigError]) -> String {
    errors
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

impl LoadError {
    /// One line per problem, as `hearth check` prints them.
    pub fn lines(&self) -> Vec<String> {
        self.to_string().lines().map(str::to_string).collect()
    }
}
