//! The shard's provided-buffer ring (`IORING_REGISTER_PBUF_RING`, kernel
//! 5.19): a set of receive buffers that the kernel picks from when a
//! multishot receive completes, so that a connection owns a buffer only while
//! the data in it waits to be decoded.
//!
//! The ring is an array of `io_uring_buf` entries `{addr, len, bid, resv}`
//! shared with the kernel; the `resv` field of entry 0 is the tail, which only
//! we write. The kernel consumes entries at its head; we give a buffer back by
//! writing an entry at the tail and publishing the new tail with a release
//! store. Buffers come back in any order: each entry names its buffer id.
//!
//! **The working set.** The kernel takes entries in ring order, so every
//! buffer lent to it is touched (made resident) within a few hundred
//! receives. Only the lowest [`BufRing::window`] buffers are lent: it starts at
//! [`START_WINDOW`], doubles (up to the configured count) when the shard runs
//! short ([`BufRing::short`], or a receive ended for want of buffers), and
//! halves or more ([`BufRing::tick`]) when for [`QUIET_TICKS`] ticks in a row
//! no more than a quarter of it was out of the kernel at once. A buffer with
//! an id at or above the window is not lent again when it comes back but
//! *parked*; [`BufRing::release_pages`] gives the pages of parked buffers back
//! to the operating system, one `madvise(MADV_DONTNEED)` per contiguous run.
//! Buffers still lent above a smaller window cannot be taken back from a
//! registered ring (the kernel may be filling one this instant): the owner
//! unregisters the ring, takes the completions already posted, calls
//! [`BufRing::reset`] and registers it again (`super::Inner::shrink`).
//!
//! Each buffer is in exactly one place: lent (in the ring, id below the
//! window), held (filled, ours until given back) or parked (ours, unused).
//!
//! Nothing here submits anything; the ring is registered by the caller.

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::sync::atomic::{AtomicU16, Ordering};

/// No buffer (end of a per-connection list).
pub(super) const NO_BUF: u16 = u16::MAX;

/// Buffers lent at start, and the least the window shrinks to.
pub(super) const START_WINDOW: u16 = 16;
/// Ticks in a row with at most a quarter of the window out of the kernel
/// before it shrinks.
pub(super) const QUIET_TICKS: u8 = 3;

/// Where a buffer is: in the kernel's ring.
const LENT: u8 = 0;
/// Filled by the kernel, ours until given back.
const HELD: u8 = 1;
/// Ours and unused: above the window.
const PARKED: u8 = 2;
/// With [`PARKED`]: its pages may be resident.
const DIRTY: u8 = 4;

/// One kernel ring entry (`struct io_uring_buf`).
#[repr(C)]
struct Entry {
    addr: u64,
    len: u32,
    bid: u16,
    /// In entry 0: the ring's tail.
    resv: u16,
}

/// The buffers and the ring that lends them to the kernel.
pub(super) struct BufRing {
    /// `entries` kernel entries, page-aligned, zeroed at start.
    ring: *mut Entry,
    ring_layout: Layout,
    /// `count * size` octets of buffer space, mapped on its own (pages are
    /// resident only once touched, and can be given back).
    data: *mut u8,
    data_len: usize,
    /// Octets per buffer.
    size: usize,
    /// Buffers (and ring entries; a power of two).
    count: u16,
    /// Buffers with an id below this one are lent (a power of two).
    window: u16,
    /// The least `window` shrinks to.
    min_window: u16,
    /// Our copy of the tail.
    tail: u16,
    /// Buffers handed back since the tail was last published.
    unpublished: u16,
    /// Per buffer: octets received into it (valid while it holds data).
    pub(super) len: Box<[u32]>,
    /// Per buffer: the next buffer of the same connection's receive queue.
    pub(super) next: Box<[u16]>,
    /// Per buffer: [`LENT`], [`HELD`] or [`PARKED`] (with [`DIRTY`]).
    state: Box<[u8]>,
    /// Buffers currently lent to the kernel.
    lent: u16,
    /// Buffers held now.
    held: u16,
    /// The most buffers held at once since the last [`BufRing::tick`].
    peak: u16,
    /// Parked buffers with [`DIRTY`].
    dirty: u16,
    /// Quiet ticks in a row.
    quiet: u8,
    /// The highest peak of those ticks.
    quiet_peak: u16,
}

