//! What a churn thread did.

use serde::{Deserialize, Serialize};

/// What one churn thread did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChurnRecord {
    /// `links` or `sockets`.
    pub kind: String,
    /// Changes made.
    pub changes: u64,
    /// Changes that failed.
    pub errors: u64,
    /// The first failure.
    pub first_error: Option<String>,
}
