//! Shared test fixtures: a real redis-server on an ephemeral loopback port, and the
//! resource and agent servers run as tokio tasks. Every fixture cleans up on drop, so a
//! failing test leaves no process, socket or file behind.

// Each test file uses a different subset of these fixtures.
#![allow(dead_code)]

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use splitbrain_workloads::Fencing;
use splitbrain_workloads::agent::{AgentArgs, AgentServer};
use splitbrain_workloads::locks::LockKind;
use splitbrain_workloads::resource::{ResourceArgs, ResourceServer};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;
use tokio::task::JoinHandle;

/// A RedisServer is a real redis-server child process, killed on drop.
pub struct RedisServer {
    child: Child,
    port: u16,
    _dir: TempDir,
}

impl RedisServer {
    /// Starts redis-server on a free loopback port and waits until it answers PING.
    pub fn start() -> RedisServer {
        for _ in 0..5 {
            if let Some(server) = Self::try_start() {
                return server;
            }
        }
        panic!("redis-server did not start on a free port in 5 tries (is it installed?)");
    }

    fn try_start() -> Option<RedisServer> {
        let port = free_port();
        let dir = tempfile::tempdir().expect("temp dir");
        let child = spawn_redis(port, dir.path());
        let mut server = RedisServer {
            child,
            port,
            _dir: dir,
        };
        // On failure the server is dropped, which kills it.
        server.wait_ready().then_some(server)
    }

    /// Waits until the server answers PING; false if it exited or took over 5 s.
    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if self.pings() {
                return true;
            }
            if let Ok(Some(_)) = self.child.try_wait() {
                return false; // lost the port race
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// SIGKILLs the server and starts it again on the same port with empty data, as
    /// the nemesis's kill and restart do.
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = spawn_redis(self.port, self._dir.path());
        assert!(
            self.wait_ready(),
            "redis-server did not come back on port {}",
            self.port
        );
    }

    fn pings(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
        let mut buf = [0u8; 7];
        s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
    }

    /// `127.0.0.1:port`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Sends a signal to the server (SIGSTOP to pause it, SIGCONT to resume).
    pub fn signal(&self, signal: Signal) {
        kill(Pid::from_raw(self.child.id() as i32), signal).expect("signal redis-server");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // SIGKILL works on a stopped process too.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_redis(port: u16, dir: &Path) -> Child {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new("redis-server");
    // SAFETY: the closure runs in the child between fork and exec and only calls
    // prctl, which is async-signal-safe. It makes the kernel kill the server if the
    // test process dies without running destructors (a SIGKILLed test run).
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)
        });
    }
    cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn redis-server (is it installed?)")
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral port")
}

/// A Task is a spawned server task, aborted on drop (which closes its connections).
pub struct Task(pub JoinHandle<()>);

impl Task {
    /// Stops the task and waits until it is gone, like a SIGKILL.
    pub async fn kill(mut self) {
        self.0.abort();
        let _ = (&mut self.0).await;
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A Resource is a resource server task and where it listens and logs.
pub struct Resource {
    pub addr: String,
    pub log: PathBuf,
    pub task: Task,
}

/// Starts a resource server on a free loopback port, logging to `dir/resource.jsonl`.
pub async fn start_resource(dir: &Path, fencing: Fencing) -> Resource {
    let log = dir.join("resource.jsonl");
    let args = ResourceArgs {
        listen: "127.0.0.1:0".into(),
        log: log.clone(),
        fencing,
    };
    let server = ResourceServer::bind(&args)
        .await
        .expect("bind the resource");
    let addr = server.local_addr().to_string();
    let task = Task(tokio::spawn(async move {
        server.run().await.expect("resource ran");
    }));
    Resource { addr, log, task }
}

/// The agent's arguments for a redis lock and a resource, with a 500 ms step timeout.
pub fn agent_args(
    socket: &Path,
    node: &str,
    redis: &str,
    resource: &str,
    fencing: Fencing,
) -> AgentArgs {
    AgentArgs {
        socket: Some(socket.to_path_buf()),
        listen: None,
        node: node.into(),
        lock: LockKind::Redis,
        redis: Some(redis.into()),
        endpoints: Default::default(),
        kube: Default::default(),
        resource: resource.into(),
        fencing,
        op_timeout_ms: 500,
        plugin: Default::default(),
        optimistic_unsafe: false,
    }
}

/// Starts an agent as a task.
pub async fn start_agent(args: &AgentArgs) -> Task {
    let server = AgentServer::bind(args).await.expect("bind the agent");
    Task(tokio::spawn(async move {
        server.run().await.expect("agent ran");
    }))
}
