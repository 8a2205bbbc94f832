package splitbrain.hazelcast;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.function.Supplier;

/**
 * The member's status port: every connection gets one line, this member's role for the
 * lock ({@code leader}, {@code follower}, or {@code unknown: why}), and is closed. The
 * runner asks each member this way, from the member's own node, to find the node that
 * {@code isolate-leader} cuts off, as it asks ZooKeeper servers {@code srvr}.
 */
final class RoleServer {
    private final ServerSocket socket;
    private final Supplier<String> role;

    private RoleServer(ServerSocket socket, Supplier<String> role) {
        this.socket = socket;
        this.role = role;
    }

    /** Binds {@code ip:port} and answers on a daemon thread; the bound port is {@link #port()}. */
    static RoleServer start(String ip, int port, Supplier<String> role) throws IOException {
        ServerSocket socket = new ServerSocket();
        socket.bind(new InetSocketAddress(InetAddress.getByName(ip), port));
        RoleServer server = new RoleServer(socket, role);
        Thread t = new Thread(server::serve, "role-server");
        t.setDaemon(true);
        t.start();
        return server;
    }

    int port() {
        return socket.getLocalPort();
    }

    void close() throws IOException {
        socket.close();
    }

    private void serve() {
        while (!socket.isClosed()) {
            try (Socket client = socket.accept()) {
                OutputStream out = client.getOutputStream();
                out.write((answer() + "\n").getBytes(StandardCharsets.UTF_8));
                out.flush();
            } catch (IOException e) {
                if (!socket.isClosed()) {
                    Log.info("status port: " + Text.describe(e));
                }
            }
        }
    }

    private String answer() {
        try {
            return role.get();
        } catch (RuntimeException e) {
            return "unknown: " + Text.describe(e);
        }
    }
}
