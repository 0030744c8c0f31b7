//! Session takeover and hand-over across shards. Every client identifier
//! has an **owner shard** (a hash of the identifier, modulo the shard count)
//! that knows which session holds the identifier now, wherever it lives:
//!
//! 1. A CONNECT accepted on shard B registers the connection in B's table
//!    (a session of the same identifier already on B is taken over at
//!    once, in place) and sends `Claim{client, B, token, resume}` to the
//!    owner O (handled in place when O = B).
//! 2. O records B's connection as the holder. If another session held the
//!    identifier, O sends `Kick{client, token, next, resume}` to its shard
//!    A; if none did and B asked for its session (clean start 0), O answers
//!    B `Handover{data: None}` itself.
//! 3. A ends that session's connection, if it still has that token
//!    (DISCONNECT 0x8E "Session taken over" in 5.0; its will published).
//!    When B asked for the session and it is persistent, A packs it
//!    (subscriptions, messages in flight and queued, QoS 2 identifiers) and
//!    sends `Handover{data}` to B, keeping its link subscribed: what arrives
//!    for the session meanwhile is queued there (the **tail**). Otherwise
//!    the session ends (its records deleted) and B gets `Handover{None}`.
//! 4. B installs the session, sends CONNACK (session present), subscribes
//!    the session's filters through its own link, and once the router has
//!    confirmed them all sends `Subscribed` to A. A sends the tail
//!    (`Tail`) and closes its link. B drops from the tail what it already
//!    delivered itself (by publication ID).
//! 5. A session that ends sends `Release{client, token}` to O, which
//!    forgets it if it is still the holder. A persistent session whose
//!    client went away still holds its identifier (it is offline, not gone).
//!
//! The messages travel on the shard mesh as [`FrontMsg`]s, FIFO per pair of
//! shards, so a `Release` of an old connection never overtakes its `Claim`.

use std::cell::RefCell;
use std::rc::Rc;

use ahash::AHashMap;

use super::clients;
use super::mesh::{Mesh, Takeover, owner_of};
use super::session::SessionData;
use super::state::{Phase, StateRef};
use crate::core::ShardRouter;
use crate::core::api::LinkId;
use crate::core::cluster::FrontMsg;
use crate::proto::ShardId;
use crate::proto::mqtt::ReasonCode;

