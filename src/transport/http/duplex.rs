//! A gateway's answer streamed while its request body is still being
//! streamed in: the request body goes to a program's input, the program's
//! output (a header block, then the body) to the client, both at once on
//! one connection (a CGI script that echoes its input line by line answers
//! each line as it comes, before the client sent the rest).
//!
//! One future polls all four directions (client → body → program input,
//! program output → client) in a loop until none can move, so that the
//! connection is owned by it alone (no shared borrow of [`HttpConn`]).
//!
//! - Back-pressure both ways: the body is read only once the program took
//!   the piece before; the output is read ahead up to [`READ_AHEAD`]
//!   octets while the client does not take it, so that a client which
//!   sends its whole body before it reads (most HTTP clients) and a program
//!   which writes before it has read all of its input do not wait on each
//!   other until that much output is held.
//! - The answer's head goes out as soon as the program's header block is
//!   complete. Once the answer has begun before the body's end, the
//!   connection closes after it (the sans-IO connection sends
//!   `Connection: close`); an error then (a body over the limit, a
//!   timeout) closes it, since no error answer can follow.
//! - Timeouts: the whole exchange (`deadline`); the body's `body_timeout`
//!   while waiting for its next piece (not while the program does not take
//!   the one before); `send_timeout` while the client takes nothing.
//! - A program that closes its input early gets no more of the body, which
//!   is still read (so the connection stays in step); one whose output
//!   ends ends the answer, even before the body's end (the connection then
//!   closes).
//!
//! Imports the connection floor (`conn`, `stream`); no service.

use std::future::{Future, poll_fn};
use std::io::IoSlice;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use glommio::timer::Timer;

use super::conn::{BodyEnd, HttpConn, Stop};
use super::stream::Streaming;
use crate::proto::http::{HttpError, ResponseHead};
use crate::transport::Stream;
use crate::transport::conn::with_scratch;
use crate::transport::socket::Socket;

/// Octets of the program's output held while the client does not take
/// them; the program's output is not read beyond.
pub(super) const READ_AHEAD: usize = 1 << 20;

/// Loop turns before the pump yields to the shard's other tasks.
const TURNS: usize = 64;

/// How a [`pump`] ended.
#[derive(Debug)]
pub(super) enum Outcome {
    /// The answer was written to its end: its status and body octets.
    Answered(u16, u64),
    /// Nothing was sent yet: the request is refused with this error (its
    /// body broke a limit or a rule, or did not come in time: 408).
    Refuse(HttpError),
    /// Nothing was sent yet: the program's output is not a valid answer
    /// (for a 502).
    BadOutput(String),
    /// Nothing was sent yet and the deadline passed (for a 504).
    TimedOut,
    /// The connection must close: the client went away, or an error came
    /// after the answer began.
    Stop,
}

/// The program's side of a [`pump`].
pub(super) struct Program<H> {
    /// Its input (shut down once the body ended); `None` for none.
    pub input: Option<Stream>,
    /// Its output.
    pub output: Stream,
    /// Parses the start of its output as the answer's head: the head and
    /// the octets it used, `Ok(None)` while incomplete.
    pub parse_head: H,
}

/// The request body's side of a [`pump`].
pub(super) struct BodyIn {
    /// Octets of it read before the pump (given to the program first).
    pub first: Bytes,
    /// Whether more of it is still to be read from the connection.
    pub more: bool,
}

/// Streams the request body (after `body.first`) to the program's input
/// and its output to the client as the answer, concurrently, until the
/// output ends; see the module header.
pub(super) async fn pump<H>(
    c: &mut HttpConn,
    program: Program<H>,
    body: BodyIn,
    deadline: Instant,
) -> Outcome
where
    H: FnMut(&[u8]) -> Result<Option<(ResponseHead, usize)>, String>,
{
    let mut p = Pump {
        input: program.input,
        output: program.output,
        parse_head: program.parse_head,
        to_program: body.first,
        body_more: body.more,
        body_timer: None,
        head_buf: BytesMut::new(),
        answer: None,
        to_client: BytesMut::new(),
        output_ended: false,
        send_timer: None,
        deadline: Timer::new(deadline.saturating_duration_since(Instant::now())),
    };
    let timeouts = c.timeouts();
    poll_fn(|cx| p.poll(c, cx, timeouts.body, timeouts.send)).await
}

/// The pump's state between polls.
struct Pump<H> {
    input: Option<Stream>,
    output: Stream,
    parse_head: H,
    /// Body octets not yet taken by the program.
    to_program: Bytes,
    /// More body to read from the connection.
    body_more: bool,
    /// Runs while the next body piece is awaited.
    body_timer: Option<Timer>,
    /// The output before the end of its header block.
    head_buf: BytesMut,
    /// The answer, once its head was made: its status and framing.
    answer: Option<(u16, Streaming)>,
    /// Octets of the answer (framed) not yet taken by the client.
    to_client: BytesMut,
    /// The program's output ended (its end is framed into `to_client`).
    output_ended: bool,
    /// Runs while the client takes nothing.
    send_timer: Option<Timer>,
    /// The whole exchange's.
    deadline: Timer,
}

