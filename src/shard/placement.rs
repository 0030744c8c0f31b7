//! Connection placement: which shard serves a new connection.
//!
//! Every shard accepts on its own `SO_REUSEPORT` listener, so the kernel's
//! hash of the connection's addresses picks the accepting shard: random, and
//! at a light load it spreads a handful of sessions over every shard, which
//! then each wake for their own share (and for the messages between them).
//! With placement on (`junction.pack_connections` = N ≥ 1), the accepting
//! shard asks [`choose`] for the shard to serve the connection:
//!
//! - **packing**: the lowest shard holding fewer than N connections, so a
//!   router with a few sessions runs them all on shard 0 and the other
//!   shards sleep;
//! - **least connections**: once every shard holds N, the shard with the
//!   fewest (the accepting shard on a tie), which evens out the kernel's
//!   random imbalance.
//!
//! A connection chosen for another shard moves there as its socket
//! descriptor ([`crate::transport::listener::Detached`]) through that shard's
//! [`Placement`] inbox, before anything is read from it (TLS handshake
//! included); the target puts it on its own ring and serves it there.
//!
//! The connection counts are one atomic per shard, written when a
//! connection is placed and when it ends ([`Counted`]'s drop) and read only
//! when a connection is accepted: nothing on the message path touches them.
//! Two shards accepting at the same instant may both pick the same shard;
//! the next accepts correct it.
//!
//! What is not here: the accept loops and serving (`shard/listeners.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::Poll;

use crossbeam_channel::{Receiver, Sender};
use futures::task::AtomicWaker;

use crate::transport::listener::Detached;

/// The shard that serves a new connection accepted by shard `local`, given
/// each shard's open connections (`usize::MAX`: a shard that takes none,
/// e.g. one stopping) and the packing threshold `pack` (≥ 1; 0 is "no
/// placement" and is decided by the caller).
///
/// The lowest shard with fewer than `pack` connections; when every shard
/// has `pack` or more, the one with the fewest, `local` first among equals,
/// then the lowest. `local` when no shard takes connections.
pub fn choose(counts: &[usize], pack: usize, local: usize) -> usize {
    if let Some(i) = counts.iter().position(|&c| c < pack) {
        return i;
    }
    let Some(&min) = counts.iter().min() else {
        return local;
    };
    if min == usize::MAX {
        return local;
    }
    if counts.get(local) == Some(&min) {
        return local;
    }
    counts.iter().position(|&c| c == min).unwrap_or(local)
}

/// A connection handed to another shard: the transport it arrived on (its
/// ID: the target serves it with its own copy of that transport), the
/// socket, and its place in the target's count.
pub struct Handoff {
    /// The transport's ID.
    pub transport: String,
    /// The accepted connection.
    pub conn: Detached,
    /// Counts the connection on the target shard until it ends.
    pub counted: Counted,
}

/// One shard's part of the placement state.
struct Slot {
    /// Open connections this shard serves (placed on it, not ended).
    count: Arc<AtomicUsize>,
    /// Whether the shard takes connections (false once it stops listening).
    open: AtomicBool,
    /// Connections handed to this shard.
    tx: Sender<Handoff>,
    rx: Receiver<Handoff>,
    /// Wakes the shard's adopting task.
    waker: AtomicWaker,
}

/// The router's placement state, shared by every shard.
pub struct Placement {
    slots: Vec<Slot>,
    /// The packing threshold (`junction.pack_connections`; 0: off, the
    /// kernel's hash decides). Changed by a reload.
    pack: AtomicUsize,
}

impl Placement {
    /// The state for `shards` shards, packing `pack` connections per shard.
    pub fn new(shards: usize, pack: usize) -> Placement {
        let slots = (0..shards)
            .map(|_| {
                let (tx, rx) = crossbeam_channel::unbounded();
                Slot {
                    count: Arc::default(),
                    open: AtomicBool::new(true),
                    tx,
                    rx,
                    waker: AtomicWaker::new(),
                }
            })
            .collect();
        Placement {
            slots,
            pack: AtomicUsize::new(pack),
        }
    }

    /// Sets the packing threshold (a reload).
    pub fn set_pack(&self, pack: usize) {
        self.pack.store(pack, Ordering::Relaxed);
    }

    /// The shard that should serve a connection `local` accepted: `local`
    /// itself when placement is off or there is one shard.
    pub fn target(&self, local: usize) -> usize {
        let pack = self.pack.load(Ordering::Relaxed);
        if pack == 0 || self.slots.len() < 2 {
            return local;
        }
        let counts: Vec<usize> = self
            .slots
            .iter()
            .map(|s| {
                if s.open.load(Ordering::Relaxed) {
                    s.count.load(Ordering::Relaxed)
                } else {
                    usize::MAX
                }
            })
            .collect();
        choose(&counts, pack, local)
    }

    /// Counts a new connection on `shard` until the returned guard drops.
    ///
    /// # Panics
    /// When `shard` is not a shard of this router.
    pub fn count(&self, shard: usize) -> Counted {
        let count = Arc::clone(&self.slots[shard].count);
        count.fetch_add(1, Ordering::Relaxed);
        Counted::new(count)
    }

    /// Open connections per shard, as counted (every shard's, in order).
    pub fn counts(&self) -> Vec<usize> {
        self.slots
            .iter()
            .map(|s| s.count.load(Ordering::Relaxed))
            .collect()
    }

