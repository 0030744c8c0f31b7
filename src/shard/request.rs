//! What the node asks the shards and what they answer, as plain data: the
//! [`Control`] requests, the reports and reload results they carry back, and
//! the process's own counters ([`ProcessStats`]).
//!
//! This is the lowest file of the shard layer's control path: the mesh
//! (`mesh.rs`) carries these requests, the node's handle (`control.rs`)
//! sends them, the exposition (`metrics.rs`) renders the reports; none of
//! those is imported here.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{ListenAddr, RunError, TlsSet};
use crate::config::{Config, TransportConfig};
use crate::core::Applied;
use crate::core::metrics::MetricsSnapshot;

/// Where a shard sends its answer.
pub type Reply<T> = Box<dyn FnOnce(T) + Send>;

/// A request from the node to one shard.
pub enum Control {
    /// Stop now: GOODBYE to every session, close every connection, let
    /// writers flush for up to [`SHUTDOWN_GRACE`](super::SHUTDOWN_GRACE), exit.
    Stop,
    /// Graceful shutdown: stop accepting, GOODBYE to every session, wait up
    /// to `timeout` for the clients to answer and leave, then as [`Control::Stop`].
    Drain {
        /// How long to wait for the clients.
        timeout: Duration,
    },
    /// Liveness check: the shard records `seq` as answered ([`PeerSet::answered`](super::mesh::PeerSet::answered)).
    Ping {
        /// The ping's number.
        seq: u64,
    },
    /// A copy of the shard's state and counters.
    Report(Reply<ShardReport>),
    /// Open the listeners held at the start ([`Opening::Held`](super::Opening::Held)).
    Open,
    /// Apply a reloaded config (listeners and the router).
    Reload {
        /// The new config.
        config: Arc<Config>,
        /// Transports as shard 0 bound them (real ports for port 0);
        /// `None` for shard 0 itself.
        resolved: Option<Arc<Vec<TransportConfig>>>,
        /// The TLS listeners' acceptors, built from the files as they are now.
        tls: Arc<TlsSet>,
        /// The answer.
        reply: Reply<Result<ShardReloaded, RunError>>,
    },
}

/// Cross-shard traffic of one shard.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MeshCounters {
    /// Messages sent to other shards.
    pub sent: u64,
    /// Messages received from other shards.
    pub received: u64,
    /// Wake-ups of other shards.
    pub wakes: u64,
    /// Messages sent to other shards by kind (`MsgKind::name`), every kind.
    pub sent_by_kind: Vec<(&'static str, u64)>,
}

/// One shard's state, as it answers [`Control::Report`].
#[derive(Debug, Clone, Default)]
pub struct ShardReport {
    /// The shard.
    pub shard: u16,
    /// Open client connections (MQTT sessions held offline not counted).
    pub connections: usize,
    /// MQTT sessions held while their client is away (each keeps a
    /// router link, without a connection).
    pub offline_sessions: usize,
    /// What the shard listens on.
    pub listeners: Vec<ListenAddr>,
    /// The router's counters.
    pub metrics: MetricsSnapshot,
    /// Cross-shard traffic.
    pub mesh: MeshCounters,
    /// The shard's own io_uring (all zero where the shard runs on
    /// glommio's readiness streams).
    pub uring: crate::transport::uring::Stats,
    /// Write coalescing (all zero while `junction.write_coalesce_us` is 0).
    pub coalesce: crate::transport::hold::Stats,
}

/// What one shard did with a [`Control::Reload`].
#[derive(Debug, Clone, Default)]
pub struct ShardReloaded {
    /// The transports it serves now, with real ports, and their URLs.
    pub bound: Vec<(TransportConfig, String)>,
    /// What the router changed.
    pub applied: Applied,
    /// Listeners opened, closed and rebound, by transport ID.
    pub listeners: ListenerChanges,
}

/// Listener changes of a reload.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListenerChanges {
    /// Transports newly listened on.
    pub opened: Vec<String>,
    /// Transports no longer listened on.
    pub closed: Vec<String>,
    /// Transports whose endpoint changed (bound anew, the old socket closed).
    pub rebound: Vec<String>,
    /// Transports whose other settings changed (new connections get them).
    pub updated: Vec<String>,
    /// TLS transports whose key and certificates were read again (new
    /// handshakes use them; established connections keep theirs).
    pub tls_reloaded: Vec<String>,
}

/// What a reload did on every shard.
#[derive(Debug, Clone, Default)]
pub struct Reloaded {
    /// Shard 0's changes (every shard makes the same).
    pub applied: Applied,
    /// Shard 0's listener changes.
    pub listeners: ListenerChanges,
    /// Sessions closed, all shards.
    pub sessions_closed: usize,
    /// Problems on shards other than 0 (which had already applied it).
    pub errors: Vec<String>,
    /// What the router listens on now.
    pub addrs: Vec<ListenAddr>,
}

/// Process-wide facts and counters the node keeps (set rarely, read at scrape).
#[derive(Debug)]
pub struct ProcessStats {
    /// When the router started, in milliseconds since the Unix epoch.
    pub start_unix_ms: u64,
    /// Reloads applied.
    pub reloads: AtomicU64,
    /// Reloads refused (the config did not load, or a listener could not be bound).
    pub reload_failures: AtomicU64,
    /// Series the node layer renders itself (its guest workers), appended
    /// to every scrape as they are. Locked only by a scrape and by the
    /// node's worker supervisor, never on a shard's hot path.
    pub node_text: std::sync::Mutex<String>,
}

impl Default for ProcessStats {
    fn default() -> Self {
        ProcessStats {
            start_unix_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            reloads: AtomicU64::new(0),
            reload_failures: AtomicU64::new(0),
            node_text: std::sync::Mutex::default(),
        }
    }
}
