//! splitbrain-workloads holds what runs against a lock: seeded generators, the [`Lock`]
//! trait and the lock clients under test, the agent that executes ops on a node, and the
//! resource whose log is the ground truth for mutual exclusion.
