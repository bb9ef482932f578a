//! Two kernel profiles compared fact by fact, each difference said with its consequence
//! for a receiver (how many messages a buffer holds), not only as two numbers.

use serde::Serialize;

use super::profile::{KernelId, Profile, Value, CONFIG_PREFIX};
use crate::model::AdmitRule;

/// A timing differs only when the current median lies outside the baseline's range
/// widened by this factor both ways: machines, load and emulation differ by that much
/// without the kernel changing.
pub const TIMING_FACTOR: f64 = 2.0;

/// What kind of difference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    /// An exact fact has another value.
    Value,
    /// The fact was measured only in the baseline.
    OnlyInBaseline,
    /// The fact was measured only here.
    OnlyHere,
    /// A timing outside the tolerance band (reported, never a failure).
    Timing,
    /// A timing where either side was measured under software emulation: not compared.
    NotApplicable,
    /// A setting of the machine ([`CONFIG_PREFIX`]) has another value (reported, never
    /// a failure).
    Config,
}

impl Change {
    /// Fails a qualification: exact kernel facts that differ or are missing.
    pub fn fails(self) -> bool {
        matches!(
            self,
            Change::Value | Change::OnlyInBaseline | Change::OnlyHere
        )
    }
}

/// One difference.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Difference {
    /// The fact's id.
    pub id: String,
    /// Its kind.
    pub change: Change,
    /// The baseline's value.
    pub baseline: Option<Value>,
    /// The current value.
    pub current: Option<Value>,
    /// The difference in words.
    pub words: String,
}

/// Everything `diff` found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diff {
    /// The baseline's kernel.
    pub baseline: KernelId,
    /// The current kernel.
    pub current: KernelId,
    /// Facts equal in both (timings within the band included).
    pub same: usize,
    /// The differences, in the current profile's order, then the baseline's leftovers.
    pub differences: Vec<Difference>,
}

impl Diff {
    /// Differences that fail a qualification: exact values and missing facts.
    pub fn failing(&self) -> usize {
        self.differences.iter().filter(|d| d.change.fails()).count()
    }
}

/// Compares `current` against `baseline`.
pub fn diff(baseline: &Profile, current: &Profile) -> Diff {
    let ctx = Context { baseline, current };
    let mut same = 0;
    let mut differences = Vec::new();
    // Timings taken under TCG are the emulator's, on either side.
    let emulated = baseline.measured_on.emulated() || current.measured_on.emulated();
    for f in &current.facts {
        let Some(b) = baseline.fact(&f.id) else {
            differences.push(Difference {
                id: f.id.clone(),
                change: Change::OnlyHere,
                baseline: None,
                current: Some(f.value.clone()),
                words: format!("{}: {} here, not measured in the baseline", f.id, f.value),
            });
            continue;
        };
        if agree(&b.value, &f.value) && !(emulated && is_timing(&f.value)) {
            same += 1;
            continue;
        }
        let (change, words) = match (&b.value, &f.value) {
            (_, Value::Spread(_)) if emulated => (
                Change::NotApplicable,
                format!(
                    "{}: not compared, a timing measured under software emulation (baseline on {}, current on {})",
                    f.id, baseline.measured_on, current.measured_on
                ),
            ),
            (Value::Spread(bs), Value::Spread(cs)) => (
                Change::Timing,
                format!(
                    "{}: median {:.0}{unit} here, outside the baseline's {:.0}..{:.0}{unit} widened {TIMING_FACTOR}x (a timing: reported, not a failure)",
                    f.id,
                    cs.median,
                    bs.min,
                    bs.max,
                    unit = f.unit.as_deref().map(|u| format!(" {u}")).unwrap_or_default()
                ),
            ),
            (bv, cv) if f.id.starts_with(CONFIG_PREFIX) => (
                Change::Config,
                format!(
                    "{}: {cv} here, {bv} in the baseline ({}; a setting of the machine, reported, not a failure)",
                    f.id, f.how
                ),
            ),
            (bv, cv) => (Change::Value, ctx.words(&f.id, bv, cv, &f.how)),
        };
        differences.push(Difference {
            id: f.id.clone(),
            change,
            baseline: Some(b.value.clone()),
            current: Some(f.value.clone()),
            words,
        });
    }
    for b in &baseline.facts {
        if current.fact(&b.id).is_none() {
            differences.push(Difference {
                id: b.id.clone(),
                change: Change::OnlyInBaseline,
                baseline: Some(b.value.clone()),
                current: None,
                words: format!(
                    "{}: {} in the baseline, not measured here ({})",
                    b.id, b.value, b.how
                ),
            });
        }
    }
    Diff {
        baseline: baseline.kernel.clone(),
        current: current.kernel.clone(),
        same,
        differences,
    }
}

