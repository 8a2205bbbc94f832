//! The `redis-sentinel` lock against a real primary, replica and three sentinels on
//! loopback.

mod servers;

use nix::sys::signal::Signal;
use splitbrain_workloads::locks::{LockOptions, SentinelLock, SentinelLockConfig};
use splitbrain_workloads::{Lock, LockError};
use std::time::{Duration, Instant};

fn lock(set: &servers::SentinelSet, name: &str) -> SentinelLock {
    SentinelLock::new(SentinelLockConfig {
        sentinels: set.sentinels.iter().map(servers::Server::addr).collect(),
        master: servers::MASTER.into(),
        options: LockOptions {
            fencing: true,
            op_timeout: Duration::from_millis(500),
            holder_prefix: name.into(),
        },
    })
}

#[tokio::test]
async fn the_lock_runs_on_the_primary_the_sentinels_name() {
    let set = servers::sentinel_set();
    let (a, b) = (lock(&set, "a"), lock(&set, "b"));
    let guard = a.acquire("k", Duration::from_secs(10)).await.unwrap();
    assert_eq!(a.primary().await, Some(set.primary.addr()));
    assert!(
        guard.token.is_some(),
        "the INCR token comes with fencing on"
    );
    let err = b.acquire("k", Duration::from_secs(10)).await.unwrap_err();
    assert!(matches!(err, LockError::Held { .. }), "{err}");
    a.release(&guard).await.unwrap();
    let next = b.acquire("k", Duration::from_secs(10)).await.unwrap();
    assert!(next.token > guard.token);
}

#[tokio::test]
async fn after_the_primary_dies_the_client_follows_the_failover_to_the_replica() {
    let set = servers::sentinel_set();
    let a = lock(&set, "a");
    let before = a.acquire("k", Duration::from_millis(500)).await.unwrap();
    // Replication is asynchronous; give it a moment so the counter reaches the replica.
    tokio::time::sleep(Duration::from_millis(200)).await;
    set.primary.signal(Signal::SIGKILL);
    let started = Instant::now();
    let after = loop {
        match a.acquire("k", Duration::from_secs(10)).await {
            Ok(g) => break g,
            Err(e) if started.elapsed() < Duration::from_secs(20) => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("no failover within 20 s: {e}"),
        }
    };
    assert_eq!(a.primary().await, Some(set.replica.addr()));
    // The counter was replicated, so the new primary continues it.
    assert!(after.token > before.token, "{after:?} after {before:?}");
}
