package splitbrain.curator;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.retry.RetryOneTime;
import splitbrain.plugin.Log;
import splitbrain.plugin.Text;

/**
 * Loads Curator's and ZooKeeper's classes on a background thread while the main thread reads
 * and parses the first request. A fresh JVM spends most of its first request loading classes
 * (some 2,000 of them), and the agent's clock for that request runs from the process's start:
 * the two halves of the work, JSON and Curator, load in parallel instead of one after the
 * other. Nothing here connects or writes: the client is built, never started.
 */
final class Warmup {
  /** Classes the first acquire needs that building an unstarted client does not load. */
  private static final String[] FIRST_ACQUIRE_CLASSES = {
    "org.apache.zookeeper.ZooKeeper",
    "org.apache.zookeeper.ClientCnxn",
    "org.apache.zookeeper.ClientCnxnSocketNIO",
    "org.apache.zookeeper.data.Stat",
    "org.apache.curator.framework.imps.CreateBuilderImpl",
    "org.apache.curator.framework.imps.ExistsBuilderImpl",
    "org.apache.curator.framework.imps.GetChildrenBuilderImpl",
    "org.apache.curator.framework.imps.DeleteBuilderImpl",
    "org.apache.curator.framework.recipes.locks.StandardLockInternalsDriver",
  };

  private Warmup() {}

  static void start(String servers) {
    Thread t = new Thread(() -> warm(servers), "warm-up");
    t.setDaemon(true);
    t.start();
  }

  private static void warm(String servers) {
    try {
      CuratorFramework unstarted =
          CuratorFrameworkFactory.builder()
              .connectString(servers)
              .retryPolicy(new RetryOneTime(1))
              .build();
      new GrantMutex(unstarted, CuratorLock.lockDir("warm-up"), "warm-up");
      ClassLoader loader = Warmup.class.getClassLoader();
      for (String name : FIRST_ACQUIRE_CLASSES) {
        Class.forName(name, true, loader);
      }
    } catch (Throwable e) { // only an optimisation: the first request loads what is missing
      Log.note("warm-up: " + Text.describe(e));
    }
  }
}
