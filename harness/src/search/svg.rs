//! Sweep plots a person can read without the JSON: measured capacity against the model
//! on log-log axes, and a loss heatmap per slice of the grid. Plain SVG, no dependencies.

use crate::check::ModelVerdict;
use std::collections::BTreeMap;
use std::fmt::Write;

use super::axis::Param;
use super::sweep::{Cell, SweepReport};

const PALETTE: [&str; 10] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
    "#17becf", "#d62728",
];

/// Every string in the document is untrusted (names, messages, a merged record's text).
fn esc(s: &str) -> String {
    crate::untrusted::xml(s)
}

/// The whole document.
pub fn sweep_svg(r: &SweepReport) -> String {
    let width = 960.0;
    let mut body = String::new();
    let mut y = 10.0;
    let kernel = r
        .environments
        .iter()
        .map(|e| e.kernel_release.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let axes: Vec<String> = r
        .spec
        .axes
        .iter()
        .map(|a| format!("{} {}", a.param.name(), a.spec))
        .collect();
    let _ = write!(
        body,
        r#"<text x="20" y="{}" font-size="16" font-weight="bold">nlstorm sweep: {} on kernel {}</text>"#,
        y + 16.0,
        esc(r.spec.fixed.emitter.name()),
        esc(&kernel)
    );
    let _ = write!(
        body,
        r#"<text x="20" y="{}" font-size="12">{} · {} of {} cells · model agrees in {}, disagrees in {}</text>"#,
        y + 34.0,
        esc(&axes.join(" × ")),
        r.cells.len(),
        r.grid_cells,
        r.model_agrees,
        r.model_disagrees
    );
    y += 50.0;
    if let Some((svg, h)) = capacity_plot(r, y, width) {
        body.push_str(&svg);
        y += h + 20.0;
    }
    for (svg, h) in heatmaps(r, y, width) {
        body.push_str(&svg);
        y += h + 20.0;
    }
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{y}" viewBox="0 0 {width} {y}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>{body}</svg>
"#
    )
}

fn log_scale(lo: f64, hi: f64, a: f64, b: f64) -> impl Fn(f64) -> f64 {
    let (l0, l1) = (lo.max(1.0).log10(), hi.max(lo * 1.0001).max(1.0001).log10());
    move |v: f64| a + (v.max(1.0).log10() - l0) / (l1 - l0).max(1e-9) * (b - a)
}

