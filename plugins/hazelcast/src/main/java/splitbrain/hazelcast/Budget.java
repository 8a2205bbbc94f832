package splitbrain.hazelcast;

import java.time.Duration;

/**
 * The agent's bound on one request, and the part of it the plug-in keeps free: a tenth
 * (10 to 250 ms, at most half), so that the reply leaves before the agent gives up.
 *
 * @param opTimeoutNanos SPLITBRAIN_OP_TIMEOUT_MS
 * @param marginNanos kept free at the end of it
 */
record Budget(long opTimeoutNanos, long marginNanos) {

    static Budget of(Duration opTimeout) {
        long op = opTimeout.toNanos();
        long margin = Math.min(Math.max(op / 10, Duration.ofMillis(10).toNanos()), Duration.ofMillis(250).toNanos());
        return new Budget(op, Math.min(margin, op / 2));
    }

    /** The time (System.nanoTime) by which a request read at {@code startNanos} must be answered. */
    long answerBy(long startNanos) {
        return startNanos + opTimeoutNanos - marginNanos;
    }

    long usableMillis() {
        return (opTimeoutNanos - marginNanos) / 1_000_000;
    }
}
