//! Histories of a simulated register, linearizable by construction, for the checker's
//! tests and benchmarks (`splitbrain gen-history`).
//!
//! Clients run one operation at a time. Each operation takes effect at one instant (its
//! linearization point) between its invocation and its completion, and the register is
//! applied in the order of those instants, so every read returns what a correct register
//! held then. Values written are unique. A share of operations end `info` as a timed-out
//! client's do: such an operation took effect or not (a coin decides), and its process
//! is retired, the client going on as a new process (Jepsen's `process + clients`). A
//! compare-and-set whose comparison fails ends `fail`, as Jepsen records it.
//!
//! With [`Violation`], one read is made stale: it returns a value that was certainly
//! overwritten before the read began (its write completed before another write began,
//! which completed before the read began), so the history is not linearizable and that
//! read is the operation that cannot be linearized.

use serde_json::{Value, json};
use splitbrain_history::{Op, OpType, Process};
use std::collections::BTreeMap;

/// A GenModel is the kind of object simulated.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum GenModel {
    /// Reads and writes of one register (the `register` model).
    Register,
    /// Reads, writes and compare-and-sets of one register (`cas-register`).
    CasRegister,
    /// Gets and puts on many keys (`kv`), values `[key, value]`.
    Kv,
}

/// GenOptions describe the history to generate.
#[derive(Clone, Debug)]
pub struct GenOptions {
    /// The object simulated.
    pub model: GenModel,
    /// Operations (invocations) in the history.
    pub ops: usize,
    /// Concurrent clients.
    pub clients: usize,
    /// The share of operations whose outcome is unknown (`info`), 0 to 1.
    pub info_rate: f64,
    /// Keys, for [`GenModel::Kv`].
    pub keys: usize,
    /// The generator's seed: the same options and seed give the same history.
    pub seed: u64,
    /// Where to inject a stale read, if anywhere.
    pub violation: Option<Violation>,
}

impl Default for GenOptions {
    fn default() -> Self {
        GenOptions {
            model: GenModel::CasRegister,
            ops: 1000,
            clients: 5,
            info_rate: 0.0,
            keys: 1,
            seed: 1,
            violation: None,
        }
    }
}

/// A Violation is a stale read injected at a point of the history.
#[derive(Clone, Copy, Debug)]
pub struct Violation {
    /// How far into the history (0 to 1, by invocation order) the stale read is.
    pub at: f64,
}

/// A Generated history, and the stale read injected into it.
#[derive(Clone, Debug)]
pub struct Generated {
    /// The history's records, in time order.
    pub ops: Vec<Op>,
    /// The history index of the stale read's invocation, when one was injected.
    pub stale_read: Option<u64>,
}

/// GenError is why a history could not be generated as asked.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum GenError {
    /// An option is out of its range.
    #[error("{0}")]
    BadOption(String),
    /// No read in the history could be made certainly stale.
    #[error(
        "no read at or after {at} of the history can be made stale (it needs two earlier \
         writes of its key that completed one before the other began); use more \
         operations or an earlier --violation-at"
    )]
    NoStaleRead {
        /// The requested position.
        at: f64,
    },
}

/// SplitMix64: small, fast and good enough to pick operations and durations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    /// True with probability `p`.
    fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / ((1u64 << 53) as f64)) < p
    }
}

/// What an operation does to the register.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Action {
    Read,
    Write(u64),
    Cas { from: u64, to: u64 },
}

/// How an operation ended.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Ending {
    /// Completed: a read's value, or whether a compare-and-set swapped.
    Ok,
    /// The comparison failed (cas only).
    Fail,
    /// Timed out: took effect or not, nobody knows.
    Info { took_effect: bool },
}

/// One simulated operation.
#[derive(Clone, Debug)]
struct SimOp {
    process: u64,
    key: u64,
    action: Action,
    call: u64,
    point: u64,
    ret: u64,
    ending: Ending,
    /// The value a read returned.
    read: Option<u64>,
}

/// The value a key holds before any write: `null` for registers, `""` for kv (which
/// reads a key never written as the empty string).
const INITIAL: u64 = 0;

