//! The thread-per-core runtime: one glommio executor per core ("shard"), each
//! owning the connections it accepted and a [`ShardRouter`] for them, joined
//! by a channel mesh that carries [`ShardMsg`](crate::core::cluster::ShardMsg)s.
//!
//! - Shards run only on the CPUs the process may run on ([`allowed_cpus`]:
//!   its affinity mask), one pinned per CPU; by default there is one shard per
//!   allowed CPU, and asking for more is an error.
//! - Every shard binds every TCP transport with SO_REUSEPORT, so the kernel
//!   spreads connections over shards; the accepting shard then places each
//!   TCP connection ([`placement`]: packed onto the lowest shards at a light
//!   load, least connections above; `junction.pack_connections`, 0: the
//!   kernel's choice) and hands it to the chosen shard before reading it. A
//!   connection stays on its shard for life. Unix-socket transports are
//!   accepted and served on shard 0 only (a Unix socket path cannot be
//!   shared with SO_REUSEPORT).
//! - The mesh is one unbounded crossbeam channel per shard plus an
//!   `AtomicWaker`; a shard drains its inbox completely on each wake, and
//!   senders wake a peer at most once per router step, so a burst of
//!   publishes costs one wake-up, not one per message.
//! - Call timeouts: a timer task per shard sleeps until the router's next
//!   call deadline ([`ShardRouter::next_deadline`]) and fires it
//!   ([`ShardRouter::poll_timers`]); a new, earlier deadline wakes it to re-arm.
//! - The node talks to each shard through a control channel next to its
//!   inbox ([`control`]): stop, drain, reports (status and counters),
//!   reload, liveness pings. Each shard answers from its own thread between
//!   router steps; nothing is shared or locked.
//! - Shutdown ([`Control::Stop`]): every shard stops accepting, sends GOODBYE
//!   `wamp.close.system_shutdown` to its sessions, lets writers flush for up to
//!   [`SHUTDOWN_GRACE`], and exits; [`RouterHandle::join`] waits for all.
//!   Drain ([`Control::Drain`]): the same, but the sessions get time to answer
//!   the GOODBYE and leave (up to the node's `shutdown_timeout`).
//! - Reload ([`Control::Reload`]): listeners bound and closed
//!   (`listeners.rs`), the router's realms and permissions updated
//!   ([`ShardRouter::apply`]).
//! - Metrics: [`metrics::render_metrics`] turns the shards' reports into the
//!   Prometheus text format.
//! - The front ends reach the router through `ports.rs` (adapters over the
//!   shard's `ShardRouter`).
//!
//! It ties the core (one `ShardRouter` per shard), the transports and the
//! store together; it never imports the node (the process layer above it).

pub mod control;
mod cpus;
mod exits;
mod listeners;
/// The channel mesh between shards. Public so that `benches/mesh.rs` can
/// measure the real hand-off ([`mesh::ChannelMesh`], [`mesh::drain_inbox`]);
/// the runtime is its only other user.
pub mod mesh;
pub mod metrics;
pub mod placement;
mod ports;
pub mod request;

use std::cell::RefCell;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use glommio::{LocalExecutorBuilder, Placement};

pub use self::control::RouterControl;
pub use self::cpus::{allowed_cpus, compact_list};
use self::listeners::{Listeners, Wanted};
pub use self::listeners::{Opening, TlsSet};
use self::mesh::{ChannelMesh, MeshStats, PeerSet};
use self::ports::{FrontPort, spawn_auth_jobs, start_mqtt};
pub use self::request::{Control, ShardReport};
use self::request::{MeshCounters, ShardReloaded};
use crate::config::worker::WorkerKind;
use crate::config::{Config, Endpoint, ServiceKind, TransportConfig, TransportKind};
use crate::core::ShardRouter;
use crate::core::cluster::ShardSet;
use crate::proto::ShardId;
use crate::store::evlog::{EventStore, FileJournal};
use crate::store::mqtt::{MqttLog, RestoredSession};
use crate::transport;

