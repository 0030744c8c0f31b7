//! How the shard's ring wakes a sleeping shard: by default the shard sleeps
//! in the ring itself (the patched glommio's `foreign_ring` hook, with polls
//! of glommio's rings in flight here); with `JUNCTION_URING_WAKE=eventfd`
//! the ring signals an eventfd that glommio reads. Part of the ring module:
//! it reaches the ring's private state and imports nothing outside it but
//! glommio, `io_uring` and `libc`.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::rc::Rc;

use glommio::foreign_ring::ForeignRing;
use io_uring::{opcode, types};

use super::{GLOMMIO_POLL, GLOMMIO_RINGS, Inner, Ring, Unsupported};

impl Ring {
    /// An eventfd the ring signals for every completion (outside flushes).
    pub(super) fn register_eventfd(&self) -> Result<OwnedFd, Unsupported> {
        // SAFETY: a plain eventfd; ownership passes to `efd` below.
        let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        if efd < 0 {
            return Err(Unsupported::Setup(io::Error::last_os_error()));
        }
        // SAFETY: `efd` is a fresh descriptor that nothing else owns.
        let efd = unsafe { OwnedFd::from_raw_fd(efd) };
        self.inner
            .borrow()
            .uring
            .submitter()
            .register_eventfd(efd.as_raw_fd())?;
        self.evfd.set(true);
        Ok(efd)
    }
}

impl Inner {
    /// A completion of a poll of glommio's rings (that ring has completions,
    /// which glommio reaps): armed again at the next sleep. False for any
    /// other completion.
    pub(super) fn complete_glommio_poll(&mut self, data: u64, res: i32) -> bool {
        let Some(i) = GLOMMIO_POLL
            .checked_sub(data)
            .and_then(|i| usize::try_from(i).ok())
            .filter(|&i| i < GLOMMIO_RINGS)
        else {
            return false;
        };
        self.glommio_poll[i] = false;
        // Cancelled: the ring is being torn down (the shard stops).
        if res < 0 && res != -libc::ECANCELED {
            tracing::error!(errno = -res, "io_uring: polling glommio's ring failed");
        }
        true
    }
}

/// The shard sleeps in this ring (glommio's `foreign_ring` hook, installed
/// by [`super::start`]): a completion of ours ends the sleep without anything to
/// re-arm; glommio's own events end it through the polls of its rings
/// (`GLOMMIO_POLL`), each re-armed at the next sleep after it fired.
impl ForeignRing for Ring {
    fn poll(&self) -> usize {
        let ready = {
            let mut inner = self.inner.borrow_mut();
            let mut cq = inner.uring.completion();
            cq.sync();
            !cq.is_empty()
        };
        if ready { self.reap() } else { 0 }
    }

    fn sleep(&self, glommio_rings: &[RawFd]) -> io::Result<()> {
        if glommio_rings.len() > GLOMMIO_RINGS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "more rings than polls",
            ));
        }
        // A poll that fired since the last reap must be known before the
        // polls are armed again; anything else ends the sleep at once.
        if self.poll() > 0 {
            return Ok(());
        }
        let mut inner = self.inner.borrow_mut();
        inner.stats.sleeps += 1;
        for (i, &fd) in glommio_rings.iter().enumerate() {
            if !inner.glommio_poll[i] {
                inner.glommio_poll[i] = true;
                inner.stats.glommio_polls += 1;
                let sqe = opcode::PollAdd::new(types::Fd(fd), libc::POLLIN as u32)
                    .build()
                    .user_data(GLOMMIO_POLL - i as u64);
                inner.push(&sqe);
            }
        }
        // Submits what is queued (the polls, sends queued since the flush)
        // and waits for a completion, in one system call.
        match inner.uring.submit_and_wait(1) {
            Ok(_) => Ok(()),
            // A signal, or a full completion queue: back to the executor,
            // which reaps and comes back.
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::EBUSY)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// Reaps completions that arrive while the shard would otherwise sleep: one
/// read of the ring's eventfd in glommio's ring at a time.
pub(super) async fn event_task(ring: Rc<Ring>, efd: OwnedFd) {
    // SAFETY: glommio's file takes ownership of the descriptor and closes it.
    let file = unsafe { glommio::io::BufferedFile::from_raw_fd(efd.into_raw_fd()) };
    loop {
        if let Err(e) = file.read_at(0, 8).await {
            tracing::warn!(error = %e, "io_uring eventfd read failed; completions are reaped per flush only");
            return;
        }
        ring.inner.borrow_mut().stats.signalled += 1;
        ring.reap();
    }
}

/// Experiment switch: `JUNCTION_URING_EVFD=always` keeps the eventfd
/// signalled during flushes (the behaviour before).
pub(super) fn quiet_flush() -> bool {
    thread_local! {
        static QUIET: bool = std::env::var_os("JUNCTION_URING_EVFD").is_none_or(|v| v != "always");
    }
    QUIET.with(|q| *q)
}
