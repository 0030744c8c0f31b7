//! The routing core: realms, broker, dealer and the cross-shard protocol, as
//! single-threaded state machines with no I/O. The shard runtime feeds them
//! frames and cross-shard messages; they answer by pushing encoded frames into
//! session outboxes and cross-shard messages into the mesh.

pub mod auth;
pub mod index;
pub mod outbox;
