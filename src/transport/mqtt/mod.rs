//! The MQTT front end: MQTT 3.1.1 and 5.0 clients as sessions of the
//! routing core. Devices publish and subscribe with MQTT, applications with
//! WAMP, through one broker.
//!
//! - `driver.rs`: a connection's task through its phases, and its one
//!   wake path (the connection's own waker, which revives a parked one);
//!   `conn.rs`: the main phase (reads into the shard's
//!   scratch buffer, keep-alive at 1.5 × the keep-alive); `opening.rs`: its
//!   CONNECT phase and the session's start (takeover, the link, HELLO);
//!   `writes.rs`: vectored writes of shared PUBLISH encodings;
//!   `finish.rs`: the end (the will, the link kept or closed, closing);
//! - `inbound.rs`: the client's packets after CONNECT, as WAMP messages;
//! - `state.rs`: the connection's state, what every connection keeps;
//!   `rare.rs`: what only some use, in one box allocated while in use;
//!   `answers.rs`: the router's answers as CONNACK, SUBACK, PUBACK/PUBREC;
//!   `window.rs`: deliveries and the in-flight window; `lifecycle.rs`: the
//!   session installed, resumed, logged, its shared subscriptions;
//! - `park.rs`: an idle connection without a task (its socket and
//!   keep-alive in its state), revived by its own waker;
//! - `clients.rs`: the shard's table of client identifiers (connections
//!   here, and the holder of each identifier this shard owns);
//! - `keepalive.rs`: keep-alive enforced by one sweep per shard;
//! - `session.rs`: the part of a session that outlives its connection, and
//!   its stored and moved forms;
//! - `sink.rs`: what the router delivers (EVENT → PUBLISH, one template per
//!   publication, QoS and version);
//! - `offline.rs`: persistent sessions while their client is away (their
//!   link kept, messages queued, expiry) and sessions read back at start;
//! - `task.rs`: the shard's MQTT front end started (sessions read back
//!   from the logs) and its task (deferred work, `$SYS/`);
//! - `ctx.rs`: the shard-wide context (session logs, shard index, work
//!   deferred out of router calls, the count of durable sessions, clock);
//! - `share.rs`: `$share/{group}/{filter}` shared subscriptions;
//! - `sys.rs`: the `$SYS/` statistics topics;
//! - `calls.rs`: the CALLs of MQTT 5 requests waiting, and their answers;
//! - `request.rs`: MQTT 5 requests answered by WAMP procedures
//!   (`request_response`);
//! - `resume.rs`: a connection's takeover/resumption bookkeeping, allocated
//!   only while one is under way;
//! - `connect.rs`: the CONNECT phase's pieces (first packet, refusals,
//!   the HELLO a CONNECT stands for);
//! - `takeover.rs`: client identifiers across shards, session hand-over;
//! - `will.rs`: when a will is published (MQTT 5 Will Delay Interval), the
//!   stored will of a durable session;
//! - `mesh.rs`: what the front ends of different shards send each other
//!   (takeover and shared-subscription messages) and the owner shards;
//! - `out.rs`: the outgoing queue (bounded in bytes, like the outbox);
//! - `mapping.rs`: topics ↔ URIs, filters → WAMP subscriptions, payloads;
//! - `dynamic.rs`: the `dynamic` payload mapping (encoder and decoder
//!   procedures called by the client's session).
//!
//! Every MQTT connection is one link of the core with an
//! [`Output::Sink`] output: the core
//! authenticates it (HELLO built from CONNECT: user name and password are
//! the `ticket` method), authorizes each topic as a WAMP URI, routes across
//! shards and keeps retained events; see docs/mqtt.md for the mapping.
//!
//! Imports `proto`, `config` and the core's front-end API; never the shard
//! runtime (the router is reached through [`RouterPort`]).

pub mod answers;
pub mod calls;
pub mod clients;
pub mod codec;
mod conn;
mod connect;
pub mod ctx;
mod driver;
pub mod dynamic;
mod finish;
pub mod inbound;
mod keepalive;
pub mod lazy;
pub mod lifecycle;
pub mod mapping;
pub mod mesh;
pub mod offline;
mod opening;
pub mod out;
pub mod park;
pub mod rare;
pub mod request;
pub mod resume;
pub mod session;
pub mod share;
pub mod sink;
pub mod state;
pub mod sys;
pub mod takeover;
pub mod task;
pub mod will;
pub mod window;
mod writes;

use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use ahash::AHashMap;

