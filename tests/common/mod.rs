//! Helpers shared by the end-to-end tests: run the real `splitbrain` binary and read
//! what it wrote.

#![allow(dead_code)]

pub mod kube_node;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Fails the test, saying why, unless it runs as root: the test builds network
/// namespaces, and a test that cannot do its work must not pass. CI runs as root.
pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test builds network namespaces and needs root (CI runs as root)"
    );
}

/// The binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_splitbrain"))
}

/// Runs `splitbrain ARGS` and returns its output.
pub fn splitbrain(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .output()
        .expect("splitbrain binary runs")
}

/// The single run directory a test's --out holds (through the `latest` link).
pub fn latest_run(out: &Path) -> PathBuf {
    std::fs::canonicalize(out.join("latest")).expect("results/latest points at the run")
}

/// Parsed results.json of a run directory.
pub fn results(run: &Path) -> Value {
    let text = std::fs::read_to_string(run.join("results.json")).expect("results.json exists");
    serde_json::from_str(&text).expect("results.json is JSON")
}

/// Panics with the binary's output when `code` is not what it exited with.
pub fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "exit status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Network namespaces whose name carries `run_id`.
pub fn namespaces_of(run_id: &str) -> Vec<String> {
    let out = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.contains(run_id))
        .map(String::from)
        .collect()
}

/// Processes whose command line mentions `needle`.
pub fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = vec![];
    for entry in std::fs::read_dir("/proc")
        .expect("/proc is readable")
        .flatten()
    {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|s| s.chars().all(|c| c.is_ascii_digit()))
        else {
            continue;
        };
        if let Ok(raw) = std::fs::read(entry.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&raw).replace('\0', " ");
            if cmd.contains(needle) {
                found.push(format!("{pid}: {cmd}"));
            }
        }
    }
    found
}

/// The resource-safety checker's result in a run's results.json.
fn resource_safety(results: &Value) -> &Value {
    &results["checkers"]["resource-safety"]
}

/// Asserts what a broken lock leaves at the resource: resource-safety invalid, with at
/// least one lost update.
pub fn assert_lost_updates(results: &Value) {
    let safety = resource_safety(results);
    assert_eq!(safety["valid"], false, "{safety:#}");
    assert!(
        safety["stats"]["lost_updates"].as_u64().unwrap_or(0) >= 1,
        "expected a lost update: {safety:#}"
    );
}

/// Asserts that fencing turned the stale holder away: resource-safety valid, no stale
/// write accepted and at least one rejected.
pub fn assert_stale_writes_fenced_out(results: &Value) {
    let safety = resource_safety(results);
    assert_eq!(safety["valid"], true, "{safety:#}");
    assert_eq!(safety["stats"]["stale_writes_accepted"], 0, "{safety:#}");
    assert!(
        safety["stats"]["stale_writes_rejected"]
            .as_u64()
            .unwrap_or(0)
            >= 1,
        "the stale holder's write should have been rejected: {safety:#}"
    );
}

/// The first seed whose plan (as the CLI builds it for these flags) has a fault whose
/// clock the test needs.
pub fn seed_where(
    mix: &str,
    time_limit_s: u64,
    interval_ms: u64,
    ttl_ms: u64,
    bump_max_ms: u64,
    drift_max: f64,
    wanted: impl Fn(&Value) -> bool,
) -> u64 {
    let names: Vec<String> = (1..=3).map(|i| format!("n{i}")).collect();
    (1..500)
        .find(|&seed| {
            let mut cfg = splitbrain_nemesis::faults::ScheduleConfig::new(
                seed,
                vec![],
                std::time::Duration::from_secs(time_limit_s),
                std::time::Duration::from_millis(ttl_ms),
            );
            cfg.faults = mix.parse::<splitbrain_nemesis::faults::FaultMix>().unwrap();
            cfg.interval = std::time::Duration::from_millis(interval_ms);
            cfg.clock_bump_max = std::time::Duration::from_millis(bump_max_ms);
            cfg.clock_drift_max = drift_max;
            let faults =
                serde_json::to_value(splitbrain_nemesis::faults::plan(&cfg, &names)).unwrap();
            faults.as_array().unwrap().iter().any(&wanted)
        })
        .expect("a seed with the fault wanted")
}

