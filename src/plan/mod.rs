//! Test plans: the YAML language V&V engineers write, checked before anything moves, and the
//! plan as the executor runs it ([`ast`]).
//!
//! `load` reads files → `yaml` (a located tree) → `expand` (one tree per case) → `decode`
//! (the [`ast`], located facts) → `validate` (the rules across steps); every error is a
//! [`diag::Diagnostic`] pointing at its token. `docs/plan-language.md` describes the language.

pub mod applicability;
pub mod ast;
pub mod commands;
pub mod coverage;
pub mod decode;
pub mod diag;
pub mod expand;
pub mod load;
pub mod requirements;
pub mod schema;
pub mod settings;
pub mod uncertainty;
pub mod units;
pub mod validate;
pub mod yaml;

pub use applicability::{not_applicable, not_applicable_given, not_applicable_on};
pub use ast::*;
pub use commands::{check_command, schema_json};
pub use coverage::{Coverage, coverage_doc};
pub use diag::Diagnostic;
pub use load::{FileReport, LoadOutcome, load_plans};
