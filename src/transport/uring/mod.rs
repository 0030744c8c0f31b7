//! The shard's own io_uring for connection I/O: multishot receives into a
//! shared provided-buffer ring, and vectored sends submitted for every
//! connection with output in one `io_uring_enter` per reactor turn.
//!
//! Why a ring of our own: glommio 0.9 keeps its rings private. Its sockets read
//! by readiness (a `recv` system call, then a `POLL_ADD` with a ~500-octet
//! `Source` per waiting connection) and offer no vectored or batched send, so
//! the connection driver paid one `sendmsg` per connection per message.
//! This module drives a ring with the `io-uring` crate, beside glommio's, on
//! the shard's thread:
//!
//! - **Submissions** (receive arming, sends, cancels, polls) are written into
//!   the submission queue when a connection needs them; the first one of a
//!   turn wakes the shard's flush task, which glommio runs after the tasks
//!   already queued, so the whole turn's sends go to the kernel in one
//!   `io_uring_enter`. The flush then reaps the completions that are ready.
//! - **Completions** arriving while the shard sleeps: the shard sleeps in
//!   *this* ring (the patched glommio's `foreign_ring` hook), with a poll of
//!   each of glommio's main and latency rings kept in flight here, so that a
//!   completion of ours wakes it directly and glommio's own events (timers,
//!   other shards) wake it through those polls; glommio reaps this ring
//!   whenever it polls its own. `JUNCTION_URING_WAKE=eventfd` selects the earlier way (and the
//!   fallback should the hook fail): the ring signals an eventfd
//!   (`IORING_REGISTER_EVENTFD`) on which glommio has one read in flight,
//!   re-submitted after every wake-up, and the shard's event task reaps.
//! - **Receives** are multishot (`IORING_OP_RECV` + `IORING_RECV_MULTISHOT`,
//!   kernel 6.0) with buffer selection from the shard's provided-buffer ring
//!   (`bufring.rs`): an idle connection holds no buffer and no registration of
//!   its own in user space, only a `Slot` of a few dozen octets. A buffer
//!   the kernel filled waits in the connection's queue until the connection
//!   task decodes it in place ([`RecvBuf`]) and gives it back. A receive
//!   that finds the ring empty ends with `ENOBUFS` and waits in a queue: the
//!   oldest are armed again first at the next flush, right after the buffers
//!   given back are published (`starve.rs`: fair however small the ring and
//!   however much one connection sends). Only a working
//!   set of the buffers is lent (`bufring.rs`): it doubles when the shard
//!   runs short and shrinks, once the shard has stayed well below it for a
//!   few seconds, by registering the ring again with fewer buffers and giving
//!   the others' pages back to the operating system (the shard's trim task,
//!   asleep while the working set is at its least).
//! - **Sends** are `IORING_OP_SENDMSG` from a pooled [`SendOp`] that owns
//!   what the kernel reads: clones of the outbox frames (an `Rc` increment for
//!   a shared event), the headers built for them, and copies of control bytes.
//!   The connection pops frames from its outbox when the completion says the
//!   socket took them, exactly as with the synchronous `sendmsg` before. An
//!   MQTT connection's op (`transport::mqtt::writes`) holds copies of its
//!   per-client PUBLISH heads and control packets, and the publications'
//!   templates (an `Rc` increment each) for their shared payloads; its
//!   packets stay queued until the completion likewise.
//!
//! Which connection a completion belongs to: `user_data` is the slot index
//! shifted left 8 bits plus the `Op`. A slot is reused only after every
//! operation on it has completed, so a late completion never reaches a new
//! connection.
//!
//! Where the kernel lacks something (io_uring disabled, no provided-buffer
//! rings or multishot receive: kernel < 6.0), [`start`] fails and the shard
//! stays on glommio's readiness-based streams (`Stream::Tcp`/`Unix`), logging
//! one line.
//!
//! Not here: what is sent (the connection drivers, `super::conn` and
//! `super::mqtt::writes`), TLS (it will
//! sit on top: its records are built in its own buffer, which a send then
//! owns like a control frame; received records are decrypted from the
//! provided buffer into the connection's plaintext buffer).

mod bufring;
mod slab;
mod starve;
mod stream;
mod trim;
mod wake;

use self::wake::{event_task, quiet_flush};

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::io;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use glommio::foreign_ring::ForeignRing;
use io_uring::{IoUring, cqueue, opcode, squeue, types};

