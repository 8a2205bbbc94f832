//! Argument definitions and dispatch for each subcommand.

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use splitbrain_runner::{
    LockKind, NemesisOptions, Progress, RunConfig, RunError, ServerSet, WorkloadName,
};
use std::path::PathBuf;
use std::time::Duration;

use crate::exit::{BadInput, EXIT_INTERNAL, bad_input};

/// splitbrain: Jepsen-style chaos and linearizability testing for distributed locks.
///
/// Exit codes: 0 valid, 1 invalid (a violation was found), 2 unknown (nothing was
/// tested, the run was interrupted, or a check ran out of time), 253 the machine is not
/// set up (a program is missing), 254 bad input, 255 internal error (a bug).
#[derive(Parser, Debug)]
#[command(name = "splitbrain", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Bring up a local cluster, run a workload against a lock under faults, then check
    /// the history and write a report.
    Run(RunArgs),
    /// Check a stored run directory again (rewrites results.json).
    Check(CheckArgs),
    /// Write the HTML report (index.html) of a stored run directory again.
    Report {
        /// The run directory (for example results/latest).
        dir: PathBuf,
    },
    /// Remove what crashed runs left behind: network namespaces, processes, state; with
    /// --backend kubernetes, the namespaces of runs whose controller is gone.
    Cleanup {
        /// Whose leftovers to remove.
        #[arg(long, value_enum, default_value_t = BackendName::Local)]
        backend: BackendName,
        /// The cluster's kubeconfig, for --backend kubernetes [default: $KUBECONFIG].
        #[arg(long = "kubeconfig", value_name = "FILE")]
        kubeconfig: Option<PathBuf>,
    },
    /// Write a run as a trace: Chrome's trace JSON (Perfetto, chrome://tracing) or
    /// OpenTelemetry's OTLP JSON (a collector, Jaeger).
    Export {
        /// The run directory (for example results/latest).
        dir: PathBuf,
        /// The trace format.
        #[arg(long, value_enum, default_value_t = ExportFormat::ChromeTrace)]
        format: ExportFormat,
        /// Write here [default: trace.json or otlp.json in the run directory]
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Run a matrix of runs from a suite file (TOML) and check each against its expected
    /// verdict: a summary page, one junit.xml, exit 0 only when every run concluded as
    /// expected (examples/canary.toml, examples/nightly.toml).
    Suite(crate::suite::SuiteArgs),
    /// Write a history of a simulated register (linearizable, or with one stale read),
    /// for trying and benchmarking the checker: `check FILE --model ...` reads it.
    GenHistory(crate::gen_history::GenHistoryArgs),
    /// Run a client's agent on a node (started by `splitbrain run`).
    #[command(hide = true)]
    Agent(splitbrain_workloads::agent::AgentArgs),
    /// Run the protected resource on a node (started by `splitbrain run`).
    #[command(hide = true)]
    Resource(splitbrain_workloads::resource::ResourceArgs),
    /// A node pod's first process (Kubernetes backend): reaps what pod-spawn starts and
    /// serves the controller's connections and signals.
    #[command(hide = true)]
    PodInit,
    /// Start one process of a run inside a node pod (Kubernetes backend).
    #[command(hide = true)]
    PodSpawn(crate::pod::SpawnArgs),
    /// Set the clock of a process pod-spawn started, by name (Kubernetes backend).
    #[command(hide = true)]
    PodClock(crate::pod::ClockArgs),
    /// The privileged daemon on each Kubernetes node of a run: runs the controller's
    /// network commands in the node pods' network namespaces.
    #[command(hide = true)]
    NodeDaemon,
}

