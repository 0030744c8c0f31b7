//! One HTTP connection's socket side, as every service sees it: the
//! sans-IO connection ([`Connection`]) fed from the socket, request heads
//! and body pieces read with the transport's timeouts, answers written
//! (bytes or a file read off the reactor), the closing.
//!
//! - Reads: readiness-based, into the shard's scratch buffer, then appended
//!   to the connection's own buffer, which holds only what has not been
//!   decoded yet (an idle keep-alive connection holds none).
//! - Writes: the answer's head and body in one send where they fit: on the
//!   shard's ring ([`crate::transport::uring`]) a send op submitted with the
//!   turn's other submissions (no system call of its own), elsewhere one
//!   vectored write; large file bodies in pieces read off the reactor.
//! - Clocks: the `Date` field from the coarse real-time clock (it changes
//!   once a second anyway); the read timeouts share one timer per
//!   connection, re-armed only when it fires early or a deadline comes
//!   sooner than it (not once per request).
//! - Timeouts by phase: keep-alive wait (`idle_timeout`, closed silently),
//!   request head (`head_timeout`, from its first octet: 408), request body
//!   (`body_timeout` without an octet: 408), answer (`send_timeout` without
//!   progress: dropped).
//! - A refused request (bad syntax, a limit: 400, 413, 414, 431, 501, 505)
//!   gets its error answer and the connection closes; other connections
//!   are unaffected.
//! - Closing: our side is shut down after the last answer and what the
//!   client still sends is read and dropped for at most
//!   [`CLOSE_TIMEOUT`](super::super::CLOSE_TIMEOUT), so that the answer is not
//!   lost to a TCP reset.
//!
//! The ground floor of the web server: imports no service, no dispatcher
//! and not the driver; they all import it.

use std::fs;
use std::future::{Future, poll_fn};
use std::io::{self, IoSlice};
use std::net::IpAddr;
use std::os::unix::io::{FromRawFd, IntoRawFd};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use bytes::{Bytes, BytesMut};
use glommio::io::{BufferedFile, ReadResult};
use glommio::timer::Timer;

use crate::proto::http::conn::Phase;
use crate::proto::http::{
    BodyWrite, Connection, Event, FixedFields, HttpDate, HttpError, Limits, Request, ResponseHead,
    error_response,
};
use crate::transport::conn::with_scratch;
use crate::transport::socket::Socket;
use crate::transport::uring::{SendOp, UringStream};
use crate::transport::{CLOSE_TIMEOUT, Stream, with_timeout};

/// Octets of a large file read (and written) at a time.
const PIECE: usize = 256 * 1024;
/// Octets of a next request kept while [`HttpConn::peer_gone`] watches the
/// connection; beyond them it is no longer watched.
const WATCH_LIMIT: usize = 64 * 1024;
/// Octets at most that an answer sends through the shard's ring (copied into
/// the send op); more (a large body, a file's pieces) are written from their
/// own buffers, where the copy would cost more than the system call.
const RING_SEND_MAX: usize = 16 * 1024;
/// A send op's buffer capacity kept when it goes back to the shard's pool
/// (a larger one is freed: the pool holds up to 64 ops).
const RING_SEND_KEEP: usize = 4 * 1024;

/// A response body.
#[derive(Debug)]
pub(super) enum Body {
    /// None (the head says how long: `Content-Length: 0`, or none for 204/304).
    Empty,
    /// These octets.
    Bytes(Bytes),
    /// A part of an open file, read off the reactor piece by piece.
    File(FileBody),
}

/// Why a connection stops: the peer went away, a timeout, or an answer
/// that closes it was written. Nothing more is done with the socket but
/// the closing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stop;

/// Why a request body piece polled with [`HttpConn::poll_body_piece`]
/// did not come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BodyEnd {
    /// The body breaks a rule or a limit (413, a malformed chunk): the
    /// request is refused with this error, or, once its answer began, the
    /// connection closes.
    Refused(HttpError),
    /// The client went away or the socket failed.
    Gone,
}

