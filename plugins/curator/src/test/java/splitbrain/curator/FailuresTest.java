package splitbrain.curator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.IntNode;
import org.apache.curator.CuratorConnectionLossException;
import org.apache.zookeeper.KeeperException;
import org.junit.jupiter.api.Test;
import splitbrain.plugin.Reply;

class FailuresTest {
  private static final IntNode ID = IntNode.valueOf(1);

  @Test
  void aConnectionLossOrTimeoutMidAcquireIsNotDefinite() {
    for (Exception e :
        new Exception[] {
          new KeeperException.ConnectionLossException(),
          new CuratorConnectionLossException(),
          new KeeperException.SessionExpiredException(),
          new KeeperException.OperationTimeoutException(),
          new IllegalStateException("client closed"),
        }) {
      Reply r = Failures.acquireFailed(ID, e);
      assertFalse(r.definite(), e.toString());
      assertTrue(r.error().endsWith("the lock node may have been created"), r.error());
    }
  }

  @Test
  void anOutrightRefusalByZooKeeperIsDefinite() {
    Reply r = Failures.acquireFailed(ID, KeeperException.create(KeeperException.Code.NOAUTH, "/x"));
    assertTrue(r.definite());
    assertEquals("zookeeper refused the lock node: KeeperErrorCode = NoAuth for /x", r.error());
    assertTrue(Failures.acquireFailed(ID, new IllegalArgumentException("bad path")).definite());
  }

  @Test
  void aRefusalWhoseCleanUpDeleteFailedIsNotDefinite() {
    // Curator adds a failed delete of our lock node to the exception as suppressed.
    KeeperException e = KeeperException.create(KeeperException.Code.NOAUTH, "/x");
    e.addSuppressed(new KeeperException.ConnectionLossException());
    assertFalse(Failures.acquireFailed(ID, e).definite());
  }

  @Test
  void aGrantWhoseTokenCouldNotBeReadIsNotDefinite() {
    Reply r =
        Failures.acquireFailed(
            ID, new Failures.TokenUnreadable(new KeeperException.ConnectionLossException()));
    assertFalse(r.definite());
    assertTrue(r.error().startsWith("acquired, but reading the lock node's czxid"), r.error());
  }

  @Test
  void failedChecksAndReleasesAreNotDefinite() {
    Reply check = Failures.checkFailed(ID, "renew", new KeeperException.ConnectionLossException());
    assertFalse(check.definite());
    assertTrue(check.error().contains("ownership unknown"), check.error());
    Reply release =
        Failures.checkFailed(
            ID, "release", new Failures.ReleaseFailed(new KeeperException.ConnectionLossException()));
    assertFalse(release.definite());
    assertTrue(release.error().contains("guaranteed delete"), release.error());
  }

  @Test
  void aTimeoutSaysWhatMayHaveHappened() {
    Reply r = Failures.timeout(ID, "acquire", 4750, "the lock node may have been created");
    assertFalse(r.definite());
    assertEquals("timeout: acquire after 4750 ms; the lock node may have been created", r.error());
  }
}
