//! `splitbrain gen-history` and `splitbrain check` on generated histories, as a user runs
//! them: the verdicts, the stale read named, the memory limit honoured and said, and bad
//! options refused with exit 254.

mod common;

use common::{output_text, splitbrain};
use serde_json::json;
use std::path::Path;

fn gen_history(dir: &Path, name: &str, extra: &[&str]) -> String {
    let path = dir.join(name);
    let path_text = path.to_str().unwrap().to_owned();
    let mut args = vec!["gen-history", "--out", &path_text];
    args.extend_from_slice(extra);
    let out = splitbrain(&args);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    path_text
}

#[test]
fn a_generated_history_and_its_stale_twin_get_their_verdicts() {
    let dir = tempfile::tempdir().unwrap();
    let spec = [
        "--model",
        "cas-register",
        "--ops",
        "2000",
        "--clients",
        "20",
        "--info-rate",
        "0.2",
    ];
    let ok = gen_history(dir.path(), "ok.jsonl", &spec);
    let mut bad_spec = spec.to_vec();
    bad_spec.extend(["--violation-at", "0.5"]);
    let bad_path = dir.path().join("bad.jsonl");
    let bad = bad_path.to_str().unwrap();
    let mut args = vec!["gen-history", "--out", bad];
    args.extend(bad_spec);
    let out = splitbrain(&args);
    let said = output_text(&out);
    let index = said
        .split("index=")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .expect("gen-history names the stale read")
        .to_owned();

    let out = splitbrain(&["check", &ok, "--model", "cas-register"]);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    assert!(
        output_text(&out).contains("without_search=1"),
        "{}",
        output_text(&out)
    );
    let junit = dir.path().join("junit.xml");
    let junit_arg = junit.to_str().unwrap();
    let out = splitbrain(&[
        "check",
        bad,
        "--model",
        "cas-register",
        "--junit",
        junit_arg,
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
    let xml = common::valid_junit(dir.path());
    assert!(xml.contains("<failure message=\"not linearizable"), "{xml}");
    assert!(
        output_text(&out).contains(&format!("cannot linearize: index={index} ")),
        "the stale read {index} is not the op named:\n{}",
        output_text(&out)
    );
}

/// One key, twenty appends of 20 KB that may or may not have happened, and a read no
/// order of them explains: every subset the search tries is a new state of up to 400 KB,
/// far more than the cache's own figures count.
fn appends_that_fill_memory(path: &Path) {
    let mut lines = Vec::new();
    let mut index = 0;
    let mut push = |process: u64, kind: &str, f: &str, value: serde_json::Value| {
        lines.push(
            json!({"index": index, "time_ns": index * 10, "process": process,
            "type": kind, "f": f, "value": value})
            .to_string(),
        );
        index += 1;
    };
    for p in 0..20u64 {
        let chunk = format!("{p:02}").repeat(10_000);
        push(p, "invoke", "append", json!(["k", chunk]));
    }
    push(20, "invoke", "get", json!(["k", null]));
    push(
        20,
        "ok",
        "get",
        json!(["k", "nothing appended reads like this"]),
    );
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

#[test]
fn a_check_under_a_memory_limit_stays_near_it_and_says_it_dropped_its_cache() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("appends.jsonl");
    appends_that_fill_memory(&path);
    let file = path.to_str().unwrap();
    let out = splitbrain(&[
        "check",
        file,
        "--model",
        "kv",
        "--memory-limit",
        "64MiB",
        "--time-limit",
        "4",
        "--json",
    ]);
    assert!(
        matches!(out.status.code(), Some(1 | 2)),
        "{}",
        output_text(&out)
    );
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let stats = &result["result"]["stats"];
    assert_eq!(stats["memory_limited"], json!(true), "{stats}");
    let peak = stats["memory_peak_bytes"]
        .as_u64()
        .expect("the peak is reported");
    // The limit is looked at every 64 steps, and one step here allocates up to 400 KB.
    assert!(
        peak < 100 << 20,
        "peak {} MiB under a 64 MiB limit",
        peak >> 20
    );
}

#[test]
fn bad_generator_and_memory_options_exit_254_naming_the_option() {
    let out = splitbrain(&["gen-history", "--info-rate", "2"]);
    assert_eq!(out.status.code(), Some(254), "{}", output_text(&out));
    assert!(
        output_text(&out).contains("info rate=2"),
        "{}",
        output_text(&out)
    );
    let dir = tempfile::tempdir().unwrap();
    let file = gen_history(dir.path(), "h.jsonl", &["--ops", "10"]);
    for bad in ["lots", "0", "12XB"] {
        let out = splitbrain(&[
            "check",
            &file,
            "--model",
            "cas-register",
            "--memory-limit",
            bad,
        ]);
        assert_eq!(out.status.code(), Some(254), "{bad}: {}", output_text(&out));
        assert!(
            output_text(&out).contains("--memory-limit"),
            "{}",
            output_text(&out)
        );
    }
    let out = splitbrain(&["check", &file, "--model", "cas-register", "--threads", "0"]);
    assert_eq!(out.status.code(), Some(254), "{}", output_text(&out));
}

/// A cas-register history in Jepsen's EDN, starting at 0 as Knossos's tests do, whose
/// first read returned nil after a write of 1.
const NIL_READ_EDN: &str = "[{:type :invoke, :f :write, :value 1, :process 0, :time 10}
 {:type :ok, :f :write, :value 1, :process 0, :time 20}
 {:type :invoke, :f :read, :value nil, :process 1, :time 30}
 {:type :ok, :f :read, :value nil, :process 1, :time 40}
 {:type :invoke, :f :cas, :value [1 2], :process 0, :time 50}
 {:type :ok, :f :cas, :value [1 2], :process 0, :time 60}
 {:type :invoke, :f :read, :value nil, :process 1, :time 70}
 {:type :ok, :f :read, :value 2, :process 1, :time 80}]
";

#[test]
fn jepsen_histories_read_nil_as_any_value_unless_told_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nil-read.edn");
    std::fs::write(&path, NIL_READ_EDN).unwrap();
    let file = path.to_str().unwrap();
    let knossos = splitbrain(&["check", file, "--model", "cas-register", "--init", "0"]);
    assert_eq!(knossos.status.code(), Some(0), "{}", output_text(&knossos));
    assert!(
        output_text(&knossos).contains("1 reads of nil were accepted"),
        "{}",
        output_text(&knossos)
    );
    let porcupine = splitbrain(&[
        "check",
        file,
        "--model",
        "cas-register",
        "--init",
        "0",
        "--nil-reads",
        "value",
    ]);
    assert_eq!(
        porcupine.status.code(),
        Some(1),
        "{}",
        output_text(&porcupine)
    );
}