thread_local! {
    /// Sessions handed over to another shard, still collecting their tail,
    /// by (client, token) and the tokens they took over here: out of
    /// [`clients`], so a new connection of the client on this shard does
    /// not take them for its own.
    static TAILS: RefCell<AHashMap<(String, u64), StateRef>> = RefCell::new(AHashMap::new());
    /// Tokens of this shard's connections.
    static NEXT_TOKEN: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// A token for a new connection on `shard`: unique across shards.
pub fn new_token(shard: ShardId) -> u64 {
    NEXT_TOKEN.with(|n| {
        let v = n.get() + 1;
        n.set(v);
        (v << 16) | u64::from(shard.0)
    })
}

/// `client` as a key of [`clients`]: the state's own identifier (one
/// allocation for both) when it is the same.
fn key_of(client: &str, state: &StateRef) -> Rc<str> {
    let s = state.borrow();
    if &*s.client_id == client {
        Rc::clone(&s.client_id)
    } else {
        client.into()
    }
}

/// The shard of the connection a token was made for ([`new_token`]).
pub fn shard_of(token: u64) -> ShardId {
    ShardId((token & 0xFFFF) as u16)
}

/// Sends `msg` to `to`, or handles it in place when `to` is this shard.
pub fn send_or_handle(mesh: &dyn Mesh, to: ShardId, msg: Takeover) {
    if to == mesh.shard().0 {
        handle(mesh, msg);
    } else {
        mesh.send(to, msg);
    }
}

/// A connection of `client` (token `token`, state `state`) starts on this
/// shard; `resume`: it asked for its session. A session of the client on
/// this shard is taken over in place (adopted when `resume`).
pub fn claim(mesh: &dyn Mesh, client: &str, token: u64, state: &StateRef, resume: bool) {
    let old = clients::set_conn(key_of(client, state), Rc::clone(state));
    // Waits for the owner's answer unless the session is found here (a
    // new state awaits nothing: its resume slot stays unallocated).
    if resume && old.is_none() {
        state.borrow_mut().rare.resume.awaiting = true;
    }
    if let Some(old) = old {
        let adoptable = {
            let o = old.borrow();
            (o.p.persistent() || o.rare.resume.awaiting) && o.rare.handed.is_none()
        };
        if resume && adoptable {
            adopt_local(&old, state);
        } else {
            end_session_of(mesh, &old);
        }
    }
    let (me, shards) = mesh.shard();
    let msg = Takeover::Claim {
        client: client.to_owned(),
        shard: me,
        token,
        resume,
    };
    send_or_handle(mesh, owner_of(client, shards), msg);
}

/// The session `token` of `client` on this shard ended.
pub fn release(mesh: &dyn Mesh, client: &str, token: u64, state: &StateRef) {
    clients::remove_conn(client, state);
    let (_, shards) = mesh.shard();
    let msg = Takeover::Release {
        client: client.to_owned(),
        token,
    };
    send_or_handle(mesh, owner_of(client, shards), msg);
}

/// A new connection on this shard takes `old`'s persistent session: its
/// subscriptions, messages and identifiers move to `new` at once; `old`'s
/// link stays subscribed (what it gets is forwarded) until `new` has
/// subscribed again, then `new`'s task closes it.
fn adopt_local(old: &StateRef, new: &StateRef) {
    let mut o = old.borrow_mut();
    let mut n = new.borrow_mut();
    tracing::debug!(client = %o.client_id, "persistent session resumed by a new connection");
    let online = matches!(o.phase, Phase::Up | Phase::Joining);
    // The session is resumed: a will with a Will Delay Interval is not
    // published (nor one waiting offline); one without goes now.
    let delay = o
        .rare
        .will
        .as_ref()
        .map_or(0, |w| super::will::delay_of(w, o.version));
    if !online || delay > 0 {
        o.rare.will = None;
        o.rare.will_due_ms = 0;
    }
    let will = if online {
        let w = super::inbound::will_publish(&mut o);
        o.disconnect(
            ReasonCode::SessionTakenOver,
            "another connection took the session over",
        );
        w
    } else {
        o.phase = Phase::Closing;
        None
    };
    let expiry_s = n.p.expiry_s;
    n.p = std::mem::take(&mut o.p);
    n.p.expiry_s = expiry_s;
    n.rare.resume.present = true;
    // What the old connection was still settling is this one's now.
    n.rare.resume.awaiting = o.rare.resume.awaiting;
    n.rare.resume.from = o.rare.resume.from.take();
    n.rare.resume.seen = std::mem::take(&mut o.rare.resume.seen);
    n.rare.resume.aliases = std::mem::take(&mut o.rare.resume.aliases);
    n.rare.resume.aliases.push(o.token);
    n.rare.resume.old_links = std::mem::take(&mut o.rare.resume.old_links);
    n.rare.resume.old_wills = std::mem::take(&mut o.rare.resume.old_wills);
    if let Some(link) = o.link.take() {
        n.rare.resume.old_links.push(link);
        if let Some(w) = will {
            n.rare.resume.old_wills.push((link, w));
        }
    }
    o.rare.forward = Some(Rc::downgrade(new));
    o.wake();
}

/// Ends `old`'s session (a new connection with a clean start, or one that
/// cannot resume it): its records go, its connection ends.
fn end_session_of(mesh: &dyn Mesh, old: &StateRef) {
    let mut o = old.borrow_mut();
    tracing::debug!(client = %o.client_id, "session taken over by a new connection");
    o.leave_shares();
    for msg in o.take_share_chores() {
        super::share::send(mesh, None, msg);
    }
    o.p.expiry_s = 0;
    o.end_incarnation();
    o.p.clear();
    match o.phase {
        Phase::Offline => {
            o.phase = Phase::Closing;
            // The session ends before its will's delay passed: the will goes now.
            let will = super::will::take_due(&mut o);
            if let Some(link) = o.link.take() {
                if let Some(w) = will {
                    mesh.feed(link, w);
                }
                mesh.close_link(link);
            }
            o.wake();
        }
        _ => {
            o.disconnect(
                ReasonCode::SessionTakenOver,
                "another connection took the session over",
            );
            if o.rare.close.is_none() {
                o.rare.close = Some(crate::core::outbox::CloseReason::Normal);
            }
            o.wake();
        }
    }
}

/// The session of `client` on this shard with `token`, if there is one.
fn holder(client: &str, token: u64) -> Option<StateRef> {
    clients::conn(client).filter(|s| s.borrow().token == token)
}

/// The session of `client` on this shard with `token`, or that took the
/// session over from the connection with `token` on this shard (a session
/// collecting its tail included).
fn heir(client: &str, token: u64) -> Option<StateRef> {
    clients::conn(client)
        .filter(|s| {
            let s = s.borrow();
            s.token == token || s.rare.resume.aliases.contains(&token)
        })
        .or_else(|| tail_of(client, token))
}

/// The handed-over session of `client` known here by `token`.
fn tail_of(client: &str, token: u64) -> Option<StateRef> {
    TAILS.with(|t| t.borrow().get(&(client.to_owned(), token)).cloned())
}

/// Handed-over sessions collecting their tail on this shard (tests, logs).
pub fn tails_on_shard() -> usize {
    TAILS.with(|t| t.borrow().len())
}

/// One takeover message, on this shard.
pub fn handle(mesh: &dyn Mesh, msg: Takeover) {
    let (me, _) = mesh.shard();
    match msg {
        Takeover::Claim {
            client,
            shard,
            token,
            resume,
        } => {
            debug_assert_eq!(shard, shard_of(token));
            let prev = clients::set_holder(&client, token);
            match prev {
                Some(old) if old != token => {
                    let kick = Takeover::Kick {
                        client,
                        token: old,
                        next: (shard, token),
                        resume,
                    };
                    send_or_handle(mesh, shard_of(old), kick);
                }
                _ if resume => {
                    let none = Takeover::Handover {
                        client,
                        token,
                        from: (me, 0),
                        data: None,
                    };
                    send_or_handle(mesh, shard, none);
                }
                _ => {}
            }
        }
        Takeover::Kick {
            client,
            token,
            next,
            resume,
        } => {
            let data = match holder(&client, token) {
                Some(s) if s.borrow().rare.resume.awaiting => {
                    // Its own session is still on its way here: the kick
                    // waits for it (see `Handover`).
                    s.borrow_mut().rare.resume.kick = Some((next, resume));
                    return;
                }
                Some(s)
                    if resume && s.borrow().p.persistent() && s.borrow().rare.handed.is_none() =>
                {
                    hand_over(mesh, &s, next)
                }
                Some(s) => {
                    end_session_of(mesh, &s);
                    None
                }
                // Taken over on this shard already: the new connection has
                // it (and this kick is that connection's own claim).
                None if heir(&client, token).is_some() => return,
                None => None,
            };
            if resume {
                let h = Takeover::Handover {
                    client,
                    token: next.1,
                    from: (me, token),
                    data,
                };
                send_or_handle(mesh, next.0, h);
            }
        }
        Takeover::Handover {
            client,
            token,
            from,
            data,
        } => {
            // The old shard, collecting the tail of a session it handed
            // over, waits for the new connection's subscriptions: when the
            // session is not installed (the connection that claimed it has
            // ended, or it took over a session of its own shard instead and
            // awaits nothing), it must not wait (else its link stays open
            // for good): the tail goes now.
            let unwanted = |client: String| {
                let msg = Takeover::Subscribed {
                    client,
                    token: from.1,
                };
                send_or_handle(mesh, from.0, msg);
            };
            let Some(s) = heir(&client, token) else {
                if data.is_some() {
                    unwanted(client);
                }
                return;
            };
            let (kick, dropped) = {
                let mut st = s.borrow_mut();
                let dropped = data.is_some() && !st.rare.resume.awaiting;
                if st.rare.resume.awaiting {
                    let from = data.as_ref().map(|_| from);
                    st.install(data.map(|d| *d), from);
                }
                (st.rare.resume.kick.take().map(|k| (k, st.token)), dropped)
            };
            if dropped {
                unwanted(client.clone());
            }
            if let Some(((next, resume), token)) = kick {
                let kick = Takeover::Kick {
                    client,
                    token,
                    next,
                    resume,
                };
                handle(mesh, kick);
            }
        }
        Takeover::Subscribed { client, token } => {
            if let Some(s) = tail_of(&client, token) {
                send_tail(mesh, &s);
            }
        }
        Takeover::Tail {
            client,
            token,
            msgs,
        } => {
            if let Some(s) = heir(&client, token) {
                let due = {
                    let mut st = s.borrow_mut();
                    if st.take_tail(msgs).is_err() {
                        st.disconnect(ReasonCode::QuotaExceeded, "outgoing queue full");
                    }
                    st.rare.handed.is_some() && st.rare.resume.tail_due
                };
                if due {
                    send_tail(mesh, &s);
                }
            }
        }
        Takeover::Release { client, token } => clients::release_holder(&client, token),
    }
}

/// Packs `s`'s session for the connection `next` on another shard: the
/// session's connection ends; its link stays subscribed for the tail.
fn hand_over(mesh: &dyn Mesh, s: &StateRef, next: (ShardId, u64)) -> Option<Box<SessionData>> {
    let _ = mesh;
    let mut st = s.borrow_mut();
    tracing::debug!(client = %st.client_id, to = next.0.0, "persistent session handed over to another shard");
    // The session is resumed: a will waiting offline is not published.
    if st.phase == Phase::Offline {
        st.rare.will = None;
        st.rare.will_due_ms = 0;
    }
    let filters = st.p.filters.clone();
    let p = std::mem::take(&mut st.p);
    let data = p.pack(st.version, &st.svc.transport.id);
    // The tail is kept in memory only: the new shard writes what it keeps.
    st.p.filters = filters;
    st.p.expiry_s = data.expiry_s;
    st.rare.handed = Some(next);
    if st.phase != Phase::Offline {
        st.disconnect(
            ReasonCode::SessionTakenOver,
            "another connection took the session over",
        );
    }
    st.wake();
    // Out of the client table: it only collects the tail now.
    let client = st.client_id.clone();
    let mut keys = vec![st.token];
    keys.extend(st.rare.resume.aliases.iter().copied());
    drop(st);
    clients::remove_conn(&client, s);
    TAILS.with(|t| {
        let mut t = t.borrow_mut();
        for k in keys {
            t.insert((client.to_string(), k), Rc::clone(s));
        }
    });
    Some(Box::new(data))
}

/// The new connection of a handed-over session has subscribed: the tail
/// goes to it and this shard's link closes.
pub fn send_tail(mesh: &dyn Mesh, s: &StateRef) {
    let mut st = s.borrow_mut();
    let Some((shard, token)) = st.rare.handed else {
        return;
    };
    if st.phase != Phase::Offline || st.rare.resume.from.is_some() {
        // The connection's task is still ending (the session's offline
        // task sends the tail), or this session's own tail from an earlier
        // shard has not come (it is passed on with it).
        st.rare.resume.tail_due = true;
        st.wake();
        return;
    }
    let old = std::mem::take(&mut st.rare.resume.old_links);
    for link in old {
        mesh.close_link(link);
    }
    let mut msgs = Vec::with_capacity(st.p.waiting.len());
    while let Some(p) = st.p.pop_waiting() {
        msgs.push(super::session::stored(&p, None, false));
    }
    st.p.clear();
    st.p.expiry_s = 0;
    if let Some(link) = st.link.take() {
        mesh.close_link(link);
    }
    if st.phase == Phase::Offline {
        st.phase = Phase::Closing;
    }
    st.wake();
    let client = st.client_id.clone();
    drop(st);
    TAILS.with(|t| t.borrow_mut().retain(|_, x| !Rc::ptr_eq(x, s)));
    send_or_handle(
        mesh,
        shard,
        Takeover::Tail {
            client: client.to_string(),
            token,
            msgs,
        },
    );
}

/// A session read back at start holds its identifier (on its owner shard).
pub fn hold(client: &str, token: u64, state: &StateRef, me: ShardId) {
    clients::set_conn(key_of(client, state), Rc::clone(state));
    debug_assert_eq!(me, shard_of(token));
    clients::set_holder(client, token);
}

/// The mesh through a router borrowed mutably (the runtime's inbox drain).
pub struct RouterMesh<'a>(pub RefCell<&'a mut ShardRouter>);

