//! Clock faults through the vDSO (the local backend's `vdso` module) on real programs:
//! a Python loop, which reads the clock through libc, and the Go plug-in, whose runtime
//! calls the vDSO itself. The realtime clock takes offsets; the monotonic clock takes
//! drift and never steps back.

use splitbrain_nemesis::clock::ClockSetting;
use splitbrain_nemesis::local::vdso::set_process_clock;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A Python process that prints `time.time() time.monotonic()` for every line it reads.
struct Ticker {
    child: Child,
    lines: BufReader<ChildStdout>,
}

impl Ticker {
    fn start() -> Ticker {
        let mut child = Command::new("python3")
            .args([
                "-u",
                "-c",
                "import sys, time\nfor _ in sys.stdin:\n    print(time.time(), time.monotonic())",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let lines = BufReader::new(child.stdout.take().unwrap());
        let mut ticker = Ticker { child, lines };
        ticker.now();
        ticker
    }

    /// Its (realtime, monotonic) now, in seconds.
    fn now(&mut self) -> (f64, f64) {
        self.child.stdin.as_mut().unwrap().write_all(b"\n").unwrap();
        let mut line = String::new();
        self.lines.read_line(&mut line).expect("a line from python");
        let mut words = line.split_whitespace().map(|w| w.parse::<f64>().unwrap());
        (words.next().unwrap(), words.next().unwrap())
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn true_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn unix_ms() -> u64 {
    (true_now() * 1000.0) as u64
}

#[test]
fn a_libc_program_gets_the_offset_on_its_wall_clock_only() {
    let mut t = Ticker::start();
    let (_, mono_before) = t.now();
    let ahead = ClockSetting {
        offset_ms: 3_600_000,
        ..ClockSetting::true_time()
    };
    set_process_clock(t.child.id(), &ahead, false).expect("the vDSO is written");
    let (wall, mono) = t.now();
    let skew = wall - true_now();
    assert!((3599.0..3601.0).contains(&skew), "an hour ahead: {skew}");
    assert!(
        (0.0..5.0).contains(&(mono - mono_before)),
        "monotonic did not step: {mono_before} -> {mono}"
    );
    set_process_clock(t.child.id(), &ClockSetting::true_time(), false).unwrap();
    let (wall, _) = t.now();
    assert!((wall - true_now()).abs() < 1.0, "back to the true time");
}

#[test]
fn a_drift_speeds_up_both_clocks_and_the_monotonic_one_keeps_what_it_gained() {
    let mut t = Ticker::start();
    let fast = ClockSetting {
        offset_ms: 0,
        rate: 3.0,
        anchor_unix_ms: unix_ms(),
        strobe: None,
    };
    set_process_clock(t.child.id(), &fast, false).unwrap();
    let (wall0, mono0) = t.now();
    let true0 = true_now();
    std::thread::sleep(Duration::from_millis(1000));
    let (wall1, mono1) = t.now();
    let elapsed = true_now() - true0;
    let (wall_rate, mono_rate) = ((wall1 - wall0) / elapsed, (mono1 - mono0) / elapsed);
    assert!((2.5..3.5).contains(&wall_rate), "wall at 3x: {wall_rate}");
    assert!(
        (2.5..3.5).contains(&mono_rate),
        "monotonic at 3x: {mono_rate}"
    );
    set_process_clock(t.child.id(), &ClockSetting::true_time(), false).unwrap();
    let (wall2, mono2) = t.now();
    assert!((wall2 - true_now()).abs() < 0.5, "the wall clock is reset");
    assert!(
        mono2 >= mono1,
        "monotonic never steps back: {mono1} -> {mono2}"
    );
}

#[test]
fn the_go_runtime_reads_the_faked_clock() {
    let plugin = splitbrain_runner::build_cache::plugins_bin_dir().join("client-go-leaderelection");
    assert!(
        plugin.is_file(),
        "{} is missing: run scripts/install-deps",
        plugin.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\nusers:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\n",
    )
    .unwrap();
    let mut child = Command::new(&plugin)
        .env("SPLITBRAIN_KUBECONFIG", &kubeconfig)
        .env("SPLITBRAIN_NODE", "n1")
        .env("TZ", "UTC")
        .env("SPLITBRAIN_OP_TIMEOUT_MS", "1000")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap(); // its start-up line
    let two_hours = ClockSetting {
        offset_ms: 2 * 3_600_000,
        ..ClockSetting::true_time()
    };
    set_process_clock(child.id(), &two_hours, false).expect("the Go program's vDSO is written");
    child
        .stdin
        .as_mut()
        .unwrap()
        .write_all(b"not json\n")
        .unwrap();
    line.clear();
    stderr.read_line(&mut line).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    // The log line starts with the local time of day: "client-go-leaderelection: HH:MM:SS".
    let clock = line
        .trim_start_matches("client-go-leaderelection: ")
        .split(' ')
        .next()
        .unwrap()
        .to_string();
    let hms: Vec<f64> = clock.split(':').map(|p| p.parse().unwrap()).collect();
    let logged = hms[0] * 3600.0 + hms[1] * 60.0 + hms[2];
    let now = true_now() % 86_400.0;
    let ahead = (logged - now).rem_euclid(86_400.0);
    assert!(
        (7190.0..7210.0).contains(&ahead),
        "the Go program's wall clock is 2 h ahead: logged {clock}, ahead by {ahead} s: {line}"
    );
}
