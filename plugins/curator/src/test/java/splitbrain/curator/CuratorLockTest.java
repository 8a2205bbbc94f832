package splitbrain.curator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.IntNode;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.retry.RetryOneTime;
import org.apache.curator.test.InstanceSpec;
import org.apache.curator.test.TestingServer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import splitbrain.plugin.Output;
import splitbrain.plugin.Reply;
import splitbrain.plugin.Request;

/** The lock itself, on an in-process ZooKeeper server (tickTime 100 ms: sessions of 0.2-2 s). */
class CuratorLockTest {
  private static final int TICK_MS = 100;
  private static TestingServer server;
  private static CuratorFramework inspector;
  private static final AtomicInteger ids = new AtomicInteger();
  private static final AtomicInteger keys = new AtomicInteger();

  @BeforeAll
  static void startZooKeeper() throws Exception {
    server =
        new TestingServer(
            new InstanceSpec(null, -1, -1, -1, true, 1, TICK_MS, -1), true);
    inspector =
        CuratorFrameworkFactory.newClient(server.getConnectString(), new RetryOneTime(100));
    inspector.start();
    inspector.blockUntilConnected();
  }

  @AfterAll
  static void stopZooKeeper() throws Exception {
    inspector.close();
    server.close();
  }

  /** A plug-in process: its lock and what it wrote besides replies. */
  private static final class Plugin {
    final ByteArrayOutputStream events = new ByteArrayOutputStream();
    final CuratorLock lock;
    String key = "lock-" + keys.incrementAndGet();

    Plugin(boolean fencing, boolean lostEvents) {
      this(server.getConnectString(), fencing, lostEvents, 2000);
    }

    Plugin(String servers, boolean fencing, boolean lostEvents, long opTimeoutMs) {
      Settings s = new Settings(servers, Duration.ofMillis(opTimeoutMs), fencing, lostEvents, "n1");
      lock = new CuratorLock(s, new Output(events, lostEvents));
    }

    /** This process on another process's lock. */
    Plugin withKey(String key) {
      this.key = key;
      return this;
    }

    Reply acquire(String holder) {
      return lock.handle(
          new Request(id(), "acquire", key, 1000, holder), System.nanoTime());
    }

    Reply renew(String holder) {
      return lock.handle(new Request(id(), "renew", key, 1000, holder), System.nanoTime());
    }

    Reply release(String holder) {
      return lock.handle(new Request(id(), "release", key, 0, holder), System.nanoTime());
    }

    List<JsonNode> eventLines() throws Exception {
      ObjectMapper json = new ObjectMapper();
      List<JsonNode> out = new java.util.ArrayList<>();
      for (String line : events.toString(StandardCharsets.UTF_8).lines().toList()) {
        out.add(json.readTree(line));
      }
      return out;
    }