/// Measured capacity (dots) and model capacity (lines) against effective rcvbuf, one
/// series per combination of the other axes. Only cells measured without a reader.
fn capacity_plot(r: &SweepReport, top: f64, width: f64) -> Option<(String, f64)> {
    let rc = r.spec.axes.iter().position(|a| a.param == Param::Rcvbuf)?;
    let cells: Vec<&Cell> = r
        .cells
        .iter()
        .filter(|c| c.model_capacity.is_some() && c.model != ModelVerdict::NotApplicable)
        .collect();
    if cells.is_empty() {
        return None;
    }
    let mut series: BTreeMap<Vec<u64>, Vec<&Cell>> = BTreeMap::new();
    for c in &cells {
        let key: Vec<u64> = c
            .values
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != rc)
            .map(|(_, v)| *v)
            .collect();
        series.entry(key).or_default().push(c);
    }
    let xs = cells.iter().map(|c| c.rcvbuf_effective as f64);
    let (xmin, xmax) = xs.fold((f64::MAX, 0f64), |(a, b), x| (a.min(x), b.max(x)));
    let ys = cells
        .iter()
        .flat_map(|c| [c.delivered as f64, c.model_capacity.unwrap_or(1) as f64]);
    let (ymin, ymax) = ys.fold((f64::MAX, 0f64), |(a, b), y| (a.min(y), b.max(y)));
    let (h, left, right) = (420.0, 80.0, width - 200.0);
    let (ptop, pbot) = (top + 30.0, top + h - 40.0);
    let sx = log_scale(xmin, xmax, left, right);
    let sy = log_scale(ymin.max(1.0), ymax, pbot, ptop);
    let mut o = String::new();
    let _ = write!(
        o,
        r#"<text x="{left}" y="{}" font-size="14" font-weight="bold">Unread-queue capacity: measured (dots) vs model (lines)</text>"#,
        top + 16.0
    );
    let _ = write!(
        o,
        r##"<rect x="{left}" y="{ptop}" width="{}" height="{}" fill="none" stroke="#333"/>"##,
        right - left,
        pbot - ptop
    );
    for d in decades(xmin, xmax) {
        let x = sx(d);
        let _ = write!(
            o,
            r##"<line x1="{x}" y1="{ptop}" x2="{x}" y2="{pbot}" stroke="#ddd"/><text x="{x}" y="{}" font-size="10" text-anchor="middle">{}</text>"##,
            pbot + 14.0,
            human(d)
        );
    }
    for d in decades(ymin.max(1.0), ymax) {
        let y = sy(d);
        let _ = write!(
            o,
            r##"<line x1="{left}" y1="{y}" x2="{right}" y2="{y}" stroke="#ddd"/><text x="{}" y="{}" font-size="10" text-anchor="end">{}</text>"##,
            left - 4.0,
            y + 3.0,
            human(d)
        );
    }
    let _ = write!(
        o,
        r#"<text x="{}" y="{}" font-size="11" text-anchor="middle">effective rcvbuf, bytes (log)</text>"#,
        (left + right) / 2.0,
        pbot + 30.0
    );
    let _ = write!(
        o,
        r#"<text x="{}" y="{}" font-size="11" text-anchor="middle" transform="rotate(-90 {} {})">messages held (log)</text>"#,
        left - 50.0,
        (ptop + pbot) / 2.0,
        left - 50.0,
        (ptop + pbot) / 2.0
    );
    let others: Vec<&str> = r
        .spec
        .axes
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != rc)
        .map(|(_, a)| a.param.name())
        .collect();
    let n_series = series.len();
    for (n, (key, mut pts)) in series.into_iter().enumerate() {
        let color = PALETTE[n % PALETTE.len()];
        pts.sort_by_key(|c| (c.rcvbuf_effective, c.index));
        let line: Vec<String> = pts
            .iter()
            .map(|c| {
                format!(
                    "{:.1},{:.1}",
                    sx(c.rcvbuf_effective as f64),
                    sy(c.model_capacity.unwrap_or(1) as f64)
                )
            })
            .collect();
        let _ = write!(
            o,
            r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="1.5"/>"#,
            line.join(" ")
        );
        for c in &pts {
            let (x, y) = (sx(c.rcvbuf_effective as f64), sy(c.delivered as f64));
            if c.model == ModelVerdict::Disagrees {
                let _ = write!(
                    o,
                    r##"<path d="M{} {} L{} {} M{} {} L{} {}" stroke="#d00" stroke-width="2.5"/>"##,
                    x - 5.0,
                    y - 5.0,
                    x + 5.0,
                    y + 5.0,
                    x - 5.0,
                    y + 5.0,
                    x + 5.0,
                    y - 5.0
                );
            } else {
                let _ = write!(
                    o,
                    r#"<circle cx="{x:.1}" cy="{y:.1}" r="3" fill="{color}"/>"#
                );
            }
        }
        let label: Vec<String> = others
            .iter()
            .zip(&key)
            .map(|(p, v)| format!("{p} {v}"))
            .collect();
        let ly = ptop + 14.0 + n as f64 * 16.0;
        let _ = write!(
            o,
            r#"<circle cx="{}" cy="{}" r="4" fill="{color}"/><text x="{}" y="{}" font-size="11">{}</text>"#,
            right + 16.0,
            ly - 4.0,
            right + 26.0,
            ly,
            esc(&label.join(", "))
        );
    }
    let ly = ptop + 22.0 + n_series as f64 * 16.0;
    let _ = write!(
        o,
        r##"<text x="{}" y="{}" font-size="11" fill="#d00">✕ model disagrees</text>"##,
        right + 16.0,
        ly
    );
    Some((o, h))
}

fn decades(lo: f64, hi: f64) -> Vec<f64> {
    let mut out = Vec::new();
    let mut d = 10f64.powf(lo.max(1.0).log10().floor());
    while d <= hi * 1.0001 {
        if d >= lo * 0.9999 {
            out.push(d);
        }
        d *= 10.0;
    }
    out
}

fn human(v: f64) -> String {
    let v = v as u64;
    if v >= 1 << 20 && v.is_multiple_of(1 << 20) {
        format!("{}Mi", v >> 20)
    } else if v >= 1 << 10 && v.is_multiple_of(1 << 10) {
        format!("{}Ki", v >> 10)
    } else if v >= 1_000_000 {
        format!("{}M", v / 1_000_000)
    } else if v >= 1000 {
        format!("{}k", v / 1000)
    } else {
        v.to_string()
    }
}

fn color(loss: f64) -> String {
    // White (no loss) to deep red (all lost).
    let t = loss.clamp(0.0, 1.0).sqrt();
    let g = (255.0 * (1.0 - t) + 20.0 * t) as u8;
    let r = (255.0 * (1.0 - t) + 180.0 * t) as u8;
    format!("rgb({r},{g},{g})")
}

