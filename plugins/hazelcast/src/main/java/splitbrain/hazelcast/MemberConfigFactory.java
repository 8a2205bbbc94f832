package splitbrain.hazelcast;

import com.hazelcast.config.Config;
import com.hazelcast.config.JoinConfig;
import com.hazelcast.config.NetworkConfig;
import com.hazelcast.config.cp.CPSubsystemConfig;
import com.hazelcast.config.cp.RaftAlgorithmConfig;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Builds a member's {@link Config} from its arguments alone: no configuration file, TCP-IP
 * join with the given members only (no multicast, no auto-detection or discovery), every
 * outbound feature off (phone-home, Jet), bound to one address, and failure detection
 * tuned so a 3-member cluster notices a dead member in seconds rather than a minute.
 */
final class MemberConfigFactory {

    /** A member sends its cluster heartbeat this often... */
    static final int HEARTBEAT_INTERVAL_SECONDS = 1;
    /** ...and is removed from the cluster after this long without one (default 60 s). */
    static final int MAX_NO_HEARTBEAT_SECONDS = 5;
    /** A split cluster looks for the other side this soon and this often (defaults 300 s, 120 s). */
    static final int MERGE_FIRST_RUN_DELAY_SECONDS = 5;
    static final int MERGE_NEXT_RUN_DELAY_SECONDS = 5;
    /** The master batches join requests for this long (default 5 s). */
    static final int WAIT_SECONDS_BEFORE_JOIN = 1;
    /** A member-side invocation (a CP call forwarded to the Raft leader) gives up after this (default 60 s). */
    static final int OPERATION_CALL_TIMEOUT_MILLIS = 5000;
    /** Raft: the leader's heartbeat period and how many a follower may miss (defaults 5000 ms and 5). */
    static final int RAFT_LEADER_HEARTBEAT_MILLIS = 1000;
    static final int RAFT_MAX_MISSED_LEADER_HEARTBEATS = 3;
    /** Raft: a candidate waits this long for votes (default 2000 ms). */
    static final int RAFT_LEADER_ELECTION_TIMEOUT_MILLIS = 1000;

    private MemberConfigFactory() {
    }

    static Config build(MemberArgs args, MemberTimings timings) {
        Config config = new Config();
        config.setClusterName(args.clusterName());
        config.setInstanceName("splitbrain-member-" + args.bindIp() + "-" + args.port());
        properties().forEach(config::setProperty);
        configureNetwork(config.getNetworkConfig(), args);
        config.getJetConfig().setEnabled(false);
        configureCp(config.getCPSubsystemConfig(), args, timings);
        return config;
    }

    /** The settings worth a line in the member's log. */
    static List<String> describe(MemberArgs args, MemberTimings timings) {
        List<String> lines = new ArrayList<>();
        lines.add("cluster " + args.clusterName() + ", bind " + args.bindIp() + ":" + args.port()
                + ", TCP-IP join " + String.join(",", args.members()));
        lines.add(args.cpSubsystemOn()
                ? "CP Subsystem on: " + args.cpMembers() + " CP members, group size " + groupSize(args.cpMembers())
                : "CP Subsystem off: CP data structures run in unsafe mode (partitioned, not replicated by Raft)");
        lines.add("CP session TTL " + timings.sessionTtlSeconds() + " s, heartbeat " + timings.heartbeatSeconds()
                + " s (asked " + args.sessionTtlMs() + " ms and " + args.heartbeatMs() + " ms)");
        timings.adjustments().forEach(a -> lines.add("  " + a));
        lines.add("failure detection: member heartbeat every " + HEARTBEAT_INTERVAL_SECONDS + " s, removed after "
                + MAX_NO_HEARTBEAT_SECONDS + " s without one; split-brain merge first after "
                + MERGE_FIRST_RUN_DELAY_SECONDS + " s, then every " + MERGE_NEXT_RUN_DELAY_SECONDS + " s");
        if (args.cpSubsystemOn()) {
            lines.add("Raft: leader heartbeat every " + RAFT_LEADER_HEARTBEAT_MILLIS + " ms, leader suspected after "
                    + RAFT_MAX_MISSED_LEADER_HEARTBEATS + " missed, election timeout "
                    + RAFT_LEADER_ELECTION_TIMEOUT_MILLIS + " ms");
        }
        return lines;
    }

    static Map<String, String> properties() {
        return Map.ofEntries(
                Map.entry("hazelcast.phone.home.enabled", "false"),
                Map.entry("hazelcast.socket.bind.any", "false"),
                Map.entry("hazelcast.logging.type", "jdk"),
                Map.entry("hazelcast.heartbeat.interval.seconds", Integer.toString(HEARTBEAT_INTERVAL_SECONDS)),
                Map.entry("hazelcast.max.no.heartbeat.seconds", Integer.toString(MAX_NO_HEARTBEAT_SECONDS)),
                Map.entry("hazelcast.merge.first.run.delay.seconds", Integer.toString(MERGE_FIRST_RUN_DELAY_SECONDS)),
                Map.entry("hazelcast.merge.next.run.delay.seconds", Integer.toString(MERGE_NEXT_RUN_DELAY_SECONDS)),
                Map.entry("hazelcast.wait.seconds.before.join", Integer.toString(WAIT_SECONDS_BEFORE_JOIN)),
                Map.entry("hazelcast.operation.call.timeout.millis", Integer.toString(OPERATION_CALL_TIMEOUT_MILLIS)));
    }

    private static void configureNetwork(NetworkConfig network, MemberArgs args) {
        network.setPort(args.port()).setPortAutoIncrement(false).setPortCount(1);
        network.setReuseAddress(true); // a restarted member binds its port again at once
        network.setPublicAddress(args.bindIp() + ":" + args.port());
        network.getInterfaces().setEnabled(true).clear().addInterface(args.bindIp());
        JoinConfig join = network.getJoin();
        join.getMulticastConfig().setEnabled(false);
        join.getAutoDetectionConfig().setEnabled(false);
        join.getTcpIpConfig().setEnabled(true).setMembers(args.members());
    }

    private static void configureCp(CPSubsystemConfig cp, MemberArgs args, MemberTimings timings) {
        if (args.cpSubsystemOn()) {
            cp.setCPMemberCount(args.cpMembers()).setGroupSize(groupSize(args.cpMembers()));
        }
        cp.setSessionTimeToLiveSeconds(timings.sessionTtlSeconds());
        cp.setSessionHeartbeatIntervalSeconds(timings.heartbeatSeconds());
        // Hazelcast wants the TTL no longer than the auto-removal of a missing CP member (4 h).
        cp.setMissingCPMemberAutoRemovalSeconds(
                Math.max(CPSubsystemConfig.DEFAULT_MISSING_CP_MEMBER_AUTO_REMOVAL_SECONDS, timings.sessionTtlSeconds()));
        RaftAlgorithmConfig raft = cp.getRaftAlgorithmConfig();
        raft.setLeaderHeartbeatPeriodInMillis(RAFT_LEADER_HEARTBEAT_MILLIS);
        raft.setMaxMissedLeaderHeartbeatCount(RAFT_MAX_MISSED_LEADER_HEARTBEATS);
        raft.setLeaderElectionTimeoutInMillis(RAFT_LEADER_ELECTION_TIMEOUT_MILLIS);
    }

    /** A Raft group has an odd size: all the CP members, or one fewer. */
    static int groupSize(int cpMembers) {
        return cpMembers % 2 == 1 ? cpMembers : cpMembers - 1;
    }
}
