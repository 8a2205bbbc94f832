//! The Kubernetes backend on a real cluster: the local node of scripts/kube-node (real
//! kube-apiserver, scheduler, controller manager and kubelet, containerd and runc), the
//! image scripts/build-image makes from this very binary, loaded without a registry.
//! The canary pair runs on pods with the verdicts it has on the local backend; a
//! partition between pods holds pair by pair; a pod killed through the API comes back
//! under its stable address; latency and clocks reach into pods; ZooKeeper runs there; nothing of a run is left on the cluster,
//! after a finished run and after a SIGKILLed controller and `cleanup`. Needs root and
//! what scripts/install-deps installs, as CI has.

mod common;

use common::kube_node::{Node, text};
use common::{assert_exit, assert_lost_updates, assert_stale_writes_fenced_out, bin, results};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The image of this binary, built and loaded into the node's containerd.
fn load_image() -> String {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let built = Command::new(repo.join("scripts/build-image"))
        .arg("--binary")
        .arg(bin())
        .output()
        .expect("build-image runs");
    assert!(
        built.status.success(),
        "build-image failed:\n{}",
        text(&built)
    );
    let archive = String::from_utf8(built.stdout).unwrap().trim().to_string();
    let loaded = Command::new(repo.join("scripts/kube-node"))
        .args(["load-image", &archive])
        .output()
        .expect("kube-node runs");
    assert!(
        loaded.status.success(),
        "load-image failed:\n{}",
        text(&loaded)
    );
    let name = String::from_utf8(loaded.stdout).unwrap().trim().to_string();
    assert!(name.starts_with("splitbrain.local/splitbrain:"), "{name}");
    name
}

/// A kubeconfig for the controller's least-privilege account (manifests/controller-rbac.yaml)
/// instead of the node's admin, written into `dir`.
fn controller_kubeconfig(node: &Node, dir: &Path) -> PathBuf {
    let rbac = Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests/controller-rbac.yaml");
    node.ok(&["apply", "-f", rbac.to_str().unwrap()]);
    let token = node.ok(&[
        "-n",
        "splitbrain-system",
        "create",
        "token",
        "splitbrain-controller",
        "--duration",
        "2h",
    ]);
    let cluster = |field: &str| {
        node.ok(&[
            "config",
            "view",
            "--raw",
            "--minify",
            "-o",
            &format!("jsonpath={{.clusters[0].cluster.{field}}}"),
        ])
    };
    let kubeconfig = dir.join("controller.kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: node\n  cluster:\n    server: {}\n    \
             certificate-authority-data: {}\nusers:\n- name: controller\n  user:\n    token: {}\n\
             contexts:\n- name: controller\n  context:\n    cluster: node\n    user: controller\n\
             current-context: controller\n",
            cluster("server"),
            cluster("certificate-authority-data"),
            token.trim()
        ),
    )
    .unwrap();
    kubeconfig
}

/// The namespaces on the cluster that carry a run's label.
fn run_namespaces(node: &Node) -> Vec<String> {
    node.ok(&[
        "get",
        "namespaces",
        "-l",
        "splitbrain.dev/run",
        "-o",
        "name",
    ])
    .lines()
    .map(str::to_string)
    .collect()
}

fn kube_flags<'a>(kubeconfig: &'a Path, image: &'a str) -> Vec<&'a str> {
    vec![
        "--backend",
        "kubernetes",
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "--image",
        image,
    ]
}

fn run_canary(kubeconfig: &Path, image: &str, out: &Path, fencing: &str) -> Output {
    common::splitbrain(&canary_on_pods(kubeconfig, image, out, "redis", fencing))
}

/// The canary's arguments with `lock` for its lock, on the Kubernetes backend.
fn canary_on_pods<'a>(
    kubeconfig: &'a Path,
    image: &'a str,
    out: &'a Path,
    lock: &'a str,
    fencing: &'a str,
) -> Vec<&'a str> {
    let mut args = common::canary_args(out.to_str().unwrap(), fencing);
    let at = args
        .iter()
        .position(|a| *a == "redis")
        .expect("the canary's lock");
    args[at] = lock;
    args.extend(kube_flags(kubeconfig, image));
    args
}

/// The run directories under `out`, newest last.
fn runs(out: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(out)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir() && !p.is_symlink())
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    dirs
}

