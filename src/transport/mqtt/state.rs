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
use std::rc::Rc;
use std::task::Waker;

use super::Service;
pub use super::calls::{CallAnswer, PendingCall, Requests};
use super::ctx::now_ms;
use super::mesh::{ShareMsg, Takeover};
use super::out::{Item, OutQueue, PubOut};
pub use super::rare::{Chores, PendingSub, PendingSuback, Rare};
pub use super::resume::{Resume, ResumeSlot};
use super::session::{IdMap, IdSet, Inflight, Lazy, Owner, Persist, SessionData, next_key, stored};
use crate::core::api::LinkId;
use crate::core::outbox::{CloseReason, Overflow};
use crate::proto::mqtt::{
    AckProperties, ConnAck, Disconnect, MqttString, Packet, PacketId, PubResponse, QoS, ReasonCode,
    SubAck, Version, Will,
};
use crate::proto::{PublicationId, RequestId, SessionId, ShardId, SubscriptionId};
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

impl State {
    /// The router answered CALL `request` (the sink): kept for the task
    /// when the call is one of this connection's requests.
    pub fn call_answered(
        &mut self,
        request: RequestId,
        outcome: Result<crate::proto::Payload, (String, crate::proto::Payload)>,
    ) {
        if let Some(r) = &mut self.rare.requests
            && r.calls.contains_key(&request)
        {
            r.answers.push(CallAnswer { request, outcome });
            self.wake();
        }
    }
}

/// One client's connection: what every connection uses, inline; what only
/// some use, in [`Rare`] (one box, allocated while in use).
#[derive(Debug)]
pub struct State {
    /// The service (listener) it connected to.
    pub svc: Rc<Service>,
    /// Client identifier.
    pub client_id: Rc<str>,
    /// This connection, among the client identifier's connections (takeover).
    pub token: u64,
    /// The router link, once opened.
    pub link: Option<LinkId>,
    /// The WAMP session, once welcomed.
    pub session: Option<SessionId>,
    /// What to write.
    pub out: OutQueue,
    /// The connection task, parked until there is something to do.
    pub waker: Option<Waker>,
    /// The session part that outlives the connection.
    pub p: Persist,
    /// WAMP subscription → the filters it carries.
    pub wamp_subs: Lazy<IdMap<SubscriptionId, Vec<String>>>,
    /// Last WAMP request ID used.
    pub last_request: u64,
    /// The last publication queued and its position in `out`, to merge
    /// overlapping subscriptions into one delivery (the publication's ID,
    /// never 0, as `NonZeroU64` and the position as `u32`: 16 bytes).
    pub last_delivery: Option<(std::num::NonZeroU64, u32)>,
    /// What only some connections use.
    pub rare: Lazy<Rare>,
    /// Most messages in flight to the client (its Receive Maximum, or the
    /// configured default for 3.1.1).
    pub send_max: u16,
    /// QoS 1/2 messages from the client not yet acknowledged (5.0 Receive Maximum).
    pub inflight_in: u16,
    /// Protocol version.
    pub version: Version,
    /// Where the connection stands.
    pub phase: Phase,
    /// WELCOME came.
    pub welcomed: bool,
    /// The CONNECT asked for a session that outlives it (a Session Expiry
    /// Interval above 0; 3.1.1: clean session 0).
    pub expiry_asked: bool,
}

/// The shared handle.
pub type StateRef = Rc<RefCell<State>>;

impl State {
    /// A connection of `version` on `svc`.
    pub fn new(svc: Rc<Service>, version: Version, client_id: impl Into<Rc<str>>) -> State {
        let send_max = svc.limits.max_inflight.max(1);
        State {
            svc,
            client_id: client_id.into(),
            token: 0,
            link: None,
            session: None,
            out: OutQueue::new(),
            waker: None,
            p: Persist::new(),
            wamp_subs: Lazy::default(),
            last_request: 0,
            last_delivery: None,
            rare: Lazy::default(),
            send_max,
            inflight_in: 0,
            version,
            phase: Phase::Joining,
            welcomed: false,
            expiry_asked: false,
        }
    }

