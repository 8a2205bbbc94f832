package splitbrain.plugin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.IntNode;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class OutputTest {
  @Test
  void lostEventsAreWrittenOnlyWhenTheAgentAskedForThem() throws Exception {
    ByteArrayOutputStream asked = new ByteArrayOutputStream();
    Output out = new Output(asked, true);
    assertTrue(out.wantsLostEvents());
    out.reply(Reply.ok(IntNode.valueOf(1), 5L));
    out.lost("k", "h", 5L, "connection LOST");
    assertEquals(
        "{\"id\":1,\"ok\":true,\"token\":5}\n"
            + "{\"event\":\"lost\",\"key\":\"k\",\"holder\":\"h\",\"token\":5,\"detail\":\"connection LOST\"}\n",
        asked.toString(StandardCharsets.UTF_8));

    ByteArrayOutputStream notAsked = new ByteArrayOutputStream();
    Output quiet = new Output(notAsked);
    assertFalse(quiet.wantsLostEvents());
    quiet.lost("k", "h", 5L, "connection LOST");
    quiet.reply(Reply.ok(IntNode.valueOf(2)));
    assertEquals("{\"id\":2,\"ok\":true}\n", notAsked.toString(StandardCharsets.UTF_8));
  }
}
