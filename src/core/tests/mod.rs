//! Routing-core tests: several `ShardRouter`s joined by an in-memory mesh,
//! driven by fake peers (no sockets). The mesh keeps FIFO order per shard pair
//! but interleaves pairs pseudo-randomly, which is what exercises the barriers.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;

use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::api::{FrontEnd, LinkId, LinkInfo, LocalLink, MessageQueue, Output};
use super::cluster::{Mesh, ShardMsg};
use super::outbox::{CloseReason, Outbox, OutboxRef};
use super::*;
use crate::config::{
    Allow, Config, Permission, RoleConfig, TransportAuth, TransportConfig, TransportKind,
};
use crate::proto::uri::MatchPolicy;
use crate::proto::*;

type Queues = Rc<RefCell<BTreeMap<(u16, u16), VecDeque<ShardMsg>>>>;

pub(crate) struct TestMesh {
    me: ShardId,
    queues: Queues,
}

impl Mesh for TestMesh {
    fn send(&mut self, to: ShardId, msg: ShardMsg) {
        self.queues
            .borrow_mut()
            .entry((self.me.0, to.0))
            .or_default()
            .push_back(msg);
    }
}

/// The core's in-memory journal: what shards hand over, kept like the file
/// store's image (the last retained event per topic, every history event in
/// order), shared by the shards of a cluster and by a cluster built after a
/// "restart". It also counts hand-overs per shard, to check that each event
/// is handed over once, by its writer.
#[derive(Clone, Default)]
pub(crate) struct MemJournal {
    shard: Option<ShardId>,
    kept: Rc<RefCell<MemKept>>,
}

#[derive(Default)]
pub(crate) struct MemKept {
    /// (realm, topic) → retained event.
    pub retained: BTreeMap<(u32, String), (u64, std::sync::Arc<cluster::RoutedPublish>)>,
    /// History events in the order handed over.
    pub history: Vec<journal::StoredEvent>,
    /// Hand-overs (retained, history) per shard.
    pub by_shard: BTreeMap<u16, (usize, usize)>,
}

impl MemJournal {
    fn for_shard(&self, shard: ShardId) -> MemJournal {
        MemJournal {
            shard: Some(shard),
            kept: Rc::clone(&self.kept),
        }
    }

    pub(crate) fn kept(&self) -> std::cell::Ref<'_, MemKept> {
        self.kept.borrow()
    }

    fn count(&self, retained: usize, history: usize) {
        let s = self.shard.map_or(u16::MAX, |s| s.0);
        let mut k = self.kept.borrow_mut();
        let e = k.by_shard.entry(s).or_default();
        e.0 += retained;
        e.1 += history;
    }
}

impl journal::EventJournal for MemJournal {
    fn stored(&mut self, realm: u32) -> Vec<journal::StoredEvent> {
        let k = self.kept.borrow();
        let history = k.history.iter().filter(|e| match e {
            journal::StoredEvent::History { publish, .. } => publish.realm == realm,
            journal::StoredEvent::Retained { .. } => false,
        });
        let retained = k
            .retained
            .iter()
            .filter(|((r, _), _)| *r == realm)
            .map(|(_, (t, p))| journal::StoredEvent::Retained {
                time_ns: *t,
                publish: std::sync::Arc::clone(p),
            });
        history.cloned().chain(retained).collect()
    }

    fn keep_retained(
        &mut self,
        realm: u32,
        p: &std::sync::Arc<cluster::RoutedPublish>,
        time_ns: u64,
    ) {
        self.count(1, 0);
        self.kept.borrow_mut().retained.insert(
            (realm, p.topic.clone()),
            (time_ns, std::sync::Arc::clone(p)),
        );
    }

    fn keep_history(
        &mut self,
        _realm: u32,
        uri: &str,
        policy: MatchPolicy,
        p: &std::sync::Arc<cluster::RoutedPublish>,
        time_ns: u64,
    ) {
        self.count(0, 1);
        self.kept
            .borrow_mut()
            .history
            .push(journal::StoredEvent::History {
                uri: uri.to_owned(),
                policy,
                time_ns,
                publish: std::sync::Arc::clone(p),
            });
    }
}

pub(crate) struct Cluster {
    pub(crate) routers: Vec<ShardRouter>,
    queues: Queues,
    pub(crate) rng: SmallRng,
    pub(crate) transport: Rc<TransportConfig>,
}

#[derive(Clone)]
pub(crate) struct Peer {
    pub(crate) shard: usize,
    pub(crate) conn: LinkId,
    pub(crate) outbox: OutboxRef,
    pub(crate) serializer: Serializer,
}

