//! The runtime's cross-shard mesh: one unbounded crossbeam channel per shard
//! (its inbox) and an `AtomicWaker` to wake that shard's executor, plus a
//! second channel per shard for the node's requests ([`Control`]: drain,
//! reports, reload, liveness pings), woken through the same waker.
//!
//! FIFO per sender/receiver pair holds because a crossbeam channel is a
//! linearizable queue and each shard sends from one thread. Wake-ups are
//! batched: [`ChannelMesh`] only marks peers dirty on `send` and, in `flush`
//! (end of a router step), wakes each dirty peer whose inbox task waits
//! (its `armed` flag, taken by one sender): a busy peer, or one another
//! shard already woke, costs no wake-up at all. Each shard counts what it
//! sent (by kind), received and woke in its own [`MeshStats`] (plain cells).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering, fence};

use crossbeam_channel::{Receiver, Sender, TryRecvError};
use futures::task::AtomicWaker;

use super::request::Control;
use crate::core::ShardRouter;
use crate::core::cluster::{Mesh, MsgKind, ShardMsg};
use crate::proto::ShardId;

/// One shard's cross-shard traffic counters, owned by the shard's thread.
#[derive(Debug, Default)]
pub struct MeshStats {
    /// Messages sent to other shards.
    pub sent: Cell<u64>,
    /// Messages received from other shards.
    pub received: Cell<u64>,
    /// Wake-ups of other shards (at most one per peer per router step, and
    /// only of a peer whose inbox task waits).
    pub wakes: Cell<u64>,
    /// Messages sent to other shards, by [`MsgKind`] (its index).
    pub sent_by_kind: [Cell<u64>; MsgKind::ALL.len()],
}

impl MeshStats {
    /// Sent messages by kind: (kind's name, count), every kind.
    pub fn by_kind(&self) -> Vec<(&'static str, u64)> {
        MsgKind::ALL
            .iter()
            .map(|k| (k.name(), self.sent_by_kind[*k as usize].get()))
            .collect()
    }
}

/// One shard's inbox item.
pub enum Inbox {
    /// A router message from a shard.
    Msg(ShardId, ShardMsg),
}

/// One shard's receiving end and wake-up slot.
struct Peer {
    tx: Sender<Inbox>,
    rx: Receiver<Inbox>,
    /// The node's requests to this shard.
    control_tx: Sender<Control>,
    control_rx: Receiver<Control>,
    waker: AtomicWaker,
    /// Set by the shard when its inbox task is about to wait (see
    /// [`next_control`]), taken by the first sender after that: only that
    /// sender wakes the shard; later ones find it taken and know the shard
    /// will look at its inbox before it waits again.
    armed: AtomicBool,
    /// The last liveness ping this shard answered.
    alive: AtomicU64,
}

/// Every shard's inbox, shared by all shards.
pub struct PeerSet {
    peers: Vec<Peer>,
}

impl PeerSet {
    /// Inboxes for `n` shards.
    pub fn new(n: usize) -> Self {
        let peers = (0..n)
            .map(|_| {
                let (tx, rx) = crossbeam_channel::unbounded();
                let (control_tx, control_rx) = crossbeam_channel::unbounded();
                Peer {
                    tx,
                    rx,
                    control_tx,
                    control_rx,
                    waker: AtomicWaker::new(),
                    armed: AtomicBool::new(false),
                    alive: AtomicU64::new(0),
                }
            })
            .collect();
        PeerSet { peers }
    }

    /// Number of shards.
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// Whether there are no shards.
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    /// Sends the node's request `c` to `shard` and wakes it; `false` when
    /// there is no such shard.
    pub fn control(&self, shard: usize, c: Control) -> bool {
        let Some(p) = self.peers.get(shard) else {
            return false;
        };
        // The receiver lives as long as `PeerSet`: send cannot fail.
        let _ = p.control_tx.send(c);
        p.waker.wake();
        true
    }

    /// Asks every shard to stop now (see [`Control::Stop`]).
    pub fn shutdown_all(&self) {
        for i in 0..self.peers.len() {
            self.control(i, Control::Stop);
        }
    }

    /// The last liveness ping `shard` answered (0: none yet).
    pub fn answered(&self, shard: usize) -> u64 {
        self.peers
            .get(shard)
            .map_or(0, |p| p.alive.load(Ordering::Acquire))
    }

    /// `shard` answers liveness ping `seq`.
    pub(super) fn answer_ping(&self, shard: ShardId, seq: u64) {
        if let Some(p) = self.peers.get(shard.index()) {
            p.alive.store(seq, Ordering::Release);
        }
    }
}

