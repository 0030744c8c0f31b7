//! WebSocket (RFC 6455), server side, sans-IO: the HTTP/1.1 opening handshake
//! and the frame format. The transport ([`crate::transport::websocket`]) owns
//! the socket and the buffers; this module only looks at bytes.
//!
//! - Handshake: [`parse_upgrade`] reads a client's upgrade request,
//!   [`switching_protocols`] builds the 101 answer, [`http_error`] a refusal.
//! - Frames in: a [`Decoder`] per connection decodes client frames from a
//!   caller-owned buffer, unmasking payloads in place, so an unfragmented
//!   message is handed on without a copy. It enforces the RFC's rules (masked
//!   client frames, no RSV bits without extensions, control frames short and
//!   unfragmented, continuation order, close codes, UTF-8 in text and close
//!   reasons) and the configured size limits.
//! - Frames out: [`frame_header`] writes the 2 to 10 header octets of an
//!   unmasked server frame, so a shared payload can be written after it without
//!   a copy; [`close_frame`] builds a whole close frame.

/// The longest request head (request line and headers) accepted.
pub const MAX_REQUEST_HEAD: usize = 16 * 1024;
/// A close reason's text is limited to 123 octets (RFC 6455 section 5.5).
pub const MAX_CLOSE_REASON: usize = 123;
/// The longest header of a frame we send (2 + 8 octets of length).
pub const MAX_HEADER: usize = 10;

/// A frame's opcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Opcode {
    /// Continuation of a fragmented data message.
    Continuation = 0,
    /// Text data (UTF-8).
    Text = 1,
    /// Binary data.
    Binary = 2,
    /// Close.
    Close = 8,
    /// Ping.
    Ping = 9,
    /// Pong.
    Pong = 10,
}

/// The type of a data message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// A text message (valid UTF-8; checked by the decoder).
    Text,
    /// A binary message.
    Binary,
}

/// A client's upgrade request, as far as the router needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradeRequest {
    /// The request target's path (without the query).
    pub path: String,
    /// `Sec-WebSocket-Key`.
    pub key: String,
    /// Every `Sec-WebSocket-Protocol` value, over all such headers, comma-split
    /// and trimmed, in the client's order.
    pub protocols: Vec<String>,
}

/// Why an upgrade request is refused: the HTTP answer to send before closing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRefusal {
    /// HTTP status code (400, 405, 426, 431, ...).
    pub status: u16,
    /// Plain-text body saying why.
    pub body: String,
}

impl HttpRefusal {
    /// The whole HTTP response: status line, `Content-Type: text/plain`,
    /// `Content-Length`, `Connection: close`, and for 426 also
    /// `Sec-WebSocket-Version: 13`; then the body.
    pub fn to_response(&self) -> Vec<u8> {
        todo!()
    }
}

/// Parses the upgrade request at the start of `buf`.
///
/// `Ok(None)`: the head is not complete yet (and shorter than
/// [`MAX_REQUEST_HEAD`]). `Ok(Some((request, consumed)))`: the request and the
/// length of its head; bytes after it are the client's first frames.
///
/// # Errors
/// A refusal: malformed HTTP or a head over [`MAX_REQUEST_HEAD`] (400 / 431),
/// a method other than GET (405), not HTTP/1.1, no `Upgrade: websocket` or no
/// `Connection: upgrade` token (400), a missing or malformed
/// `Sec-WebSocket-Key` (400), a `Sec-WebSocket-Version` other than 13 (426).
pub fn parse_upgrade(buf: &[u8]) -> Result<Option<(UpgradeRequest, usize)>, HttpRefusal> {
    let _ = buf;
    todo!()
}

/// `Sec-WebSocket-Accept` for a client's key (SHA-1 and base64, RFC 6455 section 4.2.2).
pub fn accept_key(key: &str) -> String {
    let _ = key;
    todo!()
}

/// The 101 answer accepting `key` with `subprotocol`.
pub fn switching_protocols(key: &str, subprotocol: &str) -> Vec<u8> {
    let _ = (key, subprotocol);
    todo!()
}

