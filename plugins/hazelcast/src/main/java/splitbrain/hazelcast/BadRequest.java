package splitbrain.hazelcast;

import com.fasterxml.jackson.databind.JsonNode;

/** A request line that cannot be carried out; {@link #id()} is set when it can be answered. */
final class BadRequest extends Exception {
    private static final long serialVersionUID = 1L;
    private final transient JsonNode id;

    BadRequest(JsonNode id, String message) {
        super(message);
        this.id = id;
    }

    JsonNode id() {
        return id;
    }
}
