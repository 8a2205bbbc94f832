//! The `redlock` lock against three real, independent redis-servers on loopback.

mod servers;

use nix::sys::signal::Signal;
use servers::Server;
use splitbrain_workloads::locks::{LockOptions, RedlockConfig, RedlockLock};
use splitbrain_workloads::{Lock, LockError};
use std::time::{Duration, Instant};

fn three() -> Vec<Server> {
    (0..3).map(|_| servers::redis(&[])).collect()
}

fn lock(instances: &[Server], name: &str) -> RedlockLock {
    RedlockLock::new(RedlockConfig {
        instances: instances.iter().map(Server::addr).collect(),
        options: LockOptions {
            fencing: false,
            op_timeout: Duration::from_millis(600),
            holder_prefix: name.into(),
        },
    })
    .expect("three instances")
}

#[tokio::test]
async fn a_majority_grants_the_lock_to_one_client_at_a_time_without_a_token() {
    let redis = three();
    let (a, b) = (lock(&redis, "a"), lock(&redis, "b"));
    let ttl = Duration::from_secs(10);
    let guard = a.acquire("k", ttl).await.unwrap();
    assert_eq!(guard.token, None, "Redlock hands out no fencing token");
    let err = b.acquire("k", ttl).await.unwrap_err();
    assert!(matches!(err, LockError::Held { .. }), "{err}");
    a.release(&guard).await.unwrap();
    let again = a.release(&guard).await.unwrap_err();
    assert!(matches!(again, LockError::NotHolder { .. }), "{again}");
    b.acquire("k", ttl).await.unwrap();
}

#[tokio::test]
async fn one_paused_instance_of_three_still_leaves_a_majority() {
    let redis = three();
    let a = lock(&redis, "a");
    redis[2].signal(Signal::SIGSTOP);
    let started = Instant::now();
    let guard = a.acquire("k", Duration::from_secs(10)).await.unwrap();
    // The paused instance costs at most its per-instance bound, a third of the op's.
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    a.release(&guard).await.unwrap();
    redis[2].signal(Signal::SIGCONT);
}

#[tokio::test]
async fn without_a_majority_the_attempt_is_undone_and_fails_definitely() {
    let redis = three();
    let (a, b) = (lock(&redis, "a"), lock(&redis, "b"));
    redis[1].signal(Signal::SIGSTOP);
    redis[2].signal(Signal::SIGSTOP);
    let err = a.acquire("k", Duration::from_secs(10)).await.unwrap_err();
    assert!(err.is_definite(), "{err}");
    assert!(err.to_string().contains("no majority"), "{err}");
    redis[1].signal(Signal::SIGCONT);
    redis[2].signal(Signal::SIGCONT);
    // The single grant was undone, so nobody is locked out until its TTL.
    let started = Instant::now();
    loop {
        match b.acquire("k", Duration::from_secs(10)).await {
            Ok(_) => break,
            // The paused instances may still apply a's SET when they resume; that
            // stray grant lasts at most a TTL, but the undo usually reaches them first.
            Err(e) if started.elapsed() < Duration::from_secs(3) => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("a failed attempt kept the lock: {e}"),
        }
    }
}

#[tokio::test]
async fn an_expired_lock_passes_on_and_the_old_holder_cannot_release_it() {
    let redis = three();
    let (a, b) = (lock(&redis, "a"), lock(&redis, "b"));
    let old = a.acquire("k", Duration::from_millis(300)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let new = b.acquire("k", Duration::from_secs(10)).await.unwrap();
    let err = a.release(&old).await.unwrap_err();
    assert!(matches!(err, LockError::NotHolder { .. }), "{err}");
    b.release(&new).await.unwrap();
}

#[test]
fn fewer_than_three_instances_is_refused_with_a_hint() {
    let err = RedlockLock::new(RedlockConfig {
        instances: vec!["127.0.0.1:1".into(), "127.0.0.1:2".into()],
        options: LockOptions {
            fencing: false,
            op_timeout: Duration::from_millis(100),
            holder_prefix: "a".into(),
        },
    })
    .err()
    .expect("two instances are refused")
    .to_string();
    assert!(err.contains("at least 3"), "{err}");
}
