package splitbrain.hazelcast;

import com.hazelcast.core.HazelcastInstance;
import com.hazelcast.cp.CPGroup;
import com.hazelcast.cp.CPGroupId;
import com.hazelcast.cp.internal.RaftService;
import com.hazelcast.cp.internal.raft.impl.RaftEndpoint;
import com.hazelcast.cp.internal.raft.impl.RaftNode;
import com.hazelcast.instance.impl.HazelcastInstanceProxy;
import com.hazelcast.partition.Partition;
import java.util.concurrent.TimeUnit;

/**
 * Whether this member leads the lock: with the CP Subsystem on, whether it is the Raft
 * leader of the default CP group (where the FencedLock lives); with it off, whether it
 * owns the partition that holds the lock's data. Hazelcast's public API says neither for
 * the CP group, so the Raft node is read through the member's internals.
 */
final class MemberRole {
    static final String LEADER = "leader";
    static final String FOLLOWER = "follower";

    private MemberRole() {
    }

    static String of(HazelcastInstance member, boolean cpSubsystemOn, String lockKey) {
        return cpSubsystemOn ? raftRole(member) : partitionRole(member, lockKey);
    }

    private static String raftRole(HazelcastInstance member) {
        CPGroupId group;
        try {
            group = member.getCPSubsystem().getCPSubsystemManagementService()
                    .getCPGroup(CPGroup.DEFAULT_GROUP_NAME).toCompletableFuture().get(1, TimeUnit.SECONDS).id();
        } catch (Exception e) {
            return "unknown: the default CP group: " + Text.describe(e);
        }
        RaftService raft = ((HazelcastInstanceProxy) member).getOriginal().node.getNodeEngine()
                .getService(RaftService.SERVICE_NAME);
        RaftNode node = raft.getRaftNode(group);
        if (node == null) {
            return "unknown: no Raft node of the default CP group here";
        }
        RaftEndpoint leader = node.getLeader();
        if (leader == null) {
            return "unknown: the default CP group has no leader now";
        }
        return leader.equals(node.getLocalMember()) ? LEADER : FOLLOWER;
    }

    private static String partitionRole(HazelcastInstance member, String lockKey) {
        Partition partition = member.getPartitionService().getPartition(lockKey);
        if (partition.getOwner() == null) {
            return "unknown: the lock's partition has no owner now";
        }
        return partition.getOwner().localMember() ? LEADER : FOLLOWER;
    }
}
