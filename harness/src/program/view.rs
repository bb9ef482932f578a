//! The filesystem a confined program sees: the host's tree at the same paths, every
//! mount of it read-only, a fresh /proc of its own PID namespace (with /proc/sys
//! read-only), and one writable tmpfs, [`WORKDIR`], that is its working directory, HOME
//! and TMPDIR. Built by the program's init in a mount namespace of its own, so nothing
//! is created on the host: no directory to remove after a run, interrupted or not.
//!
//! How: a tmpfs becomes the new root. Each entry of the host's `/` is bound into it
//! (directories recursively, with every mount below them), symlinks are copied, and the
//! host's own /proc is replaced. The tmpfs is mounted over /proc while it is built,
//! since /proc exists everywhere nlstorm runs and is replaced anyway. Then pivot_root,
//! and a check that every mount but the work directory and /proc is read-only.

use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::Mode;

/// The program's working directory, HOME and TMPDIR: a tmpfs only it sees.
pub const WORKDIR: &str = "/nlstorm";

/// Where the new root is built: replaced by the program's own /proc afterwards.
const STAGE: &str = "/proc";

/// A step of the build that failed, with the kernel's errno.
#[derive(Debug)]
pub struct ViewError {
    /// What was being done.
    pub step: String,
    /// The errno.
    pub errno: Errno,
}

/// A step that failed with an I/O error.
fn io_err(step: impl Into<String>, e: &std::io::Error) -> ViewError {
    ViewError {
        step: step.into(),
        errno: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
    }
}

fn at(step: impl Into<String>) -> impl FnOnce(Errno) -> ViewError {
    let step = step.into();
    move |errno| ViewError { step, errno }
}

/// One line of /proc/self/mountinfo: where a mount is and its per-mount flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountPoint {
    /// Mount id.
    pub id: u32,
    /// The id of the mount it is mounted on (itself for the root).
    pub parent: u32,
    /// Its path, unescaped.
    pub path: PathBuf,
    /// `ro` and the other per-mount options, as remount flags.
    pub flags: MsFlags,
    /// Read-only now.
    pub read_only: bool,
    /// Filesystem type.
    pub fstype: String,
}

/// Parses /proc/self/mountinfo (proc(5)): field 5 is the mount point, field 6 the
/// per-mount options; after the optional fields and `-` come the type and source.
pub fn parse_mountinfo(text: &str) -> Vec<MountPoint> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<MountPoint> {
    let fields: Vec<&str> = line.split(' ').collect();
    let id = fields.first()?.parse().ok()?;
    let parent = fields.get(1)?.parse().ok()?;
    let path = unescape(fields.get(4)?);
    let options = fields.get(5)?;
    let dash = fields.iter().position(|f| *f == "-")?;
    let fstype = fields.get(dash + 1)?.to_string();
    let mut flags = MsFlags::empty();
    let mut read_only = false;
    let mut atime_set = false;
    for o in options.split(',') {
        match o {
            "ro" => {
                read_only = true;
                flags |= MsFlags::MS_RDONLY;
            }
            "nosuid" => flags |= MsFlags::MS_NOSUID,
            "nodev" => flags |= MsFlags::MS_NODEV,
            "noexec" => flags |= MsFlags::MS_NOEXEC,
            "noatime" => {
                atime_set = true;
                flags |= MsFlags::MS_NOATIME;
            }
            "relatime" => {
                atime_set = true;
                flags |= MsFlags::MS_RELATIME;
            }
            "nodiratime" => flags |= MsFlags::MS_NODIRATIME,
            _ => {}
        }
    }
    // A remount that names no atime flag asks for relatime; in a user namespace the
    // atime flags are locked, so a strictatime mount must say so again.
    if !atime_set {
        flags |= MsFlags::MS_STRICTATIME;
    }
    Some(MountPoint {
        id,
        parent,
        path: PathBuf::from(path),
        flags,
        read_only,
        fstype,
    })
}

