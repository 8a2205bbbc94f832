package splitbrain.plugin;

import java.io.IOException;
import java.util.function.Function;

/**
 * The serve loop: one request line in, one reply line out, until the input ends. The plug-in
 * brings the lock: its key rules ({@code checkKey}, what is wrong with a key, or null) and a
 * {@link Handler} that carries out {@code acquire}, {@code renew} and {@code release}.
 */
public final class Server {
  /** Carries out one parsed request read at {@code startNanos} (System.nanoTime). */
  public interface Handler {
    Reply handle(Request req, long startNanos);
  }

  private final LineReader in;
  private final Output out;
  private final Function<String, String> checkKey;
  private final Handler handler;

  public Server(LineReader in, Output out, Function<String, String> checkKey, Handler handler) {
    this.in = in;
    this.out = out;
    this.checkKey = checkKey;
    this.handler = handler;
  }

  /**
   * Answers requests until the input ends. Bad lines are answered (when they carry an id) or
   * logged, and skipped; only a failed read or write (the agent is gone) ends the loop early.
   *
   * @param firstStartNanos when the first request counts as read: the process's start, since
   *     the agent's clock for it ran while the JVM was starting
   */
  public void serve(long firstStartNanos) throws IOException {
    boolean first = true;
    LineReader.Line line;
    while ((line = in.next()) != null) {
      long start = System.nanoTime();
      if (first) {
        first = false;
        Log.note(
            "first request read "
                + Math.max(0, (start - firstStartNanos) / 1_000_000)
                + " ms after the process started (that time counts against it)");
        start = Math.min(firstStartNanos, start);
      }
      if (line.tooLong()) {
        Log.note("bad request: a line longer than " + LineReader.MAX_LINE_BYTES + " bytes, skipped");
        continue;
      }
      if (line.text().isEmpty()) {
        continue;
      }
      Reply reply = answer(line.text(), start);
      if (reply != null) {
        out.reply(reply);
      }
    }
  }

  /** The reply to one line, or null for a line that names no id to answer. */
  public Reply answer(String line, long startNanos) {
    Request req;
    try {
      req = Request.parse(line, checkKey);
    } catch (Request.BadRequest e) {
      Log.note(e.getMessage());
      return e.id() == null ? null : Reply.refusal(e.id(), true, e.getMessage());
    }
    try {
      return handler.handle(req, startNanos);
    } catch (RuntimeException e) {
      // A bug, not the lock's doing: whether anything took effect is unknown.
      Log.note("request " + req.id() + " (" + req.op() + ") failed: " + Text.describe(e));
      return Reply.refusal(req.id(), false, "plug-in error: " + Text.describe(e));
    }
  }
}