use crate::config::mqtt::{MqttLimits, MqttService, PayloadFormat};
use crate::config::{TransportConfig, TransportKind};
use crate::core::api::{LinkId, LinkInfo, Output, Refused};
use crate::proto::Message;

pub use driver::{serve_mqtt, serve_mqtt_counted};

/// Topic aliases a client may set (5.0 Topic Alias Maximum announced in CONNACK).
pub const TOPIC_ALIAS_MAX: u16 = 64;

/// The router, as the MQTT front end sees it: the session API of its shard.
pub trait RouterPort {
    /// Opens a link ([`crate::core::ShardRouter::open`]).
    ///
    /// # Errors
    /// [`Refused`] at the shard's session limit.
    fn open(&self, info: LinkInfo, out: Output) -> Result<LinkId, Refused>;
    /// Feeds a message from the client ([`crate::core::ShardRouter::feed`]).
    fn feed(&self, link: LinkId, msg: Message);
    /// The link is gone ([`crate::core::ShardRouter::close`]).
    fn close(&self, link: LinkId);
    /// Opens a trusted in-process session in `realm`
    /// ([`crate::core::ShardRouter::open_trusted_service`]): the link of a
    /// persistent session read back at start, until its client returns.
    fn open_service(&self, realm: &str, out: Output) -> Option<LinkId>;
    /// Publishes on the router's own behalf
    /// ([`crate::core::ShardRouter::publish_as_router`]): the `$SYS/` topics.
    fn publish_as_router(&self, realm: &str, topic: &str, payload: crate::proto::Payload);
    /// This shard and the shard count.
    fn shard(&self) -> (crate::proto::ShardId, u16);
    /// Sends a front-end message to another shard
    /// ([`crate::core::ShardRouter::send_front`]).
    fn send_front(&self, to: crate::proto::ShardId, msg: crate::core::cluster::FrontMsg);
}

/// [`takeover::Mesh`] over a [`RouterPort`].
struct PortMesh<'a>(&'a dyn RouterPort);

impl mesh::Mesh for PortMesh<'_> {
    fn shard(&self) -> (crate::proto::ShardId, u16) {
        self.0.shard()
    }

    fn send(&self, to: crate::proto::ShardId, msg: mesh::Takeover) {
        self.0
            .send_front(to, crate::core::cluster::FrontMsg(Box::new(msg)));
    }

    fn close_link(&self, link: LinkId) {
        self.0.close(link);
    }

    fn send_front(&self, to: crate::proto::ShardId, msg: crate::core::cluster::FrontMsg) {
        self.0.send_front(to, msg);
    }

    fn open_service(&self, realm: &str, out: Output) -> Option<LinkId> {
        self.0.open_service(realm, out)
    }

    fn feed(&self, link: LinkId, msg: Message) {
        self.0.feed(link, msg);
    }
}

/// Shards with a slot of their own in [`Stats`] (more share slots).
const STAT_SLOTS: usize = 64;

/// One shard's counters of a listener, on a cache line of its own (each
/// shard adds to its slot only: no contention on the hot path).
#[derive(Debug, Default)]
#[repr(align(128))]
struct StatSlot {
    msgs_in: AtomicU64,
    bytes_in: AtomicU64,
    msgs_out: AtomicU64,
    bytes_out: AtomicU64,
    dropped: AtomicU64,
}

/// Counters of one listener, all shards together (`$SYS/`, logs).
#[derive(Debug)]
pub struct Stats {
    slots: Vec<StatSlot>,
}

/// The sums of a listener's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatTotals {
    /// PUBLISH packets received.
    pub msgs_in: u64,
    /// Topic and payload bytes of those.
    pub bytes_in: u64,
    /// PUBLISH packets queued for clients.
    pub msgs_out: u64,
    /// Their bytes on the wire.
    pub bytes_out: u64,
    /// QoS 1/2 messages a full session queue dropped (`queue_overflow`).
    pub dropped: u64,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            slots: (0..STAT_SLOTS).map(|_| StatSlot::default()).collect(),
        }
    }
}

impl Stats {
    fn slot(&self) -> &StatSlot {
        &self.slots[usize::from(ctx::shard_index()) % STAT_SLOTS]
    }

