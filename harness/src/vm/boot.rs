//! Booting a guest kernel under qemu with nlstorm as its init, always under a hard
//! timeout: KVM where a short probe boot shows it works, TCG otherwise.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::guest::{
    GuestResult, ACCEL_WORD, ARGS, MODULE_DIR, MODULE_LIST, PROBE_WORD, RESULT_PREFIX, WORK,
};
use super::initramfs::{self, Entry};
use super::kernel::GuestKernel;
use super::VmError;

/// How qemu runs the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Accel {
    /// KVM if a probe boot under it succeeds, else TCG.
    Auto,
    /// Hardware virtualisation.
    Kvm,
    /// Software emulation: slow, works everywhere.
    Tcg,
}

/// What to boot and run.
#[derive(Debug)]
pub struct BootOptions {
    /// The kernel.
    pub kernel: GuestKernel,
    /// The static nlstorm that becomes the guest's init and runs the command.
    pub nlstorm: PathBuf,
    /// Arguments of the nlstorm command run in the guest.
    pub command: Vec<String>,
    /// Files put in the command's working directory: (plain file name, bytes).
    pub inputs: Vec<(String, Vec<u8>)>,
    /// Accelerator.
    pub accel: Accel,
    /// Hard limit on the guest's run.
    pub timeout: Duration,
    /// Guest memory, MiB.
    pub memory_mib: u32,
}

/// A finished guest.
#[derive(Debug)]
pub struct Booted {
    /// What the guest sent back.
    pub result: GuestResult,
    /// The accelerator used.
    pub accel: Accel,
    /// Wall time of the run (not counting a KVM probe boot).
    pub elapsed: Duration,
}

/// How long a KVM probe boot may take before KVM counts as not working.
const PROBE_TIMEOUT: Duration = Duration::from_secs(20);
/// Bytes of the result port's file read back.
const RESULT_BYTES: u64 = 128 << 20;

const QEMU: &str = "qemu-system-x86_64";

/// True if the ELF file at `path` has no program interpreter (PT_INTERP): it runs
/// without the host's dynamic loader, as a guest's init must.
pub fn is_static(path: &Path) -> std::io::Result<bool> {
    let b = std::fs::read(path)?;
    let u16_at = |o: usize| b.get(o..o + 2).map(|s| u16::from_le_bytes([s[0], s[1]]));
    let u64_at = |o: usize| {
        b.get(o..o + 8)
            .map(|s| u64::from_le_bytes(s.try_into().expect("8 bytes")))
    };
    if b.get(..5) != Some(b"\x7fELF\x02") {
        return Err(std::io::Error::other("not a 64-bit ELF file"));
    }
    let (phoff, phentsize, phnum) = (
        u64_at(0x20).unwrap_or(0) as usize,
        u16_at(0x36).unwrap_or(0) as usize,
        u16_at(0x38).unwrap_or(0) as usize,
    );
    const PT_INTERP: u32 = 3;
    Ok((0..phnum).all(|i| {
        let o = phoff + i * phentsize;
        b.get(o..o + 4)
            .is_some_and(|t| u32::from_le_bytes(t.try_into().expect("4 bytes")) != PT_INTERP)
    }))
}

/// Boots the guest, runs the command, returns what it sent back.
pub fn boot(o: &BootOptions) -> Result<Booted, VmError> {
    let dir = tempfile::Builder::new()
        .prefix("nlstorm-vm-")
        .tempdir()
        .map_err(|e| VmError::Io("create the guest's directory".into(), e))?;
    let initrd = dir.path().join("initrd.gz");
    let image = initramfs_for(o)?;
    std::fs::write(&initrd, image).map_err(|e| VmError::Io("write the initramfs".into(), e))?;
    let accel = match o.accel {
        Accel::Auto if kvm_works(o, dir.path(), &initrd) => Accel::Kvm,
        Accel::Auto => Accel::Tcg,
        a => a,
    };
    eprintln!(
        "nlstorm vm: booting {} under {} (timeout {} s)",
        o.kernel.release.as_deref().unwrap_or("the kernel"),
        if accel == Accel::Kvm {
            "KVM"
        } else {
            "TCG (software emulation)"
        },
        o.timeout.as_secs()
    );
    let start = Instant::now();
    let (result, console) = run_qemu(o, dir.path(), &initrd, accel, false, o.timeout)?;
    match result {
        Some(result) => Ok(Booted {
            result,
            accel,
            elapsed: start.elapsed(),
        }),
        None => Err(VmError::Guest(format!(
            "the guest sent no result; the last lines of its console:\n{}",
            console.join("\n")
        ))),
    }
}

