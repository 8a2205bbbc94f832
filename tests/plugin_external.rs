//! End-to-end runs of `--lock external`: the Python Redis lock of
//! examples/python-redis-lock under faults, and plug-ins that write garbage, answer with
//! a wrong id or die, through the real `splitbrain run` binary. These need root (they
//! create network namespaces) and take seconds each.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

const CLIENTS: u64 = 3;

fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/python-redis-lock")
}

/// The example's command, with an argument it ignores that tells this test's plug-in
/// processes from those of tests running beside it.
fn example_command(tag: &Path) -> String {
    format!(
        "python3 {} {}",
        example_dir().join("lock.py").display(),
        tag.display()
    )
}

fn run_plugin(out: &Path, command: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "run",
        "--lock",
        "external",
        "--plugin-command",
        command,
        "--plugin-servers",
        "redis",
        "--clients",
        "3",
        "--nodes",
        "3",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    splitbrain(&args)
}

fn history(run: &Path) -> Vec<Value> {
    std::fs::read_to_string(run.join("history.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn count(ops: &[Value], f: &str, kind: &str) -> usize {
    ops.iter()
        .filter(|o| o["f"] == f && o["type"] == kind)
        .count()
}

#[test]
fn the_python_redis_plugin_keeps_its_lock_safe_under_kills_pauses_and_partitions() {
    let out = tempfile::tempdir().unwrap();
    let command = example_command(out.path());
    let result = run_plugin(
        out.path(),
        &command,
        &[
            "--nemesis",
            "pause,kill,partition",
            "--nemesis-interval",
            "1",
            "--time-limit",
            "10",
            "--seed",
            "11",
        ],
    );
    assert_exit(&result, 0);
    let run = latest_run(out.path());
    let r = results(&run);
    assert_eq!(r["valid"], true, "{r:#}");
    let ops = history(&run);
    assert!(count(&ops, "acquire", "ok") >= 10, "too few grants");
    assert!(
        ops.iter().any(|o| o["process"] == "nemesis"),
        "faults were injected"
    );
    assert!(
        processes_mentioning(&command).is_empty(),
        "plug-ins outlived the run"
    );
}

#[test]
fn fencing_tokens_from_the_plugin_reject_a_paused_holders_write() {
    let out = tempfile::tempdir().unwrap();
    let command = example_command(out.path());
    let result = run_plugin(
        out.path(),
        &command,
        &[
            "--nemesis",
            "pause-holder",
            "--fencing",
            "on",
            "--ttl-ms",
            "500",
            "--cs-wait-ms",
            "100",
            "--nemesis-interval",
            "1",
            "--time-limit",
            "12",
            "--seed",
            "4242",
        ],
    );
    assert_exit(&result, 0);
    let r = results(&latest_run(out.path()));
    let safety = &r["checkers"]["resource-safety"];
    assert_eq!(safety["valid"], true, "{safety:#}");
    assert!(
        safety["stats"]["stale_writes_rejected"]
            .as_u64()
            .unwrap_or(0)
            >= 1,
        "the plug-in's tokens should have fenced off the paused holder: {safety:#}"
    );
}

/// A plug-in that serves requests with the example lock but misbehaves on every fifth
/// request it gets, after carrying it out.
const FAULTY: &str = r#"
import json, os, sys
sys.path.insert(0, sys.argv[2])
import lock
mode = sys.argv[1]
redis = lock.Redis(os.environ["SPLITBRAIN_REDIS"], timeout_s=0.5)
fencing = os.environ.get("SPLITBRAIN_FENCING") == "on"
n = 0
for line in sys.stdin:
    req = json.loads(line)
    try:
        reply = lock.handle(redis, fencing, req)
    except Exception as e:
        reply = lock.refused(req["id"], str(e), False)
    n += 1
    if n % 5 == 0:
        if mode == "garbage":
            print("<<garbage>> " + json.dumps(reply), flush=True); continue
        if mode == "wrong-id":
            reply["id"] += 1000
        if mode == "die":
            os._exit(7)
    print(json.dumps(reply), flush=True)
"#;

/// How long the faulty plug-ins' workloads run, in seconds.
const FAULTY_RUN_S: u64 = 6;

/// Runs the faulty plug-in in `mode` without a nemesis and returns the history's ops
/// that ended `info` because of the plug-in, checking the run stayed clean and safe.
fn faulty_run(mode: &str) -> (Vec<Value>, Vec<Value>) {
    let scripts = tempfile::tempdir().unwrap();
    let script = scripts.path().join("faulty.py");
    std::fs::write(&script, FAULTY).unwrap();
    let command = format!(
        "python3 {} {mode} {}",
        script.display(),
        example_dir().display()
    );
    let out = tempfile::tempdir().unwrap();
    let result = run_plugin(
        out.path(),
        &command,
        &[
            "--nemesis",
            "none",
            "--time-limit",
            &FAULTY_RUN_S.to_string(),
            "--seed",
            "3",
        ],
    );
    assert_exit(&result, 0);
    let run = latest_run(out.path());
    let r = results(&run);
    assert_eq!(
        r["valid"], true,
        "misbehaviour is info, never a violation: {r:#}"
    );
    let ops = history(&run);
    let blamed: Vec<Value> = ops
        .iter()
        .filter(|o| o["type"] == "info")
        .filter(|o| o["error"].as_str().is_some_and(|e| e.contains(&command)))
        .cloned()
        .collect();
    assert!(!blamed.is_empty(), "no op blamed the plug-in");
    assert!(
        processes_mentioning(&script.display().to_string()).is_empty(),
        "plug-ins outlived the run"
    );
    (blamed, ops)
}

/// Every slot that lost a process to the plug-in was served again by a restarted
/// plug-in: each blame made while the workload had time left (two seconds before it
/// stopped; ops in flight then may complete well after, on a loaded machine) is
/// followed, in the same slot, by an op the plug-in answered (`ok` or a definite
/// `fail`). Grants themselves may stay rare: the faulty plug-in carries out the request
/// it answers with garbage, so ghosts of retired processes hold the lock for a TTL.
fn assert_slots_recovered(blamed: &[Value], ops: &[Value]) {
    let time = |o: &Value| o["time_ns"].as_u64().unwrap_or(0);
    let stopped_ns = FAULTY_RUN_S * 1_000_000_000;
    let with_time_left: Vec<&Value> = blamed
        .iter()
        .filter(|b| time(b) + 2_000_000_000 < stopped_ns)
        .collect();
    assert!(
        !with_time_left.is_empty(),
        "no blame early enough to see a recovery: {blamed:#?}"
    );
    for info in with_time_left {
        let process = info["process"].as_u64().unwrap();
        let answered_later = ops.iter().any(|o| {
            matches!(o["type"].as_str(), Some("ok" | "fail"))
                && o["index"].as_u64() > info["index"].as_u64()
                && o["process"]
                    .as_u64()
                    .is_some_and(|p| p != process && p % CLIENTS == process % CLIENTS)
        });
        assert!(
            answered_later,
            "slot {} was never served again after the plug-in misbehaved: {info:#}",
            process % CLIENTS
        );
    }
}

#[test]
fn a_plugin_that_writes_garbage_is_blamed_and_restarted() {
    let (blamed, ops) = faulty_run("garbage");
    let error = blamed[0]["error"].as_str().unwrap();
    assert!(error.contains("wrote garbage"), "{error}");
    assert!(
        error.contains("<<garbage>>"),
        "what it wrote is quoted: {error}"
    );
    assert_slots_recovered(&blamed, &ops);
}

#[test]
fn a_plugin_that_answers_with_a_wrong_id_is_blamed_and_restarted() {
    let (blamed, ops) = faulty_run("wrong-id");
    let error = blamed[0]["error"].as_str().unwrap();
    assert!(error.contains("wrong id: expected="), "{error}");
    assert_slots_recovered(&blamed, &ops);
}

#[test]
fn a_plugin_that_dies_is_blamed_with_its_exit_status_and_restarted() {
    let (blamed, ops) = faulty_run("die");
    let error = blamed[0]["error"].as_str().unwrap();
    assert!(error.contains("exited mid-request"), "{error}");
    assert!(error.contains("exit status: 7"), "{error}");
    assert_slots_recovered(&blamed, &ops);
}

#[test]
fn lock_external_without_a_plugin_command_is_a_bad_argument_with_a_hint() {
    let out = tempfile::tempdir().unwrap();
    let result = splitbrain(&[
        "run",
        "--lock",
        "external",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert_exit(&result, 254);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(stderr.contains("--plugin-command"), "{stderr}");
}

/// The optimistic workload on the example plug-in's `read` and `cas` (a Lua
/// compare-and-set in its Redis), with `extra` plug-in arguments.
fn optimistic_plugin_run(out: &Path, plugin_args: &str, seed: &str) -> std::process::Output {
    let command = format!("{} {plugin_args}", example_command(out));
    run_plugin(
        out,
        &command,
        &[
            "--workload",
            "optimistic",
            "--nemesis",
            "none",
            "--time-limit",
            "6",
            "--seed",
            seed,
        ],
    )
}

#[test]
fn a_plugins_read_and_cas_are_the_optimistic_workloads_store_and_linearizable() {
    let out = tempfile::tempdir().unwrap();
    let result = optimistic_plugin_run(out.path(), "", "1");
    assert_exit(&result, 0);
    let run = latest_run(out.path());
    let r = results(&run);
    assert_eq!(r["checkers"]["linearizability"]["valid"], true, "{r:#}");
    let ops = history(&run);
    assert!(count(&ops, "cas", "ok") >= 20, "too few swaps");
    assert!(count(&ops, "read", "ok") >= 20, "too few reads");
}

#[test]
fn a_plugins_cas_that_skips_its_comparison_is_caught_as_not_linearizable() {
    let out = tempfile::tempdir().unwrap();
    let result = optimistic_plugin_run(out.path(), "--unsafe-cas", "2");
    assert_exit(&result, 1);
    let r = results(&latest_run(out.path()));
    let lin = &r["checkers"]["linearizability"];
    assert_eq!(lin["valid"], false, "{lin:#}");
}

#[test]
fn a_plugin_without_read_and_cas_tests_nothing_and_says_so() {
    let out = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/plugins/single_client_lock.py");
    let command = format!("python3 {}", script.display());
    let result = run_plugin(
        out.path(),
        &command,
        &[
            "--workload",
            "optimistic",
            "--nemesis",
            "none",
            "--time-limit",
            "3",
        ],
    );
    assert_exit(&result, 2);
    let ops = history(&latest_run(out.path()));
    assert!(
        ops.iter().any(|o| o["f"] == "read"
            && o["type"] == "fail"
            && o["error"]
                .as_str()
                .is_some_and(|e| e.contains("unsupported: lock=external op=read"))),
        "the refusals name the missing op"
    );
}
