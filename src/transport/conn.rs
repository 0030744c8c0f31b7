//! The connection driver both protocols share: one boxed [`Conn`] per held
//! connection, reads decoded in place (on the shard's ring: in the provided
//! buffer the kernel filled; otherwise in the shard's scratch buffer),
//! vectored writes straight from the outbox (on the ring: a send op submitted
//! with the turn's others), control frames at message boundaries, and the
//! closing phase. What differs between WebSocket and RawSocket (frame
//! decoding, headers, control and close frames, how a broken frame ends the
//! connection, the largest frame the peer takes) is a [`Framing`]; each
//! protocol's handshake stays in its own module, which then builds the `Conn`
//! and hands it to [`Conn::serve`].
//!
//! Memory: a held connection is one [`Conn`] (160 octets with the shard's
//! hooks) and its task's [`Serve`] future (24 octets). Only the tail of a
//! frame that has not fully arrived is kept per connection, and only until
//! it has (`pending.rs`, with the control frames waiting to be written). Writes go from the outbox's frames straight to the
//! socket: one send carries many frames, each a header built for it followed
//! by the frame's own bytes (for an event, the same buffer for every
//! subscriber). On the ring the send op owns references to those frames, and
//! the frames leave the outbox when the completion says the socket took them.
//!
//! Closing: a close requested through the outbox is carried out after
//! everything queued before it. A framing with a close frame (WebSocket) sends
//! it and awaits the peer's reply for [`CLOSE_TIMEOUT`]; one without
//! (RawSocket) shuts our sending side down and reads until the peer's end of
//! stream, again for at most [`CLOSE_TIMEOUT`]. Once the router has closed the
//! outbox, a peer that does not read gets [`STALL_TICK`] before it is dropped.
//! The closing phase lives in `conn_close.rs`.

use std::cell::RefCell;
use std::future::{Future, poll_fn};
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use glommio::timer::Timer;

pub(super) use super::encoded::Encoded;
use super::encoded::EncodedQueue;
pub(super) use super::framing::{Decoded, Fail, Frame, Framing, MAX_HEADER};
use super::hold::Hold;
use super::pending::{Ctrl, InBuf};
use super::socket::Socket;
use super::with_timeout;
use super::{CLOSE_TIMEOUT, ClosedOnDrop, ConnectionHooks, Refused, STALL_TICK, Stream};
use crate::core::api::LinkInfo;
use crate::core::outbox::{Frame as OutFrame, OutboxRef};
use crate::proto::Serializer;

/// Size of the shard's read buffer.
const SCRATCH_SIZE: usize = 64 * 1024;
/// Octets a connection reads per wake before it yields to the others (16
/// reads into the scratch buffer; on the ring, where each received segment
/// fills a buffer of its own, as many buffers as add up to it).
const READ_BUDGET: usize = 16 * SCRATCH_SIZE;
/// Vectored writes a connection makes per wake before it yields.
const WRITES_PER_WAKE: usize = 16;
/// Frames per vectored write (two buffers each: header and payload).
pub(super) const FRAMES_PER_WRITE: usize = 60;
/// Payload of our auto-pings.
const PING_PAYLOAD: &[u8] = b"junction";

thread_local! {
    /// The shard's read buffer. Each connection reads into it, hands whole
    /// messages on and copies only an incomplete frame's tail into its own
    /// `inbuf`. It is borrowed only within one synchronous poll.
    static SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0u8; SCRATCH_SIZE].into_boxed_slice());
}

/// Runs `f` with the shard's scratch buffer (a buffer of its own in the never
/// expected case that the scratch buffer is already in use: reads do not nest).
pub(super) fn with_scratch<R>(f: impl FnOnce(&mut [u8]) -> R) -> R {
    SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
        Ok(mut buf) => f(&mut buf),
        Err(_) => f(&mut vec![0u8; 4096]),
    })
}

/// Why the connection's main phase ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The peer sent a close frame with this code (`None`: no code); we answer it.
    PeerClosed(Option<u16>),
    /// The stream ended or failed without a close handshake.
    Gone,
    /// The peer broke the protocol or a limit.
    Fail(Fail),
    /// The outbox's close frame was sent; await the peer's reply.
    CloseSent,
    /// The outbox was closed and everything queued is written; the framing has
    /// no close frame: shut our side down and await the peer's end of stream.
    Shutdown,
    /// No answer to an auto-ping in time, or a stuck write after the router
    /// closed the connection: drop.
    Drop,
}

