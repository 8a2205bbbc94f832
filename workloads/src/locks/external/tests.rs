//! Tests of the plug-in protocol against small Python plug-ins, well-behaved and not.

use super::*;
use crate::lock::Certainty;

/// An in-memory lock speaking the protocol; MODE makes it misbehave on the second
/// acquire it sees (the first one always works, so a test sees a restart).
const FAKE: &str = r#"
import json, sys
mode = sys.argv[1]
owner, token, seen = None, 0, 0
for line in sys.stdin:
    req = json.loads(line)
    rid, op = req["id"], req["op"]
    if op == "acquire":
        seen += 1
        if seen == 2 and mode == "garbage":
            print("this is not json", flush=True); continue
        if seen == 2 and mode == "wrong-id":
            print(json.dumps({"id": rid + 100, "ok": True}), flush=True); continue
        if seen == 2 and mode == "die":
            sys.exit(3)
        if seen == 2 and mode == "endless":
            sys.stdout.write("x" * 3000000); sys.stdout.flush(); continue
        if seen == 2 and mode == "indefinite":
            print(json.dumps({"id": rid, "ok": False, "error": "timeout"}), flush=True); continue
        if seen == 2 and mode == "readonly":
            print(json.dumps({"id": rid, "ok": False, "definite": True, "error": "readonly"}), flush=True); continue
        if seen == 2 and mode == "hang":
            import time; time.sleep(30)
        if owner is None:
            owner, token = req["holder"], token + 1
            out = {"id": rid, "ok": True, "token": token}
        else:
            out = {"id": rid, "ok": False, "definite": True, "error": "held"}
    elif op == "ready" and mode == "slow-ready":
        import time; time.sleep(0.5)
        out = {"id": rid, "ok": True}
    elif op == "release":
        if owner == req["holder"]:
            owner = None
            out = {"id": rid, "ok": True}
        else:
            out = {"id": rid, "ok": False, "definite": True, "error": "not-holder"}
    else:
        out = {"id": rid, "ok": False, "definite": True, "error": "unsupported"}
    print(json.dumps(out), flush=True)
    if op == "release" and mode == "quit-after-release":
        sys.exit(0)
"#;

fn fake_lock(dir: &tempfile::TempDir, mode: &str) -> ExternalLock {
    let script = dir.path().join("fake.py");
    std::fs::write(&script, FAKE).unwrap();
    ExternalLock::new(ExternalLockConfig {
        command: format!("python3 fake.py {mode}"),
        dir: Some(dir.path().to_path_buf()),
        env: vec![],
        op_timeout: Duration::from_millis(1500),
        holder_prefix: "n1-test".into(),
    })
    .unwrap()
}

const TTL: Duration = Duration::from_secs(1);

#[tokio::test]
async fn a_well_behaved_plugin_grants_refuses_and_releases() {
    let dir = tempfile::tempdir().unwrap();
    let lock = fake_lock(&dir, "normal");
    let guard = lock.acquire("k", TTL).await.unwrap();
    assert_eq!(guard.token, Some(1));
    assert_eq!(guard.holder_id, "n1-test-1");
    let refused = lock.acquire("k", TTL).await.unwrap_err();
    assert!(
        matches!(refused, LockError::Held { ref key } if key == "k"),
        "{refused}"
    );
    let renew = lock.renew(&guard, TTL).await.unwrap_err();
    assert!(matches!(renew, LockError::Unsupported { .. }), "{renew}");
    lock.release(&guard).await.unwrap();
    let again = lock.release(&guard).await.unwrap_err();
    assert!(matches!(again, LockError::NotHolder { .. }), "{again}");
    assert_eq!(lock.starts(), 1, "a well-behaved plug-in is started once");
}

#[tokio::test]
async fn a_plugin_without_ready_is_ready_and_one_with_it_is_waited_for() {
    let dir = tempfile::tempdir().unwrap();
    let plain = fake_lock(&dir, "normal");
    plain.ready(Duration::from_secs(5)).await.unwrap();
    assert!(plain.acquire("k", TTL).await.is_ok());
    assert_eq!(
        plain.starts(),
        1,
        "answering unsupported is no misbehaviour"
    );

    let slow = fake_lock(&dir, "slow-ready");
    let asked = std::time::Instant::now();
    slow.ready(Duration::from_secs(5)).await.unwrap();
    assert!(
        asked.elapsed() >= Duration::from_millis(500),
        "waited for the answer"
    );

    let impatient = fake_lock(&dir, "slow-ready");
    let err = impatient
        .ready(Duration::from_millis(100))
        .await
        .unwrap_err();
    assert!(matches!(err, LockError::Timeout { .. }), "{err}");
}

