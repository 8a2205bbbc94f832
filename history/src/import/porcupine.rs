//! porcupine's test-data formats.
//!
//! The Jepsen etcd logs are read with porcupine's rules: `:fail :cas` means the
//! compare-and-set ran and found another value, so it becomes an `ok` completion whose
//! value is `false`; `:fail :read :timed-out` becomes a `fail` (a read has no effect, so
//! leaving it out is the same as porcupine's unknown output); `:info` stays `info`: the
//! operation may or may not have taken effect.

use super::bad_line;
use super::edn::{Edn, Reader};
use crate::{Op, OpType, Process, ReadError};
use serde_json::{Value, json};
use std::path::Path;

const LOG_MARKER: &str = "jepsen.util - ";

/// Parses a Jepsen 0.x log: lines `INFO  jepsen.util - <process> :<type> :<f> <value>`.
/// Other log lines (a Jepsen log has many) are skipped.
pub(super) fn parse_jepsen_log(path: &Path, text: &str) -> Result<Vec<Op>, ReadError> {
    let mut ops = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let Some((_, rest)) = line.split_once(LOG_MARKER) else {
            continue;
        };
        let op = log_op(rest, ops.len() as u64).map_err(|message| {
            bad_line(
                path,
                i + 1,
                format!("{message} (expected `<process> :<invoke|ok|fail|info> :<f> <value>`; line is {line:?})"),
            )
        })?;
        ops.push(op);
    }
    Ok(ops)
}

fn log_op(rest: &str, index: u64) -> Result<Op, String> {
    let mut fields = rest.split_whitespace();
    let (Some(process), Some(kind), Some(f)) = (fields.next(), fields.next(), fields.next()) else {
        return Err("too few fields".to_owned());
    };
    let process: u64 = process
        .parse()
        .map_err(|_| format!("process={process:?} is not a number"))?;
    let kind = match kind {
        ":invoke" => OpType::Invoke,
        ":ok" => OpType::Ok,
        ":fail" => OpType::Fail,
        ":info" => OpType::Info,
        other => {
            return Err(format!(
                "type={other:?} is not :invoke, :ok, :fail or :info"
            ));
        }
    };
    let f = f
        .strip_prefix(':')
        .filter(|f| !f.is_empty())
        .ok_or_else(|| format!("f={f:?} is not a keyword"))?;
    let value_text = fields.collect::<Vec<_>>().join(" ");
    let value = if value_text.is_empty() {
        Edn::Nil
    } else {
        Reader::new(&value_text)
            .read()
            .map_err(|e| format!("value={value_text:?} is not EDN: {}", e.message))?
    };
    let mut op = Op::new(
        index,
        index,
        Process::Client(process),
        kind,
        f,
        value.to_json(),
    );
    if let Edn::Keyword(reason) = &value {
        // `:timed-out` is a reason, not a value.
        op.value = Value::Null;
        op.error = Some(reason.clone());
    }
    if kind == OpType::Fail && f == "cas" {
        op.kind = OpType::Ok;
        op.value = Value::Bool(false);
    }
    Ok(op)
}

/// Parses porcupine's kv data: one EDN map per line with `:process`, `:type`, `:f`,
/// `:key` and `:value`. The op's value becomes `[key, value]`.
pub(super) fn parse_kv(path: &Path, text: &str) -> Result<Vec<Op>, ReadError> {
    let mut ops = Vec::new();
    let mut reader = Reader::new(text);
    loop {
        let form = reader
            .next_form()
            .map_err(|e| bad_line(path, e.line, format!("column {}: {}", e.column, e.message)))?;
        let Some((line, form)) = form else {
            return Ok(ops);
        };
        let op = kv_op(&form, ops.len() as u64).map_err(|message| {
            bad_line(
                path,
                line,
                format!("{message} (expected {{:process P, :type :invoke|:ok|:fail|:info, :f :get|:put|:append, :key K, :value V}})"),
            )
        })?;
        ops.push(op);
    }
}

fn kv_op(form: &Edn, index: u64) -> Result<Op, String> {
    if !matches!(form, Edn::Map(_)) {
        return Err("not a map".to_owned());
    }
    let field = |name: &str| form.get(name).ok_or_else(|| format!("missing :{name}"));
    let process = match field("process")? {
        Edn::Int(p) if *p >= 0 => *p as u64,
        other => {
            return Err(format!(
                "process={} is not a non-negative integer",
                other.to_json()
            ));
        }
    };
    let kind = super::jepsen::op_type(field("type")?)?;
    let f = match field("f")? {
        Edn::Keyword(f) | Edn::Str(f) => f.clone(),
        other => return Err(format!("f={} is not a keyword", other.to_json())),
    };
    let key = field("key")?.to_json();
    let value = form.get("value").map_or(Value::Null, Edn::to_json);
    Ok(Op::new(
        index,
        index,
        Process::Client(process),
        kind,
        f,
        json!([key, value]),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jepsen_log_lines_become_ops_with_porcupine_semantics() {
        let text = "INFO  jepsen.util - 2\t:invoke\t:cas\t[3 0]\nINFO  jepsen.core - something else\nINFO  jepsen.util - 2   :fail   :cas    [3 0]\nINFO  jepsen.util - 4\t:info\t:write\t:timed-out\n";
        let ops = parse_jepsen_log(Path::new("x.log"), text).unwrap();
        assert_eq!(ops.len(), 3);
        assert_eq!(ops[0].value, json!([3, 0]));
        assert_eq!((ops[1].kind, &ops[1].value), (OpType::Ok, &json!(false)));
        assert_eq!(ops[2].kind, OpType::Info);
        assert_eq!(ops[2].error.as_deref(), Some("timed-out"));
        assert_eq!(ops[2].time_ns, 2);
    }

    #[test]
    fn a_bad_log_line_names_file_line_and_expectation() {
        let text =
            "INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.util - x\t:ok\t:read\tnil\n";
        let err = parse_jepsen_log(Path::new("e.log"), text)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("e.log:2:"), "{err}");
        assert!(err.contains("process=\"x\""), "{err}");
    }

    #[test]
    fn kv_lines_keep_key_and_value_together() {
        let text = "{:process 1, :type :invoke, :f :get, :key \"9\", :value nil}\n{:process 1, :type :ok, :f :get, :key \"9\", :value \"x 1 y\"}\n";
        let ops = parse_kv(Path::new("kv.txt"), text).unwrap();
        assert_eq!(ops[0].value, json!(["9", null]));
        assert_eq!(ops[1].value, json!(["9", "x 1 y"]));
        let err = parse_kv(Path::new("kv.txt"), "{:process 1}\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("kv.txt:1:") && err.contains("missing :type"),
            "{err}"
        );
    }
}
