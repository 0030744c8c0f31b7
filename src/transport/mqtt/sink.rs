//! What the router delivers to MQTT sessions: the connection's
//! [`FrontSink`] (implemented by its [`State`]), the per-publication cache every sink of a shard
//! shares ([`PubCache`]: one [`Msg`] and one [`PublishTemplate`] per
//! publication, payload format, QoS and version), and which of a session's
//! filters take a publication ([`matching`]); offline sessions queue what
//! they get.

use std::rc::Rc;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::ctx::now_ms;
use super::mapping::{self, MapError};
use super::out::{Item, Matched, Msg, PubOut, SubIds};
use super::session::{Filter, Owner};
use super::state::{Phase, State, reason_of};
use crate::config::mqtt::PayloadFormat;
use crate::core::api::{EventOut, FrontSink};
use crate::core::cluster::Native;
use crate::core::outbox::{CloseReason, Overflow};
use crate::proto::message::code;
use crate::proto::mqtt::{
    self, MqttString, Packet, Publish, PublishProperties, PublishTemplate, QoS, ReasonCode, Version,
};
use crate::proto::{Message, PublicationId, SessionId, SubscriptionId};

/// QoS a WAMP publication (no MQTT QoS of its own) is delivered with, at most.
pub const WAMP_PUBLICATION_QOS: QoS = QoS::AtLeastOnce;

// --- native form of MQTT publications --------------------------------------

/// Builds the native meta of an MQTT publication: QoS, arrival time (Unix
/// ms, for Message Expiry), and (5.0 with properties) the properties as an
/// encoded bodiless PUBLISH.
pub fn native_meta(qos: QoS, props: &PublishProperties) -> Bytes {
    let mut head = [0u8; 9];
    head[0] = qos as u8;
    head[1..].copy_from_slice(&now_ms().to_be_bytes());
    let mut props = props.clone();
    props.topic_alias = None;
    props.subscription_identifiers.clear();
    if props == PublishProperties::default() {
        // The common case (every MQTT 3.1.1 publication): one exact-size
        // allocation (a `BytesMut` frozen with room to spare would add the
        // shared header's).
        return Bytes::copy_from_slice(&head);
    }
    let mut b = BytesMut::with_capacity(64);
    b.put_slice(&head);
    let p = Publish {
        dup: false,
        qos: QoS::AtMostOnce,
        retain: false,
        topic: MqttString::from_static("p"),
        packet_id: None,
        properties: props,
        payload: Bytes::new(),
    };
    let _ = mqtt::encode(&Packet::Publish(p), Version::V5, &mut b);
    b.freeze()
}

/// The parts of a native meta.
struct Meta {
    qos: QoS,
    at_ms: u64,
    props: PublishProperties,
}

fn read_meta(meta: &Bytes) -> Option<Meta> {
    // Read through a slice: cloning the `Bytes` could allocate its shared header.
    let mut m: &[u8] = meta;
    if m.len() < 9 {
        return None;
    }
    let qos = QoS::from_u8(m.get_u8())?;
    let at_ms = m.get_u64();
    let props = if m.is_empty() {
        PublishProperties::default()
    } else {
        let mut buf = BytesMut::from(m);
        let limits = mqtt::Limits {
            peer: mqtt::Peer::Any,
            max_packet_size: crate::config::mqtt::MQTT_PROTOCOL_MAX_PACKET_SIZE as u32,
            ..mqtt::Limits::server()
        };
        match mqtt::decode(&mut buf, Some(Version::V5), &limits) {
            Ok(Some(Packet::Publish(p))) => p.properties,
            _ => return None,
        }
    };
    Some(Meta { qos, at_ms, props })
}

// --- the per-publication cache ----------------------------------------------

