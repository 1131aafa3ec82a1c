//! Test plans: the YAML language V&V engineers write, checked before anything moves, and the
//! plan as the executor runs it ([`ast`]).

pub mod ast;
pub mod diag;
pub mod requirements;
pub mod units;
pub mod yaml;

pub use ast::*;
