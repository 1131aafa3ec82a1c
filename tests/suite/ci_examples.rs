//! The example pipelines in examples/ci/ parse as YAML and carry what each CI engine needs to
//! run the nightly on a bench and the twin's defect matrix: a broken example is found here, not
//! on a bench farm's first night.

// A test states its expectations by unwrapping and indexing: a panic here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use serde_yaml::Value;

fn load(name: &str) -> (String, Value) {
    let path = format!("{}/examples/ci/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let value = serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    (text, value)
}

fn get<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
    path.iter().fold(v, |v, key| v.get(*key).unwrap_or_else(|| panic!("missing key {key} in {path:?}")))
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::Sequence(items) => items.iter().map(|i| i.as_str().unwrap_or_default().to_string()).collect(),
        Value::String(s) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// Every fault the twin knows, for checking that the matrices name real ones and all of them.
fn all_faults() -> Vec<&'static str> {
    rig::sim::Fault::ALL.iter().map(|f| f.name()).collect()
}

fn faults_in(groups: &Value) -> Vec<String> {
    let mut names: Vec<String> =
        strings(groups).iter().flat_map(|g| g.split_whitespace().map(str::to_string).collect::<Vec<_>>()).collect();
    names.sort();
    names
}

#[test]
fn gitlab_pipeline_runs_doctor_run_verify_on_the_bench_and_maps_exit_codes() {
    let (text, ci) = load("gitlab-ci.yml");
    let stages = strings(get(&ci, &["stages"]));
    for job in ["doctor", "nightly", "verify", "defects", "report"] {
        // GitLab's `extends`: a key the job lacks comes from the template it extends.
        let stage = get(&ci, &[job]).get("stage").or_else(|| {
            let template = get(&ci, &[job, "extends"]).as_str()?;
            ci.get(template)?.get("stage")
        });
        let stage = stage.and_then(Value::as_str).unwrap_or_else(|| panic!("job {job} has no stage")).to_string();
        assert!(stages.contains(&stage), "job {job}: stage {stage} not in {stages:?}");
    }
    assert_eq!(strings(get(&ci, &[".on_bench", "tags"])), vec!["pi-bench-1"], "the runner tag is the bench name");
    for job in ["doctor", "nightly", "verify"] {
        assert_eq!(get(&ci, &[job, "extends"]).as_str(), Some(".on_bench"), "{job} runs on the bench's runner");
    }
    let nightly = strings(get(&ci, &["nightly", "script"])).join("\n");
    for needle in ["rig run --non-interactive", "--bench", "--baseline", "--operator \"$GITLAB_USER_LOGIN\""] {
        assert!(nightly.contains(needle), "nightly script lacks {needle}: {nightly}");
    }
    assert!(strings(get(&ci, &["doctor", "script"])).join("").contains("rig doctor"));
    assert!(strings(get(&ci, &["verify", "script"])).join("").contains("rig verify runs/*"));
    // A bench fault (3) is not a pump test failure; doctor's warnings (1) let the night run.
    assert_eq!(get(&ci, &["nightly", "allow_failure", "exit_codes"]), &Value::from(vec![3]));
    assert_eq!(get(&ci, &["doctor", "allow_failure", "exit_codes"]), &Value::from(vec![1]));
    assert_eq!(get(&ci, &["nightly", "artifacts", "reports", "junit"]).as_str(), Some("runs/*/junit.xml"));
    assert!(get(&ci, &["nightly", "artifacts", "expire_in"]).as_str().is_some(), "a retention period");
    // The matrix: every defect, each once, in parallel jobs, joined by the report job.
    let groups = get(&ci, &["defects", "parallel", "matrix"]).as_sequence().unwrap()[0].get("FAULTS").unwrap();
    assert!(strings(groups).len() > 1, "more than one parallel job");
    let mut expected: Vec<String> = all_faults().iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(faults_in(groups), expected);
    assert_eq!(strings(get(&ci, &["report", "needs"])), vec!["defects"]);
    assert!(get(&ci, &["report", "artifacts", "reports", "junit"]).as_str().is_some());
    assert!(text.contains("--fault \"$fault\""));
}

#[test]
fn github_workflow_runs_on_the_bench_runner_and_joins_the_matrix() {
    let (text, ci) = load("github-actions.yml");
    assert!(get(&ci, &["on", "schedule"]).as_sequence().is_some_and(|s| !s.is_empty()), "a nightly schedule");
    let bench = get(&ci, &["jobs", "bench"]);
    assert_eq!(strings(get(bench, &["runs-on"])), vec!["self-hosted", "pi-bench-1"], "the runner label is the bench");
    let steps = get(bench, &["steps"]).as_sequence().unwrap();
    let runs: Vec<&str> = steps.iter().filter_map(|s| s.get("run").and_then(Value::as_str)).collect();
    let all = runs.join("\n");
    for needle in [
        "rig doctor --bench",
        "rig run --non-interactive --bench",
        "--baseline",
        "--operator \"${{ github.actor }}\"",
        "rig verify runs/*",
        "3) echo \"::error title=bench fault::",
        "130)",
    ] {
        assert!(all.contains(needle), "bench job lacks {needle}");
    }
    let upload = steps
        .iter()
        .find(|s| s.get("uses").and_then(Value::as_str).is_some_and(|u| u.starts_with("actions/upload-artifact")))
        .expect("the bundles are uploaded");
    assert!(get(upload, &["with", "retention-days"]).as_u64().is_some());
    let junit = steps
        .iter()
        .find(|s| s.get("uses").and_then(Value::as_str).is_some_and(|u| u.contains("junit-report")))
        .expect("a JUnit report");
    assert_eq!(get(junit, &["with", "report_paths"]).as_str(), Some("runs/*/junit.xml"));
    let groups = get(&ci, &["jobs", "defects", "strategy", "matrix", "faults"]);
    let mut expected: Vec<String> = all_faults().iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(faults_in(groups), expected);
    assert_eq!(get(&ci, &["jobs", "report", "needs"]).as_str(), Some("defects"));
    assert!(text.contains("--fault \"$fault\""));
}
