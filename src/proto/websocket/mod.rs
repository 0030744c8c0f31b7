//! WebSocket (RFC 6455), server side, sans-IO: the HTTP/1.1 opening handshake
//! and the frame format. The transport ([`crate::transport::websocket`]) owns
//! the socket and the buffers; this module only looks at bytes.
//!
//! - Handshake ([`handshake`]): the request head is parsed by the HTTP layer
//!   ([`crate::proto::http`]); [`check_upgrade`] checks that a parsed head is
//!   a valid upgrade request (so a web server routes by path first, then
//!   upgrades), [`parse_upgrade`] does both on raw bytes; [`switching_protocols`]
//!   builds the 101 answer, [`http_error`] a refusal.
//! - Frames in ([`frame`]): a [`Decoder`] per connection decodes client frames
//!   from a caller-owned buffer, unmasking payloads in place, so an
//!   unfragmented message is handed on without a copy. It enforces the RFC's
//!   rules (masked client frames, no RSV bits without extensions, the minimal
//!   length encoding, control frames short and unfragmented, continuation
//!   order, close codes, UTF-8 in text and close reasons) and the configured
//!   size limits.
//! - Compression ([`deflate`]): permessage-deflate (RFC 7692), its
//!   negotiation and whole-message deflate/inflate; the decoder inflates
//!   compressed messages itself once [`Decoder::set_deflate`] says the
//!   extension was agreed.
//! - Frames out: [`frame_header`] writes the 2 to 10 header octets of an
//!   unmasked server frame, so a shared payload can be written after it without
//!   a copy; [`close_frame`] builds a whole close frame.
//!
//! The client side (used by the load generator, and by tests that speak to the
//! router) has its counterparts: [`upgrade_request`] and
//! [`parse_upgrade_response`] for the handshake, [`Decoder::client`] for the
//! (unmasked) frames a server sends, and [`client_frame_header`] with
//! [`mask_in_place`] for the masked frames a client must send.
//!
//! Imports only `crate::proto::http` (for request heads) and `flate2`;
//! nothing above `proto`.

pub mod deflate;
pub mod frame;
pub mod handshake;

pub use frame::*;
pub use handshake::*;

/// The longest request head (request line and headers) accepted.
pub const MAX_REQUEST_HEAD: usize = 16 * 1024;
/// A close reason's text is limited to 123 octets (RFC 6455 section 5.5).
pub const MAX_CLOSE_REASON: usize = 123;
/// The longest header of a frame we send (2 + 8 octets of length).
pub const MAX_HEADER: usize = 10;
/// The longest header of a client frame (2 + 8 octets of length + 4 of mask).
pub const MAX_CLIENT_HEADER: usize = 14;
/// The longest response head (status line and headers) a client accepts.
pub const MAX_RESPONSE_HEAD: usize = 16 * 1024;

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

#[cfg(test)]
mod tests;
