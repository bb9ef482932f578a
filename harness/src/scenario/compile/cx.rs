//! The compiler's context: every problem collected with the byte offset it points at,
//! and the spanned reading of a table or an array of tables into its raw type.

use super::*;

/// A value from the file quoted in a message, its control characters escaped.
pub(super) fn quoted(v: &str) -> String {
    format!("{v:?}")
}

pub(super) struct Cx<'a> {
    pub(super) map: SourceMap<'a>,
    /// Problems with the byte offset they point at, so they can be listed in file order.
    pub(super) errors: Vec<(usize, ScenarioError)>,
}

impl Cx<'_> {
    pub(super) fn finish(mut self) -> ScenarioErrors {
        self.errors.sort_by_key(|(at, _)| *at);
        ScenarioErrors(self.errors.into_iter().map(|(_, e)| e).collect())
    }
}

impl Cx<'_> {
    pub(super) fn error(
        &mut self,
        key_path: &str,
        span: Option<Range<usize>>,
        message: impl Into<String>,
    ) {
        let at = span.as_ref().map_or(0, |s| s.start);
        self.errors.push((
            at,
            ScenarioError {
                location: self.map.locate(span),
                key_path: key_path.to_string(),
                message: message.into(),
            },
        ));
    }

    pub(super) fn toml_error(&mut self, key_path: &str, e: &toml::de::Error) {
        let message = e.message().trim().to_string();
        self.error(key_path, e.span(), message);
    }

    /// Deserialises one table; its unknown keys are all reported (and left out, so the
    /// rest is still checked), a structural error is recorded and yields `None`.
    pub(super) fn element<T: Table>(
        &mut self,
        key_path: &str,
        mut v: Spanned<DeValue<'_>>,
    ) -> Option<T> {
        // The errors recorded here fail the compilation, so the rest of the table is
        // compiled only to find its other problems.
        let nested = T::nested();
        let nested: Vec<(&str, &[&str])> = nested.iter().map(|(k, f)| (*k, &f[..])).collect();
        for u in strip_unknown(&mut v, key_path, T::WHAT, fields_of::<T>(), &nested) {
            self.error(&u.key_path, Some(u.span), u.message);
        }
        // serde's error has a span but no key: name the key whose value holds the span.
        let keys: Vec<(String, Range<usize>)> = match v.get_ref() {
            DeValue::Table(t) => t
                .iter()
                .map(|(k, x)| (k.get_ref().to_string(), x.span()))
                .collect(),
            _ => Vec::new(),
        };
        match T::deserialize(ValueDeserializer::from(v)) {
            Ok(t) => Some(t),
            Err(e) => {
                let at = e.span().map(|s| s.start);
                let key = keys
                    .iter()
                    .find(|(_, span)| at.is_some_and(|a| span.contains(&a)))
                    .map(|(k, _)| k.as_str());
                match key {
                    Some(k) if key_path.is_empty() => self.toml_error(k, &e),
                    Some(k) => self.toml_error(&format!("{key_path}.{k}"), &e),
                    None => self.toml_error(key_path, &e),
                }
                None
            }
        }
    }

    pub(super) fn array<T: Table>(
        &mut self,
        root: &Spanned<DeValue<'_>>,
        key: &str,
    ) -> Vec<(String, T)> {
        let Some(v) = root.get_ref().get(key) else {
            return Vec::new();
        };
        let Some(items) = v.get_ref().as_array() else {
            self.error(
                key,
                Some(v.span()),
                format!("`{key}` must be an array of tables: write [[{key}]]"),
            );
            return Vec::new();
        };
        items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| {
                let path = format!("{key}[{i}]");
                self.element(&path, item.clone()).map(|t| (path, t))
            })
            .collect()
    }

    /// Checks an element's name; its plan takes the name only when this recorded no
    /// error, since any error fails the whole compilation.
    pub(super) fn unique(
        &mut self,
        seen: &mut HashSet<String>,
        path: &str,
        name: &Spanned<String>,
        what: &str,
    ) {
        let n = name.get_ref();
        if let Err(e) = Name::new(n.as_str()) {
            self.error(
                &format!("{path}.name"),
                Some(name.span()),
                format!("{what} name {}: {e}", quoted(n)),
            );
        } else if !seen.insert(n.clone()) {
            self.error(
                &format!("{path}.name"),
                Some(name.span()),
                format!("another {what} is already named `{n}`"),
            );
        }
    }
}
