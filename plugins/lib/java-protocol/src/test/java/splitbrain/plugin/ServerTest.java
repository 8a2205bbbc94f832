package splitbrain.plugin;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

class ServerTest {
  private static List<String> serve(String input, Server.Handler handler) throws Exception {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    Output out = new Output(bytes, false);
    LineReader in =
        new LineReader(new ByteArrayInputStream(input.getBytes(StandardCharsets.UTF_8)), 64);
    new Server(in, out, RequestTest::checkKey, handler).serve(System.nanoTime());
    return bytes.toString(StandardCharsets.UTF_8).lines().toList();
  }

  @Test
  void eachRequestGetsOneReplyAndBadLinesWithAnIdAreRefused() throws Exception {
    List<String> lines =
        serve(
            "{\"id\":1,\"op\":\"acquire\",\"key\":\"k\",\"ttl_ms\":5,\"holder\":\"h\"}\r\n"
                + "\n"
                + "   \n"
                + "garbage\n"
                + "{\"id\":2,\"op\":\"acquire\"}\n"
                + "{\"id\":3,\"op\":\"release\",\"key\":\"k\",\"holder\":\"h\"}",
            (req, start) -> Reply.ok(req.id(), 7L));
    assertEquals(
        List.of(
            "{\"id\":1,\"ok\":true,\"token\":7}",
            "{\"id\":2,\"ok\":false,\"definite\":true,\"error\":\"bad request: no key\"}",
            "{\"id\":3,\"ok\":true,\"token\":7}"),
        lines);
  }

  @Test
  void anOverlongLineIsSkippedAndTheNextOneAnswered() throws Exception {
    List<String> lines =
        serve("{\"id\":1,\"op\":\"x\",\"pad\":\"" + "p".repeat(100) + "\"}\n{\"id\":2,\"op\":\"x\"}\n",
            (req, start) -> Reply.refusal(req.id(), true, Reply.UNSUPPORTED));
    assertEquals(
        List.of("{\"id\":2,\"ok\":false,\"definite\":true,\"error\":\"unsupported\"}"), lines);
  }

  @Test
  void aHandlerThatThrowsGivesAnIndefiniteAnswer() throws Exception {
    List<String> lines =
        serve("{\"id\":5,\"op\":\"renew\",\"key\":\"k\",\"ttl_ms\":9,\"holder\":\"h\"}\n",
            (req, start) -> {
              throw new IllegalStateException("boom");
            });
    assertEquals(
        List.of(
            "{\"id\":5,\"ok\":false,\"definite\":false,\"error\":\"plug-in error: IllegalStateException: boom\"}"),
        lines);
  }
}