impl<H> Pump<H>
where
    H: FnMut(&[u8]) -> Result<Option<(ResponseHead, usize)>, String>,
{
    /// An error: the given outcome before the answer began, `Stop` after.
    fn fail(&self, before: Outcome) -> Poll<Outcome> {
        Poll::Ready(if self.answer.is_none() {
            before
        } else {
            Outcome::Stop
        })
    }

    fn poll(
        &mut self,
        c: &mut HttpConn,
        cx: &mut Context<'_>,
        body_timeout: Duration,
        send_timeout: Duration,
    ) -> Poll<Outcome> {
        if Pin::new(&mut self.deadline).poll(cx).is_ready() {
            return self.fail(Outcome::TimedOut);
        }
        for _ in 0..TURNS {
            let mut moved = false;
            // The request body, from the client.
            if self.body_more && self.to_program.is_empty() {
                match c.poll_body_piece(cx) {
                    Poll::Ready(Ok(Some(piece))) => {
                        self.to_program = piece;
                        self.body_timer = None;
                        moved = true;
                    }
                    Poll::Ready(Ok(None)) => {
                        self.body_more = false;
                        self.body_timer = None;
                        moved = true;
                    }
                    Poll::Ready(Err(BodyEnd::Refused(e))) => return self.fail(Outcome::Refuse(e)),
                    Poll::Ready(Err(BodyEnd::Gone)) => return Poll::Ready(Outcome::Stop),
                    Poll::Pending if !body_timeout.is_zero() => {
                        let t = self
                            .body_timer
                            .get_or_insert_with(|| Timer::new(body_timeout));
                        if Pin::new(t).poll(cx).is_ready() {
                            let e = HttpError::new(408, "request body not received in time");
                            return self.fail(Outcome::Refuse(e));
                        }
                    }
                    Poll::Pending => {}
                }
            }
            // The body, to the program.
            if !self.to_program.is_empty() {
                match &mut self.input {
                    Some(input) => {
                        let iov = [IoSlice::new(&self.to_program)];
                        match input.poll_write_vectored(cx, &iov) {
                            Poll::Ready(Ok(n)) if n > 0 => {
                                self.to_program.advance(n);
                                moved = true;
                            }
                            // It stopped reading: it gets no more.
                            Poll::Ready(_) => {
                                self.input = None;
                                self.to_program.clear();
                                moved = true;
                            }
                            Poll::Pending => {}
                        }
                    }
                    None => {
                        self.to_program.clear();
                        moved = true;
                    }
                }
            }
            if !self.body_more
                && self.to_program.is_empty()
                && let Some(mut input) = self.input.take()
            {
                let _ = input.shutdown_write();
            }
            // The program's output.
            if !self.output_ended && self.to_client.len() < READ_AHEAD {
                let output = &mut self.output;
                let read = with_scratch(|scratch| match output.poll_read(cx, scratch) {
                    Poll::Ready(Ok(n)) => Poll::Ready(Some(Bytes::copy_from_slice(&scratch[..n]))),
                    Poll::Ready(Err(_)) => Poll::Ready(None),
                    Poll::Pending => Poll::Pending,
                });
                match read {
                    Poll::Ready(Some(data)) if !data.is_empty() => {
                        moved = true;
                        if let Err(why) = self.take_output(c, &data) {
                            return why;
                        }
                    }
                    // The end (or a failed read: the same for the client).
                    Poll::Ready(_) => {
                        moved = true;
                        self.output_ended = true;
                        match &self.answer {
                            None => {
                                let why = crate::proto::http::gateway::CgiOutputError::Truncated;
                                return Poll::Ready(Outcome::BadOutput(why.to_string()));
                            }
                            Some((_, s)) => match s.finish(&mut self.to_client) {
                                Ok(_) => {}
                                Err(Stop) => return Poll::Ready(Outcome::Stop),
                            },
                        }
                    }
                    Poll::Pending => {}
                }
            }
            // The answer, to the client.
            if !self.to_client.is_empty() {
                match c.poll_write(cx, &self.to_client) {
                    Poll::Ready(Ok(n)) => {
                        self.to_client.advance(n);
                        self.send_timer = None;
                        moved = true;
                    }
                    Poll::Ready(Err(Stop)) => return Poll::Ready(Outcome::Stop),
                    Poll::Pending if !send_timeout.is_zero() => {
                        let t = self
                            .send_timer
                            .get_or_insert_with(|| Timer::new(send_timeout));
                        if Pin::new(t).poll(cx).is_ready() {
                            return Poll::Ready(Outcome::Stop);
                        }
                    }
                    Poll::Pending => {}
                }
            }
            if self.output_ended && self.to_client.is_empty() {
                let Some((status, s)) = &self.answer else {
                    return Poll::Ready(Outcome::Stop);
                };
                if c.answer_done().is_err() {
                    return Poll::Ready(Outcome::Stop);
                }
                // What `finish` counted; the framing is done.
                let sent = s.sent();
                return Poll::Ready(Outcome::Answered(*status, sent));
            }
            if !moved {
                return Poll::Pending;
            }
        }
        // A long run of work: the shard's other tasks get their turn.
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// Output from the program: the header block until it is complete
    /// (then the answer's head), then body pieces, framed for the client.
    fn take_output(&mut self, c: &mut HttpConn, data: &[u8]) -> Result<(), Poll<Outcome>> {
        if let Some((_, s)) = &mut self.answer {
            s.frame(data, &mut self.to_client);
            return Ok(());
        }
        self.head_buf.extend_from_slice(data);
        let (head, used) = match (self.parse_head)(&self.head_buf) {
            Ok(Some(h)) => h,
            Ok(None) => return Ok(()),
            Err(why) => return Err(Poll::Ready(Outcome::BadOutput(why))),
        };
        let mut out = Vec::with_capacity(256);
        let mut s = c
            .begin_answer(&head, &mut out)
            .map_err(|Stop| Poll::Ready(Outcome::Stop))?;
        self.to_client.extend_from_slice(&out);
        let rest = self.head_buf.split_off(used);
        self.head_buf = BytesMut::new();
        s.frame(&rest, &mut self.to_client);
        self.answer = Some((head.status(), s));
        Ok(())
    }
}
