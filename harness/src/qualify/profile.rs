//! The kernel profile: one fact per line of the suite, each with an id that stays the
//! same across kernels, a value, and how it was measured.

use std::io::Read as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::probe::ProbeReport;
pub use crate::sandbox::Place;

/// The suite's name and version. A profile of another suite is not compared.
pub const SUITE: &str = "nlstorm-qualify/2";

/// Wire lengths at which each emitter path's truesize is a fact. Fixed, so the ids are
/// the same on every kernel; the smallest message of a path is not among them because
/// the kernel-uevent path's grows with the kernel's SEQNUM.
const LENGTHS: [usize; 8] = [141, 256, 512, 700, 1024, 1500, 2048, 4000];

/// A length counts for a path only this far above the path's smallest message. The
/// uevent paths' smallest message carries the kernel's SEQNUM, whose digits grow with
/// the number of uevents since boot (a fresh guest has 3, a host up for weeks 6 or
/// more), and the run's own keys; without the margin a length near the minimum would
/// be a fact on one kernel and missing on the next for no reason of the kernel's.
const MIN_MARGIN: usize = 32;

/// Payload lengths of the probe's capacity floods that are the same on every kernel
/// (the probe also floods with each path's smallest message, which is not).
const CAPACITY_LENGTHS: [usize; 4] = [64, 700, 1500, 2048];

/// SO_RCVBUF requests whose effective size is a fact (the probe also asks for sizes
/// derived from rmem_max, which are facts of the configuration, not of the kernel).
const REQUESTS: [u64; 9] = [0, 1, 512, 1024, 1152, 1153, 2048, 4096, 65536];

/// Which kernel a profile describes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelId {
    /// `uname -r`.
    pub release: String,
    /// `uname -v`.
    pub version: String,
    /// `uname -m`.
    pub machine: String,
    /// SHA-256 of the kernel's configuration text, where it is readable.
    pub config_sha256: Option<String>,
    /// Where the configuration was read (`/proc/config.gz`, `/boot/config-<release>`).
    pub config_source: Option<String>,
}

impl KernelId {
    /// The running kernel.
    pub fn current() -> KernelId {
        let u = nix::sys::utsname::uname().ok();
        let field = |f: fn(&nix::sys::utsname::UtsName) -> &std::ffi::OsStr| {
            u.as_ref()
                .map(|u| f(u).to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        let release = field(|u| u.release());
        let (config_sha256, config_source) = match config_text(&release) {
            Some((source, text)) => (Some(sha256_hex(&text)), Some(source)),
            None => (None, None),
        };
        KernelId {
            version: field(|u| u.version()),
            machine: field(|u| u.machine()),
            release,
            config_sha256,
            config_source,
        }
    }
}

/// The configuration as text: /proc/config.gz (CONFIG_IKCONFIG_PROC) or Debian's
/// /boot/config-<release>. Hashing the text makes the two sources agree.
fn config_text(release: &str) -> Option<(String, Vec<u8>)> {
    let mut text = Vec::new();
    if let Ok(f) = std::fs::File::open("/proc/config.gz") {
        if flate2::read::GzDecoder::new(f)
            .take(16 << 20)
            .read_to_end(&mut text)
            .is_ok()
        {
            return Some(("/proc/config.gz".into(), text));
        }
    }
    let boot = format!("/boot/config-{release}");
    if release.contains('/') {
        return None;
    }
    std::fs::read(&boot).ok().map(|t| (boot, t))
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A timing, reported with its spread and never compared as an exact number.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// Median of the samples.
    pub median: f64,
    /// Smallest sample.
    pub min: f64,
    /// Largest sample.
    pub max: f64,
    /// Samples taken.
    pub samples: u32,
}

impl Spread {
    /// The spread of `samples` (`None` if there are none or one is not finite).
    pub fn of(samples: &[f64]) -> Option<Spread> {
        if samples.is_empty() || samples.iter().any(|s| !s.is_finite()) {
            return None;
        }
        let mut v = samples.to_vec();
        v.sort_by(f64::total_cmp);
        let mid = v.len() / 2;
        let median = if v.len() % 2 == 1 {
            v[mid]
        } else {
            (v[mid - 1] + v[mid]) / 2.0
        };
        Some(Spread {
            median,
            min: v[0],
            max: v[v.len() - 1],
            samples: v.len() as u32,
        })
    }
}

/// Facts under this prefix are settings of the machine (sysctls a distribution or an
/// administrator chooses), not behaviour of the kernel: a difference is reported, never
/// a failed qualification.
pub const CONFIG_PREFIX: &str = "config.";

/// A fact's value: exact (compared for equality) or a timing with its spread.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Value {
    /// A yes/no behaviour.
    Flag(bool),
    /// A count or a size in bytes.
    Count(u64),
    /// A named behaviour (the admission rule).
    Text(String),
    /// A timing.
    Spread(Spread),
}

impl Value {
    /// Compared for equality (everything but timings).
    pub fn is_exact(&self) -> bool {
        !matches!(self, Value::Spread(_))
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Flag(b) => f.write_str(if *b { "yes" } else { "no" }),
            Value::Count(n) => write!(f, "{n}"),
            Value::Text(t) => f.write_str(t),
            Value::Spread(s) => write!(f, "{:.0} ({:.0}..{:.0})", s.median, s.min, s.max),
        }
    }
}

