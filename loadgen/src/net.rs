//! Sockets: one [`Stream`] type over glommio TCP and Unix streams, connecting
//! (optionally from a chosen source address), and raising RLIMIT_NOFILE.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{FromRawFd, IntoRawFd};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::io::{AsyncRead, AsyncWrite};
use glommio::net::{TcpStream, UnixStream};
use socket2::{Domain, Protocol, Socket, Type};

use crate::url::Endpoint;

/// How long a TCP connect may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A connected byte stream.
pub enum Stream {
    /// TCP.
    Tcp(TcpStream),
    /// Unix domain socket.
    Unix(UnixStream),
    /// TLS over TCP.
    Tls(Box<crate::tls::TlsStream>),
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
            Stream::Tls(s) => Pin::new(&mut **s).poll_read(cx, buf),
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
            Stream::Tls(s) => Pin::new(&mut **s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Unix(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(&mut **s).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_close(cx),
            Stream::Unix(s) => Pin::new(s).poll_close(cx),
            Stream::Tls(s) => Pin::new(&mut **s).poll_close(cx),
        }
    }
}

/// Connects to `ep`; for TCP, from `source` (port chosen by the kernel) when given.
///
/// # Errors
/// Any socket error (refused, timed out, out of ports or descriptors).
pub async fn connect(ep: &Endpoint, source: Option<IpAddr>) -> io::Result<Stream> {
    match ep {
        Endpoint::Unix(p) => Ok(Stream::Unix(
            UnixStream::connect(p).await.map_err(io::Error::from)?,
        )),
        Endpoint::TcpTls(addr, name) => {
            let Stream::Tcp(tcp) = Box::pin(connect(&Endpoint::Tcp(*addr), source)).await? else {
                unreachable!("a TCP endpoint gives a TCP stream");
            };
            Ok(Stream::Tls(Box::new(crate::tls::TlsStream::new(
                tcp, name,
            )?)))
        }
        Endpoint::Tcp(addr) => {
            let s = match source {
                None => TcpStream::connect_timeout(*addr, CONNECT_TIMEOUT)
                    .await
                    .map_err(io::Error::from)?,
                Some(src) => connect_from(*addr, src)?,
            };
            s.set_nodelay(true).map_err(io::Error::from)?;
            Ok(Stream::Tcp(s))
        }
    }
}

/// A non-blocking connect from `src`: the connection completes in the
/// background, and the first write waits for it (a refused connection shows
/// up as that write's error).
fn connect_from(addr: SocketAddr, src: IpAddr) -> io::Result<TcpStream> {
    let domain = if addr.is_ipv6() {
        Domain::IPV6
    } else {
        Domain::IPV4
    };
    let sock = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
    // Let connect() pick the port, so that the 4-tuple (not the local port
    // alone) has to be unique: many more connections per source address.
    let one: libc::c_int = 1;
    // SAFETY: a valid socket and a correctly sized int option.
    let rc = unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(&sock),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    sock.bind(&SocketAddr::new(src, 0).into())?;
    sock.set_nonblocking(true)?;
    match sock.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    // SAFETY: we own the descriptor and hand it over.
    Ok(unsafe { TcpStream::from_raw_fd(sock.into_raw_fd()) })
}

/// Raises the soft RLIMIT_NOFILE to the hard limit; returns the new soft limit.
pub fn raise_nofile() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
    }
    lim.rlim_cur
}
