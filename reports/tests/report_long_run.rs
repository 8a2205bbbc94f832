//! A long run (30 s, 5 clients, about 10k ops) must give a page a browser opens without
//! trouble: the timeline merges what it cannot show, so the page stays well under a few MB.

use splitbrain_checker::check_run_dir;
use splitbrain_history::jsonl::JsonlWriter;
use splitbrain_history::{Op, OpType, Process, ResourceAction, ResourceEntry, RunInfo};
use std::path::{Path, PathBuf};
use std::time::Instant;

struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A deterministic pseudo-random sequence (xorshift), so the run is the same every time.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

const CLIENTS: u64 = 5;
const RUN_NS: u64 = 30_000_000_000;

/// A generator of a counter-like run: clients take turns holding the lock, read, write
/// and release; a few ops fail or time out (retiring the process); a pause every 3 s.
struct Gen {
    rng: Rng,
    t: u64,
    ops: Vec<Op>,
    resource: Vec<ResourceEntry>,
    counter: u64,
}

impl Gen {
    fn push(&mut self, t: u64, p: Process, kind: OpType, f: &str, v: serde_json::Value) {
        self.ops
            .push(Op::new(self.ops.len() as u64, t, p, kind, f, v));
    }

    fn pause(&mut self, t: u64) {
        let v = serde_json::json!({"processes": ["agent-1"], "nodes": ["n2"]});
        let n = Process::Nemesis;
        self.push(t, n, OpType::Invoke, "pause", v.clone());
        self.push(t + 1_000, n, OpType::Info, "pause", v.clone());
        self.push(t + 1_000_000_000, n, OpType::Invoke, "resume", v.clone());
        self.push(t + 1_000_001_000, n, OpType::Info, "resume", v);
    }

    /// One op of 2 to 8 ms; mostly ok, some fail, a few info.
    fn op(&mut self, p: u64, f: &str) -> OpType {
        let v = serde_json::json!(self.counter);
        let c = Process::Client(p);
        self.push(self.t, c, OpType::Invoke, f, v.clone());
        self.t += 2_000_000 + self.rng.below(6_000_000);
        let kind = match self.rng.below(200) {
            0 => OpType::Info,
            1..=8 => OpType::Fail,
            _ => OpType::Ok,
        };
        self.push(self.t, c, kind, f, v);
        self.t += 1_000_000;
        kind
    }

    fn critical_section(&mut self, p: u64) {
        let c = self.counter;
        let accesses = [
            (ResourceAction::Enter, serde_json::Value::Null),
            (ResourceAction::Read, serde_json::json!(c)),
            (ResourceAction::Write, serde_json::json!(c + 1)),
            (ResourceAction::Exit, serde_json::Value::Null),
        ];
        for (op, value) in accesses {
            let seq = self.resource.len() as u64;
            self.resource.push(ResourceEntry {
                seq,
                process: p,
                token: None,
                op,
                value,
                accepted: None,
                max_token: None,
            });
        }
        self.counter += 1;
    }

    /// Acquire, read, write, release; false when the process was retired on the way.
    fn cycle(&mut self, p: u64) -> bool {
        for f in ["acquire", "read", "write", "release"] {
            match self.op(p, f) {
                OpType::Info => return false,
                OpType::Ok if f == "write" => self.critical_section(p),
                _ => {}
            }
        }
        true
    }
}

fn run_info() -> RunInfo {
    RunInfo {
        splitbrain_version: "0.1.0".into(),
        seed: 7,
        lock: "redis".into(),
        workload: "counter".into(),
        nemesis: vec!["pause".into()],
        clients: CLIENTS as usize,
        nodes: 3,
        time_limit_s: 30.0,
        ttl_ms: 2000,
        fencing: true,
        command: "splitbrain run --seed 7".into(),
        started_at: "2026-01-01T00:00:00Z".into(),
        cluster: Vec::new(),
        schedule: serde_json::Value::Null,
        extra: serde_json::Value::Null,
        end: Some(splitbrain_history::RunEnd::completed(1.0)),
    }
}

/// Writes the run directory and returns the number of ops in its history.
fn write_long_run(dir: &Path, run_ns: u64) -> usize {
    let mut g = Gen {
        rng: Rng(0x5eed),
        t: 0,
        ops: Vec::new(),
        resource: Vec::new(),
        counter: 0,
    };
    let mut procs: Vec<u64> = (0..CLIENTS).collect();
    let mut next_proc = CLIENTS;
    let mut next_fault = 1_000_000_000;
    while g.t < run_ns {
        if g.t >= next_fault {
            g.pause(g.t);
            next_fault += 3_000_000_000;
        }
        let slot = g.rng.below(CLIENTS) as usize;
        if !g.cycle(procs[slot]) {
            procs[slot] = next_proc;
            next_proc += 1;
        }
    }
    g.ops.sort_by_key(|o| o.time_ns);
    for (i, op) in g.ops.iter_mut().enumerate() {
        op.index = i as u64;
    }
    let mut w = JsonlWriter::create(&dir.join("history.jsonl")).unwrap();
    g.ops.iter().for_each(|o| w.append(o).unwrap());
    let mut w = JsonlWriter::create(&dir.join("resource.jsonl")).unwrap();
    g.resource.iter().for_each(|e| w.append(e).unwrap());
    std::fs::write(
        dir.join("run.json"),
        serde_json::to_vec(&run_info()).unwrap(),
    )
    .unwrap();
    g.ops.len()
}

#[test]
fn a_thirty_second_run_of_ten_thousand_ops_gives_a_page_of_a_few_mb_at_most() {
    let dir = Scratch(std::env::temp_dir().join(format!("splitbrain-long-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&dir.0);
    std::fs::create_dir_all(&dir.0).unwrap();
    let n = write_long_run(&dir.0, RUN_NS);
    assert!(n > 9_000, "ops={n}");
    let started = Instant::now();
    check_run_dir(&dir.0).unwrap();
    let page = splitbrain_reports::write_report(&dir.0).unwrap();
    let bytes = std::fs::metadata(&page).unwrap().len();
    eprintln!(
        "ops={n} page_bytes={bytes} check_and_report_ms={}",
        started.elapsed().as_millis()
    );
    // To look at the page by hand: SPLITBRAIN_KEEP_REPORT=/tmp/long.html cargo nextest run ...
    if let Some(keep) = std::env::var_os("SPLITBRAIN_KEEP_REPORT") {
        std::fs::copy(&page, keep).unwrap();
    }
    assert!(bytes < 3_000_000, "page_bytes={bytes}");
}

#[test]
fn a_run_of_a_hundred_thousand_ops_gives_a_page_under_five_mb() {
    let dir = Scratch(std::env::temp_dir().join(format!("splitbrain-100k-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&dir.0);
    std::fs::create_dir_all(&dir.0).unwrap();
    let n = write_long_run(&dir.0, 10 * RUN_NS);
    assert!(n > 90_000, "ops={n}");
    check_run_dir(&dir.0).unwrap();
    let page = splitbrain_reports::write_report(&dir.0).unwrap();
    let bytes = std::fs::metadata(&page).unwrap().len();
    eprintln!("ops={n} page_bytes={bytes}");
    if let Some(keep) = std::env::var_os("SPLITBRAIN_KEEP_REPORT_100K") {
        std::fs::copy(&page, keep).unwrap();
    }
    assert!(bytes < 5_000_000, "page_bytes={bytes}");
}