#[derive(Args, Debug)]
struct RunArgs {
    /// The lock under test.
    #[arg(long, value_enum, default_value_t = LockKind::Redis)]
    lock: LockKind,
    /// The workload: `counter` acquires the lock, reads a counter on the resource, waits,
    /// writes counter+1 with its fencing token, and releases; `leader` elects leaders
    /// with the lock and checks for split brain; `optimistic` does compare-and-set on a
    /// counter in the lock system's store and checks linearizability.
    #[arg(long, default_value = "counter", value_parser = parse_workload)]
    workload: WorkloadName,
    /// Faults to inject, comma-separated, each with an optional weight (`pause:2,
    /// partition:1`: pauses twice as often); `none` for no faults. Names are
    /// `<action>[-<target>]`:
    ///   pause, kill: SIGSTOP then SIGCONT; SIGKILL then the same command line again.
    ///   clock-bump, clock-strobe, clock-drift: a jump by up to --clock-bump-max-ms, a
    ///     flip back and forth every 10-100 ms, a rate up to --clock-drift-max; then a
    ///     reset (clock: all three; clock-reset: every clock back to the true time).
    ///     Our agents' lease bookkeeping reads the skewed clock; servers and lock
    ///     plug-ins get it through libfaketime or their vDSO. The host clock is never
    ///     touched.
    ///   Targets: none = one lock server or agent; -one, -minority, -majority, -all =
    ///     every lock server and agent on that many nodes; -holder = the lock holder's
    ///     agent (pause-holder lasts a seeded 2 to 3 x TTL + 500 ms); -leader = the
    ///     leader's servers. A targeted fault waits for its target (up to the
    ///     quiet interval, between 0.5 and 3 s) and then strikes.
    ///   partition (random halves or one node), partition-halves,
    ///     partition-random-halves, partition-one, partition-majorities-ring,
    ///     partition-bridge, partition-oneway, isolate-holder, isolate-leader.
    ///   loss: every lock node drops --loss-percent of the packets from the others;
    ///   latency: --latency-ms more each way between lock nodes (a TCP proxy).
    #[arg(long, default_value = "pause,kill,partition", verbatim_doc_comment)]
    nemesis: String,
    /// Client processes (one agent each, spread over the nodes).
    #[arg(long, default_value_t = 5)]
    clients: usize,
    /// Nodes of the lock system; the resource gets a node of its own.
    #[arg(long, default_value_t = 5)]
    nodes: usize,
    /// Seconds of workload.
    #[arg(long, default_value_t = 30)]
    time_limit: u64,
    /// Lock time-to-live in milliseconds.
    #[arg(long, default_value_t = 1000)]
    ttl_ms: u64,
    /// Whether the resource rejects writes whose fencing token is older than the newest
    /// it has accepted.
    #[arg(long, value_enum, default_value_t = OnOff::On)]
    fencing: OnOff,
    /// Seed of the generator and the nemesis schedule; the same seed replays the same
    /// schedule. Random (and printed) when not given.
    #[arg(long)]
    seed: Option<u64>,
    /// Directory that holds run directories and the `latest` link.
    #[arg(long, default_value = "results")]
    out: PathBuf,
    /// Private IPv4 subnet for node addresses; it exists only inside the run's namespaces.
    #[arg(long, default_value = "10.77.0.0/24")]
    subnet: String,
    /// Milliseconds between the read and the write of the critical section: the window
    /// a pause of the holder can fall into.
    #[arg(long, default_value_t = 50)]
    cs_wait_ms: u64,
    /// Lock attempts per second over all clients.
    #[arg(long, default_value_t = 50.0)]
    rate: f64,
    /// Milliseconds the controller waits for an op before recording it as `info`
    /// [default: 5000; for k8s-clientgo 6 x --ttl-ms when that is more, so an acquire
    /// can outwait a lease].
    #[arg(long)]
    op_timeout_ms: Option<u64>,
    /// Mean seconds of quiet between the end of one fault and the start of the next; each
    /// gap is seeded between 0.5 and 1.5 times this.
    #[arg(long, default_value_t = 3.0)]
    nemesis_interval: f64,
    /// For `--lock external`: the plug-in each agent starts (with `sh -c "exec ..."`, in
    /// the current directory) and speaks JSON lines with on its stdin and stdout.
    #[arg(long)]
    plugin_command: Option<String>,
    /// For `--lock external`: lock systems whose servers the plug-in needs,
    /// comma-separated (`redis`); each one's address reaches it as `SPLITBRAIN_REDIS`, ...
    #[arg(long, value_enum, value_delimiter = ',')]
    plugin_servers: Vec<ServerSet>,
    /// Test-only: the optimistic workload's compare-and-set skips its version check, to
    /// show the linearizability checker catching lost updates.
    #[arg(long, hide = true)]
    optimistic_unsafe: bool,
    /// The largest jump of clock-bump (and flip of clock-strobe), in milliseconds.
    #[arg(long, default_value_t = 5000)]
    clock_bump_max_ms: u64,
    /// clock-drift runs a clock between 1/F and F times the true speed.
    #[arg(long, default_value_t = 2.0)]
    clock_drift_max: f64,
    /// The share of packets the loss fault drops, in percent (1 to 100).
    #[arg(long, default_value_t = 20)]
    loss_percent: u8,
    /// The delay the latency fault adds each way between lock nodes, in milliseconds.
    #[arg(long, default_value_t = 100)]
    latency_ms: u64,
    /// Agents refuse to touch the resource once the lease they were granted has run out
    /// by their own clock (the one clock faults skew), as a careful lease-based client
    /// does. Off by default: the unfenced canary relies on holders acting late.
    #[arg(long, value_enum, default_value_t = OnOff::Off)]
    lease_check: OnOff,
    /// Where the nodes are: `local`, network namespaces on this machine; `kubernetes`,
    /// pods on the cluster of --kubeconfig (see README, "The Kubernetes backend").
    #[arg(long, value_enum, default_value_t = BackendName::Local)]
    backend: BackendName,
    #[command(flatten)]
    kube: KubeArgs,
}