/// A plain-text HTTP error response (see [`HttpRefusal::to_response`]).
pub fn http_error(status: u16, body: &str) -> Vec<u8> {
    HttpRefusal {
        status,
        body: body.to_owned(),
    }
    .to_response()
}

/// The header of an unmasked server frame with FIN set, carrying
/// `payload_len` octets: the buffer and how many of its octets are used.
pub fn frame_header(opcode: Opcode, payload_len: usize) -> ([u8; MAX_HEADER], usize) {
    let _ = (opcode, payload_len);
    todo!()
}

/// A whole close frame with `code` and `reason` (cut to [`MAX_CLOSE_REASON`]
/// octets at a char boundary).
pub fn close_frame(code: u16, reason: &str) -> Vec<u8> {
    let _ = (code, reason);
    todo!()
}

/// A frame the peer sent breaks the protocol or a limit; the connection must be
/// failed with [`WsError::close_code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WsError {
    /// A protocol violation (close 1002), with what was wrong.
    #[error("websocket protocol error: {0}")]
    Protocol(&'static str),
    /// A frame or message over the configured limit (close 1009).
    #[error("message too big")]
    TooBig,
    /// A text message or close reason that is not UTF-8 (close 1007).
    #[error("invalid UTF-8 in a text message")]
    InvalidUtf8,
}

impl WsError {
    /// The close code to fail the connection with.
    pub fn close_code(&self) -> u16 {
        match self {
            WsError::Protocol(_) => 1002,
            WsError::TooBig => 1009,
            WsError::InvalidUtf8 => 1007,
        }
    }
}

/// A data message's payload: a slice of the caller's buffer (one unfragmented
/// frame, unmasked in place) or the reassembled fragments.
#[derive(Debug, PartialEq, Eq)]
pub enum Payload<'a> {
    /// Borrowed from the buffer given to [`Decoder::decode`].
    Borrowed(&'a [u8]),
    /// Reassembled from fragments.
    Owned(Vec<u8>),
}

/// What a decoded frame means.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// A complete data message.
    Message(MessageKind, Payload<'a>),
    /// A ping with its payload (at most 125 octets).
    Ping(&'a [u8]),
    /// A pong.
    Pong(&'a [u8]),
    /// A close frame: its code and reason, `None` when it had no body.
    Close(Option<(u16, &'a str)>),
}

/// The result of one [`Decoder::decode`] step.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// One whole frame was used: `consumed` octets from the start of the buffer;
    /// `event` is `None` for a fragment that did not finish its message.
    Frame {
        /// What the frame means.
        event: Option<Event<'a>>,
        /// Octets of the buffer the frame took.
        consumed: usize,
    },
    /// The buffer does not hold a whole frame: at least `needed` octets (from
    /// the start of the buffer) are required to go on. Nothing was consumed.
    Incomplete {
        /// Total octets required before the next call can make progress.
        needed: usize,
    },
}

/// Decodes the frames of one client connection.
#[derive(Debug)]
pub struct Decoder {
    /// Largest message (the sum of its fragments' payloads).
    max_message: usize,
    /// Largest frame payload.
    max_frame: usize,
    /// A fragmented data message in progress.
    fragments: Option<(MessageKind, Vec<u8>)>,
}

impl Decoder {
    /// A decoder accepting messages up to `max_message` octets, in frames with
    /// payloads up to `max_frame` octets.
    pub fn new(max_message: usize, max_frame: usize) -> Self {
        Decoder {
            max_message,
            max_frame,
            fragments: None,
        }
    }

    /// Decodes the first frame in `buf`, unmasking its payload in place.
    ///
    /// # Errors
    /// [`WsError`] when the frame breaks the protocol or a limit; the
    /// connection must then be failed. A frame header announcing a payload over
    /// the limit fails at once, before the payload arrives.
    pub fn decode<'a>(&mut self, buf: &'a mut [u8]) -> Result<Decoded<'a>, WsError> {
        let _ = (buf, self.max_message, self.max_frame, &self.fragments);
        todo!()
    }

    /// Whether a fragmented message is being reassembled (its bytes are held here).
    pub fn in_message(&self) -> bool {
        self.fragments.is_some()
    }
}
