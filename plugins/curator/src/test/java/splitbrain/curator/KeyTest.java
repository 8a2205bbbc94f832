package splitbrain.curator;

import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The keys the lock takes: each is one ZooKeeper node name, its lock's directory. */
class KeyTest {
  @ParameterizedTest
  @ValueSource(strings = {"", "a/b", ".", "..", "nul\u0000here"})
  void aKeyMustBeOneZooKeeperPathElement(String key) {
    assertNotNull(CuratorLock.checkKey(key), key);
  }

  @ParameterizedTest
  @ValueSource(strings = {"splitbrain-lock", "a b", "k.1"})
  void otherKeysAreTaken(String key) {
    assertNull(CuratorLock.checkKey(key), key);
  }
}
