//! Client messages: which part of the core handles each, the authorization
//! guard in front of every request, requests waiting for an authorization
//! decision, and the end of a session (which every part takes part in).

use std::borrow::Cow;

use super::api::LinkId;
use super::authz::{Action, AuthzTicket, Decision, Grant, Request};
use super::outbox::CloseReason;
use super::session::Phase;
use super::{ShardRouter, action_of, match_policy, uris};
use crate::config::{AUTHENTICATOR_ROLE, RESERVED_PREFIX};
use crate::proto::message::code;
use crate::proto::uri::{self, MatchPolicy};
use crate::proto::{Dict, Goodbye, Message, RequestId, Value};

/// What the guard decided about a request.
enum Admit {
    /// Go ahead, with this grant (disclosure flags) and match policy.
    Go(Grant, MatchPolicy),
    /// Refused (the ERROR, if any, is sent).
    Stop,
    /// Wait for the authorizer's answer.
    Park(AuthzTicket),
}

impl ShardRouter {
    /// One message from `link`'s peer; `decided`: the authorization of this
    /// request is already known (a request that waited for it).
    pub(super) fn message(&mut self, link: LinkId, msg: Message, decided: Option<Grant>) {
        let Some(l) = self.cx.links.get_mut(link) else {
            return;
        };
        if l.closing() {
            return;
        }
        match &mut l.phase {
            Phase::Established(s) => {
                if let Some(parked) = s.parked_mut() {
                    // Requests are handled in order: wait behind the one parked.
                    match msg {
                        Message::Abort(_) => self.close_quietly(link),
                        other => parked.push_back(other),
                    }
                    return;
                }
            }
            Phase::Connected => {
                if self.ops.awaiting_goodbye.contains(&link) {
                    return self.after_goodbye(link, &msg);
                }
                return match msg {
                    Message::Hello(h) => {
                        if self.sessions.hello(&mut self.cx, link, h) {
                            self.session_joined(link);
                        }
                    }
                    Message::Abort(_) => self.close_quietly(link),
                    other => self.cx.violation(
                        link,
                        Cow::Owned(format!(
                            "{} received before the session was established",
                            other.name()
                        )),
                    ),
                };
            }
            Phase::Authenticating(_) | Phase::Challenged(_) => {
                return match msg {
                    Message::Authenticate(a) => {
                        if self.sessions.authenticate(&mut self.cx, link, a) {
                            self.session_joined(link);
                        }
                    }
                    Message::Abort(_) => self.close_quietly(link),
                    other => self.cx.violation(
                        link,
                        Cow::Owned(format!(
                            "{} received while the session is being authenticated",
                            other.name()
                        )),
                    ),
                };
            }
        }
        // An MQTT codec's call on another realm (`CALL_ON_REALM_OPTION`).
        if let Message::Call(c) = &msg
            && self.calls_on_realm(link, c)
        {
            if let Message::Call(c) = msg {
                self.call_on_realm(link, c);
            }
            return;
        }
        if action_of(&msg).is_some() {
            let (grant, policy) = match self.admit(link, &msg, decided) {
                Admit::Go(g, p) => (g, p),
                Admit::Stop => return,
                Admit::Park(ticket) => return self.park(link, msg, ticket),
            };
            return self.request(link, msg, grant, policy);
        }
        match msg {
            Message::Unsubscribe(m) => self.broker.unsubscribe(&mut self.cx, link, m),
            Message::Unregister(m) => self.dealer.unregister(&mut self.cx, link, m),
            Message::Yield(m) => self.dealer.yield_(&mut self.cx, link, m),
            Message::Error(m) if m.request_type == code::INVOCATION => {
                self.dealer.invocation_error(&mut self.cx, link, m)
            }
            Message::Error(m) => self.cx.violation(
                link,
                Cow::Owned(format!(
                    "ERROR for a {} request is not valid from a client",
                    crate::proto::code_name(m.request_type)
                )),
            ),
            Message::Goodbye(_) => {
                let reply = Message::Goodbye(Goodbye {
                    details: Dict::new(),
                    reason: uris::GOODBYE_AND_OUT.into(),
                });
                self.cx.links.send(link, &reply);
                self.end_session(link, false);
            }
            Message::Abort(_) => self.close_quietly(link),
            Message::Cancel(m) => self.dealer.cancel(&mut self.cx, link, m),
            Message::Hello(_) => self.cx.violation(
                link,
                Cow::Borrowed("HELLO received on an established session"),
            ),
            Message::Authenticate(_) => self.cx.violation(
                link,
                Cow::Borrowed("AUTHENTICATE received on an established session"),
            ),
            other => self.cx.violation(
                link,
                Cow::Owned(format!(
                    "{} is not a message a client may send here",
                    other.name()
                )),
            ),
        }
    }

