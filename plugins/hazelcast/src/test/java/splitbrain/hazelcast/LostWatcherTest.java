package splitbrain.hazelcast;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class LostWatcherTest {
    private final List<String> lost = new ArrayList<>();
    private final Grants grants = new Grants((g, detail) -> lost.add(g.holder + " " + g.fence + ": " + detail));

    @Test
    void reportsAGrantOnceWhenItsSessionEnds() {
        FakeCpLock lock = new FakeCpLock();
        long session = lock.acquireSession();
        grants.add(new Grant("k", "h1", 17, session, lock, 0));
        LostWatcher.check(grants);
        assertTrue(lost.isEmpty(), lost.toString());

        lock.expireSession();
        LostWatcher.check(grants);
        LostWatcher.check(grants);
        assertEquals(1, lost.size(), lost.toString());
        assertTrue(lost.get(0).startsWith("h1 17: CP session 1 ended"), lost.toString());
    }

    @Test
    void aNewSessionAlsoMeansTheOldOneEnded() {
        FakeCpLock lock = new FakeCpLock();
        grants.add(new Grant("k", "h1", 17, lock.acquireSession(), lock, 0));
        lock.expireSession();
        lock.acquireSession();
        LostWatcher.check(grants);
        assertEquals(1, lost.size());
        assertTrue(lost.get(0).contains("now has session 2"), lost.toString());
    }

    @Test
    void aGrantWhoseReleaseIsUnderWayIsNotReported() {
        FakeCpLock lock = new FakeCpLock();
        Grant g = new Grant("k", "h1", 17, lock.acquireSession(), lock, 0);
        grants.add(g);
        g.markReleaseUnknown();
        lock.expireSession();
        LostWatcher.check(grants);
        assertTrue(lost.isEmpty(), lost.toString());
    }
}
