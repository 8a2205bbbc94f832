//! The agent's and the resource's command lines, as `splitbrain agent ...` and
//! `splitbrain resource ...` flatten them.

use clap::Parser;
use splitbrain_workloads::agent::{AgentArgs, AgentServer};
use splitbrain_workloads::locks::LockKind;
use splitbrain_workloads::resource::ResourceArgs;
use splitbrain_workloads::{Error, Fencing};

#[derive(Parser)]
struct AgentCli {
    #[command(flatten)]
    args: AgentArgs,
}

#[derive(Parser)]
struct ResourceCli {
    #[command(flatten)]
    args: ResourceArgs,
}

#[test]
fn agent_flags_parse_into_agent_args() {
    let cli = AgentCli::try_parse_from([
        "agent",
        "--socket",
        "/run/sb/agent-0.sock",
        "--node",
        "n1",
        "--lock",
        "redis",
        "--redis",
        "10.77.0.2:6379",
        "--resource",
        "10.77.0.9:7000",
        "--fencing",
        "on",
        "--op-timeout-ms",
        "750",
    ])
    .unwrap();
    let a = cli.args;
    assert_eq!(
        a.socket.as_deref(),
        Some(std::path::Path::new("/run/sb/agent-0.sock"))
    );
    assert_eq!((a.node.as_str(), a.lock), ("n1", LockKind::Redis));
    assert_eq!(a.redis.as_deref(), Some("10.77.0.2:6379"));
    assert_eq!((a.fencing, a.op_timeout_ms), (Fencing::On, 750));
}

#[test]
fn resource_flags_parse_and_fencing_defaults_to_off() {
    let cli = ResourceCli::try_parse_from([
        "resource",
        "--listen",
        "10.77.0.9:7000",
        "--log",
        "/tmp/run/resource.jsonl",
    ])
    .unwrap();
    assert_eq!(cli.args.listen, "10.77.0.9:7000");
    assert_eq!(cli.args.fencing, Fencing::Off);
    let err = ResourceCli::try_parse_from([
        "resource",
        "--listen",
        "x",
        "--log",
        "y",
        "--fencing",
        "maybe",
    ]);
    assert!(err.is_err());
}

#[tokio::test]
async fn an_agent_for_redis_without_a_redis_address_says_what_to_add() {
    let dir = tempfile::tempdir().unwrap();
    let args = AgentArgs {
        socket: Some(dir.path().join("a.sock")),
        listen: None,
        node: "n1".into(),
        lock: LockKind::Redis,
        redis: None,
        endpoints: Default::default(),
        kube: Default::default(),
        resource: "127.0.0.1:1".into(),
        fencing: Fencing::Off,
        op_timeout_ms: 500,
        plugin: Default::default(),
        optimistic_unsafe: false,
    };
    let Err(err) = AgentServer::bind(&args).await else {
        panic!("bound without a redis address");
    };
    assert!(matches!(err, Error::Config { name: "redis", .. }), "{err}");
    assert!(err.to_string().contains("--redis host:port"), "{err}");
    // Nothing was left behind.
    assert!(!dir.path().join("a.sock").exists());
}

#[tokio::test]
async fn an_agent_replaces_a_stale_socket_file() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("a.sock");
    // What a SIGKILLed agent leaves: a socket file nobody listens on.
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    assert!(socket.exists());
    let args = AgentArgs {
        socket: Some(socket.clone()),
        listen: None,
        node: "n1".into(),
        lock: LockKind::Redis,
        redis: Some("127.0.0.1:1".into()),
        endpoints: Default::default(),
        kube: Default::default(),
        resource: "127.0.0.1:1".into(),
        fencing: Fencing::Off,
        op_timeout_ms: 500,
        plugin: Default::default(),
        optimistic_unsafe: false,
    };
    let server = AgentServer::bind(&args).await.unwrap();
    assert_eq!(server.socket(), socket.as_path());
    tokio::net::UnixStream::connect(&socket).await.unwrap();
}

#[tokio::test]
async fn an_agent_refuses_to_delete_a_regular_file_at_its_socket_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, b"precious").unwrap();
    let args = AgentArgs {
        socket: Some(path.clone()),
        listen: None,
        node: "n1".into(),
        lock: LockKind::Redis,
        redis: Some("127.0.0.1:1".into()),
        endpoints: Default::default(),
        kube: Default::default(),
        resource: "127.0.0.1:1".into(),
        fencing: Fencing::Off,
        op_timeout_ms: 500,
        plugin: Default::default(),
        optimistic_unsafe: false,
    };
    let Err(err) = AgentServer::bind(&args).await else {
        panic!("bound over a regular file");
    };
    assert!(err.to_string().contains("not a socket"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");
}