/// How long shutdown waits for connections to flush their last frames
/// (after a drain: for those that did not leave in time).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// How often a draining shard looks whether its clients have left.
const DRAIN_POLL: Duration = Duration::from_millis(10);

/// Why the router could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A listener could not be bound.
    #[error("cannot listen on {endpoint}: {source}")]
    Bind {
        /// The endpoint, as text.
        endpoint: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// An executor could not be created or failed.
    #[error("shard {shard}: {detail}")]
    Executor {
        /// The shard.
        shard: usize,
        /// What went wrong.
        detail: String,
    },
    /// Bad shard count.
    #[error("invalid shard count {0}: must be between 1 and {max}", max = ShardSet::MAX)]
    Shards(usize),
    /// More shards than CPUs the process may run on.
    #[error(
        "{requested} shards ({from}), but this process may run on {count} CPU(s) only: {cpus} \
         (its CPU affinity: taskset, systemd CPUAffinity=, a container's cpuset); \
         use at most {count} shards or allow more CPUs"
    )]
    TooManyShards {
        /// The shard count asked for.
        requested: usize,
        /// Where it was asked for: `--shards` or the config's `shards`.
        from: &'static str,
        /// How many CPUs are allowed.
        count: usize,
        /// The allowed CPUs, as a list (`0-3,6`).
        cpus: String,
    },
    /// A TLS listener's key, certificates or settings cannot be used.
    #[error("transport {transport}: TLS: {error}")]
    Tls {
        /// The transport.
        transport: String,
        /// What failed (in the message, not a source: printed once).
        error: crate::transport::tls::TlsError,
    },
    /// A web transport cannot be served (a static `package` not found, an
    /// invalid MIME override).
    #[error("web transport: {0}")]
    Web(#[from] transport::SiteError),
    /// The config uses features the runtime does not have yet
    /// ([`Config::unsupported`]); one per line.
    #[error("the config uses features that are not supported yet:\n{0}")]
    Unsupported(String),
    /// A worker the node supervises cannot start (its executable is not
    /// found); one per line.
    #[error("workers cannot start:\n{0}")]
    Workers(String),
}

/// A listening address, as clients would dial it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenAddr {
    /// The transport's ID from the config.
    pub transport: String,
    /// A dialable URL: `ws://host:port/path`, `rs://host:port`, `ws+unix://path`, `rs+unix://path`.
    pub url: String,
}

/// A running router, started with [`start`].
pub struct RouterHandle {
    addrs: Vec<ListenAddr>,
    peers: Arc<PeerSet>,
    process: Arc<request::ProcessStats>,
    joins: Vec<glommio::ExecutorJoinHandle<Result<(), RunError>>>,
    /// Each shard's index once its thread ended (`shard/exits.rs`).
    exited: std::sync::mpsc::Receiver<usize>,
    shards: usize,
    /// Which shard serves a new connection, and every shard's count.
    placement: Arc<placement::Placement>,
    /// The realms' event logs: closed (queued records written and synced) once the shards stopped.
    store: EventStore,
}

impl RouterHandle {
    /// The addresses the router listened on at start (real ports when the
    /// config said 0); after a reload, ask the shards ([`RouterControl::reports`]).
    pub fn addrs(&self) -> &[ListenAddr] {
        &self.addrs
    }

    /// Number of shards running.
    pub fn shards(&self) -> usize {
        self.shards
    }

    /// Open connections per shard as connection placement counts them
    /// (every accepted connection, from its placement until it ends, also
    /// before it opens a session), in shard order.
    pub fn placed_connections(&self) -> Vec<usize> {
        self.placement.counts()
    }

    /// The node's handle on the shards' control channels.
    pub fn control(&self) -> RouterControl {
        RouterControl::new(Arc::clone(&self.peers), Arc::clone(&self.process))
    }

