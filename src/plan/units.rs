//! Quantities as plans write them: `<number> <unit>`, one space between, e.g. `30 s`,
//! `20 min`, `500 uL/h`, `200 kPa`, `10 %`. Strict on purpose: a plan is evidence, and `30`
//! alone (seconds? minutes?) or `30s` next to `30 s` invites misreading. The number is plain
//! decimal (`0.5`, `1200`): no sign, no exponent, no `inf`/`nan`. Counts are bare whole numbers.
//!
//! Values convert to the rig's canonical units: seconds (as `Duration` by the caller), µL,
//! µL/h, kPa; a percentage stays a percentage.

use std::fmt;
use std::time::Duration;

use super::diag::did_you_mean;

/// What a quantity measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dimension {
    Duration,
    Volume,
    Flow,
    Pressure,
    Percent,
    Count,
}

/// A unit a plan may write, its dimension and its factor to the canonical unit.
struct UnitDef {
    symbol: &'static str,
    dimension: Dimension,
    factor: f64,
}

/// Every unit the language knows. `µ` is also accepted as the Greek `μ` (they look the same).
const UNITS: &[UnitDef] = &[
    UnitDef { symbol: "ms", dimension: Dimension::Duration, factor: 0.001 },
    UnitDef { symbol: "s", dimension: Dimension::Duration, factor: 1.0 },
    UnitDef { symbol: "min", dimension: Dimension::Duration, factor: 60.0 },
    UnitDef { symbol: "h", dimension: Dimension::Duration, factor: 3600.0 },
    UnitDef { symbol: "uL", dimension: Dimension::Volume, factor: 1.0 },
    UnitDef { symbol: "µL", dimension: Dimension::Volume, factor: 1.0 },
    UnitDef { symbol: "mL", dimension: Dimension::Volume, factor: 1000.0 },
    UnitDef { symbol: "uL/h", dimension: Dimension::Flow, factor: 1.0 },
    UnitDef { symbol: "µL/h", dimension: Dimension::Flow, factor: 1.0 },
    UnitDef { symbol: "mL/h", dimension: Dimension::Flow, factor: 1000.0 },
    UnitDef { symbol: "uL/min", dimension: Dimension::Flow, factor: 60.0 },
    UnitDef { symbol: "µL/min", dimension: Dimension::Flow, factor: 60.0 },
    UnitDef { symbol: "uL/day", dimension: Dimension::Flow, factor: 1.0 / 24.0 },
    UnitDef { symbol: "µL/day", dimension: Dimension::Flow, factor: 1.0 / 24.0 },
    UnitDef { symbol: "mL/day", dimension: Dimension::Flow, factor: 1000.0 / 24.0 },
    UnitDef { symbol: "kPa", dimension: Dimension::Pressure, factor: 1.0 },
    UnitDef { symbol: "%", dimension: Dimension::Percent, factor: 1.0 },
];

/// Larger than any bench figure; past it a number is a typo (and a `Duration` could overflow).
const MAX_VALUE: f64 = 1e9;

