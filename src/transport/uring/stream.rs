//! Sockets on the shard's ring: [`UringStream`] (an accepted connection) and
//! [`UringListener`], plus what the connection driver uses on the hot paths:
//! [`RecvBuf`] (a filled receive buffer, decoded in place) and [`SendOp`] (a
//! vectored send that owns what the kernel reads: WAMP frames behind their
//! headers, or MQTT packets: copied heads and control packets around shared
//! PUBLISH payloads).
//!
//! Cold paths (handshakes, closing) use the [`Socket`] trait like every
//! stream: reads copy out of the receive buffers, writes are a non-blocking
//! `sendmsg` that waits for writability through a poll on the ring. They are
//! never mixed with a send in flight (the driver settles it first).

use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd};
use std::path::Path;
use std::rc::Rc;
use std::task::{Context, Poll};

use io_uring::{opcode, types};
use socket2::{Domain, Protocol, SockAddr, Socket as RawSocket, Type};

use super::bufring::NO_BUF;
use super::{NOT_ENDED, Op, Ring, Slot, user_data};
use crate::core::outbox::Frame;
use crate::proto::mqtt::PublishTemplate;
use crate::transport::conn::{FRAMES_PER_WRITE, MAX_HEADER};
use crate::transport::socket::{Socket, sendmsg_now};

/// An accepted connection on the shard's ring.
pub struct UringStream {
    ring: Rc<Ring>,
    pub(super) slot: u32,
    fd: OwnedFd,
}

impl AsFd for UringStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl std::fmt::Debug for UringStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UringStream")
            .field("fd", &self.fd.as_raw_fd())
            .field("slot", &self.slot)
            .finish()
    }
}

/// A filled receive buffer, taken off the connection's queue; it goes back to
/// the shard's ring when dropped.
pub struct RecvBuf {
    ring: Rc<Ring>,
    bid: u16,
    data: *mut u8,
    len: usize,
}

impl std::ops::Deref for RecvBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: the buffer is ours until `drop` gives it back.
        unsafe { std::slice::from_raw_parts(self.data, self.len) }
    }
}

impl std::ops::DerefMut for RecvBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as above; nobody else touches it meanwhile.
        unsafe { std::slice::from_raw_parts_mut(self.data, self.len) }
    }
}

impl Drop for RecvBuf {
    fn drop(&mut self) {
        let mut inner = self.ring.inner.borrow_mut();
        inner.bufs.give_back(self.bid);
        let starved = !inner.starve.is_empty();
        drop(inner);
        if starved {
            self.ring.schedule_flush();
        }
    }
}

/// A vectored send in preparation or in flight: control bytes, then frames
/// each behind its header, the first frame perhaps partly sent already (the
/// WAMP driver); or MQTT packets (`transport::mqtt::writes`): `bytes` with the
/// shared payloads of `payloads` between them. It owns everything the kernel
/// reads; it is pooled per shard.
pub struct SendOp {
    /// Control bytes to send first (copied: the driver keeps its own).
    pub ctrl: Vec<u8>,
    /// The frames, shared with the outbox (it pops them once sent).
    pub frames: Vec<Frame>,
    /// Each frame's header.
    pub headers: [[u8; MAX_HEADER]; FRAMES_PER_WRITE],
    /// Each header's length.
    pub head_lens: [u8; FRAMES_PER_WRITE],
    /// Octets of the first frame (header included) sent before this op.
    pub skip: usize,
    /// MQTT: octets copied into the op (each client's PUBLISH heads, the
    /// control packets), sent in order with `payloads` between them.
    pub bytes: Vec<u8>,
    /// MQTT: the shared PUBLISH payloads (the template's, not copied).
    pub payloads: Vec<Payload>,
    /// MQTT: the wire length of each queued packet the op covers, the
    /// first one whole (what the completion accounts for).
    pub lens: Vec<u32>,
    /// The message's buffers (grown to what the op needs).
    iov: Vec<libc::iovec>,
    /// The completion's result (octets or `-errno`), once it came.
    pub(super) done: Option<i32>,
    msg: libc::msghdr,
}

