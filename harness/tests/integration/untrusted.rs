//! Scenario files and run records are untrusted: the crafted files of the security
//! report are refused with a location, and a few thousand mutated scenario files through
//! the parser and every writer (record, TOML, JUnit, terminal, C) never panic and never
//! write outside the output directory. Needs no privilege.

use std::path::{Path, PathBuf};
use std::process::Command;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use nlstorm::history::History;
use nlstorm::report::{junit, print_scenario, Report, ScenarioReport};

use crate::support::*;

const INJECTION: &str = r#"name = "x */ __attribute__((constructor)) static void pwn(void){system(\"id > FILE\");} /* "
[[emitter]]
name = "e"
kind = "usersock"
group = 1
schedule = { kind = "burst", size = 10 }
[[receiver]]
name = "r"
protocol = "usersock"
groups = [1]
start-reading-after = "emission-end"
expect = { lost = 0 }
"#;

fn with_name(name: &str) -> String {
    INJECTION.replacen(
        INJECTION.lines().next().unwrap(),
        &format!("name = {name:?}"),
        1,
    )
}

#[test]
fn crafted_names_exit_2_with_a_location() {
    let dir = tempfile::tempdir().unwrap();
    let files = [
        ("inject.toml", INJECTION.to_string()),
        (
            "traverse.toml",
            with_name("x/../../../../tmp/somewhere/ESCAPED"),
        ),
        ("absolute.toml", with_name("/tmp/nlstorm-absolute")),
        ("slash.toml", with_name("a/b")),
        ("dots.toml", with_name("..")),
    ];
    for (file, text) in &files {
        let p = dir.path().join(file);
        std::fs::write(&p, text).unwrap();
        for cmd in [vec!["validate"], vec!["run", "--record-dir"], vec!["repro"]] {
            let mut c = Command::new(bin());
            c.args(&cmd);
            if cmd.len() == 2 {
                c.arg(dir.path().join("records"));
            }
            let out = c.arg(&p).output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{cmd:?} {file}: {err}");
            let want = format!("{file}:1:8: name: scenario name");
            assert!(err.contains(&want), "want: {want:?} / got: {err}");
        }
    }
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), files.len(), "nothing but the inputs: {left:?}");
    assert!(!Path::new("/tmp/somewhere/ESCAPED").exists());
}

#[test]
fn bounds_on_a_plan_exit_2() {
    let mut text = String::from("[[emitter]]\nname = \"e\"\nkind = \"usersock\"\ngroup = 1\nschedule = { kind = \"burst\", size = 1 }\n");
    for i in 0..65 {
        text.push_str(&format!(
            "[[receiver]]\nname = \"r{i}\"\nprotocol = \"usersock\"\ngroups = [1]\nrcvbuf-force = \"1GiB\"\n"
        ));
    }
    let err = validate_refuses("big.toml", &text);
    assert!(
        err.contains("receiver[64]: 65 [[receiver]] tables: a scenario has at most 64"),
        "{err}"
    );
    // SO_RCVBUFFORCE doubles what it is given, capped at INT_MAX / 2 before doubling.
    let pinned = 65 * 2 * (i32::MAX as u64 / 2);
    assert!(
        err.contains(&format!("pin {pinned} bytes of kernel memory")),
        "{err}"
    );
}

/// Time spent before the first send is outside the run's deadline, so it has its own
/// bound; nine programs are one more than a scenario may start.
#[test]
fn programs_are_bounded_in_number_and_set_up_time() {
    let mut text = String::from("[[emitter]]\nname = \"e\"\nkind = \"usersock\"\ngroup = 1\nschedule = { kind = \"burst\", size = 1 }\n");
    for i in 0..9 {
        text.push_str(&format!(
            "[[program]]\nname = \"p{i}\"\ncommand = [\"true\"]\nstart = \"2s\"\nready-timeout = \"5s\"\n"
        ));
    }
    let err = validate_refuses("programs.toml", &text);
    assert!(
        err.contains("program[8]: 9 [[program]] tables: a scenario has at most 8"),
        "{err}"
    );
    assert!(
        err.contains("start delays and ready timeouts add up to 63s: at most 60s"),
        "{err}"
    );
}