    CuratorFramework client() {
      return lock.client();
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

  private static void deleteLockNodes(String key) throws Exception {
    String dir = CuratorLock.lockDir(key);
    for (String child : inspector.getChildren().forPath(dir)) {
      inspector.delete().forPath(dir + "/" + child);
    }
  }

  @Test
  void theTokenIsTheLockNodesCzxidAndGrowsWithEveryGrant() throws Exception {
    Plugin p = new Plugin(true, false);
    Reply first = p.acquire("h1");
    assertTrue(first.ok(), first.toJson());
    assertNotNull(first.token());
    String dir = CuratorLock.lockDir(p.key);
    String node = dir + "/" + inspector.getChildren().forPath(dir).get(0);
    assertEquals(first.token(), inspector.checkExists().forPath(node).getCzxid());
    assertEquals("h1", new String(inspector.getData().forPath(node), StandardCharsets.UTF_8));
    assertTrue(p.release("h1").ok());
    Reply second = p.acquire("h2");
    assertTrue(second.ok(), second.toJson());
    assertTrue(second.token() > first.token(), first.token() + " then " + second.token());
    assertTrue(p.release("h2").ok());
  }

  @Test
  void withoutFencingAGrantHasNoToken() {
    Plugin p = new Plugin(false, false);
    Reply r = p.acquire("h1");
    assertTrue(r.ok(), r.toJson());
    assertNull(r.token());
    assertTrue(p.release("h1").ok());
  }

  @Test
  void aSecondHolderIsRefusedEvenInTheSameProcessNotReEntered() {
    // One thread for both would make InterProcessMutex re-entrant: each grant has its own.
    Plugin p = new Plugin(true, false);
    assertTrue(p.acquire("h1").ok());
    assertRefused(p.acquire("h2"), true, Reply.HELD);
    assertRefused(new Plugin(true, false).withKey(p.key).acquire("h3"), true, Reply.HELD);
    assertTrue(p.release("h1").ok());
    assertTrue(p.acquire("h2").ok());
  }

  @Test
  void renewAnswersOkWhileTheLockNodeIsOursAndNotHolderOnceItIsGone() throws Exception {
    Plugin p = new Plugin(true, false);
    assertTrue(p.acquire("h1").ok());
    assertTrue(p.renew("h1").ok());
    deleteLockNodes(p.key);
    Reply r = p.renew("h1");
    assertRefused(r, true, Reply.NOT_HOLDER);
    assertTrue(r.detail().contains("is gone"), r.detail());
    // The grant is forgotten: a release finds nothing to release.
    assertRefused(p.release("h1"), true, Reply.NOT_HOLDER);
  }

  @Test
  void releasingALockLostBeforeIsNotHolder() throws Exception {
    Plugin p = new Plugin(false, false);
    assertTrue(p.acquire("h1").ok());
    deleteLockNodes(p.key);
    Reply r = p.release("h1");
    assertRefused(r, true, Reply.NOT_HOLDER);
    assertTrue(r.detail().contains("is gone"), r.detail());
    assertTrue(p.acquire("h2").ok());
  }

  @Test
  void anUnknownHolderIsNotHolderAndAnUnknownOpUnsupported() {
    Plugin p = new Plugin(false, false);
    assertRefused(p.renew("nobody"), true, Reply.NOT_HOLDER);
    assertRefused(p.release("nobody"), true, Reply.NOT_HOLDER);
    assertRefused(
        p.lock.handle(new Request(id(), "ping", "", 0, ""), System.nanoTime()),
        true,
        Reply.UNSUPPORTED);
  }

  @Test
  void aHolderCannotAcquireTwice() {
    Plugin p = new Plugin(false, false);
    assertTrue(p.acquire("h1").ok());
    Reply again = p.acquire("h1");
    assertFalse(again.ok());
    assertTrue(again.definite());
  }

  @Test
  void anExpiredSessionIsReportedOnceAsALostEvent() throws Exception {
    Plugin p = new Plugin(true, true);
    Reply granted = p.acquire("h1");
    assertTrue(granted.ok(), granted.toJson());
    p.client().getZookeeperClient().getZooKeeper().getTestable().injectSessionExpiration();
    List<JsonNode> events = awaitEvents(p, 1);
    JsonNode e = events.get(0);
    assertEquals("lost", e.get("event").textValue());
    assertNull(e.get("id"));
    assertEquals(p.key, e.get("key").textValue());
    assertEquals("h1", e.get("holder").textValue());
    assertEquals(granted.token().longValue(), e.get("token").longValue());
    assertTrue(e.get("detail").textValue().startsWith("curator connection "), e.toString());
    Thread.sleep(500);
    assertEquals(1, p.eventLines().size(), p.eventLines().toString());
    assertRefused(p.renew("h1"), true, Reply.NOT_HOLDER);
  }

  @Test
  void noEventsAreWrittenUnlessAskedFor() throws Exception {
    Plugin p = new Plugin(true, false);
    assertTrue(p.acquire("h1").ok());
    p.client().getZookeeperClient().getZooKeeper().getTestable().injectSessionExpiration();
    Thread.sleep(1000);
    assertEquals(0, p.events.size());
  }

  @Test
  void withoutAServerAnAcquireIsDefinite() {
    Plugin p = new Plugin("127.0.0.1:" + InstanceSpec.getRandomPort(), false, false, 600);
    Reply r = p.acquire("h1");
    assertFalse(r.ok());
    assertTrue(r.definite(), r.toJson());
    assertTrue(r.error().startsWith("not connected to ZooKeeper"), r.error());
  }

  private static List<JsonNode> awaitEvents(Plugin p, int n) throws Exception {
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (System.nanoTime() < deadline) {
      List<JsonNode> events = p.eventLines();
      if (events.size() >= n) {
        return events;
      }
      Thread.sleep(20);
    }
    throw new AssertionError("no lost event within 10 s");
  }
}
