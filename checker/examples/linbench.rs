//! Linearizability benchmark: times the search on porcupine's corpus and on a synthetic
//! 100,000-operation kv history, single-threaded, and prints per-file medians and the
//! peak cache size. Run with
//! `cargo run --release -p splitbrain-checker --example linbench [-- --runs N]`.
//! At the end, stateright's `LinearizabilityTester` runs on a few of the same histories,
//! each in a child process stopped after `--stateright-cap SECS` (default 10).

use splitbrain_checker::linear::{CheckOptions, LinearReport, check_with_model, prepare};
use splitbrain_checker::models::{CasRegister, HistoryModel, Kv, ModelKind, SequentialSpec};
use splitbrain_history::import::{self, Format};
use splitbrain_history::{History, Op, OpType, Process};
use stateright::semantics::{ConsistencyTester, LinearizabilityTester};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/porcupine")
}

/// Median wall time of `runs` checks, and the last report.
fn time(
    history: &History,
    model: ModelKind,
    partition: bool,
    runs: usize,
) -> (Duration, LinearReport) {
    let options = CheckOptions {
        partition,
        threads: 1,
        ..CheckOptions::default()
    };
    let mut times = Vec::with_capacity(runs);
    let mut report = None;
    for _ in 0..runs {
        let start = Instant::now();
        let r = check_with_model(model, history, None, &options).expect("history checks");
        times.push(start.elapsed());
        report = Some(r);
    }
    times.sort();
    (times[times.len() / 2], report.expect("at least one run"))
}

fn load(path: &Path, format: Format) -> History {
    History::new(import::read(path, format).expect("corpus file reads"))
}

fn row(name: &str, t: Duration, r: &LinearReport) {
    println!(
        "{name:<28} {:>10.3} ms  valid={:<7} steps={:<9} cache_peak={} entries / {} KiB",
        t.as_secs_f64() * 1e3,
        serde_json::to_string(&r.valid).unwrap_or_default(),
        r.stats.steps,
        r.stats.cache_entries_peak,
        r.stats.cache_bytes_peak / 1024
    );
}

fn etcd(runs: usize) {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus().join("jepsen"))
        .expect("corpus present")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| std::fs::metadata(p).is_ok_and(|m| m.len() > 0))
        .collect();
    files.sort();
    let mut total = Duration::ZERO;
    for path in &files {
        let history = load(path, Format::PorcupineJepsen);
        let (t, r) = time(&history, ModelKind::CasRegister, true, runs);
        total += t;
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        row(&name, t, &r);
    }
    println!(
        "etcd total ({} histories, sum of medians): {:.3} ms\n",
        files.len(),
        total.as_secs_f64() * 1e3
    );
}

fn kv(runs: usize) {
    for (file, partition) in [
        ("c01-ok.txt", true),
        ("c01-bad.txt", true),
        ("c10-ok.txt", true),
        ("c10-bad.txt", true),
        ("c50-ok.txt", true),
        ("c50-bad.txt", true),
        ("c10-ok.txt", false),
        ("c10-bad.txt", false),
    ] {
        let history = load(&corpus().join("kv").join(file), Format::PorcupineKv);
        let (t, r) = time(&history, ModelKind::Kv, partition, runs);
        let mode = if partition { "per key" } else { "one map" };
        row(&format!("{file} ({mode})"), t, &r);
    }
    println!();
}

/// A seeded synthetic kv history: `clients` processes doing gets, puts and appends on
/// `keys` keys against a simulated linearizable store, with `info_percent` of operations
/// timing out (they take effect or not at random, and their process is replaced).
pub fn synthetic_kv(ops: usize, keys: u64, clients: u64, info_percent: u64, seed: u64) -> History {
    synthetic(ops, keys, clients, info_percent, seed, 3)
}

