//! Jepsen's and Knossos's `history.edn`: op maps such as
//! `{:type :invoke, :f :write, :value 3, :process 0, :time 123, :index 0}`, stored as one
//! vector (or list) of maps, or as one map per line. Records printed as
//! `#jepsen.history.Op{...}` are read like maps.
//!
//! `:process :nemesis` is the nemesis. `:time` (nanoseconds) is kept when present;
//! otherwise an op's position is its time, so file order is real-time order.

use super::bad_line;
use super::edn::{Edn, EdnError, Reader};
use crate::{Op, OpType, Process, ReadError};
use serde_json::Value;
use std::path::Path;

const EXPECTED: &str =
    "expected an op map such as {:type :invoke, :f :write, :value 3, :process 0}";

/// Parses a whole `history.edn`.
pub(super) fn parse_history_edn(path: &Path, text: &str) -> Result<Vec<Op>, ReadError> {
    let edn_err =
        |e: EdnError| bad_line(path, e.line, format!("column {}: {}", e.column, e.message));
    let mut reader = Reader::new(text);
    reader.skip_blank().map_err(edn_err)?;
    let close = if reader.eat(b'[').map_err(edn_err)? {
        Some(b']')
    } else if reader.eat(b'(').map_err(edn_err)? {
        Some(b')')
    } else {
        None
    };
    let mut ops: Vec<Op> = Vec::new();
    loop {
        if let Some(close) = close
            && reader.eat(close).map_err(edn_err)?
        {
            if !reader.at_end().map_err(edn_err)? {
                let message = "text after the closing bracket of the history".to_owned();
                return Err(bad_line(path, reader.line(), message));
            }
            return Ok(ops);
        }
        let Some((line, form)) = reader.next_form().map_err(edn_err)? else {
            if close.is_some() {
                let message =
                    "unexpected end of input (the history's closing bracket was expected)";
                return Err(bad_line(path, reader.line(), message.to_owned()));
            }
            return Ok(ops);
        };
        let previous_time = ops.last().map_or(0, |o| o.time_ns);
        let op = op_from_map(&form, ops.len() as u64, previous_time)
            .map_err(|message| bad_line(path, line, format!("{message} ({EXPECTED})")))?;
        ops.push(op);
    }
}

/// Reads `:type`.
pub(super) fn op_type(value: &Edn) -> Result<OpType, String> {
    match value {
        Edn::Keyword(k) | Edn::Str(k) => match k.as_str() {
            "invoke" => Ok(OpType::Invoke),
            "ok" => Ok(OpType::Ok),
            "fail" => Ok(OpType::Fail),
            "info" => Ok(OpType::Info),
            other => Err(format!(
                "type={other:?} is not :invoke, :ok, :fail or :info"
            )),
        },
        other => Err(format!("type={} is not a keyword", other.to_json())),
    }
}

fn name_of(value: &Edn) -> Option<String> {
    match value {
        Edn::Keyword(s) | Edn::Str(s) | Edn::Symbol(s) => Some(s.clone()),
        _ => None,
    }
}

fn non_negative(name: &str, value: &Edn) -> Result<u64, String> {
    match value {
        Edn::Int(i) if *i >= 0 => Ok(*i as u64),
        other => Err(format!(
            "{name}={} is not a non-negative integer",
            other.to_json()
        )),
    }
}

fn op_from_map(form: &Edn, position: u64, previous_time: u64) -> Result<Op, String> {
    if !matches!(form, Edn::Map(_))
        && !matches!(form, Edn::Tagged(_, inner) if matches!(**inner, Edn::Map(_)))
    {
        return Err(format!("found {} instead of a map", form.to_json()));
    }
    let kind = op_type(form.get("type").ok_or("missing :type")?)?;
    let f = form.get("f").ok_or("missing :f")?;
    let f = name_of(f).ok_or_else(|| format!("f={} is not a keyword", f.to_json()))?;
    let process = match form.get("process").ok_or("missing :process")? {
        Edn::Int(p) if *p >= 0 => Process::Client(*p as u64),
        other if name_of(other).as_deref() == Some("nemesis") => Process::Nemesis,
        other => {
            return Err(format!(
                "process={} is neither a non-negative integer nor :nemesis",
                other.to_json()
            ));
        }
    };
    let index = form
        .get("index")
        .map_or(Ok(position), |v| non_negative("index", v))?;
    // Without :time, position keeps file order; never let time run backwards.
    let time_ns = match form.get("time") {
        Some(t) => non_negative("time", t)?,
        None => position.max(previous_time),
    };
    let value = form.get("value").map_or(Value::Null, Edn::to_json);
    let mut op = Op::new(index, time_ns, process, kind, f, value);
    op.node = form.get("node").and_then(name_of);
    op.error = form.get("error").map(|e| match e.to_json() {
        Value::String(s) => s,
        other => other.to_string(),
    });
    op.token = match form.get("token") {
        Some(t) => Some(non_negative("token", t)?),
        None => None,
    };
    Ok(op)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_vector_of_op_maps_is_a_history() {
        let text = "[{:type :invoke, :f :write, :value 3, :process 0, :time 10, :index 0}\n {:type :ok, :f :write, :value 3, :process 0, :time 20, :index 1}\n {:type :info, :f :start, :value nil, :process :nemesis}]";
        let ops = parse_history_edn(Path::new("h.edn"), text).unwrap();
        assert_eq!(ops.len(), 3);
        assert_eq!(
            (ops[1].kind, ops[1].time_ns, &ops[1].value),
            (OpType::Ok, 20, &json!(3))
        );
        assert_eq!(ops[2].process, Process::Nemesis);
        assert_eq!(ops[2].time_ns, 20);
    }

    #[test]
    fn one_map_per_line_is_a_history_too() {
        let text = "{:type :invoke, :f :read, :process 1}\n#jepsen.history.Op{:type :ok, :f :read, :value 2, :process 1}\n";
        let ops = parse_history_edn(Path::new("h.edn"), text).unwrap();
        assert_eq!(ops.len(), 2);
        assert_eq!(ops[1].value, json!(2));
        assert_eq!(ops[1].time_ns, 1);
    }

    #[test]
    fn a_bad_op_names_its_line_and_field() {
        let text = "[{:type :invoke, :f :read, :process 1}\n {:type :maybe, :f :read, :process 1}]";
        let err = parse_history_edn(Path::new("h.edn"), text)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("h.edn:2:") && err.contains("type=\"maybe\""),
            "{err}"
        );
        let err = parse_history_edn(Path::new("h.edn"), "[{:type :invoke, :f :read, :process 1}")
            .unwrap_err()
            .to_string();
        assert!(err.contains("closing bracket"), "{err}");
    }
}
