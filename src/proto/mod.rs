//! The sans-IO protocol layer: WAMP messages, IDs, values, codecs, URI rules,
//! RawSocket and WebSocket framing, HTTP/1.1 for the web transport, MQTT
//! 3.1.1/5.0, and the authentication methods' protocol and cryptography.
//! Nothing here touches sockets, executors or clocks, so
//! everything here can be unit-tested, fuzzed and used by `loadgen` as is.
//!
//! It imports no other part of the crate: every other layer builds on it.

pub mod auth;
pub mod codec;
pub mod error;
pub mod http;
pub mod ids;
pub mod longpoll;
pub mod message;
pub mod mqtt;
pub mod passthru;
pub mod rawsocket;
pub mod uri;
pub mod value;
pub mod websocket;

pub use codec::Serializer;
pub use error::DecodeError;
pub use ids::*;
pub use message::*;
pub use value::{Dict, DictKey, Value};
