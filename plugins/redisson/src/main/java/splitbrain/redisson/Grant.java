package splitbrain.redisson;

import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.redisson.api.RLock;
import splitbrain.plugin.Log;
import splitbrain.plugin.Text;

/**
 * One acquire's grant: its own RLock object and its own thread. A Redisson lock is owned by
 * (client id, thread id) and is re-entrant for that pair, so every call of a grant (tryLock,
 * the renew's re-entry, unlock) runs on that one thread, in order, and no two grants share a
 * thread: two holders in one process are two owners, as they are two clients to the agent.
 */
final class Grant {
  final String holder;
  final RLock lock;
  private final ExecutorService thread;

  /** The fencing token (RFencedLock's), null without fencing. */
  volatile Long token;

  Grant(String holder, RLock lock, long seq) {
    this.holder = holder;
    this.lock = lock;
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
   * Gives the lock back if this grant's tryLock got it after all (it was abandoned: it timed
   * out or failed in a way that may have taken the lock), then ends the thread. Without it the
   * lock would stay taken until its lease ran out.
   */
  void abandon() {
    thread.submit(
        () -> {
          try {
            if (lock.isHeldByCurrentThread()) {
              Log.note("releasing abandoned grant " + holder);
              lock.unlock();
            }
          } catch (RuntimeException e) {
            Log.note("releasing abandoned grant " + holder + ": " + Text.describe(e));
          }
          return null;
        });
    close();
  }
}
