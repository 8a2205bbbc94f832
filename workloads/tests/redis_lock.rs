//! The `redis` lock against a real redis-server on loopback.

mod support;

use nix::sys::signal::Signal;
use splitbrain_workloads::locks::{RedisLock, RedisLockConfig};
use splitbrain_workloads::{Certainty, Lock, LockError};
use std::time::{Duration, Instant};
use support::RedisServer;

fn lock(redis: &RedisServer, name: &str, fencing: bool) -> RedisLock {
    RedisLock::new(RedisLockConfig {
        addr: redis.addr(),
        fencing,
        op_timeout: Duration::from_millis(300),
        holder_prefix: name.into(),
    })
    .expect("a valid address")
}

#[tokio::test]
async fn two_holders_cannot_both_acquire() {
    let redis = RedisServer::start();
    let (a, b) = (lock(&redis, "a", false), lock(&redis, "b", false));
    let guard = a.acquire("k", Duration::from_secs(10)).await.unwrap();
    assert_eq!(guard.key, "k");
    assert_eq!(guard.token, None);
    let err = b.acquire("k", Duration::from_secs(10)).await.unwrap_err();
    assert!(matches!(err, LockError::Held { .. }), "{err}");
    assert!(err.is_definite());
    // A second key is independent.
    b.acquire("other", Duration::from_secs(10)).await.unwrap();
    // After a release the other client gets it.
    a.release(&guard).await.unwrap();
    b.acquire("k", Duration::from_secs(10)).await.unwrap();
}

#[tokio::test]
async fn release_by_a_non_holder_fails_definitely_and_leaves_the_lock_held() {
    let redis = RedisServer::start();
    let (a, b) = (lock(&redis, "a", true), lock(&redis, "b", true));
    let guard = a.acquire("k", Duration::from_secs(10)).await.unwrap();
    let mut forged = guard.clone();
    forged.holder_id = "b:0".into();
    let err = b.release(&forged).await.unwrap_err();
    assert!(matches!(err, LockError::NotHolder { .. }), "{err}");
    assert_eq!(err.certainty(), Certainty::Definite);
    assert!(err.to_string().starts_with("not the holder"), "{err}");
    // Still held by a.
    assert!(matches!(
        b.acquire("k", Duration::from_secs(10)).await,
        Err(LockError::Held { .. })
    ));
    a.release(&guard).await.unwrap();
    // Releasing twice: the second finds no holder.
    assert!(matches!(
        a.release(&guard).await,
        Err(LockError::NotHolder { .. })
    ));
}

#[tokio::test]
async fn ttl_expiry_lets_a_second_client_acquire_and_the_first_cannot_release_it() {
    let redis = RedisServer::start();
    let (a, b) = (lock(&redis, "a", false), lock(&redis, "b", false));
    let first = a.acquire("k", Duration::from_millis(150)).await.unwrap();
    assert!(b.acquire("k", Duration::from_millis(150)).await.is_err());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = b.acquire("k", Duration::from_secs(10)).await.unwrap();
    // The expired holder's compare-and-delete must not free b's lock.
    let err = a.release(&first).await.unwrap_err();
    assert!(matches!(err, LockError::NotHolder { .. }), "{err}");
    b.release(&second).await.unwrap();
}

#[tokio::test]
async fn fencing_tokens_strictly_increase_across_grants_and_refusals_take_none() {
    let redis = RedisServer::start();
    let (a, b) = (lock(&redis, "a", true), lock(&redis, "b", true));
    let mut last = 0;
    for i in 0..20 {
        let holder = if i % 2 == 0 { &a } else { &b };
        let other = if i % 2 == 0 { &b } else { &a };
        let guard = holder.acquire("k", Duration::from_secs(10)).await.unwrap();
        let token = guard.token.expect("fenced grants carry a token");
        assert!(token > last, "token={token} after {last}");
        // A refused acquire must not consume a token.
        assert!(other.acquire("k", Duration::from_secs(10)).await.is_err());
        holder.release(&guard).await.unwrap();
        last = token;
    }
    assert_eq!(last, 20, "one INCR per grant, none per refusal");
}

