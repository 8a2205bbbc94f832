package splitbrain.curator;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * The plug-in's environment (docs/plugins.md).
 *
 * @param servers the ensemble's client addresses as Curator's connect string, {@code h:p,h:p}
 * @param opTimeout the agent's bound on each request
 * @param fencing whether acquire answers carry a fencing token
 * @param lostEvents whether the agent takes lost-lock events
 * @param node the node the agent runs on, for the log
 */
record Settings(
    String servers, Duration opTimeout, boolean fencing, boolean lostEvents, String node) {

  /** The op timeout when SPLITBRAIN_OP_TIMEOUT_MS is not set: the runner's default. */
  static final Duration DEFAULT_OP_TIMEOUT = Duration.ofMillis(5000);

  /**
   * Reads the settings from {@code env}.
   *
   * @throws IllegalArgumentException naming the variable that is missing or wrong
   */
  static Settings fromEnv(Map<String, String> env) {
    return new Settings(
        servers(env.get("SPLITBRAIN_ZOOKEEPER")),
        opTimeout(env.get("SPLITBRAIN_OP_TIMEOUT_MS")),
        "on".equals(env.get("SPLITBRAIN_FENCING")),
        wantsLostEvents(env.get("SPLITBRAIN_EVENTS")),
        env.getOrDefault("SPLITBRAIN_NODE", ""));
  }

  /** SPLITBRAIN_ZOOKEEPER: host:port, comma-separated (the runner's --zookeeper list). */
  static String servers(String v) {
    if (v == null || v.isBlank()) {
      throw new IllegalArgumentException(
          "SPLITBRAIN_ZOOKEEPER is not set: it must list the ZooKeeper servers' client"
              + " addresses, host:port,host:port (run with --plugin-servers zookeeper)");
    }
    List<String> out = new ArrayList<>();
    for (String s : v.split(",")) {
      String server = s.strip();
      if (server.isEmpty()) {
        continue;
      }
      int colon = server.lastIndexOf(':');
      if (colon <= 0 || !validPort(server.substring(colon + 1))) {
        throw new IllegalArgumentException(
            "SPLITBRAIN_ZOOKEEPER=" + v + ": " + server + " is not host:port");
      }
      out.add(server);
    }
    if (out.isEmpty()) {
      throw new IllegalArgumentException("SPLITBRAIN_ZOOKEEPER=" + v + " names no server");
    }
    return String.join(",", out);
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

  /** Whether SPLITBRAIN_EVENTS (a comma-separated list) names {@code lost}. */
  static boolean wantsLostEvents(String v) {
    return v != null && Arrays.stream(v.split(",")).map(String::strip).anyMatch("lost"::equals);
  }
}
