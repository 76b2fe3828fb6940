//! A UCI file as an editable document that round-trips losslessly.
//!
//! The document keeps the original text. An edit computes the smallest splices of that text
//! (replace one statement, drop the lines of deleted statements, insert a line after a
//! section's last statement), applies them, and parses the result again, so the tree and the
//! text never disagree and every byte outside the edited statements is kept: comments,
//! blank lines, indentation, quoting style and order. Saving is atomic (temp file in the same
//! directory, fsync, rename, fsync of the directory) under the same `flock` libuci takes.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::error::{SyntaxError, UciError};
use super::parser::{parse, Parsed};
use super::show::{quote, type_token};
use super::tree::{Package, SectionRef};
use super::validate::{is_valid_name, is_valid_package, is_valid_type};

/// An editable UCI file.
#[derive(Debug, Clone)]
pub struct Document {
    /// Current text; edits splice into it.
    text: String,
    /// The parse of `text`, kept in step after every edit.
    pub(crate) parsed: Parsed,
}

/// One replacement of `start..end` of the text by `with`.
struct Splice {
    start: usize,
    end: usize,
    with: String,
}

impl Document {
    /// Parses `text` as package `name`.
    pub fn parse(name: &str, text: &str) -> Result<Document, Vec<SyntaxError>> {
        let parsed = parse(name, text)?;
        Ok(Document {
            text: text.to_string(),
            parsed,
        })
    }

