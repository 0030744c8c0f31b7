//! Listening sockets on glommio: bind a [`Endpoint`], accept [`Stream`]s.
//!
//! TCP listeners set `SO_REUSEPORT`, so every shard binds the same address and
//! the kernel spreads connections over them, and `SO_REUSEADDR`, so that a
//! restart binds at once while connections of an earlier process on that port
//! sit in TIME_WAIT (glommio's own `TcpListener::bind` sets only the first;
//! the socket is made here with socket2 and handed to glommio).
//! To serve port 0, the runtime binds on shard 0, reads the real port with
//! [`Listener::local_addr_string`] / [`Listener::port`], then binds that port on
//! the other shards.
//!
//! Unix domain sockets cannot be shared that way: bind a Unix endpoint on one
//! shard only (a second `bind` of a live socket path fails with `AddrInUse`).
//! A stale socket file (left by a process that died) is removed before binding;
//! any other existing file is left alone and the bind fails.
//!
//! What is not here: the protocols spoken on the streams (see `websocket` and
//! `rawsocket`), and the TLS handshake (`tls`: the accept loop runs it on
//! an accepted stream of a TLS listener, which then becomes [`Stream::Tls`]).

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::io::{FromRawFd, IntoRawFd};
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::io::{AsyncRead, AsyncWrite};

use super::socket::Socket;
use super::uring;
use crate::config::Endpoint;

/// A bound, listening socket.
#[derive(Debug)]
pub enum Listener {
    /// TCP (IPv4 or IPv6).
    Tcp(glommio::net::TcpListener),
    /// Unix domain socket.
    Unix(glommio::net::UnixListener),
    /// TCP or Unix, accepting onto the shard's own ring ([`uring`]).
    Uring(uring::UringListener),
}

/// An accepted connection. glommio's streams are boxed: a held connection
/// on the shard's ring then keeps 16 octets here, not glommio's ~110.
#[derive(Debug)]
pub enum Stream {
    /// TCP, with `TCP_NODELAY` set (accepted: inherited from the listener).
    Tcp(Box<glommio::net::TcpStream>),
    /// Unix domain socket.
    Unix(Box<glommio::net::UnixStream>),
    /// TCP (with `TCP_NODELAY`) or Unix, on the shard's own ring ([`uring`]).
    Uring(uring::UringStream),
    /// TLS over TCP (either of the above), once the handshake is done
    /// ([`super::tls`]).
    Tls(Box<super::tls::TlsStream>),
    /// An upgraded WebSocket connection read and written as bytes (MQTT
    /// over WebSocket, [`super::wsbytes`]).
    Ws(Box<super::wsbytes::WsBytes<Stream>>),
}

impl Stream {
    /// The TLS handshake's results, taken once by the front end that opens
    /// the link; `None` for a plaintext stream.
    pub fn take_tls_info(&mut self) -> Option<Box<crate::core::api::TlsInfo>> {
        match self {
            Stream::Tls(s) => s.take_info(),
            Stream::Ws(s) => s.inner_mut().take_tls_info(),
            _ => None,
        }
    }

    /// Whether the stream is TLS.
    pub fn is_tls(&self) -> bool {
        match self {
            Stream::Tls(_) => true,
            Stream::Ws(s) => s.inner().is_tls(),
            _ => false,
        }
    }
}

