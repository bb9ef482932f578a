//! `nlstorm vm`: one nlstorm command on another kernel, booted under qemu.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};

use nlstorm::errors::{Failure, Kind};
use nlstorm::exit;
use nlstorm::vm::{self, Accel, BootOptions, GuestKernel};

/// Run one nlstorm command on another kernel under qemu, and bring its files back.
#[derive(Debug, Args)]
#[command(
    args_conflicts_with_subcommands = true,
    after_help = "Examples:\n  nlstorm vm fetch 6.12\n  nlstorm vm --kernel \"$(nlstorm vm fetch 6.12)\" -- qualify --json guest-6.12.json\n  nlstorm vm --kernel 6.1 -- qualify --json guest-6.1.json     (a line: fetched, or taken from the cache)\n  nlstorm vm --kernel bzImage --accel tcg -- probe\n\nThe guest boots a static nlstorm as its init: under cargo run it is built (or brought\nup to date) for the explicit x86_64-unknown-linux-gnu target with crt-static; else\nbuild it so, or give --nlstorm. Files the command writes in its working directory come back into\nthe current directory when the command names them as a plain file name (`--json out.json`);
files so named that exist here are sent in first (`-- run my.toml`; a scenario whose
trace or program lies elsewhere does not find it).\nExit code: the guest command's, or 2 bad kernel, 3 no qemu, 4 the guest did not finish."
)]
pub struct VmArgs {
    #[command(subcommand)]
    fetch: Option<VmCommand>,
    /// A linux-image .deb, a kernel image, or a line (6.1, 6.12) to fetch.
    #[arg(long)]
    kernel: Option<String>,
    /// kvm, tcg, or auto: KVM when a probe boot under it succeeds.
    #[arg(long, value_enum, default_value = "auto")]
    accel: Accel,
    /// Hard limit on the guest's run, seconds.
    #[arg(long, default_value_t = 600)]
    timeout: u64,
    /// Guest memory, MiB.
    #[arg(long, default_value_t = 1024)]
    memory: u32,
    /// The static nlstorm to boot (default: this binary if static, else the one built
    /// for the explicit x86_64-unknown-linux-gnu target beside it).
    #[arg(long)]
    nlstorm: Option<PathBuf>,
    /// The nlstorm command to run in the guest, after `--`.
    #[arg(last = true)]
    command: Vec<String>,
}

#[derive(Debug, Subcommand)]
enum VmCommand {
    /// Download the newest Debian cloud kernel package of a line (apt-get download,
    /// never installed) and print its path.
    Fetch {
        /// 6.1, 6.12, ...
        line: String,
    },
}

pub fn run(a: VmArgs) -> anyhow::Result<i32> {
    if let Some(VmCommand::Fetch { line }) = &a.fetch {
        let p = vm::fetch(line).map_err(super::failed)?;
        out!("{}", p.display());
        return Ok(exit::PASS);
    }
    let Some(kernel) = a.kernel.as_deref() else {
        return Err(super::bad_input(
            "--kernel is required (a .deb, a kernel image, or a line such as 6.12)",
        ));
    };
    if a.command.is_empty() {
        return Err(super::bad_input(
            "no command: give it after --, as in nlstorm vm --kernel 6.12 -- qualify",
        ));
    }
    if !Path::new(kernel).exists() && vm::kernel_line(kernel).is_none() {
        return Err(super::bad_input(format!(
            "--kernel {}: not a file (a linux-image .deb, a kernel image) nor a line such as 6.12",
            nlstorm::untrusted::terminal_line(kernel)
        )));
    }
    let nlstorm = static_nlstorm(a.nlstorm.as_deref()).map_err(super::bad_input)?;
    let kernel_path = if !Path::new(kernel).exists() && vm::kernel_line(kernel).is_some() {
        vm::fetch(kernel).map_err(super::failed)?
    } else {
        PathBuf::from(kernel)
    };
    let wanted = wanted_files(&a.command);
    let inputs = inputs(&wanted).map_err(super::bad_input)?;
    // What the command names comes back, unless it was sent in.
    let returned: Vec<&String> = wanted
        .iter()
        .filter(|w| !inputs.iter().any(|(n, _)| n == *w))
        .collect();
    let opts = BootOptions {
        kernel: GuestKernel::open(&kernel_path).map_err(super::failed)?,
        nlstorm,
        command: a.command.clone(),
        inputs,
        accel: a.accel,
        timeout: Duration::from_secs(a.timeout),
        memory_mib: a.memory,
    };
    let booted = vm::boot(&opts).map_err(super::failed)?;
    let r = &booted.result;
    for e in &r.module_errors {
        err!(
            "nlstorm vm: in the guest: {}",
            nlstorm::untrusted::terminal_line(e)
        );
    }
    for (name, hex) in &r.files {
        if !returned.contains(&name) {
            continue;
        }
        let Some(bytes) = vm::decode_hex(hex) else {
            err!("nlstorm vm: the guest sent {name} garbled; not written");
            continue;
        };
        std::fs::write(name, bytes)?;
        err!("nlstorm vm: wrote {name} from the guest");
    }
    err!(
        "nlstorm vm: guest {} under {} finished in {:.1} s with exit code {}",
        nlstorm::untrusted::terminal_line(&r.release),
        if booted.accel == Accel::Kvm {
            "KVM"
        } else {
            "TCG"
        },
        booted.elapsed.as_secs_f64(),
        r.exit_code
    );
    // The guest's word is untrusted: only a documented exit code passes through, and
    // the guest's command said its failure on the console already.
    match r.exit_code {
        exit::PASS | exit::FINDING => Ok(r.exit_code),
        code => Err(Failure::already_said(Kind::from_exit_code(code)).into()),
    }
}