    /// Frees what only some connections use once none of it is in use
    /// (the connection task calls it when it has nothing left to do).
    pub fn tidy(&mut self) {
        if let Some(r) = self.rare.allocated_mut() {
            if self.phase == Phase::Up {
                // The CONNACK has gone: the credentials are not needed again.
                r.password = None;
                r.credentials = false;
                r.resume.release_if_idle();
            }
        }
        self.rare.free_if_empty();
    }

    /// The messages to feed the router, taken (without allocating).
    pub fn take_todo(&mut self) -> Vec<crate::proto::Message> {
        self.rare
            .allocated_mut()
            .map(|r| std::mem::take(&mut r.todo))
            .unwrap_or_default()
    }

    /// The chores, allocated at the first.
    pub fn chores(&mut self) -> &mut Chores {
        self.rare.chores.get_or_insert_with(Box::default)
    }

    /// The chores, taken (none kept: their room goes too).
    pub fn take_chores(&mut self) -> Chores {
        self.rare
            .allocated_mut()
            .and_then(|r| r.chores.take())
            .map(|c| *c)
            .unwrap_or_default()
    }

    /// The shared-subscription messages among the chores, taken.
    pub fn take_share_chores(&mut self) -> Vec<ShareMsg> {
        self.rare
            .allocated_mut()
            .and_then(|r| r.chores.as_mut())
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
            self.out.push(item, self.svc.queue_limit)?;
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
        if self.rare.close.is_none() {
            self.rare.close = Some(CloseReason::Normal);
        }
        self.wake();
    }

