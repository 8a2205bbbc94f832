package splitbrain.hazelcast;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.node.IntNode;
import com.fasterxml.jackson.databind.node.TextNode;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class OutputTest {

    @Test
    void rendersRepliesAsTheProtocolSays() {
        assertEquals("{\"id\":1,\"ok\":true,\"token\":42}", Output.replyLine(IntNode.valueOf(1), Answer.granted(42)));
        assertEquals("{\"id\":2,\"ok\":true}", Output.replyLine(IntNode.valueOf(2), Answer.done()));
        assertEquals("{\"id\":4,\"ok\":false,\"definite\":true,\"error\":\"held\",\"detail\":\"x\"}",
                Output.replyLine(IntNode.valueOf(4), Answer.refused("held", "x")));
        assertEquals("{\"id\":\"a\",\"ok\":false,\"definite\":false,\"error\":\"timeout\"}",
                Output.replyLine(TextNode.valueOf("a"), Answer.unknown("timeout", null)));
    }

    @Test
    void rendersLostEvents() {
        assertEquals("{\"event\":\"lost\",\"key\":\"k\",\"holder\":\"h\",\"token\":7,\"detail\":\"gone\"}",
                Output.lostLine("k", "h", 7L, "gone"));
        assertEquals("{\"event\":\"lost\",\"key\":\"k\",\"holder\":\"h\",\"token\":null,\"detail\":\"gone\"}",
                Output.lostLine("k", "h", null, "gone"));
    }

    @Test
    void writesEachLineWholeWithNoNewlineInside() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        Output out = new Output(bytes);
        out.reply(IntNode.valueOf(1), Answer.refused("bad\nrequest", "a\r\nb"));
        out.lost("k", "h", 1L, "line\nbreak");
        String[] lines = bytes.toString(StandardCharsets.UTF_8).split("\n", -1);
        assertEquals(3, lines.length); // two lines and the empty rest after the last newline
        assertEquals("", lines[2]);
    }
}
