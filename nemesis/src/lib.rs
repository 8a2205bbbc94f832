//! splitbrain-nemesis holds the faults (partition, pause, kill), their seeded schedules,
//! and the `Cluster` trait with its backends: the local backend of network namespaces on
//! this host, and Kubernetes.
