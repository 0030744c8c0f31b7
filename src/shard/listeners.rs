//! One shard's listeners: binding the config's transports, one accept task
//! each, and changing them on a reload without a gap.
//!
//! A reload is two steps so that it can be refused before anything changed:
//! [`Listeners::prepare`] binds every listener the new config needs (new
//! transports, changed endpoints) and fails if one cannot be bound; then the
//! router applies the config and [`Listeners::commit`] starts the new
//! accept tasks and stops the ones of removed or rebound transports
//! (dropping a task closes its socket). A transport whose endpoint stayed
//! keeps its socket; if its other settings changed (serializers, auth,
//! WebSocket options) new connections get them and existing ones keep what
//! they were accepted with. `endpoint.tls` does not count as the endpoint:
//! every reload reads the keys and certificates again ([`TlsSet::load`], on
//! the node's thread) and swaps each TLS listener's acceptor in place, so new
//! handshakes use the new certificate and no session is dropped.
//!
//! A node may start the listeners *held* ([`Opening::Held`]): every socket
//! is bound and listening (clients connect and wait in the kernel's
//! backlog), but only the named transports accept until the node opens the
//! rest ([`Listeners::open`]). The node holds its clients this way while the
//! router's own components join, as Crossbar starts a router's components
//! before its transports.
//!
//! Each accepted connection is placed ([`super::placement`]): served here,
//! or handed to the shard the placement chose, whose adopting task (one per
//! shard, [`Listeners::new`]) serves it with that shard's copy of the
//! transport.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::channel::oneshot;
use futures::future::Shared;

use super::placement::{Counted, Handoff, Placement};
use super::ports::Hooks;
use super::request::ListenerChanges;
use super::{ListenAddr, RunError, bound_transport, endpoint_text};
use crate::config::{Endpoint, TransportConfig, TransportKind};
use crate::core::ShardRouter;
use crate::proto::ShardId;
use crate::transport::listener::Accepted;
use crate::transport::tls::TlsAcceptor;
use crate::transport::{self, Listener, Listening, Stream};

/// When a shard's listeners start accepting.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Opening {
    /// Every listener accepts as soon as it is bound.
    #[default]
    AtOnce,
    /// Only the transports with these IDs accept at once; the others are
    /// bound but accept only once the node opens them
    /// ([`RouterControl::open`](super::RouterControl::open)).
    Held {
        /// The transports that accept at once.
        except: Vec<String>,
    },
}

/// Resolves once a held shard's listeners are opened.
type Opened = Shared<oneshot::Receiver<()>>;

/// A held shard's listeners, until the node opens them.
struct Gate {
    /// The transports that accept at once.
    except: Vec<String>,
    /// Sending (or dropping it) opens the gate.
    open: oneshot::Sender<()>,
    opened: Opened,
}

/// What an accept task hands to new connections (the transport, prepared);
/// replaced in place when a reload changes settings other than the endpoint.
type ConfigCell = Rc<RefCell<Rc<Listening>>>;

/// What a shard is asked to serve.
#[derive(Clone, Copy)]
pub(super) struct Wanted<'a> {
    /// Every transport to listen on, in the config's order (the router's
    /// transports, then the `websocket-testee` workers').
    pub transports: &'a [TransportConfig],
    /// The IDs of the transports that are `websocket-testee` workers'.
    pub testees: &'a [String],
    /// The router-wide message limit (`limits.max_message_size`).
    pub max_message_size: usize,
}

impl Wanted<'_> {
    /// Prepares `t` (real port) for serving: a web transport's site is built
    /// here, once per listener.
    fn listening(&self, t: TransportConfig) -> Result<Listening, RunError> {
        if self.testees.contains(&t.id) {
            return Ok(Listening::testee(Rc::new(t)));
        }
        Ok(Listening::new(Rc::new(t), self.max_message_size)?)
    }
}

/// The TLS acceptor an accept task hands new connections to (`None`:
/// plaintext); replaced in place by every reload.
type TlsCell = Rc<RefCell<Option<Arc<TlsAcceptor>>>>;

/// The acceptors of a config's TLS listeners, by transport ID: built once
/// (reading the files) on the node's thread and shared by every shard, so
/// that they share one session-ticket key (a client resumes on any shard).
#[derive(Debug, Default)]
pub struct TlsSet(HashMap<String, Arc<TlsAcceptor>>);

