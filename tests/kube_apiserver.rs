//! The Kubernetes API the locks use, against a real kube-apiserver (built by
//! `scripts/install-deps`) over a real etcd: what each call returns, including the
//! conflicts and errors the lock clients sort into definite and indeterminate, and that
//! the server is the real one (its version, kubectl's discovery and apply).

mod kube_support;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{
    DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams, Preconditions,
};
use serde_json::json;
use std::collections::BTreeMap;

/// What a check talks to: the agents' client, in the namespace RBAC grants them.
struct Target {
    client: kube::Client,
    namespace: String,
    _api: kube_support::Api,
}

async fn target() -> Target {
    let api = kube_support::start().await;
    Target {
        client: api.agent_client(),
        namespace: api.namespace.clone(),
        _api: api,
    }
}

/// A name unique within the test process.
fn unique(prefix: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{prefix}-{n}")
}

fn lease(name: &str, holder: &str) -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(holder.into()),
            lease_duration_seconds: Some(10),
            lease_transitions: Some(0),
            ..Default::default()
        }),
    }
}

/// The Status a failed call returned.
fn status(e: kube::Error) -> kube::core::Status {
    match e {
        kube::Error::Api(s) => *s,
        other => panic!("expected a Status from the server, got {other:?}"),
    }
}

fn holder(l: &Lease) -> Option<String> {
    l.spec.as_ref().and_then(|s| s.holder_identity.clone())
}

fn rv(meta: &ObjectMeta) -> String {
    meta.resource_version.clone().expect("a resourceVersion")
}

async fn create_get_and_list_round_trip(t: Target) {
    let api: Api<Lease> = Api::namespaced(t.client.clone(), &t.namespace);
    let name = unique("crud");
    let created = api
        .create(&PostParams::default(), &lease(&name, "a"))
        .await
        .unwrap();
    assert!(created.metadata.uid.is_some(), "the server assigns a uid");
    let got = api.get(&name).await.unwrap();
    assert_eq!(holder(&got).as_deref(), Some("a"));
    assert_eq!(rv(&got.metadata), rv(&created.metadata));
    let list = api.list(&ListParams::default()).await.unwrap();
    assert!(
        list.items
            .iter()
            .any(|l| l.metadata.name.as_deref() == Some(name.as_str()))
    );
    let list_rv: u64 = list.metadata.resource_version.unwrap().parse().unwrap_or(0);
    let item_rv: u64 = rv(&got.metadata).parse().unwrap_or(u64::MAX);
    assert!(list_rv >= item_rv, "a list is at least as new as its items");
    api.delete(&name, &DeleteParams::default()).await.unwrap();
}

async fn a_second_create_is_already_exists(t: Target) {
    let api: Api<Lease> = Api::namespaced(t.client.clone(), &t.namespace);
    let name = unique("exists");
    api.create(&PostParams::default(), &lease(&name, "a"))
        .await
        .unwrap();
    let s = status(
        api.create(&PostParams::default(), &lease(&name, "b"))
            .await
            .unwrap_err(),
    );
    assert_eq!((s.code, s.reason.as_str()), (409, "AlreadyExists"));
    assert_eq!(
        s.details.as_ref().map(|d| d.name.as_str()),
        Some(name.as_str())
    );
    assert_eq!(s.details.as_ref().map(|d| d.kind.as_str()), Some("leases"));
    assert_eq!(holder(&api.get(&name).await.unwrap()).as_deref(), Some("a"));
    api.delete(&name, &DeleteParams::default()).await.unwrap();
}

async fn missing_objects_are_not_found(t: Target) {
    let api: Api<Lease> = Api::namespaced(t.client.clone(), &t.namespace);
    let name = unique("missing");
    let s = status(api.get(&name).await.unwrap_err());
    assert_eq!((s.code, s.reason.as_str()), (404, "NotFound"));
    assert!(s.message.contains(&name), "{}", s.message);
    let patch = Patch::Merge(json!({"spec": {"holderIdentity": "a"}}));
    let s = status(
        api.patch(&name, &PatchParams::default(), &patch)
            .await
            .unwrap_err(),
    );
    assert_eq!(s.code, 404);
    let s = status(
        api.delete(&name, &DeleteParams::default())
            .await
            .unwrap_err(),
    );
    assert_eq!(s.code, 404);
    // A PUT without a resourceVersion to a missing ConfigMap is NotFound...
    let maps: Api<ConfigMap> = Api::namespaced(t.client.clone(), &t.namespace);
    let map = ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            ..Default::default()
        },
        ..Default::default()
    };
    let s = status(
        maps.replace(&name, &PostParams::default(), &map)
            .await
            .unwrap_err(),
    );
    assert_eq!(s.code, 404);
    // ...but creates a missing Lease: the Lease strategy allows create on update.
    let created = api
        .replace(&name, &PostParams::default(), &lease(&name, "a"))
        .await
        .expect("a PUT creates a missing Lease");
    assert_eq!(holder(&created).as_deref(), Some("a"));
    api.delete(&name, &DeleteParams::default()).await.unwrap();
}

