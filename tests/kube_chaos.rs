//! End-to-end runs of the Kubernetes locks on the local backend: a 3-member etcd and a
//! real kube-apiserver on every node, real agents, real signals. These need root (CI
//! is root).

mod common;

use common::*;

/// Two pauses of the holder in 10 s (3.0 s from 0.5 s and from 5.0 s), so a
/// `pause-holder` verdict does not hang on a single pause.
const SEED: &str = "12";

fn run_args<'a>(out: &'a str, lock: &'a str, nemesis: &'a str, fencing: &'a str) -> Vec<&'a str> {
    vec![
        "run",
        "--lock",
        lock,
        "--nemesis",
        nemesis,
        "--fencing",
        fencing,
        "--seed",
        SEED,
        "--clients",
        "3",
        "--nodes",
        "3",
        "--time-limit",
        "10",
        "--ttl-ms",
        "1000",
        "--cs-wait-ms",
        "100",
        "--nemesis-interval",
        "1",
        "--out",
        out,
    ]
}

fn granted(run: &std::path::Path) -> usize {
    let text = std::fs::read_to_string(run.join("history.jsonl")).unwrap();
    text.lines()
        .filter(|l| l.contains("\"f\":\"acquire\"") && l.contains("\"type\":\"ok\""))
        .count()
}

#[test]
fn a_k8s_lease_run_without_faults_is_valid() {
    let out = tempfile::tempdir().unwrap();
    let result = splitbrain(&run_args(
        out.path().to_str().unwrap(),
        "k8s-lease",
        "none",
        "on",
    ));
    assert_exit(&result, 0);
    let run = latest_run(out.path());
    assert_eq!(results(&run)["valid"], true);
    assert!(
        granted(&run) >= 20,
        "the lock was granted often: {}",
        granted(&run)
    );
    let apiserver_log = std::fs::read_to_string(run.join("logs/apiserver-n1.log")).unwrap();
    assert!(
        apiserver_log.contains("Version: v1.34.4"),
        "kube-apiserver ran: {apiserver_log}"
    );
    let rbac = std::fs::read_to_string(run.join("logs/kubectl-apply-rbac.log")).unwrap();
    assert!(
        rbac.contains("rolebinding.rbac.authorization.k8s.io/splitbrain-agent-locks created"),
        "kubectl applied the RBAC: {rbac}"
    );
    assert!(
        !run.join("kubeconfig").exists(),
        "the admin kubeconfig goes with the run"
    );
    assert!(
        run.join("logs/etcd-n3.log").is_file(),
        "etcd ran on three nodes"
    );
}

#[test]
fn a_k8s_configmap_run_without_faults_is_valid() {
    let out = tempfile::tempdir().unwrap();
    let args = run_args(out.path().to_str().unwrap(), "k8s-configmap", "none", "on");
    assert_exit(&splitbrain(&args), 0);
    let run = latest_run(out.path());
    assert!(
        granted(&run) >= 20,
        "the lock was granted often: {}",
        granted(&run)
    );
}

#[test]
fn pausing_the_k8s_lease_holder_past_the_lease_duration_breaks_it_without_fencing() {
    let out = tempfile::tempdir().unwrap();
    let args = run_args(
        out.path().to_str().unwrap(),
        "k8s-lease",
        "pause-holder",
        "off",
    );
    assert_exit(&splitbrain(&args), 1);
    let r = results(&latest_run(out.path()));
    assert_lost_updates(&r);
}

#[test]
fn lease_transitions_as_fencing_tokens_reject_the_paused_k8s_lease_holders_write() {
    let out = tempfile::tempdir().unwrap();
    let args = run_args(
        out.path().to_str().unwrap(),
        "k8s-lease",
        "pause-holder",
        "on",
    );
    assert_exit(&splitbrain(&args), 0);
    let r = results(&latest_run(out.path()));
    assert_stale_writes_fenced_out(&r);
}

