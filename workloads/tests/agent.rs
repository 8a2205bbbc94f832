//! The agent end to end: a controller-side AgentClient over a real Unix socket, the
//! agent as a task, a real redis-server and the resource over loopback TCP.

mod support;

use nix::sys::signal::Signal;
use serde_json::json;
use splitbrain_history::{ResourceAction, ResourceEntry, jsonl};
use splitbrain_workloads::Fencing;
use splitbrain_workloads::agent::{AgentClient, AgentReply, AgentRequest, Command, Outcome};
use std::time::Duration;
use support::{RedisServer, agent_args, start_agent, start_resource};

const CALL: Duration = Duration::from_secs(3);

async fn call(c: &mut AgentClient, process: u64, command: Command) -> AgentReply {
    c.call(AgentRequest::new(process, command), CALL).await
}

fn acquire(ttl_ms: u64) -> Command {
    Command::Acquire {
        key: "lock".into(),
        ttl_ms,
    }
}

#[tokio::test]
async fn acquire_read_write_release_round_trips_through_lock_and_resource() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start();
    let res = start_resource(dir.path(), Fencing::On).await;
    let socket = dir.path().join("agent-0.sock");
    let _agent = start_agent(&agent_args(
        &socket,
        "n1",
        &redis.addr(),
        &res.addr,
        Fencing::On,
    ))
    .await;
    let mut c = AgentClient::connect(&socket).await.unwrap();

    let r = call(&mut c, 0, acquire(5000)).await;
    assert_eq!(
        (r.outcome, r.value.clone(), r.token),
        (Outcome::Ok, json!("lock"), Some(1)),
        "{r:?}"
    );
    let r = call(&mut c, 0, Command::Read).await;
    assert_eq!(
        (r.outcome, r.value.clone()),
        (Outcome::Ok, json!(0)),
        "{r:?}"
    );
    let r = call(&mut c, 0, Command::Write { value: 1 }).await;
    assert_eq!(
        (r.outcome, r.value.clone()),
        (Outcome::Ok, json!(1)),
        "{r:?}"
    );
    let r = call(&mut c, 0, Command::Release).await;
    assert_eq!((r.outcome, r.token), (Outcome::Ok, Some(1)), "{r:?}");
    // Released for real: the next acquire is granted with the next token.
    let r = call(&mut c, 0, acquire(5000)).await;
    assert_eq!((r.outcome, r.token), (Outcome::Ok, Some(2)), "{r:?}");

    let log: Vec<ResourceEntry> = jsonl::read(&res.log).unwrap().strict().unwrap();
    let ops: Vec<_> = log.iter().map(|e| (e.op, e.process, e.token)).collect();
    use ResourceAction::*;
    assert_eq!(
        ops,
        vec![
            (Enter, 0, Some(1)),
            (Read, 0, Some(1)),
            (Write, 0, Some(1)),
            (Exit, 0, Some(1)),
            (Enter, 0, Some(2)),
        ]
    );
}

#[tokio::test]
async fn a_retired_processs_guard_is_forgotten_not_released() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start();
    let res = start_resource(dir.path(), Fencing::Off).await;
    let socket = dir.path().join("agent-0.sock");
    let _agent = start_agent(&agent_args(
        &socket,
        "n1",
        &redis.addr(),
        &res.addr,
        Fencing::Off,
    ))
    .await;
    let mut c = AgentClient::connect(&socket).await.unwrap();

    assert_eq!(call(&mut c, 0, acquire(400)).await.outcome, Outcome::Ok);
    // Process 0 is retired; process 3 continues the slot and holds nothing.
    let r = call(&mut c, 3, Command::Read).await;
    assert_eq!(r.outcome, Outcome::Fail, "{r:?}");
    assert!(
        r.error.as_deref().unwrap().starts_with("not the holder"),
        "{r:?}"
    );
    let r = call(&mut c, 3, Command::Release).await;
    assert_eq!(r.outcome, Outcome::Fail, "{r:?}");
    // The old guard was not released: the lock stays taken until its TTL runs out.
    let r = call(&mut c, 3, acquire(400)).await;
    assert_eq!(r.outcome, Outcome::Fail, "{r:?}");
    assert!(
        r.error.as_deref().unwrap().starts_with("lock held"),
        "{r:?}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(call(&mut c, 3, acquire(400)).await.outcome, Outcome::Ok);
}

