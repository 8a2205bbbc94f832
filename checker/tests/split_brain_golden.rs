//! Golden histories of the split-brain checker: names carry the expected verdict
//! (`*-ok.jsonl` valid, `*-bad.jsonl` invalid); adding a case is adding a file.

use splitbrain_checker::{Validity, split_brain};
use splitbrain_history::{History, Op, jsonl};
use std::path::Path;

#[test]
fn every_golden_leader_history_gets_the_verdict_its_name_promises() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/split-brain");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let expected = if name.ends_with("-ok.jsonl") {
            Validity::Valid
        } else if name.ends_with("-bad.jsonl") {
            Validity::Invalid
        } else {
            continue;
        };
        let ops: Vec<Op> = jsonl::read(&path).unwrap().strict().unwrap();
        let result = split_brain::check(&History::new(ops), None);
        assert_eq!(result.valid, expected, "{name}: {}", result.summary);
        assert_eq!(
            expected == Validity::Invalid,
            !result.evidence.is_empty(),
            "{name}: evidence must come with a violation and only then"
        );
        seen += 1;
    }
    assert!(seen >= 6, "golden files missing in {}", dir.display());
}

#[test]
fn the_paused_leader_evidence_names_both_grants_and_both_pieces_of_work() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/split-brain/paused-leader-work-accepted-bad.jsonl");
    let ops: Vec<Op> = jsonl::read(&path).unwrap().strict().unwrap();
    let result = split_brain::check(&History::new(ops), None);
    assert_eq!(result.evidence[0].op_indexes, vec![1, 4, 6, 7]);
    assert_eq!(result.evidence[0].detail["first"]["process"], 0);
    assert_eq!(result.evidence[0].detail["second"]["process"], 1);
}