/// The generator behind [`synthetic_kv`]: `kinds` 3 uses get, put and append; 2 only get
/// and put.
fn synthetic(
    ops: usize,
    keys: u64,
    clients: u64,
    info_percent: u64,
    seed: u64,
    kinds: u64,
) -> History {
    let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut store: Vec<String> = vec![String::new(); keys as usize];
    let mut out = Vec::with_capacity(ops * 2);
    let mut procs: Vec<u64> = (0..clients).collect();
    let mut next_proc = clients;
    // Each slot: (process, pending op, its effect already applied?)
    let mut pending: Vec<Option<(String, u64, String)>> = vec![None; clients as usize];
    let mut t = 0u64;
    let mut invoked = 0usize;
    let push = |out: &mut Vec<Op>, t: &mut u64, p: u64, kind, f: &str, v| {
        *t += 1;
        out.push(Op::new(
            out.len() as u64,
            *t,
            Process::Client(p),
            kind,
            f,
            v,
        ));
    };
    while invoked < ops || pending.iter().any(Option::is_some) {
        let slot = (next() % clients) as usize;
        match pending[slot].take() {
            None if invoked < ops => {
                let key = next() % keys;
                let (f, v) = match next() % kinds {
                    0 => ("get", String::new()),
                    1 => ("put", format!("p{invoked} ")),
                    _ => ("append", format!("a{invoked} ")),
                };
                let value = if f == "get" {
                    serde_json::json!([key, null])
                } else {
                    serde_json::json!([key, v])
                };
                push(&mut out, &mut t, procs[slot], OpType::Invoke, f, value);
                pending[slot] = Some((f.to_owned(), key, v));
                invoked += 1;
            }
            None => {}
            Some((f, key, v)) => {
                let k = key as usize;
                let lost = next() % 100 < info_percent;
                if lost {
                    if next() % 2 == 0 && f != "get" {
                        apply(&mut store[k], &f, &v);
                    }
                    push(
                        &mut out,
                        &mut t,
                        procs[slot],
                        OpType::Info,
                        &f,
                        serde_json::json!([key, v]),
                    );
                    procs[slot] = next_proc;
                    next_proc += 1;
                    continue;
                }
                apply(&mut store[k], &f, &v);
                let shown = if f == "get" { store[k].clone() } else { v };
                push(
                    &mut out,
                    &mut t,
                    procs[slot],
                    OpType::Ok,
                    &f,
                    serde_json::json!([key, shown]),
                );
            }
        }
    }
    History::new(out)
}

/// A seeded single-register history: `clients` processes reading and writing unique
/// values, one partition of `ops` operations, `info_percent` of them timing out.
pub fn synthetic_register(ops: usize, clients: u64, info_percent: u64, seed: u64) -> History {
    let mut kv = synthetic(ops, 1, clients, info_percent, seed, 2);
    // One key; puts become writes of a unique value.
    for op in &mut kv.ops {
        // The kv store reads "" before the first put; a register reads null.
        let value = match op.value.get(1) {
            Some(serde_json::Value::String(s)) if !s.is_empty() => serde_json::json!(s),
            _ => serde_json::Value::Null,
        };
        op.f = if op.f == "get" {
            "read".into()
        } else {
            "write".into()
        };
        op.value = value;
    }
    kv
}

