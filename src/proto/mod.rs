//! The sans-IO WAMP protocol core: messages, IDs, values, codecs, URI rules,
//! RawSocket and WebSocket framing, and HTTP/1.1 for the web transport. Nothing here touches sockets, executors or clocks, so
//! everything here can be unit-tested, fuzzed and used by `loadgen` as is.

pub mod codec;
pub mod error;
pub mod http;
pub mod ids;
pub mod message;
pub mod rawsocket;
pub mod uri;
pub mod value;
pub mod websocket;

pub use codec::Serializer;
pub use error::DecodeError;
pub use ids::*;
pub use message::*;
pub use value::{Dict, Value};
