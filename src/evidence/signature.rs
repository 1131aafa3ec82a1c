//! `MANIFEST.sha256.sig`: an Ed25519 signature of the bundle's manifest, in minisign's format,
//! so that changing any file of a bundle and recomputing its manifest is detected by whoever holds
//! the bench's (or the site's) public key: with `rig verify --key KEY.pub`, or with the
//! `minisign` tool (`minisign -Vm MANIFEST.sha256 -x MANIFEST.sha256.sig -p KEY.pub`), without this crate.
//!
//! Keys are minisign keys without a password (the rig signs unattended): `rig key generate`
//! writes the secret key (mode 0600) and its public key beside it as `FILE.pub`. A key id is
//! minisign's: 16 upper-case hex digits, printed by both tools.
//!
//! Verifying is strict: the signature file must be exactly what [`sign_manifest`] writes for the
//! key that made it (a changed untrusted comment or line end is reported too, though minisign's
//! own check would not see it), the signature must be of the prehashed kind, and it must verify
//! the manifest and its trusted comment.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use minisign::{KeyPair, PublicKey, PublicKeyBox, SecretKey, SecretKeyBox, SignatureBox};

use super::manifest::{MANIFEST_CAP, MANIFEST_FILE, SIGNATURE_FILE};
use crate::input_file::{self, Cap, InputFileError, Links};

/// The largest key file read (a minisign one is about 350 bytes).
const KEY_FILE_CAP: Cap = Cap { bytes: 4096, what: "a minisign key file", why: "a key file is about 350 bytes" };

/// The largest signature file read (a minisign one is about 350 bytes).
const SIGNATURE_FILE_CAP: Cap =
    Cap { bytes: 4096, what: "a minisign signature file", why: "a signature file is about 350 bytes" };

/// A secret key to sign bundles with, and its public half.
pub struct SigningKey {
    secret: SecretKey,
    public: PublicKey,
    pub key_id: String,
    pub path: PathBuf,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        f.debug_struct("SigningKey").field("key_id", &self.key_id).field("path", &self.path).finish()
    }
}

/// A public key to check bundles with.
#[derive(Clone)]
pub struct VerifyingKey {
    public: PublicKey,
    pub key_id: String,
    pub path: PathBuf,
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKey").field("key_id", &self.key_id).field("path", &self.path).finish()
    }
}

/// minisign's key id: the 8-byte key number as a little-endian u64, in upper-case hex.
fn key_id(keynum: &[u8]) -> String {
    let mut bytes = [0u8; 8];
    for (b, k) in bytes.iter_mut().zip(keynum) {
        *b = *k;
    }
    format!("{:016X}", u64::from_le_bytes(bytes))
}

/// Reads a key file the user named. A symbolic link is not followed: the key's own permissions
/// are what [`SigningKey::load`] checks.
fn read_key_file(path: &Path, what: &str) -> Result<String, String> {
    let bytes = input_file::read(path, KEY_FILE_CAP, Links::Refuse)
        .map_err(|e| format!("{what} {}: cannot read: {e}; {}", path.display(), e.hint()))?;
    String::from_utf8(bytes).map_err(|_| format!("{what} {}: not text, not a minisign key", path.display()))
}

impl SigningKey {
    /// Loads a minisign secret key without a password. Refuses one that others than its owner
    /// can read (as ssh does), and an encrypted one (nobody is there to type its password).
    pub fn load(path: &Path) -> Result<SigningKey, String> {
        let text = read_key_file(path, "signing key")?;
        let mode = std::fs::symlink_metadata(path).map(|m| m.permissions().mode()).unwrap_or(0);
        if mode & 0o077 != 0 {
            return Err(format!(
                "signing key {}: readable by others than its owner (mode {:04o}); `chmod 600 {}`",
                path.display(),
                mode & 0o7777,
                path.display()
            ));
        }
        let unusable = |e: &dyn std::fmt::Display| {
            format!(
                "signing key {}: not a minisign secret key without a password ({e}); make one with `rig key generate \
                 --out FILE` (or `minisign -G -W`)",
                path.display()
            )
        };
        let secret =
            SecretKeyBox::from_string(&text).and_then(SecretKey::from_unencrypted_box).map_err(|e| unusable(&e))?;
        if secret.is_encrypted() {
            return Err(unusable(&"it is encrypted"));
        }
        let public = PublicKey::from_secret_key(&secret).map_err(|e| unusable(&e))?;
        let key_id = key_id(public.keynum());
        Ok(SigningKey { secret, public, key_id, path: path.to_path_buf() })
    }

    /// The public key as minisign's one-line base64 form (the second line of `FILE.pub`).
    pub fn public_key_base64(&self) -> String {
        self.public.to_base64()
    }
}

impl VerifyingKey {
    /// Loads a minisign public key file (`untrusted comment: …` then the base64 key).
    pub fn load(path: &Path) -> Result<VerifyingKey, String> {
        let text = read_key_file(path, "public key")?;
        let public = PublicKeyBox::from_string(&text)
            .and_then(PublicKey::from_box)
            .map_err(|e| format!("public key {}: not a minisign public key ({e})", path.display()))?;
        let key_id = key_id(public.keynum());
        Ok(VerifyingKey { public, key_id, path: path.to_path_buf() })
    }
}

