//! JUnit XML: one test suite per scenario, one test case per expectation; failures carry
//! the measured value. The document is built with quick-junit, which escapes the markup;
//! every string in it is untrusted (names, messages, a merged record's text), so control
//! and invisible characters are first made visible as escapes such as `\u{1b}` (quick-junit
//! would silently drop them, and a reader should see that they were there).

use std::time::Duration;

use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};

use super::model::Report;

/// An attribute's value: one line, everything invisible made visible.
pub(super) fn attr(s: &str) -> String {
    crate::untrusted::terminal_line(s)
}

/// Element text: newlines kept, everything else invisible made visible.
pub(super) fn text(s: &str) -> String {
    crate::untrusted::terminal(s)
}

/// A test case of `classname` with a status of `kind` (failure or error), `message` and
/// `ty`, its text `description` if any.
pub(super) fn non_success(
    name: &str,
    classname: &str,
    kind: NonSuccessKind,
    message: &str,
    ty: &str,
    description: Option<&str>,
) -> TestCase {
    let mut status = TestCaseStatus::non_success(kind);
    status.set_message(attr(message)).set_type(attr(ty));
    if let Some(d) = description {
        status.set_description(text(d));
    }
    case(name, classname, status)
}

/// A test case of `classname` named `name` with `status`.
pub(super) fn case(name: &str, classname: &str, status: TestCaseStatus) -> TestCase {
    let mut c = TestCase::new(attr(name), status);
    c.set_classname(attr(classname));
    c
}

/// A skipped test case, saying why.
pub(super) fn skipped(name: &str, classname: &str, why: &str) -> TestCase {
    let mut status = TestCaseStatus::skipped();
    status.set_message(attr(why));
    case(name, classname, status)
}

/// The document of `suites` under the name `name`.
pub(super) fn document(name: &str, suites: Vec<TestSuite>) -> String {
    let mut r = quick_junit::Report::new(attr(name));
    r.add_test_suites(suites);
    r.to_string()
        .expect("serializing into memory cannot fail: quick-junit only reports I/O errors")
}

/// Renders `report` as JUnit XML.
pub fn junit(report: &Report) -> String {
    let suites = report
        .scenarios
        .iter()
        .map(|s| {
            let mut suite = TestSuite::new(attr(&s.scenario));
            suite.set_time(Duration::from_secs_f64(s.elapsed_s.unwrap_or(0.0).max(0.0)));
            let skipped_run = s.status == crate::report::SKIPPED;
            match (&s.error, skipped_run) {
                (Some(why), true) => {
                    suite.add_test_case(skipped("run", &s.scenario, why));
                }
                (Some(e), false) => {
                    suite.add_test_case(non_success(
                        "run",
                        &s.scenario,
                        NonSuccessKind::Error,
                        e,
                        &s.status,
                        None,
                    ));
                }
                (None, _) => {}
            }
            for p in &s.problems {
                suite.add_test_case(non_success(
                    "accounting",
                    &s.scenario,
                    NonSuccessKind::Error,
                    p,
                    "harness-error",
                    None,
                ));
            }
            for o in &s.outcomes {
                let name = format!("{}: {}", o.receiver, o.check);
                suite.add_test_case(if o.passed {
                    case(&name, &s.scenario, TestCaseStatus::success())
                } else {
                    non_success(
                        &name,
                        &s.scenario,
                        NonSuccessKind::Failure,
                        &format!("want {}, measured {} ({})", o.check, o.measured, o.location),
                        "expectation",
                        Some(&format!("measured: {}", o.measured)),
                    )
                });
            }
            suite
        })
        .collect();
    document("nlstorm", suites)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Outcome;
    use crate::report::ScenarioReport;

    #[test]
    fn failures_carry_the_measured_value_and_escape() {
        let s = ScenarioReport {
            scenario: "a<b".into(),
            file: "f".into(),
            status: "fail".into(),
            exit_code: 1,
            error: None,
            record_dir: None,
            kernel_release: None,
            facts: None,
            run_id: None,
            elapsed_s: Some(0.5),
            receivers: vec![],
            emitters: vec![],
            dumps: vec![],
            churn: vec![],
            programs: vec![],
            outcomes: vec![
                Outcome {
                    receiver: "r".into(),
                    check: "lost == 0".into(),
                    location: "f:3:1".into(),
                    passed: false,
                    measured: "34".into(),
                },
                Outcome {
                    receiver: "r".into(),
                    check: "enobufs >= 1".into(),
                    location: "f:4:1".into(),
                    passed: true,
                    measured: "1".into(),
                },
            ],
            problems: vec![],
        };
        let x = junit(&Report {
            nlstorm_version: "0".into(),
            exit_code: 1,
            scenarios: vec![s],
        });
        insta::assert_snapshot!(x);
    }

    #[test]
    fn control_characters_in_untrusted_text_are_shown_not_dropped() {
        let mut s: ScenarioReport = serde_json::from_str(include_str!(
            "../../../fixtures/records/overrun-one-receiver/verdict.json"
        ))
        .unwrap();
        s.scenario = "evil\u{1b}[31m\u{0}name".into();
        s.status = "harness-error".into();
        s.outcomes.clear();
        s.error = Some("line one\nline two \u{7}\u{202e}".into());
        let x = junit(&Report {
            nlstorm_version: "0".into(),
            exit_code: 4,
            scenarios: vec![s],
        });
        assert!(!x.chars().any(|c| c.is_control() && c != '\n'), "{x}");
        insta::assert_snapshot!(x);
    }

    #[test]
    fn characters_xml_cannot_hold_never_reach_the_document() {
        let mut s: ScenarioReport = serde_json::from_str(include_str!(
            "../../../fixtures/records/overrun-one-receiver/verdict.json"
        ))
        .unwrap();
        s.status = "harness-error".into();
        s.error = Some("program said \u{fffe}\u{ffff}\u{1fffe} and \u{e0041}".into());
        s.kernel_release = Some("6.1\u{fffe}".into());
        let x = junit(&Report {
            nlstorm_version: "0".into(),
            exit_code: 4,
            scenarios: vec![s],
        });
        // XML 1.0's Char production: tab, newline, CR, U+20..U+D7FF, U+E000..U+FFFD, U+10000..
        let legal = |c: char| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..);
        assert!(x.chars().all(legal), "{x}");
        assert!(x.contains("\\u{fffe}"), "shown, not dropped: {x}");
    }

    #[test]
    fn a_skipped_scenario_is_a_skipped_test_case() {
        let mut s: ScenarioReport = serde_json::from_str(include_str!(
            "../../../fixtures/records/overrun-one-receiver/verdict.json"
        ))
        .unwrap();
        s.status = crate::report::SKIPPED.into();
        s.outcomes.clear();
        s.error = Some("failed to set SO_RCVBUFFORCE (needs CAP_NET_ADMIN)".into());
        let x = junit(&Report {
            nlstorm_version: "0".into(),
            exit_code: 0,
            scenarios: vec![s],
        });
        assert!(
            x.contains("tests=\"1\" skipped=\"1\" errors=\"0\" failures=\"0\""),
            "{x}"
        );
        assert!(
            x.contains("<skipped message=\"failed to set SO_RCVBUFFORCE (needs CAP_NET_ADMIN)\"/>"),
            "{x}"
        );
    }
}
