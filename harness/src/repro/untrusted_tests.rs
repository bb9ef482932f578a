//! The generator against hostile records: every string of a real run record that the
//! report type accepts as free text (values and map keys) is replaced by arbitrary
//! text, and the generated C must have exactly the token structure of the same record
//! with harmless text in those places. String literals count as one token whatever they
//! hold and comments count as none, so any text that escaped a literal or a comment
//! shows up as a difference. The records are real runs (fixtures/records/README.md).

use proptest::prelude::*;
use serde_json::Value;

use super::generate;
use crate::plan::Plan;
use crate::report::ScenarioReport;

const RECORDS: [(&str, &str, &str); 3] = [
    (
        "overrun-one-receiver",
        include_str!("../../../fixtures/records/overrun-one-receiver/scenario.toml"),
        include_str!("../../../fixtures/records/overrun-one-receiver/verdict.json"),
    ),
    (
        "hang-dump-stalled",
        include_str!("../../../fixtures/records/hang-dump-stalled/scenario.toml"),
        include_str!("../../../fixtures/records/hang-dump-stalled/verdict.json"),
    ),
    (
        "hang-truncated",
        include_str!("../../../fixtures/records/hang-truncated/scenario.toml"),
        include_str!("../../../fixtures/records/hang-truncated/verdict.json"),
    ),
];

/// Where free text sits in a JSON document: a value, or the key of a map entry.
#[derive(Debug, Clone, PartialEq)]
enum Slot {
    Value(Vec<Step>),
    Key(Vec<Step>, String),
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Field(String),
    Index(usize),
}

fn at<'a>(v: &'a mut Value, path: &[Step]) -> &'a mut Value {
    path.iter().fold(v, |v, s| match s {
        Step::Field(f) => &mut v[f.as_str()],
        Step::Index(i) => &mut v[*i],
    })
}

fn set(doc: &mut Value, slot: &Slot, text: &str) {
    match slot {
        Slot::Value(p) => *at(doc, p) = Value::String(text.to_string()),
        Slot::Key(p, k) => {
            let map = at(doc, p).as_object_mut().expect("a map");
            let v = map.remove(k).expect("the key");
            map.insert(text.to_string(), v);
        }
    }
}

fn accepts(doc: &Value) -> Option<ScenarioReport> {
    serde_json::from_value(doc.clone()).ok()
}

/// Every slot that the report type still accepts after putting a marker in it, and
/// that (for keys) survives a round trip: those are the places a hostile record can
/// fill with anything.
fn free_slots(doc: &Value) -> Vec<Slot> {
    const MARK: &str = "\u{1}marker";
    let mut all = Vec::new();
    fn walk(v: &Value, path: &mut Vec<Step>, out: &mut Vec<Slot>) {
        match v {
            Value::String(_) => out.push(Slot::Value(path.clone())),
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    path.push(Step::Index(i));
                    walk(x, path, out);
                    path.pop();
                }
            }
            Value::Object(m) => {
                for (k, x) in m {
                    out.push(Slot::Key(path.clone(), k.clone()));
                    path.push(Step::Field(k.clone()));
                    walk(x, path, out);
                    path.pop();
                }
            }
            _ => {}
        }
    }
    walk(doc, &mut Vec::new(), &mut all);
    all.into_iter()
        .filter(|slot| {
            let mut d = doc.clone();
            set(&mut d, slot, MARK);
            match (accepts(&d), slot) {
                (Some(_), Slot::Value(_)) => true,
                (Some(r), Slot::Key(..)) => {
                    serde_json::to_string(&r).unwrap().contains("\\u0001marker")
                }
                (None, _) => false,
            }
        })
        .collect()
}

/// C tokens with every string literal as `""` and comments removed.
fn tokens(c: &str) -> Vec<String> {
    let b = c.as_bytes();
    let (mut i, mut out) = (0, Vec::new());
    while i < b.len() {
        let ch = b[i];
        if b[i..].starts_with(b"/*") {
            i += 2 + c[i + 2..].find("*/").expect("comment closed") + 2;
        } else if b[i..].starts_with(b"//") {
            i += c[i..].find('\n').unwrap_or(c.len() - i);
        } else if ch == b'"' || ch == b'\'' {
            let mut j = i + 1;
            while b[j] != ch {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            out.push(if ch == b'"' {
                "\"\"".into()
            } else {
                c[i..=j].to_string()
            });
            i = j + 1;
        } else if ch.is_ascii_whitespace() {
            i += 1;
        } else if ch.is_ascii_alphanumeric() || ch == b'_' {
            let j = i + b[i..]
                .iter()
                .position(|x| !(x.is_ascii_alphanumeric() || *x == b'_' || *x == b'.'))
                .unwrap_or(b.len() - i);
            out.push(c[i..j].to_string());
            i = j;
        } else {
            out.push((ch as char).to_string());
            i += 1;
        }
    }
    out
}

struct Case {
    plan: Plan,
    doc: Value,
    slots: Vec<Slot>,
}

fn cases() -> &'static [Case] {
    static CASES: std::sync::OnceLock<Vec<Case>> = std::sync::OnceLock::new();
    CASES.get_or_init(load_cases)
}

