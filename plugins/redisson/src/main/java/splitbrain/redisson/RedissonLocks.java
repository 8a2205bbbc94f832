package splitbrain.redisson;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import org.redisson.api.RFencedLock;
import org.redisson.api.RLock;
import org.redisson.api.RedissonClient;
import splitbrain.plugin.Reply;
import splitbrain.plugin.Request;
import splitbrain.plugin.Server;
import splitbrain.plugin.Text;

/**
 * The protocol's acquire, renew and release on Redisson's RLock (RFencedLock with fencing),
 * one lock object and one thread per grant, on one Redisson client per plug-in process.
 */
final class RedissonLocks implements Server.Handler {
  /** Lock K is the Redis hash {@code NAME_PREFIX + K}. */
  static final String NAME_PREFIX = "splitbrain:redisson:";

  /** The longest key taken (Redis would take far longer ones). */
  static final int MAX_KEY_BYTES = 512;

  private final Settings settings;
  private final Budget budget;
  private final Future<RedissonClient> client;
  private final Map<String, Grant> grants = new ConcurrentHashMap<>();
  private final AtomicLong grantSeq = new AtomicLong();

  /**
   * @param client the process's Redisson client, being created (in the background, so that the
   *     plug-in reads its first request meanwhile)
   */
  RedissonLocks(Settings settings, Future<RedissonClient> client) {
    this.settings = settings;
    this.budget = Budget.of(settings.opTimeout());
    this.client = client;
  }

  /** The Redis name of lock {@code key}. */
  static String lockName(String key) {
    return NAME_PREFIX + key;
  }

  /** What is wrong with {@code key} as a lock name, or null. */
  static String checkKey(String key) {
    if (key.isEmpty()) {
      return "is empty";
    }
    if (key.getBytes(StandardCharsets.UTF_8).length > MAX_KEY_BYTES) {
      return "is longer than " + MAX_KEY_BYTES + " bytes";
    }
    return null;
  }

  @Override
  public Reply handle(Request req, long startNanos) {
    Budget.Deadline answerBy = budget.answerBy(startNanos);
    return switch (req.op()) {
      case "acquire" -> acquire(req, answerBy);
      case "renew" -> renew(req, answerBy);
      case "release" -> release(req, answerBy);
      default -> Reply.refusal(req.id(), true, Reply.UNSUPPORTED);
    };
  }

  private Reply acquire(Request req, Budget.Deadline answerBy) {
    JsonNode id = req.id();
    if (grants.containsKey(req.holder())) {
      return Reply.refusal(id, true, "holder " + req.holder() + " already holds a grant");
    }
    RedissonClient c;
    try {
      c = client.get(answerBy.remainingMillis(), TimeUnit.MILLISECONDS);
    } catch (TimeoutException e) {
      return Reply.refusal(id, true, "the Redisson client is still starting; nothing was sent");
    } catch (ExecutionException e) {
      return Reply.refusal(
          id, true, "the Redisson client failed to start: " + Text.describe(e.getCause()));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return Reply.refusal(id, true, "interrupted before anything was sent");
    }
    String name = lockName(req.key());
    RLock lock = settings.fencing() ? c.getFencedLock(name) : c.getLock(name);
    Grant g = new Grant(req.holder(), lock, grantSeq.incrementAndGet());
    Future<Boolean> taken = g.submit(() -> tryLock(g, req.ttlMs()));
    try {
      if (!taken.get(answerBy.remainingMillis(), TimeUnit.MILLISECONDS)) {
        g.close();
        return Reply.refusal(id, true, Reply.HELD);
      }
      grants.put(g.holder, g);
      return Reply.ok(id, g.token);
    } catch (TimeoutException e) {
      g.abandon();
      return Failures.timeout(
          id,
          "acquire",
          budget.usable().toMillis(),
          "the lock may have been taken (if the attempt gets it later, it gives it back)");
    } catch (ExecutionException e) {
      Throwable cause = e.getCause();
      if (Failures.certainlyNotRun(cause)) {
        g.close();
      } else {
        g.abandon();
      }
      return Failures.acquireFailed(id, cause);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      g.abandon();
      return Reply.refusal(id, false, "interrupted");
    }
  }

