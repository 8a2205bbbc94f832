package splitbrain.hazelcast;

import com.hazelcast.config.Config;
import com.hazelcast.core.Hazelcast;
import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.core.LifecycleEvent.LifecycleState;
import com.hazelcast.cp.CPSubsystemManagementService;
import java.io.IOException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;

/**
 * {@code hazelcast-member}: one Hazelcast member configured from its arguments (see
 * {@link MemberArgs}). Prints {@value #READY} on stdout once it has joined the cluster and,
 * with the CP Subsystem on, CP discovery has completed (and its status port, if asked for,
 * is open); then runs until killed. Hazelcast's
 * log and the member's notes go to stderr.
 */
public final class MemberMain {
    static final String READY = "hazelcast-member ready";
    private static final int EXIT_USAGE = 2;

    private MemberMain() {
    }

    public static void main(String[] argv) throws InterruptedException {
        Log.setUp("hazelcast-member", Level.INFO);
        MemberArgs args;
        try {
            args = MemberArgs.parse(argv);
        } catch (IllegalArgumentException e) {
            Log.info(e.getMessage());
            Log.info(MemberArgs.USAGE);
            System.exit(EXIT_USAGE);
            return;
        }
        MemberTimings timings = MemberTimings.choose(args.sessionTtlMs(), args.heartbeatMs());
        MemberConfigFactory.describe(args, timings).forEach(Log::info);
        Config config = MemberConfigFactory.build(args, timings);

        long start = System.nanoTime();
        HazelcastInstance member = Hazelcast.newHazelcastInstance(config);
        CountDownLatch stopped = new CountDownLatch(1);
        member.getLifecycleService().addLifecycleListener(event -> {
            if (event.getState() == LifecycleState.SHUTDOWN) {
                stopped.countDown();
            }
        });
        Log.info("joined a cluster of " + member.getCluster().getMembers().size() + " member(s) after "
                + millisSince(start) + " ms");
        if (args.cpSubsystemOn()) {
            awaitCpDiscovery(member.getCPSubsystem().getCPSubsystemManagementService(), start);
        }
        if (args.statusPort() != 0) {
            try {
                RoleServer.start(args.bindIp(), args.statusPort(),
                        () -> MemberRole.of(member, args.cpSubsystemOn(), args.lockKey()));
            } catch (IOException e) {
                Log.info("cannot open the status port " + args.statusPort() + ": " + Text.describe(e));
                System.exit(EXIT_USAGE);
            }
        }
        System.out.println(READY);
        System.out.flush();
        stopped.await();
        // Hazelcast shut itself down (or was shut down): a member that is gone must not
        // look alive to the runner.
        Log.info("the member has shut down; exiting");
        System.exit(1);
    }

    private static void awaitCpDiscovery(CPSubsystemManagementService cp, long start) throws InterruptedException {
        while (!cp.awaitUntilDiscoveryCompleted(10, TimeUnit.SECONDS)) {
            Log.info("still waiting for CP discovery (all CP members must join) after " + millisSince(start) + " ms");
        }
        Log.info("CP discovery completed after " + millisSince(start) + " ms");
    }

    private static long millisSince(long startNanos) {
        return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNanos);
    }
}
