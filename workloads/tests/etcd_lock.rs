//! The `etcd` lock against a real etcd member on loopback.

mod servers;

use nix::sys::signal::Signal;
use splitbrain_workloads::locks::{EtcdLock, EtcdLockConfig, LockOptions};
use splitbrain_workloads::{Lock, LockError};
use std::time::{Duration, Instant};

fn lock(endpoint: &str, name: &str) -> EtcdLock {
    EtcdLock::new(EtcdLockConfig {
        endpoints: vec![endpoint.to_string()],
        options: LockOptions {
            fencing: true,
            op_timeout: Duration::from_millis(800),
            holder_prefix: name.into(),
        },
    })
    .expect("endpoints given")
}

#[tokio::test]
async fn two_clients_never_hold_together_and_each_grant_has_a_higher_revision() {
    let etcd = servers::etcd();
    let (a, b) = (lock(&etcd.addr(), "a"), lock(&etcd.addr(), "b"));
    let ttl = Duration::from_secs(10);
    let first = a.acquire("k", ttl).await.unwrap();
    let err = b.acquire("k", ttl).await.unwrap_err();
    assert!(matches!(err, LockError::Held { .. }), "{err}");
    assert!(err.is_definite());
    // Another key is another lock.
    let other = b.acquire("other", ttl).await.unwrap();
    a.release(&first).await.unwrap();
    let second = b.acquire("k", ttl).await.unwrap();
    let (t1, t2, t0) = (
        first.token.unwrap(),
        second.token.unwrap(),
        other.token.unwrap(),
    );
    assert!(t2 > t1 && t2 > t0, "tokens must grow: {t1} then {t2}");
    // Releasing a released grant finds no holder.
    let again = a.release(&first).await.unwrap_err();
    assert!(matches!(again, LockError::NotHolder { .. }), "{again}");
}

#[tokio::test]
async fn an_unrenewed_lease_expires_and_its_holder_can_no_longer_release() {
    let etcd = servers::etcd();
    let (a, b) = (lock(&etcd.addr(), "a"), lock(&etcd.addr(), "b"));
    let started = Instant::now();
    let old = a.acquire("k", Duration::from_secs(1)).await.unwrap();
    let new = loop {
        match b.acquire("k", Duration::from_secs(1)).await {
            Ok(g) => break g,
            Err(LockError::Held { .. }) if started.elapsed() < Duration::from_secs(10) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("the lease never expired: {e}"),
        }
    };
    // etcd raises a 1 s lease to its 2 s minimum (1.5 x the 1 s election timeout).
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1500),
        "expired after {waited:?}"
    );
    assert!(new.token > old.token);
    let err = a.release(&old).await.unwrap_err();
    assert!(matches!(err, LockError::NotHolder { .. }), "{err}");
    assert!(err.is_definite());
    b.release(&new).await.unwrap();
}

#[tokio::test]
async fn renewing_keeps_the_lock_past_its_ttl() {
    let etcd = servers::etcd();
    let (a, b) = (lock(&etcd.addr(), "a"), lock(&etcd.addr(), "b"));
    let guard = a.acquire("k", Duration::from_secs(1)).await.unwrap();
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        a.renew(&guard, Duration::from_secs(1)).await.unwrap();
    }
    let err = b.acquire("k", Duration::from_secs(1)).await.unwrap_err();
    assert!(
        matches!(err, LockError::Held { .. }),
        "held after 4 s: {err}"
    );
    a.release(&guard).await.unwrap();
    let renew = a.renew(&guard, Duration::from_secs(1)).await.unwrap_err();
    assert!(matches!(renew, LockError::NotHolder { .. }), "{renew}");
}

#[tokio::test]
async fn a_paused_server_makes_release_indeterminate_but_a_failed_acquire_definite() {
    let etcd = servers::etcd();
    let a = lock(&etcd.addr(), "a");
    let guard = a.acquire("k", Duration::from_secs(10)).await.unwrap();
    etcd.signal(Signal::SIGSTOP);
    // The revoke may have been applied before the pause: unknown.
    let release = a.release(&guard).await.unwrap_err();
    assert!(!release.is_definite(), "{release}");
    assert!(matches!(release, LockError::Timeout { .. }), "{release}");
    // No lease could be granted, so no key was written: definitely not acquired.
    let acquire = lock(&etcd.addr(), "b")
        .acquire("other", Duration::from_secs(10))
        .await
        .unwrap_err();
    assert!(acquire.is_definite(), "{acquire}");
    etcd.signal(Signal::SIGCONT);
    // The paused server may still apply the first revoke when it resumes, which is why
    // it was unknown: a retry either revokes or finds the lease already gone.
    match a.release(&guard).await {
        Ok(()) | Err(LockError::NotHolder { .. }) => {}
        Err(e) => panic!("a retry after the resume should settle it: {e}"),
    }
    let b = lock(&etcd.addr(), "b");
    b.acquire("k", Duration::from_secs(10)).await.unwrap();
}

#[tokio::test]
async fn an_endpoint_with_no_server_is_a_definite_failure() {
    let port = servers::free_ports(1)[0];
    let err = lock(&format!("127.0.0.1:{port}"), "a")
        .acquire("k", Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(err.is_definite(), "{err}");
    let none = EtcdLock::new(EtcdLockConfig {
        endpoints: vec![],
        options: LockOptions {
            fencing: true,
            op_timeout: Duration::from_millis(100),
            holder_prefix: "x".into(),
        },
    });
    let msg = none.err().expect("no endpoints is an error").to_string();
    assert!(msg.contains("--etcd"), "{msg}");
}
