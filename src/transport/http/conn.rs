//! One HTTP connection's socket side, as every service sees it: the
//! sans-IO connection ([`Connection`]) fed from the socket, request heads
//! and body pieces read with the transport's timeouts, answers written
//! (bytes or a file read off the reactor), the closing.
//!
//! - Reads: readiness-based, into the shard's scratch buffer, then appended
//!   to the connection's own buffer, which holds only what has not been
//!   decoded yet (an idle keep-alive connection holds none).
//! - Writes: the answer's head and body in one vectored write where they
//!   fit; large file bodies in pieces read off the reactor.
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
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use bytes::{Bytes, BytesMut};
use glommio::io::{BufferedFile, ReadResult};
use glommio::timer::Timer;

use crate::proto::http::conn::Phase;
use crate::proto::http::{
    BodyWrite, Connection, Event, HttpDate, HttpError, Limits, Request, ResponseHead,
    error_response,
};
use crate::transport::conn::with_scratch;
use crate::transport::socket::Socket;
use crate::transport::{CLOSE_TIMEOUT, Stream, with_timeout};

/// Octets of a large file read (and written) at a time.
const PIECE: usize = 256 * 1024;
/// Octets of a next request kept while [`HttpConn::peer_gone`] watches the
/// connection; beyond them it is no longer watched.
const WATCH_LIMIT: usize = 64 * 1024;

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
    /// The site's `Strict-Transport-Security` value, on a TLS connection
    /// only (RFC 6797 7.2: never over plaintext).
    hsts: Option<Rc<str>>,
}

impl HttpConn {
    /// A connection on `sock` with the transport's request `limits` and
    /// `timeouts`; `hsts`: the site's `Strict-Transport-Security` value,
    /// sent only when `sock` is TLS.
    pub(super) fn new(
        sock: Stream,
        limits: Limits,
        timeouts: Timeouts,
        hsts: Option<Rc<str>>,
    ) -> Self {
        HttpConn {
            buf: BytesMut::new(),
            conn: Connection::new(limits),
            out: Vec::new(),
            timeouts,
            head_started: None,
            hsts: hsts.filter(|_| sock.is_tls()),
            sock,
        }
    }

    /// `head` as it goes on the wire: with `Strict-Transport-Security`
    /// added where the site sends it on this connection.
    pub(super) fn wire_head<'a>(
        &self,
        head: &'a ResponseHead,
    ) -> std::borrow::Cow<'a, ResponseHead> {
        match &self.hsts {
            None => std::borrow::Cow::Borrowed(head),
            Some(value) => {
                let mut with = head.clone();
                // A value of digits and text: always a valid field.
                let _ = with.header("Strict-Transport-Security", value.as_bytes());
                std::borrow::Cow::Owned(with)
            }
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
                    let deadline = match phase {
                        Phase::Idle => {
                            // An idle connection keeps no buffer.
                            self.buf = BytesMut::new();
                            deadline_in(self.timeouts.idle)
                        }
                        Phase::ReadingHead => {
                            let started = *self.head_started.get_or_insert_with(Instant::now);
                            Some(started + self.timeouts.head)
                        }
                        _ => deadline_in(self.timeouts.body),
                    };
                    match self.read_more(deadline).await {
                        Ok(()) => {
                            if self.head_started.is_none() && phase == Phase::Idle {
                                self.head_started = Some(Instant::now());
                            }
                        }
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
                Ok(None) => match self.read_more(deadline_in(self.timeouts.body)).await {
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
            if self.read_more(None).await.is_err() {
                return;
            }
        }
        std::future::pending::<()>().await;
    }

    /// Reads what the socket has into the buffer; waits until something
    /// arrives or `deadline` passes.
    async fn read_more(&mut self, deadline: Option<Instant>) -> Result<(), ReadEnd> {
        let mut timer: Option<Timer> = None;
        poll_fn(|cx| {
            let read = self.poll_fill(cx);
            if read.is_ready() {
                return read;
            }
            if let Some(at) = deadline {
                let t = timer.get_or_insert_with(|| {
                    Timer::new(at.saturating_duration_since(Instant::now()))
                });
                if Pin::new(t).poll(cx).is_ready() {
                    return Poll::Ready(Err(ReadEnd::Timeout));
                }
            }
            Poll::Pending
        })
        .await
    }

    /// One read of what the socket has into the buffer (`Pending`: nothing
    /// yet, the task is woken when something comes).
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ReadEnd>> {
        let sock = &mut self.sock;
        let buf = &mut self.buf;
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
        let now = HttpDate::from_system_time(SystemTime::now());
        let head = self.wire_head(head);
        let plan = match self.conn.write_head(&head, now, &mut self.out) {
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

    /// Writes all of `parts`, in order, with one vectored write where the
    /// socket takes it all. A write that makes no progress for
    /// `send_timeout` ends the connection.
    pub(super) async fn write_parts(&mut self, parts: &[&[u8]]) -> Result<(), Stop> {
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
        let answer = error_response(&e, HttpDate::from_system_time(SystemTime::now()));
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

/// `now + d`, or no deadline for a zero duration.
fn deadline_in(d: Duration) -> Option<Instant> {
    (!d.is_zero()).then(|| Instant::now() + d)
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
    use super::*;

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