impl Dimension {
    /// "a duration", "a volume", ...
    pub fn name(self) -> &'static str {
        match self {
            Dimension::Duration => "a duration",
            Dimension::Volume => "a volume",
            Dimension::Flow => "a flow rate",
            Dimension::Pressure => "a pressure",
            Dimension::Percent => "a percentage",
            Dimension::Count => "a count",
        }
    }

    /// How to write one, e.g. "a number, one space and `ms`, `s`, `min` or `h`, e.g. `30 s`".
    pub fn how(self) -> String {
        let units: Vec<String> = UNITS
            .iter()
            .filter(|u| u.dimension == self && !u.symbol.starts_with('µ'))
            .map(|u| format!("`{}`", u.symbol))
            .collect();
        match self {
            Dimension::Count => "a count: a whole number without a unit, e.g. `3`".to_string(),
            _ => {
                let list = match units.split_last() {
                    Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
                    Some((last, _)) => last.clone(),
                    None => String::new(),
                };
                format!("{}: a number, one space and {list}, e.g. `{}`", self.name(), self.example())
            }
        }
    }

    pub fn example(self) -> &'static str {
        match self {
            Dimension::Duration => "30 s",
            Dimension::Volume => "150 uL",
            Dimension::Flow => "500 uL/h",
            Dimension::Pressure => "200 kPa",
            Dimension::Percent => "10 %",
            Dimension::Count => "3",
        }
    }

    /// The canonical unit's symbol (empty for a count).
    pub fn canonical_symbol(self) -> &'static str {
        match self {
            Dimension::Duration => "s",
            Dimension::Volume => "uL",
            Dimension::Flow => "uL/h",
            Dimension::Pressure => "kPa",
            Dimension::Percent => "%",
            Dimension::Count => "",
        }
    }

    /// A regular expression for the schema: the quantities of this dimension.
    pub fn pattern(self) -> String {
        if self == Dimension::Count {
            return "^[0-9]+$".to_string();
        }
        let units: Vec<String> = UNITS
            .iter()
            .filter(|u| u.dimension == self)
            .flat_map(|u| {
                let greek = u.symbol.starts_with('µ').then(|| u.symbol.replacen('µ', "μ", 1));
                std::iter::once(u.symbol.to_string()).chain(greek)
            })
            .collect();
        format!("^[0-9]+(\\.[0-9]+)? ({})$", units.join("|"))
    }

    /// The rig's unit of a measured value of this dimension.
    pub fn of_unit(unit: super::ast::Unit) -> Dimension {
        match unit {
            super::ast::Unit::Seconds => Dimension::Duration,
            super::ast::Unit::Microlitres => Dimension::Volume,
            super::ast::Unit::MicrolitresPerHour => Dimension::Flow,
            super::ast::Unit::Kilopascal => Dimension::Pressure,
            super::ast::Unit::Count => Dimension::Count,
            super::ast::Unit::Percent => Dimension::Percent,
        }
    }
}

impl fmt::Display for Dimension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A parsed quantity, in its dimension's canonical unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quantity {
    pub value: f64,
    pub dimension: Dimension,
}

/// Why a text is not the quantity wanted: what is wrong, what was expected, how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuantityError {
    pub message: String,
    pub expected: String,
    pub hint: Option<String>,
}

fn fail(message: String, want: Dimension, hint: Option<String>) -> QuantityError {
    QuantityError { message, expected: want.how(), hint }
}

/// Parses a plain decimal number: digits, optionally a point and more digits.
fn parse_number(text: &str, whole: &str, want: Dimension) -> Result<f64, QuantityError> {
    let plain = !text.is_empty()
        && text.split_once('.').map_or(text.bytes().all(|b| b.is_ascii_digit()), |(i, f)| {
            !i.is_empty()
                && !f.is_empty()
                && i.bytes().all(|b| b.is_ascii_digit())
                && f.bytes().all(|b| b.is_ascii_digit())
        });
    if plain {
        let v: f64 = text.parse().map_err(|_| fail(format!("`{whole}` is not a number"), want, None))?;
        if v > MAX_VALUE {
            return Err(fail(format!("`{whole}` is too large"), want, None));
        }
        return Ok(v);
    }
    let lower = text.to_ascii_lowercase();
    let bare = lower.trim_start_matches(['+', '-', '.']);
    if matches!(bare, "inf" | "infinity" | "nan") {
        return Err(fail(format!("`{whole}` is not a finite number"), want, None));
    }
    if text.starts_with('-') {
        return Err(fail(
            format!("`{whole}` is negative; {} here is 0 or more", want.name()),
            want,
            Some("remove the minus sign".to_string()),
        ));
    }
    if text.starts_with('+') {
        return Err(fail(format!("`{whole}` has a sign"), want, Some("remove the `+`".to_string())));
    }
    if text.contains(',') {
        return Err(fail(
            format!("`{whole}` is not a number"),
            want,
            Some("write a decimal point, not a comma, and no thousands separator".to_string()),
        ));
    }
    if text.bytes().any(|b| b == b'e' || b == b'E') && text.bytes().any(|b| b.is_ascii_digit()) {
        return Err(fail(
            format!("`{whole}` is not a plain decimal number"),
            want,
            Some("write the number out in digits, without an exponent".to_string()),
        ));
    }
    if text.starts_with('.') || text.ends_with('.') {
        return Err(fail(
            format!("`{whole}` is not a plain decimal number"),
            want,
            Some("write a digit on both sides of the decimal point, e.g. `0.5`".to_string()),
        ));
    }
    Err(fail(format!("`{whole}` is not {}", want.name()), want, None))
}

