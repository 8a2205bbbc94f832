//! The optimistic workload's etcd store against a real etcd member on loopback: a
//! transaction comparing the key's mod_revision.

mod servers;

use nix::sys::signal::Signal;
use splitbrain_workloads::optimistic::{EtcdVersionedStore, VersionedStore};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

fn store(addr: &str, unsafe_cas: bool) -> EtcdVersionedStore {
    EtcdVersionedStore::new(&[addr.to_string()], Duration::from_millis(800), unsafe_cas)
        .expect("endpoints given")
}

#[tokio::test]
async fn a_counter_never_written_reads_zero_and_swaps_only_from_what_it_holds() {
    let etcd = servers::etcd();
    let s = store(&etcd.addr(), false);
    assert_eq!(s.read("c").await.unwrap(), 0);
    assert!(
        s.cas("c", 0, 1).await.unwrap(),
        "the first swap creates the key"
    );
    assert!(
        !s.cas("c", 0, 1).await.unwrap(),
        "a stale precondition fails"
    );
    assert_eq!(s.read("c").await.unwrap(), 1);
}

#[tokio::test]
async fn a_swap_from_a_read_another_client_overtook_is_refused() {
    let etcd = servers::etcd();
    let (a, b) = (store(&etcd.addr(), false), store(&etcd.addr(), false));
    assert_eq!(a.read("c").await.unwrap(), 0);
    assert_eq!(b.read("c").await.unwrap(), 0);
    assert!(b.cas("c", 0, 1).await.unwrap());
    assert!(!a.cas("c", 0, 1).await.unwrap(), "a's revision is stale");
    assert_eq!(a.read("c").await.unwrap(), 1);
    assert!(a.cas("c", 1, 2).await.unwrap());
    assert_eq!(b.read("c").await.unwrap(), 2);
}

#[tokio::test]
async fn concurrent_increments_lose_no_update() {
    let etcd = servers::etcd();
    let swapped = Arc::new(AtomicI64::new(0));
    let mut tasks = vec![];
    for _ in 0..3 {
        let s = store(&etcd.addr(), false);
        let swapped = Arc::clone(&swapped);
        tasks.push(tokio::spawn(async move {
            for _ in 0..20 {
                let v = s.read("c").await.unwrap();
                if s.cas("c", v, v + 1).await.unwrap() {
                    swapped.fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let total = swapped.load(Ordering::SeqCst);
    assert!(total >= 20, "some swaps succeed: {total}");
    assert_eq!(store(&etcd.addr(), false).read("c").await.unwrap(), total);
}

#[tokio::test]
async fn a_swap_a_stopped_member_never_answers_is_indeterminate() {
    let etcd = servers::etcd();
    let s = store(&etcd.addr(), false);
    assert_eq!(s.read("c").await.unwrap(), 0);
    etcd.signal(Signal::SIGSTOP);
    let err = s.cas("c", 0, 1).await.unwrap_err();
    etcd.signal(Signal::SIGCONT);
    assert!(!err.is_definite(), "the txn may have been applied: {err}");
}

#[tokio::test]
async fn the_unsafe_store_overwrites_a_newer_value() {
    let etcd = servers::etcd();
    let (a, b) = (store(&etcd.addr(), true), store(&etcd.addr(), true));
    assert_eq!(a.read("c").await.unwrap(), 0);
    assert_eq!(b.read("c").await.unwrap(), 0);
    assert!(b.cas("c", 0, 1).await.unwrap());
    assert!(a.cas("c", 0, 1).await.unwrap(), "no compare, no refusal");
    assert_eq!(a.read("c").await.unwrap(), 1, "b's increment was lost");
}

#[test]
fn a_store_without_endpoints_is_a_clear_error() {
    let err = EtcdVersionedStore::new(&[], Duration::from_secs(1), false)
        .err()
        .expect("no endpoints");
    assert!(err.to_string().contains("--etcd"), "{err}");
}
