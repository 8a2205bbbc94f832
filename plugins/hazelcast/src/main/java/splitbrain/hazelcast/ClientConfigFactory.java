package splitbrain.hazelcast;

import com.hazelcast.client.config.ClientConfig;
import com.hazelcast.client.config.ClientConnectionStrategyConfig;
import com.hazelcast.client.config.ClientConnectionStrategyConfig.ReconnectMode;
import com.hazelcast.client.config.ClientNetworkConfig;
import com.hazelcast.client.config.ConnectionRetryConfig;
import java.util.List;
import java.util.Map;

/**
 * The plug-in's client configuration: the members from SPLITBRAIN_HAZELCAST, smart
 * routing, no discovery of any kind, and every timeout within the agent's bound on a
 * request.
 */
final class ClientConfigFactory {
    /** Retry a failed invocation after this pause (default 1000 ms). */
    static final int INVOCATION_RETRY_PAUSE_MILLIS = 100;
    /** The client's heartbeat to each member, and how long a silent connection lives (defaults 5 s, 60 s). */
    static final int HEARTBEAT_INTERVAL_MILLIS = 1000;
    static final int HEARTBEAT_TIMEOUT_MILLIS = 5000;
    static final int CONNECT_INITIAL_BACKOFF_MILLIS = 100;

    /**
     * The timeouts the client gets from the agent's bound.
     *
     * @param invocationTimeoutSeconds an invocation that fails is retried until this much
     *     time has passed since it started (Hazelcast counts whole seconds, at least 1)
     * @param connectionTimeoutMillis opening one connection
     * @param connectMaxBackoffMillis the longest pause between attempts to reach the cluster
     *     (the client never gives up: the cluster connect timeout is infinite)
     */
    record Timeouts(int invocationTimeoutSeconds, int connectionTimeoutMillis, int connectMaxBackoffMillis) {
        static Timeouts within(Budget budget) {
            long usable = budget.usableMillis();
            int invocation = (int) Math.max(1, usable / 1000);
            int half = (int) Math.max(100, usable / 2);
            return new Timeouts(invocation, half, half);
        }
    }

    private ClientConfigFactory() {
    }

    static ClientConfig build(PluginSettings settings, Timeouts timeouts) {
        ClientConfig config = new ClientConfig();
        config.setClusterName(PluginSettings.CLUSTER_NAME);
        config.setInstanceName("splitbrain-plugin-" + (settings.node().isEmpty() ? "" : settings.node() + "-")
                + ProcessHandle.current().pid());
        properties(timeouts).forEach(config::setProperty);
        config.getMetricsConfig().setEnabled(false);

        ClientNetworkConfig network = config.getNetworkConfig();
        network.setAddresses(settings.members());
        network.setSmartRouting(true);
        network.setRedoOperation(false);
        network.setConnectionTimeout(timeouts.connectionTimeoutMillis());
        network.getAutoDetectionConfig().setEnabled(false);
        network.getCloudConfig().setEnabled(false);

        ClientConnectionStrategyConfig strategy = config.getConnectionStrategyConfig();
        strategy.setAsyncStart(true).setReconnectMode(ReconnectMode.ASYNC);
        ConnectionRetryConfig retry = strategy.getConnectionRetryConfig();
        retry.setInitialBackoffMillis(CONNECT_INITIAL_BACKOFF_MILLIS)
                .setMaxBackoffMillis(timeouts.connectMaxBackoffMillis())
                .setMultiplier(2)
                .setJitter(0.2)
                .setClusterConnectTimeoutMillis(ConnectionRetryConfig.DEFAULT_CLUSTER_CONNECT_TIMEOUT_MILLIS);
        return config;
    }

    static Map<String, String> properties(Timeouts timeouts) {
        return Map.of(
                "hazelcast.logging.type", "jdk",
                "hazelcast.client.invocation.timeout.seconds", Integer.toString(timeouts.invocationTimeoutSeconds()),
                "hazelcast.client.invocation.retry.pause.millis", Integer.toString(INVOCATION_RETRY_PAUSE_MILLIS),
                "hazelcast.client.heartbeat.interval", Integer.toString(HEARTBEAT_INTERVAL_MILLIS),
                "hazelcast.client.heartbeat.timeout", Integer.toString(HEARTBEAT_TIMEOUT_MILLIS));
    }

    static List<String> describe(PluginSettings settings, Timeouts timeouts) {
        return List.of(
                "node " + settings.node() + ": members " + String.join(",", settings.members()) + ", cluster "
                        + PluginSettings.CLUSTER_NAME + ", op timeout " + settings.opTimeout().toMillis() + " ms, fencing "
                        + (settings.fencing() ? "on" : "off") + ", lost events " + (settings.lostEvents() ? "on" : "off"),
                "client: invocation timeout " + timeouts.invocationTimeoutSeconds() + " s (retry pause "
                        + INVOCATION_RETRY_PAUSE_MILLIS + " ms), connection timeout " + timeouts.connectionTimeoutMillis()
                        + " ms, reconnect backoff " + CONNECT_INITIAL_BACKOFF_MILLIS + " to "
                        + timeouts.connectMaxBackoffMillis() + " ms (never gives up), heartbeat every "
                        + HEARTBEAT_INTERVAL_MILLIS + " ms, connection dropped after " + HEARTBEAT_TIMEOUT_MILLIS
                        + " ms of silence");
    }
}
