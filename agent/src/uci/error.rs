//! Errors of the UCI layer: syntax errors with `LINE:COL`, edit errors, I/O errors.

use std::fmt;
use std::path::PathBuf;

use super::lexer::Pos;

/// A malformed statement: where it is and what was expected there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// 1-based line of the offending text.
    pub line: u32,
    /// 1-based column (characters) of the offending text.
    pub col: u32,
    /// What is wrong and what was expected, for a human.
    pub message: String,
}

impl SyntaxError {
    pub(crate) fn new(pos: Pos, message: String) -> Self {
        SyntaxError {
            line: pos.line,
            col: pos.col,
            message,
        }
    }
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.col, self.message)
    }
}

/// Everything that can go wrong when loading, editing or saving a UCI file.
#[derive(Debug, thiserror::Error)]
pub enum UciError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid UTF-8 text.
    #[error("{path}:{line}:{col}: the file is not UTF-8 text")]
    NotText { path: PathBuf, line: u32, col: u32 },
    /// One or more malformed statements; each is printed on its own line as `FILE:LINE:COL: msg`.
    #[error("{}", render_syntax(path, errors))]
    Syntax {
        path: PathBuf,
        errors: Vec<SyntaxError>,
    },
    /// An edit named something that does not exist or is not a valid UCI name.
    #[error("{0}")]
    Edit(String),
}

fn render_syntax(path: &std::path::Path, errors: &[SyntaxError]) -> String {
    let mut out = String::new();
    for (i, e) in errors.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&format!("{}:{}", path.display(), e));
    }
    out
}
