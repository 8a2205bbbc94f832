package splitbrain.hazelcast;

import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Notices, between requests, that a grant's CP session has ended: the client's session
 * heartbeat (every heartbeat interval) drops a session the CP group answers is expired or
 * closed, and from then on the session id the client holds for the lock's group is another
 * (or none). A look-up in the client's memory, every {@value #PERIOD_MS} ms; no call to the
 * cluster.
 */
final class LostWatcher {
    static final long PERIOD_MS = 200;

    private LostWatcher() {
    }

    static ScheduledExecutorService start(Grants grants) {
        ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "lost-watcher");
            t.setDaemon(true);
            return t;
        });
        timer.scheduleWithFixedDelay(() -> {
            try {
                check(grants);
            } catch (RuntimeException e) { // a task that throws is never run again
                Log.info("checking the grants' CP sessions failed: " + Text.describe(e));
            }
        }, PERIOD_MS, PERIOD_MS, TimeUnit.MILLISECONDS);
        return timer;
    }

    static void check(Grants grants) {
        for (Grant g : grants.all()) {
            if (g.ended() || g.releaseUnknown()) {
                continue;
            }
            long now = g.lock.sessionId();
            if (now != g.sessionId) {
                grants.lost(g, "CP session " + g.sessionId + " ended: the CP group told the client's session"
                        + " heartbeat it had expired or was closed" + (now < 0 ? "" : " (the client now has session " + now + ")"));
            }
        }
    }
}
