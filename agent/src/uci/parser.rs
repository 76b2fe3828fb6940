//! Parser: statements -> [`Package`], with libuci's semantics in strict mode.
//!
//! - `package NAME` is checked and otherwise ignored: a file loaded by path takes its base
//!   name as the package name (libuci `uci_file_load` + `uci_parse_package(single)`).
//! - `config TYPE [NAME]`: an empty or missing name makes an anonymous section; re-opening a
//!   named section with the same type merges into it (its position is kept), with another
//!   type is an error.
//! - `option NAME VALUE` sets or replaces in place; an empty value is ignored (an earlier value
//!   stays). `list NAME VALUE` appends; after an `option` of the same name it turns the option
//!   into a list `[old, new]` in place.
//! - More arguments than a command takes are "too many arguments".

use super::error::SyntaxError;
use super::lexer::{lex, Keyword, Statement};
use super::tree::{OptionKind, Package, Section, UciOption};
use super::validate::{is_valid_name, is_valid_package, is_valid_type};

/// The result of parsing: the tree plus the statements it was built from.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The package tree.
    pub package: Package,
    /// Every statement of the file in order; tree elements refer to these by index.
    pub stmts: Vec<Statement>,
}

/// Parses `src` as package `name`. On failure returns every syntax error found.
pub fn parse(name: &str, src: &str) -> Result<Parsed, Vec<SyntaxError>> {
    let (stmts, mut errors) = lex(src);
    let mut package = Package {
        name: name.to_string(),
        sections: Vec::new(),
    };
    let mut current = Current::NoSection;
    for (idx, st) in stmts.iter().enumerate() {
        if let Err(e) = apply(&mut package, &mut current, idx, st) {
            if st.keyword == Keyword::Config {
                // Options after a broken header belong to it: check their own syntax, but do
                // not also report them as "before the first section".
                current = Current::Broken;
            }
            errors.push(e);
        }
    }
    if errors.is_empty() {
        Ok(Parsed { package, stmts })
    } else {
        errors.sort_by_key(|e| (e.line, e.col));
        Err(errors)
    }
}

/// Which section `option`/`list` statements go into.
#[derive(Clone, Copy)]
enum Current {
    /// No `config` yet: options are an error.
    NoSection,
    /// The last `config` was malformed (already reported): options are checked, then dropped.
    Broken,
    /// Index of the open section.
    Section(usize),
}

fn err(st: &Statement, arg: Option<usize>, message: String) -> SyntaxError {
    let pos = match arg {
        Some(i) if i < st.args.len() => st.args[i].start,
        _ => st.start,
    };
    SyntaxError::new(pos, message)
}

fn check_arity(st: &Statement, min: usize, max: usize, usage: &str) -> Result<(), SyntaxError> {
    let kw = st.keyword.as_str();
    if st.args.len() < min {
        return Err(err(
            st,
            None,
            format!("'{kw}' needs more arguments: expected {usage}"),
        ));
    }
    if st.args.len() > max {
        return Err(err(
            st,
            Some(max),
            format!(
                "too many arguments to '{kw}': expected {usage} (quote values that contain spaces)"
            ),
        ));
    }
    Ok(())
}

fn apply(
    pkg: &mut Package,
    current: &mut Current,
    idx: usize,
    st: &Statement,
) -> Result<(), SyntaxError> {
    match st.keyword {
        Keyword::Package => {
            check_arity(st, 1, 1, "package NAME")?;
            if !is_valid_package(&st.args[0].value) {
                return Err(err(
                    st,
                    Some(0),
                    format!(
                        "invalid package name '{}': use letters, digits, '_' and '-'",
                        st.args[0].value
                    ),
                ));
            }
            Ok(())
        }
        Keyword::Config => {
            check_arity(st, 1, 2, "config TYPE ['NAME']")?;
            let stype = &st.args[0].value;
            if !is_valid_type(stype) {
                return Err(err(
                    st,
                    Some(0),
                    format!("invalid section type '{stype}': expected printable characters without blanks"),
                ));
            }
            let name = st.args.get(1).map(|a| a.value.as_str()).unwrap_or("");
            if name.is_empty() {
                pkg.sections.push(Section {
                    stype: stype.clone(),
                    name: None,
                    options: Vec::new(),
                    line: st.start.line,
                    config_stmts: vec![idx],
                });
                *current = Current::Section(pkg.sections.len() - 1);
                return Ok(());
            }
            if !is_valid_name(name) {
                return Err(err(
                    st,
                    Some(1),
                    format!(
                        "invalid section name '{name}': names use only letters, digits and '_'"
                    ),
                ));
            }
            if let Some(pos) = pkg
                .sections
                .iter()
                .position(|s| s.name.as_deref() == Some(name))
            {
                let existing = &mut pkg.sections[pos];
                if existing.stype != *stype {
                    return Err(err(
                        st,
                        Some(0),
                        format!(
                            "section '{name}' was declared with type '{}' on line {}; it cannot be re-opened as type '{stype}'",
                            existing.stype, existing.line
                        ),
                    ));
                }
                existing.config_stmts.push(idx);
                *current = Current::Section(pos);
            } else {
                pkg.sections.push(Section {
                    stype: stype.clone(),
                    name: Some(name.to_string()),
                    options: Vec::new(),
                    line: st.start.line,
                    config_stmts: vec![idx],
                });
                *current = Current::Section(pkg.sections.len() - 1);
            }
            Ok(())
        }
        Keyword::Option | Keyword::List => {
            let list = st.keyword == Keyword::List;
            let usage = if list {
                "list NAME 'VALUE'"
            } else {
                "option NAME 'VALUE'"
            };
            if let Current::NoSection = *current {
                return Err(err(
                    st,
                    None,
                    format!(
                        "'{}' before the first section: expected 'config TYPE [NAME]' first",
                        st.keyword.as_str()
                    ),
                ));
            }
            check_arity(st, 1, 2, usage)?;
            let name = &st.args[0].value;
            if !is_valid_name(name) {
                return Err(err(
                    st,
                    Some(0),
                    format!("invalid option name '{name}': names use only letters, digits and '_'"),
                ));
            }
            let Current::Section(sec) = *current else {
                return Ok(());
            };
            let value = st.args.get(1).map(|a| a.value.clone()).unwrap_or_default();
            let line = st.args.get(1).map_or(st.start.line, |a| a.start.line);
            let section = &mut pkg.sections[sec];
            let existing = section.options.iter_mut().find(|o| o.name == *name);
            match (existing, list) {
                (Some(o), false) => {
                    o.stmts.push(idx);
                    if !value.is_empty() {
                        o.kind = OptionKind::Single;
                        o.values = vec![value];
                        o.lines = vec![line];
                        o.kind_line = line;
                    }
                }
                (Some(o), true) => {
                    o.stmts.push(idx);
                    if o.kind == OptionKind::Single {
                        o.kind_line = line;
                    }
                    o.kind = OptionKind::List;
                    o.values.push(value);
                    o.lines.push(line);
                }
                (None, false) => {
                    if !value.is_empty() {
                        section.options.push(UciOption {
                            name: name.clone(),
                            kind: OptionKind::Single,
                            values: vec![value],
                            lines: vec![line],
                            kind_line: line,
                            stmts: vec![idx],
                        });
                    }
                }
                (None, true) => section.options.push(UciOption {
                    name: name.clone(),
                    kind: OptionKind::List,
                    values: vec![value],
                    lines: vec![line],
                    kind_line: line,
                    stmts: vec![idx],
                }),
            }
            Ok(())
        }
    }
}
