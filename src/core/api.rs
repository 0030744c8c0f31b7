//! What a front end sees of the routing core: the details it gives when it
//! opens a session, and the refusal it may get.

use std::rc::Rc;

use crate::config::TransportConfig;
use crate::proto::Serializer;

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
    /// The largest message the peer accepts (RawSocket: what its handshake
    /// announced); `None` when the transport has no such limit. The router
    /// answers rather than send a message past it.
    pub max_outbound: Option<usize>,
}

/// The router refused a connection (e.g. the shard's session limit is reached).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub &'static str);