/// A value with its unit as a person reads it: `2304 B`, `1 message`, `3 messages`.
pub fn with_unit(value: &Value, unit: Option<&str>) -> String {
    match (value, unit) {
        (Value::Count(1), Some("messages")) => "1 message".into(),
        (v, Some(u)) => format!("{v} {u}"),
        (v, None) => v.to_string(),
    }
}

/// One measured fact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fact {
    /// Stable id: `truesize.usersock.len-141`.
    pub id: String,
    /// What was measured.
    #[serde(flatten)]
    pub value: Value,
    /// `B`, `messages`, `ns`, or none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// How it was measured, in a sentence.
    pub how: String,
}

/// Everything `qualify` measured on one kernel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// [`SUITE`].
    pub suite: String,
    /// The kernel measured.
    pub kernel: KernelId,
    /// When, as `20261205T003000Z`.
    pub measured_at: String,
    /// Where: [`Place::Host`], or a qemu guest with its accelerator. Timings taken
    /// under software emulation are not compared.
    #[serde(default)]
    pub measured_on: Place,
    /// The nlstorm version that measured it.
    pub nlstorm: String,
    /// The facts, in suite order.
    pub facts: Vec<Fact>,
}

impl Profile {
    /// The profile of a probe of the kernel `kernel`.
    pub fn from_probe(p: &ProbeReport, kernel: KernelId, measured_at: String) -> Profile {
        Profile {
            suite: SUITE.into(),
            kernel,
            measured_at,
            measured_on: Place::current(),
            nlstorm: env!("CARGO_PKG_VERSION").into(),
            facts: facts(p),
        }
    }

    /// The fact with this id.
    pub fn fact(&self, id: &str) -> Option<&Fact> {
        self.facts.iter().find(|f| f.id == id)
    }

    /// An exact count fact.
    pub fn count(&self, id: &str) -> Option<u64> {
        match self.fact(id)?.value {
            Value::Count(n) => Some(n),
            _ => None,
        }
    }
}

fn fact(id: impl Into<String>, value: Value, unit: Option<&str>, how: impl Into<String>) -> Fact {
    Fact {
        id: id.into(),
        value,
        unit: unit.map(str::to_string),
        how: how.into(),
    }
}