    /// Asks every shard to shut down now (non-blocking); follow with [`RouterHandle::join`].
    pub fn shutdown(&self) {
        self.peers.shutdown_all();
    }

    /// Asks every shard to drain: GOODBYE to every session, up to `timeout`
    /// for the clients to leave (non-blocking); follow with [`RouterHandle::join`].
    pub fn drain(&self, timeout: Duration) {
        self.control().drain(timeout);
    }

    /// Waits for every shard to finish, or for the first to fail while
    /// others still run (`shard/exits.rs`: the router is then broken and its node
    /// exits; the stores are left as a crash leaves them, which they
    /// survive).
    ///
    /// # Errors
    /// The first shard failure.
    pub fn join(self) -> Result<(), RunError> {
        let (r, all) = exits::join_shards(self.joins, &self.exited, |i, j| match j.join() {
            Ok(r) => r,
            Err(e) => Err(RunError::Executor {
                shard: i,
                detail: e.to_string(),
            }),
        });
        if all {
            self.store.close();
        }
        r
    }
}

/// The shard count to use: `requested`, else the config's, else one per CPU
/// the process may run on ([`allowed_cpus`]).
///
/// # Errors
/// [`RunError::Shards`] when the count is 0 or above [`ShardSet::MAX`];
/// [`RunError::TooManyShards`] when it exceeds the CPUs the process may run on.
pub fn shard_count(requested: Option<usize>, config: &Config) -> Result<usize, RunError> {
    shard_count_on(requested, config.shards, &allowed_cpus())
}

/// [`shard_count`] for the CPUs `allowed` (empty: unknown, no limit).
fn shard_count_on(
    requested: Option<usize>,
    configured: Option<usize>,
    allowed: &[usize],
) -> Result<usize, RunError> {
    let (n, from) = match (requested, configured) {
        (Some(n), _) => (n, "--shards"),
        (None, Some(n)) => (n, "the config's shards"),
        (None, None) => return Ok(allowed.len().clamp(1, ShardSet::MAX)),
    };
    if n == 0 || n > ShardSet::MAX {
        return Err(RunError::Shards(n));
    }
    if !allowed.is_empty() && n > allowed.len() {
        return Err(RunError::TooManyShards {
            requested: n,
            from,
            count: allowed.len(),
            cpus: compact_list(allowed),
        });
    }
    Ok(n)
}

/// What [`start`] refuses before it binds anything, checked without binding
/// a port, building a site or starting a process: a feature the runtime
/// lacks, a static `package` that cannot be found, a TLS key or certificate
/// that does not load. `junction check` runs it, so that a config it calls
/// valid also starts (a port in use, or a `wsgi` application that does not
/// load, aside: those need the start itself).
///
/// # Errors
/// The [`RunError`] [`start`] would give.
pub fn preflight(config: &Config) -> Result<(), RunError> {
    if let Err(e) = config.ensure_supported() {
        return Err(RunError::Unsupported(e.to_string()));
    }
    let mut config = config.clone();
    transport::http::resolve_static_packages(&mut config)?;
    TlsSet::load(&listened_transports(&config))?;
    Ok(())
}

/// Starts the router in the background and returns once every shard listens
/// and accepts ([`start_with`] and [`Opening::AtOnce`]).
///
/// # Errors
/// As [`start_with`].
pub fn start(config: Config, shards: Option<usize>) -> Result<RouterHandle, RunError> {
    start_with(config, shards, Opening::AtOnce)
}