/// A shared PUBLISH payload in an MQTT op: sent after the first `at` octets
/// of [`SendOp::bytes`], from its octet `from` on (a front packet partly
/// written before). The template is held (an `Rc` increment per delivery):
/// the kernel reads its payload until the completion.
pub struct Payload {
    /// Octets of `bytes` sent before it.
    pub at: u32,
    /// Octets of the payload already sent.
    pub from: u32,
    /// Whose payload.
    pub tmpl: Rc<PublishTemplate>,
}

impl Payload {
    /// What is left to send of it.
    fn rest(&self) -> &[u8] {
        &self.tmpl.payload()[self.from as usize..]
    }
}

/// Send ops a shard keeps for reuse; more in flight at once are freed after.
pub(super) const POOL_MAX: usize = 64;

/// Copied octets a pooled op keeps room for (a huge MQTT head or control
/// packet copied once does not stay with the pool).
const KEPT_BYTES: usize = 64 * 1024;

impl SendOp {
    fn new() -> Box<SendOp> {
        Box::new(SendOp {
            ctrl: Vec::new(),
            frames: Vec::new(),
            headers: [[0; MAX_HEADER]; FRAMES_PER_WRITE],
            head_lens: [0; FRAMES_PER_WRITE],
            skip: 0,
            bytes: Vec::new(),
            payloads: Vec::new(),
            lens: Vec::new(),
            iov: Vec::new(),
            done: None,
            // SAFETY: an all-zero msghdr is valid (no name, no control data).
            msg: unsafe { std::mem::zeroed() },
        })
    }

    /// Empties the op for reuse (drops its frame and template references).
    pub fn clear(&mut self) {
        self.ctrl.clear();
        self.frames.clear();
        self.skip = 0;
        self.done = None;
        if self.bytes.capacity() > KEPT_BYTES {
            self.bytes = Vec::new();
        }
        self.bytes.clear();
        self.payloads.clear();
        self.lens.clear();
    }

    /// Octets the op sends.
    pub fn len(&self) -> usize {
        let frames: usize = self
            .frames
            .iter()
            .zip(self.head_lens.iter())
            .map(|(f, &h)| f.len() + h as usize)
            .sum();
        let payloads: usize = self.payloads.iter().map(|p| p.rest().len()).sum();
        self.ctrl.len() + frames - self.skip + self.bytes.len() + payloads
    }

    /// Whether the op sends nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Points the message header at the op's own buffers.
    fn prepare(&mut self) {
        self.iov.clear();
        let push = |iov: &mut Vec<libc::iovec>, s: &[u8]| {
            if !s.is_empty() {
                iov.push(libc::iovec {
                    iov_base: s.as_ptr() as *mut libc::c_void,
                    iov_len: s.len(),
                });
            }
        };
        push(&mut self.iov, &self.ctrl);
        for (i, frame) in self.frames.iter().enumerate() {
            let head = &self.headers[i][..self.head_lens[i] as usize];
            let (mut head, mut body): (&[u8], &[u8]) = (head, frame);
            if i == 0 && self.skip > 0 {
                if self.skip < head.len() {
                    head = &head[self.skip..];
                } else {
                    body = &body[self.skip - head.len()..];
                    head = &[];
                }
            }
            push(&mut self.iov, head);
            push(&mut self.iov, body);
        }
        // MQTT (never with frames or control bytes).
        let mut at = 0;
        for p in &self.payloads {
            push(&mut self.iov, &self.bytes[at..p.at as usize]);
            push(&mut self.iov, p.rest());
            at = p.at as usize;
        }
        push(&mut self.iov, &self.bytes[at..]);
        self.msg.msg_iov = self.iov.as_mut_ptr();
        self.msg.msg_iovlen = self.iov.len() as _;
    }
}

