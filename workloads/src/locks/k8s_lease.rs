//! The `k8s-lease` lock: a `coordination.k8s.io/v1` Lease driven by client-go's leader
//! election ([`super::k8s_elector`]), as client-go's `LeaseLock` stores the record:
//! `spec.holderIdentity`, `leaseDurationSeconds`, `acquireTime`, `renewTime`,
//! `leaseTransitions`. Writes are PUTs of the Lease last read or written, so they carry
//! its `resourceVersion`. The fencing token is `leaseTransitions`.

use super::k8s_elector::{LeaderRecord, RecordStore, StoreError, StoreErrorKind, StoreFuture};
use super::k8s_elector_lock::{ElectionLock, KubeLockConfig, classify, kube_client};
use crate::lock::LockError;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{ObjectMeta, PostParams};
use std::sync::Mutex;
use std::time::SystemTime;

/// A LeaseStore keeps a leader record in one Lease, remembering the Lease last seen.
pub struct LeaseStore {
    api: Api<Lease>,
    name: String,
    namespace: String,
    last: Mutex<Option<Lease>>,
}

impl LeaseStore {
    /// The store of the Lease `name` in `namespace`.
    pub fn new(client: kube::Client, namespace: &str, name: &str) -> LeaseStore {
        LeaseStore {
            api: Api::namespaced(client, namespace),
            name: name.to_string(),
            namespace: namespace.to_string(),
            last: Mutex::new(None),
        }
    }

    fn remember(&self, lease: Lease) {
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(lease);
    }

    async fn get_inner(&self) -> Result<Option<(LeaderRecord, Vec<u8>)>, StoreError> {
        match self.api.get(&self.name).await {
            Ok(lease) => {
                let record = spec_to_record(lease.spec.as_ref());
                // client-go compares the JSON of the converted record; any faithful
                // encoding of the same fields does.
                let raw = format!("{record:?}").into_bytes();
                self.remember(lease);
                Ok(Some((record, raw)))
            }
            Err(e) => match classify("get", e) {
                e if e.kind == StoreErrorKind::NotFound => Ok(None),
                e => Err(e),
            },
        }
    }

    async fn create_inner(&self, record: &LeaderRecord) -> Result<(), StoreError> {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                namespace: Some(self.namespace.clone()),
                ..Default::default()
            },
            spec: Some(record_to_spec(record)),
        };
        let created = self
            .api
            .create(&PostParams::default(), &lease)
            .await
            .map_err(|e| classify("create", e))?;
        self.remember(created);
        Ok(())
    }

    async fn update_inner(&self, record: &LeaderRecord) -> Result<(), StoreError> {
        let last = self.last.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let Some(mut lease) = last else {
            return Err(StoreError {
                kind: StoreErrorKind::Refused,
                message: format!(
                    "lease not initialized: lease={} (get or create first)",
                    self.name
                ),
            });
        };
        lease.spec = Some(record_to_spec(record));
        let updated = self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
            .map_err(|e| classify("update", e))?;
        self.remember(updated);
        Ok(())
    }
}

impl RecordStore for LeaseStore {
    fn describe(&self) -> String {
        format!("leases/{}/{}", self.namespace, self.name)
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

fn micro(t: Option<SystemTime>) -> Option<MicroTime> {
    t.and_then(|t| Timestamp::try_from(t).ok()).map(MicroTime)
}

/// client-go's `LeaderElectionRecordToLeaseSpec`.
pub fn record_to_spec(r: &LeaderRecord) -> LeaseSpec {
    LeaseSpec {
        holder_identity: Some(r.holder_identity.clone()),
        lease_duration_seconds: Some(r.lease_duration_seconds),
        acquire_time: micro(r.acquire_time),
        renew_time: micro(r.renew_time),
        lease_transitions: Some(r.leader_transitions),
        ..Default::default()
    }
}

/// client-go's `LeaseSpecToLeaderElectionRecord`: absent fields are zero values.
pub fn spec_to_record(spec: Option<&LeaseSpec>) -> LeaderRecord {
    let Some(s) = spec else {
        return LeaderRecord::default();
    };
    LeaderRecord {
        holder_identity: s.holder_identity.clone().unwrap_or_default(),
        lease_duration_seconds: s.lease_duration_seconds.unwrap_or(0),
        acquire_time: s.acquire_time.as_ref().map(|t| SystemTime::from(t.0)),
        renew_time: s.renew_time.as_ref().map(|t| SystemTime::from(t.0)),
        leader_transitions: s.lease_transitions.unwrap_or(0),
    }
}

/// The `k8s-lease` lock: one Lease per lock key, named after the key.
pub fn lease_lock(cfg: KubeLockConfig) -> Result<ElectionLock, LockError> {
    let client = kube_client(&cfg.api, cfg.op_timeout)?;
    let namespace = cfg.namespace.clone();
    let stores = Box::new(move |key: &str| {
        Box::new(LeaseStore::new(client.clone(), &namespace, key)) as Box<dyn RecordStore>
    });
    Ok(ElectionLock::new("k8s-lease", cfg, stores))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_record_survives_the_trip_through_a_lease_spec() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456);
        let r = LeaderRecord {
            holder_identity: "n1-1".into(),
            lease_duration_seconds: 3,
            acquire_time: Some(t),
            renew_time: Some(t),
            leader_transitions: 7,
        };
        assert_eq!(spec_to_record(Some(&record_to_spec(&r))), r);
        assert_eq!(spec_to_record(None), LeaderRecord::default());
    }
}
