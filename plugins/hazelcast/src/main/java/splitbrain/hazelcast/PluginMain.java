package splitbrain.hazelcast;

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;

/**
 * {@code hazelcast}: the splitbrain lock plug-in (docs/plugins.md) for Hazelcast's CP
 * Subsystem FencedLock. Requests on stdin, replies (and lost-lock events) on stdout, notes
 * and the client's warnings on stderr. See README.md.
 */
public final class PluginMain {
    private static final int EXIT_SETUP = 2;
    private static final long PROCESS_START_RESOLUTION_MILLIS = 10;

    private PluginMain() {
    }

    public static void main(String[] args) throws IOException {
        Log.setUp("hazelcast", Level.WARNING);
        Output output = new Output(new FileOutputStream(FileDescriptor.out));
        System.setOut(System.err); // stdout carries replies and events only
        PluginSettings settings;
        try {
            settings = PluginSettings.fromEnv(System.getenv());
        } catch (IllegalArgumentException e) {
            Log.info(e.getMessage());
            System.exit(EXIT_SETUP);
            return;
        }
        Budget budget = Budget.of(settings.opTimeout());
        ClientConfigFactory.Timeouts timeouts = ClientConfigFactory.Timeouts.within(budget);
        ClientConfigFactory.describe(settings, timeouts).forEach(Log::info);

        Grants grants = new Grants((grant, detail) -> {
            Log.info("lost: " + grant + ": " + detail);
            if (settings.lostEvents()) {
                output.lost(grant.key, grant.holder, grant.fence, detail);
            }
        });
        HazelcastConnection connection = new HazelcastConnection(settings, timeouts, grants);
        RequestRunner runner = new RequestRunner(new LockHandler(connection, grants, System::nanoTime), budget,
                System::nanoTime);
        runner.runFirst("starting the Hazelcast client", connection::start);
        LostWatcher.start(grants);

        // A request already waiting was sent while the JVM started: its deadline counts from
        // the process's start, since the agent's clock was running.
        long firstStart = System.in.available() > 0 ? processStartNanos() : Long.MAX_VALUE;
        Log.info("reading requests " + ManagementFactory.getRuntimeMXBean().getUptime() + " ms after the JVM started");
        serve(new LineReader(System.in), new RequestParser(), runner, output, firstStart);
        // Stdin closed: leave as a crashed client would, without releasing or closing the
        // CP sessions (a clean client shutdown closes them, which frees their locks at once).
        Log.info("stdin closed; exiting with " + grants.all().size() + " grant(s) held, left to their CP sessions' TTL");
        Runtime.getRuntime().halt(0);
    }

    /**
     * Answers requests until stdin closes. A request's deadline counts from when it was
     * read, the first one's from {@code firstStartNanos} when that is earlier.
     */
    static void serve(LineReader in, RequestParser parser, RequestRunner runner, Output out, long firstStartNanos)
            throws IOException {
        String line;
        boolean first = true;
        while ((line = in.next()) != null) {
            long start = first ? Math.min(firstStartNanos, System.nanoTime()) : System.nanoTime();
            first = false;
            if (line == LineReader.TOO_LONG) {
                Log.info("bad request: a line longer than " + LineReader.MAX_LINE_BYTES + " bytes, skipped");
                continue;
            }
            if (line.isEmpty()) {
                continue;
            }
            Request request;
            try {
                request = parser.parse(line);
            } catch (BadRequest e) {
                Log.info(e.getMessage());
                if (e.id() != null) {
                    out.reply(e.id(), Answer.refused(e.getMessage(), null));
                }
                continue;
            }
            Answer answer;
            if (request.isReady()) {
                answer = runner.whenStarted();
            } else if (request.isKnownOp()) {
                answer = runner.run(request, start);
            } else {
                answer = Answer.refused(Answer.UNSUPPORTED, "op " + Text.cut(request.op(), 40) + " is not supported");
            }
            out.reply(request.id(), answer);
        }
    }

    /**
     * When this process started, on System.nanoTime's scale; early by the resolution of the
     * start time the system keeps (a clock tick, 10 ms), and by the JVM's uptime when the
     * system does not say.
     */
    static long processStartNanos() {
        long nowNanos = System.nanoTime();
        long sinceStartMillis = ProcessHandle.current().info().startInstant()
                .map(startedAt -> Duration.between(startedAt, Instant.now()).toMillis())
                .orElse(ManagementFactory.getRuntimeMXBean().getUptime());
        return nowNanos - TimeUnit.MILLISECONDS.toNanos(sinceStartMillis + PROCESS_START_RESOLUTION_MILLIS);
    }
}
