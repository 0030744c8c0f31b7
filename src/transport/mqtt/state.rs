//! One MQTT connection's state, shared (`Rc<RefCell<_>>`) by the
//! connection task (which reads packets and writes the queue) and the sink
//! the router delivers to (the state itself, see `sink.rs`). The router calls the
//! sink while it routes; the connection never holds a borrow across a call
//! into the router.
//!
//! What the router sends becomes MQTT here: WELCOME/ABORT → CONNACK,
//! SUBSCRIBED/ERROR → SUBACK codes, PUBLISHED/ERROR → PUBACK/PUBREC;
//! deliveries go into the in-flight window (packet identifiers, the
//! client's Receive Maximum) or behind it. The session part that outlives
//! the connection is [`Persist`]; a resumed session's messages in flight go
//! out again with DUP once CONNACK has gone.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::{Rc, Weak};
use std::task::Waker;

use ahash::AHashMap;

use super::Service;
pub use super::calls::{CallAnswer, PendingCall, Requests};
use super::ctx::now_ms;
use super::mesh::{ShareMsg, Takeover};
use super::out::{Item, OutQueue, PubOut};
pub use super::resume::{Resume, ResumeSlot};
use super::session::{IdMap, IdSet, Inflight, Lazy, Owner, Persist, SessionData, next_key, stored};
use crate::core::api::LinkId;
use crate::core::outbox::{CloseReason, Overflow};
use crate::proto::mqtt::{
    AckProperties, ConnAck, Disconnect, MqttString, Packet, PacketId, PubResponse, QoS, ReasonCode,
    SubAck, Version, Will,
};
use crate::proto::{Message, PublicationId, RequestId, SessionId, ShardId, SubscriptionId};
use crate::store::mqtt::{Record, StoredWill};

/// Where the connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// HELLO sent, waiting for WELCOME (or CHALLENGE, or ABORT), and for the
    /// session when it is resumed.
    Joining,
    /// CONNACK (success) queued: packets flow.
    Up,
    /// The connection is ending (CONNACK refusal, DISCONNECT, router close).
    Closing,
    /// The connection ended and its session persists: the link stays open
    /// and queues QoS 1/2 messages for the client (see [`super::offline`]).
    Offline,
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
    /// The SUBSCRIBE packet it belongs to (`None`: a resumed session's
    /// subscription, subscribed again without a SUBACK).
    pub packet_id: Option<PacketId>,
    /// Index of the filter in that packet.
    pub index: usize,
    /// The filter.
    pub filter: String,
}

/// Counters for `$SYS` and logs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counters {
    /// PUBLISH packets received.
    pub msgs_in: u64,
    /// PUBLISH packets queued for the client.
    pub msgs_out: u64,
}

impl State {
    /// The router answered CALL `request` (the sink): kept for the task
    /// when the call is one of this connection's requests.
    pub fn call_answered(
        &mut self,
        request: RequestId,
        outcome: Result<crate::proto::Payload, (String, crate::proto::Payload)>,
    ) {
        if let Some(r) = &mut self.requests
            && r.calls.contains_key(&request)
        {
            r.answers.push(CallAnswer { request, outcome });
            self.wake();
        }
    }
}

/// Work for the connection's task (the sink runs inside the router and
/// cannot call it).
#[derive(Debug, Default)]
pub struct Chores {
    /// Takeover messages to send.
    pub front: Vec<(ShardId, Takeover)>,
    /// Links to close (an old connection's, once this one has subscribed).
    pub close: Vec<LinkId>,
    /// PUBACK/PUBREC waiting for a WAL marker (durable sessions).
    pub marks: Vec<(PacketId, QoS, ReasonCode)>,
    /// Shared-subscription memberships to join or leave.
    pub share: Vec<ShareMsg>,
}

