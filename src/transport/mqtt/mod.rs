//! The MQTT front end: MQTT 3.1.1 and 5.0 clients as sessions of the
//! routing core. Devices publish and subscribe with MQTT, applications with
//! WAMP, through one broker.
//!
//! - `conn.rs`: the connection driver (CONNECT and CONNACK, reads into the
//!   shard's scratch buffer, vectored writes of shared PUBLISH encodings,
//!   keep-alive at 1.5 × the keep-alive, the will, takeover, closing);
//! - `inbound.rs`: the client's packets after CONNECT, as WAMP messages;
//! - `state.rs`: the connection's state (CONNACK, SUBACK, acknowledgements,
//!   the in-flight window, resumption);
//! - `session.rs`: the part of a session that outlives its connection, and
//!   its stored and moved forms;
//! - `sink.rs`: what the router delivers (EVENT → PUBLISH, one template per
//!   publication, QoS and version);
//! - `offline.rs`: persistent sessions while their client is away (their
//!   link kept, messages queued, expiry) and sessions read back at start;
//! - `ctx.rs`: the shard's handle on the session logs;
//! - `takeover.rs`: client identifiers across shards, session hand-over;
//! - `out.rs`: the outgoing queue (bounded in bytes, like the outbox);
//! - `mapping.rs`: topics ↔ URIs, filters → WAMP subscriptions, payloads.
//!
//! Every MQTT connection is one link of the core with an
//! [`Output::Sink`](crate::core::api::Output::Sink) output: the core
//! authenticates it (HELLO built from CONNECT: user name and password are
//! the `ticket` method), authorizes each topic as a WAMP URI, routes across
//! shards and keeps retained events; see docs/mqtt.md for the mapping.
//!
//! Imports `proto`, `config` and the core's front-end API; never the shard
//! runtime (the router is reached through [`RouterPort`]).

mod conn;
pub mod ctx;
pub mod inbound;
pub mod mapping;
pub mod offline;
pub mod out;
pub mod session;
pub mod sink;
pub mod state;
pub mod takeover;

use std::cell::Cell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use ahash::AHashMap;

use crate::config::mqtt::{MqttLimits, MqttService, PayloadFormat};
use crate::config::{TransportConfig, TransportKind};
use crate::core::api::{LinkId, LinkInfo, Output, Refused};
use crate::proto::Message;

pub use conn::serve_mqtt;

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
    /// ([`crate::core::ShardRouter::open_service`]): the link of a
    /// persistent session read back at start, until its client returns.
    fn open_service(&self, realm: &str, out: Output) -> Option<LinkId>;
    /// This shard and the shard count.
    fn shard(&self) -> (crate::proto::ShardId, u16);
    /// Sends a front-end message to another shard
    /// ([`crate::core::ShardRouter::send_front`]).
    fn send_front(&self, to: crate::proto::ShardId, msg: crate::core::cluster::FrontMsg);
}

/// [`takeover::Mesh`] over a [`RouterPort`].
struct PortMesh<'a>(&'a dyn RouterPort);

impl takeover::Mesh for PortMesh<'_> {
    fn shard(&self) -> (crate::proto::ShardId, u16) {
        self.0.shard()
    }

    fn send(&self, to: crate::proto::ShardId, msg: takeover::Takeover) {
        self.0
            .send_front(to, crate::core::cluster::FrontMsg(Box::new(msg)));
    }

    fn close_link(&self, link: LinkId) {
        self.0.close(link);
    }
}

/// Counters of one listener on this shard (logs, `$SYS`).
#[derive(Debug, Default)]
pub struct Stats {
    /// PUBLISH packets received.
    pub msgs_in: Cell<u64>,
    /// Topic and payload bytes of those.
    pub bytes_in: Cell<u64>,
    /// PUBLISH packets queued for clients.
    pub msgs_out: Cell<u64>,
    /// Their bytes on the wire.
    pub bytes_out: Cell<u64>,
    /// QoS 1/2 messages a full session queue dropped (`queue_overflow`).
    pub dropped: Cell<u64>,
}

impl Stats {
    /// `n` PUBLISH packets of `bytes` received.
    pub fn received(&self, n: u64, bytes: usize) {
        self.msgs_in.set(self.msgs_in.get() + n);
        self.bytes_in.set(self.bytes_in.get() + bytes as u64);
    }

    /// `n` PUBLISH packets of `bytes` queued for a client.
    pub fn sent(&self, n: u64, bytes: usize) {
        self.msgs_out.set(self.msgs_out.get() + n);
        self.bytes_out.set(self.bytes_out.get() + bytes as u64);
    }

    /// `n` messages dropped by a full queue.
    pub fn dropped(&self, n: u64) {
        self.dropped.set(self.dropped.get() + n);
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
    /// Counters.
    pub stats: Stats,
}

impl Service {
    /// The MQTT service `svc` of transport `t`.
    pub fn new(t: &TransportConfig, svc: &MqttService, queue_limit: usize) -> Service {
        let transport = TransportConfig::new(
            t.id.clone(),
            TransportKind::Mqtt(svc.clone()),
            t.endpoint.clone(),
        );
        Service {
            transport: Rc::new(transport),
            realm: svc.realm.clone(),
            payload_mapping: svc.payload_mapping.clone(),
            limits: svc.limits.clone(),
            topic_alias_max: TOPIC_ALIAS_MAX,
            connections: listener_counter(&t.id),
            queue_limit,
            stats: Stats::default(),
        }
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

thread_local! {
    /// The connections of this shard by client identifier (see
    /// [`takeover`] for identifiers connected on several shards).
    static CLIENTS: std::cell::RefCell<AHashMap<String, state::StateRef>> =
        std::cell::RefCell::new(AHashMap::new());
}

/// MQTT sessions connected on this shard (tests, `$SYS`).
pub fn clients_on_shard() -> usize {
    CLIENTS.with(|c| c.borrow().len())
}
