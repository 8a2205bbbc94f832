package splitbrain.redisson;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.IntNode;
import org.junit.jupiter.api.Test;
import org.redisson.client.RedisBusyException;
import org.redisson.client.RedisConnectionException;
import org.redisson.client.RedisException;
import org.redisson.client.RedisReconnectedException;
import org.redisson.client.RedisResponseTimeoutException;
import org.redisson.client.RedisTimeoutException;
import org.redisson.client.WriteRedisConnectionException;
import splitbrain.plugin.Reply;

class FailuresTest {
  private static final IntNode ID = IntNode.valueOf(1);

  @Test
  void aCommandThatNeverReachedRedisIsDefinite() {
    for (Exception e :
        new Exception[] {
          new RedisConnectionException("Unable to connect to: redis://10.77.0.1:6379"),
          new WriteRedisConnectionException("Unable to write command into connection!"),
          new RedisBusyException("BUSY Redis is busy running a script"),
        }) {
      Reply r = Failures.acquireFailed(ID, e);
      assertTrue(r.definite(), e.toString());
      assertTrue(r.error().startsWith("redis did not run the lock script: "), r.error());
    }
  }

  @Test
  void aTimeoutOrAResetMidCommandIsNotDefinite() {
    for (Exception e :
        new Exception[] {
          new RedisResponseTimeoutException("Redis server response timeout (300 ms)"),
          new RedisTimeoutException("Command still hasn't been written into connection!"),
          new RedisReconnectedException("reconnected"),
          new RedisException("Unexpected exception while processing command"),
          new IllegalStateException("?"),
        }) {
      Reply r = Failures.acquireFailed(ID, e);
      assertFalse(r.definite(), e.toString());
      assertTrue(r.error().endsWith("; the lock may have been taken"), r.error());
    }
  }

  @Test
  void renewAndReleaseFailuresSayWhatMayHaveHappened() {
    Reply renew = Failures.renewFailed(ID, new RedisResponseTimeoutException("late"));
    assertFalse(renew.definite());
    assertTrue(renew.error().endsWith("the lease may have been re-set"), renew.error());
    Reply release = Failures.releaseFailed(ID, new RedisResponseTimeoutException("late"));
    assertFalse(release.definite());
    assertTrue(
        Failures.releaseFailed(ID, new RedisConnectionException("Unable to connect")).definite());
  }

  @Test
  void aTimeoutNamesTheOpAndTheTime() {
    assertEquals(
        "timeout: renew after 1500 ms; the lease may have been re-set",
        Failures.timeout(ID, "renew", 1500, "the lease may have been re-set").error());
  }
}
