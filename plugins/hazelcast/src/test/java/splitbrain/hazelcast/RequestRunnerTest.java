package splitbrain.hazelcast;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.IntNode;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class RequestRunnerTest {
    private static final String KEY = "k";

    /** A lock whose tryLock waits for the test to let it go on. */
    private static final class SlowLock extends FakeCpLock {
        final CountDownLatch entered = new CountDownLatch(1);
        final CountDownLatch proceed = new CountDownLatch(1);

        @Override
        public long tryLockAndGetFence() {
            entered.countDown();
            try {
                proceed.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return super.tryLockAndGetFence();
        }
    }

    private final SlowLock lock = new SlowLock();
    private final Grants grants = new Grants((g, d) -> { });
    private final LockHandler handler = new LockHandler(new LockHandler.Client() {
        @Override
        public CpLocks locks() {
            return key -> lock;
        }

        @Override
        public boolean connected() {
            return true;
        }
    }, grants, System::nanoTime);
    private final RequestRunner runner = new RequestRunner(handler, Budget.of(Duration.ofMillis(300)), System::nanoTime);

    @AfterEach
    void stop() {
        lock.proceed.countDown();
        runner.shutdownNow();
    }

    private static Request acquire(int id, String holder) {
        return new Request(IntNode.valueOf(id), "acquire", KEY, holder, 2000, null);
    }

    @Test
    void readyIsAnsweredOnlyOnceTheStartQueuedBeforeItHasRun() throws InterruptedException {
        CountDownLatch startMayEnd = new CountDownLatch(1);
        runner.runFirst("starting the client", () -> {
            try {
                startMayEnd.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        CountDownLatch answered = new CountDownLatch(1);
        Thread asker = new Thread(() -> {
            assertTrue(runner.whenStarted().ok());
            answered.countDown();
        });
        asker.start();
        assertFalse(answered.await(400, TimeUnit.MILLISECONDS), "ready waits for the start, past the op budget");
        startMayEnd.countDown();
        assertTrue(answered.await(5, TimeUnit.SECONDS), "ready is answered once the start has run");
        asker.join();
    }

    @Test
    void answersInTime() {
        lock.proceed.countDown();
        Answer a = runner.run(acquire(1, "h1"), System.nanoTime());
        assertTrue(a.ok(), a.toString());
    }

    @Test
    void aCallStillRunningAtTheDeadlineIsNotDefiniteAndItsGrantIsLetGo() throws InterruptedException {
        long start = System.nanoTime();
        Answer a = runner.run(acquire(1, "h1"), start);
        long tookMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        assertFalse(a.ok());
        assertFalse(a.definite(), a.toString());
        assertEquals("timeout", a.error());
        assertTrue(tookMs >= 250 && tookMs < 300, "answered at the deadline less the margin: " + tookMs + " ms");

        lock.proceed.countDown(); // the tryLock now takes the lock, after the answer went out
        Answer next = runner.run(new Request(IntNode.valueOf(2), "release", KEY, "nobody", 0, null), System.nanoTime());
        assertTrue(next.definite(), "runs after the abandoned call: " + next);
        assertEquals(FakeCpLock.Owner.NONE, lock.owner, "the unannounced grant was released");
        assertNull(grants.get(KEY));
    }

    @Test
    void aRequestQueuedBehindABusyLockThreadIsRefusedAsNeverStarted() throws InterruptedException {
        CountDownLatch blocking = new CountDownLatch(1);
        runner.runFirst("starting the Hazelcast client", () -> {
            try {
                blocking.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        Answer a = runner.run(acquire(1, "h1"), System.nanoTime());
        assertFalse(a.ok());
        assertTrue(a.definite(), a.toString());
        assertEquals("busy", a.error());
        assertTrue(a.detail().contains("starting the Hazelcast client"), a.detail());
        blocking.countDown();
        lock.proceed.countDown();
        assertTrue(runner.run(acquire(2, "h2"), System.nanoTime()).ok(), "the cancelled request never ran");
        assertEquals(1, lock.lockCount);
    }

    @Test
    void aRenewStillRunningAtTheDeadlineIsDefinite() throws InterruptedException {
        lock.proceed.countDown();
        long fence = runner.run(acquire(1, "h1"), System.nanoTime()).token();
        FakeCpLock slowQuery = new FakeCpLock() {
            @Override
            public boolean isLockedByCurrentThread() {
                try {
                    Thread.sleep(500);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                return true;
            }
        };
        grants.add(new Grant(KEY, "h1", fence, 1, slowQuery, System.nanoTime() + 1_000_000_000L));
        Answer a = runner.run(new Request(IntNode.valueOf(2), "renew", KEY, "h1", 2000, fence), System.nanoTime());
        assertFalse(a.ok());
        assertTrue(a.definite(), "a renew changes nothing: " + a);
    }
}
