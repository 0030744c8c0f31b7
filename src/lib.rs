//! Junction: a WAMP v2 router on a sharded, thread-per-core io_uring runtime.
//!
//! Layers, each depending only on those above it:
//! - [`proto`]: the sans-IO protocol core (messages, codecs, URIs, RawSocket framing);
//! - [`router`]: the routing core (realms, broker, dealer, cross-shard protocol), no I/O;
//! - [`transport`]: WebSocket and RawSocket over TCP and Unix sockets;
//! - [`shard`]: the runtime that owns executors, listeners and the shard mesh;
//! - [`config`]: the node configuration (Crossbar.io's format).
#![warn(missing_docs)]

pub mod config;
pub mod core;
pub mod node;
pub mod proto;
pub mod shard;
pub mod store;
pub mod transport;
