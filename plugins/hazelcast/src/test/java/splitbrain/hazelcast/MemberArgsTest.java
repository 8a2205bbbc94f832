package splitbrain.hazelcast;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class MemberArgsTest {
    private static final String MEMBERS = "10.0.0.1:5701,10.0.0.2:5701,10.0.0.3:5701";

    @Test
    void readsEveryFlag() {
        MemberArgs a = MemberArgs.parse("--bind", "10.0.0.2", "--port", "5701", "--members", MEMBERS,
                "--cluster-name", "splitbrain", "--cp-members", "3", "--session-ttl-ms", "2500", "--heartbeat-ms", "500");
        assertEquals("10.0.0.2", a.bindIp());
        assertEquals(5701, a.port());
        assertEquals(List.of("10.0.0.1:5701", "10.0.0.2:5701", "10.0.0.3:5701"), a.members());
        assertEquals("splitbrain", a.clusterName());
        assertEquals(3, a.cpMembers());
        assertTrue(a.cpSubsystemOn());
        assertEquals(2500, a.sessionTtlMs());
        assertEquals(500, a.heartbeatMs());
    }

    @Test
    void aStatusPortIsOptionalAndNeverTheMembersOwn() {
        MemberArgs none = MemberArgs.parse("--bind", "10.0.0.2", "--port", "5701", "--members", MEMBERS);
        assertEquals(0, none.statusPort());
        assertEquals(MemberArgs.DEFAULT_LOCK_KEY, none.lockKey());
        MemberArgs some = MemberArgs.parse("--bind", "10.0.0.2", "--port", "5701", "--members", MEMBERS,
                "--status-port", "5801", "--lock-key", "k");
        assertEquals(5801, some.statusPort());
        assertEquals("k", some.lockKey());
        IllegalArgumentException same = assertThrows(IllegalArgumentException.class, () -> MemberArgs.parse(
                "--bind", "10.0.0.2", "--port", "5701", "--members", MEMBERS, "--status-port", "5701"));
        assertTrue(same.getMessage().contains("own --port"), same.getMessage());
    }

    @Test
    void fillsInDefaultsAndTakesFlagEqualsValue() {
        MemberArgs a = MemberArgs.parse("--bind=127.0.0.1", "--port=5702", "--members= 127.0.0.1:5701 ,127.0.0.1:5702,,127.0.0.1:5703");
        assertEquals(List.of("127.0.0.1:5701", "127.0.0.1:5702", "127.0.0.1:5703"), a.members());
        assertEquals("splitbrain", a.clusterName());
        assertEquals(3, a.cpMembers());
        assertEquals(MemberArgs.DEFAULT_SESSION_TTL_MS, a.sessionTtlMs());
        assertEquals(MemberArgs.DEFAULT_HEARTBEAT_MS, a.heartbeatMs());
    }

    @Test
    void cpMembersZeroTurnsTheCpSubsystemOff() {
        MemberArgs a = MemberArgs.parse("--bind", "10.0.0.1", "--port", "5701", "--members", MEMBERS, "--cp-members", "0");
        assertFalse(a.cpSubsystemOn());
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "--port 5701 --members " + MEMBERS,                                   // no --bind
        "--bind 10.0.0.1 --members " + MEMBERS,                               // no --port
        "--bind 10.0.0.1 --port 5701",                                        // no --members
        "--bind 0.0.0.0 --port 5701 --members " + MEMBERS,                    // every interface
        "--bind node1 --port 5701 --members " + MEMBERS,                      // a name, not an address
        "--bind 10.0.0.256 --port 5701 --members " + MEMBERS,
        "--bind 10.0.0.1 --port 0 --members " + MEMBERS,
        "--bind 10.0.0.1 --port 65536 --members " + MEMBERS,
        "--bind 10.0.0.1 --port 5701 --members 10.0.0.1",                     // no port
        "--bind 10.0.0.1 --port 5701 --members 10.0.0.1:5701,10.0.0.1:5701",  // twice
        "--bind 10.0.0.1 --port 5701 --members ,",
        "--bind 10.0.0.1 --port 5701 --members " + MEMBERS + " --cp-members 1",
        "--bind 10.0.0.1 --port 5701 --members " + MEMBERS + " --cp-members 2",
        "--bind 10.0.0.1 --port 5701 --members " + MEMBERS + " --cp-members 5", // more than the members
        "--bind 10.0.0.1 --port 5701 --members " + MEMBERS + " --session-ttl-ms 0",
        "--bind 10.0.0.1 --port 5701 --members " + MEMBERS + " --heartbeat-ms -1",
        "--bind 10.0.0.1 --port 5701 --members " + MEMBERS + " --session-ttl-ms 2s",
        "--bind 10.0.0.1 --port 5701 --members " + MEMBERS + " --multicast",   // unknown
        "--bind 10.0.0.1 --port 5701 --members " + MEMBERS + " --port 5702",   // twice
        "--bind 10.0.0.1 --port 5701 --members " + MEMBERS + " --heartbeat-ms", // no value
    })
    void refusesBadArguments(String line) {
        assertThrows(IllegalArgumentException.class, () -> MemberArgs.parse(line.split(" ")));
    }

    @Test
    void saysWhatIsWrong() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> MemberArgs.parse("--bind", "0.0.0.0", "--port", "5701", "--members", MEMBERS));
        assertTrue(e.getMessage().contains("every interface"), e.getMessage());
    }
}
