//! JUnit XML of a qualification: one test case per fact of the profile.

use quick_junit::{NonSuccessKind, TestCaseStatus, TestSuite};

use super::junit::{case, document, non_success, skipped, text};
use crate::qualify::{Change, Diff, Profile};

/// One test suite for the kernel; a fact fails where it differs from the baseline
/// (timings outside their band only say so in system-out), and every case is skipped
/// when there was no baseline to compare with.
pub fn qualify_junit(p: &Profile, d: Option<&Diff>) -> String {
    let failed = |id: &str| {
        d.and_then(|d| {
            d.differences
                .iter()
                .find(|x| x.id == id && x.change.fails())
        })
    };
    let class = &p.kernel.release;
    let mut suite = TestSuite::new(super::junit::attr(&format!("{} {}", p.suite, class)));
    for f in &p.facts {
        let mut c = match (d, failed(&f.id)) {
            (None, _) => skipped(&f.id, class, "no baseline for this kernel"),
            (Some(_), Some(diff)) => non_success(
                &f.id,
                class,
                NonSuccessKind::Failure,
                &diff.words,
                "differs-from-baseline",
                None,
            ),
            (Some(_), None) => case(&f.id, class, TestCaseStatus::success()),
        };
        let unit = f
            .unit
            .as_deref()
            .map(|u| format!(" {u}"))
            .unwrap_or_default();
        c.set_system_out(text(&format!("{}{unit}: {}", f.value, f.how)));
        suite.add_test_case(c);
    }
    for missing in d
        .into_iter()
        .flat_map(|d| &d.differences)
        .filter(|x| x.change == Change::OnlyInBaseline)
    {
        suite.add_test_case(non_success(
            &missing.id,
            class,
            NonSuccessKind::Failure,
            &missing.words,
            "missing",
            None,
        ));
    }
    document("nlstorm qualify", vec![suite])
}
