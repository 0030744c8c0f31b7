//! The thread-per-core runtime: one glommio executor per core ("shard"), each
//! owning the connections it accepted and a [`ShardRouter`] for them, joined
//! by a channel mesh that carries [`ShardMsg`]s.
//!
//! - Every shard binds every TCP transport with SO_REUSEPORT, so the kernel
//!   spreads connections over shards; a connection stays on its shard for life.
//!   Unix-socket transports are accepted on shard 0 only (a Unix socket path
//!   cannot be shared with SO_REUSEPORT).
//! - The mesh is one unbounded crossbeam channel per shard plus an
//!   `AtomicWaker`; a shard drains its inbox completely on each wake, and
//!   senders wake a peer at most once per router step, so a burst of
//!   publishes costs one wake-up, not one per message.
//! - Call timeouts: a timer task per shard sleeps until the router's next
//!   call deadline ([`ShardRouter::next_deadline`]) and fires it
//!   ([`ShardRouter::poll_timers`]); a new, earlier deadline wakes it to re-arm.
//! - Shutdown: every shard stops accepting, sends GOODBYE
//!   `wamp.close.system_shutdown` to its sessions, lets writers flush for up to
//!   [`SHUTDOWN_GRACE`], and exits; [`RouterHandle::join`] waits for all.

/// The channel mesh between shards. Public so that `benches/mesh.rs` can
/// measure the real hand-off ([`mesh::ChannelMesh`], [`mesh::drain_inbox`]);
/// the runtime is its only other user.
pub mod mesh;

use std::cell::RefCell;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use glommio::{LocalExecutorBuilder, Placement};

use self::mesh::{ChannelMesh, PeerSet};
use crate::config::{Config, Endpoint, TransportConfig};
use crate::proto::ShardId;
use crate::router::ShardRouter;
use crate::router::mesh::ShardSet;
use crate::router::outbox::{Outbox, OutboxRef};
use crate::router::realm::ConnId;
use crate::transport::{self, ConnInfo, ConnectionHooks, Refused};

/// How long shutdown waits for connections to flush their last frames.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

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
    joins: Vec<glommio::ExecutorJoinHandle<Result<(), RunError>>>,
    shards: usize,
}

impl RouterHandle {
    /// The addresses the router listens on (real ports when the config said 0).
    pub fn addrs(&self) -> &[ListenAddr] {
        &self.addrs
    }

    /// Number of shards running.
    pub fn shards(&self) -> usize {
        self.shards
    }

    /// Asks every shard to shut down (non-blocking); follow with [`RouterHandle::join`].
    pub fn shutdown(&self) {
        self.peers.shutdown_all();
    }

    /// Waits for every shard to finish.
    ///
    /// # Errors
    /// The first shard failure.
    pub fn join(self) -> Result<(), RunError> {
        let mut first = Ok(());
        for (i, j) in self.joins.into_iter().enumerate() {
            let r = match j.join() {
                Ok(r) => r,
                Err(e) => Err(RunError::Executor {
                    shard: i,
                    detail: e.to_string(),
                }),
            };
            if first.is_ok() {
                first = r;
            }
        }
        first
    }
}

/// The shard count to use: `requested`, else the config's, else one per online CPU.
///
/// # Errors
/// [`RunError::Shards`] when the count is 0 or above [`ShardSet::MAX`].
pub fn shard_count(requested: Option<usize>, config: &Config) -> Result<usize, RunError> {
    let n = requested
        .or(config.shards)
        .unwrap_or_else(|| online_cpus().len().max(1));
    if n == 0 || n > ShardSet::MAX {
        return Err(RunError::Shards(n));
    }
    Ok(n)
}

fn online_cpus() -> Vec<usize> {
    glommio::CpuSet::online()
        .map(|s| s.iter().map(|c| c.cpu).collect())
        .unwrap_or_default()
}

