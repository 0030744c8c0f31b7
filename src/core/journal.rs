//! What the broker needs from durable storage, as a trait the runtime
//! injects ([`ShardRouter::with_journal`](crate::core::ShardRouter::with_journal)):
//! hand over retained events and history events to keep, and get back what
//! was kept before this start. The core never imports `store` (which
//! implements this with a write-ahead log); [`NoJournal`] is the memory
//! store, and the core's tests use an in-memory journal.
//!
//! Writers: the owner shard of a history (its subscription's owner) keeps
//! its events; the owner shard of a topic (exact policy) keeps its retained
//! event; so nothing is handed over twice. Calls happen on the reactor and
//! must not block: an implementation only enqueues.

use std::sync::Arc;

use crate::core::cluster::{RealmIdx, RoutedPublish};
use crate::proto::uri::MatchPolicy;

/// An event kept before this start, handed back when a router is built.
#[derive(Debug, Clone)]
pub enum StoredEvent {
    /// An event of history (`uri`, `policy`).
    History {
        /// The history's pattern.
        uri: String,
        /// Its match policy.
        policy: MatchPolicy,
        /// When it was kept (Unix nanoseconds).
        time_ns: u64,
        /// The publication (its `realm` set).
        publish: Arc<RoutedPublish>,
    },
    /// The retained event of `publish.topic`.
    Retained {
        /// When it was kept (Unix nanoseconds).
        time_ns: u64,
        /// The publication (its `realm` set, `retain` true).
        publish: Arc<RoutedPublish>,
    },
}

/// Durable storage of a shard's retained events and event history.
pub trait EventJournal {
    /// The events of `realm` kept before this start, history events oldest
    /// first. Called once per realm while the router is built (before it
    /// serves; an implementation loads them before that).
    fn stored(&mut self, realm: RealmIdx) -> Vec<StoredEvent>;

    /// Keeps `p` as the retained event of its topic (replacing the one before).
    fn keep_retained(&mut self, realm: RealmIdx, p: &Arc<RoutedPublish>, time_ns: u64);

    /// Forgets the retained event of `topic` (a retained publication with
    /// an empty payload cleared it).
    fn clear_retained(&mut self, realm: RealmIdx, topic: &str) {
        let _ = (realm, topic);
    }

    /// Keeps `p` as the latest event of history (`uri`, `policy`).
    fn keep_history(
        &mut self,
        realm: RealmIdx,
        uri: &str,
        policy: MatchPolicy,
        p: &Arc<RoutedPublish>,
        time_ns: u64,
    );
}

/// The memory store (`"type": "memory"`): keeps nothing across a restart.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoJournal;

impl EventJournal for NoJournal {
    fn stored(&mut self, _realm: RealmIdx) -> Vec<StoredEvent> {
        Vec::new()
    }

    fn keep_retained(&mut self, _realm: RealmIdx, _p: &Arc<RoutedPublish>, _time_ns: u64) {}

    fn keep_history(
        &mut self,
        _realm: RealmIdx,
        _uri: &str,
        _policy: MatchPolicy,
        _p: &Arc<RoutedPublish>,
        _time_ns: u64,
    ) {
    }
}