impl Mesh for RouterMesh<'_> {
    fn shard(&self) -> (ShardId, u16) {
        let r = self.0.borrow();
        (r.shard(), r.shard_count())
    }

    fn send(&self, to: ShardId, msg: Takeover) {
        self.0.borrow_mut().send_front(to, FrontMsg(Box::new(msg)));
    }

    fn close_link(&self, link: LinkId) {
        self.0.borrow_mut().close(link);
    }

    fn send_front(&self, to: ShardId, msg: FrontMsg) {
        self.0.borrow_mut().send_front(to, msg);
    }

    fn open_service(&self, realm: &str, out: crate::core::api::Output) -> Option<LinkId> {
        self.0.borrow_mut().open_trusted_service(realm, out)
    }

    fn feed(&self, link: LinkId, msg: crate::proto::Message) {
        self.0.borrow_mut().feed(link, msg);
    }
}

/// A request for a WAL marker in `realm`'s log behind what this shard
/// wrote for the publications before it (the mesh is FIFO per pair of
/// shards): `left` is decremented when it is durable. The publisher's
/// shard sends one to every other shard before it acknowledges QoS 1/2
/// publications while durable sessions exist, so copies queued for
/// sessions on any shard are durable before PUBACK/PUBREC.
#[derive(Debug)]
pub struct DurableMark {
    /// The realm.
    pub realm: String,
    /// Markers not acknowledged yet, all shards together.
    pub left: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl DurableMark {
    /// Queues the marker on this shard (counts it down at once when it
    /// cannot be queued).
    pub fn queue(self) {
        use std::sync::atomic::Ordering;
        let left = std::sync::Arc::clone(&self.left);
        let r = super::ctx::with_log(|l| {
            l.mark(
                &self.realm,
                Box::new(move |_| {
                    left.fetch_sub(1, Ordering::AcqRel);
                }),
            )
        });
        if let Err(e) = r {
            super::ctx::log_write_error(&e);
            self.left.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Front-end messages the runtime took from the router after draining its
/// inbox: the MQTT ones are handled here.
pub fn on_front_msgs(router: &mut ShardRouter, msgs: Vec<FrontMsg>) {
    let mesh = RouterMesh(RefCell::new(router));
    for m in msgs {
        match m.0.downcast::<Takeover>() {
            Ok(t) => handle(&mesh, *t),
            Err(other) => match other.downcast::<DurableMark>() {
                Ok(mark) => mark.queue(),
                Err(other) => {
                    if let Ok(s) = other.downcast::<super::mesh::ShareMsg>() {
                        super::share::handle(&mesh, *s);
                    }
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A mesh of `shards` shards seen from `me`: records what is sent.
    struct FakeMesh {
        me: u16,
        shards: u16,
        sent: RefCell<Vec<(ShardId, Takeover)>>,
        closed: RefCell<Vec<LinkId>>,
        fed: RefCell<Vec<(LinkId, crate::proto::Message)>>,
    }

    impl Mesh for FakeMesh {
        fn shard(&self) -> (ShardId, u16) {
            (ShardId(self.me), self.shards)
        }
        fn send(&self, to: ShardId, msg: Takeover) {
            self.sent.borrow_mut().push((to, msg));
        }
        fn close_link(&self, link: LinkId) {
            self.closed.borrow_mut().push(link);
        }
        fn send_front(&self, _to: ShardId, _msg: FrontMsg) {}
        fn open_service(&self, _: &str, _: crate::core::api::Output) -> Option<LinkId> {
            None
        }
        fn feed(&self, link: LinkId, msg: crate::proto::Message) {
            self.fed.borrow_mut().push((link, msg));
        }
    }

    fn mesh(me: u16) -> FakeMesh {
        FakeMesh {
            me,
            shards: 4,
            sent: RefCell::default(),
            closed: RefCell::default(),
            fed: RefCell::default(),
        }
    }

    /// The owner's kick of `client`'s session (token 5 here) for the
    /// connection with token 9 on shard 1.
    fn kick_to_shard_1(m: &FakeMesh, client: &str, resume: bool) {
        handle(
            m,
            Takeover::Kick {
                client: client.into(),
                token: 5,
                next: (ShardId(1), 9),
                resume,
            },
        );
    }

    #[test]
    fn the_owner_answers_a_resume_without_holder_and_kicks_a_holder() {
        let m = mesh(0);
        // Tokens carry their connection's shard, as `new_token` makes them.
        let tok = |n: u64, shard: u16| (n << 16) | u64::from(shard);
        let claim = |token, shard, resume| Takeover::Claim {
            client: "dev-owned".into(),
            shard: ShardId(shard),
            token,
            resume,
        };
        // No holder: a resume gets "no session" at once.
        handle(&m, claim(tok(11, 2), 2, true));
        assert_eq!(
            m.sent.take(),
            vec![(
                ShardId(2),
                Takeover::Handover {
                    client: "dev-owned".into(),
                    token: tok(11, 2),
                    from: (ShardId(0), 0),
                    data: None,
                }
            )]
        );
        // A second connection: the holder's shard is asked to hand over.
        handle(&m, claim(tok(21, 3), 3, true));
        assert_eq!(
            m.sent.take(),
            vec![(
                ShardId(2),
                Takeover::Kick {
                    client: "dev-owned".into(),
                    token: tok(11, 2),
                    next: (ShardId(3), tok(21, 3)),
                    resume: true,
                }
            )]
        );
        // A stale release changes nothing; the holder's own release frees it.
        handle(
            &m,
            Takeover::Release {
                client: "dev-owned".into(),
                token: tok(11, 2),
            },
        );
        handle(&m, claim(tok(31, 1), 1, false));
        assert_eq!(
            m.sent.take()[0].1,
            Takeover::Kick {
                client: "dev-owned".into(),
                token: tok(21, 3),
                next: (ShardId(1), tok(31, 1)),
                resume: false,
            }
        );
        handle(
            &m,
            Takeover::Release {
                client: "dev-owned".into(),
                token: tok(31, 1),
            },
        );
        handle(&m, claim(tok(41, 1), 1, false));
        assert!(
            m.sent.take().is_empty(),
            "nobody to kick, nothing to answer"
        );
    }

    #[test]
    fn a_kick_for_a_session_not_here_answers_no_session() {
        let m = mesh(2);
        kick_to_shard_1(&m, "dev-gone", true);
        assert_eq!(
            m.sent.take(),
            vec![(
                ShardId(1),
                Takeover::Handover {
                    client: "dev-gone".into(),
                    token: 9,
                    from: (ShardId(2), 5),
                    data: None,
                }
            )]
        );
        // Without resume nothing is owed.
        kick_to_shard_1(&m, "dev-gone", false);
        assert!(m.sent.take().is_empty());
    }

    #[test]
    fn a_handover_that_nobody_installs_lets_the_old_shard_send_its_tail() {
        // Shard 2 hands its offline session over to the connection with
        // token 9 on shard 1 ...
        let m = mesh(2);
        let _old = offline_with_delayed_will("dev-handover-lost");
        kick_to_shard_1(&m, "dev-handover-lost", true);
        let handover = match m.sent.take().pop() {
            Some((ShardId(1), h @ Takeover::Handover { data: Some(_), .. })) => h,
            other => panic!("expected a handover with the session, got {other:?}"),
        };
        // ... which has ended meanwhile: shard 2 must not wait for its
        // subscriptions (its link would stay open for good).
        let n = mesh(1);
        handle(&n, handover);
        assert_eq!(
            n.sent.take(),
            vec![(
                ShardId(2),
                Takeover::Subscribed {
                    client: "dev-handover-lost".into(),
                    token: 5,
                }
            )]
        );
        TAILS.with(|t| t.borrow_mut().clear());
    }

    #[test]
    fn tokens_carry_their_shard() {
        let a = new_token(ShardId(3));
        let b = new_token(ShardId(3));
        assert_ne!(a, b);
        assert_eq!(a & 0xFFFF, 3);
    }

    /// An offline persistent 5.0 session of `client` on this shard (link 7,
    /// token 5) whose will waits out a delay of 60 s.
    fn offline_with_delayed_will(client: &str) -> StateRef {
        use crate::proto::mqtt::{MqttString, QoS, Version, Will, WillProperties};
        let svc = Rc::new(super::super::Service::default_for_tests());
        let mut st = super::super::state::State::new(svc, Version::V5, client);
        st.token = 5;
        st.p.expiry_s = 300;
        st.phase = Phase::Offline;
        st.link = Some(LinkId(7));
        st.rare.will = Some(Box::new(Will {
            topic: MqttString::try_from("dev/status").expect("topic"),
            payload: bytes::Bytes::from_static(b"gone"),
            qos: QoS::AtLeastOnce,
            retain: false,
            properties: WillProperties {
                will_delay_interval: Some(60),
                ..Default::default()
            },
        }));
        super::super::will::defer(&mut st, 60);
        let st = Rc::new(RefCell::new(st));
        clients::set_conn(client.into(), Rc::clone(&st));
        st
    }

    fn will_topic(m: &crate::proto::Message) -> Option<&str> {
        match m {
            crate::proto::Message::Publish(p) => Some(p.topic.as_str()),
            _ => None,
        }
    }

    /// MQTT-3.1.3.2.2: a new connection that resumes the session before the
    /// delay passed cancels the will; one that starts a new session ends
    /// the old one, whose will then goes at once (the session ended first).
    #[test]
    fn a_waiting_will_is_cancelled_by_a_resume_and_sent_when_the_session_ends() {
        // Resumed on another shard: handed over, no will.
        let m = mesh(2);
        let old = offline_with_delayed_will("dev-will-resume");
        kick_to_shard_1(&m, "dev-will-resume", true);
        assert!(m.fed.take().is_empty(), "no will published");
        assert!(old.borrow().rare.will.is_none());
        assert_eq!(old.borrow().rare.will_due_ms, 0);
        assert!(matches!(
            &m.sent.take()[..],
            [(ShardId(1), Takeover::Handover { data: Some(_), .. })]
        ));
        TAILS.with(|t| t.borrow_mut().clear());

        // Clean start on another shard: the session ends, the will goes now.
        let m = mesh(2);
        let old = offline_with_delayed_will("dev-will-clean");
        kick_to_shard_1(&m, "dev-will-clean", false);
        let fed = m.fed.take();
        assert_eq!(fed.len(), 1, "the will, once");
        assert_eq!(fed[0].0, LinkId(7), "through the session's link");
        assert_eq!(will_topic(&fed[0].1), Some("dev.status"));
        assert_eq!(m.closed.take(), vec![LinkId(7)], "then the link closes");
        assert_eq!(old.borrow().phase, Phase::Closing);
        assert_eq!(old.borrow().rare.will_due_ms, 0);

        // On this shard: a resume adopts the session without its will.
        let m = mesh(0);
        let old = offline_with_delayed_will("dev-will-here");
        let new = offline_with_delayed_will("dev-will-other");
        new.borrow_mut().phase = Phase::Joining;
        new.borrow_mut().rare.will = None;
        new.borrow_mut().token = 6 << 16;
        claim(&m, "dev-will-here", 6 << 16, &new, true);
        assert!(m.fed.take().is_empty(), "no will published");
        assert!(old.borrow().rare.will.is_none());
        assert!(new.borrow().rare.resume.old_wills.is_empty());
        assert!(new.borrow().rare.resume.present, "the session was adopted");
        // A clean start on this shard ends it: the will goes now.
        let old = offline_with_delayed_will("dev-will-here2");
        claim(&m, "dev-will-here2", 8 << 16, &new, false);
        let fed = m.fed.take();
        assert_eq!(fed.len(), 1);
        assert_eq!(will_topic(&fed[0].1), Some("dev.status"));
        assert_eq!(old.borrow().phase, Phase::Closing);
        clients::clear();
    }
}
