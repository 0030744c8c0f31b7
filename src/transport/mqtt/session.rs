//! The part of an MQTT session that outlives its connection ([`Persist`]):
//! subscriptions, QoS 1/2 messages in flight to the client and queued behind
//! its window (or while it is away), incoming QoS 2 identifiers waiting for
//! PUBREL, the Session Expiry Interval. It moves whole between a connection
//! (`State`), the session while it is offline (the same
//! state, its link kept, see `offline.rs`), another shard ([`SessionData`], on a takeover) and the
//! realm's log ([`crate::store::mqtt`], when the realm has a file store).
//!
//! Messages are kept as [`PubOut`]s holding an `Rc` of the publication's
//! [`Msg`] (shared by every session of the shard that got it) and the
//! template of the session's protocol version; only a move to another shard
//! or to the log copies them ([`StoredMsg`]).

use std::cell::Cell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use super::Service;
use super::lazy::{Empty, Lazy};
use super::out::{Msg, PubOut, SubIds};
use crate::config::mqtt::QueueOverflow;
use crate::proto::SubscriptionId;
use crate::proto::mqtt::{PacketId, PublishTemplate, QoS, Version};
use crate::store::mqtt::{Record, SessionMeta, StoredFilter, StoredMsg};

/// A map keyed by identifiers the broker assigns or the protocol bounds
/// (packet and request identifiers, topic aliases): a hasher without
/// state (fixed keys), so the empty map of every idle connection is 32
/// bytes, not 64. Keys a client chooses freely (topics, filters) stay in
/// maps with per-map random keys ([`Filters`]).
pub type IdMap<K, V> = std::collections::HashMap<K, V, IdHasher>;

/// A set of such identifiers (see [`IdMap`]).
pub type IdSet<K> = std::collections::HashSet<K, IdHasher>;

/// The hasher of [`IdMap`] and [`IdSet`].
pub type IdHasher = std::hash::BuildHasherDefault<ahash::AHasher>;

/// A session's subscriptions by filter (client-chosen keys: random hash keys).
pub type FilterMap = HashMap<String, Filter, ahash::RandomState>;

/// The subscriptions of a session, allocated at the first.
pub type Filters = Lazy<FilterMap>;

impl<K: 'static, V: 'static> Empty for IdMap<K, V> {
    fn empty() -> &'static Self {
        const { &HashMap::with_hasher(IdHasher::new()) }
    }
}

impl<K: 'static> Empty for IdSet<K> {
    fn empty() -> &'static Self {
        const { &std::collections::HashSet::with_hasher(IdHasher::new()) }
    }
}

impl Empty for FilterMap {
    fn empty() -> &'static Self {
        thread_local! {
            static EMPTY: &'static FilterMap = Box::leak(Box::default());
        }
        EMPTY.with(|e| *e)
    }
}

/// Session Expiry Interval meaning "never" (MQTT 5: 0xFFFFFFFF).
pub const NEVER_EXPIRES: u32 = u32::MAX;

/// One MQTT subscription of a session.
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

impl Filter {
    /// The filter kept in the log.
    pub fn stored(&self, filter: &str) -> StoredFilter {
        StoredFilter {
            filter: filter.to_owned(),
            qos: self.qos,
            no_local: self.no_local,
            retain_as_published: self.retain_as_published,
            sub_id: self.sub_id,
        }
    }

    /// A filter from the log (or another shard), not subscribed yet.
    pub fn of_stored(f: &StoredFilter) -> Filter {
        Filter {
            qos: f.qos,
            no_local: f.no_local,
            retain_as_published: f.retain_as_published,
            sub_id: f.sub_id,
            exact: super::mapping::filter_to_wamp(&f.filter).exact,
            wamp: Vec::new(),
        }
    }
}

/// A QoS 1/2 message sent and not yet acknowledged.
#[derive(Debug, Clone)]
pub struct Inflight {
    /// The delivery (re-sent with DUP on resumption).
    pub out: PubOut,
    /// QoS 2: PUBREC received, PUBREL sent, waiting for PUBCOMP.
    pub released: bool,
}

