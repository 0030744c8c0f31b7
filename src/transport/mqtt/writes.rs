//! The MQTT connection's writes: the outgoing queue written with vectored
//! writes (per queued PUBLISH a head written for this client, then the
//! shared payload; control packets inline), a partly written item
//! remembered, a closing connection whose peer stopped reading dropped after
//! a tick.
//!
//! On the shard's ring (`Stream::Uring`) a write is a send op
//! (`uring::SendOp`, pooled per shard) submitted with every other
//! connection's sends of the reactor turn in one `io_uring_enter`: the heads
//! and control packets are copied into the op, each payload is the shared
//! template's (an `Rc` increment, never a copy). One send is in flight per
//! connection; its items stay queued until the completion says how much the
//! socket took ([`Session::account`]), then the next op takes everything
//! queued meanwhile. Other streams (TLS, WebSocket, glommio's readiness
//! streams where the kernel lacks the ring) write at once with a vectored
//! write whose heads are on the stack (the socket full: `Pending`, woken
//! when writable). What ends or parks a connection respects a send in
//! flight: the kernel reads the op until its completion (the ring keeps an
//! op whose stream is gone until then), a connection parks only with
//! nothing in flight (`park.rs`), a DISCONNECT written ahead of an abnormal
//! close only at a packet boundary with nothing in flight (`conn.rs`).

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::BytesMut;
use futures::Future;
use glommio::timer::Timer;

use super::conn::{End, Session};
use super::out::{Item, forget_hold, forget_last};
use crate::transport::socket::Socket;
use crate::transport::uring::Payload;
use crate::transport::{STALL_TICK, Stream};

/// Writes per wake before yielding.
const WRITES_PER_WAKE: usize = 16;
/// Items per vectored write.
const ITEMS_PER_WRITE: usize = 64;
/// Queued items that end a hold (write coalescing): a write's worth.
pub(super) const HOLD_FULL: usize = ITEMS_PER_WRITE;
/// What [`Session::look`] found; `closing`: a close was decided.
enum Look {
    Empty { closing: bool },
    Held,
    Write { closing: bool },
}

/// Room for the heads of one write (on the stack).
const HEADS: usize = 8192;
/// Packets per send on the ring (two buffers each at most: well under
/// `IOV_MAX`). One send is in flight per connection, so this is what a
/// connection with a backlog writes per reactor turn.
const RING_ITEMS: usize = 256;
/// Octets of heads and control packets one send on the ring copies, past
/// which it takes no further packet (the front one is copied whole).
const RING_COPIED: usize = 16 * 1024;

