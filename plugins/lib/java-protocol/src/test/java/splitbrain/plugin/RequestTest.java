package splitbrain.plugin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class RequestTest {
  /** A lock system's key rules, as a plug-in brings them: here, no empty key and no "/". */
  static String checkKey(String key) {
    if (key.isEmpty()) {
      return "is empty";
    }
    return key.contains("/") ? "contains \"/\"" : null;
  }

  private static Request parse(String line) throws Request.BadRequest {
    return Request.parse(line, RequestTest::checkKey);
  }

  private static Request.BadRequest refused(String line) {
    return assertThrows(Request.BadRequest.class, () -> parse(line));
  }

  @Test
  void anAcquireHasItsKeyHolderAndTtl() throws Exception {
    Request r =
        parse("{\"id\":1,\"op\":\"acquire\",\"key\":\"splitbrain-lock\",\"ttl_ms\":1000,\"holder\":\"n2-1\"}");
    assertEquals("1", r.id().toString());
    assertEquals("acquire", r.op());
    assertEquals("splitbrain-lock", r.key());
    assertEquals(1000, r.ttlMs());
    assertEquals("n2-1", r.holder());
  }

  @Test
  void aRenewHasATtlAReleaseNoneAndBothIgnoreTheToken() throws Exception {
    Request release = parse("{\"id\":3,\"op\":\"release\",\"key\":\"k\",\"holder\":\"h\",\"token\":42}");
    assertEquals(0, release.ttlMs());
    Request renew =
        parse("{\"id\":4,\"op\":\"renew\",\"key\":\"k\",\"ttl_ms\":5,\"holder\":\"h\",\"token\":null}");
    assertEquals(5, renew.ttlMs());
    assertEquals(
        "bad request: renew without ttl_ms",
        refused("{\"id\":4,\"op\":\"renew\",\"key\":\"k\",\"holder\":\"h\"}").getMessage());
  }

  @Test
  void anyIdButNullIsEchoedVerbatim() throws Exception {
    Request r = parse("{\"id\":{\"a\":[1,\"x\"]},\"op\":\"ping\"}");
    assertEquals("{\"a\":[1,\"x\"]}", r.id().toString());
  }

  @Test
  void anUnknownOpParsesWithoutItsFields() throws Exception {
    Request r = parse("{\"id\":7,\"op\":\"frobnicate\"}");
    assertEquals("frobnicate", r.op());
    assertEquals("", r.key());
  }

  @ParameterizedTest
  @ValueSource(strings = {"not json", "[1,2]", "42", "{\"id\":1} trailing", "{\"id\":1}{\"id\":2}"})
  void aLineThatIsNotOneJsonObjectNamesNoId(String line) {
    Request.BadRequest e = refused(line);
    assertNull(e.id());
    assertTrue(e.getMessage().startsWith("bad request: not a JSON object"), e.getMessage());
  }

  @Test
  void aMissingOrNullIdCannotBeAnswered() {
    assertNull(refused("{\"op\":\"acquire\"}").id());
    assertEquals("bad request: no id", refused("{\"id\":null,\"op\":\"acquire\"}").getMessage());
  }

  @Test
  void problemsAfterTheIdAreAddressedToIt() {
    Request.BadRequest e = refused("{\"id\":9,\"op\":\"acquire\",\"key\":\"k\",\"holder\":\"h\"}");
    assertEquals("9", e.id().toString());
    assertEquals("bad request: acquire without ttl_ms", e.getMessage());
  }

  @ParameterizedTest
  @ValueSource(strings = {"\"1000\"", "1.5", "0", "-3", "null", "2147483648", "1e400"})
  void ttlMustBeAWholePositiveNumberOfMilliseconds(String ttl) {
    Request.BadRequest e =
        refused("{\"id\":1,\"op\":\"acquire\",\"key\":\"k\",\"holder\":\"h\",\"ttl_ms\":" + ttl + "}");
    assertTrue(e.getMessage().contains("ttl_ms"), e.getMessage());
  }

  @Test
  void fieldsMustBeStrings() {
    assertTrue(refused("{\"id\":1,\"op\":7}").getMessage().contains("op is not a string"));
    assertTrue(
        refused("{\"id\":1,\"op\":\"release\",\"key\":\"k\",\"holder\":3}")
            .getMessage()
            .contains("holder is not a string"));
    assertEquals(
        "bad request: holder is empty",
        refused("{\"id\":1,\"op\":\"release\",\"key\":\"k\",\"holder\":\"\"}").getMessage());
  }

  @Test
  void aKeyTheLockSystemRefusesIsABadRequestAddressedToItsId() {
    Request.BadRequest e = refused("{\"id\":1,\"op\":\"release\",\"key\":\"a/b\",\"holder\":\"h\"}");
    assertEquals("1", e.id().toString());
    assertEquals("bad request: key a/b contains \"/\"", e.getMessage());
    String longKey = "{\"id\":2,\"op\":\"release\",\"key\":\"" + "k".repeat(50) + "\",\"holder\":\"h\"}";
    Request.BadRequest cut =
        assertThrows(Request.BadRequest.class, () -> Request.parse(longKey, key -> "is refused"));
    assertEquals("bad request: key " + "k".repeat(40) + "... is refused", cut.getMessage());
  }

  @Test
  void longTextIsCutInMessages() {
    String junk = "x".repeat(500);
    assertTrue(refused(junk).getMessage().endsWith("x...")); // 200 characters and "..."
  }
}
