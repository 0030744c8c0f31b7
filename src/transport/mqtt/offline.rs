//! Persistent sessions while their client is away. When the connection of
//! a session with a Session Expiry Interval (3.1.1: clean session 0) ends,
//! the session keeps its state ([`State`], phase [`Phase::Offline`]) and its
//! router link: the link stays subscribed, and QoS 1/2 publications that
//! match its filters are queued (bounded per session by
//! `max_queued_messages`/`max_queued_bytes` and in the process by
//! `mqtt_offline_store_bytes`; `queue_overflow` says what a full queue
//! drops), written to the realm's log when it has a file store. A small task
//! per offline session ends it when its expiry passes, or closes its link
//! when the router shuts down (the stored session stays for the next start).
//!
//! Sessions read back from the logs at start ([`restore`]) are offline
//! sessions of their owner shard, on a trusted in-process link
//! ([`RouterPort::open_service`]), subscribed again, their messages queued
//! and in flight as they were.

use std::cell::RefCell;
use std::future::poll_fn;
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant};

use futures::Future;
use glommio::timer::Timer;

use super::ctx::now_ms;
use super::session::{NEVER_EXPIRES, Persist, SessionData};
use super::state::{Phase, State, StateRef};
use super::{PortMesh, RouterPort, Service, takeover};
use crate::core::api::Output;
use crate::store::mqtt::{Record, RestoredSession};

/// The connection of `state` ended and its session persists: it stays
/// offline (its link open) until its client returns or it expires.
pub fn park(state: StateRef, port: Rc<dyn RouterPort>) {
    {
        let mut s = state.borrow_mut();
        s.phase = Phase::Offline;
        s.rare.close = None;
        s.out = Default::default();
        s.rare.aliases_out = None;
        // Answers to its requests are not published once it is gone.
        s.rare.requests = None;
        if s.p.inc != 0 && s.rare.handed.is_none() {
            let meta = s.p.meta(s.version, &s.svc.transport.id, false);
            s.write(Record::Meta(meta));
        }
        tracing::debug!(client = %s.client_id, expiry_s = s.p.expiry_s, "MQTT session offline");
    }
    let expiry = state.borrow().p.expiry_s;
    glommio::spawn_local(run(state, port, expiry)).detach();
}

/// A session read back from the log: offline on this (its owner) shard.
pub fn restore(port: &Rc<dyn RouterPort>, svc: Rc<Service>, r: RestoredSession) {
    let (me, _) = port.shard();
    let version = r.meta.version;
    let client = r.client.clone();
    let mut st = State::new(Rc::clone(&svc), version, client.clone());
    let left = left_s(r.meta.expiry_s, r.meta.offline_since_ms);
    let mut r = r;
    let will = r.will.take();
    if left == Some(0) && will.is_none() {
        tracing::debug!(client = %client, "stored MQTT session expired while the router was down");
        let (inc, realm) = (r.inc, r.realm.clone());
        let res = super::ctx::with_log(|l| l.write(&realm, &client, inc, Record::End));
        if let Err(e) = res {
            super::ctx::log_write_error(&e);
        }
        return;
    }
    let data = SessionData::of_restored(r);
    let expiry_s = data.expiry_s;
    st.p = Persist::unpack(data, st.owner(), version);
    st.p.expiry_s = expiry_s;
    st.token = takeover::new_token(me);
    st.phase = Phase::Offline;
    if let Some(w) = will {
        // Published when due, or when the session ends first (at once
        // when it expired while the router was down).
        super::will::restore(&mut st, w);
    }
    super::ctx::adopt_incarnation();
    let state = Rc::new(RefCell::new(st));
    let sink: crate::core::api::FrontSinkRef = Rc::<RefCell<State>>::clone(&state);
    let Some(link) = port.open_service(&svc.realm, Output::Sink(sink)) else {
        tracing::warn!(client = %client, realm = %svc.realm, "stored MQTT session: realm unknown, not restored");
        return;
    };
    state.borrow_mut().link = Some(link);
    takeover::hold(&client, state.borrow().token, &state, me);
    // Subscribed again through the link (the answers come at once).
    state.borrow_mut().resubscribe();
    let todo = state.borrow_mut().take_todo();
    for m in todo {
        port.feed(link, m);
    }
    {
        let s = state.borrow();
        tracing::info!(client = %client, filters = s.p.filters.len(),
            queued = s.p.waiting.len(), in_flight = s.p.inflight.len(),
            "MQTT session restored from the store");
    }
    let expiry = left.unwrap_or(NEVER_EXPIRES);
    glommio::spawn_local(run(state, Rc::clone(port), expiry)).detach();
}

/// Seconds a session of `expiry_s` offline since `since_ms` has left
/// (`None`: it never expires).
fn left_s(expiry_s: u32, since_ms: u64) -> Option<u32> {
    if expiry_s == NEVER_EXPIRES {
        return None;
    }
    if since_ms == 0 {
        return Some(expiry_s);
    }
    let gone = (now_ms().saturating_sub(since_ms) / 1000).min(u64::from(u32::MAX)) as u32;
    Some(expiry_s.saturating_sub(gone))
}