pub use stream::{Payload, RecvBuf, SendOp, UringListener, UringStream};

use self::bufring::{BufRing, NO_BUF, START_WINDOW};
use self::slab::Slab;
use self::starve::StarveQueue;

/// Submission queue entries. A push submits once [`SUBMIT_BATCH`] are queued,
/// so the queue never holds more than a batch; the kernel allocates the
/// entries (64 octets each) at setup and they are resident from the start:
/// 8 KiB per shard (1,024 entries before, 64 KiB).
const SQ_ENTRIES: u32 = 128;
/// Completion queue entries; the kernel keeps overflowing completions
/// (`IORING_FEAT_NODROP`) until there is room.
const CQ_ENTRIES: u32 = 8192;
/// Receive buffers in the shard's provided-buffer ring at most (unless
/// `JUNCTION_URING_BUFFERS` says otherwise, see [`recv_buffers`]); the
/// working set starts at [`START_WINDOW`] of them.
const RECV_BUFFERS: u16 = 256;
/// How often the trim task looks at the receive buffers' working set while
/// it is above its least size (`bufring::QUIET_TICKS` quiet ticks shrink it).
const TRIM_TICK: Duration = Duration::from_secs(1);
/// `IORING_ENTER_GETEVENTS`: run the ring's pending task work and flush
/// overflowing completions into the queue.
const ENTER_GETEVENTS: u32 = 1;
/// Octets per receive buffer.
const RECV_BUFFER_SIZE: usize = 4096;
/// Submissions queued before they go to the kernel without waiting for the
/// end of the turn: a fan-out to thousands of connections then overlaps the
/// kernel's sends (and the peers' reads) with the rest of the turn's work.
const SUBMIT_BATCH: usize = 32;
/// The buffer group of the shard's ring.
const BUFFER_GROUP: u16 = 0;

/// `Slot::rx_end` while the stream goes on (results are never positive there).
const NOT_ENDED: i16 = 1;

// A slot keeps its offset into a receive buffer in 16 bits.
const _: () = assert!(RECV_BUFFER_SIZE <= u16::MAX as usize);

/// The `user_data` of the polls of glommio's rings that the shard sleeps
/// with: `GLOMMIO_POLL - i` for the `i`-th ring (no slot: [`user_data`] never
/// makes them, slots being fewer than 2^32).
const GLOMMIO_POLL: u64 = u64::MAX;
/// glommio's rings the shard's sleep polls at most (its main and latency rings).
const GLOMMIO_RINGS: usize = 2;

/// What a completion belongs to: the low 8 bits of its `user_data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Op {
    /// The slot's multishot receive.
    Recv = 1,
    /// The slot's send.
    Send = 2,
    /// The slot's one-shot poll (writability, or a listener's readability).
    Poll = 3,
    /// A cancellation (its own completion means nothing).
    Cancel = 4,
}

/// A completion's `user_data`: the slot, the slot's generation (so that an
/// operation of a connection that is gone, or a cancellation aimed at one,
/// never matches the slot's next connection), and the operation.
fn user_data(slot: u32, generation: u16, op: Op) -> u64 {
    (u64::from(slot) << 24) | (u64::from(generation) << 8) | op as u64
}

/// One socket's state in the ring: what its completions need and nothing
/// else. An idle connection's whole footprint in this module: 40 octets
/// (flags in one octet, the receive offset and end in 16 bits each).
struct Slot {
    fd: RawFd,
    /// The connection's task.
    waker: Option<Waker>,
    /// Filled receive buffers, oldest first, linked through `BufRing::next`.
    rx_head: u16,
    rx_tail: u16,
    /// Octets of the head buffer already consumed (copying reads only).
    rx_off: u16,
    /// After the queued buffers: end of stream (0) or an error (`-errno`);
    /// [`NOT_ENDED`] while the stream goes on.
    rx_end: i16,
    /// [`Slot::RECV_ARMED`], [`Slot::RECV_STARVED`], [`Slot::POLL_ARMED`],
    /// [`Slot::POLLED`], [`Slot::OWNED`], [`Slot::RECV_REARMED`].
    flags: u8,
    /// The send in flight (or completed, its result in the op, not yet
    /// collected by the connection).
    send: Option<Box<SendOp>>,
    /// Operations the kernel still holds (the slot is reused only at zero).
    inflight: u8,
    /// Incremented each time the slot is reused.
    generation: u16,
}

