//! The meta API: the router's own procedures (`wamp.session.*`,
//! `wamp.subscription.*`, `wamp.registration.*`), answered by the router on
//! the caller's shard instead of being routed to a callee, and the session
//! meta events (`wamp.session.on_join` / `on_leave`).
//!
//! Procedures live in a registry keyed by their exact URI ([`Meta`]); a CALL
//! reaches them after the authorization guard, like any call. Their answers
//! often live on other shards (sessions on their own shard, a subscription's
//! details on its owner): `query.rs` asks and gathers. They read every part
//! of the core, so they are functions of the router itself; each family has
//! its file. A URI not in the registry (even under `wamp.`) is routed
//! normally, so a client-registered `wamp.*` procedure (if permitted) works.

pub(super) mod query;
mod registration;
mod session;
mod subscription;

use ahash::AHashMap;

use self::query::Pending;
use super::ShardRouter;
use super::api::LinkId;
use crate::proto::Call;

/// A meta procedure: answers `call` from the session on `link`.
pub(super) type Procedure = fn(&mut ShardRouter, LinkId, Call);

/// Argument `i` of a meta call, or its keyword `name` (Crossbar.io's meta
/// procedures are Python functions: clients call them either way).
pub(super) fn meta_arg<'a>(
    call: &'a Call,
    i: usize,
    name: &str,
) -> Option<&'a crate::proto::Value> {
    call.payload
        .args
        .as_ref()
        .and_then(|a| a.get(i))
        .or_else(|| call.payload.kwargs.as_ref().and_then(|k| k.get(name)))
}

/// The meta API's state on one shard.
pub(super) struct Meta {
    /// Procedures by URI.
    procedures: AHashMap<&'static str, Procedure>,
    /// Questions this shard asked other shards and is gathering answers for.
    pending: AHashMap<u64, Pending>,
    /// Last question ID.
    last_query: u64,
}

impl Meta {
    /// The registry of every meta procedure Junction implements.
    pub fn new() -> Meta {
        let procedures = session::PROCEDURES
            .iter()
            .chain(subscription::PROCEDURES)
            .chain(registration::PROCEDURES)
            .copied()
            .collect();
        Meta {
            procedures,
            pending: AHashMap::new(),
            last_query: 0,
        }
    }

    /// The meta procedure registered at `uri`, if any.
    pub fn procedure(&self, uri: &str) -> Option<Procedure> {
        if !uri.starts_with("wamp.") {
            return None;
        }
        self.procedures.get(uri).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_meta_procedure_is_registered_once_and_only_wamp_uris() {
        let all: Vec<&str> = session::PROCEDURES
            .iter()
            .chain(subscription::PROCEDURES)
            .chain(registration::PROCEDURES)
            .map(|(u, _)| *u)
            .collect();
        let m = Meta::new();
        assert_eq!(m.procedures.len(), all.len(), "no URI registered twice");
        for uri in &all {
            assert!(uri.starts_with("wamp."), "{uri}");
            assert!(m.procedure(uri).is_some(), "{uri}");
        }
        assert!(m.procedure("wamp.session.count").is_some());
        assert!(m.procedure("wamp.session.nonexistent").is_none());
        assert!(m.procedure("com.example.count").is_none());
    }
}