/// The offline session's task: ends it at expiry, closes its link when the
/// router ends it, hands its tail on; returns once the session is no
/// longer offline here (resumed, handed over, ended).
async fn run(state: StateRef, port: Rc<dyn RouterPort>, expiry_s: u32) {
    let deadline = (expiry_s != NEVER_EXPIRES)
        .then(|| Instant::now() + Duration::from_secs(u64::from(expiry_s)));
    let mut timer = deadline.map(|d| Timer::new(d.saturating_duration_since(Instant::now())));
    // A will waiting for its delay (MQTT 5 Will Delay Interval).
    let due = state.borrow().rare.will_due_ms;
    let mut will_timer =
        (due != 0).then(|| Timer::new(Duration::from_millis(super::will::left_ms(due, now_ms()))));
    loop {
        let mut will_due = false;
        let expired = poll_fn(|cx| {
            let mut s = state.borrow_mut();
            s.waker = Some(cx.waker().clone());
            if s.phase != Phase::Offline || s.rare.close.is_some() || s.rare.forward.is_some() {
                return Poll::Ready(false);
            }
            if s.rare.handed.is_some() && s.rare.resume.tail_due && s.rare.resume.from.is_none() {
                return Poll::Ready(false);
            }
            let chores =
                s.rare.chores.as_ref().is_some_and(|c| {
                    !c.front.is_empty() || !c.close.is_empty() || !c.share.is_empty()
                });
            if !s.rare.todo.is_empty() || chores {
                return Poll::Ready(false);
            }
            if let Some(t) = &mut will_timer
                && Pin::new(t).poll(cx).is_ready()
            {
                will_timer = None;
                will_due = true;
                return Poll::Ready(false);
            }
            if let Some(t) = &mut timer
                && Pin::new(t).poll(cx).is_ready()
            {
                return Poll::Ready(true);
            }
            s.tidy();
            Poll::Pending
        })
        .await;
        if will_due && state.borrow().rare.handed.is_none() {
            // The delay passed before the client came back.
            let (w, link) = {
                let mut s = state.borrow_mut();
                (super::will::take_due(&mut s), s.link)
            };
            if let (Some(w), Some(link)) = (w, link) {
                port.feed(link, w);
            }
        }
        let todo = state.borrow_mut().take_todo();
        let link = state.borrow().link;
        if let Some(link) = link {
            for m in todo {
                port.feed(link, m);
            }
        }
        let chores = state.borrow_mut().take_chores();
        for (to, msg) in chores.front {
            takeover::send_or_handle(&PortMesh(&*port), to, msg);
        }
        for link in chores.close {
            port.close(link);
        }
        for msg in chores.share {
            super::share::send(&PortMesh(&*port), None, msg);
        }
        let (phase, closing, forwarded, tail) = {
            let s = state.borrow();
            (
                s.phase,
                s.rare.close.is_some(),
                s.rare.forward.is_some(),
                s.rare.handed.is_some() && s.rare.resume.tail_due && s.rare.resume.from.is_none(),
            )
        };
        if tail {
            takeover::send_tail(&PortMesh(&*port), &state);
            return;
        }
        if phase != Phase::Offline || forwarded {
            return;
        }
        if closing {
            // The router ends the session (shutdown): the stored one stays,
            // with its waiting will; a session kept in memory only ends, and
            // its will goes now.
            let (link, will) = {
                let mut s = state.borrow_mut();
                let will = if s.p.inc == 0 {
                    super::will::take_due(&mut s)
                } else {
                    None
                };
                (s.link.take(), will)
            };
            if let Some(link) = link {
                if let Some(w) = will {
                    port.feed(link, w);
                }
                port.close(link);
            }
            state.borrow_mut().phase = Phase::Closing;
            return;
        }
        if expired && state.borrow().rare.handed.is_none() {
            expire(&state, &port);
            return;
        }
    }
}

/// The session's expiry passed: it ends, its records go.
fn expire(state: &StateRef, port: &Rc<dyn RouterPort>) {
    let (link, client, token, will) = {
        let mut s = state.borrow_mut();
        tracing::debug!(client = %s.client_id, "MQTT session expired");
        // The session ends before its will's delay passed: the will goes now.
        let will = super::will::take_due(&mut s);
        s.leave_shares();
        let leaves = s.take_share_chores();
        for msg in leaves {
            super::ctx::later(move |port| super::share::send(&PortMesh(port), None, msg));
        }
        s.end_incarnation();
        s.p.clear();
        s.p.expiry_s = 0;
        s.phase = Phase::Closing;
        (s.link.take(), s.client_id.clone(), s.token, will)
    };
    if let Some(link) = link {
        if let Some(w) = will {
            port.feed(link, w);
        }
        port.close(link);
    }
    takeover::release(&PortMesh(&**port), &client, token, state);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_left_counts_from_going_offline() {
        assert_eq!(left_s(NEVER_EXPIRES, 5), None);
        assert_eq!(left_s(60, 0), Some(60), "never offline: the whole interval");
        let ten_s_ago = now_ms() - 10_500;
        assert_eq!(left_s(60, ten_s_ago), Some(50));
        assert_eq!(left_s(5, ten_s_ago), Some(0));
    }
}
