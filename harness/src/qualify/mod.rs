//! Kernel qualification: a versioned suite of facts measured on the running kernel (a
//! *kernel profile*), and the comparison of two profiles in words a kernel engineer acts
//! on. The facts come from the probe, run in a sandbox like every other measurement; a
//! profile from another machine is untrusted input and is validated as it is read.

mod diff;
mod profile;

pub use diff::{diff, Change, Diff, Difference};
pub use profile::{read_profile, Fact, KernelId, Profile, ProfileError, Spread, Value, SUITE};
