package splitbrain.redisson;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;

/** The plug-in's stdout: one reply per line, each written whole with one write. */
final class Output {
  private final OutputStream out;

  Output(OutputStream out) {
    this.out = out;
  }

  /** Writes a reply line. */
  synchronized void reply(Reply r) throws IOException {
    out.write((r.toJson() + "\n").getBytes(StandardCharsets.UTF_8));
    out.flush();
  }
}
