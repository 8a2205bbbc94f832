package splitbrain.hazelcast;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * The plug-in's environment (docs/plugins.md).
 *
 * @param members SPLITBRAIN_HAZELCAST: the members' {@code host:port}, comma-separated
 * @param opTimeout SPLITBRAIN_OP_TIMEOUT_MS: the agent's bound on one request
 * @param fencing SPLITBRAIN_FENCING=on (the token is sent either way: the agent decides)
 * @param lostEvents SPLITBRAIN_EVENTS names {@code lost}: write lost-lock events
 * @param node SPLITBRAIN_NODE, for the log
 */
record PluginSettings(List<String> members, Duration opTimeout, boolean fencing, boolean lostEvents, String node) {
    static final Duration DEFAULT_OP_TIMEOUT = Duration.ofMillis(1000);
    static final String CLUSTER_NAME = "splitbrain";

    /** Reads the settings; an {@link IllegalArgumentException} says what is wrong. */
    static PluginSettings fromEnv(Map<String, String> env) {
        return new PluginSettings(members(env.get("SPLITBRAIN_HAZELCAST")), opTimeout(env.get("SPLITBRAIN_OP_TIMEOUT_MS")),
                "on".equals(env.get("SPLITBRAIN_FENCING")), namesLost(env.get("SPLITBRAIN_EVENTS")),
                env.getOrDefault("SPLITBRAIN_NODE", ""));
    }

    private static List<String> members(String value) {
        if (value == null || value.isBlank()) {
            throw new IllegalArgumentException("SPLITBRAIN_HAZELCAST is not set: it must list the members'"
                    + " addresses, host:port,host:port (run with --lock hazelcast)");
        }
        List<String> members = new ArrayList<>();
        for (String part : value.split(",")) {
            String member = part.trim();
            if (member.isEmpty()) {
                continue;
            }
            int colon = member.lastIndexOf(':');
            if (colon <= 0 || !validPort(member.substring(colon + 1))) {
                throw new IllegalArgumentException("SPLITBRAIN_HAZELCAST=" + value + ": " + member + " is not host:port");
            }
            members.add(member);
        }
        if (members.isEmpty()) {
            throw new IllegalArgumentException("SPLITBRAIN_HAZELCAST=" + value + " names no member");
        }
        return List.copyOf(members);
    }

    private static boolean validPort(String s) {
        try {
            int port = Integer.parseInt(s);
            return port > 0 && port <= 65535;
        } catch (NumberFormatException e) {
            return false;
        }
    }

    private static Duration opTimeout(String value) {
        if (value == null || value.isEmpty()) {
            return DEFAULT_OP_TIMEOUT;
        }
        try {
            long ms = Long.parseLong(value.trim());
            if (ms > 0 && ms <= Integer.MAX_VALUE) {
                return Duration.ofMillis(ms);
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new IllegalArgumentException("SPLITBRAIN_OP_TIMEOUT_MS=" + value
                + " is not a positive number of milliseconds");
    }

    private static boolean namesLost(String value) {
        return value != null && Arrays.stream(value.split(",")).map(String::trim).anyMatch("lost"::equals);
    }
}
