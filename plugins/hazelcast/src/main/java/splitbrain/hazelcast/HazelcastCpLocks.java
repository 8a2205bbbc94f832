package splitbrain.hazelcast;

import com.hazelcast.client.impl.clientside.HazelcastClientProxy;
import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.cp.internal.RaftGroupId;
import com.hazelcast.cp.internal.session.AbstractProxySessionManager;
import com.hazelcast.cp.lock.FencedLock;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The client's FencedLocks ({@code client.getCPSubsystem().getLock(key)}), one proxy per
 * name, kept: the proxy remembers which session took the lock for which thread, and that
 * is how it knows, after a session loss, that ownership was lost.
 *
 * <p>Two things FencedLock's interface does not offer come from the client's CP session
 * manager (Hazelcast's internal API, pinned at 5.4.0): opening the session before the lock
 * is asked for, so that a failure there is known to have sent no lock request; and the
 * current session id, a local look-up that changes when the session heartbeat learns the
 * session has expired, which is how the plug-in notices a lost lock between requests.
 */
final class HazelcastCpLocks implements CpLocks {
    private final HazelcastInstance client;
    private final AbstractProxySessionManager sessions;
    private final Map<String, CpLock> byKey = new ConcurrentHashMap<>();

    HazelcastCpLocks(HazelcastInstance client) {
        this.client = client;
        this.sessions = ((HazelcastClientProxy) client).client.getProxySessionManager();
    }

    @Override
    public CpLock get(String key) {
        CpLock lock = byKey.get(key);
        if (lock == null) {
            lock = new Handle(client.getCPSubsystem().getLock(key));
            byKey.put(key, lock);
        }
        return lock;
    }

    private final class Handle implements CpLock {
        private final FencedLock lock;
        private final RaftGroupId group;

        Handle(FencedLock lock) {
            this.lock = lock;
            this.group = (RaftGroupId) lock.getGroupId();
        }

        @Override
        public long acquireSession() {
            sessions.getOrCreateUniqueThreadId(group); // the lock thread's cluster-wide id
            return sessions.acquireSession(group);
        }

        @Override
        public void releaseSession(long sessionId) {
            sessions.releaseSession(group, sessionId);
        }

        @Override
        public long tryLockAndGetFence() {
            return lock.tryLockAndGetFence();
        }

        @Override
        public void unlock() {
            lock.unlock();
        }

        @Override
        public boolean isLockedByCurrentThread() {
            return lock.isLockedByCurrentThread();
        }

        @Override
        public long sessionId() {
            return sessions.getSession(group);
        }
    }
}
