//! A publication on its way to other shards, and the subscriber filter it carries.

use crate::proto::{Dict, Payload, PublicationId, SessionId};

use super::RealmIdx;

/// A publication routed to another shard: decoded once, shared by reference
/// between every shard it goes to.
#[derive(Debug)]
pub struct RoutedPublish {
    /// The realm.
    pub realm: RealmIdx,
    /// The topic published to.
    pub topic: String,
    /// The publication's ID (the same in every EVENT).
    pub publication: PublicationId,
    /// The publishing session, excluded from delivery when `exclude_me`.
    pub publisher: SessionId,
    /// Whether the publisher is excluded.
    pub exclude_me: bool,
    /// Extra EVENT details every subscriber gets (e.g. disclosed publisher).
    pub details: Dict,
    /// Args and kwargs.
    pub payload: Payload,
    /// Subscriber black- and whitelists; `None` (the common case) delivers to everyone.
    pub filter: Option<Box<PublishFilter>>,
    /// `retain: true`: every shard keeps it as the topic's retained event.
    pub retain: bool,
    /// `PUBLISH.Options.rkey`: for sharded subscriptions, only the node key
    /// chosen for it gets the event (see `sharded_sub.rs`); `None` (the common case) for everyone.
    pub rkey: Option<String>,
    /// The publication as the front end that made it received it (an MQTT
    /// PUBLISH's properties and payload), opaque to the core; sinks of the
    /// same kind read it ([`crate::core::api::FrontSink`]). `None` for WAMP
    /// publications.
    pub native: Option<Box<Native>>,
}

/// A publication in its front end's own form, carried next to the WAMP
/// payload so that a front end of the same kind gets it back untouched
/// (MQTT to MQTT: the payload bytes and properties as published). The core
/// never looks inside; the front end defines both parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Native {
    /// The front end's metadata (MQTT: QoS, properties).
    pub meta: bytes::Bytes,
    /// The body (MQTT: the payload).
    pub body: bytes::Bytes,
}

/// Subscriber black- and whitelists of one publication (advanced profile,
/// "Subscriber Black- and Whitelisting"). Lists of session IDs are sorted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PublishFilter {
    /// `exclude`: sessions that do not get the event.
    pub exclude: Vec<SessionId>,
    /// `eligible`: when present, only these sessions get it.
    pub eligible: Option<Vec<SessionId>>,
    /// `exclude_authid`.
    pub exclude_authid: Vec<String>,
    /// `eligible_authid`.
    pub eligible_authid: Option<Vec<String>>,
    /// `exclude_authrole`.
    pub exclude_authrole: Vec<String>,
    /// `eligible_authrole`.
    pub eligible_authrole: Option<Vec<String>>,
}