/// What `rig key generate` made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedKey {
    pub secret: PathBuf,
    pub public: PathBuf,
    pub key_id: String,
}

/// `FILE.pub` for `FILE`.
pub fn public_key_path(secret: &Path) -> PathBuf {
    let mut name = secret.as_os_str().to_owned();
    name.push(".pub");
    PathBuf::from(name)
}

/// Generates a key pair: the secret key at `out` (created new, mode 0600 from the start) and
/// the public key at `out.pub` (created new). Neither file is ever written over.
pub fn generate_key(out: &Path) -> Result<GeneratedKey, String> {
    let public_path = public_key_path(out);
    for p in [out, public_path.as_path()] {
        if std::fs::symlink_metadata(p).is_ok() {
            return Err(format!("{} exists already; a key is never written over", p.display()));
        }
    }
    let KeyPair { pk, sk } =
        KeyPair::generate_unencrypted_keypair().map_err(|e| format!("cannot generate a key pair: {e}"))?;
    let key_id = key_id(pk.keynum());
    let secret_text = sk
        .to_box(Some(&format!("rig secret key {key_id} (no password: keep this file to its owner, mode 0600)")))
        .map_err(|e| format!("cannot encode the secret key: {e}"))?
        .into_string();
    let public_text = pk.to_box().map_err(|e| format!("cannot encode the public key: {e}"))?.into_string();
    let write = |path: &Path, text: &str, mode: u32| -> Result<(), String> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(path)
            .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        // The umask may have taken bits away from `mode`, never added any; set it exactly.
        f.set_permissions(std::fs::Permissions::from_mode(mode))
            .and_then(|()| f.write_all(text.as_bytes()))
            .and_then(|()| f.sync_all())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))
    };
    write(out, &secret_text, 0o600)?;
    write(&public_path, &public_text, 0o644)?;
    Ok(GeneratedKey { secret: out.to_path_buf(), public: public_path, key_id })
}

/// The untrusted comment rig writes for a signature by `key_id` (checked on verifying).
fn untrusted_comment(key_id: &str) -> String {
    format!("rig evidence bundle signature, key {key_id}")
}