fn apply(cell: &mut String, f: &str, v: &str) {
    match f {
        "put" => *cell = v.to_owned(),
        "append" => cell.push_str(v),
        _ => {}
    }
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// A one-line adapter: our model as a stateright sequential spec.
#[derive(Clone, Debug, PartialEq)]
struct Spec<M>(M);

impl<M: SequentialSpec> stateright::semantics::SequentialSpec for Spec<M> {
    type Op = M::Op;
    type Ret = M::Ret;
    fn invoke(&mut self, op: &M::Op) -> M::Ret {
        self.0.invoke(op)
    }
    fn is_valid_step(&mut self, op: &M::Op, ret: &M::Ret) -> bool {
        self.0.is_valid_step(op, ret)
    }
}

/// Checks one partitioned history with stateright's tester, partition by partition, and
/// prints the time. Runs in a child process so the parent can stop it at the time cap.
fn stateright_one<M: HistoryModel>(history: &History) {
    let prepared = prepare::<M>(history, None, true).expect("history decodes");
    let start = Instant::now();
    let mut valid = true;
    for part in &prepared.partitions {
        // Events in time order, calls before returns at equal times.
        let mut events: Vec<(u64, u8, usize)> = Vec::new();
        for (i, op) in part.ops.iter().enumerate() {
            events.push((op.call_ns, 0, i));
            if op.ret.is_some() && op.return_ns != u64::MAX {
                events.push((op.return_ns, 1, i));
            }
        }
        events.sort_unstable();
        let mut tester = LinearizabilityTester::new(Spec(prepared.init.clone()));
        for (_, kind, i) in events {
            let op = &part.ops[i];
            let thread = op.process.client().unwrap_or(u64::MAX);
            let step = if kind == 0 {
                tester.on_invoke(thread, op.op.clone()).map(|_| ())
            } else {
                let ret = op.ret.clone().expect("returns have a value");
                tester.on_return(thread, ret).map(|_| ())
            };
            step.expect("well-formed history");
        }
        valid &= tester.is_consistent();
        if !valid {
            break;
        }
    }
    println!(
        "{:.3} ms valid={valid}",
        start.elapsed().as_secs_f64() * 1e3
    );
}

/// Runs stateright's tester on each file in a child process capped at `cap`.
fn stateright_side_by_side(cap: Duration) {
    let exe = std::env::current_exe().expect("own path");
    let mut files: Vec<PathBuf> = [
        "jepsen/etcd_000.log",
        "jepsen/etcd_002.log",
        "jepsen/etcd_007.log",
        "jepsen/etcd_025.log",
    ]
    .iter()
    .chain(
        [
            "kv/c01-ok.txt",
            "kv/c01-bad.txt",
            "kv/c10-ok.txt",
            "kv/c10-bad.txt",
            "kv/c50-ok.txt",
        ]
        .iter(),
    )
    .map(|f| corpus().join(f))
    .collect();
    files.sort();
    println!(
        "stateright LinearizabilityTester, per-history cap {} s:",
        cap.as_secs()
    );
    for file in files {
        let mut child = std::process::Command::new(&exe)
            .arg("--stateright-one")
            .arg(&file)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("child starts");
        let start = Instant::now();
        let name = file
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                let mut out = String::new();
                if let Some(mut o) = child.stdout.take() {
                    let _ = std::io::Read::read_to_string(&mut o, &mut out);
                }
                println!("  {name:<16} {}", out.trim());
                break;
            }
            if start.elapsed() > cap {
                let _ = child.kill();
                let _ = child.wait();
                println!("  {name:<16} did not finish within {} s", cap.as_secs());
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--stateright-one") {
        let file = Path::new(&args[i + 1]);
        if file.extension().is_some_and(|e| e == "log") {
            stateright_one::<CasRegister>(&load(file, Format::PorcupineJepsen));
        } else {
            stateright_one::<Kv>(&load(file, Format::PorcupineKv));
        }
        return;
    }
    let runs = args
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(5);
    if let Some(i) = args.iter().position(|a| a == "--synthetic-register") {
        let n = args[i + 1].parse().expect("a number of operations");
        let opts = CheckOptions {
            time_limit: Some(Duration::from_secs(20)),
            threads: 1,
            ..CheckOptions::default()
        };
        let start = Instant::now();
        let r = check_with_model(
            ModelKind::Register,
            &synthetic_register(n, 20, 5, 11),
            None,
            &opts,
        )
        .expect("checks");
        row(&format!("synthetic register {n}"), start.elapsed(), &r);
        println!("unobserved dropped: {}", r.stats.unobserved);
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--only") {
        let file = &args[i + 1];
        let partition = !args.iter().any(|a| a == "--whole");
        let (format, model) = if file.ends_with(".log") {
            (Format::PorcupineJepsen, ModelKind::CasRegister)
        } else {
            (Format::PorcupineKv, ModelKind::Kv)
        };
        let (t, r) = time(&load(Path::new(file), format), model, partition, runs);
        row(file, t, &r);
        return;
    }
    println!("linbench: median of {runs} runs per history, single-threaded\n");
    etcd(runs);
    kv(runs);
    let history = synthetic_kv(100_000, 100, 20, 5, 7);
    let (t, r) = time(&history, ModelKind::Kv, true, runs.min(3));
    row("synthetic kv 100k ops", t, &r);
    let history = synthetic_register(20_000, 20, 5, 11);
    let (t, r) = time(&history, ModelKind::Register, true, runs.min(3));
    row("synthetic register 20k ops", t, &r);
    println!("\npeak RSS {} MiB\n", peak_rss_kib() / 1024);
    let cap = args
        .iter()
        .position(|a| a == "--stateright-cap")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(10);
    stateright_side_by_side(Duration::from_secs(cap));
}