/// What the MQTT sinks of a shard prepare once per publication.
pub struct PubCache {
    /// The MQTT topic.
    topic: Option<MqttString>,
    /// The publication's QoS.
    pub qos: QoS,
    /// Arrival time (Unix ms) of an MQTT publication.
    at_ms: u64,
    /// Properties of an MQTT 5 publication.
    props: PublishProperties,
    /// Per payload format (one entry when the publication came from MQTT:
    /// the payload itself, whatever the format): the message and its templates.
    bodies: Vec<(Option<PayloadFormat>, Option<Rc<Msg>>, Templates)>,
}

/// Templates per (version, QoS).
type Templates = [[Option<Rc<PublishTemplate>>; 3]; 2];

impl PubCache {
    fn new(uri: &str, native: Option<&Native>) -> PubCache {
        let topic = mapping::uri_to_topic(uri).and_then(|t| MqttString::try_from(t).ok());
        let (qos, at_ms, props) = match native.and_then(|n| read_meta(&n.meta)) {
            Some(m) => (m.qos, m.at_ms, m.props),
            None => (WAMP_PUBLICATION_QOS, 0, PublishProperties::default()),
        };
        PubCache {
            topic,
            qos,
            at_ms,
            props,
            bodies: Vec::new(),
        }
    }

    /// The cache of `ev`, made by the first MQTT sink the publication reaches.
    pub fn of<'e>(ev: &'e mut EventOut<'_, '_>) -> Option<&'e mut PubCache> {
        let (uri, native) = (ev.topic, ev.native);
        let cache = ev
            .front_cache()
            .get_or_insert_with(|| Box::new(PubCache::new(uri, native)) as Box<dyn std::any::Any>);
        cache.downcast_mut::<PubCache>()
    }

    /// The MQTT topic of the publication (`None`: its URI has no MQTT form).
    pub fn topic(&self) -> Option<&MqttString> {
        self.topic.as_ref()
    }

    /// The message for `format` and the slot of its templates.
    fn body(&mut self, src: &Source<'_>, format: &PayloadFormat) -> Option<(usize, Rc<Msg>)> {
        let native = src.native.map(|n| n.body.clone());
        let key = if native.is_some() {
            None
        } else {
            Some(format.clone())
        };
        if let Some(i) = self.bodies.iter().position(|(k, _, _)| *k == key) {
            return self.bodies[i].1.clone().map(|m| (i, m));
        }
        let body = match native {
            Some(b) => Some(b),
            None => match mapping::wamp_to_mqtt(format, src.payload) {
                Ok(b) => Some(b),
                Err(MapError::Dynamic) | Err(MapError::NotADict(_)) => None,
            },
        };
        let msg = match (body, &self.topic) {
            (Some(payload), Some(topic)) => Some(Rc::new(Msg {
                publication: src.publication,
                topic: topic.clone(),
                payload,
                props: self.props.clone(),
                at_ms: self.at_ms,
            })),
            _ => None,
        };
        self.bodies.push((key, msg.clone(), Default::default()));
        msg.map(|m| (self.bodies.len() - 1, m))
    }

    /// The delivery form of the publication for a session: its message and
    /// the template for (`format`, `version`, `qos`) (a new one when the
    /// message waited and its expiry counts down). `None` when it has no
    /// MQTT form (no topic, a `dynamic` format) or expired.
    pub fn delivery(
        &mut self,
        src: &Source<'_>,
        format: &PayloadFormat,
        version: Version,
        qos: QoS,
    ) -> Option<(Rc<Msg>, Rc<PublishTemplate>)> {
        let (slot, msg) = self.body(src, format)?;
        let left = if msg.expires() {
            msg.expiry_left(now_ms())
        } else {
            Ok(None)
        };
        match left {
            Err(_) => None,
            Ok(Some(_)) => {
                let t = msg.template(qos, version)?;
                Some((msg, t))
            }
            Ok(None) => {
                let v = usize::from(version == Version::V5);
                let tmpls = &mut self.bodies[slot].2;
                if let Some(t) = &tmpls[v][qos as usize] {
                    return Some((msg, Rc::clone(t)));
                }
                let t = msg.template(qos, version)?;
                tmpls[v][qos as usize] = Some(Rc::clone(&t));
                Some((msg, t))
            }
        }
    }
}