/// Bytes queued in every session of the process (behind windows and
/// offline), against `mqtt_offline_store_bytes`.
static QUEUED_BYTES: AtomicU64 = AtomicU64::new(0);
/// The process-wide bound on [`QUEUED_BYTES`].
static QUEUED_LIMIT: AtomicU64 =
    AtomicU64::new(crate::config::mqtt::DEFAULT_MQTT_OFFLINE_STORE_BYTES);

/// Sets the process-wide bound on queued bytes (`mqtt_offline_store_bytes`).
pub fn set_offline_limit(bytes: u64) {
    QUEUED_LIMIT.store(bytes, Ordering::Relaxed);
}

/// Bytes queued in every session of the process now.
pub fn queued_bytes() -> u64 {
    QUEUED_BYTES.load(Ordering::Relaxed)
}

/// Persistent sessions in the process (connected or offline), against
/// `mqtt_offline_store_sessions`: [`SessionSlot`]'s counter 0 (1: the
/// tests').
static COUNTERS: [AtomicUsize; 2] = [AtomicUsize::new(0), AtomicUsize::new(0)];
/// The process's count of persistent sessions.
static SESSIONS: &AtomicUsize = &COUNTERS[0];
/// The process-wide bound on [`SESSIONS`].
static SESSIONS_LIMIT: AtomicUsize =
    AtomicUsize::new(crate::config::mqtt::DEFAULT_MQTT_OFFLINE_STORE_SESSIONS);

/// Sets the process-wide bound on persistent sessions
/// (`mqtt_offline_store_sessions`).
pub fn set_session_limit(n: usize) {
    SESSIONS_LIMIT.store(n, Ordering::Relaxed);
}

/// Persistent sessions in the process now.
pub fn persistent_sessions() -> usize {
    SESSIONS.load(Ordering::Relaxed)
}

/// A persistent session's place in the process-wide count: taken when a
/// new session is granted, given back when it is dropped (the session
/// ended, or moved to another shard, which takes its own).
///
/// One octet (the index of its counter in `COUNTERS`): an
/// `Option<SessionSlot>` fits beside [`Persist`]'s small fields.
#[derive(Debug)]
pub struct SessionSlot(u8);

impl SessionSlot {
    /// A place for a new session; `None` at `mqtt_offline_store_sessions`.
    pub fn take() -> Option<SessionSlot> {
        SessionSlot::take_in(0, SESSIONS_LIMIT.load(Ordering::Relaxed))
    }

    /// A place in counter `counter` for a new session; `None` when it is
    /// at `limit`.
    fn take_in(counter: u8, limit: usize) -> Option<SessionSlot> {
        COUNTERS[usize::from(counter)]
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < limit).then_some(n + 1)
            })
            .ok()
            .map(|_| SessionSlot(counter))
    }

    /// A place for a session that was admitted before (resumed on another
    /// shard, read back from the store): counted even above the bound.
    pub fn force() -> SessionSlot {
        SESSIONS.fetch_add(1, Ordering::Relaxed);
        SessionSlot(0)
    }
}

impl Drop for SessionSlot {
    fn drop(&mut self) {
        COUNTERS[usize::from(self.0)].fetch_sub(1, Ordering::Relaxed);
    }
}

/// The session state that outlives a connection.
#[derive(Debug, Default)]
pub struct Persist {
    /// Its place among the process's persistent sessions (`None` while it
    /// is not one).
    pub slot: Option<SessionSlot>,
    /// Its incarnation in the log (0: not written).
    pub inc: u64,
    /// Session Expiry Interval granted, seconds (0: ends with the connection).
    pub expiry_s: u32,
    /// Subscriptions by filter.
    pub filters: Filters,
    /// Outgoing QoS 1/2 messages in flight, by packet identifier.
    pub inflight: Lazy<IdMap<u16, Inflight>>,
    /// QoS 1/2 messages waiting for room in the in-flight window, or for
    /// the client (allocated with the first, freed with the last).
    pub waiting: Lazy<VecDeque<PubOut>>,
    /// Payload bytes in `waiting`.
    pub waiting_bytes: usize,
    /// Last packet identifier used.
    pub last_pid: u16,
    /// QoS 2 packet identifiers received, waiting for PUBREL.
    pub qos2_in: Lazy<IdSet<u16>>,
}