/// Where the main phase stands after one step of one side.
type Step = Option<End>;

/// Auto-ping state, present only when configured.
pub(super) struct AutoPing {
    /// Idle time before a ping.
    interval: Duration,
    /// Time a ping has to be answered (zero: not checked).
    timeout: Duration,
    /// The next check.
    timer: Timer,
    /// When the unanswered ping was sent.
    sent_at: Option<Instant>,
    /// When the peer last sent anything.
    last_rx: Instant,
}

impl AutoPing {
    /// Pings after `interval` without input, expecting an answer within
    /// `timeout` (zero: not checked); `None` when `interval` is zero (off).
    pub(super) fn new(interval: Duration, timeout: Duration) -> Option<Box<AutoPing>> {
        (!interval.is_zero()).then(|| {
            Box::new(AutoPing {
                interval,
                timeout,
                timer: Timer::new(interval),
                sent_at: None,
                last_rx: Instant::now(),
            })
        })
    }
}

/// One connection: the socket, the router's side, the framing, and the little
/// state the driver needs between wakes.
pub(super) struct Conn<H: ConnectionHooks, F: Framing> {
    /// The socket.
    pub(super) sock: Stream,
    /// The router's side; `closed` is called when this is dropped.
    hooks: ClosedOnDrop<H>,
    /// What the router queued for the peer; `None` only before `open`.
    outbox: Option<OutboxRef>,
    /// The protocol's framing state.
    pub(super) framing: F,
    /// The start of a frame that has not fully arrived; absent (no
    /// allocation) otherwise.
    inbuf: InBuf,
    /// Encoded control frames (pongs, pings, our close) waiting to be written
    /// at the next message boundary; absent (no allocation) otherwise.
    ctrl: Ctrl,
    /// Octets of the outbox's front frame (header and payload) already
    /// written (`u32`: a frame of 4 GiB or more is never sent, see
    /// [`Conn::max_send`]; with `close_queued` in one word).
    front_sent: u32,
    /// Write coalescing: whether what is queued is held back (see
    /// [`hold`](super::hold); with `front_sent` and `close_queued` in one word).
    hold: Hold,
    /// The first outbox frames as the framing encoded them, in order (only
    /// for a framing that [encodes](Framing::encodes); empty otherwise).
    encoded: EncodedQueue,
    /// Our close frame is in `ctrl`.
    close_queued: bool,
    /// Auto-ping, when configured.
    pub(super) ping: Option<Box<AutoPing>>,
    /// Since when a write has been stuck after the router closed the
    /// connection, and the timer that gives up on it.
    stall: Option<Box<(Instant, Timer)>>,
}

/// The future of an opened connection ([`Conn::serve`]): the main phase
/// polled on the connection's box, then the closing phase in a box of its
/// own. Named rather than an `async` block so that a held connection's
/// future is this enum (24 octets) and nothing kept from its start (an
/// `async` block kept the box, the early end and the awaited future's
/// state: 56 octets).
pub(super) enum Serve<'a, H: ConnectionHooks, F: Framing> {
    /// Frames both ways.
    Main(Box<Conn<H, F>>),
    /// The closing phase.
    Closing(Pin<Box<dyn Future<Output = ()> + 'a>>),
    /// Over.
    Done,
}

impl<'a, H: ConnectionHooks + 'a, F: Framing + 'a> Future for Serve<'a, H, F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        loop {
            match this {
                Serve::Main(conn) => {
                    let Poll::Ready(end) = conn.poll_main(cx) else {
                        return Poll::Pending;
                    };
                    let Serve::Main(conn) = std::mem::replace(this, Serve::Done) else {
                        unreachable!("matched above");
                    };
                    *this = Serve::Closing(Box::pin(conn.finish(end)));
                }
                Serve::Closing(closing) => {
                    if closing.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    *this = Serve::Done;
                }
                Serve::Done => return Poll::Ready(()),
            }
        }
    }
}

impl<H: ConnectionHooks, F: Framing> Conn<H, F> {
    /// A connection on `sock` before its handshake.
    pub(super) fn new(sock: Stream, hooks: H, framing: F) -> Box<Self> {
        Box::new(Conn {
            sock,
            hooks: ClosedOnDrop(hooks),
            outbox: None,
            framing,
            inbuf: InBuf::default(),
            ctrl: Ctrl::default(),
            front_sent: 0,
            hold: Hold::default(),
            encoded: EncodedQueue::default(),
            close_queued: false,
            ping: None,
            stall: None,
        })
    }

