package splitbrain.hazelcast;

/**
 * The outcome of one request, before it is addressed to the request's id.
 *
 * @param ok whether the op took effect
 * @param token the fencing token of a grant, or null
 * @param definite for a refusal: true when the op certainly did not take effect
 * @param error for a refusal: {@code held}, {@code not-holder}, {@code unsupported}, or
 *     another short text
 * @param detail for a refusal: what happened, in words, or null
 */
record Answer(boolean ok, Long token, boolean definite, String error, String detail) {
    static final String HELD = "held";
    static final String NOT_HOLDER = "not-holder";
    static final String UNSUPPORTED = "unsupported";

    static Answer granted(long token) {
        return new Answer(true, token, false, null, null);
    }

    static Answer done() {
        return new Answer(true, null, false, null, null);
    }

    /** A refusal of an op that certainly did not take effect. */
    static Answer refused(String error, String detail) {
        return new Answer(false, null, true, error, detail);
    }

    /** A failure of an op that may have taken effect. */
    static Answer unknown(String error, String detail) {
        return new Answer(false, null, false, error, detail);
    }
}
