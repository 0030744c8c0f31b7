//! The node's requests to the shards, outside the routing protocol: stop,
//! drain, report (status and counters), reload, opening held listeners,
//! and liveness pings.
//!
//! Each request travels on the shard's control channel (see `mesh.rs`) and
//! is handled by the shard's main loop between router steps, so a report is
//! a consistent copy of that shard's state taken on its own thread: nothing
//! is shared, nothing is locked. Answers come back through a callback the
//! asker supplies ([`Reply`](super::request::Reply)), so a thread can wait on a std channel
//! ([`RouterControl::reports`]) and a task on a shard can await a oneshot
//! ([`RouterControl::gather`], for the web server's metrics path).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::mesh::PeerSet;
use super::request::{Control, ProcessStats, Reloaded, ShardReloaded, ShardReport};
use super::{ListenAddr, RunError, TlsSet};
use crate::config::{Config, TransportConfig};

/// The node's side of the control channels: cheap to clone, `Send`.
#[derive(Clone)]
pub struct RouterControl {
    peers: Arc<PeerSet>,
    process: Arc<ProcessStats>,
}

impl RouterControl {
    pub(super) fn new(peers: Arc<PeerSet>, process: Arc<ProcessStats>) -> RouterControl {
        RouterControl { peers, process }
    }

    /// The process's own counters (start time, reloads), for
    /// [`render_metrics`](super::metrics::render_metrics).
    pub fn process(&self) -> &ProcessStats {
        &self.process
    }

    /// The same counters, shared (the node's guest supervisor writes its
    /// series into [`ProcessStats::node_text`] from its own thread).
    pub fn process_shared(&self) -> Arc<ProcessStats> {
        Arc::clone(&self.process)
    }

    /// Number of shards.
    pub fn shards(&self) -> usize {
        self.peers.len()
    }

    /// Asks every shard to stop now.
    pub fn stop(&self) {
        self.peers.shutdown_all();
    }

    /// Asks every shard to drain, waiting up to `timeout` for its clients.
    pub fn drain(&self, timeout: Duration) {
        for i in 0..self.peers.len() {
            self.peers.control(i, Control::Drain { timeout });
        }
    }

    /// Opens every shard's held listeners (a router started with
    /// [`Opening::Held`](super::Opening::Held)); they accept from now on.
    pub fn open(&self) {
        for i in 0..self.peers.len() {
            self.peers.control(i, Control::Open);
        }
    }

    /// Sends liveness ping `seq` to every shard.
    pub fn ping(&self, seq: u64) {
        for i in 0..self.peers.len() {
            self.peers.control(i, Control::Ping { seq });
        }
    }

    /// Whether every shard answered ping `seq` (or a later one).
    pub fn all_answered(&self, seq: u64) -> bool {
        (0..self.peers.len()).all(|i| self.peers.answered(i) >= seq)
    }

    /// Every shard's report, waiting up to `timeout` in all; a shard that
    /// does not answer in time is missing from the list (blocking: for
    /// threads, not for tasks on a shard).
    pub fn reports(&self, timeout: Duration) -> Vec<ShardReport> {
        let (tx, rx) = mpsc::channel();
        for i in 0..self.peers.len() {
            let tx = tx.clone();
            self.peers.control(
                i,
                Control::Report(Box::new(move |r| {
                    let _ = tx.send(r);
                })),
            );
        }
        drop(tx);
        let deadline = Instant::now() + timeout;
        let mut out = Vec::with_capacity(self.peers.len());
        while out.len() < self.peers.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(r) => out.push(r),
                Err(_) => break,
            }
        }
        out.sort_by_key(|r| r.shard);
        out
    }

    /// Every shard's report, for a task running on a shard (the metrics
    /// path of the web server): awaits each shard's answer, its own
    /// included (answered by its main loop once the task yields).
    pub async fn gather(&self) -> Vec<ShardReport> {
        let mut waiting = Vec::with_capacity(self.peers.len());
        for i in 0..self.peers.len() {
            let (tx, rx) = futures::channel::oneshot::channel();
            self.peers.control(
                i,
                Control::Report(Box::new(move |r| {
                    let _ = tx.send(r);
                })),
            );
            waiting.push(rx);
        }
        let mut out = Vec::with_capacity(waiting.len());
        for rx in waiting {
            if let Ok(r) = rx.await {
                out.push(r);
            }
        }
        out
    }

    /// Applies `config` on every shard: shard 0 first (binding new
    /// listeners; if one cannot be bound, nothing changes anywhere), then
    /// the others with shard 0's resolved ports. Waits up to `timeout` per
    /// shard (blocking).
    ///
    /// # Errors
    /// [`RunError`] from shard 0 (nothing was changed), or
    /// [`RunError::Executor`] when shard 0 did not answer.
    pub fn reload(&self, config: Config, timeout: Duration) -> Result<Reloaded, RunError> {
        // Keys and certificates are read here, on the node's thread, once
        // for every shard; a file that does not load refuses the reload.
        let tls = match TlsSet::load(&super::listened_transports(&config)) {
            Ok(t) => Arc::new(t),
            Err(e) => {
                self.count_failed_reload();
                return Err(e);
            }
        };
        let config = Arc::new(config);
        let first = match self.reload_one(0, &config, None, &tls, timeout) {
            Ok(f) => f,
            Err(e) => {
                self.count_failed_reload();
                return Err(e);
            }
        };
        self.process.reloads.fetch_add(1, Ordering::Relaxed);
        let resolved: Arc<Vec<TransportConfig>> =
            Arc::new(first.bound.iter().map(|(t, _)| t.clone()).collect());
        let mut done = Reloaded {
            sessions_closed: first.applied.sessions_closed,
            addrs: first
                .bound
                .iter()
                .map(|(t, url)| ListenAddr {
                    transport: t.id.clone(),
                    url: url.clone(),
                })
                .collect(),
            applied: first.applied,
            listeners: first.listeners,
            errors: Vec::new(),
        };
        for i in 1..self.peers.len() {
            match self.reload_one(i, &config, Some(Arc::clone(&resolved)), &tls, timeout) {
                Ok(r) => done.sessions_closed += r.applied.sessions_closed,
                Err(e) => done.errors.push(e.to_string()),
            }
        }
        Ok(done)
    }

    /// Counts a reload that was refused before it reached the shards (the
    /// config did not load) or by shard 0.
    pub fn count_failed_reload(&self) {
        self.process.reload_failures.fetch_add(1, Ordering::Relaxed);
    }

    fn reload_one(
        &self,
        shard: usize,
        config: &Arc<Config>,
        resolved: Option<Arc<Vec<TransportConfig>>>,
        tls: &Arc<TlsSet>,
        timeout: Duration,
    ) -> Result<ShardReloaded, RunError> {
        let (tx, rx) = mpsc::channel();
        self.peers.control(
            shard,
            Control::Reload {
                config: Arc::clone(config),
                resolved,
                tls: Arc::clone(tls),
                reply: Box::new(move |r| {
                    let _ = tx.send(r);
                }),
            },
        );
        rx.recv_timeout(timeout).unwrap_or_else(|_| {
            Err(RunError::Executor {
                shard,
                detail: format!("did not apply the reload within {timeout:?}"),
            })
        })
    }
}
