//! A session's outbound queue: the one hand-off point between the routing core
//! (which pushes encoded frames) and the transport's writer task (which drains
//! them into the socket, many frames per write).
//!
//! It is bounded in bytes. A push past the bound fails with [`Overflow`]; the
//! router then closes that session as a slow consumer (see the README's limits
//! section) and nothing else is affected. An event encoded once is shared by
//! every subscriber's queue without copying ([`Frame::Shared`]).

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::ops::Deref;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;

/// Why the router wants a connection closed; the transport maps it to a
/// WebSocket close code or a RawSocket shutdown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The WAMP session ended normally (GOODBYE/ABORT exchanged): close 1000.
    Normal,
    /// The router is shutting down: close 1001.
    GoingAway,
    /// The peer broke the protocol; ABORT was queued first: close 1002.
    ProtocolViolation(Cow<'static, str>),
    /// A message exceeded the size limit: close 1009.
    MessageTooBig,
    /// The session's outbound queue hit its limit: close 1008 with this reason.
    SlowConsumer,
}

impl CloseReason {
    /// The WebSocket close code (RFC 6455 section 7.4.1) for this reason.
    pub fn ws_code(&self) -> u16 {
        match self {
            CloseReason::Normal => 1000,
            CloseReason::GoingAway => 1001,
            CloseReason::ProtocolViolation(_) => 1002,
            CloseReason::MessageTooBig => 1009,
            CloseReason::SlowConsumer => 1008,
        }
    }

    /// Human-readable reason, sent in the WebSocket close frame.
    pub fn text(&self) -> &str {
        match self {
            CloseReason::Normal => "session closed",
            CloseReason::GoingAway => "router shutting down",
            CloseReason::ProtocolViolation(r) => r,
            CloseReason::MessageTooBig => "message too big",
            CloseReason::SlowConsumer => "outbound queue limit exceeded (slow consumer)",
        }
    }
}

/// One encoded message in an outbox.
///
/// A fan-out queues the same EVENT for every subscriber of a shard. As
/// [`Frame::Shared`] that costs one non-atomic reference count per subscriber
/// instead of the atomic one a `Bytes` clone takes (the profile of a 1 → 1,000
/// fan-out showed `Bytes` clone and drop at 14 % of the router's time). An
/// outbox never leaves its shard, so `Rc` is enough. Same size as `Bytes`.
#[derive(Debug, Clone)]
pub enum Frame {
    /// Bytes of this frame alone (or shared across shards).
    Own(Bytes),
    /// Bytes shared with other outboxes of this shard.
    Shared(Rc<Bytes>),
}

impl Frame {
    /// The frame as `Bytes` (for a shared frame, another reference to them).
    pub fn into_bytes(self) -> Bytes {
        match self {
            Frame::Own(b) => b,
            Frame::Shared(b) => Rc::unwrap_or_clone(b),
        }
    }
}

impl Deref for Frame {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Frame::Own(b) => b,
            Frame::Shared(b) => b,
        }
    }
}

impl From<Bytes> for Frame {
    fn from(b: Bytes) -> Frame {
        Frame::Own(b)
    }
}

impl From<Rc<Bytes>> for Frame {
    fn from(b: Rc<Bytes>) -> Frame {
        Frame::Shared(b)
    }
}

impl PartialEq for Frame {
    fn eq(&self, other: &Frame) -> bool {
        **self == **other
    }
}

/// The push would take the queue past its byte limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overflow;

/// A bounded queue of encoded frames for one connection.
///
/// Memory: the shared handle's allocation is 96 octets (mimalloc's class;
/// [`OutboxRef`]), and an idle queue holds no buffer: the first push
/// allocates room for 4 frames, and a buffer of at most [`KEPT_EMPTY`]
/// frames is freed when the queue empties again (a held session keeps none
/// after its WELCOME went out; a busy one whose queue grew past it keeps its
/// buffer between bursts instead of growing it again each time).
#[derive(Debug)]
pub struct Outbox {
    /// Frames not yet handed to the writer, oldest first.
    frames: VecDeque<Frame>,
    /// Sum of `frames` lengths, checked against `limit` on every push.
    queued_bytes: usize,
    /// Byte bound (`limits.outbound_queue_bytes`, at most 1 GiB by
    /// configuration; a larger `limit` given to [`Outbox::new`] acts as 4 GiB).
    limit: u32,
    /// The writer task, parked until there is something to write (or, see
    /// [`Outbox::poll_fill`], until more is).
    waker: Option<Waker>,
    /// The queue length at which a push wakes the writer again (0: only the
    /// first frame wakes it).
    wake_at: u16,
    /// A frame that must not wait is queued (anything but an event, see
    /// [`Outbox::push_event`]); cleared when the queue empties or a write
    /// takes all of it.
    urgent: bool,
    /// Set once: the writer flushes what is queued, then closes with this
    /// (boxed: only a closing session has one).
    close: Option<Box<CloseReason>>,
}

