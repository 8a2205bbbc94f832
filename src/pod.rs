//! What splitbrain runs inside a node pod of the Kubernetes backend (see
//! `splitbrain_nemesis::kube`): `pod-init`, the pod's first process, which keeps the pod
//! alive, reaps the processes started in it, and serves the controller's connections
//! and signals (see [`PROXY_PORT`]); `pod-spawn`, which starts one process of the run in
//! its own session with its output in a log file and leaves it to `pod-init`; and
//! `pod-clock`, which sets a started process's clock as the local backend does (its
//! clock files, libfaketime's timestamp file, or its vDSO). The controller runs the last
//! two through the API's exec; a signal goes to pod-init's port instead, since an exec
//! takes a new process in the container and lands hundreds of milliseconds late.

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use nix::sys::signal::{self, SigHandler, Signal};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Where the pid of each started process is kept, by process name.
const PID_DIR: &str = "/run/splitbrain-pod/pids";
/// The loopback port of the pod's latency proxy.
pub const LATENCY_PORT: u16 = splitbrain_nemesis::kube::LATENCY_PORT;
/// Where the controller writes the latency in force, in milliseconds.
pub const LATENCY_FILE: &str = splitbrain_nemesis::kube::LATENCY_FILE;
/// How long a signal waits for a process to stop or die.
const SIGNAL_WAIT: Duration = Duration::from_secs(10);

/// The loopback port where `pod-init` takes the controller's connections, which arrive
/// through the API's port-forward. Each starts with one line:
/// - `connect ADDR TIMEOUT_MS`: pod-init connects to ADDR from inside the pod (so the
///   pod's partition rules apply, as they do to its own processes), answers `ok` or
///   `error WHY`, and then relays bytes both ways until either side closes;
/// - `signal NAME stop|cont|kill`: pod-init signals the group of the process pod-spawn
///   started as NAME, waits until the kernel shows the effect and answers `ok` or
///   `error WHY`; more `signal` lines may follow on the same connection;
/// - `signals`: answered `ok`, a connection for the `signal` lines that follow.
///
/// Kept in step with `splitbrain_nemesis::kube`.
pub const PROXY_PORT: u16 = splitbrain_nemesis::kube::PROXY_PORT;

/// `splitbrain pod-init`: sleeps as the pod's pid 1, reaping every orphan (the processes
/// `pod-spawn` started) and serving the controller's connections, until SIGTERM or
/// SIGINT.
pub fn init() -> Result<()> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", PROXY_PORT))
        .with_context(|| format!("listening on 127.0.0.1:{PROXY_PORT}"))?;
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || proxy(conn));
        }
    });
    start_latency_proxy()?;
    extern "C" fn stop(_: nix::libc::c_int) {
        // SAFETY: _exit is async-signal-safe.
        unsafe { nix::libc::_exit(0) }
    }
    for sig in [Signal::SIGTERM, Signal::SIGINT] {
        // SAFETY: the handler only calls _exit.
        unsafe { signal::signal(sig, SigHandler::Handler(stop)) }
            .context("installing pod-init's signal handlers")?;
    }
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::__WALL)) {
            Ok(WaitStatus::StillAlive) | Ok(_) => {}
            Err(nix::errno::Errno::ECHILD) => std::thread::sleep(Duration::from_millis(200)),
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => bail!("pod-init: waitpid: {e}"),
        }
    }
}

