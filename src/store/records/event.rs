//! An event as a realm's log keeps it: the [`Record`] of a publication
//! (an [rkyv] archive, read in place at startup from a 16-aligned copy),
//! written on the log's writer thread from an [`EventValue`] and read back
//! into a publication ([`publication`]). The WAMP details and payload are
//! kept as one MessagePack-encoded EVENT (the router's own codec), so every
//! value type survives unchanged.
//!
//! Imports the core's publication types, `proto` and the WAL's [`Encode`].

use std::sync::Arc;

use rkyv::util::AlignedVec;

use crate::core::cluster::{PublishFilter, RealmIdx, RoutedPublish};
use crate::proto::{Event, Message, PublicationId, Serializer, SessionId, SubscriptionId};
use crate::store::wal::Encode;

/// What a stored event's value holds.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize, Debug, Clone, PartialEq)]
pub struct Record {
    /// When the event was kept (Unix nanoseconds).
    pub time_ns: u64,
    /// The topic published to.
    pub topic: String,
    /// The publication ID.
    pub publication: u64,
    /// The publisher's session ID.
    pub publisher: u64,
    /// `exclude_authid`.
    pub exclude_authid: Vec<String>,
    /// `eligible_authid`.
    pub eligible_authid: Option<Vec<String>>,
    /// `exclude_authrole`.
    pub exclude_authrole: Vec<String>,
    /// `eligible_authrole`.
    pub eligible_authrole: Option<Vec<String>>,
    /// Details and payload, as a MessagePack EVENT.
    pub event: Vec<u8>,
}

/// A publication handed to the writer thread, encoded there.
pub struct EventValue {
    time_ns: u64,
    publish: Arc<RoutedPublish>,
}

impl EventValue {
    /// `publish`, kept at `time_ns` (Unix nanoseconds).
    pub fn new(publish: Arc<RoutedPublish>, time_ns: u64) -> EventValue {
        EventValue { time_ns, publish }
    }
}

impl Encode for EventValue {
    fn encode(&self, out: &mut Vec<u8>) {
        let rec = record(&self.publish, self.time_ns);
        match rkyv::to_bytes::<rkyv::rancor::Error>(&rec) {
            Ok(bytes) => out.extend_from_slice(&bytes),
            // Not reachable for these plain types; an empty value is skipped at load.
            Err(e) => tracing::error!(error = %e, "event store: cannot encode a record"),
        }
    }
}

/// The record of `p`.
pub fn record(p: &RoutedPublish, time_ns: u64) -> Record {
    let f = p.filter.as_deref();
    let event = Serializer::MsgPack.encode(&Message::Event(Event {
        subscription: SubscriptionId(1),
        publication: p.publication,
        details: p.details.clone(),
        payload: p.payload.clone(),
    }));
    Record {
        time_ns,
        topic: p.topic.clone(),
        publication: p.publication.0,
        publisher: p.publisher.0,
        exclude_authid: f.map(|f| f.exclude_authid.clone()).unwrap_or_default(),
        eligible_authid: f.and_then(|f| f.eligible_authid.clone()),
        exclude_authrole: f.map(|f| f.exclude_authrole.clone()).unwrap_or_default(),
        eligible_authrole: f.and_then(|f| f.eligible_authrole.clone()),
        event: event.to_vec(),
    }
}

/// Rebuilds a publication of realm `realm` from a stored value; `None`
/// when it does not read back (logged by the caller).
pub fn publication(realm: RealmIdx, value: &[u8], retain: bool) -> Option<(u64, RoutedPublish)> {
    let mut buf = AlignedVec::<16>::with_capacity(value.len());
    buf.extend_from_slice(value);
    let rec = rkyv::access::<ArchivedRecord, rkyv::rancor::Error>(&buf).ok()?;
    let Ok(Message::Event(ev)) = Serializer::MsgPack.decode(rec.event.as_slice()) else {
        return None;
    };
    let strings = |v: &rkyv::vec::ArchivedVec<rkyv::string::ArchivedString>| -> Vec<String> {
        v.iter().map(|s| s.as_str().to_owned()).collect()
    };
    let filter = PublishFilter {
        exclude_authid: strings(&rec.exclude_authid),
        eligible_authid: rec.eligible_authid.as_ref().map(strings),
        exclude_authrole: strings(&rec.exclude_authrole),
        eligible_authrole: rec.eligible_authrole.as_ref().map(strings),
        ..PublishFilter::default()
    };
    let publish = RoutedPublish {
        realm,
        topic: rec.topic.as_str().to_owned(),
        publication: PublicationId(rec.publication.to_native()),
        publisher: SessionId(rec.publisher.to_native()),
        exclude_me: false,
        details: ev.details,
        payload: ev.payload,
        filter: (filter != PublishFilter::default()).then(|| Box::new(filter)),
        retain,
        rkey: None,
        native: None,
    };
    Some((rec.time_ns.to_native(), publish))
}
