//! The session state machine's transitions: HELLO, CHALLENGE/AUTHENTICATE
//! and WELCOME (see the module header of `session`). GOODBYE and ABORT need
//! the other parts of the core (a session's subscriptions and registrations
//! end with it), so the router handles them and calls back here.

use std::borrow::Cow;
use std::rc::Rc;
use std::time::Instant;

use super::authn::{AUTHENTICATION_FAILED, AuthJob, HelloRequest, Identity, Step, Ticket};
use super::throttle::{Failure, Source};
use super::{Features, Host, Joining, Phase, Session, Sessions, anonymous_authid};
use crate::core::api::{CookieLogin, LinkId};
use crate::core::uris;
use crate::proto::{Authenticate, Challenge, Dict, Hello, Message, Value, Welcome};

/// The refusal of a login from a throttled address (its credentials are not looked at).
const THROTTLED: &str = "too many failed logins from this address; try again later";

/// Most entries of `HELLO.Details.authmethods` looked at.
pub const MAX_AUTHMETHODS: usize = 16;

/// Whether a denial with `reason` counts as a failed login for the
/// per-address limit: not when the request itself was unusable (an unknown
/// realm or role, no method, a malformed HELLO).
fn counts_as_failure(reason: &str) -> bool {
    !matches!(
        reason,
        uris::NO_SUCH_REALM
            | uris::NO_AUTH_METHOD
            | uris::NO_SUCH_ROLE
            | uris::INVALID_ARGUMENT
            | uris::PROTOCOL_VIOLATION
    )
}

impl Sessions {
    /// HELLO on a link waiting for one. Returns whether the session was
    /// welcomed right away (the router then announces it).
    pub fn hello(&mut self, host: &mut dyn Host, link: LinkId, hello: Hello) -> bool {
        // A realm this router lacks is refused at WELCOME, unless the login
        // places the session in another (a principal's `realm`), as
        // Crossbar does when the transport has authentication configured.
        // So is a HELLO that names no realm (Autobahn|Python sends `null`
        // when the application leaves the realm to the router) whose login
        // assigns none. The transport's authentication config does not
        // depend on the realm, so both authenticate as usual.
        let asked = hello.realm.as_deref();
        let realm = match asked {
            Some(name) => host.realm_index(name).ok_or_else(|| Some(name.to_owned())),
            None => Err(None),
        };
        let max_authid = self.settings.limits.max_authid_len;
        if let Some(id) = hello.details.get("authid")
            && id.as_str().is_none_or(|s| s.len() > max_authid)
        {
            host.links().abort(
                link,
                uris::INVALID_ARGUMENT,
                Cow::Owned(format!(
                    "HELLO.Details.authid must be a string of at most {max_authid} bytes"
                )),
            );
            return false;
        }
        let offered: Option<Vec<&str>> = match hello.details.get("authmethods") {
            None | Some(Value::Null) => None,
            Some(Value::List(l)) => Some(
                l.iter()
                    .take(MAX_AUTHMETHODS)
                    .filter_map(Value::as_str)
                    .collect(),
            ),
            Some(_) => {
                host.links().abort(
                    link,
                    uris::INVALID_ARGUMENT,
                    Cow::Borrowed("HELLO.Details.authmethods must be a list of strings"),
                );
                return false;
            }
        };
        let Some(l) = host.links().get(link) else {
            return false;
        };
        let transport = Rc::clone(&l.info.transport);
        // A realm named is checked now; one assigned later, at WELCOME.
        if let Some(name) = asked
            && !transport.serves_realm(name)
        {
            host.links().abort(
                link,
                uris::NO_SUCH_REALM,
                Cow::Owned(format!("no realm '{name}' on this transport")),
            );
            return false;
        }
        let source = Source::of_link(&l.info);
        let methods = self.methods_of(&transport);
        if methods.is_empty() {
            host.links().metrics.auth_failed("none");
            host.links().abort(
                link,
                uris::NO_AUTH_METHOD,
                Cow::Borrowed("this transport accepts no authentication method"),
            );
            return false;
        }
        let Some(method) = methods.select(offered.as_deref(), &l.info, asked) else {
            let msg = format!(
                "none of the authentication methods offered ({}) is accepted here; this \
                 transport accepts: {}",
                offered.unwrap_or_default().join(", "),
                methods.names().join(", ")
            );
            host.links().metrics.auth_failed("none");
            host.links()
                .abort(link, uris::NO_AUTH_METHOD, Cow::Owned(msg));
            return false;
        };
        let id = host.new_session_id();
        self.last_ticket += 1;
        let ticket = Ticket(self.last_ticket);
        let now = self.clock.now();
        let throttled = source.is_some_and(|s| self.throttle.is_throttled(s, now));
        let step = if throttled {
            // The credentials are not even looked at.
            Step::failed(THROTTLED)
        } else {
            let l = host.links().get(link).expect("checked above");
            let req = HelloRequest {
                realm: asked,
                details: &hello.details,
                link: &l.info,
                session: id,
                unix_ms: self.clock.unix_ms(),
            };
            method.hello(&req, ticket)
        };
        let joining = Joining {
            realm,
            id,
            features: Features::from_hello(&hello.details),
            ticket: None,
            authid: hello
                .details
                .get("authid")
                .and_then(Value::as_str)
                .map(str::to_owned),
            method: method.method().to_owned(),
            source,
        };
        self.apply(host, link, joining, ticket, step)
    }