/// What the cache needs of an event besides itself.
#[derive(Clone, Copy)]
pub struct Source<'a> {
    /// The publication's MQTT form, if it came from MQTT.
    pub native: Option<&'a Native>,
    /// Its WAMP payload.
    pub payload: &'a crate::proto::Payload,
    /// The publication.
    pub publication: PublicationId,
}

impl<'a> Source<'a> {
    /// The source of `ev`.
    pub fn of(ev: &EventOut<'a, '_>) -> Source<'a> {
        Source {
            native: ev.native,
            payload: ev.payload,
            publication: ev.publication,
        }
    }
}

/// Which of `filters` (those behind WAMP subscription `sub`) take a
/// publication to `topic` by `publisher` at `pub_qos`: MQTT's matching, No
/// Local against `own` session.
pub fn matching<'f>(
    filters: impl Iterator<Item = (&'f str, &'f Filter)>,
    sub: SubscriptionId,
    topic: &str,
    publisher: SessionId,
    own: Option<SessionId>,
    pub_qos: QoS,
) -> Option<Matched> {
    let mut m: Option<Matched> = None;
    for (name, f) in filters {
        if !f.wamp.contains(&sub) || !mapping::delivers(name, f.exact, topic) {
            continue;
        }
        if f.no_local && Some(publisher) == own {
            continue;
        }
        let q = f.qos.min(pub_qos);
        let e = m.get_or_insert(Matched {
            qos: q,
            sub_ids: SubIds::None,
            retain_as_published: false,
        });
        e.qos = e.qos.max(q);
        if let Some(id) = f.sub_id {
            e.sub_ids.push(id);
        }
        e.retain_as_published |= f.retain_as_published;
    }
    m
}

// --- the sink -----------------------------------------------------------------

