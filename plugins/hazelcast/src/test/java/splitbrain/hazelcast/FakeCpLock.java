package splitbrain.hazelcast;

import com.hazelcast.cp.lock.exception.LockOwnershipLostException;
import java.util.ArrayList;
import java.util.List;

/**
 * A FencedLock as one client's proxy sees it, for the lock thread of that client: a CP
 * group with sessions and a fence counter, the proxy's memory of which session took the
 * lock, and faults to inject. It follows Hazelcast 5.4's proxy: a session loss is reported
 * as LockOwnershipLostException once, then the proxy forgets the grant.
 */
class FakeCpLock implements CpLock {
    enum Owner { NONE, US, OTHER }

    Owner owner = Owner.NONE;
    int lockCount;
    long fence;
    /** The commit index: every write to the group raises it, as Raft's log index does. */
    long commitIndex = 10;
    /** The client's current session, -1 for none. */
    volatile long session = -1;
    long nextSession = 1;
    int sessionUses;
    /** The proxy's memory: the session that took the lock for our thread, or null. */
    Long lockedSession;

    /** Thrown by the next call of that kind, and whether the call took effect first. */
    RuntimeException tryLockFailure;
    boolean tryLockAppliesBeforeFailing;
    RuntimeException unlockFailure;
    boolean unlockAppliesBeforeFailing;
    RuntimeException queryFailure;
    RuntimeException sessionFailure;

    final List<String> calls = new ArrayList<>();

    // What the cluster does behind the client's back.

    /** The CP group expires our session (and frees the lock if we held it); the client learns it. */
    void expireSession() {
        if (owner == Owner.US) {
            owner = Owner.NONE;
            lockCount = 0;
        }
        session = -1;
    }

    void takenByOther() {
        owner = Owner.OTHER;
        fence = ++commitIndex;
    }

    void releasedByOther() {
        owner = Owner.NONE;
        commitIndex++;
    }

    // CpLock.

    @Override
    public long acquireSession() {
        calls.add("acquireSession");
        if (sessionFailure != null) {
            throw take(() -> sessionFailure = null, sessionFailure);
        }
        if (session < 0) {
            session = nextSession++;
        }
        sessionUses++;
        return session;
    }

    @Override
    public void releaseSession(long sessionId) {
        if (sessionId == session) {
            sessionUses--;
        }
    }

    @Override
    public long tryLockAndGetFence() {
        calls.add("tryLock");
        verifyLockedSession();
        if (tryLockFailure != null) {
            RuntimeException e = take(() -> tryLockFailure = null, tryLockFailure);
            if (tryLockAppliesBeforeFailing) {
                grantUs(); // the proxy never learns of it
            }
            throw e;
        }
        if (owner == Owner.OTHER) {
            return 0;
        }
        if (owner == Owner.US) {
            lockCount++; // re-entrant
            commitIndex++;
            lockedSession = session;
            return fence;
        }
        grantUs();
        lockedSession = session;
        return fence;
    }

    @Override
    public void unlock() {
        calls.add("unlock");
        verifyLockedSession();
        if (session < 0) {
            lockedSession = null;
            throw new IllegalMonitorStateException("Current thread is not owner of the Lock");
        }
        if (unlockFailure != null) {
            RuntimeException e = take(() -> unlockFailure = null, unlockFailure);
            if (unlockAppliesBeforeFailing) {
                Long remembered = lockedSession;
                freeUs();
                lockedSession = remembered; // the proxy never learns of it
            }
            throw e;
        }
        if (owner != Owner.US) {
            lockedSession = null;
            throw new IllegalMonitorStateException("Current thread is not owner of the Lock");
        }
        freeUs();
    }

    @Override
    public boolean isLockedByCurrentThread() {
        calls.add("isLockedByCurrentThread");
        verifyLockedSession();
        if (queryFailure != null) {
            throw take(() -> queryFailure = null, queryFailure);
        }
        boolean ours = owner == Owner.US && session >= 0;
        if (ours) {
            lockedSession = session;
        } else if (lockedSession != null) {
            lockedSession = null;
            throw lost();
        }
        return ours;
    }

    @Override
    public long sessionId() {
        return session;
    }

    private void grantUs() {
        owner = Owner.US;
        lockCount = 1;
        fence = ++commitIndex;
    }

    private void freeUs() {
        commitIndex++;
        if (--lockCount == 0) {
            owner = Owner.NONE;
        }
        lockedSession = lockCount == 0 ? null : session;
    }

    private void verifyLockedSession() {
        if (lockedSession != null && lockedSession != session) {
            lockedSession = null;
            throw lost();
        }
    }

    private static LockOwnershipLostException lost() {
        return new LockOwnershipLostException("Current thread is not owner of the Lock[k] because its Session is closed by server!");
    }

    private static RuntimeException take(Runnable clear, RuntimeException e) {
        clear.run();
        return e;
    }
}
