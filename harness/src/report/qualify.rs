//! JUnit XML of a qualification: one test case per fact of the profile.

use crate::qualify::{Change, Diff, Profile};
use crate::untrusted::xml;

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
    let failures = d.map_or(0, Diff::failing);
    let mut x = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"nlstorm qualify\">\n",
    );
    x.push_str(&format!(
        "  <testsuite name=\"{} {}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{}\">\n",
        xml(&p.suite),
        xml(&p.kernel.release),
        p.facts.len(),
        if d.is_some() { 0 } else { p.facts.len() }
    ));
    for f in &p.facts {
        x.push_str(&format!(
            "    <testcase classname=\"{}\" name=\"{}\">",
            xml(&p.kernel.release),
            xml(&f.id)
        ));
        match (d, failed(&f.id)) {
            (None, _) => x.push_str("<skipped message=\"no baseline for this kernel\"/>"),
            (Some(_), Some(diff)) => x.push_str(&format!(
                "<failure message=\"{}\" type=\"differs-from-baseline\"/>",
                xml(&diff.words)
            )),
            (Some(_), None) => {}
        }
        x.push_str(&format!(
            "<system-out>{}{}: {}</system-out></testcase>\n",
            xml(&f.value.to_string()),
            f.unit
                .as_deref()
                .map(|u| format!(" {}", xml(u)))
                .unwrap_or_default(),
            xml(&f.how)
        ));
    }
    for missing in d
        .into_iter()
        .flat_map(|d| &d.differences)
        .filter(|x| x.change == Change::OnlyInBaseline)
    {
        x.push_str(&format!(
            "    <testcase classname=\"{}\" name=\"{}\"><failure message=\"{}\" type=\"missing\"/></testcase>\n",
            xml(&p.kernel.release),
            xml(&missing.id),
            xml(&missing.words)
        ));
    }
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}
