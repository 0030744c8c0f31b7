//! What the shared connection driver (`conn.rs`) needs to know of a
//! protocol's framing: the [`Framing`] trait WebSocket and RawSocket
//! implement, and what one decoding step yields ([`Decoded`], [`Frame`],
//! [`Fail`]). Sans-I/O: it imports the outbox's frame type and the encoded
//! header, never a socket or the driver.

use std::borrow::Cow;

use super::encoded::Encoded;
use crate::core::outbox::Frame as OutFrame;

/// Room for the longest data frame header of any framing (WebSocket's, 10
/// octets; RawSocket's are 4).
pub(super) const MAX_HEADER: usize = crate::proto::websocket::MAX_HEADER;

/// The peer broke the protocol or a limit: fail the connection with this code
/// and reason (a framing without close frames just drops the connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Fail(pub u16, pub &'static str);

/// What one decoded frame means to the driver.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Frame<'a> {
    /// A complete WAMP message: a slice of the read buffer, or reassembled fragments.
    Message(Cow<'a, [u8]>),
    /// A ping: answer with a pong carrying the same payload.
    Ping(&'a [u8]),
    /// A pong (only proves the peer is alive).
    Pong,
    /// The peer's close frame, with its code if it had one.
    Close(Option<u16>),
}

/// The result of one [`Framing::decode`] step.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Decoded<'a> {
    /// One whole frame took `consumed` octets from the start of the buffer;
    /// `frame` is `None` for one that means nothing yet (a fragment).
    Frame {
        /// What the frame means.
        frame: Option<Frame<'a>>,
        /// Octets of the buffer the frame took.
        consumed: usize,
    },
    /// The buffer does not hold a whole frame: at least `needed` octets (from
    /// its start) are required. Nothing was consumed.
    Incomplete {
        /// Total octets required before the next call can make progress.
        needed: usize,
    },
}

/// A protocol's framing: what the shared driver needs to know of it.
pub(super) trait Framing {
    /// Control-frame octets that may wait to be written; a peer that pings
    /// faster than it reads is failed past this (one control frame of any size
    /// is always taken).
    const MAX_PENDING_CONTROL: usize;

    /// Decodes the first frame of `buf` (the buffer may be changed in place,
    /// e.g. unmasked).
    ///
    /// # Errors
    /// [`Fail`] when the frame breaks the protocol or a limit.
    fn decode<'a>(&mut self, buf: &'a mut [u8]) -> Result<Decoded<'a>, Fail>;

    /// The header of a data frame carrying `len` octets (`len` is at most
    /// [`Framing::max_send`]): the buffer and how many of its octets are used.
    fn data_header(&self, len: usize) -> ([u8; MAX_HEADER], usize);

    /// The largest data frame the peer accepts; longer outbox frames are
    /// dropped (and logged) rather than sent.
    fn max_send(&self) -> usize {
        usize::MAX
    }

    /// Whether each outgoing message goes through [`Framing::encode`]
    /// (compression, a header that depends on the message); otherwise
    /// [`Framing::data_header`] alone frames it.
    fn encodes(&self) -> bool {
        false
    }

    /// Encodes one outgoing message, once, before its first octet is
    /// written: its header and, when the payload is not the outbox frame's
    /// own octets (compressed), the payload to send.
    fn encode(&mut self, frame: &OutFrame) -> Encoded {
        let (header, n) = self.data_header(frame.len());
        Encoded {
            header,
            header_len: n as u8,
            payload: None,
        }
    }

    /// Appends a pong answering a ping with `payload` to `out`.
    fn pong(&self, payload: &[u8], out: &mut Vec<u8>);

    /// Appends a ping with `payload` to `out`.
    fn ping(&self, payload: &[u8], out: &mut Vec<u8>);

    /// A whole close frame with `code` and `reason`; `None` for a protocol
    /// that has none (the connection is then shut down, or dropped on failure).
    fn close_frame(&self, code: u16, reason: &str) -> Option<Vec<u8>>;
}