/// Why a read returned without data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadEnd {
    /// The peer closed its side.
    Eof,
    /// The deadline passed.
    Timeout,
    /// The socket failed.
    Failed,
}

/// The timeouts of a web transport's connections.
#[derive(Debug, Clone, Copy)]
pub(super) struct Timeouts {
    /// From the first octet of a request head to its end.
    pub head: Duration,
    /// Between two reads of a request body (zero: none).
    pub body: Duration,
    /// Keep-alive wait for the next request (zero: none).
    pub idle: Duration,
    /// A response making no progress (zero: none).
    pub send: Duration,
}

/// One HTTP connection: the socket, the sans-IO state, the buffers.
pub(super) struct HttpConn {
    /// The socket.
    pub(super) sock: Stream,
    /// Octets read and not decoded yet (a proxied WebSocket's first
    /// frames, after a 101).
    pub(super) buf: BytesMut,
    /// The protocol state.
    pub(super) conn: Connection,
    /// The head of the answer being written (reused).
    out: Vec<u8>,
    /// The transport's timeouts.
    timeouts: Timeouts,
    /// When the request head being read started arriving.
    head_started: Option<Instant>,
    /// The read timeouts' timer.
    watch: Watch,
}

/// The timer of a connection's read deadlines, kept across reads: a wait
/// whose deadline is no sooner than the timer's keeps it (when it fires
/// early, the wait re-arms it for its own deadline), so a keep-alive
/// connection arms it about once per `idle_timeout` rather than once per
/// request.
#[derive(Default)]
struct Watch {
    /// The timer, charged with the connection's task, and when it fires.
    timer: Option<(Timer, Instant)>,
}

impl Watch {
    /// Whether `deadline` has passed at `now` (read during this poll); if
    /// not, a timer wakes the task no later than `deadline`.
    fn expired(&mut self, deadline: Instant, now: Instant, cx: &mut Context<'_>) -> bool {
        if now >= deadline {
            return true;
        }
        // A timer that has not fired yet is still registered with this
        // connection's task (the only one polling the connection) and
        // wakes it by `at <= deadline`. (One whose time came after `now`
        // was read has not been taken off the reactor yet: it will wake
        // the task all the same.)
        if let Some((_, at)) = &self.timer
            && *at <= deadline
            && now < *at
        {
            return false;
        }
        let mut timer = Timer::new(deadline - now);
        let fired = Pin::new(&mut timer).poll(cx).is_ready();
        self.timer = Some((timer, deadline));
        fired
    }

    /// Whether a timer is kept (for tests).
    #[cfg(test)]
    fn armed_at(&self) -> Option<Instant> {
        self.timer.as_ref().map(|(_, at)| *at)
    }
}

impl HttpConn {
    /// A connection on `sock` with the transport's request `limits` and
    /// `timeouts`; `hsts`: the site's `Strict-Transport-Security` field,
    /// added to every answer only when `sock` is TLS (RFC 6797 7.2: never
    /// over plaintext), without copying the answers' heads.
    pub(super) fn new(
        sock: Stream,
        limits: Limits,
        timeouts: Timeouts,
        hsts: Option<FixedFields>,
    ) -> Self {
        let mut conn = Connection::new(limits);
        if let Some(fields) = hsts.filter(|_| sock.is_tls()) {
            conn.set_fixed_fields(fields);
        }
        HttpConn {
            buf: BytesMut::new(),
            conn,
            out: Vec::new(),
            timeouts,
            head_started: None,
            watch: Watch::default(),
            sock,
        }
    }

