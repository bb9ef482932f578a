//! Whether a threshold search's answer agrees with the model: the search measures, this
//! judges, so every mode's rule of agreement sits in one place.

use serde::{Deserialize, Serialize};

use crate::model::{BufferFacts, Request};

/// How a threshold is held against the model's figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// No model figure applies (the search found no answer).
    #[default]
    None,
    /// No reader: the two must be equal.
    Exact,
    /// No reader, a SO_RCVBUF request: equal once mapped to the buffer the kernel sets
    /// (every request below the floor gives SOCK_MIN_RCVBUF).
    ExactEffective,
    /// A reader can only help: the measured figure must not be below the model's.
    LowerBound,
    /// A reader can only help: the measured figure must not be above the model's.
    UpperBound,
}

impl ModelKind {
    /// The word the report prints.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::None => "none",
            ModelKind::Exact | ModelKind::ExactEffective => "exact",
            ModelKind::LowerBound => "lower-bound",
            ModelKind::UpperBound => "upper-bound",
        }
    }
}

/// Whether `measured` agrees with `model` as `kind` says (`None` when either is missing).
pub fn agrees(
    kind: ModelKind,
    measured: Option<u64>,
    model: Option<u64>,
    facts: &BufferFacts,
) -> Option<bool> {
    let (m, p) = measured.zip(model)?;
    match kind {
        ModelKind::None => None,
        ModelKind::Exact => Some(m == p),
        ModelKind::ExactEffective => Some(
            facts.effective(Request::Plain(m as i64)) == facts.effective(Request::Plain(p as i64)),
        ),
        ModelKind::LowerBound => Some(m >= p),
        ModelKind::UpperBound => Some(m <= p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> BufferFacts {
        BufferFacts {
            sock_min_rcvbuf: 2304,
            rmem_default: 212992,
            rmem_max: 4194304,
        }
    }

    #[test]
    fn each_kind_judges_its_side() {
        let f = facts();
        assert_eq!(agrees(ModelKind::Exact, Some(5), Some(5), &f), Some(true));
        assert_eq!(agrees(ModelKind::Exact, Some(5), Some(6), &f), Some(false));
        assert_eq!(
            agrees(ModelKind::LowerBound, Some(7), Some(6), &f),
            Some(true)
        );
        assert_eq!(
            agrees(ModelKind::LowerBound, Some(5), Some(6), &f),
            Some(false)
        );
        assert_eq!(
            agrees(ModelKind::UpperBound, Some(5), Some(6), &f),
            Some(true)
        );
        assert_eq!(
            agrees(ModelKind::UpperBound, Some(7), Some(6), &f),
            Some(false)
        );
        assert_eq!(agrees(ModelKind::Exact, None, Some(6), &f), None);
        assert_eq!(agrees(ModelKind::None, Some(6), Some(6), &f), None);
    }

    #[test]
    fn requests_below_the_floor_are_the_same_buffer() {
        // sock_setsockopt() stores max(2 * val, SOCK_MIN_RCVBUF): 0 and 1152 both give 2304.
        let f = facts();
        assert_eq!(
            agrees(ModelKind::ExactEffective, Some(0), Some(1152), &f),
            Some(true)
        );
        assert_eq!(
            agrees(ModelKind::ExactEffective, Some(1153), Some(1152), &f),
            Some(false)
        );
        assert_eq!(ModelKind::ExactEffective.name(), "exact");
    }
}
