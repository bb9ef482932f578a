//! Unknown keys, all of them: serde's `deny_unknown_fields` stops a table at its first
//! misspelt key, which hides every later problem in that table (`rcvbuff` hid a misspelt
//! expectation behind it). Before a table is deserialised, its keys are checked against
//! the fields its `Raw*` type declares (asked of the type's own `Deserialize` impl, so the
//! list cannot drift), each unknown key is reported at its span with the nearest known
//! key, and the table is deserialised without them so its other problems surface too.

use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde_spanned::Spanned;
use toml::de::DeValue;

/// A deserializer that answers nothing but records the field list a struct asks for.
struct Fields<'a>(&'a mut &'static [&'static str]);

impl<'de> Deserializer<'de> for Fields<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("not a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = fields;
        Err(de::Error::custom("fields recorded"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
        byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
        identifier ignored_any
    }
}

/// The keys `T` accepts (kebab-case, as written in a file).
pub fn fields_of<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Fields(&mut fields));
    fields
}

/// Levenshtein distance, for "did you mean".
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (prev + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// The message for an unknown `key` among `known`.
pub fn unknown_key_message(key: &str, known: &[&str], what: &str) -> String {
    let near = known
        .iter()
        .map(|k| (distance(key, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min();
    let shown = format!("{key:?}");
    match near {
        Some((_, k)) => format!("unknown key {shown} in {what}: did you mean `{k}`?"),
        None => format!(
            "unknown key {shown} in {what}; known keys: {}",
            known.join(", ")
        ),
    }
}

/// One unknown key found: where, under which key path, and the message.
pub struct Unknown {
    /// Byte span of the key.
    pub span: std::ops::Range<usize>,
    /// `receiver[0].rcvbuff`.
    pub key_path: String,
    /// What is wrong and the nearest known key.
    pub message: String,
}

/// Removes the keys of the table `v` that are not in `known` (and, for each
/// `(key, fields)` in `nested`, those of the table under `key`), returning them.
pub fn strip_unknown(
    v: &mut Spanned<DeValue<'_>>,
    path: &str,
    what: &str,
    known: &[&str],
    nested: &[(&str, &[&str])],
) -> Vec<Unknown> {
    let mut found = Vec::new();
    let DeValue::Table(table) = v.get_mut() else {
        return found;
    };
    let join = |k: &str| {
        if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        }
    };
    let unknown: Vec<_> = table
        .keys()
        .filter(|k| !known.contains(&k.get_ref().as_ref()))
        .cloned()
        .collect();
    for k in unknown {
        found.push(Unknown {
            span: k.span(),
            key_path: join(k.get_ref()),
            message: unknown_key_message(k.get_ref(), known, what),
        });
        table.remove(&k);
    }
    for (key, fields) in nested {
        if let Some(inner) = table.get_mut(*key) {
            found.extend(strip_unknown(
                inner,
                &join(key),
                &format!("`{key}`"),
                fields,
                &[],
            ));
        }
    }
    found
}

/// A `Raw*` table of a scenario file: what it is called in messages, and the tables
/// nested in it whose keys are checked too.
pub trait Table: for<'de> Deserialize<'de> {
    /// `[[receiver]]`.
    const WHAT: &'static str;
    /// `(key, fields)` of nested tables.
    fn nested() -> Vec<(&'static str, Vec<&'static str>)> {
        Vec::new()
    }
}

use super::raw::*;
use crate::plan::MetricKey;

impl Table for RawHeader {
    const WHAT: &'static str = "the top level";
}

impl Table for RawEmitter {
    const WHAT: &'static str = "[[emitter]]";
    fn nested() -> Vec<(&'static str, Vec<&'static str>)> {
        vec![("schedule", fields_of::<RawSchedule>().to_vec())]
    }
}

impl Table for RawReceiver {
    const WHAT: &'static str = "[[receiver]]";
    fn nested() -> Vec<(&'static str, Vec<&'static str>)> {
        vec![("expect", crate::plan::Metric::names())]
    }
}

impl Table for RawDump {
    const WHAT: &'static str = "[[dump]]";
    fn nested() -> Vec<(&'static str, Vec<&'static str>)> {
        vec![("expect", crate::plan::DumpMetric::names())]
    }
}

impl Table for RawProgram {
    const WHAT: &'static str = "[[program]]";
    fn nested() -> Vec<(&'static str, Vec<&'static str>)> {
        vec![("expect", crate::plan::ProgramMetric::names())]
    }
}

impl Table for RawChurn {
    const WHAT: &'static str = "[[churn]]";
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::MetricKey;
    use crate::scenario::raw::RawReceiver;

    #[test]
    fn fields_come_from_the_raw_types() {
        let f = fields_of::<RawReceiver>();
        assert!(f.contains(&"rcvbuf") && f.contains(&"rcvbuf-force") && f.contains(&"expect"));
        assert!(crate::plan::Metric::names().contains(&"delivered"));
    }

    #[test]
    fn misspellings_get_the_nearest_key() {
        let known = fields_of::<RawReceiver>();
        assert_eq!(
            unknown_key_message("rcvbuff", known, "[[receiver]]"),
            "unknown key \"rcvbuff\" in [[receiver]]: did you mean `rcvbuf`?"
        );
        assert!(unknown_key_message("zzzzzz", known, "x").contains("known keys: name"));
    }
}
