//! The links of one shard and their sessions, and everything that is sent to
//! them: one place that encodes, enforces the peer's size limit, queues, and
//! notices slow consumers.

use std::borrow::Cow;
use std::rc::Rc;

use bytes::{Bytes, BytesMut};
use hashbrown::HashTable;

use super::oversize::{Oversize, oversize};
use super::{Auth, Link, Phase, Session};
use crate::core::api::{LinkId, LinkInfo, Output, Refused};
use crate::core::cluster::{Native, RoutedPublish};
use crate::core::metrics::Metrics;
use crate::core::outbox::{CloseReason, Overflow};
use crate::core::uris;
use crate::proto::message::code;
use crate::proto::{
    Abort, Dict, Error, Event, Message, Payload, PublicationId, RequestId, SessionId,
    SubscriptionId, Value,
};

/// Most distinct role, method and provider names a shard shares
/// ([`Links::intern`]); a dynamic authenticator may make up any role.
const MAX_NAMES: usize = 1024;

/// What [`Links::send`] did with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sent {
    /// Queued on the link's output (or the link is gone).
    Queued,
    /// Larger than the peer accepts: not queued as it was (see [`Links::send`]).
    TooBig,
}

/// What a front end's sink keeps per publication on this shard (e.g. an
/// MQTT PUBLISH encoded once per QoS and protocol version); the sink
/// defines the type behind it.
pub type FrontCache = Option<Box<dyn std::any::Any>>;

/// One EVENT on its way to many links: encoded at most once per serializer,
/// the same bytes queued for every subscriber that uses that serializer.
/// Sinks ([`crate::core::api::FrontSink`]) see the publication's topic,
/// publisher, retain flags and native form, and share one
/// [`FrontCache`] per publication.
pub struct EventOut<'a, 'c> {
    /// The subscription the subscribers share.
    pub subscription: SubscriptionId,
    /// The publication.
    pub publication: PublicationId,
    /// The topic it was published to.
    pub topic: &'a str,
    /// The publishing session.
    pub publisher: SessionId,
    /// Whether it was published with `retain`.
    pub retain: bool,
    /// Whether this delivery is a retained event sent after SUBSCRIBE (not
    /// a live publication).
    pub retained: bool,
    /// EVENT details as published (see [`EventOut::details`]).
    details: &'a Dict,
    /// For a pattern subscription: the details with `topic` added, built
    /// when the first subscriber that reads details (not a sink) needs them,
    /// kept for the publication's other subscriptions.
    with_topic: Option<&'c mut Option<Dict>>,
    /// Args and kwargs.
    pub payload: &'a Payload,
    /// The publication in its front end's form, if a front end made it.
    pub native: Option<&'a Native>,
    /// The encodings made so far, by serializer.
    frames: [Option<Rc<Bytes>>; 3],
    /// What sinks prepared for this publication.
    front: &'c mut FrontCache,
}

impl<'a, 'c> EventOut<'a, 'c> {
    /// An EVENT of `p` for `subscription`, not encoded yet.
    pub fn new(
        subscription: SubscriptionId,
        p: &'a RoutedPublish,
        details: &'a Dict,
        front: &'c mut FrontCache,
    ) -> Self {
        EventOut {
            subscription,
            publication: p.publication,
            topic: &p.topic,
            publisher: p.publisher,
            retain: p.retain,
            retained: false,
            details,
            with_topic: None,
            payload: &p.payload,
            native: p.native.as_deref(),
            frames: [None, None, None],
            front,
        }
    }

    /// For a pattern subscription: the EVENT details carry the publication's
    /// topic, built once into `cache` on first use (a publication that only
    /// reaches sinks, such as MQTT subscribers, never builds them).
    pub fn with_topic_details(mut self, cache: &'c mut Option<Dict>) -> Self {
        self.with_topic = Some(cache);
        self
    }

    /// The EVENT details.
    pub fn details(&mut self) -> &Dict {
        let (base, topic) = (self.details, self.topic);
        match &mut self.with_topic {
            None => base,
            Some(cache) => {
                cache.get_or_insert_with(|| base.clone().with("topic", Value::from(topic)))
            }
        }
    }