/// Where `--backend kubernetes` (run and cleanup) finds its cluster.
#[derive(Args, Debug, Clone, Default)]
struct KubeArgs {
    /// The kubeconfig of the cluster [default: $KUBECONFIG, else ~/.kube/config].
    #[arg(long = "kubeconfig", value_name = "FILE")]
    kubeconfig: Option<PathBuf>,
    /// The run's namespace, which must not exist [default: splitbrain-<run id>].
    #[arg(long, value_name = "NAME")]
    namespace: Option<String>,
    /// The image of the node pods, present on the cluster's nodes (scripts/build-image
    /// then scripts/kube-node load-image; or image/Dockerfile then kind load).
    #[arg(long, value_name = "IMAGE")]
    image: Option<String>,
}

/// A backend, as `--backend` spells it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum BackendName {
    /// Network namespaces on this machine.
    Local,
    /// Pods on a Kubernetes cluster.
    Kubernetes,
}

#[derive(Args, Debug)]
struct CheckArgs {
    /// A run directory, or a history file (then --model is required).
    path: PathBuf,
    #[command(flatten)]
    file: crate::check_file::CheckFileArgs,
}

/// An ExportFormat is a trace format, as `export --format` spells it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum ExportFormat {
    /// Chrome's trace event JSON.
    ChromeTrace,
    /// OpenTelemetry's OTLP JSON.
    Otlp,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum OnOff {
    On,
    Off,
}

fn parse_workload(s: &str) -> Result<WorkloadName, String> {
    s.parse()
}

/// Runs the chosen subcommand and returns the process exit code.
pub fn dispatch(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Run(args) => run(args),
        Command::Check(args) => {
            die_quietly_on_closed_pipe();
            check(args)
        }
        Command::Report { dir } => {
            die_quietly_on_closed_pipe();
            report(dir)
        }
        Command::Cleanup {
            backend: BackendName::Local,
            ..
        } => cleanup(),
        Command::Cleanup {
            backend: BackendName::Kubernetes,
            kubeconfig,
        } => cleanup_kubernetes(kubeconfig),
        Command::Export { dir, format, out } => export(dir, format, out),
        Command::Suite(args) => crate::suite::run(&args),
        Command::GenHistory(args) => {
            die_quietly_on_closed_pipe();
            crate::gen_history::run(&args)
        }
        Command::Agent(args) => serve(splitbrain_workloads::agent::serve(args)),
        Command::Resource(args) => serve(splitbrain_workloads::resource::serve(args)),
        Command::PodInit => crate::pod::init().map(|()| 0),
        Command::PodSpawn(args) => crate::pod::spawn(&args).map(|()| 0),
        Command::PodClock(args) => crate::pod::clock(&args).map(|()| 0),
        Command::NodeDaemon => crate::node_daemon::serve().map(|()| 0),
    }
}

/// Lets `splitbrain check ... | head` end quietly, as other Unix tools do, instead of
/// panicking on a closed stdout. Only for commands that print and exit: the controller
/// and the node services talk over sockets, where a closed peer must be an error to
/// handle, not a signal that kills the process.
fn die_quietly_on_closed_pipe() {
    use nix::sys::signal::{SigHandler, Signal, signal};
    // SAFETY: restoring the default disposition installs no handler of ours, and runs
    // before any thread is started.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
}

