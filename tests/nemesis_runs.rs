//! Whole runs under the new faults: a seed replays the same schedule, clock faults do
//! to the redis lock what theory says, and a SIGKILLed controller's clocks, proxies and
//! rules are gone after `splitbrain cleanup`. Real namespaces and redis: needs root.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The nemesis ops of a run, without their times and indexes.
fn nemesis_ops(run: &Path) -> Vec<Value> {
    std::fs::read_to_string(run.join("history.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|op| op["process"] == "nemesis")
        .map(|mut op| {
            let o = op.as_object_mut().unwrap();
            o.remove("time_ns");
            o.remove("index");
            op
        })
        .collect()
}

fn run_json(run: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(run.join("run.json")).unwrap()).unwrap()
}

#[test]
fn the_same_seed_gives_the_same_schedule_and_the_same_nemesis_ops_twice() {
    require_root();
    let mix = "pause:2,kill-minority,partition-random-halves,partition-oneway,clock-bump-all,clock-drift,loss";
    let once = || {
        let out = tempfile::tempdir().unwrap();
        let o = out.path().to_str().unwrap();
        let result = splitbrain(&[
            "run",
            "--nemesis",
            mix,
            "--seed",
            "99",
            "--time-limit",
            "9",
            "--ttl-ms",
            "300",
            "--nemesis-interval",
            "0.3",
            "--clients",
            "3",
            "--nodes",
            "3",
            "--out",
            o,
        ]);
        assert!(matches!(result.status.code(), Some(0..=2)), "{result:?}");
        let stderr = String::from_utf8_lossy(&result.stderr).to_string();
        let run = latest_run(out.path());
        (
            run_json(&run)["schedule"].clone(),
            nemesis_ops(&run),
            stderr,
        )
    };
    let (schedule_a, ops_a, printed_a) = once();
    let (schedule_b, ops_b, _) = once();
    assert_eq!(schedule_a, schedule_b);
    assert!(schedule_a.as_array().unwrap().len() >= 4, "{schedule_a:#}");
    assert!(
        printed_a.contains("nemesis schedule ("),
        "the plan is printed first: {printed_a}"
    );
    assert!(!ops_a.is_empty());
    assert_eq!(
        ops_a, ops_b,
        "the recorded nemesis ops differ between two runs of one seed"
    );
}

/// A run of the redis lock with the fencing checker off and these extra arguments.
fn redis_run(out: &Path, extra: &[&str]) -> (Value, std::path::PathBuf) {
    let mut args = vec![
        "run",
        "--lock",
        "redis",
        "--fencing",
        "off",
        "--clients",
        "3",
        "--nodes",
        "3",
        "--nemesis-interval",
        "0.5",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let result = splitbrain(&args);
    assert!(matches!(result.status.code(), Some(0..=1)), "{result:?}");
    let run = latest_run(out);
    (results(&run), run)
}

#[test]
fn clock_faults_on_redis_lock_clients_change_nothing_because_the_server_keeps_the_ttl() {
    require_root();
    let out = tempfile::tempdir().unwrap();
    let (r, run) = redis_run(
        out.path(),
        &[
            "--nemesis",
            "clock-bump-holder,clock-drift-holder,clock-strobe-holder",
            "--time-limit",
            "10",
            "--seed",
            "5",
        ],
    );
    let clock_ops: Vec<Value> = nemesis_ops(&run)
        .into_iter()
        .filter(|op| op["type"] == "info" && op["value"]["reached"].is_object())
        .collect();
    let reached = clock_ops
        .iter()
        .filter(|op| op["value"]["reached"].to_string().contains("clock-file"))
        .count();
    assert!(reached >= 3, "clock faults reached agents: {reached}");
    assert!(
        clock_ops
            .iter()
            .all(|op| !op["value"]["reached"].to_string().contains("redis")),
        "the server's clock was left alone: {clock_ops:#?}"
    );
    assert_eq!(r["valid"], true, "{r:#}");
}

/// Redis judges a key's TTL by its own clock: when that clock runs fast (written into
/// redis-server's vDSO), the holder's key expires early and a second client is granted
/// the lock while the first still holds it.
#[test]
fn a_fast_clock_on_the_redis_server_expires_the_holders_key_early() {
    require_root();
    let fast = |f: &Value| f["clock"]["rate"].as_f64().is_some_and(|r| r >= 4.0);
    let seed = seed_where("clock-drift-all", 10, 500, 1000, 5000, 8.0, fast).to_string();
    let out = tempfile::tempdir().unwrap();
    let (r, run) = redis_run(
        out.path(),
        &[
            "--nemesis",
            "clock-drift-all",
            "--clock-drift-max",
            "8",
            "--time-limit",
            "10",
            // Holds of 300 ms outlast a 1 s key on a clock running 4 times fast or more
            // (at most 250 ms of real time): with the default 50 ms critical section an
            // early expiry overlapped a hold only now and then.
            "--cs-wait-ms",
            "300",
            "--seed",
            &seed,
        ],
    );
    let on_server = nemesis_ops(&run)
        .into_iter()
        .filter(|op| op["type"] == "info")
        .any(|op| op["value"]["reached"]["redis-n1"] == "vdso");
    assert!(on_server, "the drift reached redis-server through its vDSO");
    assert_eq!(r["valid"], false, "{r:#}");
    assert_eq!(r["checkers"]["mutex"]["valid"], false, "{r:#}");
}

/// Writes the resource accepted from a process after another process had entered the
/// critical section behind it: a holder acting on a lease that had passed to someone
/// else (read from the resource's own log, the ground truth).
fn late_writes(run: &Path) -> usize {
    let text = std::fs::read_to_string(run.join("resource.jsonl")).unwrap();
    let mut entered: std::collections::BTreeMap<u64, u64> = Default::default();
    let mut last_enter = 0;
    let mut late = 0;
    for e in text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
    {
        let (seq, process) = (e["seq"].as_u64().unwrap(), e["process"].as_u64().unwrap());
        match e["op"].as_str().unwrap() {
            "enter" => {
                entered.insert(process, seq);
                last_enter = seq;
            }
            "write"
                if e["accepted"] != false
                    && entered.get(&process).is_some_and(|&mine| last_enter > mine) =>
            {
                late += 1;
            }
            _ => {}
        }
    }
    late
}

fn lost_updates(r: &Value) -> u64 {
    r["checkers"]["resource-safety"]["stats"]["lost_updates"]
        .as_u64()
        .unwrap()
}

/// The lease check: agents refuse to write once their lease has run out by their own
/// clock. With a critical section twice the TTL every write comes too late, so with
/// true clocks no write is ever accepted and no update is lost.
const LEASE_CHECKED: [&str; 8] = [
    "--lease-check",
    "on",
    "--ttl-ms",
    "300",
    "--cs-wait-ms",
    "600",
    "--time-limit",
    "10",
];

#[test]
fn a_lease_check_on_true_clocks_lets_no_late_write_through() {
    require_root();
    let out = tempfile::tempdir().unwrap();
    let mut args = LEASE_CHECKED.to_vec();
    args.extend(["--nemesis", "none"]);
    let (r, run) = redis_run(out.path(), &args);
    assert_eq!(lost_updates(&r), 0, "{r:#}");
    assert_eq!(
        late_writes(&run),
        0,
        "every write after the lease is refused"
    );
}

#[test]
fn a_slow_clock_drift_defeats_the_lease_check_and_updates_are_lost() {
    require_root();
    let slow = |f: &Value| f["clock"]["rate"].as_f64().is_some_and(|r| r <= 0.4);
    let seed = seed_where("clock-drift-all", 10, 500, 300, 5000, 4.0, slow).to_string();
    let out = tempfile::tempdir().unwrap();
    let mut args = LEASE_CHECKED.to_vec();
    args.extend([
        "--nemesis",
        "clock-drift-all",
        "--clock-drift-max",
        "4",
        "--seed",
        &seed,
    ]);
    let (r, run) = redis_run(out.path(), &args);
    let rates: Vec<f64> = nemesis_ops(&run)
        .iter()
        .filter(|op| op["f"] == "drift-clock" && op["type"] == "info")
        .filter_map(|op| op["value"]["rate"].as_f64())
        .collect();
    assert!(
        rates.iter().any(|r| *r <= 0.4),
        "the planned slow drift ran: {rates:?}"
    );
    assert!(
        late_writes(&run) >= 1,
        "a slow clock lets late writes through"
    );
    assert!(lost_updates(&r) >= 1, "two slow holders both write: {r:#}");
    assert_eq!(r["valid"], false);
}

#[test]
fn a_backward_clock_bump_on_the_holder_defeats_the_lease_check_and_it_writes_late() {
    require_root();
    let back = |f: &Value| f["clock"]["offset_ms"].as_i64().is_some_and(|o| o <= -1000);
    let seed = seed_where("clock-bump-holder", 10, 500, 300, 3000, 2.0, back).to_string();
    let out = tempfile::tempdir().unwrap();
    let mut args = LEASE_CHECKED.to_vec();
    args.extend([
        "--nemesis",
        "clock-bump-holder",
        "--clock-bump-max-ms",
        "3000",
        "--seed",
        &seed,
    ]);
    let (_, run) = redis_run(out.path(), &args);
    let jumps: Vec<i64> = nemesis_ops(&run)
        .iter()
        .filter(|op| op["f"] == "bump-clock" && op["type"] == "info" && op.get("error").is_none())
        .filter_map(|op| op["value"]["offset_ms"].as_i64())
        .collect();
    assert!(
        jumps.iter().any(|j| *j <= -1000),
        "a backward jump hit a holder: {jumps:?}"
    );
    // Only the holder's clock moves: the next holder's true clock still refuses its own
    // late write, so the stale write is accepted but no update is lost.
    assert!(
        late_writes(&run) >= 1,
        "the bumped holder writes after its lease passed on"
    );
}

#[test]
fn cleanup_after_a_sigkilled_run_removes_its_clocks_proxies_and_rules() {
    require_root();
    let out = tempfile::tempdir().unwrap();
    let mut child = Command::new(bin())
        .args([
            "run",
            "--time-limit",
            "60",
            "--clients",
            "3",
            "--nodes",
            "3",
        ])
        .args([
            "--nemesis",
            "latency,clock-bump-all,loss",
            "--nemesis-interval",
            "0.2",
        ])
        .args(["--seed", "11", "--out"])
        .arg(out.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let history = || {
        std::fs::read_dir(out.path())
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.is_dir())
    };
    let ready = |run: &Path| {
        let text = std::fs::read_to_string(run.join("history.jsonl")).unwrap_or_default();
        text.contains("\"f\":\"bump-clock\"") && text.contains("\"f\":\"start-loss\"")
    };
    let run = loop {
        assert!(
            start.elapsed() < Duration::from_secs(40),
            "no clock and loss faults yet"
        );
        if let Some(run) = history().filter(|r| ready(r)) {
            break run;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let run_id = run_json(&run)["extra"]["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    let state = Path::new("/run/splitbrain/state").join(&run_id);
    let tables = |node: &str| {
        let ns = format!("sb-{run_id}-{node}");
        let out = Command::new("ip")
            .args(["netns", "exec", &ns, "nft", "list", "tables"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    assert!(
        tables("n1").contains("splitbrain-latency"),
        "the latency redirect is in place"
    );
    assert!(
        state.join("clocks").read_dir().unwrap().next().is_some(),
        "clock files exist"
    );
    child.kill().unwrap(); // SIGKILL: no handler heals anything
    child.wait().unwrap();
    assert!(
        !namespaces_of(&run_id).is_empty(),
        "a killed controller leaves its run behind"
    );

    assert_exit(&splitbrain(&["cleanup"]), 0);
    assert_eq!(
        namespaces_of(&run_id),
        Vec::<String>::new(),
        "rules die with the namespaces"
    );
    assert!(!state.exists(), "clock files are gone with the state dir");
    assert_eq!(processes_mentioning(&run_id), Vec::<String>::new());
    assert_eq!(
        processes_mentioning(state.to_str().unwrap()),
        Vec::<String>::new()
    );
}

#[test]
fn bad_nemesis_arguments_exit_254_naming_the_value_and_what_would_do() {
    require_root();
    let out = tempfile::tempdir().unwrap();
    let o = out.path().to_str().unwrap();
    for (args, needle) in [
        (vec!["--nemesis", "pause:0"], "as in pause:2"),
        (vec!["--nemesis", "pause-sideways"], "fault=pause-sideways"),
        (vec!["--clock-drift-max", "0.5"], "clock-drift-max=0.5"),
        (vec!["--loss-percent", "0"], "loss-percent=0"),
    ] {
        let mut all = vec!["run", "--time-limit", "1", "--out", o];
        all.extend(args);
        let result = splitbrain(&all);
        assert_exit(&result, 254);
        let stderr = String::from_utf8_lossy(&result.stderr);
        assert!(stderr.contains(needle), "{needle}: {stderr}");
    }
    assert!(
        std::fs::read_dir(out.path()).unwrap().next().is_none(),
        "nothing was run"
    );
}