impl UringStream {
    /// Puts an accepted, blocking socket on the shard's ring.
    pub fn new(ring: Rc<Ring>, fd: OwnedFd) -> UringStream {
        let slot = ring.register(fd.as_raw_fd());
        UringStream { ring, slot, fd }
    }

    /// The socket's descriptor (e.g. to peek at the first octet before the
    /// first read arms the multishot receive).
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }

    /// The next filled receive buffer: `Ok(None)` at the end of the stream.
    /// `Pending` arms the receive (once) and registers the task.
    ///
    /// # Errors
    /// The receive's error.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<RecvBuf>>> {
        let mut guard = self.ring.inner.borrow_mut();
        let inner = &mut *guard;
        let s = &mut inner.slots[self.slot as usize];
        let bid = s.rx_head;
        if bid != NO_BUF {
            s.rx_head = inner.bufs.next[bid as usize];
            if s.rx_head == NO_BUF {
                s.rx_tail = NO_BUF;
            }
            let from = std::mem::take(&mut s.rx_off) as usize;
            // SAFETY: the buffer is ours (it was queued) and goes back only
            // when the `RecvBuf` is dropped.
            let data = unsafe { inner.bufs.slice(bid, from) };
            return Poll::Ready(Ok(Some(RecvBuf {
                ring: Rc::clone(&self.ring),
                bid,
                data: data.as_mut_ptr(),
                len: data.len(),
            })));
        }
        if s.rx_end != NOT_ENDED {
            return Poll::Ready(end_result(s.rx_end).map(|()| None));
        }
        register(&mut s.waker, cx);
        let arm = !s.has(Slot::RECV_ARMED) && !s.has(Slot::RECV_STARVED);
        if arm {
            inner.arm_recv(self.slot);
            drop(guard);
            self.ring.schedule_flush();
        }
        Poll::Pending
    }

    /// A send op from the shard's pool, empty.
    pub fn send_op(&self) -> Box<SendOp> {
        self.ring
            .inner
            .borrow_mut()
            .pool
            .pop()
            .unwrap_or_else(SendOp::new)
    }

    /// Returns a finished op to the pool.
    pub fn recycle(&self, op: Box<SendOp>) {
        self.ring.inner.borrow_mut().recycle(op);
    }

    /// Submits `op` (at the end of this turn). Only one send is in flight.
    ///
    /// # Panics
    /// When a send is already in flight or not collected.
    pub fn submit_send(&mut self, mut op: Box<SendOp>) {
        op.prepare();
        let mut inner = self.ring.inner.borrow_mut();
        let s = &mut inner.slots[self.slot as usize];
        assert!(s.send.is_none(), "one send at a time per connection");
        let sqe = opcode::SendMsg::new(types::Fd(s.fd), &op.msg)
            .flags(libc::MSG_NOSIGNAL as u32)
            .build()
            .user_data(user_data(self.slot, s.generation, Op::Send));
        s.send = Some(op);
        s.inflight += 1;
        inner.stats.sends += 1;
        inner.push(&sqe);
        drop(inner);
        self.ring.schedule_flush();
    }

    /// The outcome of the send in flight: `Ready(None)` when there is none,
    /// `Pending` (task registered) while the kernel has it, else the octets
    /// sent (or the error) and the op.
    pub fn poll_send(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<(io::Result<usize>, Box<SendOp>)>> {
        let mut inner = self.ring.inner.borrow_mut();
        let s = &mut inner.slots[self.slot as usize];
        match s.send.take() {
            None => Poll::Ready(None),
            Some(op) => match op.done {
                Some(res) => Poll::Ready(Some((send_result(res), op))),
                None => {
                    s.send = Some(op);
                    register(&mut s.waker, cx);
                    Poll::Pending
                }
            },
        }
    }

    /// The send whose completion came and was not collected, collected
    /// without registering the task: `None` while it is in flight (or when
    /// there is none; see [`UringStream::sending`]).
    pub fn take_sent(&mut self) -> Option<(io::Result<usize>, Box<SendOp>)> {
        let mut inner = self.ring.inner.borrow_mut();
        let s = &mut inner.slots[self.slot as usize];
        let res = s.send.as_ref()?.done?;
        let op = s.send.take()?;
        Some((send_result(res), op))
    }

    /// Whether a send is in flight or not collected.
    pub fn sending(&self) -> bool {
        self.ring.inner.borrow().slots[self.slot as usize]
            .send
            .is_some()
    }
}