fn kvm_works(o: &BootOptions, dir: &Path, initrd: &Path) -> bool {
    if std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_err()
    {
        return false;
    }
    match run_qemu(o, dir, initrd, Accel::Kvm, true, PROBE_TIMEOUT) {
        Ok((Some(r), _)) if r.exit_code == 0 => true,
        Ok((_, lines)) => {
            eprintln!(
                "nlstorm vm: /dev/kvm is there but a probe boot under KVM failed ({}): using TCG",
                lines
                    .iter()
                    .find(|l| l.starts_with(QEMU))
                    .or(lines.last())
                    .map_or("no output", String::as_str)
            );
            false
        }
        Err(e) => {
            eprintln!("nlstorm vm: a probe boot under KVM failed ({e}): using TCG");
            false
        }
    }
}

fn initramfs_for(o: &BootOptions) -> Result<Vec<u8>, VmError> {
    let exe = std::fs::read(&o.nlstorm)
        .map_err(|e| VmError::Io(format!("read {}", o.nlstorm.display()), e))?;
    let dir = |p: &str| Entry::Dir { path: p.into() };
    let file = |p: &str, mode: u32, bytes: Vec<u8>| Entry::File {
        path: p.into(),
        mode,
        bytes,
    };
    let rel = |p: &str| p.trim_start_matches('/').to_string();
    let mut e = vec![
        dir("bin"),
        dir("dev"),
        dir("proc"),
        dir("sys"),
        dir("tmp"),
        dir("run"),
        dir("boot"),
        dir("vm"),
        dir(&rel(MODULE_DIR)),
        dir(&rel(WORK)),
        file("bin/nlstorm", 0o755, exe.clone()),
        file("init", 0o755, exe),
        file(
            &rel(ARGS),
            0o644,
            serde_json::to_vec(&o.command).expect("strings serialise"),
        ),
    ];
    let list: Vec<&str> = o.kernel.modules.iter().map(|(n, _)| n.as_str()).collect();
    e.push(file(&rel(MODULE_LIST), 0o644, list.join("\n").into_bytes()));
    for (name, bytes) in &o.kernel.modules {
        e.push(file(
            &format!("{}/{name}", rel(MODULE_DIR)),
            0o644,
            bytes.clone(),
        ));
    }
    for (name, bytes) in &o.inputs {
        e.push(file(&format!("{}/{name}", rel(WORK)), 0o644, bytes.clone()));
    }
    if let (Some(c), Some(r)) = (&o.kernel.config, &o.kernel.release) {
        e.push(file(&format!("boot/config-{r}"), 0o644, c.clone()));
    }
    Ok(initramfs::gzipped(&e))
}