/// The largest queue buffer (in frames) an emptied queue gives up: what the
/// first push allocates. An idle session holds no buffer; the one it gave up
/// goes to the shard's spares (below) for the next queue that needs one.
pub const KEPT_EMPTY: usize = 4;

/// Emptied small queue buffers kept per thread (one shard) for the next queue
/// that gets a frame: a session sent one message at a time (unbatched events,
/// an RPC's INVOCATION or RESULT) would otherwise allocate and free its buffer
/// for every message. Bounded: past this many, an emptied buffer is freed. At
/// most `SPARES_MAX` buffers of `KEPT_EMPTY` frames (≈ 160 KiB) per shard;
/// a fan-out to more small queues at once than that allocates for the rest.
const SPARES_MAX: usize = 1024;

thread_local! {
    static SPARES: RefCell<Vec<VecDeque<Frame>>> = const { RefCell::new(Vec::new()) };
}

/// A spare small buffer, or an empty (unallocated) one.
fn take_spare() -> VecDeque<Frame> {
    SPARES
        .try_with(|s| s.borrow_mut().pop())
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// Keeps an emptied small buffer for [`take_spare`], or frees it.
fn give_spare(buf: VecDeque<Frame>) {
    debug_assert!(buf.is_empty());
    if buf.capacity() == 0 {
        return;
    }
    // At thread exit the spares are gone: the buffer is simply freed.
    let _ = SPARES.try_with(|s| {
        let mut s = s.borrow_mut();
        if s.len() < SPARES_MAX {
            s.push(buf);
        }
    });
}

/// The shared handle both sides hold. Single-threaded: a shard's router and its
/// connections run on the same executor, so `RefCell` suffices (no lock).
pub type OutboxRef = Rc<RefCell<Outbox>>;

impl Outbox {
    /// An empty queue bounded at `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Outbox {
            frames: VecDeque::new(),
            queued_bytes: 0,
            limit: u32::try_from(limit).unwrap_or(u32::MAX),
            waker: None,
            wake_at: 0,
            urgent: false,
            close: None,
        }
    }

    /// A new shared handle.
    pub fn new_ref(limit: usize) -> OutboxRef {
        Rc::new(RefCell::new(Outbox::new(limit)))
    }

    /// Queues a frame that must not wait (a reply, an INVOCATION: a writer
    /// that holds events back writes it at once). Frames pushed after
    /// [`Outbox::close`] are dropped.
    ///
    /// # Errors
    /// [`Overflow`] when the frame would exceed the byte limit; the frame is not queued.
    pub fn push(&mut self, frame: impl Into<Frame>) -> Result<(), Overflow> {
        self.queue(frame.into(), true)
    }

    /// Queues an EVENT: a writer that coalesces writes may hold it back
    /// with what follows (see [`Outbox::poll_fill`]).
    ///
    /// # Errors
    /// [`Overflow`] as [`Outbox::push`].
    pub fn push_event(&mut self, frame: impl Into<Frame>) -> Result<(), Overflow> {
        self.queue(frame.into(), false)
    }

    fn queue(&mut self, frame: Frame, urgent: bool) -> Result<(), Overflow> {
        if self.close.is_some() {
            return Ok(());
        }
        if self.queued_bytes + frame.len() > self.limit as usize && !self.frames.is_empty() {
            return Err(Overflow);
        }
        self.queued_bytes += frame.len();
        if self.frames.capacity() == 0 {
            self.frames = take_spare();
        }
        self.frames.push_back(frame);
        self.urgent |= urgent;
        // No waker (the writer is busy): nothing to wake.
        if self.frames.len() == 1 || self.frames.len() == usize::from(self.wake_at) || urgent {
            self.wake();
        }
        Ok(())
    }

    /// Whether a frame that must not wait is queued ([`Outbox::push`]).
    pub fn has_urgent(&self) -> bool {
        self.urgent
    }

    /// A write took every frame queued (submitted, not yet completed): no
    /// frame queued later waits for those to be written.
    pub fn all_taken(&mut self) {
        self.urgent = false;
    }

    /// Asks the writer to close after flushing what is queued. The first reason wins.
    pub fn close(&mut self, reason: CloseReason) {
        if self.close.is_none() {
            self.close = Some(Box::new(reason));
            self.wake();
        }
    }

    /// Whether [`Outbox::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.close.is_some()
    }

    /// The close reason, once set.
    pub fn close_reason(&self) -> Option<&CloseReason> {
        self.close.as_deref()
    }

    /// Bytes currently queued.
    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes
    }

    /// Frames currently queued.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether no frames are queued.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// The queued frames, oldest first. A writer reads frames in place and
    /// [`Outbox::pop_written`]s each once it is on the wire, so bytes count
    /// against the limit until the socket took them.
    pub fn frames(&self) -> &VecDeque<Frame> {
        &self.frames
    }

    /// Removes the oldest frame, now written.
    pub fn pop_written(&mut self) -> Option<Frame> {
        let frame = self.frames.pop_front()?;
        self.queued_bytes -= frame.len();
        self.release_if_empty();
        Some(frame)
    }

    /// Moves every queued frame to the back of `into` (the writer's batch).
    pub fn drain_into(&mut self, into: &mut VecDeque<Bytes>) {
        into.extend(self.frames.drain(..).map(Frame::into_bytes));
        self.queued_bytes = 0;
        self.release_if_empty();
    }

    /// Gives up a small buffer once the queue is empty (see [`KEPT_EMPTY`]).
    fn release_if_empty(&mut self) {
        if self.frames.is_empty() {
            self.urgent = false;
            if self.frames.capacity() <= KEPT_EMPTY {
                give_spare(std::mem::take(&mut self.frames));
            }
        }
    }

    /// Ready when frames are queued or a close was requested; otherwise parks the writer.
    pub fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if !self.frames.is_empty() || self.close.is_some() {
            Poll::Ready(())
        } else {
            match &self.waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => self.waker = Some(cx.waker().clone()),
            }
            Poll::Pending
        }
    }

    /// Ready when `frames` frames are queued, a frame that must not wait
    /// is, or a close was requested; otherwise the writer, which holds back
    /// what is queued (write coalescing), is woken once one of those comes.
    pub fn poll_fill(&mut self, cx: &mut Context<'_>, frames: usize) -> Poll<()> {
        if self.frames.len() >= frames || self.urgent || self.close.is_some() {
            return Poll::Ready(());
        }
        self.wake_at = u16::try_from(frames).unwrap_or(u16::MAX);
        match &self.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => self.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    fn wake(&mut self) {
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_respects_byte_limit_but_always_admits_one_frame() {
        let mut o = Outbox::new(10);
        assert_eq!(
            o.push(Bytes::from_static(b"0123456789ab")),
            Ok(()),
            "one oversize frame fits an empty queue"
        );
        assert_eq!(o.push(Bytes::from_static(b"x")), Err(Overflow));
        let mut batch = VecDeque::new();
        o.drain_into(&mut batch);
        assert_eq!(batch.len(), 1);
        assert_eq!(o.queued_bytes(), 0);
        assert_eq!(o.push(Bytes::from_static(b"12345")), Ok(()));
        assert_eq!(o.push(Bytes::from_static(b"12345")), Ok(()));
        assert_eq!(o.push(Bytes::from_static(b"1")), Err(Overflow));
        assert_eq!(o.queued_bytes(), 10);
    }

    #[test]
    fn frames_count_against_the_limit_until_popped_as_written() {
        let mut o = Outbox::new(10);
        assert_eq!(o.push(Bytes::from_static(b"123456")), Ok(()));
        assert_eq!(o.push(Bytes::from_static(b"7890")), Ok(()));
        assert_eq!(o.frames().len(), 2);
        assert_eq!(&*o.frames()[0], b"123456");
        assert_eq!(o.push(Bytes::from_static(b"x")), Err(Overflow));
        assert_eq!(o.pop_written(), Some(Bytes::from_static(b"123456").into()));
        assert_eq!(o.queued_bytes(), 4);
        assert_eq!(o.push(Bytes::from_static(b"abcdef")), Ok(()));
        assert_eq!(o.pop_written(), Some(Bytes::from_static(b"7890").into()));
        assert_eq!(o.pop_written(), Some(Bytes::from_static(b"abcdef").into()));
        assert_eq!(o.pop_written(), None);
        assert_eq!(o.queued_bytes(), 0);
    }

    #[test]
    fn a_shared_frame_is_one_buffer_counted_per_outbox() {
        assert_eq!(std::mem::size_of::<Frame>(), std::mem::size_of::<Bytes>());
        let event = Rc::new(Bytes::from_static(b"[36,1,2,{}]"));
        let (mut a, mut b) = (Outbox::new(100), Outbox::new(100));
        a.push(Rc::clone(&event)).expect("fits");
        b.push(Rc::clone(&event)).expect("fits");
        assert_eq!(Rc::strong_count(&event), 3);
        assert_eq!((a.queued_bytes(), b.queued_bytes()), (11, 11));
        let out = a.pop_written().expect("queued");
        assert!(matches!(&out, Frame::Shared(rc) if Rc::ptr_eq(rc, &event)));
        assert_eq!(out.into_bytes(), Bytes::from_static(b"[36,1,2,{}]"));
        assert_eq!(Rc::strong_count(&event), 2);
        let mut batch = VecDeque::new();
        b.drain_into(&mut batch);
        assert_eq!(batch, [Bytes::from_static(b"[36,1,2,{}]")]);
        assert_eq!(Rc::strong_count(&event), 1);
    }

    /// What a held session's outbox costs (issue #9): the shared handle's
    /// allocation in mimalloc's 96-octet class, and no queue buffer while
    /// idle, also after a few frames went out.
    #[test]
    fn an_idle_outbox_holds_no_buffer() {
        let rc_alloc = std::mem::size_of::<RefCell<Outbox>>() + 2 * std::mem::size_of::<usize>();
        assert!(
            rc_alloc <= 96,
            "the outbox's Rc allocation is {rc_alloc} bytes"
        );
        let mut o = Outbox::new(100);
        assert_eq!(o.frames.capacity(), 0, "a new outbox allocates nothing");
        o.push(Bytes::from_static(b"welcome")).expect("fits");
        o.push(Bytes::from_static(b"event")).expect("fits");
        assert!(o.frames.capacity() > 0);
        o.pop_written();
        assert!(o.frames.capacity() > 0, "kept while frames wait");
        o.pop_written();
        assert_eq!(o.frames.capacity(), 0, "freed once empty");
        o.push(Bytes::from_static(b"x")).expect("fits");
        o.drain_into(&mut VecDeque::new());
        assert_eq!(o.frames.capacity(), 0, "freed once drained");
        // A queue that grew past the first allocation keeps its buffer.
        for _ in 0..KEPT_EMPTY + 1 {
            o.push(Bytes::from_static(b"1")).expect("fits");
        }
        while o.pop_written().is_some() {}
        assert!(o.frames.capacity() > KEPT_EMPTY);
    }

    /// A writer holding back what is queued (write coalescing) is woken
    /// when the queue reaches the length it asked for, not by each push.
    #[test]
    fn a_holding_writer_is_woken_when_the_queue_fills() {
        struct Count(std::sync::atomic::AtomicUsize);
        impl std::task::Wake for Count {
            fn wake(self: std::sync::Arc<Self>) {
                self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
        let count = std::sync::Arc::new(Count(0.into()));
        let waker = Waker::from(std::sync::Arc::clone(&count));
        let mut cx = Context::from_waker(&waker);
        let woken = || count.0.load(std::sync::atomic::Ordering::Relaxed);
        let mut o = Outbox::new(1000);
        assert!(o.poll_ready(&mut cx).is_pending());
        o.push_event(Bytes::from_static(b"1")).expect("fits");
        assert_eq!(woken(), 1, "the first frame wakes the writer");
        assert!(o.poll_fill(&mut cx, 3).is_pending(), "1 of 3 queued");
        o.push_event(Bytes::from_static(b"2")).expect("fits");
        assert_eq!(woken(), 1, "a frame short of the length does not");
        o.push_event(Bytes::from_static(b"3")).expect("fits");
        assert_eq!(woken(), 2, "the length asked for does");
        assert!(o.poll_fill(&mut cx, 3).is_ready());
        o.push_event(Bytes::from_static(b"4")).expect("fits");
        assert_eq!(woken(), 2, "no waker left: nothing to wake");
        assert!(o.poll_fill(&mut cx, 10).is_pending());
        assert!(!o.has_urgent());
        o.push(Bytes::from_static(b"result")).expect("fits");
        assert_eq!(woken(), 3, "a frame that must not wait wakes it");
        assert!(o.has_urgent());
        assert!(o.poll_fill(&mut cx, 10).is_ready());
        while o.pop_written().is_some() {}
        assert!(!o.has_urgent(), "cleared once the queue empties");
        o.push(Bytes::from_static(b"error")).expect("fits");
        o.all_taken();
        assert!(!o.has_urgent(), "cleared once a write takes it");
        while o.pop_written().is_some() {}
        o.push_event(Bytes::from_static(b"5")).expect("fits");
        assert!(o.poll_fill(&mut cx, 10).is_pending());
        o.close(CloseReason::Normal);
        assert_eq!(woken(), 4, "a close wakes it");
        assert!(o.poll_fill(&mut cx, 10).is_ready());
    }

    #[test]
    fn close_keeps_first_reason_and_drops_later_frames() {
        let mut o = Outbox::new(100);
        o.push(Bytes::from_static(b"abc")).expect("fits");
        o.close(CloseReason::SlowConsumer);
        o.close(CloseReason::Normal);
        assert_eq!(o.close_reason(), Some(&CloseReason::SlowConsumer));
        o.push(Bytes::from_static(b"late"))
            .expect("dropped silently");
        assert_eq!(o.len(), 1);
    }
}
