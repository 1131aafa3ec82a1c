//! CRC-8 of the Sensirion SF06-LF sensors (ICD part 2; REFERENCE.md "Instruments"):
//! polynomial 0x31, initial value 0xFF, no reflection, no final XOR, over each 16-bit word.
//! Check vector: the bytes `BE EF` give `92`.

/// CRC-8 (poly 0x31, init 0xFF) of `bytes`.
///
/// ```
/// // The SF06-LF datasheet's check vector (ICD part 2).
/// assert_eq!(rig::drivers::crc8::crc8(&[0xBE, 0xEF]), 0x92);
/// ```
pub fn crc8(bytes: &[u8]) -> u8 {
    let mut crc: u8 = 0xFF;
    for &b in bytes {
        crc ^= b;
        for _ in 0..8 {
            crc = if crc & 0x80 != 0 { (crc << 1) ^ 0x31 } else { crc << 1 };
        }
    }
    crc
}

/// A 16-bit word as the sensor sends it: big-endian, followed by its CRC-8.
pub fn word_with_crc(word: u16) -> [u8; 3] {
    let [hi, lo] = word.to_be_bytes();
    [hi, lo, crc8(&[hi, lo])]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_vector_from_the_datasheet() {
        assert_eq!(crc8(&[0xBE, 0xEF]), 0x92);
        assert_eq!(word_with_crc(0xBEEF), [0xBE, 0xEF, 0x92]);
    }

    #[test]
    fn zero_word() {
        // Worked by hand from the definition: 0xFF ^ 0x00 shifted through 16 bits.
        assert_eq!(crc8(&[0x00, 0x00]), 0x81);
    }
}