#[test]
fn the_canary_pair_runs_on_pods_with_the_local_verdicts_and_leaves_no_namespace() {
    common::require_root();
    let node = Node::up();
    let image = load_image();
    let out = tempfile::tempdir().unwrap();
    // The controller runs with the least privilege manifests/controller-rbac.yaml grants.
    let kubeconfig = controller_kubeconfig(&node, out.path());

    let unfenced = run_canary(&kubeconfig, &image, out.path(), "off");
    assert_exit(&unfenced, 1);
    let run = common::latest_run(out.path());
    assert_lost_updates(&results(&run));
    assert!(
        run.join("index.html").is_file(),
        "no report in {}",
        run.display()
    );
    assert!(
        run_namespaces(&node).is_empty(),
        "{:?}",
        run_namespaces(&node)
    );
    // The pods' files came back: the resource's log and each process's log.
    assert!(
        run.join("resource.jsonl").is_file(),
        "no resource.jsonl in {}",
        run.display()
    );
    assert!(
        run.join("logs/redis-n1.log").is_file() || run.join("logs").read_dir().unwrap().count() > 3
    );
    // The nemesis paused an agent inside its pod, and the history names it and its node.
    let pauses: Vec<Value> = common::history_ops(&run)
        .into_iter()
        .filter(|op| op["process"] == "nemesis" && op["f"] == "pause" && op["type"] == "info")
        .collect();
    assert!(!pauses.is_empty(), "no pause in the history");
    let value = &pauses[0]["value"];
    assert!(
        value["processes"][0]
            .as_str()
            .unwrap()
            .starts_with("agent-"),
        "{value}"
    );
    assert!(
        value["nodes"][0].as_str().unwrap().starts_with('n'),
        "{value}"
    );

    // run.json says where the nodes were: the namespace, the image, each pod's node.
    let info: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("run.json")).unwrap()).unwrap();
    let backend = &info["extra"]["backend"];
    assert_eq!(backend["backend"], "kubernetes", "{info:#}");
    assert_eq!(backend["image"], image.as_str());
    assert_eq!(backend["pods_on"]["n1"], "splitbrain-node", "{backend:#}");

    let fenced = run_canary(&kubeconfig, &image, out.path(), "on");
    assert_exit(&fenced, 0);
    assert_stale_writes_fenced_out(&results(&common::latest_run(out.path())));
    assert!(
        run_namespaces(&node).is_empty(),
        "{:?}",
        run_namespaces(&node)
    );
}

#[test]
fn cleanup_deletes_the_namespace_a_sigkilled_controller_left() {
    common::require_root();
    let node = Node::up();
    let image = load_image();
    let out = tempfile::tempdir().unwrap();
    let kubeconfig = controller_kubeconfig(&node, out.path());
    let args = canary_on_pods(&kubeconfig, &image, out.path(), "redis", "off");
    let mut controller = Command::new(bin())
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    // Killed once the workload runs: the history has ops.
    loop {
        let history = runs(out.path()).pop().map(|r| r.join("history.jsonl"));
        if history.is_some_and(|h| std::fs::metadata(&h).is_ok_and(|m| m.len() > 0)) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the run never started its workload"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    controller.kill().unwrap();
    controller.wait().unwrap();
    // The killed run's namespace and its node daemons' are left.
    let left = run_namespaces(&node);
    assert_eq!(
        left.len(),
        2,
        "the killed run's namespaces should be there: {left:?}"
    );

    let kubeconfig = kubeconfig.to_str().unwrap();
    let cleanup = common::splitbrain(&[
        "cleanup",
        "--backend",
        "kubernetes",
        "--kubeconfig",
        kubeconfig,
    ]);
    assert_exit(&cleanup, 0);
    let said = String::from_utf8_lossy(&cleanup.stdout).to_string();
    for ns in &left {
        let name = ns.trim_start_matches("namespace/");
        assert!(
            said.contains(&format!("deleted namespace {name} ")),
            "{said}"
        );
    }
    assert!(
        run_namespaces(&node).is_empty(),
        "{:?}",
        run_namespaces(&node)
    );
    let again = common::splitbrain(&[
        "cleanup",
        "--backend",
        "kubernetes",
        "--kubeconfig",
        kubeconfig,
    ]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("no namespace of a run"));
}

/// Whether pod `from` reaches a Redis at `to`'s address (a PING answered within a second).
fn reaches(node: &Node, namespace: &str, from: &str, to_addr: &str) -> bool {
    let out = node.kubectl(&[
        "exec",
        "-n",
        namespace,
        from,
        "--",
        "timeout",
        "1",
        "redis-cli",
        "-h",
        to_addr,
        "-p",
        "6390",
        "ping",
    ]);
    String::from_utf8_lossy(&out.stdout).contains("PONG")
}

/// Asserts that the run's node pods run under PodSecurity `baseline` without a
/// capability to change their network, and that one privileged node daemon per
/// Kubernetes node runs beside them, in the daemons' namespace.
fn assert_least_privilege(node: &Node, namespace: &str) {
    let enforced = node.ok(&[
        "get",
        "namespace",
        namespace,
        "-o",
        "jsonpath={.metadata.labels.pod-security\\.kubernetes\\.io/enforce}",
    ]);
    assert_eq!(enforced, "baseline");
    let nft = node.kubectl(&[
        "exec", "-n", namespace, "n1", "--", "nft", "list", "ruleset",
    ]);
    assert!(
        !nft.status.success() && text(&nft).contains("Operation not permitted"),
        "a node pod could read its nftables rules: {}",
        text(&nft)
    );
    let daemons = splitbrain_nemesis::kube::daemon_namespace(namespace);
    let phases = node.ok(&[
        "get",
        "pods",
        "-n",
        &daemons,
        "-o",
        "jsonpath={range .items[*]}{.spec.nodeName}={.status.phase} {end}",
    ]);
    assert_eq!(phases.trim(), "splitbrain-node=Running", "{daemons}");
}

/// The Unix time in seconds of the Redis at `to_addr`, asked from pod `from`.
fn redis_time(node: &Node, namespace: &str, from: &str, to_addr: &str) -> u64 {
    let out = node.ok(&[
        "exec",
        "-n",
        namespace,
        from,
        "--",
        "redis-cli",
        "-h",
        to_addr,
        "-p",
        "6390",
        "time",
    ]);
    out.lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("redis-cli time printed {out:?}"))
}

