//! RawSocket: the 4-octet opening handshake and the 4-octet frame header, sans-IO.
//!
//! WAMP-over-RawSocket (WAMP advanced profile, "RawSocket Transport") prefixes
//! every message with a 4-octet header. Before the first frame, the client sends
//! a 4-octet handshake and the router answers with 4 octets. Everything here works
//! on byte arrays and `BytesMut` buffers: no sockets, no clocks, so the same code
//! serves the router's transport, `loadgen` and the fuzzers.
//!
//! Handshake (client request and router success reply):
//! `0x7F`, then `LLLL SSSS` (maximum length `2^(9+L)` the sender is willing to
//! *receive*, serializer `S`), then two reserved zero octets. An error reply is
//! `0x7F`, `EEEE 0000`, `0x00`, `0x00`.
//!
//! Frame header: `RRRR RTTT` (five reserved zero bits, type 0 message, 1 PING,
//! 2 PONG) then a 24-bit big-endian payload length.
//!
//! What is *not* here: deciding which serializers a transport accepts and any I/O
//! (see `crate::transport::rawsocket`).

use bytes::{Buf, Bytes, BytesMut};

/// The magic first octet of every handshake message.
pub const MAGIC: u8 = 0x7F;
/// Smallest maximum message length a handshake can announce (`2^9`).
pub const MIN_MAX_LEN: usize = 1 << 9;
/// Largest maximum message length a handshake can announce (`2^24`).
pub const MAX_MAX_LEN: usize = 1 << 24;
/// Largest payload a frame header can carry (24 bits: `2^24 - 1`).
pub const MAX_FRAME_PAYLOAD: usize = (1 << 24) - 1;
/// Length of the handshake and of a frame header, in octets.
pub const HEADER_LEN: usize = 4;

/// Error reply code 1: serializer unsupported.
pub const ERR_SERIALIZER_UNSUPPORTED: u8 = 1;
/// Error reply code 2: maximum message length unacceptable.
pub const ERR_MAX_LEN_UNACCEPTABLE: u8 = 2;
/// Error reply code 3: use of reserved bits (unsupported feature).
pub const ERR_RESERVED_BITS: u8 = 3;
/// Error reply code 4: maximum connection count reached.
pub const ERR_MAX_CONNECTIONS: u8 = 4;

/// A client handshake the router cannot accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// The first octet is not `0x7F`: not a RawSocket client. The spec says to
    /// fail the connection without a reply.
    #[error("not a RawSocket handshake (first octet {0:#04x})")]
    NotRawSocket(u8),
    /// The reserved third and fourth octets are not zero (reply: error 3).
    #[error("reserved handshake octets are not zero")]
    ReservedBits,
    /// The serializer nibble names no serializer (0 is illegal; reply: error 1).
    #[error("unsupported serializer {0}")]
    UnsupportedSerializer(u8),
}

impl HandshakeError {
    /// The error code to send in an [`error_reply`], or `None` when the
    /// connection must be failed without a reply.
    pub const fn reply_code(self) -> Option<u8> {
        match self {
            HandshakeError::NotRawSocket(_) => None,
            HandshakeError::ReservedBits => Some(ERR_RESERVED_BITS),
            HandshakeError::UnsupportedSerializer(_) => Some(ERR_SERIALIZER_UNSUPPORTED),
        }
    }
}

/// A parsed client handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientHandshake {
    /// The serializer the client asks for (1 JSON, 2 MessagePack, 3 CBOR, ...); never 0.
    pub serializer_id: u8,
    /// The largest message the client is willing to receive, in octets (`512..=16 MiB`).
    pub max_len: usize,
}

/// Parses the client's 4-octet handshake request.
///
/// # Errors
/// [`HandshakeError`] for a wrong magic octet, non-zero reserved octets, or
/// serializer 0. Whether the serializer is *enabled* is the transport's call.
pub fn parse_client_handshake(b: [u8; 4]) -> Result<ClientHandshake, HandshakeError> {
    if b[0] != MAGIC {
        return Err(HandshakeError::NotRawSocket(b[0]));
    }
    if b[2] != 0 || b[3] != 0 {
        return Err(HandshakeError::ReservedBits);
    }
    let serializer_id = b[1] & 0x0F;
    if serializer_id == 0 {
        return Err(HandshakeError::UnsupportedSerializer(0));
    }
    Ok(ClientHandshake {
        serializer_id,
        max_len: max_len_of_exponent(b[1] >> 4),
    })
}

