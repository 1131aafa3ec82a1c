//! Any bytes as a plan file: the loader never panics; it gives plans or diagnostics, and every
//! diagnostic renders bounded and printable.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let loaded = rig::plan::load::load_bytes(std::path::Path::new("fuzz.yaml"), data);
    let rendered = loaded.report.render();
    assert!(loaded.plan.is_some() || !loaded.report.diagnostics.is_empty());
    assert!(!rendered.chars().any(|c| c.is_control() && c != '\n' && c != '\t'));
});