    /// Queues a delivery: QoS 0 at once; QoS 1/2 into the in-flight window
    /// with a fresh packet identifier, or behind it (bounded, see
    /// [`Persist::enqueue`]) when it is full.
    pub fn deliver(&mut self, mut p: PubOut) -> Result<bool, Overflow> {
        if p.wire_len() > self.rare.max_packet_out as usize {
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
        if self.rare.alias_out_max > 0 && self.version == Version::V5 {
            self.assign_alias(&mut p);
        }
        let len = p.wire_len();
        self.out.push(Item::Publish(p), self.svc.queue_limit)?;
        self.svc.stats.sent(1, len);
        self.wake();
        Ok(())
    }

    /// Outgoing topic aliases: a topic gets the next free alias until the
    /// client's maximum; later deliveries of it send the alias alone.
    fn assign_alias(&mut self, p: &mut PubOut) {
        let topic = p.tmpl.topic().clone();
        let rare = &mut *self.rare;
        let max = usize::from(rare.alias_out_max);
        let aliases = rare.aliases_out.get_or_insert_with(Box::default);
        if let Some(&a) = aliases.get(&topic) {
            p.alias = Some(a);
            p.send_topic = false;
        } else if aliases.len() < max {
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
        while let Some(front) = self.rare.subacks.front() {
            if front.waiting > 0 {
                break;
            }
            let s = self.rare.subacks.pop_front().expect("front exists");
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
        let Some(p) = self.rare.pending_subs.remove(&request) else {
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
            self.rare.resume.restoring = self.rare.resume.restoring.saturating_sub(1);
            if self.rare.resume.restoring == 0 {
                self.restored();
            }
            return Ok(());
        };
        if let Some(s) = self
            .rare
            .subacks
            .iter_mut()
            .find(|s| s.packet_id == packet_id)
        {
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
        let Some((pid, qos, retain)) = self.rare.pending_pubs.remove(&request) else {
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
        self.rare.password = None;
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
        if self.phase != Phase::Joining || !self.welcomed || self.rare.resume.awaiting {
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
        if let Some(mut c) = self.rare.connack.take() {
            c.session_present = self.rare.resume.present;
            if self.version == Version::V5 && self.expiry_asked {
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
        match &self.rare.will {
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
                self.rare.pending_subs.insert(
                    request,
                    PendingSub {
                        packet_id: None,
                        index: 0,
                        filter: filter.clone(),
                    },
                );
                self.rare.resume.restoring += 1;
                self.rare
                    .todo
                    .push(super::mapping::wamp_subscribe(request, uri, policy, false));
            }
        }
        if self.rare.resume.restoring == 0 {
            self.restored();
        }
        self.wake();
    }

    /// Every subscription of the resumed session is in place: the old link
    /// of this shard closes, or the shard the session came from sends the tail.
    fn restored(&mut self) {
        let links = std::mem::take(&mut self.rare.resume.old_links);
        self.chores().close.extend(links);
        if let Some((shard, token)) = self.rare.resume.from {
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
        !self.rare.resume.old_links.is_empty() || self.rare.resume.from.is_some()
    }

    /// Whether a publication was already delivered (through the old link or
    /// the tail); records it while either may still deliver.
    pub fn duplicate(&mut self, publication: PublicationId, retained: bool) -> bool {
        if retained || !self.settling() {
            if !self.rare.resume.seen.is_empty() {
                self.rare.resume.seen = IdSet::default();
            }
            return false;
        }
        !self.rare.resume.seen.insert(publication)
    }

    /// The tail of a session that moved here: what its old shard queued
    /// after the move, less what this connection got itself.
    pub fn take_tail(&mut self, msgs: Vec<crate::store::mqtt::StoredMsg>) -> Result<(), Overflow> {
        let seen = std::mem::take(&mut self.rare.resume.seen);
        self.rare.resume.from = None;
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
            if p.wire_len() <= self.rare.max_packet_out as usize {
                self.push_publish(p)?;
            }
        }
        Ok(())
    }

    /// The resumed session arrived from another shard (or none was found).
    pub fn install(&mut self, data: Option<SessionData>, from: Option<(ShardId, u64)>) {
        self.rare.resume.awaiting = false;
        if let Some(d) = data {
            let expiry_s = self.p.expiry_s;
            let version = self.version;
            // The incarnation moves with it (counted once in the process).
            let mut p = Persist::unpack(d, self.owner(), version);
            p.expiry_s = expiry_s;
            self.rare.resume.present = true;
            self.rare.resume.from = from;
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
        self.rare.connack = None;
        self.rare.will = None;
        self.p.expiry_s = 0;
        let _ = self.send(&Packet::ConnAck(Box::new(c)));
        self.phase = Phase::Closing;
        self.rare.close = Some(CloseReason::Normal);
    }

    /// ABORT while joining: CONNACK with the refusal, then close.
    pub fn refused(&mut self, reason: &str) {
        let code = match reason {
            "wamp.error.no_such_realm" | "wamp.error.no_such_role" => ReasonCode::ServerUnavailable,
            "wamp.error.not_authorized"
            | "wamp.error.authentication_failed"
            | "wamp.error.no_auth_method"
            | "wamp.error.authorization_failed" => {
                if self.rare.credentials {
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
        self.rare.connack = None;
        let _ = self.send(&Packet::ConnAck(Box::new(c)));
        self.phase = Phase::Closing;
        self.rare.close = Some(CloseReason::Normal);
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

    #[test]
    fn a_connection_that_is_up_keeps_no_rare_box() {
        let svc = Rc::new(Service::default_for_tests());
        let mut s = State::new(svc, Version::V5, "c");
        assert!(!s.rare.is_allocated(), "a new state has none");
        s.rare.connack = Some(Box::new(ConnAck {
            session_present: false,
            code: ReasonCode::Success,
            properties: Default::default(),
        }));
        s.rare.password = Some("pw".into());
        s.rare.credentials = true;
        s.tidy();
        assert!(s.rare.is_allocated(), "joining: the credentials stay");
        s.link = Some(LinkId(1));
        s.welcomed(SessionId(5)).expect("CONNACK queued");
        assert_eq!(s.phase, Phase::Up);
        assert_eq!(s.out.items.len(), 1, "the CONNACK");
        s.tidy();
        assert!(!s.rare.is_allocated(), "up and idle: freed: {:?}", &*s.rare);
        s.rare.will = Some(Box::new(Will {
            topic: MqttString::try_from("w").expect("topic"),
            payload: bytes::Bytes::from_static(b"gone"),
            qos: QoS::AtMostOnce,
            retain: false,
            properties: Default::default(),
        }));
        s.tidy();
        assert!(s.rare.is_allocated(), "a will is kept");
        assert!(!s.rare.credentials && s.rare.password.is_none());
    }
}
