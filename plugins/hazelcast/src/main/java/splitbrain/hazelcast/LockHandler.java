package splitbrain.hazelcast;

import com.hazelcast.core.OperationTimeoutException;
import com.hazelcast.cp.lock.exception.LockOwnershipLostException;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

/**
 * Carries out acquire, renew and release on the lock thread, the only thread that touches
 * the FencedLocks. A FencedLock is owned by a (CP session, thread) pair and is re-entrant,
 * while every acquire of the protocol comes from a new holder: so the handler tracks which
 * holder owns this process's grant and refuses to take the lock again while a grant of
 * this process is still held.
 */
final class LockHandler {
    static final String UNAVAILABLE = "unavailable";

    /** What the handler needs of the client. */
    interface Client {
        /** The client's locks, or null while it is still starting. */
        CpLocks locks();

        /** Whether the client has a connection to the cluster now. */
        boolean connected();
    }

    private final Client client;
    private final Grants grants;
    private final LongSupplier nanoClock;
    /**
     * Keys an acquire of which ended with an unknown outcome: the lock may be held by this
     * thread although no grant says so. Only the lock thread uses it.
     */
    private final Set<String> unsettled = new HashSet<>();

    LockHandler(Client client, Grants grants, LongSupplier nanoClock) {
        this.client = client;
        this.grants = grants;
        this.nanoClock = nanoClock;
    }

    Answer handle(Request r, long startNanos) {
        if (r.isAcquire()) {
            return acquire(r, startNanos);
        }
        if (r.isRenew()) {
            return renew(r, startNanos);
        }
        if (r.isRelease()) {
            return release(r);
        }
        return Answer.refused(Answer.UNSUPPORTED, "op " + Text.cut(r.op(), 40) + " is not supported");
    }

    /**
     * The request was answered as timed out while it ran, and it has now finished with
     * {@code answer}. A grant it took was never announced to anybody: let it go.
     */
    void abandoned(Request r, Answer answer) {
        if (!r.isAcquire() || !answer.ok()) {
            return;
        }
        Grant grant = grants.get(r.key());
        if (grant == null || !grant.holder.equals(r.holder())) {
            return;
        }
        Log.info("acquire for " + r.holder() + " took the lock (fence " + grant.fence
                + ") after it was answered as timed out; releasing it");
        try {
            grant.lock.unlock();
            grants.remove(grant);
        } catch (RuntimeException e) {
            Log.info("releasing the unannounced " + grant + " failed (" + Text.describe(e)
                    + "); it is let go after its ttl, or when the CP session ends");
            grant.markReleaseUnknown();
        }
    }

    private Answer acquire(Request r, long startNanos) {
        Answer unavailable = unavailable();
        if (unavailable != null) {
            return unavailable;
        }
        CpLock lock;
        try {
            lock = client.locks().get(r.key());
        } catch (RuntimeException e) {
            return Answer.refused(UNAVAILABLE, "looking up the lock's CP group failed, no lock request was sent: "
                    + Text.describe(e));
        }
        Answer blocked = settleEarlierGrant(r, lock);
        if (blocked != null) {
            return blocked;
        }
        long session;
        try {
            session = lock.acquireSession();
        } catch (RuntimeException e) {
            return Answer.refused(UNAVAILABLE, "opening a CP session failed, no lock request was sent: "
                    + Text.describe(e));
        }
        try {
            return tryLock(r, lock, startNanos);
        } finally {
            lock.releaseSession(session);
        }
    }

    private Answer tryLock(Request r, CpLock lock, long startNanos) {
        long fence;
        try {
            fence = lock.tryLockAndGetFence();
        } catch (LockOwnershipLostException e) {
            // Thrown before the request is sent, or after the CP group refused it because
            // the session had expired: either way the lock was not taken.
            return Answer.refused(UNAVAILABLE, "this thread's earlier CP session is gone: " + Text.describe(e));
        } catch (RuntimeException e) {
            unsettled.add(r.key());
            return unknownOutcome("tryLockAndGetFence", e);
        }
        if (fence == 0) { // FencedLock.INVALID_FENCE
            return Answer.refused(Answer.HELD, "tryLockAndGetFence: the lock is held");
        }
        grants.add(new Grant(r.key(), r.holder(), fence, lock.sessionId(), lock, leaseEnd(startNanos, r.ttlMs())));
        return Answer.granted(fence);
    }

