//! The HTTP/1.1 server connection as a sans-IO state machine. The driver reads
//! from the socket into a `BytesMut`, calls [`Connection::decode`] until it
//! returns `Ok(None)`, and gets, per request, one [`Event::Request`], any
//! number of [`Event::Data`] and one [`Event::End`]. It answers each request
//! with [`Connection::write_head`] (which picks the framing and the
//! `Connection` field, see [`super::response`]), the body as the returned
//! [`ResponsePlan`] says, then [`Connection::finish_response`]; and it closes
//! the connection when [`Connection::must_close`] says so.
//!
//! - Keep-alive: HTTP/1.1 persists unless a side says `Connection: close`;
//!   HTTP/1.0 only with `Connection: keep-alive`. After a request that does
//!   not persist nothing more is read.
//! - Pipelining: requests are decoded ahead of their responses (up to
//!   `Limits::max_pipelined`; past it `decode` waits), responses are written
//!   in request order: `write_head` always answers the oldest request not yet
//!   answered.
//! - `Expect: 100-continue`: [`Connection::take_continue`] hands out the
//!   interim `100 Continue` once, while the request's body is awaited and no
//!   answer was started. A driver that answers without reading the body
//!   need not send it: the answer then closes the connection.
//! - A response started before its request's body was fully read closes the
//!   connection after it (the rest of the body cannot be told from the next
//!   request without reading it; RFC 9112 section 9.3 allows either).
//! - HEAD: the answer has GET's header fields and no body.
//! - Upgrade (WebSocket): after a request offering an upgrade nothing more is
//!   read until it is answered; a 101 answer hands the connection over
//!   ([`Phase::Upgraded`]): the bytes left in the buffer belong to the new
//!   protocol.
//! - Errors: an [`HttpError`] from `decode` is final: the driver writes the
//!   answers owed to earlier requests, then [`super::error_response`], then
//!   closes.

use std::collections::VecDeque;

use bytes::{Buf, Bytes, BytesMut};

use super::body::{BodyDecoder, Chunk, Trailers};
use super::date::{DATE_LEN, HttpDate};
use super::framing::{BodyLength, Framing, request_framing};
use super::head::{RequestHead, parse_request_head};
use super::response::{FixedFields, RequestContext, ResponseHead, ResponsePlan};
use super::{HttpError, Limits, Method, is_tchar};

/// The interim answer to `Expect: 100-continue`.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// A request's head and what it says about its body and connection.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The head, owning its octets.
    pub head: RequestHead<Bytes>,
    /// Body length, keep-alive, `100-continue`, upgrade.
    pub framing: Framing,
}

/// What [`Connection::decode`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A request head; its body follows as [`Event::Data`], then [`Event::End`].
    Request(Request),
    /// A piece of the current request's body (never empty).
    Data(Bytes),
    /// The current request's body is complete (trailers: chunked bodies only).
    End(Trailers),
}

/// Where the connection is, for the driver's timeouts and shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Between requests, nothing buffered: the keep-alive (idle) timeout runs.
    Idle,
    /// Part of a request head arrived: the request-head timeout runs.
    ReadingHead,
    /// A request's body is being read.
    ReadingBody,
    /// Everything read so far is a whole request; answers are owed (also
    /// while reading stops for an upgrade offer or the pipelining limit).
    Responding,
    /// Nothing more will be read: close once the owed answers are written.
    Closing,
    /// A 101 answer handed the connection to another protocol.
    Upgraded,
    /// A request was refused: write the error answer and close.
    Failed,
}

/// An answer that does not fit the connection's state (a driver bug, not
/// the peer's fault).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// No request is waiting for an answer.
    #[error("no request to answer")]
    NoRequest,
    /// The oldest request's answer was already started.
    #[error("the answer's head was already written")]
    HeadWritten,
    /// A 101 answer to a request that offered no upgrade.
    #[error("101 answer to a request without an upgrade offer")]
    NotUpgrade,
    /// `finish_response` before `write_head`.
    #[error("no answer in progress")]
    NotStarted,
}

