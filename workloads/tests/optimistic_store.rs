//! The optimistic workload's Redis store against a real redis-server on loopback.

mod support;

use nix::sys::signal::Signal;
use splitbrain_workloads::optimistic::{RedisVersionedStore, VersionedStore};
use splitbrain_workloads::{Certainty, LockError};
use std::time::Duration;
use support::RedisServer;

fn store(redis: &RedisServer, unsafe_cas: bool) -> RedisVersionedStore {
    RedisVersionedStore::new(&redis.addr(), Duration::from_millis(300), unsafe_cas).unwrap()
}

#[tokio::test]
async fn a_counter_never_written_reads_as_zero_and_swaps_only_from_what_it_holds() {
    let redis = RedisServer::start();
    let s = store(&redis, false);
    assert_eq!(s.read("c").await.unwrap(), 0);
    assert!(s.cas("c", 0, 1).await.unwrap());
    assert!(
        !s.cas("c", 0, 1).await.unwrap(),
        "a stale precondition must fail"
    );
    assert_eq!(s.read("c").await.unwrap(), 1);
}

#[tokio::test]
async fn the_unsafe_store_swaps_from_a_stale_value() {
    let redis = RedisServer::start();
    let s = store(&redis, true);
    assert!(s.cas("c", 0, 1).await.unwrap());
    assert!(
        s.cas("c", 0, 1).await.unwrap(),
        "no version check: both swaps succeed"
    );
}

#[tokio::test]
async fn a_paused_server_makes_the_swap_indeterminate() {
    let redis = RedisServer::start();
    let s = store(&redis, false);
    assert_eq!(s.read("c").await.unwrap(), 0);
    redis.signal(Signal::SIGSTOP);
    let err = s.cas("c", 0, 1).await.unwrap_err();
    redis.signal(Signal::SIGCONT);
    assert!(matches!(err, LockError::Timeout { .. }), "{err}");
    assert_eq!(err.certainty(), Certainty::Indeterminate);
}

#[tokio::test]
async fn a_server_that_is_down_is_a_definite_connect_error() {
    let port = support::free_port();
    let s = RedisVersionedStore::new(
        &format!("127.0.0.1:{port}"),
        Duration::from_millis(300),
        false,
    )
    .unwrap();
    let err = s.read("c").await.unwrap_err();
    assert!(err.is_definite(), "{err}");
}
