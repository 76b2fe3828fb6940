//! Lexer: UCI text -> statements with byte spans.
//!
//! The grammar is the one libuci's `file.c` accepts (see `../shared/OPENWRT-NOTES.md`):
//! a statement is a keyword (`package`/`config`/`option`/`list`, or `p`/`c`/`o`/`l`) followed
//! by arguments; it ends at a newline, a `;` or a `#` comment. An argument is made of
//! concatenated pieces: `'single'` (literal, may span lines), `"double"` (a backslash keeps the
//! next character and drops itself, backslash-newline joins lines) and unquoted runs (a
//! backslash keeps the next character; backslash-newline continues the statement on the next
//! line). CRLF line endings are accepted and the CR never becomes part of a value.
//!
//! Every statement records where it starts and ends in the source so that the writer can
//! splice edits into the original text and keep everything else byte-identical. The lexer
//! recovers from an error by skipping the rest of the line, so one run reports every
//! malformed statement of a file, not just the first (at most one per statement).

use super::error::SyntaxError;

/// A position in the source: byte offset plus the 1-based line and column a human sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    /// Byte offset into the source; what the writer splices with.
    pub offset: usize,
    /// 1-based line number, for `FILE:LINE` messages.
    pub line: u32,
    /// 1-based column counted in characters, for `FILE:LINE:COL` messages.
    pub col: u32,
}

/// The four UCI commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    Package,
    Config,
    Option,
    List,
}

impl Keyword {
    /// The spelling used in messages and when writing new statements.
    pub fn as_str(self) -> &'static str {
        match self {
            Keyword::Package => "package",
            Keyword::Config => "config",
            Keyword::Option => "option",
            Keyword::List => "list",
        }
    }
}

/// One decoded argument of a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arg {
    /// The value after quote removal and escape handling.
    pub value: String,
    /// Where the raw argument text starts (for error columns).
    pub start: Pos,
}

/// One statement (`config wan 'x'`, `option a b`, ...) as it appears in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// Which command this is.
    pub keyword: Keyword,
    /// Start of the keyword: the first byte the writer replaces when it rewrites the statement.
    pub start: Pos,
    /// Byte offset just past the last argument: trailing `;`, blanks and comments are not part
    /// of the statement, so rewriting it keeps them.
    pub end: usize,
    /// The decoded arguments, in order.
    pub args: Vec<Arg>,
}

/// Splits `src` into statements. Returns every statement that lexed cleanly and every
/// syntax error found (one per bad line at most).
pub fn lex(src: &str) -> (Vec<Statement>, Vec<SyntaxError>) {
    let mut lx = Lexer {
        src,
        b: src.as_bytes(),
        i: 0,
        line: 1,
        col: 1,
        deferred: None,
    };
    let mut stmts = Vec::new();
    let mut errors = Vec::new();
    loop {
        lx.skip_blank(true);
        let Some(c) = lx.peek() else { break };
        match c {
            b';' => {
                lx.bump();
                continue;
            }
            b'#' => {
                lx.skip_comment();
                continue;
            }
            _ => {}
        }
        let result = lx.statement();
        // A NUL was found inside the statement: it was lexed to its real end (a quoted value
        // may go on for lines) so lexing resumes at the right place; the statement is dropped.
        let nul = lx.deferred.take();
        match (result, nul) {
            (Ok(_), Some(e)) => errors.push(e),
            (Ok(stmt), None) => stmts.push(stmt),
            (Err(err), nul) => {
                errors.extend(nul);
                errors.push(err);
                lx.skip_line();
            }
        }
    }
    (stmts, errors)
}

/// Cursor over the source bytes with line/column bookkeeping.
struct Lexer<'a> {
    /// The whole text, for slicing multi-byte characters out.
    src: &'a str,
    /// The same text as bytes; every syntax character is ASCII.
    b: &'a [u8],
    /// Current byte offset.
    i: usize,
    /// Current 1-based line.
    line: u32,
    /// Current 1-based column (characters).
    col: u32,
    /// A NUL byte seen in the current statement: reported once the statement is lexed.
    deferred: Option<SyntaxError>,
}

