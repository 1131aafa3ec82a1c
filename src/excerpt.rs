//! Showing text read from outside (a plan, a bench file, a bundle's names) to a person:
//! bounded, with control characters escaped, so a 200 KB line, a NUL byte or an escape sequence
//! in the file never reaches the terminal as it is.

/// The most characters of a source line shown in a snippet, and how many of them before the
/// column when the line is cut.
const SNIPPET_CHARS: usize = 160;
const SNIPPET_BEFORE: usize = 60;
/// The most characters of a message, an expectation or a hint shown.
pub const MAX_MESSAGE_CHARS: usize = 400;

/// A character as shown: itself, or an escape for a control character (`\0`, `\u{1b}`) and for
/// the invisible bidirectional controls that would make the line read otherwise than it is.
fn shown(c: char) -> std::borrow::Cow<'static, str> {
    match c {
        '\0' => "\\0".into(),
        '\r' => "\\r".into(),
        '\n' => "\\n".into(),
        '\t' => "\t".into(),
        c if c.is_control()
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') =>
        {
            format!("\\u{{{:x}}}", c as u32).into()
        }
        c => c.to_string().into(),
    }
}

/// `text` with control characters escaped, cut to `max` characters (with `…`).
pub fn printable(text: &str, max: usize) -> String {
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == max {
            out.push('…');
            break;
        }
        out.push_str(&shown(c));
    }
    out
}

/// The snippet of `line` around `column` (1-based), the lead that puts the carets under the
/// token (keeping the line's tabs) and the carets for `width` characters. Bounded and printable
/// whatever the line holds (a plan's diagnostics and a bench file's errors show it).
pub fn snippet(line: &str, column: usize, width: usize) -> (String, String, String) {
    let chars: Vec<char> = line.chars().collect();
    let at = column.saturating_sub(1).min(chars.len());
    let (start, end) = if chars.len() <= SNIPPET_CHARS {
        (0, chars.len())
    } else {
        // From the line's start while the column is in view, else from a little before it.
        let start = if at + SNIPPET_BEFORE < SNIPPET_CHARS { 0 } else { at - SNIPPET_BEFORE };
        let start = start.min(chars.len().saturating_sub(SNIPPET_CHARS));
        (start, (start + SNIPPET_CHARS).min(chars.len()))
    };
    let window = chars.get(start..end).unwrap_or_default();
    let mut text = String::new();
    let mut lead = String::new();
    let mut carets = 0;
    if start > 0 {
        text.push('…');
        lead.push(' ');
    }
    for (i, c) in window.iter().enumerate() {
        let s = shown(*c);
        let wide = s.chars().count();
        text.push_str(&s);
        let index = start + i;
        if index < at {
            if *c == '\t' {
                lead.push('\t');
            } else {
                lead.push_str(&" ".repeat(wide));
            }
        } else if index < at + width.max(1) {
            carets += wide;
        }
    }
    if end < chars.len() {
        text.push('…');
    }
    (text, lead, "^".repeat(carets.max(1)))
}