/// Serves the latency proxy (`splitbrain_nemesis::latency_proxy`) on the pod's
/// loopback, at [`LATENCY_PORT`], with the delay in [`LATENCY_FILE`] (none while it is
/// missing), which it reads every few milliseconds. Connections reach it only once the
/// controller has put the redirect rule in the pod.
fn start_latency_proxy() -> Result<()> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    let listener = std::net::TcpListener::bind(("127.0.0.1", LATENCY_PORT))
        .with_context(|| format!("listening on 127.0.0.1:{LATENCY_PORT}"))?;
    listener.set_nonblocking(true)?;
    let delay_ms = Arc::new(AtomicU64::new(0));
    let watched = delay_ms.clone();
    std::thread::spawn(move || {
        loop {
            let ms = fs::read_to_string(LATENCY_FILE)
                .ok()
                .and_then(|t| t.trim().parse().ok())
                .unwrap_or(0);
            watched.store(ms, Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the latency proxy's runtime")?;
    std::thread::spawn(move || {
        runtime.block_on(async move {
            let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                return;
            };
            // Never stopped: it ends with the pod.
            let (_keep, stopped) = tokio::sync::watch::channel(false);
            splitbrain_nemesis::latency_proxy::serve(listener, delay_ms, stopped).await;
        });
    });
    Ok(())
}

/// What a controller connection asks for in its first line.
#[derive(Debug, PartialEq)]
enum ProxyRequest {
    Connect(std::net::SocketAddr, Duration),
    Signal(String, PodSignal),
    /// A connection for the signals that follow.
    Signals,
}

/// Serves one controller connection: its first line, the answer, then for a connect the
/// relay.
fn proxy(mut conn: std::net::TcpStream) {
    use std::io::Write;
    let target = match read_request_line(&conn) {
        Ok(ProxyRequest::Connect(addr, timeout)) => {
            std::net::TcpStream::connect_timeout(&addr, timeout)
                .map_err(|e| format!("connect {addr}: {e}"))
        }
        Ok(ProxyRequest::Signal(name, sig)) => return serve_signals(conn, Some((name, sig))),
        Ok(ProxyRequest::Signals) => return serve_signals(conn, None),
        Err(e) => Err(e),
    };
    let target = match target {
        Ok(t) => t,
        Err(why) => {
            let _ = writeln!(conn, "error {why}");
            return;
        }
    };
    if writeln!(conn, "ok").is_err() {
        return;
    }
    let (Ok(mut conn_r), Ok(mut target_w)) = (conn.try_clone(), target.try_clone()) else {
        return;
    };
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut conn_r, &mut target_w);
        let _ = target_w.shutdown(std::net::Shutdown::Write);
    });
    let (mut target_r, mut conn_w) = (target, conn);
    let _ = std::io::copy(&mut target_r, &mut conn_w);
    let _ = conn_w.shutdown(std::net::Shutdown::Write);
    let _ = up.join();
}

/// Answers the first line (a signal, sent, or `signals`, an opening) and goes on with
/// each further `signal` line of the connection until it closes: the controller keeps
/// one connection per pod, so a pause costs a line each way rather than a new
/// port-forward.
fn serve_signals(mut conn: std::net::TcpStream, mut next: Option<(String, PodSignal)>) {
    use std::io::Write;
    loop {
        let answered = match next.take().map(|(name, sig)| signal_started(&name, sig)) {
            None | Some(Ok(())) => writeln!(conn, "ok"),
            Some(Err(e)) => writeln!(conn, "error {}", format!("{e:#}").replace('\n', " ")),
        };
        if answered.is_err() {
            return;
        }
        match read_request_line(&conn) {
            Ok(ProxyRequest::Signal(name, sig)) => next = Some((name, sig)),
            Ok(_) => {
                let _ = writeln!(conn, "error a signal connection takes only `signal` lines");
                return;
            }
            Err(_) => return,
        }
    }
}

/// Reads the first line byte by byte, so nothing after it is consumed.
fn read_request_line(mut conn: &std::net::TcpStream) -> Result<ProxyRequest, String> {
    use std::io::Read;
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while line.len() < 256 {
        match conn.read(&mut byte) {
            Ok(1) if byte[0] == b'\n' => break,
            Ok(1) => line.push(byte[0]),
            _ => return Err("the connection closed before its first line".into()),
        }
    }
    parse_request_line(&String::from_utf8_lossy(&line))
}

/// `connect ADDR TIMEOUT_MS` or `signal NAME stop|cont|kill`, as the controller writes
/// them.
fn parse_request_line(line: &str) -> Result<ProxyRequest, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        ["connect", addr, ms] => {
            let addr = addr.parse().map_err(|_| format!("bad address {addr:?}"))?;
            let ms: u64 = ms.parse().map_err(|_| format!("bad timeout {ms:?}"))?;
            Ok(ProxyRequest::Connect(
                addr,
                Duration::from_millis(ms.max(1)),
            ))
        }
        ["signals"] => Ok(ProxyRequest::Signals),
        ["signal", name, sig] => {
            let sig = PodSignal::from_str(sig, false).map_err(|_| format!("bad signal {sig:?}"))?;
            Ok(ProxyRequest::Signal(name.to_string(), sig))
        }
        _ => Err(format!(
            "expected `connect ADDR TIMEOUT_MS` or `signal NAME stop|cont|kill`, got {line:?}"
        )),
    }
}