/// A send completion's result: the octets sent, or the error.
fn send_result(res: i32) -> io::Result<usize> {
    if res < 0 {
        Err(io::Error::from_raw_os_error(-res))
    } else {
        Ok(res as usize)
    }
}

/// `Ok(())` for the end of stream, the error otherwise.
fn end_result(end: i16) -> io::Result<()> {
    if end == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(-i32::from(end)))
    }
}

fn register(slot: &mut Option<std::task::Waker>, cx: &Context<'_>) {
    match slot {
        Some(w) if w.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}

impl Socket for UringStream {
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let mut guard = self.ring.inner.borrow_mut();
        let inner = &mut *guard;
        let s = &mut inner.slots[self.slot as usize];
        let bid = s.rx_head;
        if bid != NO_BUF {
            // SAFETY: the buffer is ours while queued.
            let data = unsafe { inner.bufs.slice(bid, s.rx_off as usize) };
            let n = data.len().min(buf.len());
            buf[..n].copy_from_slice(&data[..n]);
            if n == data.len() {
                s.rx_off = 0;
                s.rx_head = inner.bufs.next[bid as usize];
                if s.rx_head == NO_BUF {
                    s.rx_tail = NO_BUF;
                }
                inner.bufs.give_back(bid);
                let starved = !inner.starve.is_empty();
                drop(guard);
                if starved {
                    self.ring.schedule_flush();
                }
            } else {
                s.rx_off += n as u16;
            }
            return Poll::Ready(Ok(n));
        }
        drop(guard);
        match self.poll_recv(cx) {
            Poll::Ready(Ok(None)) => Poll::Ready(Ok(0)),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(Some(_))) => unreachable!("the queue was empty"),
        }
    }

    fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        debug_assert!(!self.sending(), "a direct write beside a send in flight");
        self.ring.inner.borrow_mut().stats.direct_writes += 1;
        let bufs = &bufs[..bufs.len().min(crate::transport::socket::MAX_IOVECS)];
        if let Some(result) = sendmsg_now(self.fd.as_raw_fd(), bufs) {
            return Poll::Ready(result);
        }
        let mut inner = self.ring.inner.borrow_mut();
        let s = &mut inner.slots[self.slot as usize];
        s.set(Slot::POLLED, false);
        register(&mut s.waker, cx);
        if !s.has(Slot::POLL_ARMED) {
            s.set(Slot::POLL_ARMED, true);
            s.inflight += 1;
            let sqe = opcode::PollAdd::new(types::Fd(s.fd), libc::POLLOUT as u32)
                .build()
                .user_data(user_data(self.slot, s.generation, Op::Poll));
            inner.push(&sqe);
            drop(inner);
            self.ring.schedule_flush();
        }
        Poll::Pending
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        // SAFETY: shutdown on our own descriptor.
        let r = unsafe { libc::shutdown(self.fd.as_raw_fd(), libc::SHUT_WR) };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }
}

impl Drop for UringStream {
    fn drop(&mut self) {
        // Cancels what is in flight; the descriptor closes when `fd` drops,
        // and the socket itself once the kernel has let go of it.
        self.ring.release(self.slot);
    }
}

/// A listening socket whose accepts wait on the shard's ring.
pub struct UringListener {
    ring: Rc<Ring>,
    slot: u32,
    sock: RawSocket,
    unix: bool,
}

impl std::fmt::Debug for UringListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UringListener")
            .field("fd", &self.sock.as_raw_fd())
            .finish()
    }
}