async fn an_update_with_a_stale_resource_version_conflicts(t: Target) {
    let api: Api<Lease> = Api::namespaced(t.client.clone(), &t.namespace);
    let name = unique("stale");
    let v1 = api
        .create(&PostParams::default(), &lease(&name, "a"))
        .await
        .unwrap();
    let mut mine = v1.clone();
    mine.spec.as_mut().unwrap().holder_identity = Some("b".into());
    let v2 = api
        .replace(&name, &PostParams::default(), &mine)
        .await
        .unwrap();
    assert_ne!(
        rv(&v2.metadata),
        rv(&v1.metadata),
        "every write moves the resourceVersion"
    );
    // A second writer still holding v1 loses.
    let mut theirs = v1.clone();
    theirs.spec.as_mut().unwrap().holder_identity = Some("c".into());
    let s = status(
        api.replace(&name, &PostParams::default(), &theirs)
            .await
            .unwrap_err(),
    );
    assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"));
    assert_eq!(holder(&api.get(&name).await.unwrap()).as_deref(), Some("b"));
    // A replace of a deleted and recreated object (another uid) loses even without a
    // resourceVersion.
    let mut other_uid = api.get(&name).await.unwrap();
    other_uid.metadata.resource_version = None;
    other_uid.metadata.uid = Some("00000000-0000-4000-8000-000000000000".into());
    let s = status(
        api.replace(&name, &PostParams::default(), &other_uid)
            .await
            .unwrap_err(),
    );
    assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"));
    // A merge patch carrying the stale version loses too.
    let stale =
        json!({"metadata": {"resourceVersion": rv(&v1.metadata)}, "spec": {"holderIdentity": "d"}});
    let s = status(
        api.patch(&name, &PatchParams::default(), &Patch::Merge(stale))
            .await
            .unwrap_err(),
    );
    assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"));
    api.delete(&name, &DeleteParams::default()).await.unwrap();
}

async fn merge_patches_set_and_remove_fields(t: Target) {
    let api: Api<ConfigMap> = Api::namespaced(t.client.clone(), &t.namespace);
    let name = unique("patch");
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            annotations: Some(BTreeMap::from([("keep".to_string(), "1".to_string())])),
            ..Default::default()
        },
        data: Some(BTreeMap::from([("a".to_string(), "1".to_string())])),
        ..Default::default()
    };
    let created = api.create(&PostParams::default(), &cm).await.unwrap();
    let patch = json!({"metadata": {"annotations": {"x": "y"}}, "data": {"a": null, "b": "2"}});
    let patched = api
        .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .unwrap();
    let ann = patched.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(ann.get("x").map(String::as_str), Some("y"));
    assert_eq!(ann.get("keep").map(String::as_str), Some("1"));
    let data = patched.data.clone().unwrap_or_default();
    assert_eq!(data, BTreeMap::from([("b".to_string(), "2".to_string())]));
    assert_ne!(rv(&patched.metadata), rv(&created.metadata));
    assert_eq!(
        patched.metadata.uid, created.metadata.uid,
        "a patch keeps the uid"
    );
    api.delete(&name, &DeleteParams::default()).await.unwrap();
}

async fn a_delete_with_a_stale_precondition_conflicts(t: Target) {
    let api: Api<ConfigMap> = Api::namespaced(t.client.clone(), &t.namespace);
    let name = unique("delete");
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            ..Default::default()
        },
        ..Default::default()
    };
    let v1 = api.create(&PostParams::default(), &cm).await.unwrap();
    let patch = Patch::Merge(json!({"data": {"k": "v"}}));
    api.patch(&name, &PatchParams::default(), &patch)
        .await
        .unwrap();
    let stale = DeleteParams {
        preconditions: Some(Preconditions {
            resource_version: Some(rv(&v1.metadata)),
            uid: None,
        }),
        ..Default::default()
    };
    let s = status(api.delete(&name, &stale).await.unwrap_err());
    assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"));
    api.delete(&name, &DeleteParams::default()).await.unwrap();
    assert_eq!(status(api.get(&name).await.unwrap_err()).code, 404);
}

