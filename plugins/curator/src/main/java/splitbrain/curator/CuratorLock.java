package splitbrain.curator;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.curator.retry.RetryUntilElapsed;
import org.apache.curator.utils.PathUtils;
import org.apache.zookeeper.data.Stat;
import splitbrain.plugin.Log;
import splitbrain.plugin.Output;
import splitbrain.plugin.Reply;
import splitbrain.plugin.Request;
import splitbrain.plugin.Server;

/**
 * The protocol's acquire, renew and release on Curator's InterProcessMutex, one mutex (and one
 * thread) per grant, all on one Curator client (one ZooKeeper session) per plug-in process.
 */
final class CuratorLock implements Server.Handler {
  /** Where the locks live: lock K's mutex is the directory LOCK_ROOT/K. */
  static final String LOCK_ROOT = "/splitbrain/curator";

  /** The pause between Curator's retries of an operation. */
  static final int RETRY_SLEEP_MS = 100;

  private final Settings settings;
  private final Budget budget;
  private final Output out;
  private final Map<String, Grant> grants = new ConcurrentHashMap<>();
  private final AtomicLong grantSeq = new AtomicLong();
  private CuratorFramework client;
  private int sessionTimeoutMs;
  private boolean toldTtlKept;

  CuratorLock(Settings settings, Output out) {
    this.settings = settings;
    this.budget = Budget.of(settings.opTimeout());
    this.out = out;
  }

  /** The mutex directory of lock {@code key}. */
  static String lockDir(String key) {
    return LOCK_ROOT + "/" + key;
  }

  /**
   * What is wrong with {@code key} as a lock name, or null: it must be one ZooKeeper path
   * element (a "/" would put one lock's nodes inside another's directory).
   */
  static String checkKey(String key) {
    if (key.isEmpty()) {
      return "is empty";
    }
    if (key.contains("/")) {
      return "contains \"/\" (one lock's directory would hold another's)";
    }
    if (key.equals(".") || key.equals("..")) {
      return "is a relative path element";
    }
    try {
      PathUtils.validatePath(lockDir(key));
    } catch (IllegalArgumentException e) {
      return "is not a valid ZooKeeper node name: " + e.getMessage();
    }
    return null;
  }

  /**
   * The session timeout asked for a lock's TTL: the TTL itself, the time ZooKeeper keeps an
   * ephemeral lock node after its client falls silent. The server clamps it to 2 to 20 of its
   * ticks (the runner's ensemble: tickTime 500 ms, so 1 to 10 s).
   */
  static int sessionTimeoutFor(long ttlMs) {
    return (int) Math.min(Math.max(ttlMs, 1), Integer.MAX_VALUE);
  }

