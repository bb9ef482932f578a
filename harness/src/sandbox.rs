//! The run's private world: fresh network and mount namespaces (plus a user namespace
//! when not root), sysfs mounted inside so `/sys/class/net` shows only our devices, `lo`
//! up, veth pairs made with rtnetlink. Nothing is named or bind-mounted: the namespaces
//! die with the process that made them, SIGKILL included.
//!
//! unshare(CLONE_NEWNS | CLONE_NEWUSER) needs a single-threaded caller, so [`enter`] runs
//! first thing in a freshly exec'd child (see `child.rs`), never after threads exist.

use std::fs;
use std::io;

use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::unistd::{getegid, geteuid};

use crate::history::SandboxInfo;

/// Why the sandbox could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The kernel refused a namespace: an environment problem, exit code 3.
    #[error("cannot create {what}: {source}. {hint}")]
    Refused {
        /// Which namespaces.
        what: &'static str,
        /// The errno.
        source: Errno,
        /// How to get the privilege.
        hint: String,
    },
    /// Writing the user namespace's id maps failed.
    #[error("failed to map uid/gid into the user namespace ({file})")]
    IdMap {
        /// The /proc file.
        file: &'static str,
        /// The error.
        source: io::Error,
    },
    /// Making mounts private or mounting sysfs failed.
    #[error("failed to mount {what} inside the sandbox")]
    Mount {
        /// Which mount.
        what: &'static str,
        /// The errno.
        source: Errno,
    },
    /// rtnetlink refused a link operation.
    #[error("failed to {what} inside the sandbox: {message}")]
    Link {
        /// The operation.
        what: String,
        /// rtnetlink's error text.
        message: String,
        /// The kernel's errno, when the kernel answered with one.
        errno: Option<i32>,
    },
}

impl SandboxError {
    /// True when the machine cannot run sandboxes at all (no privilege): exit code 3.
    pub fn is_environment(&self) -> bool {
        match self {
            SandboxError::Refused { .. } => true,
            SandboxError::IdMap { source, .. } => source.kind() == io::ErrorKind::PermissionDenied,
            SandboxError::Mount { source, .. } => matches!(source, Errno::EPERM | Errno::EACCES),
            // The kernel lacks the link type (no veth module): this machine cannot run it.
            SandboxError::Link { errno, .. } => {
                matches!(*errno, Some(libc::EOPNOTSUPP) | Some(libc::EAFNOSUPPORT))
            }
        }
    }
}

/// `uname -r` of the running kernel, which the sandbox shares (empty if uname fails,
/// which it does not on Linux).
pub fn kernel_release() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// True when this process runs in a user namespace other than the host's (a rootless
/// sandbox): the initial one maps every id to itself, `0 0 4294967295`.
pub fn in_user_namespace() -> bool {
    fs::read_to_string("/proc/self/uid_map")
        .is_ok_and(|m| m.split_whitespace().collect::<Vec<_>>() != ["0", "0", "4294967295"])
}

/// Every mount below `/` private in this mount namespace: nothing mounted here
/// propagates back to the namespace it was copied from.
pub fn make_private() -> Result<(), Errno> {
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
}

/// Enters fresh namespaces and sets them up. Must be called while single-threaded.
pub fn enter(devices: &[String]) -> Result<SandboxInfo, SandboxError> {
    let rootless = !geteuid().is_root();
    if rootless {
        let (uid, gid) = (geteuid(), getegid());
        unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWNS)
            .map_err(|e| refused("user, network and mount namespaces", e))?;
        write_id_map("/proc/self/setgroups", "deny")?;
        write_id_map("/proc/self/uid_map", &format!("0 {uid} 1"))?;
        write_id_map("/proc/self/gid_map", &format!("0 {gid} 1"))?;
    } else {
        unshare(CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWNS)
            .map_err(|e| refused("network and mount namespaces", e))?;
    }
    // Our mounts must not propagate back to the host's mount namespace.
    make_private().map_err(|source| SandboxError::Mount {
        what: "/ as private",
        source,
    })?;
    mount(
        Some("sysfs"),
        "/sys",
        Some("sysfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .map_err(|source| SandboxError::Mount {
        what: "sysfs on /sys",
        source,
    })?;
    links(devices)?;
    Ok(SandboxInfo {
        user_namespace: rootless,
        devices: devices.to_vec(),
    })
}

fn write_id_map(file: &'static str, text: &str) -> Result<(), SandboxError> {
    match fs::write(file, text) {
        Ok(()) => Ok(()),
        // Kernels before 3.19 have no setgroups file; the maps work without it.
        Err(e) if file.ends_with("setgroups") && e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(SandboxError::IdMap { file, source }),
    }
}

fn refused(what: &'static str, source: Errno) -> SandboxError {
    SandboxError::Refused {
        what,
        source,
        hint: privilege_hint(),
    }
}

