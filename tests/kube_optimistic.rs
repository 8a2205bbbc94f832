//! The optimistic workload's Kubernetes store against a real kube-apiserver over a real
//! etcd: a ConfigMap counter swapped with a PUT preconditioned on its resourceVersion.

mod kube_support;

use k8s_openapi::api::core::v1::ConfigMap;
use splitbrain_workloads::LockError;
use splitbrain_workloads::optimistic::kube::VALUE_KEY;
use splitbrain_workloads::optimistic::{KubeVersionedStore, VersionedStore};
use std::sync::Arc;
use std::time::Duration;

fn store(api: &kube_support::Api, unsafe_cas: bool) -> KubeVersionedStore {
    KubeVersionedStore::new(
        &api.agent,
        &api.namespace,
        Duration::from_millis(1500),
        unsafe_cas,
    )
    .expect("a store")
}

#[tokio::test]
async fn a_counter_never_written_reads_zero_and_the_first_swap_creates_it() {
    let api = kube_support::start().await;
    let s = store(&api, false);
    assert_eq!(s.read("c").await.unwrap(), 0);
    assert!(s.cas("c", 0, 1).await.unwrap(), "the first swap creates");
    assert_eq!(s.read("c").await.unwrap(), 1);
    let client = api.agent_client();
    let cm = kube::Api::<ConfigMap>::namespaced(client, &api.namespace)
        .get("c")
        .await
        .expect("the configmap exists");
    assert_eq!(cm.data.unwrap()[VALUE_KEY], "1");
}

#[tokio::test]
async fn a_swap_from_a_stale_read_is_refused_with_a_conflict_and_changes_nothing() {
    let api = kube_support::start().await;
    let (a, b) = (store(&api, false), store(&api, false));
    assert!(a.cas("c", 0, 1).await.unwrap());
    assert_eq!(a.read("c").await.unwrap(), 1);
    assert_eq!(b.read("c").await.unwrap(), 1);
    assert!(b.cas("c", 1, 2).await.unwrap(), "b swaps first");
    // a's read (value 1) is stale: its PUT carries the old resourceVersion.
    assert!(
        !a.cas("c", 1, 2).await.unwrap(),
        "a's stale swap is refused"
    );
    assert_eq!(a.read("c").await.unwrap(), 2);
    assert!(
        !a.cas("c", 7, 8).await.unwrap(),
        "a swap from a wrong value"
    );
    assert_eq!(b.read("c").await.unwrap(), 2);
}

#[tokio::test]
async fn two_stores_racing_to_create_the_counter_both_answer_and_one_wins() {
    let api = kube_support::start().await;
    let (a, b) = (store(&api, false), store(&api, false));
    assert_eq!(a.read("c").await.unwrap(), 0);
    assert_eq!(b.read("c").await.unwrap(), 0);
    assert!(a.cas("c", 0, 1).await.unwrap());
    assert!(
        !b.cas("c", 0, 1).await.unwrap(),
        "AlreadyExists is a refusal"
    );
}

#[tokio::test]
async fn concurrent_increments_lose_no_update() {
    let api = kube_support::start().await;
    let swapped = Arc::new(std::sync::atomic::AtomicI64::new(0));
    let mut tasks = vec![];
    for _ in 0..3 {
        let s = store(&api, false);
        let swapped = Arc::clone(&swapped);
        tasks.push(tokio::spawn(async move {
            for _ in 0..15 {
                let v = s.read("c").await.unwrap();
                if s.cas("c", v, v + 1).await.unwrap() {
                    swapped.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let total = swapped.load(std::sync::atomic::Ordering::SeqCst);
    assert!(total >= 15, "some swaps succeed: {total}");
    assert_eq!(store(&api, false).read("c").await.unwrap(), total);
}

#[tokio::test]
async fn a_paused_etcd_makes_a_swap_indeterminate_and_a_read_a_definite_failure() {
    let api = kube_support::start().await;
    let s = store(&api, false);
    assert_eq!(s.read("c").await.unwrap(), 0);
    api.pause_etcd();
    let err = s.cas("c", 0, 1).await.unwrap_err();
    let read = s.read("c").await.unwrap_err();
    api.resume_etcd();
    assert!(read.is_definite(), "a read changes nothing: {read}");
    assert!(
        !err.is_definite(),
        "a swap with no answer may have applied: {err}"
    );
    assert!(matches!(err, LockError::Unknown { .. }), "{err:?}");
}

#[tokio::test]
async fn the_unsafe_store_overwrites_a_newer_value() {
    let api = kube_support::start().await;
    let (a, b) = (store(&api, true), store(&api, true));
    assert!(a.cas("c", 0, 1).await.unwrap());
    assert_eq!(a.read("c").await.unwrap(), 1);
    assert_eq!(b.read("c").await.unwrap(), 1);
    assert!(b.cas("c", 1, 2).await.unwrap());
    assert!(a.cas("c", 1, 2).await.unwrap(), "no version, no conflict");
    assert_eq!(a.read("c").await.unwrap(), 2, "b's increment was lost");
}
