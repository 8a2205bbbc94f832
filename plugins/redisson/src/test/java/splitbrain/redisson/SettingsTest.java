package splitbrain.redisson;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

class SettingsTest {
  @Test
  void theRunsEnvironmentIsRead() {
    Settings s =
        Settings.fromEnv(
            Map.of(
                "SPLITBRAIN_REDIS", " 10.77.0.1:6379 ",
                "SPLITBRAIN_OP_TIMEOUT_MS", "1666",
                "SPLITBRAIN_FENCING", "on",
                "SPLITBRAIN_NODE", "n3"));
    assertEquals("10.77.0.1:6379", s.redis());
    assertEquals(Duration.ofMillis(1666), s.opTimeout());
    assertTrue(s.fencing());
    assertEquals("n3", s.node());
  }

  @Test
  void defaultsAreNoFencingAndTheRunnersOpTimeout() {
    Settings s = Settings.fromEnv(Map.of("SPLITBRAIN_REDIS", "h:1"));
    assertFalse(s.fencing());
    assertEquals(Duration.ofMillis(5000), s.opTimeout());
  }

  @Test
  void aBadServerOrTimeoutIsNamed() {
    assertTrue(
        assertThrows(IllegalArgumentException.class, () -> Settings.redis(""))
            .getMessage()
            .contains("--plugin-servers redis"));
    assertThrows(IllegalArgumentException.class, () -> Settings.redis("h:1,h:2"));
    assertThrows(IllegalArgumentException.class, () -> Settings.redis("h"));
    assertThrows(IllegalArgumentException.class, () -> Settings.redis("h:0"));
    assertThrows(IllegalArgumentException.class, () -> Settings.opTimeout("-1"));
  }
}