async fn server_side_apply_conflicts_over_another_managers_field(t: Target) {
    let api: Api<Lease> = Api::namespaced(t.client.clone(), &t.namespace);
    let name = unique("apply");
    api.create(
        &PostParams::default(),
        &Lease {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                ..Default::default()
            },
            spec: Some(LeaseSpec::default()),
        },
    )
    .await
    .unwrap();
    let config = |who: &str| {
        Patch::Apply(json!({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": name},
            "spec": {"holderIdentity": who}
        }))
    };
    api.patch(&name, &PatchParams::apply("manager-a"), &config("a"))
        .await
        .unwrap();
    let s = status(
        api.patch(&name, &PatchParams::apply("manager-b"), &config("b"))
            .await
            .unwrap_err(),
    );
    assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"));
    assert!(s.message.contains("manager-a"), "{}", s.message);
    let forced = api
        .patch(
            &name,
            &PatchParams::apply("manager-b").force(),
            &config("b"),
        )
        .await
        .unwrap();
    assert_eq!(holder(&forced).as_deref(), Some("b"));
    api.delete(&name, &DeleteParams::default()).await.unwrap();
    // An apply to a missing object creates it.
    let created = api
        .patch(&name, &PatchParams::apply("manager-c"), &config("c"))
        .await
        .unwrap();
    assert_eq!(holder(&created).as_deref(), Some("c"));
    assert!(created.metadata.uid.is_some());
    api.delete(&name, &DeleteParams::default()).await.unwrap();
}

async fn a_full_lease_spec_round_trips_through_kube_rs_unchanged(t: Target) {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
    let api: Api<Lease> = Api::namespaced(t.client.clone(), &t.namespace);
    let name = unique("roundtrip");
    let at: k8s_openapi::jiff::Timestamp = "2026-01-02T03:04:05.123456Z".parse().unwrap();
    let mut sent = lease(&name, "holder-1");
    let spec = sent.spec.as_mut().unwrap();
    spec.acquire_time = Some(MicroTime(at));
    spec.renew_time = Some(MicroTime(at));
    spec.lease_transitions = Some(41);
    let created = api.create(&PostParams::default(), &sent).await.unwrap();
    assert_eq!(created.spec, sent.spec, "create echoes the spec");
    let mut next = created.clone();
    next.spec.as_mut().unwrap().lease_transitions = Some(42);
    let replaced = api
        .replace(&name, &PostParams::default(), &next)
        .await
        .unwrap();
    let got = api.get(&name).await.unwrap();
    assert_eq!(
        got.spec, next.spec,
        "microsecond times and every field survive"
    );
    assert_eq!(
        got.metadata.resource_version,
        replaced.metadata.resource_version
    );
    assert_eq!(
        got.metadata.namespace.as_deref(),
        Some(t.namespace.as_str())
    );
    api.delete(&name, &DeleteParams::default()).await.unwrap();
}

macro_rules! conformance {
    ($($check:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $check() {
                super::$check(super::target().await).await;
            }
        )*
    };
}

mod against_kube_apiserver {
    conformance!(
        create_get_and_list_round_trip,
        a_second_create_is_already_exists,
        missing_objects_are_not_found,
        an_update_with_a_stale_resource_version_conflicts,
        merge_patches_set_and_remove_fields,
        a_delete_with_a_stale_precondition_conflicts,
        server_side_apply_conflicts_over_another_managers_field,
        a_full_lease_spec_round_trips_through_kube_rs_unchanged,
    );
}

/// The server is kube-apiserver at the pinned release, and kubectl works against it:
/// discovery, apply, and listing Leases across namespaces.
#[tokio::test]
async fn kubectl_and_the_version_show_the_real_api_server() {
    let api = kube_support::start().await;
    let version = api.admin_client().apiserver_version().await.unwrap();
    assert_eq!(
        version.git_version,
        splitbrain_runner::kube_control_plane::KUBERNETES_VERSION
    );
    let resources = api.kubectl(&["api-resources", "--api-group=coordination.k8s.io"]);
    assert!(resources.contains("leases"), "{resources}");
    let lease = r#"{"apiVersion":"coordination.k8s.io/v1","kind":"Lease",
        "metadata":{"name":"from-kubectl","namespace":"splitbrain"},
        "spec":{"holderIdentity":"kubectl","leaseDurationSeconds":5}}"#;
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), lease).unwrap();
    api.kubectl(&["apply", "--filename", &file.path().display().to_string()]);
    let listed = api.kubectl(&["get", "leases", "--all-namespaces"]);
    assert!(
        listed.contains("from-kubectl") && listed.contains("kubectl"),
        "{listed}"
    );
}

/// RBAC is in force: the agents' service account may use Leases in its namespace and
/// nothing else.
#[tokio::test]
async fn the_agents_may_use_leases_in_their_namespace_only() {
    let api = kube_support::start().await;
    let elsewhere: Api<Lease> = Api::namespaced(api.agent_client(), "default");
    let err = elsewhere.get("anything").await.unwrap_err();
    assert_eq!(status(err).code, 403, "forbidden outside {}", api.namespace);
    let own: Api<Lease> = Api::namespaced(api.agent_client(), &api.namespace);
    let err = own.get("anything").await.unwrap_err();
    assert_eq!(status(err).code, 404, "allowed, and not there");
}
