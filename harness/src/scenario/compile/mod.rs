//! Raw scenario -> [`Plan`]: defaults applied, every value checked, every problem
//! collected with its location.
//!
//! This file compiles the file's root (header, then each element in turn, then the
//! whole-file checks); one file per element beside it (`emitters`, `receivers`, `dumps`,
//! `programs`, `replay` for a trace-driven schedule, `expect` for expectations), and the
//! compiler's shared parts: `cx` (diagnostics, spanned tables), `values` (durations,
//! sizes, counts), `limits` (machine-wide bounds, the deadline).

use std::collections::HashSet;
use std::num::{NonZeroU32, NonZeroU64};
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use serde_spanned::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::diag::{ScenarioError, ScenarioErrors, SourceMap};
use super::keys::{fields_of, strip_unknown, Table};
use super::raw::*;
use crate::plan::*;
use crate::schedule::SendTimes;
use crate::units::{parse_duration, parse_size};
use crate::untrusted::Limits;

mod cx;
mod dumps;
mod emitters;
mod expect;
mod limits;
mod programs;
mod receivers;
mod replay;
#[cfg(test)]
mod tests;
mod values;

use cx::{quoted, Cx};

const DEFAULT_DEADLINE: Duration = Duration::from_secs(30);
const DEFAULT_CALL_DEADLINE: Duration = Duration::from_secs(1);
const DEFAULT_READ_BUFFER: u32 = 64 * 1024;

/// Reads and compiles the scenario at `path`.
pub fn load(path: &Path) -> Result<Plan, ScenarioErrors> {
    load_source(path).map(|s| s.plan)
}

/// A scenario file as read once: its text (what a run record keeps, even if the file
/// changes while the run goes on) and the plan compiled from it.
#[derive(Debug, Clone)]
pub struct Source {
    /// The text read.
    pub text: String,
    /// The plan compiled from it.
    pub plan: Plan,
}

/// Reads and compiles `path` once.
pub fn load_source(path: &Path) -> Result<Source, ScenarioErrors> {
    let text =
        crate::untrusted::read_untrusted(path, crate::untrusted::Bound::Scenario).map_err(|e| {
            ScenarioErrors(vec![ScenarioError {
                location: path.display().to_string(),
                key_path: String::new(),
                message: format!("cannot read the file: {e}"),
            }])
        })?;
    let plan = compile_str(path, &text)?;
    Ok(Source { text, plan })
}

