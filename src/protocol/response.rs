//! Pump → host responses: `<seq> OK [key=value ...]` or `<seq> ERR <CODE> [detail=<word>]`.

use std::fmt;

use super::codes::ErrCode;
use super::fields::Fields;

/// The pump's refusal of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PumpError {
    pub code: ErrCode,
    pub detail: Option<String>,
}

impl fmt::Display for PumpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ERR {}", self.code)?;
        if let Some(d) = &self.detail {
            write!(f, " detail={d}")?;
        }
        Ok(())
    }
}

/// One response. `seq` 0 answers a frame whose seq could not be read (a bad CRC, a bad seq).
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub seq: u16,
    pub outcome: Result<Fields, PumpError>,
}

impl Response {
    pub fn ok(seq: u16, fields: Fields) -> Self {
        Self { seq, outcome: Ok(fields) }
    }

    pub fn err(seq: u16, code: ErrCode, detail: Option<&str>) -> Self {
        Self { seq, outcome: Err(PumpError { code, detail: detail.map(str::to_string) }) }
    }

    /// The frame payload.
    pub fn payload(&self) -> String {
        // Built in place: the twin prints one per request (the formatting machinery was a
        // large part of answering a STATUS).
        let mut out = String::with_capacity(16 + self.outcome.as_ref().map_or(0, |f| f.as_str().len()));
        super::number::push_uint(&mut out, u64::from(self.seq));
        match &self.outcome {
            Ok(f) if f.is_empty() => out.push_str(" OK"),
            Ok(f) => {
                out.push_str(" OK ");
                out.push_str(f.as_str());
            }
            Err(e) => {
                use std::fmt::Write as _;
                let _ = write!(out, " {e}");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_match_icd_text() {
        assert_eq!(Response::ok(7, Fields::new()).payload(), "7 OK");
        assert_eq!(
            Response::ok(9, Fields::new().with("granted", 0).with("reason", "LOCKOUT")).payload(),
            "9 OK granted=0 reason=LOCKOUT"
        );
        assert_eq!(Response::err(0, ErrCode::Crc, None).payload(), "0 ERR CRC");
        assert_eq!(Response::err(3, ErrCode::Range, Some("basal_ul_h")).payload(), "3 ERR RANGE detail=basal_ul_h");
    }
}