fn run(args: RunArgs) -> Result<u8> {
    // Only the local backend builds namespaces here; a Kubernetes run needs the network
    // to the cluster, which a user namespace of its own would not have.
    if args.backend == BackendName::Local
        && let Some(code) = splitbrain_nemesis::local::enter_user_namespace_if_needed()?
    {
        return Ok(u8::try_from(code).unwrap_or(EXIT_INTERNAL));
    }
    let cfg = run_config(args)?;
    let progress = Progress::stderr();
    let outcome = runtime()?.block_on(splitbrain_runner::run(cfg, &progress))?;
    print_results(&outcome.results);
    let timings: Vec<String> = progress
        .timings()
        .iter()
        .map(|(phase, d)| format!("{phase} {:.2}s", d.as_secs_f64()))
        .collect();
    eprintln!("phases: {}", timings.join(", "));
    println!("report: {}", outcome.dir.join("index.html").display());
    println!(
        "junit: {}",
        outcome.dir.join(splitbrain_reports::JUNIT_FILE).display()
    );
    if outcome.interrupted {
        eprintln!("splitbrain: interrupted; the cluster was torn down and the verdict is unknown");
    }
    Ok(outcome.results.valid.exit_code() as u8)
}

/// Checks `splitbrain run ARGS` as the command line would, without running anything: a
/// bad argument is the same error (exit 254) that `run` would give.
pub fn check_run_args(args: &[String]) -> Result<()> {
    let argv = ["splitbrain".to_owned(), "run".to_owned()]
        .into_iter()
        .chain(args.iter().cloned());
    let cli = Cli::try_parse_from(argv).map_err(|e| {
        let said = e.to_string();
        let first = said
            .lines()
            .next()
            .unwrap_or("")
            .trim_start_matches("error: ");
        BadInput(format!("bad run arguments `{}`: {first}", args.join(" ")))
    })?;
    match cli.command {
        Command::Run(run) => run_config(run).map(|_| ()),
        _ => unreachable!("parsed as run"),
    }
}

/// The configuration `splitbrain run ...` would run with, for tests of argument handling.
#[cfg(test)]
pub fn run_config_for_test(cli: Cli) -> Result<RunConfig> {
    match cli.command {
        Command::Run(args) => run_config(args),
        other => anyhow::bail!("not a run command: {other:?}"),
    }
}

/// The longest quiet gap between faults a run accepts: a day.
const MAX_NEMESIS_INTERVAL: Duration = Duration::from_secs(86_400);

fn run_config(args: RunArgs) -> Result<RunConfig> {
    let nemesis = match args.nemesis.trim() {
        "none" | "" => vec![],
        list => list.split(',').map(|s| s.trim().to_string()).collect(),
    };
    let seed = args.seed.unwrap_or_else(rand_seed);
    let nemesis_options = nemesis_options(&args)?;
    let nemesis_interval = Duration::try_from_secs_f64(args.nemesis_interval)
        .ok()
        .filter(|d| *d <= MAX_NEMESIS_INTERVAL);
    let Some(nemesis_interval) = nemesis_interval else {
        return Err(RunError::Config(format!(
            "nemesis-interval={:?} must be a number of seconds from 0 to {}",
            args.nemesis_interval,
            MAX_NEMESIS_INTERVAL.as_secs()
        ))
        .into());
    };
    Ok(RunConfig {
        lock: args.lock,
        workload: args.workload,
        nemesis,
        clients: args.clients,
        nodes: args.nodes,
        time_limit: Duration::from_secs(args.time_limit),
        ttl: Duration::from_millis(args.ttl_ms),
        fencing: args.fencing == OnOff::On,
        seed,
        results_root: args.out,
        subnet: args.subnet,
        cs_wait: Duration::from_millis(args.cs_wait_ms),
        rate: args.rate,
        op_timeout: Duration::from_millis(
            args.op_timeout_ms.unwrap_or_else(|| {
                splitbrain_runner::default_op_timeout_ms(args.lock, args.ttl_ms)
            }),
        ),
        nemesis_interval,
        nemesis_options,
        lease_check: args.lease_check == OnOff::On,
        command: command_line(seed),
        plugin: plugin_spec(args.plugin_command, args.plugin_servers)?,
        optimistic_unsafe: args.optimistic_unsafe,
        backend: backend(args.backend, args.kube)?,
    })
}

