//! porcupine's own test data must get porcupine's verdicts: all 102 etcd histories as a
//! compare-and-set register starting at nil, and the kv histories per key and as one map.
//! The corpus lives in the shared folder next to the workspace; a missing corpus fails.

use splitbrain_checker::Validity;
use splitbrain_checker::linear::{CheckOptions, check_with_model};
use splitbrain_checker::models::ModelKind;
use splitbrain_history::History;
use splitbrain_history::import::{self, Format};
use std::path::PathBuf;

fn corpus() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/porcupine");
    assert!(
        dir.join("EXPECTED.md").is_file(),
        "porcupine corpus missing: dir={} (it ships in the shared folder beside the workspace)",
        dir.display()
    );
    dir
}

/// The rows `| <file> | true|false | ...` of EXPECTED.md under `prefix`.
fn expected(prefix: &str) -> Vec<(String, bool)> {
    let text = std::fs::read_to_string(corpus().join("EXPECTED.md")).unwrap();
    text.lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let (file, verdict) = (*cells.get(1)?, *cells.get(2)?);
            let verdict = match verdict {
                "true" => true,
                "false" => false,
                _ => return None,
            };
            file.starts_with(prefix).then(|| (file.to_owned(), verdict))
        })
        .collect()
}

fn check(file: &str, format: Format, model: ModelKind, partition: bool) -> Validity {
    let ops = import::read(&corpus().join(file), format).unwrap();
    let options = CheckOptions {
        partition,
        ..CheckOptions::default()
    };
    check_with_model(model, &History::new(ops), None, &options)
        .unwrap()
        .valid
}

fn verdict(valid: bool) -> Validity {
    if valid {
        Validity::Valid
    } else {
        Validity::Invalid
    }
}

#[test]
fn all_102_etcd_histories_get_porcupines_verdicts() {
    let rows = expected("jepsen/");
    assert_eq!(
        rows.len(),
        102,
        "EXPECTED.md should list 102 tested etcd histories"
    );
    let mut wrong = Vec::new();
    for (file, valid) in &rows {
        let got = check(file, Format::PorcupineJepsen, ModelKind::CasRegister, true);
        if got != verdict(*valid) {
            wrong.push(format!("{file}: expected {valid}, got {got:?}"));
        }
    }
    assert!(wrong.is_empty(), "verdicts differ:\n{}", wrong.join("\n"));
}

#[test]
fn kv_histories_get_porcupines_verdicts_per_key() {
    let rows = expected("kv/");
    assert_eq!(rows.len(), 6);
    for (file, valid) in &rows {
        let got = check(file, Format::PorcupineKv, ModelKind::Kv, true);
        assert_eq!(got, verdict(*valid), "{file}");
    }
}

#[test]
fn small_kv_histories_get_porcupines_verdicts_as_one_map() {
    for (file, valid) in expected("kv/c0") {
        let got = check(&file, Format::PorcupineKv, ModelKind::Kv, false);
        assert_eq!(got, verdict(valid), "{file}");
    }
}

/// The etcd histories write small numbers again and again, so the search-free path for
/// unique writes declines nearly all of them; where it does take a partition, it must
/// agree with the general search, and declining must change nothing either.
#[test]
fn the_search_free_path_agrees_with_the_general_search_on_the_etcd_histories() {
    let mut taken = 0;
    for (file, _) in expected("jepsen/") {
        let ops = import::read(&corpus().join(&file), Format::PorcupineJepsen).unwrap();
        let history = History::new(ops);
        let run = |reads_from| {
            let options = CheckOptions {
                reads_from,
                ..CheckOptions::default()
            };
            check_with_model(ModelKind::CasRegister, &history, None, &options).unwrap()
        };
        let (fast, general) = (run(true), run(false));
        assert_eq!(fast.valid, general.valid, "{file}");
        assert_eq!(general.stats.partitions_by_reads_from, 0);
        taken += fast.stats.partitions_by_reads_from;
    }
    eprintln!("the search-free path decided {taken} of the 102 etcd histories");
}