/// The files among `names` that exist in the current directory: the guest's command
/// finds them in its working directory (`nlstorm vm ... -- run my.toml`).
fn inputs(names: &[String]) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut out = Vec::new();
    for n in names {
        let Ok(meta) = std::fs::metadata(n) else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        if meta.len() > vm::guest::FILE_BYTES {
            return Err(format!(
                "{n} is larger than {} MiB: too large to send into the guest",
                vm::guest::FILE_BYTES >> 20
            ));
        }
        let bytes = std::fs::read(n).map_err(|e| format!("cannot read {n}: {e}"))?;
        out.push((n.clone(), bytes));
    }
    Ok(out)
}

/// The files the command names as plain file names: only those come back, so a guest
/// cannot write anything else into the host's directory.
fn wanted_files(command: &[String]) -> Vec<String> {
    command
        .iter()
        .flat_map(|a| [a.as_str(), a.split_once('=').map_or("", |(_, v)| v)])
        .filter(|a| {
            !a.is_empty()
                && !a.starts_with('-')
                && !a.starts_with('.')
                && a.len() <= 255
                && a.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-+".contains(&b))
        })
        .map(str::to_string)
        .collect()
}

/// The target the guest's static nlstorm is built for, given explicitly so that the
/// crt-static flag reaches only it and not the build scripts and proc macros.
const GUEST_TARGET: &str = "x86_64-unknown-linux-gnu";

fn static_nlstorm(given: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(g) = given {
        return match vm::is_static(g) {
            Ok(true) => Ok(g.to_path_buf()),
            Ok(false) => Err(format!(
                "{} is not static (it has a program interpreter): {}",
                g.display(),
                build_hint()
            )),
            Err(e) => Err(format!("{}: {e}", g.display())),
        };
    }
    let me = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
    if vm::is_static(&me).unwrap_or(false) {
        return Ok(me);
    }
    let beside = me
        .parent()
        .and_then(Path::parent)
        .map(|t| t.join(GUEST_TARGET).join("release/nlstorm"))
        .ok_or_else(|| format!("{} has no target directory above it", me.display()))?;
    if let Some(built) = build_under_cargo(&beside)? {
        return Ok(built);
    }
    match vm::is_static(&beside) {
        Ok(true) => {
            let older = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
            if older(&beside) < older(&me) {
                err!(
                    "nlstorm vm: {} is older than this binary: the guest runs that older build",
                    beside.display()
                );
            }
            Ok(beside)
        }
        _ => Err(format!(
            "no static nlstorm at {} (nor is this binary static): {}",
            beside.display(),
            build_hint()
        )),
    }
}

fn build_hint() -> String {
    format!(
        "build one with RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --target {GUEST_TARGET} --bin nlstorm, or run nlstorm vm through cargo run, which builds it"
    )
}

/// Under `cargo run` (which sets CARGO and CARGO_MANIFEST_DIR) the static build is
/// brought up to date with the same cargo, so the guest runs the code the host runs.
fn build_under_cargo(want: &Path) -> Result<Option<PathBuf>, String> {
    let (Some(cargo), Some(manifest)) = (
        std::env::var_os("CARGO"),
        std::env::var_os("CARGO_MANIFEST_DIR"),
    ) else {
        return Ok(None);
    };
    err!("nlstorm vm: building the guest's static nlstorm (cargo build --release --target {GUEST_TARGET}, crt-static)");
    let status = std::process::Command::new(cargo)
        .args([
            "build",
            "--release",
            "--bin",
            "nlstorm",
            "--target",
            GUEST_TARGET,
        ])
        .current_dir(manifest)
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|e| format!("cannot run cargo to build the static nlstorm: {e}"))?;
    if !status.success() {
        return Err(format!(
            "the static build failed ({status}); {}",
            build_hint()
        ));
    }
    match vm::is_static(want) {
        Ok(true) => Ok(Some(want.to_path_buf())),
        _ => Err(format!(
            "the static build left no static binary at {}",
            want.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_plain_file_names_of_the_command_come_back() {
        let cmd: Vec<String> = [
            "qualify",
            "--json",
            "out.json",
            "--junit=q.xml",
            "../x",
            "/etc/passwd",
            ".hidden",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(super::wanted_files(&cmd), ["qualify", "out.json", "q.xml"]);
    }
}