/// Starts the router in the background and returns once every shard listens;
/// the listeners accept as `opening` says.
///
/// # Errors
/// [`RunError`] when a listener cannot be bound or an executor cannot
/// start, or [`RunError::Unsupported`] when the config uses a feature the
/// runtime does not have yet (never, say, a TLS listener served as plaintext).
pub fn start_with(
    config: Config,
    shards: Option<usize>,
    opening: Opening,
) -> Result<RouterHandle, RunError> {
    if let Err(e) = config.ensure_supported() {
        return Err(RunError::Unsupported(e.to_string()));
    }
    let n = shard_count(shards, &config)?;
    // Static `package` sources become directories (asks Python: blocking,
    // so before any shard runs).
    let mut config = config;
    transport::http::resolve_packages(&mut config)?;
    listeners::refuse_taken_ports(&listened_transports(&config))?;
    // Keys and certificates, read once here for every shard.
    let tls = Arc::new(TlsSet::load(&listened_transports(&config))?);
    let peers = Arc::new(PeerSet::new(n));
    let conns = Arc::new(placement::Placement::new(n, config.node.pack_connections));
    let process: Arc<request::ProcessStats> = Arc::default();
    // Shard i runs on the i-th allowed CPU (never outside the affinity mask).
    let cpus = allowed_cpus();
    // Loads the persistent stores before any shard serves (blocking is fine here).
    let mut store = EventStore::open(&config);
    let mut journals = store.journals(n).into_iter();
    let mut mqtt_logs = store.mqtt_logs(n).into_iter();
    let mqtt_sessions = Arc::new(store.mqtt_sessions());
    let config = Arc::new(config);
    let mut joins: Vec<glommio::ExecutorJoinHandle<Result<(), RunError>>> = Vec::with_capacity(n);
    let (exit_tx, exited) = std::sync::mpsc::channel();
    let mut addrs = Vec::new();
    let mut resolved: Option<Arc<Vec<TransportConfig>>> = None;
    for i in 0..n {
        // Shard 0 binds first and resolves port 0 to a real port; the others
        // then bind exactly those ports (SO_REUSEPORT shares them).
        let (ready_tx, ready_rx) =
            std::sync::mpsc::channel::<Result<Vec<(TransportConfig, String)>, RunError>>();
        let transports = resolved
            .clone()
            .unwrap_or_else(|| Arc::new(listened_transports(&config)));
        let placement = match cpus.get(i) {
            Some(&cpu) => Placement::Fixed(cpu),
            None => Placement::Unbound,
        };
        let (shard_config, shard_peers) = (Arc::clone(&config), Arc::clone(&peers));
        let shard_opening = opening.clone();
        let exit = exits::ExitSignal::new(exit_tx.clone(), i);
        let scrape = RouterControl::new(Arc::clone(&peers), Arc::clone(&process));
        let shard_tls = Arc::clone(&tls);
        let shard_placement = Arc::clone(&conns);
        let journal = journals.next().expect("one journal per shard");
        let mqtt = (
            mqtt_logs.next().expect("one MQTT log handle per shard"),
            Arc::clone(&mqtt_sessions),
        );
        let mut builder = LocalExecutorBuilder::new(placement)
            .name(&format!("junction-shard-{i}"))
            .io_memory(64 << 10); // glommio's least, pinned per shard (buffered reads go to the heap beyond it)
        if let Some(spin) = spin_before_park() {
            builder = builder.spin_before_park(spin);
        }
        let join = builder
            .spawn(move || {
                // Reports this shard's end, a panic's included.
                let _exit = exit;
                // The web server's `metrics` paths on this shard ask every
                // shard through the control channels.
                transport::http::set_metrics_source(Rc::new(metrics::WebMetrics(scrape)));
                transport::hold::set_delay(shard_config.node.write_coalesce);
                shard_main(
                    ShardId(i as u16),
                    n,
                    shard_config,
                    Listened {
                        transports,
                        tls: shard_tls,
                        placement: shard_placement,
                        opening: shard_opening,
                    },
                    shard_peers,
                    (journal, mqtt),
                    ready_tx,
                )
            })
            .map_err(|e| RunError::Executor {
                shard: i,
                detail: e.to_string(),
            })?;
        let bound = match ready_rx.recv() {
            Ok(r) => r,
            Err(_) => {
                return Err(match join.join() {
                    Ok(Err(e)) => e,
                    Ok(Ok(())) => RunError::Executor {
                        shard: i,
                        detail: "exited during start".into(),
                    },
                    Err(e) => RunError::Executor {
                        shard: i,
                        detail: e.to_string(),
                    },
                });
            }
        };
        let bound = match bound {
            Ok(b) => b,
            Err(e) => {
                peers.shutdown_all();
                for j in joins {
                    let _ = j.join();
                }
                let _ = join.join();
                store.close();
                return Err(e);
            }
        };
        joins.push(join);
        if i == 0 {
            addrs = bound
                .iter()
                .map(|(t, url)| ListenAddr {
                    transport: t.id.clone(),
                    url: url.clone(),
                })
                .collect();
            resolved = Some(Arc::new(bound.into_iter().map(|(t, _)| t).collect()));
        }
    }
    for a in &addrs {
        tracing::info!(transport = %a.transport, url = %a.url, shards = n, "listening");
    }
    // Every listener of every shard is up: from here on the node may say READY.
    Ok(RouterHandle {
        addrs,
        peers,
        process,
        joins,
        exited,
        shards: n,
        placement: conns,
        store,
    })
}

