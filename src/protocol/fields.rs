//! The `key=value ...` tail of requests, responses and events.

use std::fmt;

use super::number::{NumberError, parse_number, parse_uint, push_number};

/// Why a `key=value` list is malformed or lacks what a message needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    #[error("token {0:?} is not key=value")]
    NotKeyValue(String),
    #[error("key {0:?} is not lower case")]
    BadKey(String),
    #[error("key {0:?} given twice")]
    Duplicate(String),
    #[error("missing key {0:?}")]
    Missing(&'static str),
    #[error("unknown key {0:?}")]
    Unexpected(String),
    #[error("key {key:?}: {source}")]
    BadValue { key: &'static str, source: NumberError },
    #[error("key {key:?}: {message}")]
    BadWord { key: &'static str, message: String },
}

/// An ordered `key=value` list. Keys are lower case and unique; values have no spaces.
///
/// Held as the text it prints (`k=v k=v`) with where each field lies in it: one allocation for
/// the text and one for the spans, however many fields (a STATUS answer has seven, and the rig
/// reads one every poll).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Fields {
    /// `k=v k=v`, single spaces, no leading or trailing one.
    text: String,
    spans: Vec<Span>,
}

/// The tokens of a payload, split on single spaces: what `payload.split(' ')` gives (an empty
/// token between two spaces, and after a trailing one), by a plain scan of the bytes (frames are
/// ASCII and a few dozen bytes: the general searcher cost more than the parsing).
pub fn words(payload: &str) -> Words<'_> {
    Words { rest: Some(payload) }
}

/// See [`words`].
#[derive(Debug, Clone)]
pub struct Words<'a> {
    rest: Option<&'a str>,
}

impl<'a> Iterator for Words<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let rest = self.rest?;
        match rest.bytes().position(|b| b == b' ') {
            Some(i) => {
                self.rest = rest.get(i + 1..);
                rest.get(..i)
            }
            None => {
                self.rest = None;
                Some(rest)
            }
        }
    }
}

/// One field in [`Fields::text`]: the key is `start..eq`, the value `eq + 1..end`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Span {
    start: usize,
    eq: usize,
    end: usize,
}

impl Fields {
    pub fn new() -> Self {
        Self::default()
    }

    /// Empty, with room for a STATUS answer's seven fields.
    pub fn with_room_for_status() -> Self {
        Self { text: String::with_capacity(128), spans: Vec::with_capacity(8) }
    }

