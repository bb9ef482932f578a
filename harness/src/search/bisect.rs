//! Bisection over a monotone predicate, with every evaluation remembered: the points
//! tried are the evidence a threshold report shows.

use std::collections::BTreeMap;

/// Smallest `x` in `lo..=hi` with `pred(x)`, assuming `pred` is false below some point
/// and true from it on, and `pred(hi)` is true. `pred` is never called twice for one `x`.
pub fn first_true<E>(
    lo: u64,
    hi: u64,
    memo: &mut BTreeMap<u64, bool>,
    mut pred: impl FnMut(u64) -> Result<bool, E>,
) -> Result<u64, E> {
    let mut eval = |x: u64, memo: &mut BTreeMap<u64, bool>| -> Result<bool, E> {
        if let Some(&v) = memo.get(&x) {
            return Ok(v);
        }
        let v = pred(x)?;
        memo.insert(x, v);
        Ok(v)
    };
    let (mut lo, mut hi) = (lo, hi);
    if eval(lo, memo)? {
        return Ok(lo);
    }
    // Invariant: pred(lo) false, pred(hi) true.
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if eval(mid, memo)? {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Ok(hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_step_in_log_steps() {
        for step in [0u64, 1, 2, 37, 999, 1000] {
            let mut memo = BTreeMap::new();
            let mut calls = 0;
            let got = first_true::<()>(0, 1000, &mut memo, |x| {
                calls += 1;
                Ok(x >= step)
            })
            .unwrap();
            assert_eq!(got, step);
            assert!(calls <= 12, "{calls} calls for step {step}");
            assert_eq!(memo.len(), calls);
        }
    }

    #[test]
    fn memo_saves_calls() {
        let mut memo = BTreeMap::from([(500, true), (250, false)]);
        let mut calls = 0;
        let got = first_true::<()>(0, 1000, &mut memo, |x| {
            calls += 1;
            Ok(x >= 300)
        })
        .unwrap();
        assert_eq!(got, 300);
        let again = first_true::<()>(0, 1000, &mut memo, |_| -> Result<bool, ()> {
            panic!("every point is remembered")
        });
        assert_eq!(again, Ok(300));
        assert!(calls < 10);
    }
}
