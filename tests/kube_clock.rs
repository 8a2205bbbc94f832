//! Clock faults against the `k8s-lease` lock, end to end with the real binary.
//!
//! client-go's leader election judges a lease expired when the record has not changed
//! for `leaseDuration` by the contender's own monotonic clock. A clock that runs fast
//! (clock-drift) makes a contender count a live lease out early and take it over; a
//! clock that jumps (clock-bump) moves the wall clock only, which that judgement never
//! reads. Seed 1017 with these settings drifts n3 at x6.57 for 3.9 s and then n1 at x7.34
//! (the schedule is a function of the seed), while holders keep the lease for 700 ms of a
//! 2000 ms lease: a contender at x6.57 counts those 2000 ms out in about 300 ms.
//!
//! The same faults on `k8s-clientgo` test client-go's own claim ("tolerant to clock
//! skew, not to clock skew rate") against the real library: the nemesis writes the
//! clock into the Go plug-in's vDSO, where the Go runtime reads its wall and monotonic
//! clocks.

mod common;

use common::*;

/// A counter run on `k8s-lease` with a lease of 2 s and critical sections of 0.7 s.
fn run(out: &std::path::Path, extra: &[&str]) -> std::process::Output {
    run_lock("k8s-lease", out, extra)
}

/// The same run on another Kubernetes lock.
fn run_lock(lock: &str, out: &std::path::Path, extra: &[&str]) -> std::process::Output {
    run_seeded(lock, "1017", "700", out, extra)
}

/// The same run with another seed and critical sections of `cs_ms`.
fn run_seeded(
    lock: &str,
    seed: &str,
    cs_ms: &str,
    out: &std::path::Path,
    extra: &[&str],
) -> std::process::Output {
    let mut args = vec![
        "run",
        "--lock",
        lock,
        "--workload",
        "counter",
        "--ttl-ms",
        "2000",
        "--cs-wait-ms",
        cs_ms,
        "--nemesis-interval",
        "1",
        "--time-limit",
        "10",
        "--clients",
        "3",
        "--nodes",
        "3",
        "--seed",
        seed,
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    splitbrain(&args)
}

#[test]
fn a_contender_whose_clock_runs_fast_takes_over_a_live_lease_and_updates_are_lost() {
    let out = tempfile::tempdir().unwrap();
    let result = run(
        out.path(),
        &[
            "--fencing",
            "off",
            "--nemesis",
            "clock-drift-minority",
            "--clock-drift-max",
            "8",
        ],
    );
    assert_exit(&result, 1);
    let r = results(&latest_run(out.path()));
    let safety = &r["checkers"]["resource-safety"];
    assert_eq!(safety["valid"], false, "{safety:#}");
    let summary = safety["summary"].as_str().unwrap();
    assert!(!summary.contains(" 0 lost updates"), "{summary}");
    assert_eq!(r["checkers"]["exclusive-holding"]["valid"], false, "{r:#}");
    let history = std::fs::read_to_string(latest_run(out.path()).join("history.jsonl")).unwrap();
    assert!(
        history.contains(r#""f":"drift-clock""#) && history.contains(r#""rate":6.57"#),
        "the fast clock was applied"
    );
}

#[test]
fn the_same_takeovers_are_rejected_at_the_resource_with_fencing_on() {
    let out = tempfile::tempdir().unwrap();
    let result = run(
        out.path(),
        &[
            "--fencing",
            "on",
            "--nemesis",
            "clock-drift-minority",
            "--clock-drift-max",
            "8",
        ],
    );
    assert_exit(&result, 0);
    let r = results(&latest_run(out.path()));
    let safety = &r["checkers"]["resource-safety"];
    assert_eq!(safety["valid"], true, "{safety:#}");
    let summary = safety["summary"].as_str().unwrap();
    assert!(!summary.contains(" 0 stale writes rejected"), "{summary}");
}

#[test]
fn clock_jumps_of_tens_of_seconds_leave_the_lease_exclusive() {
    let out = tempfile::tempdir().unwrap();
    let result = run(
        out.path(),
        &[
            "--fencing",
            "off",
            "--nemesis",
            "clock-bump-minority",
            "--clock-bump-max-ms",
            "60000",
        ],
    );
    assert_exit(&result, 0);
    let r = results(&latest_run(out.path()));
    assert_eq!(r["checkers"]["resource-safety"]["valid"], true, "{r:#}");
    assert_eq!(r["checkers"]["exclusive-holding"]["valid"], true, "{r:#}");
    let history = std::fs::read_to_string(latest_run(out.path()).join("history.jsonl")).unwrap();
    assert!(
        history.contains(r#""f":"bump-clock""#) && history.contains(r#""offset_ms":-47694"#),
        "the jump was applied"
    );
}

/// client-go renews every RetryPeriod in its own loop, so a contender whose clock runs
/// fast still sees the record change at every poll and never counts the lease out. A
/// leader whose clock runs slow is another matter: its Go timers fire late in true time,
/// its renewals stop coming within the lease duration, and a contender takes over while
/// it still leads (here in a critical section longer than the lease, which client-go's
/// renewals normally cover): "not tolerant to clock skew rate", shown on the real
/// library.
#[test]
fn a_client_go_leader_whose_clock_runs_slow_renews_too_late_and_loses_exclusion() {
    let slow = |f: &serde_json::Value| {
        f["clock"]["rate"].as_f64().is_some_and(|r| r <= 0.12)
            && f["duration_ms"].as_u64().is_some_and(|d| d >= 3500)
    };
    let seed = seed_where("clock-drift-holder", 10, 1000, 2000, 5000, 60.0, slow).to_string();
    let out = tempfile::tempdir().unwrap();
    // Critical sections of 3 s outlast the 2 s lease: the leader must renew to keep it.
    let result = run_seeded(
        "k8s-clientgo",
        &seed,
        "3000",
        out.path(),
        &[
            "--fencing",
            "off",
            "--nemesis",
            "clock-drift-holder",
            "--clock-drift-max",
            "60",
            "--op-timeout-ms",
            "15000",
        ],
    );
    assert_exit(&result, 1);
    let run = latest_run(out.path());
    let r = results(&run);
    assert_eq!(r["checkers"]["exclusive-holding"]["valid"], false, "{r:#}");
}

#[test]
fn a_contender_whose_clock_runs_fast_does_not_break_client_go() {
    let out = tempfile::tempdir().unwrap();
    let result = run_lock(
        "k8s-clientgo",
        out.path(),
        &[
            "--fencing",
            "off",
            "--nemesis",
            "clock-drift-minority",
            "--clock-drift-max",
            "30",
        ],
    );
    assert_exit(&result, 0);
    let run = latest_run(out.path());
    let history = std::fs::read_to_string(run.join("history.jsonl")).unwrap();
    assert!(
        history.contains(r#""rate":20.57"#),
        "n3 ran at x20.57 (seed 1017)"
    );
}

#[test]
fn client_go_itself_tolerates_clock_jumps_of_tens_of_seconds() {
    let out = tempfile::tempdir().unwrap();
    let result = run_lock(
        "k8s-clientgo",
        out.path(),
        &[
            "--fencing",
            "off",
            "--nemesis",
            "clock-bump-minority",
            "--clock-bump-max-ms",
            "60000",
        ],
    );
    assert_exit(&result, 0);
    let r = results(&latest_run(out.path()));
    assert_eq!(r["checkers"]["resource-safety"]["valid"], true, "{r:#}");
    assert_eq!(r["checkers"]["exclusive-holding"]["valid"], true, "{r:#}");
}
