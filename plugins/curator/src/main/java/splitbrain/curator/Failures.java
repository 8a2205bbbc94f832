package splitbrain.curator;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.EnumSet;
import java.util.Set;
import org.apache.zookeeper.KeeperException;
import splitbrain.plugin.Reply;
import splitbrain.plugin.Text;

/**
 * What a failed step means for the reply: definite only when nothing of the operation can be
 * left in ZooKeeper.
 */
final class Failures {
  private Failures() {}

  /**
   * ZooKeeper's outright refusals of a request: the server did not apply it (a write is
   * applied whole or not at all).
   */
  static final Set<KeeperException.Code> REFUSALS =
      EnumSet.of(
          KeeperException.Code.NOAUTH,
          KeeperException.Code.AUTHFAILED,
          KeeperException.Code.INVALIDACL,
          KeeperException.Code.BADARGUMENTS,
          KeeperException.Code.UNIMPLEMENTED,
          KeeperException.Code.QUOTAEXCEEDED,
          KeeperException.Code.THROTTLEDOP,
          KeeperException.Code.NOTREADONLY);

  /**
   * Whether an acquire that threw {@code e} certainly left no lock node: an argument Curator
   * refused before sending anything, or a refusal by ZooKeeper after which Curator's clean-up
   * delete of our node (if one was created) did not fail (a failed clean-up is added to the
   * exception as suppressed).
   */
  static boolean acquireLeftNothing(Throwable e) {
    if (e instanceof IllegalArgumentException) {
      return true;
    }
    return e instanceof KeeperException ke
        && REFUSALS.contains(ke.code())
        && e.getSuppressed().length == 0;
  }

  /** The reply to an acquire whose attempt threw {@code e}. */
  static Reply acquireFailed(JsonNode id, Throwable e) {
    if (acquireLeftNothing(e)) {
      return Reply.refusal(id, true, "zookeeper refused the lock node: " + describe(e));
    }
    if (e instanceof TokenUnreadable t) {
      return Reply.refusal(
          id,
          false,
          "acquired, but reading the lock node's czxid (the token) failed: "
              + describe(t.getCause())
              + "; the lock is being released");
    }
    return Reply.refusal(
        id, false, "acquire failed: " + describe(e) + "; the lock node may have been created");
  }

  /** The reply to a read of the lock node (renew, release) that threw {@code e}. */
  static Reply checkFailed(JsonNode id, String op, Throwable e) {
    if (e instanceof ReleaseFailed r) {
      return Reply.refusal(
          id,
          false,
          "release failed: "
              + describe(r.getCause())
              + "; Curator keeps retrying the delete in the background (a guaranteed delete)");
    }
    return Reply.refusal(
        id, false, op + ": reading the lock node failed: " + describe(e) + "; ownership unknown");
  }

  /** The reply to a step that was still running when the answer was due. */
  static Reply timeout(JsonNode id, String op, long afterMs, String consequence) {
    return Reply.refusal(id, false, "timeout: " + op + " after " + afterMs + " ms; " + consequence);
  }

  /** A KeeperException as ZooKeeper names it ("KeeperErrorCode = ConnectionLoss for /x"). */
  static String describe(Throwable e) {
    return e instanceof KeeperException ? e.getMessage() : Text.describe(e);
  }

  /** The acquire got the lock but could not read the token; the lock was let go. */
  static final class TokenUnreadable extends Exception {
    private static final long serialVersionUID = 1L;

    TokenUnreadable(Throwable cause) {
      super(cause);
    }
  }

  /** The release's delete failed (the ownership check before it had passed). */
  static final class ReleaseFailed extends Exception {
    private static final long serialVersionUID = 1L;

    ReleaseFailed(Throwable cause) {
      super(cause);
    }
  }
}