thread_local! {
    /// Last key handed out on this shard ([`next_key`]).
    static LAST_KEY: Cell<u64> = const { Cell::new(0) };
}

/// A key unique in the process and across restarts, rising on each shard:
/// Unix ms in the high bits, a counter, the shard in the low 8 bits. Names
/// session incarnations and the messages of a session (their order).
pub fn next_key(shard: u16) -> u64 {
    let base = (super::ctx::now_ms() << 22) | u64::from(shard & 0xFF);
    LAST_KEY.with(|l| {
        let next = base.max(l.get() + 256);
        l.set(next);
        next
    })
}

/// Who a session is, for its log records.
#[derive(Clone, Copy)]
pub struct Owner<'a> {
    /// Its listener.
    pub svc: &'a Service,
    /// Client identifier.
    pub client: &'a str,
}

impl Owner<'_> {
    /// Whether the session's records are written (a persistent session of
    /// a realm with a file store).
    fn durable(&self, p: &Persist) -> bool {
        p.inc != 0
    }

    /// Writes a record of the session (no-op for a session not kept durably).
    pub fn write(&self, p: &Persist, rec: Record) {
        if !self.durable(p) {
            return;
        }
        let r = super::ctx::with_log(|log| log.write(&self.svc.realm, self.client, p.inc, rec));
        if let Err(e) = r {
            super::ctx::log_write_error(&e);
        }
    }
}

impl Persist {
    /// A session that ends with its connection.
    pub fn new() -> Persist {
        Persist::default()
    }

    /// Whether it outlives the connection.
    pub fn persistent(&self) -> bool {
        self.expiry_s > 0
    }

