package splitbrain.redisson;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The plug-in's notes, on stderr (the agent's log) through slf4j-simple. */
final class Log {
  private static final Logger LOG = LoggerFactory.getLogger("redisson-plugin");

  private Log() {}

  static void note(String msg) {
    LOG.info(msg);
  }
}
