package splitbrain.plugin;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;

/** Reads request lines, each at most a given number of bytes. */
public final class LineReader {
  /** The longest request line; the agent's lines are far shorter. */
  public static final int MAX_LINE_BYTES = 1 << 20;

  private final InputStream in;
  private final int maxBytes;

  public LineReader(InputStream in, int maxBytes) {
    this.in = in;
    this.maxBytes = maxBytes;
  }

  /** A line without its end of line and surrounding blanks, or one that was too long. */
  public record Line(String text, boolean tooLong) {}

  /** The next line, or null at the end of input (a last line without a newline counts). */
  public Line next() throws IOException {
    ByteArrayOutputStream buf = new ByteArrayOutputStream(256);
    boolean tooLong = false;
    boolean any = false;
    int b;
    while ((b = in.read()) != -1) {
      any = true;
      if (b == '\n') {
        break;
      }
      if (!tooLong && buf.size() >= maxBytes + 1) {
        tooLong = true;
        buf.reset();
      }
      if (!tooLong) {
        buf.write(b);
      }
    }
    if (!any) {
      return null;
    }
    if (tooLong) {
      return new Line("", true);
    }
    return new Line(buf.toString(StandardCharsets.UTF_8).strip(), false);
  }
}