    /// The next request's head, reading as needed. `Err(Stop)`: the
    /// connection is done (closed by the peer, idle, refused, timed out).
    pub(super) async fn next_request(&mut self) -> Result<Request, Stop> {
        loop {
            match self.conn.decode(&mut self.buf) {
                Ok(Some(Event::Request(r))) => {
                    self.head_started = None;
                    return Ok(r);
                }
                // The body of a request answered without reading it: the
                // connection closes after that answer, so this is not reached.
                Ok(Some(Event::Data(_) | Event::End(_))) => {}
                Ok(None) => {
                    if self.conn.must_close() {
                        return Err(Stop);
                    }
                    let phase = self.conn.phase(&self.buf);
                    let wait = match phase {
                        Phase::Idle => {
                            // An idle connection keeps no buffer.
                            self.buf = BytesMut::new();
                            Wait::For(self.timeouts.idle)
                        }
                        Phase::ReadingHead => {
                            let started = *self.head_started.get_or_insert_with(Instant::now);
                            Wait::Until(started + self.timeouts.head)
                        }
                        _ => Wait::For(self.timeouts.body),
                    };
                    // A head that arrives in pieces is timed from when its
                    // first piece was found short (`ReadingHead` above).
                    match self.read_more(wait).await {
                        Ok(()) => {}
                        Err(ReadEnd::Timeout) => {
                            if phase != Phase::Idle {
                                let e = HttpError::new(408, "request head not received in time");
                                self.refuse(e).await;
                            }
                            return Err(Stop);
                        }
                        Err(ReadEnd::Eof) => {
                            if let Err(e) = self.conn.eof(&self.buf) {
                                tracing::debug!(error = %e, "client closed mid-request");
                            }
                            return Err(Stop);
                        }
                        Err(ReadEnd::Failed) => return Err(Stop),
                    }
                }
                Err(e) => {
                    self.refuse(e).await;
                    return Err(Stop);
                }
            }
        }
    }

    /// The next piece of the current request's body; `None` at its end.
    /// Answers `100 Continue` first when the client waits for it.
    pub(super) async fn body_piece(&mut self) -> Result<Option<Bytes>, Stop> {
        if let Some(interim) = self.conn.take_continue() {
            self.write_parts(&[interim]).await?;
        }
        loop {
            match self.conn.decode(&mut self.buf) {
                Ok(Some(Event::Data(d))) => return Ok(Some(d)),
                Ok(Some(Event::End(_))) => return Ok(None),
                Ok(Some(Event::Request(_))) => {
                    unreachable!("one request at a time: the next head waits for this answer")
                }
                Ok(None) => match self.read_more(Wait::For(self.timeouts.body)).await {
                    Ok(()) => {}
                    Err(ReadEnd::Timeout) => {
                        self.refuse(HttpError::new(408, "request body not received in time"))
                            .await;
                        return Err(Stop);
                    }
                    Err(_) => return Err(Stop),
                },
                Err(e) => {
                    self.refuse(e).await;
                    return Err(Stop);
                }
            }
        }
    }

    /// Reads the current request's body to its end and drops it (a service
    /// that takes no body; the limit still applies: 413).
    pub(super) async fn discard_body(&mut self) -> Result<(), Stop> {
        while self.body_piece().await?.is_some() {}
        Ok(())
    }

    /// Waits until the client closes its side or the connection fails
    /// (while an answer is being prepared). What the client sends meanwhile
    /// is kept for the next request; beyond [`WATCH_LIMIT`] octets the
    /// connection is no longer watched.
    pub(super) async fn peer_gone(&mut self) {
        while self.buf.len() < WATCH_LIMIT {
            if self.read_more(Wait::Forever).await.is_err() {
                return;
            }
        }
        std::future::pending::<()>().await;
    }

    /// Reads what the socket has into the buffer; waits until something
    /// arrives or the deadline `wait` sets passes (a duration counts from
    /// when the socket first has nothing: no clock is read for a read that
    /// finds data).
    async fn read_more(&mut self, wait: Wait) -> Result<(), ReadEnd> {
        let mut deadline: Option<Instant> = None;
        poll_fn(|cx| {
            let read = self.poll_fill(cx);
            if read.is_ready() {
                return read;
            }
            let now = Instant::now();
            let at = match (wait, deadline) {
                (_, Some(at)) => at,
                (Wait::For(d), None) if !d.is_zero() => *deadline.insert(now + d),
                (Wait::Until(at), None) => *deadline.insert(at),
                _ => return Poll::Pending,
            };
            if self.watch.expired(at, now, cx) {
                Poll::Ready(Err(ReadEnd::Timeout))
            } else {
                Poll::Pending
            }
        })
        .await
    }

