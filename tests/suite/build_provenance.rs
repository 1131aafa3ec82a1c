//! build.rs records the commit the binary was built from honestly: a build with an uncommitted
//! change in src/ says `-dirty`, a commit afterwards is picked up, also in a `git worktree`
//! checkout (where `.git` is a file). Checked end to end: the rig's own build.rs, copied into a
//! scratch crate with no dependencies, built by cargo as the rig is.

// A test states its expectations by unwrapping and indexing: a panic here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn git(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=rig test", "-c", "user.email=rig@test.invalid", "-c", "commit.gpgsign=false"])
        .args(args)
        .output()
        .expect("git is needed to check build.rs (the rig's build records its git commit)");
    assert!(o.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// Builds the crate at `dir` into `target` and runs it: what it prints is its RIG_GIT_COMMIT.
fn build_and_run(dir: &Path, target: &Path) -> String {
    let mut cargo = Command::new(env!("CARGO"));
    cargo.env_clear();
    for key in ["PATH", "HOME", "CARGO_HOME", "RUSTUP_HOME", "RUSTUP_TOOLCHAIN"] {
        if let Ok(v) = std::env::var(key) {
            cargo.env(key, v);
        }
    }
    let o =
        cargo.current_dir(dir).args(["build", "--quiet", "--offline", "--target-dir"]).arg(target).output().unwrap();
    assert!(o.status.success(), "cargo build: {}", String::from_utf8_lossy(&o.stderr));
    let o = Command::new(target.join("debug/probe")).output().unwrap();
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn scratch_crate(dir: &Path) {
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        "[package]\nname = \"probe\"\nversion = \"0.0.0\"\nedition = \"2021\"\nbuild = \"build.rs\"\n\n[workspace]\n",
    )
    .unwrap();
    std::fs::copy(concat!(env!("CARGO_MANIFEST_DIR"), "/build.rs"), dir.join("build.rs")).unwrap();
    std::fs::write(dir.join("src/main.rs"), "fn main() {\n    println!(\"{}\", env!(\"RIG_GIT_COMMIT\"));\n}\n")
        .unwrap();
}

/// Makes a change to src/main.rs that does not change what it prints.
fn touch_source(dir: &Path, n: usize) {
    let path = dir.join("src/main.rs");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(&format!("// change {n}\n"));
    // mtimes of two writes within one tick of a coarse clock must still differ.
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(path, text).unwrap();
}

/// Lets git's index settle: entries written within the index's own second are "racily clean"
/// and make every `git status` (which build.rs runs) rewrite the index, which would re-run the
/// build script whatever it watches. A real checkout is settled; so must this one be for the
/// test to see what build.rs itself watches.
fn settle(dir: &Path) {
    std::thread::sleep(std::time::Duration::from_millis(1100));
    git(dir, &["status", "--porcelain"]);
}

#[test]
fn an_uncommitted_source_change_is_recorded_as_dirty_and_a_commit_is_picked_up() {
    let scratch = tempfile::tempdir().unwrap();
    let repo = scratch.path().join("repo");
    scratch_crate(&repo);
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join(".gitignore"), "/target\n").unwrap();
    let target = scratch.path().join("target");
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "first"]);
    let head = git(&repo, &["rev-parse", "HEAD"]);
    settle(&repo);
    assert_eq!(build_and_run(&repo, &target), head, "a clean build of the commit");
    assert_eq!(build_and_run(&repo, &target), head, "and again, nothing changed");

    touch_source(&repo, 1);
    assert_eq!(build_and_run(&repo, &target), format!("{head}-dirty"), "an uncommitted change in src/");

    git(&repo, &["commit", "-q", "-am", "second"]);
    let head = git(&repo, &["rev-parse", "HEAD"]);
    assert_eq!(build_and_run(&repo, &target), head, "the new commit, clean again");

    // A worktree: .git is a file naming the real git folder.
    let worktree: PathBuf = scratch.path().join("wt");
    git(&repo, &["worktree", "add", "-q", "-b", "side", worktree.to_str().unwrap()]);
    assert!(worktree.join(".git").is_file());
    let wt_target = scratch.path().join("wt-target");
    settle(&worktree);
    assert_eq!(build_and_run(&worktree, &wt_target), head);
    assert_eq!(build_and_run(&worktree, &wt_target), head);
    touch_source(&worktree, 2);
    assert_eq!(build_and_run(&worktree, &wt_target), format!("{head}-dirty"), "dirty in the worktree");
    git(&worktree, &["commit", "-q", "-am", "on the side branch"]);
    let side = git(&worktree, &["rev-parse", "HEAD"]);
    assert_ne!(side, head);
    assert_eq!(build_and_run(&worktree, &wt_target), side, "a commit in the worktree is picked up");
}
