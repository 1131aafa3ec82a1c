//! Signed bundles as a reviewer checks them: `rig key generate`, `rig run --sign-key`, and
//! `rig verify --key` passing on a signed bundle and failing, naming the file, after one flipped
//! bit in any file or in the signature, on a manifest recomputed without the key, and on a
//! missing signature; `rig approve --key` refusing an unsigned bundle.

// A test states its expectations by unwrapping and indexing: a panic here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rig::evidence::record::CaseRecord;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn rig(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rig")).current_dir(ROOT).env_remove("RIG_SIGNING_KEY").args(args).output().unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// A key pair in `dir`: (secret, public, key id).
fn generate(dir: &Path) -> (PathBuf, PathBuf, String) {
    let secret = dir.join("bench.key");
    let o = rig(&["key", "generate", "--out", secret.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    let key_id = out.lines().find_map(|l| l.strip_prefix("key id     ")).expect("the key id is printed").to_string();
    (secret.clone(), dir.join("bench.key.pub"), key_id)
}

/// One signed bundle (the communication plan has one case).
fn signed_bundle(out: &Path, secret: &Path) -> PathBuf {
    let o = rig(&[
        "run",
        "test-plans/communication.yaml",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
        "--sign-key",
        secret.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(out).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(dirs.len(), 1);
    dirs.remove(0)
}

#[test]
fn a_signed_bundle_verifies_with_its_key_and_any_flipped_bit_is_named() {
    let keys = tempfile::tempdir().unwrap();
    let (secret, public, key_id) = generate(keys.path());
    let runs = tempfile::tempdir().unwrap();
    let dir = signed_bundle(runs.path(), &secret);
    let (d, p) = (dir.to_str().unwrap(), public.to_str().unwrap());

    let record: CaseRecord = serde_json::from_str(&std::fs::read_to_string(dir.join("record.json")).unwrap()).unwrap();
    let signing = record.signing.expect("the record names the signing key");
    assert_eq!(signing.key_id, key_id);
    let public_text = std::fs::read_to_string(&public).unwrap();
    assert_eq!(public_text.lines().nth(1), Some(signing.public_key.as_str()));

    let ok = rig(&["verify", "--key", p, d]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    assert!(text(&ok).contains(&format!("signature by {key_id} verified")), "{}", text(&ok));
    let unchecked = rig(&["verify", d]);
    assert_eq!(unchecked.status.code(), Some(0), "{}", text(&unchecked));
    assert!(text(&unchecked).contains(&format!("signed by {key_id}, not checked (no --key)")), "{}", text(&unchecked));

    let files = [
        "record.json",
        "samples.csv",
        "events.jsonl",
        "result.yaml",
        "report.html",
        "junit.xml",
        "MANIFEST.sha256",
        "MANIFEST.sha256.sig",
    ];
    for name in files {
        let path = dir.join(name);
        let original = std::fs::read(&path).unwrap();
        for at in [0, original.len() / 2, original.len() - 1] {
            let mut changed = original.clone();
            changed[at] ^= 0x01;
            std::fs::write(&path, &changed).unwrap();
            let bad = rig(&["verify", "--key", p, d]);
            assert_eq!(bad.status.code(), Some(1), "one bit of {name} flipped at {at}: {}", text(&bad));
            assert!(text(&bad).contains(&format!("  {name}")), "the failure names {name}: {}", text(&bad));
        }
        std::fs::write(&path, &original).unwrap();
    }
    assert_eq!(rig(&["verify", "--key", p, d]).status.code(), Some(0), "restored");

    // Another key does not verify it.
    let other = tempfile::tempdir().unwrap();
    let (_, other_public, _) = generate(other.path());
    let wrong = rig(&["verify", "--key", other_public.to_str().unwrap(), d]);
    assert_eq!(wrong.status.code(), Some(1), "{}", text(&wrong));
    assert!(text(&wrong).contains("MANIFEST.sha256.sig: signed by key"), "{}", text(&wrong));
}

#[test]
fn a_manifest_recomputed_without_the_key_fails_and_so_does_a_missing_signature() {
    let keys = tempfile::tempdir().unwrap();
    let (secret, public, _) = generate(keys.path());
    let runs = tempfile::tempdir().unwrap();
    let dir = signed_bundle(runs.path(), &secret);
    let (d, p) = (dir.to_str().unwrap(), public.to_str().unwrap());

    // Someone edits a sample and writes a fresh manifest, as sha256sum would.
    let samples = dir.join("samples.csv");
    let edited = std::fs::read_to_string(&samples).unwrap().replacen(",", ";", 1);
    std::fs::write(&samples, edited).unwrap();
    let manifest: String = std::fs::read_to_string(dir.join("MANIFEST.sha256"))
        .unwrap()
        .lines()
        .map(|l| {
            let name = &l[66..];
            format!("{}  {name}\n", sha256_hex(&std::fs::read(dir.join(name)).unwrap()))
        })
        .collect();
    std::fs::write(dir.join("MANIFEST.sha256"), manifest).unwrap();
    assert_eq!(rig(&["verify", d]).status.code(), Some(0), "the hashes alone cannot tell");
    let bad = rig(&["verify", "--key", p, d]);
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));
    assert!(text(&bad).contains("MANIFEST.sha256.sig: does not verify MANIFEST.sha256"), "{}", text(&bad));

    std::fs::remove_file(dir.join("MANIFEST.sha256.sig")).unwrap();
    let unsigned = rig(&["verify", "--key", p, d]);
    assert_eq!(unsigned.status.code(), Some(1), "{}", text(&unsigned));
    assert!(text(&unsigned).contains("MANIFEST.sha256.sig: missing"), "{}", text(&unsigned));
}

#[test]
fn approve_with_a_key_refuses_an_unsigned_bundle_and_records_the_signer() {
    let keys = tempfile::tempdir().unwrap();
    let (secret, public, key_id) = generate(keys.path());
    let runs = tempfile::tempdir().unwrap();
    let baseline = runs.path().join("baseline");
    let (b, p) = (baseline.to_str().unwrap().to_string(), public.to_str().unwrap());

    let o = rig(&[
        "run",
        "test-plans/communication.yaml",
        "--quiet",
        "--out",
        runs.path().join("unsigned").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let unsigned = std::fs::read_dir(runs.path().join("unsigned")).unwrap().next().unwrap().unwrap().path();
    assert!(text(&rig(&["verify", unsigned.to_str().unwrap()])).contains("unsigned"));
    let refused = rig(&["approve", unsigned.to_str().unwrap(), "--baseline", &b, "--key", p]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(text(&refused).contains("MANIFEST.sha256.sig: missing"), "{}", text(&refused));

    // Signed through the environment this time.
    let out = runs.path().join("signed");
    let o = Command::new(env!("CARGO_BIN_EXE_rig"))
        .current_dir(ROOT)
        .env("RIG_SIGNING_KEY", &secret)
        .args(["run", "test-plans/communication.yaml", "--quiet", "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let signed = std::fs::read_dir(&out).unwrap().next().unwrap().unwrap().path();
    let approved = rig(&["approve", signed.to_str().unwrap(), "--baseline", &b, "--key", p]);
    assert_eq!(approved.status.code(), Some(0), "{}", text(&approved));
    let file = std::fs::read_dir(&baseline).unwrap().next().unwrap().unwrap().path();
    let a: rig::evidence::baseline::ApprovedBaseline =
        serde_yaml::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    assert_eq!(a.approval.source_signed_by.as_deref(), Some(key_id.as_str()));
}

#[test]
fn a_secret_key_others_can_read_or_inside_the_output_folder_is_refused() {
    let runs = tempfile::tempdir().unwrap();
    let (secret, _, _) = generate(runs.path());
    let inside = rig(&[
        "run",
        "test-plans/communication.yaml",
        "--quiet",
        "--out",
        runs.path().to_str().unwrap(),
        "--sign-key",
        secret.to_str().unwrap(),
    ]);
    assert_eq!(inside.status.code(), Some(2), "{}", text(&inside));
    assert!(text(&inside).contains("inside the output folder"), "{}", text(&inside));
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o640)).unwrap();
    let out = tempfile::tempdir().unwrap();
    let open = rig(&[
        "run",
        "test-plans/communication.yaml",
        "--quiet",
        "--out",
        out.path().to_str().unwrap(),
        "--sign-key",
        secret.to_str().unwrap(),
    ]);
    assert_eq!(open.status.code(), Some(2), "{}", text(&open));
    assert!(text(&open).contains("readable by others than its owner"), "{}", text(&open));
}
