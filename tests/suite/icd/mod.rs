//! The ICD's checksums written out again from their definitions, for tests only: tests build
//! and check frames with these, not with the rig's own code, so a checksum bug in the rig cannot
//! hide behind a test that shares it.

/// CRC-16/CCITT-FALSE (ICD part 1), bit by bit.
pub fn crc16(payload: &str) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &b in payload.as_bytes() {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 { (crc << 1) ^ 0x1021 } else { crc << 1 };
        }
    }
    crc
}

/// The CRC of a payload as a frame carries it: 4 upper-case hex digits.
pub fn crc_hex(payload: &str) -> String {
    format!("{:04X}", crc16(payload))
}

/// A whole frame: `<payload>*<CRC>\r\n`.
pub fn frame(payload: &str) -> String {
    format!("{payload}*{}\r\n", crc_hex(payload))
}

/// CRC-8 of the SF06-LF sensor (ICD part 2): poly 0x31, init 0xFF.
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

#[test]
fn check_values_from_the_icd() {
    assert_eq!(crc16("123456789"), 0x29B1);
    assert_eq!(crc8(&[0xBE, 0xEF]), 0x92);
}
