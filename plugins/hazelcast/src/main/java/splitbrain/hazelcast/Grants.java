package splitbrain.hazelcast;

import java.util.Collection;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The grants of this process, at most one per key (the lock thread owns each lock at most
 * once: it never re-enters). The lock thread adds and removes them; the watcher and the
 * client's listener only mark them lost.
 */
final class Grants {
    /** Told once per grant that ended without the lock thread ending it. */
    interface LostListener {
        void lost(Grant grant, String detail);
    }

    private final ConcurrentHashMap<String, Grant> byKey = new ConcurrentHashMap<>();
    private final LostListener listener;

    Grants(LostListener listener) {
        this.listener = listener;
    }

    Grant get(String key) {
        return byKey.get(key);
    }

    void add(Grant grant) {
        byKey.put(grant.key, grant);
    }

    Collection<Grant> all() {
        return List.copyOf(byKey.values());
    }

    /** The grant is over and a reply says so (or nobody needs telling). */
    void remove(Grant grant) {
        grant.end();
        byKey.remove(grant.key, grant);
    }

    /**
     * The client learnt on its own that the grant is gone: tell the listener, once. The
     * grant stays until the lock thread next touches its key (and learns the same from the
     * FencedLock proxy).
     */
    void lost(Grant grant, String detail) {
        if (grant.end()) {
            listener.lost(grant, detail);
        }
    }
}