impl TlsSet {
    /// Builds the acceptor of every TLS transport of `transports`.
    ///
    /// # Errors
    /// [`RunError::Tls`] for the first whose files do not load.
    pub fn load(transports: &[TransportConfig]) -> Result<TlsSet, RunError> {
        let mut set = HashMap::new();
        for t in transports {
            if let Some(built) = transport::tls::for_transport(t) {
                let acceptor = built.map_err(|error| RunError::Tls {
                    transport: t.id.clone(),
                    error,
                })?;
                set.insert(t.id.clone(), Arc::new(acceptor));
            }
        }
        Ok(TlsSet(set))
    }

    /// The acceptor of transport `id`, if it has TLS.
    pub fn get(&self, id: &str) -> Option<Arc<TlsAcceptor>> {
        self.0.get(id).cloned()
    }
}

/// What serving a connection of one transport needs on this shard, shared
/// by the transport's accept task and the shard's adopting task.
struct Entry {
    /// The transport ID.
    id: String,
    /// Its config as bound (real port).
    config: ConfigCell,
    /// Its TLS acceptor.
    tls: TlsCell,
    /// The MQTT service of the transport's current config (rebuilt when a
    /// reload changes the config).
    mqtt: RefCell<Option<(Rc<Listening>, Option<transport::MqttPort>)>>,
}

/// One transport this shard listens on.
struct Served {
    /// What its connections are served with.
    entry: Rc<Entry>,
    /// The dialable URL.
    url: String,
    /// The accept task; dropping or cancelling it closes the socket.
    task: glommio::Task<()>,
}

/// This shard's side of connection placement: what its accept tasks and
/// its adopting task share.
struct Place {
    /// This shard.
    shard: usize,
    /// Every shard's counts and inboxes.
    shared: Arc<Placement>,
    router: Rc<RefCell<ShardRouter>>,
    /// The router as MQTT front ends see it.
    port: Rc<dyn transport::mqtt::RouterPort>,
    /// The transports served here, for connections handed over by ID.
    entries: RefCell<Vec<Rc<Entry>>>,
}

impl Place {
    /// Serves `stream` of transport `entry` on this shard, counted by `counted`.
    fn serve(&self, entry: &Entry, stream: Stream, peer: String, counted: Counted) {
        let queue_limit = self.router.borrow().limits().outbound_queue_bytes;
        let t = Rc::clone(&entry.config.borrow());
        let acceptor = entry.tls.borrow().clone();
        if t.is_testee() {
            // An echo: room for a whole message of the largest size the
            // testee takes, twice, or the queue limit.
            let max = match &t.transport().kind {
                TransportKind::WebSocket(ws) => ws.options.max_message_size,
                _ => 0,
            };
            let hooks = transport::testee::EchoHooks::new(queue_limit.max(max.saturating_mul(2)));
            spawn_served(acceptor, stream, peer, t, hooks, None, counted);
            return;
        }
        let hooks = Hooks::new(Rc::clone(&self.router), queue_limit);
        let port = {
            let mut mqtt = entry.mqtt.borrow_mut();
            if !mqtt.as_ref().is_some_and(|(c, _)| Rc::ptr_eq(c, &t)) {
                let m = transport::mqtt::Service::of(t.transport(), queue_limit).map(|s| {
                    transport::MqttPort {
                        service: Rc::new(s),
                        router: Rc::clone(&self.port),
                    }
                });
                *mqtt = Some((Rc::clone(&t), m));
            }
            mqtt.as_ref().and_then(|(_, m)| m.clone())
        };
        spawn_served(acceptor, stream, peer, t, hooks, port, counted);
    }

    /// Places a connection this shard accepted on `entry`'s listener: serves
    /// it here, or hands it to the shard the placement chose.
    fn accepted(&self, entry: &Entry, accepted: Accepted) {
        let conn = match accepted {
            Accepted::Here(stream, peer) => {
                self.serve(entry, stream, peer, self.shared.count(self.shard));
                return;
            }
            Accepted::Movable(conn) => conn,
        };
        let to = self.shared.target(self.shard);
        let (conn, counted) = if to == self.shard {
            (conn, self.shared.count(to))
        } else {
            let h = Handoff {
                transport: entry.id.clone(),
                conn,
                counted: self.shared.count(to),
            };
            match self.shared.hand(to, h) {
                Ok(()) => return,
                // The target stopped meanwhile: served here.
                Err(h) => (h.conn, self.shared.count(self.shard)),
            }
        };
        let (stream, peer) = conn.attach();
        self.serve(entry, stream, peer, counted);
    }