/// Loss-fraction heatmaps: rows = first axis, columns = second, one map per value of the
/// third. Each cell shows its measured capacity (or loss %), outlined when the model
/// disagrees.
fn heatmaps(r: &SweepReport, top: f64, width: f64) -> Vec<(String, f64)> {
    let axes = &r.spec.axes;
    let rows = &axes[0].values;
    let cols: Vec<u64> = axes.get(1).map_or(vec![0], |a| a.values.clone());
    let panels: Vec<Option<u64>> = axes
        .get(2)
        .map_or(vec![None], |a| a.values.iter().map(|&v| Some(v)).collect());
    let by_values: BTreeMap<&[u64], &Cell> =
        r.cells.iter().map(|c| (c.values.as_slice(), c)).collect();
    let (left, cw) = (110.0, ((width - 130.0) / cols.len() as f64).min(80.0));
    let ch = 18.0;
    // Cells that flood an unread queue all lose by design; their figure is the capacity.
    let capacity_mode = !r.cells.is_empty() && r.cells.iter().all(|c| c.capacity.is_some());
    let max_cap = r
        .cells
        .iter()
        .filter_map(|c| c.capacity)
        .max()
        .unwrap_or(1)
        .max(2) as f64;
    let fill = |c: &Cell| match c.capacity {
        Some(cap) if capacity_mode => {
            let t = (cap.max(1) as f64).ln() / max_cap.ln();
            let v = (245.0 - 190.0 * t) as u8;
            format!("rgb({v},{},255)", (250.0 - 120.0 * t) as u8)
        }
        _ => color(c.loss_fraction),
    };
    let ink = |c: &Cell| {
        let dark = if capacity_mode {
            c.capacity
                .is_some_and(|cap| (cap.max(1) as f64).ln() / max_cap.ln() > 0.6)
        } else {
            c.loss_fraction > 0.5
        };
        if dark {
            "white"
        } else {
            "black"
        }
    };
    let (what, legend) = if capacity_mode {
        ("Measured capacity", "cell text: messages an unread queue held (the burst always overflows); darker = more; black outline = model disagrees")
    } else {
        (
            "Loss fraction",
            "cell text: loss %; white = no loss, red = all lost; black outline = model disagrees",
        )
    };
    let mut out = Vec::new();
    let mut y0 = top;
    for panel in panels {
        let mut o = String::new();
        let title = match (panel, axes.get(2)) {
            (Some(v), Some(a)) => format!(
                "{what} by {} × {}, {} = {}",
                axes[0].param.name(),
                axes.get(1).map_or("-", |a| a.param.name()),
                a.param.name(),
                a.param.show(v)
            ),
            _ => format!(
                "{what} by {}{}",
                axes[0].param.name(),
                axes.get(1)
                    .map_or(String::new(), |a| format!(" × {}", a.param.name()))
            ),
        };
        let _ = write!(
            o,
            r#"<text x="20" y="{}" font-size="14" font-weight="bold">{}</text><text x="20" y="{}" font-size="11">{legend}</text>"#,
            y0 + 16.0,
            esc(&title),
            y0 + 32.0
        );
        let gy = y0 + 60.0;
        if let Some(a) = axes.get(1) {
            let _ = write!(
                o,
                r#"<text x="{}" y="{}" font-size="11" text-anchor="middle">{} →</text>"#,
                left + cw * cols.len() as f64 / 2.0,
                gy - 16.0,
                a.param.name()
            );
            for (j, v) in cols.iter().enumerate() {
                let _ = write!(
                    o,
                    r#"<text x="{}" y="{}" font-size="10" text-anchor="middle">{}</text>"#,
                    left + cw * (j as f64 + 0.5),
                    gy - 3.0,
                    esc(&a.param.show(*v))
                );
            }
        }
        let rows_name = if axes[0].param == Param::Rcvbuf {
            "rcvbuf request"
        } else {
            axes[0].param.name()
        };
        let _ = write!(
            o,
            r#"<text x="20" y="{}" font-size="11">{rows_name} ↓</text>"#,
            gy - 3.0
        );
        for (i, rv) in rows.iter().enumerate() {
            let y = gy + i as f64 * ch;
            let _ = write!(
                o,
                r#"<text x="{}" y="{}" font-size="10" text-anchor="end">{}</text>"#,
                left - 6.0,
                y + 13.0,
                esc(&axes[0].param.show(*rv))
            );
            for (j, cv) in cols.iter().enumerate() {
                let mut key = vec![*rv];
                if axes.len() > 1 {
                    key.push(*cv);
                }
                if let Some(p) = panel {
                    key.push(p);
                }
                let x = left + j as f64 * cw;
                match by_values.get(key.as_slice()) {
                    Some(c) => {
                        let stroke = if c.model == ModelVerdict::Disagrees {
                            r#"stroke="black" stroke-width="2.5""#
                        } else {
                            r##"stroke="#bbb" stroke-width="0.5""##
                        };
                        let text = match c.capacity {
                            Some(cap) => cap.to_string(),
                            None => format!("{:.0}%", c.loss_fraction * 100.0),
                        };
                        let _ = write!(
                            o,
                            r#"<rect x="{x:.1}" y="{y:.1}" width="{cw:.1}" height="{ch}" fill="{}" {stroke}/><text x="{:.1}" y="{:.1}" font-size="9" text-anchor="middle" fill="{}">{text}</text>"#,
                            fill(c),
                            x + cw / 2.0,
                            y + 12.5,
                            ink(c)
                        );
                    }
                    None => {
                        let _ = write!(
                            o,
                            r##"<rect x="{x:.1}" y="{y:.1}" width="{cw:.1}" height="{ch}" fill="#eee" stroke="#bbb" stroke-width="0.5"/><text x="{:.1}" y="{:.1}" font-size="9" text-anchor="middle" fill="#999">missing</text>"##,
                            x + cw / 2.0,
                            y + 12.5
                        );
                    }
                }
            }
        }
        let h = 60.0 + rows.len() as f64 * ch + 10.0;
        y0 += h + 20.0;
        out.push((o, h));
    }
    out
}