  /**
   * How long an operation waits for a connection: the request's usable time, and no longer
   * than the session (past it the session, and every lock of it, is gone anyway).
   */
  static int connectionTimeoutFor(Budget budget, int sessionTimeoutMs) {
    return (int) Math.max(1, Math.min(budget.usable().toMillis(), sessionTimeoutMs));
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
    CuratorFramework c = clientFor(req.ttlMs());
    long waitMs = answerBy.remainingMillis();
    if (!awaitConnection(c, waitMs)) {
      return Reply.refusal(
          id,
          true,
          "not connected to ZooKeeper ("
              + settings.servers()
              + ") within "
              + waitMs
              + " ms; nothing was sent");
    }
    Grant g =
        new Grant(
            req.holder(),
            req.key(),
            new GrantMutex(c, lockDir(req.key()), req.holder()),
            grantSeq.incrementAndGet());
    Future<Boolean> taken = g.submit(() -> takeLock(c, g));
    try {
      if (!taken.get(answerBy.remainingMillis(), TimeUnit.MILLISECONDS)) {
        g.close();
        return Reply.refusal(id, true, Reply.HELD);
      }
      grants.put(g.holder, g);
      return Reply.ok(id, settings.fencing() ? g.token : null);
    } catch (TimeoutException e) {
      g.abandon();
      return Failures.timeout(
          id,
          "acquire",
          budget.usable().toMillis(),
          "the lock node may have been created (if the attempt gets the lock later, it gives it"
              + " back)");
    } catch (ExecutionException e) {
      Throwable cause = e.getCause();
      if (Failures.acquireLeftNothing(cause)) {
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
   * On the grant's thread: InterProcessMutex.acquire once, without waiting for a holder to
   * leave; then, with fencing, the lock node's czxid as the token.
   */
  private boolean takeLock(CuratorFramework c, Grant g) throws Exception {
    if (!g.mutex.acquire(0, TimeUnit.MILLISECONDS)) {
      return false;
    }
    g.lockNode = g.mutex.lockNode();
    if (settings.fencing()) {
      try {
        g.token = czxid(c, g.lockNode);
      } catch (Exception e) {
        releaseQuietly(g);
        throw new Failures.TokenUnreadable(e);
      }
    }
    return true;
  }

  private static long czxid(CuratorFramework c, String node) throws Exception {
    Stat stat = c.checkExists().forPath(node);
    if (stat == null) {
      throw new IllegalStateException("the lock node " + node + " vanished right after the grant");
    }
    return stat.getCzxid();
  }

  private static void releaseQuietly(Grant g) {
    try {
      g.mutex.release();
    } catch (Exception e) {
      Log.note("releasing " + g.holder + ": " + Failures.describe(e));
    }
  }

  private Reply renew(Request req, Budget.Deadline answerBy) {
    Grant g = grants.get(req.holder());
    if (g == null) {
      return notHolder(req.id(), "no grant of this holder in this plug-in process");
    }
    Future<Ownership> checked = g.submit(() -> ownership(g));
    Ownership o;
    try {
      o = checked.get(answerBy.remainingMillis(), TimeUnit.MILLISECONDS);
    } catch (TimeoutException e) {
      return Failures.timeout(
          req.id(), "renew", budget.usable().toMillis(), "the lock node could not be read");
    } catch (ExecutionException e) {
      return Failures.checkFailed(req.id(), "renew", e.getCause());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return Reply.refusal(req.id(), false, "interrupted");
    }
    if (o == Ownership.OURS) {
      return Reply.ok(req.id());
    }
    forget(g);
    return notHolder(req.id(), o.describe(g.lockNode));
  }

  private Reply release(Request req, Budget.Deadline answerBy) {
    Grant g = grants.remove(req.holder());
    if (g == null) {
      return notHolder(req.id(), "no grant of this holder in this plug-in process");
    }
    Future<Ownership> released = g.submit(() -> releaseIfOurs(g));
    try {
      Ownership o = released.get(answerBy.remainingMillis(), TimeUnit.MILLISECONDS);
      return o == Ownership.OURS ? Reply.ok(req.id()) : notHolder(req.id(), o.describe(g.lockNode));
    } catch (TimeoutException e) {
      return Failures.timeout(
          req.id(), "release", budget.usable().toMillis(), "the lock node may have been deleted");
    } catch (ExecutionException e) {
      return Failures.checkFailed(req.id(), "release", e.getCause());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return Reply.refusal(req.id(), false, "interrupted");
    } finally {
      g.close();
    }
  }

  /**
   * On the grant's thread: InterProcessMutex.release when the lock node is still ours. Curator
   * deletes the node without looking (a node already gone is fine by it), so the check is what
   * tells a release from a lock lost before it.
   */
  private Ownership releaseIfOurs(Grant g) throws Exception {
    Ownership o = ownership(g);
    if (o == Ownership.OURS) {
      try {
        g.mutex.release();
      } catch (Exception e) {
        throw new Failures.ReleaseFailed(e);
      }
    }
    return o;
  }

  /** Drops a grant that is no longer ours; its mutex and thread go with it. */
  private void forget(Grant g) {
    grants.remove(g.holder, g);
    g.close();
  }

  /** Whether the grant's lock node exists, in our session, as the node we created. */
  private Ownership ownership(Grant g) throws Exception {
    Stat stat = client.checkExists().forPath(g.lockNode);
    if (stat == null) {
      return Ownership.GONE;
    }
    long session = client.getZookeeperClient().getZooKeeper().getSessionId();
    if (stat.getEphemeralOwner() != session) {
      return Ownership.NOT_OURS;
    }
    if (g.token != null && stat.getCzxid() != g.token) {
      return Ownership.NOT_OURS;
    }
    return Ownership.OURS;
  }

  /** What a read of a grant's lock node found. */
  enum Ownership {
    OURS,
    GONE,
    NOT_OURS;

    String describe(String node) {
      return switch (this) {
        case OURS -> "the lock node " + node + " is ours";
        case GONE -> "the lock node " + node + " is gone (its session expired)";
        case NOT_OURS -> "the lock node " + node + " belongs to another session";
      };
    }
  }

  private static Reply notHolder(JsonNode id, String detail) {
    return Reply.refusal(id, true, Reply.NOT_HOLDER, detail);
  }

  private static boolean awaitConnection(CuratorFramework c, long waitMs) {
    try {
      return c.blockUntilConnected((int) Math.max(1, waitMs), TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }

  /**
   * The process's Curator client, started on the first acquire with that acquire's TTL as the
   * session timeout; later TTLs keep the session (its grants live in it).
   */
  private synchronized CuratorFramework clientFor(long ttlMs) {
    int session = sessionTimeoutFor(ttlMs);
    if (client == null) {
      sessionTimeoutMs = session;
      int connection = connectionTimeoutFor(budget, session);
      int retryFor = (int) budget.usable().toMillis();
      client =
          CuratorFrameworkFactory.builder()
              .connectString(settings.servers())
              .sessionTimeoutMs(session)
              .connectionTimeoutMs(connection)
              .retryPolicy(new RetryUntilElapsed(retryFor, RETRY_SLEEP_MS))
              .build();
      client.getConnectionStateListenable().addListener((c, state) -> stateChanged(state));
      client.start();
      Log.note(
          "curator client: "
              + settings.servers()
              + ", session timeout "
              + session
              + " ms asked, connection timeout "
              + connection
              + " ms, retries for "
              + retryFor
              + " ms");
    } else if (session != sessionTimeoutMs && !toldTtlKept) {
      toldTtlKept = true;
      Log.note(
          "ttl_ms="
              + ttlMs
              + ": the session keeps its timeout of "
              + sessionTimeoutMs
              + " ms (set by the first acquire)");
    }
    return client;
  }

  /**
   * Curator's connection states, on its event thread. SUSPENDED (the connection dropped) and
   * LOST (the session expired, or Curator gave it up after a session timeout without a
   * connection) mean, by Curator's rules, that a holder must assume it lost its locks: each
   * live grant's loss is reported once, at the first of them.
   */
  void stateChanged(ConnectionState state) {
    if (state == ConnectionState.CONNECTED) {
      Log.note(
          "connected; session timeout negotiated: "
              + client.getZookeeperClient().getLastNegotiatedSessionTimeoutMs()
              + " ms");
    } else {
      Log.note("connection " + state + " (" + grants.size() + " grant(s) held)");
    }
    if (state != ConnectionState.SUSPENDED && state != ConnectionState.LOST) {
      return;
    }
    for (Grant g : grants.values()) {
      if (g.markLostReported()) {
        out.lost(g.key, g.holder, g.token, lostDetail(state));
      }
    }
  }

  static String lostDetail(ConnectionState state) {
    return state == ConnectionState.SUSPENDED
        ? "curator connection SUSPENDED: the connection to ZooKeeper dropped; Curator's rule:"
            + " a suspended client must assume it lost the lock (the session and the lock node"
            + " may still live)"
        : "curator connection LOST: the session expired (or Curator gave it up after a session"
            + " timeout without a connection): the lock node is gone";
  }

  /** The process's Curator client, or null before the first acquire. */
  synchronized CuratorFramework client() {
    return client;
  }

  /** How many grants this process holds. */
  int grantCount() {
    return grants.size();
  }
}