fn facts(p: &ProbeReport) -> Vec<Fact> {
    let b = Some("B");
    let mut out = vec![
        fact(
            "buffer.sock-min-rcvbuf",
            Value::Count(p.facts.sock_min_rcvbuf),
            b,
            "setsockopt(SO_RCVBUF, 0) read back with getsockopt",
        ),
        fact(
            "config.rmem-default",
            Value::Count(p.facts.rmem_default),
            b,
            "net.core.rmem_default in a new network namespace",
        ),
        fact(
            "config.rmem-max",
            Value::Count(p.facts.rmem_max),
            b,
            "net.core.rmem_max in a new network namespace",
        ),
        fact(
            "rcvbuf.doubling",
            Value::Flag(p.doubling_confirmed),
            None,
            "every SO_RCVBUF request read back as max(2 * min(req, rmem_max), SOCK_MIN_RCVBUF)",
        ),
        fact(
            "rcvbuf.force-permitted",
            Value::Flag(p.rcvbuf_force_permitted),
            None,
            "SO_RCVBUFFORCE accepted in the sandbox",
        ),
    ];
    for m in &p.rcvbuf_mapping {
        if m.option == crate::model::RcvbufOption::SoRcvbuf
            && u64::try_from(m.request).is_ok_and(|r| REQUESTS.contains(&r))
        {
            if let Some(e) = m.effective {
                out.push(fact(
                    format!("rcvbuf.request-{}", m.request),
                    Value::Count(e),
                    b,
                    format!("SO_RCVBUF {} read back with getsockopt", m.request),
                ));
            }
        }
    }
    out.push(fact(
        "uevent.kernel-path-permitted",
        Value::Flag(p.kernel_uevent_permitted),
        None,
        "a write to a sandbox device's uevent file made the kernel broadcast",
    ));
    for t in &p.truesize {
        let max = t.buckets.last().map_or(0, |b| b.to);
        for len in LENGTHS
            .into_iter()
            .filter(|&l| l >= t.min_payload + MIN_MARGIN && l <= max)
        {
            if let Some(bucket) = t.buckets.iter().find(|b| b.from <= len && len <= b.to) {
                out.push(fact(
                    format!("truesize.{}.len-{len}", t.emitter),
                    Value::Count(bucket.truesize),
                    b,
                    format!(
                        "sk_rmem_alloc of an empty queue after one {len}-byte {} message (SO_MEMINFO)",
                        t.emitter
                    ),
                ));
            }
        }
    }
    for c in p
        .capacity
        .iter()
        .filter(|c| CAPACITY_LENGTHS.contains(&c.payload))
    {
        out.push(fact(
            format!(
                "capacity.{}.rcvbuf-{}.len-{}",
                c.emitter, c.rcvbuf_request, c.payload
            ),
            Value::Count(c.queued),
            Some("messages"),
            format!(
                "{} {}-byte messages sent to an unread queue of SO_RCVBUF {} (effective {}) with NETLINK_NO_ENOBUFS, then read out",
                c.sent, c.payload, c.rcvbuf_request, c.rcvbuf_effective
            ),
        ));
    }
    out.push(fact(
        "admit.rule",
        Value::Text(p.admit_rule.map_or("none".into(), |r| r.name().into())),
        None,
        "the admission rule that explains every capacity flood",
    ));
    let e = &p.episodes;
    out.extend([
        fact(
            "enobufs.no-enobufs-honoured",
            Value::Flag(p.no_enobufs_honoured),
            None,
            "an overrun queue with NETLINK_NO_ENOBUFS counted drops and returned no ENOBUFS",
        ),
        fact(
            "enobufs.reported",
            Value::Flag(p.enobufs_reported_without_it),
            None,
            "an overrun queue without NETLINK_NO_ENOBUFS returned ENOBUFS",
        ),
        fact(
            "enobufs.error-before-data",
            Value::Flag(e.error_before_data),
            None,
            "the first recvmsg after an overrun failed with ENOBUFS before any datagram",
        ),
        fact(
            "enobufs.errors-per-episode",
            Value::Count(e.errors_per_episode),
            None,
            "ENOBUFS failures while one overrun queue was read to empty",
        ),
        fact(
            "enobufs.refused-while-congested",
            Value::Flag(e.refused_while_congested),
            None,
            "with an overrun queue partly read (room for more), one more broadcast was counted in sk_drops",
        ),
        fact(
            "enobufs.rearmed-after-empty",
            Value::Flag(e.rearmed_after_empty),
            None,
            "after the queue was read to empty, a second overrun returned ENOBUFS again",
        ),
    ]);
    if let Some(s) = Spread::of(&p.broadcast_ns) {
        out.push(fact(
            "timing.usersock-broadcast",
            Value::Spread(s),
            Some("ns"),
            format!(
                "mean cost of one 512-byte usersock broadcast with no listener, per batch of {}",
                crate::probe::SEND_BATCH
            ),
        ));
    }
    out
}

/// Why a profile file was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// Not readable as a bounded regular file.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Not a profile's JSON.
    #[error("{path}: not a kernel profile: {source}")]
    Json {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// Valid JSON, but not one this version compares.
    #[error("{path}: {why}")]
    Invalid {
        /// The file.
        path: String,
        /// Why.
        why: String,
    },
}

/// Bytes a profile file may have (today's has about 20 KiB).
pub const PROFILE_BYTES: u64 = 4 << 20;
/// Facts a profile may hold.
const FACTS: usize = 10_000;