/// Parses a quantity of the dimension `want` (a count is a bare whole number).
pub fn parse(text: &str, want: Dimension) -> Result<f64, QuantityError> {
    if want == Dimension::Count {
        return parse_count(text).map(f64::from);
    }
    if text.trim().is_empty() {
        return Err(fail("missing value".to_string(), want, None));
    }
    if text != text.trim() || text.contains("  ") || text.contains('\t') {
        return Err(fail(
            format!("`{}` has extra blanks", text.trim()),
            want,
            Some("write the number, one space, and the unit".to_string()),
        ));
    }
    let lower = text.to_ascii_lowercase();
    if ["inf", "nan"].iter().any(|w| lower.trim_start_matches(['+', '-', '.']).starts_with(w)) {
        return Err(fail(format!("`{text}` is not a finite number"), want, None));
    }
    let (number, unit) = match text.split_once(' ') {
        Some((n, u)) => (n, u),
        None => {
            // `30s`, `30`, `10%`: find where the number ends.
            let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
            let (n, u) = text.split_at(split);
            if n.is_empty() {
                // Not a number at all (`fast`, `-5s`, `inf`): let the number parser say why.
                parse_number(text.split(|c: char| c.is_alphabetic() && c != 'e').next().unwrap_or(text), text, want)?;
                return Err(fail(format!("`{text}` is not {}", want.name()), want, None));
            }
            parse_number(n, text, want)?;
            if u.is_empty() {
                return Err(fail(
                    format!("`{text}` is a bare number; {} needs its unit", want.name()),
                    want,
                    Some(format!("add the unit, e.g. `{n} {}`", example_unit(want))),
                ));
            }
            return Err(fail(
                format!("`{text}` needs one space between the number and the unit"),
                want,
                Some(format!("write `{n} {u}`")),
            ));
        }
    };
    let value = parse_number(number, text, want)?;
    let normalised = unit.replacen('μ', "µ", 1);
    let Some(def) = UNITS.iter().find(|u| u.symbol == normalised) else {
        let hint = did_you_mean(unit, UNITS.iter().map(|u| u.symbol));
        return Err(fail(format!("unknown unit `{unit}` in `{text}`"), want, hint));
    };
    if def.dimension != want {
        return Err(fail(format!("`{text}` is {}, not {}", def.dimension.name(), want.name()), want, None));
    }
    Ok(value * def.factor)
}

fn example_unit(d: Dimension) -> &'static str {
    match d {
        Dimension::Duration => "s",
        Dimension::Volume => "uL",
        Dimension::Flow => "uL/h",
        Dimension::Pressure => "kPa",
        Dimension::Percent => "%",
        Dimension::Count => "",
    }
}

/// A count: a whole number without a unit.
pub fn parse_count(text: &str) -> Result<u32, QuantityError> {
    let want = Dimension::Count;
    if text.is_empty() {
        return Err(fail("missing value".to_string(), want, None));
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse::<u32>().map_err(|_| fail(format!("`{text}` is too large for a count"), want, None));
    }
    if let Some((n, _)) = text.split_once(' ')
        && n.bytes().all(|b| b.is_ascii_digit())
        && !n.is_empty()
    {
        return Err(fail(format!("`{text}` is not a count; a count has no unit"), want, Some(format!("write `{n}`"))));
    }
    if text.starts_with('-') {
        return Err(fail(format!("`{text}` is negative; a count is 0 or more"), want, None));
    }
    Err(fail(format!("`{text}` is not a whole number"), want, None))
}