    /// AUTHENTICATE on a link. Returns whether the session was welcomed.
    pub fn authenticate(&mut self, host: &mut dyn Host, link: LinkId, auth: Authenticate) -> bool {
        let Some(l) = host.links().get_mut(link) else {
            return false;
        };
        match std::mem::replace(&mut l.phase, Phase::Connected) {
            Phase::Challenged(c) => {
                let (mut joining, next) = *c;
                if let Some(t) = joining.ticket.take() {
                    self.pending.remove(&t);
                }
                self.last_ticket += 1;
                let ticket = Ticket(self.last_ticket);
                // An address throttled since its CHALLENGE gets no guess either.
                let now = self.clock.now();
                let step = match joining.source {
                    Some(s) if self.throttle.is_throttled(s, now) => Step::failed(THROTTLED),
                    _ => next.authenticate(&auth, ticket),
                };
                self.apply(host, link, joining, ticket, step)
            }
            other => {
                let what = match other {
                    Phase::Authenticating(_) => "AUTHENTICATE before the router sent CHALLENGE",
                    Phase::Established(_) => "AUTHENTICATE on an established session",
                    _ => "AUTHENTICATE without a CHALLENGE",
                };
                l.phase = other;
                host.violation(link, Cow::Borrowed(what));
                false
            }
        }
    }

    /// A decision that was pending arrives. Returns the link welcomed, if any.
    pub fn resolve(&mut self, host: &mut dyn Host, ticket: Ticket, step: Step) -> Option<LinkId> {
        let link = self.pending.remove(&ticket)?;
        let l = host.links().get_mut(link)?;
        if l.closing() {
            return None;
        }
        let joining = match std::mem::replace(&mut l.phase, Phase::Connected) {
            Phase::Authenticating(j) if j.ticket == Some(ticket) => *j,
            other => {
                l.phase = other;
                return None;
            }
        };
        self.apply(host, link, joining, ticket, step)
            .then_some(link)
    }

