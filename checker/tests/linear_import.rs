//! Imported histories end to end: a Knossos-style `history.edn` read by the importer and
//! checked against the compare-and-set register Knossos starts at 0.

use serde_json::json;
use splitbrain_checker::Validity;
use splitbrain_checker::linear::{CheckOptions, check_with_model};
use splitbrain_checker::models::ModelKind;
use splitbrain_history::History;
use splitbrain_history::import::{Format, parse};
use std::path::Path;

/// Process 2's cas fails (did not happen), process 3 crashes mid-write (may have
/// happened), the nemesis comes and goes.
const KNOSSOS: &str = r#"[{:process 0, :type :invoke, :f :read, :value nil}
 {:process 1, :type :invoke, :f :write, :value 3}
 {:process 0, :type :ok, :f :read, :value 0}
 {:process :nemesis, :type :info, :f :start, :value nil}
 {:process 1, :type :ok, :f :write, :value 3}
 {:process 2, :type :invoke, :f :cas, :value [1 4]}
 {:process 3, :type :invoke, :f :write, :value 4}
 {:process 2, :type :fail, :f :cas, :value [1 4]}
 {:process 3, :type :info, :f :write, :value 4, :error :timeout}
 {:process 0, :type :invoke, :f :cas, :value [4 5]}
 {:process 0, :type :ok, :f :cas, :value [4 5]}
 {:process 0, :type :invoke, :f :read, :value nil}
 {:process 0, :type :ok, :f :read, :value READ}]"#;

fn check(read: &str, init: serde_json::Value) -> Validity {
    let text = KNOSSOS.replace("READ", read);
    let ops = parse(Path::new("history.edn"), text.as_bytes(), Format::JepsenEdn).unwrap();
    assert_eq!(ops.len(), 13);
    let report = check_with_model(
        ModelKind::CasRegister,
        &History::new(ops),
        Some(&init),
        &CheckOptions::default(),
    )
    .unwrap();
    report.valid
}

#[test]
fn a_knossos_history_starting_at_zero_is_linearizable_through_the_crashed_write() {
    // The crashed write of 4 must have happened for the cas 4 -> 5 to succeed.
    assert_eq!(check("5", json!(0)), Validity::Valid);
}

#[test]
fn a_knossos_history_reading_a_value_never_current_is_not() {
    assert_eq!(check("3", json!(0)), Validity::Invalid);
}

#[test]
fn the_initial_value_matters_as_knossos_and_porcupine_differ() {
    // The first read saw 0: right for Knossos (init 0), wrong for porcupine (init nil).
    assert_eq!(check("5", serde_json::Value::Null), Validity::Invalid);
}
