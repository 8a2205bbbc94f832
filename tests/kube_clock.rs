//! Clock faults against the `k8s-lease` lock, end to end with the real binary.
//!
//! client-go's leader election judges a lease expired when the record has not changed
//! for `leaseDuration` by the contender's own monotonic clock. A clock that runs fast
//! (clock-drift) makes a contender count a live lease out early and take it over; a
//! clock that jumps (clock-bump) moves the wall clock only, which that judgement never
//! reads. Seed 1017 with these settings drifts n3 at x6.57 for 3.9 s and then n1 at x7.34
//! (the schedule is a function of the seed), while holders keep the lease for 700 ms of a
//! 2000 ms lease: a contender at x6.57 counts those 2000 ms out in about 300 ms.

mod common;

use common::*;

/// A counter run on `k8s-lease` with a lease of 2 s and critical sections of 0.7 s.
fn run(out: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "run",
        "--lock",
        "k8s-lease",
        "--workload",
        "counter",
        "--ttl-ms",
        "2000",
        "--cs-wait-ms",
        "700",
        "--nemesis-interval",
        "1",
        "--time-limit",
        "10",
        "--clients",
        "3",
        "--nodes",
        "3",
        "--seed",
        "1017",
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