impl Slot {
    /// The multishot receive is armed.
    const RECV_ARMED: u8 = 1;
    /// The receive stopped for want of buffers; rearm when some are back.
    const RECV_STARVED: u8 = 2;
    /// The one-shot poll is armed.
    const POLL_ARMED: u8 = 4;
    /// The poll completed since it was last looked at.
    const POLLED: u8 = 8;
    /// A stream or listener still owns the slot.
    const OWNED: u8 = 16;
    /// The receive was armed again at this flush after starving and has
    /// received nothing since (`starve.rs`: it keeps its place in the queue).
    const RECV_REARMED: u8 = 32;

    fn new(fd: RawFd, generation: u16) -> Slot {
        Slot {
            generation,
            fd,
            waker: None,
            rx_head: NO_BUF,
            rx_tail: NO_BUF,
            rx_off: 0,
            rx_end: NOT_ENDED,
            flags: Slot::OWNED,
            send: None,
            inflight: 0,
        }
    }

    /// Whether `flag` is set.
    fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// Sets or clears `flag`.
    fn set(&mut self, flag: u8, on: bool) {
        if on {
            self.flags |= flag;
        } else {
            self.flags &= !flag;
        }
    }

    /// Clears `flag`; whether it was set.
    fn take(&mut self, flag: u8) -> bool {
        let was = self.has(flag);
        self.set(flag, false);
        was
    }

    /// Records the end of the receive stream (0) or its error (`-errno`).
    fn end_rx(&mut self, res: i32) {
        self.rx_end = i16::try_from(res.min(0)).unwrap_or(-(libc::EIO as i16));
    }

    fn wake(&mut self, wakers: &mut Vec<Waker>) {
        if let Some(w) = self.waker.take() {
            wakers.push(w);
        }
    }
}

/// The ring and the state of every socket on it.
struct Inner {
    uring: IoUring,
    bufs: BufRing,
    /// Grown a chunk at a time (`slab.rs`), not doubled.
    slots: Slab<Slot>,
    /// Free slot indices.
    free: Vec<u32>,
    /// Send ops not in use. Boxed: an op in flight is referred to by the
    /// kernel (its message header points into it), so it must not move.
    #[allow(clippy::vec_box)]
    pool: Vec<Box<SendOp>>,
    /// Slots whose receive waits for buffers, oldest first (`starve.rs`).
    starve: StarveQueue,
    /// The completions of one reap, copied out of the queue before they are
    /// handled (kept between reaps: no allocation per flush).
    reaped: Vec<cqueue::Entry>,
    /// The buffer ring is registered (false only when registering it again
    /// after a shrink failed: the trim task retries).
    registered: bool,
    /// The poll of each of glommio's rings ([`GLOMMIO_POLL`]) is in flight.
    glommio_poll: [bool; GLOMMIO_RINGS],
    /// Counters for the logs and tests.
    stats: Stats,
}

/// What the ring did (cumulative).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// `io_uring_enter` calls made to submit.
    pub submits: u64,
    /// Sends submitted.
    pub sends: u64,
    /// Writes made with a direct `sendmsg` (the cold paths: handshakes,
    /// refusals, a DISCONNECT written ahead of an abnormal close).
    pub direct_writes: u64,
    /// Receive completions carrying data.
    pub recvs: u64,
    /// Multishot receives re-armed after running out of buffers.
    pub starved: u64,
    /// The most flushes (that armed starved receives again) a receive waited
    /// for buffers before it was armed again.
    pub starved_max_flushes: u64,
    /// The longest a receive waited for buffers before it was armed again,
    /// in microseconds.
    pub starved_max_us: u64,
    /// Reaps run because the ring's eventfd fired (completions that came
    /// while the shard was not flushing; `JUNCTION_URING_WAKE=eventfd`).
    pub signalled: u64,
    /// Times the shard slept in this ring.
    pub sleeps: u64,
    /// Polls of glommio's rings submitted for those sleeps (one per wake-up
    /// by glommio's own events; none for a wake-up by ours).
    pub glommio_polls: u64,
    /// Times the receive buffers' working set doubled.
    pub grown: u64,
    /// Times it shrank (the buffer ring registered again).
    pub shrunk: u64,
}