    /// `n` PUBLISH packets of `bytes` received.
    pub fn received(&self, n: u64, bytes: usize) {
        let s = self.slot();
        s.msgs_in.fetch_add(n, Ordering::Relaxed);
        s.bytes_in.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// `n` PUBLISH packets of `bytes` queued for a client.
    pub fn sent(&self, n: u64, bytes: usize) {
        let s = self.slot();
        s.msgs_out.fetch_add(n, Ordering::Relaxed);
        s.bytes_out.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// `n` messages dropped by a full queue.
    pub fn dropped(&self, n: u64) {
        self.slot().dropped.fetch_add(n, Ordering::Relaxed);
    }

    /// The sums over every shard.
    pub fn totals(&self) -> StatTotals {
        let mut t = StatTotals::default();
        for s in &self.slots {
            t.msgs_in += s.msgs_in.load(Ordering::Relaxed);
            t.bytes_in += s.bytes_in.load(Ordering::Relaxed);
            t.msgs_out += s.msgs_out.load(Ordering::Relaxed);
            t.bytes_out += s.bytes_out.load(Ordering::Relaxed);
            t.dropped += s.dropped.load(Ordering::Relaxed);
        }
        t
    }
}

/// One MQTT service (an `mqtt` transport, or a universal transport's
/// `mqtt`) as its connections see it.
#[derive(Debug)]
pub struct Service {
    /// The transport config links report (its `auth` is the service's).
    pub transport: Rc<TransportConfig>,
    /// The realm clients join.
    pub realm: String,
    /// Payload formats by URI prefix.
    pub payload_mapping: BTreeMap<String, PayloadFormat>,
    /// Limits.
    pub limits: MqttLimits,
    /// Topic aliases a client may set.
    pub topic_alias_max: u16,
    /// Connections held on this listener, all shards together.
    pub connections: Arc<AtomicUsize>,
    /// The router's outgoing queue bound per connection (bytes).
    pub queue_limit: usize,
    /// Counters of the listener (all shards and reloads together).
    pub stats: Arc<Stats>,
}

impl Service {
    /// The MQTT service `svc` of transport `t`.
    pub fn new(t: &TransportConfig, svc: &MqttService, queue_limit: usize) -> Service {
        let transport = t.service(TransportKind::Mqtt(svc.clone()));
        Service {
            transport: Rc::new(transport),
            realm: svc.realm.clone(),
            payload_mapping: svc.payload_mapping.clone(),
            limits: svc.limits.clone(),
            topic_alias_max: TOPIC_ALIAS_MAX,
            connections: listener_counter(&t.id),
            queue_limit,
            stats: listener_stats(&t.id),
        }
    }

    /// The service of the embedded default config's MQTT listener (tests).
    #[cfg(test)]
    pub(crate) fn default_for_tests() -> Service {
        let config = crate::config::Config::embedded_default();
        let t = config
            .transports
            .iter()
            .find(|t| t.id == "mqtt")
            .expect("the default config has an MQTT listener");
        Service::of(t, 1 << 20).expect("an MQTT service")
    }

    /// The MQTT service of a transport, if it has one.
    pub fn of(t: &TransportConfig, queue_limit: usize) -> Option<Service> {
        let svc = match &t.kind {
            TransportKind::Mqtt(s) => s,
            TransportKind::Universal(u) => u.mqtt.as_ref()?,
            _ => return None,
        };
        Some(Service::new(t, svc, queue_limit))
    }

    /// Counts a new connection; `false` when the listener is full.
    fn admit(&self) -> bool {
        let n = self.connections.fetch_add(1, Ordering::Relaxed);
        if n >= self.limits.max_connections {
            self.connections.fetch_sub(1, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// A connection admitted with [`Service::admit`] ended.
    fn release(&self) {
        self.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The process-wide connection counter of listener `id` (every shard's
/// [`Service`] of it shares one).
fn listener_counter(id: &str) -> Arc<AtomicUsize> {
    static COUNTERS: OnceLock<Mutex<AHashMap<String, Arc<AtomicUsize>>>> = OnceLock::new();
    let map = COUNTERS.get_or_init(Default::default);
    let mut map = map.lock().expect("listener counters are never poisoned");
    Arc::clone(map.entry(id.to_owned()).or_default())
}

/// The process-wide counters of listener `id`.
fn listener_stats(id: &str) -> Arc<Stats> {
    static STATS: OnceLock<Mutex<AHashMap<String, Arc<Stats>>>> = OnceLock::new();
    let map = STATS.get_or_init(Default::default);
    let mut map = map.lock().expect("listener stats are never poisoned");
    Arc::clone(map.entry(id.to_owned()).or_default())
}

/// MQTT sessions on this shard, connected or offline (tests, logs).
pub fn clients_on_shard() -> usize {
    clients::conns()
}

/// The router links of this shard's MQTT sessions held offline (their
/// client away): links without a connection, for the shard's report.
pub fn offline_links_on_shard() -> Vec<crate::core::api::LinkId> {
    clients::offline_links()
}
