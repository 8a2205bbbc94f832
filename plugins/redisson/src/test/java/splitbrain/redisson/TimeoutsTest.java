package splitbrain.redisson;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.redisson.config.Config;
import org.redisson.config.SingleServerConfig;

class TimeoutsTest {
  @ParameterizedTest
  @ValueSource(longs = {10, 450, 1500, 4750, 100_000})
  void aCommandGivesUpWithinTheUsableTime(long usableMs) {
    Timeouts t = Timeouts.within(Duration.ofMillis(usableMs));
    assertTrue(t.worstCaseMs() <= usableMs, t + " for " + usableMs);
  }

  @Test
  void theMarginOfTheAgentsOneAndAHalfSecondsIsSpentSo() {
    // --ttl-ms 2000 runs give the plug-in 1666 ms; 166 ms is the reply's margin.
    Duration usable = Budget.of(Duration.ofMillis(1666)).usable();
    assertEquals(new Timeouts(300, 300, 1, 150), Timeouts.within(usable));
  }

  @Test
  void theConfigCarriesThemAndASmallPool() throws Exception {
    Config c = new Timeouts(300, 200, 1, 150).config("10.77.0.1:6379");
    SingleServerConfig s = c.useSingleServer();
    assertEquals("redis://10.77.0.1:6379", s.getAddress());
    assertEquals(300, s.getConnectTimeout());
    assertEquals(200, s.getTimeout());
    assertEquals(1, s.getRetryAttempts());
    assertEquals(Duration.ofMillis(150), s.getRetryDelay().calcDelay(0));
    assertEquals(1, s.getConnectionMinimumIdleSize());
    assertTrue(c.isLazyInitialization());
  }
}
