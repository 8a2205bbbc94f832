//! Golden histories: every `<model>-<what>-ok.jsonl` in `golden/linear/` must be
//! linearizable against its model and every `<model>-<what>-bad.jsonl` must not, with a
//! counterexample that names an operation of the file.

use splitbrain_checker::Validity;
use splitbrain_checker::linear::{CheckOptions, check_with_model};
use splitbrain_checker::models::ModelKind;
use splitbrain_history::History;
use splitbrain_history::import::{self, Format};
use std::path::PathBuf;

/// The model a file name starts with; the longest matching name wins
/// (`cas-register-...` is not a `register` history).
fn model_of(name: &str) -> ModelKind {
    ModelKind::ALL
        .into_iter()
        .filter(|m| name.starts_with(&format!("{}-", m.name())))
        .max_by_key(|m| m.name().len())
        .unwrap_or_else(|| panic!("golden file {name} does not start with a model name"))
}

#[test]
fn golden_linear_histories_get_the_verdict_in_their_name() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/linear");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 10,
        "expected the golden histories in {}",
        dir.display()
    );
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let expected = if name.ends_with("-ok.jsonl") {
            Validity::Valid
        } else if name.ends_with("-bad.jsonl") {
            Validity::Invalid
        } else {
            panic!("golden file {name} must end in -ok.jsonl or -bad.jsonl");
        };
        let ops = import::read(&path, Format::Jsonl).unwrap();
        let last_index = ops.last().map_or(0, |o| o.index);
        let report = check_with_model(
            model_of(&name),
            &History::new(ops),
            None,
            &CheckOptions::default(),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(report.valid, expected, "{name}: {}", report.summary());
        if expected == Validity::Invalid {
            let c = report.counterexample.as_ref().expect("a counterexample");
            let failed = c.failed.as_ref().expect("a failing operation");
            assert!(failed.index <= last_index, "{name}: {failed:?}");
            assert!(!c.explanation.is_empty());
        }
    }
}