    /// One read of what the socket has into the buffer (`Pending`: nothing
    /// yet, the task is woken when something comes).
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ReadEnd>> {
        let buf = &mut self.buf;
        if let Stream::Uring(u) = &mut self.sock {
            // Straight from the ring's receive buffer (no scratch copy).
            return match u.poll_recv(cx) {
                Poll::Ready(Ok(Some(received))) => {
                    buf.extend_from_slice(&received);
                    Poll::Ready(Ok(()))
                }
                Poll::Ready(Ok(None)) => Poll::Ready(Err(ReadEnd::Eof)),
                Poll::Ready(Err(_)) => Poll::Ready(Err(ReadEnd::Failed)),
                Poll::Pending => Poll::Pending,
            };
        }
        let sock = &mut self.sock;
        with_scratch(|scratch| match sock.poll_read(cx, scratch) {
            Poll::Ready(Ok(0)) => Poll::Ready(Err(ReadEnd::Eof)),
            Poll::Ready(Ok(n)) => {
                buf.extend_from_slice(&scratch[..n]);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(_)) => Poll::Ready(Err(ReadEnd::Failed)),
            Poll::Pending => Poll::Pending,
        })
    }

    /// The next piece of the current request's body, polled, for a service
    /// that reads the body while it writes its answer (`duplex`): no
    /// timeout (the caller keeps it) and nothing written (no `100
    /// Continue`: see [`HttpConn::send_continue`]; no refusal: the caller
    /// answers or closes, depending on whether its answer began).
    pub(super) fn poll_body_piece(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<Bytes>, BodyEnd>> {
        loop {
            match self.conn.decode(&mut self.buf) {
                Ok(Some(Event::Data(d))) => return Poll::Ready(Ok(Some(d))),
                Ok(Some(Event::End(_))) => return Poll::Ready(Ok(None)),
                // Not while a body is read; the caller stops at its end.
                Ok(Some(Event::Request(_))) => return Poll::Ready(Err(BodyEnd::Gone)),
                Ok(None) => match self.poll_fill(cx) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(_)) => return Poll::Ready(Err(BodyEnd::Gone)),
                    Poll::Pending => return Poll::Pending,
                },
                Err(e) => return Poll::Ready(Err(BodyEnd::Refused(e))),
            }
        }
    }

    /// Writes `100 Continue` when the client waits for it before sending
    /// the body (a service that then reads the body with
    /// [`HttpConn::poll_body_piece`]).
    pub(super) async fn send_continue(&mut self) -> Result<(), Stop> {
        match self.conn.take_continue() {
            Some(interim) => self.write_parts(&[interim]).await,
            None => Ok(()),
        }
    }

    /// Writes what the socket takes of `data` now, polled: the count
    /// (never 0), `Pending` when it takes nothing yet, `Err(Stop)` when the
    /// connection failed. No timeout: the caller keeps `send_timeout`.
    pub(super) fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<Result<usize, Stop>> {
        match self.sock.poll_write_vectored(cx, &[IoSlice::new(data)]) {
            Poll::Ready(Ok(0) | Err(_)) => Poll::Ready(Err(Stop)),
            Poll::Ready(Ok(n)) => Poll::Ready(Ok(n)),
            Poll::Pending => Poll::Pending,
        }
    }

    /// The transport's timeouts.
    pub(super) fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// Writes the answer to the oldest request: `head`, then `body` as the
    /// connection's plan says (nothing for HEAD, 304, ...). Returns the body
    /// octets sent.
    pub(super) async fn respond(&mut self, head: &ResponseHead, body: Body) -> Result<u64, Stop> {
        self.out.clear();
        let plan = match self.conn.write_head(head, coarse_date(), &mut self.out) {
            Ok(plan) => plan,
            Err(e) => {
                tracing::error!(error = %e, "web server answered out of turn; closing");
                return Err(Stop);
            }
        };
        let out = std::mem::take(&mut self.out);
        let sent = match (plan.body, body) {
            (BodyWrite::None, _) => self.write_parts(&[&out]).await.map(|()| 0),
            (BodyWrite::Length(n), Body::Bytes(b)) => {
                let n = usize::try_from(n).unwrap_or(usize::MAX).min(b.len());
                self.write_parts(&[&out, &b[..n]]).await.map(|()| n as u64)
            }
            (BodyWrite::Length(_), Body::File(mut f)) => {
                self.write_parts(&[&out]).await?;
                self.send_file(&mut f).await
            }
            (plan, body) => {
                tracing::error!(
                    ?plan,
                    ?body,
                    "web server body does not fit its head; closing"
                );
                Err(Stop)
            }
        };
        self.out = out;
        let sent = sent?;
        self.conn.finish_response().map_err(|_| Stop).map(|()| sent)
    }

    /// Streams a file body.
    async fn send_file(&mut self, f: &mut FileBody) -> Result<u64, Stop> {
        let mut sent = 0;
        while let Some(piece) = f.next_piece().await.map_err(|e| {
            tracing::warn!(error = %e, "reading a static file failed");
            Stop
        })? {
            self.write_parts(&[&piece]).await?;
            sent += piece.len() as u64;
        }
        Ok(sent)
    }

    /// Writes all of `parts`, in order, with one send (on the shard's
    /// ring) or one vectored write where the socket takes it all. A write
    /// that makes no progress for `send_timeout` ends the connection.
    pub(super) async fn write_parts(&mut self, parts: &[&[u8]]) -> Result<(), Stop> {
        if let Stream::Uring(u) = &mut self.sock {
            let total: usize = parts.iter().map(|p| p.len()).sum();
            if total <= RING_SEND_MAX {
                return ring_send(u, parts, self.timeouts.send).await;
            }
        }
        let mut part = 0;
        let mut offset = 0;
        let limit = self.timeouts.send;
        let sock = &mut self.sock;
        while part < parts.len() {
            let mut iov: [IoSlice<'_>; 8] = [IoSlice::new(&[]); 8];
            let mut k = 0;
            for (i, p) in parts[part..].iter().enumerate().take(iov.len()) {
                let p = if i == 0 { &p[offset..] } else { p };
                if !p.is_empty() {
                    iov[k] = IoSlice::new(p);
                    k += 1;
                }
            }
            if k == 0 {
                break;
            }
            // Most writes complete at once: the timeout (a timer registered
            // with the reactor) only for one that has to wait.
            let now = poll_fn(|cx| Poll::Ready(sock.poll_write_vectored(cx, &iov[..k]))).await;
            let written = match now {
                Poll::Ready(r) => r.map_err(|_| Stop)?,
                Poll::Pending => {
                    with_timeout(limit, poll_fn(|cx| sock.poll_write_vectored(cx, &iov[..k])))
                        .await
                        .ok_or(Stop)
                        .and_then(|r| r.map_err(|_| Stop))?
                }
            };
            if written == 0 {
                return Err(Stop);
            }
            // Advance over what the socket took.
            let mut left = written;
            while part < parts.len() && left > 0 {
                let rest = parts[part].len() - offset;
                if left < rest {
                    offset += left;
                    left = 0;
                } else {
                    left -= rest;
                    part += 1;
                    offset = 0;
                }
            }
            while part < parts.len() && parts[part].len() == offset {
                part += 1;
                offset = 0;
            }
        }
        Ok(())
    }

    /// Answers a refused request (its error, then close).
    pub(super) async fn refuse(&mut self, e: HttpError) {
        tracing::debug!(
            status = e.status,
            reason = e.reason,
            "refusing an HTTP request"
        );
        let answer = error_response(&e, coarse_date());
        let _ = self.write_parts(&[&answer]).await;
    }

    /// Closes gracefully: our side is shut down, and what the client still
    /// sends is dropped until it closes (at most `CLOSE_TIMEOUT`).
    pub(super) async fn linger(&mut self) {
        if self.sock.shutdown_write().is_err() {
            return;
        }
        let sock = &mut self.sock;
        let drain = poll_fn(|cx| {
            loop {
                let step = with_scratch(|buf| sock.poll_read(cx, buf));
                match step {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => return Poll::Ready(()),
                    Poll::Ready(Ok(_)) => {}
                }
            }
        });
        let _ = with_timeout(CLOSE_TIMEOUT, drain).await;
    }

    /// Takes the socket and the octets not decoded yet (a WebSocket's first frames).
    pub(super) fn into_parts(self) -> (Stream, BytesMut) {
        (self.sock, self.buf)
    }
}