    /// Parses tokens already split on single spaces.
    pub fn parse<'a>(tokens: impl IntoIterator<Item = &'a str>) -> Result<Self, FieldError> {
        let mut tokens = tokens.into_iter().peekable();
        if tokens.peek().is_none() {
            return Ok(Fields::new());
        }
        // Room for a STATUS answer's fields at once, instead of the text growing five times.
        let mut fields = Fields::with_room_for_status();
        for token in tokens {
            let eq = token.bytes().position(|b| b == b'=');
            let (key, value) = eq
                .and_then(|i| Some((token.get(..i)?, token.get(i + 1..)?)))
                .ok_or_else(|| FieldError::NotKeyValue(token.to_string()))?;
            if key.is_empty() || value.is_empty() {
                return Err(FieldError::NotKeyValue(token.to_string()));
            }
            if !key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
                return Err(FieldError::BadKey(key.to_string()));
            }
            if fields.get(key).is_some() {
                return Err(FieldError::Duplicate(key.to_string()));
            }
            fields.push(key, value);
        }
        Ok(fields)
    }

    /// Appends `key=value`; numbers go through [`super::number::format_number`]'s rule via
    /// [`Fields::number_field`].
    pub fn with(mut self, key: &str, value: impl fmt::Display) -> Self {
        use fmt::Write as _;
        // Writing to a String cannot fail.
        self.push_with(key, |text| {
            let _ = write!(text, "{value}");
        });
        self
    }

    /// Appends a decimal number formatted as the ICD wants it.
    pub fn number_field(mut self, key: &str, value: f64) -> Self {
        self.push_with(key, |text| push_number(text, value));
        self
    }

    /// Appends a whole number.
    pub fn uint_field(mut self, key: &str, value: u64) -> Self {
        self.push_with(key, |text| super::number::push_uint(text, value));
        self
    }

    fn push(&mut self, key: &str, value: &str) {
        self.push_with(key, |text| text.push_str(value));
    }

    /// Appends `key=` and what `value` writes after it, and the field's span.
    fn push_with(&mut self, key: &str, value: impl FnOnce(&mut String)) {
        if !self.spans.is_empty() {
            self.text.push(' ');
        }
        let start = self.text.len();
        self.text.push_str(key);
        let eq = self.text.len();
        self.text.push('=');
        value(&mut self.text);
        self.spans.push(Span { start, eq, end: self.text.len() });
    }

    fn key(&self, span: &Span) -> &str {
        self.text.get(span.start..span.eq).unwrap_or_default()
    }

    fn value(&self, span: &Span) -> &str {
        self.text.get(span.eq + 1..span.end).unwrap_or_default()
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        // Lengths first, then bytes: a STATUS answer's keys are looked up some 16 times an
        // exchange, and most spans differ from the key in length.
        let text = self.text.as_bytes();
        let wanted = key.as_bytes();
        self.spans
            .iter()
            .find(|s| s.eq.saturating_sub(s.start) == wanted.len() && text.get(s.start..s.eq) == Some(wanted))
            .map(|s| self.value(s))
    }

    pub fn require(&self, key: &'static str) -> Result<&str, FieldError> {
        self.get(key).ok_or(FieldError::Missing(key))
    }

    pub fn number(&self, key: &'static str) -> Result<f64, FieldError> {
        parse_number(self.require(key)?).map_err(|source| FieldError::BadValue { key, source })
    }

    pub fn uint(&self, key: &'static str) -> Result<u64, FieldError> {
        parse_uint(self.require(key)?).map_err(|source| FieldError::BadValue { key, source })
    }

    /// Parses a word from a closed vocabulary (an alarm code, a state...).
    pub fn word<T: std::str::FromStr>(&self, key: &'static str) -> Result<T, FieldError>
    where
        T::Err: fmt::Display,
    {
        self.require(key)?.parse().map_err(|e: T::Err| FieldError::BadWord { key, message: e.to_string() })
    }

    /// Refuses any key outside `allowed` (the ICD says an unknown key is a SYNTAX error).
    pub fn only(&self, allowed: &[&str]) -> Result<(), FieldError> {
        match self.iter().find(|(k, _)| !allowed.contains(k)) {
            Some((k, _)) => Err(FieldError::Unexpected(k.to_string())),
            None => Ok(()),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.spans.iter().map(|s| (self.key(s), self.value(s)))
    }

    /// The fields as they print: `k=v k=v`, without a leading space.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Fields {
    /// `k=v k=v`, without a leading space.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_as_split_on_a_space_does() {
        for payload in ["", " ", "7 OK", "7  OK", "7 OK ", " 7", "! 3 120345 STATE state=RUNNING", "a=1 b=2  c=3 "] {
            assert_eq!(words(payload).collect::<Vec<_>>(), payload.split(' ').collect::<Vec<_>>(), "{payload:?}");
        }
    }

    #[test]
    fn parses_and_prints_in_order() {
        let f = Fields::parse("dose_ul=50 lockout_s=3600 max_per_24h=4".split(' ')).unwrap();
        assert_eq!(f.number("dose_ul"), Ok(50.0));
        assert_eq!(f.uint("lockout_s"), Ok(3600));
        assert_eq!(f.to_string(), "dose_ul=50 lockout_s=3600 max_per_24h=4");
    }

    #[test]
    fn refuses_malformed_tokens() {
        assert_eq!(Fields::parse(["dose_ul"]), Err(FieldError::NotKeyValue("dose_ul".into())));
        assert_eq!(Fields::parse(["=5"]), Err(FieldError::NotKeyValue("=5".into())));
        assert_eq!(Fields::parse(["a="]), Err(FieldError::NotKeyValue("a=".into())));
        assert_eq!(Fields::parse(["Dose=5"]), Err(FieldError::BadKey("Dose".into())));
        assert_eq!(Fields::parse(["a=1", "a=2"]), Err(FieldError::Duplicate("a".into())));
    }

    #[test]
    fn built_and_parsed_fields_are_equal_and_print_alike() {
        let built = Fields::new().with("state", "RUNNING").number_field("basal_ul_h", 12.5).with("alarms", "none");
        let parsed = Fields::parse("state=RUNNING basal_ul_h=12.5 alarms=none".split(' ')).unwrap();
        assert_eq!(built, parsed);
        assert_eq!(built.to_string(), "state=RUNNING basal_ul_h=12.5 alarms=none");
        assert_eq!(
            built.iter().collect::<Vec<_>>(),
            [("state", "RUNNING"), ("basal_ul_h", "12.5"), ("alarms", "none")]
        );
        assert_eq!(parsed.get("alarms"), Some("none"));
        assert_eq!(parsed.get("alarm"), None);
        assert_eq!(Fields::new().to_string(), "");
        assert!(Fields::new().is_empty());
    }

    #[test]
    fn typed_access_errors_name_the_key() {
        let f = Fields::parse(["basal_ul_h=fast"]).unwrap();
        assert!(matches!(f.number("basal_ul_h"), Err(FieldError::BadValue { key: "basal_ul_h", .. })));
        assert_eq!(f.number("dose_ul"), Err(FieldError::Missing("dose_ul")));
        assert_eq!(f.only(&["dose_ul"]), Err(FieldError::Unexpected("basal_ul_h".into())));
    }
}