    /// Reads and parses a file; the package is named after the file, as libuci does.
    pub fn load(path: &Path) -> Result<Document, UciError> {
        let bytes = fs::read(path).map_err(|source| UciError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let text = decode(path, bytes)?;
        Document::parse(&package_name(path), &text).map_err(|errors| UciError::Syntax {
            path: path.to_path_buf(),
            errors,
        })
    }

    /// The current text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The current tree.
    pub fn package(&self) -> &Package {
        &self.parsed.package
    }

    /// Writes the current text to `path` atomically.
    pub fn save(&self, path: &Path) -> Result<(), UciError> {
        write_atomic(path, self.text.as_bytes()).map_err(|source| UciError::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    fn section_index(&self, section: &SectionRef) -> Result<usize, UciError> {
        self.package()
            .find(section)
            .ok_or_else(|| UciError::Edit(format!("no section '{section}'")))
    }

    /// Sets option `name` of `section` to a single value. An empty value deletes the option
    /// (as `uci set pkg.sec.opt=''` does). A list of that name becomes an option.
    pub fn set_option(
        &mut self,
        section: &SectionRef,
        name: &str,
        value: &str,
    ) -> Result<(), UciError> {
        if value.is_empty() {
            return self.delete_option(section, name);
        }
        self.set_values(section, name, &[value], false)
    }

    /// Replaces option `name` of `section` by a list of `values` (empty: deletes it).
    pub fn set_list(
        &mut self,
        section: &SectionRef,
        name: &str,
        values: &[&str],
    ) -> Result<(), UciError> {
        if values.is_empty() {
            return self.delete_option(section, name);
        }
        self.set_values(section, name, values, true)
    }

    fn set_values(
        &mut self,
        section: &SectionRef,
        name: &str,
        values: &[&str],
        list: bool,
    ) -> Result<(), UciError> {
        check_name("option", name)?;
        for v in values {
            check_value(v)?;
        }
        let sec = self.section_index(section)?;
        let keyword = if list { "list" } else { "option" };
        let lines: Vec<String> = values
            .iter()
            .map(|v| format!("{keyword} {name} {}", quote(v)))
            .collect();
        let s = &self.package().sections[sec];
        let mut splices = Vec::new();
        if let Some(opt) = s.option(name) {
            // Rewrite the first statement of the option, drop the others.
            let first = &self.parsed.stmts[opt.stmts[0]];
            let whole = self.whole_lines(opt.stmts[0]).is_some();
            let sep = if whole {
                format!("\n{}", self.indent_of(opt.stmts[0]))
            } else {
                "; ".to_string()
            };
            splices.push(Splice {
                start: first.start.offset,
                end: first.end,
                with: lines.join(&sep),
            });
            for &st in &opt.stmts[1..] {
                splices.push(self.removal(st));
            }
        } else {
            let indent = s
                .options
                .last()
                .and_then(|o| o.stmts.last())
                .filter(|&&st| self.whole_lines(st).is_some())
                .map(|&st| self.indent_of(st))
                .unwrap_or_else(|| "\t".to_string());
            splices.push(self.insertion_after_section(sec, &lines, &indent));
        }
        self.apply(splices)
    }

    /// Deletes option `name` of `section`; deleting a missing option is not an error.
    pub fn delete_option(&mut self, section: &SectionRef, name: &str) -> Result<(), UciError> {
        let sec = self.section_index(section)?;
        let Some(opt) = self.package().sections[sec].option(name) else {
            return Ok(());
        };
        let splices = opt.stmts.iter().map(|&st| self.removal(st)).collect();
        self.apply(splices)
    }

    /// Appends a new section at the end of the file and returns a reference to it.
    pub fn add_section(&mut self, stype: &str, name: Option<&str>) -> Result<SectionRef, UciError> {
        if !is_valid_type(stype) {
            return Err(UciError::Edit(format!(
                "invalid section type '{stype}': expected printable characters without blanks"
            )));
        }
        if let Some(n) = name {
            check_name("section", n)?;
            if self.package().find(&SectionRef::Named(n.into())).is_some() {
                return Err(UciError::Edit(format!("section '{n}' already exists")));
            }
        }
        let mut text = String::new();
        if !self.text.is_empty() && !self.text.ends_with('\n') {
            text.push('\n');
        }
        if !self.text.is_empty() && !self.text.ends_with("\n\n") {
            text.push('\n');
        }
        text.push_str(&format!("config {}", type_token(stype)));
        if let Some(n) = name {
            text.push(' ');
            text.push_str(&quote(n));
        }
        text.push('\n');
        let end = self.text.len();
        self.apply(vec![Splice {
            start: end,
            end,
            with: text,
        }])?;
        Ok(match name {
            Some(n) => SectionRef::Named(n.to_string()),
            None => SectionRef::Indexed {
                stype: stype.to_string(),
                index: -1,
            },
        })
    }

    /// Deletes a section with all its options (comments between them stay).
    pub fn delete_section(&mut self, section: &SectionRef) -> Result<(), UciError> {
        let sec = self.section_index(section)?;
        let s = &self.package().sections[sec];
        let mut stmts: Vec<usize> = s.config_stmts.clone();
        for o in &s.options {
            stmts.extend(&o.stmts);
        }
        let splices = stmts.iter().map(|&st| self.removal(st)).collect();
        self.apply(splices)
    }

    // === text surgery ===

    /// If statement `st` is alone on its line(s) (only blanks before it; only blanks, `;` and
    /// a comment after it), the byte range of those whole lines including the line break.
    fn whole_lines(&self, st: usize) -> Option<(usize, usize)> {
        let stmt = &self.parsed.stmts[st];
        let b = self.text.as_bytes();
        let ls = line_start(b, stmt.start.offset);
        if !b[ls..stmt.start.offset]
            .iter()
            .all(|c| matches!(c, b' ' | b'\t'))
        {
            return None;
        }
        let mut i = stmt.end;
        while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\r' | b';') {
            i += 1;
        }
        if i < b.len() && b[i] == b'#' {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        }
        match b.get(i) {
            None => Some((ls, i)),
            Some(b'\n') => Some((ls, i + 1)),
            Some(_) => None,
        }
    }

    /// Leading blanks of the line statement `st` starts on.
    fn indent_of(&self, st: usize) -> String {
        let stmt = &self.parsed.stmts[st];
        let ls = line_start(self.text.as_bytes(), stmt.start.offset);
        self.text[ls..stmt.start.offset].to_string()
    }

    /// The splice that removes statement `st`: its whole lines when it is alone on them,
    /// otherwise just the statement and a `;` that ended it.
    fn removal(&self, st: usize) -> Splice {
        if let Some((start, end)) = self.whole_lines(st) {
            return Splice {
                start,
                end,
                with: String::new(),
            };
        }
        let stmt = &self.parsed.stmts[st];
        let b = self.text.as_bytes();
        let mut end = stmt.end;
        while end < b.len() && matches!(b[end], b' ' | b'\t') {
            end += 1;
        }
        if end < b.len() && b[end] == b';' {
            end += 1;
            while end < b.len() && matches!(b[end], b' ' | b'\t') {
                end += 1;
            }
        }
        Splice {
            start: stmt.start.offset,
            end,
            with: String::new(),
        }
    }

    /// Inserts `lines` as new statements right after the last statement of section `sec`.
    fn insertion_after_section(&self, sec: usize, lines: &[String], indent: &str) -> Splice {
        let s = &self.package().sections[sec];
        let last = s
            .config_stmts
            .iter()
            .chain(s.options.iter().flat_map(|o| o.stmts.iter()))
            .copied()
            .max_by_key(|&st| self.parsed.stmts[st].start.offset)
            .unwrap_or(s.config_stmts[0]);
        match self.whole_lines(last) {
            Some((_, end)) => {
                let mut with = String::new();
                if end == self.text.len() && !self.text.ends_with('\n') {
                    with.push('\n');
                }
                for l in lines {
                    with.push_str(indent);
                    with.push_str(l);
                    with.push('\n');
                }
                Splice {
                    start: end,
                    end,
                    with,
                }
            }
            None => {
                let at = self.parsed.stmts[last].end;
                let mut with = String::new();
                for l in lines {
                    with.push_str("; ");
                    with.push_str(l);
                }
                Splice {
                    start: at,
                    end: at,
                    with,
                }
            }
        }
    }

    /// Applies non-overlapping splices (merging ranges that touch) and re-parses.
    fn apply(&mut self, mut splices: Vec<Splice>) -> Result<(), UciError> {
        splices.sort_by_key(|s| (s.start, s.end));
        let mut merged: Vec<Splice> = Vec::new();
        for s in splices {
            if let Some(prev) = merged.last_mut() {
                if s.start < prev.end {
                    prev.end = prev.end.max(s.end);
                    prev.with.push_str(&s.with);
                    continue;
                }
            }
            merged.push(s);
        }
        let mut text = self.text.clone();
        for s in merged.iter().rev() {
            text.replace_range(s.start..s.end, &s.with);
        }
        let parsed = parse(&self.package().name, &text).map_err(|errs| {
            // Unreachable for the edits above (they only write well-formed statements);
            // refusing is still better than keeping a document whose text does not parse.
            UciError::Edit(format!(
                "internal error: edit produced unparsable text: {}",
                errs.first().map(|e| e.to_string()).unwrap_or_default()
            ))
        })?;
        self.text = text;
        self.parsed = parsed;
        Ok(())
    }
}

fn line_start(b: &[u8], at: usize) -> usize {
    b[..at]
        .iter()
        .rposition(|&c| c == b'\n')
        .map_or(0, |i| i + 1)
}

fn check_name(what: &str, name: &str) -> Result<(), UciError> {
    if is_valid_name(name) {
        Ok(())
    } else {
        Err(UciError::Edit(format!(
            "invalid {what} name '{name}': names use only letters, digits and '_'"
        )))
    }
}

fn check_value(v: &str) -> Result<(), UciError> {
    if v.contains('\0') {
        Err(UciError::Edit("a value cannot contain a NUL byte".into()))
    } else {
        Ok(())
    }
}

/// The package name of a file: its base name (libuci loads `/path/NAME` as package `NAME`).
pub fn package_name(path: &Path) -> String {
    let base = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if is_valid_package(&base) {
        base
    } else {
        // A name libuci would refuse (`demo.conf`): keep what is valid so `show` stays usable.
        let cleaned: String = base
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if cleaned.is_empty() {
            "config".into()
        } else {
            cleaned
        }
    }
}

/// Turns file bytes into text, naming the line and column of the first invalid byte.
pub fn decode(path: &Path, bytes: Vec<u8>) -> Result<String, UciError> {
    String::from_utf8(bytes).map_err(|e| {
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = good.iter().filter(|&&c| c == b'\n').count() as u32 + 1;
        let line_begin = good.iter().rposition(|&c| c == b'\n').map_or(0, |i| i + 1);
        let col = String::from_utf8_lossy(&good[line_begin..]).chars().count() as u32 + 1;
        UciError::NotText {
            path: path.to_path_buf(),
            line,
            col,
        }
    })
}

/// Replaces `path` with `contents` so that a crash or power loss leaves either the old or the
/// new file, never a mix: write a temp file next to it, fsync, keep the old file's mode,
/// rename over it, fsync the directory. A symlinked path is written through to its target
/// (as libuci does with `realpath`). The old file is `flock`ed while we work, like libuci.
pub fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let target: PathBuf = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let base = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "config".into());
    let existing = fs::File::open(&target).ok();
    if let Some(f) = &existing {
        f.lock()?;
    }
    let mode = existing.as_ref().and_then(|f| f.metadata().ok()).map(|m| {
        use std::os::unix::fs::PermissionsExt;
        m.permissions().mode()
    });
    let tmp = unique_temp(&dir, &base);
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(contents)?;
        if let Some(mode) = mode {
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(fs::Permissions::from_mode(mode))?;
        }
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, &target)?;
        fs::File::open(&dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn unique_temp(dir: &Path, base: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    dir.join(format!(
        ".{base}.hearth-{}-{nanos:08x}-{n}",
        std::process::id()
    ))
}
