//! The shard ring's queue of receives that ran out of buffers, and the order
//! in which they are armed again: oldest first, each keeping its place until
//! it has received something. Part of the ring module (its `Inner` and
//! `Slot`); imports nothing above the transport layer.
//!
//! **Why an order at all.** A multishot receive that finds the provided-buffer
//! ring empty ends with `ENOBUFS`; the slot waits here and is armed again at a
//! flush, where it competes with every receive still armed (those take
//! buffers as data comes, in the task work that runs at any of the thread's
//! system calls) and with the other starved ones (the kernel serves the
//! re-armed receives in submission order, and one with much data takes up to
//! 32 buffers at once). The queue was a stack, and every starved receive was
//! armed again at every flush: the newest went first, the receives that came
//! back empty were pushed under the ones that starved meanwhile, and a few
//! connections waited for seconds while others were served (an MQTT QoS 1
//! fan-out to 1,000 subscribers on one shard lost messages: their PUBACKs
//! unread, their queues overflowed). Each flush also armed every starved
//! receive again, most of them only to end with `ENOBUFS` once more (2.9
//! million re-arms for 60,000 receives in a run with 16 buffers).
//!
//! **The rule.** At a flush, the buffers given back are published first, then
//! the oldest starved receives are armed again, as many as there are buffers
//! with the kernel (at least one buffer each), in the order they starved; they
//! are submitted before any other receive can run, so the oldest gets the
//! first buffers. One that ends with `ENOBUFS` again before it received
//! anything (others took the buffers) goes back to its place at the front;
//! one that received something and starved again goes to the back, behind
//! every connection that waited meanwhile. So a starved receive is served
//! within as many flushes (that have a buffer to give) as there are receives
//! ahead of it, however small the ring and however much one connection sends.

use std::collections::VecDeque;
use std::time::Instant;

use super::{Inner, Slot};

/// A receive waiting for buffers.
#[derive(Debug, Clone, Copy)]
pub(super) struct Starved {
    slot: u32,
    /// The slot's generation when it starved (a stale entry is skipped).
    generation: u16,
    /// The flush count when it starved.
    flush: u32,
    /// When it starved: microseconds since [`StarveQueue::epoch`] (wrapping;
    /// an entry stays 16 octets).
    since: u32,
}

/// The starved receives, oldest first, and those armed again at this flush.
pub(super) struct StarveQueue {
    queue: VecDeque<Starved>,
    /// Armed again at this flush, in queue order, until the flush's
    /// completions are in ([`Inner::settle_rearmed`]).
    trying: Vec<Starved>,
    /// Flushes that armed starved receives again (wrapping).
    flushes: u32,
    /// What [`Starved::since`] counts from.
    epoch: Instant,
}

impl Default for StarveQueue {
    fn default() -> Self {
        StarveQueue {
            queue: VecDeque::new(),
            trying: Vec::new(),
            flushes: 0,
            epoch: Instant::now(),
        }
    }
}

impl StarveQueue {
    /// Now, in microseconds since the epoch (wrapping every 71 minutes).
    fn now(&self) -> u32 {
        self.epoch.elapsed().as_micros() as u32
    }

    /// Whether no receive waits for buffers.
    pub(super) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Receives waiting now (stale entries included).
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.queue.len()
    }
}

impl Inner {
    /// `slot`'s receive ended and must be armed again: it waits at the back,
    /// or, when it was armed again at this flush and received nothing, at
    /// its place ([`Inner::settle_rearmed`] puts it back).
    pub(super) fn starve(&mut self, slot: u32) {
        let s = &mut self.slots[slot as usize];
        s.set(Slot::RECV_STARVED, true);
        if s.has(Slot::RECV_REARMED) {
            return;
        }
        self.starve.queue.push_back(Starved {
            slot,
            generation: s.generation,
            flush: self.starve.flushes,
            since: self.starve.now(),
        });
    }

    /// Arms again the oldest starved receives, as many as there are buffers
    /// with the kernel (none while there is none). Call after publishing the
    /// buffers given back and before submitting; then, once the completions
    /// are reaped, [`Inner::settle_rearmed`].
    pub(super) fn rearm_starved(&mut self) {
        let mut budget = self.bufs.lent();
        if budget == 0 || self.starve.queue.is_empty() {
            return;
        }
        let q = &mut self.starve;
        q.flushes = q.flushes.wrapping_add(1);
        let now = q.now();
        while budget > 0
            && let Some(e) = self.starve.queue.pop_front()
        {
            let s = &mut self.slots[e.slot as usize];
            if s.generation != e.generation || !s.has(Slot::OWNED) || !s.take(Slot::RECV_STARVED) {
                continue;
            }
            s.set(Slot::RECV_REARMED, true);
            budget -= 1;
            self.stats.starved += 1;
            let flushes = u64::from(self.starve.flushes.wrapping_sub(e.flush));
            let micros = u64::from(now.wrapping_sub(e.since));
            self.stats.starved_max_flushes = self.stats.starved_max_flushes.max(flushes);
            self.stats.starved_max_us = self.stats.starved_max_us.max(micros);
            self.starve.trying.push(e);
            self.arm_recv(e.slot);
        }
    }

    /// After the completions of a flush that armed starved receives again:
    /// one that ended for want of buffers before it received anything goes
    /// back to its place at the front (in its order); the others are armed.
    /// Whether receives wait for buffers.
    pub(super) fn settle_rearmed(&mut self) -> bool {
        while let Some(e) = self.starve.trying.pop() {
            let Some(s) = self.slots.get_mut(e.slot as usize) else {
                continue;
            };
            if s.generation != e.generation || !s.take(Slot::RECV_REARMED) {
                continue;
            }
            if s.has(Slot::RECV_STARVED) && s.has(Slot::OWNED) {
                self.starve.queue.push_front(e);
            }
        }
        !self.starve.queue.is_empty()
    }
}
