package splitbrain.hazelcast;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.IntNode;
import com.hazelcast.core.OperationTimeoutException;
import com.hazelcast.spi.exception.TargetDisconnectedException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class LockHandlerTest {
    private static final String KEY = "splitbrain-lock";
    private static final long TTL_MS = 2000;

    private final FakeCpLock lock = new FakeCpLock();
    private final List<String> lostEvents = new ArrayList<>();
    private final Grants grants = new Grants((g, detail) -> lostEvents.add(g.holder + ": " + detail));
    private long now = 1_000_000_000L;
    private boolean connected = true;
    private CpLocks locks = key -> lock;
    private LockHandler handler;
    private int id;

    @BeforeEach
    void setUp() {
        handler = new LockHandler(new LockHandler.Client() {
            @Override
            public CpLocks locks() {
                return locks;
            }

            @Override
            public boolean connected() {
                return connected;
            }
        }, grants, () -> now);
    }

    private Answer acquire(String holder) {
        return handler.handle(new Request(IntNode.valueOf(++id), "acquire", KEY, holder, TTL_MS, null), now);
    }

    private Answer renew(String holder, Long token) {
        return handler.handle(new Request(IntNode.valueOf(++id), "renew", KEY, holder, TTL_MS, token), now);
    }

    private Answer release(String holder, Long token) {
        return handler.handle(new Request(IntNode.valueOf(++id), "release", KEY, holder, 0, token), now);
    }

    private void advanceMillis(long ms) {
        now += TimeUnit.MILLISECONDS.toNanos(ms);
    }

    private static void assertRefused(Answer a, String error) {
        assertFalse(a.ok(), a.toString());
        assertTrue(a.definite(), a.toString());
        assertEquals(error, a.error(), a.toString());
    }

    private static void assertUnknown(Answer a) {
        assertFalse(a.ok(), a.toString());
        assertFalse(a.definite(), a.toString());
    }

    @Test
    void acquireRenewRelease() {
        Answer granted = acquire("h1");
        assertTrue(granted.ok());
        assertEquals(lock.fence, granted.token());
        assertTrue(renew("h1", granted.token()).ok());
        assertTrue(release("h1", granted.token()).ok());
        assertEquals(FakeCpLock.Owner.NONE, lock.owner);
        assertNull(grants.get(KEY));
        assertEquals(0, lock.sessionUses, "the session use taken for the acquire is given back");
    }

    @Test
    void theFenceGrowsWithEveryGrant() {
        long first = acquire("h1").token();
        release("h1", first);
        long second = acquire("h2").token();
        assertTrue(second > first, first + " then " + second);
    }

    @Test
    void heldBySomeoneElseIsADefiniteHeld() {
        lock.takenByOther();
        assertRefused(acquire("h1"), Answer.HELD);
        assertNull(grants.get(KEY));
    }

    @Test
    void aNewHolderIsRefusedWhileThisProcessHoldsTheLockInsteadOfReEntering() {
        long fence = acquire("h1").token();
        Answer second = acquire("h2");
        assertRefused(second, Answer.HELD);
        assertTrue(second.detail().contains("h1"), second.detail());
        assertEquals(1, lock.lockCount, "never re-entered");
        assertEquals(1, lock.calls.stream().filter("tryLock"::equals).count(), lock.calls.toString());
        assertEquals("h1", grants.get(KEY).holder);
        assertTrue(release("h1", fence).ok());
        assertTrue(acquire("h2").ok());
    }

    @Test
    void aGrantWhoseHolderWasRetiredIsLetGoAfterItsTtl() {
        acquire("h1"); // the agent then retires h1's process without a release
        advanceMillis(TTL_MS - 1);
        assertRefused(acquire("h2"), Answer.HELD);
        advanceMillis(1);
        Answer a = acquire("h3");
        assertTrue(a.ok(), a.toString());
        assertEquals("h3", grants.get(KEY).holder);
        assertEquals(1, lock.lockCount);
        assertTrue(lostEvents.isEmpty(), "letting go is not a loss: " + lostEvents);
    }

    @Test
    void aRenewExtendsTheTtlAfterWhichAForgottenGrantIsLetGo() {
        long fence = acquire("h1").token();
        advanceMillis(1500);
        assertTrue(renew("h1", fence).ok());
        advanceMillis(1500);
        assertRefused(acquire("h2"), Answer.HELD);
        advanceMillis(500);
        assertTrue(acquire("h2").ok());
    }

    @Test
    void renewAndReleaseByAnotherHolderOrTokenAreNotHolder() {
        long fence = acquire("h1").token();
        assertRefused(renew("h2", fence), Answer.NOT_HOLDER);
        assertRefused(release("h2", fence), Answer.NOT_HOLDER);
        assertRefused(release("h1", fence + 1), Answer.NOT_HOLDER);
        assertRefused(release("nobody", null), Answer.NOT_HOLDER);
        assertEquals(FakeCpLock.Owner.US, lock.owner);
    }

    @Test
    void afterTheSessionExpiredRenewIsNotHolderAndTheNextAcquireWorks() {
        long fence = acquire("h1").token();
        lock.expireSession();
        lock.takenByOther();
        Answer renewed = renew("h1", fence);
        assertRefused(renewed, Answer.NOT_HOLDER);
        assertTrue(renewed.detail().contains("LockOwnershipLostException"), renewed.detail());
        assertRefused(release("h1", fence), Answer.NOT_HOLDER);
        lock.releasedByOther();
        Answer again = acquire("h2");
        assertTrue(again.ok(), again.toString());
        assertTrue(again.token() > fence);
    }

    @Test
    void releaseAfterTheSessionExpiredIsNotHolder() {
        long fence = acquire("h1").token();
        lock.expireSession();
        Answer released = release("h1", fence);
        assertRefused(released, Answer.NOT_HOLDER);
        assertNull(grants.get(KEY));
    }

    @Test
    void anAcquireByANewHolderAfterALostGrantReportsTheLossAndGoesOn() {
        acquire("h1");
        lock.expireSession();
        Answer a = acquire("h2");
        assertTrue(a.ok(), a.toString());
        assertEquals(1, lostEvents.size(), lostEvents.toString());
        assertTrue(lostEvents.get(0).startsWith("h1: "), lostEvents.toString());
    }

    @Test
    void aTryLockThatTimedOutIsNotDefinite() {
        lock.tryLockFailure = new OperationTimeoutException("timed out");
        Answer a = acquire("h1");
        assertUnknown(a);
        assertEquals("timeout", a.error());
        lock.tryLockFailure = new TargetDisconnectedException("member left");
        assertUnknown(acquire("h2"));
    }

    @Test
    void aTryLockThatTimedOutButTookTheLockIsReleasedBeforeTheNextAcquire() {
        lock.tryLockFailure = new OperationTimeoutException("timed out");
        lock.tryLockAppliesBeforeFailing = true;
        assertUnknown(acquire("h1"));
        assertEquals(FakeCpLock.Owner.US, lock.owner);
        Answer a = acquire("h2");
        assertTrue(a.ok(), a.toString());
        assertEquals(1, lock.lockCount, "released, then taken afresh, not re-entered");
        assertEquals("h2", grants.get(KEY).holder);
    }

    @Test
    void aTryLockThatTimedOutAndTookNothingLeavesTheNextAcquireFree() {
        lock.tryLockFailure = new OperationTimeoutException("timed out");
        assertUnknown(acquire("h1"));
        assertTrue(acquire("h2").ok());
        assertEquals(1, lock.lockCount);
    }

    @Test
    void nothingIsSentWhileDisconnectedOrStarting() {
        connected = false;
        assertRefused(acquire("h1"), LockHandler.UNAVAILABLE);
        connected = true;
        locks = null;
        assertRefused(acquire("h1"), LockHandler.UNAVAILABLE);
        assertTrue(lock.calls.isEmpty(), lock.calls.toString());
    }

    @Test
    void aFailedSessionOrGroupLookupIsDefinite() {
        lock.sessionFailure = new OperationTimeoutException("no CP leader");
        Answer a = acquire("h1");
        assertRefused(a, LockHandler.UNAVAILABLE);
        assertTrue(a.detail().contains("no lock request was sent"), a.detail());
        assertFalse(lock.calls.contains("tryLock"));
        locks = key -> {
            throw new OperationTimeoutException("group lookup");
        };
        assertRefused(acquire("h1"), LockHandler.UNAVAILABLE);
    }

    @Test
    void aRenewThatCannotAskIsDefiniteButNotNotHolder() {
        long fence = acquire("h1").token();
        lock.queryFailure = new OperationTimeoutException("timed out");
        assertRefused(renew("h1", fence), LockHandler.UNAVAILABLE);
        assertEquals("h1", grants.get(KEY).holder, "the grant is kept");
        assertTrue(renew("h1", fence).ok());
    }

    @Test
    void aReleaseThatTimedOutIsNotDefiniteAndIsSettledByTheNextAcquire() {
        long fence = acquire("h1").token();
        lock.unlockFailure = new OperationTimeoutException("timed out");
        assertUnknown(release("h1", fence));
        // Not applied: the lock is still ours. A new holder's acquire lets it go at once,
        // since the release was sent and nobody counts on the grant any more.
        Answer a = acquire("h2");
        assertTrue(a.ok(), a.toString());
        assertEquals(1, lock.lockCount);
        assertTrue(lostEvents.isEmpty(), lostEvents.toString());
    }

    @Test
    void aReleaseThatTimedOutAfterItWasAppliedLeavesNoLostEvent() {
        long fence = acquire("h1").token();
        lock.unlockFailure = new OperationTimeoutException("timed out");
        lock.unlockAppliesBeforeFailing = true;
        assertUnknown(release("h1", fence));
        assertTrue(acquire("h2").ok());
        assertTrue(lostEvents.isEmpty(), lostEvents.toString());
    }

    @Test
    void anAbandonedAcquireThatTookTheLockIsReleased() {
        Request r = new Request(IntNode.valueOf(1), "acquire", KEY, "h1", TTL_MS, null);
        Answer a = handler.handle(r, now);
        assertTrue(a.ok());
        handler.abandoned(r, a);
        assertEquals(FakeCpLock.Owner.NONE, lock.owner);
        assertNull(grants.get(KEY));
    }

    @Test
    void anUnknownOpIsUnsupported() {
        assertRefused(handler.handle(new Request(IntNode.valueOf(1), "frobnicate", "", "", 0, null), now),
                Answer.UNSUPPORTED);
    }
}