  /**
   * On the grant's thread: tryLock once, without waiting (waitTime 0), with the TTL as the
   * lease (a lease given turns Redisson's watchdog off: nothing extends it behind the agent's
   * back). With fencing, RFencedLock's tryLockAndGetToken: the same, and the token.
   */
  private boolean tryLock(Grant g, long ttlMs) throws InterruptedException {
    if (g.lock instanceof RFencedLock fenced) {
      Long token = fenced.tryLockAndGetToken(0, ttlMs, TimeUnit.MILLISECONDS);
      g.token = token;
      return token != null;
    }
    return g.lock.tryLock(0, ttlMs, TimeUnit.MILLISECONDS);
  }

  private Reply renew(Request req, Budget.Deadline answerBy) {
    Grant g = grants.get(req.holder());
    if (g == null) {
      return notHolder(req.id(), "no grant of this holder in this plug-in process");
    }
    Future<Renewal> renewed = g.submit(() -> reenter(g, req.ttlMs()));
    Renewal r;
    try {
      r = renewed.get(answerBy.remainingMillis(), TimeUnit.MILLISECONDS);
    } catch (TimeoutException e) {
      return Failures.timeout(
          req.id(), "renew", budget.usable().toMillis(), "the lease may have been re-set");
    } catch (ExecutionException e) {
      return Failures.renewFailed(req.id(), e.getCause());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return Reply.refusal(req.id(), false, "interrupted");
    }
    if (r == Renewal.RENEWED) {
      return Reply.ok(req.id());
    }
    forget(g);
    return notHolder(req.id(), r.detail);
  }

  /**
   * On the grant's thread: renew by re-entry. RLock has no owner-checked "extend the lease";
   * what it has is re-entrancy, and its lock script re-sets the lease on every entry by the
   * owner. So: tryLock(0, ttl) again (the hold count goes to 2 and the lease to ttl), read the
   * hold count, and unlock once (back to 1; the unlock re-sets the lease to the same ttl).
   * A hold count of 1 means the grant's lease had run out and the re-entry took the free lock
   * afresh: it is given back at once, and the grant is not ours any more.
   */
  private Renewal reenter(Grant g, long ttlMs) throws InterruptedException {
    boolean entered =
        g.lock instanceof RFencedLock fenced
            ? fenced.tryLockAndGetToken(0, ttlMs, TimeUnit.MILLISECONDS) != null
            : g.lock.tryLock(0, ttlMs, TimeUnit.MILLISECONDS);
    if (!entered) {
      return Renewal.OTHER_OWNER;
    }
    int holds = g.lock.getHoldCount();
    if (holds > 0) {
      g.lock.unlock();
    }
    return holds >= 2 ? Renewal.RENEWED : Renewal.LAPSED;
  }

  /** What a renew found. */
  enum Renewal {
    RENEWED("the lease was re-set"),
    OTHER_OWNER("another owner holds the lock (this grant's lease had run out)"),
    LAPSED(
        "this grant's lease had run out: the renew's re-entry found the lock free, took it"
            + " afresh and gave it back");

    final String detail;

    Renewal(String detail) {
      this.detail = detail;
    }
  }

  private Reply release(Request req, Budget.Deadline answerBy) {
    Grant g = grants.remove(req.holder());
    if (g == null) {
      return notHolder(req.id(), "no grant of this holder in this plug-in process");
    }
    Future<Void> released =
        g.submit(
            () -> {
              g.lock.unlock();
              return null;
            });
    try {
      released.get(answerBy.remainingMillis(), TimeUnit.MILLISECONDS);
      return Reply.ok(req.id());
    } catch (TimeoutException e) {
      return Failures.timeout(
          req.id(), "release", budget.usable().toMillis(), "the lock may have been released");
    } catch (ExecutionException e) {
      if (e.getCause() instanceof IllegalMonitorStateException) {
        // Redisson's unlock script found no entry of this owner: the lease had run out.
        return notHolder(req.id(), "the lock is not held by this grant (its lease had run out)");
      }
      return Failures.releaseFailed(req.id(), e.getCause());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return Reply.refusal(req.id(), false, "interrupted");
    } finally {
      g.close();
    }
  }

  /** Drops a grant that is no longer ours; its lock object and thread go with it. */
  private void forget(Grant g) {
    grants.remove(g.holder, g);
    g.close();
  }

  private static Reply notHolder(JsonNode id, String detail) {
    return Reply.refusal(id, true, Reply.NOT_HOLDER, detail);
  }

  /** How many grants this process holds. */
  int grantCount() {
    return grants.size();
  }
}
