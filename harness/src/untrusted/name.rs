//! Names of scenarios, emitters, receivers and dump clients: identifiers, because they
//! become file and directory names and are printed everywhere.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The longest name accepted, in bytes.
pub const NAME_MAX: usize = 64;

/// An identifier: 1 to [`NAME_MAX`] characters from `[A-Za-z0-9._-]`, starting with a
/// letter or digit. So it is never `.` or `..`, never absolute, never holds `/`, never
/// reads as a command-line option, and is safe as one path component.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Name(String);

/// Why a string is not a [`Name`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Nothing was written.
    #[error("a name must not be empty")]
    Empty,
    /// Over [`NAME_MAX`] bytes.
    #[error("a name is at most {NAME_MAX} characters (this one has {0})")]
    TooLong(usize),
    /// Does not start with a letter or digit.
    #[error("a name starts with a letter or digit")]
    BadStart,
    /// Holds a character outside the set.
    #[error("a name holds only letters, digits, `.`, `_` and `-` (found {0})")]
    BadChar(String),
}

fn allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

impl Name {
    /// Checks `s` against the rules.
    pub fn new(s: impl Into<String>) -> Result<Self, NameError> {
        let s = s.into();
        if s.is_empty() {
            return Err(NameError::Empty);
        }
        if let Some(c) = s.chars().find(|c| !allowed(*c)) {
            return Err(NameError::BadChar(super::terminal(&format!("{c:?}"))));
        }
        if s.len() > NAME_MAX {
            return Err(NameError::TooLong(s.len()));
        }
        if !s.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err(NameError::BadStart);
        }
        Ok(Name(s))
    }

    /// A valid name made from arbitrary text (a file stem, say): characters outside the
    /// set become `-`, leading non-alphanumerics are dropped, the length is capped, and
    /// `fallback` stands in for nothing left.
    pub fn sanitised(text: &str, fallback: &str) -> Self {
        let mapped: String = text
            .chars()
            .map(|c| if allowed(c) { c } else { '-' })
            .skip_while(|c| !c.is_ascii_alphanumeric())
            .take(NAME_MAX)
            .collect();
        Name::new(mapped).unwrap_or_else(|_| Name(fallback.to_string()))
    }

    /// A name nlstorm makes itself from a literal or its own figures; panics if it
    /// breaks the rules, which is a bug in nlstorm, never in its input.
    pub fn internal(s: impl Into<String>) -> Self {
        let s = s.into();
        Name::new(s.as_str()).unwrap_or_else(|e| panic!("internal name {s:?}: {e}"))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Name {
    type Error = NameError;
    fn try_from(s: String) -> Result<Self, NameError> {
        Name::new(s)
    }
}

impl From<Name> for String {
    fn from(n: Name) -> String {
        n.0
    }
}

impl std::ops::Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for Name {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn path_like_names_are_refused() {
        for bad in [
            "",
            ".",
            "..",
            "x/../../tmp/ESCAPED",
            "/tmp/x",
            "-rf",
            "a b",
            "a\nb",
            "x*/",
        ] {
            assert!(
                Name::new(bad).is_err(),
                "want: refused / got: accepted {bad:?}"
            );
        }
        assert!(Name::new("a".repeat(NAME_MAX + 1)).is_err());
        for good in [
            "incident-1-usb-hotplug",
            "a",
            "v1.2_x",
            &"b".repeat(NAME_MAX),
        ] {
            assert_eq!(Name::new(good).unwrap().as_str(), good);
        }
    }

    #[test]
    fn json_with_a_bad_name_is_refused() {
        let r: Result<Name, _> = serde_json::from_str("\"../x\"");
        assert!(r.is_err());
        let n: Name = serde_json::from_str("\"ok-1\"").unwrap();
        assert_eq!(n, "ok-1");
    }

    proptest! {
        #[test]
        fn sanitised_is_always_a_single_safe_component(s in any::<String>()) {
            let n = Name::sanitised(&s, "scenario");
            prop_assert!(Name::new(n.as_str()).is_ok());
            let p = std::path::Path::new(n.as_str());
            prop_assert_eq!(p.components().count(), 1);
            prop_assert!(matches!(p.components().next(), Some(std::path::Component::Normal(_))));
        }

        #[test]
        fn accepted_names_are_single_normal_components(s in "[ -~]{0,70}") {
            if let Ok(n) = Name::new(s) {
                let p = std::path::Path::new(n.as_str());
                prop_assert!(matches!(p.components().next(), Some(std::path::Component::Normal(_))));
                prop_assert_eq!(p.components().count(), 1);
            }
        }
    }
}