/// Reads a profile written by `qualify`, possibly on another machine: bounded, parsed,
/// and checked for the suite and for well-formed, unique fact ids.
pub fn read_profile(path: &Path) -> Result<Profile, ProfileError> {
    let shown = crate::untrusted::terminal(&path.display().to_string());
    let text = crate::untrusted::read_bounded(path, PROFILE_BYTES).map_err(|source| {
        ProfileError::Read {
            path: shown.clone(),
            source,
        }
    })?;
    let p: Profile = serde_json::from_str(&text).map_err(|source| ProfileError::Json {
        path: shown.clone(),
        source,
    })?;
    let invalid = |why: String| ProfileError::Invalid {
        path: shown.clone(),
        why,
    };
    if p.suite != SUITE {
        return Err(invalid(format!(
            "a profile of suite {:?}, this nlstorm compares {SUITE}",
            crate::untrusted::terminal(&p.suite)
        )));
    }
    if p.facts.len() > FACTS {
        return Err(invalid(format!(
            "{} facts, more than {FACTS}",
            p.facts.len()
        )));
    }
    let k = &p.kernel;
    for (what, text) in [
        ("kernel release", &k.release),
        ("kernel version", &k.version),
        ("machine", &k.machine),
        ("measured-at", &p.measured_at),
        ("nlstorm version", &p.nlstorm),
    ] {
        if text.len() > 256 || text.chars().any(char::is_control) {
            return Err(invalid(format!(
                "its {what} {:?} has control characters or is longer than 256",
                crate::untrusted::terminal_line(text)
            )));
        }
    }
    for f in &p.facts {
        if f.how.len() > 1024 || f.how.chars().any(char::is_control) {
            return Err(invalid(format!(
                "fact {}: its how has control characters or is longer than 1024",
                f.id
            )));
        }
        if f.unit
            .as_ref()
            .is_some_and(|u| u.len() > 16 || u.chars().any(char::is_control))
        {
            return Err(invalid(format!(
                "fact {}: its unit has control characters or is longer than 16",
                f.id
            )));
        }
    }
    let mut seen = std::collections::HashSet::new();
    for f in &p.facts {
        if !well_formed_id(&f.id) {
            return Err(invalid(format!(
                "fact id {:?} is not of the form a.b-c (lower-case letters, digits, '.', '-'; at most 100)",
                crate::untrusted::terminal(&f.id)
            )));
        }
        if !seen.insert(f.id.as_str()) {
            return Err(invalid(format!("fact {} appears twice", f.id)));
        }
    }
    Ok(p)
}

fn well_formed_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 100
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A small profile by hand, for the diff's tests.
    pub(crate) fn profile(release: &str, facts: Vec<Fact>) -> Profile {
        Profile {
            suite: SUITE.into(),
            kernel: KernelId {
                release: release.into(),
                version: "#1 SMP".into(),
                machine: "x86_64".into(),
                config_sha256: None,
                config_source: None,
            },
            measured_at: "20261205T000000Z".into(),
            measured_on: Place::Host,
            nlstorm: "0.1.0".into(),
            facts,
        }
    }

    pub(crate) fn count(id: &str, n: u64) -> Fact {
        fact(id, Value::Count(n), Some("B"), "by hand")
    }

    #[test]
    fn a_profile_survives_a_round_trip_through_its_file() {
        let p = profile(
            "6.1.0",
            vec![
                count("truesize.usersock.len-141", 768),
                fact(
                    "admit.rule",
                    Value::Text("rmem-at-most-rcvbuf".into()),
                    None,
                    "x",
                ),
                fact("enobufs.reported", Value::Flag(true), None, "x"),
                fact(
                    "timing.usersock-broadcast",
                    Value::Spread(Spread::of(&[3.0, 1.0, 2.0]).unwrap()),
                    Some("ns"),
                    "x",
                ),
            ],
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json");
        std::fs::write(&path, serde_json::to_string_pretty(&p).unwrap()).unwrap();
        assert_eq!(read_profile(&path).unwrap(), p);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"count\": 768"), "{text}");
    }

    #[test]
    fn spread_takes_the_median_and_the_range() {
        let s = Spread::of(&[5.0, 1.0, 3.0, 4.0]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.samples), (3.5, 1.0, 5.0, 4));
        assert!(Spread::of(&[]).is_none());
        assert!(Spread::of(&[f64::NAN]).is_none());
    }

    #[test]
    fn hostile_profiles_are_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let write = |p: &Profile| {
            let path = dir.path().join("p.json");
            std::fs::write(&path, serde_json::to_string(p).unwrap()).unwrap();
            read_profile(&path).unwrap_err().to_string()
        };
        let mut p = profile("6.1", vec![count("a.b", 1)]);
        p.suite = "other/9".into();
        assert!(write(&p).contains("suite \"other/9\""), "{}", write(&p));
        let p = profile("6.1", vec![count("a\x1b[2J", 1)]);
        let e = write(&p);
        assert!(e.contains("not of the form") && !e.contains('\x1b'), "{e}");
        let p = profile("6.1", vec![count("a.b", 1), count("a.b", 2)]);
        assert!(write(&p).contains("appears twice"));
        let p = profile("6.1\x1b]0;pwned\x07", vec![count("a.b", 1)]);
        let e = write(&p);
        assert!(e.contains("kernel release") && !e.contains('\x1b'), "{e}");
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        assert!(read_profile(&fifo)
            .unwrap_err()
            .to_string()
            .contains("not a regular file"));
    }
}
