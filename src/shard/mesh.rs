//! The runtime's cross-shard mesh: one unbounded crossbeam channel per shard
//! (its inbox) and an `AtomicWaker` to wake that shard's executor.
//!
//! FIFO per sender/receiver pair holds because a crossbeam channel is a
//! linearizable queue and each shard sends from one thread. Wake-ups are
//! batched: [`ChannelMesh`] only marks peers dirty on `send` and wakes each
//! dirty peer once in `flush` (end of a router step).

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_channel::{Receiver, Sender, TryRecvError};
use futures::task::AtomicWaker;

use crate::core::ShardRouter;
use crate::core::cluster::{Mesh, ShardMsg};
use crate::proto::ShardId;

/// One shard's inbox item.
pub enum Inbox {
    /// A router message from a shard.
    Msg(ShardId, ShardMsg),
}

/// One shard's receiving end and wake-up slot.
struct Peer {
    tx: Sender<Inbox>,
    rx: Receiver<Inbox>,
    waker: AtomicWaker,
    shutdown: AtomicBool,
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
                Peer {
                    tx,
                    rx,
                    waker: AtomicWaker::new(),
                    shutdown: AtomicBool::new(false),
                }
            })
            .collect();
        PeerSet { peers }
    }

    /// Flags every shard for shutdown and wakes it.
    pub fn shutdown_all(&self) {
        for p in &self.peers {
            p.shutdown.store(true, Ordering::Release);
            p.waker.wake();
        }
    }
}

/// A shard's sending side of the mesh.
pub struct ChannelMesh {
    me: ShardId,
    peers: Arc<PeerSet>,
    /// Peers sent to since the last flush.
    dirty: Vec<bool>,
}

impl ChannelMesh {
    /// The mesh as seen from shard `me`.
    pub fn new(me: ShardId, peers: Arc<PeerSet>) -> Self {
        let n = peers.peers.len();
        ChannelMesh {
            me,
            peers,
            dirty: vec![false; n],
        }
    }
}

impl Mesh for ChannelMesh {
    fn send(&mut self, to: ShardId, msg: ShardMsg) {
        let Some(p) = self.peers.peers.get(to.index()) else {
            return;
        };
        // The receiver lives as long as `PeerSet`, which we hold: send cannot fail.
        let _ = p.tx.send(Inbox::Msg(self.me, msg));
        self.dirty[to.index()] = true;
    }

    fn flush(&mut self) {
        for (i, d) in self.dirty.iter_mut().enumerate() {
            if std::mem::take(d) {
                self.peers.peers[i].waker.wake();
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
                if !front.is_empty() {
                    crate::transport::mqtt::takeover::on_front_msgs(&mut r, front);
                }
                return n;
            }
        }
    }
}

/// Serves `shard`'s inbox until shutdown is requested.
pub async fn run_inbox(shard: ShardId, peers: &PeerSet, router: &Rc<RefCell<ShardRouter>>) {
    let p = &peers.peers[shard.index()];
    loop {
        if drain_inbox(shard, peers, router) > 0 {
            // A message from another shard can complete a login (a dynamic
            // authenticator's answer) that then hands out crypto work.
            super::spawn_auth_jobs(router);
        }
        if p.shutdown.load(Ordering::Acquire) {
            return;
        }
        std::future::poll_fn(|cx| {
            p.waker.register(cx.waker());
            if !p.rx.is_empty() || p.shutdown.load(Ordering::Acquire) {
                std::task::Poll::Ready(())
            } else {
                std::task::Poll::Pending
            }
        })
        .await;
        glommio::yield_if_needed().await;
    }
}
