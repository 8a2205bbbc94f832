//! The optimistic workload's store on Kubernetes: each counter is a ConfigMap whose
//! `data.value` holds the number, swapped with a PUT carrying the `resourceVersion`
//! the read fetched, as controllers do their read-modify-write. The API server refuses a PUT whose `resourceVersion` is stale with 409 Conflict, which
//! is a definite "no": nothing was written.

use super::store::VersionedStore;
use crate::lock::{LockError, LockFuture};
use crate::locks::k8s_elector::{StoreError, StoreErrorKind};
use crate::locks::k8s_elector_lock::{classify, kube_client};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{ObjectMeta, PostParams};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

/// The ConfigMap data key holding the counter.
pub const VALUE_KEY: &str = "value";

/// A KubeVersionedStore keeps counters in ConfigMaps of one namespace. It remembers,
/// per counter, the value and `resourceVersion` its last read saw, so a
/// compare-and-set from that value is a PUT preconditioned on that version.
pub struct KubeVersionedStore {
    api: Api<ConfigMap>,
    namespace: String,
    op_timeout: Duration,
    skip_version_check: bool,
    /// Counter name -> (value, resourceVersion) of the last read; no entry or a None
    /// version when the ConfigMap did not exist.
    seen: Mutex<HashMap<String, (i64, Option<String>)>>,
}

impl KubeVersionedStore {
    /// A store on the API server `api` reaches, in `namespace`;
    /// `skip_version_check` makes every compare-and-set an unconditional PUT (for
    /// showing the checker a broken store).
    pub fn new(
        api: &kube::Config,
        namespace: &str,
        op_timeout: Duration,
        skip_version_check: bool,
    ) -> Result<KubeVersionedStore, LockError> {
        let client = kube_client(api, op_timeout)?;
        Ok(KubeVersionedStore {
            api: Api::namespaced(client, namespace),
            namespace: namespace.to_string(),
            op_timeout,
            skip_version_check,
            seen: Mutex::new(HashMap::new()),
        })
    }

    /// Runs one API call under the op timeout; a timeout is indeterminate.
    async fn bounded<T>(
        &self,
        op: &str,
        call: impl Future<Output = Result<T, kube::Error>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.op_timeout, call).await {
            Ok(result) => result.map_err(|e| classify(op, e)),
            Err(_) => Err(StoreError {
                kind: StoreErrorKind::Timeout,
                message: format!("op={op}: no reply within {:?}", self.op_timeout),
            }),
        }
    }

    fn remember(&self, key: &str, value: i64, version: Option<String>) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.insert(key.to_string(), (value, version));
    }

    fn remembered(&self, key: &str) -> Option<(i64, Option<String>)> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.get(key).cloned()
    }

    fn forget(&self, key: &str) {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }

    /// The counter and its version, remembering both for the next compare-and-set.
    async fn fetch(&self, key: &str) -> Result<(i64, Option<String>), LockError> {
        let cm = match self.bounded("read", self.api.get(key)).await {
            Ok(cm) => cm,
            Err(e) if e.kind == StoreErrorKind::NotFound => {
                self.remember(key, 0, None);
                return Ok((0, None));
            }
            // A read changes nothing, so any failure of it is definite.
            Err(e) => return Err(LockError::Rejected { message: e.message }),
        };
        let value = parse_value(key, &cm)?;
        let version = cm.metadata.resource_version.clone();
        self.remember(key, value, version.clone());
        Ok((value, version))
    }

    async fn swap(&self, key: &str, from: i64, to: i64) -> Result<bool, LockError> {
        // The version the caller's read saw; a fresh read when the caller read
        // something else (or through another store), so the precondition is always
        // a version at which the counter held `from`.
        let version = match self.remembered(key) {
            Some((value, version)) if value == from => version,
            _ => match self.fetch(key).await? {
                (value, version) if value == from => version,
                _ => return Ok(false),
            },
        };
        let mut cm = self.object(key, to);
        let result = match version {
            None => self.bounded("cas", self.api.create(&pp(), &cm)).await,
            Some(version) => {
                cm.metadata.resource_version = (!self.skip_version_check).then_some(version);
                self.bounded("cas", self.api.replace(key, &pp(), &cm)).await
            }
        };
        self.forget(key);
        match result {
            Ok(written) => {
                self.remember(key, to, written.metadata.resource_version);
                Ok(true)
            }
            // 409: another write got in since the read (or the ConfigMap appeared
            // since it was seen missing); this one was not applied.
            Err(e) if e.kind == StoreErrorKind::Conflict => Ok(false),
            Err(e) => Err(to_lock_error("cas", e)),
        }
    }

    fn object(&self, key: &str, value: i64) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                name: Some(key.to_string()),
                namespace: Some(self.namespace.clone()),
                ..Default::default()
            },
            data: Some(BTreeMap::from([(VALUE_KEY.to_string(), value.to_string())])),
            ..Default::default()
        }
    }
}

fn pp() -> PostParams {
    PostParams::default()
}

fn parse_value(key: &str, cm: &ConfigMap) -> Result<i64, LockError> {
    let raw = cm.data.as_ref().and_then(|d| d.get(VALUE_KEY));
    match raw {
        None => Ok(0),
        Some(s) => s.parse().map_err(|_| LockError::Rejected {
            message: format!(
                "configmap={key} data.{VALUE_KEY}={s:?} is not an integer \
                 (hint: delete the ConfigMap so the counter restarts from 0)"
            ),
        }),
    }
}

/// A store error as a lock error with the same certainty: refusals and 404s before
/// anything was written are definite, timeouts and 5xx answers are not.
fn to_lock_error(op: &str, e: StoreError) -> LockError {
    match e.kind {
        StoreErrorKind::Conflict | StoreErrorKind::NotFound | StoreErrorKind::Refused => {
            LockError::Rejected { message: e.message }
        }
        StoreErrorKind::Timeout | StoreErrorKind::Unknown => LockError::Unknown {
            op: op.into(),
            message: e.message.clone(),
            source: Some(Box::new(e)),
        },
    }
}

impl VersionedStore for KubeVersionedStore {
    fn name(&self) -> &str {
        "k8s-configmap"
    }

    fn read<'a>(&'a self, key: &'a str) -> LockFuture<'a, i64> {
        Box::pin(async move { self.fetch(key).await.map(|(v, _)| v) })
    }

    fn cas<'a>(&'a self, key: &'a str, from: i64, to: i64) -> LockFuture<'a, bool> {
        Box::pin(self.swap(key, from, to))
    }
}
