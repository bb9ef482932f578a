//! Other kernels under qemu: a Debian linux-image package (fetched with apt-get, never
//! installed) booted with a static nlstorm as its init, one nlstorm command run inside,
//! its exit code and output files brought back over a serial port.

mod boot;
mod fetch;
pub mod guest;
mod hex;
pub mod initramfs;
mod kernel;

pub use boot::{boot, is_static, Accel, BootOptions, Booted};
pub use fetch::{cache_dir, fetch, kernel_line};
pub use hex::decode as decode_hex;
pub use kernel::{depends, module_name, GuestKernel, MODULES};

/// Why a guest could not be run.
#[derive(Debug, thiserror::Error)]
pub enum VmError {
    /// The kernel given cannot be booted.
    #[error("{0}")]
    Kernel(String),
    /// qemu or apt-get is not there, or refuses.
    #[error("{0}")]
    Environment(String),
    /// The guest ran but did not finish properly.
    #[error("{0}")]
    Guest(String),
    /// A file or program on the host failed.
    #[error("failed to {0}: {1}")]
    Io(String, #[source] std::io::Error),
}

impl crate::errors::Classified for VmError {
    fn kind(&self) -> crate::errors::Kind {
        use crate::errors::Kind;
        match self {
            VmError::Kernel(_) => Kind::BadInput,
            VmError::Environment(_) => Kind::Environment,
            VmError::Guest(_) | VmError::Io(..) => Kind::Harness,
        }
    }
}
