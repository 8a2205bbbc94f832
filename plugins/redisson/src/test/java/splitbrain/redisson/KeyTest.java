package splitbrain.redisson;

import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

import org.junit.jupiter.api.Test;

/** The keys the lock takes: any Redis key name that is not empty and at most 512 bytes. */
class KeyTest {
  @Test
  void aKeyMustBeNonEmptyAndAtMost512Bytes() {
    assertNotNull(RedissonLocks.checkKey(""));
    assertNotNull(RedissonLocks.checkKey("x".repeat(513)));
    assertNotNull(RedissonLocks.checkKey("\u00e9".repeat(257))); // 514 bytes in UTF-8
    assertNull(RedissonLocks.checkKey("x".repeat(512)));
    assertNull(RedissonLocks.checkKey("a/b {c}"));
  }
}