fn endpoint_text(e: &Endpoint) -> String {
    match e {
        Endpoint::Tcp { host, port } | Endpoint::TcpTls { host, port, .. } => {
            format!("{host}:{port}")
        }
        Endpoint::Unix { path } => path.display().to_string(),
    }
}

/// Resolves a bound transport: its config with the real port, and its dialable URL.
fn bound_transport(t: &TransportConfig, local: &str) -> (TransportConfig, String) {
    let mut t = t.clone();
    let (scheme, path) = match (&t.kind, t.kind.served_websocket()) {
        (TransportKind::RawSocket(_), _) => ("rs", String::new()),
        (_, Some(ws)) => ("ws", ws.options.path.clone().unwrap_or_else(|| "/".into())),
        // A web transport: its first WebSocket path, else its root.
        (TransportKind::Web(_), None) => match first_websocket_path(&t.kind) {
            Some(p) => ("ws", p),
            None => ("http", "/".to_owned()),
        },
        (kind, None) => (kind.name(), String::new()),
    };
    let scheme = match (&t.endpoint, scheme) {
        (Endpoint::TcpTls { .. }, "ws") => "wss".to_owned(),
        (Endpoint::TcpTls { .. }, "rs") => "rss".to_owned(),
        (Endpoint::TcpTls { .. }, "mqtt") => "mqtts".to_owned(),
        (Endpoint::TcpTls { .. }, other) => format!("{other}+tls"),
        (_, other) => other.to_owned(),
    };
    let url = match &mut t.endpoint {
        Endpoint::Tcp { port, .. } | Endpoint::TcpTls { port, .. } => {
            if let Some(p) = local.rsplit(':').next().and_then(|p| p.parse().ok()) {
                *port = p;
            }
            format!("{scheme}://{local}{path}")
        }
        Endpoint::Unix { path: p } => format!("{scheme}+unix://{}", p.display()),
    };
    (t, url)
}

/// The HTTP path of a transport's first WebSocket service, in key order.
fn first_websocket_path(kind: &TransportKind) -> Option<String> {
    kind.services().into_iter().find_map(|(_, s)| match s {
        ServiceKind::WebSocket(ws) => ws.options.path.clone(),
        _ => None,
    })
}

/// Every listener the shards run: the router's transports, then each
/// `websocket-testee` worker's transport (served in-process on the shards,
/// where Crossbar runs a worker process).
pub(super) fn listened_transports(config: &Config) -> Vec<TransportConfig> {
    let mut all = config.transports.clone();
    for w in &config.workers {
        if let WorkerKind::WebSocketTestee(t) = &w.kind {
            all.push(transport::testee::testee_transport(t));
        }
    }
    all
}

