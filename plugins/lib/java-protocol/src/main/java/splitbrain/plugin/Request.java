package splitbrain.plugin;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.function.Function;

/**
 * One request line of the plug-in protocol (docs/plugins.md): {@code acquire}, {@code renew}
 * or {@code release} with its fields, or another op, which parses so that it can be answered
 * {@code unsupported}.
 *
 * @param id echoed verbatim in the reply (the agent sends numbers; any JSON value but null)
 * @param op the operation
 * @param key the lock key (empty for an unknown op)
 * @param ttlMs the lease asked for, in milliseconds (acquire and renew, else 0)
 * @param holder the grant's unique owner id (empty for an unknown op)
 */
public record Request(JsonNode id, String op, String key, long ttlMs, String holder) {

  /**
   * The longest ttl taken: Java's int milliseconds, about 24 days (the most a ZooKeeper session
   * timeout can be).
   */
  public static final long MAX_TTL_MS = Integer.MAX_VALUE;

  private static final ObjectMapper JSON =
      new ObjectMapper().enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

  /**
   * Parses one line; {@code checkKey} says what is wrong with a key for the lock system, or
   * null when nothing is.
   *
   * @throws BadRequest when the line cannot be carried out; its id is set when the line was a
   *     JSON object with an id, so that the refusal can be addressed to it
   */
  public static Request parse(String line, Function<String, String> checkKey) throws BadRequest {
    JsonNode root;
    try {
      root = JSON.readTree(line);
    } catch (Exception e) {
      throw new BadRequest(null, "not a JSON object: " + Text.quote(line, 200));
    }
    if (root == null || !root.isObject()) {
      throw new BadRequest(null, "not a JSON object: " + Text.quote(line, 200));
    }
    JsonNode id = root.get("id");
    if (id == null || id.isNull()) {
      throw new BadRequest(null, "no id");
    }
    String op = stringField(root, id, "op");
    if (!op.equals("acquire") && !op.equals("renew") && !op.equals("release")) {
      return new Request(id, op, "", 0, "");
    }
    String key = stringField(root, id, "key");
    String keyProblem = checkKey.apply(key);
    if (keyProblem != null) {
      throw new BadRequest(id, "key " + Text.quote(key, 40) + " " + keyProblem);
    }
    String holder = stringField(root, id, "holder");
    if (holder.isEmpty()) {
      throw new BadRequest(id, "holder is empty");
    }
    long ttlMs = op.equals("release") ? 0 : ttlField(root, id, op);
    return new Request(id, op, key, ttlMs, holder);
  }

  private static String stringField(JsonNode root, JsonNode id, String name) throws BadRequest {
    JsonNode v = root.get(name);
    if (v == null) {
      throw new BadRequest(id, "no " + name);
    }
    if (!v.isTextual()) {
      throw new BadRequest(id, name + " is not a string: " + Text.quote(v.toString(), 40));
    }
    return v.textValue();
  }

  private static long ttlField(JsonNode root, JsonNode id, String op) throws BadRequest {
    JsonNode v = root.get("ttl_ms");
    if (v == null) {
      throw new BadRequest(id, op + " without ttl_ms");
    }
    if (!v.isNumber()) {
      throw new BadRequest(id, "ttl_ms is not a number: " + Text.quote(v.toString(), 40));
    }
    if (!v.isIntegralNumber()
        || !v.canConvertToLong()
        || v.longValue() <= 0
        || v.longValue() > MAX_TTL_MS) {
      throw new BadRequest(
          id,
          "ttl_ms must be a whole number of milliseconds from 1 to "
              + MAX_TTL_MS
              + ", got "
              + Text.quote(v.toString(), 40));
    }
    return v.longValue();
  }

  /** A request line that cannot be carried out. */
  public static final class BadRequest extends Exception {
    private static final long serialVersionUID = 1L;
    private final transient JsonNode id;

    BadRequest(JsonNode id, String problem) {
      super("bad request: " + problem);
      this.id = id;
    }

    /** The request's id, or null when the line had none (then nobody can be answered). */
    public JsonNode id() {
      return id;
    }
  }
}