    /// The cache sinks share for this publication.
    pub fn front_cache(&mut self) -> &mut FrontCache {
        self.front
    }
}

/// This shard's links and sessions.
///
/// The links are in a slab: a link's ID is its slot's number (the low 32
/// bits) and the slot's generation (the high 32, never 0), which goes up
/// each time the slot is freed, so an ID is never handed out twice on a
/// shard (a slot whose generation would wrap is retired) and a stale ID
/// finds nothing. A slot is a pointer and a generation (12 bytes), filled
/// up to the most links open at once and reused last-freed first; no hash
/// table for the links, whose growth by doubling cost 17 bytes per bucket
/// (about 28 per link just past a power of two).
///
/// The established sessions are found by ID through an index of slot
/// numbers (4 bytes and a control byte per bucket): the session ID is read
/// from the link's own session, not kept twice.
pub(crate) struct Links {
    /// Every open link, by slot (`None`: free).
    slots: Vec<Option<Box<Link>>>,
    /// Each slot's generation: that of its link, or of the next one.
    gens: Vec<u32>,
    /// Free slots, the last freed on top.
    free: Vec<u32>,
    /// Open links.
    open: usize,
    /// Established sessions: the slot of each one's link, hashed by session ID.
    sessions: HashTable<u32>,
    /// The hash of session IDs in [`Links::sessions`].
    hasher: ahash::RandomState,
    /// Encode buffer: frames are split off it, so one allocation serves many frames.
    scratch: BytesMut,
    /// Links whose output overflowed during the current step; closed at its end.
    overflowed: Vec<LinkId>,
    /// Links aborted during the current step because a message they must
    /// get is larger than they accept; their sessions end at its end.
    unsendable: Vec<LinkId>,
    /// The sessions' roles, methods and providers, one allocation per
    /// distinct name on this shard (see [`Links::intern`]).
    names: ahash::AHashSet<Rc<str>>,
    /// The sessions' combinations of those and trust level, one allocation
    /// per distinct combination on this shard (see [`Links::auth`]).
    auths: ahash::AHashSet<Rc<Auth>>,
    /// This shard's counters (`core/metrics.rs`): they live here because
    /// this is where everything sent is queued, and every part reaches it.
    pub metrics: Metrics,
}

impl Links {
    /// No links yet.
    pub fn new() -> Links {
        Links {
            slots: Vec::new(),
            gens: Vec::new(),
            free: Vec::new(),
            open: 0,
            sessions: HashTable::new(),
            hasher: ahash::RandomState::new(),
            scratch: BytesMut::with_capacity(64 * 1024),
            overflowed: Vec::new(),
            unsendable: Vec::new(),
            names: ahash::AHashSet::new(),
            auths: ahash::AHashSet::new(),
            metrics: Metrics::default(),
        }
    }