/// The transport IDs of the `websocket-testee` workers.
fn testee_ids(config: &Config) -> Vec<String> {
    config
        .workers
        .iter()
        .filter_map(|w| match &w.kind {
            WorkerKind::WebSocketTestee(t) => Some(t.transport_id.clone()),
            _ => None,
        })
        .collect()
}

type Ready = std::sync::mpsc::Sender<Result<Vec<(TransportConfig, String)>, RunError>>;

/// One shard's runtime state besides its router.
struct Shard {
    id: ShardId,
    peers: Arc<PeerSet>,
    router: Rc<RefCell<ShardRouter>>,
    listeners: Listeners,
    stats: Rc<MeshStats>,
}

/// What a shard starts listening on: the transports (real ports) and the
/// TLS listeners' acceptors.
struct Listened {
    transports: Arc<Vec<TransportConfig>>,
    tls: Arc<TlsSet>,
    /// Which shard serves a new connection (every shard's counts).
    placement: Arc<placement::Placement>,
    /// When the listeners accept.
    opening: Opening,
}

async fn shard_main(
    shard: ShardId,
    shards: usize,
    config: Arc<Config>,
    listened: Listened,
    peers: Arc<PeerSet>,
    (journal, mqtt): (FileJournal, (MqttLog, Arc<Vec<RestoredSession>>)),
    ready: Ready,
) -> Result<(), RunError> {
    let Listened {
        transports,
        tls,
        placement,
        opening,
    } = listened;
    let uring = start_uring(shard);
    let stats = Rc::new(MeshStats::default());
    let mesh = ChannelMesh::with_stats(shard, Arc::clone(&peers), Rc::clone(&stats));
    let router = Rc::new(RefCell::new(ShardRouter::with_journal(
        shard,
        shards as u16,
        &config,
        Box::new(mesh),
        Box::new(journal),
    )));
    let testees = testee_ids(&config);
    let wanted = Wanted {
        transports: &transports,
        testees: &testees,
        max_message_size: config.limits.max_message_size,
    };
    let bound = match Listeners::bind_all(shard, wanted) {
        Ok(b) => b,
        Err(e) => {
            // Reported through `ready`; `start` returns it.
            let _ = ready.send(Err(e));
            return Ok(());
        }
    };
    start_mqtt(&router, &config, &transports, mqtt);
    let _ = ready.send(Ok(bound.iter().map(listeners::Bound::resolved).collect()));
    let listeners = Listeners::new(shard, placement, &router, opening);
    let mut me = Shard {
        id: shard,
        peers,
        router,
        listeners,
        stats,
    };
    me.listeners.start(bound, &tls);
    let timers = glommio::spawn_local(run_timers(Rc::clone(&me.router)));
    // The HTTP bridge's router components run once, on the first shard.
    let components = if shard.0 == 0 {
        let port: Rc<dyn transport::http::WebRouter> = Rc::new(FrontPort(Rc::clone(&me.router)));
        transport::http::components::start(&config, &port)
    } else {
        Vec::new()
    };
    // The inbox loop runs until the node asks the shard to stop or drain.
    let drain = loop {
        match mesh::next_control(me.id, &me.peers, &me.router, &me.stats).await {
            Control::Stop => break None,
            Control::Drain { timeout } => break Some(timeout),
            other => me.handle(other).await,
        }
    };
    me.listeners.close_all().await;
    drop(components);
    if let Some(timeout) = drain {
        me.drain(timeout).await;
    }
    timers.cancel().await;
    me.router.borrow_mut().shutdown();
    let deadline = Instant::now() + SHUTDOWN_GRACE;
    while me.router.borrow().client_link_count() > 0 && Instant::now() < deadline {
        glommio::timer::sleep(DRAIN_POLL).await;
        // Keep serving cross-shard traffic (e.g. leaves) while closing.
        mesh::drain_inbox(me.id, &me.peers, &me.router);
    }
    if let Some(uring) = uring {
        uring.stop().await;
    }
    Ok(())
}