/// mountinfo escapes space, tab, newline and backslash as three octal digits.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mount `path` lies on: the longest mount point that is a prefix of it.
fn containing<'a>(mounts: &'a [MountPoint], path: &Path) -> Option<&'a MountPoint> {
    mounts
        .iter()
        .filter(|m| path.starts_with(&m.path))
        .max_by_key(|m| m.path.as_os_str().len())
}

/// True for a path under the host's /proc, which the program does not get.
fn under_proc(path: &Path) -> bool {
    path.starts_with("/proc")
}

/// The kinds of entry of `/` that are carried into the new root.
enum Entry {
    Dir,
    File,
    Symlink(PathBuf),
}

fn top_level() -> Result<Vec<(String, Entry)>, ViewError> {
    let dir = std::fs::read_dir("/").map_err(|e| io_err("list /", &e))?;
    let mut out = Vec::new();
    for e in dir.flatten() {
        let Some(name) = e.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if name == "proc" || Path::new("/").join(&name) == Path::new(WORKDIR) {
            continue;
        }
        let Ok(kind) = e.file_type() else { continue };
        let entry = if kind.is_symlink() {
            match std::fs::read_link(e.path()) {
                Ok(t) => Entry::Symlink(t),
                Err(_) => continue,
            }
        } else if kind.is_dir() {
            Entry::Dir
        } else if kind.is_file() {
            Entry::File
        } else {
            continue;
        };
        out.push((name, entry));
    }
    Ok(out)
}