    /// A request the guard let through.
    fn request(&mut self, link: LinkId, msg: Message, grant: Grant, policy: MatchPolicy) {
        let cx = &mut self.cx;
        match msg {
            Message::Publish(m) => self.broker.publish(cx, link, m, grant),
            Message::Subscribe(m) => self.broker.subscribe(cx, link, m, policy),
            Message::Register(m) => self.dealer.register(cx, link, m, policy),
            Message::Call(m) => {
                if let Some(proc) = self.meta.procedure(&m.procedure) {
                    proc(self, link, m);
                } else {
                    self.dealer.call(cx, link, m, grant);
                }
            }
            _ => {}
        }
    }

    /// The guard: match policy, URI validity, then authorization.
    fn admit(&mut self, link: LinkId, msg: &Message, decided: Option<Grant>) -> Admit {
        let (action, uri, options, request_type, request) = match msg {
            Message::Publish(m) => (
                Action::Publish,
                &m.topic,
                &m.options,
                code::PUBLISH,
                m.request,
            ),
            Message::Subscribe(m) => (
                Action::Subscribe,
                &m.topic,
                &m.options,
                code::SUBSCRIBE,
                m.request,
            ),
            Message::Register(m) => (
                Action::Register,
                &m.procedure,
                &m.options,
                code::REGISTER,
                m.request,
            ),
            Message::Call(m) => (
                Action::Call,
                &m.procedure,
                &m.options,
                code::CALL,
                m.request,
            ),
            _ => return Admit::Go(Grant::ALLOW, MatchPolicy::Exact),
        };
        // Without `acknowledge` the spec has the broker drop a failed publish silently.
        let quiet = action == Action::Publish
            && !options
                .get("acknowledge")
                .and_then(Value::as_bool)
                .unwrap_or(false);
        let policy = match action {
            Action::Subscribe | Action::Register => match match_policy(options) {
                Ok(p) => p,
                Err(e) => {
                    self.refuse(
                        link,
                        request_type,
                        request,
                        uris::INVALID_ARGUMENT,
                        e,
                        quiet,
                    );
                    return Admit::Stop;
                }
            },
            Action::Publish | Action::Call => MatchPolicy::Exact,
        };
        let Some(s) = self.cx.links.session(link) else {
            return Admit::Stop;
        };
        let realm = s.realm;
        if !uri::is_valid(uri, self.cx.realms[realm as usize].uri_check, policy) {
            let what = match action {
                Action::Publish | Action::Subscribe => "topic",
                Action::Register | Action::Call => "procedure",
            };
            let msg = match action {
                Action::Subscribe | Action::Register => format!(
                    "invalid {what} URI '{uri}' for match policy '{}'",
                    policy.as_str()
                ),
                Action::Publish | Action::Call => format!("invalid {what} URI '{uri}'"),
            };
            self.refuse(link, request_type, request, uris::INVALID_URI, msg, quiet);
            return Admit::Stop;
        }
        // The router's own URIs (function authenticators): whatever the
        // roles' permissions say.
        if !s.trusted
            && reaches_reserved(
                uri,
                policy,
                action,
                self.cx.realms[realm as usize].hosts_authenticators,
            )
            && !(action == Action::Register
                && policy == MatchPolicy::Exact
                && &*s.auth.authrole == AUTHENTICATOR_ROLE)
        {
            let msg =
                format!("'{uri}' reaches URIs reserved for the router ({RESERVED_PREFIX}...)");
            self.refuse(
                link,
                request_type,
                request,
                uris::NOT_AUTHORIZED,
                msg,
                quiet,
            );
            return Admit::Stop;
        }
        let grant = match decided {
            Some(g) => g,
            None if s.trusted => Grant::ALLOW,
            None => {
                let req = Request {
                    realm: &self.cx.realms[realm as usize].name,
                    session: s.id,
                    authid_given: s.authid_given(),
                    authrole: &s.auth.authrole,
                    action,
                    uri,
                    options,
                };
                let rules = &self.cx.realms[realm as usize].authz;
                match self.authz.decide(rules, realm, link, &req) {
                    Decision::Now(g) => g,
                    Decision::Later(ticket) => return Admit::Park(ticket),
                }
            }
        };
        if !grant.allowed {
            let msg = match action {
                Action::Subscribe => format!("not authorized to subscribe to '{uri}'"),
                Action::Publish => format!("not authorized to publish to '{uri}'"),
                Action::Register => format!("not authorized to register '{uri}'"),
                Action::Call => format!("not authorized to call '{uri}'"),
            };
            self.refuse(
                link,
                request_type,
                request,
                uris::NOT_AUTHORIZED,
                msg,
                quiet,
            );
            return Admit::Stop;
        }
        Admit::Go(grant, policy)
    }