/// `2^(9 + exponent)`, the maximum length a handshake's `LENGTH` nibble stands for.
pub const fn max_len_of_exponent(exponent: u8) -> usize {
    1 << (9 + (exponent & 0x0F) as usize)
}

/// The `LENGTH` nibble for `max_len`, rounded *down* to a power of two and
/// clamped to `512..=16 MiB` (so anything below 512 announces 512).
pub const fn length_exponent(max_len: usize) -> u8 {
    if max_len <= MIN_MAX_LEN {
        return 0;
    }
    if max_len >= MAX_MAX_LEN {
        return 15;
    }
    // floor(log2(max_len)) - 9; max_len is in (512, 2^24), so this is 0..=14.
    (usize::BITS - 1 - max_len.leading_zeros() - 9) as u8
}

/// The router's success reply: echoes `serializer_id` and announces the largest
/// message it accepts, `max_len` rounded down to a power of two in `512..=16 MiB`
/// (see [`announced_max_len`] for the value that results).
pub const fn server_handshake_reply(serializer_id: u8, max_len: usize) -> [u8; 4] {
    [
        MAGIC,
        (length_exponent(max_len) << 4) | (serializer_id & 0x0F),
        0,
        0,
    ]
}

/// The limit a handshake built from `max_len` announces: `max_len` rounded down
/// to a power of two and clamped to `512..=16 MiB`.
pub const fn announced_max_len(max_len: usize) -> usize {
    max_len_of_exponent(length_exponent(max_len))
}

/// The client's handshake request (used by `loadgen` and tests).
pub const fn client_handshake(serializer_id: u8, max_len: usize) -> [u8; 4] {
    server_handshake_reply(serializer_id, max_len)
}

/// The router's error reply with error `code` (1..=15; 0 is illegal).
pub const fn error_reply(code: u8) -> [u8; 4] {
    [MAGIC, (code & 0x0F) << 4, 0, 0]
}

/// What a router answered to a client handshake (client side).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerReply {
    /// Accepted: the echoed serializer and the largest message the router accepts.
    Accepted {
        /// The serializer echoed by the router.
        serializer_id: u8,
        /// The largest message the client may send.
        max_len: usize,
    },
    /// Refused with this error code (1 serializer, 2 length, 3 reserved bits, 4 connection count).
    Error(u8),
}

/// Parses a router's 4-octet handshake reply (client side).
///
/// # Errors
/// [`HandshakeError::NotRawSocket`] for a wrong magic octet,
/// [`HandshakeError::ReservedBits`] for non-zero reserved octets.
pub fn parse_server_handshake(b: [u8; 4]) -> Result<ServerReply, HandshakeError> {
    if b[0] != MAGIC {
        return Err(HandshakeError::NotRawSocket(b[0]));
    }
    if b[2] != 0 || b[3] != 0 {
        return Err(HandshakeError::ReservedBits);
    }
    let serializer_id = b[1] & 0x0F;
    if serializer_id == 0 {
        Ok(ServerReply::Error(b[1] >> 4))
    } else {
        Ok(ServerReply::Accepted {
            serializer_id,
            max_len: max_len_of_exponent(b[1] >> 4),
        })
    }
}

/// The transport-level type of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// A regular WAMP message (type 0).
    Message,
    /// A PING (type 1): the peer must answer with a PONG carrying the same payload.
    Ping,
    /// A PONG (type 2).
    Pong,
}

impl FrameKind {
    /// The `TTT` bits of this kind.
    pub const fn code(self) -> u8 {
        match self {
            FrameKind::Message => 0,
            FrameKind::Ping => 1,
            FrameKind::Pong => 2,
        }
    }
}

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// The frame type.
    pub kind: FrameKind,
    /// Payload length in octets, excluding the 4-octet header.
    pub len: usize,
}

