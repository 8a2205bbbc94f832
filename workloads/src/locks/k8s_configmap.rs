//! The `k8s-configmap` lock: client-go's leader election ([`super::k8s_elector`]) on a
//! ConfigMap whose `control-plane.alpha.kubernetes.io/leader` annotation holds the
//! record as JSON, as client-go's former `ConfigMapLock` stored it. Writes are PUTs of
//! the ConfigMap last read or written, so they carry its `resourceVersion`. The fencing
//! token is `leaderTransitions`.

use super::k8s_elector::{LeaderRecord, RecordStore, StoreError, StoreErrorKind, StoreFuture};
use super::k8s_elector_lock::{ElectionLock, KubeLockConfig, classify, kube_client};
use crate::lock::LockError;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{ObjectMeta, PostParams};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::SystemTime;

/// The annotation client-go's ConfigMapLock and EndpointsLock kept the record in.
pub const LEADER_ANNOTATION: &str = "control-plane.alpha.kubernetes.io/leader";

/// The record's JSON form in the annotation: metav1.Time values, RFC 3339 in seconds.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AnnotationRecord {
    #[serde(default)]
    holder_identity: String,
    #[serde(default)]
    lease_duration_seconds: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    acquire_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    renew_time: Option<String>,
    #[serde(default)]
    leader_transitions: i32,
}

fn to_rfc3339(t: Option<SystemTime>) -> Option<String> {
    let ts = Timestamp::try_from(t?).ok()?;
    Some(ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
}

fn from_rfc3339(s: Option<&String>) -> Option<SystemTime> {
    s?.parse::<Timestamp>().ok().map(SystemTime::from)
}

/// The annotation's JSON for a record.
pub fn encode(r: &LeaderRecord) -> String {
    let a = AnnotationRecord {
        holder_identity: r.holder_identity.clone(),
        lease_duration_seconds: r.lease_duration_seconds,
        acquire_time: to_rfc3339(r.acquire_time),
        renew_time: to_rfc3339(r.renew_time),
        leader_transitions: r.leader_transitions,
    };
    serde_json::to_string(&a).expect("a record always serializes")
}

/// The record in an annotation's JSON; None if it does not parse.
pub fn decode(s: &str) -> Option<LeaderRecord> {
    let a: AnnotationRecord = serde_json::from_str(s).ok()?;
    Some(LeaderRecord {
        holder_identity: a.holder_identity,
        lease_duration_seconds: a.lease_duration_seconds,
        acquire_time: from_rfc3339(a.acquire_time.as_ref()),
        renew_time: from_rfc3339(a.renew_time.as_ref()),
        leader_transitions: a.leader_transitions,
    })
}

/// A ConfigMapStore keeps a leader record in one ConfigMap's annotation, remembering the
/// ConfigMap last seen.
pub struct ConfigMapStore {
    api: Api<ConfigMap>,
    name: String,
    namespace: String,
    last: Mutex<Option<ConfigMap>>,
}

impl ConfigMapStore {
    /// The store of the ConfigMap `name` in `namespace`.
    pub fn new(client: kube::Client, namespace: &str, name: &str) -> ConfigMapStore {
        ConfigMapStore {
            api: Api::namespaced(client, namespace),
            name: name.to_string(),
            namespace: namespace.to_string(),
            last: Mutex::new(None),
        }
    }

    fn remember(&self, cm: ConfigMap) {
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(cm);
    }

    async fn get_inner(&self) -> Result<Option<(LeaderRecord, Vec<u8>)>, StoreError> {
        let cm = match self.api.get(&self.name).await {
            Ok(cm) => cm,
            Err(e) => {
                return match classify("get", e) {
                    e if e.kind == StoreErrorKind::NotFound => Ok(None),
                    e => Err(e),
                };
            }
        };
        // As client-go: a missing annotation is an empty record, and the raw record is
        // the annotation's text.
        let raw = cm
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(LEADER_ANNOTATION))
            .cloned()
            .unwrap_or_default();
        let record = if raw.is_empty() {
            LeaderRecord::default()
        } else {
            decode(&raw).ok_or_else(|| StoreError {
                kind: StoreErrorKind::Refused,
                message: format!(
                    "unparseable leader record: configmap={} annotation={LEADER_ANNOTATION}",
                    self.name
                ),
            })?
        };
        self.remember(cm);
        Ok(Some((record, raw.into_bytes())))
    }

    async fn create_inner(&self, record: &LeaderRecord) -> Result<(), StoreError> {
        let cm = ConfigMap {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                namespace: Some(self.namespace.clone()),
                annotations: Some(BTreeMap::from([(
                    LEADER_ANNOTATION.to_string(),
                    encode(record),
                )])),
                ..Default::default()
            },
            ..Default::default()
        };
        let created = self
            .api
            .create(&PostParams::default(), &cm)
            .await
            .map_err(|e| classify("create", e))?;
        self.remember(created);
        Ok(())
    }

    async fn update_inner(&self, record: &LeaderRecord) -> Result<(), StoreError> {
        let last = self.last.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let Some(mut cm) = last else {
            return Err(StoreError {
                kind: StoreErrorKind::Refused,
                message: format!(
                    "configmap not initialized: configmap={} (get or create first)",
                    self.name
                ),
            });
        };
        cm.metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(LEADER_ANNOTATION.to_string(), encode(record));
        let updated = self
            .api
            .replace(&self.name, &PostParams::default(), &cm)
            .await
            .map_err(|e| classify("update", e))?;
        self.remember(updated);
        Ok(())
    }
}

impl RecordStore for ConfigMapStore {
    fn describe(&self) -> String {
        format!("configmaps/{}/{}", self.namespace, self.name)
    }

    fn get(&self) -> StoreFuture<'_, Option<(LeaderRecord, Vec<u8>)>> {
        Box::pin(self.get_inner())
    }

    fn create<'a>(&'a self, record: &'a LeaderRecord) -> StoreFuture<'a, ()> {
        Box::pin(self.create_inner(record))
    }

    fn update<'a>(&'a self, record: &'a LeaderRecord) -> StoreFuture<'a, ()> {
        Box::pin(self.update_inner(record))
    }
}

/// The `k8s-configmap` lock: one ConfigMap per lock key, named after the key.
pub fn configmap_lock(cfg: KubeLockConfig) -> Result<ElectionLock, LockError> {
    let client = kube_client(&cfg.api, cfg.op_timeout)?;
    let namespace = cfg.namespace.clone();
    let stores = Box::new(move |key: &str| {
        Box::new(ConfigMapStore::new(client.clone(), &namespace, key)) as Box<dyn RecordStore>
    });
    Ok(ElectionLock::new("k8s-configmap", cfg, stores))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_annotation_uses_client_go_field_names_and_whole_seconds() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_900);
        let r = LeaderRecord {
            holder_identity: "n1".into(),
            lease_duration_seconds: 15,
            acquire_time: Some(t),
            renew_time: Some(t),
            leader_transitions: 2,
        };
        let json = encode(&r);
        assert!(json.contains(r#""holderIdentity":"n1""#), "{json}");
        assert!(json.contains(r#""leaderTransitions":2"#), "{json}");
        assert!(
            json.contains(r#""renewTime":"2023-11-14T22:13:20Z""#),
            "{json}"
        );
        let back = decode(&json).unwrap();
        assert_eq!(back.leader_transitions, 2);
        assert_eq!(
            back.renew_time,
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        );
        assert!(decode("not json").is_none());
    }
}
