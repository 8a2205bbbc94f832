package splitbrain.curator;

import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import splitbrain.plugin.Log;

/**
 * One acquire's grant: its own InterProcessMutex and its own thread. An InterProcessMutex is
 * owned by the thread that acquired it (and is re-entrant for it), so every step of a grant
 * (acquire, the token read, renew's check, release) runs on that one thread, in order, and no
 * two grants ever share a thread or a mutex.
 */
final class Grant {
  final String holder;
  final String key;
  final GrantMutex mutex;
  private final ExecutorService thread;
  private final AtomicBoolean lostReported = new AtomicBoolean();

  /** The lock node, once acquired. */
  volatile String lockNode;

  /** The lock node's czxid (the fencing token), once read; null without fencing. */
  volatile Long token;

  Grant(String holder, String key, GrantMutex mutex, long seq) {
    this.holder = holder;
    this.key = key;
    this.mutex = mutex;
    this.thread =
        Executors.newSingleThreadExecutor(
            r -> {
              Thread t = new Thread(r, "grant-" + seq);
              t.setDaemon(true);
              return t;
            });
  }

  /** Runs {@code step} on the grant's thread, after the steps submitted before it. */
  <T> Future<T> submit(Callable<T> step) {
    return thread.submit(step);
  }

  /** Lets the grant's thread end once its submitted steps are done. */
  void close() {
    thread.shutdown();
  }

  /**
   * Gives the lock back if this grant's acquire got it after all (it was abandoned: it timed
   * out or failed in a way that may have left it holding), then ends the thread. The release
   * runs after the acquire still in progress, on its thread.
   */
  void abandon() {
    thread.submit(
        () -> {
          if (mutex.isOwnedByCurrentThread()) {
            Log.note("releasing abandoned grant " + holder);
            try {
              mutex.release();
            } catch (Exception e) {
              Log.note("releasing abandoned grant " + holder + ": " + Failures.describe(e));
            }
          }
          return null;
        });
    close();
  }

  /** True the first time only: a grant's loss is reported once. */
  boolean markLostReported() {
    return lostReported.compareAndSet(false, true);
  }
}