/// Signs `dir/MANIFEST.sha256` into `dir/MANIFEST.sha256.sig` (created new). `note` goes into
/// the signed (trusted) comment after a timestamp.
pub fn sign_manifest(dir: &Path, key: &SigningKey, note: &str) -> Result<(), String> {
    let manifest_path = dir.join(MANIFEST_FILE);
    let manifest =
        input_file::read(&manifest_path, MANIFEST_CAP, Links::Refuse).map_err(|e| e.describe(&manifest_path))?;
    let timestamp =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let trusted = format!("timestamp:{timestamp}\tfile:{MANIFEST_FILE}\t{note}").replace(['\n', '\r'], " ");
    let signature = minisign::sign(
        Some(&key.public),
        &key.secret,
        std::io::Cursor::new(&manifest),
        Some(&trusted),
        Some(&untrusted_comment(&key.key_id)),
    )
    .map_err(|e| format!("cannot sign {}: {e}", manifest_path.display()))?;
    let path = dir.join(SIGNATURE_FILE);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    f.write_all(signature.to_string().as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// A bundle's signature, as found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureStatus {
    /// No `MANIFEST.sha256.sig`.
    Unsigned,
    /// Signed by this key id; not checked, for no key was given.
    NotChecked { key_id: String },
    /// Verified with the given key.
    Verified { key_id: String, trusted_comment: String },
    /// Present but wrong: the message names the file.
    Bad(String),
}

/// Reads `dir/MANIFEST.sha256.sig` and, with a `key`, checks it against `manifest` (the
/// manifest's bytes as read for its own check).
pub fn check_signature(dir: &Path, manifest: &[u8], key: Option<&VerifyingKey>) -> SignatureStatus {
    let path = dir.join(SIGNATURE_FILE);
    let bytes = match input_file::read(&path, SIGNATURE_FILE_CAP, Links::Refuse) {
        Ok(b) => b,
        Err(InputFileError::NotFound) => return SignatureStatus::Unsigned,
        Err(e) => return SignatureStatus::Bad(format!("{SIGNATURE_FILE}: unreadable: {e}")),
    };
    let bad = |why: &str| SignatureStatus::Bad(format!("{SIGNATURE_FILE}: {why}"));
    let Ok(text) = String::from_utf8(bytes) else { return bad("not text, not a minisign signature") };
    let signature = match SignatureBox::from_string(&text) {
        Ok(s) => s,
        Err(e) => return bad(&format!("not a minisign signature ({e})")),
    };
    let signer = key_id(signature.keynum());
    // Exactly what `sign_manifest` writes, byte for byte: the untrusted comment and the line ends
    // are outside what Ed25519 covers, but a bundle's files must be as the rig sealed them.
    let canonical = signature.trusted_comment().is_ok()
        && signature.untrusted_comment().is_ok_and(|c| c == untrusted_comment(&signer))
        && signature.to_string() == text;
    if !canonical {
        return bad("altered: not the signature file the rig wrote");
    }
    if !signature.is_prehashed() {
        return bad("a legacy (not prehashed) minisign signature; the rig writes and accepts prehashed ones only");
    }
    let Some(key) = key else { return SignatureStatus::NotChecked { key_id: signer } };
    if signer != key.key_id {
        return bad(&format!("signed by key {signer}, not by the given key {} ({})", key.key_id, key.path.display()));
    }
    match minisign::verify(&key.public, &signature, std::io::Cursor::new(manifest), true, false, false) {
        Ok(()) => SignatureStatus::Verified {
            key_id: signer,
            trusted_comment: signature.trusted_comment().unwrap_or_default(),
        },
        Err(e) => bad(&format!(
            "does not verify {MANIFEST_FILE} with key {signer} ({e}): the manifest or its signature was changed"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed_bundle() -> (tempfile::TempDir, GeneratedKey, tempfile::TempDir) {
        let keys = tempfile::tempdir().unwrap();
        let generated = generate_key(&keys.path().join("bench.key")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "hello\n").unwrap();
        super::super::manifest::write_manifest(dir.path()).unwrap();
        let key = SigningKey::load(&generated.secret).unwrap();
        sign_manifest(dir.path(), &key, "run test").unwrap();
        (dir, generated, keys)
    }

    fn manifest(dir: &Path) -> Vec<u8> {
        std::fs::read(dir.join(MANIFEST_FILE)).unwrap()
    }

    #[test]
    fn generated_keys_are_private_and_never_written_over() {
        let keys = tempfile::tempdir().unwrap();
        let out = keys.path().join("site.key");
        let g = generate_key(&out).unwrap();
        assert_eq!(g.key_id.len(), 16);
        assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o600);
        let public = std::fs::read_to_string(keys.path().join("site.key.pub")).unwrap();
        assert!(public.starts_with(&format!("untrusted comment: minisign public key: {}\n", g.key_id)), "{public}");
        assert_eq!(VerifyingKey::load(&g.public).unwrap().key_id, g.key_id);
        let again = generate_key(&out).unwrap_err();
        assert!(again.contains("exists already"), "{again}");
    }

    #[test]
    fn a_key_others_can_read_is_refused() {
        let keys = tempfile::tempdir().unwrap();
        let g = generate_key(&keys.path().join("k")).unwrap();
        std::fs::set_permissions(&g.secret, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = SigningKey::load(&g.secret).unwrap_err();
        assert!(e.contains("readable by others") && e.contains("chmod 600"), "{e}");
    }

    #[test]
    fn a_signed_manifest_verifies_with_its_key_only() {
        let (dir, g, keys) = sealed_bundle();
        let key = VerifyingKey::load(&g.public).unwrap();
        match check_signature(dir.path(), &manifest(dir.path()), Some(&key)) {
            SignatureStatus::Verified { key_id, trusted_comment } => {
                assert_eq!(key_id, g.key_id);
                assert!(trusted_comment.contains("file:MANIFEST.sha256\trun test"), "{trusted_comment}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            check_signature(dir.path(), &manifest(dir.path()), None),
            SignatureStatus::NotChecked { key_id: g.key_id.clone() }
        );
        let other = generate_key(&keys.path().join("other.key")).unwrap();
        let other = VerifyingKey::load(&other.public).unwrap();
        let SignatureStatus::Bad(why) = check_signature(dir.path(), &manifest(dir.path()), Some(&other)) else {
            panic!("another key verified it")
        };
        assert!(why.starts_with("MANIFEST.sha256.sig: signed by key"), "{why}");
    }

    #[test]
    fn every_flipped_bit_of_the_signature_file_or_manifest_is_caught() {
        let (dir, g, _keys) = sealed_bundle();
        let key = VerifyingKey::load(&g.public).unwrap();
        let sig_path = dir.path().join(SIGNATURE_FILE);
        let original = std::fs::read(&sig_path).unwrap();
        for at in 0..original.len() {
            for bit in [0x01u8, 0x20] {
                let mut changed = original.clone();
                changed[at] ^= bit;
                std::fs::write(&sig_path, &changed).unwrap();
                let status = check_signature(dir.path(), &manifest(dir.path()), Some(&key));
                assert!(
                    matches!(&status, SignatureStatus::Bad(why) if why.starts_with(SIGNATURE_FILE)),
                    "byte {at} bit {bit:#x}: {status:?}"
                );
            }
        }
        std::fs::write(&sig_path, &original).unwrap();
        let mut m = manifest(dir.path());
        m[10] ^= 0x01;
        let SignatureStatus::Bad(why) = check_signature(dir.path(), &m, Some(&key)) else { panic!("verified") };
        assert!(why.contains("does not verify MANIFEST.sha256"), "{why}");
    }

    #[test]
    fn no_signature_file_is_unsigned() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(check_signature(dir.path(), b"", None), SignatureStatus::Unsigned);
    }
}
