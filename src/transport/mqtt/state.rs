//! One MQTT client's session state, shared (`Rc<RefCell<_>>`) by the
//! connection task (which reads packets and writes the queue) and the sink
//! the router delivers to ([`Sink`], a [`FrontSink`]). The router calls the
//! sink while it routes; the connection never holds a borrow across a call
//! into the router.
//!
//! What the router sends becomes MQTT here: WELCOME/ABORT → CONNACK,
//! SUBSCRIBED/ERROR → SUBACK codes, PUBLISHED/ERROR → PUBACK/PUBREC,
//! EVENT → PUBLISH (QoS per subscription, packet identifiers, the in-flight
//! window, subscription identifiers, No Local, Retain As Published; one
//! [`PublishTemplate`] per publication, QoS and version shared by every
//! client on the shard through the event's front cache).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::task::Waker;

use ahash::{AHashMap, AHashSet};
use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::Service;
use super::mapping::{self, MapError};
use super::out::{Item, OutQueue, PubOut, SubIds};
use crate::config::mqtt::PayloadFormat;
use crate::core::api::{EventOut, FrontSink, LinkId};
use crate::core::cluster::Native;
use crate::core::outbox::{CloseReason, Overflow};
use crate::proto::message::code;
use crate::proto::mqtt::{
    self, AckProperties, ConnAck, Disconnect, MqttString, Packet, PacketId, PubResponse, Publish,
    PublishProperties, PublishTemplate, QoS, ReasonCode, SubAck, Version, Will,
};
use crate::proto::{Message, PublicationId, RequestId, SessionId, SubscriptionId};

/// QoS a WAMP publication (no MQTT QoS of its own) is delivered with, at most.
pub const WAMP_PUBLICATION_QOS: QoS = QoS::AtLeastOnce;

/// Where the session stands with the router.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// HELLO sent, waiting for WELCOME (or CHALLENGE, or ABORT).
    Joining,
    /// CONNACK (success) queued: packets flow.
    Up,
    /// The connection is ending (CONNACK refusal, DISCONNECT, router close).
    Closing,
}

/// One MQTT subscription of this client.
#[derive(Debug, Clone)]
pub struct Filter {
    /// Maximum QoS.
    pub qos: QoS,
    /// No Local (5.0).
    pub no_local: bool,
    /// Retain As Published (5.0).
    pub retain_as_published: bool,
    /// Subscription Identifier (5.0).
    pub sub_id: Option<u32>,
    /// Whether the WAMP subscriptions cover it exactly (else each topic is checked).
    pub exact: bool,
    /// The WAMP subscriptions it maps to, once the router answered.
    pub wamp: Vec<SubscriptionId>,
}

/// A SUBSCRIBE waiting for the router's answers.
#[derive(Debug)]
pub struct PendingSuback {
    /// The packet.
    pub packet_id: PacketId,
    /// Per filter: granted code, or `None` while a WAMP answer is missing.
    pub codes: Vec<Option<ReasonCode>>,
    /// WAMP requests still unanswered.
    pub waiting: usize,
    /// Retained messages that arrived before the SUBACK could go.
    pub held: Vec<Item>,
}

/// A WAMP SUBSCRIBE sent for a filter.
#[derive(Debug, Clone)]
pub struct PendingSub {
    /// The SUBSCRIBE packet it belongs to.
    pub packet_id: PacketId,
    /// Index of the filter in that packet.
    pub index: usize,
    /// The filter.
    pub filter: String,
}

/// A QoS 1/2 message sent and not yet acknowledged.
#[derive(Debug, Clone)]
pub struct Inflight {
    /// The delivery (re-sent with DUP on resumption).
    pub out: PubOut,
    /// QoS 2: PUBREC received, PUBREL sent, waiting for PUBCOMP.
    pub released: bool,
}

/// Counters for `$SYS` and logs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counters {
    /// PUBLISH packets received.
    pub msgs_in: u64,
    /// PUBLISH packets queued for the client.
    pub msgs_out: u64,
    /// QoS 1/2 messages dropped because the queue behind the in-flight window was full.
    pub dropped: u64,
}

