package splitbrain.hazelcast;

/** The FencedLocks of one Hazelcast client, by name. */
interface CpLocks {
    /**
     * The lock named {@code key}. May call the cluster (to find the lock's CP group) and
     * fail; no lock request is sent.
     */
    CpLock get(String key);
}