impl UringListener {
    /// Binds a TCP listener with `SO_REUSEPORT` (every shard binds the same
    /// address), backlog 1024, as glommio's `TcpListener::bind` does.
    ///
    /// # Errors
    /// The socket calls' errors.
    pub fn bind_tcp(ring: Rc<Ring>, addr: SocketAddr) -> io::Result<UringListener> {
        let sock = RawSocket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        sock.set_reuse_port(true)?;
        crate::transport::sockopt::set_listener_nodelay(&sock);
        sock.bind(&addr.into())?;
        sock.listen(1024)?;
        Self::with(ring, sock, false)
    }

    /// Binds a Unix-domain listener at `path` (backlog 128).
    ///
    /// # Errors
    /// The socket calls' errors.
    pub fn bind_unix(ring: Rc<Ring>, path: &Path) -> io::Result<UringListener> {
        let sock = RawSocket::new(Domain::UNIX, Type::STREAM, None)?;
        sock.bind(&SockAddr::unix(path)?)?;
        sock.listen(128)?;
        Self::with(ring, sock, true)
    }

    fn with(ring: Rc<Ring>, sock: RawSocket, unix: bool) -> io::Result<UringListener> {
        sock.set_nonblocking(true)?;
        let slot = ring.register(sock.as_raw_fd());
        Ok(UringListener {
            ring,
            slot,
            sock,
            unix,
        })
    }

    /// The bound address.
    ///
    /// # Errors
    /// `getsockname`'s.
    pub fn local_addr(&self) -> io::Result<SockAddr> {
        self.sock.local_addr()
    }

    /// Whether this is a Unix-domain listener.
    pub fn is_unix(&self) -> bool {
        self.unix
    }

    /// Waits for the next connection: the stream (blocking, close-on-exec,
    /// on the ring) and the peer's address.
    ///
    /// # Errors
    /// `accept`'s (see `is_transient_accept_error`).
    pub async fn accept(&self) -> io::Result<(UringStream, SockAddr)> {
        let (fd, peer) = self.accept_fd().await?;
        Ok((UringStream::new(Rc::clone(&self.ring), fd), peer))
    }

    /// Waits for the next connection and returns its socket (blocking,
    /// close-on-exec) before it is put on any ring, so that another shard
    /// can take it ([`UringStream::new`] on that shard's ring), and the
    /// peer's address.
    ///
    /// # Errors
    /// `accept`'s (see `is_transient_accept_error`).
    pub async fn accept_fd(&self) -> io::Result<(OwnedFd, SockAddr)> {
        loop {
            match self.sock.accept() {
                Ok((sock, peer)) => {
                    // Accepted sockets do not inherit O_NONBLOCK on Linux;
                    // the ring's operations need them blocking.
                    // SAFETY: `into_raw_fd` hands over the descriptor.
                    let fd = unsafe { OwnedFd::from_raw_fd(sock.into_raw_fd()) };
                    return Ok((fd, peer));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            poll_fn(|cx| self.poll_readable(cx)).await;
        }
    }

    /// Ready once the poll armed for readability completed.
    fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut inner = self.ring.inner.borrow_mut();
        let s = &mut inner.slots[self.slot as usize];
        if s.take(Slot::POLLED) {
            return Poll::Ready(());
        }
        register(&mut s.waker, cx);
        if !s.has(Slot::POLL_ARMED) {
            s.set(Slot::POLL_ARMED, true);
            s.inflight += 1;
            let sqe = opcode::PollAdd::new(types::Fd(s.fd), libc::POLLIN as u32)
                .build()
                .user_data(user_data(self.slot, s.generation, Op::Poll));
            inner.push(&sqe);
            drop(inner);
            self.ring.schedule_flush();
        }
        Poll::Pending
    }
}

impl Drop for UringListener {
    fn drop(&mut self) {
        self.ring.release(self.slot);
    }
}