    /// Adds a link, unless `max` links are open already.
    ///
    /// # Errors
    /// [`Refused`] at the limit.
    pub fn open(&mut self, mut info: LinkInfo, out: Output, max: usize) -> Result<LinkId, Refused> {
        if self.open >= max {
            return Err(Refused("session limit reached"));
        }
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                let s = u32::try_from(self.slots.len())
                    .map_err(|_| Refused("session limit reached"))?;
                self.slots.push(None);
                self.gens.push(1);
                s
            }
        };
        let i = slot as usize;
        // A new link is not closing, whatever the info it was given says.
        info.closing = false;
        self.slots[i] = Some(Box::new(Link {
            out,
            info,
            phase: Phase::Connected,
        }));
        self.open += 1;
        Ok(link_id(slot, self.gens[i]))
    }

    /// The slot of `link`, if it is open.
    fn slot(&self, link: LinkId) -> Option<usize> {
        let (slot, generation) = split(link);
        let i = slot as usize;
        (self.gens.get(i) == Some(&generation) && self.slots[i].is_some()).then_some(i)
    }

    /// The link `link`, if open.
    fn link(&self, link: LinkId) -> Option<&Link> {
        let i = self.slot(link)?;
        self.slots[i].as_deref()
    }

    /// The link `link`, if open, to change.
    fn link_mut(&mut self, link: LinkId) -> Option<&mut Link> {
        let i = self.slot(link)?;
        self.slots[i].as_deref_mut()
    }

    /// The ID of the link in slot `i` (which must be open).
    fn id_at(&self, i: usize) -> LinkId {
        link_id(i as u32, self.gens[i])
    }

    /// The slot of the link of `session`, if established here.
    fn session_slot(&self, session: SessionId) -> Option<usize> {
        let slots = &self.slots;
        self.sessions
            .find(self.hasher.hash_one(session), |&s| {
                is_session(slots, s, session)
            })
            .map(|&s| s as usize)
    }

    /// `name` shared: every session of this shard with the same role (or
    /// method, or provider) holds the same allocation. Names no session
    /// holds any more are dropped when the table reaches [`MAX_NAMES`];
    /// past it a name gets an allocation of its own.
    pub fn intern(&mut self, name: &str) -> Rc<str> {
        if let Some(n) = self.names.get(name) {
            return Rc::clone(n);
        }
        if self.names.len() >= MAX_NAMES {
            self.names.retain(|n| Rc::strong_count(n) > 1);
        }
        let n: Rc<str> = Rc::from(name);
        if self.names.len() < MAX_NAMES {
            self.names.insert(Rc::clone(&n));
        }
        n
    }

    /// The shared [`Auth`] of a session with this role, method, provider
    /// and trust level (bounded like [`Links::intern`]).
    pub fn auth(
        &mut self,
        authrole: &str,
        authmethod: &str,
        authprovider: &str,
        trustlevel: Option<u64>,
    ) -> Rc<Auth> {
        let auth = Auth {
            authrole: self.intern(authrole),
            authmethod: self.intern(authmethod),
            authprovider: self.intern(authprovider),
            trustlevel,
        };
        if let Some(a) = self.auths.get(&auth) {
            return Rc::clone(a);
        }
        if self.auths.len() >= MAX_NAMES {
            self.auths.retain(|a| Rc::strong_count(a) > 1);
        }
        let auth = Rc::new(auth);
        if self.auths.len() < MAX_NAMES {
            self.auths.insert(Rc::clone(&auth));
        }
        auth
    }

    /// Forgets a link (its session must have ended).
    pub fn remove(&mut self, link: LinkId) {
        let Some(i) = self.slot(link) else {
            return;
        };
        if let Some(Phase::Established(s)) = self.slots[i].as_ref().map(|l| &l.phase) {
            // Not expected (the session ends first), but the index must not
            // keep a freed slot.
            let id = s.id;
            self.unindex(i, id);
        }
        self.slots[i] = None;
        self.open -= 1;
        let generation = self.gens[i].wrapping_add(1);
        self.gens[i] = generation;
        if generation != 0 {
            self.free.push(i as u32);
        }
        // else: retired, so that no ID comes back.
    }

    /// Open links.
    pub fn len(&self) -> usize {
        self.open
    }

    /// Established sessions.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Every link and its state.
    pub fn iter(&self) -> impl Iterator<Item = (LinkId, &Link)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, l)| Some((self.id_at(i), l.as_deref()?)))
    }

    /// Every link, for shutdown.
    pub fn ids(&self) -> Vec<LinkId> {
        self.iter().map(|(id, _)| id).collect()
    }

    /// A link.
    pub fn get(&self, link: LinkId) -> Option<&Link> {
        self.link(link)
    }

    /// A link, to change.
    pub fn get_mut(&mut self, link: LinkId) -> Option<&mut Link> {
        self.link_mut(link)
    }

    /// The established session on `link`.
    pub fn session(&self, link: LinkId) -> Option<&Session> {
        match &self.link(link)?.phase {
            Phase::Established(s) => Some(s),
            _ => None,
        }
    }

    /// The established session on `link`, to change.
    pub fn session_mut(&mut self, link: LinkId) -> Option<&mut Session> {
        match &mut self.link_mut(link)?.phase {
            Phase::Established(s) => Some(s),
            _ => None,
        }
    }

    /// The link of an established session on this shard.
    pub fn link_of(&self, session: SessionId) -> Option<LinkId> {
        self.session_slot(session).map(|i| self.id_at(i))
    }

    /// Whether a session with this ID lives here.
    pub fn has_session(&self, session: SessionId) -> bool {
        self.session_slot(session).is_some()
    }

    /// The established sessions and their links.
    pub fn sessions(&self) -> impl Iterator<Item = (LinkId, &Session)> {
        self.sessions.iter().filter_map(|&s| {
            let i = s as usize;
            match &self.slots[i].as_deref()?.phase {
                Phase::Established(session) => Some((self.id_at(i), session)),
                _ => None,
            }
        })
    }

    /// Makes `session` the link's established session.
    pub fn establish(&mut self, link: LinkId, session: Session) {
        let Some(i) = self.slot(link) else {
            return;
        };
        let id = session.id;
        if let Some(Phase::Established(old)) = self.slots[i].as_ref().map(|l| &l.phase) {
            let old = old.id;
            self.unindex(i, old);
        }
        // A session ID is unique, but an index entry must never be doubled.
        if let Some(other) = self.session_slot(id) {
            self.unindex(other, id);
        }
        let l = self.slots[i].as_deref_mut().expect("open");
        l.phase = Phase::Established(session);
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.sessions
            .insert_unique(hasher.hash_one(id), i as u32, |&s| {
                hasher.hash_one(session_id(slots, s))
            });
    }

    /// Removes the index entry of `session`, whose link is in slot `i`.
    fn unindex(&mut self, i: usize, session: SessionId) {
        if let Ok(e) = self
            .sessions
            .find_entry(self.hasher.hash_one(session), |&s| s as usize == i)
        {
            e.remove();
        }
    }

    /// Takes the link's session out (it ends); the link waits for HELLO again.
    pub fn take_session(&mut self, link: LinkId) -> Option<Session> {
        let i = self.slot(link)?;
        let l = self.slots[i].as_deref_mut().expect("open");
        if !matches!(l.phase, Phase::Established(_)) {
            return None;
        }
        let Phase::Established(s) = std::mem::replace(&mut l.phase, Phase::Connected) else {
            unreachable!("checked above");
        };
        self.unindex(i, s.id);
        Some(s)
    }

    /// Whether the router asked for the link to be closed (input is then ignored).
    pub fn is_closing(&self, link: LinkId) -> bool {
        self.link(link).is_none_or(|l| l.closing())
    }

    /// Asks the front end to close the link after what is queued.
    pub fn close_link(&mut self, link: LinkId, reason: CloseReason) {
        if let Some(l) = self.link_mut(link) {
            l.set_closing();
            l.out.close(reason);
        }
    }

    /// Whether a link overflowed, or was aborted for a message it could not
    /// be sent, during this step.
    pub fn has_overflowed(&self) -> bool {
        !self.overflowed.is_empty() || !self.unsendable.is_empty()
    }

    /// Links aborted during this step for a message they could not be sent:
    /// their sessions end now.
    pub fn take_unsendable(&mut self) -> Vec<LinkId> {
        std::mem::take(&mut self.unsendable)
    }

    /// Links that overflowed during this step, to close as slow consumers.
    pub fn take_overflowed(&mut self) -> Vec<LinkId> {
        std::mem::take(&mut self.overflowed)
    }

    /// Encodes `msg` for `link` and queues it. A message larger than the
    /// peer accepts is never silently lost (see `oversize.rs`);
    /// [`Sent::TooBig`] tells the caller, e.g. to fail an INVOCATION back to
    /// its caller.
    pub fn send(&mut self, link: LinkId, msg: &Message) -> Sent {
        let Some(l) = self.slot(link).and_then(|i| self.slots[i].as_deref()) else {
            return Sent::Queued;
        };
        if let Message::Error(e) = msg {
            self.metrics.error_sent(&e.error);
        }
        let (outbox, serializer) = match &l.out {
            Output::Typed(q) => {
                self.metrics.sent(msg.code(), 0);
                if q.borrow_mut().push(msg.clone()) == Err(Overflow) {
                    self.overflowed.push(link);
                }
                return Sent::Queued;
            }
            Output::Sink(sink) => {
                if sink.borrow_mut().message(msg) == Err(Overflow) {
                    self.overflowed.push(link);
                }
                return Sent::Queued;
            }
            Output::Wire { outbox, serializer } => (outbox, *serializer),
        };
        serializer.encode_into(msg, &mut self.scratch);
        let mut frame = self.scratch.split().freeze();
        let mut sent = Sent::Queued;
        if frame.len() > l.max_outbound() {
            sent = Sent::TooBig;
            let (len, max) = (frame.len(), l.max_outbound());
            let replacement = match oversize(msg, len, max) {
                Oversize::Drop => {
                    tracing::warn!(
                        link = link.0,
                        message = msg.name(),
                        len,
                        max,
                        "message larger than the peer accepts: not sent"
                    );
                    return sent;
                }
                Oversize::Replace(reply) => Some(reply),
                Oversize::Abort => None,
            };
            let scratch = &mut self.scratch;
            let fitting = replacement.and_then(|reply| {
                serializer.encode_into(&reply, scratch);
                let f = scratch.split().freeze();
                (f.len() <= max).then_some(f)
            });
            match fitting {
                Some(f) => frame = f,
                None => {
                    self.abort_unsendable(link, msg.name(), len);
                    return sent;
                }
            }
        }
        self.metrics.sent(msg.code(), frame.len());
        if outbox.borrow_mut().push(frame) == Err(Overflow) {
            self.overflowed.push(link);
        }
        sent
    }

    /// `link` must get a message of `len` bytes (`name`) that it does not
    /// accept: it gets ABORT `wamp.error.payload_size_exceeded` saying that
    /// its announced maximum message length is too small (without the
    /// message if that is too long, and no ABORT at all if even the bare one
    /// is), then the link closes (WebSocket close 1009; RawSocket has no
    /// close frame) and the session ends at the end of this step. Later
    /// messages to the link are dropped (its output is closed).
    fn abort_unsendable(&mut self, link: LinkId, name: &str, len: usize) {
        let Some(l) = self.slot(link).and_then(|i| self.slots[i].as_deref_mut()) else {
            return;
        };
        let Output::Wire { outbox, serializer } = &l.out else {
            return;
        };
        if outbox.borrow().is_closed() {
            return;
        }
        let max = l.max_outbound();
        let text = format!(
            "the router's {name} is {len} bytes; this client announced a maximum message \
             length of {max} bytes, which is too small"
        );
        let mut sent_abort = false;
        for details in [Dict::new().with("message", text), Dict::new()] {
            let abort = Message::Abort(Abort {
                details,
                reason: uris::PAYLOAD_SIZE_EXCEEDED.into(),
                payload: Payload::empty(),
            });
            serializer.encode_into(&abort, &mut self.scratch);
            let frame = self.scratch.split().freeze();
            if frame.len() <= max {
                self.metrics.sent(code::ABORT, frame.len());
                // An outbox over its byte limit still closes below.
                let _ = outbox.borrow_mut().push(frame);
                sent_abort = true;
                break;
            }
        }
        tracing::warn!(
            link = link.0,
            peer = %l.info.peer,
            message = name,
            len,
            max,
            abort = sent_abort,
            "closing: a message the peer must get is larger than it accepts"
        );
        l.set_closing();
        l.out.close(CloseReason::MessageTooBig);
        self.unsendable.push(link);
    }

    /// Sends `msg` to a session on this shard, if it is still here.
    pub fn send_to_session(&mut self, session: SessionId, msg: &Message) {
        if let Some(link) = self.link_of(session) {
            self.send(link, msg);
        }
    }

    /// Queues one EVENT for `link` (encoded on first use per serializer);
    /// returns whether it was queued.
    pub fn push_event(&mut self, link: LinkId, ev: &mut EventOut<'_, '_>) -> bool {
        let Some(l) = self.slot(link).and_then(|i| self.slots[i].as_deref()) else {
            return false;
        };
        let (outbox, serializer) = match &l.out {
            Output::Typed(q) => {
                self.metrics.sent(code::EVENT, 0);
                let m = Message::Event(Event {
                    subscription: ev.subscription,
                    publication: ev.publication,
                    details: ev.details().clone(),
                    payload: ev.payload.clone(),
                });
                if q.borrow_mut().push(m) == Err(Overflow) {
                    self.overflowed.push(link);
                }
                return true;
            }
            Output::Sink(sink) => {
                return match sink.borrow_mut().event(ev) {
                    Ok(queued) => queued,
                    Err(Overflow) => {
                        self.overflowed.push(link);
                        true
                    }
                };
            }
            Output::Wire { outbox, serializer } => (outbox, *serializer),
        };
        let at = serializer.index();
        let frame = match &ev.frames[at] {
            Some(frame) => Rc::clone(frame),
            None => {
                let (subscription, publication, payload) =
                    (ev.subscription, ev.publication, ev.payload);
                let scratch = &mut self.scratch;
                serializer.encode_event_into(
                    subscription,
                    publication,
                    ev.details(),
                    payload,
                    scratch,
                );
                let frame = Rc::new(scratch.split().freeze());
                ev.frames[at] = Some(Rc::clone(&frame));
                frame
            }
        };
        if frame.len() > l.max_outbound() {
            // Larger than this subscriber accepts: it misses this event.
            tracing::debug!(
                link = link.0,
                len = frame.len(),
                "event larger than the subscriber accepts: skipped"
            );
            return false;
        }
        self.metrics.sent(code::EVENT, frame.len());
        if outbox.borrow_mut().push_event(frame) == Err(Overflow) {
            self.overflowed.push(link);
        }
        true
    }

    /// Replies with ERROR to a request.
    pub fn error(
        &mut self,
        link: LinkId,
        request_type: u64,
        request: RequestId,
        error: &str,
        message: Option<String>,
    ) {
        let payload = match message {
            Some(m) => Payload::args(vec![Value::Str(m)]),
            None => Payload::empty(),
        };
        let msg = Message::Error(Error {
            request_type,
            request,
            details: Dict::new(),
            error: error.to_owned(),
            payload,
        });
        self.send(link, &msg);
    }

    /// Sends ABORT with `reason` and a message, then closes the link.
    pub fn abort(&mut self, link: LinkId, reason: &str, message: Cow<'_, str>) {
        let abort = Message::Abort(Abort {
            details: Dict::new().with("message", message.as_ref()),
            reason: reason.to_owned(),
            payload: Payload::empty(),
        });
        if self.send(link, &abort) == Sent::TooBig {
            tracing::warn!(
                link = link.0,
                %reason,
                "ABORT larger than the peer accepts: closing without it"
            );
        }
        self.close_link(link, CloseReason::Normal);
    }
}