/// Sends `parts` on the shard's ring: copied into a send op that goes to
/// the kernel with the turn's other submissions, then waits for its
/// completion (what the socket did not take is sent again). The
/// `send_timeout` timer is armed only for a send still in flight after the
/// first wake (most complete at the submission itself, the socket having
/// room). A send abandoned on timeout stays with the ring until the
/// connection closes; nothing more is written.
async fn ring_send(u: &mut UringStream, parts: &[&[u8]], limit: Duration) -> Result<(), Stop> {
    if u.sending() {
        return Err(Stop);
    }
    let mut op = u.send_op();
    for p in parts {
        op.ctrl.extend_from_slice(p);
    }
    while !op.ctrl.is_empty() {
        u.submit_send(op);
        let mut woken = false;
        let mut timer: Option<Timer> = None;
        let done = poll_fn(|cx| match u.poll_send(cx) {
            Poll::Ready(done) => Poll::Ready(done),
            Poll::Pending => {
                if std::mem::replace(&mut woken, true) && !limit.is_zero() {
                    let t = timer.get_or_insert_with(|| Timer::new(limit));
                    if Pin::new(t).poll(cx).is_ready() {
                        return Poll::Ready(None);
                    }
                }
                Poll::Pending
            }
        })
        .await;
        let Some((result, sent)) = done else {
            return Err(Stop);
        };
        match result {
            Ok(n) if n > 0 => {
                let rest = &sent.ctrl[n.min(sent.ctrl.len())..];
                op = u.send_op();
                op.ctrl.extend_from_slice(rest);
                recycle(u, sent);
            }
            _ => {
                recycle(u, sent);
                return Err(Stop);
            }
        }
    }
    recycle(u, op);
    Ok(())
}