fn is_timing(v: &Value) -> bool {
    matches!(v, Value::Spread(_))
}

/// Whether a current value agrees with the baseline's: equal for exact facts; for a
/// timing, its median within the baseline's range widened by [`TIMING_FACTOR`].
pub fn agree(baseline: &Value, current: &Value) -> bool {
    match (baseline, current) {
        (Value::Spread(b), Value::Spread(c)) => {
            (b.min / TIMING_FACTOR..=b.max * TIMING_FACTOR).contains(&c.median)
        }
        (b, c) => b == c,
    }
}

struct Context<'a> {
    baseline: &'a Profile,
    current: &'a Profile,
}

impl Context<'_> {
    fn rule(p: &Profile) -> Option<AdmitRule> {
        match &p.fact("admit.rule")?.value {
            Value::Text(t) => AdmitRule::from_name(t),
            _ => None,
        }
    }

    /// The buffer a consequence is told for: the smallest one a receiver can have.
    fn smallest_buffer(&self) -> u64 {
        self.current
            .count("buffer.sock-min-rcvbuf")
            .or_else(|| self.baseline.count("buffer.sock-min-rcvbuf"))
            .unwrap_or(2304)
    }

    fn words(&self, id: &str, base: &Value, cur: &Value, how: &str) -> String {
        let parts: Vec<&str> = id.split('.').collect();
        match (parts.as_slice(), base, cur) {
            (["truesize", emitter, len], Value::Count(b), Value::Count(c)) => {
                let len = len.strip_prefix("len-").unwrap_or(len);
                let mut w = format!(
                    "a {len}-byte {emitter} message costs {c} B here, {b} B in the baseline"
                );
                let buf = self.smallest_buffer();
                if let (Some(rc), Some(rb)) = (Self::rule(self.current), Self::rule(self.baseline))
                {
                    let (hc, hb) = (rc.capacity(buf, *c), rb.capacity(buf, *b));
                    if hc == hb {
                        w += &format!(": a {buf}-byte buffer still holds {hc}");
                    } else {
                        w += &format!(": a {buf}-byte buffer holds {hc}, not {hb}");
                    }
                }
                w
            }
            (["capacity", emitter, rcvbuf, len], Value::Count(b), Value::Count(c)) => {
                let req = rcvbuf.strip_prefix("rcvbuf-").unwrap_or(rcvbuf);
                let len = len.strip_prefix("len-").unwrap_or(len);
                format!(
                    "an unread {emitter} queue of SO_RCVBUF {req} holds {c} {len}-byte messages here, {b} in the baseline"
                )
            }
            (["admit", "rule"], Value::Text(b), Value::Text(c)) => {
                let formula = |t: &str| AdmitRule::from_name(t).map_or("no rule fits", |r| r.formula());
                format!(
                    "broadcasts are admitted by {c} here ({}), by {b} in the baseline ({})",
                    formula(c),
                    formula(b)
                )
            }
            (["enobufs", "errors-per-episode"], Value::Count(b), Value::Count(c)) => format!(
                "a receiver that reads an overrun queue to empty sees {c} ENOBUFS here, {b} in the baseline: a listener that resyncs once per error resyncs {}",
                if c > b { "more often" } else { "less often" }
            ),
            (_, Value::Flag(b), Value::Flag(c)) => format!(
                "{how}: {} here, {} in the baseline ({id})",
                yes(*c),
                yes(*b)
            ),
            _ => format!("{id}: {cur} here, {base} in the baseline ({how})"),
        }
    }
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

#[cfg(test)]
mod tests {
    use super::super::profile::tests::{count, profile};
    use super::super::profile::{Fact, Spread};
    use super::*;

    fn text(id: &str, t: &str) -> Fact {
        Fact {
            id: id.into(),
            value: Value::Text(t.into()),
            unit: None,
            how: "by hand".into(),
        }
    }

    fn timing(median: f64, min: f64, max: f64) -> Fact {
        Fact {
            id: "timing.usersock-broadcast".into(),
            value: Value::Spread(Spread {
                median,
                min,
                max,
                samples: 5,
            }),
            unit: Some("ns".into()),
            how: "by hand".into(),
        }
    }

