//! UCI: OpenWRT's configuration file format, in pure Rust (no libuci).
//!
//! - [`lexer`] splits text into statements with byte spans and `LINE:COL` positions;
//! - [`parser`] builds the [`Package`] tree with libuci's semantics (strict mode);
//! - [`document`] edits a file losslessly and saves it atomically;
//! - [`show`] prints `uci show` output and `uci export` text.
//!
//! The typed hearth configuration (`crate::config`) is built on the tree; everything here is
//! generic UCI and works on any `/etc/config/*` file.

pub mod document;
pub mod error;
pub mod lexer;
pub mod parser;
pub mod show;
pub mod tree;
pub mod validate;

#[cfg(test)]
mod tests;

pub use document::{write_atomic, Document};
pub use error::{SyntaxError, UciError};
pub use show::{export, quote, show};
pub use tree::{OptionKind, Package, PlainPackage, PlainSection, Section, SectionRef, UciOption};
