//! A subset of server-side apply's field ownership (`metadata.managedFields`): which
//! field manager set which leaf field, by an `Apply` or an `Update`. It is what makes a
//! server-side apply fail with 409 Conflict when it would change a field another manager
//! owns, the property third-party lease libraries rely on to exclude each other.
//!
//! Tracked: every leaf below the top-level fields other than `apiVersion`, `kind` and
//! `metadata`, plus `metadata.labels` and `metadata.annotations`. Lists are atomic
//! leaves (leases and configmaps have none that merge by key).

use crate::object::{self, Object};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// A Path is the keys leading from the object's root to one leaf field.
pub type Path = Vec<String>;

/// An Operation is how a manager last wrote its fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// Server-side apply.
    Apply,
    /// Create, replace or a non-apply patch.
    Update,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// An Entry is one managedFields entry: a manager, its operation and the leaves it owns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The field manager's name.
    pub manager: String,
    /// How it wrote them.
    pub operation: Operation,
    /// The leaves it owns.
    pub fields: BTreeSet<Path>,
}

/// Every tracked leaf of `obj` with its value; nulls are absent fields.
pub fn leaves(obj: &Object) -> BTreeMap<Path, Value> {
    let mut out = BTreeMap::new();
    for (k, v) in obj {
        if k == "apiVersion" || k == "kind" {
            continue;
        }
        if k == "metadata" {
            for sub in ["labels", "annotations"] {
                if let Some(v) = v.get(sub) {
                    collect(v, vec![k.clone(), sub.to_string()], &mut out);
                }
            }
            continue;
        }
        collect(v, vec![k.clone()], &mut out);
    }
    out
}

fn collect(v: &Value, path: Path, out: &mut BTreeMap<Path, Value>) {
    match v {
        Value::Null => {}
        Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                let mut p = path.clone();
                p.push(k.clone());
                collect(v, p, out);
            }
        }
        other => {
            out.insert(path, other.clone());
        }
    }
}

/// The managedFields entries of an object.
pub fn entries(obj: &Object) -> Vec<Entry> {
    let Some(Value::Array(list)) = obj.get("metadata").and_then(|m| m.get("managedFields")) else {
        return vec![];
    };
    list.iter()
        .filter_map(|e| {
            let manager = e.get("manager")?.as_str()?.to_string();
            let operation = match e.get("operation")?.as_str()? {
                "Apply" => Operation::Apply,
                _ => Operation::Update,
            };
            let mut fields = BTreeSet::new();
            decode(e.get("fieldsV1")?, vec![], &mut fields);
            Some(Entry {
                manager,
                operation,
                fields,
            })
        })
        .collect()
}

fn decode(v: &Value, path: Path, out: &mut BTreeSet<Path>) {
    let Some(m) = v.as_object() else { return };
    if m.is_empty() && !path.is_empty() {
        out.insert(path);
        return;
    }
    for (k, v) in m {
        if let Some(key) = k.strip_prefix("f:") {
            let mut p = path.clone();
            p.push(key.to_string());
            decode(v, p, out);
        }
    }
}

fn encode(fields: &BTreeSet<Path>) -> Value {
    let mut root = Map::new();
    for path in fields {
        let mut node = &mut root;
        for key in path {
            node = node
                .entry(format!("f:{key}"))
                .or_insert_with(|| Value::Object(Map::new()))
                .as_object_mut()
                .expect("fieldsV1 nodes are objects");
        }
    }
    Value::Object(root)
}

/// Writes `entries` into the object's managedFields, dropping empty ones.
pub fn set_entries(obj: &mut Object, entries: &[Entry], api_version: &str) {
    let time = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let list: Vec<Value> = entries
        .iter()
        .filter(|e| !e.fields.is_empty())
        .map(|e| {
            json!({
                "manager": e.manager,
                "operation": e.operation.as_str(),
                "apiVersion": api_version,
                "time": time,
                "fieldsType": "FieldsV1",
                "fieldsV1": encode(&e.fields),
            })
        })
        .collect();
    let meta = object::metadata_mut(obj);
    if list.is_empty() {
        meta.remove("managedFields");
    } else {
        meta.insert("managedFields".into(), Value::Array(list));
    }
}

/// Carries the stored managedFields over to a replacement (clients do not own them).
pub fn keep(stored: &Object, new: &mut Object) {
    let meta = object::metadata_mut(new);
    match stored.get("metadata").and_then(|m| m.get("managedFields")) {
        Some(v) => meta.insert("managedFields".into(), v.clone()),
        None => meta.remove("managedFields"),
    };
}

/// Records a write by `manager`: every leaf it changed, added or removed leaves the
/// other entries, and the changed and added ones become the manager's.
pub fn record(old: &Object, new: &mut Object, manager: &str, operation: Operation) {
    let (before, after) = (leaves(old), leaves(new));
    let touched: BTreeSet<Path> = after
        .iter()
        .filter(|(p, v)| before.get(*p) != Some(*v))
        .map(|(p, _)| p.clone())
        .chain(before.keys().filter(|p| !after.contains_key(*p)).cloned())
        .collect();
    let mut list = entries(new);
    for e in &mut list {
        e.fields.retain(|p| !touched.contains(p));
    }
    let mine: BTreeSet<Path> = touched
        .into_iter()
        .filter(|p| after.contains_key(p))
        .collect();
    match list
        .iter_mut()
        .find(|e| e.manager == manager && e.operation == operation)
    {
        Some(e) => e.fields.extend(mine),
        None => list.push(Entry {
            manager: manager.to_string(),
            operation,
            fields: mine,
        }),
    }
    let api_version = new
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("v1")
        .to_string();
    set_entries(new, &list, &api_version);
}

/// A dotted field path as kube-apiserver prints it: `.spec.holderIdentity`.
pub fn dotted(path: &Path) -> String {
    path.iter().map(|k| format!(".{k}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Object {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn an_update_takes_the_fields_it_changes_from_their_owner() {
        let old = obj(json!({"spec": {"a": 1, "b": 2}}));
        let mut first = old.clone();
        record(&Object::new(), &mut first, "m1", Operation::Update);
        let mut second = first.clone();
        second["spec"]["a"] = json!(5);
        record(&first, &mut second, "m2", Operation::Update);
        let list = entries(&second);
        let owner = |key: &str| {
            list.iter()
                .find(|e| {
                    e.fields
                        .contains(&vec!["spec".to_string(), key.to_string()])
                })
                .map(|e| e.manager.clone())
        };
        assert_eq!(owner("a").as_deref(), Some("m2"));
        assert_eq!(owner("b").as_deref(), Some("m1"));
    }

    #[test]
    fn fields_v1_round_trips() {
        let fields: BTreeSet<Path> =
            [vec!["spec".to_string(), "holderIdentity".to_string()]].into();
        let mut out = BTreeSet::new();
        decode(&encode(&fields), vec![], &mut out);
        assert_eq!(out, fields);
        assert_eq!(
            dotted(&fields.into_iter().next().unwrap()),
            ".spec.holderIdentity"
        );
    }
}