    /// Registers the connection with the router ([`ConnectionHooks::open`]).
    ///
    /// # Errors
    /// [`Refused`] when the router will not take it.
    pub(super) fn open(&mut self, info: LinkInfo, serializer: Serializer) -> Result<(), Refused> {
        self.outbox = Some(self.hooks.0.open(info, serializer)?);
        Ok(())
    }

    /// The opened connection's life: `leftover` (what arrived with the
    /// handshake), frames both ways, then the closing phase. `leftover` is
    /// taken before the future is built, so that the future (kept for the
    /// connection's whole life) holds only the connection's box (see [`Serve`]).
    pub(super) fn serve<'a>(mut self: Box<Self>, leftover: Vec<u8>) -> Serve<'a, H, F>
    where
        H: 'a,
        F: 'a,
    {
        match self.absorb(leftover) {
            Ok(()) => Serve::Main(self),
            Err(end) => Serve::Closing(Box::pin(self.finish(end))),
        }
    }

    fn outbox(&self) -> &OutboxRef {
        self.outbox
            .as_ref()
            .expect("the outbox is set when the connection opens")
    }

    /// The main phase: frames both ways until one side ends the connection.
    fn poll_main(&mut self, cx: &mut Context<'_>) -> Poll<End> {
        if let Some(end) = self.poll_read_side(cx) {
            return Poll::Ready(end);
        }
        if let Some(end) = self.poll_ping(cx) {
            return Poll::Ready(end);
        }
        match self.poll_write_side(cx) {
            Some(end) => Poll::Ready(end),
            None => Poll::Pending,
        }
    }

    /// Reads until the socket has nothing more (the task is then registered
    /// for readability) or the per-wake budget is spent (the task wakes itself).
    fn poll_read_side(&mut self, cx: &mut Context<'_>) -> Step {
        let mut budget = READ_BUDGET;
        while budget > 0 {
            match self.read_once(cx) {
                Poll::Pending => return None,
                Poll::Ready(Err(end)) => return Some(end),
                Poll::Ready(Ok(n)) => budget = budget.saturating_sub(n.max(1)),
            }
        }
        cx.waker().wake_by_ref();
        None
    }

