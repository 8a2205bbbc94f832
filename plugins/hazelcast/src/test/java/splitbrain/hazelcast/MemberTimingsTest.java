package splitbrain.hazelcast;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class MemberTimingsTest {

    @ParameterizedTest(name = "ttl {0} ms, heartbeat {1} ms -> {2} s, {3} s")
    @CsvSource({
        "2000, 1000, 2, 1",
        "3000, 1000, 3, 1",
        "2001, 1000, 3, 1",     // rounded up, never down
        "2500, 500, 3, 1",      // heartbeat at least 1 s
        "1000, 1000, 2, 1",     // TTL raised to the minimum: it must exceed the heartbeat
        "1, 1, 2, 1",
        "3000, 5000, 3, 2",     // heartbeat lowered below the TTL
        "10000, 3000, 10, 3",
    })
    void roundsUpAndClampsToHazelcastsMinimums(long ttlMs, long heartbeatMs, int ttlS, int heartbeatS) {
        MemberTimings t = MemberTimings.choose(ttlMs, heartbeatMs);
        assertEquals(ttlS, t.sessionTtlSeconds());
        assertEquals(heartbeatS, t.heartbeatSeconds());
        assertTrue(t.sessionTtlSeconds() > t.heartbeatSeconds());
    }

    @Test
    void saysWhatItChanged() {
        assertTrue(MemberTimings.choose(2000, 1000).adjustments().isEmpty());
        MemberTimings t = MemberTimings.choose(1500, 1000);
        assertEquals(1, t.adjustments().size(), t.adjustments().toString());
        assertTrue(t.adjustments().get(0).contains("rounded up to 2 s"), t.adjustments().toString());
        assertTrue(String.join(" ", MemberTimings.choose(800, 1000).adjustments()).contains("minimum 2 s"));
    }
}