    /// Answers a refused request with ERROR (or drops it quietly).
    fn refuse(
        &mut self,
        link: LinkId,
        request_type: u64,
        request: RequestId,
        error: &str,
        message: String,
        quiet: bool,
    ) {
        if quiet {
            tracing::debug!(link = link.0, %message, "unacknowledged publish dropped");
        } else {
            self.cx
                .links
                .error(link, request_type, request, error, Some(message));
        }
    }

    /// `msg` waits for authorization ticket `ticket`; later requests wait behind it.
    fn park(&mut self, link: LinkId, msg: Message, _ticket: AuthzTicket) {
        if let Some(s) = self.cx.links.session_mut(link) {
            s.park(msg);
        }
    }

    /// An authorization decision arrived: the waiting requests go on, in
    /// order, until one waits again.
    pub(super) fn authorization_resolved(
        &mut self,
        ticket: AuthzTicket,
        grant: Grant,
        cache: bool,
    ) {
        let Some((link, sid)) = self.authz.take_pending(ticket) else {
            return;
        };
        let Some(s) = self.cx.links.session_mut(link).filter(|s| s.id == sid) else {
            return;
        };
        let Some(mut queue) = s.take_parked() else {
            return;
        };
        if cache && let Some(front) = queue.front() {
            let key = match front {
                Message::Publish(m) => Some((Action::Publish, m.topic.as_str())),
                Message::Subscribe(m) => Some((Action::Subscribe, m.topic.as_str())),
                Message::Register(m) => Some((Action::Register, m.procedure.as_str())),
                Message::Call(m) => Some((Action::Call, m.procedure.as_str())),
                _ => None,
            };
            if let Some((action, uri)) = key {
                self.authz.remember(sid, action, uri, grant);
            }
        }
        let mut decided = Some(grant);
        while let Some(m) = queue.pop_front() {
            self.message(link, m, decided.take());
            let Some(s) = self.cx.links.session_mut(link).filter(|s| s.id == sid) else {
                return; // the session ended meanwhile: the rest goes with it
            };
            if let Some(p) = s.parked_mut() {
                p.extend(queue.drain(..));
                return;
            }
        }
    }

