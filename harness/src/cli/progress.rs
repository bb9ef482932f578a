//! Progress of a long search on stderr: an indicatif bar on a terminal; where stderr is
//! not a terminal (CI logs) the bar is hidden and a plain line is written at every tenth
//! of the way instead, so a log still shows that the run is alive and how far it got.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar counting `unit`s towards a total.
pub struct Progress {
    bar: ProgressBar,
    /// Plain lines instead of the bar (stderr is no terminal), under this prefix.
    plain: Option<String>,
    last_tenth: u64,
}

impl Progress {
    /// A bar of `total` `unit`s, its plain lines prefixed `prefix`.
    pub fn new(total: u64, unit: &str, prefix: &str) -> Progress {
        let target = ProgressDrawTarget::stderr();
        let plain = target.is_hidden().then(|| prefix.to_string());
        let bar = ProgressBar::with_draw_target(Some(total), target);
        let template = format!(
            "[{{bar:30}}] {{pos}}/{{len}} {unit}  {{elapsed_precise}}  ETA {{eta}}  {{msg}}"
        );
        if let Ok(style) = ProgressStyle::with_template(&template) {
            bar.set_style(style.progress_chars("#>."));
        }
        bar.enable_steady_tick(Duration::from_millis(250));
        Progress {
            bar,
            plain,
            last_tenth: 0,
        }
    }

    /// One more done; `note` (untrusted text is escaped) is shown beside the count.
    pub fn tick(&mut self, note: &str) {
        self.set(self.bar.position() + 1, note);
    }

    /// `done` of the total. Past the total (a search shrinking a failure) the bar stays
    /// full and the plain lines go on at every tenth of the total.
    pub fn set(&mut self, done: u64, note: &str) {
        let note = nlstorm::untrusted::terminal_line(note);
        self.bar.set_position(done);
        self.bar.set_message(note.clone());
        let total = self.bar.length().unwrap_or(0).max(1);
        let tenth = done * 10 / total;
        if let Some(prefix) = &self.plain {
            if tenth > self.last_tenth {
                err!(
                    "{prefix}: {done}/{total}  {:.1}s  {note}",
                    self.bar.elapsed().as_secs_f64()
                );
            }
        }
        self.last_tenth = tenth;
    }

    /// Clears the bar, so that what follows starts on a clean line.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
