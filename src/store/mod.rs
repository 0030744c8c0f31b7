//! Durable state kept off the reactors: today the event log of a realm
//! (retained events and event history, `evlog`). It knows nothing of sockets
//! or shards: it may import `proto`, `config` and the core's data types, and
//! never the transports, the shard runtime or the node.

pub mod evlog;
