//! The shard's provided-buffer ring (`IORING_REGISTER_PBUF_RING`, kernel
//! 5.19): a fixed set of receive buffers that the kernel picks from when a
//! multishot receive completes, so that a connection owns a buffer only while
//! the data in it waits to be decoded.
//!
//! The ring is an array of `io_uring_buf` entries `{addr, len, bid, resv}`
//! shared with the kernel; the `resv` field of entry 0 is the tail, which only
//! we write. The kernel consumes entries at its head; we give a buffer back by
//! writing an entry at the tail and publishing the new tail with a release
//! store. Buffers come back in any order: each entry names its buffer id.
//!
//! Nothing here submits anything; the ring is registered by the caller.

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::sync::atomic::{AtomicU16, Ordering};

/// No buffer (end of a per-connection list).
pub(super) const NO_BUF: u16 = u16::MAX;

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
    /// `count * size` octets of buffer space.
    data: *mut u8,
    data_layout: Layout,
    /// Octets per buffer.
    size: usize,
    /// Buffers (and ring entries; a power of two).
    count: u16,
    /// Our copy of the tail.
    tail: u16,
    /// Buffers handed back since the tail was last published.
    unpublished: u16,
    /// Per buffer: octets received into it (valid while it holds data).
    pub(super) len: Box<[u32]>,
    /// Per buffer: the next buffer of the same connection's receive queue.
    pub(super) next: Box<[u16]>,
    /// Buffers currently lent to the kernel.
    lent: u16,
}

impl BufRing {
    /// `count` buffers (a power of two, at most 32,768) of `size` octets.
    ///
    /// # Panics
    /// When `count` is not a power of two or memory cannot be had.
    pub(super) fn new(count: u16, size: usize) -> BufRing {
        assert!(count.is_power_of_two() && count <= 1 << 15, "ring size");
        let ring_layout = Layout::from_size_align(
            (count as usize * std::mem::size_of::<Entry>()).max(4096),
            4096,
        )
        .expect("ring layout");
        let data_layout = Layout::from_size_align(count as usize * size, 4096).expect("layout");
        // SAFETY: both layouts have a non-zero size.
        let (ring, data) = unsafe { (alloc_zeroed(ring_layout), alloc_zeroed(data_layout)) };
        assert!(
            !ring.is_null() && !data.is_null(),
            "no memory for the receive buffers"
        );
        let mut bufs = BufRing {
            ring: ring.cast(),
            ring_layout,
            data,
            data_layout,
            size,
            count,
            tail: 0,
            unpublished: 0,
            len: vec![0; count as usize].into_boxed_slice(),
            next: vec![NO_BUF; count as usize].into_boxed_slice(),
            lent: 0,
        };
        for bid in 0..count {
            bufs.give_back(bid);
        }
        bufs.publish();
        bufs
    }

    /// The ring's address, for `IORING_REGISTER_PBUF_RING`.
    pub(super) fn ring_addr(&self) -> u64 {
        self.ring as u64
    }

    /// Ring entries.
    pub(super) fn entries(&self) -> u16 {
        self.count
    }

    /// Buffers lent to the kernel now.
    pub(super) fn lent(&self) -> u16 {
        self.lent
    }

    /// The kernel filled buffer `bid` with `len` octets: it is ours until
    /// [`BufRing::give_back`].
    pub(super) fn taken(&mut self, bid: u16, len: u32) {
        self.len[bid as usize] = len;
        self.next[bid as usize] = NO_BUF;
        self.lent -= 1;
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

    /// Lends buffer `bid` to the kernel again (visible after [`BufRing::publish`]).
    pub(super) fn give_back(&mut self, bid: u16) {
        let idx = (self.tail & (self.count - 1)) as usize;
        // SAFETY: `idx < count`; the kernel reads only entries between its head
        // and the published tail, and this one is past the tail.
        unsafe {
            let e = &mut *self.ring.add(idx);
            e.addr = self.data.add(bid as usize * self.size) as u64;
            e.len = self.size as u32;
            e.bid = bid;
        }
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
        // SAFETY: the tail is the `resv` field of entry 0, a u16 that only we
        // write; the kernel reads it with an acquire load.
        unsafe {
            let tail = std::ptr::addr_of_mut!((*self.ring).resv) as *const AtomicU16;
            (*tail).store(self.tail, Ordering::Release);
        }
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with these layouts. The owner unregisters
        // the ring (or leaks it) before the kernel could touch it again.
        unsafe {
            dealloc(self.ring.cast(), self.ring_layout);
            dealloc(self.data, self.data_layout);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_go_round_and_the_tail_is_published() {
        let mut b = BufRing::new(4, 64);
        assert_eq!(b.lent(), 4);
        // SAFETY: reading the published tail of our own ring.
        assert_eq!(unsafe { (*b.ring).resv }, 4);
        b.taken(2, 10);
        assert_eq!(b.lent(), 3);
        // SAFETY: buffer 2 is ours.
        let s = unsafe { b.slice(2, 3) };
        assert_eq!(s.len(), 7);
        s.copy_from_slice(b"abcdefg");
        b.give_back(2);
        assert_eq!(b.lent(), 4);
        // Not visible before it is published.
        // SAFETY: as above.
        assert_eq!(unsafe { (*b.ring).resv }, 4);
        b.publish();
        // SAFETY: as above.
        assert_eq!(unsafe { (*b.ring).resv }, 5);
        // SAFETY: entry 0 was rewritten with buffer 2 (tail 4 wraps to index 0).
        let e = unsafe { &*b.ring };
        assert_eq!((e.bid, e.len), (2, 64));
        assert_eq!(e.addr, b.data as u64 + 2 * 64);
    }
}