/// The backend of `--backend`, with the Kubernetes flags only where they mean something.
fn backend(name: BackendName, kube: KubeArgs) -> Result<splitbrain_runner::Backend> {
    match name {
        BackendName::Local => {
            if kube.namespace.is_some() || kube.image.is_some() || kube.kubeconfig.is_some() {
                return Err(RunError::Config(
                    "--kubeconfig, --namespace and --image are only used with --backend \
                     kubernetes"
                        .into(),
                )
                .into());
            }
            Ok(splitbrain_runner::Backend::Local)
        }
        BackendName::Kubernetes => {
            if let Some(namespace) = &kube.namespace {
                splitbrain_nemesis::kube::check_namespace_length(namespace)
                    .map_err(RunError::Config)?;
            }
            let image = kube.image.ok_or_else(|| {
                RunError::Config(
                    "--backend kubernetes needs --image: the node pods' image, on the \
                     cluster's nodes (scripts/build-image, then scripts/kube-node load-image)"
                        .into(),
                )
            })?;
            Ok(splitbrain_runner::Backend::Kubernetes(
                splitbrain_runner::KubeBackend {
                    kubeconfig: kube.kubeconfig,
                    namespace: kube.namespace,
                    image,
                },
            ))
        }
    }
}

/// `cleanup --backend kubernetes`: deletes crashed runs' namespaces.
fn cleanup_kubernetes(kubeconfig: Option<PathBuf>) -> Result<u8> {
    let report = splitbrain_nemesis::kube::cleanup_leftovers(kubeconfig.as_deref())
        .context("cleanup could not reach the cluster or delete a namespace")?;
    if report.deleted.is_empty() && report.live.is_empty() && report.elsewhere.is_empty() {
        println!("cleanup: no namespace of a run on the cluster");
    }
    for ns in &report.deleted {
        println!("cleanup: deleted namespace {ns} (its controller is gone)");
    }
    for ns in &report.live {
        println!("cleanup: kept namespace {ns}: its run is still going");
    }
    for ns in &report.elsewhere {
        println!(
            "cleanup: kept namespace {ns}: its run is controlled from another machine (run \
             cleanup there, or kubectl delete namespace {ns})"
        );
    }
    Ok(0)
}

fn plugin_spec(
    command: Option<String>,
    servers: Vec<ServerSet>,
) -> Result<Option<splitbrain_runner::PluginSpec>> {
    let Some(command) = command else {
        if !servers.is_empty() {
            return Err(RunError::Config(
                "plugin-servers is only used with --lock external --plugin-command ...".into(),
            )
            .into());
        }
        return Ok(None);
    };
    let dir = std::env::current_dir().context("cannot read the current directory")?;
    Ok(Some(splitbrain_runner::PluginSpec {
        command,
        dir,
        servers,
    }))
}

/// The sizes of clock, loss and latency faults, checked.
fn nemesis_options(args: &RunArgs) -> Result<NemesisOptions> {
    let bad = |m: String| Err(RunError::Config(m).into());
    if !(args.clock_drift_max.is_finite() && args.clock_drift_max > 1.0) {
        return bad(format!(
            "clock-drift-max={} must be a factor above 1, such as 2 (clocks then run between half and twice the true speed)",
            args.clock_drift_max
        ));
    }
    if !(1..=100).contains(&args.loss_percent) {
        return bad(format!(
            "loss-percent={} must be between 1 and 100",
            args.loss_percent
        ));
    }
    if args.clock_bump_max_ms == 0 {
        return bad("clock-bump-max-ms=0: give the largest jump, such as 5000".into());
    }
    Ok(NemesisOptions {
        clock_bump_max: Duration::from_millis(args.clock_bump_max_ms),
        clock_drift_max: args.clock_drift_max,
        loss_percent: args.loss_percent,
        latency: Duration::from_millis(args.latency_ms),
    })
}

/// The command line as typed, with the seed made explicit so it can be rerun.
fn command_line(seed: u64) -> String {
    let mut words: Vec<String> = std::env::args().collect();
    if let Some(first) = words.first_mut() {
        *first = "splitbrain".into();
    }
    if !words
        .iter()
        .any(|w| w == "--seed" || w.starts_with("--seed="))
    {
        words.push(format!("--seed={seed}"));
    }
    words.join(" ")
}

fn rand_seed() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now()) % 1_000_000_000
}

