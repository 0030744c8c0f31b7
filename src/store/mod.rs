//! Durable state kept off the reactors: a generic write-ahead log ([`wal`])
//! with its own writer thread, and on it the event store of a realm
//! (retained events and event history, [`evlog`]) and the sessions of its
//! MQTT clients ([`mqtt`]). Next: bridge queues on the same log.
//!
//! From the bottom up: [`wal`]; the [`records`] a realm's log holds (events
//! and MQTT sessions, and the log's value, which is either); the writers
//! that hand values over, [`mqtt`] and [`evlog`] (which also opens and loads
//! the logs).
//!
//! May import `config`, `proto` and the routing core's types (`core`), which
//! it implements [`crate::core::journal::EventJournal`] for; the core never
//! imports it. Knows nothing of sockets, executors or shards: nothing here
//! runs on a reactor except the non-blocking hand-off to a writer thread.

pub mod evlog;
pub mod mqtt;
pub mod records;
pub mod wal;
