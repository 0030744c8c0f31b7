//! WebSocket frames (RFC 6455 section 5): the decoder for the frames a peer
//! sends (server side: masked client frames; client side: unmasked server
//! frames) and the writers of frame headers and close frames.
//!
//! The decoder fails the connection (close 1002) on a length not written in
//! its minimal form (a 16-bit length under 126, a 64-bit length under
//! 65,536), as RFC 6455 section 5.2 requires ("the minimal number of bytes
//! MUST be used"); our own writers only produce minimal forms.

use super::deflate::Inflater;
use super::{MAX_CLIENT_HEADER, MAX_CLOSE_REASON, MAX_HEADER, MessageKind, Opcode};

/// The header of an unmasked server frame with FIN set, carrying
/// `payload_len` octets: the buffer and how many of its octets are used.
pub fn frame_header(opcode: Opcode, payload_len: usize) -> ([u8; MAX_HEADER], usize) {
    let mut h = [0u8; MAX_HEADER];
    h[0] = 0x80 | opcode as u8;
    if payload_len <= 125 {
        h[1] = payload_len as u8;
        (h, 2)
    } else if let Ok(len) = u16::try_from(payload_len) {
        h[1] = 126;
        h[2..4].copy_from_slice(&len.to_be_bytes());
        (h, 4)
    } else {
        h[1] = 127;
        let len = u64::try_from(payload_len).expect("usize fits in 64 bits");
        h[2..10].copy_from_slice(&len.to_be_bytes());
        (h, 10)
    }
}

/// A whole close frame with `code` and `reason` (cut to [`MAX_CLOSE_REASON`]
/// octets at a char boundary).
pub fn close_frame(code: u16, reason: &str) -> Vec<u8> {
    let mut cut = reason.len().min(MAX_CLOSE_REASON);
    while !reason.is_char_boundary(cut) {
        cut -= 1;
    }
    let reason = &reason.as_bytes()[..cut];
    let (header, n) = frame_header(Opcode::Close, 2 + reason.len());
    let mut out = Vec::with_capacity(n + 2 + reason.len());
    out.extend_from_slice(&header[..n]);
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(reason);
    out
}

/// The header of a masked client frame with FIN set, carrying `payload_len`
/// octets masked with `mask`: the buffer and how many of its octets are used
/// (6, 8 or 14). The payload that follows must be masked with the same `mask`
/// ([`mask_in_place`]).
pub fn client_frame_header(
    opcode: Opcode,
    payload_len: usize,
    mask: [u8; 4],
) -> ([u8; MAX_CLIENT_HEADER], usize) {
    let (server, n) = frame_header(opcode, payload_len);
    let mut h = [0u8; MAX_CLIENT_HEADER];
    h[..n].copy_from_slice(&server[..n]);
    h[1] |= 0x80;
    h[n..n + 4].copy_from_slice(&mask);
    (h, n + 4)
}

/// XORs `buf` with the 4-octet `mask` starting at mask offset 0: masks a
/// client frame's payload (and unmasks it again, the operation being its own
/// inverse).
pub fn mask_in_place(buf: &mut [u8], mask: [u8; 4]) {
    unmask(buf, mask);
}

/// Whether a peer may send `code` in a close frame (RFC 6455 section 7.4 and
/// the IANA registry: 1012-1014 were registered later).
fn is_valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// XORs `data` with the 4-octet `mask`, starting at mask offset 0, eight octets
/// at a time.
pub(super) fn unmask(data: &mut [u8], mask: [u8; 4]) {
    let wide = u64::from_ne_bytes([
        mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3],
    ]);
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let word = u64::from_ne_bytes(chunk.try_into().expect("chunks of 8")) ^ wide;
        chunk.copy_from_slice(&word.to_ne_bytes());
    }
    // The remainder starts at a multiple of 8, so at mask offset 0.
    for (b, m) in chunks.into_remainder().iter_mut().zip(mask.iter().cycle()) {
        *b ^= m;
    }
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
///
/// Memory: 32 octets while no fragmented message is in progress (a held
/// connection keeps one); the limits are kept as `u32` (a limit over 4 GiB
/// acts as 4 GiB: the configuration caps them at 1 GiB), and the state of a
/// fragmented message is boxed while one arrives.
#[derive(Debug)]
pub struct Decoder {
    /// Largest message (the sum of its fragments' payloads).
    max_message: u32,
    /// Largest frame payload.
    max_frame: u32,
    /// Octets of the payload of a text frame that has not fully arrived
    /// whose UTF-8 was checked (fail fast); 0 when no frame is pending.
    partial_checked: u32,
    /// Client side: frames come from a server, so must be unmasked.
    client: bool,
    /// A fragmented data message in progress.
    fragments: Option<Box<Fragments>>,
    /// permessage-deflate, when negotiated: how the peer's messages inflate.
    deflate: Option<Box<InflateState>>,
}

