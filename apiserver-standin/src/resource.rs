//! The two kinds of object the stand-in serves, and where each is kept in etcd.

/// A Resource is one served kind of object: its API group and version, its plural name
/// (the URL path segment) and its kind.
#[derive(Debug, PartialEq, Eq)]
pub struct Resource {
    /// The API group; empty for the core group.
    pub group: &'static str,
    /// The API version within the group.
    pub version: &'static str,
    /// The plural resource name, as in URLs and in `Status.details.kind`.
    pub plural: &'static str,
    /// The object kind.
    pub kind: &'static str,
}

/// Leases of `coordination.k8s.io/v1`.
pub static LEASES: Resource = Resource {
    group: "coordination.k8s.io",
    version: "v1",
    plural: "leases",
    kind: "Lease",
};

/// ConfigMaps of the core group, `v1`.
pub static CONFIGMAPS: Resource = Resource {
    group: "",
    version: "v1",
    plural: "configmaps",
    kind: "ConfigMap",
};

impl Resource {
    /// The `apiVersion` of its objects: `coordination.k8s.io/v1` or `v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The name kube-apiserver uses in messages: `leases.coordination.k8s.io`, `configmaps`.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// The `kind` of a list of its objects.
    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// The etcd key of one object; the same layout kube-apiserver uses.
    pub fn key(&self, namespace: &str, name: &str) -> String {
        format!("/registry/{}/{namespace}/{name}", self.plural)
    }

    /// The etcd key prefix of all its objects in a namespace.
    pub fn prefix(&self, namespace: &str) -> String {
        format!("/registry/{}/{namespace}/", self.plural)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_group_objects_have_a_bare_version_and_unqualified_names() {
        assert_eq!(CONFIGMAPS.api_version(), "v1");
        assert_eq!(CONFIGMAPS.qualified(), "configmaps");
        assert_eq!(LEASES.api_version(), "coordination.k8s.io/v1");
        assert_eq!(LEASES.qualified(), "leases.coordination.k8s.io");
        assert_eq!(LEASES.key("ns", "a"), "/registry/leases/ns/a");
        assert!(LEASES.key("ns", "a").starts_with(&LEASES.prefix("ns")));
    }
}
