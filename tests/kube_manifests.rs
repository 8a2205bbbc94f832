//! The manifests under manifests/, checked offline: every document parses into its
//! k8s-openapi type, and the Role grants the Kubernetes locks exactly what they use.

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use serde::Deserialize;
use serde_json::Value;
use std::path::Path;

fn documents(file: &str) -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("manifests")
        .join(file);
    let text = std::fs::read_to_string(&path).expect("the manifest exists");
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).expect("each document is YAML"))
        .filter(|v| !v.is_null())
        .collect()
}

fn typed<T: serde::de::DeserializeOwned>(v: &Value) -> T {
    serde_json::from_value(v.clone())
        .unwrap_or_else(|e| panic!("does not parse as {}: {e}: {v}", std::any::type_name::<T>()))
}

fn by_kind<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("a {kind} document"))
}

#[test]
fn the_role_grants_the_locks_every_verb_they_use_on_leases_and_configmaps() {
    let docs = documents("rbac.yaml");
    let role: Role = typed(by_kind(&docs, "Role"));
    let rules = role.rules.unwrap_or_default();
    for (group, resource) in [("coordination.k8s.io", "leases"), ("", "configmaps")] {
        let rule = rules
            .iter()
            .find(|r| {
                r.api_groups
                    .as_deref()
                    .unwrap_or_default()
                    .contains(&group.to_string())
                    && r.resources
                        .as_deref()
                        .unwrap_or_default()
                        .contains(&resource.to_string())
            })
            .unwrap_or_else(|| panic!("a rule for {resource}"));
        for verb in ["get", "list", "create", "update", "patch", "delete"] {
            assert!(
                rule.verbs.contains(&verb.to_string()),
                "{resource} lacks {verb}"
            );
        }
        assert!(!rule.verbs.contains(&"*".to_string()), "no wildcard verbs");
    }
}

#[test]
fn the_role_binding_gives_the_role_to_the_agents_service_account_in_one_namespace() {
    let docs = documents("rbac.yaml");
    let account: ServiceAccount = typed(by_kind(&docs, "ServiceAccount"));
    let role: Role = typed(by_kind(&docs, "Role"));
    let binding: RoleBinding = typed(by_kind(&docs, "RoleBinding"));
    assert_eq!(binding.role_ref.kind, "Role");
    assert_eq!(Some(&binding.role_ref.name), role.metadata.name.as_ref());
    let subject = &binding.subjects.unwrap_or_default()[0];
    assert_eq!(subject.kind, "ServiceAccount");
    assert_eq!(Some(&subject.name), account.metadata.name.as_ref());
    let namespace: Namespace = typed(&documents("namespace.yaml")[0]);
    let ns = namespace.metadata.name;
    assert!(ns.is_some());
    for meta_ns in [
        &account.metadata.namespace,
        &role.metadata.namespace,
        &binding.metadata.namespace,
        &subject.namespace,
    ] {
        assert_eq!(meta_ns, &ns, "everything lives in the run's namespace");
    }
}

#[test]
fn the_kind_cluster_has_a_control_plane_and_workers_to_spread_the_run_over() {
    let docs = documents("kind-cluster.yaml");
    let cluster = &docs[0];
    assert_eq!(cluster["kind"], "Cluster");
    assert_eq!(cluster["apiVersion"], "kind.x-k8s.io/v1alpha4");
    let roles: Vec<&str> = cluster["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["role"].as_str())
        .collect();
    assert_eq!(roles.iter().filter(|r| **r == "control-plane").count(), 1);
    assert!(roles.iter().filter(|r| **r == "worker").count() >= 3);
}

#[test]
fn the_controller_role_grants_the_kubernetes_backend_only_what_it_calls() {
    use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
    let docs = documents("controller-rbac.yaml");
    let _: Namespace = typed(by_kind(&docs, "Namespace"));
    let _: ServiceAccount = typed(by_kind(&docs, "ServiceAccount"));
    let binding: ClusterRoleBinding = typed(by_kind(&docs, "ClusterRoleBinding"));
    assert_eq!(binding.role_ref.name, "splitbrain-controller");
    let role: ClusterRole = typed(by_kind(&docs, "ClusterRole"));
    let mut granted = std::collections::BTreeSet::new();
    for rule in role.rules.unwrap_or_default() {
        assert_eq!(
            rule.api_groups.as_deref(),
            Some(&[String::new()][..]),
            "core group only"
        );
        for resource in rule.resources.unwrap_or_default() {
            for verb in &rule.verbs {
                assert_ne!(verb, "*", "no wildcard verbs");
                granted.insert(format!("{verb} {resource}"));
            }
        }
    }
    let expected: std::collections::BTreeSet<String> = [
        "create namespaces",
        "get namespaces",
        "list namespaces",
        "delete namespaces",
        "create pods",
        "get pods",
        "list pods",
        "delete pods",
        "create pods/exec",
        "get pods/exec",
        "create pods/portforward",
        "get pods/portforward",
    ]
    .map(String::from)
    .into();
    assert_eq!(granted, expected);
}
