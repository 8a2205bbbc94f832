//! The storage layer: objects in etcd, with kube-apiserver's concurrency semantics.
//! `resourceVersion` is the etcd mod revision of the object's key; a create is a
//! transaction on create revision 0; every write to an existing object is a transaction
//! comparing the mod revision it read, retried (as kube-apiserver's GuaranteedUpdate
//! does) only when the client gave no resourceVersion of its own.

use crate::fields::{self, Operation};
use crate::object::{self, Object};
use crate::patch::{self, PatchKind};
use crate::resource::Resource;
use crate::status::{self, ApiError};
use etcd_client::{Compare, CompareOp, GetOptions, KvClient, Txn, TxnOp};
use serde_json::{Value, json};
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// A Store is the stand-in's view of etcd: a KV client and the bound on each request.
#[derive(Clone)]
pub struct Store {
    kv: KvClient,
    timeout: Duration,
}

/// A Write is who is writing, for managedFields: the `fieldManager` query parameter.
#[derive(Clone, Debug)]
pub struct Write {
    /// The field manager.
    pub manager: String,
    /// Server-side apply's `force`: take fields other managers own.
    pub force: bool,
}

impl Store {
    /// A store over an etcd KV client; every request is bounded by `timeout` in total.
    pub fn new(kv: KvClient, timeout: Duration) -> Store {
        Store { kv, timeout }
    }