/// A duration, as a `Duration`.
pub fn parse_duration(text: &str) -> Result<Duration, QuantityError> {
    let secs = parse(text, Dimension::Duration)?;
    Duration::try_from_secs_f64(secs)
        .map_err(|_| fail(format!("`{text}` is not a usable duration"), Dimension::Duration, None))
}

/// Units as exact ratios to the canonical unit (numerator, denominator), for
/// [`decimals_beyond`]: `UNITS`' factors are these ratios as floats.
fn ratio(symbol: &str) -> Option<(u128, u128)> {
    Some(match symbol {
        "ms" => (1, 1000),
        "s" | "uL" | "µL" | "uL/h" | "µL/h" | "kPa" | "%" => (1, 1),
        "min" | "uL/min" | "µL/min" => (60, 1),
        "h" => (3600, 1),
        "mL" | "mL/h" => (1000, 1),
        "uL/day" | "µL/day" => (1, 24),
        "mL/day" => (1000, 24),
        _ => return None,
    })
}

/// Whether the quantity `text` (well formed) has more than `decimals` decimals once in its
/// canonical unit: `100.0001 uL/h` and `1 uL/day` (0.041666… uL/h) have more than 3,
/// `1.2345 mL` (1234.5 uL) has not. Computed exactly from the digits, not from a float.
pub fn decimals_beyond(text: &str, decimals: u32) -> bool {
    let Some((number, unit)) = text.split_once(' ') else { return false };
    let Some((num, den)) = ratio(&unit.replacen('μ', "µ", 1)) else { return false };
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    let frac = frac.trim_end_matches('0');
    // Past this many decimals the digits cannot come out whole (and would overflow).
    if frac.len() > 20 || whole.len() > 12 {
        return !frac.is_empty();
    }
    let Ok(n) = format!("{whole}{frac}").parse::<u128>() else { return false };
    let scale = 10u128.pow(decimals);
    let (top, bottom) = (n * num * scale, 10u128.pow(frac.len() as u32) * den);
    top % bottom != 0
}

/// Which dimension a text is written in, if it is a well-formed quantity of any.
pub fn dimension_of(text: &str) -> Option<Dimension> {
    let (_, unit) = text.split_once(' ')?;
    let unit = unit.replacen('μ', "µ", 1);
    UNITS.iter().find(|u| u.symbol == unit).map(|u| u.dimension)
}

/// A duration for people: `30 s`, `20 min`, `26 h`, `1 h 30 min`, `250 ms`, `1.5 s`, and
/// honestly below a millisecond: `20 µs`, `1 ns` (never `0 s` for what is not zero). The
/// digits are exact (from the integer nanoseconds), never a rounded float.
pub fn format_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos % 1_000_000_000 == 0 {
        let s = d.as_secs();
        return match s {
            _ if s % 3600 == 0 && s > 0 => format!("{} h", s / 3600),
            _ if s % 60 == 0 && (60..3600).contains(&s) => format!("{} min", s / 60),
            _ if s % 60 == 0 && s > 3600 => format!("{} h {} min", s / 3600, (s % 3600) / 60),
            _ => format!("{s} s"),
        };
    }
    let (scale, unit) = match nanos {
        n if n < 1_000 => (1, "ns"),
        n if n < 1_000_000 => (1_000, "µs"),
        n if n < 1_000_000_000 => (1_000_000, "ms"),
        _ => (1_000_000_000, "s"),
    };
    format!("{} {unit}", exact_decimal(nanos, scale))
}

