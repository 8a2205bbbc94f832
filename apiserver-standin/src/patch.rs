//! PATCH bodies: JSON merge patch (RFC 7386), strategic merge patch (the same algorithm
//! for leases and configmaps, whose only lists are atomic), and server-side apply with
//! field ownership conflicts (see [`crate::fields`]).

use crate::fields::{self, Operation, Path};
use crate::object::Object;
use crate::resource::Resource;
use crate::status::ApiError;
use crate::store::Write;
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// A PatchKind is the patch format, from the request's Content-Type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchKind {
    /// `application/merge-patch+json`.
    Merge,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/apply-patch+yaml` (the body must be JSON, which kube-rs sends).
    Apply,
}

impl PatchKind {
    /// The kind for a Content-Type, or 415 UnsupportedMediaType.
    pub fn from_content_type(content_type: &str) -> Result<PatchKind, ApiError> {
        match content_type.split(';').next().unwrap_or("").trim() {
            "application/merge-patch+json" => Ok(PatchKind::Merge),
            "application/strategic-merge-patch+json" => Ok(PatchKind::Strategic),
            "application/apply-patch+yaml" => Ok(PatchKind::Apply),
            other => Err(ApiError::unsupported_media_type(other)),
        }
    }
}

/// The stored object with the patch applied and managedFields updated.
pub fn apply(
    kind: PatchKind,
    stored: &Object,
    patch: &Object,
    write: &Write,
    res: &'static Resource,
    name: &str,
) -> Result<Object, ApiError> {
    match kind {
        PatchKind::Merge | PatchKind::Strategic => {
            if kind == PatchKind::Strategic && has_directive(&Value::Object(patch.clone())) {
                return Err(ApiError::bad_request(
                    "strategic merge directives ($patch, $retainKeys, ...) are not supported by \
                     the stand-in (leases and configmaps do not need them)",
                ));
            }
            let mut merged = Value::Object(stored.clone());
            merge(&mut merged, &Value::Object(patch.clone()));
            let Value::Object(mut new) = merged else {
                unreachable!("merging an object patch into an object gives an object")
            };
            fields::record(stored, &mut new, &write.manager, Operation::Update);
            Ok(new)
        }
        PatchKind::Apply => server_side_apply(stored, patch, write, res, name),
    }
}

/// RFC 7386: objects merge key by key, null removes a key, anything else replaces.
pub fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let target = target.as_object_mut().expect("made an object above");
    for (k, v) in patch {
        if v.is_null() {
            target.remove(k);
        } else {
            merge(target.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

fn has_directive(v: &Value) -> bool {
    match v {
        Value::Object(m) => m
            .iter()
            .any(|(k, v)| k.starts_with('$') || has_directive(v)),
        Value::Array(a) => a.iter().any(has_directive),
        _ => false,
    }
}

/// Server-side apply: the config's leaves are set and become the manager's; leaves the
/// manager applied before and no longer does are removed unless someone else owns them;
/// a leaf another manager owns with a different value is a conflict unless forced.
fn server_side_apply(
    stored: &Object,
    config: &Object,
    write: &Write,
    res: &'static Resource,
    name: &str,
) -> Result<Object, ApiError> {
    let wanted = fields::leaves(config);
    let current = fields::leaves(stored);
    let mut list = fields::entries(stored);
    let is_mine = |e: &fields::Entry| e.manager == write.manager && e.operation == Operation::Apply;
    let mut conflicts: Vec<(String, Path)> = vec![];
    for e in list.iter_mut().filter(|e| !is_mine(e)) {
        let theirs: Vec<Path> = e
            .fields
            .iter()
            .filter(|p| wanted.get(*p).is_some_and(|v| current.get(*p) != Some(v)))
            .cloned()
            .collect();
        if write.force {
            e.fields.retain(|p| !theirs.contains(p));
        } else {
            conflicts.extend(theirs.into_iter().map(|p| (e.manager.clone(), p)));
        }
    }
    if !conflicts.is_empty() {
        return Err(ApiError::apply_conflict(
            res,
            name,
            conflict_message(&conflicts),
        ));
    }
    let before: BTreeSet<Path> = list
        .iter()
        .find(|e| is_mine(e))
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    let others: BTreeSet<Path> = list
        .iter()
        .filter(|e| !is_mine(e))
        .flat_map(|e| e.fields.iter().cloned())
        .collect();
    let mut new = Value::Object(stored.clone());
    for p in before
        .iter()
        .filter(|p| !wanted.contains_key(*p) && !others.contains(*p))
    {
        remove_path(&mut new, p);
    }
    for (p, v) in &wanted {
        set_path(&mut new, p, v.clone());
    }
    list.retain(|e| !is_mine(e));
    list.push(fields::Entry {
        manager: write.manager.clone(),
        operation: Operation::Apply,
        fields: wanted.keys().cloned().collect(),
    });
    let Value::Object(mut new) = new else {
        unreachable!("the stored object is an object")
    };
    for field in ["apiVersion", "kind"] {
        if let Some(v) = config.get(field) {
            new.insert(field.into(), v.clone());
        }
    }
    fields::set_entries(&mut new, &list, &res.api_version());
    Ok(new)
}

fn conflict_message(conflicts: &[(String, Path)]) -> String {
    let n = conflicts.len();
    let plural = if n == 1 { "conflict" } else { "conflicts" };
    let list: Vec<String> = conflicts
        .iter()
        .map(|(m, p)| format!("conflict with \"{m}\": {}", fields::dotted(p)))
        .collect();
    format!("Apply failed with {n} {plural}: {}", list.join(", "))
}

fn set_path(target: &mut Value, path: &Path, v: Value) {
    let mut node = target;
    for key in path {
        if !node.is_object() {
            *node = Value::Object(Map::new());
        }
        node = node
            .as_object_mut()
            .expect("made an object above")
            .entry(key.clone())
            .or_insert(Value::Null);
    }
    *node = v;
}

fn remove_path(target: &mut Value, path: &Path) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut node = target;
    for key in parents {
        match node.get_mut(key) {
            Some(next) => node = next,
            None => return,
        }
    }
    if let Some(m) = node.as_object_mut() {
        m.remove(last);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::LEASES;
    use serde_json::json;

    fn obj(v: Value) -> Object {
        v.as_object().unwrap().clone()
    }

    fn by(manager: &str) -> Write {
        Write {
            manager: manager.into(),
            force: false,
        }
    }

    #[test]
    fn a_merge_patch_null_removes_a_field() {
        let mut t = json!({"spec": {"a": 1, "b": 2}});
        merge(&mut t, &json!({"spec": {"a": null, "c": 3}}));
        assert_eq!(t, json!({"spec": {"b": 2, "c": 3}}));
    }

    #[test]
    fn applying_over_a_field_another_manager_set_differently_conflicts() {
        let stored = obj(json!({"spec": {}}));
        let a = obj(json!({"spec": {"holderIdentity": "a"}}));
        let b = obj(json!({"spec": {"holderIdentity": "b"}}));
        let after_a = apply(PatchKind::Apply, &stored, &a, &by("ma"), &LEASES, "l").unwrap();
        let err = apply(PatchKind::Apply, &after_a, &b, &by("mb"), &LEASES, "l").unwrap_err();
        assert_eq!((err.code, err.reason), (409, "Conflict"));
        assert!(
            err.message.contains(".spec.holderIdentity"),
            "{}",
            err.message
        );
        // The same value is shared ownership, not a conflict.
        apply(PatchKind::Apply, &after_a, &a, &by("mb"), &LEASES, "l").unwrap();
        // Forcing takes the field.
        let force = Write {
            force: true,
            ..by("mb")
        };
        let forced = apply(PatchKind::Apply, &after_a, &b, &force, &LEASES, "l").unwrap();
        assert_eq!(forced["spec"]["holderIdentity"], "b");
    }

    #[test]
    fn a_field_cleared_by_an_update_can_be_applied_by_anyone() {
        let stored = obj(json!({"spec": {}}));
        let a = obj(json!({"spec": {"holderIdentity": "a"}}));
        let after_a = apply(PatchKind::Apply, &stored, &a, &by("ma"), &LEASES, "l").unwrap();
        let clear = obj(json!({"spec": {"holderIdentity": null}}));
        let cleared = apply(
            PatchKind::Strategic,
            &after_a,
            &clear,
            &by("ma"),
            &LEASES,
            "l",
        )
        .unwrap();
        let b = obj(json!({"spec": {"holderIdentity": "b"}}));
        let after_b = apply(PatchKind::Apply, &cleared, &b, &by("mb"), &LEASES, "l").unwrap();
        assert_eq!(after_b["spec"]["holderIdentity"], "b");
    }
}