/// How long a PING from pod `from` to the Redis at `to_addr` takes, in milliseconds,
/// timed inside the pod (a connection of its own, through its latency redirect).
fn ping_ms(node: &Node, namespace: &str, from: &str, to_addr: &str) -> u64 {
    let script = "a=$(date +%s%N); redis-cli -h \"$1\" -p 6390 ping >/dev/null; b=$(date +%s%N); \
                  echo $(( (b - a) / 1000000 ))";
    let out = node.ok(&[
        "exec", "-n", namespace, from, "--", "sh", "-c", script, "ping-ms", to_addr,
    ]);
    out.trim()
        .parse()
        .unwrap_or_else(|_| panic!("the timed PING printed {out:?}"))
}

#[test]
fn a_partition_between_pods_holds_pair_by_pair_and_heals() {
    use splitbrain_nemesis::kube::{KubeCluster, KubeConfig};
    use splitbrain_nemesis::{Cluster, Grudge, ProcessKind, ProcessSpec};
    common::require_root();
    let node = Node::up();
    let image = load_image();
    let dirs = tempfile::tempdir().unwrap();
    let run_id = format!("t{}", std::process::id());
    let cluster = KubeCluster::up(KubeConfig {
        run_id: run_id.clone(),
        nodes: 3,
        namespace: format!("splitbrain-{run_id}"),
        image,
        kubeconfig: Some(node.kubeconfig.clone()),
        run_dir: dirs.path().join("run"),
        state_dir: dirs.path().join("state"),
        ready_timeout: Duration::from_secs(120),
    })
    .expect("the pods come up");
    let namespace = cluster.namespace().to_string();
    let nodes = cluster.nodes().to_vec();
    for n in &nodes {
        cluster
            .spawn(
                &n.name,
                ProcessSpec {
                    name: format!("redis-{}", n.name),
                    kind: ProcessKind::LockServer,
                    program: "redis-server".into(),
                    args: [
                        "--port",
                        "6390",
                        "--bind",
                        "0.0.0.0",
                        "--protected-mode",
                        "no",
                        "--save",
                        "",
                    ]
                    .map(String::from)
                    .to_vec(),
                    env: vec![],
                    log: dirs.path().join(format!("run/logs/redis-{}.log", n.name)),
                },
            )
            .expect("redis starts in the pod");
    }
    let addr = |name: &str| {
        nodes
            .iter()
            .find(|n| n.name == name)
            .unwrap()
            .addr
            .to_string()
    };
    let pairs = [("n1", "n2"), ("n1", "n3"), ("n2", "n3")];
    let started = Instant::now();
    while !pairs
        .iter()
        .all(|(a, b)| reaches(&node, &namespace, a, &addr(b)))
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the pods never reached each other"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // The node pods hold no privilege: their namespace admits only PodSecurity
    // baseline pods, and inside one, changing the network is refused. The partition
    // below is the node daemon's work, from the Kubernetes node.
    assert_least_privilege(&node, &namespace);

    let grudge = Grudge::between(&[vec!["n1".into(), "n2".into()], vec!["n3".into()]]);
    cluster.partition(&grudge).unwrap();
    for (a, b) in pairs {
        for (from, to) in [(a, b), (b, a)] {
            assert_eq!(
                reaches(&node, &namespace, from, &addr(to)),
                !grudge.cuts(from, to),
                "{from} -> {to} under {grudge:?}"
            );
        }
    }
    cluster.heal().unwrap();
    for (a, b) in pairs {
        assert!(
            reaches(&node, &namespace, a, &addr(b)),
            "{a} -> {b} after heal"
        );
        assert!(
            reaches(&node, &namespace, b, &addr(a)),
            "{b} -> {a} after heal"
        );
    }

    // Packet loss: all of it, then none.
    let loss = cluster
        .packet_loss()
        .expect("the Kubernetes backend drops packets");
    loss.set_loss(100).unwrap();
    assert!(
        !reaches(&node, &namespace, "n1", &addr("n2")),
        "n1 reached n2 with 100% loss"
    );
    loss.set_loss(0).unwrap();
    assert!(
        reaches(&node, &namespace, "n1", &addr("n2")),
        "n1 -> n2 after the loss ended"
    );

    // Pause and kill act on the process inside its pod.
    cluster.pause("redis-n3").unwrap();
    assert!(
        !reaches(&node, &namespace, "n1", &addr("n3")),
        "a paused redis answered"
    );
    cluster.resume("redis-n3").unwrap();
    assert!(
        reaches(&node, &namespace, "n1", &addr("n3")),
        "a resumed redis did not answer"
    );
    cluster.kill("redis-n3").unwrap();
    assert!(
        !reaches(&node, &namespace, "n1", &addr("n3")),
        "a killed redis answered"
    );
    cluster.restart("redis-n3").unwrap();
    let started = Instant::now();
    while !reaches(&node, &namespace, "n1", &addr("n3")) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the restarted redis never answered"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // Latency: each pod's proxy holds every chunk back, both ways, then lets go again.
    let latency = cluster
        .latency()
        .expect("the Kubernetes backend adds latency");
    latency.prepare_latency().unwrap();
    let quick = ping_ms(&node, &namespace, "n1", &addr("n2"));
    latency.set_latency(Duration::from_millis(300)).unwrap();
    let slow = ping_ms(&node, &namespace, "n1", &addr("n2"));
    assert!(slow >= 600, "a PING took {slow} ms with 300 ms each way");
    latency.set_latency(Duration::ZERO).unwrap();
    let again = ping_ms(&node, &namespace, "n1", &addr("n2"));
    assert!(
        again < slow / 2,
        "{again} ms after the latency ended ({quick} ms before)"
    );

    // Clocks: a server's own vDSO inside its pod, set again after a restart; an agent's
    // clock file in its pod's scratch folder.
    use splitbrain_nemesis::clock::{ClockSetting, unix_ms_now};
    let clocks = cluster
        .clocks()
        .expect("the Kubernetes backend sets clocks");
    let hour_ahead = ClockSetting {
        offset_ms: 3_600_000,
        anchor_unix_ms: unix_ms_now(),
        ..ClockSetting::true_time()
    };
    let reach = clocks.set_clock("redis-n3", &hour_ahead).unwrap();
    assert_eq!(reach, splitbrain_nemesis::ClockReach::Vdso);
    let ahead = |from: &str| {
        let seconds = redis_time(&node, &namespace, from, &addr("n3")) as i64;
        seconds - (unix_ms_now() / 1000) as i64
    };
    assert!(
        (3590..3610).contains(&ahead("n1")),
        "redis-n3 is {}s ahead",
        ahead("n1")
    );
    cluster.restart("redis-n3").unwrap();
    let started = Instant::now();
    while !reaches(&node, &namespace, "n1", &addr("n3")) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "redis-n3 never came back"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        (3590..3610).contains(&ahead("n1")),
        "after a restart: {}s ahead",
        ahead("n1")
    );
    clocks
        .set_clock("redis-n3", &ClockSetting::true_time())
        .unwrap();
    assert!(ahead("n1").abs() < 5, "reset: {}s ahead", ahead("n1"));
    cluster
        .spawn(
            "n2",
            ProcessSpec {
                name: "agent-sleeper".into(),
                kind: ProcessKind::Agent,
                program: "sleep".into(),
                args: vec!["600".into()],
                env: vec![],
                log: dirs.path().join("run/logs/agent-sleeper.log"),
            },
        )
        .unwrap();
    let reach = clocks.set_clock("agent-sleeper", &hour_ahead).unwrap();
    assert_eq!(reach, splitbrain_nemesis::ClockReach::ClockFile);
    let clock_file = dirs.path().join("state/clocks/agent-sleeper.json");
    let written = node.ok(&[
        "exec",
        "-n",
        &namespace,
        "n2",
        "--",
        "cat",
        clock_file.to_str().unwrap(),
    ]);
    assert!(written.contains("3600000"), "{written}");

    // A node kill: the pod deleted through the API and made again, with a new pod IP
    // and the same stable address, which every other pod sends to the new pod.
    let pod_ip = |c: &KubeCluster, name: &str| c.describe()["pod_ips"][name].clone();
    let ip_before = pod_ip(&cluster, "n2");
    let uid = |n: &str| {
        node.ok(&[
            "get",
            "pod",
            "-n",
            &namespace,
            n,
            "-o",
            "jsonpath={.metadata.uid}",
        ])
    };
    let uid_before = uid("n2");
    let nodes_kill = cluster
        .node_kill()
        .expect("the Kubernetes backend kills pods");
    let killed = nodes_kill.kill_nodes(&["n2".to_string()]);
    assert_eq!(killed.len(), 1);
    assert_eq!(
        killed[0].1.as_ref().unwrap(),
        &["agent-sleeper", "redis-n2"]
    );
    assert!(
        node.kubectl(&["get", "pod", "-n", &namespace, "n2"])
            .status
            .code()
            != Some(0),
        "pod n2 is still there after its kill"
    );
    assert!(
        cluster
            .processes()
            .iter()
            .any(|p| p.name == "redis-n2" && p.state == splitbrain_nemesis::ProcessState::Killed)
    );
    nodes_kill.restore_nodes(&["n2".to_string()]).unwrap();
    assert_ne!(uid("n2"), uid_before, "pod n2 was not made again");
    cluster.restart("redis-n2").unwrap();
    let started = Instant::now();
    while !(reaches(&node, &namespace, "n1", &addr("n2"))
        && reaches(&node, &namespace, "n2", &addr("n3")))
    {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "n2's stable address {} (pod IP {ip_before} before, {} now) never answered",
            addr("n2"),
            pod_ip(&cluster, "n2")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // The partition rules follow the new pod IP.
    let alone = Grudge::between(&[vec!["n2".into()], vec!["n1".into(), "n3".into()]]);
    cluster.partition(&alone).unwrap();
    assert!(
        !reaches(&node, &namespace, "n1", &addr("n2")),
        "n1 reached the new n2 through a partition"
    );
    assert!(reaches(&node, &namespace, "n1", &addr("n3")));
    cluster.heal().unwrap();

    let report = cluster.teardown().unwrap();
    // The run's namespace and its node daemons'.
    assert_eq!(report.namespaces_deleted, 2);
    assert!(
        dirs.path().join("run/logs/redis-n1.log").is_file(),
        "the pods' logs were not brought back"
    );
    // n2's log holds both of its redis servers: the one its killed pod ran, then the new.
    let log = std::fs::read_to_string(dirs.path().join("run/logs/redis-n2.log")).unwrap();
    assert_eq!(
        log.matches("Ready to accept connections").count(),
        2,
        "{log}"
    );
    assert!(
        run_namespaces(&node).is_empty(),
        "{:?}",
        run_namespaces(&node)
    );
}

