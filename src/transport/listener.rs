//! Listening sockets on glommio: bind a [`Endpoint`], accept [`Stream`]s.
//!
//! TCP listeners set `SO_REUSEPORT` (glommio does it in `TcpListener::bind`), so
//! every shard binds the same address and the kernel spreads connections over
//! them. To serve port 0, the runtime binds on shard 0, reads the real port with
//! [`Listener::local_addr_string`] / [`Listener::port`], then binds that port on
//! the other shards.
//!
//! Unix domain sockets cannot be shared that way: bind a Unix endpoint on one
//! shard only (a second `bind` of a live socket path fails with `AddrInUse`).
//! A stale socket file (left by a process that died) is removed before binding;
//! any other existing file is left alone and the bind fails.
//!
//! What is not here: the protocols spoken on the streams (see `websocket` and
//! `rawsocket`), and TLS.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::io::{AsyncRead, AsyncWrite};

use crate::config::Endpoint;

/// A bound, listening socket.
#[derive(Debug)]
pub enum Listener {
    /// TCP (IPv4 or IPv6).
    Tcp(glommio::net::TcpListener),
    /// Unix domain socket.
    Unix(glommio::net::UnixListener),
}

/// An accepted connection.
#[derive(Debug)]
pub enum Stream {
    /// TCP, with `TCP_NODELAY` set.
    Tcp(glommio::net::TcpStream),
    /// Unix domain socket.
    Unix(glommio::net::UnixStream),
}

/// Binds `endpoint` on the current glommio executor.
///
/// # Errors
/// Resolution failures (`host` resolves to nothing), `AddrInUse`, permission
/// errors, or (Unix) an existing path that is not a stale socket.
///
/// # Panics
/// When called outside a glommio executor (glommio's own requirement).
pub fn bind(endpoint: &Endpoint) -> io::Result<Listener> {
    match endpoint {
        Endpoint::Tcp { host, port } => {
            // Resolve here: glommio's `bind` panics on resolution failures.
            let addr = resolve(host, *port)?;
            Ok(Listener::Tcp(glommio::net::TcpListener::bind(addr)?))
        }
        Endpoint::Unix { path } => {
            remove_stale_socket(path)?;
            Ok(Listener::Unix(glommio::net::UnixListener::bind(path)?))
        }
    }
}

/// The first address `host:port` resolves to.
fn resolve(host: &str, port: u16) -> io::Result<SocketAddr> {
    (host, port).to_socket_addrs()?.next().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            format!("{host}:{port} resolves to no address"),
        )
    })
}

/// Removes `path` when it is a socket nobody listens on any more.
fn remove_stale_socket(path: &Path) -> io::Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !meta.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists and is not a socket", path.display()),
        ));
    }
    match std::os::unix::net::UnixStream::connect(path) {
        // Somebody is listening: leave it, the bind reports AddrInUse.
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            tracing::debug!(path = %path.display(), "removing stale unix socket");
            std::fs::remove_file(path)
        }
        Err(_) => Ok(()),
    }
}

impl Listener {
    /// The bound address: `127.0.0.1:8080` / `[::1]:8080` (the real port when
    /// bound to port 0), or the socket path for Unix sockets.
    pub fn local_addr_string(&self) -> String {
        match self {
            Listener::Tcp(l) => match l.local_addr() {
                Ok(a) => a.to_string(),
                Err(e) => format!("<unknown: {e}>"),
            },
            Listener::Unix(l) => match l.local_addr() {
                Ok(a) => match a.as_pathname() {
                    Some(p) => p.display().to_string(),
                    None => "<unnamed>".to_owned(),
                },
                Err(e) => format!("<unknown: {e}>"),
            },
        }
    }

    /// The bound TCP port (`None` for Unix sockets).
    pub fn port(&self) -> Option<u16> {
        match self {
            Listener::Tcp(l) => l.local_addr().ok().map(|a| a.port()),
            Listener::Unix(_) => None,
        }
    }

    /// Waits for the next connection. Returns the stream and the peer for logs
    /// and session details: `tcp4:127.0.0.1:5000`, `tcp6:::1:5000` (Crossbar's
    /// format), or `unix`.
    ///
    /// # Errors
    /// Accept errors. Some are transient (see [`is_transient_accept_error`]):
    /// the accept loop should log, back off briefly and go on.
    pub async fn accept(&self) -> io::Result<(Stream, String)> {
        match self {
            Listener::Tcp(l) => {
                let s = l.accept().await?;
                // A failure here only costs latency; keep the connection.
                if let Err(e) = s.set_nodelay(true) {
                    tracing::debug!(error = %e, "TCP_NODELAY failed");
                }
                let peer = match s.peer_addr() {
                    Ok(SocketAddr::V4(a)) => format!("tcp4:{}:{}", a.ip(), a.port()),
                    Ok(SocketAddr::V6(a)) => format!("tcp6:{}:{}", a.ip(), a.port()),
                    Err(_) => "tcp".to_owned(),
                };
                Ok((Stream::Tcp(s), peer))
            }
            Listener::Unix(l) => {
                let s = l.accept().await?;
                Ok((Stream::Unix(s), "unix".to_owned()))
            }
        }
    }
}

/// Whether an accept error concerns one connection or a passing resource
/// shortage (file descriptors, memory, an aborted handshake) rather than the
/// listener itself: the accept loop should keep going.
pub fn is_transient_accept_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
            | io::ErrorKind::OutOfMemory
    ) || matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM | libc::EPROTO)
    )
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_close(cx),
            Stream::Unix(s) => Pin::new(s).poll_close(cx),
        }
    }
}
