//! `nlstorm vm fetch 6.12`: the newest Debian cloud kernel package of a line, downloaded
//! with `apt-get download` (never installed) into a cache.

use std::path::PathBuf;
use std::process::Command;

use super::VmError;

/// `6.12` or `6.1`: the line argument, checked before it reaches a package name.
pub fn kernel_line(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.split_once('.')?;
    let num = |x: &str| {
        (!x.is_empty() && x.len() <= 4 && x.bytes().all(|c| c.is_ascii_digit()))
            .then(|| x.parse().ok())
            .flatten()
    };
    Some((num(a)?, num(b)?))
}

/// `$XDG_CACHE_HOME/nlstorm/kernels`, or `~/.cache/nlstorm/kernels`.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("/var/cache"))
        .join("nlstorm/kernels")
}

/// Numeric parts of a package's version string, for ordering: `6.1.0-57` -> [6,1,0,57].
fn numbers(s: &str) -> Vec<u64> {
    s.split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty())
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// The newest `linux-image-<line>.*-cloud-amd64` package name among `names`.
pub fn newest(names: &str, (major, minor): (u32, u32)) -> Option<String> {
    let prefix = format!("linux-image-{major}.{minor}.");
    names
        .lines()
        .map(str::trim)
        .filter(|n| n.starts_with(&prefix) && n.ends_with("-cloud-amd64"))
        .max_by_key(|n| numbers(&n["linux-image-".len()..]))
        .map(str::to_string)
}

/// Downloads (or finds in the cache) the newest package of `line`; returns the .deb.
pub fn fetch(line: &str) -> Result<PathBuf, VmError> {
    let Some(l) = kernel_line(line) else {
        return Err(VmError::Kernel(format!(
            "{:?} is not a kernel line such as 6.1 or 6.12",
            crate::untrusted::terminal(line)
        )));
    };
    let names = Command::new("apt-cache")
        .args(["pkgnames", "linux-image-"])
        .output()
        .map_err(|e| {
            VmError::Environment(format!(
                "cannot run apt-cache ({e}): nlstorm vm fetch needs Debian's apt"
            ))
        })?;
    let names = String::from_utf8_lossy(&names.stdout);
    let Some(name) = newest(&names, l) else {
        return Err(VmError::Environment(format!(
            "apt knows no linux-image-{line}.*-cloud-amd64 package (run apt-get update; the line may not be in this machine's sources)"
        )));
    };
    let dir = cache_dir();
    std::fs::create_dir_all(&dir)
        .map_err(|e| VmError::Io(format!("create {}", dir.display()), e))?;
    let cached = |dir: &std::path::Path| {
        std::fs::read_dir(dir)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&format!("{name}_")) && n.ends_with(".deb"))
            })
    };
    if let Some(p) = cached(&dir) {
        return Ok(p);
    }
    eprintln!(
        "nlstorm vm fetch: apt-get download {name} into {}",
        dir.display()
    );
    let out = Command::new("apt-get")
        .args(["download", "-q", &name])
        .current_dir(&dir)
        .output()
        .map_err(|e| VmError::Environment(format!("cannot run apt-get ({e})")))?;
    if !out.status.success() {
        return Err(VmError::Environment(format!(
            "apt-get download {name} failed: {}",
            crate::untrusted::terminal(String::from_utf8_lossy(&out.stderr).trim())
        )));
    }
    cached(&dir).ok_or_else(|| {
        VmError::Environment(format!(
            "apt-get download {name} left no .deb in {}",
            dir.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_package_of_a_line_by_number_not_text() {
        let names = "linux-image-6.1.0-9-cloud-amd64\nlinux-image-6.1.0-57-cloud-amd64\nlinux-image-6.12.9+deb12-cloud-amd64\nlinux-image-6.12.118+deb12-cloud-amd64\nlinux-image-6.12.118+deb12-cloud-amd64-dbg\nlinux-image-6.12-cloud-amd64\nlinux-image-6.1.0-57-amd64\n";
        assert_eq!(
            newest(names, (6, 1)).unwrap(),
            "linux-image-6.1.0-57-cloud-amd64"
        );
        assert_eq!(
            newest(names, (6, 12)).unwrap(),
            "linux-image-6.12.118+deb12-cloud-amd64"
        );
        assert!(newest(names, (5, 10)).is_none());
    }

    #[test]
    fn only_a_plain_line_is_accepted() {
        assert_eq!(kernel_line("6.12"), Some((6, 12)));
        for bad in ["6", "6.", ".1", "6.1.2", "6.1; rm", "../6.1", "6.1x"] {
            assert_eq!(kernel_line(bad), None, "{bad}");
        }
    }
}
