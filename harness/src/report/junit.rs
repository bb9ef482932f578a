//! JUnit XML: one test suite per scenario, one test case per expectation; failures carry
//! the measured value.

use super::model::Report;

/// Every string in the document is untrusted (names, messages, a merged record's text).
fn esc(s: &str) -> String {
    crate::untrusted::xml(s)
}

/// Renders `report` as JUnit XML.
pub fn junit(report: &Report) -> String {
    let mut x =
        String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"nlstorm\">\n");
    for s in &report.scenarios {
        let failures = s.outcomes.iter().filter(|o| !o.passed).count();
        let skipped = s.status == crate::report::SKIPPED;
        let errors = usize::from(s.error.is_some() && !skipped) + s.problems.len();
        let tests = s.outcomes.len() + errors + usize::from(skipped);
        x.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{}\" time=\"{:.3}\">\n",
            esc(&s.scenario),
            usize::from(skipped),
            s.elapsed_s.unwrap_or(0.0)
        ));
        if let (true, Some(why)) = (skipped, &s.error) {
            x.push_str(&format!(
                "    <testcase classname=\"{}\" name=\"run\">\n      <skipped message=\"{}\"/>\n    </testcase>\n",
                esc(&s.scenario),
                esc(why)
            ));
        } else if let Some(e) = &s.error {
            x.push_str(&format!("    <testcase classname=\"{}\" name=\"run\">\n      <error message=\"{}\" type=\"{}\"/>\n    </testcase>\n", esc(&s.scenario), esc(e), esc(&s.status)));
        }
        for p in &s.problems {
            x.push_str(&format!("    <testcase classname=\"{}\" name=\"accounting\">\n      <error message=\"{}\" type=\"harness-error\"/>\n    </testcase>\n", esc(&s.scenario), esc(p)));
        }
        for o in &s.outcomes {
            let name = format!("{}: {}", o.receiver, o.check);
            x.push_str(&format!(
                "    <testcase classname=\"{}\" name=\"{}\"",
                esc(&s.scenario),
                esc(&name)
            ));
            if o.passed {
                x.push_str("/>\n");
            } else {
                let msg = format!("want {}, measured {} ({})", o.check, o.measured, o.location);
                x.push_str(&format!(">\n      <failure message=\"{}\" type=\"expectation\">measured: {}</failure>\n    </testcase>\n", esc(&msg), esc(&o.measured)));
            }
        }
        x.push_str("  </testsuite>\n");
    }
    x.push_str("</testsuites>\n");
    x
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
        assert!(
            x.contains("name=\"a&lt;b\" tests=\"2\" failures=\"1\""),
            "{x}"
        );
        assert!(
            x.contains("<failure message=\"want lost == 0, measured 34 (f:3:1)\""),
            "{x}"
        );
        assert!(x.contains("name=\"r: enobufs &gt;= 1\"/>"), "{x}");
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
            x.contains("tests=\"1\" failures=\"0\" errors=\"0\" skipped=\"1\""),
            "{x}"
        );
        assert!(
            x.contains("<skipped message=\"failed to set SO_RCVBUFFORCE (needs CAP_NET_ADMIN)\"/>"),
            "{x}"
        );
    }
}
