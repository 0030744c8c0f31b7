// Junction patch: this module is not part of glommio 0.9.0.
//
//! A ring of the application's own that the executor sleeps in.
//!
//! An application that drives an io_uring of its own beside glommio's (for
//! operations glommio does not offer) needs the executor to wake when that
//! ring completes something. Through an eventfd registered with the ring and
//! read in glommio's ring, every wake-up re-submits that read: io_uring wakes
//! the eventfd's pollers with `EPOLL_URING_WAKE`, which ends even a multishot
//! poll, so no request in glommio's ring stays armed across such wake-ups.
//!
//! Installed with [`set`], the executor instead sleeps in the application's
//! ring ([`ForeignRing::sleep`]), which keeps a poll of each of glommio's
//! sleepable rings (the descriptors passed in: the main ring and the latency
//! ring, where its timers and its eventfd for other executors complete) in
//! flight there: a wake-up by the application's own completions re-arms
//! nothing, and one by glommio's events re-arms the poll of that ring.
//! glommio reaps the application's ring ([`ForeignRing::poll`]) whenever it
//! polls its own.

use std::{io, os::unix::io::RawFd, rc::Rc};

/// The application's ring, as the executor sees it.
pub trait ForeignRing {
    /// Reaps the completions that are ready (waking the tasks they are for)
    /// and returns how many there were, not counting those of its polls of
    /// glommio's rings: more than zero keeps the executor from sleeping.
    /// Called on every reactor poll; it must not call into the reactor
    /// (spawn tasks, arm timers or do glommio I/O).
    fn poll(&self) -> usize;

    /// Sleeps until the ring has a completion, with a poll of each of
    /// `glommio_rings` (glommio's main and latency rings) in flight in the
    /// ring, so that glommio's own events wake it too. Reaps first (a
    /// completion there, other than of those polls, ends the sleep at once),
    /// and submits whatever is queued in the same call as the wait. An
    /// interrupted wait (`EINTR`) is not an error.
    ///
    /// # Errors
    /// The system call's error; the executor then sleeps in its own ring as
    /// without a foreign ring (and completions of this one do not wake it).
    fn sleep(&self, glommio_rings: &[RawFd]) -> io::Result<()>;
}

/// Installs (or with `None` removes) the current executor's foreign ring.
///
/// # Panics
/// Outside a glommio executor.
pub fn set(ring: Option<Rc<dyn ForeignRing>>) {
    crate::executor().reactor().sys.set_foreign_ring(ring);
}