/// One client's connection.
#[derive(Debug)]
pub struct State {
    /// The service (listener) it connected to.
    pub svc: Rc<Service>,
    /// Protocol version.
    pub version: Version,
    /// Client identifier.
    pub client_id: Rc<str>,
    /// This connection, among the client identifier's connections (takeover).
    pub token: u64,
    /// The router link, once opened.
    pub link: Option<LinkId>,
    /// The WAMP session, once welcomed.
    pub session: Option<SessionId>,
    /// Where the connection stands.
    pub phase: Phase,
    /// WELCOME came.
    pub welcomed: bool,
    /// The CONNACK to send once welcomed (and the session is here).
    pub connack: Option<Box<ConnAck>>,
    /// The password to answer a ticket CHALLENGE with.
    pub password: Option<Box<str>>,
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
    /// The session part that outlives the connection.
    pub p: Persist,
    /// WAMP subscription → the filters it carries.
    pub wamp_subs: Lazy<IdMap<SubscriptionId, Vec<String>>>,
    /// WAMP SUBSCRIBE requests waiting for an answer.
    pub pending_subs: Lazy<IdMap<RequestId, PendingSub>>,
    /// SUBSCRIBE packets waiting for answers, in arrival order.
    pub subacks: Lazy<VecDeque<PendingSuback>>,
    /// WAMP PUBLISH requests (QoS 1/2) waiting for PUBLISHED/ERROR.
    pub pending_pubs: Lazy<IdMap<RequestId, (PacketId, QoS, bool)>>,
    /// Last WAMP request ID used.
    pub last_request: u64,
    /// CALLs made for MQTT 5 requests and their answers (see
    /// [`super::request`]); boxed, `None` until the first.
    pub requests: Option<Box<Requests>>,
    /// Payloads waiting for a `dynamic` mapping's encoder or decoder (see
    /// [`super::dynamic`]); boxed, `None` while none waits.
    pub codec: Option<Box<super::codec::Codec>>,
    /// Most messages in flight to the client (its Receive Maximum, or the
    /// configured default for 3.1.1).
    pub send_max: u16,
    /// QoS 1/2 messages from the client not yet acknowledged (5.0 Receive Maximum).
    pub inflight_in: u16,
    /// Topic aliases the client set (5.0; allocated at the first).
    pub aliases_in: Option<Box<IdMap<u16, MqttString>>>,
    /// Topic aliases we set, by topic (5.0; allocated at the first).
    pub aliases_out: Option<Box<AHashMap<MqttString, u16>>>,
    /// The client's Topic Alias Maximum.
    pub alias_out_max: u16,
    /// The client's Maximum Packet Size.
    pub max_packet_out: u32,
    /// The last publication queued and its position in `out`, to merge
    /// overlapping subscriptions into one delivery (the publication's ID,
    /// never 0, as `NonZeroU64` and the position as `u32`: 16 bytes, which
    /// keeps the state in its size class).
    pub last_delivery: Option<(std::num::NonZeroU64, u32)>,
    /// The will, until the connection ends (or, with a Will Delay
    /// Interval, until it is published or cancelled, see [`super::will`]).
    pub will: Option<Box<Will>>,
    /// When the waiting will of an offline session is due (Unix ms); 0:
    /// none waits.
    pub will_due_ms: u64,
    /// The client sent DISCONNECT (normal end: no will, unless 0x04).
    pub disconnected: bool,
    /// Session Expiry Interval the CONNECT asked for (3.1.1: `u32::MAX`
    /// for clean session 0).
    pub requested_expiry: u32,
    /// Takeover and resumption.
    pub resume: ResumeSlot,
    /// Work for the task.
    pub chores: Option<Box<Chores>>,
    /// The session was resumed by a connection on this shard: what this
    /// (old) link still delivers goes there.
    pub forward: Option<Weak<RefCell<State>>>,
    /// The session was handed to a connection on another shard (shard,
    /// token): this link queues the tail until that connection has subscribed.
    pub handed: Option<(ShardId, u64)>,
    /// The router ended the session (GOODBYE, shutdown): a persistent
    /// session is not kept offline (it stays in the store).
    pub router_ended: bool,
    /// Counters.
    pub counters: Counters,
}

/// The shared handle.
pub type StateRef = Rc<RefCell<State>>;