/// A LockRun is a run of one lock as the plug-in tests run it: 3 clients on 3 nodes,
/// 15 s of workload, TTL 2 s, 100 ms critical sections, a fault every 0.5 s, seed 4242.
/// Fields override each setting.
pub struct LockRun<'a> {
    pub lock: &'a str,
    pub nemesis: &'a str,
    pub fencing: &'a str,
    pub seed: &'a str,
    pub time_limit: &'a str,
    pub ttl_ms: &'a str,
    pub nemesis_interval: &'a str,
    pub op_timeout_ms: &'a str,
}

impl<'a> LockRun<'a> {
    pub fn new(lock: &'a str, nemesis: &'a str, fencing: &'a str) -> LockRun<'a> {
        LockRun {
            lock,
            nemesis,
            fencing,
            seed: "4242",
            time_limit: "15",
            ttl_ms: "2000",
            nemesis_interval: "0.5",
            op_timeout_ms: "5000",
        }
    }

    /// Runs it with its results under `out`.
    pub fn run(&self, out: &Path) -> Output {
        splitbrain(&[
            "run",
            "--lock",
            self.lock,
            "--nemesis",
            self.nemesis,
            "--fencing",
            self.fencing,
            "--seed",
            self.seed,
            "--clients",
            "3",
            "--nodes",
            "3",
            "--time-limit",
            self.time_limit,
            "--ttl-ms",
            self.ttl_ms,
            "--cs-wait-ms",
            "100",
            "--nemesis-interval",
            self.nemesis_interval,
            "--op-timeout-ms",
            self.op_timeout_ms,
            "--out",
            out.to_str().unwrap(),
        ])
    }
}

/// Fails, saying how to build it, unless the plug-in launcher `program` is built.
pub fn require_plugin(program: &str) {
    let plugin = splitbrain_runner::build_cache::plugins_bin_dir().join(program);
    assert!(
        plugin.is_file(),
        "{} is missing: run scripts/install-deps",
        plugin.display()
    );
}

/// Every record of a run's history.jsonl.
pub fn history_ops(run: &Path) -> Vec<Value> {
    std::fs::read_to_string(run.join("history.jsonl"))
        .expect("history.jsonl exists")
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("each line is JSON"))
        .collect()
}

/// The granted acquires of a run.
pub fn grants(run: &Path) -> Vec<Value> {
    history_ops(run)
        .into_iter()
        .filter(|op| op["f"] == "acquire" && op["type"] == "ok")
        .collect()
}

/// The lock clients' notices of a run.
pub fn notices(run: &Path) -> Vec<Value> {
    history_ops(run)
        .into_iter()
        .filter(|op| op["process"] == "notice")
        .collect()
}

/// Checks a run's junit.xml against `reports/schema/junit.xsd` with xmllint (from
/// Debian's libxml2-utils, which install-deps installs) and returns its text.
pub fn valid_junit(run: &Path) -> String {
    let junit = run.join("junit.xml");
    assert!(
        junit.is_file(),
        "the run wrote no junit.xml: {}",
        junit.display()
    );
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("reports/schema/junit.xsd");
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(&schema)
        .arg(&junit)
        .output()
        .expect("xmllint runs (install libxml2-utils: scripts/install-deps does)");
    assert!(
        out.status.success(),
        "junit.xml does not validate against {}:\n{}",
        schema.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(junit).unwrap()
}

/// The canary's seed: a holder pause past its TTL in the first seconds.
pub const CANARY_SEED: &str = "4242";

/// The canary run: redis, the holder paused past its TTL, fencing as given.
pub fn canary_args<'a>(out: &'a str, fencing: &'a str) -> Vec<&'a str> {
    vec![
        "run",
        "--lock",
        "redis",
        "--workload",
        "counter",
        "--nemesis",
        "pause-holder",
        "--fencing",
        fencing,
        "--seed",
        CANARY_SEED,
        "--clients",
        "3",
        "--nodes",
        "3",
        "--time-limit",
        "12",
        "--ttl-ms",
        "500",
        "--cs-wait-ms",
        "100",
        "--nemesis-interval",
        "1",
        "--out",
        out,
    ]
}

/// A command's stdout and stderr together, for assertion messages.
pub fn output_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
