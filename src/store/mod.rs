//! Durable state kept off the reactors: today the event log of a realm
//! (retained events and event history, `evlog`). It knows nothing of sockets
//! or shards.

pub mod evlog;
