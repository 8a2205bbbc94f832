//! Checks and fills in the metadata of incoming objects the way kube-apiserver does for
//! the fields the locks depend on: kind and apiVersion, name, namespace, uid,
//! creationTimestamp, and `resourceVersion` (never stored: it is the etcd mod revision).

use crate::resource::Resource;
use crate::status::ApiError;
use serde_json::{Map, Value};
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

/// An Object is a Kubernetes object as JSON.
pub type Object = Map<String, Value>;

/// Parses a request body into an object, or a 400 that says what is wrong.
pub fn parse_body(body: &[u8]) -> Result<Object, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(obj)) => Ok(obj),
        Ok(other) => Err(ApiError::bad_request(format!(
            "the body must be a JSON object: got={}",
            type_name(&other)
        ))),
        Err(e) => Err(ApiError::bad_request(format!(
            "the body is not valid JSON: {e}"
        ))),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The object's `metadata`, created empty when missing.
pub fn metadata_mut(obj: &mut Object) -> &mut Object {
    let meta = obj
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    meta.as_object_mut()
        .expect("metadata was just made an object")
}

/// A string field of the object's metadata.
pub fn meta_str<'a>(obj: &'a Object, field: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(field)?.as_str()
}

/// Checks `kind`, `apiVersion` and `metadata.namespace` against the URL, then sets them,
/// so stored objects are always complete.
pub fn check_type_and_namespace(
    obj: &mut Object,
    res: &'static Resource,
    namespace: &str,
) -> Result<(), ApiError> {
    let api_version = res.api_version();
    for (field, want) in [("kind", res.kind), ("apiVersion", api_version.as_str())] {
        match obj.get(field).and_then(Value::as_str) {
            None => {}
            Some(got) if got == want => {}
            Some(got) => {
                return Err(ApiError::bad_request(format!(
                    "{field} of the body does not match the URL: body={got} url={want}"
                )));
            }
        }
        obj.insert(field.to_string(), Value::String(want.to_string()));
    }
    match meta_str(obj, "namespace") {
        None | Some("") => {}
        Some(ns) if ns == namespace => {}
        Some(ns) => {
            return Err(ApiError::bad_request(format!(
                "the namespace of the provided object does not match the namespace sent on the \
                 request: body={ns} url={namespace}"
            )));
        }
    }
    metadata_mut(obj).insert("namespace".into(), Value::String(namespace.into()));
    Ok(())
}

/// Checks a name as kube-apiserver checks object names (a DNS subdomain: lowercase
/// letters, digits, `-` and `.`, starting and ending with a letter or digit, at most 253).
pub fn check_name(res: &'static Resource, name: &str) -> Result<(), ApiError> {
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.';
    let ends_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let valid = !name.is_empty()
        && name.len() <= 253
        && name.chars().all(ok_char)
        && ends_ok(name.chars().next())
        && ends_ok(name.chars().last());
    if valid {
        Ok(())
    } else {
        Err(ApiError::invalid(
            res,
            name,
            format!(
                "metadata.name: Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must \
                 consist of lower case alphanumeric characters, '-' or '.', and must start and \
                 end with an alphanumeric character"
            ),
        ))
    }
}

/// Checks the fields of a Lease spec that kube-apiserver validates.
pub fn check_spec(res: &'static Resource, name: &str, obj: &Object) -> Result<(), ApiError> {
    if res.kind != "Lease" {
        return Ok(());
    }
    let spec = obj.get("spec");
    let positive = |field: &str, min: i64| match spec.and_then(|s| s.get(field)) {
        None | Some(Value::Null) => Ok(()),
        Some(v) if v.as_i64().is_some_and(|n| n >= min) => Ok(()),
        Some(v) => Err(ApiError::invalid(
            res,
            name,
            format!("spec.{field}: Invalid value: {v}: must be at least {min}"),
        )),
    };
    positive("leaseDurationSeconds", 1)?;
    positive("leaseTransitions", 0)
}