#[tokio::test]
async fn a_paused_holders_late_write_is_rejected_by_the_fenced_resource() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start();
    let res = start_resource(dir.path(), Fencing::On).await;
    let (s0, s1) = (dir.path().join("a0.sock"), dir.path().join("a1.sock"));
    let _a0 = start_agent(&agent_args(
        &s0,
        "n1",
        &redis.addr(),
        &res.addr,
        Fencing::On,
    ))
    .await;
    let _a1 = start_agent(&agent_args(
        &s1,
        "n2",
        &redis.addr(),
        &res.addr,
        Fencing::On,
    ))
    .await;
    let mut c0 = AgentClient::connect(&s0).await.unwrap();
    let mut c1 = AgentClient::connect(&s1).await.unwrap();

    assert_eq!(call(&mut c0, 0, acquire(200)).await.token, Some(1));
    assert_eq!(call(&mut c0, 0, Command::Read).await.value, json!(0));
    // Process 0 "pauses" past its TTL; process 1 takes over and writes.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(call(&mut c1, 1, acquire(5000)).await.token, Some(2));
    assert_eq!(
        call(&mut c1, 1, Command::Write { value: 1 }).await.outcome,
        Outcome::Ok
    );
    let r = call(&mut c0, 0, Command::Write { value: 1 }).await;
    assert_eq!(r.outcome, Outcome::Fail, "{r:?}");
    assert_eq!(
        r.error.as_deref(),
        Some("stale token rejected: token=1 max=2")
    );
    let r = call(&mut c0, 0, Command::Release).await;
    assert_eq!(r.outcome, Outcome::Fail, "{r:?}");
    assert!(r.error.unwrap().starts_with("not the holder"));
}

#[tokio::test]
async fn a_killed_agent_yields_info_and_a_restarted_one_serves_a_new_connection() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start();
    let res = start_resource(dir.path(), Fencing::Off).await;
    let socket = dir.path().join("agent-0.sock");
    let args = agent_args(&socket, "n1", &redis.addr(), &res.addr, Fencing::Off);
    let agent = start_agent(&args).await;
    let mut c = AgentClient::connect(&socket).await.unwrap();
    assert_eq!(call(&mut c, 0, acquire(300)).await.outcome, Outcome::Ok);

    // Kill the agent while a request is in flight (redis is stopped, so it hangs).
    redis.signal(Signal::SIGSTOP);
    let in_flight = tokio::spawn(async move {
        let r = call(&mut c, 0, Command::Release).await;
        (r, c)
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    agent.kill().await;
    let (r, mut c) = in_flight.await.unwrap();
    redis.signal(Signal::SIGCONT);
    assert_eq!(r.outcome, Outcome::Info, "{r:?}");
    assert!(
        r.error
            .as_deref()
            .unwrap()
            .contains("agent connection lost"),
        "{r:?}"
    );
    assert!(c.is_broken());
    let r = call(&mut c, 0, Command::Read).await;
    assert_eq!(r.outcome, Outcome::Info, "{r:?}");

    // The socket file is still there, as after a SIGKILL; the restart replaces it.
    assert!(socket.exists());
    assert!(AgentClient::connect(&socket).await.is_err());
    let _agent = start_agent(&args).await;
    let mut c = AgentClient::connect(&socket).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = call(&mut c, 3, acquire(300)).await;
    assert_eq!(r.outcome, Outcome::Ok, "{r:?}");
}

#[tokio::test]
async fn a_controller_timeout_is_info_and_the_late_reply_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start();
    let res = start_resource(dir.path(), Fencing::Off).await;
    let socket = dir.path().join("agent-0.sock");
    let _agent = start_agent(&agent_args(
        &socket,
        "n1",
        &redis.addr(),
        &res.addr,
        Fencing::Off,
    ))
    .await;
    let mut c = AgentClient::connect(&socket).await.unwrap();
    assert_eq!(call(&mut c, 0, acquire(5000)).await.outcome, Outcome::Ok);

    redis.signal(Signal::SIGSTOP);
    let r = c
        .call(
            AgentRequest::new(0, Command::Release),
            Duration::from_millis(100),
        )
        .await;
    assert_eq!(r.outcome, Outcome::Info, "{r:?}");
    assert!(
        r.error.as_deref().unwrap().starts_with("agent timeout"),
        "{r:?}"
    );
    assert!(!c.is_broken());
    redis.signal(Signal::SIGCONT);
    // The agent answers the release late (its own 500 ms timeout, also info); the
    // client must skip that reply and return the one for this request.
    let r = call(&mut c, 3, Command::Read).await;
    assert_eq!(r.outcome, Outcome::Fail, "{r:?}");
    assert!(r.error.unwrap().starts_with("not the holder"));
}