/// One client's session.
#[derive(Debug)]
pub struct State {
    /// The service (listener) it connected to.
    pub svc: Rc<Service>,
    /// Protocol version.
    pub version: Version,
    /// Client identifier.
    pub client_id: String,
    /// This connection, among the client identifier's connections (takeover).
    pub token: u64,
    /// The router link, once opened.
    pub link: Option<LinkId>,
    /// The WAMP session, once welcomed.
    pub session: Option<SessionId>,
    /// Where the session stands.
    pub phase: Phase,
    /// The CONNACK to send on WELCOME.
    pub connack: Option<ConnAck>,
    /// The password to answer a ticket CHALLENGE with.
    pub password: Option<String>,
    /// Whether the client gave a user name and password.
    pub credentials: bool,
    /// Messages the connection must feed the router (the sink cannot).
    pub todo: Vec<Message>,
    /// What to write.
    pub out: OutQueue,
    /// The connection task, parked until there is something to do.
    pub waker: Option<Waker>,
    /// Set when the connection must end after what is queued.
    pub close: Option<CloseReason>,
    /// Subscriptions by filter.
    pub filters: AHashMap<String, Filter>,
    /// WAMP subscription → the filters it carries.
    pub wamp_subs: AHashMap<SubscriptionId, Vec<String>>,
    /// WAMP SUBSCRIBE requests waiting for an answer.
    pub pending_subs: AHashMap<RequestId, PendingSub>,
    /// SUBSCRIBE packets waiting for answers, in arrival order.
    pub subacks: VecDeque<PendingSuback>,
    /// WAMP PUBLISH requests (QoS 1/2) waiting for PUBLISHED/ERROR.
    pub pending_pubs: AHashMap<RequestId, (PacketId, QoS)>,
    /// Last WAMP request ID used.
    pub last_request: u64,
    /// Outgoing QoS 1/2 messages in flight, by packet identifier.
    pub inflight: AHashMap<u16, Inflight>,
    /// Most messages in flight to the client (its Receive Maximum, or the
    /// configured default for 3.1.1).
    pub send_max: u16,
    /// Last packet identifier used.
    pub last_pid: u16,
    /// QoS 1/2 messages waiting for room in the in-flight window.
    pub waiting: VecDeque<PubOut>,
    /// Payload bytes in `waiting`.
    pub waiting_bytes: usize,
    /// QoS 2 packet identifiers received, waiting for PUBREL.
    pub qos2_in: AHashSet<u16>,
    /// QoS 1/2 messages from the client not yet acknowledged (5.0 Receive Maximum).
    pub inflight_in: u16,
    /// Topic aliases the client set (5.0).
    pub aliases_in: AHashMap<u16, MqttString>,
    /// Topic aliases we set, by topic (5.0).
    pub aliases_out: AHashMap<MqttString, u16>,
    /// The client's Topic Alias Maximum.
    pub alias_out_max: u16,
    /// The client's Maximum Packet Size.
    pub max_packet_out: u32,
    /// The last publication queued and its position in `out`, to merge
    /// overlapping subscriptions into one delivery.
    pub last_delivery: Option<(PublicationId, usize)>,
    /// The will, until the connection ends.
    pub will: Option<Will>,
    /// The client sent DISCONNECT (normal end: no will, unless 0x04).
    pub disconnected: bool,
    /// Counters.
    pub counters: Counters,
}

/// The shared handle.
pub type StateRef = Rc<RefCell<State>>;

impl State {
    /// A session for a CONNECT of `version` on `svc`.
    pub fn new(svc: Rc<Service>, version: Version, client_id: String, queue_limit: usize) -> State {
        let send_max = svc.limits.max_inflight.max(1);
        State {
            svc,
            version,
            client_id,
            token: 0,
            link: None,
            session: None,
            phase: Phase::Joining,
            connack: None,
            password: None,
            credentials: false,
            todo: Vec::new(),
            out: OutQueue::new(queue_limit),
            waker: None,
            close: None,
            filters: AHashMap::new(),
            wamp_subs: AHashMap::new(),
            pending_subs: AHashMap::new(),
            subacks: VecDeque::new(),
            pending_pubs: AHashMap::new(),
            last_request: 0,
            inflight: AHashMap::new(),
            send_max,
            last_pid: 0,
            waiting: VecDeque::new(),
            waiting_bytes: 0,
            qos2_in: AHashSet::new(),
            inflight_in: 0,
            aliases_in: AHashMap::new(),
            aliases_out: AHashMap::new(),
            alias_out_max: 0,
            max_packet_out: crate::config::mqtt::MQTT_PROTOCOL_MAX_PACKET_SIZE as u32,
            last_delivery: None,
            will: None,
            disconnected: false,
            counters: Counters::default(),
        }
    }

