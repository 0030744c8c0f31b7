//! Junction: a WAMP v2 router on a sharded, thread-per-core io_uring runtime.
//!
//! Layers, each depending only on those above it (docs/architecture.md):
//! - [`proto`]: the sans-IO protocol (messages, codecs, URIs, framings, auth methods);
//! - [`config`]: the node configuration (Crossbar.io's format);
//! - [`core`]: the routing core of one shard (sessions, authorization,
//!   broker, dealer, meta API, cross-shard protocol), no I/O, no runtime;
//! - [`store`]: durable state off the reactors;
//! - [`transport`]: front ends over sockets (WebSocket, RawSocket);
//! - [`shard`]: the runtime that owns executors, listeners and the shard mesh;
//! - [`node`]: the process (start, signals, shutdown).
#![warn(missing_docs)]

pub mod config;
pub mod core;
pub mod node;
pub mod proto;
pub mod shard;
pub mod store;
pub mod transport;
