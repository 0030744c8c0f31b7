//! The shard ring's trim task: shrinks the receive buffers' working set
//! (`bufring.rs`) when the shard has stayed well below it, by registering the
//! buffer ring again with fewer buffers, and gives parked buffers' pages back.
//! Part of the ring module (its `Ring` and `Inner`); imports nothing above
//! the transport layer.

use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};

use super::{BUFFER_GROUP, ENTER_GETEVENTS, Inner, Ring, TRIM_TICK};

/// Shrinks the receive buffers' working set when the shard has stayed well
/// below it: a tick a second while it is above its least size (or pages wait
/// to be given back), asleep otherwise (a reap that grew it wakes it).
pub(super) async fn trim_task(ring: Rc<Ring>) {
    loop {
        poll_fn(|cx| {
            if ring.trimmable() {
                Poll::Ready(())
            } else {
                ring.trimmer.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        })
        .await;
        glommio::timer::sleep(TRIM_TICK).await;
        ring.trim();
    }
}

impl Ring {
    /// Whether the trim task has work: the working set is above its least
    /// size, pages wait to be given back, or the ring waits to be registered.
    fn trimmable(&self) -> bool {
        let inner = self.inner.borrow();
        inner.bufs.trimmable() || !inner.registered
    }

    /// One tick of the trim task: shrinks the receive buffers' working set
    /// when it has been well above what the shard used for
    /// `bufring::QUIET_TICKS` ticks, then gives parked buffers' pages back.
    pub(super) fn trim(&self) {
        let mut wakers = self.wakers.take();
        let shrunk = {
            let mut inner = self.inner.borrow_mut();
            let shrunk = if inner.registered {
                match inner.bufs.tick() {
                    Some(window) => {
                        tracing::debug!(
                            from = inner.bufs.window(),
                            to = window,
                            "receive buffers: the working set shrinks"
                        );
                        inner.shrink(window, &mut wakers)
                    }
                    None => false,
                }
            } else {
                inner.register_bufs()
            };
            inner.bufs.release_pages();
            shrunk
        };
        if shrunk {
            // Receives that found no ring meanwhile are rearmed, and the
            // buffers published.
            self.schedule_flush();
        }
        self.wake_and_keep(wakers);
    }
}

impl Inner {
    /// Shrinks the receive buffers' working set to `window`: buffers lent
    /// above it cannot be taken back from a registered ring (the kernel may be
    /// filling one), so the ring is unregistered, every completion posted
    /// before that is taken (their buffers are held), and the ring is
    /// registered again with only the buffers below `window` that are not
    /// held. A receive that wants a buffer in between ends with ENOBUFS and is
    /// rearmed at the next flush. Whether it shrank.
    fn shrink(&mut self, window: u16, wakers: &mut Vec<Waker>) -> bool {
        if let Err(e) = self.uring.submitter().unregister_buf_ring(BUFFER_GROUP) {
            tracing::debug!(error = %e, "unregistering the receive buffer ring");
            return false;
        }
        self.registered = false;
        loop {
            // SAFETY: no submission, no wait, no argument: runs the ring's
            // task work and flushes overflowing completions.
            let entered = unsafe {
                self.uring
                    .submitter()
                    .enter::<libc::sigset_t>(0, 0, ENTER_GETEVENTS, None)
            };
            if let Err(e) = entered
                && e.raw_os_error() != Some(libc::EINTR)
            {
                tracing::debug!(error = %e, "io_uring_enter for completions");
            }
            self.reap(wakers);
            if !self.uring.submission().cq_overflow() {
                break;
            }
        }
        self.bufs.reset(window);
        self.register_bufs();
        self.stats.shrunk += 1;
        true
    }

    /// Registers the buffer ring (again) and publishes its buffers; whether
    /// it is registered now.
    fn register_bufs(&mut self) -> bool {
        // SAFETY: the ring memory lives in `bufs`, which outlives the
        // registration: `Inner::drop` cancels everything before freeing it.
        let r = unsafe {
            self.uring.submitter().register_buf_ring_with_flags(
                self.bufs.ring_addr(),
                self.bufs.entries(),
                BUFFER_GROUP,
                0,
            )
        };
        match r {
            Ok(()) => {
                self.registered = true;
                self.bufs.publish();
            }
            Err(e) => {
                tracing::error!(error = %e, "registering the receive buffer ring again failed; retrying in a second");
            }
        }
        self.registered
    }
}