/// Gives a send op back to the shard's pool, its buffer freed when larger
/// than [`RING_SEND_KEEP`].
fn recycle(u: &UringStream, mut op: Box<SendOp>) {
    if op.ctrl.capacity() > RING_SEND_KEEP {
        op.ctrl = Vec::new();
    }
    u.recycle(op);
}

/// The `Date` of an answer: the coarse real-time clock (a few milliseconds
/// behind the precise one at most, read without the time counter), cut to
/// the second.
pub(super) fn coarse_date() -> HttpDate {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write into.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut ts) };
    if r == 0 {
        HttpDate::from_unix(u64::try_from(ts.tv_sec).unwrap_or(0))
    } else {
        HttpDate::from_system_time(SystemTime::now())
    }
}

/// How long a read may wait.
#[derive(Debug, Clone, Copy)]
enum Wait {
    /// No deadline.
    Forever,
    /// This long from when the socket first has nothing (zero: forever).
    For(Duration),
    /// Until then.
    Until(Instant),
}

/// A part of an open file, read piece by piece with glommio's file API.
#[derive(Debug)]
pub(super) struct FileBody {
    /// The file.
    file: BufferedFile,
    /// The next octet to send.
    pos: u64,
    /// One past the last octet to send.
    end: u64,
}

impl FileBody {
    pub(super) fn new(file: fs::File, first: u64, end: u64) -> Self {
        // SAFETY: the descriptor comes from a `File` we own and give up
        // here; the BufferedFile owns it from now on and closes it.
        let file = unsafe { BufferedFile::from_raw_fd(file.into_raw_fd()) };
        FileBody {
            file,
            pos: first,
            end,
        }
    }

