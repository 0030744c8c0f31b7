//! An event as a realm's log keeps it: the [`Record`] of a publication
//! (an [rkyv] archive, read in place at startup from a 16-aligned copy),
//! written on the log's writer thread from an [`EventValue`] and read back
//! into a publication ([`publication`]). The WAMP details and payload are
//! kept as one MessagePack-encoded EVENT (the router's own codec), so every
//! value type survives unchanged.
//!
//! A retained publication's front-end form (`RoutedPublish::native`: an MQTT
//! message's QoS, arrival time and 5.0 properties — Message Expiry, Content
//! Type, User Properties ... — and its payload) rides in that EVENT's
//! details under [`NATIVE_DETAIL`], taken out again when read back, so an
//! MQTT subscriber gets the same message after a restart (its Message Expiry
//! counted from its arrival, the time the router was down included).
//! Records written before it existed read back without one.
//!
//! Imports the core's publication types, `proto` and the WAL's [`Encode`].

use std::sync::Arc;

use rkyv::util::AlignedVec;

use crate::core::cluster::Native;
use crate::core::cluster::{PublishFilter, RealmIdx, RoutedPublish};
use crate::proto::{Event, Message, PublicationId, Serializer, SessionId, SubscriptionId, Value};
use crate::store::wal::Encode;

/// The key of the stored EVENT's details that holds a retained
/// publication's native form, `[meta, body]` (never sent to anyone: it is
/// taken out at load).
pub const NATIVE_DETAIL: &str = "x_junction_native";

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
    let mut details = p.details.clone();
    if p.retain
        && let Some(n) = &p.native
    {
        details.insert(
            NATIVE_DETAIL,
            Value::List(vec![
                Value::Bytes(n.meta.clone()),
                Value::Bytes(n.body.clone()),
            ]),
        );
    }
    let event = Serializer::MsgPack.encode(&Message::Event(Event {
        subscription: SubscriptionId(1),
        publication: p.publication,
        details,
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
    let Ok(Message::Event(mut ev)) = Serializer::MsgPack.decode(rec.event.as_slice()) else {
        return None;
    };
    let native = take_native(&mut ev.details);
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
        native: native.filter(|_| retain).map(Box::new),
    };
    Some((rec.time_ns.to_native(), publish))
}

/// Takes the native form out of stored details.
fn take_native(details: &mut crate::proto::Dict) -> Option<Native> {
    let at = details.0.iter().position(|(k, _)| k == NATIVE_DETAIL)?;
    let (_, v) = details.0.remove(at);
    match v {
        Value::List(l) => match <[Value; 2]>::try_from(l) {
            Ok([Value::Bytes(meta), Value::Bytes(body)]) => Some(Native { meta, body }),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::proto::Dict;

    fn publish(retain: bool, native: bool) -> RoutedPublish {
        RoutedPublish {
            realm: 0,
            topic: "a.b".into(),
            publication: PublicationId(7),
            publisher: SessionId(9),
            exclude_me: false,
            details: Dict::new().with("topic", "a.b"),
            payload: crate::proto::Payload::args(vec![Value::Bytes(Bytes::from_static(b"p"))]),
            filter: None,
            retain,
            rkey: None,
            native: native.then(|| {
                Box::new(Native {
                    meta: Bytes::from_static(b"\x01meta-with-props"),
                    body: Bytes::from_static(b"p"),
                })
            }),
        }
    }

    fn round_trip(p: &RoutedPublish, retain: bool) -> RoutedPublish {
        let rec = record(p, 5);
        let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&rec).expect("encodes");
        let (t, back) = publication(0, &bytes, retain).expect("reads back");
        assert_eq!(t, 5);
        back
    }

    #[test]
    fn a_retained_publication_keeps_its_native_form() {
        let p = publish(true, true);
        let back = round_trip(&p, true);
        assert_eq!(
            back.native, p.native,
            "QoS, arrival, properties and payload"
        );
        assert_eq!(
            back.details, p.details,
            "the native form is not left in the details"
        );
        assert_eq!(back.payload, p.payload);
    }

    #[test]
    fn history_and_wamp_publications_have_none() {
        let history = round_trip(&publish(false, true), false);
        assert_eq!(history.native, None, "history events do not carry it");
        assert_eq!(history.details, Dict::new().with("topic", "a.b"));
        assert_eq!(round_trip(&publish(true, false), true).native, None);
    }

    #[test]
    fn a_record_without_one_reads_back_as_before() {
        // A record written before native forms were kept.
        let p = publish(true, false);
        let rec = record(&p, 1);
        assert!(
            !rec.event
                .windows(NATIVE_DETAIL.len())
                .any(|w| w == NATIVE_DETAIL.as_bytes())
        );
        assert_eq!(round_trip(&p, true).native, None);
    }
}