/// How long an idle shard polls its rings and inbox before it parks:
/// `JUNCTION_SPIN_US` (microseconds; unset or 0: park at once). A tuning
/// knob for measurements (perf/hops.sh): on the 2-core machine here no
/// spin paid (BENCHMARKS.md, "Cross-shard hops"), so the default is none.
fn spin_before_park() -> Option<Duration> {
    let us: u64 = std::env::var("JUNCTION_SPIN_US")
        .ok()?
        .trim()
        .parse()
        .ok()?;
    (us > 0).then(|| Duration::from_micros(us))
}

/// Starts the shard's own io_uring for connection I/O (see
/// `transport::uring`), unless `JUNCTION_IO=readiness` asks for glommio's
/// readiness-based sockets. Where the kernel lacks what it needs, the shard
/// uses readiness I/O and the first shard says why in one log line.
fn start_uring(shard: ShardId) -> Option<transport::uring::Driver> {
    if std::env::var_os("JUNCTION_IO").is_some_and(|v| v == "readiness") {
        if shard.0 == 0 {
            tracing::info!(
                "JUNCTION_IO=readiness: connections use glommio's readiness-based sockets"
            );
        }
        return None;
    }
    match transport::uring::start() {
        Ok(driver) => Some(driver),
        Err(e) => {
            if shard.0 == 0 {
                tracing::warn!(reason = %e, "io_uring data path unavailable; connections use readiness-based sockets");
            }
            None
        }
    }
}

impl Shard {
    /// A request from the node while the shard runs.
    async fn handle(&mut self, c: Control) {
        match c {
            Control::Ping { seq } => self.peers.answer_ping(self.id, seq),
            Control::Report(reply) => reply(self.report()),
            Control::Open => self.listeners.open(),
            Control::Reload {
                config,
                resolved,
                tls,
                reply,
            } => {
                let r = self.reload(&config, resolved.as_deref(), &tls).await;
                reply(r);
            }
            // Handled by the caller.
            Control::Stop | Control::Drain { .. } => {}
        }
    }

    fn report(&self) -> ShardReport {
        let r = self.router.borrow();
        let detached = transport::mqtt::offline_links_on_shard();
        let offline = r.detached_client_links(&detached);
        ShardReport {
            shard: self.id.0,
            connections: r
                .client_link_count()
                .saturating_sub(r.unconnected_client_links(&detached)),
            offline_sessions: offline,
            listeners: self.listeners.addrs(),
            metrics: r.metrics(),
            mesh: MeshCounters {
                sent: self.stats.sent.get(),
                received: self.stats.received.get(),
                wakes: self.stats.wakes.get(),
                sent_by_kind: self.stats.by_kind(),
            },
            uring: transport::uring::current()
                .map(|ring| ring.stats())
                .unwrap_or_default(),
            coalesce: transport::hold::stats(),
        }
    }

    /// Applies a reloaded config: binds first (and refuses the reload if a
    /// listener cannot be bound), then the router, then the accept tasks.
    async fn reload(
        &mut self,
        config: &Config,
        resolved: Option<&Vec<TransportConfig>>,
        tls: &TlsSet,
    ) -> Result<ShardReloaded, RunError> {
        let all;
        let transports = match resolved {
            Some(r) => &r[..],
            None => {
                all = listened_transports(config);
                &all[..]
            }
        };
        let testees = testee_ids(config);
        let wanted = Wanted {
            transports,
            testees: &testees,
            max_message_size: config.limits.max_message_size,
        };
        let plan = self.listeners.prepare(self.id, wanted)?;
        let bound = plan.resolved(transports, &self.listeners);
        let applied = self.router.borrow_mut().apply(config);
        self.listeners.set_pack(config.node.pack_connections);
        transport::hold::set_delay(config.node.write_coalesce);
        let listeners = self.listeners.commit(plan, transports, tls).await;
        Ok(ShardReloaded {
            bound,
            applied,
            listeners,
        })
    }

