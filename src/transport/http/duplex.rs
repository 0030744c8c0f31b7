//! A gateway's answer streamed while its request body is still being
//! streamed in: the request body goes to a program's input, the program's
//! output (a head, then the body) to the client, both at once on one
//! connection (a CGI script that echoes its input line by line answers
//! each line as it comes, before the client sent the rest). The program is
//! a CGI script (its stdin and stdout) or a reverse proxy's backend (one
//! socket both ways: the request head and body go in, its answer comes
//! out, and the connection may carry the next exchange).
//!
//! One future polls all four directions (client → body → program input,
//! program output → client) in a loop until none can move, so that the
//! connection is owned by it alone (no shared borrow of [`HttpConn`]).
//!
//! - Back-pressure both ways: the body is read only once the program took
//!   the piece before (one piece held); the output is read ahead up to
//!   [`READ_AHEAD`] octets while the client does not take it, so that a
//!   client which sends its whole body before it reads (most HTTP clients)
//!   and a program which writes before it has read all of its input do not
//!   wait on each other until that much output is held.
//! - The answer's head goes out as soon as the program's head is complete.
//!   Once the answer has begun before the body's end, the connection
//!   closes after it (the sans-IO connection sends `Connection: close`);
//!   an error then (a body over the limit, a timeout) closes it, since no
//!   error answer can follow.
//! - The answer's body ends with the output (CGI, a backend's
//!   close-delimited body), or where its own framing says (a backend's
//!   `Content-Length` or last chunk; [`AnswerBody`]), or with the head
//!   (HEAD, 204, 304). A program that switches protocols (101) ends the
//!   pump before anything was sent ([`Outcome::Switched`]).
//! - Timeouts: the whole exchange (`deadline`, CGI); `stall` (a backend)
//!   while the program holds things up (takes none of the body, or sends
//!   nothing once it has all of it); the body's `body_timeout` while
//!   waiting for its next piece (not while the program does not take the
//!   one before); `send_timeout` while the client takes nothing.
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
use crate::proto::http::body::{CHUNK_END, Chunk, LAST_CHUNK, chunk_header};
use crate::proto::http::{BodyDecoder, HttpError, ResponseHead};
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
    /// The answer was written to its end: its status, its body octets, and
    /// whether the program's side is clean (the whole request went in, the
    /// answer ended by its own framing and nothing followed it: a
    /// backend's connection may carry another exchange).
    Answered(u16, u64, bool),
    /// Nothing was sent yet: the request is refused with this error (its
    /// body broke a limit or a rule, or did not come in time: 408).
    Refuse(HttpError),
    /// Nothing was sent yet: the program's output is not a valid answer
    /// (for a 502).
    BadOutput(String),
    /// Nothing was sent yet: the program's output ended before its head
    /// was complete; `empty`: before its first octet (a backend that
    /// closed a kept-alive connection).
    Ended {
        /// No octet of output came.
        empty: bool,
    },
    /// Nothing was sent yet and the deadline passed or the program stalled
    /// (for a 504).
    TimedOut,
    /// Nothing was sent yet: the program switched protocols (101) with
    /// this head; the octets of its output after the head.
    Switched(ResponseHead, BytesMut),
    /// The connection must close: the client went away, or an error came
    /// after the answer began.
    Stop,
}

/// Where the request body goes.
pub(super) enum Input {
    /// Nowhere (none, or the program stopped taking it).
    None,
    /// A stream of its own (a script's stdin, shut down after the body).
    Own(Stream),
    /// The output's stream (a backend's socket; not shut down, so that it
    /// may carry another exchange).
    Output,
}

/// How the answer's body ends, as the program's head says.
pub(super) enum AnswerBody {
    /// At the end of the program's output.
    UntilEnd,
    /// Where its framing says (a length, chunks), decoded as it comes.
    Framed(BodyDecoder),
    /// With the head: no body (HEAD, 204, 304).
    None,
}

/// What the start of the program's output is.
pub(super) enum Head {
    /// The answer's head, the octets it used, and how its body ends.
    Answer(ResponseHead, usize, AnswerBody),
    /// A switch of protocols (101) with this head, and the octets it used.
    Switch(ResponseHead, usize),
}

/// The program's side of a [`pump`].
pub(super) struct Program<H> {
    /// Where the body goes.
    pub input: Input,
    /// Its output.
    pub output: Stream,
    /// Parses the start of its output as the answer's head, `Ok(None)`
    /// while incomplete.
    pub parse_head: H,
}

/// The request body's side of a [`pump`].
pub(super) struct BodyIn {
    /// Octets given to the program first as they are (the part of the body
    /// read before the pump; a backend's request head).
    pub first: Bytes,
    /// Whether more of the body is still to be read from the connection.
    pub more: bool,
    /// Whether that body goes to the program in chunks (a backend's
    /// `Transfer-Encoding: chunked` request), its end as the last chunk.
    pub chunked: bool,
}

/// The pump's time limits.
#[derive(Debug, Clone, Copy)]
pub(super) struct Timing {
    /// The end of the whole exchange, if it has one.
    pub deadline: Option<Instant>,
    /// The longest the program may hold things up, if limited.
    pub stall: Option<Duration>,
}

