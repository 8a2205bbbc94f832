//! Odd input never crashes a checker: thousands of random histories and resource logs
//! (shuffled, unpaired, times running backwards, values of every JSON type) go through
//! every checker, whose findings must still respect their own definitions.

use serde_json::{Value, json};
use splitbrain_checker::{Validity, exclusive, resource_safety, wellformed};
use splitbrain_history::{History, Op, OpType, Process, ResourceAction, ResourceEntry};

/// A deterministic pseudo-random sequence (xorshift), so a failure replays.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
    fn value(&mut self) -> Value {
        match self.below(6) {
            0 => Value::Null,
            1 => json!(self.below(4)),
            2 => json!("k"),
            3 => json!(-1),
            4 => json!([1, 2]),
            _ => json!({"k": 1}),
        }
    }
}

fn random_history(rng: &mut Rng) -> History {
    let kinds = [OpType::Invoke, OpType::Ok, OpType::Fail, OpType::Info];
    let fs = ["acquire", "release", "read", "write", "pause"];
    let n = rng.below(40);
    let ops = (0..n)
        .map(|i| {
            let process = match rng.below(4) {
                0 => Process::Nemesis,
                p => Process::Client(p),
            };
            let mut op = Op::new(
                // Mostly increasing, sometimes not.
                if rng.below(10) == 0 { rng.below(n) } else { i },
                rng.below(1_000),
                process,
                kinds[rng.below(4) as usize],
                fs[rng.below(5) as usize],
                rng.value(),
            );
            op.token = rng.below(3).checked_sub(1);
            op
        })
        .collect();
    History::new(ops)
}

fn random_log(rng: &mut Rng) -> Vec<ResourceEntry> {
    let actions = [
        ResourceAction::Enter,
        ResourceAction::Read,
        ResourceAction::Write,
        ResourceAction::Exit,
    ];
    (0..rng.below(40))
        .map(|_| ResourceEntry {
            seq: rng.below(50),
            process: rng.below(3),
            token: rng.below(4).checked_sub(1),
            op: actions[rng.below(4) as usize],
            value: rng.value(),
            accepted: [None, Some(true), Some(false)][rng.below(3) as usize],
            max_token: rng.below(4).checked_sub(1),
        })
        .collect()
}

#[test]
fn random_histories_never_crash_and_overlaps_are_real() {
    let mut rng = Rng(0x0dd);
    for _ in 0..5_000 {
        let h = random_history(&mut rng);
        let _ = wellformed::check(&h, &[]);
        for o in exclusive::overlaps(&exclusive::holds(&h)) {
            assert_ne!(o.first.process, o.second.process, "{o:?}");
            assert!(o.len_ns() > 0, "{o:?}");
            assert!(
                o.start_ns >= o.first.start_ns.max(o.second.start_ns),
                "{o:?}"
            );
            assert!(o.end_ns <= o.first.end_ns.min(o.second.end_ns), "{o:?}");
        }
        for fencing in [false, true] {
            let r = exclusive::check(&h, fencing);
            assert!(fencing || r.evidence.is_empty() == (r.valid == Validity::Valid));
        }
    }
}

#[test]
fn random_resource_logs_never_crash_and_lost_updates_name_real_writes() {
    let mut rng = Rng(0xbad);
    for _ in 0..5_000 {
        let log = random_log(&mut rng);
        let f = resource_safety::analyse(&log);
        for l in &f.lost_updates {
            assert!(l.read_seq < l.write_seq, "{l:?}");
            assert!(
                l.overwritten
                    .iter()
                    .all(|s| *s > l.read_seq && *s < l.write_seq)
            );
        }
        for fencing in [false, true] {
            let r = resource_safety::check(&log, fencing);
            if !f.lost_updates.is_empty() {
                assert_eq!(r.valid, Validity::Invalid, "{}", r.summary);
            }
        }
    }
}

#[test]
fn a_history_whose_indexes_go_backwards_is_unknown_not_invalid() {
    let c = Process::Client(0);
    let h = History::new(vec![
        Op::new(5, 0, c, OpType::Invoke, "read", Value::Null),
        Op::new(4, 1, c, OpType::Ok, "read", json!(0)),
    ]);
    let r = wellformed::check(&h, &[]);
    assert_eq!(r.valid, Validity::Unknown);
    assert!(
        r.summary.contains("index does not increase"),
        "{}",
        r.summary
    );
}
