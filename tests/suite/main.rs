//! The rig's integration tests, one module per subject, in one test binary: cargo runs test
//! binaries one after another, so with one binary the tests that wait in real time on a `rig sim`
//! or `rig run` child overlap with each other and with the CPU-bound ones, and a build links one
//! test executable instead of some thirty.
//!
//! The tests share this process: none may change what the others see of it (environment
//! variables, the working directory, signal dispositions, a tokio clock other than its own
//! runtime's, fixed file or socket paths). Each works in its own temporary folder, and each
//! tokio test has its own runtime, paused or not.
//!
//! `cargo test NAME` filters by module path, e.g. `cargo test sim_process::` or
//! `cargo test --test suite plan_diagnostics::`.

// A test states its expectations by unwrapping and indexing: a panic here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

// Helpers shared by several modules.
mod icd;
mod sim_child;
mod twin_common;

mod bench_errors;
mod bench_file_input;
mod build_provenance;
mod bus_roundtrip;
mod ci_examples;
mod codec_properties;
mod correct_pump_never_fails;
mod defect_matrix;
mod evidence_bundle;
mod evidence_identity;
mod evidence_signing;
mod hostile_bundles;
mod layering;
mod link_scripted_peer;
mod link_timestamps;
mod plan_check;
mod plan_diagnostics;
mod plan_language;
mod result_snapshots;
mod run_executor;
mod run_faults;
mod run_realtime;
mod shipped_reports;
mod sim_parity;
mod sim_process;
mod twin_defects;
mod twin_inject;
mod twin_interrupt;
mod twin_srs;
