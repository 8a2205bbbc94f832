package splitbrain.hazelcast;

import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A grant this process holds (as far as it knows): the holder an acquire took the lock for,
 * the fence, and the CP session it was taken in.
 */
final class Grant {
    final String key;
    final String holder;
    final long fence;
    final long sessionId;
    final CpLock lock;
    private volatile long leaseEndNanos;
    private volatile boolean releaseUnknown;
    private final AtomicBoolean ended = new AtomicBoolean();

    Grant(String key, String holder, long fence, long sessionId, CpLock lock, long leaseEndNanos) {
        this.key = key;
        this.holder = holder;
        this.fence = fence;
        this.sessionId = sessionId;
        this.lock = lock;
        this.leaseEndNanos = leaseEndNanos;
    }

    /**
     * When the agent stops counting on the grant: its acquire's (or last renew's) start plus
     * the ttl it asked for. A grant the agent forgot (its process was retired) is let go
     * after this.
     */
    long leaseEndNanos() {
        return leaseEndNanos;
    }

    void extendLease(long leaseEndNanos) {
        this.leaseEndNanos = leaseEndNanos;
    }

    /** An unlock was sent for it and its outcome is unknown. */
    boolean releaseUnknown() {
        return releaseUnknown;
    }

    void markReleaseUnknown() {
        releaseUnknown = true;
    }

    /** Marks the grant ended; true only for the first caller. */
    boolean end() {
        return ended.compareAndSet(false, true);
    }

    boolean ended() {
        return ended.get();
    }

    @Override
    public String toString() {
        return "grant of " + key + " to " + holder + " (fence " + fence + ", CP session " + sessionId + ")";
    }
}
