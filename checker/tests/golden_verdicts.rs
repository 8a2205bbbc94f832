//! Golden files: small hand-written histories and resource logs whose names carry the
//! expected verdict (`*-ok.jsonl` valid, `*-bad.jsonl` invalid). One table test per
//! checker walks its folder, so adding a case is adding a file.

use splitbrain_checker::{Validity, exclusive, resource_safety};
use splitbrain_history::{History, Op, ResourceEntry, jsonl};
use std::path::{Path, PathBuf};

/// The golden files of one folder with the verdict their names promise.
fn cases(folder: &str) -> Vec<(PathBuf, Validity)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(folder);
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("golden folder exists") {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".jsonl") {
            continue;
        }
        let expected = if name.ends_with("-ok.jsonl") {
            Validity::Valid
        } else if name.ends_with("-bad.jsonl") {
            Validity::Invalid
        } else {
            panic!("golden file {name} must end in -ok.jsonl or -bad.jsonl");
        };
        out.push((path, expected));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(out.len() >= 4, "too few golden files in {}", dir.display());
    out
}

#[test]
fn every_golden_history_gets_the_verdict_its_name_promises() {
    for (path, expected) in cases("exclusive") {
        let ops: Vec<Op> = jsonl::read(&path).unwrap().strict().unwrap();
        let history = History::new(ops);
        let unfenced = exclusive::check(&history, false);
        assert_eq!(
            unfenced.valid,
            expected,
            "{}: {}",
            path.display(),
            unfenced.summary
        );
        assert_eq!(
            expected == Validity::Invalid,
            !unfenced.evidence.is_empty(),
            "{}: evidence must come with a violation and only then",
            path.display()
        );
        let fenced = exclusive::check(&history, true);
        assert_eq!(fenced.valid, Validity::Valid, "{}", path.display());
    }
}

#[test]
fn every_golden_resource_log_gets_the_verdict_its_name_promises() {
    for (path, expected) in cases("resource") {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let fencing = if name.starts_with("fenced-") {
            true
        } else if name.starts_with("unfenced-") {
            false
        } else {
            panic!("golden resource log {name} must start with fenced- or unfenced-");
        };
        let entries: Vec<ResourceEntry> = jsonl::read(&path).unwrap().strict().unwrap();
        let r = resource_safety::check(&entries, fencing);
        assert_eq!(r.valid, expected, "{name}: {}", r.summary);
        if expected == Validity::Invalid {
            assert!(!r.evidence.is_empty(), "{name}: a violation needs evidence");
            assert!(!r.evidence[0].resource_seqs.is_empty(), "{name}");
        }
    }
}
