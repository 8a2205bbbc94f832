package splitbrain.hazelcast;

import com.hazelcast.client.HazelcastClient;
import com.hazelcast.client.config.ClientConfig;
import com.hazelcast.config.ListenerConfig;
import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.core.LifecycleEvent;
import com.hazelcast.core.LifecycleListener;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * The plug-in's one Hazelcast client: started on the lock thread before any request,
 * without waiting for the cluster (async start, async reconnect), so that the plug-in
 * answers at once even while every member is unreachable. Its lifecycle events say
 * whether a request can be sent, and when every grant is gone (the client shuts down, or
 * reconnects to a different cluster, whose CP state is new).
 */
final class HazelcastConnection implements LockHandler.Client, LifecycleListener {
    /** A lock in the default CP group, never taken: only looked at while warming up. */
    static final String WARM_UP_LOCK = "splitbrain-warm-up";
    static final long WARM_UP_CONNECT_WAIT_MILLIS = 5000;
    private final PluginSettings settings;
    private final ClientConfigFactory.Timeouts timeouts;
    private final Grants grants;
    private volatile HazelcastCpLocks locks;
    private volatile boolean connected;

    HazelcastConnection(PluginSettings settings, ClientConfigFactory.Timeouts timeouts, Grants grants) {
        this.settings = settings;
        this.timeouts = timeouts;
        this.grants = grants;
    }

    /**
     * Starts the client (it connects in the background), then, once connected, warms up
     * the code paths of a first acquire on a lock of the same CP group: the group look-up,
     * the thread id, the CP session and an ownership query. Cold, a first acquire takes
     * seconds; a request that arrives meanwhile waits on the lock thread and, at its
     * deadline, is refused as never started, which is definite (a cold acquire that timed
     * out would not be).
     */
    void start() {
        long start = System.nanoTime();
        // Built here, on the lock thread, rather than before the plug-in reads its first
        // request: loading Hazelcast's classes takes a while.
        ClientConfig config = ClientConfigFactory.build(settings, timeouts);
        config.addListenerConfig(new ListenerConfig(this));
        HazelcastInstance client = HazelcastClient.newHazelcastClient(config);
        HazelcastCpLocks started = new HazelcastCpLocks(client);
        Log.info("Hazelcast client started in " + millisSince(start) + " ms");
        warmUp(started, start);
        locks = started;
    }

    private void warmUp(HazelcastCpLocks started, long start) {
        long deadline = start + TimeUnit.MILLISECONDS.toNanos(WARM_UP_CONNECT_WAIT_MILLIS);
        while (!connected && System.nanoTime() - deadline < 0) {
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(20));
        }
        if (!connected) {
            Log.info("not connected after " + millisSince(start) + " ms; no warm-up");
            return;
        }
        try {
            CpLock lock = started.get(WARM_UP_LOCK);
            lock.releaseSession(lock.acquireSession());
            lock.isLockedByCurrentThread();
            Log.info("warmed up after " + millisSince(start) + " ms");
        } catch (RuntimeException e) {
            Log.info("warm-up failed after " + millisSince(start) + " ms: " + Text.describe(e));
        }
    }

    private static long millisSince(long startNanos) {
        return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNanos);
    }

    @Override
    public CpLocks locks() {
        return locks;
    }

    @Override
    public boolean connected() {
        return connected;
    }

    @Override
    public void stateChanged(LifecycleEvent event) {
        switch (event.getState()) {
            case CLIENT_CONNECTED -> {
                connected = true;
                Log.info("connected to the cluster");
            }
            case CLIENT_DISCONNECTED -> {
                connected = false;
                Log.info("disconnected from the cluster: no CP session heartbeats until it reconnects"
                        + " (the CP group closes a session after its TTL without one)");
            }
            case CLIENT_CHANGED_CLUSTER -> loseAll("the client reconnected to a different cluster"
                    + " (all members were replaced): the old cluster's CP sessions are gone");
            case SHUTTING_DOWN -> {
                connected = false;
                loseAll("the Hazelcast client is shutting down");
            }
            default -> {
            }
        }
    }

    private void loseAll(String why) {
        grants.all().forEach(g -> grants.lost(g, why));
    }
}
