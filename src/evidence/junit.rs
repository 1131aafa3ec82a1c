//! JUnit XML, in the de-facto schema Jenkins and GitLab read.
//!
//! ```text
//! <testsuites name tests failures errors skipped time timestamp>
//!   <testsuite name tests failures errors skipped time timestamp hostname>
//!     <properties><property name value/>...</properties>
//!     <testcase name classname time>
//!       <properties>...</properties>
//!       <failure message type>text</failure> | <error message type>text</error> | <skipped message/>
//!       <system-out>...</system-out>
//!     </testcase>
//!     <system-out>...</system-out>
//!   </testsuite>
//! </testsuites>
//! ```
//!
//! Counts are computed from the cases, times are seconds with millisecond resolution, and every
//! string is escaped for XML 1.0 (characters it forbids become U+FFFD). Empty `<properties>` and
//! absent `<system-out>` are left out, as is an empty `timestamp` (the attribute is an
//! `xs:dateTime`, an empty one would not parse).

use std::fmt::Write as _;

use super::{xml_attr, xml_text};

/// A whole report: the `<testsuites>` root.
#[derive(Debug, Clone, PartialEq)]
pub struct JunitReport {
    pub name: String,
    pub suites: Vec<JunitSuite>,
}

/// One `<testsuite>`.
#[derive(Debug, Clone, PartialEq)]
pub struct JunitSuite {
    pub name: String,
    /// When the suite started, ISO 8601 UTC, e.g. `2025-03-01T12:00:00Z`.
    pub timestamp: String,
    pub time_s: f64,
    pub hostname: String,
    pub properties: Vec<(String, String)>,
    pub cases: Vec<JunitCase>,
    pub system_out: Option<String>,
}

/// One `<testcase>`.
#[derive(Debug, Clone, PartialEq)]
pub struct JunitCase {
    pub name: String,
    pub classname: String,
    pub time_s: f64,
    pub outcome: JunitOutcome,
    pub properties: Vec<(String, String)>,
    pub system_out: Option<String>,
}

/// How a case ended. `Failed`: the pump did not meet the requirement; `Error`: the case could not be
/// judged (rig fault, aborted run).
#[derive(Debug, Clone, PartialEq)]
pub enum JunitOutcome {
    Passed,
    Failed { message: String, text: String },
    Error { message: String, text: String },
    Skipped { message: String },
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counts {
    tests: usize,
    failures: usize,
    errors: usize,
    skipped: usize,
}

impl Counts {
    fn of(cases: &[JunitCase]) -> Self {
        let mut c = Self { tests: cases.len(), ..Self::default() };
        for case in cases {
            match case.outcome {
                JunitOutcome::Passed => {}
                JunitOutcome::Failed { .. } => c.failures += 1,
                JunitOutcome::Error { .. } => c.errors += 1,
                JunitOutcome::Skipped { .. } => c.skipped += 1,
            }
        }
        c
    }

    fn add(self, o: Self) -> Self {
        Self {
            tests: self.tests + o.tests,
            failures: self.failures + o.failures,
            errors: self.errors + o.errors,
            skipped: self.skipped + o.skipped,
        }
    }

