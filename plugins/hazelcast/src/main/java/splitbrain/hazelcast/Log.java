package splitbrain.hazelcast;

import java.time.LocalTime;
import java.time.format.DateTimeFormatter;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The programs' own notes, one line each on stderr (the agent's log for the plug-in, the
 * node's log for a member), and the setup of Hazelcast's logging (java.util.logging) in
 * the same one-line format.
 */
final class Log {
    private static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("HH:mm:ss.SSS");
    private static volatile String prefix = "";

    private Log() {
    }

    /**
     * Names the program in every line, and sets Hazelcast's log records to one line each
     * (time, level, logger, message) from {@code hazelcastLevel} up. Must run before
     * Hazelcast logs anything: the format is read once.
     */
    static void setUp(String program, Level hazelcastLevel) {
        prefix = program + ": ";
        System.setProperty("java.util.logging.SimpleFormatter.format",
                "%1$tH:%1$tM:%1$tS.%1$tL %4$s %3$s %5$s%6$s%n");
        Logger.getLogger("com.hazelcast").setLevel(hazelcastLevel);
    }

    static void info(String message) {
        System.err.println(LocalTime.now().format(TIME) + " " + prefix + message);
    }
}
