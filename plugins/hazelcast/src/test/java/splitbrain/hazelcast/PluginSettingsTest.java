package splitbrain.hazelcast;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.hazelcast.client.config.ClientConfig;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class PluginSettingsTest {

    @Test
    void readsTheEnvironment() {
        PluginSettings s = PluginSettings.fromEnv(Map.of("SPLITBRAIN_HAZELCAST", "10.0.0.1:5701, 10.0.0.2:5701,10.0.0.3:5701",
                "SPLITBRAIN_OP_TIMEOUT_MS", "1666", "SPLITBRAIN_FENCING", "on", "SPLITBRAIN_EVENTS", "foo, lost",
                "SPLITBRAIN_NODE", "n2"));
        assertEquals(List.of("10.0.0.1:5701", "10.0.0.2:5701", "10.0.0.3:5701"), s.members());
        assertEquals(Duration.ofMillis(1666), s.opTimeout());
        assertTrue(s.fencing());
        assertTrue(s.lostEvents());
        assertEquals("n2", s.node());
    }

    @Test
    void defaults() {
        PluginSettings s = PluginSettings.fromEnv(Map.of("SPLITBRAIN_HAZELCAST", "h:1", "SPLITBRAIN_EVENTS", "lostish"));
        assertEquals(PluginSettings.DEFAULT_OP_TIMEOUT, s.opTimeout());
        assertFalse(s.fencing());
        assertFalse(s.lostEvents());
    }

    @Test
    void refusesWhatItCannotUse() {
        assertThrows(IllegalArgumentException.class, () -> PluginSettings.fromEnv(Map.of()));
        assertThrows(IllegalArgumentException.class, () -> PluginSettings.fromEnv(Map.of("SPLITBRAIN_HAZELCAST", "h")));
        assertThrows(IllegalArgumentException.class, () -> PluginSettings.fromEnv(Map.of("SPLITBRAIN_HAZELCAST", "h:0")));
        assertThrows(IllegalArgumentException.class, () -> PluginSettings.fromEnv(Map.of("SPLITBRAIN_HAZELCAST", " , ")));
        assertThrows(IllegalArgumentException.class,
                () -> PluginSettings.fromEnv(Map.of("SPLITBRAIN_HAZELCAST", "h:1", "SPLITBRAIN_OP_TIMEOUT_MS", "0")));
    }

    @Test
    void clientTimeoutsStayWithinTheOpTimeout() {
        Budget budget = Budget.of(Duration.ofMillis(1666));
        assertEquals(166_600_000L, budget.marginNanos());
        assertEquals(1499, budget.usableMillis());
        ClientConfigFactory.Timeouts t = ClientConfigFactory.Timeouts.within(budget);
        assertEquals(1, t.invocationTimeoutSeconds());
        assertEquals(749, t.connectionTimeoutMillis());
        assertEquals(749, t.connectMaxBackoffMillis());
        assertEquals(4, ClientConfigFactory.Timeouts.within(Budget.of(Duration.ofMillis(5000))).invocationTimeoutSeconds());
        assertEquals(1, ClientConfigFactory.Timeouts.within(Budget.of(Duration.ofMillis(300))).invocationTimeoutSeconds());
        assertEquals(250_000_000L, Budget.of(Duration.ofMillis(5000)).marginNanos());
        assertEquals(5_000_000L, Budget.of(Duration.ofMillis(10)).marginNanos()); // at most half
    }

    @Test
    void theClientUsesOnlyTheGivenMembersWithSmartRouting() {
        PluginSettings s = PluginSettings.fromEnv(Map.of("SPLITBRAIN_HAZELCAST", "10.0.0.1:5701,10.0.0.2:5701"));
        ClientConfigFactory.Timeouts t = ClientConfigFactory.Timeouts.within(Budget.of(s.opTimeout()));
        ClientConfig c = ClientConfigFactory.build(s, t);
        assertEquals("splitbrain", c.getClusterName());
        assertEquals(List.of("10.0.0.1:5701", "10.0.0.2:5701"), c.getNetworkConfig().getAddresses());
        assertTrue(c.getNetworkConfig().isSmartRouting());
        assertFalse(c.getNetworkConfig().isRedoOperation());
        assertFalse(c.getNetworkConfig().getAutoDetectionConfig().isEnabled());
        assertTrue(c.getConnectionStrategyConfig().isAsyncStart());
        assertEquals("1", c.getProperty("hazelcast.client.invocation.timeout.seconds"));
        assertEquals(-1, c.getConnectionStrategyConfig().getConnectionRetryConfig().getClusterConnectTimeoutMillis());
    }
}
