package splitbrain.curator;

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
                "SPLITBRAIN_ZOOKEEPER", "10.77.0.1:2181, 10.77.0.2:2181,",
                "SPLITBRAIN_OP_TIMEOUT_MS", "1500",
                "SPLITBRAIN_FENCING", "on",
                "SPLITBRAIN_EVENTS", "other,lost",
                "SPLITBRAIN_NODE", "n2"));
    assertEquals("10.77.0.1:2181,10.77.0.2:2181", s.servers());
    assertEquals(Duration.ofMillis(1500), s.opTimeout());
    assertTrue(s.fencing());
    assertTrue(s.lostEvents());
    assertEquals("n2", s.node());
  }

  @Test
  void defaultsAreNoFencingNoEventsAndTheRunnersOpTimeout() {
    Settings s = Settings.fromEnv(Map.of("SPLITBRAIN_ZOOKEEPER", "h:1"));
    assertFalse(s.fencing());
    assertFalse(s.lostEvents());
    assertEquals(Duration.ofMillis(5000), s.opTimeout());
  }

  @Test
  void lostEventsOnlyWhenNamed() {
    assertFalse(Settings.wantsLostEvents("lostx,notlost"));
    assertTrue(Settings.wantsLostEvents(" lost "));
  }

  @Test
  void badServersAndTimeoutsAreNamed() {
    assertTrue(
        assertThrows(IllegalArgumentException.class, () -> Settings.servers(null))
            .getMessage()
            .contains("--plugin-servers zookeeper"));
    assertThrows(IllegalArgumentException.class, () -> Settings.servers("host"));
    assertThrows(IllegalArgumentException.class, () -> Settings.servers("host:99999"));
    assertThrows(IllegalArgumentException.class, () -> Settings.servers(" , "));
    assertThrows(IllegalArgumentException.class, () -> Settings.opTimeout("0"));
    assertThrows(IllegalArgumentException.class, () -> Settings.opTimeout("soon"));
  }
}