/// Generates a history as `options` describe.
pub fn generate(options: &GenOptions) -> Result<Generated, GenError> {
    validate(options)?;
    let mut rng = Rng(options.seed);
    let mut ops = schedule(options, &mut rng);
    apply_in_point_order(&mut ops, &mut rng);
    let stale_read = match options.violation {
        Some(v) => {
            Some(inject_stale_read(&mut ops, v.at).ok_or(GenError::NoStaleRead { at: v.at })?)
        }
        None => None,
    };
    Ok(records(&ops, options.model, stale_read))
}

fn validate(options: &GenOptions) -> Result<(), GenError> {
    let bad = |what: String| Err(GenError::BadOption(what));
    if options.clients == 0 {
        return bad("clients=0: a history needs at least one client".into());
    }
    if !(0.0..=1.0).contains(&options.info_rate) {
        return bad(format!(
            "info rate={} is not between 0 and 1",
            options.info_rate
        ));
    }
    if options.model == GenModel::Kv && options.keys == 0 {
        return bad("keys=0: a kv history needs at least one key".into());
    }
    if let Some(v) = options.violation
        && !(0.0..=1.0).contains(&v.at)
    {
        return bad(format!("violation at={} is not between 0 and 1", v.at));
    }
    Ok(())
}

/// Invocation times, durations, linearization points and actions, client by client;
/// what reads return is filled in later.
fn schedule(options: &GenOptions, rng: &mut Rng) -> Vec<SimOp> {
    let mut clock: Vec<u64> = (0..options.clients as u64).map(|c| c * 1_000).collect();
    let mut process: Vec<u64> = (0..options.clients as u64).collect();
    // The last value each client saw, per key: what its compare-and-sets expect.
    let mut seen: Vec<BTreeMap<u64, u64>> = vec![BTreeMap::new(); options.clients];
    let mut next_value = INITIAL + 1;
    let mut ops = Vec::with_capacity(options.ops);
    for _ in 0..options.ops {
        // The client whose turn comes first invokes next.
        let c = (0..options.clients).min_by_key(|&c| clock[c]).unwrap_or(0);
        let key = match options.model {
            GenModel::Kv => rng.range(0, options.keys as u64 - 1),
            _ => 0,
        };
        let action = pick_action(
            options.model,
            rng,
            seen[c].get(&key).copied(),
            &mut next_value,
        );
        let call = clock[c];
        let ret = call + rng.range(100_000, 2_000_000);
        let point = rng.range(call, ret);
        let ending = if rng.chance(options.info_rate) {
            Ending::Info {
                took_effect: rng.chance(0.5),
            }
        } else {
            Ending::Ok
        };
        if let Action::Write(v) | Action::Cas { to: v, .. } = action {
            seen[c].insert(key, v);
        }
        ops.push(SimOp {
            process: process[c],
            key,
            action,
            call,
            point,
            ret,
            ending,
            read: None,
        });
        if matches!(ending, Ending::Info { .. }) {
            process[c] += options.clients as u64;
        }
        clock[c] = ret + rng.range(1, 200_000);
    }
    ops
}

fn pick_action(model: GenModel, rng: &mut Rng, seen: Option<u64>, next: &mut u64) -> Action {
    let mut fresh = || {
        *next += 1;
        *next - 1
    };
    match (model, rng.range(0, 3)) {
        (_, 0 | 1) => Action::Read,
        (GenModel::CasRegister, 3) => Action::Cas {
            from: seen.unwrap_or(INITIAL),
            to: fresh(),
        },
        _ => Action::Write(fresh()),
    }
}

