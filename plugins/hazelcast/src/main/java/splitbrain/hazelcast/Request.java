package splitbrain.hazelcast;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * One parsed request line (docs/plugins.md).
 *
 * @param id echoed verbatim in the reply
 * @param op {@code acquire}, {@code renew}, {@code release}, or another op, answered
 *     {@code unsupported}
 * @param key the lock's name
 * @param holder unique per acquire: the grant's owner
 * @param ttlMs the lease the agent assumes (acquire and renew); 0 when absent
 * @param token the grant's token (renew and release), or null
 */
record Request(JsonNode id, String op, String key, String holder, long ttlMs, Long token) {

    boolean isAcquire() {
        return op.equals("acquire");
    }

    boolean isRenew() {
        return op.equals("renew");
    }

    boolean isRelease() {
        return op.equals("release");
    }

    /** The agent's question, before the workload, whether the client can take requests. */
    boolean isReady() {
        return op.equals("ready");
    }

    boolean isKnownOp() {
        return isAcquire() || isRenew() || isRelease();
    }
}