#[test]
fn a_pod_kill_is_recorded_with_its_pod_and_the_run_ends_with_a_verdict() {
    common::require_root();
    let node = Node::up();
    let image = load_image();
    let out = tempfile::tempdir().unwrap();
    let kubeconfig = controller_kubeconfig(&node, out.path());
    // One node: the pod the fault kills holds the Redis and every agent.
    let mut args = vec![
        "run",
        "--lock",
        "redis",
        "--workload",
        "counter",
        "--nemesis",
        "kill-pod",
        "--fencing",
        "on",
        "--seed",
        "7",
        "--clients",
        "2",
        "--nodes",
        "1",
        "--time-limit",
        "15",
        "--nemesis-interval",
        "3",
        "--out",
        out.path().to_str().unwrap(),
    ];
    args.extend(kube_flags(&kubeconfig, &image));
    let run = common::splitbrain(&args);
    let code = run.status.code();
    assert!(
        matches!(code, Some(0 | 1)),
        "no verdict (exit {code:?}):\n{}",
        text(&run)
    );
    let dir = common::latest_run(out.path());
    let nemesis = |f: &str| -> Vec<Value> {
        common::history_ops(&dir)
            .into_iter()
            .filter(|op| op["process"] == "nemesis" && op["f"] == f && op["type"] == "info")
            .collect()
    };
    let kills = nemesis("kill");
    assert!(!kills.is_empty(), "no kill in the history");
    for kill in &kills {
        let value = &kill["value"];
        assert!(kill["error"].is_null(), "{kill}");
        assert_eq!(value["fault"], "kill-pod", "{kill}");
        assert_eq!(value["pods"], serde_json::json!(["n1"]), "{kill}");
        assert_eq!(value["hosts"]["n1"], "splitbrain-node", "{kill}");
        let processes: Vec<&str> = value["processes"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(processes.contains(&"redis-n1"), "{kill}");
        assert!(processes.iter().any(|p| p.starts_with("agent-")), "{kill}");
    }
    let starts = nemesis("start");
    assert_eq!(starts.len(), kills.len(), "every killed pod is made again");
    for start in &starts {
        assert!(start["error"].is_null(), "{start}");
        assert_eq!(start["value"]["pods"], serde_json::json!(["n1"]), "{start}");
    }
    let log = std::fs::read_to_string(dir.join("logs/redis-n1.log")).unwrap();
    assert!(
        log.matches("Ready to accept connections").count() > kills.len(),
        "redis-n1.log does not hold every incarnation's start:\n{log}"
    );
    assert!(!dir.join(".pods-before-kill").exists());
    assert!(
        run_namespaces(&node).is_empty(),
        "{:?}",
        run_namespaces(&node)
    );
}

#[test]
fn zookeeper_runs_on_pods_and_an_unfenced_holder_pause_there_loses_updates() {
    common::require_root();
    let node = Node::up();
    let image = load_image();
    let out = tempfile::tempdir().unwrap();
    let kubeconfig = controller_kubeconfig(&node, out.path());
    let args = canary_on_pods(&kubeconfig, &image, out.path(), "zookeeper", "off");
    let run = common::splitbrain(&args);
    assert_exit(&run, 1);
    let dir = common::latest_run(out.path());
    assert_lost_updates(&results(&dir));
    let info: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap()).unwrap();
    assert_eq!(
        info["extra"]["backend"]["backend"], "kubernetes",
        "{info:#}"
    );
    assert!(
        dir.join("logs/zookeeper-n1.log").is_file(),
        "no ZooKeeper log came back"
    );
    assert!(
        run_namespaces(&node).is_empty(),
        "{:?}",
        run_namespaces(&node)
    );
}