impl BufRing {
    /// `count` buffers (a power of two, at most 32,768) of `size` octets, the
    /// lowest `window` of them lent (clamped to `1..=count`; a power of two).
    ///
    /// # Panics
    /// When `count` or `window` is not a power of two or memory cannot be had.
    pub(super) fn new(count: u16, size: usize, window: u16) -> BufRing {
        assert!(count.is_power_of_two() && count <= 1 << 15, "ring size");
        let window = window.clamp(1, count);
        assert!(window.is_power_of_two(), "window size");
        let ring_layout = Layout::from_size_align(
            (count as usize * std::mem::size_of::<Entry>()).max(4096),
            4096,
        )
        .expect("ring layout");
        // SAFETY: the layout has a non-zero size.
        let ring = unsafe { alloc_zeroed(ring_layout) };
        assert!(!ring.is_null(), "no memory for the receive ring");
        let data_len = (count as usize * size).max(1);
        // SAFETY: a fresh private anonymous mapping; nothing else refers to it.
        let data = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                data_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert!(
            data != libc::MAP_FAILED,
            "no memory for the receive buffers"
        );
        let mut bufs = BufRing {
            ring: ring.cast(),
            ring_layout,
            data: data.cast(),
            data_len,
            size,
            count,
            window,
            min_window: window,
            tail: 0,
            unpublished: 0,
            len: vec![0; count as usize].into_boxed_slice(),
            next: vec![NO_BUF; count as usize].into_boxed_slice(),
            state: vec![PARKED; count as usize].into_boxed_slice(),
            lent: 0,
            held: 0,
            peak: 0,
            dirty: 0,
            quiet: 0,
            quiet_peak: 0,
        };
        for bid in 0..window {
            bufs.lend(bid);
        }
        bufs.publish();
        bufs
    }

    /// The ring's address, for `IORING_REGISTER_PBUF_RING`.
    pub(super) fn ring_addr(&self) -> u64 {
        self.ring as u64
    }

    /// Ring entries (the most buffers there can be).
    pub(super) fn entries(&self) -> u16 {
        self.count
    }

    /// Buffers lent to the kernel now.
    pub(super) fn lent(&self) -> u16 {
        self.lent
    }

    /// Buffers in use: ids below this one are lent when they come back.
    pub(super) fn window(&self) -> u16 {
        self.window
    }

    /// Whether the window is above its least size, or parked buffers' pages
    /// wait to be given back: there is work for [`BufRing::tick`] and
    /// [`BufRing::release_pages`].
    pub(super) fn trimmable(&self) -> bool {
        self.window > self.min_window || self.dirty > 0
    }

    /// Pages of the buffer space resident now (`mincore`).
    #[cfg(test)]
    pub(super) fn resident_pages(&self) -> usize {
        let page = page_size();
        let mut vec = vec![0u8; self.data_len.div_ceil(page)];
        // SAFETY: `data` is a mapping of `data_len` octets; `vec` has an
        // octet per page.
        let r = unsafe { libc::mincore(self.data.cast(), self.data_len, vec.as_mut_ptr()) };
        assert_eq!(r, 0, "mincore");
        vec.iter().filter(|&&v| v & 1 != 0).count()
    }

    /// The kernel filled buffer `bid` with `len` octets: it is ours until
    /// [`BufRing::give_back`].
    pub(super) fn taken(&mut self, bid: u16, len: u32) {
        debug_assert_eq!(self.state[bid as usize], LENT, "buffer {bid} taken twice");
        self.state[bid as usize] = HELD;
        self.len[bid as usize] = len;
        self.next[bid as usize] = NO_BUF;
        self.lent -= 1;
        self.held += 1;
        if self.held > self.peak {
            self.peak = self.held;
        }
    }

    /// Whether few buffers are left with the kernel (under a quarter of the
    /// window) and the window may still grow.
    pub(super) fn short(&self) -> bool {
        self.lent < self.window / 4 && self.window < self.count
    }