impl Session {
    /// Writes the queue until the socket is full or it is empty; ends the
    /// connection once it is empty and a close was decided.
    pub(super) fn poll_write(&mut self, cx: &mut Context<'_>) -> Option<End> {
        if matches!(self.sock, Stream::Uring(_)) {
            return self.poll_write_ring(cx);
        }
        for _ in 0..WRITES_PER_WAKE {
            let closing = match self.look(cx) {
                Look::Empty { closing } => return closing.then_some(End::Closed),
                Look::Held => return None,
                Look::Write { closing } => closing,
            };
            match self.write_once(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(_)) => return Some(End::Gone),
                Poll::Pending => return self.stalled(cx, closing),
            }
        }
        cx.waker().wake_by_ref();
        None
    }

    /// What the queue asks for: nothing (empty: after a write, the next
    /// delivery soon is held), to wait, or a write. Write coalescing
    /// (`transport::hold`): deliveries to a connection that wrote lately
    /// wait for the shard's window to end unless a write's worth is queued
    /// or the connection is closing; a control packet opened the hold when
    /// it was queued (`State::send`).
    fn look(&mut self, cx: &Context<'_>) -> Look {
        let mut s = self.state.borrow_mut();
        let closing = s.rare.close.is_some();
        if s.out.items.is_empty() {
            forget_hold(&mut s.out);
            return Look::Empty { closing };
        }
        let now = closing || s.out.items.len() >= HOLD_FULL;
        if s.out.hold.may_write(cx, now) {
            Look::Write { closing }
        } else {
            Look::Held
        }
    }

    /// The socket is full: wait, but once the connection is closing a peer
    /// that does not read gets [`STALL_TICK`].
    pub(super) fn stalled(&mut self, cx: &mut Context<'_>, closing: bool) -> Option<End> {
        if !closing {
            return None;
        }
        let (since, timer) = &mut **self
            .stall
            .get_or_insert_with(|| Box::new((Instant::now(), Timer::new(STALL_TICK))));
        if Pin::new(timer).poll(cx).is_ready() || since.elapsed() >= STALL_TICK {
            return Some(End::Failed);
        }
        None
    }

    /// One vectored write of queued items.
    pub(super) fn write_once(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let state = Rc::clone(&self.state);
        let s = state.borrow();
        let mut heads = [0u8; HEADS];
        let mut used = 0;
        let mut spans: [(usize, usize); ITEMS_PER_WRITE] = [(0, 0); ITEMS_PER_WRITE];
        let mut n_items = 0;
        for item in s.out.items.iter().take(ITEMS_PER_WRITE) {
            if let Item::Publish(p) = item {
                let d = p.delivery();
                match p.tmpl.write_head(&d, &mut heads[used..]) {
                    Ok(n) => {
                        spans[n_items] = (used, n);
                        used += n;
                    }
                    Err(_) if n_items > 0 => break,
                    Err(_) => {
                        // A head longer than the whole area: its own buffer.
                        drop(s);
                        return self.write_big_front(cx);
                    }
                }
            }
            n_items += 1;
        }
        let mut iov = [IoSlice::new(&[]); 2 * ITEMS_PER_WRITE];
        let mut k = 0;
        let mut skip = self.front_sent as usize;
        for (i, item) in s.out.items.iter().take(n_items).enumerate() {
            let parts: [&[u8]; 2] = match item {
                Item::Small { len, buf } => [&buf[..*len as usize], &[]],
                Item::Encoded(b) => [b, &[]],
                Item::Publish(p) => {
                    let (at, n) = spans[i];
                    [&heads[at..at + n], p.tmpl.payload()]
                }
            };
            for part in parts {
                if part.is_empty() {
                    continue;
                }
                if skip >= part.len() {
                    skip -= part.len();
                    continue;
                }
                iov[k] = IoSlice::new(&part[skip..]);
                skip = 0;
                k += 1;
            }
        }
        if k == 0 {
            drop(s);
            let mut s = state.borrow_mut();
            // Only empty parts (cannot happen for MQTT packets): drop them.
            for _ in 0..n_items {
                s.out.pop();
            }
            self.front_sent = 0;
            return Poll::Ready(Ok(()));
        }
        let written = match self.sock.poll_write_vectored(cx, &iov[..k]) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
            Poll::Ready(Ok(n)) => n,
        };
        // The items' lengths on the stack: no allocation per write.
        let mut lens = [0usize; ITEMS_PER_WRITE];
        for (i, item) in s.out.items.iter().take(n_items).enumerate() {
            lens[i] = match item {
                Item::Publish(p) => spans[i].1 + p.tmpl.payload().len(),
                other => other.wire_len(),
            };
        }
        drop(s);
        self.account(lens[..n_items].iter().copied(), written);
        Poll::Ready(Ok(()))
    }

    /// [`Session::poll_write`] on the shard's ring: collects the send in
    /// flight once it completed, then submits the next one (the ring sends
    /// it with the turn's others); `None` while one is in flight.
    fn poll_write_ring(&mut self, cx: &mut Context<'_>) -> Option<End> {
        let mut submitted = false;
        loop {
            match self.poll_settle(cx) {
                // Registered for the completion (reads may be off).
                Poll::Pending if submitted => return None,
                // In flight since an earlier poll: the socket is full.
                Poll::Pending => {
                    let closing = self.state.borrow().rare.close.is_some();
                    return self.stalled(cx, closing);
                }
                Poll::Ready(Err(_)) => return Some(End::Gone),
                Poll::Ready(Ok(())) => {}
            }
            match self.look(cx) {
                Look::Empty { closing } => return closing.then_some(End::Closed),
                Look::Held => return None,
                Look::Write { .. } => {}
            }
            // Nothing submitted: items dropped at the front; look again.
            submitted |= self.submit_ring();
        }
    }

    /// Collects a completed send on the ring and accounts for it:
    /// `Ready(Ok)` also when none is in flight (or not on the ring),
    /// `Pending` (task registered) while one is.
    fn poll_settle(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Stream::Uring(sock) = &mut self.sock else {
            return Poll::Ready(Ok(()));
        };
        match sock.poll_send(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => Poll::Ready(Ok(())),
            Poll::Ready(Some((result, op))) => Poll::Ready(self.settled(result, op)),
        }
    }

    /// [`Session::poll_settle`] without registering the task: whether no
    /// send is in flight any more.
    pub(super) fn settle_now(&mut self) -> bool {
        let Stream::Uring(sock) = &mut self.sock else {
            return true;
        };
        if let Some((result, op)) = sock.take_sent() {
            let _ = self.settled(result, op);
        }
        matches!(&self.sock, Stream::Uring(s) if !s.sending())
    }

    /// Accounts for a completed send and recycles its op.
    fn settled(
        &mut self,
        result: io::Result<usize>,
        op: Box<crate::transport::uring::SendOp>,
    ) -> io::Result<()> {
        let result = match result {
            Ok(0) => Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                if let Some(q) = self.state.borrow_mut().out.allocated_mut()
                    && q.hold.may_hold()
                    && n < op.len()
                {
                    // Sent in part (a peer slow to read): the rest goes on
                    // at once, not held for coalescing.
                    q.hold.open();
                }
                self.account(op.lens.iter().map(|&l| l as usize), n);
                Ok(())
            }
            Err(e) => Err(e),
        };
        if let Stream::Uring(sock) = &self.sock {
            sock.recycle(op);
        }
        result
    }

    /// Builds a send op of the queue's front items and submits it: `false`
    /// when nothing was submitted (the front item could not be encoded and
    /// was dropped, or only empty items).
    fn submit_ring(&mut self) -> bool {
        let Stream::Uring(sock) = &mut self.sock else {
            return false;
        };
        let mut op = sock.send_op();
        let state = Rc::clone(&self.state);
        let mut s = state.borrow_mut();
        let mut skip = self.front_sent as usize;
        for item in s.out.items.iter().take(RING_ITEMS) {
            let start = op.bytes.len();
            let len = match item {
                Item::Small { len, buf } => {
                    op.bytes.extend_from_slice(&buf[..*len as usize]);
                    *len as usize
                }
                Item::Encoded(b) => {
                    op.bytes.extend_from_slice(b);
                    b.len()
                }
                Item::Publish(p) => {
                    let d = p.delivery();
                    let Ok(n) = p.tmpl.append_head(&d, &mut op.bytes) else {
                        break;
                    };
                    op.payloads.push(Payload {
                        at: (start + n) as u32,
                        from: 0,
                        tmpl: Rc::clone(&p.tmpl),
                    });
                    n + p.tmpl.payload().len()
                }
            };
            if skip > 0 {
                // The front item, partly written: what is left of it.
                let head = op.bytes.len();
                if skip < head {
                    op.bytes.drain(..skip);
                    if let Some(p) = op.payloads.last_mut() {
                        p.at -= skip as u32;
                    }
                } else {
                    op.bytes.clear();
                    if let Some(p) = op.payloads.last_mut() {
                        p.at = 0;
                        p.from = (skip - head) as u32;
                    }
                }
                skip = 0;
            }
            op.lens.push(len as u32);
            if op.bytes.len() >= RING_COPIED {
                break;
            }
        }
        let n_items = op.lens.len();
        if n_items == 0 || op.is_empty() {
            // A front PUBLISH whose head cannot be written (as in
            // `write_big_front`), or only empty items: dropped.
            for _ in 0..n_items.max(1) {
                s.out.pop();
            }
            s.out.last_delivery = None;
            self.front_sent = 0;
            drop(s);
            sock.recycle(op);
            return false;
        }
        // No later delivery merges into an item in flight.
        forget_last(&mut s.out);
        if n_items == s.out.items.len() {
            // Its completion may come with the next delivery already queued.
            s.out.hold.wrote_all();
        }
        drop(s);
        sock.submit_send(op);
        true
    }

    /// Drops written items and remembers how much of a partly written one went.
    pub(super) fn account(&mut self, lens: impl IntoIterator<Item = usize>, mut written: usize) {
        let mut s = self.state.borrow_mut();
        for len in lens {
            let rest = len - self.front_sent as usize;
            if written < rest {
                // Less than one item: an MQTT packet is at most 256 MiB.
                self.front_sent += written as u32;
                return;
            }
            written -= rest;
            self.front_sent = 0;
            s.out.pop();
            s.out.last_delivery = None;
        }
    }

    /// The front item's head does not fit the stack area (a huge topic or
    /// property block): written from a buffer of its own.
    pub(super) fn write_big_front(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let state = Rc::clone(&self.state);
        let s = state.borrow();
        let Some(Item::Publish(p)) = s.out.items.front() else {
            return Poll::Ready(Ok(()));
        };
        let mut head = BytesMut::new();
        if p.tmpl.put_head(&p.delivery(), &mut head).is_err() {
            drop(s);
            state.borrow_mut().out.pop();
            return Poll::Ready(Ok(()));
        }
        let total = head.len() + p.tmpl.payload().len();
        let mut whole = head.to_vec();
        whole.extend_from_slice(p.tmpl.payload());
        let written = match self
            .sock
            .poll_write_vectored(cx, &[IoSlice::new(&whole[self.front_sent as usize..])])
        {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Ready(Ok(n)) => n,
        };
        drop(s);
        self.account([total], written);
        Poll::Ready(Ok(()))
    }
}