/// The read side's state.
#[derive(Debug)]
enum Read {
    /// Waiting for a request head.
    Head,
    /// Reading the body of the newest request.
    Body {
        /// The body's decoder.
        body: BodyDecoder,
        /// The request's sequence number.
        seq: u64,
        /// Whether the connection persists after the request.
        keep_alive: bool,
        /// Whether the request offers an upgrade.
        upgrade: bool,
    },
    /// Not reading until the upgrade offer (the newest request) is answered.
    Paused,
    /// Not reading any more.
    Stopped,
}

/// A request read whose answer is not finished.
#[derive(Debug, Clone, Copy)]
struct Pending {
    /// The request's sequence number on this connection.
    seq: u64,
    /// What the response writer needs.
    ctx: RequestContext,
    /// The client waits for `100 Continue`.
    expect_continue: bool,
    /// `100 Continue` (or another interim answer) was sent.
    continue_sent: bool,
    /// The request's body was read to its end.
    body_done: bool,
    /// The request has no body (so an answer before its end event still
    /// leaves the connection reusable).
    body_empty: bool,
    /// The request offers an upgrade.
    upgrade: bool,
    /// The answer's head was written.
    head_written: bool,
}

/// One server-side HTTP/1.1 connection.
#[derive(Debug)]
pub struct Connection {
    /// What clients may send.
    limits: Limits,
    /// The read side.
    read: Read,
    /// Requests read and not yet answered in full, oldest first.
    pending: VecDeque<Pending>,
    /// The next request's sequence number.
    next_seq: u64,
    /// Octets of the buffer already searched for the end of a head.
    scanned: usize,
    /// The request line of the head being read was checked.
    line_checked: bool,
    /// Empty lines skipped before the head being read.
    blank: usize,
    /// An answer says close: nothing more is read, close after it.
    closing: bool,
    /// Handed over by a 101 answer.
    upgraded: bool,
    /// The error that ended the connection.
    failed: Option<HttpError>,
    /// The formatted `Date` and the second it is for.
    date: (u64, [u8; DATE_LEN]),
    /// Field lines added to every answer ([`Connection::set_fixed_fields`]).
    fixed: Option<FixedFields>,
}

impl Connection {
    /// A new connection under `limits`.
    pub fn new(limits: Limits) -> Self {
        let epoch = HttpDate::from_unix(0);
        Connection {
            limits,
            read: Read::Head,
            pending: VecDeque::new(),
            next_seq: 0,
            scanned: 0,
            line_checked: false,
            blank: 0,
            closing: false,
            upgraded: false,
            failed: None,
            date: (0, epoch.to_bytes()),
            fixed: None,
        }
    }

