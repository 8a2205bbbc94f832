package splitbrain.hazelcast;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class LineReaderTest {
    private static LineReader reader(String text, int max) {
        return new LineReader(new ByteArrayInputStream(text.getBytes(StandardCharsets.UTF_8)), max);
    }

    @Test
    void readsLinesWithoutTheirEndsOrBlanks() throws IOException {
        LineReader r = reader("one\r\n  two \n\nlast", 100);
        assertEquals("one", r.next());
        assertEquals("two", r.next());
        assertEquals("", r.next());
        assertEquals("last", r.next());
        assertNull(r.next());
    }

    @Test
    void skipsALineThatIsTooLongAndGoesOn() throws IOException {
        LineReader r = reader("x".repeat(50) + "\nshort\n", 10);
        assertSame(LineReader.TOO_LONG, r.next());
        assertEquals("short", r.next());
        assertNull(r.next());
    }

    @Test
    void readsLinesLongerThanItsBuffer() throws IOException {
        String longLine = "y".repeat(200_000);
        LineReader r = reader(longLine + "\nz\n", LineReader.MAX_LINE_BYTES);
        assertEquals(longLine, r.next());
        assertEquals("z", r.next());
    }
}
