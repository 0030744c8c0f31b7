//! [`TlsStream`]: an established TLS connection over the shard's ring (or
//! glommio's readiness streams), on rustls's unbuffered API.
//!
//! Reads: on the ring, each filled receive buffer is handed to rustls where
//! it lies (records are decrypted in place; rustls 0.23 then queues each
//! record's plaintext as its own `Vec`, a copy its unbuffered API still
//! makes), and the plaintext is copied into the reader's buffer (the
//! driver's scratch buffer). Only the tail of a record that has not fully arrived is
//! copied into the connection (`rx`, at most one record: ~16.7 KB), and
//! plaintext the reader had no room for waits in `plain`; both are freed
//! once empty. On readiness sockets ciphertext is read into a per-thread
//! buffer first.
//!
//! Writes: plaintext is gathered into records of up to 16 KiB (a vectored
//! write of 60 small frames becomes one record), encrypted into `tx`, and
//! handed to the kernel: on the ring, the connection driver's hot path
//! ([`TlsStream::poll_write_batched`]) moves `tx` into a pooled send op
//! that is submitted with the turn's other sends; cold paths (handshake
//! answers, close frames, the MQTT driver) send at once with a
//! non-blocking `sendmsg`, so that a close that follows does not overtake
//! them. Up to [`TX_LIMIT`] octets wait while a send is in flight; past
//! that the writer waits for it (which is how a peer that does not read
//! slows its connection down, as on a plaintext one).
//!
//! Closing: [`TlsStream::shutdown_write`] sends `close_notify` before the
//! TCP shutdown; when a send is still in flight the shutdown follows it
//! (done by the next poll of the stream). A peer's `close_notify` reads as
//! the end of the stream.

use std::cell::RefCell;
use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::os::fd::AsRawFd;
use std::task::{Context, Poll};

use rustls::server::UnbufferedServerConnection;
use rustls::unbuffered::{ConnectionState, EncodeError, EncryptError};

use super::super::Stream;
use super::super::socket::{Socket, sendmsg_now};
use crate::core::api::TlsInfo;

/// Ciphertext that may wait for the kernel before writers wait.
pub const TX_LIMIT: usize = 64 * 1024;
/// Largest plaintext of one record (TLS: 2^14).
const RECORD: usize = 16 * 1024;
/// Plaintext one write call encrypts at most (then it returns; the caller writes again).
const WRITE_CHUNK: usize = 4 * RECORD;
/// A record's expansion: header, tag, inner content type, explicit nonce (TLS 1.2).
const RECORD_OVERHEAD: usize = 64;

thread_local! {
    /// Where a write's slices are gathered into one record's plaintext.
    static GATHER: RefCell<Box<[u8]>> = RefCell::new(vec![0u8; RECORD].into_boxed_slice());
    /// Where ciphertext is read on readiness sockets.
    static CIPHER: RefCell<Box<[u8]>> = RefCell::new(vec![0u8; RECORD + 2048].into_boxed_slice());
}

/// An established TLS connection.
pub struct TlsStream {
    /// The TCP connection (on the ring or glommio's).
    inner: Stream,
    /// rustls's state.
    conn: UnbufferedServerConnection,
    /// The start of a record that has not fully arrived; empty (no allocation) otherwise.
    rx: Vec<u8>,
    /// Decrypted octets the reader had no room for, from `plain_off`.
    plain: Vec<u8>,
    /// Octets of `plain` already read.
    plain_off: usize,
    /// Ciphertext not yet handed to the kernel; empty (no allocation) when idle.
    tx: Vec<u8>,
    /// The handshake's results, until the front end takes them.
    info: Option<Box<TlsInfo>>,
    /// The peer sent `close_notify` (or the stream ended).
    read_closed: bool,
    /// A `shutdown_write` waits for the send in flight.
    shut_pending: bool,
    /// Our sending side is shut down.
    shut_done: bool,
}

impl std::fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStream")
            .field("inner", &self.inner)
            .field("rx", &self.rx.len())
            .field("tx", &self.tx.len())
            .finish()
    }
}

fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl TlsStream {
    /// An established connection: application data that came with the
    /// handshake (`plain`, decrypted), what is left of the handshake's input
    /// (`leftover`: later records, decrypted now into `plain`) and its results.
    pub(super) fn new(
        inner: Stream,
        conn: UnbufferedServerConnection,
        plain: Vec<u8>,
        mut leftover: Vec<u8>,
        info: TlsInfo,
    ) -> io::Result<TlsStream> {
        let mut s = TlsStream {
            inner,
            conn,
            rx: Vec::new(),
            plain,
            plain_off: 0,
            tx: Vec::new(),
            info: Some(Box::new(info)),
            read_closed: false,
            shut_pending: false,
            shut_done: false,
        };
        if !leftover.is_empty() {
            let mut n = 0;
            let used = s.process(&mut leftover, &mut [], &mut n)?;
            if used < leftover.len() {
                leftover.drain(..used);
                s.rx = leftover;
            }
        }
        Ok(s)
    }

    /// The handshake's results (channel binding, client certificate); taken
    /// once, by the front end that opens the link.
    pub fn take_info(&mut self) -> Option<Box<TlsInfo>> {
        self.info.take()
    }

    /// The TCP connection underneath.
    pub fn inner(&self) -> &Stream {
        &self.inner
    }

    /// Runs rustls over `input` (received ciphertext): plaintext goes into
    /// `out` from `*n` on (and what does not fit into `plain`), records
    /// rustls wants to send into `tx`. Returns the octets of `input` used;
    /// the rest is an incomplete record.
    fn process(&mut self, input: &mut [u8], out: &mut [u8], n: &mut usize) -> io::Result<usize> {
        let mut off = 0;
        loop {
            let status = self.conn.process_tls_records(&mut input[off..]);
            let mut discard = status.discard;
            match status.state {
                Ok(ConnectionState::ReadTraffic(mut r)) => {
                    while let Some(record) = r.next_record() {
                        let record = record.map_err(tls_error)?;
                        discard += record.discard;
                        deliver(record.payload, out, n, &mut self.plain, &mut self.plain_off);
                    }
                }
                Ok(ConnectionState::EncodeTlsData(mut e)) => encode_into(&mut e, &mut self.tx)?,
                Ok(ConnectionState::TransmitTlsData(t)) => t.done(),
                Ok(ConnectionState::PeerClosed) | Ok(ConnectionState::Closed) => {
                    self.read_closed = true;
                    return Ok(off + discard);
                }
                Ok(ConnectionState::WriteTraffic(_)) | Ok(ConnectionState::BlockedHandshake) => {
                    return Ok(off + discard);
                }
                Ok(other) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("unexpected TLS state {other:?}"),
                    ));
                }
                Err(e) => {
                    self.queue_alert(&mut input[off + discard..]);
                    return Err(tls_error(e));
                }
            }
            off += discard;
        }
    }

    /// After an error: the alert rustls queued, into `tx` (best effort).
    /// `rest` is the input rustls has not discarded (see [`Self::seal`]).
    fn queue_alert(&mut self, rest: &mut [u8]) {
        let status = self.conn.process_tls_records(rest);
        if let Ok(ConnectionState::EncodeTlsData(mut e)) = status.state {
            let _ = encode_into(&mut e, &mut self.tx);
        }
    }

    /// Runs `f` with the received octets rustls has not discarded (`rx`,
    /// taken out of `self` meanwhile); every call of `process_tls_records`
    /// outside [`Self::process`] goes through here. rustls's unbuffered API
    /// must be given those octets again on every call, never an empty
    /// slice: after a record that carries only part of a handshake message
    /// (a client's key update cut in two, say) it has taken that part in
    /// without discarding it, and indexes past it in what it is given (a
    /// panic that took the shard down).
    fn with_rx<R>(&mut self, f: impl FnOnce(&mut Self, &mut Vec<u8>) -> R) -> R {
        let mut rx = std::mem::take(&mut self.rx);
        let r = f(self, &mut rx);
        if !rx.is_empty() {
            self.rx = rx;
        }
        r
    }

    /// Takes received ciphertext (decrypting what completes a record).
    fn absorb(&mut self, data: &mut [u8], out: &mut [u8], n: &mut usize) -> io::Result<()> {
        if self.rx.is_empty() {
            let used = self.process(data, out, n)?;
            if used < data.len() {
                self.rx.extend_from_slice(&data[used..]);
            }
        } else {
            let mut rx = std::mem::take(&mut self.rx);
            rx.extend_from_slice(data);
            let used = self.process(&mut rx, out, n)?;
            if used < rx.len() {
                rx.drain(..used);
                self.rx = rx;
            }
            // Otherwise the buffer is freed: an idle connection keeps none.
        }
        Ok(())
    }

    /// Reads decrypted octets into `buf`; `Ok(0)` at the end (the peer's
    /// `close_notify` or end of stream).
    fn poll_read_plain(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        if let Poll::Ready(Err(e)) = self.poll_tx(cx, false) {
            return Poll::Ready(Err(e));
        }
        if self.plain_off < self.plain.len() {
            let k = (self.plain.len() - self.plain_off).min(buf.len());
            buf[..k].copy_from_slice(&self.plain[self.plain_off..self.plain_off + k]);
            self.plain_off += k;
            if self.plain_off == self.plain.len() {
                self.plain = Vec::new();
                self.plain_off = 0;
            }
            return Poll::Ready(Ok(k));
        }
        let mut n = 0;
        while n == 0 && !self.read_closed {
            let step = match &mut self.inner {
                Stream::Uring(s) => match s.poll_recv(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Ready(Ok(None)) => {
                        self.read_closed = true;
                        Ok(())
                    }
                    Poll::Ready(Ok(Some(mut data))) => self.absorb(&mut data, buf, &mut n),
                },
                _ => CIPHER.with(|c| {
                    let mut cipher = match c.try_borrow_mut() {
                        Ok(b) => b,
                        Err(_) => return Err(io::ErrorKind::WouldBlock.into()),
                    };
                    match self.inner.poll_read(cx, &mut cipher) {
                        Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
                        Poll::Ready(Err(e)) => Err(e),
                        Poll::Ready(Ok(0)) => {
                            self.read_closed = true;
                            Ok(())
                        }
                        Poll::Ready(Ok(k)) => self.absorb(&mut cipher[..k], buf, &mut n),
                    }
                }),
            };
            match step {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Poll::Pending,
                Err(e) => {
                    let _ = self.poll_tx(cx, false);
                    return Poll::Ready(Err(e));
                }
            }
        }
        if !self.tx.is_empty() {
            // Records rustls wants to send (a key update's answer).
            if let Poll::Ready(Err(e)) = self.poll_tx(cx, false) {
                return Poll::Ready(Err(e));
            }
        }
        Poll::Ready(Ok(n))
    }

    /// Waits until at least one decrypted octet is buffered and returns it
    /// without consuming it (the universal transport's sniffing); `None` at
    /// the end of the stream.
    ///
    /// # Errors
    /// The stream's.
    pub async fn peek(&mut self) -> io::Result<Option<u8>> {
        poll_fn(|cx| {
            if self.plain_off < self.plain.len() {
                return Poll::Ready(Ok(Some(self.plain[self.plain_off])));
            }
            let mut b = [0u8; 1];
            match self.poll_read_plain(cx, &mut b) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Ready(Ok(0)) => Poll::Ready(Ok(None)),
                Poll::Ready(Ok(_)) => {
                    // Put it back in front of what followed it.
                    if self.plain_off > 0 {
                        self.plain_off -= 1;
                        self.plain[self.plain_off] = b[0];
                    } else {
                        self.plain.insert(0, b[0]);
                    }
                    Poll::Ready(Ok(Some(b[0])))
                }
            }
        })
        .await
    }

    /// Encrypts `plain` (at most one record's worth) into `tx`, after any
    /// handshake records rustls still has to send.
    fn seal(&mut self, plain: &[u8]) -> io::Result<()> {
        self.with_rx(|me, rx| {
            loop {
                let status = me.conn.process_tls_records(rx);
                let mut discard = status.discard;
                let done = match status.state {
                    Ok(ConnectionState::WriteTraffic(mut w)) => {
                        let start = me.tx.len();
                        let mut need = plain.len() + RECORD_OVERHEAD;
                        Some(loop {
                            me.tx.resize(start + need, 0);
                            match w.encrypt(plain, &mut me.tx[start..]) {
                                Ok(k) => {
                                    me.tx.truncate(start + k);
                                    break Ok(());
                                }
                                Err(EncryptError::InsufficientSize(e))
                                    if e.required_size > need =>
                                {
                                    need = e.required_size;
                                }
                                Err(e) => {
                                    me.tx.truncate(start);
                                    break Err(io::Error::other(e.to_string()));
                                }
                            }
                        })
                    }
                    Ok(ConnectionState::EncodeTlsData(mut e)) => {
                        encode_into(&mut e, &mut me.tx).err().map(Err)
                    }
                    Ok(ConnectionState::TransmitTlsData(t)) => {
                        t.done();
                        None
                    }
                    Ok(ConnectionState::ReadTraffic(mut r)) => {
                        // Plaintext that arrived with the last read and was not
                        // handed out (not expected): keep it for the reader.
                        let mut failed = None;
                        while let Some(record) = r.next_record() {
                            match record {
                                Ok(record) => {
                                    discard += record.discard;
                                    me.plain.extend_from_slice(record.payload);
                                }
                                Err(e) => {
                                    failed = Some(Err(tls_error(e)));
                                    break;
                                }
                            }
                        }
                        failed
                    }
                    Ok(ConnectionState::PeerClosed) => {
                        me.read_closed = true;
                        None
                    }
                    Ok(ConnectionState::Closed) => Some(Err(io::ErrorKind::BrokenPipe.into())),
                    Ok(other) => Some(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("unexpected TLS state {other:?} while writing"),
                    ))),
                    Err(e) => Some(Err(tls_error(e))),
                };
                rx.drain(..discard);
                if let Some(r) = done {
                    return r;
                }
            }
        })
    }

    /// Encrypts as much of `bufs` as one call takes ([`WRITE_CHUNK`]),
    /// gathered into records; returns the plaintext octets taken.
    fn encrypt(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        GATHER.with(|g| {
            let mut own;
            let mut borrowed = g.try_borrow_mut();
            let gather: &mut [u8] = match &mut borrowed {
                Ok(b) => b,
                Err(_) => {
                    own = vec![0u8; RECORD];
                    &mut own
                }
            };
            let mut taken = 0;
            let (mut i, mut off) = (0, 0);
            while taken < WRITE_CHUNK {
                let mut filled = 0;
                while filled < gather.len() && i < bufs.len() {
                    let src = &bufs[i][off..];
                    let k = src.len().min(gather.len() - filled);
                    gather[filled..filled + k].copy_from_slice(&src[..k]);
                    filled += k;
                    off += k;
                    if off == bufs[i].len() {
                        i += 1;
                        off = 0;
                    }
                }
                if filled == 0 {
                    break;
                }
                self.seal(&gather[..filled])?;
                taken += filled;
            }
            Ok(taken)
        })
    }

    /// Hands `tx` to the kernel and collects the send in flight: `Ready(Ok)`
    /// once nothing is waiting, `Pending` (task registered) while something
    /// is. `batched`: on the ring, `tx` goes into a send op submitted with
    /// the turn's others; otherwise it is sent at once where the socket takes it.
    fn poll_tx(&mut self, cx: &mut Context<'_>, batched: bool) -> Poll<io::Result<()>> {
        let ready = match &mut self.inner {
            Stream::Uring(s) => {
                if s.sending() {
                    match s.poll_send(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(None) => {}
                        Poll::Ready(Some((result, mut op))) => match result {
                            Err(e) => {
                                s.recycle(op);
                                return Poll::Ready(Err(e));
                            }
                            Ok(0) => {
                                s.recycle(op);
                                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                            }
                            Ok(k) if k < op.ctrl.len() => {
                                // Short send: the rest goes first, then what queued meanwhile.
                                let mut rest = std::mem::take(&mut op.ctrl);
                                rest.drain(..k);
                                rest.extend_from_slice(&self.tx);
                                self.tx = Vec::new();
                                op.clear();
                                op.ctrl = rest;
                                s.submit_send(op);
                                let _ = s.poll_send(cx);
                                return Poll::Pending;
                            }
                            Ok(_) => s.recycle(op),
                        },
                    }
                }
                if self.tx.is_empty() {
                    true
                } else {
                    if !batched && let Some(r) = sendmsg_now(s.raw_fd(), &[IoSlice::new(&self.tx)])
                    {
                        let k = r?;
                        self.tx.drain(..k);
                    }
                    if self.tx.is_empty() {
                        self.tx = Vec::new();
                        true
                    } else {
                        let mut op = s.send_op();
                        std::mem::swap(&mut op.ctrl, &mut self.tx);
                        self.tx = Vec::new();
                        s.submit_send(op);
                        let _ = s.poll_send(cx);
                        false
                    }
                }
            }
            inner => loop {
                if self.tx.is_empty() {
                    self.tx = Vec::new();
                    break true;
                }
                match inner.poll_write_vectored(cx, &[IoSlice::new(&self.tx)]) {
                    Poll::Pending => break false,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                    Poll::Ready(Ok(k)) => {
                        self.tx.drain(..k);
                    }
                }
            },
        };
        if !ready {
            return Poll::Pending;
        }
        if self.shut_pending {
            self.shut_pending = false;
            self.shut_done = true;
            let _ = self.inner.shutdown_write();
        }
        Poll::Ready(Ok(()))
    }

    /// Writes `bufs` on the driver's hot path: encrypted into records whose
    /// send, on the ring, is submitted with the turn's others. Returns the
    /// plaintext octets taken; `Pending` only while `TX_LIMIT` octets
    /// wait for the kernel.
    pub fn poll_write_batched(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_with(cx, bufs, true)
    }

    fn poll_write_with(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
        batched: bool,
    ) -> Poll<io::Result<usize>> {
        if self.shut_done || self.shut_pending {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        let flushed = match self.poll_tx(cx, batched) {
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Ready(Ok(())) => true,
            Poll::Pending => false,
        };
        if !flushed && self.tx.len() >= TX_LIMIT {
            return Poll::Pending;
        }
        let taken = match self.encrypt(bufs) {
            Ok(k) => k,
            Err(e) => return Poll::Ready(Err(e)),
        };
        if flushed && let Poll::Ready(Err(e)) = self.poll_tx(cx, batched) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(taken))
    }

    /// `Ready` once everything written has been handed to the kernel (the
    /// driver settles this before its closing phase).
    ///
    /// # Errors
    /// The socket's.
    pub fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_tx(cx, false)
    }

    /// Sends `close_notify` and shuts the TCP sending side down, after what
    /// is still being sent.
    fn shutdown(&mut self) -> io::Result<()> {
        if self.shut_done || self.shut_pending {
            return Ok(());
        }
        self.with_rx(|me, rx| {
            let status = me.conn.process_tls_records(rx);
            let discard = status.discard;
            if let Ok(ConnectionState::WriteTraffic(mut w)) = status.state {
                let start = me.tx.len();
                me.tx.resize(start + RECORD_OVERHEAD, 0);
                match w.queue_close_notify(&mut me.tx[start..]) {
                    Ok(k) => me.tx.truncate(start + k),
                    Err(_) => me.tx.truncate(start),
                }
            }
            rx.drain(..discard);
        });
        self.shut_pending = true;
        let mut cx = Context::from_waker(std::task::Waker::noop());
        match self.poll_tx(&mut cx, false) {
            Poll::Ready(r) => r,
            Poll::Pending => Ok(()),
        }
    }
}

