//! Answers streamed as they are produced (a CGI script's output, a proxied
//! body): the head first, then pieces framed as the connection's plan says
//! (chunked for HTTP/1.1 clients, until the close for HTTP/1.0 ones, or a
//! `Content-Length` given in advance), then the end.
//!
//! Also the socket helper the gateways share ([`write_all`]).
//!
//! An `impl` block on [`HttpConn`], kept apart from its file
//! so that services which stream stay out of its file.

use bytes::BytesMut;

use super::conn::{HttpConn, Stop, coarse_date};
use crate::proto::http::body::{CHUNK_END, LAST_CHUNK, chunk_header};
use crate::proto::http::{BodyWrite, ResponseHead};
use crate::transport::Stream;
use crate::transport::socket::Socket;

/// An answer being streamed.
#[derive(Debug)]
pub(super) struct Streaming {
    /// How the body goes out.
    plan: BodyWrite,
    /// Octets still owed under a `Content-Length`.
    left: u64,
    /// Body octets sent (for the access log).
    sent: u64,
}

impl Streaming {
    /// Body octets framed so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Appends `piece` to `out` as the body's next piece goes on the wire
    /// (a chunk, the octets as they are, nothing for a body not sent;
    /// octets past a `Content-Length` are dropped).
    pub fn frame(&mut self, piece: &[u8], out: &mut BytesMut) {
        if piece.is_empty() {
            return;
        }
        let n = match self.plan {
            BodyWrite::None => return,
            BodyWrite::Length(_) => {
                let n = usize::try_from(self.left)
                    .unwrap_or(usize::MAX)
                    .min(piece.len());
                out.extend_from_slice(&piece[..n]);
                self.left -= n as u64;
                n
            }
            BodyWrite::Chunked => {
                let (size, n) = chunk_header(piece.len());
                out.extend_from_slice(&size[..n]);
                out.extend_from_slice(piece);
                out.extend_from_slice(CHUNK_END);
                piece.len()
            }
            BodyWrite::UntilClose => {
                out.extend_from_slice(piece);
                piece.len()
            }
        };
        self.sent += n as u64;
    }

    /// Appends the body's end to `out` (the last chunk); the body octets
    /// sent. `Err(Stop)` when a `Content-Length` was not met.
    pub fn finish(&self, out: &mut BytesMut) -> Result<u64, Stop> {
        match self.plan {
            BodyWrite::Chunked => out.extend_from_slice(LAST_CHUNK),
            BodyWrite::Length(_) if self.left > 0 => return Err(Stop),
            _ => {}
        }
        Ok(self.sent)
    }
}

impl HttpConn {
    /// Writes `head` (its body `Streamed`, or `Length` when known) as the
    /// answer to the current request.
    pub(super) async fn start_streaming(&mut self, head: &ResponseHead) -> Result<Streaming, Stop> {
        let mut out = Vec::with_capacity(256);
        let s = self.begin_answer(head, &mut out)?;
        self.write_parts(&[&out]).await?;
        Ok(s)
    }

    /// Starts the answer to the current request: `head`'s octets (its body
    /// `Streamed`, or `Length` when known) are appended to `out` for the
    /// caller to write, then the body pieces [`Streaming::frame`] makes.
    pub(super) fn begin_answer(
        &mut self,
        head: &ResponseHead,
        out: &mut Vec<u8>,
    ) -> Result<Streaming, Stop> {
        let plan = self
            .conn
            .write_head(head, coarse_date(), out)
            .map_err(|e| {
                tracing::error!(error = %e, "web server answered out of turn; closing");
                Stop
            })?;
        let left = match plan.body {
            BodyWrite::Length(n) => n,
            _ => 0,
        };
        Ok(Streaming {
            plan: plan.body,
            left,
            sent: 0,
        })
    }

    /// The answer begun with [`HttpConn::begin_answer`] was written to its
    /// end ([`Streaming::finish`]).
    pub(super) fn answer_done(&mut self) -> Result<(), Stop> {
        self.conn.finish_response().map_err(|_| Stop)
    }
}

/// Writes all of `data`; false when the reader is gone.
pub(super) async fn write_all(sock: &mut Stream, mut data: &[u8]) -> bool {
    while !data.is_empty() {
        let iov = [std::io::IoSlice::new(data)];
        match std::future::poll_fn(|cx| sock.poll_write_vectored(cx, &iov)).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => data = &data[n..],
        }
    }
    true
}
