package splitbrain.hazelcast;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

class RoleServerTest {
    private static String ask(RoleServer server) throws IOException {
        try (Socket s = new Socket("127.0.0.1", server.port())) {
            InputStream in = s.getInputStream();
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    @Test
    void everyConnectionGetsTheRoleOfTheMomentOnOneLine() throws IOException {
        AtomicReference<String> role = new AtomicReference<>(MemberRole.FOLLOWER);
        RoleServer server = RoleServer.start("127.0.0.1", 0, role::get);
        try {
            assertEquals("follower\n", ask(server));
            role.set(MemberRole.LEADER);
            assertEquals("leader\n", ask(server));
        } finally {
            server.close();
        }
    }

    @Test
    void aRoleThatCannotBeToldIsUnknownWithWhy() throws IOException {
        RoleServer server = RoleServer.start("127.0.0.1", 0, () -> {
            throw new IllegalStateException("no cluster yet");
        });
        try {
            String answer = ask(server);
            assertTrue(answer.startsWith("unknown: ") && answer.contains("no cluster yet"), answer);
        } finally {
            server.close();
        }
    }
}