    /// Hands `h` to shard `to` and wakes it. Returns it when `to` takes no
    /// connections (stopping, or no such shard).
    ///
    /// # Errors
    /// The handoff itself, for the caller to serve or drop.
    pub fn hand(&self, to: usize, h: Handoff) -> Result<(), Handoff> {
        let Some(slot) = self.slots.get(to) else {
            return Err(h);
        };
        if !slot.open.load(Ordering::Acquire) {
            return Err(h);
        }
        // The receiver lives as long as `self`: send cannot fail.
        let _ = slot.tx.send(h);
        slot.waker.wake();
        Ok(())
    }

    /// Shard `shard` stops taking connections: the others stop choosing it
    /// (connections already handed to it are dropped with its inbox, or
    /// served if its adopting task still runs).
    pub fn close(&self, shard: usize) {
        if let Some(s) = self.slots.get(shard) {
            s.open.store(false, Ordering::Release);
        }
    }

    /// The next connection handed to `shard`; waits until one comes.
    ///
    /// # Panics
    /// When `shard` is not a shard of this router.
    pub async fn next(&self, shard: usize) -> Handoff {
        let slot = &self.slots[shard];
        std::future::poll_fn(|cx| {
            if let Ok(h) = slot.rx.try_recv() {
                return Poll::Ready(h);
            }
            slot.waker.register(cx.waker());
            // A handoff sent before the registration is seen here.
            match slot.rx.try_recv() {
                Ok(h) => Poll::Ready(h),
                Err(_) => Poll::Pending,
            }
        })
        .await
    }
}

/// A connection counted on its shard; the count drops with it (the
/// transport's type: a parked MQTT connection keeps it without a task).
pub use crate::transport::Counted;

#[cfg(test)]
mod tests {
    use super::*;

    /// Places `n` connections one after another on `shards` shards, each
    /// accepted by shard `i % shards` (the kernel's spread), none ending.
    fn place(n: usize, shards: usize, pack: usize) -> Vec<usize> {
        let mut counts = vec![0; shards];
        for i in 0..n {
            let t = choose(&counts, pack, i % shards);
            counts[t] += 1;
        }
        counts
    }

    #[test]
    fn a_light_load_packs_onto_the_lowest_shard() {
        assert_eq!(place(9, 2, 32), vec![9, 0]);
        assert_eq!(place(32, 2, 32), vec![32, 0]);
        assert_eq!(place(33, 2, 32), vec![32, 1]);
        assert_eq!(place(40, 4, 16), vec![16, 16, 8, 0]);
    }

    #[test]
    fn above_the_threshold_least_connections_evens_out() {
        assert_eq!(place(144, 2, 32), vec![72, 72]);
        assert_eq!(place(145, 2, 32), vec![73, 72]);
        assert_eq!(place(100, 4, 1), vec![25, 25, 25, 25]);
        assert_eq!(place(130, 4, 32), vec![33, 33, 32, 32]);
    }

    #[test]
    fn ties_stay_on_the_accepting_shard_then_go_lowest() {
        assert_eq!(choose(&[40, 40], 32, 1), 1);
        assert_eq!(choose(&[40, 40], 32, 0), 0);
        assert_eq!(choose(&[40, 35, 35], 32, 0), 1);
        assert_eq!(choose(&[40, 35, 35], 32, 2), 2);
        // Below the threshold packing wins over the accepting shard.
        assert_eq!(choose(&[3, 0], 32, 1), 0);
    }

    #[test]
    fn closed_shards_are_never_chosen() {
        assert_eq!(choose(&[usize::MAX, 5], 32, 0), 1);
        assert_eq!(choose(&[usize::MAX, 50], 32, 0), 1);
        assert_eq!(choose(&[usize::MAX, usize::MAX], 32, 1), 1);
        assert_eq!(choose(&[], 32, 0), 0);
    }

    #[test]
    fn connections_that_end_free_their_place() {
        let p = Placement::new(2, 2);
        let a = p.count(p.target(1));
        let b = p.count(p.target(1));
        assert_eq!(p.counts(), vec![2, 0]);
        let c = p.count(p.target(0));
        assert_eq!(p.counts(), vec![2, 1]);
        drop(a);
        assert_eq!(p.counts(), vec![1, 1]);
        assert_eq!(p.target(1), 0, "shard 0 is below the threshold again");
        drop((b, c));
        assert_eq!(p.counts(), vec![0, 0]);
    }

    #[test]
    fn off_or_one_shard_keeps_the_accepting_shard() {
        let off = Placement::new(2, 0);
        let _held: Vec<Counted> = (0..5).map(|_| off.count(1)).collect();
        assert_eq!(off.target(1), 1);
        assert_eq!(off.target(0), 0);
        let one = Placement::new(1, 32);
        assert_eq!(one.target(0), 0);
        off.set_pack(32);
        assert_eq!(off.target(1), 0, "a reload turned placement on");
    }

    #[test]
    fn a_stopping_shard_takes_no_connections() {
        let p = Placement::new(2, 32);
        p.close(0);
        assert_eq!(p.target(0), 1);
        let (a, _b) = std::os::unix::net::UnixStream::pair().expect("pair");
        let h = Handoff {
            transport: "ws".into(),
            conn: Detached::for_test(a.into(), "unix"),
            counted: p.count(0),
        };
        let back = p.hand(0, h).expect_err("shard 0 is closed");
        assert_eq!(back.transport, "ws");
        drop(back);
        assert_eq!(p.counts(), vec![0, 0]);
    }
}