/// Streams the request body (after `body.first`) to the program's input
/// and its output to the client as the answer, concurrently, until the
/// answer ends; see the module header. The program's streams stay with
/// the caller (a backend's connection goes back to its pool).
pub(super) async fn pump<H>(
    c: &mut HttpConn,
    program: &mut Program<H>,
    body: BodyIn,
    timing: Timing,
) -> Outcome
where
    H: FnMut(&[u8]) -> Result<Option<Head>, String>,
{
    let mut p = Pump {
        program,
        to_program: body.first,
        body_more: body.more,
        chunked: body.chunked,
        body_timer: None,
        head_buf: BytesMut::new(),
        answer: None,
        decoder: None,
        to_client: BytesMut::new(),
        output_ended: false,
        clean: false,
        send_timer: None,
        stall: timing.stall,
        stall_timer: None,
        deadline: timing
            .deadline
            .map(|at| Timer::new(at.saturating_duration_since(Instant::now()))),
    };
    let timeouts = c.timeouts();
    poll_fn(|cx| p.poll(c, cx, timeouts.body, timeouts.send)).await
}

/// The pump's state between polls.
struct Pump<'a, H> {
    program: &'a mut Program<H>,
    /// Octets not yet taken by the program.
    to_program: Bytes,
    /// More body to read from the connection.
    body_more: bool,
    /// The body goes in chunks.
    chunked: bool,
    /// Runs while the next body piece is awaited.
    body_timer: Option<Timer>,
    /// The output before the end of its head.
    head_buf: BytesMut,
    /// The answer, once its head was made: its status and framing.
    answer: Option<(u16, Streaming)>,
    /// The answer's body decoder, when its framing delimits it; the output
    /// not yet decoded.
    decoder: Option<(BodyDecoder, BytesMut)>,
    /// Octets of the answer (framed) not yet taken by the client.
    to_client: BytesMut,
    /// The answer's body ended (its end is framed into `to_client`).
    output_ended: bool,
    /// It ended by its own framing with nothing after it.
    clean: bool,
    /// Runs while the client takes nothing.
    send_timer: Option<Timer>,
    /// The longest the program may hold things up.
    stall: Option<Duration>,
    /// Runs while the program holds things up.
    stall_timer: Option<Timer>,
    /// The whole exchange's.
    deadline: Option<Timer>,
}

