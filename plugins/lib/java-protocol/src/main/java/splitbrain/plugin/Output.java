package splitbrain.plugin;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;

/**
 * The plug-in's stdout: replies and lost-lock events, each written whole, with one write
 * under one lock, so that an event written from the lock library's own thread never lands
 * inside a reply.
 */
public final class Output {
  private final OutputStream out;
  private final boolean lostEvents;

  /**
   * @param lostEvents whether the agent asked for lost-lock events (SPLITBRAIN_EVENTS
   *     containing {@code lost}); without, {@link #lost} writes nothing
   */
  public Output(OutputStream out, boolean lostEvents) {
    this.out = out;
    this.lostEvents = lostEvents;
  }

  /** An output for a plug-in that writes no lost-lock events: replies only. */
  public Output(OutputStream out) {
    this(out, false);
  }

  /** Writes a reply line. */
  public void reply(Reply r) throws IOException {
    writeLine(r.toJson());
  }

  /** Whether {@link #lost} writes events. */
  public boolean wantsLostEvents() {
    return lostEvents;
  }

  /**
   * Writes a lost-lock event when the agent asked for them; a failed write is left to the next
   * reply to report (the agent is gone).
   */
  public void lost(String key, String holder, Long token, String detail) {
    if (!lostEvents) {
      return;
    }
    try {
      writeLine(Reply.lostEvent(key, holder, token, detail));
    } catch (IOException e) {
      Log.note("writing a lost event: " + Text.describe(e));
    }
  }

  private synchronized void writeLine(String json) throws IOException {
    byte[] line = (json + "\n").getBytes(StandardCharsets.UTF_8);
    out.write(line);
    out.flush();
  }
}