    /// The peer ABORTed: end the session and close without a reply.
    pub(super) fn close_quietly(&mut self, link: LinkId) {
        self.end_session(link, true);
        self.cx.links.close_link(link, CloseReason::Normal);
    }

    /// Ends `link`'s session: leaves every subscription and registration,
    /// fails every invocation it owed and every call it made, publishes its
    /// testaments and `on_leave`. `lost` tells whether the transport is gone.
    pub(super) fn end_session(&mut self, link: LinkId, lost: bool) {
        let Some(session) = self.cx.links.take_session(link) else {
            return;
        };
        let (id, realm) = (session.id, session.realm);
        if let Some(l) = self.cx.links.get(link) {
            tracing::debug!(
                session = id.0,
                realm = %self.cx.realms[realm as usize].name,
                authid = %session.authid(),
                authrole = %session.auth.authrole,
                authmethod = %session.auth.authmethod,
                peer = %l.info.peer,
                transport = %l.info.transport.id,
                lost,
                "session closed"
            );
            if !session.trusted {
                let transport = l.info.transport.id.clone();
                self.cx
                    .links
                    .metrics
                    .session_closed(realm, &transport, &session.auth.authmethod);
            }
        }
        self.authz.session_ended(id);
        self.dealer.caller_left(&mut self.cx, id);
        let authid = session.authid().into_owned();
        for (_, (uri, policy)) in session.subscriptions {
            self.broker
                .local_unsubscribe(&mut self.cx, realm, &uri, policy, link, id);
        }
        for (reg, (uri, policy)) in session.registrations {
            self.dealer.leave(&mut self.cx, realm, uri, policy, reg, id);
        }
        self.dealer.callee_left(&mut self.cx, id);
        self.session_left(
            link,
            id,
            realm,
            authid,
            std::rc::Rc::clone(&session.auth.authrole),
            session.auth.trustlevel,
        );
    }
}

/// Whether `uri` with `policy` reaches URIs under [`RESERVED_PREFIX`]: it
/// lies under it, or (`in_use`: function authenticators register in the
/// realm) it is a prefix or wildcard registration that would catch their
/// calls were their procedures not registered (yet).
fn reaches_reserved(uri: &str, policy: MatchPolicy, action: Action, in_use: bool) -> bool {
    if uri.starts_with(RESERVED_PREFIX) {
        return true;
    }
    if !in_use || action != Action::Register {
        return false;
    }
    match policy {
        MatchPolicy::Exact => false,
        MatchPolicy::Prefix => RESERVED_PREFIX.starts_with(uri),
        MatchPolicy::Wildcard => {
            let mut parts = uri.split('.');
            let first = parts.next();
            let second = parts.next();
            let rest = parts.count();
            rest >= 1
                && matches!(first, Some("" | "junction"))
                && matches!(second, Some("" | "internal"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_uris_and_the_patterns_that_reach_them() {
        use Action::{Call, Register, Subscribe};
        use MatchPolicy::{Exact, Prefix, Wildcard};
        for (uri, policy, action, in_use, expected) in [
            (
                "junction.internal.authenticator.1",
                Exact,
                Call,
                false,
                true,
            ),
            ("junction.internal.x", Exact, Subscribe, false, true),
            ("junction.internals", Exact, Call, true, false),
            ("junction.", Prefix, Register, true, true),
            ("", Prefix, Register, true, true),
            ("", Prefix, Register, false, false),
            ("", Prefix, Subscribe, true, false),
            ("com.", Prefix, Register, true, false),
            ("junction..authenticator.1", Wildcard, Register, true, true),
            ("..", Wildcard, Register, true, true),
            ("a..", Wildcard, Register, true, false),
            ("junction.", Wildcard, Register, true, false),
        ] {
            assert_eq!(
                reaches_reserved(uri, policy, action, in_use),
                expected,
                "{uri} {policy:?} {action:?} in_use={in_use}"
            );
        }
    }
}