impl State {
    /// A connection of `version` on `svc`.
    pub fn new(
        svc: Rc<Service>,
        version: Version,
        client_id: impl Into<Rc<str>>,
        queue_limit: usize,
    ) -> State {
        let send_max = svc.limits.max_inflight.max(1);
        State {
            svc,
            version,
            client_id: client_id.into(),
            token: 0,
            link: None,
            session: None,
            phase: Phase::Joining,
            welcomed: false,
            connack: None,
            password: None,
            credentials: false,
            todo: Vec::new(),
            out: OutQueue::new(queue_limit),
            waker: None,
            close: None,
            p: Persist::new(),
            wamp_subs: Lazy::default(),
            pending_subs: Lazy::default(),
            subacks: Lazy::default(),
            pending_pubs: Lazy::default(),
            last_request: 0,
            requests: None,
            codec: None,
            send_max,
            inflight_in: 0,
            aliases_in: None,
            aliases_out: None,
            alias_out_max: 0,
            max_packet_out: crate::config::mqtt::MQTT_PROTOCOL_MAX_PACKET_SIZE as u32,
            last_delivery: None,
            will: None,
            will_due_ms: 0,
            disconnected: false,
            requested_expiry: 0,
            resume: ResumeSlot::default(),
            chores: None,
            forward: None,
            handed: None,
            router_ended: false,
            counters: Counters::default(),
        }
    }

    /// The chores, allocated at the first.
    pub fn chores(&mut self) -> &mut Chores {
        self.chores.get_or_insert_with(Box::default)
    }

    /// The chores, taken (none kept: their room goes too).
    pub fn take_chores(&mut self) -> Chores {
        self.chores.take().map(|c| *c).unwrap_or_default()
    }

    /// The shared-subscription messages among the chores, taken.
    pub fn take_share_chores(&mut self) -> Vec<ShareMsg> {
        self.chores
            .as_mut()
            .map(|c| std::mem::take(&mut c.share))
            .unwrap_or_default()
    }