fn load_cases() -> Vec<Case> {
    RECORDS
        .iter()
        .map(|(name, toml, verdict)| {
            let plan =
                crate::scenario::compile_str(std::path::Path::new(&format!("{name}.toml")), toml)
                    .expect("the fixture compiles");
            let doc: Value = serde_json::from_str(verdict).unwrap();
            let slots = free_slots(&doc);
            assert!(!slots.is_empty());
            Case { plan, doc, slots }
        })
        .collect()
}

fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        Just("*/ int pwn(void){return system(\"id\");} /*".to_string()),
        Just("\"); system(\"id\"); (\"".to_string()),
        Just("??/\n#define MODE 9\n".to_string()),
        Just("x\\\n*/ evil();".to_string()),
        "[ -~]{0,40}",
    ]
}

/// One mutated record: which slots change, to what; and the same slots filled with
/// harmless distinct text for the reference.
fn mutate(c: &Case, picks: &[(bool, String)]) -> (ScenarioReport, ScenarioReport) {
    let (mut bad, mut good) = (c.doc.clone(), c.doc.clone());
    // Keys are renamed last so that the value paths found before still point right.
    let order = c
        .slots
        .iter()
        .enumerate()
        .filter(|(_, s)| matches!(s, Slot::Value(_)))
        .chain(
            c.slots
                .iter()
                .enumerate()
                .filter(|(_, s)| matches!(s, Slot::Key(..))),
        );
    for (i, slot) in order {
        let (change, text) = &picks[i % picks.len()];
        if *change {
            set(&mut bad, slot, text);
            set(&mut good, slot, &format!("harmless{i}"));
        }
    }
    (
        accepts(&bad).expect("free slots"),
        accepts(&good).expect("free slots"),
    )
}

fn picks() -> impl Strategy<Value = Vec<(bool, String)>> {
    proptest::collection::vec((any::<bool>(), hostile()), 8..64)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn no_record_text_becomes_c_code(which in 0usize..3, picks in picks(), source in hostile()) {
        let all = cases();
        let c = &all[which];
        let (bad, good) = mutate(c, &picks);
        let reference = generate(&c.plan, &good, "source.toml");
        match generate(&c.plan, &bad, &source) {
            Ok(r) => {
                let reference = reference.expect("the harmless twin generates too");
                prop_assert_eq!(tokens(&r.source), tokens(&reference.source));
            }
            Err(_) => prop_assert!(reference.is_err()),
        }
    }
}

/// The same comparison after the C preprocessor with trigraphs on (`cc -E -P
/// -trigraphs`), so that what the compiler sees, not only what this file's tokenizer
/// sees, is proven the same; and the hostile programs compile.
#[test]
fn the_compiler_sees_the_same_program() {
    if std::process::Command::new("cc")
        .arg("--version")
        .output()
        .is_err()
    {
        if std::env::var_os("NLSTORM_REQUIRE_SANDBOX").is_some() {
            panic!("cc is needed for this test (ci/test.sh installs gcc)");
        }
        eprintln!("skipping the_compiler_sees_the_same_program: no cc on this machine");
        return;
    }
    let preprocess = |src: &str| {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("r.c");
        std::fs::write(&f, src).unwrap();
        let out = std::process::Command::new("cc")
            .args(["-E", "-P", "-trigraphs"])
            .arg(&f)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let syntax = std::process::Command::new("cc")
            .args(["-fsyntax-only", "-Wall", "-Werror", "-trigraphs"])
            .arg(&f)
            .output()
            .unwrap();
        assert!(
            syntax.status.success(),
            "{}",
            String::from_utf8_lossy(&syntax.stderr)
        );
        tokens(&String::from_utf8(out.stdout).unwrap())
    };
    let all = cases();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 24,
        ..ProptestConfig::default()
    });
    runner
        .run(
            &(0usize..3, picks(), hostile()),
            |(which, picks, source)| {
                let c = &all[which];
                let (bad, good) = mutate(c, &picks);
                if let (Ok(b), Ok(g)) = (
                    generate(&c.plan, &bad, &source),
                    generate(&c.plan, &good, "s"),
                ) {
                    prop_assert_eq!(preprocess(&b.source), preprocess(&g.source));
                }
                Ok(())
            },
        )
        .unwrap();
}
