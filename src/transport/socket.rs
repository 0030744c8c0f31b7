//! The [`Socket`] trait (reads into a buffer the caller lends for one call,
//! vectored writes) and its readiness-based implementation on glommio's
//! streams, the fallback when the shard runs no ring of its own
//! (`super::uring` implements it for sockets on the ring, and gives the
//! connection driver its batched hot paths).
//!
//! An idle connection pins no buffer: glommio's non-buffered streams try a
//! non-blocking `recv` into the buffer given and, when nothing is there,
//! register a readiness poll with the ring and keep no buffer. Writes go out
//! with one `sendmsg` over many frames; only when the socket is full does the
//! write fall back to glommio's `poll_write`, which registers for writability.
//!
//! TLS sits on top of either (`super::tls`: a `Stream::Tls` implements this trait too).

use std::io::{self, IoSlice};
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use futures::io::{AsyncRead, AsyncWrite};

use super::Stream;

/// Most buffers one vectored write is given (well under `IOV_MAX`, 1024 on Linux).
pub const MAX_IOVECS: usize = 128;

/// A connected, non-blocking byte stream, driven by polling.
pub trait Socket {
    /// Reads what is available into `buf`; `Ok(0)` is the end of the stream.
    /// `Pending` registers the task for readability and keeps no reference to `buf`.
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>>;

    /// Writes as much of `bufs` as the socket takes now, in order; `Pending`
    /// (nothing written) registers the task for writability.
    fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>>;

    /// Shuts down our sending side (the peer reads end-of-stream).
    fn shutdown_write(&mut self) -> io::Result<()>;
}

impl Socket for Stream {
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        match self {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Uring(s) => s.poll_read(cx, buf),
            Stream::Tls(s) => s.poll_read(cx, buf),
            Stream::Ws(s) => s.poll_read(cx, buf),
        }
    }

    fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let bufs = &bufs[..bufs.len().min(MAX_IOVECS)];
        match self {
            Stream::Uring(s) => return s.poll_write_vectored(cx, bufs),
            Stream::Tls(s) => return s.poll_write_vectored(cx, bufs),
            Stream::Ws(s) => return s.poll_write_vectored(cx, bufs),
            Stream::Tcp(_) | Stream::Unix(_) => {}
        }
        if let Stream::Tcp(s) = self
            && let Some(result) = sendmsg_now(s.as_raw_fd(), bufs)
        {
            return Poll::Ready(result);
        }
        // The socket is full (glommio's write retries once and then registers
        // for writability), or a Unix socket, whose descriptor glommio does not
        // expose: write the first non-empty slice.
        let Some(first) = bufs.iter().find(|b| !b.is_empty()) else {
            return Poll::Ready(Ok(0));
        };
        match self {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, first),
            Stream::Unix(s) => Pin::new(s).poll_write(cx, first),
            Stream::Uring(_) | Stream::Tls(_) | Stream::Ws(_) => unreachable!("handled above"),
        }
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        // glommio's `poll_close` is a synchronous `shutdown(SHUT_WR)`.
        let mut cx = Context::from_waker(Waker::noop());
        let done = match self {
            Stream::Tcp(s) => Pin::new(s).poll_close(&mut cx),
            Stream::Unix(s) => Pin::new(s).poll_close(&mut cx),
            Stream::Uring(s) => return s.shutdown_write(),
            Stream::Tls(s) => return s.shutdown_write(),
            Stream::Ws(s) => return s.shutdown_write(),
        };
        match done {
            Poll::Ready(result) => result,
            Poll::Pending => Ok(()),
        }
    }
}

/// One non-blocking `sendmsg` of `bufs`; `None` when the socket would block.
pub(super) fn sendmsg_now(fd: RawFd, bufs: &[IoSlice<'_>]) -> Option<io::Result<usize>> {
    // SAFETY: an all-zero msghdr is valid (no name, no control data).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    // IoSlice is guaranteed ABI-compatible with iovec on Unix.
    msg.msg_iov = bufs.as_ptr() as *mut libc::iovec;
    msg.msg_iovlen = bufs.len() as _;
    loop {
        // SAFETY: `msg` points at `bufs`, which outlives the call; the kernel
        // only reads from the buffers.
        let n = unsafe { libc::sendmsg(fd, &msg, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) };
        if n >= 0 {
            return Some(Ok(n as usize));
        }
        let err = io::Error::last_os_error();
        match err.kind() {
            io::ErrorKind::Interrupted => continue,
            io::ErrorKind::WouldBlock => return None,
            _ => return Some(Err(err)),
        }
    }
}
