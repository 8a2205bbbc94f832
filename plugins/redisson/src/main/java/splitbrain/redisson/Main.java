package splitbrain.redisson;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.CompletableFuture;
import org.redisson.Redisson;
import org.redisson.api.RedissonClient;
import splitbrain.plugin.LineReader;
import splitbrain.plugin.Log;
import splitbrain.plugin.Output;
import splitbrain.plugin.Server;
import splitbrain.plugin.Text;

/**
 * A splitbrain lock plug-in (docs/plugins.md) that puts Redisson's RLock (RFencedLock with
 * fencing) on the run's Redis under splitbrain's faults. See README.md.
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
    Budget budget = Budget.of(settings.opTimeout());
    Timeouts timeouts = Timeouts.within(budget.usable());
    Log.note(
        "node "
            + settings.node()
            + ": redis "
            + settings.redis()
            + ", op timeout "
            + settings.opTimeout().toMillis()
            + " ms, fencing "
            + settings.fencing()
            + ", "
            + timeouts);
    CompletableFuture<RedissonClient> client = startClient(settings, timeouts);
    RedissonLocks locks = new RedissonLocks(settings, client);
    LineReader in = new LineReader(new BufferedInputStream(System.in), LineReader.MAX_LINE_BYTES);
    try {
      new Server(in, new Output(stdout), RedissonLocks::checkKey, locks).serve(processStartNanos());
    } catch (IOException e) {
      Log.note("the agent is gone: " + Text.describe(e));
      System.exit(1);
    }
    // Stdin closed: exit without unlocking, as a crashed client would; the leases run out.
    if (locks.grantCount() > 0) {
      Log.note("stdin closed; exiting with " + locks.grantCount() + " grant(s), left to expire");
    }
    System.exit(0);
  }

  /**
   * Creates the Redisson client on a thread of its own while the main thread reads the first
   * request: loading Redisson's classes is most of a fresh JVM's first request. It connects on
   * first use, so the plug-in starts even while Redis is unreachable.
   */
  private static CompletableFuture<RedissonClient> startClient(Settings s, Timeouts t) {
    CompletableFuture<RedissonClient> client = new CompletableFuture<>();
    Thread starter =
        new Thread(
            () -> {
              try {
                client.complete(Redisson.create(t.config(s.redis())));
              } catch (RuntimeException e) {
                Log.note("starting the Redisson client: " + Text.describe(e));
                client.completeExceptionally(e);
              }
            },
            "redisson-start");
    starter.setDaemon(true);
    starter.start();
    return client;
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
