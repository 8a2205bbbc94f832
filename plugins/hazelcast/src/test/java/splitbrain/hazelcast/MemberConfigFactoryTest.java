package splitbrain.hazelcast;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.hazelcast.config.Config;
import com.hazelcast.config.JoinConfig;
import com.hazelcast.config.NetworkConfig;
import com.hazelcast.config.cp.CPSubsystemConfig;
import com.hazelcast.internal.config.ConfigValidator;
import java.util.List;
import org.junit.jupiter.api.Test;

class MemberConfigFactoryTest {
    private static final String MEMBERS = "10.0.0.1:5701,10.0.0.2:5701,10.0.0.3:5701";

    private static Config build(String... extra) {
        String[] base = {"--bind", "10.0.0.2", "--port", "5701", "--members", MEMBERS};
        String[] all = new String[base.length + extra.length];
        System.arraycopy(base, 0, all, 0, base.length);
        System.arraycopy(extra, 0, all, base.length, extra.length);
        MemberArgs args = MemberArgs.parse(all);
        return MemberConfigFactory.build(args, MemberTimings.choose(args.sessionTtlMs(), args.heartbeatMs()));
    }

    @Test
    void cpOnMakesAThreeMemberCpGroup() {
        CPSubsystemConfig cp = build("--cp-members", "3").getCPSubsystemConfig();
        assertEquals(3, cp.getCPMemberCount());
        assertEquals(3, cp.getGroupSize());
        ConfigValidator.checkCPSubsystemConfig(cp); // what Hazelcast checks at start
    }

    @Test
    void cpOffLeavesTheCpSubsystemInUnsafeMode() {
        CPSubsystemConfig cp = build("--cp-members", "0").getCPSubsystemConfig();
        assertEquals(0, cp.getCPMemberCount());
        assertEquals(0, cp.getGroupSize());
        assertEquals(3, cp.getSessionTimeToLiveSeconds()); // sessions exist in unsafe mode too
    }

    @Test
    void sessionTimingsAreTheRoundedOnes() {
        CPSubsystemConfig cp = build("--session-ttl-ms", "2500", "--heartbeat-ms", "1000").getCPSubsystemConfig();
        assertEquals(3, cp.getSessionTimeToLiveSeconds());
        assertEquals(1, cp.getSessionHeartbeatIntervalSeconds());
        cp = build("--session-ttl-ms", "500", "--heartbeat-ms", "200").getCPSubsystemConfig();
        assertEquals(2, cp.getSessionTimeToLiveSeconds());
        assertEquals(1, cp.getSessionHeartbeatIntervalSeconds());
        ConfigValidator.checkCPSubsystemConfig(cp);
    }

    @Test
    void aHugeTtlStillPassesHazelcastsCheck() {
        CPSubsystemConfig cp = build("--session-ttl-ms", "86400000").getCPSubsystemConfig();
        assertEquals(86400, cp.getSessionTimeToLiveSeconds());
        ConfigValidator.checkCPSubsystemConfig(cp);
    }

    @Test
    void bindsOneAddressAndJoinsOnlyTheGivenMembers() {
        Config c = build();
        assertEquals("splitbrain", c.getClusterName());
        NetworkConfig net = c.getNetworkConfig();
        assertEquals(5701, net.getPort());
        assertFalse(net.isPortAutoIncrement());
        assertTrue(net.getInterfaces().isEnabled());
        assertEquals(List.of("10.0.0.2"), List.copyOf(net.getInterfaces().getInterfaces()));
        assertEquals("10.0.0.2:5701", net.getPublicAddress());
        assertEquals("false", c.getProperty("hazelcast.socket.bind.any"));
        JoinConfig join = net.getJoin();
        assertFalse(join.getMulticastConfig().isEnabled());
        assertFalse(join.getAutoDetectionConfig().isEnabled());
        assertTrue(join.getTcpIpConfig().isEnabled());
        assertEquals(List.of("10.0.0.1:5701", "10.0.0.2:5701", "10.0.0.3:5701"), join.getTcpIpConfig().getMembers());
    }

    @Test
    void outboundFeaturesAreOffAndFailureDetectionIsQuick() {
        Config c = build();
        assertEquals("false", c.getProperty("hazelcast.phone.home.enabled"));
        assertFalse(c.getJetConfig().isEnabled());
        assertEquals("1", c.getProperty("hazelcast.heartbeat.interval.seconds"));
        assertEquals("5", c.getProperty("hazelcast.max.no.heartbeat.seconds"));
        assertEquals("5", c.getProperty("hazelcast.merge.first.run.delay.seconds"));
        assertEquals(1000, c.getCPSubsystemConfig().getRaftAlgorithmConfig().getLeaderHeartbeatPeriodInMillis());
        assertEquals(3, c.getCPSubsystemConfig().getRaftAlgorithmConfig().getMaxMissedLeaderHeartbeatCount());
    }

    @Test
    void describesTheChosenSettings() {
        MemberArgs args = MemberArgs.parse("--bind", "10.0.0.2", "--port", "5701", "--members", MEMBERS,
                "--session-ttl-ms", "1500", "--cp-members", "0");
        String text = String.join("\n", MemberConfigFactory.describe(args, MemberTimings.choose(1500, 1000)));
        assertTrue(text.contains("CP Subsystem off"), text);
        assertTrue(text.contains("CP session TTL 2 s, heartbeat 1 s (asked 1500 ms and 1000 ms)"), text);
        assertTrue(text.contains("removed after 5 s"), text);
    }
}