/// Runs the register in linearization-point order: reads learn their values,
/// compare-and-sets whether they swapped, timed-out operations take effect or not. Half
/// the compare-and-sets expect the value the register holds at their point (a client
/// that read it just before), the others the last value their client wrote.
fn apply_in_point_order(ops: &mut [SimOp], rng: &mut Rng) {
    let mut order: Vec<usize> = (0..ops.len()).collect();
    order.sort_by_key(|&i| (ops[i].point, i));
    let mut state: BTreeMap<u64, u64> = BTreeMap::new();
    for i in order {
        let op = &mut ops[i];
        let current = state.get(&op.key).copied().unwrap_or(INITIAL);
        let takes_effect = !matches!(op.ending, Ending::Info { took_effect: false });
        if let Action::Cas { from, .. } = &mut op.action
            && rng.chance(0.5)
        {
            *from = current;
        }
        match op.action {
            Action::Read => op.read = Some(current),
            Action::Write(v) if takes_effect => {
                state.insert(op.key, v);
            }
            Action::Cas { from, to } if current == from => {
                if takes_effect {
                    state.insert(op.key, to);
                }
            }
            Action::Cas { .. } => {
                if op.ending == Ending::Ok {
                    op.ending = Ending::Fail;
                }
            }
            Action::Write(_) => {}
        }
    }
}

/// Makes the first ok read at or after `at` (by invocation order) that can be made
/// certainly stale return an overwritten value; its position in `ops`.
fn inject_stale_read(ops: &mut [SimOp], at: f64) -> Option<usize> {
    let start = ((ops.len() as f64) * at) as usize;
    for r in start..ops.len() {
        if ops[r].action != Action::Read || ops[r].ending != Ending::Ok {
            continue;
        }
        if let Some(v) = certainly_overwritten(ops, r) {
            ops[r].read = Some(v);
            return Some(r);
        }
    }
    None
}

/// A value of read `r`'s key whose write completed before another definite write of the
/// key began, which itself completed before `r` began: in every linearization the
/// second write comes between the first and `r`.
fn certainly_overwritten(ops: &[SimOp], r: usize) -> Option<u64> {
    let read = &ops[r];
    let definite_write = |o: &SimOp| -> Option<u64> {
        match (o.action, o.ending) {
            (Action::Write(v), Ending::Ok) | (Action::Cas { to: v, .. }, Ending::Ok) => Some(v),
            _ => None,
        }
    };
    let writes: Vec<(u64, u64, u64)> = ops
        .iter()
        .filter(|o| o.key == read.key && o.ret < read.call)
        .filter_map(|o| definite_write(o).map(|v| (o.call, o.ret, v)))
        .collect();
    let latest_start = writes.iter().map(|w| w.0).max()?;
    writes
        .iter()
        .filter(|w| w.1 < latest_start)
        .max_by_key(|w| w.1)
        .map(|w| w.2)
}

/// The history's records: every invocation and completion, in time order.
fn records(ops: &[SimOp], model: GenModel, stale: Option<usize>) -> Generated {
    // (time, is completion, op position): calls before completions at equal times.
    let mut events: Vec<(u64, bool, usize)> = Vec::with_capacity(ops.len() * 2);
    for (i, o) in ops.iter().enumerate() {
        events.push((o.call, false, i));
        events.push((o.ret, true, i));
    }
    events.sort();
    let mut out = Vec::with_capacity(events.len());
    let mut stale_read = None;
    for (time, completion, i) in events {
        let o = &ops[i];
        let index = out.len() as u64;
        let (kind, value) = if completion {
            completion_record(o, model)
        } else {
            if stale == Some(i) {
                stale_read = Some(index);
            }
            (OpType::Invoke, invocation_value(o, model))
        };
        let f = match (o.action, model) {
            (Action::Read, GenModel::Kv) => "get",
            (Action::Write(_), GenModel::Kv) => "put",
            (Action::Read, _) => "read",
            (Action::Write(_), _) => "write",
            (Action::Cas { .. }, _) => "cas",
        };
        out.push(Op::new(
            index,
            time,
            Process::Client(o.process),
            kind,
            f,
            value,
        ));
    }
    Generated {
        ops: out,
        stale_read,
    }
}

fn completion_record(o: &SimOp, model: GenModel) -> (OpType, Value) {
    match o.ending {
        Ending::Ok => match o.action {
            Action::Read => (
                OpType::Ok,
                shaped(model, o.key, o.read.map(|v| value_json(model, v))),
            ),
            _ => (OpType::Ok, invocation_value(o, model)),
        },
        Ending::Fail => (OpType::Fail, invocation_value(o, model)),
        Ending::Info { .. } => (OpType::Info, invocation_value(o, model)),
    }
}

