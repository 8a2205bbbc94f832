//! splitbrain-runner is the controller: it brings a cluster up, starts the lock servers,
//! the resource and the agents, drives the workload and the nemesis, records the history,
//! and tears everything down whatever happens.