/// A fragmented data message in progress.
#[derive(Debug)]
struct Fragments {
    /// Text or binary.
    kind: MessageKind,
    /// The payload so far (inflated, for a compressed message).
    so_far: Vec<u8>,
    /// Octets of a text message's `so_far` already known to be valid UTF-8
    /// (the rest may end in a sequence cut between fragments).
    utf8_checked: usize,
    /// The message is compressed.
    compressed: bool,
}

/// A limit as the decoder keeps it.
fn limit32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The inflating side of permessage-deflate.
#[derive(Debug)]
struct InflateState {
    /// The peer resets its compressor after each message: the inflater is
    /// dropped after each message too (an idle connection keeps none).
    no_context_takeover: bool,
    /// The inflater, made when a compressed message arrives.
    inflater: Option<Inflater>,
}

impl Decoder {
    /// A decoder accepting messages up to `max_message` octets, in frames with
    /// payloads up to `max_frame` octets.
    pub fn new(max_message: usize, max_frame: usize) -> Self {
        Decoder {
            max_message: limit32(max_message),
            max_frame: limit32(max_frame),
            partial_checked: 0,
            client: false,
            fragments: None,
            deflate: None,
        }
    }

    /// Accepts compressed messages (permessage-deflate negotiated: RSV1 on
    /// a data message's first frame); `no_context_takeover`: the peer
    /// compresses each message on its own.
    pub fn set_deflate(&mut self, no_context_takeover: bool) {
        self.deflate = Some(Box::new(InflateState {
            no_context_takeover,
            inflater: None,
        }));
    }

    /// Inflates `piece` of the compressed message in progress into `out`.
    fn inflate(&mut self, piece: &[u8], last: bool, out: &mut Vec<u8>) -> Result<(), WsError> {
        let state = self
            .deflate
            .as_mut()
            .expect("compressed messages only with deflate");
        let inflater = state
            .inflater
            .get_or_insert_with(|| Inflater::new(state.no_context_takeover));
        let result = inflater.inflate(piece, last, out, self.max_message as usize);
        if last && state.no_context_takeover {
            state.inflater = None;
        }
        result
    }

    /// A client-side decoder, for the frames a server sends: they must be
    /// unmasked (RFC 6455 section 5.1: a client fails the connection on a
    /// masked frame), so payloads are used where they lie, without a change to
    /// the buffer. Everything else is as in [`Decoder::new`]: the same limits,
    /// fragmentation and control-frame rules, and UTF-8 checks of text
    /// messages and close reasons.
    ///
    /// An unfragmented data message's [`Payload::Borrowed`] slice ends at the
    /// frame's end: it is `buf[consumed - len..consumed]`.
    pub fn client(max_message: usize, max_frame: usize) -> Self {
        Decoder {
            client: true,
            ..Decoder::new(max_message, max_frame)
        }
    }

