package splitbrain.plugin;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * One reply line: a success, with a fencing token or without, or a refusal that says whether
 * it is definite (the operation certainly did not take effect) and may carry a detail.
 */
public record Reply(JsonNode id, boolean ok, boolean definite, String error, String detail, Long token) {

  /** Definite errors the agent understands (docs/plugins.md). */
  public static final String HELD = "held";

  public static final String NOT_HOLDER = "not-holder";
  public static final String UNSUPPORTED = "unsupported";

  private static final ObjectMapper JSON = new ObjectMapper();

  /** A success without a token. */
  public static Reply ok(JsonNode id) {
    return new Reply(id, true, false, null, null, null);
  }

  /** A success carrying {@code token}; a null token is left out of the line. */
  public static Reply ok(JsonNode id, Long token) {
    return new Reply(id, true, false, null, null, token);
  }

  /** A refusal without a detail. */
  public static Reply refusal(JsonNode id, boolean definite, String error) {
    return new Reply(id, false, definite, error, null, null);
  }

  /** A refusal whose detail says why (beside an error name such as {@code not-holder}). */
  public static Reply refusal(JsonNode id, boolean definite, String error, String detail) {
    return new Reply(id, false, definite, error, detail, null);
  }

  /** The same refusal addressed to {@code id}. */
  public Reply to(JsonNode id) {
    return new Reply(id, ok, definite, error, detail, token);
  }

  /** The reply as one line of JSON, without the newline. */
  public String toJson() {
    ObjectNode o = JSON.createObjectNode();
    o.set("id", id);
    o.put("ok", ok);
    if (!ok) {
      o.put("definite", definite);
      o.put("error", error);
      if (detail != null) {
        o.put("detail", detail);
      }
    } else if (token != null) {
      o.put("token", token);
    }
    return o.toString();
  }

  /**
   * A lost-lock event (written unprompted, without an id): the client learned on its own that
   * it may no longer hold the grant of {@code holder}.
   */
  public static String lostEvent(String key, String holder, Long token, String detail) {
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
}
