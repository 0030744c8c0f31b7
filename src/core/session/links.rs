//! The links of one shard and their sessions, and everything that is sent to
//! them: one place that encodes, enforces the peer's size limit, queues, and
//! notices slow consumers.

use std::borrow::Cow;
use std::rc::Rc;

use ahash::AHashMap;
use bytes::{Bytes, BytesMut};

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
    /// EVENT details.
    pub details: &'a Dict,
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
            payload: &p.payload,
            native: p.native.as_deref(),
            frames: [None, None, None],
            front,
        }
    }

    /// The cache sinks share for this publication.
    pub fn front_cache(&mut self) -> &mut FrontCache {
        self.front
    }
}

/// This shard's links and sessions.
pub(crate) struct Links {
    /// Every open link.
    links: AHashMap<LinkId, Box<Link>>,
    /// Established sessions → their link.
    sessions: AHashMap<SessionId, LinkId>,
    /// Encode buffer: frames are split off it, so one allocation serves many frames.
    scratch: BytesMut,
    /// Links whose output overflowed during the current step; closed at its end.
    overflowed: Vec<LinkId>,
    /// Links aborted during the current step because a message they must
    /// get is larger than they accept; their sessions end at its end.
    unsendable: Vec<LinkId>,
    /// Last link ID handed out.
    last_link: u64,
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
            links: AHashMap::new(),
            sessions: AHashMap::new(),
            scratch: BytesMut::with_capacity(64 * 1024),
            overflowed: Vec::new(),
            unsendable: Vec::new(),
            last_link: 0,
            names: ahash::AHashSet::new(),
            auths: ahash::AHashSet::new(),
            metrics: Metrics::default(),
        }
    }

    /// Adds a link, unless `max` links are open already.
    ///
    /// # Errors
    /// [`Refused`] at the limit.
    pub fn open(&mut self, info: LinkInfo, out: Output, max: usize) -> Result<LinkId, Refused> {
        if self.links.len() >= max {
            return Err(Refused("session limit reached"));
        }
        self.last_link += 1;
        let id = LinkId(self.last_link);
        self.links.insert(
            id,
            Box::new(Link {
                out,
                info,
                phase: Phase::Connected,
                closing: false,
            }),
        );
        Ok(id)
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
        self.links.remove(&link);
    }

    /// Open links.
    pub fn len(&self) -> usize {
        self.links.len()
    }

    /// Established sessions.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Every link and its state.
    pub fn iter(&self) -> impl Iterator<Item = (LinkId, &Link)> {
        self.links.iter().map(|(id, l)| (*id, &**l))
    }

    /// Every link, for shutdown.
    pub fn ids(&self) -> Vec<LinkId> {
        self.links.keys().copied().collect()
    }

    /// A link.
    pub fn get(&self, link: LinkId) -> Option<&Link> {
        self.links.get(&link).map(|l| &**l)
    }

    /// A link, to change.
    pub fn get_mut(&mut self, link: LinkId) -> Option<&mut Link> {
        self.links.get_mut(&link).map(|l| &mut **l)
    }

    /// The established session on `link`.
    pub fn session(&self, link: LinkId) -> Option<&Session> {
        match &self.links.get(&link)?.phase {
            Phase::Established(s) => Some(s),
            _ => None,
        }
    }

    /// The established session on `link`, to change.
    pub fn session_mut(&mut self, link: LinkId) -> Option<&mut Session> {
        match &mut self.links.get_mut(&link)?.phase {
            Phase::Established(s) => Some(s),
            _ => None,
        }
    }

    /// The link of an established session on this shard.
    pub fn link_of(&self, session: SessionId) -> Option<LinkId> {
        self.sessions.get(&session).copied()
    }

    /// Whether a session with this ID lives here.
    pub fn has_session(&self, session: SessionId) -> bool {
        self.sessions.contains_key(&session)
    }

    /// The established sessions and their links.
    pub fn sessions(&self) -> impl Iterator<Item = (LinkId, &Session)> {
        self.sessions
            .values()
            .filter_map(|&l| self.session(l).map(|s| (l, s)))
    }

    /// Makes `session` the link's established session.
    pub fn establish(&mut self, link: LinkId, session: Session) {
        let id = session.id;
        if let Some(l) = self.links.get_mut(&link) {
            l.phase = Phase::Established(session);
            self.sessions.insert(id, link);
        }
    }

    /// Takes the link's session out (it ends); the link waits for HELLO again.
    pub fn take_session(&mut self, link: LinkId) -> Option<Session> {
        let l = self.links.get_mut(&link)?;
        if !matches!(l.phase, Phase::Established(_)) {
            return None;
        }
        let Phase::Established(s) = std::mem::replace(&mut l.phase, Phase::Connected) else {
            unreachable!("checked above");
        };
        self.sessions.remove(&s.id);
        Some(s)
    }

    /// Whether the router asked for the link to be closed (input is then ignored).
    pub fn is_closing(&self, link: LinkId) -> bool {
        self.links.get(&link).is_none_or(|l| l.closing)
    }

    /// Asks the front end to close the link after what is queued.
    pub fn close_link(&mut self, link: LinkId, reason: CloseReason) {
        if let Some(l) = self.links.get_mut(&link) {
            l.closing = true;
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
        let Some(l) = self.links.get(&link) else {
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
        let Some(l) = self.links.get_mut(&link) else {
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
        l.closing = true;
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
        let Some(l) = self.links.get(&link) else {
            return false;
        };
        let (outbox, serializer) = match &l.out {
            Output::Typed(q) => {
                self.metrics.sent(code::EVENT, 0);
                let m = Message::Event(Event {
                    subscription: ev.subscription,
                    publication: ev.publication,
                    details: ev.details.clone(),
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
        let scratch = &mut self.scratch;
        let frame = ev.frames[serializer.index()].get_or_insert_with(|| {
            serializer.encode_event_into(
                ev.subscription,
                ev.publication,
                ev.details,
                ev.payload,
                scratch,
            );
            Rc::new(scratch.split().freeze())
        });
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
        if outbox.borrow_mut().push(Rc::clone(frame)) == Err(Overflow) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