    /// Runs one etcd call within what is left of the request's time.
    async fn etcd<T, F>(&self, deadline: Instant, call: F) -> Result<T, ApiError>
    where
        F: Future<Output = Result<T, etcd_client::Error>>,
    {
        match tokio::time::timeout_at(deadline, call).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(ApiError::internal(format!("etcd: {e}"))),
            Err(_) => Err(ApiError::timeout(self.timeout.as_millis())),
        }
    }

    /// The stored object at `key` and its mod revision.
    async fn fetch(&self, deadline: Instant, key: &str) -> Result<Option<(Object, i64)>, ApiError> {
        let mut kv = self.kv.clone();
        let resp = self.etcd(deadline, kv.get(key, None)).await?;
        let Some(kv) = resp.kvs().first() else {
            return Ok(None);
        };
        let obj = object::parse_body(kv.value()).map_err(|e| {
            ApiError::internal(format!(
                "stored object is corrupt: key={key}: {}",
                e.message
            ))
        })?;
        Ok(Some((obj, kv.mod_revision())))
    }

    /// Puts `obj` at `key` if its mod revision is still `mod_revision` (0: if it does not
    /// exist). The new revision, or None when the comparison failed.
    async fn put_if(
        &self,
        deadline: Instant,
        key: &str,
        compare: Compare,
        obj: &Object,
    ) -> Result<Option<i64>, ApiError> {
        let bytes = serde_json::to_vec(obj).expect("a JSON object always serializes");
        let txn = Txn::new()
            .when([compare])
            .and_then([TxnOp::put(key, bytes, None)]);
        let mut kv = self.kv.clone();
        let resp = self.etcd(deadline, kv.txn(txn)).await?;
        Ok(resp
            .succeeded()
            .then(|| resp.header().map(|h| h.revision()).unwrap_or(0)))
    }

    /// GET of one object.
    pub async fn get(
        &self,
        res: &'static Resource,
        ns: &str,
        name: &str,
    ) -> Result<Object, ApiError> {
        let deadline = Instant::now() + self.timeout;
        let (obj, rev) = self
            .fetch(deadline, &res.key(ns, name))
            .await?
            .ok_or_else(|| ApiError::not_found(res, name))?;
        Ok(object::with_resource_version(obj, rev))
    }

    /// GET of the collection: every object of the namespace, at one etcd revision.
    pub async fn list(&self, res: &'static Resource, ns: &str) -> Result<Value, ApiError> {
        let deadline = Instant::now() + self.timeout;
        let mut kv = self.kv.clone();
        let opts = GetOptions::new().with_prefix();
        let resp = self
            .etcd(deadline, kv.get(res.prefix(ns), Some(opts)))
            .await?;
        let mut items = Vec::with_capacity(resp.kvs().len());
        for kv in resp.kvs() {
            let obj = object::parse_body(kv.value()).map_err(|e| {
                ApiError::internal(format!("stored object is corrupt: {}", e.message))
            })?;
            items.push(Value::Object(object::with_resource_version(
                obj,
                kv.mod_revision(),
            )));
        }
        let revision = resp.header().map(|h| h.revision()).unwrap_or(0);
        Ok(json!({
            "kind": res.list_kind(),
            "apiVersion": res.api_version(),
            "metadata": { "resourceVersion": revision.to_string() },
            "items": items,
        }))
    }

    /// POST: creates the object unless one of that name exists (409 AlreadyExists).
    pub async fn create(
        &self,
        res: &'static Resource,
        ns: &str,
        mut obj: Object,
        write: &Write,
    ) -> Result<Object, ApiError> {
        let deadline = Instant::now() + self.timeout;
        object::check_type_and_namespace(&mut obj, res, ns)?;
        let name = object::meta_str(&obj, "name")
            .unwrap_or_default()
            .to_string();
        if name.is_empty() {
            return Err(ApiError::invalid(
                res,
                "",
                "metadata.name: Required value: name or generateName is required".into(),
            ));
        }
        object::check_name(res, &name)?;
        object::check_spec(res, &name, &obj)?;
        if object::take_resource_version(&mut obj).is_some() {
            return Err(ApiError::bad_request(
                "resourceVersion should not be set on objects to be created",
            ));
        }
        object::stamp_new(&mut obj);
        fields::record(&Object::new(), &mut obj, &write.manager, Operation::Update);
        let key = res.key(ns, &name);
        let absent = Compare::create_revision(key.as_str(), CompareOp::Equal, 0);
        match self.put_if(deadline, &key, absent, &obj).await? {
            Some(rev) => Ok(object::with_resource_version(obj, rev)),
            None => Err(ApiError::already_exists(res, &name)),
        }
    }

    /// PUT: replaces the object. With a resourceVersion in the body the write happens
    /// only if the object is still at that version (409 Conflict otherwise); without
    /// one it is unconditional, as leases and configmaps allow.
    pub async fn update(
        &self,
        res: &'static Resource,
        ns: &str,
        name: &str,
        mut obj: Object,
        write: &Write,
    ) -> Result<Object, ApiError> {
        object::check_type_and_namespace(&mut obj, res, ns)?;
        match object::meta_str(&obj, "name") {
            Some(n) if n == name => {}
            other => {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({}) does not match the name on the URL ({name})",
                    other.unwrap_or("")
                )));
            }
        }
        object::check_spec(res, name, &obj)?;
        let wanted = match object::take_resource_version(&mut obj) {
            Some(rv) => Some(object::parse_resource_version(&rv)?),
            None => None,
        };
        self.write_loop(res, ns, name, wanted, |stored| {
            // A uid in the body is a precondition: the object must not have been
            // deleted and recreated since the client read it.
            let (sent, have) = (
                object::meta_str(&obj, "uid"),
                object::meta_str(stored, "uid"),
            );
            if sent.is_some_and(|uid| Some(uid) != have) {
                return Err(ApiError::conflict(res, name));
            }
            let mut new = obj.clone();
            object::keep_server_fields(&mut new, stored);
            fields::keep(stored, &mut new);
            fields::record(stored, &mut new, &write.manager, Operation::Update);
            Ok(new)
        })
        .await
    }

    /// PATCH: a merge, strategic-merge or apply patch of the stored object, with the
    /// patch's own `metadata.resourceVersion`, if it has one, as a precondition.
    pub async fn patch(
        &self,
        res: &'static Resource,
        ns: &str,
        name: &str,
        kind: PatchKind,
        patch: Object,
        write: &Write,
    ) -> Result<Object, ApiError> {
        let wanted = match object::meta_str(&patch, "resourceVersion") {
            Some(rv) => Some(object::parse_resource_version(rv)?),
            None => None,
        };
        let patched = self
            .write_loop(res, ns, name, wanted, |stored| {
                let mut new = patch::apply(kind, stored, &patch, write, res, name)?;
                object::check_type_and_namespace(&mut new, res, ns)?;
                object::keep_server_fields(&mut new, stored);
                object::take_resource_version(&mut new);
                object::check_spec(res, name, &new)?;
                Ok(new)
            })
            .await;
        match patched {
            // A server-side apply creates what does not exist yet.
            Err(e) if e.code == 404 && kind == PatchKind::Apply && wanted.is_none() => {
                self.apply_create(res, ns, name, &patch, write).await
            }
            other => other,
        }
    }

    /// Creates an object from an apply configuration, owned by its manager.
    async fn apply_create(
        &self,
        res: &'static Resource,
        ns: &str,
        name: &str,
        config: &Object,
        write: &Write,
    ) -> Result<Object, ApiError> {
        let deadline = Instant::now() + self.timeout;
        let mut obj = patch::apply(PatchKind::Apply, &Object::new(), config, write, res, name)?;
        object::check_type_and_namespace(&mut obj, res, ns)?;
        object::metadata_mut(&mut obj).insert("name".into(), Value::String(name.into()));
        object::check_name(res, name)?;
        object::take_resource_version(&mut obj);
        object::check_spec(res, name, &obj)?;
        object::stamp_new(&mut obj);
        let key = res.key(ns, name);
        let absent = Compare::create_revision(key.as_str(), CompareOp::Equal, 0);
        match self.put_if(deadline, &key, absent, &obj).await? {
            Some(rev) => Ok(object::with_resource_version(obj, rev)),
            // Created meanwhile: the client retries its apply against it.
            None => Err(ApiError::conflict(res, name)),
        }
    }

    /// Reads, changes and conditionally writes back one object until the write wins,
    /// or, when the client named a version (`wanted`), until it loses once.
    async fn write_loop<F>(
        &self,
        res: &'static Resource,
        ns: &str,
        name: &str,
        wanted: Option<i64>,
        change: F,
    ) -> Result<Object, ApiError>
    where
        F: Fn(&Object) -> Result<Object, ApiError>,
    {
        let deadline = Instant::now() + self.timeout;
        let key = res.key(ns, name);
        loop {
            let (stored, mod_rev) = self
                .fetch(deadline, &key)
                .await?
                .ok_or_else(|| ApiError::not_found(res, name))?;
            if wanted.is_some_and(|rv| rv != mod_rev) {
                return Err(ApiError::conflict(res, name));
            }
            let new = change(&stored)?;
            let same = Compare::mod_revision(key.as_str(), CompareOp::Equal, mod_rev);
            match self.put_if(deadline, &key, same, &new).await? {
                Some(rev) => return Ok(object::with_resource_version(new, rev)),
                None if wanted.is_some() => return Err(ApiError::conflict(res, name)),
                None => continue,
            }
        }
    }

    /// DELETE, with DeleteOptions preconditions on resourceVersion and uid.
    pub async fn delete(
        &self,
        res: &'static Resource,
        ns: &str,
        name: &str,
        precondition_rv: Option<i64>,
        precondition_uid: Option<String>,
    ) -> Result<Value, ApiError> {
        let deadline = Instant::now() + self.timeout;
        let key = res.key(ns, name);
        loop {
            let (stored, mod_rev) = self
                .fetch(deadline, &key)
                .await?
                .ok_or_else(|| ApiError::not_found(res, name))?;
            let uid = object::meta_str(&stored, "uid")
                .unwrap_or_default()
                .to_string();
            let uid_differs = precondition_uid.as_ref().is_some_and(|want| *want != uid);
            if precondition_rv.is_some_and(|rv| rv != mod_rev) || uid_differs {
                return Err(ApiError::conflict(res, name));
            }
            let txn = Txn::new()
                .when([Compare::mod_revision(
                    key.as_str(),
                    CompareOp::Equal,
                    mod_rev,
                )])
                .and_then([TxnOp::delete(key.as_str(), None)]);
            let mut kv = self.kv.clone();
            if self.etcd(deadline, kv.txn(txn)).await?.succeeded() {
                return Ok(status::delete_success(res, name, &uid));
            }
        }
    }
}