    /// Sends the denials held back for throttled addresses that are due at `now`.
    pub fn poll_timers(&mut self, host: &mut dyn Host, now: Instant) {
        while let Some(entry) = self.delayed.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let ((_, ticket), (reason, message)) = entry.remove_entry();
            let Some(link) = self.pending.remove(&ticket) else {
                continue;
            };
            let waiting = host.links().get(link).is_some_and(|l| {
                !l.closing()
                    && matches!(&l.phase, Phase::Authenticating(j) if j.ticket == Some(ticket))
            });
            if waiting {
                if let Some(l) = host.links().get_mut(link) {
                    l.phase = Phase::Connected;
                }
                host.links().abort(link, &reason, Cow::Owned(message));
            }
        }
    }

    /// Carries out an authenticator's answer.
    fn apply(
        &mut self,
        host: &mut dyn Host,
        link: LinkId,
        mut joining: Joining,
        ticket: Ticket,
        step: Step,
    ) -> bool {
        match step {
            Step::Welcome(identity) => self.welcome(host, link, joining, identity),
            Step::Challenge {
                method,
                extra,
                next,
            } => {
                let challenge = Message::Challenge(Challenge {
                    auth_method: method,
                    extra,
                });
                host.links().send(link, &challenge);
                joining.ticket = None;
                if let Some(l) = host.links().get_mut(link) {
                    l.phase = Phase::Challenged(Box::new((joining, next)));
                }
                false
            }
            Step::Deny { reason, message } => {
                let counted = counts_as_failure(&reason);
                self.refuse(host, link, joining, ticket, reason, message, counted);
                false
            }
            Step::Unavailable { message } => {
                let reason = AUTHENTICATION_FAILED.to_owned();
                self.refuse(host, link, joining, ticket, reason, message, false);
                false
            }
            Step::Pending => {
                self.wait(host, link, joining, ticket);
                false
            }
            Step::Offload(run) => {
                self.jobs.push(AuthJob { ticket, run });
                self.wait(host, link, joining, ticket);
                false
            }
            Step::Call(call) => {
                self.calls.push((ticket, call));
                self.wait(host, link, joining, ticket);
                false
            }
        }
    }

    /// The link waits for the decision of `ticket`.
    fn wait(&mut self, host: &mut dyn Host, link: LinkId, mut joining: Joining, ticket: Ticket) {
        joining.ticket = Some(ticket);
        self.pending.insert(ticket, link);
        if let Some(l) = host.links().get_mut(link) {
            l.phase = Phase::Authenticating(Box::new(joining));
        }
    }

    /// A login is refused: logged (peer, authid, method, reason; never a
    /// credential), counted against its address when `counted`, and ABORTed
    /// — at once, or after the throttle delay when the address has used up
    /// its failed logins.
    #[allow(clippy::too_many_arguments)]
    fn refuse(
        &mut self,
        host: &mut dyn Host,
        link: LinkId,
        joining: Joining,
        ticket: Ticket,
        reason: String,
        message: String,
        counted: bool,
    ) {
        host.links().metrics.auth_failed(&joining.method);
        let now = self.clock.now();
        let failure = match joining.source {
            Some(s) if counted => self.throttle.failed(s, now),
            _ => Failure::Counted,
        };
        let throttled = matches!(failure, Failure::Throttled { .. });
        if let Some(l) = host.links().get(link) {
            let peer = &l.info.peer;
            let authid = joining.authid.as_deref().unwrap_or("");
            let method = &joining.method;
            match failure {
                Failure::Counted => tracing::info!(
                    %peer, %authid, authmethod = %method, %reason, %message,
                    "authentication failed"
                ),
                // Throttled: one line per episode, not one per attempt.
                Failure::Throttled { first: true } => tracing::warn!(
                    %peer, %authid, authmethod = %method, %reason, %message,
                    "authentication failed; too many failed logins from this address: \
                     its logins are refused and their ABORTs held back"
                ),
                Failure::Throttled { first: false } => tracing::debug!(
                    %peer, %authid, authmethod = %method, %reason, %message,
                    "authentication failed (address throttled)"
                ),
            }
        }
        let delay = self.throttle.delay();
        if throttled && !delay.is_zero() {
            self.wait(host, link, joining, ticket);
            self.delay(now + delay, ticket, reason, message);
        } else {
            host.links().abort(link, &reason, Cow::Owned(message));
        }
    }

    /// WELCOME: the session is established.
    fn welcome(
        &mut self,
        host: &mut dyn Host,
        link: LinkId,
        joining: Joining,
        identity: Identity,
    ) -> bool {
        let realm = match &identity.realm {
            None => match joining.realm {
                Ok(r) => r,
                Err(asked) => {
                    let msg = match asked {
                        Some(asked) => format!("no realm '{asked}' on this router"),
                        None => format!(
                            "HELLO named no realm, and the {} login assigned none: name \
                             a realm in HELLO, or give the principal (or the dynamic \
                             authenticator's answer) a 'realm'",
                            joining.method
                        ),
                    };
                    host.links()
                        .abort(link, uris::NO_SUCH_REALM, Cow::Owned(msg));
                    return false;
                }
            },
            Some(name) => match host.realm_index(name) {
                Some(r) => r,
                None => {
                    let msg = format!("the realm '{name}' assigned to this login does not exist");
                    host.links()
                        .abort(link, uris::NO_SUCH_REALM, Cow::Owned(msg));
                    return false;
                }
            },
        };
        // A transport that serves part of the router (`TransportConfig::routes`).
        let routes = host.links().get(link).and_then(|l| {
            l.info
                .transport
                .routes
                .is_some()
                .then(|| Rc::clone(&l.info.transport))
        });
        if let Some(t) = routes {
            let name = host.realm_name(realm);
            let refusal = if !t.serves_realm(name) {
                Some((
                    uris::NO_SUCH_REALM,
                    format!("the realm '{name}' is not served on this transport"),
                ))
            } else if !t.serves_role(name, &identity.authrole) {
                Some((
                    uris::NO_SUCH_ROLE,
                    format!(
                        "role '{}' is not routed to realm '{name}' on this transport",
                        identity.authrole
                    ),
                ))
            } else {
                None
            };
            if let Some((reason, msg)) = refusal {
                host.links().metrics.auth_failed(&joining.method);
                host.links().abort(link, reason, Cow::Owned(msg));
                return false;
            }
        }
        if !host.has_role(realm, &identity.authrole) {
            let msg = format!(
                "role '{}' does not exist on realm '{}'",
                identity.authrole,
                host.realm_name(realm)
            );
            host.links().metrics.auth_failed(&joining.method);
            host.links()
                .abort(link, uris::NO_SUCH_ROLE, Cow::Owned(msg));
            return false;
        }
        let Some(l) = host.links().get(link) else {
            return false;
        };
        tracing::debug!(
            peer = %l.info.peer,
            authid = identity.authid.as_deref().unwrap_or(""),
            authrole = %identity.authrole,
            authmethod = %identity.authmethod,
            "authenticated"
        );
        let transport_level = l.info.transport.auth.trustlevel;
        let cookie = l.info.cookie().cloned();
        let trustlevel = host
            .role_trustlevel(realm, &identity.authrole)
            .or(transport_level);
        let id = joining.id;
        // A session that got no authid gets one derived from its ID, not kept.
        let given = identity.authid.map(String::into_boxed_str);
        let authid = match &given {
            Some(a) => std::borrow::Cow::Borrowed(&**a),
            None => std::borrow::Cow::Owned(anonymous_authid(id)),
        };
        // A tracking cookie remembers this login (cookie authentication).
        if let Some(c) = &cookie {
            c.jar.remember(
                &c.id,
                CookieLogin {
                    realm: host.realm_name(realm).to_owned(),
                    authid: authid.clone().into_owned(),
                    authrole: identity.authrole.clone(),
                    authmethod: identity.authmethod.clone(),
                },
            );
        }
        let mut details = Dict::new()
            .with("realm", host.realm_name(realm))
            .with("authid", &*authid)
            .with("authrole", identity.authrole.as_str())
            .with("authmethod", identity.authmethod.as_str())
            .with("authprovider", identity.authprovider.as_str());
        if let Some(extra) = &identity.authextra {
            details.insert("authextra", extra.clone());
        }
        let details = details
            .with("agent", crate::core::AGENT)
            .with("roles", router_roles())
            .with("x_junction_shard", u64::from(host.shard_index()));
        let auth = host.links().auth(
            &identity.authrole,
            &identity.authmethod,
            &identity.authprovider,
            trustlevel,
        );
        host.links().establish(
            link,
            Session::new(
                id,
                realm,
                auth,
                given,
                identity.authextra,
                joining.features,
                false,
            ),
        );
        host.links().send(
            link,
            &Message::Welcome(Welcome {
                session: id,
                details,
            }),
        );
        true
    }
}

