//! Whole-file checks: the machine-wide bounds of a scenario (counts, threads, memory,
//! programs) and a deadline that outlasts the schedule.

use super::*;

impl Cx<'_> {
    /// The machine-wide bounds of [`Limits`]: counts point at the first table over the
    /// bound, totals at the file.
    pub(super) fn check_limits(
        &mut self,
        root: &Spanned<DeValue<'_>>,
        emitters: &[EmitterPlan],
        receivers: &[ReceiverPlan],
        dumps: &[DumpPlan],
        churn: usize,
    ) {
        for (key, n, max) in [
            ("emitter", emitters.len(), Limits::EMITTERS),
            ("receiver", receivers.len(), Limits::RECEIVERS),
            ("dump", dumps.len(), Limits::DUMPS),
            ("churn", churn, Limits::CHURN),
        ] {
            if n > max {
                let span = root.get_ref().get(key).and_then(|v| {
                    v.get_ref()
                        .as_array()
                        .and_then(|a| a.get(max))
                        .map(|t| t.span())
                });
                self.error(
                    &format!("{key}[{max}]"),
                    span,
                    format!("{n} [[{key}]] tables: a scenario has at most {max}"),
                );
            }
        }
        let threads = emitters.len() + receivers.len() + dumps.len() + churn;
        if threads > Limits::THREADS {
            self.error(
                "",
                None,
                format!(
                    "{threads} emitters, receivers, dump clients and churn in all: a run starts a thread for each, at most {}",
                    Limits::THREADS
                ),
            );
        }
        let read: u64 =
            receivers
                .iter()
                .map(|r| {
                    let batch = match r.mode {
                        ReadMode::Batch { size } => u64::from(size.get()),
                        _ => 1,
                    };
                    u64::from(r.read_buffer.get()) * batch
                })
                .chain(dumps.iter().map(|d| {
                    u64::from(d.read_buffer) + u64::from(d.event_read_buffer.unwrap_or(0))
                }))
                .sum();
        if read > Limits::READ_MEMORY {
            self.error(
                "",
                None,
                format!(
                    "the read buffers add up to {read} bytes (read-buffer x batch per receiver, plus each dump client's buffers): at most {} (1GiB)",
                    Limits::READ_MEMORY
                ),
            );
        }
        let forced: u64 = receivers
            .iter()
            .map(|r| &r.rcvbuf)
            .chain(dumps.iter().map(|d| &d.rcvbuf))
            .map(|b| match *b {
                RcvbufPlan::Force { bytes } => 2 * bytes.clamp(0, i32::MAX as i64 / 2) as u64,
                _ => 0,
            })
            .sum();
        if forced > Limits::FORCED_QUEUE_MEMORY {
            self.error(
                "",
                None,
                format!(
                    "the rcvbuf-force requests let the queues pin {forced} bytes of kernel memory (twice each request): at most {} (4GiB)",
                    Limits::FORCED_QUEUE_MEMORY
                ),
            );
        }
    }

    /// Programs are processes, not threads: their own bound, and the time before the
    /// first send they may take (start delays and ready timeouts), which the run's
    /// deadline does not cover.
    pub(super) fn check_program_limits(
        &mut self,
        root: &Spanned<DeValue<'_>>,
        programs: &[ProgramPlan],
    ) {
        let max = Limits::PROGRAMS;
        if programs.len() > max {
            let span = root.get_ref().get("program").and_then(|v| {
                v.get_ref()
                    .as_array()
                    .and_then(|a| a.get(max))
                    .map(|t| t.span())
            });
            self.error(
                &format!("program[{max}]"),
                span,
                format!(
                    "{} [[program]] tables: a scenario has at most {max}",
                    programs.len()
                ),
            );
        }
        let setup: Duration = programs.iter().map(|p| p.start + p.ready_timeout).sum();
        if setup > Limits::PROGRAM_SETUP {
            self.error(
                "program",
                None,
                format!(
                    "the programs' start delays and ready timeouts add up to {}: at most {} may pass before the first send",
                    crate::units::format_duration(setup),
                    crate::units::format_duration(Limits::PROGRAM_SETUP)
                ),
            );
        }
    }

    pub(super) fn check_deadline(
        &mut self,
        h: &RawHeader,
        deadline: Duration,
        emitters: &[EmitterPlan],
        receivers: &[ReceiverPlan],
    ) {
        let emit_end = emitters
            .iter()
            .filter_map(|e| SendTimes::span(&e.schedule).map(|s| e.start + s))
            .max()
            .unwrap_or_default();
        let read_start = receivers
            .iter()
            .filter_map(|r| match r.start_reading {
                ReadStart::After { delay } => Some(delay),
                ReadStart::EmissionEnd => None,
            })
            .max()
            .unwrap_or_default();
        let need = emit_end.max(read_start);
        if need >= deadline {
            let span = h.deadline.as_ref().map(|d| d.span());
            self.error(
                "deadline",
                span,
                format!(
                    "deadline {} is not longer than the schedule ({}): raise it",
                    crate::units::format_duration(deadline),
                    crate::units::format_duration(need)
                ),
            );
        }
    }
}
