package splitbrain.plugin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.IntNode;
import com.fasterxml.jackson.databind.node.TextNode;
import org.junit.jupiter.api.Test;

class ReplyTest {
  private static final JsonNode ID = IntNode.valueOf(3);

  @Test
  void aSuccessCarriesItsTokenOnlyWhenThereIsOne() {
    assertEquals("{\"id\":3,\"ok\":true}", Reply.ok(ID).toJson());
    assertEquals("{\"id\":3,\"ok\":true}", Reply.ok(ID, null).toJson());
    assertEquals("{\"id\":3,\"ok\":true,\"token\":4294967297}", Reply.ok(ID, 4294967297L).toJson());
  }

  @Test
  void aRefusalSaysWhetherItIsDefiniteAndWhy() {
    assertEquals(
        "{\"id\":3,\"ok\":false,\"definite\":true,\"error\":\"held\"}",
        Reply.refusal(ID, true, Reply.HELD).toJson());
    assertEquals(
        "{\"id\":3,\"ok\":false,\"definite\":true,\"error\":\"not-holder\",\"detail\":\"lock node gone\"}",
        Reply.refusal(ID, true, Reply.NOT_HOLDER, "lock node gone").toJson());
    assertEquals(
        "{\"id\":\"x\",\"ok\":false,\"definite\":false,\"error\":\"timeout\"}",
        Reply.refusal(TextNode.valueOf("x"), false, "timeout").toJson());
  }

  @Test
  void aReplyIsOneLineWhateverItsText() throws Exception {
    String line = Reply.refusal(ID, false, "two\nlines \"quoted\" \u0001 <&>").toJson();
    assertFalse(line.contains("\n"));
    assertEquals(
        "two\nlines \"quoted\" \u0001 <&>", new ObjectMapper().readTree(line).get("error").textValue());
  }

  @Test
  void aLostEventHasNoIdAndANullTokenWithoutFencing() {
    assertEquals(
        "{\"event\":\"lost\",\"key\":\"k\",\"holder\":\"h\",\"token\":null,\"detail\":\"d\"}",
        Reply.lostEvent("k", "h", null, "d"));
    assertEquals(
        "{\"event\":\"lost\",\"key\":\"k\",\"holder\":\"h\",\"token\":12,\"detail\":\"d\"}",
        Reply.lostEvent("k", "h", 12L, "d"));
  }
}
