//! Building blocks of a run's evidence bundle: pure functions, no rig state.
//!
//! - [`manifest`]: the bundle's integrity file `MANIFEST.sha256`, in GNU `sha256sum` format, so an
//!   auditor can check the bundle with `sha256sum -c MANIFEST.sha256` and nothing of ours.
//! - [`junit`]: JUnit XML, the report format Jenkins and GitLab read.
//! - [`svg`]: small standalone SVG charts for the HTML report (a case against time with its event
//!   lanes, and x/y curves such as the trumpet curve); [`thin`] thins long series for them.
//! - [`history`]: what the record says the pump was told and reported over time (settings,
//!   alarms, boluses, the programmed flow), for the report.

pub mod baseline;
pub mod bundle;
pub mod history;
pub mod junit;
pub mod manifest;
pub mod person;
pub mod plot_data;
pub mod record;
pub mod report;
pub mod result;
pub mod samples_csv;
pub mod signature;
pub mod svg;
pub mod thin;

/// Escapes `s` for XML 1.0 character data (between tags).
///
/// `&`, `<`, `>`, `"` and `'` become entities; `\r` becomes `&#13;` (a parser would turn a literal
/// one into `\n`); characters XML 1.0 forbids (C0 controls other than `\t` `\n` `\r`, U+FFFE, U+FFFF)
/// become U+FFFD REPLACEMENT CHARACTER, since not even a character reference may carry them.
pub(crate) fn xml_text(s: &str) -> String {
    escape(s, false)
}

/// Escapes `s` for an XML 1.0 attribute value in double or single quotes.
///
/// As [`xml_text`], and `\t` `\n` `\r` become character references, since a parser would
/// normalise literal ones to spaces.
pub(crate) fn xml_attr(s: &str) -> String {
    escape(s, true)
}

fn escape(s: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\t' if attribute => out.push_str("&#9;"),
            '\n' | '\t' => out.push(c),
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => out.push('\u{fffd}'),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_replaces_forbidden_characters() {
        assert_eq!(xml_text("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
        assert_eq!(xml_text("x\u{1}y\u{0}\u{ffff}"), "x\u{fffd}y\u{fffd}\u{fffd}");
        assert_eq!(xml_text("l1\n\tl2\r"), "l1\n\tl2&#13;");
        assert_eq!(xml_attr("l1\n\tl2\r"), "l1&#10;&#9;l2&#13;");
        assert_eq!(xml_text("µL/h ≥ 5 %"), "µL/h ≥ 5 %");
    }

    #[test]
    fn escaped_strings_round_trip_through_an_xml_parser() {
        let nasty = "<&>\"' ]]> \u{1}\t\n\r end";
        let xml = format!("<e a=\"{}\" b='{}'>{}</e>", xml_attr(nasty), xml_attr(nasty), xml_text(nasty));
        let doc = roxmltree::Document::parse(&xml).expect("well-formed");
        let e = doc.root_element();
        let expected = nasty.replace('\u{1}', "\u{fffd}");
        assert_eq!(e.attribute("a"), Some(expected.as_str()));
        assert_eq!(e.attribute("b"), Some(expected.as_str()));
        assert_eq!(e.text(), Some(expected.as_str()));
    }
}