pub(crate) fn test_config() -> Config {
    let mut c = Config::embedded_default();
    c.realms.push(crate::config::RealmConfig {
        name: "realm2".into(),
        uri_check: Default::default(),
        roles: c.realms[0].roles.clone(),
        store: Default::default(),
        prefer_local_callee: false,
        call_queue: Vec::new(),
    });
    c.realms.push(crate::config::RealmConfig {
        name: "restricted".into(),
        uri_check: Default::default(),
        roles: vec![RoleConfig {
            name: "anonymous".into(),
            permissions: vec![Permission {
                uri: "com.allowed.".into(),
                match_policy: MatchPolicy::Prefix,
                allow: Allow {
                    call: true,
                    register: true,
                    publish: true,
                    subscribe: true,
                },
                disclose: Default::default(),
            }],
            trustlevel: None,
        }],
        store: Default::default(),
        prefer_local_callee: false,
        call_queue: Vec::new(),
    });
    c
}

impl Cluster {
    pub(crate) fn new(shards: u16) -> Cluster {
        Cluster::with_config(shards, test_config())
    }

    pub(crate) fn with_config(shards: u16, config: Config) -> Cluster {
        Cluster::build(shards, config, None)
    }

    /// A cluster whose shards keep retained events and history in `journal`
    /// (and start with what it holds).
    pub(crate) fn with_journal(shards: u16, config: Config, journal: &MemJournal) -> Cluster {
        Cluster::build(shards, config, Some(journal))
    }

    fn build(shards: u16, config: Config, journal: Option<&MemJournal>) -> Cluster {
        let queues: Queues = Rc::default();
        let routers = (0..shards)
            .map(|s| {
                let mesh = TestMesh {
                    me: ShardId(s),
                    queues: Rc::clone(&queues),
                };
                match journal {
                    Some(j) => ShardRouter::with_journal(
                        ShardId(s),
                        shards,
                        &config,
                        Box::new(mesh),
                        Box::new(j.for_shard(ShardId(s))),
                    ),
                    None => ShardRouter::new(ShardId(s), shards, &config, Box::new(mesh)),
                }
            })
            .collect();
        let transport = Rc::new(TransportConfig {
            id: "test".into(),
            kind: TransportKind::RawSocket(Default::default()),
            endpoint: crate::config::Endpoint::Tcp {
                host: "127.0.0.1".into(),
                port: 0,
            },
            serializers: Serializer::ALL.to_vec(),
            auth: TransportAuth::default(),
            routes: None,
        });
        Cluster {
            routers,
            queues,
            rng: SmallRng::seed_from_u64(7),
            transport,
        }
    }

