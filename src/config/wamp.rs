//! The WAMP services a listener can carry: what a client may speak and how it
//! logs in ([`WampService`]), over WebSocket ([`WebSocketService`], with its
//! [`WebSocketOptions`]) or RawSocket ([`RawSocketService`], with its
//! [`RawSocketOptions`]). A `websocket` or `rawsocket` transport, a web
//! transport's `websocket` path and a universal transport's entries all hold
//! these; the transports are in `transport.rs`, web paths in `web.rs`.
//!
//! This file imports neither of those.

use super::DEFAULT_MAX_MESSAGE_SIZE;
use super::auth::{AuthConfig, CookieConfig};
use crate::proto::Serializer;
use crate::proto::websocket::deflate::DeflateParams;

/// What a WAMP client connecting to a service may speak and how it logs in.
#[derive(Debug, Clone, PartialEq)]
pub struct WampService {
    /// `serializers`, in preference order (default: all).
    pub serializers: Vec<Serializer>,
    /// `auth`.
    pub auth: AuthConfig,
    /// Trust level of sessions joined here whose role sets none (Junction
    /// extension `"junction": {"trustlevel": N}`).
    pub trustlevel: Option<u64>,
}

impl Default for WampService {
    fn default() -> Self {
        WampService {
            serializers: Serializer::ALL.to_vec(),
            auth: AuthConfig::default(),
            trustlevel: None,
        }
    }
}

/// WAMP over WebSocket: a `websocket` transport, a web transport's
/// `websocket` path, or a universal transport's `websocket` entry.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WebSocketService {
    /// WebSocket options (and the HTTP path).
    pub options: WebSocketOptions,
    /// Serializers, authentication, trust level.
    pub wamp: WampService,
    /// `cookie`: cookie tracking; `None`: off.
    pub cookie: Option<CookieConfig>,
}

/// WAMP over RawSocket: a `rawsocket` transport or a universal transport's `rawsocket`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RawSocketService {
    /// RawSocket options.
    pub options: RawSocketOptions,
    /// Serializers, authentication, trust level.
    pub wamp: WampService,
}

/// WebSocket options (Crossbar's `options` on a websocket transport).
#[derive(Debug, Clone, PartialEq)]
pub struct WebSocketOptions {
    /// The HTTP path the WebSocket is served on (`/ws`); `None` accepts any path.
    pub path: Option<String>,
    /// Largest message accepted; larger ones close with 1009.
    pub max_message_size: usize,
    /// Largest single frame accepted.
    pub max_frame_size: usize,
    /// Send a WebSocket ping after this many ms without traffic (0 = off).
    pub auto_ping_interval_ms: u64,
    /// Close when a ping is not answered within this many ms (0 = off).
    pub auto_ping_timeout_ms: u64,
    /// Close when the opening handshake takes longer than this many ms (0 = off).
    pub open_handshake_timeout_ms: u64,
    /// `compression.deflate`: permessage-deflate offered to clients; `None`: off.
    pub compression: Option<DeflateParams>,
    /// `require_websocket_subprotocol` (default true): false accepts a client
    /// that offers no subprotocol at all, speaking JSON to it (a client that
    /// offers only unknown ones is refused either way).
    pub require_subprotocol: bool,
}

impl Default for WebSocketOptions {
    fn default() -> Self {
        WebSocketOptions {
            path: None,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            max_frame_size: DEFAULT_MAX_MESSAGE_SIZE,
            auto_ping_interval_ms: 0,
            auto_ping_timeout_ms: 0,
            open_handshake_timeout_ms: 10_000,
            compression: None,
            require_subprotocol: true,
        }
    }
}

/// RawSocket options.
#[derive(Debug, Clone, PartialEq)]
pub struct RawSocketOptions {
    /// Largest message the router accepts (announced in the handshake, rounded
    /// down to a power of two between 512 B and 16 MiB).
    pub max_message_size: usize,
    /// Close when the 4-byte handshake takes longer than this many ms (0 = off).
    pub open_handshake_timeout_ms: u64,
}

impl Default for RawSocketOptions {
    fn default() -> Self {
        RawSocketOptions {
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            open_handshake_timeout_ms: 10_000,
        }
    }
}
