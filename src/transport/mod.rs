//! Transports: bytes in, WAMP message frames out. WebSocket and RawSocket,
//! over TCP or Unix domain sockets, on glommio streams.
//!
//! A transport knows nothing of WAMP semantics. It performs the opening
//! handshake (serializer negotiation, size limits), hands each complete
//! message to [`ConnectionHooks::frame`], and drains the connection's
//! [`Outbox`](crate::router::outbox::Outbox) into the socket, many frames
//! per write. (Being written.)

use std::rc::Rc;

use bytes::Bytes;

use crate::config::TransportConfig;
use crate::proto::Serializer;
use crate::router::outbox::OutboxRef;

/// What a transport tells the router about a new connection.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// The negotiated serializer.
    pub serializer: Serializer,
    /// The listening transport's config (auth, id).
    pub transport: Rc<TransportConfig>,
    /// `websocket` or `rawsocket`, for session details.
    pub protocol: &'static str,
    /// The peer address, for logs and session details (`tcp4:127.0.0.1:5000`, `unix`).
    pub peer: String,
}

/// The router refused a connection (e.g. the shard's session limit is reached).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub &'static str);

/// The router side of a connection, implemented by the shard runtime.
pub trait ConnectionHooks {
    /// After a successful handshake: registers the connection with the router
    /// and returns the outbox the transport must drain.
    ///
    /// # Errors
    /// [`Refused`] when the router will not take the connection; the transport
    /// closes it (RawSocket error 4 "max connection count reached", WebSocket 1013).
    fn open(&mut self, info: ConnInfo) -> Result<OutboxRef, Refused>;
    /// One complete WAMP message from the peer.
    fn frame(&mut self, data: Bytes);
    /// The connection is gone (EOF, error, or after the outbox's close was carried out).
    fn closed(&mut self);
}
