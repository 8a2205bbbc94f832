//! The `k8s-lease` and `k8s-configmap` locks against a real kube-apiserver over a real etcd:
//! client-go's leader-election properties, observed through the Lock trait.

mod kube_support;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ConfigMap;
use kube_support::{ManualClock, config};
use splitbrain_workloads::locks::k8s_configmap::{LEADER_ANNOTATION, configmap_lock, decode};
use splitbrain_workloads::locks::k8s_elector::{
    LeaderRecord, RecordStore, StoreErrorKind, system_clock,
};
use splitbrain_workloads::locks::k8s_elector_lock::ElectionLock;
use splitbrain_workloads::locks::k8s_lease::{LeaseStore, lease_lock};
use splitbrain_workloads::{Lock, LockError};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const TTL: Duration = Duration::from_secs(1);

fn lease(api: &kube_support::Api, holder: &str, clock: &ManualClock, op_ms: u64) -> ElectionLock {
    let cfg = config(api, holder, clock.clock(), Duration::from_millis(op_ms));
    lease_lock(cfg).expect("a lease lock")
}

async fn read_lease(api: &kube_support::Api, name: &str) -> Lease {
    let client = api.agent_client();
    kube::Api::<Lease>::namespaced(client, &api.namespace)
        .get(name)
        .await
        .expect("the lease exists")
}

#[tokio::test]
async fn two_electors_never_both_lead_with_fresh_clocks() {
    let api = kube_support::start().await;
    let holding = Arc::new(AtomicBool::new(false));
    let grants = Arc::new(AtomicU64::new(0));
    let mut tasks = vec![];
    for who in ["a", "b", "c"] {
        let lock = lease(&api, who, &ManualClock::default(), 1500);
        let (holding, grants) = (Arc::clone(&holding), Arc::clone(&grants));
        tasks.push(tokio::spawn(async move {
            let started = Instant::now();
            let mut last_token = None;
            while started.elapsed() < Duration::from_secs(4) {
                let Ok(guard) = lock.acquire("shared", TTL).await else {
                    continue;
                };
                assert!(!holding.swap(true, Ordering::SeqCst), "two leaders at once");
                assert!(guard.token > last_token, "tokens grow: {:?}", guard.token);
                last_token = guard.token;
                grants.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(30)).await;
                holding.store(false, Ordering::SeqCst);
                lock.release(&guard).await.expect("the holder releases");
            }
        }));
    }
    for t in tasks {
        t.await.expect("no elector saw a second leader");
    }
    assert!(grants.load(Ordering::SeqCst) >= 6, "the lock changed hands");
}

#[tokio::test]
async fn a_holder_that_stops_renewing_loses_the_lease_after_the_lease_duration() {
    let api = kube_support::start().await;
    let (a_clock, b_clock) = (ManualClock::default(), ManualClock::default());
    let a = lease(&api, "a", &a_clock, 300);
    let b = lease(&api, "b", &b_clock, 300);
    let held = a.acquire("k", TTL).await.expect("a takes the free lease");
    // b sees the record now; by b's clock the lease is valid for one more second.
    assert!(matches!(
        b.acquire("k", TTL).await,
        Err(LockError::Held { .. })
    ));
    b_clock.advance(Duration::from_millis(500));
    assert!(matches!(
        b.acquire("k", TTL).await,
        Err(LockError::Held { .. })
    ));
    // a never renews; once b's clock passes the duration since b saw the record change,
    // b takes over, and counts the change of holder.
    b_clock.advance(Duration::from_millis(600));
    let taken = b
        .acquire("k", TTL)
        .await
        .expect("b takes the expired lease");
    assert_eq!(taken.token, held.token.map(|t| t + 1));
    // a's release carries the resourceVersion it last saw: it loses.
    let release = a.release(&held).await;
    assert!(
        matches!(release, Err(LockError::NotHolder { .. })),
        "{release:?}"
    );
    let spec = read_lease(&api, "k").await.spec.unwrap();
    assert_eq!(
        spec.holder_identity.as_deref(),
        Some(taken.holder_id.as_str())
    );
}