fn bundled() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    v.sort();
    v
}

fn record(name: &str, file: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fixtures/records")
            .join(name)
            .join(file),
    )
    .unwrap()
}

/// A mutation of a bundled scenario: lines swapped in from other files, values replaced
/// with hostile text or extreme numbers, bytes flipped.
#[derive(Debug, Clone)]
enum Edit {
    /// Line (modulo the file's length), and the value written as TOML.
    Set(usize, String),
    Splice(usize, usize, usize),
    Byte(usize, u8),
    Delete(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let text = prop_oneof![
        any::<String>(),
        "[ -~]{0,30}",
        Just("../../../../tmp/x".to_string()),
        Just("/etc/passwd".to_string()),
        Just("*/ system(\"id\"); /*".to_string()),
        Just("\u{1b}[2J\u{202e}".to_string()),
    ];
    prop_oneof![
        // A TOML basic string: JSON's escapes are TOML's too.
        (any::<usize>(), text).prop_map(|(l, t)| Edit::Set(l, serde_json::to_string(&t).unwrap())),
        (
            any::<usize>(),
            prop_oneof![any::<i64>(), Just(i64::MAX), Just(-1), 0i64..100_000]
        )
            .prop_map(|(l, n)| Edit::Set(l, n.to_string())),
        (any::<usize>(), any::<usize>(), any::<usize>())
            .prop_map(|(a, b, c)| Edit::Splice(a, b, c)),
        (any::<usize>(), any::<u8>()).prop_map(|(a, b)| Edit::Byte(a, b)),
        any::<usize>().prop_map(Edit::Delete),
    ]
}

fn apply(files: &[String], base: usize, edits: &[Edit]) -> String {
    let mut lines: Vec<String> = files[base].lines().map(str::to_string).collect();
    for e in edits {
        if lines.is_empty() {
            break;
        }
        let n = lines.len();
        match e {
            Edit::Set(l, value) if lines[l % n].contains(" = ") => {
                let key = lines[l % n].split(" = ").next().unwrap().to_string();
                lines[l % n] = format!("{key} = {value}");
            }
            Edit::Splice(f, from, to) => {
                let other: Vec<&str> = files[f % files.len()].lines().collect();
                if !other.is_empty() {
                    lines.insert(to % (n + 1), other[from % other.len()].to_string());
                }
            }
            Edit::Byte(at, b) => {
                let mut bytes = lines.join("\n").into_bytes();
                let i = at % bytes.len().max(1);
                if i < bytes.len() {
                    bytes[i] = *b;
                }
                lines = String::from_utf8_lossy(&bytes)
                    .lines()
                    .map(str::to_string)
                    .collect();
            }
            Edit::Delete(l) => {
                lines.remove(l % n);
            }
            _ => {}
        }
    }
    lines.join("\n")
}

/// Every file below `dir`.
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() && !p.is_symlink() {
            out.extend(tree(&p));
        }
        out.push(p);
    }
    out
}