    /// Serves the connections other shards hand to this one, until cancelled.
    async fn adopt(self: Rc<Place>) {
        loop {
            let h = self.shared.next(self.shard).await;
            let entry = self
                .entries
                .borrow()
                .iter()
                .find(|e| e.id == h.transport)
                .cloned();
            match entry {
                Some(e) => {
                    let (stream, peer) = h.conn.attach();
                    self.serve(&e, stream, peer, h.counted);
                }
                // A reload closed the transport here meanwhile: dropping
                // the connection closes it.
                None => tracing::debug!(
                    transport = %h.transport,
                    peer = h.conn.peer(),
                    "connection handed over for a transport this shard no longer serves"
                ),
            }
        }
    }
}

/// A listener bound for a transport, not accepting yet.
pub(super) struct Bound {
    listener: Listener,
    /// The transport with its real port, prepared.
    config: Listening,
    url: String,
}

impl Bound {
    /// The transport with its real port, and its URL.
    pub fn resolved(&self) -> (TransportConfig, String) {
        (self.config.transport().as_ref().clone(), self.url.clone())
    }
}

/// What [`Listeners::prepare`] bound, to [`Listeners::commit`].
pub(super) struct Plan {
    /// New listeners, by transport ID (new transports and changed endpoints).
    bound: Vec<Bound>,
    /// Transports whose endpoint stayed, with their new config (real port kept).
    kept: Vec<Listening>,
    /// Transports served now and not in the new config.
    closed: Vec<String>,
}

impl Plan {
    /// Every transport this shard will serve after the commit, with its URL,
    /// in the config's order.
    pub fn resolved(
        &self,
        order: &[TransportConfig],
        current: &Listeners,
    ) -> Vec<(TransportConfig, String)> {
        order
            .iter()
            .filter_map(|t| {
                if let Some(b) = self.bound.iter().find(|b| b.config.transport().id == t.id) {
                    return Some(b.resolved());
                }
                let k = self.kept.iter().find(|k| k.transport().id == t.id)?;
                let url = current
                    .served
                    .iter()
                    .find(|s| s.entry.id == t.id)?
                    .url
                    .clone();
                Some((k.transport().as_ref().clone(), url))
            })
            .collect()
    }
}

/// This shard's listeners.
pub(super) struct Listeners {
    served: Vec<Served>,
    /// What the accept tasks and the adopting task share.
    place: Rc<Place>,
    /// The adopting task: serves connections other shards place here.
    adopt: Option<glommio::Task<()>>,
    /// Held listeners, until the node opens them (`None`: open).
    gate: Option<Gate>,
}

/// Whether shard `shard` serves `t` (Unix sockets: shard 0 only).
fn serves(shard: ShardId, t: &TransportConfig) -> bool {
    shard.0 == 0 || !matches!(t.endpoint, Endpoint::Unix { .. })
}

/// Binds `t` on this executor.
fn bind(t: &TransportConfig, wanted: Wanted<'_>) -> Result<Bound, RunError> {
    let listener = transport::listener::bind(&t.endpoint).map_err(|source| RunError::Bind {
        endpoint: endpoint_text(&t.endpoint),
        source,
    })?;
    let (config, url) = bound_transport(t, &listener.local_addr_string());
    let config = wanted.listening(config)?;
    Ok(Bound {
        listener,
        config,
        url,
    })
}

/// Whether a transport bound at `old` (real port) still listens where `new` says:
/// the same endpoint, or the same host with port 0 (any port: keep the one it
/// has). TLS settings do not count (the acceptor is swapped in place), but
/// turning TLS on or off does.
fn same_endpoint(old: &Endpoint, new: &Endpoint) -> bool {
    let tls = |e: &Endpoint| matches!(e, Endpoint::TcpTls { .. });
    match (old.tcp(), new.tcp()) {
        (Some((h1, p1)), Some((h2, p2))) => {
            tls(old) == tls(new) && h1 == h2 && (p2 == 0 || p1 == p2)
        }
        _ => old == new,
    }
}

impl Listeners {
    /// No listeners yet, on shard `shard` of a router whose placement state
    /// is `placement`, accepting as `opening` says; starts the task that
    /// serves connections other shards hand to this one.
    pub fn new(
        shard: ShardId,
        placement: Arc<Placement>,
        router: &Rc<RefCell<ShardRouter>>,
        opening: Opening,
    ) -> Listeners {
        let place = Rc::new(Place {
            shard: shard.index(),
            shared: placement,
            router: Rc::clone(router),
            port: Rc::new(super::ports::FrontPort(Rc::clone(router))),
            entries: RefCell::default(),
        });
        let adopt = glommio::spawn_local(Rc::clone(&place).adopt());
        let gate = match opening {
            Opening::AtOnce => None,
            Opening::Held { except } => {
                let (open, opened) = oneshot::channel();
                Some(Gate {
                    except,
                    open,
                    opened: opened.shared(),
                })
            }
        };
        Listeners {
            served: Vec::new(),
            place,
            adopt: Some(adopt),
            gate,
        }
    }

