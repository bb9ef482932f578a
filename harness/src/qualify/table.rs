//! Several kernels' profiles side by side: one column per kernel, one row per fact, a
//! row marked where the kernels do not agree (`nlstorm merge` of profiles).

use serde::Serialize;

use super::diff::agree;
use super::profile::{KernelId, Place, Profile, Value};

/// One fact across the kernels.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// The fact's id.
    pub id: String,
    /// Its unit, where it has one.
    pub unit: Option<String>,
    /// The value per kernel, in column order (`None`: not measured there).
    pub values: Vec<Option<Value>>,
    /// Some kernel's value disagrees with the first column's, or is missing.
    pub differs: bool,
}

/// The profiles of several kernels joined.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KernelTable {
    /// The suite all the profiles measured.
    pub suite: String,
    /// The columns: the kernels, in the order given, each with when and where it was
    /// measured.
    pub kernels: Vec<(KernelId, String, Place)>,
    /// The facts, in the first profile's order, then facts only later ones have.
    pub rows: Vec<Row>,
}

impl KernelTable {
    /// Rows where the kernels differ.
    pub fn differing(&self) -> usize {
        self.rows.iter().filter(|r| r.differs).count()
    }
}

/// Joins `profiles` (all of one suite: [`super::read_profile`] checks that) into a table.
pub fn table(profiles: &[Profile]) -> KernelTable {
    let mut ids: Vec<(&str, Option<&str>)> = Vec::new();
    for p in profiles {
        for f in &p.facts {
            if !ids.iter().any(|(id, _)| *id == f.id) {
                ids.push((&f.id, f.unit.as_deref()));
            }
        }
    }
    let rows = ids
        .into_iter()
        .map(|(id, unit)| {
            let values: Vec<Option<Value>> = profiles
                .iter()
                .map(|p| p.fact(id).map(|f| f.value.clone()))
                .collect();
            let differs = match values.first() {
                Some(Some(first)) => values
                    .iter()
                    .any(|v| v.as_ref().is_none_or(|v| !agree(first, v))),
                _ => true,
            };
            Row {
                id: id.to_string(),
                unit: unit.map(str::to_string),
                values,
                differs,
            }
        })
        .collect();
    KernelTable {
        suite: profiles
            .first()
            .map(|p| p.suite.clone())
            .unwrap_or_default(),
        kernels: profiles
            .iter()
            .map(|p| (p.kernel.clone(), p.measured_at.clone(), p.measured_on))
            .collect(),
        rows,
    }
}

#[cfg(test)]
mod tests {
    use super::super::profile::tests::{count, profile};
    use super::*;

    #[test]
    fn rows_differ_where_a_value_differs_or_is_missing() {
        let a = profile(
            "6.1.0-57-cloud-amd64",
            vec![
                count("truesize.usersock.len-141", 768),
                count("buffer.sock-min-rcvbuf", 2304),
            ],
        );
        let b = profile(
            "6.12.118+deb12-cloud-amd64",
            vec![
                count("truesize.usersock.len-141", 832),
                count("buffer.sock-min-rcvbuf", 2304),
            ],
        );
        let c = profile(
            "6.18.44",
            vec![
                count("buffer.sock-min-rcvbuf", 2304),
                count("capacity.x", 3),
            ],
        );
        let t = table(&[a, b, c]);
        assert_eq!(t.kernels.len(), 3);
        let row = |id: &str| t.rows.iter().find(|r| r.id == id).unwrap();
        assert!(row("truesize.usersock.len-141").differs);
        assert_eq!(row("truesize.usersock.len-141").values[2], None);
        assert!(!row("buffer.sock-min-rcvbuf").differs);
        assert!(row("capacity.x").differs, "missing in the first column");
        assert_eq!(t.differing(), 2);
        assert_eq!(t.rows[0].id, "truesize.usersock.len-141");
    }
}