    /// A packet identifier not in flight, or `None` when all 65,535 are.
    pub fn next_pid(&mut self) -> Option<PacketId> {
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

    /// The session's meta record.
    pub fn meta(&self, version: Version, listener: &str, online: bool) -> SessionMeta {
        SessionMeta {
            version,
            listener: listener.to_owned(),
            expiry_s: self.expiry_s,
            last_pid: self.last_pid,
            offline_since_ms: if online { 0 } else { super::ctx::now_ms() },
            filters: self.filters.iter().map(|(f, x)| x.stored(f)).collect(),
        }
    }

    /// Queues a QoS 1/2 message behind the window (or for a client that is
    /// away), within `max_queued_messages`, `max_queued_bytes` and the
    /// process-wide `mqtt_offline_store_bytes`; a full queue follows the
    /// listener's `queue_overflow`. Returns whether it was queued.
    pub fn enqueue(&mut self, owner: Owner<'_>, mut p: PubOut) -> bool {
        let limits = &owner.svc.limits;
        let len = p.tmpl.payload().len();
        let full = |s: &Persist| {
            let global = (
                QUEUED_BYTES.load(Ordering::Relaxed),
                QUEUED_LIMIT.load(Ordering::Relaxed),
            );
            queue_full(limits, (s.waiting.len(), s.waiting_bytes), global, len)
        };
        if full(self) {
            let dropped_old =
                limits.queue_overflow == QueueOverflow::DropOldest && !self.waiting.is_empty() && {
                    // Make room from the front, as far as this queue can.
                    while full(self) && !self.waiting.is_empty() {
                        if let Some(old) = self.pop_waiting() {
                            owner.write(self, Record::DelMsg(old.key));
                            owner.svc.stats.dropped(1);
                        }
                    }
                    !full(self)
                };
            if !dropped_old {
                owner.svc.stats.dropped(1);
                tracing::debug!(client = %owner.client, "session queue full: message dropped");
                return false;
            }
        }
        if p.key == 0 && self.inc != 0 {
            p.key = next_key(super::ctx::shard_index());
            owner.write(self, Record::Msg(Box::new(stored(&p, None, false))));
        }
        self.waiting_bytes += len;
        QUEUED_BYTES.fetch_add(len as u64, Ordering::Relaxed);
        self.waiting.push_back(p);
        true
    }

    /// Takes the oldest queued message.
    pub fn pop_waiting(&mut self) -> Option<PubOut> {
        let p = self.waiting.pop_front()?;
        let len = p.tmpl.payload().len();
        self.waiting_bytes -= len;
        QUEUED_BYTES.fetch_sub(len as u64, Ordering::Relaxed);
        Some(p)
    }

    /// Forgets every queued message (the session ends), keeping the
    /// process-wide count right.
    pub fn clear(&mut self) {
        self.slot = None;
        QUEUED_BYTES.fetch_sub(self.waiting_bytes as u64, Ordering::Relaxed);
        self.waiting = Lazy::default();
        self.waiting_bytes = 0;
        self.inflight.clear();
    }

    /// Packs the session for another shard: messages copied out of their
    /// shared form (in flight in the order they were sent, then the queue).
    pub fn pack(mut self, version: Version, listener: &str) -> SessionData {
        let mut inflight: Vec<(u16, Inflight)> = self.inflight.take().into_iter().collect();
        inflight.sort_by_key(|(_, f)| f.out.key);
        let inflight = inflight
            .into_iter()
            .map(|(pid, f)| stored(&f.out, Some(pid), f.released))
            .collect();
        let mut queue = Vec::with_capacity(self.waiting.len());
        while let Some(p) = self.pop_waiting() {
            queue.push(stored(&p, None, false));
        }
        SessionData {
            inc: self.inc,
            expiry_s: self.expiry_s,
            version,
            listener: listener.to_owned(),
            filters: self.filters.iter().map(|(f, x)| x.stored(f)).collect(),
            inflight,
            queue,
            qos2_in: self.qos2_in.iter().copied().collect(),
            last_pid: self.last_pid,
        }
    }

    /// A session from another shard (or the log), its messages as deliveries
    /// for `version`; expired ones are dropped (and deleted from the log).
    pub fn unpack(d: SessionData, owner: Owner<'_>, version: Version) -> Persist {
        let mut p = Persist {
            slot: Some(SessionSlot::force()),
            inc: d.inc,
            expiry_s: d.expiry_s,
            filters: d
                .filters
                .iter()
                .map(|f| (f.filter.clone(), Filter::of_stored(f)))
                .collect(),
            last_pid: d.last_pid,
            qos2_in: d.qos2_in.into_iter().collect(),
            ..Persist::default()
        };
        for m in d.inflight {
            let released = m.released;
            let Some(pid) = m.packet_id else { continue };
            match delivery(&m, version) {
                Some(out) => {
                    p.inflight.insert(pid, Inflight { out, released });
                }
                // Expired while in flight: the client never gets it again.
                None if !released => owner.write(&p, Record::DelMsg(m.key)),
                // A released QoS 2 message needs only PUBREL: keep a stand-in.
                None => {
                    if let Some(out) = delivery_ignoring_expiry(&m, version) {
                        p.inflight.insert(pid, Inflight { out, released });
                    }
                }
            }
        }
        for m in d.queue {
            match delivery(&m, version) {
                Some(out) => {
                    let len = out.tmpl.payload().len();
                    p.waiting_bytes += len;
                    QUEUED_BYTES.fetch_add(len as u64, Ordering::Relaxed);
                    p.waiting.push_back(out);
                }
                None => owner.write(&p, Record::DelMsg(m.key)),
            }
        }
        p
    }
}

/// Whether a queue of (messages, bytes), in a process whose sessions queue
/// (used, limit) bytes, has no room for a message of `len` payload bytes.
pub fn queue_full(
    limits: &crate::config::mqtt::MqttLimits,
    (msgs, bytes): (usize, usize),
    (used, limit): (u64, u64),
    len: usize,
) -> bool {
    msgs >= limits.max_queued_messages
        || bytes + len > limits.max_queued_bytes
        || used + len as u64 > limit
}

/// The stored form of a delivery.
pub fn stored(p: &PubOut, packet_id: Option<u16>, released: bool) -> StoredMsg {
    StoredMsg {
        key: p.key,
        publication: p.msg.publication.0,
        at_ms: p.msg.at_ms,
        qos: p.tmpl.qos(),
        retain: p.retain,
        packet_id,
        released,
        sub_ids: p.sub_ids.as_slice().to_vec(),
        topic: p.msg.topic.clone(),
        payload: p.msg.payload.clone(),
        props: p.msg.props.clone(),
    }
}

/// A delivery of a stored message for `version`; `None` when it expired.
pub fn delivery(m: &StoredMsg, version: Version) -> Option<PubOut> {
    let msg = Rc::new(Msg::of_stored(m));
    let tmpl = msg.template(m.qos, version)?;
    Some(pub_out(m, msg, tmpl))
}

fn delivery_ignoring_expiry(m: &StoredMsg, version: Version) -> Option<PubOut> {
    let mut msg = Msg::of_stored(m);
    msg.props.message_expiry_interval = None;
    let msg = Rc::new(msg);
    let tmpl = msg.template(m.qos, version)?;
    Some(pub_out(m, msg, tmpl))
}

fn pub_out(m: &StoredMsg, msg: Rc<Msg>, tmpl: Rc<PublishTemplate>) -> PubOut {
    let mut sub_ids = SubIds::None;
    for id in &m.sub_ids {
        sub_ids.push(*id);
    }
    PubOut {
        tmpl,
        msg,
        key: m.key,
        packet_id: m.packet_id.and_then(PacketId::new),
        dup: false,
        retain: m.retain,
        alias: None,
        send_topic: true,
        sub_ids,
    }
}

/// A session on its way to another shard (or read back from the log).
#[derive(Debug, Clone, PartialEq)]
pub struct SessionData {
    /// Its incarnation in the log (0: not kept durably).
    pub inc: u64,
    /// Session Expiry Interval, seconds.
    pub expiry_s: u32,
    /// Protocol version of its last connection.
    pub version: Version,
    /// The listener of its last connection.
    pub listener: String,
    /// Subscriptions.
    pub filters: Vec<StoredFilter>,
    /// Messages in flight, in the order they were sent.
    pub inflight: Vec<StoredMsg>,
    /// Queued messages, oldest first.
    pub queue: Vec<StoredMsg>,
    /// Incoming QoS 2 identifiers waiting for PUBREL.
    pub qos2_in: Vec<u16>,
    /// Last packet identifier used towards the client.
    pub last_pid: u16,
}

impl SessionData {
    /// A session read back from the log.
    pub fn of_restored(r: crate::store::mqtt::RestoredSession) -> SessionData {
        let (inflight, queue) = r.msgs.into_iter().partition(|m| m.packet_id.is_some());
        SessionData {
            inc: r.inc,
            expiry_s: r.meta.expiry_s,
            version: r.meta.version,
            listener: r.meta.listener,
            filters: r.meta.filters,
            inflight,
            queue,
            qos2_in: r.qos2_in,
            last_pid: r.meta.last_pid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::PublicationId;
    use crate::proto::mqtt::{MqttString, PublishProperties};
    use bytes::Bytes;

    #[test]
    fn persistent_sessions_are_counted_up_to_the_bound() {
        // The tests' counter (1): no other test uses it.
        let count = &COUNTERS[1];
        let a = SessionSlot::take_in(1, 2).expect("room for one");
        let b = SessionSlot::take_in(1, 2).expect("room for two");
        assert!(SessionSlot::take_in(1, 2).is_none(), "at the bound");
        assert_eq!(count.load(Ordering::Relaxed), 2);
        drop(a);
        assert_eq!(
            count.load(Ordering::Relaxed),
            1,
            "an ended session gives its place back"
        );
        let mut p = Persist {
            slot: SessionSlot::take_in(1, 2),
            expiry_s: 60,
            ..Persist::default()
        };
        assert!(p.slot.is_some());
        assert!(SessionSlot::take_in(1, 2).is_none());
        // A session moves whole (takeover on the shard): its place with it.
        let moved = std::mem::take(&mut p);
        assert!(moved.slot.is_some() && p.slot.is_none());
        assert_eq!(count.load(Ordering::Relaxed), 2);
        let mut moved = moved;
        moved.clear();
        assert_eq!(
            count.load(Ordering::Relaxed),
            1,
            "a cleared session gives it back"
        );
        drop(b);
        assert_eq!(count.load(Ordering::Relaxed), 0);
    }

    fn service(overflow: QueueOverflow, max_msgs: usize, max_bytes: usize) -> Service {
        let mut svc = Service::default_for_tests();
        svc.limits.queue_overflow = overflow;
        svc.limits.max_queued_messages = max_msgs;
        svc.limits.max_queued_bytes = max_bytes;
        svc
    }

    fn out(payload: &'static [u8], qos: QoS) -> PubOut {
        let m = Rc::new(Msg {
            publication: PublicationId(payload.len() as u64),
            topic: MqttString::try_from("a/b").expect("topic"),
            payload: Bytes::from_static(payload),
            props: PublishProperties::default(),
            at_ms: super::super::ctx::now_ms(),
        });
        PubOut::first(m.template(qos, Version::V5).expect("template"), m)
    }

    fn payloads(p: &Persist) -> Vec<Vec<u8>> {
        p.waiting
            .iter()
            .map(|o| o.tmpl.payload().to_vec())
            .collect()
    }

    #[test]
    fn a_full_queue_drops_the_new_message_or_the_oldest() {
        for (policy, kept) in [
            (QueueOverflow::DropNew, [b"m1", b"m2", b"m3"]),
            (QueueOverflow::DropOldest, [b"m3", b"m4", b"m5"]),
        ] {
            let svc = service(policy, 3, 1 << 20);
            let owner = Owner {
                svc: &svc,
                client: "c",
            };
            let mut p = Persist::new();
            let before = svc.stats.totals().dropped;
            let msgs: [&'static [u8]; 5] = [b"m1", b"m2", b"m3", b"m4", b"m5"];
            let queued: Vec<bool> = msgs
                .iter()
                .map(|m| p.enqueue(owner, out(m, QoS::AtLeastOnce)))
                .collect();
            let expect_queued = match policy {
                QueueOverflow::DropNew => vec![true, true, true, false, false],
                QueueOverflow::DropOldest => vec![true; 5],
            };
            assert_eq!(queued, expect_queued, "{policy:?}");
            assert_eq!(payloads(&p), kept.map(|k| k.to_vec()), "{policy:?}");
            assert_eq!(
                svc.stats.totals().dropped,
                before + 2,
                "{policy:?}: counted"
            );
            assert_eq!(p.waiting_bytes, 6);
            p.clear();
            assert_eq!(p.waiting_bytes, 0);
        }
    }

    #[test]
    fn queues_are_bounded_in_bytes_per_session_and_in_the_process() {
        let limits = crate::config::mqtt::MqttLimits {
            max_queued_messages: 100,
            max_queued_bytes: 10,
            ..Default::default()
        };
        assert!(
            !queue_full(&limits, (2, 6), (0, 1000), 4),
            "exactly the bound"
        );
        assert!(queue_full(&limits, (2, 6), (0, 1000), 5), "one byte over");
        assert!(queue_full(&limits, (100, 0), (0, 1000), 1), "message bound");
        assert!(!queue_full(&limits, (0, 0), (996, 1000), 4));
        assert!(queue_full(&limits, (0, 0), (997, 1000), 4), "process bound");
        // A bytes bound below one message: drop_oldest empties the queue and still drops it.
        let svc = service(QueueOverflow::DropOldest, 100, 3);
        let owner = Owner {
            svc: &svc,
            client: "c",
        };
        let mut p = Persist::new();
        let before = svc.stats.totals().dropped;
        assert!(p.enqueue(owner, out(b"abc", QoS::AtLeastOnce)));
        assert!(!p.enqueue(owner, out(b"abcd", QoS::AtLeastOnce)));
        assert!(p.waiting.is_empty(), "the old one made way, in vain");
        assert!(!p.waiting.is_allocated(), "and its queue is freed");
        assert_eq!(svc.stats.totals().dropped, before + 2);
    }

    #[test]
    fn a_packed_session_unpacks_with_its_messages_in_order() {
        let svc = service(QueueOverflow::DropNew, 100, 1 << 20);
        let owner = Owner {
            svc: &svc,
            client: "c",
        };
        let mut p = Persist::new();
        p.expiry_s = 60;
        p.last_pid = 7;
        p.qos2_in.insert(9);
        p.filters.insert(
            "a/+".into(),
            Filter::of_stored(&StoredFilter {
                filter: "a/+".into(),
                qos: QoS::ExactlyOnce,
                no_local: true,
                retain_as_published: false,
                sub_id: Some(4),
            }),
        );
        for (i, (payload, released)) in [(b"f1" as &'static [u8], false), (b"f2", true)]
            .into_iter()
            .enumerate()
        {
            let mut o = out(payload, QoS::ExactlyOnce);
            o.key = 10 + i as u64;
            o.packet_id = PacketId::new(5 + i as u16);
            p.inflight
                .insert(5 + i as u16, Inflight { out: o, released });
        }
        p.enqueue(owner, out(b"q1", QoS::AtLeastOnce));
        p.enqueue(owner, out(b"q2", QoS::AtLeastOnce));
        let data = p.pack(Version::V5, "mqtt");
        assert_eq!(data.inflight.len(), 2);
        assert_eq!(data.inflight[0].payload, Bytes::from_static(b"f1"));
        assert_eq!(data.inflight[1].packet_id, Some(6));
        assert!(data.inflight[1].released);
        assert_eq!(data.queue.len(), 2);
        assert_eq!(data.qos2_in, vec![9]);
        let back = Persist::unpack(data.clone(), owner, Version::V311);
        assert_eq!(back.expiry_s, 60);
        assert_eq!(back.last_pid, 7);
        assert!(back.qos2_in.contains(&9));
        let f = back.filters.get("a/+").expect("filter kept");
        assert_eq!(
            (f.qos, f.no_local, f.sub_id),
            (QoS::ExactlyOnce, true, Some(4))
        );
        assert_eq!(payloads(&back), vec![b"q1".to_vec(), b"q2".to_vec()]);
        let f6 = back.inflight.get(&6).expect("in flight kept");
        assert!(f6.released);
        assert_eq!(
            f6.out.tmpl.version(),
            Version::V311,
            "templates for the new version"
        );
        // A message that expired on the way is dropped.
        let mut data = data;
        data.queue[0].props.message_expiry_interval = Some(1);
        data.queue[0].at_ms = 1;
        let back = Persist::unpack(data, owner, Version::V5);
        assert_eq!(payloads(&back), vec![b"q2".to_vec()]);
    }

    #[test]
    fn lazy_maps_exist_only_while_they_have_entries() {
        let mut m: Lazy<IdMap<u16, &str>> = Lazy::default();
        assert!(m.is_empty() && m.get(&1).is_none());
        assert!(m.get_mut(&1).is_none() && m.remove(&1).is_none());
        assert!(!m.is_allocated(), "reads and misses allocate nothing");
        m.insert(1, "a");
        m.insert(2, "b");
        assert!(m.is_allocated());
        assert_eq!(m.remove(&1), Some("a"));
        assert!(m.is_allocated(), "kept while an entry is left");
        assert_eq!(m.get(&2), Some(&"b"));
        assert_eq!(m.remove(&2), Some("b"));
        assert!(!m.is_allocated(), "freed with the last entry");
        let f: Filters = std::iter::empty().collect();
        assert!(!f.is_allocated() && f.is_empty());
        let one = Filter::of_stored(&StoredFilter {
            filter: "a/b".into(),
            qos: QoS::AtMostOnce,
            no_local: false,
            retain_as_published: false,
            sub_id: None,
        });
        let f: Filters = [("a/b".to_owned(), one)].into_iter().collect();
        assert!(f.is_allocated() && f.contains_key("a/b"));
        assert!(std::mem::size_of::<Filters>() == std::mem::size_of::<usize>());
    }

    #[test]
    fn keys_rise_and_carry_the_shard() {
        let a = next_key(3);
        let b = next_key(3);
        assert!(b > a);
        assert_eq!(a & 0xFF, 3);
        assert_eq!(b & 0xFF, 3);
    }
}