    /// Graceful drain: GOODBYE to every session, then wait until every
    /// client left or `timeout` passed, answering the node meanwhile.
    async fn drain(&mut self, timeout: Duration) {
        self.router.borrow_mut().drain();
        transport::http::longpoll::drain();
        let deadline = Instant::now() + timeout;
        loop {
            let left = self.router.borrow().client_link_count();
            if left == 0 {
                break;
            }
            let now = Instant::now();
            if now >= deadline {
                tracing::info!(
                    shard = self.id.0,
                    connections = left,
                    "shutdown timeout: closing the connections that are left"
                );
                break;
            }
            glommio::timer::sleep(DRAIN_POLL.min(deadline - now)).await;
            let n = mesh::drain_inbox(self.id, &self.peers, &self.router);
            self.stats
                .received
                .set(self.stats.received.get() + n as u64);
            while let Some(c) = mesh::try_control(self.id, &self.peers) {
                match c {
                    Control::Stop => return,
                    Control::Ping { seq } => self.peers.answer_ping(self.id, seq),
                    Control::Report(reply) => reply(self.report()),
                    Control::Reload { reply, .. } => reply(Err(RunError::Executor {
                        shard: self.id.index(),
                        detail: "shutting down".into(),
                    })),
                    // Draining: the listeners are closed already.
                    Control::Drain { .. } | Control::Open => {}
                }
            }
        }
    }
}

/// Fires the router's call deadlines: sleeps until the next one, or until an
/// earlier deadline is added (the router bumps its timer epoch and wakes us).
async fn run_timers(router: Rc<RefCell<ShardRouter>>) {
    loop {
        let (next, epoch) = {
            let r = router.borrow();
            (r.next_deadline(), r.timer_epoch())
        };
        let mut sleep =
            next.map(|at| glommio::timer::Timer::new(at.saturating_duration_since(Instant::now())));
        std::future::poll_fn(|cx| {
            {
                let mut r = router.borrow_mut();
                if r.timer_epoch() != epoch {
                    return Poll::Ready(());
                }
                r.set_timer_waker(cx.waker());
            }
            match sleep.as_mut() {
                Some(t) => Pin::new(t).poll(cx).map(|_| ()),
                None => Poll::Pending,
            }
        })
        .await;
        router.borrow_mut().poll_timers(Instant::now());
        spawn_auth_jobs(&router);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_count_follows_the_allowed_cpus() {
        // Default: one shard per allowed CPU.
        assert_eq!(shard_count_on(None, None, &[1]).expect("ok"), 1);
        assert_eq!(shard_count_on(None, None, &[0, 2, 5]).expect("ok"), 3);
        assert_eq!(shard_count_on(None, None, &[]).expect("unknown: one"), 1);
        // Asked for: up to the allowed count; --shards wins over the config.
        assert_eq!(shard_count_on(Some(2), Some(9), &[0, 1, 2]).expect("ok"), 2);
        assert_eq!(shard_count_on(None, Some(3), &[0, 1, 2]).expect("ok"), 3);
        assert_eq!(shard_count_on(Some(4), None, &[]).expect("no limit"), 4);
        let e = shard_count_on(Some(2), None, &[1]).expect_err("too many");
        let text = e.to_string();
        assert!(text.starts_with("2 shards (--shards)"), "{text}");
        assert!(text.contains("1 CPU(s) only: 1 "), "{text}");
        let e = shard_count_on(None, Some(5), &[0, 1, 2, 3]).expect_err("too many");
        let text = e.to_string();
        assert!(text.contains("(the config's shards)"), "{text}");
        assert!(text.contains("4 CPU(s) only: 0-3 "), "{text}");
        assert!(text.contains("at most 4 shards"), "{text}");
        assert!(matches!(
            shard_count_on(Some(0), None, &[0]),
            Err(RunError::Shards(0))
        ));
    }
}