    /// The next piece, `None` when all was read.
    ///
    /// # Errors
    /// A read error, or the file ending early (it shrank while being sent).
    pub(super) async fn next_piece(&mut self) -> io::Result<Option<ReadResult>> {
        if self.pos >= self.end {
            return Ok(None);
        }
        let want = usize::try_from(self.end - self.pos)
            .unwrap_or(PIECE)
            .min(PIECE);
        let piece = self
            .file
            .read_at(self.pos, want)
            .await
            .map_err(|e| io::Error::other(e.to_string()))?;
        if piece.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file shorter than announced",
            ));
        }
        self.pos += piece.len() as u64;
        Ok(Some(piece))
    }
}

/// The IP address in a peer description (`tcp4:1.2.3.4:5`, `tcp6:::1:5`).
pub(super) fn peer_ip(peer: &str) -> Option<IpAddr> {
    let rest = peer
        .strip_prefix("tcp4:")
        .or_else(|| peer.strip_prefix("tcp6:"))?;
    let (ip, _port) = rest.rsplit_once(':')?;
    ip.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use std::io::{Read as _, Write as _};
    use std::sync::mpsc;

    use glommio::LocalExecutorBuilder;

    use super::*;
    use crate::config::Endpoint;
    use crate::proto::http::ResponseBody;
    use crate::transport::bind;

    /// Answers `n` requests of one keep-alive connection on the shard's
    /// ring; the ring's sends before and after, and the read timer's
    /// deadline after each request was read (none while no read waited).
    fn serve_on_ring(
        n: usize,
        client: impl FnOnce(String) + Send + 'static,
    ) -> (u64, u64, Vec<Option<Instant>>) {
        let (tx, rx) = mpsc::channel::<String>();
        let server = LocalExecutorBuilder::default()
            .io_memory(1 << 20)
            .spawn(move || async move {
                let driver = crate::transport::uring::start().expect("io_uring");
                let ring = crate::transport::uring::current().expect("ring");
                let endpoint = Endpoint::Tcp {
                    host: "127.0.0.1".to_owned(),
                    port: 0,
                };
                let listener = bind(&endpoint).expect("bind");
                tx.send(listener.local_addr_string()).expect("address");
                let (stream, _) = listener.accept().await.expect("accept");
                assert!(matches!(stream, Stream::Uring(_)), "on the ring");
                let long = Duration::from_secs(30);
                let timeouts = Timeouts {
                    head: long,
                    body: long,
                    idle: long,
                    send: long,
                };
                let mut c = HttpConn::new(stream, Limits::default(), timeouts, None);
                let before = ring.stats().sends;
                let mut armed = Vec::new();
                for _ in 0..n {
                    let _request = c.next_request().await.expect("a request");
                    armed.push(c.watch.armed_at());
                    let mut head = ResponseHead::new(200);
                    head.body(ResponseBody::Length(2));
                    c.respond(&head, Body::Bytes(Bytes::from_static(b"ok")))
                        .await
                        .expect("answered");
                }
                let after = ring.stats().sends;
                drop(c);
                drop(listener);
                driver.stop().await;
                (before, after, armed)
            })
            .expect("executor");
        let addr = rx.recv().expect("address");
        let c = std::thread::spawn(move || client(addr));
        let out = server.join().expect("server");
        c.join().expect("client");
        out
    }

    #[test]
    fn answers_are_ring_sends_and_keep_alive_waits_share_one_timer() {
        let (before, after, armed) = serve_on_ring(3, |addr| {
            let mut s = std::net::TcpStream::connect(addr).expect("connect");
            s.set_read_timeout(Some(Duration::from_secs(10)))
                .expect("timeout");
            for _ in 0..3 {
                s.write_all(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
                    .expect("write");
                let mut got = Vec::new();
                let mut buf = [0u8; 512];
                while !got.ends_with(b"\r\n\r\nok") {
                    let n = s.read(&mut buf).expect("read");
                    assert!(n > 0, "closed early: {:?}", String::from_utf8_lossy(&got));
                    got.extend_from_slice(&buf[..n]);
                }
                assert!(got.starts_with(b"HTTP/1.1 200 OK\r\n"));
            }
        });
        // One send op per answer, through the ring (no direct `sendmsg`).
        assert_eq!(after - before, 3);
        // The first wait armed the timer; the later ones (deadlines no
        // sooner) kept it.
        assert_eq!(armed.len(), 3);
        let first = armed.iter().flatten().next();
        assert!(
            armed.iter().flatten().all(|at| Some(at) == first),
            "{armed:?}"
        );
    }

    #[test]
    fn pooled_send_ops_keep_no_large_buffer() {
        LocalExecutorBuilder::default()
            .io_memory(1 << 20)
            .spawn(|| async {
                let driver = crate::transport::uring::start().expect("io_uring");
                let endpoint = Endpoint::Tcp {
                    host: "127.0.0.1".to_owned(),
                    port: 0,
                };
                let listener = bind(&endpoint).expect("bind");
                let addr = listener.local_addr_string();
                let client = std::thread::spawn(move || {
                    let mut s = std::net::TcpStream::connect(addr).expect("connect");
                    let mut all = Vec::new();
                    s.read_to_end(&mut all).expect("read");
                    all.len()
                });
                let (stream, _) = listener.accept().await.expect("accept");
                let Stream::Uring(mut u) = stream else {
                    panic!("on the ring")
                };
                let big = vec![7u8; RING_SEND_MAX];
                ring_send(&mut u, &[&big], Duration::from_secs(30))
                    .await
                    .expect("sent");
                let op = u.send_op();
                assert!(
                    op.ctrl.capacity() <= RING_SEND_KEEP,
                    "{}",
                    op.ctrl.capacity()
                );
                u.recycle(op);
                drop(u);
                drop(listener);
                driver.stop().await;
                client
            })
            .expect("executor")
            .join()
            .expect("join")
            .join()
            .map(|n| assert_eq!(n, RING_SEND_MAX))
            .expect("client");
    }

    #[test]
    fn the_read_timer_is_rearmed_only_for_a_sooner_deadline_or_once_fired() {
        LocalExecutorBuilder::default()
            .spawn(|| async {
                let mut w = Watch::default();
                let now = Instant::now();
                let far = now + Duration::from_secs(60);
                let waker = futures::task::noop_waker();
                let mut cx = Context::from_waker(&waker);
                assert!(!w.expired(far, Instant::now(), &mut cx));
                assert_eq!(w.armed_at(), Some(far));
                // Later: kept.
                assert!(!w.expired(far + Duration::from_secs(5), Instant::now(), &mut cx));
                assert_eq!(w.armed_at(), Some(far));
                // Sooner: re-armed.
                let near = now + Duration::from_millis(20);
                assert!(!w.expired(near, Instant::now(), &mut cx));
                assert_eq!(w.armed_at(), Some(near));
                // Passed.
                assert!(w.expired(now, Instant::now(), &mut cx));
                // Once the timer's time has passed, a later deadline re-arms it.
                glommio::timer::sleep(Duration::from_millis(30)).await;
                assert!(!w.expired(far, Instant::now(), &mut cx));
                assert_eq!(w.armed_at(), Some(far));
            })
            .expect("executor")
            .join()
            .expect("join");
    }

    #[test]
    fn peer_addresses() {
        assert_eq!(
            peer_ip("tcp4:127.0.0.1:5000"),
            Some("127.0.0.1".parse().expect("ip"))
        );
        assert_eq!(peer_ip("tcp6:::1:5000"), Some("::1".parse().expect("ip")));
        assert_eq!(peer_ip("unix"), None);
    }
}
