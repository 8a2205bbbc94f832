package splitbrain.hazelcast;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;

/**
 * Reads request lines from stdin, at most {@link #MAX_LINE_BYTES} each: a longer line is
 * skipped whole (the agent kills a plug-in that writes a line over 1 MiB, and requests
 * are far shorter).
 */
final class LineReader {
    static final int MAX_LINE_BYTES = 1 << 20;
    /** What {@link #next()} returns for a line that was too long. */
    static final String TOO_LONG = "\u0000too long";

    private final InputStream in;
    private final int max;
    private final byte[] buffer = new byte[64 << 10];
    private int pos;
    private int end;

    LineReader(InputStream in) {
        this(in, MAX_LINE_BYTES);
    }

    LineReader(InputStream in, int max) {
        this.in = in;
        this.max = max;
    }

    /**
     * The next line without its line end and surrounding blanks, {@link #TOO_LONG}, or null
     * at the end of input (a last line without a newline still counts).
     */
    String next() throws IOException {
        ByteArrayOutputStream line = new ByteArrayOutputStream();
        boolean tooLong = false;
        boolean any = false;
        while (true) {
            if (pos == end) {
                end = in.read(buffer);
                pos = 0;
                if (end <= 0) {
                    end = 0;
                    if (!any) {
                        return null;
                    }
                    break;
                }
            }
            any = true;
            int newline = indexOf(buffer, pos, end, (byte) '\n');
            int stop = newline < 0 ? end : newline;
            if (!tooLong) {
                if (line.size() + (stop - pos) > max + 1) { // + 1 for a "\r"
                    tooLong = true;
                    line.reset();
                } else {
                    line.write(buffer, pos, stop - pos);
                }
            }
            pos = newline < 0 ? end : newline + 1;
            if (newline >= 0) {
                break;
            }
        }
        return tooLong ? TOO_LONG : line.toString(StandardCharsets.UTF_8).strip();
    }

    private static int indexOf(byte[] b, int from, int to, byte wanted) {
        for (int i = from; i < to; i++) {
            if (b[i] == wanted) {
                return i;
            }
        }
        return -1;
    }
}
