package splitbrain.redisson;

import com.fasterxml.jackson.databind.JsonNode;
import org.redisson.RedissonShutdownException;
import org.redisson.client.RedisAuthRequiredException;
import org.redisson.client.RedisConnectionException;
import org.redisson.client.RedisLoadingException;
import org.redisson.client.RedisBusyException;
import org.redisson.client.RedisNoScriptException;
import org.redisson.client.RedisOutOfMemoryException;
import org.redisson.client.RedisReadonlyException;
import org.redisson.client.RedisWrongPasswordException;
import splitbrain.plugin.Reply;
import splitbrain.plugin.Text;

/**
 * What a failed Redisson call means for the reply: definite only when the command certainly
 * did not run in Redis.
 */
final class Failures {
  private Failures() {}

  /**
   * Whether a call that threw {@code e} certainly did not run: Redisson could not connect or
   * could not write the command (RedisConnectionException and its WriteRedisConnectionException;
   * a lock script is sent once, so the error is about its only attempt), Redis refused it before
   * running it (BUSY, LOADING, NOSCRIPT, READONLY, OOM, authentication), or the client is shut
   * down. A response timeout, a connection reset with the command in flight, and anything
   * else may have let it run.
   */
  static boolean certainlyNotRun(Throwable e) {
    return e instanceof RedisConnectionException
        || e instanceof RedisBusyException
        || e instanceof RedisLoadingException
        || e instanceof RedisNoScriptException
        || e instanceof RedisReadonlyException
        || e instanceof RedisOutOfMemoryException
        || e instanceof RedisAuthRequiredException
        || e instanceof RedisWrongPasswordException
        || e instanceof RedissonShutdownException;
  }

  /** The reply to an acquire whose tryLock threw {@code e}. */
  static Reply acquireFailed(JsonNode id, Throwable e) {
    if (certainlyNotRun(e)) {
      return Reply.refusal(id, true, "redis did not run the lock script: " + Text.describe(e));
    }
    return Reply.refusal(
        id, false, "acquire failed: " + Text.describe(e) + "; the lock may have been taken");
  }

  /** The reply to a renew whose re-entry, hold count or unlock threw {@code e}. */
  static Reply renewFailed(JsonNode id, Throwable e) {
    return Reply.refusal(
        id, false, "renew failed: " + Text.describe(e) + "; the lease may have been re-set");
  }

  /** The reply to a release whose unlock threw {@code e}. */
  static Reply releaseFailed(JsonNode id, Throwable e) {
    if (certainlyNotRun(e)) {
      return Reply.refusal(id, true, "redis did not run the unlock script: " + Text.describe(e));
    }
    return Reply.refusal(
        id, false, "release failed: " + Text.describe(e) + "; the lock may have been released");
  }

  /** The reply to a step that was still running when the answer was due. */
  static Reply timeout(JsonNode id, String op, long afterMs, String consequence) {
    return Reply.refusal(id, false, "timeout: " + op + " after " + afterMs + " ms; " + consequence);
  }
}