    /// Doubles the window (up to the count), lending (and publishing) the
    /// parked buffers that enter it; whether it grew.
    pub(super) fn grow(&mut self) -> bool {
        self.quiet = 0;
        self.quiet_peak = 0;
        if self.window >= self.count {
            return false;
        }
        let to = self.window * 2;
        for bid in self.window..to {
            let st = self.state[bid as usize];
            if st & PARKED != 0 {
                if st & DIRTY != 0 {
                    self.dirty -= 1;
                }
                self.lend(bid);
            }
        }
        self.window = to;
        self.publish();
        true
    }

    /// The octets of buffer `bid` from `from` to what was received.
    ///
    /// # Safety
    /// The buffer must be ours (taken, not given back), and the returned
    /// slice must be dropped before it is given back.
    pub(super) unsafe fn slice<'a>(&self, bid: u16, from: usize) -> &'a mut [u8] {
        let len = self.len[bid as usize] as usize;
        debug_assert!(from <= len && len <= self.size);
        // SAFETY: `bid < count`, so the range lies within `data`; the caller
        // guarantees that nobody else (the kernel included) uses it.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.data.add(bid as usize * self.size + from),
                len - from,
            )
        }
    }

    /// Buffer `bid`, taken by the kernel, is done with: lent again when it
    /// lies within the window, else parked. The entry is published with the
    /// next flush ([`BufRing::publish`]), right before the receives that ran
    /// dry are armed again (oldest first, `starve.rs`), not at once: published
    /// at once, a buffer goes to the sockets whose receives are still armed
    /// (at any system call of the thread), and a connection whose receive
    /// ended with `ENOBUFS` can lose that race flush after flush (an MQTT
    /// QoS 1 fan-out to 1,000 subscribers on one shard then starved a few of
    /// them until their queues overflowed; BENCHMARKS.md, "The merged tree of
    /// 2026-12-05 (fourth session)").
    pub(super) fn give_back(&mut self, bid: u16) {
        debug_assert_eq!(self.state[bid as usize], HELD, "buffer {bid} not held");
        self.held -= 1;
        if bid < self.window {
            self.lend(bid);
        } else {
            self.state[bid as usize] = PARKED | DIRTY;
            self.dirty += 1;
        }
    }

    /// Writes an entry for `bid` at the tail.
    fn lend(&mut self, bid: u16) {
        let idx = (self.tail & (self.count - 1)) as usize;
        // SAFETY: `idx < count`; the kernel reads only entries between its head
        // and the published tail, and this one is past the tail.
        unsafe {
            let e = &mut *self.ring.add(idx);
            e.addr = self.data.add(bid as usize * self.size) as u64;
            e.len = self.size as u32;
            e.bid = bid;
        }
        self.state[bid as usize] = LENT;
        self.tail = self.tail.wrapping_add(1);
        self.unpublished += 1;
        self.lent += 1;
    }

    /// Publishes the buffers given back since the last call.
    pub(super) fn publish(&mut self) {
        if self.unpublished == 0 {
            return;
        }
        self.unpublished = 0;
        self.store_tail();
    }

    fn store_tail(&mut self) {
        // SAFETY: the tail is the `resv` field of entry 0, a u16 that only we
        // write; the kernel reads it with an acquire load.
        unsafe {
            let tail = std::ptr::addr_of_mut!((*self.ring).resv) as *const AtomicU16;
            (*tail).store(self.tail, Ordering::Release);
        }
    }

    /// One tick of the shrinking clock (about a second): the window a shrink
    /// should go to, when this is the last of [`QUIET_TICKS`] quiet ticks in a
    /// row (a quiet tick: at most a quarter of the window held at once since
    /// the last one). The target is the least power of two at least twice the
    /// highest of those ticks' peaks, and not under the window's least size.
    pub(super) fn tick(&mut self) -> Option<u16> {
        let peak = std::mem::replace(&mut self.peak, self.held);
        if self.window <= self.min_window || u32::from(peak) * 4 > u32::from(self.window) {
            self.quiet = 0;
            self.quiet_peak = 0;
            return None;
        }
        self.quiet += 1;
        self.quiet_peak = self.quiet_peak.max(peak);
        if self.quiet < QUIET_TICKS {
            return None;
        }
        let peak = std::mem::take(&mut self.quiet_peak);
        self.quiet = 0;
        Some((peak.max(1) * 2).next_power_of_two().max(self.min_window))
    }

    /// Starts the ring over with `window` buffers lent, the kernel's head back
    /// at entry 0 (as after a registration): every buffer not held is lent if
    /// below the window, else parked. Publish after registering the ring.
    ///
    /// The ring must not be registered meanwhile, and every completion the
    /// kernel posted before it was unregistered must have been taken: a
    /// buffer not held is then unused.
    pub(super) fn reset(&mut self, window: u16) {
        debug_assert!(window.is_power_of_two() && window <= self.count);
        self.tail = 0;
        self.unpublished = 0;
        self.lent = 0;
        self.quiet = 0;
        self.quiet_peak = 0;
        self.store_tail();
        self.window = window.clamp(1, self.count);
        for bid in 0..self.count {
            let st = self.state[bid as usize];
            if st == HELD {
                continue;
            }
            if bid < self.window {
                if st & DIRTY != 0 {
                    self.dirty -= 1;
                }
                self.lend(bid);
            } else if st == LENT {
                // Perhaps filled before: its pages may be resident.
                self.state[bid as usize] = PARKED | DIRTY;
                self.dirty += 1;
            }
        }
    }

    /// Gives the pages of parked buffers back to the operating system, one
    /// `madvise` per contiguous run of them; how many calls were made.
    /// (Pages only partly covered by a run stay: none with page-sized buffers.)
    pub(super) fn release_pages(&mut self) -> usize {
        if self.dirty == 0 {
            return 0;
        }
        let page = page_size();
        let mut calls = 0;
        let mut bid = 0usize;
        let count = self.count as usize;
        while bid < count {
            if self.state[bid] & DIRTY == 0 {
                bid += 1;
                continue;
            }
            let first = bid;
            while bid < count && self.state[bid] & PARKED != 0 {
                if self.state[bid] & DIRTY != 0 {
                    self.state[bid] = PARKED;
                    self.dirty -= 1;
                }
                bid += 1;
            }
            let start = (first * self.size).next_multiple_of(page);
            let end = (bid * self.size) / page * page;
            if start < end {
                // SAFETY: the range lies within `data` and holds only parked
                // buffers, which neither the kernel nor anyone here uses; the
                // mapping is private and anonymous, so the pages read as
                // zeros when touched again.
                let r = unsafe {
                    libc::madvise(
                        self.data.add(start).cast(),
                        end - start,
                        libc::MADV_DONTNEED,
                    )
                };
                if r != 0 {
                    tracing::debug!(
                        error = %std::io::Error::last_os_error(),
                        "madvise on parked receive buffers"
                    );
                }
                calls += 1;
            }
        }
        calls
    }
}

