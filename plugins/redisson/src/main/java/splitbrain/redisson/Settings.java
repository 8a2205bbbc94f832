package splitbrain.redisson;

import java.time.Duration;
import java.util.Map;

/**
 * The plug-in's environment (docs/plugins.md).
 *
 * @param redis the Redis server, {@code host:port}
 * @param opTimeout the agent's bound on each request
 * @param fencing whether acquire answers carry a fencing token (then the lock is Redisson's
 *     RFencedLock)
 * @param node the node the agent runs on, for the log
 */
record Settings(String redis, Duration opTimeout, boolean fencing, String node) {

  /** The op timeout when SPLITBRAIN_OP_TIMEOUT_MS is not set: the runner's default. */
  static final Duration DEFAULT_OP_TIMEOUT = Duration.ofMillis(5000);

  /**
   * Reads the settings from {@code env}.
   *
   * @throws IllegalArgumentException naming the variable that is missing or wrong
   */
  static Settings fromEnv(Map<String, String> env) {
    return new Settings(
        redis(env.get("SPLITBRAIN_REDIS")),
        opTimeout(env.get("SPLITBRAIN_OP_TIMEOUT_MS")),
        "on".equals(env.get("SPLITBRAIN_FENCING")),
        env.getOrDefault("SPLITBRAIN_NODE", ""));
  }

  /** SPLITBRAIN_REDIS: one host:port (the runner's --redis). */
  static String redis(String v) {
    if (v == null || v.isBlank()) {
      throw new IllegalArgumentException(
          "SPLITBRAIN_REDIS is not set: it must be the Redis server's host:port"
              + " (run with --plugin-servers redis)");
    }
    String server = v.strip();
    int colon = server.lastIndexOf(':');
    if (server.contains(",") || colon <= 0 || !validPort(server.substring(colon + 1))) {
      throw new IllegalArgumentException("SPLITBRAIN_REDIS=" + v + " is not one host:port");
    }
    return server;
  }

  private static boolean validPort(String s) {
    try {
      int port = Integer.parseInt(s);
      return port > 0 && port <= 65535;
    } catch (NumberFormatException e) {
      return false;
    }
  }

  /** SPLITBRAIN_OP_TIMEOUT_MS: a positive number of milliseconds; unset, the default. */
  static Duration opTimeout(String v) {
    if (v == null || v.isBlank()) {
      return DEFAULT_OP_TIMEOUT;
    }
    try {
      long ms = Long.parseLong(v.strip());
      if (ms > 0 && ms <= Integer.MAX_VALUE) {
        return Duration.ofMillis(ms);
      }
    } catch (NumberFormatException e) {
      // reported below
    }
    throw new IllegalArgumentException(
        "SPLITBRAIN_OP_TIMEOUT_MS=" + v + " is not a positive number of milliseconds");
  }
}
