//! Clock faults reach processes without touching the host clock: our agents through
//! the clock file their injectable clock reads (checked with splitbrain-workloads' own
//! reader, so the file format is the contract), servers through libfaketime, and a
//! server out of reach is recorded as such while the run goes on. Needs root.

mod nemesis_support;

use nemesis_support::*;
use splitbrain_nemesis::clock::ClockSetting;
use splitbrain_nemesis::faults::{ClockFault, FaultKind, Target};
use splitbrain_nemesis::local::LocalCluster;
use splitbrain_nemesis::local::faketime_env;
use splitbrain_nemesis::{
    ClockControl, ClockReach, Cluster, ClusterError, Grudge, Node, ProcessInfo, ProcessKind,
    ProcessSpec, TeardownReport,
};
use splitbrain_workloads::clock::Clock;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn true_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1000.0
}

/// The injectable clock of process `name`, read from the file the cluster named in its
/// environment.
fn agent_clock(h: &Harness, name: &str) -> Clock {
    let pid = h
        .cluster
        .processes()
        .into_iter()
        .find(|p| p.name == name)
        .unwrap()
        .pid;
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    let file = String::from_utf8_lossy(&environ)
        .split('\0')
        .find_map(|kv| {
            kv.strip_prefix("SPLITBRAIN_CLOCK_FILE=")
                .map(str::to_string)
        })
        .expect("every process is told its clock file");
    Clock::from_file(file)
}

