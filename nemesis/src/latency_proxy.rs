//! The latency proxy, the same on every backend (this kernel has no netem): in each
//! lock node a nat rule redirects every TCP connection to another lock node to a proxy
//! on the node's loopback; the proxy finds the original destination
//! (`SO_ORIGINAL_DST`), connects to it from the same node, with a mark the rule skips,
//! and forwards both directions, holding each chunk back by the current delay. Traffic
//! to the resource node is never redirected, nor traffic within a node.
//!
//! NAT is decided when a connection opens, so the proxies are put in place before the
//! workload starts (with no delay) and the fault only changes the delay: long-lived
//! connections, like a Redis client's, are delayed too. The local backend runs each
//! proxy as a thread of the controller inside its node's namespace; the Kubernetes one
//! in each node pod's `splitbrain pod-init`.

use crate::Node;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{mpsc, watch};

/// The socket mark of the proxy's own connections, which the redirect rule skips.
const PROXY_MARK: u32 = 0x5b;
/// The nat table of the redirect.
const TABLE: &str = "ip splitbrain-latency";

/// The nft script that redirects TCP from `node` to every other node of `nodes` through
/// the proxy on `port` of the node's loopback, except the proxy's own connections. Its
/// chain comes before any other nat of the output hook (the Kubernetes backend's
/// translation of stable addresses), so the proxy sees the address a process asked for.
pub fn redirect_script(node: &Node, nodes: &[Node], port: u16) -> String {
    let others: Vec<String> = nodes
        .iter()
        .filter(|n| n.name != node.name)
        .map(|n| n.addr.to_string())
        .collect();
    let mut s = format!("add table {TABLE}\ndelete table {TABLE}\n");
    if others.is_empty() {
        return s;
    }
    s.push_str(&format!(
        "table {TABLE} {{\n  chain output {{\n    type nat hook output priority -110; policy accept;\n    meta mark {PROXY_MARK:#x} return\n    ip daddr {{ {} }} meta l4proto tcp redirect to :{port}\n  }}\n}}\n",
        others.join(", ")
    ));
    s
}

/// Serves redirected connections from `listener` with the delay `delay_ms` (read for
/// every chunk, so a change applies at once) until `stopped` changes or is dropped.
pub async fn serve(
    listener: TcpListener,
    delay_ms: Arc<AtomicU64>,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((inbound, _)) = accepted {
                    tokio::spawn(proxy_connection(inbound, delay_ms.clone()));
                }
            }
            _ = stopped.changed() => return,
        }
    }
}

async fn proxy_connection(inbound: TcpStream, delay_ms: Arc<AtomicU64>) {
    let Ok(target) = original_destination(&inbound) else {
        return;
    };
    let Ok(outbound) = marked_connect(target).await else {
        return;
    };
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    let (in_read, in_write) = inbound.into_split();
    let (out_read, out_write) = outbound.into_split();
    tokio::join!(
        pump(in_read, out_write, delay_ms.clone()),
        pump(out_read, in_write, delay_ms)
    );
}

/// Copies one direction, each chunk written no sooner than the delay after it was read,
/// in order.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay_ms: Arc<AtomicU64>,
) {
    let (tx, mut rx) = mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
    let writer = async move {
        while let Some((due, chunk)) = rx.recv().await {
            // No timer at zero delay: the timer wheel's millisecond ticks would add one.
            if due > tokio::time::Instant::now() {
                tokio::time::sleep_until(due).await;
            }
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    };
    let reader = async move {
        let mut buf = vec![0u8; 16 * 1024];
        while let Ok(n) = from.read(&mut buf).await {
            if n == 0 {
                break;
            }
            let due = tokio::time::Instant::now()
                + Duration::from_millis(delay_ms.load(Ordering::Relaxed));
            if tx.send((due, buf[..n].to_vec())).is_err() {
                break;
            }
        }
    };
    tokio::join!(reader, writer);
}

/// Where a redirected connection was going (`SO_ORIGINAL_DST`).
fn original_destination(stream: &TcpStream) -> std::io::Result<SocketAddr> {
    // SAFETY: an all-zero sockaddr_in is a valid value, and getsockopt writes at most
    // `len` bytes into it.
    let mut addr: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_IP,
            libc::SO_ORIGINAL_DST,
            (&mut addr as *mut libc::sockaddr_in).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let ip = Ipv4Addr::from(u32::from_be(addr.sin_addr.s_addr));
    Ok(SocketAddr::V4(SocketAddrV4::new(
        ip,
        u16::from_be(addr.sin_port),
    )))
}

async fn marked_connect(target: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    let mark = PROXY_MARK;
    // SAFETY: setsockopt reads `size_of::<u32>()` bytes from a live u32.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_MARK,
            (&mark as *const u32).cast(),
            std::mem::size_of::<u32>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    socket.connect(target).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_redirect_skips_the_proxys_own_traffic_and_the_node_itself() {
        let node = |i: u8| Node {
            name: format!("n{i}"),
            addr: Ipv4Addr::new(10, 77, 0, i),
        };
        let nodes = [node(1), node(2), node(3)];
        let s = redirect_script(&nodes[0], &nodes, 7199);
        assert!(s.contains("meta mark 0x5b return"), "{s}");
        assert!(s.contains("priority -110"), "{s}");
        assert!(
            s.contains("ip daddr { 10.77.0.2, 10.77.0.3 } meta l4proto tcp redirect to :7199"),
            "{s}"
        );
    }
}
