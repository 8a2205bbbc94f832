//! Unit tests of the resource-safety checker, on small hand-built logs.

use super::*;
use serde_json::{Value, json};

/// A resource log builder: entries get consecutive seqs.
#[derive(Default)]
struct Log(Vec<ResourceEntry>);

impl Log {
    fn push(mut self, p: u64, op: ResourceAction, value: Value, token: Option<u64>) -> Self {
        self.0.push(ResourceEntry {
            seq: self.0.len() as u64,
            process: p,
            token,
            op,
            value,
            accepted: None,
            max_token: None,
        });
        self
    }
    fn enter(self, p: u64) -> Self {
        self.push(p, ResourceAction::Enter, Value::Null, None)
    }
    fn exit(self, p: u64) -> Self {
        self.push(p, ResourceAction::Exit, Value::Null, None)
    }
    fn read(self, p: u64, v: i64) -> Self {
        self.push(p, ResourceAction::Read, json!(v), None)
    }
    fn write(self, p: u64, v: i64) -> Self {
        self.push(p, ResourceAction::Write, json!(v), None)
    }
    /// A fenced write: the resource's verdict and the highest token it had accepted.
    fn fenced(mut self, p: u64, v: i64, token: u64, max: Option<u64>, ok: bool) -> Self {
        self = self.push(p, ResourceAction::Write, json!(v), Some(token));
        let last = self.0.last_mut().unwrap();
        last.accepted = Some(ok);
        last.max_token = max;
        self
    }
}

#[test]
fn sequential_increments_are_safe_and_add_up() {
    let log = Log::default()
        .enter(1)
        .read(1, 0)
        .write(1, 1)
        .exit(1)
        .enter(2)
        .read(2, 1)
        .write(2, 2)
        .exit(2);
    let r = check(&log.0, false);
    assert_eq!(r.valid, Validity::Valid, "{}", r.summary);
    assert_eq!(
        r.summary,
        "0 overlapping critical sections, 0 lost updates; final counter 2 after 2 accepted \
         increments from 0"
    );
}

#[test]
fn interleaved_read_modify_writes_are_a_lost_update_named_by_seq() {
    let log = Log::default()
        .enter(1) // 0
        .read(1, 0) // 1
        .enter(2) // 2
        .read(2, 0) // 3
        .write(2, 1) // 4
        .exit(2) // 5
        .write(1, 1) // 6: overwrites seq 4
        .exit(1); // 7
    let r = check(&log.0, false);
    assert_eq!(r.valid, Validity::Invalid);
    assert!(
        r.summary
            .starts_with("1 overlapping critical section, 1 lost update (seq 6 overwrote seq 4)"),
        "{}",
        r.summary
    );
    let lost = &r.evidence[0];
    assert_eq!(lost.resource_seqs, vec![1, 4, 6]);
    assert_eq!(r.stats["counter_deficit"], 1);
}

#[test]
fn an_overlap_neutralised_by_fencing_is_valid_and_counts_the_rejection() {
    // Process 1 paused inside its section, process 2 took over with a newer token;
    // process 1's late write with the old token is rejected.
    let log = Log::default()
        .enter(1)
        .read(1, 0)
        .enter(2)
        .read(2, 0)
        .fenced(2, 1, 6, Some(5), true)
        .exit(2)
        .fenced(1, 1, 5, Some(6), false)
        .exit(1);
    let r = check(&log.0, true);
    assert_eq!(r.valid, Validity::Valid, "{}", r.summary);
    assert_eq!(r.stats["stale_writes_rejected"], 1);
    assert_eq!(r.stats["overlapping_sections"], 1);
    assert!(
        r.summary.contains("1 stale write rejected"),
        "{}",
        r.summary
    );
    let overlap = r
        .evidence
        .iter()
        .find(|e| e.explanation.starts_with("overlapping"));
    assert!(
        overlap
            .unwrap()
            .explanation
            .contains("fencing on: not a violation by itself")
    );
    // The same overlap without fencing is a violation.
    assert_eq!(check(&log.0, false).valid, Validity::Invalid);
}

#[test]
fn an_accepted_stale_write_under_fencing_is_a_violation() {
    let log = Log::default()
        .enter(2)
        .read(2, 0)
        .fenced(2, 1, 6, None, true)
        .exit(2)
        .enter(1)
        .read(1, 1)
        .fenced(1, 2, 5, Some(6), true)
        .exit(1);
    let r = check(&log.0, true);
    assert_eq!(r.valid, Validity::Invalid, "{}", r.summary);
    assert!(
        r.summary.contains("1 stale write accepted"),
        "{}",
        r.summary
    );
    assert_eq!(r.evidence[0].resource_seqs, vec![6]);
    assert!(r.evidence[0].explanation.contains("token 5"));
}

#[test]
fn a_stale_token_is_found_even_when_the_resource_reports_no_max_token() {
    let log = Log::default()
        .enter(2)
        .fenced(2, 1, 6, None, true)
        .exit(2)
        .enter(1)
        .fenced(1, 2, 5, None, true)
        .exit(1);
    let f = analyse(&log.0);
    assert_eq!(f.stale_accepted(), 1);
    assert_eq!(f.stale_writes[0].max_token, 6);
}

#[test]
fn a_holder_that_never_exits_ends_its_section_at_its_last_access() {
    let log = Log::default()
        .enter(1) // 0
        .read(1, 0) // 1, then killed
        .enter(2) // 2
        .read(2, 0)
        .write(2, 1)
        .exit(2);
    let f = analyse(&log.0);
    let killed = f.sections.iter().find(|s| s.process == 1).unwrap();
    assert_eq!((killed.end_seq, killed.exited), (1, false));
    assert!(f.overlaps.is_empty());
    assert_eq!(check(&log.0, false).valid, Validity::Valid);
}

#[test]
fn a_counter_that_does_not_add_up_without_a_lost_update_is_unknown() {
    let log = Log::default().enter(1).read(1, 0).write(1, 5).exit(1);
    let r = check(&log.0, false);
    assert_eq!(r.valid, Validity::Unknown, "{}", r.summary);
}

#[test]
fn a_log_with_a_repeated_seq_is_unknown() {
    let mut log = Log::default().enter(1).read(1, 0).write(1, 1).exit(1).0;
    log[2].seq = 1;
    let r = check(&log, false);
    assert_eq!(r.valid, Validity::Unknown, "{}", r.summary);
    assert!(r.summary.contains("1 duplicate seq"), "{}", r.summary);
}

#[test]
fn entries_out_of_seq_order_are_sorted_first() {
    let mut log = Log::default().enter(1).read(1, 0).write(1, 1).exit(1).0;
    log.reverse();
    assert_eq!(analyse(&log).sections.len(), 1);
    assert_eq!(check(&log, false).valid, Validity::Valid);
}
