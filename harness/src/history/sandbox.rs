//! What the sandbox was built with.

/// What [`enter`](crate::sandbox::enter) built.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SandboxInfo {
    /// A user namespace was created (rootless run).
    pub user_namespace: bool,
    /// veth devices created, one per entry of `devices`.
    pub devices: Vec<String>,
}