    /// One read and the frames it completes: on the shard's ring, the next
    /// filled receive buffer, decoded where the kernel put it; otherwise a
    /// read into the shard's scratch buffer.
    /// Returns the octets read.
    fn read_once(&mut self, cx: &mut Context<'_>) -> Poll<Result<usize, End>> {
        let Stream::Uring(sock) = &mut self.sock else {
            return with_scratch(|buf| self.read_into(cx, buf));
        };
        match sock.poll_recv(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(None)) | Poll::Ready(Err(_)) => Poll::Ready(Err(End::Gone)),
            Poll::Ready(Ok(Some(mut buf))) => {
                self.received();
                Poll::Ready(self.absorb_slice(&mut buf).map(|()| buf.len()))
            }
        }
    }

    /// One read into `buf` and the frames it completes; the octets read.
    fn read_into(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<Result<usize, End>> {
        match self.sock.poll_read(cx, buf) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => Poll::Ready(Err(End::Gone)),
            Poll::Ready(Ok(n)) => {
                self.received();
                Poll::Ready(self.absorb_slice(&mut buf[..n]).map(|()| n))
            }
        }
    }

    /// The peer sent something (for the auto-ping).
    fn received(&mut self) {
        if let Some(ping) = &mut self.ping {
            ping.last_rx = Instant::now();
        }
    }

    /// Takes bytes that arrived before the main phase (with the handshake).
    fn absorb(&mut self, mut data: Vec<u8>) -> Result<(), End> {
        if data.is_empty() {
            return Ok(());
        }
        self.absorb_slice(&mut data)
    }

    /// Decodes the frames completed by `data` (freshly read) and keeps the
    /// tail of an incomplete one.
    fn absorb_slice(&mut self, data: &mut [u8]) -> Result<(), End> {
        match self.inbuf.0.take() {
            None => {
                let (used, needed) = self.decode_frames(data)?;
                if used < data.len() {
                    let tail = &data[used..];
                    // Room for the whole frame, but at most twice what arrived: a
                    // header may announce up to the message limit and then stall,
                    // so memory follows the bytes received (doubling as they come).
                    let mut buf = Vec::with_capacity(needed.min(2 * tail.len()).max(tail.len()));
                    buf.extend_from_slice(tail);
                    self.inbuf.0 = Some(Box::new(buf));
                }
            }
            Some(mut buf) => {
                buf.extend_from_slice(data);
                let (used, needed) = self.decode_frames(&mut buf)?;
                if used < buf.len() {
                    buf.drain(..used);
                    let more = needed.saturating_sub(buf.len()).min(buf.len());
                    buf.reserve(more);
                    self.inbuf.0 = Some(buf);
                }
                // Otherwise the buffer is freed: an idle connection keeps none.
            }
        }
        Ok(())
    }

    /// Decodes whole frames from the start of `buf`; returns the octets used
    /// and the length the next (incomplete) frame needs.
    fn decode_frames(&mut self, buf: &mut [u8]) -> Result<(usize, usize), End> {
        let mut used = 0;
        loop {
            let decoded = self.framing.decode(&mut buf[used..]).map_err(End::Fail)?;
            let (frame, consumed) = match decoded {
                Decoded::Incomplete { needed } => return Ok((used, needed)),
                Decoded::Frame { frame, consumed } => (frame, consumed),
            };
            used += consumed;
            match frame {
                None | Some(Frame::Pong) => {}
                Some(Frame::Message(payload)) => {
                    let closed = self.outbox.as_ref().is_none_or(|o| o.borrow().is_closed());
                    if !closed {
                        // Borrowed from the read buffer (or reassembled
                        // fragments): the router decodes it in place.
                        self.hooks.0.frame(&payload);
                    }
                }
                Some(Frame::Ping(payload)) => {
                    if self.ctrl.len() > F::MAX_PENDING_CONTROL {
                        return Err(End::Fail(Fail(1008, "pings faster than pongs can be sent")));
                    }
                    self.framing.pong(payload, self.ctrl.buf());
                }
                Some(Frame::Close(code)) => return Err(End::PeerClosed(code)),
            }
        }
    }

    /// Sends auto-pings and notices unanswered ones.
    fn poll_ping(&mut self, cx: &mut Context<'_>) -> Step {
        let ping = self.ping.as_mut()?;
        while Pin::new(&mut ping.timer).poll(cx).is_ready() {
            let last_rx = ping.last_rx;
            if let Some(sent) = ping.sent_at.take()
                && last_rx < sent
            {
                tracing::debug!("auto-ping timed out");
                return Some(End::Drop);
            }
            let idle = last_rx.elapsed();
            if idle < ping.interval {
                ping.timer = Timer::new(ping.interval - idle);
                continue;
            }
            self.framing.ping(PING_PAYLOAD, self.ctrl.buf());
            if ping.timeout.is_zero() {
                ping.timer = Timer::new(ping.interval);
            } else {
                ping.sent_at = Some(Instant::now());
                ping.timer = Timer::new(ping.timeout);
            }
        }
        None
    }

    /// Writes control frames and the outbox's frames until the socket is full,
    /// nothing is left (the task then waits on the outbox) or the per-wake
    /// budget is spent.
    fn poll_write_side(&mut self, cx: &mut Context<'_>) -> Step {
        for _ in 0..WRITES_PER_WAKE {
            if matches!(&self.sock, Stream::Uring(s) if s.sending()) {
                // A send completed on the ring is accounted for before the
                // queue is looked at: frames already sent are not waiting
                // (write coalescing must not hold for them).
                match self.poll_settle(cx) {
                    Poll::Pending => return self.stalled(cx),
                    Poll::Ready(Some(Err(_))) => return Some(End::Gone),
                    Poll::Ready(_) => {
                        if self.close_queued && self.ctrl.is_empty() {
                            return Some(End::CloseSent);
                        }
                    }
                }
            }
            let nothing_queued = self.ctrl.is_empty() && self.outbox().borrow().is_empty();
            if nothing_queued {
                self.hold.drained();
                let mut outbox = self.outbox().borrow_mut();
                let Some(reason) = outbox.close_reason().cloned() else {
                    // Parks until the router queues something.
                    return match outbox.poll_ready(cx) {
                        Poll::Pending => None,
                        Poll::Ready(()) => {
                            cx.waker().wake_by_ref();
                            None
                        }
                    };
                };
                drop(outbox);
                match self.framing.close_frame(reason.ws_code(), reason.text()) {
                    Some(frame) => {
                        *self.ctrl.buf() = frame;
                        self.close_queued = true;
                    }
                    None => return Some(End::Shutdown),
                }
            }
            if !self.may_write(cx) {
                return None;
            }
            match self.write_once(cx) {
                Poll::Ready(Ok(())) => {
                    if self.close_queued && self.ctrl.is_empty() {
                        return Some(End::CloseSent);
                    }
                }
                Poll::Ready(Err(_)) => return Some(End::Gone),
                Poll::Pending => return self.stalled(cx),
            }
        }
        cx.waker().wake_by_ref();
        None
    }

    /// Write coalescing ([`hold`](super::hold)): whether what is queued goes
    /// now. Only events wait: control frames, replies and invocations (with
    /// the events queued before them), a closing outbox and a whole write's
    /// worth of frames go at once; otherwise an event for a connection that
    /// wrote lately is held until the shard's window ends, or until one of
    /// those comes.
    fn may_write(&mut self, cx: &mut Context<'_>) -> bool {
        if self.hold.is_open() {
            return true;
        }
        let outbox = Rc::clone(self.outbox());
        let mut ob = outbox.borrow_mut();
        let now = !self.ctrl.is_empty()
            || ob.has_urgent()
            || ob.is_closed()
            || ob.len() >= FRAMES_PER_WRITE;
        if self.hold.may_write(cx, now) {
            return true;
        }
        // Held: woken at the window's end, or by the outbox once a write's
        // worth, a frame that must not wait or a close is queued (its
        // `Ready` cases are those `now` looked at, so it is `Pending` here).
        let registered = ob.poll_fill(cx, FRAMES_PER_WRITE).is_pending();
        debug_assert!(registered, "`now` covers what makes poll_fill ready");
        false
    }

    /// The socket is full. Normally the task just waits for it; once the
    /// router has closed the connection, a peer that still does not read gets
    /// [`STALL_TICK`] before the connection is dropped.
    fn stalled(&mut self, cx: &mut Context<'_>) -> Step {
        if self.stall.is_none() {
            if !self.outbox().borrow().is_closed() {
                return None;
            }
            self.stall = Some(Box::new((Instant::now(), Timer::new(STALL_TICK))));
        }
        let stall = self.stall.as_mut().expect("set above");
        if Pin::new(&mut stall.1).poll(cx).is_ready() || stall.0.elapsed() >= STALL_TICK {
            tracing::debug!("dropping a connection whose peer stopped reading after close");
            return Some(End::Drop);
        }
        None
    }

    /// Drops (and logs) queued frames longer than the peer accepts, as long
    /// as they are at the front and not started.
    fn skip_oversize(&mut self) {
        let max = self.max_send();
        if self.front_sent > 0 {
            return;
        }
        let outbox = Rc::clone(self.outbox());
        let mut ob = outbox.borrow_mut();
        while let Some(front) = ob.frames().front()
            && front.len() > max
        {
            tracing::warn!(
                len = front.len(),
                max,
                "dropping a message longer than the peer accepts"
            );
            ob.pop_written();
            self.encoded.pop_front();
        }
    }

    /// The longest frame sent: the framing's limit, and under 4 GiB with its
    /// header (so that `front_sent` fits in 32 bits; the configuration caps
    /// messages at 1 GiB, so only a limit-free framing meets this bound).
    fn max_send(&self) -> usize {
        self.framing.max_send().min(u32::MAX as usize - MAX_HEADER)
    }

    /// What the next write carries: whether the pending control frames go
    /// first, and how many queued frames follow (of `sendable`, those up to the
    /// first one the peer would not take).
    fn plan(&self, sendable: usize) -> (bool, usize) {
        // Control frames go only between messages: not while a frame is half written.
        let with_ctrl = !self.ctrl.is_empty() && self.front_sent == 0;
        // A control batch that started must finish before any data frame.
        let n_frames = if with_ctrl && self.ctrl.sent() > 0 {
            0
        } else if !self.ctrl.is_empty() && self.front_sent > 0 {
            1 // finish this frame, then the control frames
        } else {
            sendable
        };
        (with_ctrl, n_frames)
    }

    /// The headers of the queued frames that may go in one write (up to the
    /// first frame longer than the peer takes): fills `headers`/`lens` and
    /// returns how many.
    fn headers(
        &self,
        frames: &std::collections::VecDeque<crate::core::outbox::Frame>,
        headers: &mut [[u8; MAX_HEADER]; FRAMES_PER_WRITE],
        lens: &mut [u8; FRAMES_PER_WRITE],
    ) -> usize {
        let max = self.max_send();
        let mut sendable = 0;
        for (i, frame) in frames.iter().take(FRAMES_PER_WRITE).enumerate() {
            if frame.len() > max {
                break;
            }
            let (h, n) = match self.encoded.get(i) {
                Some(e) if self.framing.encodes() => (e.header, usize::from(e.header_len)),
                _ => self.framing.data_header(frame.len()),
            };
            headers[i] = h;
            lens[i] = n as u8;
            sendable += 1;
        }
        sendable
    }

    /// Encodes the queued frames not encoded yet (up to one write's worth),
    /// for a framing that [encodes](Framing::encodes): each message once,
    /// before its first octet goes out.
    fn encode_front(&mut self) {
        if !self.framing.encodes() {
            return;
        }
        let outbox = Rc::clone(self.outbox());
        let ob = outbox.borrow();
        for frame in ob
            .frames()
            .iter()
            .take(FRAMES_PER_WRITE)
            .skip(self.encoded.len())
        {
            let e = self.framing.encode(frame);
            self.encoded.push_back(e);
        }
    }

    /// The octets sent for the `i`-th queued frame: its encoded payload, or
    /// its own.
    fn payload_len(&self, i: usize, frame: &OutFrame) -> usize {
        match self.encoded.get(i).and_then(|e| e.payload.as_ref()) {
            Some(p) if self.framing.encodes() => p.len(),
            _ => frame.len(),
        }
    }

    /// Accounts for `written` octets of a write that carried `ctrl_len`
    /// control octets (0: none) and then frames with headers of `head_lens`:
    /// control bytes and frames the socket took are dropped, a partly written
    /// one is remembered.
    fn account(&mut self, ctrl_len: usize, head_lens: &[u8], mut written: usize) {
        if ctrl_len > 0 {
            if written < ctrl_len {
                self.ctrl.wrote(written);
                return;
            }
            written -= ctrl_len;
            self.ctrl.wrote(ctrl_len);
            self.ctrl.drop_sent();
        }
        let outbox = Rc::clone(self.outbox());
        let mut ob = outbox.borrow_mut();
        for &h in head_lens {
            let Some(front) = ob.frames().front() else {
                break;
            };
            let rest = h as usize + self.payload_len(0, front) - self.front_sent as usize;
            if written < rest {
                // Below `rest`, which is under 4 GiB (`max_send`).
                self.front_sent += written as u32;
                break;
            }
            written -= rest;
            self.front_sent = 0;
            ob.pop_written();
            self.encoded.pop_front();
        }
    }

    /// One vectored write: the rest of a started control batch, or else the
    /// rest of a started frame; then (at a message boundary) pending control
    /// frames, then as many queued frames as fit in one call.
    fn write_once(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if matches!(self.sock, Stream::Uring(_)) {
            return self.write_once_uring(cx);
        }
        self.skip_oversize();
        self.encode_front();
        let encodes = self.framing.encodes();
        let outbox = Rc::clone(self.outbox());
        let ob = outbox.borrow();
        let frames = ob.frames();
        let mut headers = [[0u8; MAX_HEADER]; FRAMES_PER_WRITE];
        let mut lens = [0u8; FRAMES_PER_WRITE];
        let sendable = self.headers(frames, &mut headers, &mut lens);
        let (with_ctrl, n_frames) = self.plan(sendable);
        let mut iov = [IoSlice::new(&[]); 2 * FRAMES_PER_WRITE + 1];
        let mut k = 0;
        let ctrl_len = if with_ctrl {
            iov[k] = IoSlice::new(self.ctrl.unsent());
            k += 1;
            self.ctrl.unsent().len()
        } else {
            0
        };
        for (i, frame) in frames.iter().take(n_frames).enumerate() {
            let payload: &[u8] = match self.encoded.get(i).and_then(|e| e.payload.as_deref()) {
                Some(p) if encodes => p,
                _ => frame,
            };
            let (mut head, mut body): (&[u8], &[u8]) = (&headers[i][..lens[i] as usize], payload);
            if i == 0 && self.front_sent > 0 {
                let skip = self.front_sent as usize;
                if skip < head.len() {
                    head = &head[skip..];
                } else {
                    body = &body[skip - head.len()..];
                    head = &[];
                }
            }
            if !head.is_empty() {
                iov[k] = IoSlice::new(head);
                k += 1;
            }
            iov[k] = IoSlice::new(body);
            k += 1;
        }
        if k == 0 {
            return Poll::Ready(Ok(()));
        }
        let sent = match &mut self.sock {
            Stream::Tls(s) => s.poll_write_batched(cx, &iov[..k]),
            sock => sock.poll_write_vectored(cx, &iov[..k]),
        };
        let written = match sent {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
            Poll::Ready(Ok(n)) => n,
        };
        drop(ob);
        self.account(ctrl_len, &lens[..n_frames], written);
        Poll::Ready(Ok(()))
    }

    /// [`Conn::write_once`] on the shard's ring: collects the send in flight
    /// when it completed (and accounts for it), otherwise builds the next
    /// send, which the ring submits with the others at the end of the turn.
    /// `Pending` while a send is in flight.
    fn write_once_uring(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.poll_settle(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Some(result)) => return Poll::Ready(result),
            Poll::Ready(None) => {}
        }
        self.skip_oversize();
        self.encode_front();
        let Stream::Uring(sock) = &self.sock else {
            unreachable!("checked by the caller")
        };
        let mut op = sock.send_op();
        let outbox = Rc::clone(self.outbox());
        let ob = outbox.borrow();
        let frames = ob.frames();
        let sendable = self.headers(frames, &mut op.headers, &mut op.head_lens);
        let (with_ctrl, n_frames) = self.plan(sendable);
        if with_ctrl {
            op.ctrl.extend_from_slice(self.ctrl.unsent());
        }
        if self.framing.encodes() {
            // Encoded (compressed) payloads go out in place of the frames.
            op.frames
                .extend(frames.iter().take(n_frames).enumerate().map(|(i, f)| {
                    match self.encoded.get(i).and_then(|e| e.payload.clone()) {
                        Some(p) => OutFrame::Own(p),
                        None => f.clone(),
                    }
                }));
        } else {
            op.frames.extend(frames.iter().take(n_frames).cloned());
        }
        if n_frames > 0 {
            op.skip = self.front_sent as usize;
        }
        let all = n_frames == ob.len() && (with_ctrl || self.ctrl.is_empty());
        drop(ob);
        if all {
            // Its completion may come with the next event already queued:
            // that one does not go at once for what this send carries.
            outbox.borrow_mut().all_taken();
            self.hold.wrote_all();
        }
        let Stream::Uring(sock) = &mut self.sock else {
            unreachable!("checked by the caller")
        };
        if op.is_empty() {
            sock.recycle(op);
            return Poll::Ready(Ok(()));
        }
        sock.submit_send(op);
        Poll::Pending
    }

    /// Collects a completed send on the ring and accounts for it:
    /// `Ready(None)` when none is in flight, `Pending` while one is.
    fn poll_settle(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<()>>> {
        if let Stream::Tls(s) = &mut self.sock {
            // Its records were accounted for when they were encrypted.
            return s.poll_flush(cx).map(|r| r.err().map(Err));
        }
        let Stream::Uring(sock) = &mut self.sock else {
            return Poll::Ready(None);
        };
        let (result, op) = match sock.poll_send(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Ready(Some(done)) => done,
        };
        let (ctrl_len, n_frames, head_lens) = (op.ctrl.len(), op.frames.len(), op.head_lens);
        // Sent in part (a peer slow to read): the rest goes on at once,
        // not held for coalescing.
        let partial = self.hold.may_hold() && matches!(result, Ok(n) if n > 0 && n < op.len());
        sock.recycle(op);
        if partial {
            self.hold.open();
        }
        Poll::Ready(Some(match result {
            Err(e) => Err(e),
            Ok(0) => Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                self.account(ctrl_len, &head_lens[..n_frames], n);
                Ok(())
            }
        }))
    }
}

#[path = "conn_close.rs"]
mod close;
pub(in crate::transport) use close::write_all;

#[cfg(test)]
#[path = "conn_tests.rs"]
mod tests;