    /// Adds `fields` to every answer written from now on (after the
    /// answer's own fields).
    pub fn set_fixed_fields(&mut self, fields: FixedFields) {
        self.fixed = Some(fields);
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Decodes the next event from the start of `buf`, taking what it used
    /// off `buf`. `Ok(None)`: more input is needed, or reading waits (for
    /// answers owed, an upgrade decision, or because nothing more will be
    /// read: see [`Connection::phase`]).
    ///
    /// # Errors
    /// [`HttpError`]: the request is refused with that status (bad syntax,
    /// a limit, ambiguous framing); the connection is failed and every later
    /// call returns the same error.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Event>, HttpError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let result = match &mut self.read {
            Read::Head => self.decode_head(buf),
            Read::Body {
                body,
                seq,
                keep_alive,
                upgrade,
            } => {
                let (seq, keep_alive, upgrade) = (*seq, *keep_alive, *upgrade);
                match body.decode(buf) {
                    Ok(Some(Chunk::Data(data))) => Ok(Some(Event::Data(data))),
                    Ok(Some(Chunk::End(trailers))) => {
                        self.end_of_body(seq, keep_alive, upgrade);
                        Ok(Some(Event::End(trailers)))
                    }
                    Ok(None) => Ok(None),
                    Err(e) => Err(e),
                }
            }
            Read::Paused | Read::Stopped => Ok(None),
        };
        result.map_err(|e| self.fail(e))
    }

    fn fail(&mut self, e: HttpError) -> HttpError {
        self.failed = Some(e);
        self.read = Read::Stopped;
        e
    }

    /// The body of request `seq` ended: read the next head, or wait (an
    /// upgrade offer not answered yet), or stop.
    fn end_of_body(&mut self, seq: u64, keep_alive: bool, upgrade: bool) {
        // Its answer may be written (and even finished) already.
        let answered = match self.pending.iter_mut().find(|p| p.seq == seq) {
            Some(p) => {
                p.body_done = true;
                p.head_written
            }
            None => true,
        };
        self.read = if self.closing || !keep_alive {
            Read::Stopped
        } else if upgrade && !answered {
            Read::Paused
        } else {
            Read::Head
        };
    }

    fn decode_head(&mut self, buf: &mut BytesMut) -> Result<Option<Event>, HttpError> {
        if self.pending.len() >= self.limits.max_pipelined {
            return Ok(None);
        }
        // RFC 9112 section 2.2: empty lines before a request line are ignored.
        loop {
            match buf.as_ref() {
                [b'\r', b'\n', ..] => buf.advance(2),
                [b'\n', ..] => buf.advance(1),
                _ => break,
            }
            self.scanned = 0;
            self.blank += 1;
            if self.blank > self.limits.max_head / 2 {
                return Err(HttpError::bad_request("too many empty lines"));
            }
        }
        if buf.first().is_some_and(|&b| b != b'\r' && !is_tchar(b)) {
            return Err(HttpError::bad_request("malformed request line"));
        }
        let window = &buf[..buf.len().min(self.limits.max_head)];
        let from = self.scanned.saturating_sub(2).min(window.len());
        let Some(end) = find_head_end(window, from) else {
            if !self.line_checked && window[from..].contains(&b'\n') {
                // The request line is complete: refuse garbage now, not after
                // max_head octets of it.
                self.line_checked = true;
                parse_request_head(buf, &self.limits)?;
            }
            self.scanned = window.len();
            if buf.len() >= self.limits.max_head {
                parse_request_head(buf, &self.limits)?;
                return Err(HttpError::new(431, "request head too large"));
            }
            return Ok(None);
        };
        let head = parse_request_head(&buf[..end], &self.limits)?
            .ok_or(HttpError::bad_request("malformed request head"))?;
        let framing = request_framing(&head, &self.limits)?;
        let len = head.len();
        let detached = head.with_storage(Bytes::new());
        let head = detached.with_storage(buf.split_to(len).freeze());
        self.scanned = 0;
        self.line_checked = false;
        self.blank = 0;
        let seq = self.next_seq;
        self.next_seq += 1;
        self.pending.push_back(Pending {
            seq,
            ctx: RequestContext {
                head: head.method() == Method::Head,
                version: head.version(),
                keep_alive: framing.keep_alive,
            },
            expect_continue: framing.expect_continue,
            continue_sent: false,
            body_done: false,
            body_empty: framing.body == BodyLength::Empty,
            upgrade: framing.upgrade,
            head_written: false,
        });
        self.read = Read::Body {
            body: BodyDecoder::new(framing.body, &self.limits),
            seq,
            keep_alive: framing.keep_alive,
            upgrade: framing.upgrade,
        };
        Ok(Some(Event::Request(Request { head, framing })))
    }

    /// Sets the body size limit of the request being read (the driver lowers
    /// or raises `Limits::max_body` once it knows the path).
    ///
    /// # Errors
    /// 413 when the body is known to be larger already; the connection is
    /// failed then.
    pub fn set_body_limit(&mut self, max_body: u64) -> Result<(), HttpError> {
        if let Read::Body { body, .. } = &mut self.read {
            body.set_limit(max_body).map_err(|e| self.fail(e))?;
        }
        Ok(())
    }

    /// `100 Continue`, once, when the request being read waits for it: it
    /// expects it, its body has not arrived, it is the oldest request not
    /// answered and its answer has not started.
    pub fn take_continue(&mut self) -> Option<&'static [u8]> {
        let Read::Body { body, seq, .. } = &self.read else {
            return None;
        };
        if body.is_done() {
            return None;
        }
        let seq = *seq;
        let p = self.pending.front_mut()?;
        if p.seq != seq || !p.expect_continue || p.continue_sent || p.head_written {
            return None;
        }
        p.continue_sent = true;
        Some(CONTINUE)
    }

    /// Writes the head of the answer to the oldest request not answered to
    /// `out`, with `Date: now`; returns how the body must follow and whether
    /// the connection closes after it. An interim answer (1xx but 101) can
    /// come before the final one. A 101 hands the connection over.
    ///
    /// # Errors
    /// [`WriteError`]: no request is waiting, its head was written already,
    /// or a 101 answers a request that offered no upgrade. Nothing is
    /// written then.
    pub fn write_head(
        &mut self,
        response: &ResponseHead,
        now: HttpDate,
        out: &mut Vec<u8>,
    ) -> Result<ResponsePlan, WriteError> {
        if self.date.0 != now.unix() || self.date.0 == 0 {
            self.date = (now.unix(), now.to_bytes());
        }
        let closing = self.closing;
        let p = self.pending.front_mut().ok_or(WriteError::NoRequest)?;
        if p.head_written {
            return Err(WriteError::HeadWritten);
        }
        let status = response.status();
        if status == 101 && !p.upgrade {
            return Err(WriteError::NotUpgrade);
        }
        let mut ctx = p.ctx;
        if !(p.body_done || p.body_empty) || closing {
            ctx.keep_alive = false;
        }
        let fixed = self.fixed.as_ref().map_or(&[][..], FixedFields::as_bytes);
        let plan = response.write_with_date(ctx, &self.date.1, fixed, out);
        if status == 101 {
            self.upgraded = true;
            self.read = Read::Stopped;
            self.pending.clear();
            return Ok(plan);
        }
        if status < 200 {
            p.continue_sent = true;
            return Ok(plan);
        }
        p.head_written = true;
        let (front_seq, front_done) = (p.seq, p.body_done);
        if plan.close {
            self.closing = true;
            self.pending.truncate(1);
            let reading_this =
                matches!(self.read, Read::Body { seq, .. } if seq == front_seq && !front_done);
            if !reading_this {
                self.read = Read::Stopped;
            }
        } else if matches!(self.read, Read::Paused) {
            self.read = Read::Head;
        }
        Ok(plan)
    }

    /// The answer whose head was written last is complete (its body sent).
    ///
    /// # Errors
    /// [`WriteError::NotStarted`] when no answer's head was written.
    pub fn finish_response(&mut self) -> Result<(), WriteError> {
        match self.pending.front() {
            Some(p) if p.head_written => {
                self.pending.pop_front();
                Ok(())
            }
            _ => Err(WriteError::NotStarted),
        }
    }

    /// The peer closed its side. Owed answers may still be written, then the
    /// connection closes.
    ///
    /// # Errors
    /// 400 when it closed in the middle of a request head or body (nothing
    /// can answer that request; the error is for the log).
    pub fn eof(&mut self, buf: &[u8]) -> Result<(), HttpError> {
        let cut = match &self.read {
            Read::Head if !buf.is_empty() => Some("request head cut short"),
            Read::Body { body, .. } if !body.is_done() => Some("request body cut short"),
            _ => None,
        };
        self.closing = true;
        if let Some(reason) = cut {
            self.pending.retain(|p| p.body_done);
            return Err(self.fail(HttpError::bad_request(reason)));
        }
        self.read = Read::Stopped;
        Ok(())
    }

    /// Whether the driver must close the connection now: it failed, or it
    /// is closing and no answer is owed any more.
    pub fn must_close(&self) -> bool {
        self.failed.is_some() || (self.closing && self.pending.is_empty())
    }

    /// Where the connection is; `buf` is the driver's read buffer.
    pub fn phase(&self, buf: &[u8]) -> Phase {
        if self.failed.is_some() {
            return Phase::Failed;
        }
        if self.upgraded {
            return Phase::Upgraded;
        }
        match &self.read {
            Read::Stopped => Phase::Closing,
            Read::Body { body, .. } if !body.is_done() => Phase::ReadingBody,
            Read::Head if !buf.is_empty() || self.scanned > 0 => Phase::ReadingHead,
            _ if !self.pending.is_empty() => Phase::Responding,
            _ => Phase::Idle,
        }
    }
}

/// The end (just past the blank line) of a head in `buf`, searching from
/// `from`: the first `\n\r\n` or `\n\n`.
fn find_head_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(off) = buf[i..].iter().position(|&b| b == b'\n') {
        let at = i + off;
        match buf.get(at + 1..) {
            Some([b'\n', ..]) => return Some(at + 2),
            Some([b'\r', b'\n', ..]) => return Some(at + 3),
            _ => i = at + 1,
        }
    }
    None
}

#[cfg(test)]
#[path = "conn_tests.rs"]
mod tests;