/// A frame the receiver must reject by failing the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// One of the five reserved bits of the first octet is set.
    #[error("reserved bits set in frame header ({0:#04x})")]
    ReservedBits(u8),
    /// The type is one of the reserved types 3..=7.
    #[error("reserved frame type {0}")]
    UnknownType(u8),
    /// The payload is longer than the limit announced in the handshake (or than
    /// a header can carry, when encoding).
    #[error("frame of {len} octets exceeds the limit of {max}")]
    TooLong {
        /// The frame's payload length.
        len: usize,
        /// The limit.
        max: usize,
    },
}

/// Decodes a 4-octet frame header.
///
/// # Errors
/// [`FrameError::ReservedBits`] or [`FrameError::UnknownType`]; the length is
/// not checked against any limit here.
pub fn decode_header(b: [u8; 4]) -> Result<FrameHeader, FrameError> {
    if b[0] & 0xF8 != 0 {
        return Err(FrameError::ReservedBits(b[0]));
    }
    let kind = match b[0] & 0x07 {
        0 => FrameKind::Message,
        1 => FrameKind::Ping,
        2 => FrameKind::Pong,
        t => return Err(FrameError::UnknownType(t)),
    };
    let len = (usize::from(b[1]) << 16) | (usize::from(b[2]) << 8) | usize::from(b[3]);
    Ok(FrameHeader { kind, len })
}

/// Encodes a frame header.
///
/// # Errors
/// [`FrameError::TooLong`] when `len` exceeds [`MAX_FRAME_PAYLOAD`] (24 bits).
pub fn encode_header(kind: FrameKind, len: usize) -> Result<[u8; 4], FrameError> {
    if len > MAX_FRAME_PAYLOAD {
        return Err(FrameError::TooLong {
            len,
            max: MAX_FRAME_PAYLOAD,
        });
    }
    Ok([kind.code(), (len >> 16) as u8, (len >> 8) as u8, len as u8])
}

/// How many more octets `buf` needs before [`decode_frame`] can return the
/// frame at its front (0 when a whole frame, or an invalid header, is there).
/// Readers use it to size their next read.
pub fn bytes_needed(buf: &[u8]) -> usize {
    if buf.len() < HEADER_LEN {
        return HEADER_LEN - buf.len();
    }
    let len = (usize::from(buf[1]) << 16) | (usize::from(buf[2]) << 8) | usize::from(buf[3]);
    (HEADER_LEN + len).saturating_sub(buf.len())
}