    /// Decodes the first frame in `buf`, unmasking its payload in place (a
    /// [`Decoder::client`] leaves the buffer as it is: server frames are not
    /// masked).
    ///
    /// # Errors
    /// [`WsError`] when the frame breaks the protocol or a limit; the
    /// connection must then be failed. A frame header announcing a payload over
    /// the limit fails at once, before the payload arrives.
    pub fn decode<'a>(&mut self, buf: &'a mut [u8]) -> Result<Decoded<'a>, WsError> {
        let (Some(&b0), Some(&b1)) = (buf.first(), buf.get(1)) else {
            return Ok(Decoded::Incomplete { needed: 2 });
        };
        let rsv1 = b0 & 0x40 != 0;
        if b0 & 0x30 != 0 || (rsv1 && self.deflate.is_none()) {
            return Err(WsError::Protocol("reserved bits set"));
        }
        let fin = b0 & 0x80 != 0;
        let opcode = match b0 & 0x0F {
            0 => Opcode::Continuation,
            1 => Opcode::Text,
            2 => Opcode::Binary,
            8 => Opcode::Close,
            9 => Opcode::Ping,
            10 => Opcode::Pong,
            _ => return Err(WsError::Protocol("unknown opcode")),
        };
        if rsv1 && !matches!(opcode, Opcode::Text | Opcode::Binary) {
            return Err(WsError::Protocol(
                "RSV1 set on a control or continuation frame",
            ));
        }
        let masked = b1 & 0x80 != 0;
        if self.client && masked {
            return Err(WsError::Protocol("server frames must not be masked"));
        }
        if !self.client && !masked {
            return Err(WsError::Protocol("client frames must be masked"));
        }
        let len7 = b1 & 0x7F;
        let control = (opcode as u8) & 0x08 != 0;
        if control {
            if !fin {
                return Err(WsError::Protocol("fragmented control frame"));
            }
            if len7 > 125 {
                return Err(WsError::Protocol("control frame payload over 125 octets"));
            }
        }
        let ext_len = match len7 {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let mask_len = if masked { 4 } else { 0 };
        let header_len = 2 + ext_len + mask_len;
        if buf.len() < header_len {
            return Ok(Decoded::Incomplete { needed: header_len });
        }
        let payload_len: u64 = match len7 {
            126 => {
                let len = u64::from(u16::from_be_bytes([buf[2], buf[3]]));
                if len < 126 {
                    return Err(WsError::Protocol("payload length not in its minimal form"));
                }
                len
            }
            127 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&buf[2..10]);
                let len = u64::from_be_bytes(b);
                if len >> 63 != 0 {
                    return Err(WsError::Protocol("payload length with its high bit set"));
                }
                if len <= 0xFFFF {
                    return Err(WsError::Protocol("payload length not in its minimal form"));
                }
                len
            }
            n => u64::from(n),
        };
        let payload_len = usize::try_from(payload_len).map_err(|_| WsError::TooBig)?;
        if payload_len > self.max_frame as usize {
            return Err(WsError::TooBig);
        }
        // Message-level rules, decided from the header alone.
        match opcode {
            Opcode::Continuation => {
                let Some(f) = &self.fragments else {
                    return Err(WsError::Protocol("continuation frame without a message"));
                };
                if payload_len > (self.max_message as usize).saturating_sub(f.so_far.len()) {
                    return Err(WsError::TooBig);
                }
            }
            Opcode::Text | Opcode::Binary => {
                if self.fragments.is_some() {
                    return Err(WsError::Protocol(
                        "new data message before the fragmented one ended",
                    ));
                }
                if payload_len > self.max_message as usize {
                    return Err(WsError::TooBig);
                }
            }
            Opcode::Close | Opcode::Ping | Opcode::Pong => {}
        }
        let total = header_len.checked_add(payload_len).ok_or(WsError::TooBig)?;
        if buf.len() < total {
            // A text frame still arriving: its UTF-8 is checked as far as it
            // came, so that a bad sequence fails at once, not at the frame's end.
            if !rsv1 && self.is_text(opcode) {
                self.check_partial_utf8(
                    &buf[header_len..],
                    masked.then(|| {
                        [
                            buf[header_len - 4],
                            buf[header_len - 3],
                            buf[header_len - 2],
                            buf[header_len - 1],
                        ]
                    }),
                )?;
            }
            return Ok(Decoded::Incomplete { needed: total });
        }
        self.partial_checked = 0;

        if masked {
            let mask = [
                buf[header_len - 4],
                buf[header_len - 3],
                buf[header_len - 2],
                buf[header_len - 1],
            ];
            unmask(&mut buf[header_len..total], mask);
        }
        let payload: &'a [u8] = &buf[header_len..total];
        let event = match opcode {
            Opcode::Text | Opcode::Binary => {
                let kind = if opcode == Opcode::Text {
                    MessageKind::Text
                } else {
                    MessageKind::Binary
                };
                if rsv1 {
                    let mut message = Vec::new();
                    self.inflate(payload, fin, &mut message)?;
                    if fin {
                        if kind == MessageKind::Text && std::str::from_utf8(&message).is_err() {
                            return Err(WsError::InvalidUtf8);
                        }
                        Some(Event::Message(kind, Payload::Owned(message)))
                    } else {
                        self.fragments = Some(Box::new(Fragments {
                            kind,
                            so_far: message,
                            utf8_checked: 0,
                            compressed: true,
                        }));
                        self.check_fragment_utf8(false)?;
                        None
                    }
                } else if fin {
                    if kind == MessageKind::Text && std::str::from_utf8(payload).is_err() {
                        return Err(WsError::InvalidUtf8);
                    }
                    Some(Event::Message(kind, Payload::Borrowed(payload)))
                } else {
                    self.fragments = Some(Box::new(Fragments {
                        kind,
                        so_far: payload.to_vec(),
                        utf8_checked: 0,
                        compressed: false,
                    }));
                    self.check_fragment_utf8(false)?;
                    None
                }
            }
            Opcode::Continuation => {
                let mut f = self
                    .fragments
                    .take()
                    .expect("checked above: a message is in progress");
                if f.compressed {
                    let result = self.inflate(payload, fin, &mut f.so_far);
                    self.fragments = Some(f);
                    result?;
                } else {
                    f.so_far.extend_from_slice(payload);
                    self.fragments = Some(f);
                }
                self.check_fragment_utf8(fin)?;
                if fin {
                    let f = self
                        .fragments
                        .take()
                        .expect("checked above: a message is in progress");
                    Some(Event::Message(f.kind, Payload::Owned(f.so_far)))
                } else {
                    None
                }
            }
            Opcode::Ping => Some(Event::Ping(payload)),
            Opcode::Pong => Some(Event::Pong(payload)),
            Opcode::Close => Some(Event::Close(parse_close(payload)?)),
        };
        Ok(Decoded::Frame {
            event,
            consumed: total,
        })
    }

    /// Validates the UTF-8 of a fragmented text message as its fragments
    /// arrive, so a bad sequence fails at once; `done` when the message ended
    /// and no sequence may stay cut.
    fn check_fragment_utf8(&mut self, done: bool) -> Result<(), WsError> {
        let Some(f) = self
            .fragments
            .as_mut()
            .filter(|f| f.kind == MessageKind::Text)
        else {
            return Ok(());
        };
        let rest = f.so_far.get(f.utf8_checked..).unwrap_or_default();
        match std::str::from_utf8(rest) {
            Ok(_) => f.utf8_checked = f.so_far.len(),
            // An invalid sequence, or one cut at the end of a whole message.
            Err(e) if e.error_len().is_some() || done => return Err(WsError::InvalidUtf8),
            Err(e) => f.utf8_checked += e.valid_up_to(),
        }
        Ok(())
    }

    /// Whether a frame with `opcode` carries text: a text frame, or a
    /// continuation of an uncompressed text message.
    fn is_text(&self, opcode: Opcode) -> bool {
        match opcode {
            Opcode::Text => true,
            Opcode::Continuation => self
                .fragments
                .as_ref()
                .is_some_and(|f| !f.compressed && f.kind == MessageKind::Text),
            _ => false,
        }
    }

    /// Checks the UTF-8 of the part of a text frame's payload that arrived
    /// (`part`, still masked with `mask`), from where the last call stopped.
    /// A sequence cut at the end of `part` (or at the end of the fragments
    /// before this frame) waits for the rest.
    fn check_partial_utf8(&mut self, part: &[u8], mask: Option<[u8; 4]>) -> Result<(), WsError> {
        // Up to 3 octets of a sequence cut at the end of the earlier fragments.
        let mut carry = [0u8; 4];
        let mut carry_len = 0;
        if let Some(f) = &self.fragments {
            let tail = f.so_far.get(f.utf8_checked..).unwrap_or_default();
            carry_len = tail.len().min(3);
            carry[..carry_len].copy_from_slice(&tail[..carry_len]);
        }
        // Start a few octets back so that a sequence cut by the last call is whole again.
        let partial_checked = self.partial_checked as usize;
        let from = partial_checked.saturating_sub(3).min(part.len());
        let unmasked = |i: usize| match mask {
            Some(m) => part[i] ^ m[i % 4],
            None => part[i],
        };
        let mut chunk = [0u8; 256];
        let mut i = if partial_checked == 0 { 0 } else { from };
        let mut n = 0;
        if i == 0 {
            chunk[..carry_len].copy_from_slice(&carry[..carry_len]);
            n = carry_len;
        }
        // Skip continuation octets at the restart point: the sequence they
        // belong to started before it and was checked.
        if i > 0 {
            while i < part.len() && unmasked(i) & 0xC0 == 0x80 {
                i += 1;
            }
        }
        while i < part.len() {
            while n < chunk.len() && i < part.len() {
                chunk[n] = unmasked(i);
                n += 1;
                i += 1;
            }
            match std::str::from_utf8(&chunk[..n]) {
                Ok(_) => n = 0,
                Err(e) if e.error_len().is_some() => return Err(WsError::InvalidUtf8),
                Err(e) => {
                    // A sequence cut at the chunk's end: keep it for the next round.
                    let valid = e.valid_up_to();
                    chunk.copy_within(valid..n, 0);
                    n -= valid;
                }
            }
        }
        // `part` is shorter than the frame, whose payload is within `max_frame`.
        self.partial_checked = limit32(part.len());
        Ok(())
    }

    /// Whether a fragmented message is being reassembled (its bytes are held here).
    pub fn in_message(&self) -> bool {
        self.fragments.is_some()
    }
}

/// The body of a close frame: nothing, or a valid code and a UTF-8 reason.
fn parse_close(body: &[u8]) -> Result<Option<(u16, &str)>, WsError> {
    match body {
        [] => Ok(None),
        [_] => Err(WsError::Protocol("close frame body of one octet")),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            if !is_valid_close_code(code) {
                return Err(WsError::Protocol("invalid close code"));
            }
            let reason = std::str::from_utf8(reason).map_err(|_| WsError::InvalidUtf8)?;
            Ok(Some((code, reason)))
        }
    }
}
