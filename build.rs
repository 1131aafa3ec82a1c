//! Records which rig the binary is, for the evidence (`record.json`'s `rig`):
//!
//! - `RIG_GIT_COMMIT`: the commit it is built from, `<commit>-dirty` when its inputs differ from
//!   that commit (a tracked change in src/, rig/, Cargo.toml, Cargo.lock or build.rs, or an
//!   untracked file in src/), `unknown` outside a git checkout;
//! - `RIG_TARGET`: the target triple.
//!
//! The script re-runs whenever one of those inputs or git's own state (HEAD, the index, the
//! branch's ref, packed refs) changes, also in a `git worktree` checkout, where `.git` is a file
//! naming the real git folder: a build never records the commit of a tree it was not built from.
//! `tests/build_provenance.rs` builds a copy of this script in a scratch crate to check that.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The files and folders the binary is built from (those that exist are watched).
const INPUTS: [&str; 5] = ["src", "rig", "Cargo.toml", "Cargo.lock", "build.rs"];

fn git(root: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git").arg("-C").arg(root).args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// `<commit>`, `<commit>-dirty` or `unknown`, for the checkout at `root`.
pub fn git_commit(root: &Path) -> String {
    let Some(commit) = git(root, &["rev-parse", "HEAD"]) else { return "unknown".into() };
    let mut tracked = vec!["status", "--porcelain", "--untracked-files=no", "--"];
    tracked.extend(INPUTS);
    let changed = git(root, &tracked);
    let untracked = git(root, &["status", "--porcelain", "--untracked-files=all", "--", "src"]);
    match (changed, untracked) {
        (Some(c), Some(u)) if c.is_empty() && u.is_empty() => commit,
        // A status that cannot be had is not a clean tree.
        _ => format!("{commit}-dirty"),
    }
}

/// Everything whose change must re-run this script: the inputs, and git's HEAD, index, the
/// branch's ref and packed refs wherever git keeps them (in a worktree, `.git` is a file and
/// these live in the main repository's git folder).
pub fn watched_paths(root: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = INPUTS.iter().map(|p| root.join(p)).collect();
    let git_path = |name: &str| git(root, &["rev-parse", "--git-path", name]).map(|p| root.join(p));
    let mut git_files = vec!["HEAD".to_string(), "index".to_string(), "packed-refs".to_string()];
    if let Some(branch) = git(root, &["symbolic-ref", "-q", "HEAD"]) {
        git_files.push(branch);
    }
    paths.extend(git_files.iter().filter_map(|f| git_path(f)));
    // A path that does not exist would make cargo re-run the script on every build.
    paths.retain(|p| p.exists());
    paths
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into()));
    println!("cargo:rustc-env=RIG_GIT_COMMIT={}", git_commit(&root));
    println!("cargo:rustc-env=RIG_TARGET={}", std::env::var("TARGET").unwrap_or_else(|_| "unknown".into()));
    for path in watched_paths(&root) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}