#[tokio::test]
async fn lease_transitions_increment_on_every_change_of_holder_and_not_on_renewal() {
    let api = kube_support::start().await;
    let clock = ManualClock::default();
    let (a, b) = (
        lease(&api, "a", &clock, 1000),
        lease(&api, "b", &clock, 1000),
    );
    let g1 = a.acquire("t", TTL).await.unwrap();
    a.renew(&g1, TTL).await.expect("the holder renews");
    assert_eq!(
        read_lease(&api, "t").await.spec.unwrap().lease_transitions,
        g1.token.map(|t| t as i32)
    );
    a.release(&g1).await.unwrap();
    let released = read_lease(&api, "t").await.spec.unwrap();
    assert_eq!(
        released.holder_identity.as_deref(),
        Some(""),
        "release clears the holder"
    );
    assert_eq!(released.lease_duration_seconds, Some(1));
    let g2 = b
        .acquire("t", TTL)
        .await
        .expect("a released lease is free at once");
    b.release(&g2).await.unwrap();
    let g3 = a.acquire("t", TTL).await.unwrap();
    let t1 = g1.token.unwrap();
    assert_eq!((g2.token, g3.token), (Some(t1 + 1), Some(t1 + 2)));
    let spec = read_lease(&api, "t").await.spec.unwrap();
    assert_eq!(spec.lease_transitions, Some(t1 as i32 + 2));
    assert_eq!(spec.holder_identity.as_deref(), Some(g3.holder_id.as_str()));
}

#[tokio::test]
async fn an_update_with_a_stale_resource_version_loses() {
    let api = kube_support::start().await;
    let client = api.agent_client();
    let first = LeaseStore::new(client.clone(), &api.namespace, "race");
    let second = LeaseStore::new(client, &api.namespace, "race");
    let record = |who: &str| LeaderRecord {
        holder_identity: who.into(),
        lease_duration_seconds: 1,
        ..Default::default()
    };
    first.create(&record("a")).await.unwrap();
    second.get().await.unwrap().expect("the lease exists");
    first.get().await.unwrap();
    // Both saw the same version; the first write wins and the second is refused.
    first
        .update(&record("b"))
        .await
        .expect("the first writer wins");
    let lost = second.update(&record("c")).await.unwrap_err();
    assert_eq!(lost.kind, StoreErrorKind::Conflict, "{lost}");
    let (now, _) = second.get().await.unwrap().unwrap();
    assert_eq!(now.holder_identity, "b");
}

#[tokio::test]
async fn the_configmap_lock_keeps_client_gos_record_in_the_leader_annotation() {
    let api = kube_support::start().await;
    let lock = |who: &str| {
        let cfg = config(&api, who, system_clock(), Duration::from_millis(1000));
        configmap_lock(cfg).unwrap()
    };
    let (a, b) = (lock("a"), lock("b"));
    let g1 = a.acquire("cm", TTL).await.unwrap();
    assert!(matches!(
        b.acquire("cm", TTL).await,
        Err(LockError::Held { .. })
    ));
    a.release(&g1).await.unwrap();
    let g2 = b.acquire("cm", TTL).await.unwrap();
    assert_eq!(g2.token, g1.token.map(|t| t + 1));
    let client = api.agent_client();
    let cm = kube::Api::<ConfigMap>::namespaced(client, &api.namespace)
        .get("cm")
        .await
        .unwrap();
    let annotation = cm.metadata.annotations.unwrap()[LEADER_ANNOTATION].clone();
    assert!(annotation.contains("\"holderIdentity\""), "{annotation}");
    let record = decode(&annotation).unwrap();
    assert_eq!(record.holder_identity, g2.holder_id);
    assert_eq!(record.leader_transitions as u64, g2.token.unwrap());
}

#[tokio::test]
async fn kube_lease_manager_through_the_adapter_hands_the_lease_to_one_holder_at_a_time() {
    use splitbrain_workloads::locks::k8s_lease_manager::LeaseManagerLock;
    let api = kube_support::start().await;
    let lock = |who: &str| {
        let cfg = config(&api, who, system_clock(), Duration::from_millis(1500));
        LeaseManagerLock::new(cfg).unwrap()
    };
    let (a, b) = (lock("a"), lock("b"));
    let ttl = Duration::from_secs(2);
    let g1 = a.acquire("lm", ttl).await.expect("a free lease is taken");
    assert!(matches!(
        b.acquire("lm", ttl).await,
        Err(LockError::Held { .. })
    ));
    a.release(&g1).await.expect("the holder releases");
    let g2 = b
        .acquire("lm", ttl)
        .await
        .expect("a released lease is taken");
    assert!(g2.token > g1.token, "{:?} then {:?}", g1.token, g2.token);
    let spec = read_lease(&api, "lm").await.spec.unwrap();
    assert_eq!(spec.holder_identity.as_deref(), Some(g2.holder_id.as_str()));
    // The first holder's second release is refused: it no longer holds the lease.
    assert!(matches!(
        a.release(&g1).await,
        Err(LockError::NotHolder { .. })
    ));
}