/// Builds the view and enters it. `owner` is who owns [`WORKDIR`]; `size` its bytes.
/// Call in a fresh mount namespace, from the first process of a fresh PID namespace
/// (the /proc mounted here shows that namespace).
pub fn enter(owner: (u32, u32), size: u64) -> Result<(), ViewError> {
    crate::sandbox::make_private().map_err(at("make / private"))?;
    let host = std::fs::read_to_string("/proc/self/mountinfo")
        .map(|t| parse_mountinfo(&t))
        .map_err(|e| io_err("read /proc/self/mountinfo", &e))?;
    let entries = top_level()?;
    let nosuid_nodev = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    mount(
        Some("nlstorm-root"),
        STAGE,
        Some("tmpfs"),
        nosuid_nodev,
        Some("mode=0755,size=1m"),
    )
    .map_err(at("mount a tmpfs for the program's root"))?;
    let stage = Path::new(STAGE);
    for (name, entry) in &entries {
        bind_entry(stage, name, entry)?;
    }
    read_only_binds(stage, &entries, &host)?;
    let proc = stage.join("proc");
    nix::unistd::mkdir(&proc, Mode::from_bits_truncate(0o555)).map_err(at("mkdir /proc"))?;
    mount(
        Some("proc"),
        &proc,
        Some("proc"),
        nosuid_nodev | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .map_err(at("mount the program's /proc"))?;
    let work = stage.join(WORKDIR.trim_start_matches('/'));
    nix::unistd::mkdir(&work, Mode::from_bits_truncate(0o755))
        .map_err(at("mkdir the work directory"))?;
    mount(
        Some("nlstorm-work"),
        &work,
        Some("tmpfs"),
        nosuid_nodev,
        Some(format!("mode=0700,uid={},gid={},size={size}", owner.0, owner.1).as_str()),
    )
    .map_err(at("mount the work directory's tmpfs"))?;
    pivot(stage)?;
    read_only(
        Path::new("/"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_RELATIME,
        "the new root",
    )?;
    for p in ["/proc/sys", "/proc/sysrq-trigger"] {
        if Path::new(p).exists() {
            mount(Some(p), p, None::<&str>, MsFlags::MS_BIND, None::<&str>)
                .map_err(at(format!("bind {p}")))?;
            read_only(
                Path::new(p),
                nosuid_nodev | MsFlags::MS_NOEXEC | MsFlags::MS_RELATIME,
                p,
            )?;
        }
    }
    verify()
}

fn bind_entry(stage: &Path, name: &str, entry: &Entry) -> Result<(), ViewError> {
    let (src, dst) = (Path::new("/").join(name), stage.join(name));
    let bind = |step: &str| {
        mount(
            Some(&src),
            &dst,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(at(format!("{step} {}", src.display())))
    };
    match entry {
        Entry::Symlink(target) => nix::unistd::symlinkat(target, nix::fcntl::AT_FDCWD, &dst)
            .map_err(at(format!("copy the symlink {}", src.display()))),
        Entry::Dir => {
            nix::unistd::mkdir(&dst, Mode::from_bits_truncate(0o755))
                .map_err(at(format!("mkdir {}", dst.display())))?;
            bind("bind")
        }
        Entry::File => {
            std::fs::File::create(&dst)
                .map_err(|e| io_err(format!("create {}", dst.display()), &e))?;
            bind("bind")
        }
    }
}

/// Every bound entry and every host mount below one, read-only, each keeping its own
/// nosuid/nodev/noexec/atime flags (which are locked in a user namespace).
fn read_only_binds(
    stage: &Path,
    entries: &[(String, Entry)],
    host: &[MountPoint],
) -> Result<(), ViewError> {
    for (name, entry) in entries {
        if matches!(entry, Entry::Symlink(_)) {
            continue;
        }
        let src = Path::new("/").join(name);
        let flags = containing(host, &src).map_or(MsFlags::empty(), |m| m.flags);
        read_only(&stage.join(name), flags, &src.display().to_string())?;
        for m in host
            .iter()
            .filter(|m| m.path.starts_with(&src) && m.path != src && !under_proc(&m.path))
        {
            let rel = m.path.strip_prefix("/").unwrap_or(&m.path);
            match read_only(&stage.join(rel), m.flags, &m.path.display().to_string()) {
                // Not a mount in the new tree: it was covered by a later mount (the
                // sandbox's sysfs over the host's, with the host's submounts below it).
                Err(ViewError {
                    errno: Errno::EINVAL | Errno::ENOENT | Errno::ENOTDIR | Errno::EACCES,
                    ..
                }) => {}
                other => other?,
            }
        }
    }
    Ok(())
}

fn read_only(path: &Path, flags: MsFlags, what: &str) -> Result<(), ViewError> {
    let keep = flags & !(MsFlags::MS_RDONLY);
    mount(
        None::<&str>,
        path,
        None::<&str>,
        MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY | keep,
        None::<&str>,
    )
    .map_err(at(format!("make {what} read-only")))
}

/// The staged tmpfs becomes `/`; the old root is detached. pivot_root refuses when the
/// old root is the initramfs (a guest `nlstorm vm` boots): there the stage is moved
/// over `/` and chrooted into, which a program with no capability cannot leave.
fn pivot(stage: &Path) -> Result<(), ViewError> {
    nix::unistd::chdir(stage).map_err(at("chdir to the new root"))?;
    nix::unistd::mkdir(".old-root", Mode::from_bits_truncate(0o700))
        .map_err(at("mkdir the old root's mount point"))?;
    match nix::unistd::pivot_root(".", ".old-root") {
        Ok(()) => {
            nix::unistd::chdir("/").map_err(at("chdir /"))?;
            umount2("/.old-root", MntFlags::MNT_DETACH).map_err(at("detach the old root"))?;
            nix::unistd::unlinkat(
                nix::fcntl::AT_FDCWD,
                "/.old-root",
                nix::unistd::UnlinkatFlags::RemoveDir,
            )
            .map_err(at("remove the old root's mount point"))
        }
        Err(Errno::EINVAL) => {
            let _ = nix::unistd::unlinkat(
                nix::fcntl::AT_FDCWD,
                ".old-root",
                nix::unistd::UnlinkatFlags::RemoveDir,
            );
            mount(Some("."), "/", None::<&str>, MsFlags::MS_MOVE, None::<&str>)
                .map_err(at("move the new root over /"))?;
            nix::unistd::chroot(".").map_err(at("chroot into the new root"))?;
            nix::unistd::chdir("/").map_err(at("chdir /"))
        }
        Err(e) => Err(at("pivot_root into the new root")(e)),
    }
}

/// Every mount the program can reach is read-only, but its work directory and /proc
/// (whose /proc/sys is): the confinement is checked, not assumed.
fn verify() -> Result<(), ViewError> {
    let text = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| io_err("read the program's mountinfo", &e))?;
    let mounts = parse_mountinfo(&text);
    let writable: Vec<String> = mounts
        .iter()
        .filter(|m| !m.read_only && !allowed_writable(&m.path) && !covered(&mounts, m))
        .map(|m| m.path.display().to_string())
        .collect();
    if writable.is_empty() {
        Ok(())
    } else {
        Err(ViewError {
            step: format!(
                "keep every mount read-only ({} stayed writable)",
                writable.join(", ")
            ),
            errno: Errno::EROFS,
        })
    }
}

/// Another mount sits on `m` at the same path: `m` cannot be reached.
fn covered(mounts: &[MountPoint], m: &MountPoint) -> bool {
    mounts
        .iter()
        .any(|o| o.parent == m.id && o.path == m.path && o.id != m.id)
}

fn allowed_writable(path: &Path) -> bool {
    path == Path::new(WORKDIR) || (path == Path::new("/proc"))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Captured from /proc/self/mountinfo on 6.18 (one line changed to hold a space).
    const MOUNTINFO: &str = "\
22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
23 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:5 - proc proc rw
24 22 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:6 - sysfs sysfs rw
25 22 0:5 / /dev rw,nosuid shared:2 - devtmpfs devtmpfs rw,size=4096k
30 22 0:26 / /run/my\\040dir ro,nosuid,nodev,noatime - tmpfs tmpfs rw
31 22 0:27 / /boot rw - ext4 /dev/vda2 rw";

    #[test]
    fn mountinfo_gives_paths_and_the_flags_a_remount_must_keep() {
        let m = parse_mountinfo(MOUNTINFO);
        assert_eq!(m.len(), 6);
        assert_eq!(m[0].path, PathBuf::from("/"));
        assert_eq!(m[0].flags, MsFlags::MS_RELATIME);
        assert!(!m[0].read_only);
        assert_eq!(m[1].fstype, "proc");
        assert_eq!(
            m[1].flags,
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC | MsFlags::MS_RELATIME
        );
        assert_eq!((m[1].id, m[1].parent), (23, 22));
        assert_eq!(m[4].path, PathBuf::from("/run/my dir"));
        assert!(m[4].read_only);
        assert!(m[4].flags.contains(MsFlags::MS_NOATIME));
        // No atime option shown: strictatime, which a remount must ask for again.
        assert!(m[5].flags.contains(MsFlags::MS_STRICTATIME));
    }

    #[test]
    fn a_mount_stacked_on_another_at_its_path_covers_it() {
        let m = parse_mountinfo(
            "26 24 0:24 / /dev/pts rw - devpts devpts rw\n29 26 0:26 / /dev/pts rw - devpts devpts rw\n30 29 0:27 / /dev/pts/x rw - tmpfs t rw",
        );
        assert!(covered(&m, &m[0]));
        assert!(!covered(&m, &m[1]));
        assert!(!covered(&m, &m[2]));
    }

    #[test]
    fn a_path_belongs_to_its_longest_mount_point() {
        let m = parse_mountinfo(MOUNTINFO);
        assert_eq!(
            containing(&m, Path::new("/usr")).unwrap().path,
            PathBuf::from("/")
        );
        assert_eq!(
            containing(&m, Path::new("/boot/efi")).unwrap().path,
            PathBuf::from("/boot")
        );
        assert!(under_proc(Path::new("/proc/sys/fs/binfmt_misc")));
        assert!(!under_proc(Path::new("/processes")));
    }

    #[test]
    fn escapes_are_undone_and_a_lone_backslash_kept() {
        assert_eq!(unescape("a\\040b\\011c"), "a b\tc");
        assert_eq!(unescape("a\\b"), "a\\b");
        assert_eq!(unescape("tail\\04"), "tail\\04");
    }
}
