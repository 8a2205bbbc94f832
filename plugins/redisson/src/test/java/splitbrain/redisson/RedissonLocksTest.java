package splitbrain.redisson;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.IntNode;
import java.io.File;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.redisson.Redisson;
import org.redisson.api.RLock;
import org.redisson.api.RedissonClient;
import splitbrain.plugin.Reply;
import splitbrain.plugin.Request;

/**
 * The lock itself, on a real Redis: a redis-server started for the tests (Debian's
 * redis-server, which scripts/install-deps installs; the tests are skipped without it).
 */
class RedissonLocksTest {
  private static Process redis;
  private static String address;
  private static RedissonClient inspector;
  private static final List<RedissonClient> clients = new ArrayList<>();
  private static final AtomicInteger ids = new AtomicInteger();
  private static final AtomicInteger keys = new AtomicInteger();

  @BeforeAll
  static void startRedis() throws Exception {
    assumeTrue(onPath("redis-server"), "redis-server is not installed");
    int port = freePort();
    address = "127.0.0.1:" + port;
    redis =
        new ProcessBuilder(
                "redis-server", "--port", String.valueOf(port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no")
            .redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.DISCARD)
            .start();
    awaitPort(port);
    inspector = client(address, 2000);
  }

  @AfterAll
  static void stopRedis() throws Exception {
    for (RedissonClient c : clients) {
      c.shutdown();
    }
    if (redis != null) {
      redis.destroy();
      redis.waitFor();
    }
  }

  private static RedissonClient client(String addr, long opTimeoutMs) {
    Duration usable = Budget.of(Duration.ofMillis(opTimeoutMs)).usable();
    RedissonClient c = Redisson.create(Timeouts.within(usable).config(addr));
    clients.add(c);
    return c;
  }

  /** A plug-in process: its own Redisson client, as each agent's plug-in has. */
  private static final class Plugin {
    final RedissonLocks locks;
    String key = "lock-" + keys.incrementAndGet();

    Plugin(boolean fencing) {
      this(address, fencing, 2000);
    }

    Plugin(String addr, boolean fencing, long opTimeoutMs) {
      Settings s = new Settings(addr, Duration.ofMillis(opTimeoutMs), fencing, "n1");
      locks = new RedissonLocks(s, CompletableFuture.completedFuture(client(addr, opTimeoutMs)));
    }

    Plugin withKey(String key) {
      this.key = key;
      return this;
    }

    Reply acquire(String holder, long ttlMs) {
      return locks.handle(new Request(id(), "acquire", key, ttlMs, holder), System.nanoTime());
    }

    Reply renew(String holder, long ttlMs) {
      return locks.handle(new Request(id(), "renew", key, ttlMs, holder), System.nanoTime());
    }

    Reply release(String holder) {
      return locks.handle(new Request(id(), "release", key, 0, holder), System.nanoTime());
    }

    RLock inspected() {
      return inspector.getLock(RedissonLocks.lockName(key));
    }
  }

  private static JsonNode id() {
    return IntNode.valueOf(ids.incrementAndGet());
  }

  private static void assertRefused(Reply r, boolean definite, String error) {
    assertFalse(r.ok(), r.toJson());
    assertEquals(definite, r.definite(), r.toJson());
    assertEquals(error, r.error(), r.toJson());
  }

  @Test
  void theFencedLocksTokenGrowsWithEveryGrant() {
    Plugin p = new Plugin(true);
    Reply first = p.acquire("h1", 5000);
    assertTrue(first.ok(), first.toJson());
    assertNotNull(first.token());
    assertTrue(p.release("h1").ok());
    Reply second = p.acquire("h2", 5000);
    assertTrue(second.token() > first.token(), first.token() + " then " + second.token());
    assertTrue(p.release("h2").ok());
    assertFalse(p.inspected().isLocked());
  }

  @Test
  void withoutFencingAGrantHasNoToken() {
    Plugin p = new Plugin(false);
    Reply r = p.acquire("h1", 5000);
    assertTrue(r.ok(), r.toJson());
    assertNull(r.token());
    assertTrue(p.release("h1").ok());
  }

  @Test
  void theLeaseIsTheTtlAndNoWatchdogExtendsIt() throws Exception {
    Plugin p = new Plugin(false);
    assertTrue(p.acquire("h1", 700).ok());
    long ttl = p.inspected().remainTimeToLive();
    assertTrue(ttl > 0 && ttl <= 700, "pttl " + ttl);
    Thread.sleep(1000);
    assertFalse(p.inspected().isLocked());
  }

  @Test
  void aSecondHolderIsRefusedEvenInTheSameProcessNotReEntered() {
    Plugin p = new Plugin(true);
    assertTrue(p.acquire("h1", 5000).ok());
    assertRefused(p.acquire("h2", 5000), true, Reply.HELD);
    assertRefused(new Plugin(true).withKey(p.key).acquire("h3", 5000), true, Reply.HELD);
    assertTrue(p.release("h1").ok());
    assertTrue(p.acquire("h2", 5000).ok());
    assertTrue(p.release("h2").ok());
  }

  @Test
  void renewReSetsTheLeaseAndLeavesOneHold() throws Exception {
    for (boolean fencing : new boolean[] {false, true}) {
      Plugin p = new Plugin(fencing);
      assertTrue(p.acquire("h1", 600).ok());
      for (int i = 0; i < 4; i++) {
        Thread.sleep(300);
        Reply r = p.renew("h1", 600);
        assertTrue(r.ok(), r.toJson());
      }
      long ttl = p.inspected().remainTimeToLive();
      assertTrue(ttl > 300 && ttl <= 600, "pttl " + ttl);
      // One release frees it: the renews' re-entries were undone.
      assertTrue(p.release("h1").ok());
      assertFalse(p.inspected().isLocked());
    }
  }

  @Test
  void aLapsedLeaseIsNotHolderForRenewAndRelease() throws Exception {
    Plugin p = new Plugin(false);
    assertTrue(p.acquire("h1", 200).ok());
    Thread.sleep(400);
    Reply renew = p.renew("h1", 200);
    assertRefused(renew, true, Reply.NOT_HOLDER);
    assertTrue(renew.detail().contains("took it afresh and gave it back"), renew.detail());
    assertFalse(p.inspected().isLocked());
    assertTrue(p.acquire("h2", 200).ok());
    Thread.sleep(400);
    Reply release = p.release("h2");
    assertRefused(release, true, Reply.NOT_HOLDER);
    assertTrue(release.detail().contains("lease had run out"), release.detail());
  }

  @Test
  void aRenewAfterAnotherOwnerTookTheLockIsNotHolder() throws Exception {
    Plugin p = new Plugin(false);
    Plugin other = new Plugin(false).withKey(p.key);
    assertTrue(p.acquire("h1", 200).ok());
    Thread.sleep(400);
    assertTrue(other.acquire("h2", 5000).ok());
    Reply r = p.renew("h1", 200);
    assertRefused(r, true, Reply.NOT_HOLDER);
    assertTrue(r.detail().startsWith("another owner"), r.detail());
    assertTrue(other.release("h2").ok());
  }

  @Test
  void anUnknownHolderIsNotHolderAndAnUnknownOpUnsupported() {
    Plugin p = new Plugin(false);
    assertRefused(p.renew("nobody", 100), true, Reply.NOT_HOLDER);
    assertRefused(p.release("nobody"), true, Reply.NOT_HOLDER);
    assertRefused(
        p.locks.handle(new Request(id(), "ping", "", 0, ""), System.nanoTime()),
        true,
        Reply.UNSUPPORTED);
  }

  @Test
  void withoutAServerAnAcquireIsDefinite() throws Exception {
    Plugin p = new Plugin("127.0.0.1:" + freePort(), true, 1000);
    Reply r = p.acquire("h1", 1000);
    assertFalse(r.ok());
    assertTrue(r.definite(), r.toJson());
  }

  private static boolean onPath(String program) {
    String path = System.getenv().getOrDefault("PATH", "");
    for (String dir : path.split(File.pathSeparator)) {
      if (new File(dir, program).canExecute()) {
        return true;
      }
    }
    return false;
  }

  private static int freePort() throws Exception {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  private static void awaitPort(int port) throws Exception {
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (System.nanoTime() < deadline) {
      try {
        new Socket("127.0.0.1", port).close();
        return;
      } catch (java.io.IOException e) {
        Thread.sleep(20);
      }
    }
    throw new AssertionError("redis-server did not listen on " + port + " within 10 s");
  }
}
