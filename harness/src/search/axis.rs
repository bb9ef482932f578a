//! Sweep axes as written on the command line: `0..8MiB:log:24`, `32..16KiB:lin:8`,
//! `1,2,4` or a single value. Pure; every error says what to write instead.

use serde::{Deserialize, Serialize};

use crate::units::{parse_duration, parse_size};

/// A parameter a sweep can vary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Param {
    /// SO_RCVBUF request, bytes.
    Rcvbuf,
    /// Message size on the wire, bytes.
    Payload,
    /// Send rate, messages per second (the reader reads while it runs).
    Rate,
    /// Number of identical receivers.
    Receivers,
    /// Reader's time per message, nanoseconds.
    Delay,
}

impl Param {
    /// The flag's name.
    pub fn name(self) -> &'static str {
        match self {
            Param::Rcvbuf => "rcvbuf",
            Param::Payload => "payload",
            Param::Rate => "rate",
            Param::Receivers => "receivers",
            Param::Delay => "delay",
        }
    }

    /// Parses one value in this parameter's unit.
    fn value(self, text: &str) -> Result<u64, String> {
        let text = text.trim();
        match self {
            Param::Rcvbuf | Param::Payload => parse_size(text).map_err(|e| e.to_string()),
            Param::Delay => parse_duration(text)
                .map(|d| d.as_nanos() as u64)
                .map_err(|e| e.to_string()),
            Param::Rate | Param::Receivers => text
                .replace('_', "")
                .parse::<u64>()
                .map_err(|_| format!("`{text}` is not a whole number")),
        }
    }

    /// A value as the command line would write it.
    pub fn show(self, v: u64) -> String {
        match self {
            Param::Rcvbuf | Param::Payload => format!("{v}"),
            Param::Delay => crate::units::format_duration(std::time::Duration::from_nanos(v)),
            Param::Rate => format!("{v}/s"),
            Param::Receivers => format!("{v}"),
        }
    }
}

/// Most points one axis may have.
pub const MAX_POINTS: usize = 1000;

/// One axis: a parameter and its points, ascending and distinct.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Axis {
    /// What varies.
    pub param: Param,
    /// As written on the command line.
    pub spec: String,
    /// The points.
    pub values: Vec<u64>,
}

/// Parses `--<param> SPEC`.
pub fn parse_axis(param: Param, spec: &str) -> Result<Axis, String> {
    let fail = |why: String| format!("--{} {spec}: {why}", param.name());
    let values = if let Some((range, rest)) = spec.split_once(':') {
        let (lo, hi) = range
            .split_once("..")
            .ok_or_else(|| fail("a scaled range is LO..HI:log:N or LO..HI:lin:N".into()))?;
        let lo = param.value(lo).map_err(&fail)?;
        let hi = param.value(hi).map_err(&fail)?;
        let (scale, n) = rest.split_once(':').ok_or_else(|| {
            fail(format!(
                "give the number of points, e.g. {range}:{rest}:10 (LO..HI:log|lin:N)"
            ))
        })?;
        let n: usize = n
            .trim()
            .parse()
            .map_err(|_| fail(format!("`{n}` is not a number of points")))?;
        if !(2..=MAX_POINTS).contains(&n) {
            return Err(fail(format!(
                "the number of points must be 2..={MAX_POINTS}"
            )));
        }
        if lo >= hi {
            return Err(fail(format!("LO ({lo}) must be below HI ({hi})")));
        }
        match scale.trim() {
            "log" => log_points(lo, hi, n),
            "lin" => lin_points(lo, hi, n),
            other => return Err(fail(format!("unknown scale `{other}`: use log or lin"))),
        }
    } else if spec.contains("..") {
        return Err(fail(
            "a range needs a scale and a point count, e.g. 0..8MiB:log:24".into(),
        ));
    } else {
        let mut v = spec
            .split(',')
            .map(|t| param.value(t))
            .collect::<Result<Vec<_>, _>>()
            .map_err(&fail)?;
        v.sort_unstable();
        v.dedup();
        v
    };
    if values.is_empty() {
        return Err(fail("no values".into()));
    }
    Ok(Axis {
        param,
        spec: spec.to_string(),
        values,
    })
}

/// `n` points from `lo` to `hi` spaced evenly on a log scale, rounded and deduplicated.
/// A range from 0 keeps 0 as its first point and spaces the rest from 1.
fn log_points(lo: u64, hi: u64, n: usize) -> Vec<u64> {
    let mut out = Vec::with_capacity(n);
    let (start, count) = if lo == 0 {
        out.push(0);
        (1.0f64, n - 1)
    } else {
        (lo as f64, n)
    };
    let ratio = (hi as f64 / start).ln();
    for i in 0..count {
        let f = if count == 1 {
            1.0
        } else {
            i as f64 / (count - 1) as f64
        };
        out.push((start * (ratio * f).exp()).round() as u64);
    }
    if let Some(last) = out.last_mut() {
        *last = hi;
    }
    out.sort_unstable();
    out.dedup();
    out
}