/// Runs qemu to the end or the timeout: (the guest's result, the console's last lines).
fn run_qemu(
    o: &BootOptions,
    dir: &Path,
    initrd: &Path,
    accel: Accel,
    probe: bool,
    timeout: Duration,
) -> Result<(Option<GuestResult>, Vec<String>), VmError> {
    let result_file = dir.join(if probe { "probe.txt" } else { "result.txt" });
    let _ = std::fs::remove_file(&result_file);
    let mut append = format!(
        "console=ttyS0 panic=-1 quiet rdinit=/init {ACCEL_WORD}{}",
        if accel == Accel::Kvm { "kvm" } else { "tcg" }
    );
    if probe {
        append = format!("{append} {PROBE_WORD}");
    }
    let mut cmd = Command::new(QEMU);
    cmd.args([
        "-nodefaults",
        "-no-reboot",
        "-display",
        "none",
        "-monitor",
        "none",
    ])
    .args(["-m", &o.memory_mib.to_string(), "-smp", "2"])
    .arg("-kernel")
    .arg(&o.kernel.image)
    .arg("-initrd")
    .arg(initrd)
    .args(["-append", &append])
    .args(["-serial", "stdio", "-serial"])
    .arg(format!("file:{}", result_file.display()));
    match accel {
        Accel::Kvm => cmd.args(["-accel", "kvm", "-cpu", "host"]),
        _ => cmd.args(["-accel", "tcg", "-cpu", "max"]),
    };
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            VmError::Environment(format!(
                "cannot run {QEMU} ({e}): install Debian's qemu-system-x86 package"
            ))
        })?;
    let console = forward(child.stdout.take().expect("piped"), !probe);
    let errors = forward(child.stderr.take().expect("piped"), !probe);
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child
            .try_wait()
            .map_err(|e| VmError::Io("wait for qemu".into(), e))?
        {
            break Some(s);
        }
        if start.elapsed() > timeout {
            // Our own child, stopped by its PID.
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut lines = console.join().unwrap_or_default();
    lines.extend(errors.join().unwrap_or_default());
    if status.is_none() {
        if probe {
            return Ok((None, lines));
        }
        return Err(VmError::Guest(format!(
            "the guest did not finish within {} s and was stopped; the last lines of its console:\n{}",
            timeout.as_secs(),
            lines.join("\n")
        )));
    }
    Ok((read_result(&result_file), lines))
}

/// Copies the guest's console to stderr (escaped: the guest is not trusted) when
/// `show`, keeping the last lines for an error message.
fn forward(
    r: impl std::io::Read + Send + 'static,
    show: bool,
) -> std::thread::JoinHandle<Vec<String>> {
    std::thread::spawn(move || {
        let mut last = std::collections::VecDeque::new();
        for line in std::io::BufReader::new(r)
            .split(b'\n')
            .map_while(Result::ok)
        {
            let text = crate::untrusted::terminal_line(&as_shown(&String::from_utf8_lossy(&line)));
            if show {
                eprintln!("guest | {text}");
            }
            last.push_back(text);
            if last.len() > 30 {
                last.pop_front();
            }
        }
        last.into()
    })
}

/// A console line as a terminal shows it: the guest's console is a tty, so nlstorm in
/// the guest draws progress with carriage returns and erase-line sequences; keep what
/// the last redraw left.
fn as_shown(line: &str) -> String {
    let line = line.trim_end();
    line.rsplit('\r')
        .next()
        .unwrap_or(line)
        .replace("\x1b[K", "")
}

fn read_result(path: &Path) -> Option<GuestResult> {
    let text = crate::untrusted::read_bounded(path, RESULT_BYTES).ok()?;
    text.lines()
        .find_map(|l| l.trim_end_matches('\r').strip_prefix(RESULT_PREFIX))
        .and_then(|json| serde_json::from_str(json).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_lines_read_as_a_terminal_shows_them() {
        assert_eq!(as_shown("[1/2] a ...\r\x1b[Ka  ok\r\n"), "a  ok");
        assert_eq!(as_shown("plain"), "plain");
    }

    #[test]
    fn a_static_binary_has_no_interpreter() {
        // The test binary is built like the release one: dynamic unless built with
        // crt-static, and /bin/sh is dynamic on Debian.
        assert!(!is_static(Path::new("/bin/sh")).unwrap());
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x");
        std::fs::write(&p, b"#!/bin/sh\n").unwrap();
        assert!(is_static(&p).is_err());
    }
}