/// Takes `metadata.resourceVersion` out of an object: it is never stored.
pub fn take_resource_version(obj: &mut Object) -> Option<String> {
    match metadata_mut(obj).remove("resourceVersion") {
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        _ => None,
    }
}

/// Parses a client's resourceVersion; they are etcd revisions, so positive integers.
pub fn parse_resource_version(rv: &str) -> Result<i64, ApiError> {
    rv.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
        ApiError::bad_request(format!(
            "invalid resourceVersion: resourceVersion={rv} (send back the value the server returned)"
        ))
    })
}

/// Sets what the server owns on a new object: uid and creationTimestamp.
pub fn stamp_new(obj: &mut Object) {
    let meta = metadata_mut(obj);
    meta.insert("uid".into(), Value::String(new_uid()));
    meta.insert("creationTimestamp".into(), Value::String(now_rfc3339()));
    meta.remove("deletionTimestamp");
}

/// Carries the server-owned metadata of the stored object over to its replacement.
pub fn keep_server_fields(new: &mut Object, stored: &Object) {
    for field in ["uid", "creationTimestamp", "name", "namespace"] {
        if let Some(v) = stored.get("metadata").and_then(|m| m.get(field)) {
            metadata_mut(new).insert(field.into(), v.clone());
        }
    }
}

/// The object as served: stored JSON plus `metadata.resourceVersion`.
pub fn with_resource_version(mut obj: Object, revision: i64) -> Object {
    metadata_mut(&mut obj).insert(
        "resourceVersion".into(),
        Value::String(revision.to_string()),
    );
    obj
}

fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// A random version-4 UUID: a process-random hasher over a counter is unique enough for
/// uids and needs no random-number crate.
fn new_uid() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let state = std::collections::hash_map::RandomState::new();
    let word = |salt: u64| {
        let mut h = state.build_hasher();
        h.write_u64(n);
        h.write_u64(salt);
        h.finish()
    };
    let (a, b) = (word(1), word(2));
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0x0fff,
        0x8000 | (b >> 48) & 0x3fff,
        b & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::{CONFIGMAPS, LEASES};
    use serde_json::json;

    #[test]
    fn names_must_be_dns_subdomains() {
        assert!(check_name(&LEASES, "a-b.c1").is_ok());
        for bad in ["", "A", "-a", "a-", "a_b"] {
            assert_eq!(check_name(&LEASES, bad).unwrap_err().code, 422, "{bad}");
        }
    }

    #[test]
    fn a_body_of_another_kind_or_namespace_is_a_bad_request() {
        let mut obj = parse_body(br#"{"kind":"ConfigMap","metadata":{"name":"a"}}"#).unwrap();
        assert_eq!(
            check_type_and_namespace(&mut obj, &LEASES, "ns")
                .unwrap_err()
                .code,
            400
        );
        let mut obj = parse_body(br#"{"metadata":{"name":"a","namespace":"x"}}"#).unwrap();
        assert_eq!(
            check_type_and_namespace(&mut obj, &CONFIGMAPS, "ns")
                .unwrap_err()
                .code,
            400
        );
        let mut obj = parse_body(br#"{"metadata":{"name":"a"}}"#).unwrap();
        check_type_and_namespace(&mut obj, &CONFIGMAPS, "ns").unwrap();
        assert_eq!(Value::Object(obj)["metadata"]["namespace"], "ns");
    }

    #[test]
    fn a_negative_lease_duration_is_invalid() {
        let obj = json!({"spec": {"leaseDurationSeconds": 0}});
        let err = check_spec(&LEASES, "a", obj.as_object().unwrap()).unwrap_err();
        assert_eq!(err.reason, "Invalid");
    }

    #[test]
    fn uids_differ_and_look_like_uuids() {
        let (a, b) = (new_uid(), new_uid());
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
    }
}