    /// Opens held listeners: they accept from now on (and so does every
    /// listener a reload adds). Opening twice changes nothing.
    pub fn open(&mut self) {
        if let Some(gate) = self.gate.take() {
            let _ = gate.open.send(());
        }
    }

    /// Sets the packing threshold (`junction.pack_connections`, a reload).
    pub fn set_pack(&self, pack: usize) {
        self.place.shared.set_pack(pack);
    }

    /// The transports served here, for the adopting task.
    fn sync_entries(&self) {
        *self.place.entries.borrow_mut() =
            self.served.iter().map(|s| Rc::clone(&s.entry)).collect();
    }

    /// Binds every transport of `wanted` this shard serves.
    ///
    /// # Errors
    /// [`RunError::Bind`] for the first that cannot be bound,
    /// [`RunError::Web`] for a web transport that cannot be served.
    pub fn bind_all(shard: ShardId, wanted: Wanted<'_>) -> Result<Vec<Bound>, RunError> {
        wanted
            .transports
            .iter()
            .filter(|t| serves(shard, t))
            .map(|t| bind(t, wanted))
            .collect()
    }

    /// Starts accepting on `bound`, TLS listeners with their acceptor of `tls`.
    pub fn start(&mut self, bound: Vec<Bound>, tls: &TlsSet) {
        for b in bound {
            let id = b.config.transport().id.clone();
            let entry = Rc::new(Entry {
                tls: Rc::new(RefCell::new(tls.get(&id))),
                config: Rc::new(RefCell::new(Rc::new(b.config))),
                mqtt: RefCell::default(),
                id,
            });
            let held = self
                .gate
                .as_ref()
                .filter(|g| !g.except.contains(&entry.id))
                .map(|g| g.opened.clone());
            let task = accept_loop(b.listener, Rc::clone(&entry), Rc::clone(&self.place), held);
            self.served.push(Served {
                entry,
                url: b.url,
                task,
            });
        }
        self.sync_entries();
    }

    /// What this shard listens on.
    pub fn addrs(&self) -> Vec<ListenAddr> {
        self.served
            .iter()
            .map(|s| ListenAddr {
                transport: s.entry.id.clone(),
                url: s.url.clone(),
            })
            .collect()
    }

    /// Stops accepting everywhere (closes the sockets) and taking
    /// connections from other shards.
    pub async fn close_all(&mut self) {
        self.place.shared.close(self.place.shard);
        for s in self.served.drain(..) {
            s.task.cancel().await;
        }
        self.sync_entries();
        if let Some(adopt) = self.adopt.take() {
            adopt.cancel().await;
        }
    }

    /// First step of a reload: binds what `transports` needs that this
    /// shard does not listen on yet. Nothing changes if it fails.
    ///
    /// # Errors
    /// [`RunError::Bind`] for the first listener that cannot be bound.
    pub fn prepare(&self, shard: ShardId, wanted: Wanted<'_>) -> Result<Plan, RunError> {
        let mut plan = Plan {
            bound: Vec::new(),
            kept: Vec::new(),
            closed: Vec::new(),
        };
        let served: Vec<&TransportConfig> = wanted
            .transports
            .iter()
            .filter(|t| serves(shard, t))
            .collect();
        for t in &served {
            match self.served.iter().find(|s| s.entry.id == t.id) {
                Some(s)
                    if same_endpoint(
                        &s.entry.config.borrow().transport().endpoint,
                        &t.endpoint,
                    ) =>
                {
                    let mut kept = (*t).clone();
                    kept.endpoint = s.entry.config.borrow().transport().endpoint.clone();
                    plan.kept.push(wanted.listening(kept)?);
                }
                _ => plan.bound.push(bind(t, wanted)?),
            }
        }
        plan.closed = self
            .served
            .iter()
            .filter(|s| !served.iter().any(|t| t.id == s.entry.id))
            .map(|s| s.entry.id.clone())
            .collect();
        Ok(plan)
    }