    fn attrs(self) -> String {
        format!(
            "tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\"",
            self.tests, self.failures, self.errors, self.skipped
        )
    }
}

/// Seconds with millisecond resolution; a negative or non-finite time (a clock fault) becomes 0.
fn secs(t: f64) -> String {
    if t.is_finite() && t > 0.0 { format!("{t:.3}") } else { "0.000".to_owned() }
}

/// Renders `report` as a JUnit XML document (UTF-8, XML declaration first, trailing newline).
pub fn render(report: &JunitReport) -> String {
    let total = report.suites.iter().fold(Counts::default(), |acc, s| acc.add(Counts::of(&s.cases)));
    let time: f64 =
        report.suites.iter().map(|s| if s.time_s.is_finite() && s.time_s > 0.0 { s.time_s } else { 0.0 }).sum();
    // The earliest suite start: ISO 8601 UTC timestamps of one format sort as text.
    let timestamp = report.suites.iter().map(|s| s.timestamp.as_str()).filter(|t| !t.is_empty()).min();

    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = write!(out, "<testsuites name=\"{}\" {} time=\"{}\"", xml_attr(&report.name), total.attrs(), secs(time));
    if let Some(ts) = timestamp {
        let _ = write!(out, " timestamp=\"{}\"", xml_attr(ts));
    }
    out.push_str(">\n");
    for suite in &report.suites {
        render_suite(&mut out, suite);
    }
    out.push_str("</testsuites>\n");
    out
}

fn render_suite(out: &mut String, suite: &JunitSuite) {
    let counts = Counts::of(&suite.cases);
    let _ = write!(
        out,
        "  <testsuite name=\"{}\" {} time=\"{}\"",
        xml_attr(&suite.name),
        counts.attrs(),
        secs(suite.time_s)
    );
    if !suite.timestamp.is_empty() {
        let _ = write!(out, " timestamp=\"{}\"", xml_attr(&suite.timestamp));
    }
    let _ = writeln!(out, " hostname=\"{}\">", xml_attr(&suite.hostname));
    render_properties(out, &suite.properties, "    ");
    for case in &suite.cases {
        render_case(out, case);
    }
    if let Some(text) = &suite.system_out {
        let _ = writeln!(out, "    <system-out>{}</system-out>", xml_text(text));
    }
    out.push_str("  </testsuite>\n");
}

fn render_case(out: &mut String, case: &JunitCase) {
    let _ = write!(
        out,
        "    <testcase name=\"{}\" classname=\"{}\" time=\"{}\"",
        xml_attr(&case.name),
        xml_attr(&case.classname),
        secs(case.time_s)
    );
    if case.properties.is_empty() && case.system_out.is_none() && case.outcome == JunitOutcome::Passed {
        out.push_str("/>\n");
        return;
    }
    out.push_str(">\n");
    render_properties(out, &case.properties, "      ");
    match &case.outcome {
        JunitOutcome::Passed => {}
        JunitOutcome::Failed { message, text } => {
            let _ = writeln!(
                out,
                "      <failure message=\"{}\" type=\"failure\">{}</failure>",
                xml_attr(message),
                xml_text(text)
            );
        }
        JunitOutcome::Error { message, text } => {
            let _ = writeln!(
                out,
                "      <error message=\"{}\" type=\"error\">{}</error>",
                xml_attr(message),
                xml_text(text)
            );
        }
        JunitOutcome::Skipped { message } => {
            let _ = writeln!(out, "      <skipped message=\"{}\"/>", xml_attr(message));
        }
    }
    if let Some(text) = &case.system_out {
        let _ = writeln!(out, "      <system-out>{}</system-out>", xml_text(text));
    }
    out.push_str("    </testcase>\n");
}

fn render_properties(out: &mut String, properties: &[(String, String)], indent: &str) {
    if properties.is_empty() {
        return;
    }
    let _ = writeln!(out, "{indent}<properties>");
    for (name, value) in properties {
        let _ = writeln!(out, "{indent}  <property name=\"{}\" value=\"{}\"/>", xml_attr(name), xml_attr(value));
    }
    let _ = writeln!(out, "{indent}</properties>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use roxmltree::{Document, Node};

    const NASTY: &str = "<&>\"' \u{1}bell";
    const NASTY_PARSED: &str = "<&>\"' \u{fffd}bell";

    fn case(name: &str, outcome: JunitOutcome) -> JunitCase {
        JunitCase {
            name: name.into(),
            classname: "rig.delivery".into(),
            time_s: 1.5,
            outcome,
            properties: vec![],
            system_out: None,
        }
    }

    fn report() -> JunitReport {
        JunitReport {
            name: "rig run 42".into(),
            suites: vec![
                JunitSuite {
                    name: "delivery-accuracy".into(),
                    timestamp: "2025-03-01T12:00:05Z".into(),
                    time_s: 3600.25,
                    hostname: "rig-pi-01".into(),
                    properties: vec![("pump.serial".into(), "SN-0042".into()), ("firmware".into(), "2.3.1".into())],
                    cases: vec![
                        JunitCase {
                            properties: vec![("requirement".into(), "SRS-DEL-001".into())],
                            system_out: Some("flow 10.02 µL/h\nwithin ±5 %".into()),
                            ..case("rate 10 uL/h", JunitOutcome::Passed)
                        },
                        case(
                            "rate 100 uL/h",
                            JunitOutcome::Failed {
                                message: "delivered 93.1 % of expected".into(),
                                text: "expected 100 ± 5 %\nmeasured 93.1 %".into(),
                            },
                        ),
                        case("rate 0.1 uL/h", JunitOutcome::Skipped { message: "sensor range".into() }),
                    ],
                    system_out: Some("suite log".into()),
                },
                JunitSuite {
                    name: "occlusion".into(),
                    timestamp: "2025-03-01T11:00:00Z".into(),
                    time_s: 10.0,
                    hostname: "rig-pi-01".into(),
                    properties: vec![],
                    cases: vec![
                        case(
                            "time to alarm",
                            JunitOutcome::Error { message: "valve did not close".into(), text: "I2C NACK".into() },
                        ),
                        case("alarm text", JunitOutcome::Passed),
                    ],
                    system_out: None,
                },
            ],
        }
    }

    fn children<'a, 'i>(node: Node<'a, 'i>, tag: &str) -> Vec<Node<'a, 'i>> {
        node.children().filter(|n| n.has_tag_name(tag)).collect()
    }

    fn attr<'a>(node: Node<'a, '_>, name: &str) -> &'a str {
        node.attribute(name).unwrap_or_else(|| panic!("<{}> has no {name}", node.tag_name().name()))
    }

    #[test]
    fn declaration_first_and_structure_parses() {
        let xml = render(&report());
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites "));
        let doc = Document::parse(&xml).expect("well-formed XML");
        let root = doc.root_element();
        assert!(root.has_tag_name("testsuites"));
        let suites = children(root, "testsuite");
        assert_eq!(suites.len(), 2);
        assert_eq!(children(suites[0], "testcase").len(), 3);
        assert_eq!(children(suites[1], "testcase").len(), 2);
        // Suite-level: properties first, system-out last.
        let first: Vec<&str> = suites[0].children().filter(Node::is_element).map(|n| n.tag_name().name()).collect();
        assert_eq!(first, ["properties", "testcase", "testcase", "testcase", "system-out"]);
        assert_eq!(children(suites[1], "properties").len(), 0, "empty properties are left out");
    }

    #[test]
    fn counts_and_attributes_are_computed_from_the_cases() {
        let xml = render(&report());
        let doc = Document::parse(&xml).unwrap();
        let root = doc.root_element();
        assert_eq!(attr(root, "name"), "rig run 42");
        assert_eq!(["tests", "failures", "errors", "skipped"].map(|a| attr(root, a)), ["5", "1", "1", "1"]);
        assert_eq!(attr(root, "time"), "3610.250");
        assert_eq!(attr(root, "timestamp"), "2025-03-01T11:00:00Z", "earliest suite start");

        let suites = children(root, "testsuite");
        let s0 = suites[0];
        assert_eq!(attr(s0, "name"), "delivery-accuracy");
        assert_eq!(["tests", "failures", "errors", "skipped"].map(|a| attr(s0, a)), ["3", "1", "0", "1"]);
        assert_eq!(attr(s0, "time"), "3600.250");
        assert_eq!(attr(s0, "timestamp"), "2025-03-01T12:00:05Z");
        assert_eq!(attr(s0, "hostname"), "rig-pi-01");
        let props: Vec<(&str, &str)> = children(children(s0, "properties")[0], "property")
            .into_iter()
            .map(|p| (attr(p, "name"), attr(p, "value")))
            .collect();
        assert_eq!(props, [("pump.serial", "SN-0042"), ("firmware", "2.3.1")]);
        assert_eq!(children(s0, "system-out")[0].text(), Some("suite log"));
        let s1 = suites[1];
        assert_eq!(["tests", "failures", "errors", "skipped"].map(|a| attr(s1, a)), ["2", "0", "1", "0"]);

        let cases = children(s0, "testcase");
        assert_eq!(attr(cases[0], "name"), "rate 10 uL/h");
        assert_eq!(attr(cases[0], "classname"), "rig.delivery");
        assert_eq!(attr(cases[0], "time"), "1.500");
        let case_props = children(children(cases[0], "properties")[0], "property");
        assert_eq!((attr(case_props[0], "name"), attr(case_props[0], "value")), ("requirement", "SRS-DEL-001"));
        assert_eq!(children(cases[0], "system-out")[0].text(), Some("flow 10.02 µL/h\nwithin ±5 %"));
        assert!(children(cases[0], "failure").is_empty());

        let failure = children(cases[1], "failure")[0];
        assert_eq!(attr(failure, "message"), "delivered 93.1 % of expected");
        assert_eq!(attr(failure, "type"), "failure");
        assert_eq!(failure.text(), Some("expected 100 ± 5 %\nmeasured 93.1 %"));
        assert_eq!(attr(children(cases[2], "skipped")[0], "message"), "sensor range");

        let error = children(children(s1, "testcase")[0], "error")[0];
        assert_eq!(attr(error, "message"), "valve did not close");
        assert_eq!(attr(error, "type"), "error");
        assert_eq!(error.text(), Some("I2C NACK"));
        // A plain passed case is an empty element.
        assert_eq!(children(s1, "testcase")[1].children().count(), 0);
    }

    #[test]
    fn nasty_strings_are_escaped_everywhere() {
        let nasty_case = JunitCase {
            name: NASTY.into(),
            classname: NASTY.into(),
            time_s: 0.001,
            outcome: JunitOutcome::Failed { message: format!("{NASTY}\nline 2"), text: format!("{NASTY} ]]> end") },
            properties: vec![(NASTY.into(), NASTY.into())],
            system_out: Some(NASTY.into()),
        };
        let report = JunitReport {
            name: NASTY.into(),
            suites: vec![JunitSuite {
                name: NASTY.into(),
                timestamp: "2025-03-01T12:00:00Z".into(),
                time_s: 1.0,
                hostname: NASTY.into(),
                properties: vec![(NASTY.into(), NASTY.into())],
                cases: vec![
                    nasty_case,
                    case("e", JunitOutcome::Error { message: NASTY.into(), text: NASTY.into() }),
                    case("s", JunitOutcome::Skipped { message: NASTY.into() }),
                ],
                system_out: Some(NASTY.into()),
            }],
        };
        let xml = render(&report);
        assert!(!xml.contains('\u{1}'));
        let doc = Document::parse(&xml).expect("escaped output is well-formed");
        let root = doc.root_element();
        assert_eq!(attr(root, "name"), NASTY_PARSED);
        let suite = children(root, "testsuite")[0];
        assert_eq!(attr(suite, "name"), NASTY_PARSED);
        assert_eq!(attr(suite, "hostname"), NASTY_PARSED);
        let property = children(children(suite, "properties")[0], "property")[0];
        assert_eq!((attr(property, "name"), attr(property, "value")), (NASTY_PARSED, NASTY_PARSED));
        assert_eq!(children(suite, "system-out")[0].text(), Some(NASTY_PARSED));
        let cases = children(suite, "testcase");
        assert_eq!(attr(cases[0], "name"), NASTY_PARSED);
        assert_eq!(attr(cases[0], "classname"), NASTY_PARSED);
        let failure = children(cases[0], "failure")[0];
        assert_eq!(attr(failure, "message"), format!("{NASTY_PARSED}\nline 2"), "newline kept in attribute");
        assert_eq!(failure.text(), Some(format!("{NASTY_PARSED} ]]> end").as_str()));
        let case_property = children(children(cases[0], "properties")[0], "property")[0];
        assert_eq!(attr(case_property, "value"), NASTY_PARSED);
        assert_eq!(children(cases[0], "system-out")[0].text(), Some(NASTY_PARSED));
        let error = children(cases[1], "error")[0];
        assert_eq!((attr(error, "message"), error.text()), (NASTY_PARSED, Some(NASTY_PARSED)));
        assert_eq!(attr(children(cases[2], "skipped")[0], "message"), NASTY_PARSED);
    }

    #[test]
    fn empty_report_and_odd_times() {
        let xml = render(&JunitReport { name: String::new(), suites: vec![] });
        let doc = Document::parse(&xml).unwrap();
        let root = doc.root_element();
        assert_eq!(
            ["tests", "failures", "errors", "skipped", "time"].map(|a| attr(root, a)),
            ["0", "0", "0", "0", "0.000"]
        );
        assert_eq!(root.attribute("timestamp"), None);

        let suite = JunitSuite {
            name: "s".into(),
            timestamp: String::new(),
            time_s: f64::NAN,
            hostname: String::new(),
            properties: vec![],
            cases: vec![JunitCase { time_s: -2.0, ..case("c", JunitOutcome::Passed) }],
            system_out: None,
        };
        let xml = render(&JunitReport { name: "r".into(), suites: vec![suite] });
        let doc = Document::parse(&xml).unwrap();
        let s = children(doc.root_element(), "testsuite")[0];
        assert_eq!(attr(s, "time"), "0.000");
        assert_eq!(s.attribute("timestamp"), None, "an empty timestamp is left out");
        assert_eq!(attr(children(s, "testcase")[0], "time"), "0.000");
    }
}