/// `n / scale` written out exactly (`scale` a power of ten), without trailing zeros.
fn exact_decimal(n: u128, scale: u128) -> String {
    let (whole, frac) = (n / scale, n % scale);
    if frac == 0 {
        return whole.to_string();
    }
    let digits = scale.to_string().len() - 1;
    let frac = format!("{frac:0digits$}");
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

/// A value in canonical units for people, e.g. `1200 uL`, `12.5 uL/h`.
pub fn format_value(value: f64, dimension: Dimension) -> String {
    match dimension {
        Dimension::Duration => match Duration::try_from_secs_f64(value) {
            Ok(d) => format_duration(d),
            Err(_) => format!("{value} s"),
        },
        Dimension::Count => format!("{value}"),
        Dimension::Percent => format!("{value} %"),
        _ => format!("{} {}", trim_number(value), dimension.canonical_symbol()),
    }
}

fn trim_number(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use Dimension::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9 * b.abs().max(1.0)
    }

    #[test]
    fn every_unit_converts_to_canonical() {
        let cases = [
            ("250 ms", Duration, 0.25),
            ("30 s", Duration, 30.0),
            ("20 min", Duration, 1200.0),
            ("26 h", Duration, 93_600.0),
            ("0.5 h", Duration, 1800.0),
            ("150 uL", Volume, 150.0),
            ("150 µL", Volume, 150.0),
            ("150 μL", Volume, 150.0),
            ("20 mL", Volume, 20_000.0),
            ("1.2 mL", Volume, 1200.0),
            ("500 uL/h", Flow, 500.0),
            ("500 µL/h", Flow, 500.0),
            ("0.5 mL/h", Flow, 500.0),
            ("2 uL/min", Flow, 120.0),
            ("2 µL/min", Flow, 120.0),
            ("480 uL/day", Flow, 20.0),
            ("480 µL/day", Flow, 20.0),
            ("1.2 mL/day", Flow, 50.0),
            ("200 kPa", Pressure, 200.0),
            ("10 %", Percent, 10.0),
            ("0 s", Duration, 0.0),
            ("3", Count, 3.0),
        ];
        for (text, dim, want) in cases {
            let got = parse(text, dim).unwrap_or_else(|e| panic!("{text}: {e:?}"));
            assert!(close(got, want), "{text}: {got} != {want}");
            if dim != Count {
                assert_eq!(dimension_of(text), Some(dim), "{text}");
            }
        }
    }

    fn err(text: &str, dim: Dimension) -> QuantityError {
        parse(text, dim).expect_err(text)
    }

    #[test]
    fn strictness() {
        let e = err("30", Duration);
        assert_eq!(e.message, "`30` is a bare number; a duration needs its unit");
        assert_eq!(e.hint.as_deref(), Some("add the unit, e.g. `30 s`"));
        assert_eq!(e.expected, "a duration: a number, one space and `ms`, `s`, `min` or `h`, e.g. `30 s`");
        let e = err("30s", Duration);
        assert_eq!(e.message, "`30s` needs one space between the number and the unit");
        assert_eq!(e.hint.as_deref(), Some("write `30 s`"));
        assert_eq!(err("10%", Percent).hint.as_deref(), Some("write `10 %`"));
        assert_eq!(err("30 kPa", Duration).message, "`30 kPa` is a pressure, not a duration");
        assert_eq!(err("2 mL", Flow).message, "`2 mL` is a volume, not a flow rate");
        let e = err("30 mins", Duration);
        assert_eq!(e.message, "unknown unit `mins` in `30 mins`");
        assert_eq!(e.hint.as_deref(), Some("did you mean `min`?"));
        assert_eq!(err("5 ul", Volume).hint.as_deref(), Some("did you mean `uL`?"));
        assert!(err("-5 min", Duration).message.contains("negative"));
        assert!(err("-5min", Duration).message.contains("negative"), "{:?}", err("-5min", Duration));
        assert!(err("+5 min", Duration).message.contains("sign"));
        assert!(err("inf s", Duration).message.contains("finite"));
        assert!(err(".inf", Duration).message.contains("finite"));
        assert!(err("nan", Duration).message.contains("finite"));
        assert!(err("1e3 uL", Volume).message.contains("plain decimal"));
        assert!(err(".5 h", Duration).message.contains("plain decimal"));
        assert!(err("5. h", Duration).message.contains("plain decimal"));
        assert!(err("1,5 mL", Volume).hint.unwrap().contains("decimal point"));
        assert!(err("30  s", Duration).message.contains("extra blanks"));
        assert!(err(" 30 s", Duration).message.contains("extra blanks"));
        assert!(err("30 s x", Duration).message.contains("unknown unit"));
        assert_eq!(err("", Duration).message, "missing value");
        assert_eq!(err("fast", Duration).message, "`fast` is not a duration");
        assert!(err("99999999999 h", Duration).message.contains("too large"));
    }

    #[test]
    fn counts() {
        assert_eq!(parse_count("0"), Ok(0));
        assert_eq!(parse_count("24"), Ok(24));
        assert_eq!(parse_count("3 boluses").unwrap_err().hint.as_deref(), Some("write `3`"));
        assert!(parse_count("-1").unwrap_err().message.contains("negative"));
        assert!(parse_count("1.5").unwrap_err().message.contains("whole number"));
        assert!(parse_count("99999999999").unwrap_err().message.contains("too large"));
        assert_eq!(parse_count("").unwrap_err().message, "missing value");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("20 min"), Ok(std::time::Duration::from_secs(1200)));
        assert_eq!(parse_duration("250 ms"), Ok(std::time::Duration::from_millis(250)));
        assert_eq!(format_duration(std::time::Duration::from_secs(1200)), "20 min");
        assert_eq!(format_duration(std::time::Duration::from_secs(93_600)), "26 h");
        assert_eq!(format_duration(std::time::Duration::from_secs(5400)), "1 h 30 min");
        assert_eq!(format_duration(std::time::Duration::from_secs(90)), "90 s");
        assert_eq!(format_duration(std::time::Duration::from_millis(100)), "100 ms");
        assert_eq!(format_duration(std::time::Duration::from_millis(1500)), "1.5 s");
        assert_eq!(format_duration(std::time::Duration::from_nanos(1)), "1 ns");
        assert_eq!(format_duration(std::time::Duration::from_nanos(1500)), "1.5 µs");
        assert_eq!(format_duration(std::time::Duration::from_micros(20)), "20 µs");
        assert_eq!(format_duration(std::time::Duration::from_nanos(1_000_001)), "1.000001 ms");
        assert_eq!(format_duration(std::time::Duration::from_nanos(90_000_000_001)), "90.000000001 s");
        assert_eq!(format_duration(std::time::Duration::from_millis(10)), "10 ms");
        assert_eq!(format_duration(std::time::Duration::ZERO), "0 s");
        assert_eq!(format_value(0.000_000_001, Duration), "1 ns");
        assert_eq!(format_value(1200.0, Volume), "1200 uL");
        assert_eq!(format_value(12.5, Flow), "12.5 uL/h");
    }

    #[test]
    fn decimals_in_the_canonical_unit() {
        assert!(decimals_beyond("100.0000000001 uL/h", 3));
        assert!(decimals_beyond("100.0001 uL/h", 3));
        assert!(!decimals_beyond("100.001 uL/h", 3));
        assert!(!decimals_beyond("100.0010000 uL/h", 3));
        assert!(!decimals_beyond("1.2345 mL", 3));
        assert!(decimals_beyond("1.2345678 mL", 3));
        assert!(decimals_beyond("1 uL/day", 3));
        assert!(!decimals_beyond("24 uL/day", 3));
        assert!(!decimals_beyond("0.5 mL/h", 3));
        assert!(!decimals_beyond("2 uL/min", 3));
        assert!(decimals_beyond(&format!("1.{}1 uL", "0".repeat(40)), 3));
        // Every unit's ratio is its factor.
        for u in UNITS {
            let (n, d) = ratio(u.symbol).expect(u.symbol);
            assert!((n as f64 / d as f64 - u.factor).abs() < 1e-12, "{}", u.symbol);
        }
    }

    #[test]
    fn schema_patterns() {
        assert_eq!(Duration.pattern(), "^[0-9]+(\\.[0-9]+)? (ms|s|min|h)$");
        assert!(Volume.pattern().contains("µL|μL|mL"), "{}", Volume.pattern());
    }
}
