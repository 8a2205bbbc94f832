package splitbrain.hazelcast;

/** Small helpers for the texts that go into replies and the log. */
final class Text {
    private Text() {
    }

    /** {@code s}, cut after {@code n} characters with "..." when longer. */
    static String cut(String s, int n) {
        return s.length() <= n ? s : s.substring(0, n) + "...";
    }

    /** An exception as its simple class name and message, and its cause's when it has one. */
    static String describe(Throwable t) {
        StringBuilder b = new StringBuilder(t.getClass().getSimpleName());
        if (t.getMessage() != null) {
            b.append(": ").append(cut(t.getMessage(), 300));
        }
        Throwable cause = t.getCause();
        if (cause != null && cause != t) {
            b.append(" (cause ").append(cause.getClass().getSimpleName());
            if (cause.getMessage() != null) {
                b.append(": ").append(cut(cause.getMessage(), 200));
            }
            b.append(')');
        }
        return b.toString();
    }
}
