//! The `key=value ...` tail of requests, responses and events.

use std::fmt;

use super::number::{NumberError, format_number, parse_number, parse_uint};

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
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Fields(Vec<(String, String)>);

impl Fields {
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses tokens already split on single spaces.
    pub fn parse<'a>(tokens: impl IntoIterator<Item = &'a str>) -> Result<Self, FieldError> {
        let mut fields = Fields::new();
        for token in tokens {
            let (key, value) = token.split_once('=').ok_or_else(|| FieldError::NotKeyValue(token.to_string()))?;
            if key.is_empty() || value.is_empty() {
                return Err(FieldError::NotKeyValue(token.to_string()));
            }
            if !key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
                return Err(FieldError::BadKey(key.to_string()));
            }
            if fields.get(key).is_some() {
                return Err(FieldError::Duplicate(key.to_string()));
            }
            fields.0.push((key.to_string(), value.to_string()));
        }
        Ok(fields)
    }

    /// Appends `key=value`; numbers go through [`format_number`] via [`Fields::number_field`].
    pub fn with(mut self, key: &str, value: impl fmt::Display) -> Self {
        self.0.push((key.to_string(), value.to_string()));
        self
    }

    /// Appends a decimal number formatted as the ICD wants it.
    pub fn number_field(self, key: &str, value: f64) -> Self {
        self.with(key, format_number(value))
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
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
        match self.0.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
            Some((k, _)) => Err(FieldError::Unexpected(k.clone())),
            None => Ok(()),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

impl fmt::Display for Fields {
    /// `k=v k=v`, without a leading space.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{k}={v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn typed_access_errors_name_the_key() {
        let f = Fields::parse(["basal_ul_h=fast"]).unwrap();
        assert!(matches!(f.number("basal_ul_h"), Err(FieldError::BadValue { key: "basal_ul_h", .. })));
        assert_eq!(f.number("dose_ul"), Err(FieldError::Missing("dose_ul")));
        assert_eq!(f.only(&["dose_ul"]), Err(FieldError::Unexpected("basal_ul_h".into())));
    }
}
