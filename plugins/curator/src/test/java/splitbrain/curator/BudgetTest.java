package splitbrain.curator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class BudgetTest {
  @Test
  void theMarginIsATenthFrom10To250Ms() {
    assertEquals(Duration.ofMillis(250), Budget.of(Duration.ofMillis(5000)).margin());
    assertEquals(Duration.ofMillis(100), Budget.of(Duration.ofMillis(1000)).margin());
    assertEquals(Duration.ofMillis(10), Budget.of(Duration.ofMillis(50)).margin());
    assertEquals(Duration.ofMillis(5), Budget.of(Duration.ofMillis(10)).margin());
  }

  @Test
  void theAnswerIsDueBeforeTheAgentGivesUp() {
    Budget b = Budget.of(Duration.ofMillis(1000));
    long start = System.nanoTime();
    long left = b.answerBy(start).remainingMillis();
    assertTrue(left <= 900 && left > 800, "left " + left);
    assertEquals(0, b.answerBy(start - Duration.ofSeconds(5).toNanos()).remainingMillis());
  }

  @Test
  void sessionsFollowTheTtlAndConnectionsWaitNoLongerThanEither() {
    assertEquals(2000, CuratorLock.sessionTimeoutFor(2000));
    assertEquals(Integer.MAX_VALUE, CuratorLock.sessionTimeoutFor(Long.MAX_VALUE));
    Budget b = Budget.of(Duration.ofMillis(5000));
    assertEquals(2000, CuratorLock.connectionTimeoutFor(b, 2000));
    assertEquals(4750, CuratorLock.connectionTimeoutFor(b, 10_000));
  }
}