fn lin_points(lo: u64, hi: u64, n: usize) -> Vec<u64> {
    let mut out: Vec<u64> = (0..n)
        .map(|i| lo + ((hi - lo) as f64 * i as f64 / (n - 1) as f64).round() as u64)
        .collect();
    out.dedup();
    out
}

/// `i/n` of a sharded sweep, 1-based as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// This shard, 1..=count.
    pub index: u32,
    /// Number of shards.
    pub count: u32,
}

impl Shard {
    /// The whole sweep.
    pub const ALL: Shard = Shard { index: 1, count: 1 };

    /// Parses `2/8`.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let bad = || format!("--shard {text}: write I/N with 1 <= I <= N, e.g. 2/8");
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let index: u32 = i.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// Does cell `i` (0-based, row-major over the grid) belong to this shard? Cells are
    /// dealt round-robin so every shard gets a share of the slow corners.
    pub fn owns(self, cell: usize) -> bool {
        cell % self.count as usize == (self.index - 1) as usize
    }
}

/// Every combination of the axes' points, row-major (last axis fastest).
pub fn grid(axes: &[Axis]) -> Vec<Vec<u64>> {
    let mut out = vec![Vec::new()];
    for axis in axes {
        out = out
            .into_iter()
            .flat_map(|prefix| {
                axis.values.iter().map(move |&v| {
                    let mut p = prefix.clone();
                    p.push(v);
                    p
                })
            })
            .collect();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_range_from_zero_keeps_zero_and_ends_at_hi() {
        let a = parse_axis(Param::Rcvbuf, "0..8MiB:log:24").unwrap();
        assert_eq!(a.values.first(), Some(&0));
        assert_eq!(a.values.last(), Some(&(8 << 20)));
        assert_eq!(a.values.len(), 24);
        assert!(a.values.windows(2).all(|w| w[0] < w[1]));
        let p = parse_axis(Param::Payload, "32..16KiB:log:10").unwrap();
        assert_eq!(p.values.len(), 10);
        assert_eq!((p.values[0], p.values[9]), (32, 16384));
        // Equal ratios between neighbours: 2x per step from 32 to 16384 over 9 steps.
        assert_eq!(p.values[1], 64);
    }

    #[test]
    fn lists_and_single_values() {
        assert_eq!(
            parse_axis(Param::Receivers, "4,1,2,2").unwrap().values,
            vec![1, 2, 4]
        );
        assert_eq!(
            parse_axis(Param::Delay, "50us").unwrap().values,
            vec![50_000]
        );
        assert_eq!(
            parse_axis(Param::Rate, "1000..5000:lin:5").unwrap().values,
            vec![1000, 2000, 3000, 4000, 5000]
        );
    }

    #[test]
    fn errors_say_what_to_write() {
        for (spec, needle) in [
            ("0..8MiB:log", "number of points"),
            ("0..8MiB", "scale and a point count"),
            ("8MiB..0:log:4", "must be below"),
            ("0..8MiB:cubic:4", "use log or lin"),
            ("0..8MiB:log:1", "2..=1000"),
            ("4kb", "KiB"),
        ] {
            let e = parse_axis(Param::Rcvbuf, spec).unwrap_err();
            assert!(e.contains(needle), "{spec}: {e}");
            assert!(e.starts_with("--rcvbuf"), "{e}");
        }
    }

    #[test]
    fn shards_partition_the_grid() {
        let n = 37;
        for count in 1..6 {
            let mut owners = vec![0; n];
            for index in 1..=count {
                let s = Shard { index, count };
                for (c, o) in owners.iter_mut().enumerate() {
                    if s.owns(c) {
                        *o += 1;
                    }
                }
            }
            assert!(owners.iter().all(|&o| o == 1));
        }
        assert!(Shard::parse("0/3").is_err());
        assert!(Shard::parse("4/3").is_err());
        assert_eq!(Shard::parse("2/8"), Ok(Shard { index: 2, count: 8 }));
    }

    #[test]
    fn grid_is_row_major() {
        let a = parse_axis(Param::Rcvbuf, "1,2").unwrap();
        let b = parse_axis(Param::Payload, "10,20,30").unwrap();
        let g = grid(&[a, b]);
        assert_eq!(g.len(), 6);
        assert_eq!(g[0], vec![1, 10]);
        assert_eq!(g[1], vec![1, 20]);
        assert_eq!(g[3], vec![2, 10]);
    }
}
