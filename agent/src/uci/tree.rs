//! The parsed form of one UCI file: a package of sections of options.
//!
//! Besides the values, every element remembers the lines it came from (for `FILE:LINE`
//! messages in the typed config) and the statements that built it (so the writer knows which
//! text to rewrite). Statement indices point into the statement list of the same parse.

use std::fmt;
use std::str::FromStr;

/// One config file.
#[derive(Debug, Clone, Default)]
pub struct Package {
    /// Package name: the file's base name, as libuci names a file it loads by path.
    pub name: String,
    /// Sections in file order (a re-opened named section keeps its first position).
    pub sections: Vec<Section>,
}

/// A `config TYPE [NAME]` block.
#[derive(Debug, Clone)]
pub struct Section {
    /// The section type (`device`, `endpoint`, ...).
    pub stype: String,
    /// The section name; `None` for an anonymous section.
    pub name: Option<String>,
    /// Options in file order.
    pub options: Vec<UciOption>,
    /// Line of the (first) `config` statement, for messages.
    pub line: u32,
    /// Statements that opened this section (more than one when a named section is re-opened).
    pub(crate) config_stmts: Vec<usize>,
}

/// Whether an option was written with `option` or built with `list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionKind {
    Single,
    List,
}

/// One option or list of a section.
#[derive(Debug, Clone)]
pub struct UciOption {
    /// Option name.
    pub name: String,
    /// `option` (one value) or `list` (any number of values).
    pub kind: OptionKind,
    /// The value(s): exactly one for `Single`.
    pub values: Vec<String>,
    /// Line of each value, parallel to `values`, so a bad list item is reported on its line.
    pub lines: Vec<u32>,
    /// Line of the first `list` statement when this is a list (where "use option, not list"
    /// points); for a single option, its line.
    pub kind_line: u32,
    /// Statements that contributed (replaced values included), in file order.
    pub(crate) stmts: Vec<usize>,
}

impl UciOption {
    /// The line to report for the option as a whole (its last assignment).
    pub fn line(&self) -> u32 {
        self.lines.last().copied().unwrap_or(0)
    }

    /// The single value, or the values joined by a space for a list.
    pub fn joined(&self) -> String {
        self.values.join(" ")
    }
}

impl Section {
    /// Looks an option up by name.
    pub fn option(&self, name: &str) -> Option<&UciOption> {
        self.options.iter().find(|o| o.name == name)
    }
}

impl Package {
    /// How `uci show` names section `idx`: its name, or `@type[N]` where N counts every
    /// section of that type before it (named ones included).
    pub fn section_ref(&self, idx: usize) -> String {
        let s = &self.sections[idx];
        match &s.name {
            Some(n) => n.clone(),
            None => {
                let n = self.sections[..idx]
                    .iter()
                    .filter(|o| o.stype == s.stype)
                    .count();
                format!("@{}[{}]", s.stype, n)
            }
        }
    }

    /// Finds a section by reference (`name`, `@type[N]`, `@type[-1]`).
    pub fn find(&self, r: &SectionRef) -> Option<usize> {
        match r {
            SectionRef::Named(n) => self
                .sections
                .iter()
                .position(|s| s.name.as_deref() == Some(n)),
            SectionRef::Indexed { stype, index } => {
                let of_type: Vec<usize> = (0..self.sections.len())
                    .filter(|&i| self.sections[i].stype == *stype)
                    .collect();
                let i = if *index < 0 {
                    of_type.len().checked_sub(index.unsigned_abs() as usize)?
                } else {
                    *index as usize
                };
                of_type.get(i).copied()
            }
        }
    }

    /// The content without positions: `(type, name, [(option, kind, values)])` per section.
    /// Two parses of semantically equal files give equal plain forms.
    pub fn to_plain(&self) -> PlainPackage {
        self.sections
            .iter()
            .map(|s| PlainSection {
                stype: s.stype.clone(),
                name: s.name.clone(),
                options: s
                    .options
                    .iter()
                    .map(|o| (o.name.clone(), o.kind, o.values.clone()))
                    .collect(),
            })
            .collect()
    }
}

/// A section without positions, for comparing trees (tests, reload diffing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlainSection {
    pub stype: String,
    pub name: Option<String>,
    pub options: Vec<(String, OptionKind, Vec<String>)>,
}

/// A package without positions.
pub type PlainPackage = Vec<PlainSection>;

/// How callers point at a section: by name or by `@type[index]` like `uci` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionRef {
    Named(String),
    /// `@type[index]`; a negative index counts from the end (`-1` = last).
    Indexed {
        stype: String,
        index: i64,
    },
}

impl FromStr for SectionRef {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(rest) = s.strip_prefix('@') {
            let (stype, idx) = rest
                .strip_suffix(']')
                .and_then(|r| r.split_once('['))
                .ok_or_else(|| format!("bad section reference '{s}': expected @TYPE[INDEX]"))?;
            let index = idx
                .parse::<i64>()
                .map_err(|_| format!("bad section reference '{s}': index must be an integer"))?;
            if !super::validate::is_valid_type(stype) {
                return Err(format!("bad section reference '{s}': invalid type"));
            }
            Ok(SectionRef::Indexed {
                stype: stype.to_string(),
                index,
            })
        } else if super::validate::is_valid_name(s) {
            Ok(SectionRef::Named(s.to_string()))
        } else {
            Err(format!(
                "bad section name '{s}': names use only letters, digits and '_'"
            ))
        }
    }
}

impl fmt::Display for SectionRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SectionRef::Named(n) => f.write_str(n),
            SectionRef::Indexed { stype, index } => write!(f, "@{stype}[{index}]"),
        }
    }
}
