//! nlstorm as the guest's init (PID 1 of a kernel booted by `nlstorm vm`): mounts the
//! pseudo file systems, loads the modules the host packed, runs the one nlstorm command
//! the host asked for, sends back its exit code and the files it wrote on the second
//! serial port, and powers the machine off. No shell is involved, so nothing of the
//! command line is ever parsed by one.

use std::io::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// Where the host puts the command (a JSON array of arguments).
pub const ARGS: &str = "/vm/args.json";
/// Where the host puts the module load order (one file name per line).
pub const MODULE_LIST: &str = "/vm/modules";
/// Where the host puts the modules.
pub const MODULE_DIR: &str = "/vm/modules.d";
/// The command's working directory: files it writes here may come back.
pub const WORK: &str = "/work";
/// The kernel command-line word that asks only for a sign of life (the KVM probe boot).
pub const PROBE_WORD: &str = "nlstorm.probe";
/// The kernel command-line key that tells the guest its accelerator (`kvm`, `tcg`), so
/// that what it measures says where it was measured.
pub const ACCEL_WORD: &str = "nlstorm.accel=";
/// The line prefix of the result on the second serial port.
pub const RESULT_PREFIX: &str = "NLSTORM-RESULT ";
/// Files larger than this stay in the guest.
pub const FILE_BYTES: u64 = 16 << 20;

/// What the guest sends back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestResult {
    /// The command's exit code (4 when it could not be started).
    pub exit_code: i32,
    /// `uname -r` in the guest.
    pub release: String,
    /// Modules that did not load, with the reason.
    pub module_errors: Vec<String>,
    /// Regular files in the working directory: (name, hex of the bytes).
    pub files: Vec<(String, String)>,
}

/// True in the process the guest kernel started as init: PID 1, started as `/init`,
/// with the host's command in place. A container running nlstorm as its PID 1 has no
/// [`ARGS`] file and is not mistaken for a guest.
pub fn is_guest_init() -> bool {
    std::process::id() == 1
        && std::env::args_os().next().is_some_and(|a| a == "/init")
        && Path::new(ARGS).is_file()
}

/// Runs the guest and powers off; never returns.
pub fn guest_main() -> ! {
    let result = guest();
    let line = format!(
        "{RESULT_PREFIX}{}\n",
        serde_json::to_string(&result).expect("results serialise")
    );
    // The result port; if it cannot be opened the host says that no result came.
    if let Ok(mut port) = std::fs::OpenOptions::new().write(true).open("/dev/ttyS1") {
        let _ = port.write_all(line.as_bytes());
        let _ = port.flush();
        let _ = nix::sys::termios::tcdrain(&port);
    }
    nix::unistd::sync();
    let _ = nix::sys::reboot::reboot(nix::sys::reboot::RebootMode::RB_POWER_OFF);
    // Only reached if power-off failed: returning from init panics the kernel, and
    // panic=-1 with -no-reboot ends qemu all the same.
    std::process::exit(crate::exit::HARNESS)
}

fn guest() -> GuestResult {
    mounts();
    console();
    let release = crate::sandbox::kernel_release();
    let mut result = GuestResult {
        exit_code: crate::exit::HARNESS,
        release,
        module_errors: vec![],
        files: vec![],
    };
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    if cmdline.split_whitespace().any(|w| w == PROBE_WORD) {
        result.exit_code = 0;
        return result;
    }
    result.module_errors = load_modules();
    for e in &result.module_errors {
        eprintln!("nlstorm guest: {e}");
    }
    let args: Vec<String> = match std::fs::read_to_string(ARGS)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
    {
        Some(a) => a,
        None => {
            eprintln!("nlstorm guest: {ARGS} is not a JSON list of arguments");
            return result;
        }
    };
    eprintln!(
        "nlstorm guest: kernel {}: nlstorm {}",
        result.release,
        args.join(" ")
    );
    let accel = cmdline
        .split_whitespace()
        .find_map(|w| w.strip_prefix(ACCEL_WORD))
        .filter(|a| matches!(*a, "kvm" | "tcg"))
        .unwrap_or("unknown");
    match std::process::Command::new("/bin/nlstorm")
        .args(&args)
        .current_dir(WORK)
        .env("PATH", "/bin")
        .env(crate::sandbox::ACCEL_ENV, accel)
        .status()
    {
        Ok(s) => result.exit_code = s.code().unwrap_or(crate::exit::HARNESS),
        Err(e) => eprintln!("nlstorm guest: cannot start /bin/nlstorm: {e}"),
    }
    result.files = files();
    result
}

fn mounts() {
    use nix::mount::{mount, MsFlags};
    for (src, dir, fs) in [
        ("proc", "/proc", "proc"),
        ("sysfs", "/sys", "sysfs"),
        ("devtmpfs", "/dev", "devtmpfs"),
        ("tmpfs", "/tmp", "tmpfs"),
        ("tmpfs", "/run", "tmpfs"),
    ] {
        let _ = std::fs::create_dir_all(dir);
        let _ = mount(Some(src), dir, Some(fs), MsFlags::empty(), None::<&str>);
    }
}

/// The kernel gives init a console on fds 0-2 only where the initramfs has
/// /dev/console; devtmpfs has it once mounted.
fn console() {
    if let Ok(c) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/console")
    {
        let _ = nix::unistd::dup2_stdin(&c);
        let _ = nix::unistd::dup2_stdout(&c);
        let _ = nix::unistd::dup2_stderr(&c);
    }
}

fn load_modules() -> Vec<String> {
    let list = std::fs::read_to_string(MODULE_LIST).unwrap_or_default();
    let mut errors = Vec::new();
    for name in list.lines().filter(|l| !l.is_empty()) {
        let path = Path::new(MODULE_DIR).join(name);
        let loaded = std::fs::File::open(&path)
            .map_err(|e| nix::Error::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
            .and_then(|f| nix::kmod::finit_module(&f, c"", nix::kmod::ModuleInitFlags::empty()));
        match loaded {
            Ok(()) | Err(nix::Error::EEXIST) => {}
            Err(e) => errors.push(format!("module {name} did not load: {e}")),
        }
    }
    errors
}

fn files() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(WORK).into_iter().flatten().flatten() {
        let (Ok(meta), Some(name)) = (e.metadata(), e.file_name().to_str().map(str::to_string))
        else {
            continue;
        };
        if meta.is_file() && meta.len() <= FILE_BYTES {
            if let Ok(bytes) = std::fs::read(e.path()) {
                out.push((name, super::hex::encode(&bytes)));
            }
        }
    }
    out.sort();
    out
}