/// WELCOME `roles`: what this router announces. Features are listed exactly when they work.
fn router_roles() -> Dict {
    let broker = Dict::new().with(
        "features",
        Dict::new()
            .with("pattern_based_subscription", true)
            .with("publisher_exclusion", true)
            .with("publisher_identification", true)
            .with("subscriber_blackwhite_listing", true)
            .with("publication_trustlevels", true)
            .with("event_history", true)
            .with("event_retention", true)
            .with("subscription_meta_api", true)
            .with("session_meta_api", true)
            // Sharded subscriptions: the spec's announcement key is misspelled
            // ("shareded_subscriptions"); clients written against the spec
            // look for that one, others for the regular spelling: send both.
            .with("shareded_subscriptions", true)
            .with("sharded_subscription", true)
            // The spec's mode (proto/passthru.rs). Autobahn's transparent
            // payloads are routed too, but not announced (Crossbar.io says
            // `payload_transparency`; no client looks for it, and WELCOME
            // stays under 1 KiB for RawSocket peers with a small maximum).
            .with("payload_passthru_mode", true),
    );
    let dealer = Dict::new().with(
        "features",
        Dict::new()
            .with("pattern_based_registration", true)
            .with("caller_identification", true)
            .with("progressive_call_results", true)
            .with("progressive_call_invocations", true)
            .with("call_canceling", true)
            .with("call_timeout", true)
            .with("call_trustlevels", true)
            .with("shared_registration", true)
            .with("sharded_registration", true)
            .with("registration_revocation", true)
            .with("registration_meta_api", true)
            .with("session_meta_api", true)
            .with("testament_meta_api", true)
            .with("payload_passthru_mode", true),
    );
    Dict::new().with("broker", broker).with("dealer", dealer)
}