/// One shard's ring. Lives in a thread-local while the shard runs.
pub struct Ring {
    inner: RefCell<Inner>,
    /// The flush task, parked until something is queued.
    flusher: Cell<Option<Waker>>,
    /// Submissions are queued that the flush task has not sent yet.
    pending: Cell<bool>,
    /// The ring signals an eventfd ([`Wake::Eventfd`]).
    evfd: Cell<bool>,
    /// The wakers one reap collects, woken after the ring is released (kept
    /// between reaps: no allocation per flush).
    wakers: Cell<Vec<Waker>>,
    /// The trim task, parked while the receive buffers' working set is at
    /// its least and no pages wait to be given back.
    trimmer: Cell<Option<Waker>>,
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<Ring>>> = const { RefCell::new(None) };
}

/// The current shard's ring, when this thread runs one.
pub fn current() -> Option<Rc<Ring>> {
    CURRENT.with(|c| c.borrow().clone())
}

/// Why the ring could not be started (the shard then uses readiness I/O).
#[derive(Debug, thiserror::Error)]
pub enum Unsupported {
    /// The kernel is older than what multishot receive needs.
    #[error("kernel {0} is older than 6.0 (multishot receive)")]
    Kernel(String),
    /// An operation is missing from the kernel's probe.
    #[error("the kernel's io_uring lacks {0}")]
    Opcode(&'static str),
    /// Setting the ring up failed (io_uring disabled, limits).
    #[error("io_uring setup failed: {0}")]
    Setup(#[from] io::Error),
}

/// The running ring's tasks; [`Driver::stop`] ends them.
pub struct Driver {
    tasks: Vec<glommio::Task<()>>,
    /// The shard sleeps in the ring (glommio's foreign-ring hook is set).
    hooked: bool,
}

impl Driver {
    /// Stops the flush and event tasks and removes the ring from the thread;
    /// streams still open keep it alive until they are dropped.
    pub async fn stop(self) {
        if let Some(ring) = current() {
            ring.flush();
            let s = ring.stats();
            tracing::debug!(
                submits = s.submits,
                sends = s.sends,
                receives = s.recvs,
                starved = s.starved,
                starved_max_flushes = s.starved_max_flushes,
                starved_max_us = s.starved_max_us,
                buffers_grown = s.grown,
                buffers_shrunk = s.shrunk,
                buffers_lent_at_most = ring.inner.borrow().bufs.window(),
                "io_uring data path"
            );
        }
        if self.hooked {
            glommio::foreign_ring::set(None);
        }
        for t in self.tasks {
            t.cancel().await;
        }
        CURRENT.with(|c| c.borrow_mut().take());
    }
}

/// Starts the shard's ring on the current glommio executor: the ring, the
/// provided-buffer ring, the eventfd glommio watches, and the two tasks.
///
/// # Errors
/// [`Unsupported`] when the kernel lacks what the ring needs.
pub fn start() -> Result<Driver, Unsupported> {
    let wake = if wake_by_eventfd() {
        Wake::Eventfd
    } else {
        Wake::Sleep
    };
    start_with(recv_buffers(), wake)
}

/// How the ring's completions wake a sleeping shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wake {
    /// The shard sleeps in the ring (glommio's foreign-ring hook).
    Sleep,
    /// The ring signals an eventfd that glommio reads (the way before).
    Eventfd,
}

/// [`start`] with `buffers` receive buffers at most (a power of two) and
/// completions waking the shard as `wake` says.
fn start_with(buffers: u16, wake: Wake) -> Result<Driver, Unsupported> {
    let ring = Rc::new(Ring::new(buffers)?);
    let efd = match wake {
        Wake::Eventfd => Some(ring.register_eventfd()?),
        Wake::Sleep => None,
    };
    CURRENT.with(|c| *c.borrow_mut() = Some(Rc::clone(&ring)));
    let flush = glommio::spawn_local(flush_task(Rc::clone(&ring)));
    let trim = glommio::spawn_local(trim::trim_task(Rc::clone(&ring)));
    let mut tasks = vec![flush, trim];
    let hooked = efd.is_none();
    match efd {
        Some(efd) => tasks.push(glommio::spawn_local(event_task(ring, efd))),
        None => glommio::foreign_ring::set(Some(ring as Rc<dyn ForeignRing>)),
    }
    Ok(Driver { tasks, hooked })
}

/// Whether completions wake the shard through an eventfd read in glommio's
/// ring (`JUNCTION_URING_WAKE=eventfd`, for A/B runs) rather than by the
/// shard sleeping in this ring.
fn wake_by_eventfd() -> bool {
    std::env::var_os("JUNCTION_URING_WAKE").is_some_and(|v| v == "eventfd")
}

/// Flushes queued submissions once per turn: woken by the first submission,
/// it runs after the tasks that were already runnable.
async fn flush_task(ring: Rc<Ring>) {
    loop {
        poll_fn(|cx| {
            if ring.pending.get() {
                Poll::Ready(())
            } else {
                ring.flusher.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        })
        .await;
        ring.flush();
        if ring.pending.get() {
            // Queued while flushing: go again after the tasks that are runnable.
            yield_now().await;
        }
    }
}

/// Lets every other runnable task run once.
async fn yield_now() {
    let mut yielded = false;
    poll_fn(|cx| {
        if std::mem::replace(&mut yielded, true) {
            Poll::Ready(())
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await;
}

/// Receive buffers per shard at most: `JUNCTION_URING_BUFFERS` (a power of
/// two from 16 to 4,096; a tuning and measurement switch), else
/// [`RECV_BUFFERS`]. Every buffer lent ends up resident (the kernel takes them
/// in turn), so this bounds the shard's receive memory (256 × 4 KiB = 1 MiB);
/// the working set lent at a time starts at [`START_WINDOW`] and grows to it
/// only while the shard needs them.
fn recv_buffers() -> u16 {
    recv_buffers_from(std::env::var("JUNCTION_URING_BUFFERS").ok().as_deref())
}

/// [`recv_buffers`] from the variable's value.
fn recv_buffers_from(value: Option<&str>) -> u16 {
    let Some(v) = value else {
        return RECV_BUFFERS;
    };
    match v.trim().parse::<u16>() {
        Ok(n) if n.is_power_of_two() && (16..=4096).contains(&n) => n,
        _ => {
            tracing::warn!(
                value = v,
                "JUNCTION_URING_BUFFERS must be a power of two from 16 to 4096; using {RECV_BUFFERS}"
            );
            RECV_BUFFERS
        }
    }
}

/// Submission and completion queue entries: `JUNCTION_URING_SQ` and
/// `JUNCTION_URING_CQ` (powers of two, the submission queue from 64 to 4,096,
/// the completion queue from the submission queue's size to 65,536;
/// measurement switches), else [`SQ_ENTRIES`] and [`CQ_ENTRIES`].
fn queue_entries() -> (u32, u32) {
    let var = |name| std::env::var(name).ok();
    queue_entries_from(
        var("JUNCTION_URING_SQ").as_deref(),
        var("JUNCTION_URING_CQ").as_deref(),
    )
}

/// [`queue_entries`] from the variables' values.
fn queue_entries_from(sq: Option<&str>, cq: Option<&str>) -> (u32, u32) {
    let pick = |name: &str, value: Option<&str>, default: u32, min: u32, max: u32| {
        let Some(v) = value else {
            return default;
        };
        match v.trim().parse::<u32>() {
            Ok(n) if n.is_power_of_two() && (min..=max).contains(&n) => n,
            _ => {
                tracing::warn!(
                    value = v,
                    "{name} must be a power of two from {min} to {max}; using {default}"
                );
                default
            }
        }
    };
    let sq = pick("JUNCTION_URING_SQ", sq, SQ_ENTRIES, 64, 4096);
    let cq = pick("JUNCTION_URING_CQ", cq, CQ_ENTRIES.max(sq), sq, 65536);
    (sq, cq)
}

/// The running kernel's (major, minor) version.
fn kernel_version() -> Option<(u32, u32, String)> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
    let release = release.trim().to_owned();
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor, release))
}

impl Ring {
    fn new(buffers: u16) -> Result<Ring, Unsupported> {
        if let Some((major, minor, release)) = kernel_version()
            && (major, minor) < (6, 0)
        {
            return Err(Unsupported::Kernel(release));
        }
        // Completions run as task work at the thread's next system call (or
        // wake it when it sleeps) instead of interrupting it: glommio enters
        // the kernel every turn anyway. Measured against the default
        // (interrupting) mode: the same fan-out throughput.
        let (sq_entries, cq_entries) = queue_entries();
        let uring = IoUring::builder()
            .setup_cqsize(cq_entries)
            .setup_single_issuer()
            .setup_coop_taskrun()
            .build(sq_entries)?;
        let mut probe = io_uring::Probe::new();
        uring.submitter().register_probe(&mut probe)?;
        for (code, name) in [
            (opcode::RecvMulti::CODE, "IORING_OP_RECV"),
            (opcode::SendMsg::CODE, "IORING_OP_SENDMSG"),
            (opcode::PollAdd::CODE, "IORING_OP_POLL_ADD"),
            (opcode::AsyncCancel::CODE, "IORING_OP_ASYNC_CANCEL"),
        ] {
            if !probe.is_supported(code) {
                return Err(Unsupported::Opcode(name));
            }
        }
        let bufs = BufRing::new(buffers, RECV_BUFFER_SIZE, START_WINDOW);
        // SAFETY: the ring memory lives in `bufs`, which outlives the
        // registration: `Inner::drop` cancels everything before freeing it.
        unsafe {
            uring.submitter().register_buf_ring_with_flags(
                bufs.ring_addr(),
                bufs.entries(),
                BUFFER_GROUP,
                0,
            )?;
        }
        Ok(Ring {
            inner: RefCell::new(Inner {
                uring,
                bufs,
                slots: Slab::default(),
                free: Vec::new(),
                pool: Vec::new(),
                starve: StarveQueue::default(),
                reaped: Vec::new(),
                registered: true,
                glommio_poll: [false; GLOMMIO_RINGS],
                stats: Stats::default(),
            }),
            flusher: Cell::new(None),
            pending: Cell::new(false),
            evfd: Cell::new(false),
            wakers: Cell::new(Vec::new()),
            trimmer: Cell::new(None),
        })
    }

    /// Counters of what the ring did.
    pub fn stats(&self) -> Stats {
        self.inner.borrow().stats
    }

    /// Notes that submissions are queued: wakes the flush task once.
    fn schedule_flush(&self) {
        if !self.pending.replace(true)
            && let Some(w) = self.flusher.take()
        {
            w.wake();
        }
    }

    /// Submits everything queued (one `io_uring_enter`) and reaps what completed.
    ///
    /// The ring's eventfd is silenced meanwhile: what completes during the
    /// submission (sends to a socket with room complete inline; receives'
    /// task work runs at this system call) is reaped right here, and a
    /// signal for it would only make glommio complete its eventfd read and
    /// run the event task for nothing, one more reactor pass per flush.
    pub fn flush(&self) {
        self.pending.set(false);
        let quiet = self.evfd.get() && quiet_flush();
        {
            let mut inner = self.inner.borrow_mut();
            if quiet {
                inner.uring.completion().disable_eventfd();
            }
            // Published first: the receives armed again below are the first
            // to run (no system call comes between), oldest first.
            inner.bufs.publish();
            inner.rearm_starved();
            inner.submit();
        }
        self.reap();
        if quiet {
            let more = {
                let mut inner = self.inner.borrow_mut();
                inner.uring.completion().enable_eventfd();
                // Completions are posted by this thread's own task work
                // (`COOP_TASKRUN`, single issuer); the fence orders the flag
                // before the look at the queue for any posted elsewhere.
                std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
                let mut cq = inner.uring.completion();
                cq.sync();
                !cq.is_empty()
            };
            if more {
                self.reap();
            }
        }
        let waiting = {
            let mut inner = self.inner.borrow_mut();
            inner.settle_rearmed() && inner.bufs.lent() > 0
        };
        if waiting {
            self.schedule_flush();
        }
    }

    /// Processes the completion queue and wakes the connections concerned;
    /// how many completions there were, not counting the polls of glommio's
    /// rings.
    fn reap(&self) -> usize {
        let mut wakers = self.wakers.take();
        let (reaped, queued, trim) = {
            let mut inner = self.inner.borrow_mut();
            let reaped = inner.reap(&mut wakers);
            (
                reaped,
                !inner.uring.submission().is_empty()
                    || (!inner.starve.is_empty() && inner.bufs.lent() > 0),
                inner.bufs.trimmable(),
            )
        };
        if queued {
            self.schedule_flush();
        }
        if trim && let Some(w) = self.trimmer.take() {
            wakers.push(w);
        }
        self.wake_and_keep(wakers);
        reaped
    }

    /// Wakes `wakers` and keeps the emptied vector for the next reap. A waker
    /// may have reaped again (and left its own vector): the larger is kept.
    fn wake_and_keep(&self, mut wakers: Vec<Waker>) {
        for w in wakers.drain(..) {
            w.wake();
        }
        let other = self.wakers.take();
        self.wakers.set(if other.capacity() > wakers.capacity() {
            other
        } else {
            wakers
        });
    }

    /// A slot for `fd`.
    fn register(&self, fd: RawFd) -> u32 {
        let mut inner = self.inner.borrow_mut();
        match inner.free.pop() {
            Some(i) => {
                let generation = inner.slots[i as usize].generation.wrapping_add(1);
                inner.slots[i as usize] = Slot::new(fd, generation);
                i
            }
            None => {
                let i = inner.slots.push(Slot::new(fd, 0));
                u32::try_from(i).expect("fewer than 2^32 sockets")
            }
        }
    }

    /// The owner of `slot` is gone: its buffers go back, its operations are
    /// cancelled, and the slot is reused once they have all completed. The
    /// caller closes the descriptor afterwards (the kernel holds its own
    /// reference for operations still in flight).
    fn release(&self, slot: u32) {
        let mut inner = self.inner.borrow_mut();
        let inner = &mut *inner;
        let s = &mut inner.slots[slot as usize];
        let generation = s.generation;
        s.set(Slot::OWNED, false);
        s.waker = None;
        let mut bid = s.rx_head;
        while bid != NO_BUF {
            let next = inner.bufs.next[bid as usize];
            inner.bufs.give_back(bid);
            bid = next;
        }
        s.rx_head = NO_BUF;
        s.rx_tail = NO_BUF;
        let mut cancel = [None; 3];
        if s.has(Slot::RECV_ARMED) {
            cancel[0] = Some(user_data(slot, generation, Op::Recv));
        }
        if s.has(Slot::POLL_ARMED) {
            cancel[1] = Some(user_data(slot, generation, Op::Poll));
        }
        let done = match s.send.take() {
            Some(op) if op.done.is_some() => Some(op),
            Some(op) => {
                s.send = Some(op);
                cancel[2] = Some(user_data(slot, generation, Op::Send));
                None
            }
            None => None,
        };
        if s.inflight == 0 {
            inner.free.push(slot);
        }
        if let Some(op) = done {
            inner.recycle(op);
        }
        for target in cancel.into_iter().flatten() {
            let sqe = opcode::AsyncCancel::new(target)
                .build()
                .user_data(user_data(slot, generation, Op::Cancel));
            inner.push(&sqe);
        }
        self.schedule_flush();
    }
}

impl Inner {
    /// Keeps a finished send op for reuse (up to `POOL_MAX`).
    fn recycle(&mut self, mut op: Box<SendOp>) {
        if self.pool.len() < stream::POOL_MAX {
            op.clear();
            self.pool.push(op);
        }
    }

    /// Queues one submission, submitting first when the queue is full.
    fn push(&mut self, sqe: &squeue::Entry) {
        loop {
            // SAFETY: every entry pushed points at memory that stays valid
            // until its completion (slots and send ops are kept until then).
            let mut sq = self.uring.submission();
            if unsafe { sq.push(sqe) }.is_ok() {
                let full = sq.len() >= SUBMIT_BATCH;
                drop(sq);
                if full {
                    self.submit();
                }
                return;
            }
            drop(sq);
            self.submit();
        }
    }

    /// One `io_uring_enter` for everything queued (nothing when empty).
    fn submit(&mut self) {
        if self.uring.submission().is_empty() {
            return;
        }
        self.stats.submits += 1;
        loop {
            match self.uring.submit() {
                Ok(_) => return,
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    // The completion queue is full: make room, then retry.
                    let mut wakers = Vec::new();
                    self.reap(&mut wakers);
                    for w in wakers {
                        w.wake();
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "io_uring submit failed");
                    return;
                }
            }
        }
    }

    /// Arms `slot`'s multishot receive.
    fn arm_recv(&mut self, slot: u32) {
        let s = &mut self.slots[slot as usize];
        if s.has(Slot::RECV_ARMED) || s.rx_end != NOT_ENDED {
            return;
        }
        s.set(Slot::RECV_ARMED, true);
        s.inflight += 1;
        let sqe = opcode::RecvMulti::new(types::Fd(s.fd), BUFFER_GROUP)
            .build()
            .user_data(user_data(slot, s.generation, Op::Recv));
        self.push(&sqe);
    }

    /// Takes every completion.
    fn reap(&mut self, wakers: &mut Vec<Waker>) -> usize {
        let mut done = std::mem::take(&mut self.reaped);
        let mut cq = self.uring.completion();
        cq.sync();
        done.extend(&mut cq);
        drop(cq);
        let mut reaped = 0;
        for cqe in done.drain(..) {
            if !self.complete_glommio_poll(cqe.user_data(), cqe.result()) {
                reaped += 1;
                self.complete(cqe.user_data(), cqe.result(), cqe.flags(), wakers);
            }
        }
        self.reaped = done;
        reaped
    }

    /// One completion.
    fn complete(&mut self, data: u64, res: i32, flags: u32, wakers: &mut Vec<Waker>) {
        let slot = (data >> 24) as u32;
        let generation = (data >> 8) as u16;
        let op = (data & 0xff) as u8;
        let Some(s) = self.slots.get_mut(slot as usize) else {
            return;
        };
        if s.generation != generation || op == Op::Cancel as u8 {
            // A cancellation's own completion. (A completion of a slot's
            // earlier connection cannot come: the slot is reused only once
            // they all have; a buffer is given back all the same.)
            if let Some(bid) = cqueue::buffer_select(flags) {
                self.bufs.taken(bid, 0);
                self.bufs.give_back(bid);
            }
            return;
        }
        let mut rearm = false;
        let finished = match op {
            x if x == Op::Recv as u8 => {
                let more = cqueue::more(flags);
                if let Some(bid) = cqueue::buffer_select(flags) {
                    if res > 0 && s.has(Slot::OWNED) {
                        self.stats.recvs += 1;
                        s.set(Slot::RECV_REARMED, false);
                        self.bufs.taken(bid, res as u32);
                        if self.bufs.short() && self.registered && self.bufs.grow() {
                            self.stats.grown += 1;
                        }
                        if s.rx_tail == NO_BUF {
                            s.rx_head = bid;
                        } else {
                            self.bufs.next[s.rx_tail as usize] = bid;
                        }
                        s.rx_tail = bid;
                    } else {
                        self.bufs.taken(bid, 0);
                        self.bufs.give_back(bid);
                    }
                }
                if !more {
                    s.set(Slot::RECV_ARMED, false);
                    if s.has(Slot::OWNED) {
                        match res {
                            // Ended for want of buffers; for another reason
                            // with data (e.g. an overflowing completion
                            // queue); or cancelled, not by us while the slot
                            // is owned: armed again (`starve.rs`) rather than
                            // go deaf.
                            r if r > 0 || r == -libc::ENOBUFS || r == -libc::ECANCELED => {
                                rearm = true;
                                if r == -libc::ENOBUFS && self.registered && self.bufs.grow() {
                                    self.stats.grown += 1;
                                }
                            }
                            r => s.end_rx(r),
                        }
                    }
                }
                s.wake(wakers);
                !more
            }
            x if x == Op::Send as u8 => {
                if let Some(op) = &mut s.send {
                    op.done = Some(res);
                }
                s.wake(wakers);
                true
            }
            x if x == Op::Poll as u8 => {
                s.set(Slot::POLL_ARMED, false);
                s.set(Slot::POLLED, true);
                s.wake(wakers);
                true
            }
            _ => false, // a cancellation's own completion
        };
        if finished {
            s.inflight -= 1;
            if !s.has(Slot::OWNED) && s.inflight == 0 {
                if let Some(op) = s.send.take() {
                    self.recycle(op);
                }
                self.free.push(slot);
            }
        }
        if rearm {
            self.starve(slot);
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Nothing the kernel may still read or write is freed while it can:
        // cancel everything, wait for the completions (briefly), and leak what
        // is still out after that.
        let builder = types::CancelBuilder::any();
        let sqe = opcode::AsyncCancel2::new(builder)
            .build()
            .user_data(user_data(u32::MAX >> 8, 0, Op::Cancel));
        self.push(&sqe);
        let deadline = Instant::now() + Duration::from_millis(200);
        let mut wakers = Vec::new();
        loop {
            let _ = self.uring.submit();
            self.reap(&mut wakers);
            let busy = self.slots.iter().any(|s| s.inflight > 0);
            if !busy {
                break;
            }
            if Instant::now() > deadline {
                tracing::warn!(
                    "io_uring operations still in flight at shutdown; leaking their buffers"
                );
                std::mem::forget(std::mem::take(&mut self.slots));
                let bufs = std::mem::replace(&mut self.bufs, BufRing::new(1, 1, 1));
                std::mem::forget(bufs);
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(wakers);
    }
}

#[cfg(test)]
mod tests;
