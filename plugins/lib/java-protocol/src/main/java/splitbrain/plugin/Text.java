package splitbrain.plugin;

/** Quoting of untrusted text in messages. */
public final class Text {
  private Text() {}

  /** {@code s} cut after {@code max} characters, with "..." when longer. */
  public static String quote(String s, int max) {
    return s.length() <= max ? s : s.substring(0, max) + "...";
  }

  /** A throwable as "Type: message", its message cut to 300 characters. */
  public static String describe(Throwable e) {
    String msg = e.getMessage();
    String type = e.getClass().getSimpleName();
    return msg == null || msg.isBlank() ? type : type + ": " + quote(msg, 300);
  }
}
