package splitbrain.hazelcast;

import java.util.ArrayList;
import java.util.List;

/**
 * The CP session timings a member runs with, chosen from the milliseconds asked for.
 * Hazelcast counts both in whole seconds, needs a heartbeat of at least 1 s and a TTL
 * greater than the heartbeat (so at least 2 s), and checks for expired sessions once a
 * second.
 *
 * @param sessionTtlSeconds a CP session lives this long after the last heartbeat the CP
 *     group received; a FencedLock is held as long as its holder's session lives
 * @param heartbeatSeconds how often a client sends its session heartbeat
 * @param adjustments what was changed from what was asked, in words (empty if nothing)
 */
record MemberTimings(int sessionTtlSeconds, int heartbeatSeconds, List<String> adjustments) {

    static final int MIN_HEARTBEAT_SECONDS = 1;
    /** The TTL must be greater than the heartbeat interval (Hazelcast's config check). */
    static final int MIN_SESSION_TTL_SECONDS = MIN_HEARTBEAT_SECONDS + 1;

    static MemberTimings choose(long sessionTtlMs, long heartbeatMs) {
        List<String> notes = new ArrayList<>();
        int ttl = wholeSecondsUp(sessionTtlMs);
        if (ttl * 1000L != sessionTtlMs) {
            notes.add("session TTL " + sessionTtlMs + " ms rounded up to " + ttl + " s (Hazelcast counts whole seconds)");
        }
        if (ttl < MIN_SESSION_TTL_SECONDS) {
            notes.add("session TTL raised from " + ttl + " s to Hazelcast's minimum " + MIN_SESSION_TTL_SECONDS
                    + " s (it must exceed the heartbeat interval, at least 1 s)");
            ttl = MIN_SESSION_TTL_SECONDS;
        }
        int heartbeat = wholeSecondsUp(heartbeatMs);
        if (heartbeat * 1000L != heartbeatMs) {
            notes.add("heartbeat " + heartbeatMs + " ms rounded up to " + heartbeat + " s");
        }
        if (heartbeat >= ttl) {
            notes.add("heartbeat lowered from " + heartbeat + " s to " + (ttl - 1) + " s: it must be below the session TTL");
            heartbeat = ttl - 1;
        }
        return new MemberTimings(ttl, heartbeat, List.copyOf(notes));
    }

    private static int wholeSecondsUp(long millis) {
        return (int) Math.max(1, (millis + 999) / 1000);
    }
}