    /// A fresh WAMP request ID.
    pub fn request(&mut self) -> RequestId {
        self.last_request += 1;
        RequestId(self.last_request)
    }

    /// Wakes the connection task.
    pub fn wake(&mut self) {
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    /// Queues a control packet.
    ///
    /// # Errors
    /// [`Overflow`] when the queue is full.
    pub fn send(&mut self, p: &Packet) -> Result<(), Overflow> {
        if let Some(item) = Item::packet(p, self.version) {
            self.out.push(item)?;
            self.last_delivery = None;
            self.wake();
        }
        Ok(())
    }

    /// Ends the connection after what is queued: 5.0 gets DISCONNECT with
    /// `reason` first.
    pub fn disconnect(&mut self, reason: ReasonCode, why: &str) {
        if self.phase == Phase::Closing {
            return;
        }
        if self.version == Version::V5 && self.phase == Phase::Up {
            let mut d = Disconnect {
                reason,
                properties: Default::default(),
            };
            if let Ok(s) = MqttString::try_from(why) {
                d.properties.reason_string = Some(s);
            }
            let _ = self.send(&Packet::Disconnect(d));
        }
        tracing::debug!(client = %self.client_id, reason = ?reason, why, "closing MQTT connection");
        self.phase = Phase::Closing;
        if self.close.is_none() {
            self.close = Some(CloseReason::Normal);
        }
        self.wake();
    }

    /// A packet identifier not in flight, or `None` when all 65,535 are.
    fn next_pid(&mut self) -> Option<PacketId> {
        for _ in 0..u16::MAX {
            self.last_pid = self.last_pid.wrapping_add(1);
            if self.last_pid == 0 {
                self.last_pid = 1;
            }
            if !self.inflight.contains_key(&self.last_pid) {
                return PacketId::new(self.last_pid);
            }
        }
        None
    }

    /// Queues a delivery: QoS 0 at once; QoS 1/2 into the in-flight window
    /// with a fresh packet identifier, or behind it when it is full.
    pub fn deliver(&mut self, mut p: PubOut) -> Result<bool, Overflow> {
        if p.wire_len() > self.max_packet_out as usize {
            // MQTT-3.1.2-24: never above the client's Maximum Packet Size.
            return Ok(false);
        }
        if p.tmpl.qos() == QoS::AtMostOnce {
            self.push_publish(p)?;
            return Ok(true);
        }
        if self.inflight.len() >= self.send_max as usize {
            if self.waiting.len() >= self.svc.limits.max_queued_messages
                || self.waiting_bytes + p.tmpl.payload().len() > self.svc.limits.max_queued_bytes
            {
                self.counters.dropped += 1;
                tracing::debug!(client = %self.client_id, "queue behind the in-flight window full: message dropped");
                return Ok(false);
            }
            self.waiting_bytes += p.tmpl.payload().len();
            self.waiting.push_back(p);
            return Ok(true);
        }
        let Some(pid) = self.next_pid() else {
            return Ok(false);
        };
        p.packet_id = Some(pid);
        self.inflight.insert(
            pid.get(),
            Inflight {
                out: p.clone(),
                released: false,
            },
        );
        self.push_publish(p)?;
        Ok(true)
    }

    fn push_publish(&mut self, mut p: PubOut) -> Result<(), Overflow> {
        if self.alias_out_max > 0 && self.version == Version::V5 {
            self.assign_alias(&mut p);
        }
        self.out.push(Item::Publish(p))?;
        self.counters.msgs_out += 1;
        self.wake();
        Ok(())
    }

    /// Outgoing topic aliases: a topic gets the next free alias until the
    /// client's maximum; later deliveries of it send the alias alone.
    fn assign_alias(&mut self, p: &mut PubOut) {
        let topic = p.tmpl.topic().clone();
        if let Some(&a) = self.aliases_out.get(&topic) {
            p.alias = Some(a);
            p.send_topic = false;
        } else if self.aliases_out.len() < self.alias_out_max as usize {
            let a = self.aliases_out.len() as u16 + 1;
            self.aliases_out.insert(topic, a);
            p.alias = Some(a);
            p.send_topic = true;
        }
    }

    /// A PUBACK / PUBCOMP freed a slot: messages waiting behind the window go.
    fn refill(&mut self) -> Result<(), Overflow> {
        while self.inflight.len() < self.send_max as usize {
            let Some(p) = self.waiting.pop_front() else {
                break;
            };
            self.waiting_bytes -= p.tmpl.payload().len();
            self.deliver(p)?;
        }
        Ok(())
    }

    /// PUBACK (QoS 1) or PUBCOMP (QoS 2) from the client.
    pub fn acked(&mut self, pid: PacketId, qos: QoS) -> Result<(), Overflow> {
        match self.inflight.get(&pid.get()) {
            Some(f) if f.out.tmpl.qos() == qos && (qos == QoS::AtLeastOnce || f.released) => {
                self.inflight.remove(&pid.get());
                self.refill()
            }
            _ => {
                tracing::debug!(client = %self.client_id, pid = pid.get(), "acknowledgement for no message in flight: ignored");
                Ok(())
            }
        }
    }

    /// PUBREC from the client: answer PUBREL (5.0: 0x92 for an unknown identifier).
    pub fn received(&mut self, r: &PubResponse) -> Result<(), Overflow> {
        let mut rel = PubResponse::new(r.packet_id);
        match self.inflight.get_mut(&r.packet_id.get()) {
            Some(f) if f.out.tmpl.qos() == QoS::ExactlyOnce => {
                if r.reason.is_error() {
                    // The receiver refused it: the flow ends here (MQTT-4.3.3).
                    self.inflight.remove(&r.packet_id.get());
                    return self.refill();
                }
                f.released = true;
            }
            _ => rel.reason = ReasonCode::PacketIdentifierNotFound,
        }
        if self.version == Version::V311 {
            rel.reason = ReasonCode::Success;
        }
        self.send(&Packet::PubRel(rel))
    }

    /// The SUBACK at the front is complete: send it, then what it held back.
    pub fn flush_subacks(&mut self) -> Result<(), Overflow> {
        while let Some(front) = self.subacks.front() {
            if front.waiting > 0 {
                break;
            }
            let s = self.subacks.pop_front().expect("front exists");
            let codes = s
                .codes
                .iter()
                .map(|c| c.unwrap_or(ReasonCode::UnspecifiedError))
                .map(|c| {
                    if self.version == Version::V311 && c.is_error() {
                        ReasonCode::UnspecifiedError
                    } else {
                        c
                    }
                })
                .collect();
            self.send(&Packet::SubAck(SubAck {
                packet_id: s.packet_id,
                codes,
                properties: AckProperties::default(),
            }))?;
            for item in s.held {
                if let Item::Publish(p) = item {
                    self.deliver(p)?;
                }
            }
        }
        Ok(())
    }

    /// The router answered a WAMP SUBSCRIBE.
    fn subscribe_answer(
        &mut self,
        request: RequestId,
        result: Result<SubscriptionId, ReasonCode>,
    ) -> Result<(), Overflow> {
        let Some(p) = self.pending_subs.remove(&request) else {
            return Ok(());
        };
        let granted = match result {
            Ok(id) => {
                let filters = self.wamp_subs.entry(id).or_default();
                if !filters.contains(&p.filter) {
                    filters.push(p.filter.clone());
                }
                let f = self.filters.get_mut(&p.filter);
                match f {
                    Some(f) => {
                        if !f.wamp.contains(&id) {
                            f.wamp.push(id);
                        }
                        granted_code(f.qos)
                    }
                    None => ReasonCode::UnspecifiedError,
                }
            }
            Err(code) => {
                // One failed WAMP subscription fails the filter.
                self.filters.remove(&p.filter);
                code
            }
        };
        if let Some(s) = self.subacks.iter_mut().find(|s| s.packet_id == p.packet_id) {
            let slot = &mut s.codes[p.index];
            *slot = Some(match *slot {
                Some(c) if c.is_error() => c,
                _ => granted,
            });
            s.waiting = s.waiting.saturating_sub(1);
        }
        self.flush_subacks()
    }

    /// The router answered a WAMP PUBLISH of a QoS 1/2 message.
    fn publish_answer(&mut self, request: RequestId, reason: ReasonCode) -> Result<(), Overflow> {
        let Some((pid, qos)) = self.pending_pubs.remove(&request) else {
            return Ok(());
        };
        let mut r = PubResponse::new(pid);
        if self.version == Version::V5 {
            r.reason = reason;
        }
        match qos {
            QoS::AtLeastOnce => {
                self.inflight_in = self.inflight_in.saturating_sub(1);
                self.send(&Packet::PubAck(r))
            }
            _ => {
                if reason.is_error() {
                    // A refused QoS 2 message ends its flow at PUBREC (5.0).
                    self.qos2_in.remove(&pid.get());
                    self.inflight_in = self.inflight_in.saturating_sub(1);
                }
                self.send(&Packet::PubRec(r))
            }
        }
    }

    /// WELCOME: the CONNACK goes out.
    fn welcomed(&mut self, session: SessionId) -> Result<(), Overflow> {
        self.session = Some(session);
        self.password = None;
        if self.phase != Phase::Joining {
            return Ok(());
        }
        self.phase = Phase::Up;
        if let Some(c) = self.connack.take() {
            self.send(&Packet::ConnAck(Box::new(c)))?;
        }
        Ok(())
    }

    /// ABORT while joining: CONNACK with the refusal, then close.
    fn refused(&mut self, reason: &str) {
        let code = match reason {
            "wamp.error.no_such_realm" | "wamp.error.no_such_role" => ReasonCode::ServerUnavailable,
            "wamp.error.not_authorized"
            | "wamp.error.authentication_failed"
            | "wamp.error.no_auth_method"
            | "wamp.error.authorization_failed" => {
                if self.credentials {
                    ReasonCode::BadUserNameOrPassword
                } else {
                    ReasonCode::NotAuthorized
                }
            }
            _ => ReasonCode::UnspecifiedError,
        };
        tracing::debug!(client = %self.client_id, %reason, "MQTT CONNECT refused");
        let c = ConnAck {
            session_present: false,
            code,
            properties: Default::default(),
        };
        self.connack = None;
        let _ = self.send(&Packet::ConnAck(Box::new(c)));
        self.phase = Phase::Closing;
        self.close = Some(CloseReason::Normal);
    }
}

/// The SUBACK code for a granted QoS.
pub fn granted_code(qos: QoS) -> ReasonCode {
    match qos {
        QoS::AtMostOnce => ReasonCode::Success,
        QoS::AtLeastOnce => ReasonCode::GrantedQoS1,
        QoS::ExactlyOnce => ReasonCode::GrantedQoS2,
    }
}

/// The MQTT reason for a WAMP error URI.
pub fn reason_of(error: &str) -> ReasonCode {
    match error {
        "wamp.error.not_authorized" => ReasonCode::NotAuthorized,
        "wamp.error.invalid_uri" => ReasonCode::TopicNameInvalid,
        _ => ReasonCode::UnspecifiedError,
    }
}

// --- native form of MQTT publications --------------------------------------

/// Builds the native meta of an MQTT publication: QoS, arrival time (Unix
/// ms, for Message Expiry), and (5.0 with properties) the properties as an
/// encoded bodiless PUBLISH.
pub fn native_meta(qos: QoS, props: &PublishProperties) -> Bytes {
    let mut b = BytesMut::with_capacity(16);
    b.put_u8(qos as u8);
    b.put_u64(now_ms());
    let mut props = props.clone();
    props.topic_alias = None;
    props.subscription_identifiers.clear();
    if props != PublishProperties::default() {
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
    }
    b.freeze()
}

/// The parts of a native meta.
struct Meta {
    qos: QoS,
    at_ms: u64,
    props: PublishProperties,
}

fn read_meta(meta: &Bytes) -> Option<Meta> {
    let mut m = meta.clone();
    if m.len() < 9 {
        return None;
    }
    let qos = QoS::from_u8(m.get_u8())?;
    let at_ms = m.get_u64();
    let props = if m.is_empty() {
        PublishProperties::default()
    } else {
        let mut buf = BytesMut::from(&m[..]);
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

/// Unix time in milliseconds.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

// --- the per-publication cache ----------------------------------------------

/// What the MQTT sinks of a shard prepare once per publication.
struct PubCache {
    /// The MQTT topic.
    topic: Option<MqttString>,
    /// The publication's QoS.
    qos: QoS,
    /// Arrival time (Unix ms) of an MQTT publication.
    at_ms: u64,
    /// Properties of an MQTT 5 publication.
    props: PublishProperties,
    /// Payload per payload format (one entry when the publication came from
    /// MQTT: the payload itself, whatever the format).
    bodies: Vec<(Option<PayloadFormat>, Option<Bytes>, Templates)>,
}

/// Templates per (version, QoS).
type Templates = [[Option<Rc<PublishTemplate>>; 3]; 2];

impl PubCache {
    fn new(uri: &str, native: Option<&Native>) -> PubCache {
        let topic = MqttString::try_from(mapping::uri_to_topic(uri)).ok();
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

    /// The payload for `format` and the slot of its templates.
    fn body(
        &mut self,
        native: Option<&Native>,
        payload: &crate::proto::Payload,
        format: &PayloadFormat,
    ) -> usize {
        let native = native.map(|n| n.body.clone());
        let key = if native.is_some() {
            None
        } else {
            Some(format.clone())
        };
        if let Some(i) = self.bodies.iter().position(|(k, _, _)| *k == key) {
            return i;
        }
        let body = match native {
            Some(b) => Some(b),
            None => match mapping::wamp_to_mqtt(format, payload) {
                Ok(b) => Some(b),
                Err(MapError::Dynamic) | Err(MapError::NotADict(_)) => None,
            },
        };
        self.bodies.push((key, body, Default::default()));
        self.bodies.len() - 1
    }

    /// The template for (body slot, version, QoS), made on first use.
    fn template(&mut self, slot: usize, version: Version, qos: QoS) -> Option<Rc<PublishTemplate>> {
        let topic = self.topic.clone()?;
        let (_, body, tmpls) = &mut self.bodies[slot];
        let body = body.clone()?;
        let v = usize::from(version == Version::V5);
        if let Some(t) = &tmpls[v][qos as usize] {
            return Some(Rc::clone(t));
        }
        let p = Publish {
            dup: false,
            qos,
            retain: false,
            topic,
            packet_id: None,
            properties: self.props.clone(),
            payload: body,
        };
        let t = Rc::new(PublishTemplate::new(&p, qos, version).ok()?);
        tmpls[v][qos as usize] = Some(Rc::clone(&t));
        Some(t)
    }
}

// --- the sink -----------------------------------------------------------------

/// The router's side of an MQTT session.
#[derive(Debug)]
pub struct Sink(pub StateRef);

impl FrontSink for Sink {
    fn message(&mut self, msg: &Message) -> Result<(), Overflow> {
        let mut s = self.0.borrow_mut();
        match msg {
            Message::Welcome(w) => s.welcomed(w.session),
            Message::Abort(a) => {
                if s.phase == Phase::Joining {
                    s.refused(&a.reason);
                }
                Ok(())
            }
            Message::Challenge(c) => {
                match (c.auth_method.as_str(), s.password.take()) {
                    ("ticket", Some(pw)) => {
                        s.todo
                            .push(Message::Authenticate(crate::proto::Authenticate {
                                signature: pw,
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
        let mut guard = self.0.borrow_mut();
        let s = &mut *guard;
        if s.phase != Phase::Up {
            return Ok(false);
        }
        let Some(filters) = s.wamp_subs.get(&ev.subscription) else {
            return Ok(false);
        };
        let (uri, native, payload) = (ev.topic, ev.native, ev.payload);
        let (publisher, publication) = (ev.publisher, ev.publication);
        let (retained, retain) = (ev.retained, ev.retain);
        // The MQTT view of the publication, made once per shard.
        let cache = ev
            .front_cache()
            .get_or_insert_with(|| Box::new(PubCache::new(uri, native)) as Box<dyn std::any::Any>);
        let Some(cache) = cache.downcast_mut::<PubCache>() else {
            return Ok(false);
        };
        let Some(topic) = cache.topic.clone() else {
            return Ok(false);
        };
        // Which of this client's filters take it, at which QoS.
        let mut qos: Option<QoS> = None;
        let mut sub_ids = SubIds::None;
        let mut retain_as_published = false;
        for f in filters {
            let Some(filter) = s.filters.get(f) else {
                continue;
            };
            if !mapping::delivers(f, filter.exact, topic.as_str()) {
                continue;
            }
            if filter.no_local && Some(publisher) == s.session {
                continue;
            }
            let q = filter.qos.min(cache.qos);
            qos = Some(qos.map_or(q, |old| old.max(q)));
            if let Some(id) = filter.sub_id {
                sub_ids.push(id);
            }
            retain_as_published |= filter.retain_as_published;
        }
        let Some(qos) = qos else {
            return Ok(false);
        };
        // Message Expiry: a retained message may have waited.
        let mut props_changed = None;
        if let Some(exp) = cache.props.message_expiry_interval
            && cache.at_ms > 0
        {
            let waited = (now_ms().saturating_sub(cache.at_ms) / 1000) as u32;
            if waited >= exp {
                return Ok(false);
            }
            if waited > 0 {
                props_changed = Some(exp - waited);
            }
        }
        let format = mapping::format_of(&s.svc.payload_mapping, uri);
        let slot = cache.body(native, payload, format);
        let version = s.version;
        let tmpl = match props_changed {
            None => cache.template(slot, version, qos),
            Some(left) => {
                let body = cache.bodies[slot].1.clone();
                body.and_then(|payload| {
                    let mut props = cache.props.clone();
                    props.message_expiry_interval = Some(left);
                    let p = Publish {
                        dup: false,
                        qos,
                        retain: false,
                        topic: topic.clone(),
                        packet_id: None,
                        properties: props,
                        payload,
                    };
                    PublishTemplate::new(&p, qos, version).ok().map(Rc::new)
                })
            }
        };
        let Some(tmpl) = tmpl else {
            tracing::debug!(client = %s.client_id, topic = %uri, "publication has no MQTT form for this client: skipped");
            return Ok(false);
        };
        // Overlapping subscriptions: one delivery carries every identifier
        // unless the later match asks for a higher QoS (then a second copy).
        if !retained
            && let Some((pubid, at)) = s.last_delivery
            && pubid == publication
            && let Some(Item::Publish(p)) = s.out.items.get_mut(at)
            && p.tmpl.qos() >= qos
        {
            for id in sub_ids.as_slice() {
                p.sub_ids.push(*id);
            }
            return Ok(true);
        }
        let out = PubOut {
            tmpl,
            packet_id: None,
            dup: false,
            retain: retained || (retain && retain_as_published),
            alias: None,
            send_topic: true,
            sub_ids,
        };
        // Retained messages for a SUBSCRIBE whose SUBACK has not gone yet wait for it.
        if retained && let Some(held) = s.subacks.iter_mut().find(|a| a.waiting > 0) {
            held.held.push(Item::Publish(out));
            return Ok(true);
        }
        let queued = s.deliver(out)?;
        if queued && qos == QoS::AtMostOnce {
            s.last_delivery = Some((publication, s.out.items.len() - 1));
        } else {
            s.last_delivery = None;
        }
        Ok(queued)
    }

    fn close(&mut self, reason: CloseReason) {
        let mut s = self.0.borrow_mut();
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
        s.close = Some(reason);
        s.wake();
    }

    fn is_closed(&self) -> bool {
        self.0.borrow().close.is_some()
    }
}
