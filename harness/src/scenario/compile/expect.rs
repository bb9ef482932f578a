//! `expect = { metric = "OP N" }`: comparisons checked against a run's measured figures.

use super::*;

impl Cx<'_> {
    pub(super) fn comparison(
        &mut self,
        key_path: &str,
        v: &Spanned<Quantity>,
    ) -> Option<(Cmp, u64)> {
        match v.get_ref() {
            Quantity::Int(n) if *n >= 0 => Some((Cmp::Eq, *n as u64)),
            Quantity::Text(t) => match parse_comparison(t) {
                Some(c) => Some(c),
                None => {
                    self.error(key_path, Some(v.span()), format!("cannot read \"{t}\": write a count (0) or a comparison (\">= 1\", \"< 10\", \"!= 0\")"));
                    None
                }
            },
            other => {
                self.error(
                    key_path,
                    Some(v.span()),
                    format!("{other} is not a count or a comparison"),
                );
                None
            }
        }
    }

    /// The `expect` table of the table at `path` (none: no expectations), in the
    /// family's report order (unknown keys were reported and removed before it was read).
    pub(super) fn expectations<M: MetricKey>(
        &mut self,
        path: &str,
        table: Option<&RawExpect>,
    ) -> Vec<Expectation<M>> {
        let Some(table) = table else {
            return vec![];
        };
        let path = format!("{path}.expect");
        M::KEYS
            .iter()
            .filter_map(|&(metric, key)| {
                let v = table.get(key)?;
                let (cmp, value) = self.comparison(&format!("{path}.{key}"), v)?;
                Some(Expectation {
                    metric,
                    cmp,
                    value,
                    location: self.map.locate(Some(v.span())),
                })
            })
            .collect()
    }
}

pub(super) fn parse_comparison(t: &str) -> Option<(Cmp, u64)> {
    let t = t.trim();
    let ops = [
        (">=", Cmp::Ge),
        ("<=", Cmp::Le),
        ("==", Cmp::Eq),
        ("!=", Cmp::Ne),
        (">", Cmp::Gt),
        ("<", Cmp::Lt),
        ("=", Cmp::Eq),
    ];
    let (cmp, rest) = ops
        .iter()
        .find_map(|(s, c)| t.strip_prefix(s).map(|r| (*c, r)))
        .unwrap_or((Cmp::Eq, t));
    let rest = rest.trim();
    let value = rest.parse::<u64>().ok().or_else(|| parse_size(rest).ok())?;
    Some((cmp, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons() {
        assert_eq!(parse_comparison(">= 1"), Some((Cmp::Ge, 1)));
        assert_eq!(parse_comparison("0"), Some((Cmp::Eq, 0)));
        assert_eq!(parse_comparison("<4KiB"), Some((Cmp::Lt, 4096)));
        assert_eq!(parse_comparison("!= 2"), Some((Cmp::Ne, 2)));
        assert_eq!(parse_comparison("lots"), None);
    }
}