/// `splitbrain pod-spawn`'s arguments.
#[derive(Args, Debug)]
pub struct SpawnArgs {
    /// The process's name in the run (agent-3, redis-n1).
    #[arg(long)]
    name: String,
    /// The file its stdout and stderr are appended to (created with its folder).
    #[arg(long)]
    log: PathBuf,
    /// An environment variable to add, NAME=VALUE; repeatable.
    #[arg(long = "env", value_name = "NAME=VALUE")]
    env: Vec<String>,
    /// The program and its arguments.
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

/// Starts the process in its own session and prints its pid; it outlives this command.
pub fn spawn(args: &SpawnArgs) -> Result<()> {
    let parent = args.log.parent().unwrap_or(Path::new("/"));
    fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&args.log)
        .with_context(|| format!("opening {}", args.log.display()))?;
    let mut command = Command::new(&args.command[0]);
    command
        .args(&args.command[1..])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0);
    for pair in &args.env {
        let (name, value) = pair
            .split_once('=')
            .with_context(|| format!("--env {pair}: expected NAME=VALUE"))?;
        command.env(name, value);
    }
    let child = command
        .spawn()
        .with_context(|| format!("starting {}", args.command[0]))?;
    fs::create_dir_all(PID_DIR).with_context(|| format!("creating {PID_DIR}"))?;
    let pid_file = Path::new(PID_DIR).join(&args.name);
    fs::write(&pid_file, child.id().to_string())
        .with_context(|| format!("writing {}", pid_file.display()))?;
    println!("{}", child.id());
    Ok(())
}

/// The signals pod-init sends for the controller.
#[derive(Clone, Copy, Debug, PartialEq, ValueEnum)]
enum PodSignal {
    /// SIGSTOP, then wait until every process of the group is stopped.
    Stop,
    /// SIGCONT.
    Cont,
    /// SIGKILL, then wait until the process is gone.
    Kill,
}

/// `splitbrain pod-clock`'s arguments.
#[derive(Args, Debug)]
pub struct ClockArgs {
    /// The process's start specification, as JSON (the controller's ProcessSpec).
    #[arg(long)]
    spec: String,
    /// The clock setting, as JSON (splitbrain_nemesis::clock::ClockSetting).
    #[arg(long)]
    setting: String,
    /// The run's scratch folder, where the clock files are.
    #[arg(long)]
    state_dir: PathBuf,
    /// The process is paused by the nemesis (it stays paused).
    #[arg(long)]
    paused: bool,
    /// The process does not run (killed): only its clock files are written.
    #[arg(long, conflicts_with = "paused")]
    not_running: bool,
}

/// Sets the clock of a process started here and prints how it reached it, as JSON.
pub fn clock(args: &ClockArgs) -> Result<()> {
    let spec: splitbrain_nemesis::ProcessSpec =
        serde_json::from_str(&args.spec).context("--spec is not a process specification")?;
    let setting: splitbrain_nemesis::clock::ClockSetting =
        serde_json::from_str(&args.setting).context("--setting is not a clock setting")?;
    let target = if args.not_running {
        None
    } else {
        Some((started_pid(&spec.name)? as u32, args.paused))
    };
    let reach =
        splitbrain_nemesis::kube::set_clock_in_pod(&args.state_dir, &spec, target, &setting)?;
    println!("{}", serde_json::to_string(&reach)?);
    Ok(())
}

/// The pid pod-spawn recorded for the process `name`.
fn started_pid(name: &str) -> Result<i32> {
    let pid_file = Path::new(PID_DIR).join(name);
    fs::read_to_string(&pid_file)
        .with_context(|| format!("no process named {name} was started here"))?
        .trim()
        .parse()
        .with_context(|| format!("{} holds no pid", pid_file.display()))
}