/// Knossos's multi-register shape: transactions of [f key value] micro-ops.
fn multi_register_edn(last_read_of_y: u64) -> String {
    format!(
        "[{{:type :invoke, :f :txn, :value [[:write :x 1] [:write :y 2]], :process 0, :time 10}}
 {{:type :invoke, :f :txn, :value [[:read :x nil] [:read :y nil]], :process 1, :time 15}}
 {{:type :ok, :f :txn, :value [[:write :x 1] [:write :y 2]], :process 0, :time 20}}
 {{:type :ok, :f :txn, :value [[:read :x 0] [:read :y 0]], :process 1, :time 25}}
 {{:type :invoke, :f :txn, :value [[:read :x nil] [:read :y nil]], :process 1, :time 30}}
 {{:type :ok, :f :txn, :value [[:read :x nil] [:read :y {last_read_of_y}]], :process 1, :time 40}}]
"
    )
}

#[test]
fn multi_register_transactions_are_checked_against_every_key_at_once() {
    let dir = tempfile::tempdir().unwrap();
    for (y, expected) in [(2, 0), (0, 1)] {
        let path = dir.path().join(format!("multi-{y}.edn"));
        std::fs::write(&path, multi_register_edn(y)).unwrap();
        let out = splitbrain(&[
            "check",
            path.to_str().unwrap(),
            "--model",
            "multi-register",
            "--init",
            r#"{"x": 0, "y": 0}"#,
        ]);
        assert_eq!(
            out.status.code(),
            Some(expected),
            "y={y}: {}",
            output_text(&out)
        );
    }
}