/// A shard's sending side of the mesh.
pub struct ChannelMesh {
    me: ShardId,
    peers: Arc<PeerSet>,
    /// Peers sent to since the last flush.
    dirty: Vec<bool>,
    /// This shard's counters.
    stats: Rc<MeshStats>,
}

impl ChannelMesh {
    /// The mesh as seen from shard `me`.
    pub fn new(me: ShardId, peers: Arc<PeerSet>) -> Self {
        ChannelMesh::with_stats(me, peers, Rc::default())
    }

    /// The mesh as seen from shard `me`, counting into `stats`.
    pub fn with_stats(me: ShardId, peers: Arc<PeerSet>, stats: Rc<MeshStats>) -> Self {
        let n = peers.peers.len();
        ChannelMesh {
            me,
            peers,
            dirty: vec![false; n],
            stats,
        }
    }
}

impl Mesh for ChannelMesh {
    fn send(&mut self, to: ShardId, msg: ShardMsg) {
        let Some(p) = self.peers.peers.get(to.index()) else {
            return;
        };
        let kind = &self.stats.sent_by_kind[msg.kind() as usize];
        kind.set(kind.get() + 1);
        // The receiver lives as long as `PeerSet`, which we hold: send cannot fail.
        let _ = p.tx.send(Inbox::Msg(self.me, msg));
        self.dirty[to.index()] = true;
        self.stats.sent.set(self.stats.sent.get() + 1);
    }

    fn flush(&mut self) {
        if !self.dirty.contains(&true) {
            return;
        }
        // Pairs with the fence in `next_control`: either the peer sees our
        // messages before it waits, or we see it armed and wake it.
        fence(Ordering::SeqCst);
        for (i, d) in self.dirty.iter_mut().enumerate() {
            if std::mem::take(d) {
                let p = &self.peers.peers[i];
                if p.armed.swap(false, Ordering::AcqRel) {
                    p.waker.wake();
                    self.stats.wakes.set(self.stats.wakes.get() + 1);
                }
            }
        }
    }
}

/// Processes everything in `shard`'s inbox now. Returns how many messages ran.
pub fn drain_inbox(shard: ShardId, peers: &PeerSet, router: &Rc<RefCell<ShardRouter>>) -> usize {
    let p = &peers.peers[shard.index()];
    let mut n = 0;
    let mut r = router.borrow_mut();
    loop {
        match p.rx.try_recv() {
            Ok(Inbox::Msg(from, msg)) => {
                r.shard_msg(from, msg);
                n += 1;
            }
            Err(TryRecvError::Empty | TryRecvError::Disconnected) => {
                // Front ends' own messages (MQTT session takeover).
                let front = r.take_front_msgs();
                // Long-poll requests forwarded to this shard run as tasks.
                let front = if front.is_empty() {
                    front
                } else {
                    crate::transport::http::longpoll::take_front_msgs(front)
                };
                if !front.is_empty() {
                    crate::transport::mqtt::takeover::on_front_msgs(&mut r, front);
                }
                return n;
            }
        }
    }
}

/// The node's next request to `shard`, if one is waiting.
pub fn try_control(shard: ShardId, peers: &PeerSet) -> Option<Control> {
    peers.peers[shard.index()].control_rx.try_recv().ok()
}

/// Serves `shard`'s inbox until the node sends the shard a request, and
/// returns that request; counts what it received into `stats`.
pub async fn next_control(
    shard: ShardId,
    peers: &PeerSet,
    router: &Rc<RefCell<ShardRouter>>,
    stats: &MeshStats,
) -> Control {
    let p = &peers.peers[shard.index()];
    loop {
        let n = drain_inbox(shard, peers, router);
        stats.received.set(stats.received.get() + n as u64);
        if n > 0 {
            // A message from another shard can complete a login (a dynamic
            // authenticator's answer) that then hands out crypto work.
            super::ports::spawn_auth_jobs(router);
        }
        if let Ok(c) = p.control_rx.try_recv() {
            return c;
        }
        std::future::poll_fn(|cx| {
            p.waker.register(cx.waker());
            p.armed.store(true, Ordering::Release);
            // Pairs with the fence in `ChannelMesh::flush` (see `armed`).
            fence(Ordering::SeqCst);
            if !p.rx.is_empty() || !p.control_rx.is_empty() {
                p.armed.store(false, Ordering::Relaxed);
                std::task::Poll::Ready(())
            } else {
                std::task::Poll::Pending
            }
        })
        .await;
        // Woken (or found work): senders need not wake us until we wait again.
        p.armed.store(false, Ordering::Relaxed);
        glommio::yield_if_needed().await;
    }
}
