//! Crossbar's `universal` transport: one port, the protocol chosen by the
//! connection's first octet, looked at without consuming it (`MSG_PEEK`):
//! `0x10` (an MQTT CONNECT) → MQTT, `0x7F` (the RawSocket magic) →
//! RawSocket, `0x16` (a TLS handshake record, on a plaintext port) → a TLS
//! alert and a log line, anything else → HTTP, served by the web server
//! ([`super::http`]: the `web` paths and the `websocket` entries as paths;
//! [`service_transport`]'s first-websocket fallback only when the transport
//! has no site). A protocol the transport does not configure drops the
//! connection.
//!
//! Waiting for the first octet: the socket is checked with a non-blocking
//! `recv(MSG_PEEK)`, backing off from 1 to 64 ms, for at most the MQTT
//! connect timeout (10 s when the transport has no MQTT service). TCP and
//! Unix sockets alike, on the shard's io_uring ring (the default on Linux
//! 6.0 and later); on glommio's readiness-based Unix streams (an older
//! kernel, or `JUNCTION_IO=readiness`) the descriptor is not reachable, so
//! such connections are dropped with a warning.

use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::Stream;
use crate::config::{TransportConfig, TransportKind, UniversalTransport};

/// What the first octet chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniffed {
    /// MQTT CONNECT.
    Mqtt,
    /// RawSocket handshake.
    RawSocket,
    /// An HTTP request (WebSocket upgrade).
    Http,
    /// A TLS ClientHello (on a plaintext port).
    Tls,
}

/// The protocol of a first octet.
pub fn classify(first: u8) -> Sniffed {
    match first {
        0x10 => Sniffed::Mqtt,
        0x7F => Sniffed::RawSocket,
        0x16 => Sniffed::Tls,
        _ => Sniffed::Http,
    }
}

/// Waits for the first octet of `stream` without consuming it; `None` when
/// the peer closed, timed out, or the stream cannot be peeked (Unix sockets).
pub async fn sniff(stream: &mut Stream, timeout: Duration) -> Option<Sniffed> {
    let fd = match stream {
        Stream::Tcp(s) => s.as_raw_fd(),
        // Before the first read nothing has armed the ring's receive, so the
        // octet is still in the socket.
        Stream::Uring(s) => s.raw_fd(),
        Stream::Unix(_) => {
            static WARNED: std::sync::atomic::AtomicBool =
                std::sync::atomic::AtomicBool::new(false);
            if !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
                tracing::warn!(
                    "a universal transport on a Unix socket needs the io_uring data path (Linux 6.0+, not JUNCTION_IO=readiness): its connections are dropped"
                );
            }
            return None;
        }
        Stream::Ws(_) => return None,
        Stream::Tls(s) => {
            // A TLS "ClientHello" inside TLS is just HTTP's first octet.
            return match super::with_timeout(timeout, s.peek()).await {
                Some(Ok(Some(0x16))) => Some(Sniffed::Http),
                Some(Ok(Some(b))) => Some(classify(b)),
                _ => None,
            };
        }
    };
    let deadline = Instant::now() + timeout;
    let mut wait = Duration::from_millis(1);
    loop {
        let mut b = [0u8; 1];
        // SAFETY: `b` is a valid one-octet buffer for the duration of the call.
        let n = unsafe {
            libc::recv(
                fd,
                b.as_mut_ptr().cast(),
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        if n == 1 {
            return Some(classify(b[0]));
        }
        if n == 0 {
            return None;
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::WouldBlock
            && err.kind() != std::io::ErrorKind::Interrupted
        {
            return None;
        }
        if Instant::now() >= deadline {
            return None;
        }
        glommio::timer::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_millis(64));
    }
}

/// The transport config a connection of `sniffed` on universal transport
/// `t` is served with: one of the kind the protocol's driver reads.
pub fn service_transport(
    t: &TransportConfig,
    u: &UniversalTransport,
    sniffed: Sniffed,
) -> Option<Rc<TransportConfig>> {
    let kind = match sniffed {
        Sniffed::RawSocket => TransportKind::RawSocket(u.rawsocket.clone()?),
        Sniffed::Http => TransportKind::WebSocket(u.websocket.values().next()?.clone()),
        Sniffed::Mqtt => TransportKind::Mqtt(u.mqtt.clone()?),
        Sniffed::Tls => return None,
    };
    Some(Rc::new(t.service(kind)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_octet_chooses() {
        assert_eq!(classify(0x10), Sniffed::Mqtt);
        assert_eq!(classify(0x7F), Sniffed::RawSocket);
        assert_eq!(classify(b'G'), Sniffed::Http);
        assert_eq!(classify(0x16), Sniffed::Tls);
    }
}