#[test]
fn mutated_scenarios_never_panic_or_write_outside() {
    let files = bundled();
    let history: History =
        serde_json::from_str(&record("overrun-one-receiver", "history.json")).unwrap();
    let verdict: ScenarioReport =
        serde_json::from_str(&record("overrun-one-receiver", "verdict.json")).unwrap();
    let top = tempfile::tempdir().unwrap();
    let out = top.path().join("out");
    let stems = prop_oneof![
        Just("s".to_string()),
        Just("../../evil".to_string()),
        "[ -~]{1,20}",
    ];
    let mut runner = TestRunner::new(Config {
        cases: 3000,
        failure_persistence: None,
        ..Config::default()
    });
    let compiled = std::cell::Cell::new(0u32);
    runner
        .run(
            &(
                0..files.len(),
                proptest::collection::vec(edit(), 1..6),
                stems,
            ),
            |(base, edits, stem)| {
                let text = apply(&files, base, &edits);
                let path = PathBuf::from(format!("{stem}.toml"));
                let Ok(plan) = nlstorm::scenario::compile_str(&path, &text) else {
                    return Ok(());
                };
                compiled.set(compiled.get() + 1);
                // The plan's own text must read back as the same plan (locations aside).
                let written = nlstorm::scenario::to_toml(&plan, "fuzz");
                let again = nlstorm::scenario::compile_str(&path, &written);
                prop_assert_eq!(
                    again
                        .as_ref()
                        .ok()
                        .map(|p| nlstorm::scenario::to_toml(p, "fuzz")),
                    Some(written)
                );
                let mut rep = verdict.clone();
                rep.scenario = plan.name.to_string();
                rep.file = text.chars().take(40).collect();
                let mut history = history.clone();
                history.run_id = format!("{:08x}", compiled.get());
                nlstorm::record::write(&out, &text, &plan, &history, &rep).unwrap();
                let x = junit(&Report {
                    nlstorm_version: "0".into(),
                    exit_code: 1,
                    scenarios: vec![rep.clone()],
                });
                prop_assert!(!x.chars().any(|c| c.is_control() && c != '\n'));
                let t = print_scenario(&rep);
                prop_assert!(!t.chars().any(|c| c.is_control() && c != '\n'));
                let _ = nlstorm::repro::generate(&plan, &rep, &stem);
                Ok(())
            },
        )
        .unwrap();
    assert!(
        compiled.get() > 100,
        "the mutations should leave many files valid: {}",
        compiled.get()
    );
    let outside: Vec<_> = std::fs::read_dir(top.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n != "out")
        .collect();
    assert!(
        outside.is_empty(),
        "written beside the output directory: {outside:?}"
    );
    let root = out.canonicalize().unwrap();
    for p in tree(&out) {
        assert!(
            p.canonicalize().unwrap().starts_with(&root),
            "{}",
            p.display()
        );
        assert!(!p.is_symlink(), "{}", p.display());
    }
}

/// A copy of the bundled record `name` in a fresh directory, edited by `edit`.
fn altered_record(
    name: &str,
    edit: impl FnOnce(&Path, &mut serde_json::Value),
) -> tempfile::TempDir {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/records")
        .join(name);
    let dir = tempfile::tempdir().unwrap();
    for f in std::fs::read_dir(&src).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), dir.path().join(f.file_name())).unwrap();
    }
    let h = dir.path().join("history.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&h).unwrap()).unwrap();
    edit(dir.path(), &mut v);
    if h.exists() && !h.is_symlink() && std::fs::metadata(&h).unwrap().is_file() {
        std::fs::write(&h, serde_json::to_string(&v).unwrap()).unwrap();
    }
    dir
}