#[test]
fn the_third_party_kube_lease_manager_run_without_faults_is_valid() {
    let out = tempfile::tempdir().unwrap();
    let mut args = run_args(
        out.path().to_str().unwrap(),
        "k8s-lease-manager",
        "none",
        "on",
    );
    // The crate's shortest lease is 2 s.
    let ttl = args.iter().position(|a| *a == "--ttl-ms").unwrap() + 1;
    args[ttl] = "2000";
    assert_exit(&splitbrain(&args), 0);
    let run = latest_run(out.path());
    assert!(
        granted(&run) >= 20,
        "the lock was granted often: {}",
        granted(&run)
    );
}

/// Kills of the etcd leader's servers (its etcd member and the API server beside it)
/// and partitions cutting that node off: recorded, and with fencing on survived.
#[test]
fn killing_and_isolating_the_etcd_leaders_api_server_is_recorded_and_survived() {
    let out = tempfile::tempdir().unwrap();
    let args = run_args(
        out.path().to_str().unwrap(),
        "k8s-lease",
        "kill-leader,isolate-leader",
        "on",
    );
    assert_exit(&splitbrain(&args), 0);
    let run = latest_run(out.path());
    assert_eq!(results(&run)["valid"], true);
    let history = std::fs::read_to_string(run.join("history.jsonl")).unwrap();
    let nemesis: Vec<&str> = history
        .lines()
        .filter(|l| l.contains("\"process\":\"nemesis\""))
        .collect();
    assert!(
        nemesis
            .iter()
            .any(|l| l.contains("kill") && l.contains("apiserver-n")),
        "an API server was killed: {nemesis:#?}"
    );
    assert!(
        nemesis
            .iter()
            .any(|l| l.contains("start-partition") && l.contains("\"shape\":\"leader\"")),
        "the leader's node was cut off: {nemesis:#?}"
    );
    assert!(
        granted(&run) >= 5,
        "the lock kept working: {}",
        granted(&run)
    );
}

/// client-go's own leader election, in the Go plug-in, on the same control plane.
#[test]
fn client_gos_leader_election_run_without_faults_is_valid() {
    let out = tempfile::tempdir().unwrap();
    let args = run_args(out.path().to_str().unwrap(), "k8s-clientgo", "none", "on");
    assert_exit(&splitbrain(&args), 0);
    let run = latest_run(out.path());
    assert_eq!(results(&run)["valid"], true);
    assert!(
        granted(&run) >= 10,
        "client-go led often: {}",
        granted(&run)
    );
}

#[test]
fn pausing_the_client_go_leader_past_the_lease_duration_breaks_it_without_fencing() {
    let out = tempfile::tempdir().unwrap();
    let args = run_args(
        out.path().to_str().unwrap(),
        "k8s-clientgo",
        "pause-holder",
        "off",
    );
    assert_exit(&splitbrain(&args), 1);
    assert_lost_updates(&results(&latest_run(out.path())));
}

/// With fencing the resource stays safe, but client-go itself grants a live lease twice:
/// when the paused leader's renewal fails (or its context is cancelled), `release()`
/// (ReleaseOnCancel) re-reads the Lease, which refreshes the resourceVersion it writes
/// with, yet decides it is still the leader from its stale observed record, and so
/// clears the new leader's Lease; a third client then acquires while the new leader
/// still leads. The mutex checker sees the double grant; `k8s-lease` does not do this.
#[test]
fn a_paused_client_go_leader_releasing_clears_the_new_leaders_lease_and_fencing_saves_the_data() {
    let out = tempfile::tempdir().unwrap();
    let args = run_args(
        out.path().to_str().unwrap(),
        "k8s-clientgo",
        "pause-holder",
        "on",
    );
    let result = splitbrain(&args);
    assert_exit(&result, 1);
    let run = latest_run(out.path());
    let r = results(&run);
    assert_stale_writes_fenced_out(&r);
    let mutex = &r["checkers"]["mutex"];
    assert_eq!(mutex["valid"], false, "{mutex:#}");
    let stdout = String::from_utf8_lossy(&result.stdout);
    assert!(
        stdout.contains("granted a live lease twice"),
        "the double grant is named: {stdout}"
    );
    let logs: String = (0..3)
        .map(|i| std::fs::read_to_string(run.join(format!("logs/agent-{i}.log"))).unwrap())
        .collect();
    assert!(
        logs.contains("failed to renew lease splitbrain/splitbrain-lock"),
        "client-go's renewal of the paused leader failed, and release() ran after it"
    );
}
