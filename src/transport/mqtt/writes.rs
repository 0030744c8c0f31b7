//! The MQTT connection's writes: the outgoing queue written with vectored
//! writes (per queued PUBLISH a head written on the stack for this client,
//! then the shared payload; control packets inline), a partly written item
//! remembered, a closing connection whose peer stopped reading dropped after
//! a tick.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::BytesMut;
use futures::Future;
use glommio::timer::Timer;

use super::conn::{End, Session};
use super::out::Item;
use crate::transport::STALL_TICK;
use crate::transport::socket::Socket;

/// Writes per wake before yielding.
const WRITES_PER_WAKE: usize = 16;
/// Items per vectored write.
const ITEMS_PER_WRITE: usize = 64;
/// Room for the heads of one write.
const HEADS: usize = 8192;

impl Session {
    /// Writes the queue until the socket is full or it is empty; ends the
    /// connection once it is empty and a close was decided.
    pub(super) fn poll_write(&mut self, cx: &mut Context<'_>) -> Option<End> {
        for _ in 0..WRITES_PER_WAKE {
            let (empty, closing) = {
                let s = self.state.borrow();
                (s.out.items.is_empty(), s.rare.close.is_some())
            };
            if empty {
                return closing.then_some(End::Closed);
            }
            match self.write_once(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(_)) => return Some(End::Gone),
                Poll::Pending => return self.stalled(cx, closing),
            }
        }
        cx.waker().wake_by_ref();
        None
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
        self.account(&lens[..n_items], written);
        Poll::Ready(Ok(()))
    }

    /// Drops written items and remembers how much of a partly written one went.
    pub(super) fn account(&mut self, lens: &[usize], mut written: usize) {
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
        self.account(&[total], written);
        Poll::Ready(Ok(()))
    }
}