    /// Who the session is, for its log records.
    pub fn owner(&self) -> Owner<'_> {
        Owner {
            svc: &self.svc,
            client: &self.client_id,
        }
    }

    /// Writes a record of the session (when it is kept durably).
    pub fn write(&self, rec: Record) {
        self.owner().write(&self.p, rec);
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
        if matches!(self.phase, Phase::Closing | Phase::Offline) {
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
            if let Some(item) = Item::packet(&Packet::Disconnect(d), self.version) {
                self.out.push_last(item);
            }
        }
        tracing::debug!(client = %self.client_id, reason = ?reason, why, "closing MQTT connection");
        self.phase = Phase::Closing;
        if self.close.is_none() {
            self.close = Some(CloseReason::Normal);
        }
        self.wake();
    }

    /// Queues a delivery: QoS 0 at once; QoS 1/2 into the in-flight window
    /// with a fresh packet identifier, or behind it (bounded, see
    /// [`Persist::enqueue`]) when it is full.
    pub fn deliver(&mut self, mut p: PubOut) -> Result<bool, Overflow> {
        if p.wire_len() > self.max_packet_out as usize {
            // MQTT-3.1.2-24: never above the client's Maximum Packet Size.
            return Ok(false);
        }
        if p.tmpl.qos() == QoS::AtMostOnce {
            self.push_publish(p)?;
            return Ok(true);
        }
        if p.key == 0 && self.p.persistent() {
            p.key = next_key(super::ctx::shard_index());
        }
        if self.p.inflight.len() >= self.send_max as usize || !self.p.waiting.is_empty() {
            let owner = Owner {
                svc: &self.svc,
                client: &self.client_id,
            };
            return Ok(self.p.enqueue(owner, p));
        }
        self.send_inflight(p)
    }

    /// Sends a QoS 1/2 delivery with a fresh packet identifier.
    fn send_inflight(&mut self, mut p: PubOut) -> Result<bool, Overflow> {
        let Some(pid) = self.p.next_pid() else {
            return Ok(false);
        };
        p.packet_id = Some(pid);
        self.write(Record::Msg(Box::new(stored(&p, Some(pid.get()), false))));
        self.p.inflight.insert(
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
        let len = p.wire_len();
        self.out.push(Item::Publish(p))?;
        self.counters.msgs_out += 1;
        self.svc.stats.sent(1, len);
        self.wake();
        Ok(())
    }

    /// Outgoing topic aliases: a topic gets the next free alias until the
    /// client's maximum; later deliveries of it send the alias alone.
    fn assign_alias(&mut self, p: &mut PubOut) {
        let topic = p.tmpl.topic().clone();
        let aliases = self.aliases_out.get_or_insert_with(Box::default);
        if let Some(&a) = aliases.get(&topic) {
            p.alias = Some(a);
            p.send_topic = false;
        } else if aliases.len() < self.alias_out_max as usize {
            let a = aliases.len() as u16 + 1;
            aliases.insert(topic, a);
            p.alias = Some(a);
            p.send_topic = true;
        }
    }

    /// A slot in the in-flight window is free: messages waiting behind it go
    /// (expired ones are dropped).
    pub fn refill(&mut self) -> Result<(), Overflow> {
        while self.p.inflight.len() < self.send_max as usize {
            let Some(p) = self.p.pop_waiting() else {
                break;
            };
            // A message that waited gets its remaining expiry; an expired
            // one goes.
            let left = if p.msg.expires() {
                p.msg.expiry_left(now_ms())
            } else {
                Ok(None)
            };
            let p = match left {
                Err(_) => {
                    self.write(Record::DelMsg(p.key));
                    continue;
                }
                Ok(Some(_)) => match p.msg.template(p.tmpl.qos(), self.version) {
                    Some(tmpl) => PubOut { tmpl, ..p },
                    None => continue,
                },
                Ok(None) => p,
            };
            self.send_inflight(p)?;
        }
        Ok(())
    }

    /// PUBACK (QoS 1) or PUBCOMP (QoS 2) from the client.
    pub fn acked(&mut self, pid: PacketId, qos: QoS) -> Result<(), Overflow> {
        match self.p.inflight.get(&pid.get()) {
            Some(f) if f.out.tmpl.qos() == qos && (qos == QoS::AtLeastOnce || f.released) => {
                if let Some(f) = self.p.inflight.remove(&pid.get()) {
                    self.write(Record::DelMsg(f.out.key));
                }
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
        let pid = r.packet_id.get();
        match self.p.inflight.get_mut(&pid) {
            Some(f) if f.out.tmpl.qos() == QoS::ExactlyOnce => {
                if r.reason.is_error() {
                    // The receiver refused it: the flow ends here (MQTT-4.3.3).
                    if let Some(f) = self.p.inflight.remove(&pid) {
                        self.write(Record::DelMsg(f.out.key));
                    }
                    return self.refill();
                }
                if !f.released {
                    f.released = true;
                    let rec = stored(&f.out, Some(pid), true);
                    self.write(Record::Msg(Box::new(rec)));
                }
            }
            _ => rel.reason = ReasonCode::PacketIdentifierNotFound,
        }
        if self.version == Version::V311 {
            rel.reason = ReasonCode::Success;
        }
        self.send(&Packet::PubRel(rel))
    }

    /// An incoming QoS 2 identifier was accepted (`true`) or released.
    pub fn qos2_in(&mut self, pid: u16, on: bool) {
        let changed = if on {
            self.p.qos2_in.insert(pid)
        } else {
            self.p.qos2_in.remove(&pid)
        };
        if changed {
            self.write(Record::Qos2(pid, on));
        }
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

    /// The subscriptions changed: the session's meta record again.
    pub fn write_meta(&self) {
        if self.p.inc != 0 {
            let meta = self.p.meta(self.version, &self.svc.transport.id, true);
            self.write(Record::Meta(meta));
        }
    }

    /// The router answered a WAMP SUBSCRIBE.
    pub fn subscribe_answer(
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
                match self.p.filters.get_mut(&p.filter) {
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
                if self.p.filters.remove(&p.filter).is_some() {
                    tracing::debug!(client = %self.client_id, filter = %p.filter, "subscription refused");
                    self.write_meta();
                }
                code
            }
        };
        let Some(packet_id) = p.packet_id else {
            // A resumed session's subscription.
            self.resume.restoring = self.resume.restoring.saturating_sub(1);
            if self.resume.restoring == 0 {
                self.restored();
            }
            return Ok(());
        };
        if let Some(s) = self.subacks.iter_mut().find(|s| s.packet_id == packet_id) {
            let slot = &mut s.codes[p.index];
            *slot = Some(match *slot {
                Some(c) if c.is_error() => c,
                _ => granted,
            });
            s.waiting = s.waiting.saturating_sub(1);
        }
        self.flush_subacks()
    }

    /// The router answered a WAMP PUBLISH of a QoS 1/2 message: PUBACK or
    /// PUBREC, after a WAL marker when the realm keeps sessions durably and
    /// there are some (the copies queued for sessions on this shard, its
    /// retained event and this session's QoS 2 identifier are durable first).
    pub fn publish_answer(
        &mut self,
        request: RequestId,
        reason: ReasonCode,
    ) -> Result<(), Overflow> {
        let Some((pid, qos, retain)) = self.pending_pubs.remove(&request) else {
            return Ok(());
        };
        let _ = retain;
        if super::ctx::durable_sessions() > 0 && super::ctx::durable(&self.svc.realm) {
            self.chores().marks.push((pid, qos, reason));
            self.wake();
            return Ok(());
        }
        self.answer_publish(pid, qos, reason)
    }

    /// PUBACK or PUBREC for an incoming message.
    pub fn answer_publish(
        &mut self,
        pid: PacketId,
        qos: QoS,
        reason: ReasonCode,
    ) -> Result<(), Overflow> {
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
                    self.qos2_in(pid.get(), false);
                    self.inflight_in = self.inflight_in.saturating_sub(1);
                }
                self.send(&Packet::PubRec(r))
            }
        }
    }

    /// WELCOME: CONNACK goes out unless the session is still on its way.
    pub fn welcomed(&mut self, session: SessionId) -> Result<(), Overflow> {
        self.session = Some(session);
        self.password = None;
        if self.phase != Phase::Joining {
            return Ok(());
        }
        self.welcomed = true;
        self.maybe_up()
    }

    /// CONNACK once WELCOME came and the session is here; then the resumed
    /// session's subscriptions, its messages in flight again (DUP), and
    /// what waited.
    pub fn maybe_up(&mut self) -> Result<(), Overflow> {
        if self.phase != Phase::Joining || !self.welcomed || self.resume.awaiting {
            return Ok(());
        }
        if !self.p.persistent() {
            self.p.slot = None;
        } else if self.p.slot.is_none() {
            // A new persistent session: within `mqtt_offline_store_sessions`.
            match super::session::SessionSlot::take() {
                Some(slot) => self.p.slot = Some(slot),
                None => {
                    self.over_quota();
                    return Ok(());
                }
            }
        }
        self.phase = Phase::Up;
        self.start_incarnation();
        if let Some(mut c) = self.connack.take() {
            c.session_present = self.resume.present;
            if self.version == Version::V5 && self.requested_expiry > 0 {
                c.properties.session_expiry_interval = Some(self.p.expiry_s);
            }
            self.send(&Packet::ConnAck(c))?;
        }
        self.write_meta();
        self.keep_will();
        self.resubscribe();
        self.redeliver()?;
        self.refill()
    }

    /// The connection came up: a durable session keeps its will (due 0:
    /// the connection is open) or drops one an earlier connection left
    /// (see `will.rs`).
    fn keep_will(&self) {
        if self.p.inc == 0 {
            return;
        }
        match &self.will {
            Some(w) => self.write(Record::Will(Box::new(StoredWill {
                due_ms: 0,
                delay_s: delay_of(w, self.version),
                will: (**w).clone(),
            }))),
            None => self.write(Record::DelWill),
        }
    }

    /// The Join of a member's shared filter (subscribe, resumption).
    pub fn share_join(&self, share: &str, shard: ShardId) -> Option<ShareMsg> {
        let (group, filter) = super::mesh::split(share)?;
        let f = self.p.filters.get(share)?;
        Some(ShareMsg::Join {
            key: (self.svc.realm.clone(), group, filter),
            client: self.client_id.to_string(),
            shard,
            token: self.token,
            qos: f.qos,
            sub_id: f.sub_id,
            mapping: self.svc.payload_mapping.clone(),
            strategy: self.svc.limits.shared_strategy,
        })
    }

    /// A persistent session gets an incarnation in the log (a realm with a
    /// file store), or loses it when it is no longer persistent.
    pub fn start_incarnation(&mut self) {
        if self.p.persistent() && self.p.inc == 0 && super::ctx::durable(&self.svc.realm) {
            self.p.inc = next_key(super::ctx::shard_index());
            super::ctx::adopt_incarnation();
        } else if !self.p.persistent() && self.p.inc != 0 {
            self.end_incarnation();
        }
    }

    /// The session's incarnation ends: its records go (`End`).
    pub fn end_incarnation(&mut self) {
        if self.p.inc != 0 {
            self.write(Record::End);
            self.p.inc = 0;
            super::ctx::drop_incarnation();
        }
    }

    /// The session ends: its shared-subscription memberships end too.
    pub fn leave_shares(&mut self) {
        let leaves: Vec<ShareMsg> = self
            .p
            .filters
            .keys()
            .filter_map(|f| super::mesh::leave_of(&self.svc, &self.client_id, self.token, f))
            .collect();
        self.chores().share.extend(leaves);
    }

    /// Subscribes the resumed session's filters again through this link
    /// (no retained messages: those come with a SUBSCRIBE only); its shared
    /// subscriptions join their groups from this shard.
    pub fn resubscribe(&mut self) {
        let filters: Vec<String> = self.p.filters.keys().cloned().collect();
        let me = ShardId(super::ctx::shard_index());
        for filter in filters {
            if let Some(join) = self.share_join(&filter, me) {
                self.chores().share.push(join);
                continue;
            }
            if let Some(f) = self.p.filters.get_mut(&filter) {
                f.wamp.clear();
            }
            for (uri, policy) in super::mapping::filter_to_wamp(&filter).wamp {
                let request = self.request();
                self.pending_subs.insert(
                    request,
                    PendingSub {
                        packet_id: None,
                        index: 0,
                        filter: filter.clone(),
                    },
                );
                self.resume.restoring += 1;
                self.todo
                    .push(super::mapping::wamp_subscribe(request, uri, policy, false));
            }
        }
        if self.resume.restoring == 0 {
            self.restored();
        }
        self.wake();
    }

    /// Every subscription of the resumed session is in place: the old link
    /// of this shard closes, or the shard the session came from sends the tail.
    fn restored(&mut self) {
        let links = std::mem::take(&mut self.resume.old_links);
        self.chores().close.extend(links);
        if let Some((shard, token)) = self.resume.from {
            let msg = Takeover::Subscribed {
                client: self.client_id.to_string(),
                token,
            };
            self.chores().front.push((shard, msg));
        }
        self.wake();
    }

    /// Whether an old link or a tail may still deliver what this link delivers.
    pub fn settling(&self) -> bool {
        !self.resume.old_links.is_empty() || self.resume.from.is_some()
    }

    /// Whether a publication was already delivered (through the old link or
    /// the tail); records it while either may still deliver.
    pub fn duplicate(&mut self, publication: PublicationId, retained: bool) -> bool {
        if retained || !self.settling() {
            if !self.resume.seen.is_empty() {
                self.resume.seen = IdSet::default();
            }
            return false;
        }
        !self.resume.seen.insert(publication)
    }

    /// The tail of a session that moved here: what its old shard queued
    /// after the move, less what this connection got itself.
    pub fn take_tail(&mut self, msgs: Vec<crate::store::mqtt::StoredMsg>) -> Result<(), Overflow> {
        let seen = std::mem::take(&mut self.resume.seen);
        self.resume.from = None;
        for m in msgs {
            if seen.contains(&PublicationId(m.publication)) {
                continue;
            }
            if let Some(p) = super::session::delivery(&m, self.version) {
                let p = super::out::PubOut { key: 0, ..p };
                if self.phase == Phase::Up {
                    self.deliver(p)?;
                } else {
                    let owner = Owner {
                        svc: &self.svc,
                        client: &self.client_id,
                    };
                    self.p.enqueue(owner, p);
                }
            }
        }
        Ok(())
    }

    /// Messages in flight when the session was resumed go out again: DUP
    /// PUBLISH, or PUBREL for a QoS 2 message whose PUBREC came.
    fn redeliver(&mut self) -> Result<(), Overflow> {
        let mut flights: Vec<(u16, PubOut, bool)> = self
            .p
            .inflight
            .iter()
            .map(|(pid, f)| (*pid, f.out.clone(), f.released))
            .collect();
        flights.sort_by_key(|(_, p, _)| p.key);
        for (pid, mut p, released) in flights {
            if released {
                let Some(id) = PacketId::new(pid) else {
                    continue;
                };
                self.send(&Packet::PubRel(PubResponse::new(id)))?;
                continue;
            }
            // A message stored for another version gets this one's template.
            if let Some(t) = p.msg.template(p.tmpl.qos(), self.version)
                && self.version != p.tmpl.version()
            {
                p.tmpl = t;
            }
            p.dup = true;
            p.packet_id = PacketId::new(pid);
            if p.wire_len() <= self.max_packet_out as usize {
                self.push_publish(p)?;
            }
        }
        Ok(())
    }

    /// The resumed session arrived from another shard (or none was found).
    pub fn install(&mut self, data: Option<SessionData>, from: Option<(ShardId, u64)>) {
        self.resume.awaiting = false;
        if let Some(d) = data {
            let expiry_s = self.p.expiry_s;
            let version = self.version;
            // The incarnation moves with it (counted once in the process).
            let mut p = Persist::unpack(d, self.owner(), version);
            p.expiry_s = expiry_s;
            self.resume.present = true;
            self.resume.from = from;
            self.p = p;
        } else if let Some((shard, token)) = from {
            // Nothing came but the old shard waits: tell it.
            let msg = Takeover::Subscribed {
                client: self.client_id.to_string(),
                token,
            };
            self.chores().front.push((shard, msg));
        }
        let _ = self.maybe_up();
        self.wake();
    }

    /// The node holds `mqtt_offline_store_sessions` persistent sessions: a
    /// CONNECT asking for a new one gets CONNACK 0x97 Quota exceeded (3.1.1:
    /// 3, server unavailable) and nothing of it is kept (no will either).
    fn over_quota(&mut self) {
        tracing::info!(client = %self.client_id,
            "MQTT CONNECT refused: the node keeps mqtt_offline_store_sessions persistent sessions");
        let mut c = ConnAck {
            session_present: false,
            code: ReasonCode::QuotaExceeded,
            properties: Default::default(),
        };
        if self.version == Version::V5 {
            c.properties.reason_string = MqttString::try_from("too many persistent sessions").ok();
        }
        self.connack = None;
        self.will = None;
        self.p.expiry_s = 0;
        let _ = self.send(&Packet::ConnAck(Box::new(c)));
        self.phase = Phase::Closing;
        self.close = Some(CloseReason::Normal);
    }

    /// ABORT while joining: CONNACK with the refusal, then close.
    pub fn refused(&mut self, reason: &str) {
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

/// The Will Delay Interval of `w` in seconds (3.1.1: 0).
pub fn delay_of(w: &Will, version: Version) -> u32 {
    match version {
        Version::V5 => w.properties.will_delay_interval.unwrap_or(0),
        Version::V311 => 0,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resume_slot_exists_only_while_something_is_under_way() {
        let mut r = ResumeSlot::default();
        assert!(!r.awaiting && r.from.is_none() && r.old_links.is_empty());
        assert!(r.take_old_wills().is_empty());
        assert!(!r.is_allocated(), "reading allocates nothing");
        r.from = Some((ShardId(1), 7));
        assert!(r.is_allocated());
        r.release_if_idle();
        assert_eq!(r.from, Some((ShardId(1), 7)), "kept while a tail may come");
        r.from = None;
        r.seen.insert(PublicationId(3));
        r.release_if_idle();
        assert!(r.is_allocated(), "kept while duplicates may come");
        r.seen.clear();
        r.release_if_idle();
        assert!(!r.is_allocated());
        assert!(r.seen.is_empty() && r.from.is_none());
    }
}