impl<H> Pump<'_, H>
where
    H: FnMut(&[u8]) -> Result<Option<Head>, String>,
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
        if let Some(d) = &mut self.deadline
            && Pin::new(d).poll(cx).is_ready()
        {
            return self.fail(Outcome::TimedOut);
        }
        for _ in 0..TURNS {
            let mut moved = false;
            // The program moved (took input, gave output).
            let mut program_moved = false;
            // The request body, from the client.
            if self.body_more && self.to_program.is_empty() {
                match c.poll_body_piece(cx) {
                    Poll::Ready(Ok(Some(piece))) => {
                        self.to_program = self.frame_body(piece);
                        self.body_timer = None;
                        moved = true;
                    }
                    Poll::Ready(Ok(None)) => {
                        self.body_more = false;
                        if self.chunked {
                            self.to_program = Bytes::from_static(LAST_CHUNK);
                        }
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
                let input = match &mut self.program.input {
                    Input::Own(s) => Some(s),
                    Input::Output => Some(&mut self.program.output),
                    Input::None => None,
                };
                match input {
                    Some(input) => {
                        let iov = [IoSlice::new(&self.to_program)];
                        match input.poll_write_vectored(cx, &iov) {
                            Poll::Ready(Ok(n)) if n > 0 => {
                                self.to_program.advance(n);
                                moved = true;
                                program_moved = true;
                            }
                            // It stopped reading: it gets no more.
                            Poll::Ready(_) => {
                                self.program.input = Input::None;
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
                && matches!(self.program.input, Input::Own(_))
                && let Input::Own(mut input) =
                    std::mem::replace(&mut self.program.input, Input::None)
            {
                let _ = input.shutdown_write();
            }
            // The program's output.
            if !self.output_ended && self.to_client.len() < READ_AHEAD {
                let output = &mut self.program.output;
                let read = with_scratch(|scratch| match output.poll_read(cx, scratch) {
                    Poll::Ready(Ok(n)) => Poll::Ready(Some(Bytes::copy_from_slice(&scratch[..n]))),
                    Poll::Ready(Err(_)) => Poll::Ready(None),
                    Poll::Pending => Poll::Pending,
                });
                match read {
                    Poll::Ready(Some(data)) if !data.is_empty() => {
                        moved = true;
                        program_moved = true;
                        if let Some(out) = self.take_output(c, &data) {
                            return out;
                        }
                    }
                    // The end (or a failed read: the same for the client).
                    Poll::Ready(_) => {
                        moved = true;
                        if let Some(out) = self.output_end() {
                            return out;
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
                let clean = self.clean
                    && !self.body_more
                    && self.to_program.is_empty()
                    && !matches!(self.program.input, Input::None);
                return Poll::Ready(Outcome::Answered(*status, sent, clean));
            }
            if program_moved {
                self.stall_timer = None;
            }
            if !moved {
                return self.poll_stall(cx);
            }
        }
        // A long run of work: the shard's other tasks get their turn.
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// Nothing moves: times out when the program is what holds things up
    /// (it takes none of the body, or sends nothing once it has all).
    fn poll_stall(&mut self, cx: &mut Context<'_>) -> Poll<Outcome> {
        let Some(stall) = self.stall else {
            return Poll::Pending;
        };
        let waits_on_program = !self.to_program.is_empty()
            || (!self.body_more && !self.output_ended && self.to_client.len() < READ_AHEAD);
        if !waits_on_program {
            self.stall_timer = None;
            return Poll::Pending;
        }
        let t = self.stall_timer.get_or_insert_with(|| Timer::new(stall));
        if Pin::new(t).poll(cx).is_ready() {
            return self.fail(Outcome::TimedOut);
        }
        Poll::Pending
    }

    /// A body piece as it goes to the program (in a chunk when chunked).
    fn frame_body(&self, piece: Bytes) -> Bytes {
        if !self.chunked || piece.is_empty() {
            return piece;
        }
        let (size, n) = chunk_header(piece.len());
        let mut framed = BytesMut::with_capacity(n + piece.len() + CHUNK_END.len());
        framed.extend_from_slice(&size[..n]);
        framed.extend_from_slice(&piece);
        framed.extend_from_slice(CHUNK_END);
        framed.freeze()
    }

    /// The program's output ended: the answer's end, or an outcome.
    fn output_end(&mut self) -> Option<Poll<Outcome>> {
        self.output_ended = true;
        let Some((_, s)) = &self.answer else {
            let empty = self.head_buf.is_empty();
            return Some(Poll::Ready(Outcome::Ended { empty }));
        };
        if self.decoder.is_some() {
            // Cut before its framing's end.
            tracing::info!("gateway: the answer's body was cut");
            return Some(Poll::Ready(Outcome::Stop));
        }
        match s.finish(&mut self.to_client) {
            Ok(_) => None,
            Err(Stop) => Some(Poll::Ready(Outcome::Stop)),
        }
    }

    /// Output from the program: the head until it is complete (then the
    /// answer's head), then body pieces, framed for the client.
    fn take_output(&mut self, c: &mut HttpConn, data: &[u8]) -> Option<Poll<Outcome>> {
        if self.answer.is_some() {
            return self.take_body(data);
        }
        self.head_buf.extend_from_slice(data);
        let (head, used, body) = match (self.program.parse_head)(&self.head_buf) {
            Ok(Some(Head::Answer(head, used, body))) => (head, used, body),
            Ok(Some(Head::Switch(head, used))) => {
                let rest = self.head_buf.split_off(used);
                return Some(Poll::Ready(Outcome::Switched(head, rest)));
            }
            Ok(None) => return None,
            Err(why) => return Some(Poll::Ready(Outcome::BadOutput(why))),
        };
        let mut out = Vec::with_capacity(256);
        let s = match c.begin_answer(&head, &mut out) {
            Ok(s) => s,
            Err(Stop) => return Some(Poll::Ready(Outcome::Stop)),
        };
        self.to_client.extend_from_slice(&out);
        let rest = self.head_buf.split_off(used);
        self.head_buf = BytesMut::new();
        self.answer = Some((head.status(), s));
        match body {
            AnswerBody::UntilEnd => self.take_body(&rest),
            AnswerBody::Framed(d) => {
                self.decoder = Some((d, BytesMut::new()));
                self.take_body(&rest)
            }
            AnswerBody::None => {
                self.output_ended = true;
                self.clean = rest.is_empty();
                let (_, s) = self.answer.as_ref().expect("the answer just began");
                s.finish(&mut self.to_client)
                    .err()
                    .map(|Stop| Poll::Ready(Outcome::Stop))
            }
        }
    }

    /// Body octets of the answer, framed for the client (decoded first when
    /// their framing delimits them).
    fn take_body(&mut self, data: &[u8]) -> Option<Poll<Outcome>> {
        let (_, s) = self.answer.as_mut().expect("the answer began");
        let Some((decoder, buf)) = &mut self.decoder else {
            s.frame(data, &mut self.to_client);
            return None;
        };
        buf.extend_from_slice(data);
        loop {
            match decoder.decode(buf) {
                Ok(Some(Chunk::Data(d))) => s.frame(&d, &mut self.to_client),
                Ok(Some(Chunk::End(_))) => {
                    self.clean = buf.is_empty();
                    self.decoder = None;
                    self.output_ended = true;
                    return s
                        .finish(&mut self.to_client)
                        .err()
                        .map(|Stop| Poll::Ready(Outcome::Stop));
                }
                Ok(None) => return None,
                Err(e) => {
                    tracing::info!(reason = e.reason, "gateway: malformed answer body");
                    return Some(Poll::Ready(Outcome::Stop));
                }
            }
        }
    }
}
