//! SHA-256 as the evidence names contents: 64 lowercase hex digits, `sha256sum`'s form. The one
//! place the rig hashes, whether a plan file's text, a bench file's, a bundle's files or the
//! running executable.

use std::io::{self, Read};

use sha2::{Digest, Sha256};

/// SHA-256 of `bytes`, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// SHA-256 of everything `reader` yields, streamed in 64 KiB blocks (never the whole input in
/// memory), lowercase hex. A read interrupted by a signal is retried.
pub fn sha256_hex_of_reader(reader: &mut impl Read) -> io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(buf.get(..n).unwrap_or_default()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(hex(&hasher.finalize()))
}

/// Lowercase hex of `bytes`, two digits each.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FIPS 180-2's examples: the empty message and "abc".
    #[test]
    fn known_answers_in_sha256sum_form() {
        assert_eq!(sha256_hex(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn a_streamed_input_longer_than_a_block_hashes_as_the_whole() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        assert_eq!(sha256_hex_of_reader(&mut data.as_slice()).unwrap(), sha256_hex(&data));
    }

    #[test]
    fn hex_is_lowercase_with_leading_zeros() {
        assert_eq!(hex(&[0x00, 0x0a, 0xff]), "000aff");
    }
}
