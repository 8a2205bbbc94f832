//! Real lock servers for lock-level tests, on loopback ports: a single etcd member, a
//! standalone ZooKeeper, and a Redis primary with a replica and sentinels. Each is a
//! child process killed on drop (its temp dir removed with it), so a failing test
//! leaves nothing behind.

#![allow(dead_code)]

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// A Server is a child process and its scratch directory, killed and removed on drop.
pub struct Server {
    child: Child,
    /// The client port on 127.0.0.1.
    pub port: u16,
    dir: TempDir,
}

impl Server {
    /// `127.0.0.1:port`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Sends a signal (SIGSTOP pauses, SIGCONT resumes, SIGKILL kills).
    pub fn signal(&self, signal: Signal) {
        kill(Pid::from_raw(self.child.id() as i32), signal).expect("signal the server");
    }

    /// The server's scratch directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGKILL works on a stopped process too.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Free loopback ports, all distinct, that were free a moment ago.
pub fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("local addr").port())
        .collect()
}

/// Sends `request` to `127.0.0.1:port` and returns what came back before the server
/// closed the connection or 500 ms passed.
pub fn exchange(port: u16, request: &[u8]) -> String {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(request).is_err() {
        return String::new();
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Polls `ready` every 50 ms for up to `limit`; panics naming `what` if it never is.
pub fn wait_until(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if ready() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} not ready within {limit:?}");
}

fn spawn(program: &str, args: &[String], dir: &Path) -> Child {
    let log = std::fs::File::create(dir.join("server.log")).expect("create the server log");
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {program}: {e} (run scripts/install-deps)"))
}

/// Starts a single-member etcd and waits until `/health` says true.
pub fn etcd() -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    let ports = free_ports(2);
    let (client, peer) = (
        format!("http://127.0.0.1:{}", ports[0]),
        format!("http://127.0.0.1:{}", ports[1]),
    );
    let args: Vec<String> = [
        "--name",
        "t1",
        "--data-dir",
        &dir.path().join("data").display().to_string(),
        "--listen-client-urls",
        &client,
        "--advertise-client-urls",
        &client,
        "--listen-peer-urls",
        &peer,
        "--initial-advertise-peer-urls",
        &peer,
        "--initial-cluster",
        &format!("t1={peer}"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let child = spawn("etcd", &args, dir.path());
    let server = Server {
        child,
        port: ports[0],
        dir,
    };
    wait_until("etcd", Duration::from_secs(30), || {
        exchange(server.port, b"GET /health HTTP/1.0\r\n\r\n").contains("\"health\":\"true\"")
    });
    server
}

/// Starts a standalone ZooKeeper (tickTime 500 ms) and waits until it serves.
pub fn zookeeper() -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_ports(1)[0];
    let cfg = dir.path().join("zoo.cfg");
    std::fs::write(
        &cfg,
        format!(
            "tickTime=500\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n\
             admin.enableServer=false\n4lw.commands.whitelist=srvr\n",
            dir.path().display()
        ),
    )
    .expect("write zoo.cfg");
    let args: Vec<String> = [
        "-Xmx128m",
        "-XX:+UseSerialGC",
        "-XX:TieredStopAtLevel=1",
        "-cp",
        "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar",
        "org.apache.zookeeper.server.quorum.QuorumPeerMain",
        &cfg.display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let child = spawn("java", &args, dir.path());
    let server = Server { child, port, dir };
    wait_until("zookeeper", Duration::from_secs(30), || {
        exchange(server.port, b"srvr").contains("Mode: ")
    });
    server
}

/// Starts a redis-server on a free port with `extra` settings; waits for PING.
pub fn redis(extra: &[String]) -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_ports(1)[0];
    let mut args: Vec<String> = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(["--port".into(), port.to_string(), "--dir".into()]);
    args.push(dir.path().display().to_string());
    args.extend(extra.iter().cloned());
    let child = spawn("redis-server", &args, dir.path());
    let server = Server { child, port, dir };
    wait_until("redis-server", Duration::from_secs(10), || {
        exchange(server.port, b"PING\r\nQUIT\r\n").starts_with("+PONG")
    });
    server
}

/// A SentinelSet is a primary, its replica and three sentinels watching them as
/// `MASTER`, all on loopback.
pub struct SentinelSet {
    pub primary: Server,
    pub replica: Server,
    pub sentinels: Vec<Server>,
}

/// The name the test sentinels monitor the primary under.
pub const MASTER: &str = "testmaster";

/// Starts a primary, a replica in sync with it, and three sentinels that know both.
pub fn sentinel_set() -> SentinelSet {
    let fast = vec!["--repl-diskless-sync-delay".to_string(), "0".into()];
    let primary = redis(&fast);
    let mut replica_args = fast.clone();
    replica_args.extend([
        "--replicaof".into(),
        "127.0.0.1".into(),
        primary.port.to_string(),
    ]);
    let replica = redis(&replica_args);
    wait_until("replication", Duration::from_secs(10), || {
        exchange(replica.port, b"INFO replication\r\nQUIT\r\n").contains("master_link_status:up")
    });
    let ports = free_ports(3);
    let sentinels: Vec<Server> = ports
        .iter()
        .enumerate()
        .map(|(i, port)| start_sentinel(i, *port, &ports, primary.port, replica.port))
        .collect();
    SentinelSet {
        primary,
        replica,
        sentinels,
    }
}

fn start_sentinel(me: usize, port: u16, all: &[u16], primary: u16, replica: u16) -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    let conf = dir.path().join("sentinel.conf");
    let mut text = format!(
        "port {port}\nbind 127.0.0.1\nprotected-mode no\ndir {}\n\
         sentinel monitor {MASTER} 127.0.0.1 {primary} 2\n\
         sentinel down-after-milliseconds {MASTER} 1000\n\
         sentinel failover-timeout {MASTER} 3000\nsentinel myid {:040x}\n\
         sentinel known-replica {MASTER} 127.0.0.1 {replica}\n",
        dir.path().display(),
        me + 1
    );
    for (i, other) in all.iter().enumerate().filter(|(i, _)| *i != me) {
        text.push_str(&format!(
            "sentinel known-sentinel {MASTER} 127.0.0.1 {other} {:040x}\n",
            i + 1
        ));
    }
    std::fs::write(&conf, text).expect("write sentinel.conf");
    let child = spawn("redis-sentinel", &[conf.display().to_string()], dir.path());
    let server = Server { child, port, dir };
    wait_until("redis-sentinel", Duration::from_secs(10), || {
        exchange(port, b"PING\r\nQUIT\r\n").starts_with("+PONG")
    });
    server
}