/// What to do about missing privilege, phrased for this machine.
pub fn privilege_hint() -> String {
    let caps = caps::read(None, caps::CapSet::Effective)
        .map(|c| c.len())
        .unwrap_or(0);
    if geteuid().is_root() {
        return format!(
            "Running as root with {caps} effective capabilities; nlstorm needs CAP_SYS_ADMIN and CAP_NET_ADMIN \
             (a container may need --privileged or --cap-add SYS_ADMIN,NET_ADMIN)"
        );
    }
    let mut why = Vec::new();
    if read_trim("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0") {
        why.push("kernel.unprivileged_userns_clone = 0 (enable: sysctl -w kernel.unprivileged_userns_clone=1)");
    }
    if read_trim("/proc/sys/user/max_user_namespaces").as_deref() == Some("0") {
        why.push("user.max_user_namespaces = 0 (enable: sysctl -w user.max_user_namespaces=15000)");
    }
    if read_trim("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref() == Some("1") {
        why.push("AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns = 1)");
    }
    let detail = if why.is_empty() {
        String::from("unprivileged user namespaces are not available")
    } else {
        why.join("; ")
    };
    format!("Not root, and {detail}. Run as root (sudo), or allow unprivileged user namespaces")
}

fn read_trim(path: &str) -> Option<String> {
    fs::read_to_string(path).ok().map(|s| s.trim().to_string())
}

fn link_err(what: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> SandboxError {
    let what = what.into();
    move |e| SandboxError::Link {
        what,
        message: e.to_string(),
        errno: match &e {
            rtnetlink::Error::NetlinkError(m) => Some(-m.raw_code()),
            _ => None,
        },
    }
}

/// `lo` up, and a veth pair `<dev>`/`<dev>p` for each name, up.
fn links(devices: &[String]) -> Result<(), SandboxError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(|e| SandboxError::Link {
            what: "start the rtnetlink runtime".into(),
            message: e.to_string(),
            errno: e.raw_os_error(),
        })?;
    rt.block_on(async {
        let (conn, handle, _) = rtnetlink::new_connection().map_err(|e| SandboxError::Link {
            what: "open an rtnetlink socket".into(),
            message: e.to_string(),
            errno: e.raw_os_error(),
        })?;
        tokio::spawn(conn);
        set_up(&handle, "lo").await?;
        for dev in devices {
            let peer = format!("{dev}p");
            handle
                .link()
                .add(rtnetlink::LinkVeth::new(dev, &peer).build())
                .execute()
                .await
                .map_err(link_err(format!("create veth pair {dev}/{peer} (kernel-uevent emitters need CONFIG_VETH: try `modprobe veth`)")))?;
            set_up(&handle, dev).await?;
            set_up(&handle, &peer).await?;
        }
        Ok(())
    })?;
    // Linkwatch reports a new link's carrier up to a second later, with an RTM_NEWLINK
    // to RTNLGRP_LINK: a route receiver bound by then would queue that foreign message
    // in place of one of the run's. operstate turns "up" when that event has been sent.
    for dev in devices {
        for name in [dev.clone(), format!("{dev}p")] {
            settled(&name);
        }
    }
    Ok(())
}

/// Waits (at most 2 s) until linkwatch has marked `dev` up.
fn settled(dev: &str) {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while std::time::Instant::now() < until {
        if read_trim(&format!("/sys/class/net/{dev}/operstate")).as_deref() == Some("up") {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

async fn set_up(handle: &rtnetlink::Handle, name: &str) -> Result<(), SandboxError> {
    handle
        .link()
        .set(rtnetlink::LinkUnspec::new_with_name(name).up().build())
        .execute()
        .await
        .map_err(link_err(format!("set {name} up")))
}

/// Where this kernel runs: on the machine, or in a guest `nlstorm vm` booted (whose
/// init says which accelerator through [`ACCEL_ENV`]). Profiles record it; runs of
/// timing-bound scenarios and comparisons of timings depend on it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Place {
    /// Directly on the machine's kernel (or a guest nlstorm did not boot).
    #[default]
    Host,
    /// A kernel booted by `nlstorm vm` under KVM.
    QemuKvm,
    /// A kernel booted by `nlstorm vm` under TCG, qemu's software emulation: timings
    /// are those of an emulator.
    QemuTcg,
}

/// The variable `nlstorm vm`'s guest init sets for the command it runs: `kvm` or `tcg`.
pub const ACCEL_ENV: &str = "NLSTORM_VM_ACCEL";

impl Place {
    /// Where this process runs, from [`ACCEL_ENV`].
    pub fn current() -> Place {
        match std::env::var(ACCEL_ENV).as_deref() {
            Ok("kvm") => Place::QemuKvm,
            Ok("tcg") => Place::QemuTcg,
            _ => Place::Host,
        }
    }

    /// Timings measured here say nothing about the kernel.
    pub fn emulated(self) -> bool {
        self == Place::QemuTcg
    }
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Place::Host => "host",
            Place::QemuKvm => "qemu guest (KVM)",
            Place::QemuTcg => "qemu guest (TCG emulation)",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_link_type_is_the_environment_not_a_harness_bug() {
        let link = |errno| SandboxError::Link {
            what: "create veth pair".into(),
            message: String::new(),
            errno,
        };
        assert!(link(Some(libc::EOPNOTSUPP)).is_environment());
        assert!(!link(Some(libc::EEXIST)).is_environment());
        assert!(!link(None).is_environment());
    }
}