/// The router's side of an MQTT connection: its state itself (the link's
/// output is the connection's `Rc<RefCell<State>>`, no wrapper of its own).
impl FrontSink for State {
    fn message(&mut self, msg: &Message) -> Result<(), Overflow> {
        let s = self;
        match msg {
            Message::Welcome(w) => s.welcomed(w.session),
            Message::Abort(a) => {
                if s.phase == Phase::Joining {
                    s.refused(&a.reason);
                }
                Ok(())
            }
            Message::Challenge(c) => {
                if let Some(auth) = super::connect::challenge_auth(s, &c.auth_method, &c.extra) {
                    return s.send(&auth);
                }
                match (c.auth_method.as_str(), s.rare.password.take()) {
                    ("ticket", Some(pw)) => {
                        s.rare
                            .todo
                            .push(Message::Authenticate(crate::proto::Authenticate {
                                signature: pw.into(),
                                extra: Default::default(),
                            }));
                        s.wake();
                    }
                    _ => s.refused("wamp.error.not_authorized"),
                }
                Ok(())
            }
            Message::Subscribed(m) => s.subscribe_answer(m.request, Ok(m.subscription)),
            Message::Published(m) => s.publish_answer(m.request, ReasonCode::Success),
            Message::Result(r) if super::dynamic::waits(s, r.request) => {
                super::dynamic::answered(s, r.request, Ok(r.payload.clone()), place)
            }
            Message::Error(e)
                if e.request_type == code::CALL && super::dynamic::waits(s, e.request) =>
            {
                super::dynamic::answered(
                    s,
                    e.request,
                    Err((e.error.clone(), e.payload.clone())),
                    place,
                )
            }
            Message::Result(r) => {
                s.call_answered(r.request, Ok(r.payload.clone()));
                Ok(())
            }
            Message::Error(e) if e.request_type == code::CALL => {
                s.call_answered(e.request, Err((e.error.clone(), e.payload.clone())));
                Ok(())
            }
            Message::Error(e) if e.request_type == code::SUBSCRIBE => {
                let code = match e.error.as_str() {
                    "wamp.error.not_authorized" => ReasonCode::NotAuthorized,
                    "wamp.error.invalid_uri" => ReasonCode::TopicFilterInvalid,
                    _ => ReasonCode::UnspecifiedError,
                };
                s.subscribe_answer(e.request, Err(code))
            }
            Message::Error(e) if e.request_type == code::PUBLISH => {
                tracing::debug!(client = %s.client_id, error = %e.error, "MQTT publish refused");
                s.publish_answer(e.request, reason_of(&e.error))
            }
            Message::Goodbye(g) => {
                s.rare.router_ended = true;
                if s.phase == Phase::Offline || s.rare.forward.is_some() {
                    s.rare.close = Some(CloseReason::Normal);
                    s.wake();
                    return Ok(());
                }
                let reason = if g.reason == crate::core::uris::SYSTEM_SHUTDOWN {
                    ReasonCode::ServerShuttingDown
                } else {
                    ReasonCode::AdministrativeAction
                };
                s.disconnect(reason, "the router ended the session");
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn event(&mut self, ev: &mut EventOut<'_, '_>) -> Result<bool, Overflow> {
        if let Some(fwd) = self.rare.forward.clone() {
            // The old link of a session resumed on this shard: what it still
            // gets goes to the new connection (once).
            let names = self.wamp_subs.get(&ev.subscription).cloned();
            let (Some(mut new), Some(names)) = (fwd.upgrade(), names) else {
                return Ok(false);
            };
            // Along a chain of takeovers on this shard, to the newest.
            loop {
                let next = new.borrow().rare.forward.as_ref().and_then(|w| w.upgrade());
                match next {
                    Some(n) => new = n,
                    None => break,
                }
            }
            let mut n = new.borrow_mut();
            if n.duplicate(ev.publication, ev.retained) {
                return Ok(false);
            }
            return offer(&mut n, Some(&names), ev);
        }
        let s = self;
        if s.settling() && s.duplicate(ev.publication, ev.retained) {
            return Ok(false);
        }
        offer(s, None, ev)
    }

    fn close(&mut self, reason: CloseReason) {
        let s = self;
        s.rare.router_ended = true;
        if s.phase == Phase::Offline || s.rare.forward.is_some() {
            // The router closed an offline session's link (shutdown): its
            // task closes it; the stored session stays.
            s.rare.close = Some(reason);
            s.wake();
            return;
        }
        let code = match reason {
            CloseReason::SlowConsumer => ReasonCode::QuotaExceeded,
            CloseReason::GoingAway => ReasonCode::ServerShuttingDown,
            CloseReason::ProtocolViolation(_) => ReasonCode::ProtocolError,
            CloseReason::MessageTooBig => ReasonCode::PacketTooLarge,
            CloseReason::Normal => ReasonCode::Success,
        };
        if s.phase == Phase::Joining {
            // An ABORT came first (CONNACK queued); nothing more to say.
            s.phase = Phase::Closing;
        }
        s.disconnect(code, reason.text());
        s.rare.close = Some(reason);
        s.wake();
    }

    fn is_closed(&self) -> bool {
        self.rare.close.is_some()
    }
}

/// Offers a publication to session `s` through its filters `names` (those
/// behind the event's WAMP subscription; `None`: the session's own for it):
/// delivered when the client is connected, queued (QoS 1/2) while the
/// session persists without it.
fn offer(
    s: &mut State,
    names: Option<&[String]>,
    ev: &mut EventOut<'_, '_>,
) -> Result<bool, Overflow> {
    let queue_only = match s.phase {
        Phase::Up if s.rare.handed.is_none() => false,
        _ if s.p.persistent() || s.rare.handed.is_some() => true,
        _ => return Ok(false),
    };
    let (sub, publisher, uri) = (ev.subscription, ev.publisher, ev.topic);
    let (publication, retained, retain) = (ev.publication, ev.retained, ev.retain);
    let format = mapping::format_of(&s.svc.payload_mapping, uri);
    let dynamic = matches!(format, PayloadFormat::Dynamic { .. }) && ev.native.is_none();
    let Some(cache) = PubCache::of(ev) else {
        return Ok(false);
    };
    let Some(topic) = cache.topic() else {
        return Ok(false);
    };
    let names: &[String] = match names {
        Some(n) => n,
        None => match s.wamp_subs.get(&sub) {
            Some(n) => n,
            None => return Ok(false),
        },
    };
    let filters = names
        .iter()
        .filter_map(|n| s.p.filters.get_key_value(n))
        .map(|(k, f)| (k.as_str(), f));
    let Some(m) = matching(
        filters,
        sub,
        topic.as_str(),
        publisher,
        s.session.map(|n| SessionId(n.get())),
        cache.qos,
    ) else {
        return Ok(false);
    };
    if queue_only && m.qos == QoS::AtMostOnce {
        return Ok(false);
    }
    if s.version == Version::V311
        && !retained
        && !one_copy(&s.p, &mut s.out, queue_only, publication, m.qos)
    {
        return Ok(false);
    }
    let dyn_topic = dynamic.then(|| topic.clone());
    let src = Source::of(ev);
    if let PayloadFormat::Dynamic { encoder, realm, .. } = format
        && let Some(topic) = dyn_topic
    {
        let (encoder, realm) = (encoder.clone(), realm.clone());
        let e = super::dynamic::encode(
            s,
            (&encoder, realm.as_deref()),
            topic,
            uri,
            src.payload,
            m,
            publication,
            retained,
            retain,
        );
        return Ok(e);
    }
    let Some(cache) = PubCache::of(ev) else {
        return Ok(false);
    };
    let Some((msg, tmpl)) = cache.delivery(&src, format, s.version, m.qos) else {
        tracing::debug!(client = %s.client_id, topic = %uri, "publication has no MQTT form for this client: skipped");
        return Ok(false);
    };
    place(s, msg, tmpl, m, publication, retained, retain)
}

/// 3.1.1 (no subscription identifiers tell copies apart): whether a
/// publication matched through another of the client's overlapping
/// subscriptions goes (again) at `qos`. The first match goes; a later one of
/// the same publication only when it asks for a higher QoS (the spec's
/// "respecting the maximum QoS", MQTT-3.3.5-1; the further copies it allows
/// are left out, as mosquitto leaves them out). A publication reaches every
/// subscription of a session in one dispatch, so the last one delivered is
/// enough to know: kept in the outgoing queue's box (allocated for the
/// delivery anyway), or for a session whose client is away, the last
/// message queued for it.
fn one_copy(
    p: &super::session::Persist,
    out: &mut super::lazy::Lazy<super::out::OutQueue>,
    queue_only: bool,
    publication: PublicationId,
    qos: QoS,
) -> bool {
    if queue_only {
        return !p
            .waiting
            .back()
            .is_some_and(|w| w.msg.publication.get() == publication.get() && w.tmpl.qos() >= qos);
    }
    let Some(id) = std::num::NonZeroU64::new(publication.get()) else {
        return true;
    };
    if let Some((last, sent)) = out.last_copy
        && last == id
        && qos <= sent
    {
        return false;
    }
    out.last_copy = Some((id, qos));
    true
}

/// Delivers a matched publication to a connected session, queues it
/// (QoS 1/2) for one whose client is away, or drops it.
pub fn place(
    s: &mut State,
    msg: Rc<Msg>,
    tmpl: Rc<PublishTemplate>,
    m: Matched,
    publication: PublicationId,
    retained: bool,
    retain: bool,
) -> Result<bool, Overflow> {
    let queue_only = match s.phase {
        Phase::Up if s.rare.handed.is_none() => false,
        _ if s.p.persistent() || s.rare.handed.is_some() => true,
        _ => return Ok(false),
    };
    if queue_only {
        if m.qos == QoS::AtMostOnce {
            return Ok(false);
        }
        let out = PubOut {
            retain: retain && m.retain_as_published,
            sub_ids: m.sub_ids,
            ..PubOut::first(tmpl, msg)
        };
        let owner = Owner {
            svc: &s.svc,
            client: &s.client_id,
        };
        return Ok(s.p.enqueue(owner, out));
    }
    deliver_matched(s, msg, tmpl, m, publication, retained, retain)
}

/// Queues a matched publication for a connected session: merged into the
/// delivery just queued when overlapping subscriptions match it again.
pub fn deliver_matched(
    s: &mut State,
    msg: Rc<Msg>,
    tmpl: Rc<PublishTemplate>,
    m: Matched,
    publication: PublicationId,
    retained: bool,
    retain: bool,
) -> Result<bool, Overflow> {
    // Overlapping subscriptions: one delivery carries every identifier
    // unless the later match asks for a higher QoS (then a second copy).
    if !retained
        && let Some((pubid, at)) = s.out.last_delivery
        && pubid.get() == publication.get()
        && let Some(Item::Publish(p)) = s.out.items.get_mut(at as usize)
        && p.tmpl.qos() >= m.qos
    {
        for id in m.sub_ids.as_slice() {
            p.sub_ids.push(*id);
        }
        return Ok(true);
    }
    let out = PubOut {
        retain: retained || (retain && m.retain_as_published),
        sub_ids: m.sub_ids,
        ..PubOut::first(tmpl, msg)
    };
    // Retained messages for a SUBSCRIBE whose SUBACK has not gone yet wait for it.
    if retained && let Some(held) = s.rare.subacks.iter_mut().find(|a| a.waiting > 0) {
        held.held.push(Item::Publish(out));
        return Ok(true);
    }
    let qos = out.tmpl.qos();
    let queued = s.deliver(out)?;
    // A queue too long for a u32 position (never, under any configured
    // bound) only forgoes the merge.
    let last = if queued && qos == QoS::AtMostOnce {
        std::num::NonZeroU64::new(publication.get()).zip(u32::try_from(s.out.items.len() - 1).ok())
    } else {
        None
    };
    super::out::forget_last(&mut s.out);
    if last.is_some() {
        s.out.last_delivery = last;
    }
    Ok(queued)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_native_meta_reads_back_with_and_without_properties() {
        let before = now_ms();
        let plain = native_meta(QoS::AtLeastOnce, &PublishProperties::default());
        assert_eq!(plain.len(), 9, "QoS and arrival time only");
        let m = read_meta(&plain).expect("reads back");
        assert_eq!(m.qos, QoS::AtLeastOnce);
        assert!(m.at_ms >= before && m.at_ms <= now_ms());
        assert_eq!(m.props, PublishProperties::default());

        // A topic alias and subscription identifiers are per connection: not kept.
        let props = PublishProperties {
            message_expiry_interval: Some(60),
            content_type: Some(MqttString::from_static("text/plain")),
            topic_alias: Some(3),
            ..PublishProperties::default()
        };
        let with = native_meta(QoS::ExactlyOnce, &props);
        assert!(with.len() > 9);
        let m = read_meta(&with).expect("reads back");
        assert_eq!(m.qos, QoS::ExactlyOnce);
        assert_eq!(m.props.message_expiry_interval, Some(60));
        assert_eq!(
            m.props.content_type.as_ref().map(|c| c.as_str()),
            Some("text/plain")
        );
        assert_eq!(m.props.topic_alias, None);
        assert!(
            read_meta(&Bytes::from_static(b"\x01short")).is_none(),
            "too short"
        );
    }
}
