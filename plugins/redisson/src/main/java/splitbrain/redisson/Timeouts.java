package splitbrain.redisson;

import java.time.Duration;
import org.redisson.config.Config;
import org.redisson.config.ConstantDelay;

/**
 * Redisson's own timeouts, set so that a command gives up within the request's usable time
 * (the agent's bound less the reply's margin): with one retry,
 *
 * <pre>2 x (connect + response) + retry delay = 2 x (U/5 + U/5) + U/10 = 0.9 U</pre>
 *
 * Redisson sends the lock's and the unlock's scripts without retries whatever the setting
 * (a lock script run twice would take the lock twice over); the retry is for the reads
 * (isHeldByThread, getHoldCount).
 *
 * @param connectMs how long a new connection may take (Redisson's connectTimeout)
 * @param responseMs how long a sent command waits for its answer (Redisson's timeout)
 * @param retryAttempts how often a failed command is sent again (retryAttempts)
 * @param retryDelayMs the pause before each retry (retryDelay)
 */
record Timeouts(int connectMs, int responseMs, int retryAttempts, int retryDelayMs) {

  static Timeouts within(Duration usable) {
    int u = (int) Math.min(Math.max(usable.toMillis(), 10), Integer.MAX_VALUE);
    return new Timeouts(Math.max(1, u / 5), Math.max(1, u / 5), 1, Math.max(1, u / 10));
  }

  /** The longest a command takes to fail with these settings. */
  long worstCaseMs() {
    return (long) (retryAttempts + 1) * (connectMs + responseMs) + (long) retryAttempts * retryDelayMs;
  }

  /**
   * Redisson's configuration for one plug-in process on the Redis at {@code address}: these
   * timeouts, a small pool and few threads (one request at a time), and connections made on
   * first use (the plug-in starts even while Redis is unreachable).
   */
  Config config(String address) {
    Config config = new Config();
    config.setLazyInitialization(true);
    config.setThreads(2);
    config.setNettyThreads(2);
    config
        .useSingleServer()
        .setAddress("redis://" + address)
        .setConnectTimeout(connectMs)
        .setTimeout(responseMs)
        .setRetryAttempts(retryAttempts)
        .setRetryDelay(new ConstantDelay(Duration.ofMillis(retryDelayMs)))
        .setConnectionMinimumIdleSize(1)
        .setConnectionPoolSize(2)
        .setSubscriptionConnectionMinimumIdleSize(1)
        .setSubscriptionConnectionPoolSize(1);
    return config;
  }
}
