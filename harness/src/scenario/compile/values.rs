//! Values shared by every element: seeds, durations, sizes, buffer requests, counts and
//! rates, each checked against its bounds and said at its location when wrong.

use super::*;

impl Cx<'_> {
    pub(super) fn seed(&mut self, seed: Option<&Spanned<i64>>) -> u64 {
        match seed {
            None => 0,
            Some(s) if *s.get_ref() >= 0 => *s.get_ref() as u64,
            Some(s) => {
                self.error("seed", Some(s.span()), "seed must be zero or positive");
                0
            }
        }
    }

    pub(super) fn duration(
        &mut self,
        key_path: &str,
        v: &Spanned<DurationText>,
        zero_ok: bool,
    ) -> Option<Duration> {
        match parse_duration(v.get_ref()) {
            Ok(d) if d.is_zero() && !zero_ok => {
                self.error(key_path, Some(v.span()), "must be longer than zero");
                None
            }
            Ok(d) => Some(d),
            Err(e) => {
                self.error(key_path, Some(v.span()), e.to_string());
                None
            }
        }
    }

    pub(super) fn size(&mut self, key_path: &str, v: &Spanned<Quantity>) -> Option<u64> {
        match v.get_ref() {
            Quantity::Int(i) if *i >= 0 => Some(*i as u64),
            Quantity::Text(t) => match parse_size(t) {
                Ok(n) => Some(n),
                Err(e) => {
                    self.error(key_path, Some(v.span()), e.to_string());
                    None
                }
            },
            other => {
                self.error(
                    key_path,
                    Some(v.span()),
                    format!("{other} is not a size: write bytes (1024) or \"4KiB\""),
                );
                None
            }
        }
    }

    /// A buffer request: a size, or any C int (negative ones are the kernel's to
    /// interpret, [`RcvbufRequest`]).
    pub(super) fn rcvbuf_request(&mut self, key_path: &str, v: &Spanned<Quantity>) -> Option<i64> {
        let n = match v.get_ref() {
            Quantity::Int(i) => i128::from(*i),
            _ => i128::from(self.size(key_path, v)?),
        };
        match RcvbufRequest::new(n) {
            Ok(r) => Some(r.bytes()),
            Err(e) => {
                self.error(key_path, Some(v.span()), e.to_string());
                None
            }
        }
    }

    /// `cpu`: a CPU number for sched_setaffinity, 0..CPU_SETSIZE (1024). Whether this
    /// machine has it is the run's to say, as the machine may differ from here.
    pub(super) fn cpu(&mut self, key_path: &str, v: Option<&Spanned<i64>>) -> Option<u32> {
        let v = v?;
        match u32::try_from(*v.get_ref()) {
            Ok(n) if n < 1024 => Some(n),
            _ => {
                self.error(
                    key_path,
                    Some(v.span()),
                    format!(
                        "cpu must be a CPU number, 0..=1023 (CPU_SETSIZE), got {}",
                        v.get_ref()
                    ),
                );
                None
            }
        }
    }

    /// One multicast group: 1..=32, the groups a bind(2) mask or a usersock sender
    /// names (the one place that range is checked).
    pub(super) fn group(&mut self, key_path: &str, v: &Spanned<i64>) -> Option<u32> {
        match u32::try_from(*v.get_ref()) {
            Ok(n @ 1..=32) => Some(n),
            _ => {
                self.error(
                    key_path,
                    Some(v.span()),
                    format!("group {} is not in 1..=32", v.get_ref()),
                );
                None
            }
        }
    }

    /// A list of groups, each checked; `None` if any is out of range.
    pub(super) fn group_list(&mut self, key_path: &str, list: &[Spanned<i64>]) -> Option<Vec<u32>> {
        let groups: Vec<Option<u32>> = list.iter().map(|v| self.group(key_path, v)).collect();
        groups.into_iter().collect()
    }

    pub(super) fn count(&mut self, key_path: &str, v: &Spanned<i64>) -> Option<NonZeroU64> {
        let n = NonZeroU64::new(u64::try_from(*v.get_ref()).unwrap_or(0));
        if n.is_none() {
            self.error(
                key_path,
                Some(v.span()),
                format!("must be at least 1, got {}", v.get_ref()),
            );
        }
        n
    }

    pub(super) fn positive_rate(&mut self, key_path: &str, v: &Spanned<f64>) -> Option<f64> {
        let r = *v.get_ref();
        if r.is_finite() && r > 0.0 && r <= 1e8 {
            Some(r)
        } else {
            self.error(
                key_path,
                Some(v.span()),
                format!("rate must be in (0, 1e8] messages/s, got {r}"),
            );
            None
        }
    }
}
