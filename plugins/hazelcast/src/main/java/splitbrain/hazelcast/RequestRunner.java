package splitbrain.hazelcast;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.LongSupplier;

/**
 * Runs every lock call on one thread, the lock thread (a FencedLock belongs to a session
 * and a thread), and answers each request by its deadline whatever the call is doing: a
 * request still queued then was never started (a definite refusal); one still running is
 * abandoned (timed out; if it turns out to have taken the lock, the handler lets it go).
 */
final class RequestRunner {
    private static final int QUEUED = 0;
    private static final int RUNNING = 1;
    private static final int DONE = 2;
    private static final int ABANDONED = 3;
    private static final int CANCELLED = 4;

    private final LockHandler handler;
    private final Budget budget;
    private final LongSupplier nanoClock;
    private final ExecutorService lockThread = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "lock-thread");
        t.setDaemon(true);
        return t;
    });
    private volatile String busyWith = "nothing";

    RequestRunner(LockHandler handler, Budget budget, LongSupplier nanoClock) {
        this.handler = handler;
        this.budget = budget;
        this.nanoClock = nanoClock;
    }

    /** Runs {@code task} on the lock thread before any request (such as starting the client). */
    void runFirst(String what, Runnable task) {
        lockThread.execute(() -> {
            busyWith = what;
            try {
                task.run();
            } finally {
                busyWith = "nothing";
            }
        });
    }

    /**
     * Answers {@code ready} once the tasks queued on the lock thread before it (the client's
     * start and warm-up) have run, however long that takes: the agent bounds the wait.
     */
    Answer whenStarted() {
        CompletableFuture<Void> reached = new CompletableFuture<>();
        lockThread.execute(() -> reached.complete(null));
        reached.join();
        return Answer.done();
    }

    /** Carries out {@code r}, read at {@code startNanos}, and returns its answer by the deadline. */
    Answer run(Request r, long startNanos) {
        Call call = new Call(r, startNanos);
        lockThread.execute(call);
        long wait = budget.answerBy(startNanos) - nanoClock.getAsLong();
        try {
            return call.result.get(Math.max(0, wait), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            return call.giveUp();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return call.giveUp();
        } catch (ExecutionException e) {
            throw new IllegalStateException("a lock call failed unexpectedly", e.getCause());
        }
    }

    void shutdownNow() {
        lockThread.shutdownNow();
    }

    private final class Call implements Runnable {
        final Request request;
        final long startNanos;
        final AtomicInteger state = new AtomicInteger(QUEUED);
        final CompletableFuture<Answer> result = new CompletableFuture<>();

        Call(Request request, long startNanos) {
            this.request = request;
            this.startNanos = startNanos;
        }

        @Override
        public void run() {
            if (!state.compareAndSet(QUEUED, RUNNING)) {
                return; // answered as never started
            }
            busyWith = request.op() + " for " + request.holder();
            Answer answer;
            try {
                answer = handler.handle(request, startNanos);
            } catch (RuntimeException e) {
                Log.info(request.op() + " failed unexpectedly: " + Text.describe(e));
                answer = Answer.unknown("internal error", Text.describe(e));
            } finally {
                busyWith = "nothing";
            }
            if (state.compareAndSet(RUNNING, DONE)) {
                result.complete(answer);
            } else {
                Log.info(request.op() + " for " + request.holder() + " finished after its deadline: "
                        + Output.replyLine(request.id(), answer));
                handler.abandoned(request, answer);
            }
        }

        /** The answer when the deadline has come. */
        Answer giveUp() {
            String busy = busyWith;
            if (state.compareAndSet(QUEUED, CANCELLED)) {
                return Answer.refused("busy", "not started within " + budget.usableMillis()
                        + " ms: the lock thread was busy with " + busy + "; nothing was sent");
            }
            if (state.compareAndSet(RUNNING, ABANDONED)) {
                String detail = "no answer from Hazelcast within " + budget.usableMillis() + " ms";
                // A renew only asks whether the lock is still held: it changes nothing.
                return request.isRenew() ? Answer.refused("timeout", detail) : Answer.unknown("timeout", detail);
            }
            return result.join(); // it finished just now
        }
    }
}
