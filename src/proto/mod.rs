//! The sans-IO WAMP protocol core: messages, IDs, values, codecs, URI rules and
//! RawSocket and WebSocket framing. Nothing here touches sockets, executors or clocks, so
//! everything here can be unit-tested, fuzzed and used by `loadgen` as is.

pub mod codec;
pub mod error;
pub mod ids;
pub mod message;
pub mod mqtt;
pub mod rawsocket;
pub mod uri;
pub mod value;
pub mod websocket;

pub use codec::Serializer;
pub use error::DecodeError;
pub use ids::*;
pub use message::*;
pub use value::{Dict, Value};
