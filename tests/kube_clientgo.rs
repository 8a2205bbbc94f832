//! client-go's leader election (the `k8s-clientgo` plug-in) against a real
//! kube-apiserver: what its release does when the leader's view of the Lease is stale.
//!
//! client-go v0.34.4's `release()` (ReleaseOnCancel) first re-reads the Lease, which
//! refreshes the resourceVersion its write will carry, then decides whether it leads
//! from its own *observed* record, which it has not refreshed. A leader that missed a
//! takeover (it was paused, or cut off, past its lease) therefore clears the new
//! leader's Lease when it is cancelled. The end-to-end pause runs show the consequence
//! (a third client granted a live lease); this test shows the cause, without a race.

mod kube_support;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// One copy of the plug-in, spoken to over its stdin and stdout.
struct Plugin {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Plugin {
    fn start(api: &kube_support::Api) -> Plugin {
        let path =
            splitbrain_runner::build_cache::plugins_bin_dir().join("client-go-leaderelection");
        assert!(
            path.is_file(),
            "{} is missing: run scripts/install-deps",
            path.display()
        );
        let mut child = Command::new(path)
            .env("SPLITBRAIN_KUBECONFIG", &api.agent_kubeconfig)
            .env("SPLITBRAIN_KUBE_NAMESPACE", &api.namespace)
            .env("SPLITBRAIN_NODE", "n1")
            .env("SPLITBRAIN_OP_TIMEOUT_MS", "5000")
            .env("SPLITBRAIN_FENCING", "on")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Plugin {
            child,
            stdin,
            stdout,
        }
    }

    fn ask(&mut self, request: serde_json::Value) -> serde_json::Value {
        writeln!(self.stdin, "{request}").unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    }
}

impl Drop for Plugin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn a_leader_that_missed_a_takeover_clears_the_new_leaders_lease_on_release() {
    let api = kube_support::start().await;
    let mut a = Plugin::start(&api);
    // A 30 s lease: client-go's loop looks at the Lease only every 4 s (2/15 of it),
    // so nothing refreshes A's view during the few milliseconds below.
    let granted = a.ask(serde_json::json!({
        "id": 1, "op": "acquire", "key": "stale", "ttl_ms": 30_000, "holder": "a-1"
    }));
    assert_eq!(granted["ok"], true, "{granted}");
    // B takes the Lease over, as it would once A's lease had run out while A was paused.
    let leases: kube::Api<Lease> = kube::Api::namespaced(api.agent_client(), &api.namespace);
    let mut lease = leases.get("stale").await.unwrap();
    let spec = lease.spec.as_mut().unwrap();
    spec.holder_identity = Some("b-1".into());
    spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
    spec.renew_time = Some(MicroTime(k8s_openapi::jiff::Timestamp::now()));
    let taken = leases
        .replace("stale", &Default::default(), &lease)
        .await
        .expect("B's takeover is written");
    assert_eq!(
        taken.spec.as_ref().unwrap().holder_identity.as_deref(),
        Some("b-1")
    );
    // A, still believing it leads, is cancelled.
    let released = a.ask(serde_json::json!({
        "id": 2, "op": "release", "key": "stale", "holder": "a-1", "token": granted["token"]
    }));
    let after = leases.get("stale").await.unwrap();
    let holder = after.spec.as_ref().and_then(|s| s.holder_identity.clone());
    assert_ne!(
        holder.as_deref(),
        Some("b-1"),
        "B still holds: client-go's release left another holder's Lease alone ({released})"
    );
    assert!(
        holder.as_deref().unwrap_or("").is_empty(),
        "A's release wrote an empty holder over B's lease: {after:?}"
    );
}