fn invocation_value(o: &SimOp, model: GenModel) -> Value {
    match o.action {
        Action::Read => shaped(model, o.key, None),
        Action::Write(v) => shaped(model, o.key, Some(value_json(model, v))),
        Action::Cas { from, to } => json!([value_json(model, from), value_json(model, to)]),
    }
}

/// A value as the model's history spells it: numbers for registers (the initial value
/// `null`), strings for kv (the initial value `""`).
fn value_json(model: GenModel, v: u64) -> Value {
    match (model, v) {
        (GenModel::Kv, INITIAL) => json!(""),
        (GenModel::Kv, v) => json!(format!("v{v}")),
        (_, INITIAL) => Value::Null,
        (_, v) => json!(v),
    }
}

/// Kv values are `[key, value]`; register values are bare.
fn shaped(model: GenModel, key: u64, value: Option<Value>) -> Value {
    match model {
        GenModel::Kv => json!([format!("k{key}"), value.unwrap_or(Value::Null)]),
        _ => value.unwrap_or(Value::Null),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(model: GenModel) -> GenOptions {
        GenOptions {
            model,
            ops: 200,
            clients: 4,
            info_rate: 0.2,
            keys: 3,
            seed: 7,
            violation: None,
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_history_and_another_seed_another() {
        let a = generate(&options(GenModel::CasRegister)).unwrap();
        let b = generate(&options(GenModel::CasRegister)).unwrap();
        assert_eq!(a.ops, b.ops);
        let c = generate(&GenOptions {
            seed: 8,
            ..options(GenModel::CasRegister)
        })
        .unwrap();
        assert_ne!(a.ops, c.ops);
    }

    #[test]
    fn every_invocation_completes_once_and_info_retires_its_process() {
        let g = generate(&options(GenModel::Register)).unwrap();
        assert_eq!(g.ops.len(), 400);
        let history = splitbrain_history::History::new(g.ops.clone());
        let pairs = history.pairs();
        assert_eq!(pairs.len(), 200);
        assert!(pairs.iter().all(|p| p.completion.is_some()));
        let infos: Vec<&Op> = g.ops.iter().filter(|o| o.kind == OpType::Info).collect();
        assert!(!infos.is_empty(), "a 20% info rate gave no info op");
        for info in infos {
            let later = g
                .ops
                .iter()
                .filter(|o| o.index > info.index && o.process == info.process)
                .count();
            assert_eq!(later, 0, "process {} went on after its info", info.process);
        }
    }

    #[test]
    fn a_stale_read_is_injected_where_asked_and_reads_an_overwritten_value() {
        let g = generate(&GenOptions {
            violation: Some(Violation { at: 0.5 }),
            info_rate: 0.0,
            ..options(GenModel::CasRegister)
        })
        .unwrap();
        let at = g.stale_read.expect("a stale read");
        assert!(
            at >= 150,
            "the stale read is at index {at}, before the middle"
        );
        assert_eq!(g.ops[at as usize].f, "read");
    }

    #[test]
    fn bad_options_are_refused_naming_the_option() {
        let err = generate(&GenOptions {
            info_rate: 1.5,
            ..options(GenModel::Kv)
        })
        .unwrap_err();
        assert!(err.to_string().contains("info rate=1.5"), "{err}");
        let err = generate(&GenOptions {
            clients: 0,
            ..options(GenModel::Kv)
        })
        .unwrap_err();
        assert!(err.to_string().contains("clients=0"), "{err}");
    }

    #[test]
    fn kv_histories_carry_key_value_pairs_and_read_unwritten_keys_as_empty() {
        let g = generate(&options(GenModel::Kv)).unwrap();
        let first_get = g
            .ops
            .iter()
            .find(|o| o.f == "get" && o.kind == OpType::Ok)
            .unwrap();
        let pair = first_get.value.as_array().unwrap();
        assert!(pair[0].as_str().unwrap().starts_with('k'));
        assert!(g.ops.iter().any(|o| o.f == "put"));
    }
}