/// Signals the group of the process started as `name` and waits for the effect. A
/// process that is already gone is no error for `kill` (nothing is left to kill) and is
/// one otherwise.
fn signal_started(name: &str, which: PodSignal) -> Result<()> {
    let pid = started_pid(name)?;
    let group = Pid::from_raw(-pid);
    let sig = match which {
        PodSignal::Stop => Signal::SIGSTOP,
        PodSignal::Cont => Signal::SIGCONT,
        PodSignal::Kill => Signal::SIGKILL,
    };
    if let Err(e) = signal::kill(group, sig) {
        if which == PodSignal::Kill && e == nix::errno::Errno::ESRCH {
            return Ok(());
        }
        bail!("{name} (pid {pid}): {sig}: {e}");
    }
    let done = |state: Option<char>| match which {
        PodSignal::Stop => matches!(state, Some('T') | Some('t')),
        PodSignal::Cont => true,
        PodSignal::Kill => matches!(state, None | Some('Z') | Some('X')),
    };
    let start = Instant::now();
    while !done(process_state(pid)) {
        if start.elapsed() > SIGNAL_WAIT {
            bail!("{name} (pid {pid}): no effect of {sig} after {SIGNAL_WAIT:?}");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

/// The state letter of /proc/PID/stat, None when the process is gone.
fn process_state(pid: i32) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: the state follows the last ')'.
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_first_line_is_a_connect_or_a_signal_and_anything_else_is_refused() {
        assert_eq!(
            parse_request_line("connect 10.1.2.3:6379 700"),
            Ok(ProxyRequest::Connect(
                "10.1.2.3:6379".parse().unwrap(),
                Duration::from_millis(700)
            ))
        );
        assert_eq!(
            parse_request_line("signal agent-2 stop"),
            Ok(ProxyRequest::Signal("agent-2".into(), PodSignal::Stop))
        );
        assert_eq!(parse_request_line("signals"), Ok(ProxyRequest::Signals));
        assert!(parse_request_line("connect 10.1.2.3 700").is_err());
        assert!(parse_request_line("connect 10.1.2.3:1 x").is_err());
        assert!(parse_request_line("open 10.1.2.3:1 7").is_err());
        assert!(parse_request_line("signal agent-2 hup").is_err());
        assert!(parse_request_line("signal agent-2").is_err());
    }

    #[test]
    fn the_proxy_connects_answers_and_relays_both_ways() {
        use std::io::{BufRead, Read, Write};
        let echo = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let echo_addr = echo.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut s, _) = echo.accept().unwrap();
            let mut buf = [0u8; 5];
            s.read_exact(&mut buf).unwrap();
            s.write_all(&buf).unwrap();
        });
        let front = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let front_addr = front.local_addr().unwrap();
        std::thread::spawn(move || proxy(front.accept().unwrap().0));
        let mut client = std::net::TcpStream::connect(front_addr).unwrap();
        writeln!(client, "connect {echo_addr} 500").unwrap();
        client.write_all(b"hello").unwrap();
        let mut reader = std::io::BufReader::new(client);
        let mut answer = String::new();
        reader.read_line(&mut answer).unwrap();
        assert_eq!(answer, "ok\n");
        let mut echoed = [0u8; 5];
        reader.read_exact(&mut echoed).unwrap();
        assert_eq!(&echoed, b"hello");

        // Nothing listens on a port just freed: the answer says so.
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let front = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let front_addr = front.local_addr().unwrap();
        std::thread::spawn(move || proxy(front.accept().unwrap().0));
        let mut client = std::net::TcpStream::connect(front_addr).unwrap();
        writeln!(client, "connect {closed} 500").unwrap();
        let mut answer = String::new();
        std::io::BufReader::new(client)
            .read_line(&mut answer)
            .unwrap();
        assert!(answer.starts_with("error connect"), "{answer}");
    }

    #[test]
    fn signals_to_processes_never_started_are_refused_naming_them_on_one_connection() {
        use std::io::{BufRead, Write};
        let front = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let front_addr = front.local_addr().unwrap();
        std::thread::spawn(move || proxy(front.accept().unwrap().0));
        let mut client = std::net::TcpStream::connect(front_addr).unwrap();
        writeln!(client, "signals").unwrap();
        let mut reader = std::io::BufReader::new(client.try_clone().unwrap());
        let mut answer = String::new();
        reader.read_line(&mut answer).unwrap();
        assert_eq!(answer, "ok\n");
        writeln!(client, "signal no-such-process-here stop").unwrap();
        let mut answer = String::new();
        reader.read_line(&mut answer).unwrap();
        assert!(
            answer.starts_with("error no process named no-such-process-here"),
            "{answer}"
        );
        // The connection takes further signals.
        writeln!(client, "signal another-one cont").unwrap();
        let mut answer = String::new();
        reader.read_line(&mut answer).unwrap();
        assert!(
            answer.starts_with("error no process named another-one"),
            "{answer}"
        );
    }

    #[test]
    fn the_state_of_a_sleeping_process_is_s_and_of_a_missing_one_none() {
        let mut sleeper = Command::new("sleep").arg("5").spawn().unwrap();
        let pid = sleeper.id() as i32;
        let start = Instant::now();
        while process_state(pid) != Some('S') && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(process_state(pid), Some('S'));
        sleeper.kill().unwrap();
        sleeper.wait().unwrap();
        assert_eq!(process_state(pid), None);
        assert_eq!(process_state(i32::MAX), None);
    }
}
