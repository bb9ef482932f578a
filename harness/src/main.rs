//! The `nlstorm` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// Writes formatted text to `$w` with its untrusted parts escaped for the terminal,
/// then `$end`. A closed pipe (`nlstorm ... | head`) is not an error, so a failed write
/// is ignored rather than panicking as `println!` would.
macro_rules! emit {
    ($w:expr, $end:expr, $($t:tt)*) => {{
        use std::io::Write as _;
        let _ = write!($w, "{}{}", nlstorm::untrusted::terminal(&format!($($t)*)), $end);
    }};
}

/// A line on stdout (see [`emit!`]).
macro_rules! out {
    () => { emit!(std::io::stdout().lock(), "\n", "") };
    ($($t:tt)*) => { emit!(std::io::stdout().lock(), "\n", $($t)*) };
}

/// Text on stdout, no newline added.
macro_rules! out_raw {
    ($($t:tt)*) => { emit!(std::io::stdout().lock(), "", $($t)*) };
}

/// A line on stderr.
macro_rules! err {
    () => { emit!(std::io::stderr().lock(), "\n", "") };
    ($($t:tt)*) => { emit!(std::io::stderr().lock(), "\n", $($t)*) };
}

/// A progress line on stderr that replaces the previous one: nlstorm's own terminal
/// control sequence (return, clear line), then the escaped text.
macro_rules! progress {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stderr().lock(), "\r\x1b[K");
        emit!(std::io::stderr().lock(), "", $($t)*)
    }};
}

mod cli;

use nlstorm::child;
use nlstorm::errors::{Failure, Kind};

/// Floods netlink broadcast groups in a private network namespace and accounts exactly
/// for what each receiver got, lost, and was told (ENOBUFS).
///
/// Exit codes: 0 every expectation held; 1 an expectation failed (a finding);
/// 2 bad input (scenario file or arguments); 3 this machine cannot run it (no privilege
/// for namespaces); 4 nlstorm itself failed.
#[derive(Parser)]
#[command(name = "nlstorm", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run scenario files (or every *.toml in a directory), each in a fresh sandbox.
    #[command(
        after_help = "Examples:\n  nlstorm run scenarios/\n  nlstorm run scenarios/incident-1-usb-hotplug.toml --json out.json --junit out.xml\n  nlstorm run my.toml --record-dir /tmp/records      (or --no-record)\n\nA scenario this machine cannot run (it needs real root, or a kernel module) is\nreported as skipped with the reason; the rest still run.\nSizes: 1024, \"512B\", \"4KiB\", \"1MiB\". Durations: \"20us\", \"250ms\", \"2s\"."
    )]
    Run {
        /// Scenario files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Write the JSON report here (schema: README.md, "JSON report").
        #[arg(long)]
        json: Option<PathBuf>,
        /// Write JUnit XML here: one test case per expectation.
        #[arg(long)]
        junit: Option<PathBuf>,
        /// Directory for run records (resolved scenario, kernel facts, history, verdict).
        #[arg(long, default_value = "nlstorm-records")]
        record_dir: PathBuf,
        /// Do not write run records.
        #[arg(long)]
        no_record: bool,
        /// Let programs whose scenario asks for root (`root = true`) run as root. Without
        /// it such a scenario is skipped: a scenario file never grants root by itself.
        #[arg(long)]
        allow_root_programs: bool,
    },
    /// Check scenario files without running them (no privileges needed).
    #[command(
        after_help = "Examples:\n  nlstorm validate scenarios/\n  nlstorm validate my.toml\n\nEvery problem of a file is reported at once, each as file:line:col: key.path: what.\nEvery key, its unit and default: scenarios/reference.toml."
    )]
    Validate {
        /// Scenario files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Write the result as JSON here: per file, its scenario name and every problem
        /// (location, key path, message).
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Find the exact ENOBUFS threshold of one receiver by bisection (exit 1 when the model
    /// disagrees or there is no threshold in range).
    #[command(
        after_help = "Examples:\n  nlstorm threshold --rcvbuf 1024 --payload 300\n  nlstorm threshold --find rcvbuf --burst 36 --emitter kernel-uevent\n  nlstorm threshold --find rate --reader delay=50us,mode=poll --duration 500ms\n\nBuffer requests are what setsockopt's int carries: -2147483648..=2147483647.\nSizes: 1024, 512B, 4KiB, 1MiB. Durations: 20us, 250ms, 2s."
    )]
    Threshold(cli::threshold::ThresholdArgs),
    /// Search for a case that breaks a property (no-loss, no-enobufs, accounting, model,
    /// no-hang, complete-dumps) and shrink it to a minimal scenario file (exit 1 when one
    /// is found).
    #[command(
        after_help = "Examples:\n  nlstorm explore --property no-loss --cases 200\n  nlstorm explore --property model --emitter usersock --payload 32..4KiB\n  nlstorm explore --property no-hang --filters off --time 60s\n\nProperties: no-loss, no-enobufs, accounting, model (flood space); no-hang,\ncomplete-dumps (dump space). The shrunk case goes to --out (default nlstorm-explore/),\nits seed to --regressions (default <out>/regressions.txt)."
    )]
    Explore(cli::explore::ExploreArgs),
    /// Write a standalone C program that reproduces what a scenario or run record found.
    #[command(
        after_help = "Examples:\n  nlstorm repro nlstorm-explore/explore-no-loss-seed1.toml\n  nlstorm repro nlstorm-records/20261203T125851Z-hang-dump-stalled-a6494262 --out hang.c\n  cc -O2 -o repro hang.c && ./repro      (as root; exit 0 reproduced, 1 not)"
    )]
    Repro(cli::repro::ReproArgs),
    /// Measure a grid of up to three parameters; JSON, CSV and SVG out; --shard and
    /// --resume (exit 1 when the model disagrees in some cell).
    #[command(
        after_help = "Examples:\n  nlstorm sweep --rcvbuf 0..8MiB:log:24 --payload 32..16KiB:log:10 --svg sweep.svg\n  nlstorm sweep --rcvbuf 2304,8KiB,64KiB --rate 1000..100000:log:6 --reader delay=20us\n  nlstorm sweep ... --shard 2/4 --json part2.json      (then: nlstorm merge part*.json --json all.json)\n\nAn axis is LO..HI:log:N, LO..HI:lin:N, A,B,C or one value."
    )]
    Sweep(cli::sweep::SweepArgs),
    /// Record uevent traces in a sandbox, and summarise them.
    #[command(subcommand)]
    Trace(cli::trace::TraceCommand),
    /// Judge a stored run record again from its plan.json and history.json, offline.
    Check(cli::check::CheckArgs),
    /// Merge sweep shards into one result, or kernel profiles into one table.
    #[command(
        after_help = "Examples:\n  nlstorm merge part1.json part2.json --json all.json --csv all.csv --svg all.svg\n  nlstorm merge host.json guest-6.1.json guest-6.12.json --json kernels.json --html kernels.html\n\nProfiles (nlstorm qualify --json) join into one column per kernel, the rows where\nthe kernels differ marked; nlstorm diff judges two of them."
    )]
    Merge(cli::sweep::MergeArgs),
    /// Measure the qualification suite on the running kernel (a kernel profile) and
    /// compare it with the baseline for this kernel.
    Qualify(cli::qualify::QualifyArgs),
    /// Compare two kernel profiles fact by fact, in words.
    Diff(cli::qualify::DiffArgs),
    /// Run one nlstorm command on another kernel under qemu (`vm fetch 6.12` gets one).
    Vm(cli::vm::VmArgs),
    /// Measure the running kernel's netlink buffer facts in a sandbox.
    #[command(after_help = "Examples:\n  nlstorm probe\n  nlstorm probe --json kernel.json")]
    Probe {
        /// Write the measurements as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    // The sandbox child and a program's init must run before anything starts a thread.
    let first = std::env::args_os().nth(1);
    if first.as_ref().is_some_and(|a| a == child::CHILD_ARG) {
        return ExitCode::from(child::child_main() as u8);
    }
    if first.is_some_and(|a| a == nlstorm::program::confine::INIT_ARG) {
        return ExitCode::from(nlstorm::program::confine::init_main() as u8);
    }
    // Booted by `nlstorm vm` as a guest kernel's init.
    if nlstorm::vm::guest::is_guest_init() {
        nlstorm::vm::guest::guest_main();
    }
    let parsed = Cli::command()
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m).map(|cli| (command_name(&m), cli)));
    let (name, cli) = match parsed {
        Ok(x) => x,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                Kind::BadInput.exit_code() as u8
            } else {
                0
            });
        }
    };
    ExitCode::from(match dispatch(cli) {
        Ok(code) => code,
        Err(e) => said(&name, &e),
    } as u8)
}

