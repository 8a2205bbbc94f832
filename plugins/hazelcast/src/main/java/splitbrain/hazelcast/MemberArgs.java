package splitbrain.hazelcast;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The command line of {@code hazelcast-member}: everything the member is configured from
 * (there is no XML or YAML file).
 *
 * @param bindIp the only address the member binds and announces (an IPv4 literal, never
 *     0.0.0.0): traffic stays in the node's network namespace
 * @param port the member's port (no auto-increment)
 * @param members every member's {@code ip:port}, the TCP-IP join list
 * @param clusterName the cluster's name (clients must use the same)
 * @param cpMembers 0 for the CP Subsystem off ("unsafe" mode), else the number of CP
 *     members (at least 3)
 * @param sessionTtlMs the CP session TTL asked for, in milliseconds
 * @param heartbeatMs the CP session heartbeat interval asked for, in milliseconds
 * @param statusPort the port on {@code bindIp} that answers whether this member leads the
 *     lock ({@link RoleServer}), or 0 for none
 * @param lockKey the lock whose leader the status port tells
 */
record MemberArgs(String bindIp, int port, List<String> members, String clusterName, int cpMembers,
                  long sessionTtlMs, long heartbeatMs, int statusPort, String lockKey) {

    static final String USAGE = "usage: hazelcast-member --bind IP --port P --members IP:P,IP:P,IP:P"
            + " [--cluster-name NAME (splitbrain)] [--cp-members 0|N>=3 (3)]"
            + " [--session-ttl-ms T (" + MemberArgs.DEFAULT_SESSION_TTL_MS + ")]"
            + " [--heartbeat-ms H (" + MemberArgs.DEFAULT_HEARTBEAT_MS + ")]"
            + " [--status-port P (none)] [--lock-key KEY (" + MemberArgs.DEFAULT_LOCK_KEY + ")]";

    static final String DEFAULT_CLUSTER_NAME = "splitbrain";
    static final int DEFAULT_CP_MEMBERS = 3;
    static final long DEFAULT_SESSION_TTL_MS = 3000;
    static final long DEFAULT_HEARTBEAT_MS = 1000;
    static final String DEFAULT_LOCK_KEY = "splitbrain-lock";
    /** Keeps a duration in whole seconds within Hazelcast's int settings. */
    static final long MAX_MILLIS = Integer.MAX_VALUE * 1000L;

    private static final Pattern IPV4 =
            Pattern.compile("(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)(\\.(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)){3}");
    private static final List<String> FLAGS = List.of("--bind", "--port", "--members", "--cluster-name",
            "--cp-members", "--session-ttl-ms", "--heartbeat-ms", "--status-port", "--lock-key");

    /** Parses the arguments; an {@link IllegalArgumentException} says what is wrong. */
    static MemberArgs parse(String... args) {
        Map<String, String> values = flagValues(args);
        String bind = required(values, "--bind");
        checkBindable(bind);
        int port = portNumber("--port", required(values, "--port"));
        List<String> members = memberList(required(values, "--members"));
        String clusterName = values.getOrDefault("--cluster-name", DEFAULT_CLUSTER_NAME);
        if (clusterName.isBlank()) {
            throw new IllegalArgumentException("--cluster-name is empty");
        }
        int cpMembers = (int) number("--cp-members", values.get("--cp-members"), DEFAULT_CP_MEMBERS, 0,
                Integer.MAX_VALUE);
        if (cpMembers != 0 && cpMembers < 3) {
            throw new IllegalArgumentException("--cp-members must be 0 (CP Subsystem off) or at least 3, got "
                    + cpMembers);
        }
        if (cpMembers > members.size()) {
            throw new IllegalArgumentException("--cp-members " + cpMembers + " is more than the "
                    + members.size() + " --members: CP discovery would never complete");
        }
        long ttl = number("--session-ttl-ms", values.get("--session-ttl-ms"), DEFAULT_SESSION_TTL_MS, 1, MAX_MILLIS);
        long heartbeat = number("--heartbeat-ms", values.get("--heartbeat-ms"), DEFAULT_HEARTBEAT_MS, 1, MAX_MILLIS);
        int statusPort = values.containsKey("--status-port") ? portNumber("--status-port", values.get("--status-port")) : 0;
        if (statusPort == port) {
            throw new IllegalArgumentException("--status-port " + statusPort + " is the member's own --port");
        }
        String lockKey = values.getOrDefault("--lock-key", DEFAULT_LOCK_KEY);
        if (lockKey.isBlank()) {
            throw new IllegalArgumentException("--lock-key is empty");
        }
        return new MemberArgs(bind, port, members, clusterName, cpMembers, ttl, heartbeat, statusPort, lockKey);
    }

    boolean cpSubsystemOn() {
        return cpMembers > 0;
    }

    /** Reads {@code --flag value} and {@code --flag=value} pairs, each flag at most once. */
    private static Map<String, String> flagValues(String[] args) {
        Map<String, String> values = new HashMap<>();
        for (int i = 0; i < args.length; i++) {
            String flag = args[i];
            String value;
            int eq = flag.indexOf('=');
            if (flag.startsWith("--") && eq > 0) {
                value = flag.substring(eq + 1);
                flag = flag.substring(0, eq);
            } else if (i + 1 < args.length) {
                value = args[++i];
            } else {
                value = null;
            }
            if (!FLAGS.contains(flag)) {
                throw new IllegalArgumentException("unknown argument " + flag);
            }
            if (value == null) {
                throw new IllegalArgumentException(flag + " needs a value");
            }
            if (values.put(flag, value) != null) {
                throw new IllegalArgumentException(flag + " is given twice");
            }
        }
        return values;
    }

    private static String required(Map<String, String> values, String flag) {
        String v = values.get(flag);
        if (v == null) {
            throw new IllegalArgumentException(flag + " is required");
        }
        return v;
    }

    private static void checkBindable(String ip) {
        if (!IPV4.matcher(ip).matches()) {
            throw new IllegalArgumentException("--bind " + ip + " is not an IPv4 address");
        }
        if (ip.equals("0.0.0.0")) {
            throw new IllegalArgumentException("--bind 0.0.0.0 would listen on every interface: give the node's address");
        }
    }

    private static List<String> memberList(String list) {
        List<String> members = new ArrayList<>();
        for (String part : list.split(",", -1)) {
            String member = part.trim();
            if (member.isEmpty()) {
                continue;
            }
            int colon = member.lastIndexOf(':');
            if (colon < 0 || !IPV4.matcher(member.substring(0, colon)).matches()) {
                throw new IllegalArgumentException("--members: " + member + " is not IPv4:port");
            }
            portNumber("--members", member.substring(colon + 1));
            if (members.contains(member)) {
                throw new IllegalArgumentException("--members: " + member + " is listed twice");
            }
            members.add(member);
        }
        if (members.isEmpty()) {
            throw new IllegalArgumentException("--members names no member");
        }
        return List.copyOf(members);
    }

    private static int portNumber(String flag, String value) {
        return (int) number(flag, value, 0, 1, 65535);
    }

    private static long number(String flag, String value, long fallback, long min, long max) {
        if (value == null) {
            return fallback;
        }
        long n;
        try {
            n = Long.parseLong(value.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(flag + " " + value + " is not a whole number");
        }
        if (n < min || n > max) {
            throw new IllegalArgumentException(flag + " must be from " + min + " to " + max + ", got " + n);
        }
        return n;
    }
}
