package splitbrain.hazelcast;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * Reads request lines. An unknown op parses (its answer is {@code unsupported}); a missing
 * or ill-typed field that an op needs does not.
 */
final class RequestParser {
    /** Keeps a ttl in whole seconds within an int, as the other plug-ins do. */
    static final long MAX_TTL_MS = Integer.MAX_VALUE * 1000L;

    private final ObjectMapper json = new ObjectMapper().enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    Request parse(String line) throws BadRequest {
        JsonNode root;
        try {
            root = json.readTree(line);
        } catch (JsonProcessingException e) {
            throw new BadRequest(null, "bad request: not one JSON object: " + Text.cut(line, 200));
        }
        if (root == null || !root.isObject()) {
            throw new BadRequest(null, "bad request: not a JSON object: " + Text.cut(line, 200));
        }
        JsonNode id = root.get("id");
        if (id == null || id.isNull()) {
            throw new BadRequest(null, "bad request: no id: " + Text.cut(line, 200));
        }
        String op = string(root, id, "op");
        if (!(op.equals("acquire") || op.equals("renew") || op.equals("release"))) {
            return new Request(id, op, "", "", 0, null);
        }
        String key = string(root, id, "key");
        String keyProblem = keyProblem(key);
        if (keyProblem != null) {
            throw new BadRequest(id, "bad request: key " + Text.cut(key, 40) + " " + keyProblem);
        }
        String holder = string(root, id, "holder");
        if (holder.isEmpty()) {
            throw new BadRequest(id, "bad request: holder is empty");
        }
        long ttl = 0;
        if (op.equals("acquire") || root.has("ttl_ms")) {
            ttl = ttl(root, id);
        }
        return new Request(id, op, key, holder, ttl, token(root, id));
    }

    /**
     * What is wrong with a key as a FencedLock name, or null. Hazelcast reads
     * {@code name@group} as the lock {@code name} in the CP group {@code group}: a key with
     * an {@code @} would put the lock in another group, or two keys in one lock.
     */
    static String keyProblem(String key) {
        if (key.isEmpty()) {
            return "is empty";
        }
        if (key.indexOf('@') >= 0) {
            return "contains @ (Hazelcast reads name@group as a CP group name)";
        }
        return null;
    }

    private static String string(JsonNode root, JsonNode id, String field) throws BadRequest {
        JsonNode v = root.get(field);
        if (v == null) {
            throw new BadRequest(id, "bad request: no " + field);
        }
        if (!v.isTextual()) {
            throw new BadRequest(id, "bad request: " + field + " is not a string: " + Text.cut(v.toString(), 40));
        }
        return v.textValue();
    }

    private static long ttl(JsonNode root, JsonNode id) throws BadRequest {
        JsonNode v = root.get("ttl_ms");
        if (v == null) {
            throw new BadRequest(id, "bad request: acquire without ttl_ms");
        }
        if (!v.isIntegralNumber() || !v.canConvertToLong() || v.longValue() <= 0 || v.longValue() > MAX_TTL_MS) {
            throw new BadRequest(id, "bad request: ttl_ms must be a whole number of milliseconds from 1 to "
                    + MAX_TTL_MS + ", got " + Text.cut(v.toString(), 40));
        }
        return v.longValue();
    }

    private static Long token(JsonNode root, JsonNode id) throws BadRequest {
        JsonNode v = root.get("token");
        if (v == null || v.isNull()) {
            return null;
        }
        if (!v.isIntegralNumber() || !v.canConvertToLong()) {
            throw new BadRequest(id, "bad request: token is not a whole number: " + Text.cut(v.toString(), 40));
        }
        return v.longValue();
    }
}
