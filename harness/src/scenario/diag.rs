//! Scenario errors that point at the file, line, column and key path.

use std::fmt;
use std::ops::Range;
use std::path::Path;

use crate::untrusted::terminal_line;

/// One problem in a scenario file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ScenarioError {
    /// `file:line:col`.
    pub location: String,
    /// `receiver[1].rcvbuf`.
    pub key_path: String,
    /// What is wrong and, where it helps, what would be right.
    pub message: String,
}

/// Messages quote the file, which is untrusted: each error prints as one line with its
/// control characters escaped.
impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let line = if self.key_path.is_empty() {
            format!("{}: {}", self.location, self.message)
        } else {
            format!("{}: {}: {}", self.location, self.key_path, self.message)
        };
        f.write_str(&terminal_line(&line))
    }
}

/// Every problem found in a scenario file, reported together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ScenarioErrors(pub Vec<ScenarioError>);

impl fmt::Display for ScenarioErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        write!(
            f,
            "{n} problem{} in scenario",
            if n == 1 { "" } else { "s" }
        )?;
        for e in &self.0 {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

/// Maps byte offsets in a source file to `file:line:col` (1-based, columns in chars).
pub struct SourceMap<'a> {
    file: String,
    text: &'a str,
}

impl<'a> SourceMap<'a> {
    /// A map over `text`, read from `file`.
    pub fn new(file: &Path, text: &'a str) -> Self {
        Self {
            file: file.display().to_string(),
            text,
        }
    }

    /// `file:line:col` of the start of `span` (or the file alone without a span).
    pub fn locate(&self, span: Option<Range<usize>>) -> String {
        let Some(span) = span else {
            return self.file.clone();
        };
        let at = span.start.min(self.text.len());
        let before = &self.text[..at];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        format!("{}:{line}:{col}", self.file)
    }
}

#[cfg(test)]
mod snapshot_tests {
    /// Every problem of a file at once, each at its line and column, as a user reads them.
    #[test]
    fn the_diagnostics_of_a_broken_file() {
        let text = "deadline = 3\n[[emitter]]\nname = \"e\"\nkind = \"usersock\"\ngroup = 40\nschedule = { kind = \"burst\", size = 0 }\n[[receiver]]\nname = \"r\"\nprotocol = \"usersock\"\ngroups = [3]\nrcvbuf = \"12 parsecs\"\nunknown-key = 1\n";
        let e =
            crate::scenario::compile_str(std::path::Path::new("broken.toml"), text).unwrap_err();
        insta::assert_snapshot!(e.to_string());
    }
}