fn check(args: CheckArgs) -> Result<u8> {
    require_exists(&args.path, "a run directory or a history file")?;
    if args.path.is_dir() {
        let given = args.file.given();
        if !given.is_empty() {
            bad_input!(
                "{} only apply to a history file, and path={} is a run directory, whose \
                 checkers follow from its workload (check its history.jsonl as a file to \
                 choose a model)",
                given.join(", "),
                args.path.display()
            );
        }
        let results = splitbrain_checker::run_dir::check_run_dir(&args.path)?;
        print_results(&results);
        let junit = splitbrain_reports::write_junit(&args.path)?;
        println!("junit: {}", junit.display());
        return Ok(results.valid.exit_code() as u8);
    }
    let code = crate::check_file::run(&args.path, &args.file)?;
    Ok(u8::try_from(code).unwrap_or(EXIT_INTERNAL))
}

/// A path the user named must exist before anything else is said about it.
fn require_exists(path: &std::path::Path, what: &str) -> Result<()> {
    if !path.exists() {
        bad_input!(
            "no such file or directory: path={} (expected {what})",
            path.display()
        );
    }
    Ok(())
}

fn report(dir: PathBuf) -> Result<u8> {
    require_exists(&dir, "a run directory, such as results/latest")?;
    let page = splitbrain_reports::write_report(&dir)?;
    println!("report: {}", page.display());
    Ok(0)
}

fn export(dir: PathBuf, format: ExportFormat, out: Option<PathBuf>) -> Result<u8> {
    require_exists(&dir, "a run directory, such as results/latest")?;
    let (run, results) = splitbrain_reports::load_checked(&dir)?;
    let (trace, name) = match format {
        ExportFormat::ChromeTrace => (
            splitbrain_reports::export::chrome_trace(&run, &results),
            "trace.json",
        ),
        ExportFormat::Otlp => (
            splitbrain_reports::export::otlp(&run, &results),
            "otlp.json",
        ),
    };
    let path = out.unwrap_or_else(|| dir.join(name));
    let text = serde_json::to_vec(&trace)?;
    splitbrain_checker::write_atomically(&path, &text).map_err(|e| {
        BadInput(format!(
            "cannot write the trace: out={}: {e} (give --out a file in a directory you can \
             write to)",
            path.display()
        ))
    })?;
    println!("trace: {}", path.display());
    Ok(0)
}

fn cleanup() -> Result<u8> {
    let report = splitbrain_nemesis::local::cleanup_leftovers()
        .context("cleanup could not remove everything; run it again as root")?;
    print_cleanup(&report);
    if report.problems.is_empty() {
        Ok(0)
    } else {
        Ok(EXIT_INTERNAL)
    }
}

fn print_cleanup(report: &splitbrain_nemesis::local::CleanupReport) {
    if report.is_empty() && report.problems.is_empty() {
        println!("cleanup: nothing left behind");
    }
    for run in &report.runs_removed {
        println!("cleanup: removed the remains of run {run}");
    }
    for ns in &report.namespaces_deleted {
        println!("cleanup: deleted network namespace {ns}");
    }
    if !report.processes_killed.is_empty() {
        println!(
            "cleanup: killed {} processes",
            report.processes_killed.len()
        );
    }
    for dir in &report.state_dirs_removed {
        println!("cleanup: removed {}", dir.display());
    }
    for run in &report.live_runs_kept {
        println!("cleanup: left run {run} alone: its controller is still running");
    }
    for problem in &report.problems {
        eprintln!("cleanup: could not remove: {problem}");
    }
}

fn serve<E: std::error::Error + Send + Sync + 'static>(
    fut: impl std::future::Future<Output = Result<(), E>>,
) -> Result<u8> {
    runtime()?.block_on(fut)?;
    Ok(0)
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn print_results(results: &splitbrain_checker::Results) {
    let verdict = match results.valid {
        splitbrain_checker::Validity::Valid => "valid",
        splitbrain_checker::Validity::Invalid => "INVALID",
        splitbrain_checker::Validity::Unknown => "unknown",
    };
    // The verdict line names what decided it: the first checker with the composed
    // verdict, so that "unknown" or "INVALID" never comes without its reason.
    let decided_by = results
        .checkers
        .iter()
        .find(|(_, r)| r.valid == results.valid && r.valid != splitbrain_checker::Validity::Valid);
    match decided_by {
        Some((name, r)) => println!("verdict: {verdict} ({name}: {})", r.summary),
        None => println!("verdict: {verdict}"),
    }
    for (name, r) in &results.checkers {
        println!("  {name}: {}", r.summary);
    }
}