/// Starts the router in the background and returns once every shard listens.
///
/// # Errors
/// [`RunError`] when a listener cannot be bound or an executor cannot start.
pub fn start(config: Config, shards: Option<usize>) -> Result<RouterHandle, RunError> {
    let n = shard_count(shards, &config)?;
    let peers = Arc::new(PeerSet::new(n));
    let cpus = online_cpus();
    let config = Arc::new(config);
    let mut joins: Vec<glommio::ExecutorJoinHandle<Result<(), RunError>>> = Vec::with_capacity(n);
    let mut addrs = Vec::new();
    let mut resolved: Option<Arc<Vec<TransportConfig>>> = None;
    for i in 0..n {
        // Shard 0 binds first and resolves port 0 to a real port; the others
        // then bind exactly those ports (SO_REUSEPORT shares them).
        let (ready_tx, ready_rx) =
            std::sync::mpsc::channel::<Result<Vec<(TransportConfig, String)>, RunError>>();
        let transports = resolved
            .clone()
            .unwrap_or_else(|| Arc::new(config.transports.clone()));
        let placement = if n <= cpus.len() {
            Placement::Fixed(cpus[i])
        } else {
            Placement::Unbound
        };
        let (shard_config, shard_peers) = (Arc::clone(&config), Arc::clone(&peers));
        let join = LocalExecutorBuilder::new(placement)
            .name(&format!("junction-shard-{i}"))
            .io_memory(1 << 20)
            .spawn(move || {
                shard_main(
                    ShardId(i as u16),
                    n,
                    shard_config,
                    transports,
                    shard_peers,
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
    Ok(RouterHandle {
        addrs,
        peers,
        joins,
        shards: n,
    })
}

/// Runs the router until SIGINT or SIGTERM, then shuts down gracefully.
///
/// # Errors
/// [`RunError`] from [`start`] or from a shard.
pub fn run(config: Config, shards: Option<usize>) -> Result<(), RunError> {
    let signals = block_shutdown_signals();
    let handle = start(config, shards)?;
    let sig = wait_for_signal(&signals);
    tracing::info!(signal = sig, "shutting down");
    handle.shutdown();
    handle.join()
}

/// Blocks SIGINT and SIGTERM in this thread (and so in every thread it spawns
/// afterwards) so that [`wait_for_signal`] can take them synchronously.
fn block_shutdown_signals() -> libc::sigset_t {
    // SAFETY: plain libc signal-set manipulation on a local, zero-initialised set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

fn wait_for_signal(set: &libc::sigset_t) -> i32 {
    let mut sig: libc::c_int = 0;
    // SAFETY: `set` was initialised by `block_shutdown_signals`; `sig` is a valid out-pointer.
    unsafe { libc::sigwait(set, &mut sig) };
    sig
}

fn endpoint_text(e: &Endpoint) -> String {
    match e {
        Endpoint::Tcp { host, port } => format!("{host}:{port}"),
        Endpoint::Unix { path } => path.display().to_string(),
    }
}

/// Resolves a bound transport: its config with the real port, and its dialable URL.
fn bound_transport(t: &TransportConfig, local: &str) -> (TransportConfig, String) {
    let mut t = t.clone();
    let (scheme, path) = match &t.kind {
        crate::config::TransportKind::WebSocket(o) => {
            ("ws", o.path.clone().unwrap_or_else(|| "/".into()))
        }
        crate::config::TransportKind::RawSocket(_) => ("rs", String::new()),
    };
    let url = match &mut t.endpoint {
        Endpoint::Tcp { port, .. } => {
            if let Some(p) = local.rsplit(':').next().and_then(|p| p.parse().ok()) {
                *port = p;
            }
            format!("{scheme}://{local}{path}")
        }
        Endpoint::Unix { path: p } => format!("{scheme}+unix://{}", p.display()),
    };
    (t, url)
}

type Ready = std::sync::mpsc::Sender<Result<Vec<(TransportConfig, String)>, RunError>>;

async fn shard_main(
    shard: ShardId,
    shards: usize,
    config: Arc<Config>,
    transports: Arc<Vec<TransportConfig>>,
    peers: Arc<PeerSet>,
    ready: Ready,
) -> Result<(), RunError> {
    let uring = start_uring(shard);
    let mesh = ChannelMesh::new(shard, Arc::clone(&peers));
    let router = Rc::new(RefCell::new(ShardRouter::new(
        shard,
        shards as u16,
        &config,
        Box::new(mesh),
    )));
    let mut listeners = Vec::new();
    let mut bound = Vec::new();
    for t in transports.iter() {
        if shard.0 != 0 && matches!(t.endpoint, Endpoint::Unix { .. }) {
            continue;
        }
        let l = match transport::listener::bind(&t.endpoint) {
            Ok(l) => l,
            Err(source) => {
                // Reported through `ready`; `start` returns it.
                let _ = ready.send(Err(RunError::Bind {
                    endpoint: endpoint_text(&t.endpoint),
                    source,
                }));
                return Ok(());
            }
        };
        bound.push(bound_transport(t, &l.local_addr_string()));
        listeners.push((l, Rc::new(t.clone())));
    }
    let _ = ready.send(Ok(bound));
    let timers = glommio::spawn_local(run_timers(Rc::clone(&router)));
    let limits = config.limits.clone();
    let mut accept_tasks = Vec::new();
    for (l, t) in listeners {
        let router = Rc::clone(&router);
        let limits = limits.clone();
        accept_tasks.push(glommio::spawn_local(async move {
            loop {
                match l.accept().await {
                    Ok((stream, peer)) => {
                        let hooks = Hooks {
                            router: Rc::clone(&router),
                            conn: None,
                            queue_limit: limits.outbound_queue_bytes,
                        };
                        glommio::spawn_local(transport::serve(
                            stream,
                            peer,
                            Rc::clone(&t),
                            limits.max_message_size,
                            hooks,
                        ))
                        .detach();
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        glommio::timer::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        }));
    }
    // The inbox loop runs until shutdown is requested.
    mesh::run_inbox(shard, &peers, &router).await;
    for t in accept_tasks {
        t.cancel().await;
    }
    timers.cancel().await;
    router.borrow_mut().shutdown();
    let deadline = std::time::Instant::now() + SHUTDOWN_GRACE;
    while router.borrow().connection_count() > 0 && std::time::Instant::now() < deadline {
        glommio::timer::sleep(Duration::from_millis(10)).await;
        // Keep serving cross-shard traffic (e.g. leaves) while draining.
        mesh::drain_inbox(shard, &peers, &router);
    }
    if let Some(uring) = uring {
        uring.stop().await;
    }
    Ok(())
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
    }
}

/// The router side of one connection.
struct Hooks {
    router: Rc<RefCell<ShardRouter>>,
    conn: Option<ConnId>,
    queue_limit: usize,
}

impl ConnectionHooks for Hooks {
    fn open(&mut self, info: ConnInfo) -> Result<OutboxRef, Refused> {
        let outbox = Outbox::new_ref(self.queue_limit);
        let id = self.router.borrow_mut().open(info, Rc::clone(&outbox))?;
        self.conn = Some(id);
        Ok(outbox)
    }

    fn frame(&mut self, data: Bytes) {
        if let Some(c) = self.conn {
            self.router.borrow_mut().frame(c, &data);
        }
    }

    fn closed(&mut self) {
        if let Some(c) = self.conn.take() {
            self.router.borrow_mut().close(c);
        }
    }
}
