//! A guest kernel: a Debian linux-image package unpacked (vmlinuz, modules, config), or
//! a bare kernel image without modules.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::VmError;

/// Modules the suite's sandbox needs where the kernel has them as modules: veth for the
/// sandbox device, the diag families for the dump scenarios. Missing ones are reported
/// by what fails in the guest, not refused here.
pub const MODULES: [&str; 5] = ["veth", "inet_diag", "tcp_diag", "udp_diag", "netlink_diag"];

/// A kernel ready to boot.
#[derive(Debug)]
pub struct GuestKernel {
    /// The kernel image.
    pub image: PathBuf,
    /// `uname -r` of the guest (from the image's file name), if known.
    pub release: Option<String>,
    /// The modules to load, dependencies first: (file name, uncompressed bytes).
    pub modules: Vec<(String, Vec<u8>)>,
    /// The kernel's configuration text, for the guest's `/boot/config-<release>`.
    pub config: Option<Vec<u8>>,
    /// Holds the unpacked package while the kernel is used.
    _unpacked: Option<tempfile::TempDir>,
}

impl GuestKernel {
    /// Opens `path`: a `.deb` is unpacked with dpkg-deb into a temporary directory;
    /// anything else is taken as a kernel image.
    pub fn open(path: &Path) -> Result<GuestKernel, VmError> {
        if !path.is_file() {
            return Err(VmError::Kernel(format!(
                "{}: not a file (a linux-image .deb or a kernel image)",
                path.display()
            )));
        }
        if path.extension().is_some_and(|e| e == "deb") {
            return unpack(path);
        }
        Ok(GuestKernel {
            image: path.to_path_buf(),
            release: None,
            modules: vec![],
            config: None,
            _unpacked: None,
        })
    }
}

fn unpack(deb: &Path) -> Result<GuestKernel, VmError> {
    let dir = tempfile::Builder::new()
        .prefix("nlstorm-kernel-")
        .tempdir()
        .map_err(|e| VmError::Io("create a directory to unpack the kernel".into(), e))?;
    let out = Command::new("dpkg-deb")
        .arg("-x")
        .arg(deb)
        .arg(dir.path())
        .output()
        .map_err(|e| VmError::Io("run dpkg-deb (Debian's dpkg package)".into(), e))?;
    if !out.status.success() {
        return Err(VmError::Kernel(format!(
            "dpkg-deb -x {} failed: {}",
            deb.display(),
            crate::untrusted::terminal(String::from_utf8_lossy(&out.stderr).trim())
        )));
    }
    let boot = dir.path().join("boot");
    let image = std::fs::read_dir(&boot)
        .ok()
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("vmlinuz-"))
        })
        .ok_or_else(|| {
            VmError::Kernel(format!(
                "{}: no boot/vmlinuz-* inside: not a linux-image package (a meta-package? give the versioned one `nlstorm vm fetch` prints)",
                deb.display()
            ))
        })?;
    let release = image
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("vmlinuz-"))
        .map(str::to_string);
    let rel = release.clone().unwrap_or_default();
    let config = std::fs::read(boot.join(format!("config-{rel}"))).ok();
    let moddir = ["lib/modules", "usr/lib/modules"]
        .iter()
        .map(|m| dir.path().join(m).join(&rel))
        .find(|p| p.is_dir());
    let modules = match moddir {
        Some(m) => load_order(&m)?,
        None => vec![],
    };
    Ok(GuestKernel {
        image,
        release,
        modules,
        config,
        _unpacked: Some(dir),
    })
}

/// [`MODULES`] and what they depend on, dependencies first, each decompressed (.ko.xz
/// with xz, .ko.zst with zstd) so the guest needs no decompressor. A package carries no
/// modules.dep (depmod writes it at install), so the dependencies are read from each
/// module's own `.modinfo` (`depends=a,b`).
fn load_order(moddir: &Path) -> Result<Vec<(String, Vec<u8>)>, VmError> {
    let mut index = std::collections::BTreeMap::new();
    let mut stack = vec![moddir.join("kernel")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Some(n) = p.file_name().and_then(|n| n.to_str()) {
                if n.contains(".ko") {
                    index.insert(module_name(n).replace('-', "_"), p.clone());
                }
            }
        }
    }
    let mut order: Vec<(String, Vec<u8>)> = Vec::new();
    for m in MODULES {
        visit(m, &index, &mut order)?;
    }
    Ok(order)
}

fn visit(
    name: &str,
    index: &std::collections::BTreeMap<String, PathBuf>,
    order: &mut Vec<(String, Vec<u8>)>,
) -> Result<(), VmError> {
    let file = format!("{name}.ko");
    if order.iter().any(|(n, _)| *n == file) || order.len() > 64 {
        return Ok(());
    }
    // Not a module in this kernel: built in, or absent (the guest's run says which).
    let Some(path) = index.get(name) else {
        return Ok(());
    };
    let bytes = decompress(path)?;
    for d in depends(&bytes) {
        visit(&d.replace('-', "_"), index, order)?;
    }
    order.push((file, bytes));
    Ok(())
}

/// The `depends=` entry of a module's `.modinfo` strings.
pub fn depends(ko: &[u8]) -> Vec<String> {
    const KEY: &[u8] = b"\0depends=";
    let Some(at) = ko.windows(KEY.len()).position(|w| w == KEY) else {
        return vec![];
    };
    let rest = &ko[at + KEY.len()..];
    let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
    String::from_utf8_lossy(&rest[..end])
        .split(',')
        .filter(|d| !d.is_empty())
        .map(str::to_string)
        .collect()
}

/// `tcp_diag` of `kernel/net/ipv4/tcp_diag.ko.xz`.
pub fn module_name(path: &str) -> &str {
    let file = path.rsplit('/').next().unwrap_or(path);
    file.split(".ko").next().unwrap_or(file)
}

fn decompress(path: &Path) -> Result<Vec<u8>, VmError> {
    let name = path.to_string_lossy();
    let tool = if name.ends_with(".xz") {
        "xz"
    } else if name.ends_with(".zst") {
        "zstd"
    } else if name.ends_with(".gz") {
        "gzip"
    } else {
        return std::fs::read(path).map_err(|e| VmError::Io(format!("read {name}"), e));
    };
    let out = Command::new(tool)
        .args(["-dc", "--"])
        .arg(path)
        .output()
        .map_err(|e| VmError::Io(format!("run {tool} to decompress {name}"), e))?;
    if !out.status.success() {
        return Err(VmError::Kernel(format!("{tool} -dc {name} failed")));
    }
    Ok(out.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependencies_are_read_from_modinfo() {
        let ko = b"\x7fELF junk\0license=GPL\0depends=inet_diag,foo-bar\0intree=Y\0";
        assert_eq!(depends(ko), ["inet_diag", "foo-bar"]);
        assert!(depends(b"\0depends=\0").is_empty());
        assert!(depends(b"nothing").is_empty());
        assert_eq!(module_name("kernel/net/ipv4/tcp_diag.ko.xz"), "tcp_diag");
        assert_eq!(module_name("veth.ko"), "veth");
    }
}
