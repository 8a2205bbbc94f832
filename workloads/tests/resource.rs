//! The resource server over real TCP on loopback, and its log.

mod support;

use splitbrain_history::{ResourceAction, ResourceEntry, jsonl};
use splitbrain_workloads::Fencing;
use splitbrain_workloads::resource::{ResourceClient, ResourceError};
use std::time::Duration;
use support::start_resource;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

fn client(addr: &str) -> ResourceClient {
    ResourceClient::new(addr, Duration::from_millis(500))
}

fn read_log(path: &std::path::Path) -> Vec<ResourceEntry> {
    jsonl::read(path).unwrap().strict().unwrap()
}

#[tokio::test]
async fn fenced_mode_rejects_a_stale_write_and_logs_the_rejection() {
    let dir = tempfile::tempdir().unwrap();
    let res = start_resource(dir.path(), Fencing::On).await;
    let (mut old, mut new) = (client(&res.addr), client(&res.addr));
    old.enter(1, Some(5)).await.unwrap();
    assert_eq!(old.read(1, Some(5)).await.unwrap(), 0);
    new.enter(2, Some(6)).await.unwrap();
    new.write(2, Some(6), 1).await.unwrap();
    // The paused holder wakes up and writes with its old token.
    let err = old.write(1, Some(5), 1).await.unwrap_err();
    assert!(matches!(err, ResourceError::Refused { .. }), "{err}");
    assert_eq!(err.to_string(), "stale token rejected: token=5 max=6");
    // The same token as the highest accepted is fine (a holder writing twice).
    new.write(2, Some(6), 2).await.unwrap();
    // A fenced resource refuses a write with no token at all.
    assert!(new.write(2, None, 3).await.is_err());
    assert_eq!(new.read(2, Some(6)).await.unwrap(), 2);

    let log = read_log(&res.log);
    let rejected = log
        .iter()
        .find(|e| e.token == Some(5) && e.op == ResourceAction::Write);
    let rejected = rejected.expect("the stale write is logged");
    assert_eq!(rejected.accepted, Some(false));
    assert_eq!(rejected.max_token, Some(6));
    assert_eq!(rejected.value, serde_json::json!(1));
    let accepted: Vec<_> = log.iter().filter(|e| e.accepted == Some(true)).collect();
    assert_eq!(accepted.len(), 2);
    assert!(accepted.iter().all(|e| e.max_token == Some(6)));
    assert_eq!(
        log[0].max_token, None,
        "nothing accepted before the first access"
    );
}

#[tokio::test]
async fn a_newer_holders_enter_fences_out_an_older_holders_write_before_any_newer_write() {
    // The read-modify-write race that write-only fencing misses: A reads, B enters and
    // reads, A writes. A's write must be rejected, or B's write would then lose it.
    let dir = tempfile::tempdir().unwrap();
    let res = start_resource(dir.path(), Fencing::On).await;
    let (mut a, mut b) = (client(&res.addr), client(&res.addr));
    a.enter(1, Some(1)).await.unwrap();
    assert_eq!(a.read(1, Some(1)).await.unwrap(), 0);
    b.enter(2, Some(2)).await.unwrap();
    assert_eq!(b.read(2, Some(2)).await.unwrap(), 0);
    let err = a.write(1, Some(1), 1).await.unwrap_err();
    assert_eq!(err.to_string(), "stale token rejected: token=1 max=2");
    b.write(2, Some(2), 1).await.unwrap();
    assert_eq!(b.read(2, Some(2)).await.unwrap(), 1);
}

#[tokio::test]
async fn unfenced_mode_accepts_the_same_stale_write() {
    let dir = tempfile::tempdir().unwrap();
    let res = start_resource(dir.path(), Fencing::Off).await;
    let (mut old, mut new) = (client(&res.addr), client(&res.addr));
    new.write(2, Some(6), 1).await.unwrap();
    old.write(1, Some(5), 1).await.unwrap();
    assert_eq!(old.read(1, None).await.unwrap(), 1);
    let log = read_log(&res.log);
    let writes: Vec<_> = log
        .iter()
        .filter(|e| e.op == ResourceAction::Write)
        .collect();
    assert_eq!(writes.len(), 2);
    assert!(
        writes
            .iter()
            .all(|e| e.accepted == Some(true) && e.max_token.is_none())
    );
}

#[tokio::test]
async fn the_log_is_in_the_servers_order_and_readable_while_it_runs() {
    let dir = tempfile::tempdir().unwrap();
    let res = start_resource(dir.path(), Fencing::Off).await;
    let mut tasks = Vec::new();
    for p in 0..4u64 {
        let addr = res.addr.clone();
        tasks.push(tokio::spawn(async move {
            let mut c = client(&addr);
            for _ in 0..25 {
                c.enter(p, None).await.unwrap();
                let v = c.read(p, None).await.unwrap();
                c.write(p, None, v + 1).await.unwrap();
                c.exit(p, None).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // The server is still running: every access is already in the file.
    let log = read_log(&res.log);
    assert_eq!(log.len(), 4 * 25 * 4);
    let seqs: Vec<u64> = log.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (0..log.len() as u64).collect::<Vec<_>>());
    // Each read returns the value of the previous accepted write in log order: the
    // log is the order in which the server applied the accesses.
    let mut counter = 0;
    for e in &log {
        match e.op {
            ResourceAction::Read => {
                assert_eq!(e.value, serde_json::json!(counter), "seq={}", e.seq)
            }
            ResourceAction::Write => counter = e.value.as_i64().unwrap(),
            _ => {}
        }
    }
}

#[tokio::test]
async fn a_bad_request_gets_a_clear_refusal_and_the_connection_stays_usable() {
    let dir = tempfile::tempdir().unwrap();
    let res = start_resource(dir.path(), Fencing::Off).await;
    let stream = tokio::net::TcpStream::connect(&res.addr).await.unwrap();
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    write.write_all(b"{\"op\":\"dance\"}\n").await.unwrap();
    let reply = lines.next_line().await.unwrap().unwrap();
    assert!(
        reply.contains("\"ok\":false") && reply.contains("bad request"),
        "{reply}"
    );
    write
        .write_all(b"{\"op\":\"read\",\"process\":1}\n")
        .await
        .unwrap();
    let reply = lines.next_line().await.unwrap().unwrap();
    assert_eq!(reply, "{\"ok\":true,\"value\":0}");
}

#[tokio::test]
async fn an_unreachable_resource_is_a_definite_failure() {
    let port = support::free_port();
    let mut c = client(&format!("127.0.0.1:{port}"));
    let err = c.read(1, None).await.unwrap_err();
    assert!(matches!(err, ResourceError::Connect { .. }), "{err}");
    assert_eq!(err.certainty(), splitbrain_workloads::Certainty::Definite);
}
