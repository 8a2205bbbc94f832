package splitbrain.plugin;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The plug-in's notes, on stderr (the agent's log), through the slf4j binding the plug-in
 * brings (slf4j-simple in the shipped ones), under the logger {@code splitbrain-plugin}: the
 * plug-in's simplelogger.properties sets its level apart from its lock library's loggers.
 */
public final class Log {
  private static final Logger LOG = LoggerFactory.getLogger("splitbrain-plugin");

  private Log() {}

  public static void note(String msg) {
    LOG.info(msg);
  }
}