/// Compiles scenario text; `path` is used for locations and the default name.
pub fn compile_str(path: &Path, text: &str) -> Result<Plan, ScenarioErrors> {
    let mut cx = Cx {
        map: SourceMap::new(path, text),
        errors: Vec::new(),
    };
    let root = match DeTable::parse(text) {
        Ok(t) => {
            let span = t.span();
            Spanned::new(span, DeValue::Table(t.into_inner()))
        }
        Err(e) => {
            cx.toml_error("", &e);
            return Err(cx.finish());
        }
    };
    let header: Option<RawHeader> = cx.element("", root.clone());
    let emitters_raw: Vec<(String, RawEmitter)> = cx.array(&root, "emitter");
    let receivers_raw: Vec<(String, RawReceiver)> = cx.array(&root, "receiver");
    let dumps_raw: Vec<(String, RawDump)> = cx.array(&root, "dump");
    let churn_raw: Vec<(String, RawChurn)> = cx.array(&root, "churn");
    let programs_raw: Vec<(String, RawProgram)> = cx.array(&root, "program");

    // The file's own name is the user's choice, so it is made valid rather than refused.
    let default_name = Name::sanitised(
        &path
            .file_stem()
            .map_or(String::new(), |s| s.to_string_lossy().into_owned()),
        "scenario",
    );
    let (name, description, seed, deadline) = match &header {
        Some(h) => (
            h.name.as_ref().map_or(default_name.clone(), |n| {
                match Name::new(n.get_ref().as_str()) {
                    Ok(name) => name,
                    Err(e) => {
                        cx.error(
                            "name",
                            Some(n.span()),
                            format!("scenario name {}: {e}", quoted(n.get_ref())),
                        );
                        default_name.clone()
                    }
                }
            }),
            h.description.clone().unwrap_or_default(),
            cx.seed(h.seed.as_ref()),
            h.deadline
                .as_ref()
                .and_then(|d| cx.duration("deadline", d, false))
                .unwrap_or(DEFAULT_DEADLINE),
        ),
        None => (default_name, String::new(), 0, DEFAULT_DEADLINE),
    };

    // Written at all, even if an element failed to parse (that error is reported).
    let written = |key: &str| root.get_ref().get(key).is_some();
    let (has_emitters, has_receivers, has_dumps) = (
        written("emitter"),
        written("receiver") || written("program"),
        written("dump"),
    );
    if !has_emitters && !has_dumps && header.is_some() {
        cx.error(
            "",
            None,
            "no [[emitter]] and no [[dump]]: a scenario needs at least one",
        );
    }
    if has_emitters && !has_receivers && !has_dumps && header.is_some() {
        cx.error(
            "",
            None,
            "no [[receiver]], [[program]] or [[dump]]: nobody would listen to the emitters",
        );
    }
    let world = header.as_ref().map(|h| cx.world(h)).unwrap_or_default();

    let base = path.parent().unwrap_or(Path::new("."));
    let mut seen = HashSet::new();
    let emitters: Vec<EmitterPlan> = emitters_raw
        .iter()
        .enumerate()
        .filter_map(|(i, (path, raw))| {
            cx.unique(&mut seen, path, &raw.name, "emitter");
            cx.emitter(i, path, raw, base)
        })
        .collect();
    let emitter_names: Vec<&str> = emitters_raw
        .iter()
        .map(|(_, e)| e.name.get_ref().as_str())
        .collect();
    let mut seen = HashSet::new();
    let receivers: Vec<ReceiverPlan> = receivers_raw
        .iter()
        .filter_map(|(path, raw)| {
            cx.unique(&mut seen, path, &raw.name, "receiver");
            cx.receiver(path, raw, &emitter_names, &emitters)
        })
        .collect();

    let mut seen = HashSet::new();
    let dumps: Vec<DumpPlan> = dumps_raw
        .iter()
        .filter_map(|(path, raw)| {
            cx.unique(&mut seen, path, &raw.name, "dump client");
            cx.dump(path, raw)
        })
        .collect();
    let churn: Vec<Churn> = churn_raw
        .iter()
        .filter_map(|(path, raw)| cx.churn(path, raw))
        .collect();
    let mut seen = HashSet::new();
    let programs: Vec<ProgramPlan> = programs_raw
        .iter()
        .filter_map(|(path, raw)| {
            cx.unique(&mut seen, path, &raw.name, "program");
            cx.program(path, raw, base, &emitter_names, &emitters)
        })
        .collect();
    if !programs.is_empty() && emitters.is_empty() {
        cx.error(
            "program",
            None,
            "a [[program]] is judged by what it makes of the emitters' messages: add an [[emitter]]",
        );
    }
    if churn.iter().any(|c| matches!(c, Churn::Links { .. })) && world.veths == 0 {
        cx.error(
            "churn",
            None,
            "links churn toggles the sandbox's veths: set `veths` (e.g. veths = 8)",
        );
    }
    if churn.iter().any(|c| matches!(c, Churn::Sockets { .. })) && world.tcp_connections == 0 {
        cx.error("churn", None, "sockets churn connects to the sandbox's listener: set `tcp-connections` (e.g. tcp-connections = 16)");
    }
    if let (Some(h), true) = (&header, cx.errors.is_empty()) {
        cx.check_deadline(h, deadline, &emitters, &receivers);
    }
    if cx.errors.is_empty() {
        cx.check_limits(&root, &emitters, &receivers, &dumps, churn.len());
        cx.check_program_limits(&root, &programs);
    }
    if !cx.errors.is_empty() {
        return Err(cx.finish());
    }
    Ok(Plan {
        name,
        description,
        seed,
        deadline,
        emitters,
        receivers,
        dumps,
        world,
        churn,
        programs,
        timing_bound: header
            .as_ref()
            .and_then(|h| h.timing_bound)
            .unwrap_or(false),
    })
}
