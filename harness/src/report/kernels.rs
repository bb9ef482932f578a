//! The kernel table (`nlstorm merge` of profiles) as text for the terminal and as an
//! HTML page a person reads. Profiles come from other machines: every string from one
//! is escaped for where it goes.

use crate::qualify::{with_unit, KernelTable, Row, Value};
use crate::untrusted::{terminal_line, xml};

fn cell(r: &Row, v: &Option<Value>) -> Option<String> {
    v.as_ref().map(|v| with_unit(v, r.unit.as_deref()))
}

/// Plain text: `!` marks a row where the kernels differ.
pub fn kernel_table_text(t: &KernelTable) -> String {
    let heads: Vec<String> = t
        .kernels
        .iter()
        .map(|(k, _, _)| terminal_line(&k.release))
        .collect();
    let places: Vec<String> = t.kernels.iter().map(|(_, _, p)| p.to_string()).collect();
    let id_w = t.rows.iter().map(|r| r.id.len()).max().unwrap_or(4).max(4);
    let widths: Vec<usize> = heads
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let head = h.len().max(places[i].len());
            t.rows
                .iter()
                .map(|r| cell(r, &r.values[i]).map_or(1, |c| terminal_line(&c).len()))
                .max()
                .unwrap_or(0)
                .max(head)
        })
        .collect();
    let mut out = format!("  {:<id_w$}", "fact");
    for (h, w) in heads.iter().zip(&widths) {
        out += &format!("  {h:<w$}");
    }
    out = out.trim_end().to_string() + "\n";
    let mut line = format!("  {:<id_w$}", "measured on");
    for (p, w) in places.iter().zip(&widths) {
        line += &format!("  {p:<w$}");
    }
    out += line.trim_end();
    out.push('\n');
    for r in &t.rows {
        let mut line = format!("{} {:<id_w$}", if r.differs { "!" } else { " " }, r.id);
        for (v, w) in r.values.iter().zip(&widths) {
            let text = cell(r, v).map_or_else(|| "-".into(), |c| terminal_line(&c));
            line += &format!("  {text:<w$}");
        }
        out += line.trim_end();
        out.push('\n');
    }
    out += &format!(
        "{} facts on {} kernels, {} differ (marked !)\n",
        t.rows.len(),
        t.kernels.len(),
        t.differing()
    );
    out
}

/// A self-contained HTML page: one column per kernel, differing rows highlighted, and
/// a switch-free filter (a second table holds only the differences, first).
pub fn kernel_table_html(t: &KernelTable) -> String {
    let mut h = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>nlstorm: kernels compared</title>\n<style>\nbody{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse;font-size:14px}\nth,td{border:1px solid #ccc;padding:3px 8px;text-align:left}td.v{font-family:monospace;text-align:right}\ntr.d td{background:#fff1c2}tr.d td.id{font-weight:bold}caption{text-align:left;font-weight:bold;margin:1em 0 .3em}\n</style></head><body>\n",
    );
    h += &format!(
        "<h1>Kernels compared</h1>\n<p>Suite {}: {} facts on {} kernels; {} differ (highlighted). Timings differ only outside the first kernel's range widened {}x.</p>\n",
        xml(&t.suite),
        t.rows.len(),
        t.kernels.len(),
        t.differing(),
        crate::qualify::TIMING_FACTOR
    );
    let head = |caption: &str| {
        let mut s = format!(
            "<table><caption>{}</caption>\n<tr><th>fact</th>",
            xml(caption)
        );
        for (k, at, place) in &t.kernels {
            s += &format!(
                "<th>{}<br><small>{} {}, {}</small></th>",
                xml(&k.release),
                xml(&k.machine),
                xml(at),
                xml(&place.to_string())
            );
        }
        s + "</tr>\n"
    };
    for (caption, only_differing) in [("Differences", true), ("Every fact", false)] {
        h += &head(caption);
        for r in t.rows.iter().filter(|r| r.differs || !only_differing) {
            h += &format!(
                "<tr{}><td class=\"id\">{}</td>",
                if r.differs { " class=\"d\"" } else { "" },
                xml(&r.id)
            );
            for v in &r.values {
                h += &format!(
                    "<td class=\"v\">{}</td>",
                    xml(&cell(r, v).unwrap_or_else(|| "not measured".into()))
                );
            }
            h += "</tr>\n";
        }
        h += "</table>\n";
    }
    h + "</body></html>\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qualify::{table, Fact, KernelId, Profile, SUITE};

    fn profile(release: &str, n: u64) -> Profile {
        let fact = |id: &str, n| Fact {
            id: id.into(),
            value: Value::Count(n),
            unit: Some("B".into()),
            how: "x".into(),
        };
        Profile {
            suite: SUITE.into(),
            kernel: KernelId {
                release: release.into(),
                version: String::new(),
                machine: "x86_64".into(),
                config_sha256: None,
                config_source: None,
            },
            measured_at: "20261206T000000Z".into(),
            measured_on: crate::qualify::Place::Host,
            nlstorm: "0.1.0".into(),
            facts: vec![fact("truesize.usersock.len-141", n), fact("buffer.x", 1)],
        }
    }

    #[test]
    fn text_and_html_mark_the_differing_row_and_escape_the_release() {
        let t = table(&[profile("6.1.0", 768), profile("6.12<b>\x1b[2J", 832)]);
        let text = kernel_table_text(&t);
        assert!(
            text.contains("! truesize.usersock.len-141  768 B"),
            "{text}"
        );
        assert!(text.contains("\n  buffer.x"), "{text}");
        assert!(!text.contains('\x1b'), "{text}");
        assert!(
            text.ends_with("2 facts on 2 kernels, 1 differ (marked !)\n"),
            "{text}"
        );
        let html = kernel_table_html(&t);
        assert!(html.contains("6.12&lt;b&gt;"), "{html}");
        assert!(!html.contains("<b>") && !html.contains('\x1b'));
        assert_eq!(
            html.matches("<tr class=\"d\">").count(),
            2,
            "in both tables"
        );
    }
}