/// Binds `endpoint` on the current glommio executor: on the shard's own ring
/// when the thread runs one ([`uring::current`]), else on glommio's sockets.
/// A TLS endpoint binds its TCP socket; the handshake is run on each
/// accepted stream by the caller (`tls::accept`).
///
/// # Errors
/// Resolution failures (`host` resolves to nothing), `AddrInUse`, permission
/// errors, or (Unix) an existing path that is not a stale socket.
///
/// # Panics
/// When called outside a glommio executor (glommio's own requirement).
pub fn bind(endpoint: &Endpoint) -> io::Result<Listener> {
    if let Some(ring) = uring::current() {
        return Ok(Listener::Uring(match endpoint {
            Endpoint::Tcp { host, port } | Endpoint::TcpTls { host, port, .. } => {
                uring::UringListener::bind_tcp(ring, resolve(host, *port)?)?
            }
            Endpoint::Unix { path } => {
                remove_stale_socket(path)?;
                uring::UringListener::bind_unix(ring, path)?
            }
        }));
    }
    match endpoint {
        Endpoint::Tcp { host, port } | Endpoint::TcpTls { host, port, .. } => {
            // Resolve here: glommio's `bind` panics on resolution failures.
            let addr = resolve(host, *port)?;
            Ok(Listener::Tcp(bind_tcp(addr)?))
        }
        Endpoint::Unix { path } => {
            remove_stale_socket(path)?;
            Ok(Listener::Unix(glommio::net::UnixListener::bind(path)?))
        }
    }
}

/// Pending connections the kernel queues per listener (glommio's value).
const BACKLOG: i32 = 1024;

/// A listening TCP socket with `SO_REUSEADDR` and `SO_REUSEPORT`.
fn bind_tcp(addr: SocketAddr) -> io::Result<glommio::net::TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    super::sockopt::set_listener_nodelay(&socket);
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    // SAFETY: the descriptor is a bound, listening TCP socket that we own and
    // give up here; glommio takes ownership (and closes it on drop).
    Ok(unsafe { glommio::net::TcpListener::from_raw_fd(socket.into_raw_fd()) })
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
            Listener::Uring(l) => match l.local_addr() {
                Ok(a) => match (a.as_socket(), a.as_pathname()) {
                    (Some(a), _) => a.to_string(),
                    (None, Some(p)) => p.display().to_string(),
                    (None, None) => "<unnamed>".to_owned(),
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
            Listener::Uring(l) => l.local_addr().ok()?.as_socket().map(|a| a.port()),
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
                // TCP_NODELAY: inherited from the listener.
                let s = l.accept().await?;
                let peer = peer_text(s.peer_addr().ok());
                Ok((Stream::Tcp(Box::new(s)), peer))
            }
            Listener::Unix(l) => {
                let s = l.accept().await?;
                Ok((Stream::Unix(Box::new(s)), "unix".to_owned()))
            }
            Listener::Uring(l) => {
                let (s, peer) = l.accept().await?;
                if l.is_unix() {
                    return Ok((Stream::Uring(s), "unix".to_owned()));
                }
                // TCP_NODELAY: inherited from the listener.
                Ok((Stream::Uring(s), peer_text(peer.as_socket())))
            }
        }
    }
}

/// A TCP connection accepted on the shard's ring listener but not put on
/// any ring yet: it can move to another shard (a descriptor is `Send`)
/// before its first octet is read, TLS handshake included. The router's
/// connection placement (`shard::placement`) hands it over.
#[derive(Debug)]
pub struct Detached {
    fd: std::os::fd::OwnedFd,
    peer: String,
}

impl Detached {
    /// The peer, as [`Listener::accept`] gives it.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// Puts the connection on the current thread's shard: its ring where it
    /// runs one, else glommio's readiness-based socket. Returns the stream
    /// and the peer.
    pub fn attach(self) -> (Stream, String) {
        let stream = match uring::current() {
            Some(ring) => Stream::Uring(uring::UringStream::new(ring, self.fd)),
            // SAFETY: `into_raw_fd` hands over the descriptor, a connected
            // TCP socket, which the stream then owns (and closes).
            None => Stream::Tcp(Box::new(unsafe {
                glommio::net::TcpStream::from_raw_fd(self.fd.into_raw_fd())
            })),
        };
        (stream, self.peer)
    }

    /// A connection of a socket made by a test.
    #[cfg(test)]
    pub(crate) fn for_test(fd: std::os::fd::OwnedFd, peer: &str) -> Detached {
        Detached {
            fd,
            peer: peer.to_owned(),
        }
    }
}