/// Copies `payload` into `out` from `*n` on; what does not fit goes to `plain`.
fn deliver(
    payload: &[u8],
    out: &mut [u8],
    n: &mut usize,
    plain: &mut Vec<u8>,
    plain_off: &mut usize,
) {
    let k = payload.len().min(out.len() - *n);
    out[*n..*n + k].copy_from_slice(&payload[..k]);
    *n += k;
    if k < payload.len() {
        if *plain_off == plain.len() {
            plain.clear();
            *plain_off = 0;
        }
        plain.extend_from_slice(&payload[k..]);
    }
}

/// Appends a handshake record rustls has ready to `tx`.
pub(super) fn encode_into<D>(
    e: &mut rustls::unbuffered::EncodeTlsData<'_, D>,
    tx: &mut Vec<u8>,
) -> io::Result<()> {
    let start = tx.len();
    let mut need = 2048;
    loop {
        tx.resize(start + need, 0);
        match e.encode(&mut tx[start..]) {
            Ok(k) => {
                tx.truncate(start + k);
                return Ok(());
            }
            Err(EncodeError::InsufficientSize(s)) if s.required_size > need => {
                need = s.required_size
            }
            Err(err) => {
                tx.truncate(start);
                return Err(io::Error::other(err.to_string()));
            }
        }
    }
}

impl Socket for TlsStream {
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.poll_read_plain(cx, buf)
    }

    fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_with(cx, bufs, false)
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.shutdown()
    }
}

impl AsRawFd for TlsStream {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        match &self.inner {
            Stream::Uring(s) => s.raw_fd(),
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(_) | Stream::Tls(_) | Stream::Ws(_) => -1,
        }
    }
}