/// The system's page size.
fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(p).unwrap_or(4096).max(1)
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: allocated and mapped in `new` with these sizes. The owner
        // unregisters the ring (or leaks it) before the kernel could touch it
        // again.
        unsafe {
            dealloc(self.ring.cast(), self.ring_layout);
            libc::munmap(self.data.cast(), self.data_len);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    /// The kernel's side of the ring: takes published entries at its head.
    #[derive(Default)]
    struct Kernel {
        head: u16,
    }

    impl Kernel {
        /// The published tail.
        fn tail(b: &BufRing) -> u16 {
            // SAFETY: reading the tail of our own ring, as the kernel does.
            unsafe {
                (*(std::ptr::addr_of!((*b.ring).resv) as *const AtomicU16)).load(Ordering::Acquire)
            }
        }

        /// The entry at ring position `pos`: (buffer id, address, length).
        fn entry(b: &BufRing, pos: u16) -> (u16, u64, u32) {
            // SAFETY: `pos & (count - 1)` is within the ring.
            let e = unsafe { &*b.ring.add((pos & (b.count - 1)) as usize) };
            (e.bid, e.addr, e.len)
        }

        /// Receives `len` octets into the next buffer, as a multishot receive
        /// does; `None` is ENOBUFS.
        fn recv(&mut self, b: &mut BufRing, len: u32) -> Option<u16> {
            if self.head == Kernel::tail(b) {
                return None;
            }
            let (bid, addr, elen) = Kernel::entry(b, self.head);
            assert_eq!(addr, b.data as u64 + u64::from(bid) * b.size as u64);
            assert_eq!(elen as usize, b.size);
            self.head = self.head.wrapping_add(1);
            // SAFETY: the entry lends this buffer to the kernel.
            unsafe { std::ptr::write_bytes(addr as *mut u8, 0xa5, len as usize) };
            b.taken(bid, len);
            Some(bid)
        }

        /// The ring was registered again: the head is back at entry 0.
        fn reregister(&mut self) {
            self.head = 0;
        }
    }

    /// Every buffer is in exactly one place, and the counters agree.
    fn check(b: &BufRing, k: &Kernel, held: &BTreeSet<u16>) {
        let mut lent = BTreeSet::new();
        let mut pos = k.head;
        while pos != b.tail {
            let (bid, _, _) = Kernel::entry(b, pos);
            assert!(lent.insert(bid), "buffer {bid} lent twice");
            assert!(
                bid < b.window,
                "buffer {bid} lent above the window {}",
                b.window
            );
            assert_eq!(b.state[bid as usize], LENT);
            pos = pos.wrapping_add(1);
        }
        assert_eq!(lent.len(), usize::from(b.lent));
        assert_eq!(held.len(), usize::from(b.held));
        let mut dirty = 0;
        for bid in 0..b.count {
            let st = b.state[bid as usize];
            let (in_ring, is_held) = (lent.contains(&bid), held.contains(&bid));
            assert!(!(in_ring && is_held), "buffer {bid} lent and held");
            if is_held {
                assert_eq!(st, HELD, "buffer {bid}");
            } else if !in_ring {
                assert!(st & PARKED != 0, "buffer {bid} lost (state {st})");
                assert!(bid >= b.window, "buffer {bid} parked within the window");
                dirty += usize::from(st & DIRTY != 0);
            }
        }
        assert_eq!(dirty, usize::from(b.dirty));
        assert!(b.window.is_power_of_two() && b.window >= b.min_window);
    }

    #[test]
    fn buffers_go_round_and_the_tail_is_published() {
        let mut b = BufRing::new(4, 64, 4);
        let mut k = Kernel::default();
        assert_eq!(b.lent(), 4);
        assert_eq!(Kernel::tail(&b), 4);
        assert_eq!(k.recv(&mut b, 10), Some(0));
        assert_eq!(k.recv(&mut b, 10), Some(1));
        assert_eq!(k.recv(&mut b, 10), Some(2));
        assert_eq!(b.lent(), 1);
        // SAFETY: buffer 2 is ours.
        let s = unsafe { b.slice(2, 3) };
        assert_eq!(s.len(), 7);
        s.copy_from_slice(b"abcdefg");
        b.give_back(2);
        assert_eq!(b.lent(), 2);
        // Not visible to the kernel before the next flush publishes it (right
        // before the receives that ran dry are armed again: see `give_back`).
        assert_eq!(Kernel::tail(&b), 4);
        assert_eq!(k.recv(&mut b, 1), Some(3));
        assert_eq!(k.recv(&mut b, 1), None);
        b.publish();
        assert_eq!(Kernel::tail(&b), 5);
        // Entry 0 was rewritten with buffer 2 (tail 4 wraps to index 0).
        let (bid, addr, len) = Kernel::entry(&b, 4);
        assert_eq!((bid, len), (2, 64));
        assert_eq!(addr, b.data as u64 + 2 * 64);
        assert_eq!(k.recv(&mut b, 1), Some(2));
        assert_eq!(k.recv(&mut b, 1), None);
    }

    #[test]
    fn only_the_window_is_lent_at_start_and_nothing_is_resident() {
        let b = BufRing::new(256, 4096, START_WINDOW);
        let k = Kernel::default();
        assert_eq!((b.window(), b.lent(), b.entries()), (16, 16, 256));
        assert_eq!(Kernel::tail(&b), 16);
        check(&b, &k, &BTreeSet::new());
        assert_eq!(
            b.resident_pages(),
            0,
            "no buffer page is touched before a receive"
        );
        assert!(!b.trimmable());
        // A window above the count is the count.
        assert_eq!(BufRing::new(8, 64, 16).window(), 8);
    }

    #[test]
    fn a_short_ring_grows_by_doubling_up_to_the_count() {
        let mut b = BufRing::new(64, 64, 16);
        let mut k = Kernel::default();
        let mut held = BTreeSet::new();
        while !b.short() {
            held.insert(k.recv(&mut b, 8).expect("lent"));
        }
        // Under a quarter of 16 left: 3.
        assert_eq!((b.lent(), held.len()), (3, 13));
        assert!(b.grow());
        assert_eq!((b.window(), b.lent()), (32, 19));
        check(&b, &k, &held);
        b.publish();
        // The kernel sees the new buffers after the ones it had.
        let next: Vec<u16> = (0..4).map(|_| k.recv(&mut b, 8).expect("lent")).collect();
        assert_eq!(next, [13, 14, 15, 16]);
        held.extend(next);
        assert!(b.grow());
        assert!(!b.grow(), "64 is the count");
        assert_eq!((b.window(), b.lent()), (64, 47));
        check(&b, &k, &held);
    }

    #[test]
    fn enobufs_then_growth_gives_the_kernel_buffers_again() {
        // A receive that finds the ring empty (ENOBUFS) grows the window.
        let mut b = BufRing::new(32, 64, 16);
        let mut k = Kernel::default();
        let mut held = BTreeSet::new();
        while let Some(bid) = k.recv(&mut b, 64) {
            held.insert(bid);
        }
        assert_eq!((held.len(), b.lent()), (16, 0));
        assert!(b.grow());
        b.publish();
        let bid = k.recv(&mut b, 64).expect("a buffer after growing");
        assert_eq!(bid, 16);
        held.insert(bid);
        check(&b, &k, &held);
    }

    #[test]
    fn buffers_above_a_smaller_window_are_parked_out_of_order_and_released() {
        let mut b = BufRing::new(64, 4096, 16);
        let mut k = Kernel::default();
        let mut held = BTreeSet::new();
        assert!(b.grow() && b.grow());
        b.publish();
        for _ in 0..40 {
            held.insert(k.recv(&mut b, 100).expect("lent"));
        }
        assert!(b.resident_pages() >= 40);
        // The shard goes quiet: 3 quiet ticks (at most 16 of 64 held) shrink it.
        for id in [39, 2, 21, 38, 17, 0] {
            held.remove(&id);
            b.give_back(id);
        }
        let keep: Vec<u16> = held.iter().copied().filter(|&id| id != 20).collect();
        for &id in &keep {
            b.give_back(id);
        }
        held.retain(|id| *id == 20);
        b.publish();
        check(&b, &k, &held);
        assert_eq!(b.tick(), None, "40 held since the last tick: busy");
        assert_eq!(b.tick(), None);
        assert_eq!(b.tick(), None);
        assert_eq!(
            b.tick(),
            Some(16),
            "third quiet tick: twice the peak of 1, at least 16"
        );
        // Unregistered, completions taken: start over with 16.
        b.reset(16);
        k.reregister();
        b.publish();
        check(&b, &k, &held);
        assert_eq!(b.lent(), 16);
        assert_eq!(
            b.dirty,
            64 - 16 - 1,
            "every buffer lent above 16 may be touched"
        );
        // Out of order and above the window: parked, not lent.
        held.remove(&20);
        b.give_back(20);
        assert_eq!((b.lent(), b.dirty), (16, 48));
        check(&b, &k, &held);
        // One call for the run 16..64.
        assert!(b.trimmable());
        assert_eq!(b.release_pages(), 1);
        assert!(!b.trimmable());
        assert_eq!(
            b.resident_pages(),
            16,
            "the pages of buffers 16..40 are given back"
        );
        check(&b, &k, &held);
        // Growing again lends the parked (released) buffers once.
        assert!(b.grow());
        b.publish();
        check(&b, &k, &held);
        assert_eq!(b.lent(), 32);
    }

    #[test]
    fn a_held_buffer_above_the_new_window_is_released_in_its_own_run() {
        let mut b = BufRing::new(64, 4096, 64);
        b.min_window = 16;
        let mut k = Kernel::default();
        let mut held = BTreeSet::new();
        for _ in 0..64 {
            held.insert(k.recv(&mut b, 1).expect("lent"));
        }
        for id in 0..64 {
            if id != 30 {
                held.remove(&id);
                b.give_back(id);
            }
        }
        b.reset(16);
        k.reregister();
        b.publish();
        check(&b, &k, &held);
        // 16..30 and 31..64 around the held buffer 30.
        assert_eq!(b.release_pages(), 2);
        held.remove(&30);
        b.give_back(30);
        assert_eq!(b.release_pages(), 1);
        assert_eq!(b.resident_pages(), 16);
        check(&b, &k, &held);
    }

    #[test]
    fn a_busy_tick_restarts_the_quiet_count_and_growth_too() {
        let mut b = BufRing::new(256, 64, 16);
        let mut k = Kernel::default();
        let mut held = Vec::new();
        for _ in 0..4 {
            assert!(b.grow());
        }
        b.publish();
        assert_eq!(b.window(), 256);
        assert_eq!(b.tick(), None);
        assert_eq!(b.tick(), None);
        // 65 held at once (over a quarter of 256): not quiet.
        for _ in 0..65 {
            held.push(k.recv(&mut b, 1).expect("lent"));
        }
        for id in held.drain(..) {
            b.give_back(id);
        }
        b.publish();
        assert_eq!(b.tick(), None);
        assert_eq!(b.tick(), None);
        assert_eq!(b.tick(), None);
        // 64 held: quiet, the target twice the peak.
        for _ in 0..64 {
            held.push(k.recv(&mut b, 1).expect("lent"));
        }
        for id in held.drain(..) {
            b.give_back(id);
        }
        assert!(
            !b.grow(),
            "at the count: no growth, but the quiet count restarts"
        );
        assert_eq!(b.tick(), None);
        assert_eq!(b.tick(), None);
        assert_eq!(
            b.tick(),
            Some(128),
            "twice the highest peak of the quiet ticks (64)"
        );
        b.reset(128);
        assert_eq!(b.tick(), None);
        assert_eq!(b.tick(), None);
        assert_eq!(b.tick(), Some(16), "idle: back to the least window");
        // At the least window: never.
        b.reset(16);
        for _ in 0..5 {
            assert_eq!(b.tick(), None);
        }
    }

    /// One step of the property test.
    #[derive(Debug, Clone)]
    enum Step {
        Recv(u8),
        GiveBack(usize),
        Publish,
        Grow,
        Tick,
        Shrink(u8),
        Release,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => (1u8..4).prop_map(Step::Recv),
            4 => any::<usize>().prop_map(Step::GiveBack),
            2 => Just(Step::Publish),
            1 => Just(Step::Grow),
            1 => Just(Step::Tick),
            1 => (0u8..4).prop_map(Step::Shrink),
            1 => Just(Step::Release),
        ]
    }

    proptest! {
        /// Whatever the kernel takes and whatever order buffers come back in,
        /// through growth, shrinking and page release: no buffer is lost or
        /// lent twice, only buffers within the window are lent, and the
        /// kernel's data is never released while held.
        #[test]
        fn no_buffer_is_lost_or_lent_twice(steps in proptest::collection::vec(step(), 1..200)) {
            let mut b = BufRing::new(64, 4096, 4);
            let mut k = Kernel::default();
            let mut held: BTreeSet<u16> = BTreeSet::new();
            for s in steps {
                match s {
                    Step::Recv(n) => {
                        for _ in 0..n {
                            match k.recv(&mut b, 4096) {
                                Some(bid) => prop_assert!(held.insert(bid), "buffer {} taken twice", bid),
                                None => {
                                    b.grow();
                                }
                            }
                            if b.short() {
                                b.grow();
                            }
                        }
                    }
                    Step::GiveBack(i) => {
                        if !held.is_empty() {
                            let bid = *held.iter().nth(i % held.len()).expect("in range");
                            held.remove(&bid);
                            b.give_back(bid);
                        }
                    }
                    Step::Publish => b.publish(),
                    Step::Grow => {
                        b.grow();
                    }
                    Step::Tick => {
                        if let Some(w) = b.tick() {
                            prop_assert!(w < b.window());
                            b.reset(w);
                            k.reregister();
                        }
                    }
                    Step::Shrink(shift) => {
                        let w = (b.window() >> shift).max(b.min_window);
                        b.reset(w);
                        k.reregister();
                    }
                    Step::Release => {
                        b.release_pages();
                    }
                }
                check(&b, &k, &held);
                for &bid in &held {
                    // SAFETY: held buffers are ours.
                    let data = unsafe { b.slice(bid, 0) };
                    prop_assert!(data.iter().all(|&x| x == 0xa5), "buffer {} lost its data", bid);
                }
            }
        }
    }
}