#[test]
fn the_lock_libraries_plug_ins_run_in_the_pods_from_the_image() {
    common::require_root();
    let node = Node::up();
    // scripts/build-image adds the plug-ins install-deps built: kazoo in its venv on the
    // image's Python, Hazelcast's members from the Maven jars.
    let image = load_image();
    let out = tempfile::tempdir().unwrap();
    let kubeconfig = controller_kubeconfig(&node, out.path());
    for lock in ["kazoo", "hazelcast"] {
        let args = canary_on_pods(&kubeconfig, &image, out.path(), lock, "off");
        let run = common::splitbrain(&args);
        // Whatever the verdict, the lock granted: the plug-in ran in the pods.
        let code = run.status.code();
        assert!(
            matches!(code, Some(0 | 1)),
            "{lock}: exit {code:?}:\n{}",
            text(&run)
        );
        let dir = common::latest_run(out.path());
        let granted = common::history_ops(&dir)
            .iter()
            .filter(|op| op["f"] == "acquire" && op["type"] == "ok")
            .count();
        assert!(
            granted > 0,
            "{lock}: no acquire was granted:\n{}",
            text(&run)
        );
    }
    assert!(
        run_namespaces(&node).is_empty(),
        "{:?}",
        run_namespaces(&node)
    );
}