#[tokio::test]
async fn a_bad_request_line_is_a_definite_failure_with_its_id() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start();
    let res = start_resource(dir.path(), Fencing::Off).await;
    let socket = dir.path().join("agent-0.sock");
    let _agent = start_agent(&agent_args(
        &socket,
        "n1",
        &redis.addr(),
        &res.addr,
        Fencing::Off,
    ))
    .await;
    let stream = tokio::net::UnixStream::connect(&socket).await.unwrap();
    let (read, mut write) = stream.into_split();
    write
        .write_all(b"{\"id\":9,\"process\":0,\"op\":\"fly\"}\n")
        .await
        .unwrap();
    let line = BufReader::new(read)
        .lines()
        .next_line()
        .await
        .unwrap()
        .unwrap();
    let reply: AgentReply = serde_json::from_str(&line).unwrap();
    assert_eq!((reply.id, reply.outcome), (9, Outcome::Fail));
    assert!(reply.error.unwrap().contains("bad request"));
}

#[tokio::test]
async fn a_grant_whose_resource_enter_fails_is_info_and_the_lock_stays_taken() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start();
    let nowhere = format!("127.0.0.1:{}", support::free_port());
    let socket = dir.path().join("agent-0.sock");
    let _agent = start_agent(&agent_args(
        &socket,
        "n1",
        &redis.addr(),
        &nowhere,
        Fencing::On,
    ))
    .await;
    let mut c = AgentClient::connect(&socket).await.unwrap();
    let r = call(&mut c, 0, acquire(5000)).await;
    assert_eq!(r.outcome, Outcome::Info, "{r:?}");
    assert!(
        r.error
            .unwrap()
            .starts_with("acquired but resource enter failed")
    );
    let r = call(&mut c, 1, acquire(5000)).await;
    assert_eq!(r.outcome, Outcome::Fail, "{r:?}");
    assert!(r.error.unwrap().starts_with("lock held"));
}

#[tokio::test]
async fn a_release_whose_resource_exit_fails_is_info_but_still_frees_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start();
    let res = start_resource(dir.path(), Fencing::Off).await;
    let socket = dir.path().join("agent-0.sock");
    let _agent = start_agent(&agent_args(
        &socket,
        "n1",
        &redis.addr(),
        &res.addr,
        Fencing::Off,
    ))
    .await;
    let mut c = AgentClient::connect(&socket).await.unwrap();
    assert_eq!(call(&mut c, 0, acquire(5000)).await.outcome, Outcome::Ok);
    res.task.kill().await;
    let r = call(&mut c, 0, Command::Release).await;
    assert_eq!(r.outcome, Outcome::Info, "{r:?}");
    assert!(
        r.error
            .unwrap()
            .starts_with("released but resource exit failed")
    );
    // The lock itself was released: the next process is granted it (its enter fails,
    // the resource being gone, which makes that acquire info too, not "lock held").
    let r = call(&mut c, 1, acquire(5000)).await;
    assert_eq!(r.outcome, Outcome::Info, "{r:?}");
    assert!(r.error.unwrap().starts_with("acquired but"));
}