/// Takes the lock once (works), then makes the second acquire hit the misbehaviour and
/// returns its error; then checks a fresh plug-in serves the third.
async fn misbehaviour(mode: &str) -> LockError {
    let dir = tempfile::tempdir().unwrap();
    let lock = fake_lock(&dir, mode);
    let first = lock.acquire("k", TTL).await.unwrap();
    lock.release(&first).await.unwrap();
    let err = lock.acquire("k", TTL).await.unwrap_err();
    assert_eq!(err.certainty(), Certainty::Indeterminate, "{err}");
    let third = lock.acquire("k", TTL).await;
    assert!(
        third.is_ok(),
        "a restarted plug-in serves the next op: {third:?}"
    );
    assert_eq!(lock.starts(), 2);
    err
}

#[tokio::test]
async fn garbage_from_the_plugin_is_indeterminate_and_quoted() {
    let err = misbehaviour("garbage").await.to_string();
    assert!(err.contains("plugin=\"python3 fake.py garbage\""), "{err}");
    assert!(err.contains("wrote garbage"), "{err}");
    assert!(err.contains("this is not json"), "{err}");
}

#[tokio::test]
async fn a_reply_with_another_id_is_reported_with_both_ids() {
    let err = misbehaviour("wrong-id").await.to_string();
    assert!(err.contains("wrong id"), "{err}");
    assert!(err.contains("expected=3 got=103"), "{err}");
}

#[tokio::test]
async fn a_plugin_that_dies_mid_request_is_reported_with_its_status() {
    let err = misbehaviour("die").await.to_string();
    assert!(err.contains("exited mid-request"), "{err}");
    assert!(err.contains("exit status: 3"), "{err}");
}

#[tokio::test]
async fn an_endless_line_is_cut_off_and_reported_as_garbage() {
    let err = misbehaviour("endless").await.to_string();
    assert!(err.contains("a line longer than 1048576 bytes"), "{err}");
    assert!(
        err.len() < 1000,
        "the error quotes only the start: {} bytes",
        err.len()
    );
}

#[tokio::test]
async fn a_plugin_that_hangs_times_out_and_is_replaced() {
    let err = misbehaviour("hang").await;
    assert!(matches!(err, LockError::Timeout { .. }), "{err}");
}

/// Takes and releases the lock, then returns the second acquire's error, checking the
/// plug-in was kept running.
async fn refusal(mode: &str) -> LockError {
    let dir = tempfile::tempdir().unwrap();
    let lock = fake_lock(&dir, mode);
    let first = lock.acquire("k", TTL).await.unwrap();
    lock.release(&first).await.unwrap();
    let err = lock.acquire("k", TTL).await.unwrap_err();
    assert!(lock.acquire("k", TTL).await.is_ok());
    assert_eq!(lock.starts(), 1, "a well-formed refusal keeps the plug-in");
    err
}

#[tokio::test]
async fn a_refusal_without_definite_is_indeterminate() {
    let err = refusal("indefinite").await;
    assert_eq!(err.certainty(), Certainty::Indeterminate);
    assert!(
        err.to_string().contains("plugin reported: timeout"),
        "{err}"
    );
}

#[tokio::test]
async fn an_unknown_definite_refusal_is_a_rejection_with_the_plugins_text() {
    let err = refusal("readonly").await;
    assert!(matches!(err, LockError::Rejected { .. }), "{err}");
    assert!(
        err.to_string().contains("plugin refused: readonly"),
        "{err}"
    );
}

#[tokio::test]
async fn a_plugin_that_exited_between_requests_is_restarted_before_the_next_one() {
    let dir = tempfile::tempdir().unwrap();
    let lock = fake_lock(&dir, "quit-after-release");
    let first = lock.acquire("k", TTL).await.unwrap();
    lock.release(&first).await.unwrap();
    // Let it exit, so the agent sees it gone before sending.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = lock.acquire("k", TTL).await;
    assert!(
        second.is_ok(),
        "the next op is served by a new plug-in: {second:?}"
    );
    assert_eq!(lock.starts(), 2);
}

#[tokio::test]
async fn a_missing_program_is_reported_by_its_command() {
    let lock = ExternalLock::new(ExternalLockConfig {
        command: "/nonexistent/plugin".into(),
        dir: None,
        env: vec![],
        op_timeout: Duration::from_millis(500),
        holder_prefix: "n1".into(),
    })
    .unwrap();
    let err = lock.acquire("k", TTL).await.unwrap_err();
    // sh starts, then exec fails: the plug-in exits before answering.
    assert!(err.to_string().contains("/nonexistent/plugin"), "{err}");
}

#[test]
fn an_empty_command_is_refused_with_a_hint() {
    let err = ExternalLock::new(ExternalLockConfig {
        command: "  ".into(),
        dir: None,
        env: vec![],
        op_timeout: Duration::from_millis(500),
        holder_prefix: "n1".into(),
    })
    .err()
    .unwrap();
    assert!(err.to_string().contains("--plugin-command"), "{err}");
}