/// The ID of slot `slot` at generation `generation` (never 0: generations start at 1).
fn link_id(slot: u32, generation: u32) -> LinkId {
    LinkId(u64::from(generation) << 32 | u64::from(slot))
}

/// A link ID's slot and generation.
fn split(link: LinkId) -> (u32, u32) {
    (link.0 as u32, (link.0 >> 32) as u32)
}

/// The session ID of the established link in slot `s`, to rehash the index
/// (its entries only point at such slots: every change of an established
/// phase goes through [`Links::establish`], [`Links::take_session`] or
/// [`Links::remove`], or puts the same session back before the next).
fn session_id(slots: &[Option<Box<Link>>], s: u32) -> SessionId {
    match slots
        .get(s as usize)
        .and_then(|l| l.as_deref())
        .map(|l| &l.phase)
    {
        Some(Phase::Established(session)) => session.id,
        _ => {
            debug_assert!(
                false,
                "the session index points at slot {s}, not established"
            );
            // Not reached; such an entry would only be found by no one.
            SessionId(0)
        }
    }
}

/// Whether slot `s` holds the established session `session`.
fn is_session(slots: &[Option<Box<Link>>], s: u32, session: SessionId) -> bool {
    matches!(
        slots[s as usize].as_deref().map(|l| &l.phase),
        Some(Phase::Established(x)) if x.id == session
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::api::{FrontEnd, MessageQueue};
    use crate::core::session::Features;

    fn open(l: &mut Links) -> LinkId {
        let info = LinkInfo::new(
            crate::core::internal::router_transport(),
            FrontEnd::Internal,
            "internal",
        );
        l.open(info, Output::Typed(MessageQueue::new_ref(10)), usize::MAX)
            .expect("open")
    }

    fn session(id: u64) -> Session {
        Session::new(
            SessionId(id),
            0,
            Auth::new("r", "anonymous", "static"),
            None,
            None,
            Features::default(),
            false,
        )
    }

    /// A freed slot is reused (last freed first) with a new generation: the
    /// old ID finds nothing, IDs are never 0 and never repeat.
    #[test]
    fn link_ids_reuse_slots_but_never_repeat() {
        let mut l = Links::new();
        let a = open(&mut l);
        let b = open(&mut l);
        assert_ne!(a.0, 0);
        assert_eq!(split(a), (0, 1));
        assert_eq!(split(b), (1, 1));
        assert_eq!(l.len(), 2);
        l.remove(a);
        l.remove(a);
        assert_eq!(l.len(), 1, "a second remove of the same ID does nothing");
        assert!(l.get(a).is_none() && l.is_closing(a));
        let c = open(&mut l);
        assert_eq!(split(c), (0, 2), "slot 0 again, next generation");
        assert!(
            l.get(a).is_none(),
            "the stale ID does not reach the new link"
        );
        assert!(l.get(c).is_some() && l.get(b).is_some());
        assert_eq!(l.slots.len(), 2, "no slot more than links open at once");
        assert!(l.get(LinkId(u64::from(u32::MAX))).is_none(), "no such slot");
        let mut ids: Vec<LinkId> = l.ids();
        ids.sort();
        assert_eq!(ids, vec![b, c]);
        // A slot whose generation would wrap is retired, not reused.
        l.gens[0] = u32::MAX;
        let c = link_id(0, u32::MAX);
        l.remove(c);
        assert_eq!(l.len(), 1);
        let d = open(&mut l);
        assert_eq!(split(d), (2, 1), "slot 0 retired");
    }

    /// Sessions are found by ID through the index, which follows
    /// establish / take_session / remove and survives its own growth.
    #[test]
    fn the_session_index_follows_the_links() {
        let mut l = Links::new();
        let links: Vec<LinkId> = (0..200).map(|_| open(&mut l)).collect();
        for (n, &link) in links.iter().enumerate() {
            l.establish(link, session(1000 + n as u64));
        }
        assert_eq!(l.session_count(), 200);
        for (n, &link) in links.iter().enumerate() {
            assert_eq!(l.link_of(SessionId(1000 + n as u64)), Some(link));
        }
        assert!(!l.has_session(SessionId(999)));
        let s = l.take_session(links[3]).expect("established");
        assert_eq!(s.id, SessionId(1003));
        assert!(l.take_session(links[3]).is_none());
        assert_eq!(l.link_of(SessionId(1003)), None);
        assert!(l.get(links[3]).is_some(), "the link stays");
        // A link removed with its session established leaves no entry.
        l.remove(links[4]);
        assert_eq!(l.link_of(SessionId(1004)), None);
        assert_eq!(l.session_count(), 198);
        // A new session on a reused slot is found under its own ID only.
        let again = open(&mut l);
        assert_eq!(split(again).0, split(links[4]).0);
        l.establish(again, session(5));
        assert_eq!(l.link_of(SessionId(5)), Some(again));
        assert_eq!(l.link_of(SessionId(1004)), None);
        // Established again on the same link: the old ID goes.
        l.establish(again, session(6));
        assert_eq!(l.link_of(SessionId(5)), None);
        assert_eq!(l.link_of(SessionId(6)), Some(again));
        let mut seen: Vec<u64> = l.sessions().map(|(_, s)| s.id.0).collect();
        seen.sort_unstable();
        assert_eq!(seen.len(), 199);
        assert_eq!(seen[0], 6);
    }

    proptest::proptest! {
        /// The slab and the session index agree with a map of the links
        /// open and their sessions through any opens, removals, sessions
        /// established and ended; no ID is handed out twice.
        #[test]
        fn links_and_sessions_agree_with_a_map(ops in proptest::collection::vec((0u8..4, 0usize..16), 0..300)) {
            let mut l = Links::new();
            let mut open_now: Vec<(LinkId, Option<u64>)> = Vec::new();
            let mut every_id = std::collections::HashSet::new();
            let mut next_session = 1u64;
            for (op, pick) in ops {
                match op {
                    0 => {
                        let id = open(&mut l);
                        proptest::prop_assert!(every_id.insert(id), "{:?} handed out twice", id);
                        open_now.push((id, None));
                    }
                    1 if !open_now.is_empty() => {
                        let (id, _) = open_now.swap_remove(pick % open_now.len());
                        if l.session(id).is_some() {
                            l.take_session(id);
                        }
                        l.remove(id);
                    }
                    2 if !open_now.is_empty() => {
                        let n = pick % open_now.len();
                        open_now[n].1 = Some(next_session);
                        l.establish(open_now[n].0, session(next_session));
                        next_session += 1;
                    }
                    3 if !open_now.is_empty() => {
                        let n = pick % open_now.len();
                        let taken = l.take_session(open_now[n].0).map(|s| s.id.0);
                        proptest::prop_assert_eq!(taken, open_now[n].1.take());
                    }
                    _ => {}
                }
                proptest::prop_assert_eq!(l.len(), open_now.len());
                let sessions = open_now.iter().filter(|(_, s)| s.is_some()).count();
                proptest::prop_assert_eq!(l.session_count(), sessions);
                for &(id, s) in &open_now {
                    proptest::prop_assert!(l.get(id).is_some());
                    if let Some(s) = s {
                        proptest::prop_assert_eq!(l.link_of(SessionId(s)), Some(id));
                    }
                }
                for &gone in every_id.iter() {
                    if !open_now.iter().any(|(id, _)| *id == gone) {
                        proptest::prop_assert!(l.get(gone).is_none());
                    }
                }
            }
        }
    }

    /// What the tables keep per link: a 12-byte slot (pointer, generation)
    /// and, per session, a 4-byte slot number in the index; no (key,
    /// value) hash table of 16-byte entries for either.
    #[test]
    fn the_tables_keep_little_per_link() {
        assert_eq!(
            std::mem::size_of::<Option<Box<Link>>>() + std::mem::size_of::<u32>(),
            12
        );
        let mut l = Links::new();
        let links: Vec<LinkId> = (0..10_000).map(|_| open(&mut l)).collect();
        for (n, &link) in links.iter().enumerate() {
            l.establish(link, session(n as u64 + 1));
        }
        assert_eq!(l.slots.len(), 10_000);
        // hashbrown: 16,384 buckets of 4 bytes and a control byte each.
        assert!(l.sessions.capacity() < 16_384, "{}", l.sessions.capacity());
        assert_eq!(std::mem::size_of::<u32>(), 4);
    }

    #[test]
    fn names_are_shared_and_the_table_stays_bounded() {
        let mut l = Links::new();
        let a = l.intern("anonymous");
        let b = l.intern("anonymous");
        assert!(Rc::ptr_eq(&a, &b), "one allocation per name");
        assert_eq!(&*a, "anonymous");
        for i in 0..MAX_NAMES + 10 {
            let n = l.intern(&format!("role{i}"));
            assert_eq!(&*n, format!("role{i}"));
        }
        assert!(l.names.len() <= MAX_NAMES, "{}", l.names.len());
        // A name still held survives the pruning, and is still shared.
        assert!(Rc::ptr_eq(&a, &l.intern("anonymous")));
    }
}
