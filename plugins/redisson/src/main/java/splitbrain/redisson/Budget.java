package splitbrain.redisson;

import java.time.Duration;

/**
 * How the agent's bound on one request (SPLITBRAIN_OP_TIMEOUT_MS) is spent: the reply must
 * leave a margin before the agent gives up.
 *
 * @param opTimeout the agent's bound
 * @param margin kept free at its end: a tenth of it, from 10 to 250 ms, at most half
 */
record Budget(Duration opTimeout, Duration margin) {

  static Budget of(Duration opTimeout) {
    long op = opTimeout.toMillis();
    long margin = Math.min(Math.max(op / 10, 10), 250);
    return new Budget(opTimeout, Duration.ofMillis(Math.min(margin, op / 2)));
  }

  /** The time a request read at {@code startNanos} (System.nanoTime) must be answered by. */
  Deadline answerBy(long startNanos) {
    return new Deadline(startNanos + opTimeout.minus(margin).toNanos());
  }

  /** What is left of the reply's time once the margin is kept. */
  Duration usable() {
    return opTimeout.minus(margin);
  }

  /** A point in System.nanoTime. */
  record Deadline(long nanos) {
    /** Milliseconds left, 0 once passed. */
    long remainingMillis() {
      return Math.max(0, Duration.ofNanos(nanos - System.nanoTime()).toMillis());
    }
  }
}