    /// Second step of a reload: new configs for the transports kept, new
    /// accept tasks, the old ones stopped. Keeps the config's order.
    pub async fn commit(
        &mut self,
        plan: Plan,
        order: &[TransportConfig],
        tls: &TlsSet,
    ) -> ListenerChanges {
        let mut changes = ListenerChanges::default();
        for k in plan.kept {
            if let Some(s) = self.served.iter().find(|s| s.entry.id == k.transport().id) {
                let acceptor = tls.get(&k.transport().id);
                if acceptor.is_some() {
                    changes.tls_reloaded.push(k.transport().id.clone());
                }
                *s.entry.tls.borrow_mut() = acceptor;
                // Always the new one (the router-wide limits may have
                // changed); reported only where the transport did.
                if **s.entry.config.borrow().transport() != **k.transport() {
                    changes.updated.push(k.transport().id.clone());
                }
                *s.entry.config.borrow_mut() = Rc::new(k);
            }
        }
        let mut stopped = Vec::new();
        for b in plan.bound {
            let id = b.config.transport().id.clone();
            match self.served.iter().position(|s| s.entry.id == id) {
                Some(i) => {
                    stopped.push(self.served.remove(i));
                    changes.rebound.push(id);
                }
                None => changes.opened.push(id),
            }
            self.start(vec![b], tls);
        }
        for id in plan.closed {
            if let Some(i) = self.served.iter().position(|s| s.entry.id == id) {
                stopped.push(self.served.remove(i));
                changes.closed.push(id);
            }
        }
        for s in stopped {
            s.task.cancel().await;
        }
        self.served.sort_by_key(|s| {
            order
                .iter()
                .position(|t| t.id == s.entry.id)
                .unwrap_or(usize::MAX)
        });
        self.sync_entries();
        changes
    }
}

/// Accepts connections on `listener` until cancelled (once `held` resolves,
/// if given) and places each ([`Place::accepted`]); each is served with the
/// transport's current config and the router's current limits.
fn accept_loop(
    listener: Listener,
    entry: Rc<Entry>,
    place: Rc<Place>,
    held: Option<Opened>,
) -> glommio::Task<()> {
    glommio::spawn_local(async move {
        if let Some(opened) = held {
            // Sent or dropped: open either way.
            let _ = opened.await;
        }
        loop {
            match listener.accept_movable().await {
                Ok(accepted) => place.accepted(&entry, accepted),
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    glommio::timer::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    })
}

/// Serves an accepted connection on its own task: on a TLS listener the
/// handshake first, on a task of its own that ends with it, then the front
/// end on the decrypted stream in a task of the same shape as a plaintext
/// connection's (a held TLS session keeps nothing of its handshake's task).
/// `counted` keeps the connection in its shard's count until it ends.
fn spawn_served<H: transport::ConnectionHooks + 'static>(
    acceptor: Option<Arc<TlsAcceptor>>,
    stream: transport::Stream,
    peer: String,
    t: Rc<Listening>,
    hooks: H,
    port: Option<transport::MqttPort>,
    counted: Counted,
) {
    let mut counted = Some(counted);
    let Some(acceptor) = acceptor else {
        // An MQTT connection takes the count (it may outlive this task).
        let serve = transport::serve(stream, peer, &t, hooks, port, &mut counted);
        glommio::spawn_local(Counting {
            serve,
            _counted: counted,
        })
        .detach();
        return;
    };
    glommio::spawn_local(async move {
        let id = &t.transport().id;
        let handshake = Box::pin(transport::tls::accept(acceptor, stream, &peer, id));
        if let Some(stream) = handshake.await {
            let serve = transport::serve(stream, peer, &t, hooks, port, &mut counted);
            glommio::spawn_local(Counting {
                serve,
                _counted: counted,
            })
            .detach();
        }
    })
    .detach();
}

/// A connection's task: its front end, counted on its shard until the task
/// ends (or is dropped). A plain struct rather than an `async` block, which
/// would add a state tag: a held connection's task grows by the count's
/// pointer only.
struct Counting {
    /// The front end (`transport::serve`).
    serve: std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>,
    /// Held, not read: its drop ends the count (`None`: the connection
    /// took it, see `transport::serve`).
    _counted: Option<Counted>,
}

impl std::future::Future for Counting {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        self.serve.as_mut().poll(cx)
    }
}