#[tokio::test]
async fn a_stopped_redis_gives_an_indeterminate_error_within_the_timeout() {
    let redis = RedisServer::start();
    let a = lock(&redis, "a", true);
    // Connect first, so the request itself is what hangs.
    let guard = a.acquire("k", Duration::from_secs(10)).await.unwrap();
    redis.signal(Signal::SIGSTOP);
    let started = Instant::now();
    let err = a.release(&guard).await.unwrap_err();
    let took = started.elapsed();
    redis.signal(Signal::SIGCONT);
    assert!(matches!(err, LockError::Timeout { .. }), "{err}");
    assert_eq!(err.certainty(), Certainty::Indeterminate);
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(took < Duration::from_millis(1500), "{took:?}");
    // The client recovers on a fresh connection once the server runs again. The
    // release above may or may not have happened: both answers are allowed.
    match a.release(&guard).await {
        Ok(()) | Err(LockError::NotHolder { .. }) => {}
        Err(e) => panic!("after SIGCONT: {e}"),
    }
}

#[tokio::test]
async fn an_unreachable_redis_fails_definitely_since_nothing_was_sent() {
    let port = support::free_port();
    let a = RedisLock::new(RedisLockConfig {
        addr: format!("127.0.0.1:{port}"),
        fencing: false,
        op_timeout: Duration::from_millis(300),
        holder_prefix: "a".into(),
    })
    .unwrap();
    let started = Instant::now();
    let err = a.acquire("k", Duration::from_secs(1)).await.unwrap_err();
    assert!(matches!(err, LockError::Connect { .. }), "{err}");
    assert!(err.is_definite());
    assert!(
        err.to_string().contains(&format!("addr=127.0.0.1:{port}")),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn a_killed_and_restarted_redis_gives_classified_errors_then_grants_again() {
    let mut redis = RedisServer::start();
    let a = lock(&redis, "a", true);
    let guard = a.acquire("k", Duration::from_secs(10)).await.unwrap();
    redis.restart();
    // The old connection is dead, and the lock state was lost with the restart (no
    // persistence), so after one classified error a grant follows.
    let first = a.release(&guard).await;
    match first {
        // The request died with the connection: it may or may not have been applied.
        Err(e) if !e.is_definite() => {}
        // Or it reached the new, empty server, where we hold nothing.
        Err(LockError::NotHolder { .. }) => {}
        other => panic!("release after a restart: {other:?}"),
    }
    let mut granted = None;
    for _ in 0..3 {
        match a.acquire("k", Duration::from_secs(10)).await {
            Ok(g) => {
                granted = Some(g);
                break;
            }
            Err(e) => assert!(!matches!(e, LockError::Held { .. }), "{e}"),
        }
    }
    let granted = granted.expect("a grant within three tries after the restart");
    // The fencing counter restarted too: tokens are only monotonic while Redis keeps
    // its data, which is exactly what the fencing checker exists to catch.
    assert_eq!(granted.token, Some(1));
}

#[tokio::test]
async fn renew_extends_only_the_holders_own_lock() {
    let redis = RedisServer::start();
    let (a, b) = (lock(&redis, "a", false), lock(&redis, "b", false));
    let guard = a.acquire("k", Duration::from_millis(200)).await.unwrap();
    a.renew(&guard, Duration::from_secs(10)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Past the first TTL the renewed lock is still held.
    assert!(matches!(
        b.acquire("k", Duration::from_secs(1)).await,
        Err(LockError::Held { .. })
    ));
    let mut forged = guard.clone();
    forged.holder_id = "b:9".into();
    let err = b.renew(&forged, Duration::from_secs(10)).await.unwrap_err();
    assert!(matches!(err, LockError::NotHolder { .. }), "{err}");
}
