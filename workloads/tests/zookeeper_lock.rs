//! The `zookeeper` lock against a real standalone ZooKeeper on loopback.

mod servers;

use nix::sys::signal::Signal;
use splitbrain_workloads::locks::{LockOptions, ZookeeperLock, ZookeeperLockConfig};
use splitbrain_workloads::{Lock, LockError};
use std::time::{Duration, Instant};

fn lock(server: &str, name: &str) -> ZookeeperLock {
    ZookeeperLock::new(ZookeeperLockConfig {
        servers: vec![server.to_string()],
        options: LockOptions {
            fencing: true,
            op_timeout: Duration::from_millis(1500),
            holder_prefix: name.into(),
        },
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

#[tokio::test]
async fn two_sessions_never_hold_together_and_tokens_grow() {
    let zk = servers::zookeeper();
    let (a, b) = (lock(&zk.addr(), "a"), lock(&zk.addr(), "b"));
    let ttl = Duration::from_secs(5);
    let first = a.acquire("k", ttl).await.unwrap();
    let err = b.acquire("k", ttl).await.unwrap_err();
    assert!(matches!(err, LockError::Held { .. }), "{err}");
    assert!(err.is_definite());
    // The refused attempt withdrew its znode: after the release b is first in line.
    a.renew(&first, ttl).await.unwrap();
    a.release(&first).await.unwrap();
    let second = b.acquire("k", ttl).await.unwrap();
    assert!(second.token > first.token, "{second:?} after {first:?}");
    let again = a.release(&first).await.unwrap_err();
    assert!(matches!(again, LockError::NotHolder { .. }), "{again}");
    b.release(&second).await.unwrap();
}

/// The holder's runtime is not driven for 3 s, so its heartbeats stop like those of a
/// paused process: the ensemble expires its 1 s session and deletes its znode.
#[test]
fn a_holder_whose_session_expires_loses_the_lock_to_a_higher_token() {
    let zk = servers::zookeeper();
    let (rt_a, rt_b) = (runtime(), runtime());
    let a = lock(&zk.addr(), "a");
    let b = lock(&zk.addr(), "b");
    let ttl = Duration::from_secs(1);
    let old = rt_a.block_on(a.acquire("k", ttl)).unwrap();
    let started = Instant::now();
    let new = rt_b.block_on(async {
        loop {
            match b.acquire("k", ttl).await {
                Ok(g) => break g,
                Err(LockError::Held { .. }) if started.elapsed() < Duration::from_secs(10) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("the session never expired: {e}"),
            }
        }
    });
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900),
        "expired after {waited:?}"
    );
    assert!(new.token > old.token, "{new:?} after {old:?}");
    // The old holder wakes up on a connection the ensemble closed when it expired the
    // session. Its first request cannot tell a lost connection from a lost session, so
    // it is either refused or unknown, never a success; once the client has given the
    // session up it knows it holds nothing.
    let first = rt_a.block_on(a.release(&old)).unwrap_err();
    assert!(
        matches!(first, LockError::NotHolder { .. }) || !first.is_definite(),
        "{first}"
    );
    let err = rt_a.block_on(a.release(&old)).unwrap_err();
    assert!(matches!(err, LockError::NotHolder { .. }), "{err}");
    assert!(err.is_definite());
    rt_b.block_on(b.release(&new)).unwrap();
}

#[tokio::test]
async fn a_paused_server_makes_acquire_indeterminate_and_the_session_is_given_up() {
    let zk = servers::zookeeper();
    let (a, b) = (lock(&zk.addr(), "a"), lock(&zk.addr(), "b"));
    let ttl = Duration::from_secs(1);
    let guard = a.acquire("k", ttl).await.unwrap();
    zk.signal(Signal::SIGSTOP);
    let err = a.acquire("k", ttl).await.unwrap_err();
    assert!(!err.is_definite(), "a create may have been applied: {err}");
    zk.signal(Signal::SIGCONT);
    // The session that held `guard` was dropped after the unknown outcome.
    let release = a.release(&guard).await.unwrap_err();
    assert!(matches!(release, LockError::NotHolder { .. }), "{release}");
    // Its znodes vanish with it, so the lock becomes free within the session timeout.
    let started = Instant::now();
    loop {
        match b.acquire("k", ttl).await {
            Ok(_) => break,
            Err(_) if started.elapsed() < Duration::from_secs(10) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("the dropped session's znode stayed: {e}"),
        }
    }
}

#[tokio::test]
async fn no_server_is_a_definite_connect_failure() {
    let port = servers::free_ports(1)[0];
    let err = lock(&format!("127.0.0.1:{port}"), "a")
        .acquire("k", Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(matches!(err, LockError::Connect { .. }), "{err}");
    assert!(err.is_definite());
}
