package splitbrain.curator;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.time.Duration;
import java.time.Instant;
import splitbrain.plugin.LineReader;
import splitbrain.plugin.Log;
import splitbrain.plugin.Output;
import splitbrain.plugin.Server;
import splitbrain.plugin.Text;

/**
 * A splitbrain lock plug-in (docs/plugins.md) that puts Apache Curator's InterProcessMutex on
 * the run's ZooKeeper under splitbrain's faults. See README.md.
 */
public final class Main {
  private Main() {}

  public static void main(String[] args) {
    // Stdout carries replies only: whatever else prints goes to stderr, the agent's log.
    OutputStream stdout = new BufferedOutputStream(new FileOutputStream(FileDescriptor.out));
    System.setOut(System.err);
    Settings settings;
    try {
      settings = Settings.fromEnv(System.getenv());
    } catch (IllegalArgumentException e) {
      Log.note(e.getMessage());
      System.exit(2);
      return;
    }
    Output out = new Output(stdout, settings.lostEvents());
    CuratorLock lock = new CuratorLock(settings, out);
    Log.note(
        "node "
            + settings.node()
            + ": zookeeper "
            + settings.servers()
            + ", op timeout "
            + settings.opTimeout().toMillis()
            + " ms, fencing "
            + settings.fencing()
            + ", lost events "
            + settings.lostEvents());
    // After the first log line: slf4j initialises on it, and two threads racing to
    // initialise it make it replay (and warn about) the loser's lines.
    Warmup.start(settings.servers());
    LineReader in = new LineReader(new BufferedInputStream(System.in), LineReader.MAX_LINE_BYTES);
    try {
      new Server(in, out, CuratorLock::checkKey, lock).serve(processStartNanos());
    } catch (IOException e) {
      Log.note("the agent is gone: " + Text.describe(e));
      System.exit(1);
    }
    // Stdin closed: exit without releasing, as a crashed client would. Nobody keeps the
    // session alive after this, and ZooKeeper deletes its lock nodes when it expires.
    if (lock.grantCount() > 0) {
      Log.note("stdin closed; exiting with " + lock.grantCount() + " grant(s), left to expire");
    }
    System.exit(0);
  }

  /**
   * When the process started, in System.nanoTime: the agent started it to send the first
   * request, whose time ran while the JVM was starting.
   */
  static long processStartNanos() {
    long now = System.nanoTime();
    return ProcessHandle.current()
        .info()
        .startInstant()
        .map(start -> now - Math.max(0, Duration.between(start, Instant.now()).toNanos()))
        .orElse(now);
  }
}