/// What [`Listener::accept_movable`] accepted.
#[derive(Debug)]
pub enum Accepted {
    /// A connection that stays on this shard (Unix sockets, and glommio's
    /// readiness-based listeners, whose streams cannot give their socket up).
    Here(Stream, String),
    /// A TCP connection that may be served on any shard.
    Movable(Detached),
}

impl Listener {
    /// Waits for the next connection like [`Listener::accept`], but leaves a
    /// TCP connection of a ring listener off the ring ([`Accepted::Movable`]),
    /// for the caller to place it on a shard.
    ///
    /// # Errors
    /// Accept errors, as [`Listener::accept`].
    pub async fn accept_movable(&self) -> io::Result<Accepted> {
        match self {
            Listener::Uring(l) if !l.is_unix() => {
                let (fd, peer) = l.accept_fd().await?;
                Ok(Accepted::Movable(Detached {
                    fd,
                    peer: peer_text(peer.as_socket()),
                }))
            }
            _ => {
                let (stream, peer) = self.accept().await?;
                Ok(Accepted::Here(stream, peer))
            }
        }
    }
}

/// The peer for logs and session details, in Crossbar's format.
fn peer_text(addr: Option<SocketAddr>) -> String {
    match addr {
        Some(SocketAddr::V4(a)) => format!("tcp4:{}:{}", a.ip(), a.port()),
        Some(SocketAddr::V6(a)) => format!("tcp6:{}:{}", a.ip(), a.port()),
        None => "tcp".to_owned(),
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
            Stream::Uring(s) => Socket::poll_read(s, cx, buf),
            Stream::Tls(s) => Socket::poll_read(&mut **s, cx, buf),
            Stream::Ws(s) => Socket::poll_read(&mut **s, cx, buf),
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
            Stream::Uring(s) => s.poll_write_vectored(cx, &[io::IoSlice::new(buf)]),
            Stream::Tls(s) => Socket::poll_write_vectored(&mut **s, cx, &[io::IoSlice::new(buf)]),
            Stream::Ws(s) => Socket::poll_write_vectored(&mut **s, cx, &[io::IoSlice::new(buf)]),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Unix(s) => Pin::new(s).poll_flush(cx),
            Stream::Uring(_) | Stream::Ws(_) => Poll::Ready(Ok(())),
            Stream::Tls(s) => s.poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_close(cx),
            Stream::Unix(s) => Pin::new(s).poll_close(cx),
            Stream::Uring(s) => Poll::Ready(s.shutdown_write()),
            Stream::Tls(s) => Poll::Ready(Socket::shutdown_write(&mut **s)),
            Stream::Ws(s) => Poll::Ready(Socket::shutdown_write(&mut **s)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;

    use glommio::LocalExecutorBuilder;

    use super::*;

    /// Runs `f` on a fresh executor and returns its output.
    fn on_executor<F, Fut, T>(f: F) -> T
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T> + 'static,
        T: Send + 'static,
    {
        LocalExecutorBuilder::default()
            .io_memory(1 << 20)
            .spawn(f)
            .expect("start executor")
            .join()
            .expect("join executor")
    }

    fn tcp(port: u16) -> Endpoint {
        Endpoint::Tcp {
            host: "127.0.0.1".to_owned(),
            port,
        }
    }

    #[test]
    fn port_zero_reports_the_real_port_and_it_can_be_bound_again() {
        let (addr, port, second) = on_executor(|| async {
            let first = bind(&tcp(0)).expect("bind");
            let port = first.port().expect("tcp");
            // SO_REUSEPORT: another shard binds the same port.
            let second = bind(&tcp(port)).expect("bind the same port");
            (first.local_addr_string(), port, second.local_addr_string())
        });
        assert_ne!(port, 0);
        assert_eq!(addr, format!("127.0.0.1:{port}"));
        assert_eq!(second, addr);
    }

    /// Connects to `port`, lets the server side close first (so that side
    /// of the connection sits in TIME_WAIT), then waits for the client's close.
    fn leave_time_wait(accept: impl FnOnce() -> std::net::TcpStream, port: u16) {
        let client = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let server = accept();
        drop(server);
        // The client reads EOF (the server's FIN), then closes its side.
        let mut buf = [0u8; 1];
        let n = std::io::Read::read(&mut &client, &mut buf).expect("read EOF");
        assert_eq!(n, 0);
        drop(client);
    }

    /// Whether a TCP connection on local port `port` is in TIME_WAIT
    /// (`/proc/net/tcp`, state 06).
    fn in_time_wait(port: u16) -> bool {
        let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
        let local = format!(":{port:04X} ");
        table.lines().skip(1).any(|l| {
            l.split_whitespace()
                .nth(1)
                .is_some_and(|a| format!("{a} ").ends_with(&local))
                && l.split_whitespace().nth(3) == Some("06")
        })
    }

    #[test]
    fn rebinds_at_once_while_an_earlier_servers_connections_sit_in_time_wait() {
        // An earlier server on the port: another process's plain listener
        // (std sets SO_REUSEADDR but not SO_REUSEPORT, like most servers).
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = std_listener.local_addr().expect("addr").port();
        leave_time_wait(|| std_listener.accept().expect("accept").0, port);
        drop(std_listener);
        assert!(in_time_wait(port), "the server side is in TIME_WAIT");
        let rebound = on_executor(move || async move { bind(&tcp(port)).map(|l| l.port()) });
        assert_eq!(rebound.expect("bind beside TIME_WAIT"), Some(port));

        // An earlier Junction: its own listener, closed the same way.
        let port = on_executor(|| async {
            let l = bind(&tcp(0)).expect("bind");
            let port = l.port().expect("tcp");
            let client = std::thread::spawn(move || {
                let c = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
                let mut buf = [0u8; 1];
                assert_eq!(std::io::Read::read(&mut &c, &mut buf).expect("EOF"), 0);
            });
            let (stream, _) = l.accept().await.expect("accept");
            drop(stream);
            client.join().expect("client");
            port
        });
        assert!(in_time_wait(port), "the server side is in TIME_WAIT");
        let rebound = on_executor(move || async move { bind(&tcp(port)).map(|l| l.port()) });
        assert_eq!(rebound.expect("bind beside TIME_WAIT"), Some(port));
    }

    #[test]
    fn unresolvable_host_is_an_error_not_a_panic() {
        let err = on_executor(|| async {
            let e = Endpoint::Tcp {
                host: "no such host.invalid".to_owned(),
                port: 1,
            };
            bind(&e).map(|_| ()).expect_err("cannot resolve")
        });
        assert_ne!(err.kind(), io::ErrorKind::AddrInUse);
    }

    #[test]
    fn accepts_tcp_with_nodelay_and_tcp4_peer() {
        // (TCP_NODELAY is set once, on the listener, and inherited.)
        let (peer, nodelay, client_port) = on_executor(|| async {
            let l = bind(&tcp(0)).expect("bind");
            let addr = l.local_addr_string();
            let client = std::thread::spawn(move || {
                let s = std::net::TcpStream::connect(addr).expect("connect");
                let port = s.local_addr().expect("local").port();
                std::thread::sleep(std::time::Duration::from_millis(100));
                port
            });
            let (stream, peer) = l.accept().await.expect("accept");
            let Stream::Tcp(s) = &stream else {
                panic!("tcp listener gave a unix stream")
            };
            let nodelay = s.nodelay().expect("nodelay");
            (peer, nodelay, client.join().expect("client"))
        });
        assert_eq!(peer, format!("tcp4:127.0.0.1:{client_port}"));
        assert!(nodelay);
    }

    #[test]
    fn accepts_tcp_with_nodelay_on_the_shards_ring() {
        let nodelay = on_executor(|| async {
            let _ring = uring::start().expect("io_uring");
            let l = bind(&tcp(0)).expect("bind");
            assert!(
                matches!(l, Listener::Uring(_)),
                "a shard with a ring binds on it"
            );
            let addr = l.local_addr_string();
            let client = std::thread::spawn(move || {
                let s = std::net::TcpStream::connect(addr).expect("connect");
                std::thread::sleep(std::time::Duration::from_millis(100));
                drop(s);
            });
            let (stream, _) = l.accept().await.expect("accept");
            let Stream::Uring(s) = &stream else {
                panic!("the ring's listener gave another stream")
            };
            let nodelay = socket2::SockRef::from(s).tcp_nodelay().expect("nodelay");
            client.join().expect("client");
            nodelay
        });
        assert!(
            nodelay,
            "the accepted socket inherited it from the listener"
        );
    }

    #[test]
    fn a_movable_connection_is_served_on_the_executor_that_attaches_it() {
        use futures::{AsyncReadExt, AsyncWriteExt};
        // Accepted on one executor's ring, left off it, moved to a second
        // executor (another thread, another ring) and echoed there.
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (conn_tx, conn_rx) = std::sync::mpsc::channel::<Detached>();
        let acceptor = std::thread::spawn(move || {
            on_executor(move || async move {
                let _ring = uring::start().expect("io_uring");
                let l = bind(&tcp(0)).expect("bind");
                addr_tx.send(l.local_addr_string()).expect("send addr");
                let Accepted::Movable(conn) = l.accept_movable().await.expect("accept") else {
                    panic!("a TCP connection of a ring listener stays movable")
                };
                assert!(
                    conn.peer().starts_with("tcp4:127.0.0.1:"),
                    "{}",
                    conn.peer()
                );
                conn_tx.send(conn).expect("hand over");
            })
        });
        let addr = addr_rx.recv().expect("addr");
        use std::io::{Read, Write};
        let mut client = std::net::TcpStream::connect(addr).expect("connect");
        client.write_all(b"hello").expect("write");
        let served = on_executor(move || async move {
            let _ring = uring::start().expect("io_uring");
            let (mut stream, peer) = conn_rx.recv().expect("handed over").attach();
            assert!(
                matches!(stream, Stream::Uring(_)),
                "on this executor's ring"
            );
            let mut buf = [0u8; 5];
            stream.read_exact(&mut buf).await.expect("read");
            stream.write_all(&buf).await.expect("echo");
            peer
        });
        acceptor.join().expect("acceptor");
        let mut back = [0u8; 5];
        client.read_exact(&mut back).expect("echoed");
        assert_eq!(&back, b"hello");
        assert!(served.starts_with("tcp4:"));
    }

    #[test]
    fn unix_bind_accepts_and_protects_live_sockets_and_other_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sock = dir.path().join("a.sock");
        let file = dir.path().join("plain");
        std::fs::write(&file, b"keep me").expect("write");
        let (sock2, file2) = (sock.clone(), file.clone());
        let (addr, peer, again, plain) = on_executor(move || async move {
            let l = bind(&Endpoint::Unix {
                path: sock2.clone(),
            })
            .expect("bind");
            let path = sock2.clone();
            let client = std::thread::spawn(move || {
                let _s = std::os::unix::net::UnixStream::connect(path).expect("connect");
                std::thread::sleep(std::time::Duration::from_millis(100));
            });
            let (_stream, peer) = l.accept().await.expect("accept");
            client.join().expect("client");
            let again = bind(&Endpoint::Unix { path: sock2 })
                .map(|_| ())
                .expect_err("live socket");
            let plain = bind(&Endpoint::Unix { path: file2 })
                .map(|_| ())
                .expect_err("not a socket");
            (l.local_addr_string(), peer, again.kind(), plain.kind())
        });
        assert_eq!(addr, sock.display().to_string());
        assert_eq!(peer, "unix");
        assert_eq!(again, io::ErrorKind::AddrInUse);
        assert_eq!(plain, io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&file).expect("still there"), b"keep me");
    }

    #[test]
    fn transient_accept_errors() {
        assert!(is_transient_accept_error(&io::Error::from_raw_os_error(
            libc::EMFILE
        )));
        assert!(is_transient_accept_error(&io::Error::from(
            io::ErrorKind::ConnectionAborted
        )));
        assert!(!is_transient_accept_error(&io::Error::from_raw_os_error(
            libc::EBADF
        )));
    }
}