fn skew(clock: &Clock) -> f64 {
    clock.now_unix_ms() - true_ms()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_bump_on_the_holder_moves_its_clock_by_the_planned_jump_until_the_reset() {
    require_root();
    let h = Harness::up("bump", 2);
    h.spawn_idle("agent-0", "n1", ProcessKind::Agent);
    h.spawn_idle("agent-1", "n2", ProcessKind::Agent);
    h.set_holder(Some("agent-1"));
    let fault = first_planned(
        FaultKind::Clock(ClockFault::Bump, Target::Holder),
        &h.names(),
    );
    let jump = fault.clock.unwrap().offset_ms as f64;
    let (holder, other) = (agent_clock(&h, "agent-1"), agent_clock(&h, "agent-0"));
    let running = h.start(vec![fault]);
    let op = h.wait_for_op("bump-clock", "info").await;
    assert!(op.get("error").is_none(), "{op}");
    assert_eq!(op["value"]["processes"], serde_json::json!(["agent-1"]));
    assert_eq!(op["value"]["offset_ms"].as_f64(), Some(jump));
    assert_eq!(op["value"]["reached"]["agent-1"], "clock-file");
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(
        (skew(&holder) - jump).abs() < 50.0,
        "holder skew {} vs jump {jump}",
        skew(&holder)
    );
    assert!(skew(&other).abs() < 50.0, "only the holder's clock moves");
    running.stop().await;
    let reset = h.wait_for_op("reset-clock", "info").await;
    assert_eq!(reset["value"]["offset_ms"], 0);
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(skew(&holder).abs() < 50.0, "reset: {}", skew(&holder));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drifting_clock_gains_or_loses_time_at_its_planned_rate() {
    require_root();
    let h = Harness::up("drift", 1);
    h.spawn_idle("agent-0", "n1", ProcessKind::Agent);
    let fault = first_planned(FaultKind::Clock(ClockFault::Drift, Target::All), &h.names());
    let rate = fault.clock.unwrap().rate;
    assert!(rate != 1.0);
    let clock = agent_clock(&h, "agent-0");
    let running = h.start(vec![fault]);
    let op = h.wait_for_op("drift-clock", "info").await;
    assert_eq!(op["value"]["rate"].as_f64(), Some(rate));
    let (local0, true0) = (clock.now_unix_ms(), true_ms());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let measured = (clock.now_unix_ms() - local0) / (true_ms() - true0);
    assert!(
        (measured - rate).abs() < 0.05,
        "rate {measured} vs planned {rate}"
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strobing_clock_flips_between_two_readings_and_then_stops() {
    require_root();
    let h = Harness::up("strobe", 1);
    h.spawn_idle("agent-0", "n1", ProcessKind::Agent);
    let mut fault = first_planned(
        FaultKind::Clock(ClockFault::Strobe, Target::Process),
        &h.names(),
    );
    fault.duration = Duration::from_millis(1500);
    let delta = fault.clock.unwrap().strobe.unwrap().delta_ms as f64;
    let clock = agent_clock(&h, "agent-0");
    let running = h.start(vec![fault]);
    h.wait_for_op("strobe-clock", "info").await;
    let mut seen = (0, 0);
    for _ in 0..100 {
        let s = skew(&clock);
        if s.abs() < 20.0 {
            seen.0 += 1;
        } else if (s - delta).abs() < 20.0 {
            seen.1 += 1;
        }
        tokio::time::sleep(Duration::from_millis(7)).await;
    }
    assert!(
        seen.0 > 10 && seen.1 > 10,
        "readings at 0 and at {delta}: {seen:?}"
    );
    running.finish().await;
    assert!(skew(&clock).abs() < 20.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_under_libfaketime_and_one_without_both_see_the_jump() {
    require_root();
    let env = faketime_env().expect("libfaketime is installed by scripts/install-deps");
    let h = Harness::up("faketime", 2);
    let script =
        "import time,sys\nwhile True:\n    print(time.time(), flush=True)\n    time.sleep(0.05)\n";
    h.spawn(
        "server-n1",
        "n1",
        ProcessKind::LockServer,
        "/usr/bin/python3",
        &["-c", script],
        env,
    );
    // The same program without libfaketime: the nemesis writes its vDSO instead.
    h.spawn(
        "server-n2",
        "n2",
        ProcessKind::LockServer,
        "/usr/bin/python3",
        &["-c", script],
        vec![],
    );
    let last_reading = |server: &str| -> Option<f64> {
        let log = h.cluster.state_dir().join(format!("{server}.log"));
        let text = std::fs::read_to_string(&log).ok()?;
        text.lines().last()?.trim().parse().ok()
    };
    let skews = || {
        ["server-n1", "server-n2"].map(|s| {
            last_reading(s).unwrap_or_else(|| panic!("{s} prints its time")) * 1000.0 - true_ms()
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    for before in skews() {
        assert!(before.abs() < 500.0, "no skew before the fault: {before}");
    }

    let mut fault = first_planned(FaultKind::Clock(ClockFault::Bump, Target::All), &h.names());
    let mut plan = fault.clock.unwrap();
    plan.offset_ms = 3_600_000;
    fault.clock = Some(plan);
    let running = h.start(vec![fault]);
    let op = h.wait_for_op("bump-clock", "info").await;
    assert_eq!(op["value"]["reached"]["server-n1"], "faketime", "{op}");
    assert_eq!(op["value"]["reached"]["server-n2"], "vdso", "{op}");
    assert!(op.get("error").is_none(), "{op}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    for during in skews() {
        assert!((during - 3_600_000.0).abs() < 1000.0, "skew: {during}");
    }
    running.stop().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for after in skews() {
        assert!(after.abs() < 1000.0, "reset: {after}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_fault_that_reaches_nothing_is_recorded_with_its_reason_and_the_plan_goes_on() {
    require_root();
    let h = Harness::up("noclock", 1);
    h.spawn_idle("redis-n1", "n1", ProcessKind::LockServer);
    let bump = first_planned(
        FaultKind::Clock(ClockFault::Bump, Target::Process),
        &h.names(),
    );
    let mut pause = first_planned(FaultKind::PAUSE, &h.names());
    pause.at = Duration::from_millis(200);
    pause.duration = Duration::from_millis(100);
    let mut first = bump;
    first.duration = Duration::from_millis(100);
    let cluster = Arc::new(ServerClocksUnreached(h.cluster.clone()));
    let summary = h.start_on(cluster, vec![first, pause]).finish().await;
    assert_eq!((summary.refused, summary.applied), (1, 1), "{summary:?}");
    let op = h.wait_for_op("bump-clock", "info").await;
    assert!(
        op["error"]
            .as_str()
            .unwrap()
            .contains("no target process has a clock this backend can set"),
        "{op}"
    );
    assert!(
        op["value"]["reached"]["redis-n1"]
            .as_str()
            .unwrap()
            .contains("unreached: this backend sets no server clock"),
        "{op}"
    );
    h.wait_for_op("pause", "info").await;
}

/// The local cluster as a backend that cannot set a lock server's clock would be.
struct ServerClocksUnreached(Arc<LocalCluster>);

impl Cluster for ServerClocksUnreached {
    fn run_id(&self) -> &str {
        self.0.run_id()
    }
    fn nodes(&self) -> &[Node] {
        self.0.nodes()
    }
    fn resource_node(&self) -> &Node {
        self.0.resource_node()
    }
    fn spawn(&self, node: &str, spec: ProcessSpec) -> Result<(), ClusterError> {
        self.0.spawn(node, spec)
    }
    fn kill(&self, name: &str) -> Result<(), ClusterError> {
        self.0.kill(name)
    }
    fn restart(&self, name: &str) -> Result<(), ClusterError> {
        self.0.restart(name)
    }
    fn pause(&self, name: &str) -> Result<(), ClusterError> {
        self.0.pause(name)
    }
    fn resume(&self, name: &str) -> Result<(), ClusterError> {
        self.0.resume(name)
    }
    fn partition(&self, grudge: &Grudge) -> Result<(), ClusterError> {
        self.0.partition(grudge)
    }
    fn heal(&self) -> Result<(), ClusterError> {
        self.0.heal()
    }
    fn processes(&self) -> Vec<ProcessInfo> {
        self.0.processes()
    }
    fn connect(&self, from: &str, to: SocketAddr, t: Duration) -> Result<TcpStream, ClusterError> {
        self.0.connect(from, to, t)
    }
    fn teardown(&self) -> Result<TeardownReport, ClusterError> {
        self.0.teardown()
    }
    fn clocks(&self) -> Option<&dyn ClockControl> {
        Some(self)
    }
}

impl ClockControl for ServerClocksUnreached {
    fn set_clock(&self, _: &str, _: &ClockSetting) -> Result<ClockReach, ClusterError> {
        Ok(ClockReach::Unreached(
            "this backend sets no server clock".into(),
        ))
    }
}

/// A redis-server on loopback, killed when dropped.
struct LoopbackRedis(std::process::Child);

impl Drop for LoopbackRedis {
    fn drop(&mut self) {
        // SIGCONT first: a stopped process would keep the SIGKILL pending.
        let pid = self.0.id().to_string();
        let _ = std::process::Command::new("kill")
            .args(["-CONT", &pid])
            .status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn a_redis_lock_client_on_a_fast_clock_times_out_early_in_true_time() {
    use splitbrain_workloads::Lock;
    use splitbrain_workloads::clock::ClockControl;
    use splitbrain_workloads::locks::{RedisLock, RedisLockConfig};
    use std::sync::Arc;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new("redis-server")
        .args([
            "--bind",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--save",
            "",
        ])
        .args(["--appendonly", "no"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server is installed by scripts/install-deps");
    let redis = LoopbackRedis(child);
    let client = |clock: Clock| {
        let cfg = RedisLockConfig {
            addr: format!("127.0.0.1:{port}"),
            fencing: false,
            op_timeout: Duration::from_millis(800),
            holder_prefix: format!("t{}", true_ms()),
        };
        RedisLock::new(cfg).unwrap().with_clock(Arc::new(clock))
    };
    let fast = ClockControl {
        rate: 4.0,
        anchor_unix_ms: 0,
        ..ClockControl::default()
    };
    let clients = [client(Clock::fixed(fast)), client(Clock::system())];
    // Connect both while the server answers, then stop it: only requests can time out.
    for (i, lock) in clients.iter().enumerate() {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while lock
            .acquire(&format!("k{i}"), Duration::from_secs(1))
            .await
            .is_err()
        {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server never answered"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let pid = redis.0.id().to_string();
    std::process::Command::new("kill")
        .args(["-STOP", &pid])
        .status()
        .unwrap();
    for (lock, lo, hi) in [(&clients[0], 100, 500), (&clients[1], 750, 1500)] {
        let start = std::time::Instant::now();
        let err = lock.acquire("k", Duration::from_secs(1)).await.unwrap_err();
        let took = start.elapsed().as_millis();
        assert!(err.to_string().contains("timeout"), "{err}");
        assert!(
            (lo..hi).contains(&took),
            "timed out after {took} ms, expected {lo}..{hi}"
        );
    }
}

/// A lock server restarted while its clock is skewed through its vDSO comes back with
/// the same skew, as a machine's clock stays skewed across a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_keeps_its_vdso_clock() {
    require_root();
    let h = Harness::up("vdsorestart", 1);
    let script =
        "import time,sys\nwhile True:\n    print(time.time(), flush=True)\n    time.sleep(0.05)\n";
    h.spawn(
        "server-n1",
        "n1",
        ProcessKind::LockServer,
        "/usr/bin/python3",
        &["-c", script],
        vec![],
    );
    let log = h.cluster.state_dir().join("server-n1.log");
    let skew = || -> f64 {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let last: f64 = text
            .lines()
            .last()
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or(0.0);
        last * 1000.0 - true_ms()
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ahead = ClockSetting {
        offset_ms: 600_000,
        ..ClockSetting::true_time()
    };
    let reach = h
        .cluster
        .clocks()
        .expect("the local backend sets clocks")
        .set_clock("server-n1", &ahead)
        .unwrap();
    assert_eq!(reach, ClockReach::Vdso);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!((skew() - 600_000.0).abs() < 1000.0, "skewed: {}", skew());
    h.cluster.restart("server-n1").unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        (skew() - 600_000.0).abs() < 1000.0,
        "still skewed after the restart: {}",
        skew()
    );
}
