//! Numbers on the wire: decimal, a fractional value with at most 3 decimals (ICD part 1).

/// Why a token is not a number of the expected form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a {1}")]
pub struct NumberError(pub String, pub &'static str);

/// Formats `v` rounded to 3 decimals, without trailing zeros: `500`, `12.5`, `0.048`.
pub fn format_number(v: f64) -> String {
    let mut out = String::with_capacity(24);
    push_number(&mut out, v);
    out
}

/// [`format_number`] appended to `out`, built in place: the twin answers every STATUS with four.
pub fn push_number(out: &mut String, v: f64) {
    let milli = (v * 1000.0).round() as i64;
    let (sign, abs) = if milli < 0 { ("-", -milli) } else { ("", milli) };
    let (int, frac) = (abs / 1000, abs % 1000);
    out.push_str(sign);
    push_uint(out, int.unsigned_abs());
    if frac != 0 {
        out.push('.');
        let digits = [frac / 100, frac / 10 % 10, frac % 10];
        let last = digits.iter().rposition(|&d| d != 0).unwrap_or(0);
        out.extend(digits.iter().take(last + 1).map(|&d| char::from(b'0' + d as u8)));
    }
}

/// `v` in decimal appended to `out`, as `{v}` prints it, without the formatting machinery (every
/// frame's seq, every number field).
pub fn push_uint(out: &mut String, v: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = v;
    loop {
        at -= 1;
        if let Some(d) = digits.get_mut(at) {
            *d = b'0' + (rest % 10) as u8;
        }
        rest /= 10;
        if rest == 0 || at == 0 {
            break;
        }
    }
    out.push_str(digits.get(at..).and_then(|d| std::str::from_utf8(d).ok()).unwrap_or("0"));
}

/// Parses a decimal number: an optional `-`, digits, and optionally `.` with 1 to 3 digits.
/// Anything else (exponents, `+`, `inf`, a bare `.5`, 4 decimals) is refused.
pub fn parse_number(s: &str) -> Result<f64, NumberError> {
    let err = || NumberError(s.to_string(), "decimal number with at most 3 decimals");
    let digits = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = match digits.bytes().position(|b| b == b'.') {
        Some(i) => (digits.get(..i).unwrap_or_default(), digits.get(i + 1..)),
        None => (digits, None),
    };
    let all_digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(int) || int.len() > 12 {
        return Err(err());
    }
    if let Some(f) = frac {
        if !all_digits(f) || f.len() > 3 {
            return Err(err());
        }
    }
    s.parse().map_err(|_| err())
}

/// Parses an unsigned decimal integer (no sign, no decimals).
pub fn parse_uint(s: &str) -> Result<u64, NumberError> {
    let err = || NumberError(s.to_string(), "whole number");
    if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err());
    }
    s.parse().map_err(|_| err())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_print_as_display_does() {
        for v in [0, 7, 10, 99, 100, 65_535, 1_000_000_007, u64::MAX] {
            let mut out = String::from("x");
            push_uint(&mut out, v);
            assert_eq!(out, format!("x{v}"));
        }
    }

    #[test]
    fn formats_like_the_icd_examples() {
        assert_eq!(format_number(500.0), "500");
        assert_eq!(format_number(12.5), "12.5");
        assert_eq!(format_number(0.048), "0.048");
        assert_eq!(format_number(0.0), "0");
        assert_eq!(format_number(-0.0001), "0");
        assert_eq!(format_number(-3.25), "-3.25");
        assert_eq!(format_number(1.23456), "1.235");
        assert_eq!(format_number(40000.0), "40000");
    }

    #[test]
    fn parses_strictly() {
        assert_eq!(parse_number("500"), Ok(500.0));
        assert_eq!(parse_number("12.5"), Ok(12.5));
        assert_eq!(parse_number("0.048"), Ok(0.048));
        assert_eq!(parse_number("-1"), Ok(-1.0));
        for bad in ["", "-", ".5", "5.", "1.2345", "1e3", "+1", "inf", "NaN", "1,5", " 1", "0x10"] {
            assert!(parse_number(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_uint("3600"), Ok(3600));
        for bad in ["", "-1", "1.0", "1e3", "99999999999999999999"] {
            assert!(parse_uint(bad).is_err(), "{bad:?}");
        }
    }
}
