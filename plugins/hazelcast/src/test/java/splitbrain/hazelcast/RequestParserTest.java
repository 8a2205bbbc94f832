package splitbrain.hazelcast;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class RequestParserTest {
    private final RequestParser parser = new RequestParser();

    @Test
    void readsAnAcquire() throws BadRequest {
        Request r = parser.parse("{\"id\":1,\"op\":\"acquire\",\"key\":\"splitbrain-lock\",\"ttl_ms\":1000,\"holder\":\"n2-4711-1\"}");
        assertEquals("1", r.id().toString());
        assertTrue(r.isAcquire());
        assertEquals("splitbrain-lock", r.key());
        assertEquals("n2-4711-1", r.holder());
        assertEquals(1000, r.ttlMs());
        assertNull(r.token());
    }

    @Test
    void readsRenewAndReleaseWithTheirToken() throws BadRequest {
        Request renew = parser.parse("{\"id\":2,\"op\":\"renew\",\"key\":\"k\",\"ttl_ms\":500,\"holder\":\"h\",\"token\":42}");
        assertTrue(renew.isRenew());
        assertEquals(500, renew.ttlMs());
        assertEquals(42L, renew.token());
        Request release = parser.parse("{\"id\":3,\"op\":\"release\",\"key\":\"k\",\"holder\":\"h\",\"token\":null}");
        assertTrue(release.isRelease());
        assertNull(release.token());
    }

    @Test
    void anUnknownOpParsesAndAnyIdRoundTrips() throws BadRequest {
        Request r = parser.parse("{\"id\":{\"a\":[1,2]},\"op\":\"frobnicate\"}");
        assertFalse(r.isKnownOp());
        assertEquals("{\"a\":[1,2]}", r.id().toString());
        assertEquals("123456789012345678901234567890",
                parser.parse("{\"id\":123456789012345678901234567890,\"op\":\"x\"}").id().toString());
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "{\"id\":1,\"key\":\"k\",\"holder\":\"h\"}",                                       // no op
        "{\"id\":1,\"op\":7,\"key\":\"k\",\"holder\":\"h\"}",
        "{\"id\":1,\"op\":\"acquire\",\"holder\":\"h\",\"ttl_ms\":1}",                      // no key
        "{\"id\":1,\"op\":\"acquire\",\"key\":\"\",\"holder\":\"h\",\"ttl_ms\":1}",
        "{\"id\":1,\"op\":\"acquire\",\"key\":\"lock@other-group\",\"holder\":\"h\",\"ttl_ms\":1}",
        "{\"id\":1,\"op\":\"acquire\",\"key\":\"k\",\"ttl_ms\":1}",                           // no holder
        "{\"id\":1,\"op\":\"acquire\",\"key\":\"k\",\"holder\":\"\",\"ttl_ms\":1}",
        "{\"id\":1,\"op\":\"acquire\",\"key\":\"k\",\"holder\":\"h\"}",                       // no ttl
        "{\"id\":1,\"op\":\"acquire\",\"key\":\"k\",\"holder\":\"h\",\"ttl_ms\":\"1000\"}",
        "{\"id\":1,\"op\":\"acquire\",\"key\":\"k\",\"holder\":\"h\",\"ttl_ms\":0}",
        "{\"id\":1,\"op\":\"acquire\",\"key\":\"k\",\"holder\":\"h\",\"ttl_ms\":1.5}",
        "{\"id\":1,\"op\":\"acquire\",\"key\":\"k\",\"holder\":\"h\",\"ttl_ms\":2147483648000}",
        "{\"id\":1,\"op\":\"release\",\"key\":\"k\",\"holder\":\"h\",\"token\":\"7\"}",
    })
    void refusesABadRequestThatCarriesAnId(String line) {
        BadRequest e = assertThrows(BadRequest.class, () -> parser.parse(line));
        assertNotNull(e.id(), e.getMessage());
        assertTrue(e.getMessage().startsWith("bad request: "), e.getMessage());
    }

    @ParameterizedTest
    @ValueSource(strings = {"not json", "[1,2]", "{\"op\":\"acquire\"}", "{\"id\":null,\"op\":\"x\"}", "{\"id\":1} {\"id\":2}", "{\"id\":1"})
    void cannotAnswerALineWithoutAnId(String line) {
        BadRequest e = assertThrows(BadRequest.class, () -> parser.parse(line));
        assertNull(e.id(), e.getMessage());
    }
}