    fn pair(base: Vec<Fact>, cur: Vec<Fact>) -> Diff {
        diff(&profile("6.1.0", base), &profile("6.12.0", cur))
    }

    #[test]
    fn a_truesize_difference_is_said_as_what_the_smallest_buffer_holds() {
        let common = || {
            vec![
                count("buffer.sock-min-rcvbuf", 2304),
                text("admit.rule", "charged-at-most-rcvbuf"),
            ]
        };
        let mut base = common();
        base.push(count("truesize.usersock.len-141", 832));
        let mut cur = common();
        cur.push(count("truesize.usersock.len-141", 768));
        let d = pair(base, cur);
        assert_eq!(d.same, 2);
        assert_eq!(d.failing(), 1);
        assert_eq!(
            d.differences[0].words,
            "a 141-byte usersock message costs 768 B here, 832 B in the baseline: a 2304-byte buffer holds 3, not 2"
        );
    }

    #[test]
    fn a_changed_admission_rule_names_both_formulas() {
        let d = pair(
            vec![text("admit.rule", "rmem-at-most-rcvbuf")],
            vec![text("admit.rule", "charged-at-most-rcvbuf")],
        );
        assert_eq!(
            d.differences[0].words,
            "broadcasts are admitted by charged-at-most-rcvbuf here (an unread queue holds max(1, rcvbuf / truesize)), by rmem-at-most-rcvbuf in the baseline (an unread queue holds rcvbuf / truesize + 1)"
        );
    }

    #[test]
    fn the_same_truesize_under_another_rule_says_what_the_buffer_holds_now() {
        let d = pair(
            vec![
                text("admit.rule", "rmem-at-most-rcvbuf"),
                count("truesize.usersock.len-141", 768),
            ],
            vec![
                text("admit.rule", "charged-at-most-rcvbuf"),
                count("truesize.usersock.len-141", 832),
            ],
        );
        // 2304 / 832 = 2 under the new rule; 2304 / 768 + 1 = 4 under the old one.
        assert!(
            d.differences[1].words.ends_with("holds 2, not 4"),
            "{}",
            d.differences[1].words
        );
    }

    #[test]
    fn missing_facts_fail_and_timings_only_report() {
        let d = pair(
            vec![
                count("capacity.usersock.rcvbuf-0.len-64", 3),
                timing(1000.0, 900.0, 1100.0),
            ],
            vec![
                count("truesize.kernel-uevent.len-512", 1280),
                timing(5000.0, 4000.0, 6000.0),
            ],
        );
        let kinds: Vec<Change> = d.differences.iter().map(|d| d.change).collect();
        assert_eq!(
            kinds,
            [Change::OnlyHere, Change::Timing, Change::OnlyInBaseline]
        );
        assert_eq!(d.failing(), 2);
        let d = pair(
            vec![timing(1000.0, 900.0, 1100.0)],
            vec![timing(2100.0, 2000.0, 2200.0)],
        );
        assert_eq!((d.same, d.failing()), (1, 0), "inside 450..2200");
    }

    #[test]
    fn timings_under_emulation_are_not_compared() {
        let mut d = pair(
            vec![timing(1000.0, 900.0, 1100.0)],
            vec![timing(1000.0, 900.0, 1100.0)],
        );
        assert_eq!(d.same, 1);
        let mut base = profile("a", vec![timing(1000.0, 900.0, 1100.0)]);
        let mut cur = base.clone();
        cur.measured_on = crate::qualify::Place::QemuTcg;
        d = diff(&base, &cur);
        assert_eq!(d.differences[0].change, Change::NotApplicable);
        assert_eq!((d.same, d.failing()), (0, 0));
        base.measured_on = crate::qualify::Place::QemuKvm;
        cur.measured_on = crate::qualify::Place::QemuKvm;
        assert_eq!(diff(&base, &cur).same, 1);
    }

    #[test]
    fn a_machine_setting_is_reported_not_failed() {
        let d = pair(
            vec![count("config.rmem-max", 212992)],
            vec![count("config.rmem-max", 4194304)],
        );
        assert_eq!(d.differences[0].change, Change::Config);
        assert_eq!(d.failing(), 0);
        assert!(d.differences[0].words.contains("a setting of the machine"));
    }

    #[test]
    fn equal_profiles_have_no_differences() {
        let facts = || vec![count("a.b", 1), text("admit.rule", "rmem-below-rcvbuf")];
        let d = pair(facts(), facts());
        assert_eq!((d.same, d.differences.len()), (2, 0));
    }
}
