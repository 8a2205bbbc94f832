package splitbrain.hazelcast;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;

/**
 * The plug-in's stdout: replies and, unprompted, lost-lock events, each one whole line
 * written at once under one lock, so that an event never lands inside a reply.
 */
class Output {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final OutputStream out;

    Output(OutputStream out) {
        this.out = out;
    }

    static String replyLine(JsonNode id, Answer a) {
        ObjectNode o = JSON.createObjectNode();
        o.set("id", id);
        o.put("ok", a.ok());
        if (a.ok()) {
            if (a.token() != null) {
                o.put("token", a.token());
            }
        } else {
            o.put("definite", a.definite());
            o.put("error", a.error());
            if (a.detail() != null) {
                o.put("detail", a.detail());
            }
        }
        return o.toString();
    }

    /** {@code {"event":"lost","key":K,"holder":H,"token":T,"detail":D}} (docs/plugins.md). */
    static String lostLine(String key, String holder, Long token, String detail) {
        ObjectNode o = JSON.createObjectNode();
        o.put("event", "lost");
        o.put("key", key);
        o.put("holder", holder);
        if (token == null) {
            o.putNull("token");
        } else {
            o.put("token", token);
        }
        o.put("detail", detail);
        return o.toString();
    }

    void reply(JsonNode id, Answer a) {
        write(replyLine(id, a));
    }

    void lost(String key, String holder, Long token, String detail) {
        write(lostLine(key, holder, token, detail));
    }

    /** Jackson escapes control characters, so a rendered line never holds a newline of its own. */
    synchronized void write(String line) {
        try {
            out.write((line + "\n").getBytes(StandardCharsets.UTF_8));
            out.flush();
        } catch (IOException e) {
            throw new UncheckedIOException("writing to stdout", e);
        }
    }
}
