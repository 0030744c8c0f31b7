//! The end of an MQTT connection, after its main phase: the will when the
//! end was abnormal (published, kept with the offline session, or
//! dropped), the link closed or kept for a persistent session, the socket
//! shut after what was written could be read.

use std::future::poll_fn;
use std::rc::Rc;
use std::task::Poll;

use super::conn::{End, Session};
use super::inbound;
use super::state::{Phase, State};
use super::will::{self, WillAt};
use super::{PortMesh, takeover};
use crate::proto::Message;
use crate::transport::conn::with_scratch;
use crate::transport::socket::Socket;
use crate::transport::{CLOSE_TIMEOUT, with_timeout};

/// The will when a connection ends (`keep`: its session stays offline
/// here): published now (returned), kept waiting with the offline session
/// (MQTT 5 Will Delay Interval), or dropped; see [`will::plan`].
pub(super) fn end_will(s: &mut State, keep: bool) -> Option<Message> {
    // Every end but a DISCONNECT is abnormal, and a DISCONNECT cleared the
    // will unless it asked for it (0x04): a will still here fires.
    let fires = s.rare.will.is_some();
    let moved = s.rare.forward.is_some() || s.rare.handed.is_some();
    // The router stops: a durable session stays in the store, its will too.
    let stored_at_stop = s.rare.router_ended && s.p.persistent() && s.p.inc != 0;
    let kept = (keep && s.rare.handed.is_none()) || stored_at_stop;
    let delay = s
        .rare
        .will
        .as_ref()
        .map_or(0, |w| will::delay_of(w, s.version));
    let at = will::plan(fires, delay, kept, moved);
    let out = match at {
        WillAt::Now => inbound::will_publish(s),
        WillAt::Later(d) => {
            will::defer(s, d);
            None
        }
        WillAt::Never => None,
    };
    if kept && at != WillAt::Later(delay) {
        will::forget(s);
    }
    if at == WillAt::Never {
        s.rare.will = None;
    }
    out
}

impl Session {
    /// The end, after the main phase ([`Session::poll_main`]): the will
    /// when the end was abnormal, the link closed (or kept for a persistent
    /// session, now offline), the socket shut.
    pub(super) async fn finish(mut self, end: End) {
        self.run_todo();
        let (link, will, client_id, token, offline) = {
            let mut s = self.state.borrow_mut();
            s.phase = Phase::Closing;
            // Acknowledgements not sent: the client sends again.
            s.rare.pending_pubs.clear();
            if let Some(old) = s.rare.resume.from {
                // The session's old shard waits for this connection's
                // subscriptions: it may send the tail now (it is queued
                // here, or passed on when this session was handed on).
                s.tell_subscribed(old);
            }
            let keep = s.p.persistent()
                && !s.rare.router_ended
                && s.rare.forward.is_none()
                && s.link.is_some();
            let offline = keep || (s.rare.handed.is_some() && s.link.is_some());
            let will = end_will(&mut s, keep);
            if !offline && s.rare.forward.is_none() && s.rare.handed.is_none() {
                // The session ends here: the links of the connections it
                // took over, still open while its subscriptions were being
                // restored, close with it (else nothing would close them:
                // sessions without a connection, found by a fuzz run).
                if s.settling() {
                    let old = std::mem::take(&mut s.rare.resume.old_links);
                    s.chores().close.extend(old);
                }
                if s.rare.router_ended && s.p.persistent() {
                    // The router shuts down: the stored session stays for
                    // the next start.
                    let meta = s.p.meta(s.version, &s.svc.transport.id, false);
                    s.write(crate::store::mqtt::Record::Meta(meta));
                } else {
                    s.leave_shares();
                    s.end_incarnation();
                }
                s.p.clear();
            }
            let link = if offline { s.link } else { s.link.take() };
            (link, will, Rc::clone(&s.client_id), s.token, offline)
        };
        self.run_todo();
        if let Some(link) = link {
            if let Some(w) = will {
                self.router.feed(link, w);
            }
            if !offline {
                self.router.close(link);
            }
        }
        if offline {
            super::offline::park(Rc::clone(&self.state), Rc::clone(&self.router));
        } else {
            takeover::release(&PortMesh(&*self.router), &client_id, token, &self.state);
        }
        if end != End::Gone {
            // Let the peer read what we sent (a DISCONNECT with its reason
            // code) before it sees the end: closing with its data unread
            // would reset the connection and lose the DISCONNECT. (A close
            // ends the main phase once the queue is written: no send is in
            // flight on the ring then. After a failure one may be, stalled
            // on a peer that does not read: the shutdown ends it, and the
            // ring keeps its op until the kernel's completion.)
            let _ = self.sock.shutdown_write();
            let _ = with_timeout(
                CLOSE_TIMEOUT,
                poll_fn(|cx| {
                    with_scratch(|b| match self.sock.poll_read(cx, b) {
                        Poll::Pending => Poll::Pending,
                        Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => Poll::Ready(()),
                        Poll::Ready(Ok(_)) => {
                            cx.waker().wake_by_ref();
                            Poll::Pending
                        }
                    })
                }),
            )
            .await;
        }
    }
}