/// Says why `nlstorm NAME` failed and returns the exit code of that kind of failure: the
/// one place an error becomes a code. An error that is no [`Failure`] is nlstorm's own.
fn said(name: &str, e: &anyhow::Error) -> i32 {
    match e.downcast_ref::<Failure>() {
        Some(f) => {
            if let Some(m) = f.message() {
                err!("nlstorm {name}: {m}");
            }
            f.kind().exit_code()
        }
        None => {
            err!("nlstorm {name}: {e:#}");
            Kind::Harness.exit_code()
        }
    }
}

/// The command as the user typed it (`sweep`, `trace record`, `vm fetch`), for its
/// messages.
fn command_name(m: &clap::ArgMatches) -> String {
    let mut names = Vec::new();
    let mut m = m;
    while let Some((name, sub)) = m.subcommand() {
        names.push(name);
        m = sub;
    }
    names.join(" ")
}

/// A command's result: its verdict's exit code (0 or 1, or a code a sandbox or guest
/// reported), or the [`Failure`] that ended it.
fn dispatch(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Run {
            paths,
            json,
            junit,
            record_dir,
            no_record,
            allow_root_programs,
        } => cli::run::run(
            &paths,
            json,
            junit,
            (!no_record).then_some(record_dir),
            nlstorm::run::Grant {
                root_programs: allow_root_programs,
            },
        ),
        Command::Validate { paths, json } => cli::validate::run(&paths, json),
        Command::Probe { json } => cli::probe::run(json),
        Command::Threshold(a) => cli::threshold::run(a),
        Command::Sweep(a) => cli::sweep::run(a),
        Command::Explore(a) => cli::explore::run(a),
        Command::Repro(a) => cli::repro::run(a),
        Command::Merge(a) => cli::sweep::merge(a),
        Command::Check(a) => cli::check::run(a),
        Command::Trace(c) => cli::trace::run(c),
        Command::Qualify(a) => cli::qualify::qualify(a),
        Command::Diff(a) => cli::qualify::diff(a),
        Command::Vm(a) => cli::vm::run(a),
    }
}
