//! Kernel qualification: a versioned suite of facts measured on the running kernel (a
//! *kernel profile*), and the comparison of two profiles in words a kernel engineer acts
//! on. The facts come from the probe, run in a sandbox like every other measurement; a
//! profile from another machine is untrusted input and is validated as it is read.

pub mod baseline;
mod diff;
pub mod dumps;
mod profile;
mod table;

pub use diff::{agree, diff, Change, Diff, Difference, TIMING_FACTOR};
pub use profile::{
    read_profile, with_unit, Fact, KernelId, Place, Profile, ProfileError, Spread, Value,
    CONFIG_PREFIX, PROFILE_BYTES, SUITE,
};
pub use table::{table, KernelTable, Row};