fn check(dir: &Path) -> (Option<i32>, String, String) {
    let mut child = Command::new(bin())
        .arg("check")
        .arg(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A FIFO must not hang the command: give it 20 s, then fail the test.
    let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > until {
            let _ = child.kill();
            panic!("nlstorm check {} hung", dir.display());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_record_cannot_forge_lines_in_a_ci_log() {
    let dir = altered_record("overrun-one-receiver", |_, v| {
        v["kernel_release"] = "6.1\nok   all: forged (measured 0)\n1 passed, 0 failed".into();
    });
    // The stored run failed its expectations (the record shows an overrun); the forged
    // lines would make it look passed.
    let (code, out, err) = check(dir.path());
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(!out.lines().any(|l| l.starts_with("ok   all")), "{out}");
    assert!(!out.lines().any(|l| l == "1 passed, 0 failed"), "{out}");
    assert!(
        out.contains("6.1\\u{a}ok   all: forged"),
        "the release is shown escaped: {out}"
    );
}

#[test]
fn records_that_are_fifos_devices_or_inconsistent_are_bad_input() {
    // history.json a FIFO, then a link to /dev/zero: exit 2 at once, naming the file.
    let dir = altered_record("overrun-one-receiver", |d, _| {
        std::fs::remove_file(d.join("history.json")).unwrap();
        nix::unistd::mkfifo(
            &d.join("history.json"),
            nix::sys::stat::Mode::from_bits_truncate(0o600),
        )
        .unwrap();
    });
    let (code, _, err) = check(dir.path());
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("history.json") && err.contains("FIFO"),
        "{err}"
    );
    let dir = altered_record("overrun-one-receiver", |d, _| {
        std::fs::remove_file(d.join("history.json")).unwrap();
        std::os::unix::fs::symlink("/dev/zero", d.join("history.json")).unwrap();
    });
    let (code, _, err) = check(dir.path());
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("a device"), "{err}");
    // A history with a receiver removed contradicts its plan.
    let dir = altered_record("overrun-one-receiver", |_, v| {
        v["receivers"] = serde_json::json!([]);
    });
    let (code, _, err) = check(dir.path());
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("not a consistent run record"), "{err}");
    // A receiver that delivered more than was sent is the record contradicting itself.
    let dir = altered_record("overrun-one-receiver", |_, v| {
        v["emitters"][0]["sent"] = 1.into();
    });
    let (code, out, err) = check(dir.path());
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(
        out.contains("BAD INPUT: the record contradicts itself"),
        "{out}"
    );
}

#[test]
fn repro_never_writes_through_a_link_left_at_its_default_name() {
    let work = tempfile::tempdir().unwrap();
    let target = work.path().join("victim");
    std::fs::write(&target, "precious").unwrap();
    std::os::unix::fs::symlink(&target, work.path().join("overrun-one-receiver-repro.c")).unwrap();
    let rec =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/records/overrun-one-receiver");
    let out = Command::new(bin())
        .arg("repro")
        .arg(&rec)
        .current_dir(work.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("already exists") && err.contains("--out"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious");
}

#[test]
fn a_scenario_naming_a_private_file_as_its_trace_never_quotes_it() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("shadow");
    std::fs::write(&secret, "root:$6$very-secret-hash:19000:0:99999:7:::\n").unwrap();
    let text = format!(
        "[[emitter]]\nname = \"r\"\nkind = \"replay\"\ntrace = {:?}\n",
        secret.display().to_string()
    );
    let f = dir.path().join("s.toml");
    std::fs::write(&f, text).unwrap();
    let json = dir.path().join("v.json");
    for with_json in [false, true] {
        let mut cmd = Command::new(bin());
        cmd.arg("validate");
        if with_json {
            cmd.arg("--json").arg(&json);
        }
        let out = cmd.arg(&f).output().unwrap();
        let all = format!(
            "{}{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&json).unwrap_or_default()
        );
        assert_eq!(out.status.code(), Some(2), "{all}");
        assert!(!all.contains("secret") && !all.contains("root:"), "{all}");
        assert!(all.contains("line 1 does not parse"), "{all}");
    }
}

#[test]
fn a_scenario_path_behind_an_unsearchable_directory_is_permission_denied() {
    let runs_as_root = can_become_nobody().is_ok();
    if !runs_as_root {
        skip_line!("skipping a_scenario_path_behind_an_unsearchable_directory_is_permission_denied: needs root to run validate as nobody");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let f = dir.path().join("s.toml");
    std::fs::write(&f, "").unwrap();
    let out = as_nobody(Path::new(bin()))
        .arg("validate")
        .arg(&f)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("ermission denied") && !err.contains("does not exist"),
        "{err}"
    );
}
