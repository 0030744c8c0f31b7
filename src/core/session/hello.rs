//! The session state machine's transitions: HELLO, CHALLENGE/AUTHENTICATE
//! and WELCOME (see the module header of `session`). GOODBYE and ABORT need
//! the other parts of the core (a session's subscriptions and registrations
//! end with it), so the router handles them and calls back here.

use std::borrow::Cow;

use super::authn::{AuthJob, HelloRequest, Identity, Step, Ticket};
use super::{Features, Host, IdMap, Joining, Phase, Session, Sessions};
use crate::core::api::LinkId;
use crate::core::metrics::Metrics;
use crate::core::uris;
use crate::proto::{Authenticate, Challenge, Dict, Hello, Message, Value, Welcome};

/// Longest `HELLO.Details.authid` accepted.
pub const MAX_AUTHID_LEN: usize = 1024;
/// Most entries of `HELLO.Details.authmethods` looked at.
pub const MAX_AUTHMETHODS: usize = 16;

impl Sessions {
    /// HELLO on a link waiting for one. Returns whether the session was
    /// welcomed right away (the router then announces it).
    pub fn hello(&mut self, host: &mut dyn Host, link: LinkId, hello: Hello) -> bool {
        let Some(realm) = host.realm_index(&hello.realm) else {
            host.links().abort(
                link,
                uris::NO_SUCH_REALM,
                Cow::Owned(format!("no realm '{}' on this router", hello.realm)),
            );
            return false;
        };
        if let Some(id) = hello.details.get("authid")
            && id.as_str().is_none_or(|s| s.len() > MAX_AUTHID_LEN)
        {
            host.links().abort(
                link,
                uris::INVALID_ARGUMENT,
                Cow::Owned(format!(
                    "HELLO.Details.authid must be a string of at most {MAX_AUTHID_LEN} bytes"
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
        let transport = std::rc::Rc::clone(&l.info.transport);
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
        let Some(method) = methods.select(offered.as_deref()) else {
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
        let method_label = Metrics::auth_method_label(method.method());
        let id = host.new_session_id();
        self.last_ticket += 1;
        let ticket = Ticket(self.last_ticket);
        let step = {
            let l = host.links().get(link).expect("checked above");
            let req = HelloRequest {
                realm: &hello.realm,
                details: &hello.details,
                link: &l.info,
                session: id,
            };
            method.hello(&req, ticket)
        };
        let joining = Joining {
            realm,
            id,
            features: Features::from_hello(&hello.details),
            ticket: None,
            method: method_label,
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
                let step = next.authenticate(&auth, ticket);
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
        if l.closing {
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
                host.links().metrics.auth_failed(joining.method);
                if let Some(l) = host.links().get(link) {
                    tracing::info!(
                        peer = %l.info.peer,
                        %reason,
                        %message,
                        "authentication failed"
                    );
                }
                host.links().abort(link, &reason, Cow::Owned(message));
                false
            }
            Step::Pending => {
                joining.ticket = Some(ticket);
                self.pending.insert(ticket, link);
                if let Some(l) = host.links().get_mut(link) {
                    l.phase = Phase::Authenticating(Box::new(joining));
                }
                false
            }
            Step::Offload(run) => {
                joining.ticket = Some(ticket);
                self.pending.insert(ticket, link);
                self.jobs.push(AuthJob { ticket, run });
                if let Some(l) = host.links().get_mut(link) {
                    l.phase = Phase::Authenticating(Box::new(joining));
                }
                false
            }
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
        let realm = joining.realm;
        if !host.has_role(realm, &identity.authrole) {
            let msg = format!(
                "role '{}' does not exist on realm '{}'",
                identity.authrole,
                host.realm_name(realm)
            );
            host.links().metrics.auth_failed(joining.method);
            host.links()
                .abort(link, uris::NO_SUCH_ROLE, Cow::Owned(msg));
            return false;
        }
        let Some(l) = host.links().get(link) else {
            return false;
        };
        let transport_level = l.info.transport.auth.trustlevel;
        let trustlevel = host
            .role_trustlevel(realm, &identity.authrole)
            .or(transport_level);
        let authid = match identity.authid {
            Some(a) => a,
            None => host.random_authid(),
        };
        let mut details = Dict::new()
            .with("realm", host.realm_name(realm))
            .with("authid", authid.as_str())
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
        let id = joining.id;
        host.links().establish(
            link,
            Session {
                id,
                realm,
                authid,
                authrole: identity.authrole,
                authmethod: identity.authmethod,
                authprovider: identity.authprovider,
                authextra: identity.authextra.map(Box::new),
                subscriptions: IdMap::default(),
                registrations: IdMap::default(),
                features: joining.features,
                trustlevel,
                parked: None,
                trusted: false,
            },
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
            .with("sharded_subscription", true),
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
            .with("testament_meta_api", true),
    );
    Dict::new().with("broker", broker).with("dealer", dealer)
}