    /// Delivers one queued cross-shard message from a random non-empty pair.
    pub(crate) fn step(&mut self) -> bool {
        let pick = {
            let q = self.queues.borrow();
            let pairs: Vec<(u16, u16)> = q
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, _)| *k)
                .collect();
            if pairs.is_empty() {
                return false;
            }
            pairs[self.rng.random_range(0..pairs.len())]
        };
        let msg = self
            .queues
            .borrow_mut()
            .get_mut(&pick)
            .and_then(VecDeque::pop_front)
            .expect("non-empty");
        self.routers[pick.1 as usize].shard_msg(ShardId(pick.0), msg);
        true
    }

    pub(crate) fn pump(&mut self) {
        while self.step() {}
    }

    pub(crate) fn connect_raw(
        &mut self,
        shard: usize,
        serializer: Serializer,
        queue_limit: usize,
    ) -> Peer {
        self.connect_limited(shard, serializer, queue_limit, None)
    }

    /// Like `connect_raw`, for a peer that accepts messages up to `max_outbound` bytes.
    pub(crate) fn connect_limited(
        &mut self,
        shard: usize,
        serializer: Serializer,
        queue_limit: usize,
        max_outbound: Option<usize>,
    ) -> Peer {
        let outbox = Outbox::new_ref(queue_limit);
        let mut info = LinkInfo::new(Rc::clone(&self.transport), FrontEnd::RawSocket, "test");
        info.set_max_outbound(max_outbound);
        let out = Output::Wire {
            outbox: Rc::clone(&outbox),
            serializer,
        };
        let conn = self.routers[shard].open(info, out).expect("open");
        Peer {
            shard,
            conn,
            outbox,
            serializer,
        }
    }

    /// A connected peer that has joined `realm`; returns it and its session ID.
    pub(crate) fn join(
        &mut self,
        shard: usize,
        serializer: Serializer,
        realm: &str,
    ) -> (Peer, SessionId) {
        let p = self.connect_raw(shard, serializer, 1 << 20);
        self.send(
            &p,
            Message::Hello(Hello {
                realm: Some(realm.into()),
                details: Dict::new(),
            }),
        );
        match self.recv(&p).as_slice() {
            [Message::Welcome(w)] => (p, w.session),
            other => panic!("expected WELCOME, got {other:?}"),
        }
    }

    /// Sends `msg` as the peer would: encoded in its serializer and fed to
    /// the router as a frame (so every test also runs the decoder).
    pub(crate) fn send(&mut self, p: &Peer, msg: Message) {
        let bytes = p.serializer.encode(&msg);
        self.routers[p.shard].feed_frame(p.conn, &bytes);
    }

    /// An in-process link on `shard` that sends and receives typed messages.
    pub(crate) fn connect_local(&mut self, shard: usize) -> LocalLink {
        self.connect_local_as(shard, FrontEnd::Internal)
    }

    /// As [`Cluster::connect_local`], for a front end of kind `kind`.
    pub(crate) fn connect_local_as(&mut self, shard: usize, kind: FrontEnd) -> LocalLink {
        let queue = MessageQueue::new_ref(1 << 20);
        let info = LinkInfo::new(Rc::clone(&self.transport), kind, "local");
        let id = self.routers[shard]
            .open(info, Output::Typed(Rc::clone(&queue)))
            .expect("open");
        LocalLink { id, queue }
    }

    pub(crate) fn recv(&mut self, p: &Peer) -> Vec<Message> {
        let mut frames = VecDeque::new();
        p.outbox.borrow_mut().drain_into(&mut frames);
        frames
            .into_iter()
            .map(|f| p.serializer.decode(&f).expect("router output decodes"))
            .collect()
    }

    fn recv_frames(&mut self, p: &Peer) -> Vec<Bytes> {
        let mut frames = VecDeque::new();
        p.outbox.borrow_mut().drain_into(&mut frames);
        frames.into_iter().collect()
    }

    pub(crate) fn subscribe(
        &mut self,
        p: &Peer,
        req: u64,
        topic: &str,
        options: Dict,
    ) -> SubscriptionId {
        self.send(
            p,
            Message::Subscribe(Subscribe {
                request: RequestId(req),
                options,
                topic: topic.into(),
            }),
        );
        self.pump();
        match self.recv(p).as_slice() {
            [Message::Subscribed(s)] if s.request == RequestId(req) => s.subscription,
            other => panic!("expected SUBSCRIBED, got {other:?}"),
        }
    }

    fn register(&mut self, p: &Peer, req: u64, procedure: &str, options: Dict) -> Message {
        self.send(
            p,
            Message::Register(Register {
                request: RequestId(req),
                options,
                procedure: procedure.into(),
            }),
        );
        self.pump();
        let mut got = self.recv(p);
        assert_eq!(got.len(), 1, "one reply to REGISTER: {got:?}");
        got.remove(0)
    }

    pub(crate) fn publish(
        &mut self,
        p: &Peer,
        req: u64,
        topic: &str,
        options: Dict,
        payload: Payload,
    ) {
        self.send(
            p,
            Message::Publish(Publish {
                request: RequestId(req),
                options,
                topic: topic.into(),
                payload,
            }),
        );
    }

    pub(crate) fn close(&mut self, p: &Peer) {
        self.routers[p.shard].close(p.conn);
    }

    pub(crate) fn index_entries(&self) -> usize {
        self.routers
            .iter()
            .map(ShardRouter::index_entry_count)
            .sum()
    }
}

pub(crate) fn args(v: Vec<Value>) -> Payload {
    Payload::args(v)
}

pub(crate) fn events(msgs: &[Message]) -> Vec<&Event> {
    msgs.iter()
        .filter_map(|m| match m {
            Message::Event(e) => Some(e),
            _ => None,
        })
        .collect()
}

pub(crate) fn error_uri(m: &Message) -> &str {
    match m {
        Message::Error(e) => &e.error,
        other => panic!("expected ERROR, got {other:?}"),
    }
}

/// Joins realm1 on `shard` as a peer that accepts messages up to `max` bytes.
pub(crate) fn join_limited(c: &mut Cluster, shard: usize, max: usize) -> Peer {
    let p = c.connect_limited(shard, Serializer::Json, 1 << 20, Some(max));
    c.send(
        &p,
        Message::Hello(Hello {
            realm: Some("realm1".into()),
            details: Dict::new(),
        }),
    );
    assert!(matches!(c.recv(&p).as_slice(), [Message::Welcome(_)]));
    p
}

mod api;
mod auth;
mod auth_dynamic;
mod auth_tls;
mod basic;
mod call_queue;
mod limits;
mod null_realm;
mod ops;
mod oversize;
mod passthru;
mod pubsub;
mod pubsub_meta;
mod registration;
mod rpc;
mod rpc_registry;
mod sharded;
