//! The scenario file as written: strict serde types, no defaults applied, every value
//! kept with its span so that compile errors can point at it.

use std::fmt;

use serde::de::{self, IgnoredAny, Visitor};
use serde::{Deserialize, Deserializer};
use serde_spanned::Spanned;

/// A duration as written: text with a unit. A bare number is refused with the units
/// and an example, since `consumer-delay = 20` could mean 20 ns or 20 s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationText(pub String);

impl std::ops::Deref for DurationText {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        fn bare<E: de::Error>(n: impl fmt::Display) -> E {
            E::custom(format!(
                "{n} has no unit: write a duration as text with its unit, e.g. \"{n}us\" or \"{n}ms\" (units: ns, us, ms, s, m)"
            ))
        }
        impl Visitor<'_> for V {
            type Value = DurationText;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration with its unit, such as \"20us\", \"250ms\" or \"2s\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<DurationText, E> {
                Ok(DurationText(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<DurationText, E> {
                Err(bare(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<DurationText, E> {
                Err(bare(v))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<DurationText, E> {
                Err(bare(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// A quantity that may be written as a bare number or as text with a unit or operator.
#[derive(Debug, Clone, PartialEq)]
pub enum Quantity {
    /// `1024`
    Int(i64),
    /// `1.5`
    Float(f64),
    /// `"4KiB"`, `">= 1"`, `"100B..2KiB"`
    Text(String),
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Quantity::Int(i) => write!(f, "{i}"),
            Quantity::Float(x) => write!(f, "{x}"),
            Quantity::Text(s) => write!(f, "\"{s}\""),
        }
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Quantity;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number or a string such as \"4KiB\" or \">= 1\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Quantity, E> {
                Ok(Quantity::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Quantity, E> {
                i64::try_from(v)
                    .map(Quantity::Int)
                    .map_err(|_| E::custom("number too large"))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Quantity, E> {
                Ok(Quantity::Float(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Quantity, E> {
                Ok(Quantity::Text(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// Top-level keys other than the `[[emitter]]` and `[[receiver]]` arrays, which are read
/// one element at a time so that a mistake in one does not hide mistakes in another.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawHeader {
    pub name: Option<Spanned<String>>,
    pub description: Option<String>,
    pub seed: Option<Spanned<i64>>,
    pub deadline: Option<Spanned<DurationText>>,
    pub veths: Option<Spanned<i64>>,
    pub tcp_connections: Option<Spanned<i64>>,
    pub timing_bound: Option<bool>,
    #[allow(dead_code)]
    pub dump: Option<IgnoredAny>,
    #[allow(dead_code)]
    pub churn: Option<IgnoredAny>,
    #[allow(dead_code)]
    pub program: Option<IgnoredAny>,
    #[allow(dead_code)]
    pub emitter: Option<IgnoredAny>,
    #[allow(dead_code)]
    pub receiver: Option<IgnoredAny>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RawEmitterKind {
    KernelUevent,
    SyntheticUevent,
    InjectedUevent,
    LinkAlias,
    Usersock,
    Replay,
}

/// The paths a replay may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RawReplayPath {
    InjectedUevent,
    SyntheticUevent,
}

/// Which recorded events a replay sends.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawFilter {
    pub subsystem: Option<Spanned<String>>,
    pub action: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RawContents {
    UsbHotplug,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawEmitter {
    pub name: Spanned<String>,
    pub kind: Spanned<RawEmitterKind>,
    pub group: Option<Spanned<i64>>,
    pub payload: Option<Spanned<Quantity>>,
    pub contents: Option<Spanned<RawContents>>,
    pub start: Option<Spanned<DurationText>>,
    pub schedule: Option<Spanned<RawSchedule>>,
    pub trace: Option<Spanned<String>>,
    pub speed: Option<Spanned<f64>>,
    pub repeat: Option<Spanned<i64>>,
    pub path: Option<Spanned<RawReplayPath>>,
    pub filter: Option<Spanned<RawFilter>>,
    pub udev_events: Option<Spanned<bool>>,
    pub cpu: Option<Spanned<i64>>,
    pub bare: Option<Spanned<bool>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RawScheduleKind {
    Burst,
    Rate,
    Poisson,
    Ramp,
    Flood,
}

/// One flat table for every schedule kind: compile says which keys a kind takes. (An
/// internally tagged enum would lose the spans, and with them the error locations.)
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawSchedule {
    pub kind: Spanned<RawScheduleKind>,
    pub size: Option<Spanned<i64>>,
    pub gap: Option<Spanned<DurationText>>,
    pub count: Option<Spanned<i64>>,
    pub per_sec: Option<Spanned<f64>>,
    pub from: Option<Spanned<f64>>,
    pub to: Option<Spanned<f64>>,
    pub duration: Option<Spanned<DurationText>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RawProtocol {
    KobjectUevent,
    Usersock,
    Route,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RawMode {
    Blocking,
    Poll,
    Batch,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawReceiver {
    pub name: Spanned<String>,
    pub protocol: Option<Spanned<RawProtocol>>,
    pub groups: Option<Spanned<Vec<Spanned<i64>>>>,
    pub rcvbuf: Option<Spanned<Quantity>>,
    pub rcvbuf_force: Option<Spanned<Quantity>>,
    pub rcvbuf_fit: Option<Spanned<String>>,
    pub read_buffer: Option<Spanned<Quantity>>,
    pub mode: Option<Spanned<RawMode>>,
    pub batch: Option<Spanned<i64>>,
    pub call_deadline: Option<Spanned<DurationText>>,
    pub consumer_delay: Option<Spanned<DurationText>>,
    pub start_reading_after: Option<Spanned<DurationText>>,
    pub no_enobufs: Option<bool>,
    pub so_error_first: Option<Spanned<bool>>,
    pub peek: Option<Spanned<bool>>,
    pub filter_drop_emitters: Option<Spanned<Vec<Spanned<String>>>>,
    pub cpu: Option<Spanned<i64>>,
    pub broadcast_error: Option<bool>,
    pub steps: Option<Spanned<Vec<Spanned<RawStep>>>>,
    pub expect: Option<RawExpect>,
}

/// One entry of a receiver's `steps`: when, and one change to its socket.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawStep {
    pub at: Spanned<DurationText>,
    pub rcvbuf: Option<Spanned<Quantity>>,
    pub rcvbuf_force: Option<Spanned<Quantity>>,
    pub join: Option<Spanned<Vec<Spanned<i64>>>>,
    pub leave: Option<Spanned<Vec<Spanned<i64>>>>,
    pub detach_filter: Option<Spanned<bool>>,
}

/// `[[dump]]`: a client polling a kernel dump.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawDump {
    pub name: Spanned<String>,
    pub request: Spanned<String>,
    pub count: Option<Spanned<i64>>,
    pub interval: Option<Spanned<DurationText>>,
    pub read_buffer: Option<Spanned<Quantity>>,
    pub event_read_buffer: Option<Spanned<Quantity>>,
    pub rcvbuf: Option<Spanned<Quantity>>,
    pub rcvbuf_force: Option<Spanned<Quantity>>,
    pub mode: Option<Spanned<String>>,
    pub groups: Option<Spanned<Vec<Spanned<i64>>>>,
    pub no_enobufs: Option<bool>,
    pub filter_drop_types: Option<Spanned<Vec<Spanned<i64>>>>,
    pub filter_bpf: Option<Spanned<Vec<Spanned<Vec<i64>>>>>,
    pub call_deadline: Option<Spanned<DurationText>>,
    pub on_enobufs: Option<Spanned<String>>,
    pub on_ebusy: Option<Spanned<String>>,
    pub on_truncated: Option<Spanned<String>>,
    pub on_error: Option<Spanned<String>>,
    pub verify: Option<bool>,
    pub peek: Option<bool>,
    pub expect: Option<RawExpect>,
}

/// `[[program]]`: the user's own listener or agent, run under the flood.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawProgram {
    pub name: Spanned<String>,
    pub command: Spanned<Vec<Spanned<String>>>,
    pub env: Option<Spanned<std::collections::BTreeMap<String, Spanned<String>>>>,
    pub uid: Option<Spanned<i64>>,
    pub gid: Option<Spanned<i64>>,
    pub root: Option<Spanned<bool>>,
    pub emitters: Option<Spanned<Vec<Spanned<String>>>>,
    pub start: Option<Spanned<DurationText>>,
    pub ready: Option<Spanned<String>>,
    pub ready_line: Option<Spanned<String>>,
    pub ready_timeout: Option<Spanned<DurationText>>,
    pub output: Option<Spanned<String>>,
    pub output_regex: Option<Spanned<String>>,
    pub error_patterns: Option<Spanned<Vec<Spanned<String>>>>,
    pub stop_signal: Option<Spanned<String>>,
    pub stop_after: Option<Spanned<DurationText>>,
    pub stop_grace: Option<Spanned<DurationText>>,
    pub settle: Option<Spanned<DurationText>>,
    pub call_deadline: Option<Spanned<DurationText>>,
    pub expect: Option<RawExpect>,
}

/// `[[churn]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawChurn {
    pub kind: Spanned<String>,
    pub per_sec: Spanned<f64>,
}

/// An `expect` table: metric key -> count or comparison. Its keys are checked against the
/// metric family's own list ([`crate::plan::MetricKey::names`]) before it is read, so the
/// keys are written once, in `plan.rs`.
pub type RawExpect = std::collections::BTreeMap<String, Spanned<Quantity>>;
