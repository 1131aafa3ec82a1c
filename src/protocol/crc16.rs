//! CRC-16/CCITT-FALSE, the checksum of every service-port frame (ICD part 1, "Frames").
//!
//! Polynomial 0x1021, initial value 0xFFFF, no input or output reflection, no final XOR.
//! Check value: `crc16(b"123456789") == 0x29B1`.

/// Table for the byte-at-a-time algorithm, computed at compile time.
#[expect(clippy::indexing_slicing, reason = "evaluated at compile time: an index out of range would not compile")]
const TABLE: [u16; 256] = {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 { (crc << 1) ^ 0x1021 } else { crc << 1 };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// CRC-16/CCITT-FALSE of `bytes`.
pub fn crc16(bytes: &[u8]) -> u16 {
    #[expect(clippy::indexing_slicing, reason = "a u8 indexes a 256-entry table")]
    bytes.iter().fold(0xFFFF, |crc, &b| (crc << 8) ^ TABLE[usize::from((crc >> 8) as u8 ^ b)])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bit-by-bit reference, written straight from the parameters, to cross-check the table.
    fn crc16_bitwise(bytes: &[u8]) -> u16 {
        let mut crc: u16 = 0xFFFF;
        for &b in bytes {
            crc ^= u16::from(b) << 8;
            for _ in 0..8 {
                crc = if crc & 0x8000 != 0 { (crc << 1) ^ 0x1021 } else { crc << 1 };
            }
        }
        crc
    }

    #[test]
    fn check_value_from_icd() {
        assert_eq!(crc16(b"123456789"), 0x29B1);
    }

    #[test]
    fn empty_input_is_the_initial_value() {
        assert_eq!(crc16(b""), 0xFFFF);
    }

    #[test]
    fn table_matches_bitwise_definition() {
        let samples: [&[u8]; 5] = [
            b"7 PROGRAM basal_ul_h=500",
            b"8 START",
            b"! 3 120345 STATE state=RUNNING",
            b"0 ERR CRC",
            &[0x20, 0x7E, 0x41, 0x00, 0xFF],
        ];
        for s in samples {
            assert_eq!(crc16(s), crc16_bitwise(s), "{s:?}");
        }
    }
}