    /**
     * Before an acquire: if this process may still hold the lock (a grant of an earlier
     * holder, or an acquire whose outcome was unknown), find out, since tryLock would
     * re-enter it. Returns the refusal, or null to go on with the acquire.
     */
    private Answer settleEarlierGrant(Request r, CpLock lock) {
        String key = r.key();
        Grant earlier = grants.get(key);
        if (earlier == null && !unsettled.contains(key)) {
            return null;
        }
        boolean ours;
        try {
            ours = lock.isLockedByCurrentThread();
        } catch (LockOwnershipLostException e) {
            settled(key, earlier, "its CP session was closed by the CP group: " + Text.describe(e));
            return null;
        } catch (RuntimeException e) {
            return Answer.refused(UNAVAILABLE, "could not check whether this process still holds the lock"
                    + (earlier == null ? "" : " for " + earlier.holder) + ": " + Text.describe(e));
        }
        if (!ours) {
            settled(key, earlier, "the lock is no longer held by this process's CP session");
            return null;
        }
        if (earlier == null) {
            return letGo(key, lock, null, "an earlier acquire whose outcome was unknown took the lock after all");
        }
        if (earlier.holder.equals(r.holder())) {
            return Answer.refused(Answer.HELD, "holder " + r.holder() + " already holds the lock (fence "
                    + earlier.fence + ")");
        }
        if (nanoClock.getAsLong() - earlier.leaseEndNanos() < 0 && !earlier.releaseUnknown()) {
            return Answer.refused(Answer.HELD, "held by this process's grant to " + earlier.holder + " (fence "
                    + earlier.fence + "); FencedLock is re-entrant for its owner, so it is not taken again");
        }
        // The agent has forgotten that holder (a new holder means its process was retired)
        // and its ttl is over, or its release was sent and the outcome is unknown.
        return letGo(key, lock, earlier, earlier + " outlived its ttl, its holder retired");
    }

    /** The lock thread no longer holds the lock: forget the earlier grant, if any. */
    private void settled(String key, Grant earlier, String why) {
        unsettled.remove(key);
        if (earlier == null) {
            return;
        }
        if (!earlier.releaseUnknown()) {
            grants.lost(earlier, why);
        }
        grants.remove(earlier);
    }

    /**
     * Unlocks what nobody counts on any more (a grant whose holder was retired, or one that
     * nobody was told of), so that the acquire can go on; or the refusal when that fails.
     */
    private Answer letGo(String key, CpLock lock, Grant earlier, String why) {
        Log.info(why + ": releasing it");
        try {
            lock.unlock();
        } catch (IllegalMonitorStateException e) {
            Log.info("it was not held any more: " + Text.describe(e));
        } catch (RuntimeException e) {
            return Answer.refused(Answer.HELD, why + ", and releasing it failed: " + Text.describe(e));
        }
        unsettled.remove(key);
        if (earlier != null) {
            grants.remove(earlier);
        }
        return null;
    }

    private Answer renew(Request r, long startNanos) {
        Grant grant = grantOf(r);
        if (grant == null) {
            return notHolder(r);
        }
        Answer unavailable = unavailable();
        if (unavailable != null) {
            return unavailable;
        }
        boolean ours;
        try {
            ours = grant.lock.isLockedByCurrentThread();
        } catch (LockOwnershipLostException e) {
            grants.remove(grant);
            return Answer.refused(Answer.NOT_HOLDER, Text.describe(e));
        } catch (RuntimeException e) {
            // A renew only asks: it changes nothing, whatever happened to the question.
            return Answer.refused(UNAVAILABLE, "isLockedByCurrentThread failed: " + Text.describe(e));
        }
        if (!ours) {
            grants.remove(grant);
            return Answer.refused(Answer.NOT_HOLDER, "the lock is no longer held by this process's CP session");
        }
        if (r.ttlMs() > 0) {
            grant.extendLease(leaseEnd(startNanos, r.ttlMs()));
        }
        return Answer.done();
    }

    private Answer release(Request r) {
        Grant grant = grantOf(r);
        if (grant == null) {
            return notHolder(r);
        }
        Answer unavailable = unavailable();
        if (unavailable != null) {
            return unavailable;
        }
        try {
            grant.lock.unlock();
        } catch (IllegalMonitorStateException e) { // LockOwnershipLostException is one
            grants.remove(grant);
            return Answer.refused(Answer.NOT_HOLDER, Text.describe(e));
        } catch (RuntimeException e) {
            grant.markReleaseUnknown();
            return unknownOutcome("unlock", e);
        }
        grants.remove(grant);
        return Answer.done();
    }

    /** The grant the request's holder (and token, when given) owns, or null. */
    private Grant grantOf(Request r) {
        Grant grant = grants.get(r.key());
        if (grant == null || !grant.holder.equals(r.holder())) {
            return null;
        }
        if (r.token() != null && r.token() != grant.fence) {
            return null;
        }
        return grant;
    }

    private Answer notHolder(Request r) {
        Grant grant = grants.get(r.key());
        String detail = grant == null
                ? "this process holds no grant of " + r.key()
                : "this process's grant of " + r.key() + " belongs to " + grant.holder + " (fence " + grant.fence + ")";
        return Answer.refused(Answer.NOT_HOLDER, detail);
    }

    /** A refusal when nothing can be sent now, or null. */
    private Answer unavailable() {
        if (client.locks() == null) {
            return Answer.refused(UNAVAILABLE, "the Hazelcast client is still starting: nothing was sent");
        }
        if (!client.connected()) {
            return Answer.refused(UNAVAILABLE, "the Hazelcast client is not connected to the cluster: nothing was sent");
        }
        return null;
    }

    private static Answer unknownOutcome(String call, RuntimeException e) {
        String error = e instanceof OperationTimeoutException ? "timeout" : "indeterminate";
        return Answer.unknown(error, call + " failed after the request may have been sent: " + Text.describe(e));
    }

    private static long leaseEnd(long startNanos, long ttlMs) {
        return startNanos + TimeUnit.MILLISECONDS.toNanos(ttlMs);
    }
}
