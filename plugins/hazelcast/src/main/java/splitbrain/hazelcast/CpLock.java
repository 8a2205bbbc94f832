package splitbrain.hazelcast;

/**
 * One FencedLock as the plug-in uses it, always from the one lock thread (a FencedLock is
 * owned by a CP session and a thread). {@link HazelcastCpLocks} is the real one; the unit
 * tests use a fake.
 */
interface CpLock {
    /**
     * Makes sure the client has a CP session and a thread id for this lock's group, and
     * keeps the session in use until {@link #releaseSession}. Everything here happens
     * before the lock is asked for: when it fails, no lock request was sent. Returns the
     * session's id.
     */
    long acquireSession();

    /** Lets go of the session use that {@link #acquireSession} took. */
    void releaseSession(long sessionId);

    /** {@code FencedLock.tryLockAndGetFence()}: the fence, or 0 when someone holds the lock. */
    long tryLockAndGetFence();

    /** {@code FencedLock.unlock()}. */
    void unlock();

    /** {@code FencedLock.isLockedByCurrentThread()}. */
    boolean isLockedByCurrentThread();

    /**
     * The client's current CP session for this lock's group, or -1 for none: a local
     * look-up, safe from any thread. It changes when the client learns that its session
     * ended.
     */
    long sessionId();
}