/// Refuses a TCP address another process already listens on, before any
/// shard binds it. Every shard binds with `SO_REUSEPORT`, and the kernel
/// lets such a socket join a listener of *another* process of the same
/// user: a router left running would then silently take part of the
/// connections. A probe bound without `SO_REUSEPORT` (still with
/// `SO_REUSEADDR`, so connections in TIME_WAIT do not count) fails instead.
/// Only at start: a reload binds beside the router's own listeners.
///
/// # Errors
/// [`RunError::Bind`] with `AddrInUse` naming the address.
pub(super) fn refuse_taken_ports(transports: &[TransportConfig]) -> Result<(), RunError> {
    for t in transports {
        let Some((host, port)) = t.endpoint.tcp() else {
            continue;
        };
        if port == 0 {
            continue;
        }
        match std::net::TcpListener::bind((host, port)) {
            // Connections of an earlier router still closing (FIN_WAIT,
            // without SO_REUSEADDR) also fail the probe: only a socket
            // listening on the port means another server.
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && listening_on(port) => {
                return Err(RunError::Bind {
                    endpoint: endpoint_text(&t.endpoint),
                    source: std::io::Error::new(
                        std::io::ErrorKind::AddrInUse,
                        "another process listens there (a router still running?)",
                    ),
                });
            }
            // Other failures (no such address, permission): the shards'
            // own bind reports them with its error.
            Ok(_) | Err(_) => {}
        }
    }
    Ok(())
}

/// Whether some socket of this network namespace listens on TCP port
/// `port` (`/proc/net/tcp` and `tcp6`, state `0A`); unreadable: assumed so.
fn listening_on(port: u16) -> bool {
    let local = format!(":{port:04X}");
    let mut readable = false;
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        readable = true;
        let listening = text.lines().skip(1).any(|l| {
            let mut fields = l.split_whitespace();
            let addr = fields.nth(1).unwrap_or("");
            let state = fields.nth(1).unwrap_or("");
            addr.ends_with(&local) && state == "0A"
        });
        if listening {
            return true;
        }
    }
    !readable
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(port: u16) -> TransportConfig {
        let mut config = crate::config::Config::embedded_default();
        let mut t = config.transports.remove(0);
        t.endpoint = Endpoint::Tcp {
            host: "127.0.0.1".into(),
            port,
        };
        t
    }

    #[test]
    fn a_connections_task_grows_by_its_count_only() {
        // The front end's boxed future (16 octets) and the count's pointer.
        assert_eq!(std::mem::size_of::<Counting>(), 24);
        let p = Placement::new(2, 4);
        {
            let done = std::pin::pin!(Counting {
                serve: Box::pin(std::future::ready(())),
                _counted: Some(p.count(1)),
            });
            assert_eq!(p.counts(), vec![0, 1]);
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            assert!(done.poll(&mut cx).is_ready());
        }
        assert_eq!(p.counts(), vec![0, 0], "the count ends with the task");
    }

    #[test]
    fn a_port_another_process_shares_by_reuseport_is_refused() {
        // What a second router would find: a listener with SO_REUSEPORT.
        let other = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("socket");
        other.set_reuse_port(true).expect("reuseport");
        let any: std::net::SocketAddr = "127.0.0.1:0".parse().expect("addr");
        other.bind(&any.into()).expect("bind");
        other.listen(8).expect("listen");
        let port = other
            .local_addr()
            .expect("addr")
            .as_socket()
            .expect("inet")
            .port();
        let err = refuse_taken_ports(&[tcp(port)]).expect_err("taken");
        let text = err.to_string();
        assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
        assert!(text.contains("another process listens there"), "{text}");
        drop(other);
        refuse_taken_ports(&[tcp(port)]).expect("free again");
        refuse_taken_ports(&[tcp(0)]).expect("any port");
    }

    #[test]
    fn connections_of_an_earlier_router_do_not_hold_the_port() {
        // An earlier router's listener (SO_REUSEPORT only, as the ring's)
        // gone, one of its connections still open on the port.
        let old = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("socket");
        old.set_reuse_port(true).expect("reuseport");
        let any: std::net::SocketAddr = "127.0.0.1:0".parse().expect("addr");
        old.bind(&any.into()).expect("bind");
        old.listen(8).expect("listen");
        let addr = old.local_addr().expect("addr").as_socket().expect("inet");
        let client = std::net::TcpStream::connect(addr).expect("connect");
        let (served, _) = old.accept().expect("accept");
        drop(old);
        assert!(!listening_on(addr.port()), "nobody listens any more");
        refuse_taken_ports(&[tcp(addr.port())]).expect("only a connection is left");
        drop((client, served));
    }
}
