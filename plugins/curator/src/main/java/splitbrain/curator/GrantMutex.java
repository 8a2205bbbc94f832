package splitbrain.curator;

import java.nio.charset.StandardCharsets;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;

/**
 * Curator's InterProcessMutex for one grant, unchanged but for two things it lets a subclass
 * do: the lock node holds the holder id as its data, and the node's path can be read (to read
 * its czxid, the fencing token, and to check it still exists).
 */
final class GrantMutex extends InterProcessMutex {
  private final byte[] holder;

  GrantMutex(CuratorFramework client, String lockDir, String holder) {
    super(client, lockDir);
    this.holder = holder.getBytes(StandardCharsets.UTF_8);
  }

  @Override
  protected byte[] getLockNodeBytes() {
    return holder.clone();
  }

  /**
   * The lock node of the grant the calling thread holds, or null. Like everything of an
   * InterProcessMutex, it answers for the thread that acquired.
   */
  String lockNode() {
    return getLockPath();
  }
}