impl Lexer<'_> {
    fn pos(&self) -> Pos {
        Pos {
            offset: self.i,
            line: self.line,
            col: self.col,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn peek_at(&self, n: usize) -> Option<u8> {
        self.b.get(self.i + n).copied()
    }

    /// Advances one byte, keeping line and column right (columns count characters, so UTF-8
    /// continuation bytes do not move the column).
    fn bump(&mut self) {
        let c = self.b[self.i];
        self.i += 1;
        if c == b'\n' {
            self.line += 1;
            self.col = 1;
        } else if c & 0xC0 != 0x80 {
            self.col += 1;
        }
    }

    /// Length of a line break starting at the cursor + `n` (`\n` or `\r\n`), or 0.
    fn newline_len_at(&self, n: usize) -> usize {
        match (self.peek_at(n), self.peek_at(n + 1)) {
            (Some(b'\n'), _) => 1,
            (Some(b'\r'), Some(b'\n')) => 2,
            _ => 0,
        }
    }

    /// Skips blanks; with `newlines`, line breaks too. A backslash directly before a line
    /// break is a continuation and counts as blank.
    fn skip_blank(&mut self, newlines: bool) {
        while let Some(c) = self.peek() {
            match c {
                b' ' | b'\t' | b'\x0b' | b'\x0c' => self.bump(),
                b'\r' if self.peek_at(1) != Some(b'\n') || newlines => self.bump(),
                b'\n' if newlines => self.bump(),
                b'\\' if self.newline_len_at(1) > 0 => {
                    let n = 1 + self.newline_len_at(1);
                    for _ in 0..n {
                        self.bump();
                    }
                }
                _ => break,
            }
        }
    }

    fn skip_comment(&mut self) {
        while let Some(c) = self.peek() {
            if c == b'\n' {
                break;
            }
            self.bump();
        }
    }

    /// Error recovery: drop the rest of the current line.
    fn skip_line(&mut self) {
        self.skip_comment();
    }

    fn statement(&mut self) -> Result<Statement, SyntaxError> {
        let start = self.pos();
        while let Some(c) = self.peek() {
            if matches!(
                c,
                b' ' | b'\t' | b'\r' | b'\n' | b';' | b'#' | b'\x0b' | b'\x0c'
            ) {
                break;
            }
            self.bump();
        }
        let word = &self.src[start.offset..self.i];
        let keyword = match word {
            "package" | "p" => Keyword::Package,
            "config" | "c" => Keyword::Config,
            "option" | "o" => Keyword::Option,
            "list" | "l" => Keyword::List,
            _ => {
                return Err(SyntaxError::new(
                    start,
                    format!(
                        "invalid command '{}': expected 'package', 'config', 'option' or 'list'",
                        shorten(word)
                    ),
                ))
            }
        };
        let mut args = Vec::new();
        let mut end = self.i;
        loop {
            self.skip_blank(false);
            match self.peek() {
                None | Some(b'\n') | Some(b'#') => break,
                Some(b'\r') => break, // only a CRLF's CR reaches here
                Some(b';') => {
                    self.bump();
                    break;
                }
                Some(_) => {
                    let arg = self.argument()?;
                    end = self.i;
                    args.push(arg);
                }
            }
        }
        Ok(Statement {
            keyword,
            start,
            end,
            args,
        })
    }

    /// One argument: quoted and unquoted pieces glued together until a blank, `;`, `#` or
    /// the end of the line.
    fn argument(&mut self) -> Result<Arg, SyntaxError> {
        let start = self.pos();
        let mut value = String::new();
        while let Some(c) = self.peek() {
            match c {
                b' ' | b'\t' | b'\n' | b';' | b'#' | b'\x0b' | b'\x0c' => break,
                b'\r' => break, // CRLF ends the line; a lone CR is a blank
                b'\'' => self.single_quoted(&mut value)?,
                b'"' => self.double_quoted(&mut value)?,
                b'\\' => {
                    let nl = self.newline_len_at(1);
                    if nl > 0 {
                        // Continuation inside a word: the word goes on at the next line.
                        for _ in 0..=nl {
                            self.bump();
                        }
                    } else if self.peek_at(1).is_none() {
                        self.bump();
                    } else {
                        self.bump();
                        self.take_char(&mut value)?;
                    }
                }
                _ => self.take_char(&mut value)?,
            }
        }
        Ok(Arg { value, start })
    }

    /// Copies one (possibly multi-byte) character into `out`. NUL is refused (libuci cannot
    /// represent it and it is never intended in a config file): the error is deferred to the
    /// end of the statement and the byte skipped.
    fn take_char(&mut self, out: &mut String) -> Result<(), SyntaxError> {
        if self.b[self.i] == 0 {
            if self.deferred.is_none() {
                self.deferred = Some(SyntaxError::new(
                    self.pos(),
                    "NUL byte in value: config files are text".into(),
                ));
            }
            self.bump();
            return Ok(());
        }
        let ch_len = utf8_len(self.b[self.i]);
        let end = (self.i + ch_len).min(self.b.len());
        out.push_str(&self.src[self.i..end]);
        while self.i < end {
            self.bump();
        }
        Ok(())
    }

    fn single_quoted(&mut self, out: &mut String) -> Result<(), SyntaxError> {
        let open = self.pos();
        self.bump();
        loop {
            match self.peek() {
                None => {
                    return Err(SyntaxError::new(
                        open,
                        "unterminated single-quoted string: expected a closing ' before the end of the file".into(),
                    ))
                }
                Some(b'\'') => {
                    self.bump();
                    return Ok(());
                }
                Some(b'\r') if self.peek_at(1) == Some(b'\n') => self.bump(),
                Some(_) => self.take_char(out)?,
            }
        }
    }

    fn double_quoted(&mut self, out: &mut String) -> Result<(), SyntaxError> {
        let open = self.pos();
        self.bump();
        loop {
            match self.peek() {
                None => {
                    return Err(SyntaxError::new(
                        open,
                        "unterminated double-quoted string: expected a closing \" before the end of the file".into(),
                    ))
                }
                Some(b'"') => {
                    self.bump();
                    return Ok(());
                }
                Some(b'\\') => {
                    let nl = self.newline_len_at(1);
                    if nl > 0 {
                        for _ in 0..=nl {
                            self.bump();
                        }
                    } else if self.peek_at(1).is_none() {
                        return Err(SyntaxError::new(
                            open,
                            "unterminated double-quoted string: the file ends after a backslash"
                                .into(),
                        ));
                    } else {
                        self.bump();
                        self.take_char(out)?;
                    }
                }
                Some(b'\r') if self.peek_at(1) == Some(b'\n') => self.bump(),
                Some(_) => self.take_char(out)?,
            }
        }
    }
}

/// Byte length of the UTF-8 sequence that starts with `lead` (the source is valid UTF-8).
fn utf8_len(lead: u8) -> usize {
    match lead {
        0x00..=0x7F => 1,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}

/// Keeps messages one line long when someone feeds a binary file.
fn shorten(word: &str) -> String {
    let mut s: String = word.chars().take(24).collect();
    if s.len() < word.len() {
        s.push('…');
    }
    s
}