#[tokio::test]
async fn a_paused_etcd_makes_a_release_indeterminate_and_an_acquire_a_definite_refusal() {
    let api = kube_support::start().await;
    let clock = ManualClock::default();
    let (a, b) = (lease(&api, "a", &clock, 500), lease(&api, "b", &clock, 500));
    let held = a.acquire("p", TTL).await.unwrap();
    api.pause_etcd();
    let started = Instant::now();
    let release = a.release(&held).await;
    let acquire = b.acquire("p", TTL).await;
    let elapsed = started.elapsed();
    api.resume_etcd();
    // The release was sent and may be applied later: unknown.
    let e = release.unwrap_err();
    assert!(!e.is_definite(), "{e}");
    // The acquire never read the record, so it wrote nothing: definite, and not "held".
    let e = acquire.unwrap_err();
    assert!(matches!(e, LockError::Rejected { .. }), "{e}");
    assert!(
        elapsed < Duration::from_millis(1500),
        "each call kept its 500 ms bound: {elapsed:?}"
    );
}

#[tokio::test]
async fn a_contenders_wall_clock_jumping_an_hour_ahead_does_not_expire_a_live_lease() {
    use splitbrain_workloads::clock::{Clock, ClockControl};
    use splitbrain_workloads::locks::elector_clocks;
    let api = kube_support::start().await;
    let dir = tempfile::tempdir().unwrap();
    let control = dir.path().join("clock.json");
    let b_clock = Arc::new(Clock::from_file(&control));
    let mut cfg = config(&api, "b", system_clock(), Duration::from_millis(300));
    cfg.clocks = elector_clocks(b_clock);
    let b = lease_lock(cfg).unwrap();
    let a = lease(&api, "a", &ManualClock::default(), 300);
    let _held = a
        .acquire("jump", TTL)
        .await
        .expect("a takes the free lease");
    assert!(matches!(
        b.acquire("jump", TTL).await,
        Err(LockError::Held { .. })
    ));
    // b's agent clock steps an hour ahead, as the nemesis' clock-bump does. client-go
    // judges expiry on the monotonic clock, which a step does not move.
    let ahead = ClockControl {
        offset_ms: 3_600_000,
        ..ClockControl::default()
    };
    std::fs::write(&control, serde_json::to_vec(&ahead).unwrap()).unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let attempt = b.acquire("jump", TTL).await;
    assert!(
        matches!(attempt, Err(LockError::Held { .. })),
        "{attempt:?}"
    );
}

#[tokio::test]
async fn a_contender_whose_clock_runs_fast_takes_a_lease_before_its_duration_has_passed() {
    use splitbrain_workloads::clock::{Clock, ClockControl};
    use splitbrain_workloads::locks::elector_clocks;
    let api = kube_support::start().await;
    let dir = tempfile::tempdir().unwrap();
    let control = dir.path().join("clock.json");
    let mut cfg = config(&api, "b", system_clock(), Duration::from_millis(300));
    cfg.clocks = elector_clocks(Arc::new(Clock::from_file(&control)));
    let b = lease_lock(cfg).unwrap();
    let a = lease(&api, "a", &ManualClock::default(), 300);
    let held = a.acquire("fast", TTL).await.unwrap();
    let granted_at = Instant::now();
    assert!(matches!(
        b.acquire("fast", TTL).await,
        Err(LockError::Held { .. })
    ));
    // b's clock now runs ten times too fast: its second passes in a tenth of one.
    let fast = ClockControl {
        rate: 10.0,
        ..ClockControl::default()
    };
    std::fs::write(&control, serde_json::to_vec(&fast).unwrap()).unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let taken = b
        .acquire("fast", TTL)
        .await
        .expect("b believes the lease expired");
    assert!(
        granted_at.elapsed() < TTL,
        "taken {:?} after the grant",
        granted_at.elapsed()
    );
    assert_eq!(taken.token, held.token.map(|t| t + 1));
}