/// Takes one whole frame off the front of `buf`.
///
/// Returns `Ok(None)` while the header or payload is incomplete (nothing is
/// consumed). The payload is split off `buf` without copying.
///
/// # Errors
/// [`FrameError`] for a bad header or a payload longer than `max_len` (checked
/// as soon as the header is in, before the payload arrives). The connection must
/// then be failed; `buf` is left as it was.
pub fn decode_frame(
    buf: &mut BytesMut,
    max_len: usize,
) -> Result<Option<(FrameKind, Bytes)>, FrameError> {
    let Some(head) = buf.first_chunk::<HEADER_LEN>() else {
        return Ok(None);
    };
    let header = decode_header(*head)?;
    if header.len > max_len {
        return Err(FrameError::TooLong {
            len: header.len,
            max: max_len,
        });
    }
    if buf.len() < HEADER_LEN + header.len {
        return Ok(None);
    }
    buf.advance(HEADER_LEN);
    Ok(Some((header.kind, buf.split_to(header.len).freeze())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_handshake_parses_every_length_and_serializer() {
        assert_eq!(
            parse_client_handshake([0x7F, 0xF1, 0, 0]),
            Ok(ClientHandshake {
                serializer_id: 1,
                max_len: 16 * 1024 * 1024
            })
        );
        assert_eq!(
            parse_client_handshake([0x7F, 0x02, 0, 0]),
            Ok(ClientHandshake {
                serializer_id: 2,
                max_len: 512
            })
        );
        assert_eq!(
            parse_client_handshake([0x7F, 0x33, 0, 0]),
            Ok(ClientHandshake {
                serializer_id: 3,
                max_len: 4096
            })
        );
        for l in 0..16u8 {
            let h = parse_client_handshake([0x7F, (l << 4) | 2, 0, 0]).expect("valid");
            assert_eq!(h.max_len, 1usize << (9 + l));
        }
        // Serializers the spec reserves still parse; the transport refuses them.
        assert_eq!(
            parse_client_handshake([0x7F, 0x1F, 0, 0]).map(|h| h.serializer_id),
            Ok(15)
        );
    }

    #[test]
    fn client_handshake_errors() {
        assert_eq!(
            parse_client_handshake([0x47, 0x45, 0x54, 0x20]), // "GET "
            Err(HandshakeError::NotRawSocket(0x47))
        );
        assert_eq!(
            parse_client_handshake([0x7F, 0x21, 0x01, 0]),
            Err(HandshakeError::ReservedBits)
        );
        assert_eq!(
            parse_client_handshake([0x7F, 0x21, 0, 0x80]),
            Err(HandshakeError::ReservedBits)
        );
        assert_eq!(
            parse_client_handshake([0x7F, 0xF0, 0, 0]),
            Err(HandshakeError::UnsupportedSerializer(0))
        );
        assert_eq!(HandshakeError::NotRawSocket(0).reply_code(), None);
        assert_eq!(HandshakeError::ReservedBits.reply_code(), Some(3));
        assert_eq!(
            HandshakeError::UnsupportedSerializer(0).reply_code(),
            Some(1)
        );
    }

    #[test]
    fn length_exponent_rounds_down_and_clamps() {
        assert_eq!(length_exponent(0), 0);
        assert_eq!(length_exponent(100), 0);
        assert_eq!(length_exponent(512), 0);
        assert_eq!(length_exponent(1023), 0);
        assert_eq!(length_exponent(1024), 1);
        assert_eq!(length_exponent(1025), 1);
        assert_eq!(length_exponent(65_536), 7);
        assert_eq!(length_exponent(1_000_000), 10); // 2^19 = 524288
        assert_eq!(length_exponent((1 << 24) - 1), 14);
        assert_eq!(length_exponent(1 << 24), 15);
        assert_eq!(length_exponent(usize::MAX), 15);
        assert_eq!(announced_max_len(1_000_000), 524_288);
        assert_eq!(announced_max_len(10), 512);
        assert_eq!(announced_max_len(64 << 20), 16 << 20);
    }

    #[test]
    fn replies_are_byte_exact() {
        assert_eq!(server_handshake_reply(1, 16 << 20), [0x7F, 0xF1, 0, 0]);
        assert_eq!(server_handshake_reply(2, 512), [0x7F, 0x02, 0, 0]);
        assert_eq!(server_handshake_reply(3, 1_000_000), [0x7F, 0xA3, 0, 0]);
        assert_eq!(client_handshake(2, 4096), [0x7F, 0x32, 0, 0]);
        assert_eq!(error_reply(1), [0x7F, 0x10, 0, 0]);
        assert_eq!(error_reply(2), [0x7F, 0x20, 0, 0]);
        assert_eq!(error_reply(3), [0x7F, 0x30, 0, 0]);
        assert_eq!(error_reply(4), [0x7F, 0x40, 0, 0]);
    }

    #[test]
    fn server_reply_parses() {
        assert_eq!(
            parse_server_handshake([0x7F, 0xF1, 0, 0]),
            Ok(ServerReply::Accepted {
                serializer_id: 1,
                max_len: 16 << 20
            })
        );
        assert_eq!(
            parse_server_handshake([0x7F, 0x40, 0, 0]),
            Ok(ServerReply::Error(4))
        );
        assert_eq!(
            parse_server_handshake([0x00, 0x40, 0, 0]),
            Err(HandshakeError::NotRawSocket(0))
        );
        assert_eq!(
            parse_server_handshake([0x7F, 0x40, 0, 1]),
            Err(HandshakeError::ReservedBits)
        );
    }

    #[test]
    fn header_round_trip_and_errors() {
        assert_eq!(
            encode_header(FrameKind::Message, 0x010203),
            Ok([0, 1, 2, 3])
        );
        assert_eq!(encode_header(FrameKind::Ping, 5), Ok([1, 0, 0, 5]));
        assert_eq!(
            encode_header(FrameKind::Pong, MAX_FRAME_PAYLOAD),
            Ok([2, 0xFF, 0xFF, 0xFF])
        );
        assert_eq!(
            encode_header(FrameKind::Message, 1 << 24),
            Err(FrameError::TooLong {
                len: 1 << 24,
                max: MAX_FRAME_PAYLOAD
            })
        );
        assert_eq!(
            decode_header([0, 1, 2, 3]),
            Ok(FrameHeader {
                kind: FrameKind::Message,
                len: 0x010203
            })
        );
        assert_eq!(
            decode_header([1, 0, 0, 0]),
            Ok(FrameHeader {
                kind: FrameKind::Ping,
                len: 0
            })
        );
        assert_eq!(
            decode_header([2, 0xFF, 0xFF, 0xFF]),
            Ok(FrameHeader {
                kind: FrameKind::Pong,
                len: MAX_FRAME_PAYLOAD
            })
        );
        for t in 3..8u8 {
            assert_eq!(decode_header([t, 0, 0, 1]), Err(FrameError::UnknownType(t)));
        }
        for bit in 3..8u8 {
            let b0 = 1u8 << bit;
            assert_eq!(
                decode_header([b0, 0, 0, 1]),
                Err(FrameError::ReservedBits(b0))
            );
        }
    }

    #[test]
    fn decode_frame_waits_for_whole_frames() {
        let mut buf = BytesMut::new();
        assert_eq!(decode_frame(&mut buf, 512), Ok(None));
        assert_eq!(bytes_needed(&buf), 4);
        buf.extend_from_slice(&[0, 0, 0]);
        assert_eq!(decode_frame(&mut buf, 512), Ok(None));
        assert_eq!(bytes_needed(&buf), 1);
        buf.extend_from_slice(&[5, b'h', b'e']);
        assert_eq!(decode_frame(&mut buf, 512), Ok(None));
        assert_eq!(buf.len(), 6, "nothing consumed while short");
        assert_eq!(bytes_needed(&buf), 3);
        buf.extend_from_slice(b"llo");
        // A second frame (PING) and the start of a third in the same buffer.
        buf.extend_from_slice(&[1, 0, 0, 2, b'p', b'i', 2, 0]);
        assert_eq!(bytes_needed(&buf), 0);
        assert_eq!(
            decode_frame(&mut buf, 512),
            Ok(Some((FrameKind::Message, Bytes::from_static(b"hello"))))
        );
        assert_eq!(
            decode_frame(&mut buf, 512),
            Ok(Some((FrameKind::Ping, Bytes::from_static(b"pi"))))
        );
        assert_eq!(decode_frame(&mut buf, 512), Ok(None));
        assert_eq!(&buf[..], &[2, 0]);
    }

    #[test]
    fn decode_frame_empty_payload() {
        let mut buf = BytesMut::from(&[2u8, 0, 0, 0][..]);
        assert_eq!(
            decode_frame(&mut buf, 0),
            Ok(Some((FrameKind::Pong, Bytes::new())))
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn decode_frame_enforces_limit_from_header_alone() {
        let mut buf = BytesMut::from(&[0u8, 0, 2, 1][..]); // 513 octets announced
        assert_eq!(
            decode_frame(&mut buf, 512),
            Err(FrameError::TooLong { len: 513, max: 512 })
        );
        let mut buf = BytesMut::from(&[0u8, 0, 2, 0][..]);
        assert_eq!(
            decode_frame(&mut buf, 512),
            Ok(None),
            "exactly the limit is fine"
        );
        buf.extend_from_slice(&[7u8; 512]);
        let (kind, payload) = decode_frame(&mut buf, 512)
            .expect("valid")
            .expect("complete");
        assert_eq!(kind, FrameKind::Message);
        assert_eq!(payload.len(), 512);
    }

    #[test]
    fn decode_frame_rejects_bad_headers() {
        let mut buf = BytesMut::from(&[3u8, 0, 0, 0][..]);
        assert_eq!(decode_frame(&mut buf, 512), Err(FrameError::UnknownType(3)));
        let mut buf = BytesMut::from(&[0x80u8, 0, 0, 0][..]);
        assert_eq!(
            decode_frame(&mut buf, 512),
            Err(FrameError::ReservedBits(0x80))
        );
        assert_eq!(buf.len(), 4, "buffer untouched on error");
    }
}
