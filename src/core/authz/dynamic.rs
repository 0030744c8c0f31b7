//! Dynamic authorization: a role with `"authorizer": URI` has every
//! request of its sessions decided by that procedure, which the router calls
//! from its own session on the realm (Crossbar's `RouterRoleDynamicAuth`)
//! with `(details, uri, action, options)`: the asking session's details
//! (`session`, `authid`, `authrole`, `authmethod`, `authprovider`,
//! `authextra`, `transport`), the URI, the action (`publish`, `subscribe`,
//! `call`, `register`) and the request's options. An authorizer written
//! for three arguments, `(details, uri, action)`, refuses the fourth with
//! Python's TypeError; the router then asks it again with three
//! (`core/internal.rs`, `LegacyAuthz`), as Crossbar means to.
//!
//! The answer is a bool (allow or not), or a dict `{allow, disclose, cache}`
//! (`allow` required, all bools; Crossbar's `validate` is accepted and
//! ignored). `disclose` discloses the caller of a CALL and the publisher of
//! a PUBLISH; `cache` keeps the answer for the rest of the session's life
//! (Crossbar caches it per realm, role, URI and action across sessions;
//! Junction per session). An error, a missing authorizer, an answer of
//! another shape, or no answer within `junction.auth.authenticator_timeout`
//! denies, and the log says why.

use super::{Action, Answer, Authorizer, AuthzCall, AuthzTicket, Grant, Request};
use crate::config::Disclose;
use crate::core::session::authn::CallOutcome;
use crate::proto::Value;

/// The authorizer of one (realm, role).
#[derive(Debug, Clone)]
pub struct DynamicAuthorizer {
    /// The procedure.
    procedure: String,
    /// Milliseconds the router waits for an answer.
    timeout_ms: u64,
}

impl DynamicAuthorizer {
    /// An authorizer calling `procedure`, waiting at most `timeout_ms`.
    pub fn new(procedure: impl Into<String>, timeout_ms: u64) -> DynamicAuthorizer {
        DynamicAuthorizer {
            procedure: procedure.into(),
            timeout_ms,
        }
    }
}

impl Authorizer for DynamicAuthorizer {
    fn authorize(&self, req: &Request<'_>, _ticket: AuthzTicket) -> Answer {
        let procedure = self.procedure.clone();
        let (action, uri, authid) = (req.action, req.uri.to_owned(), req.authid().into_owned());
        Answer::Call(AuthzCall {
            procedure: self.procedure.clone(),
            uri: req.uri.to_owned(),
            action: req.action,
            options: req.options.clone(),
            timeout_ms: self.timeout_ms,
            then: Box::new(move |outcome| match grant(outcome, action) {
                Ok(g) => g,
                Err(why) => {
                    tracing::warn!(
                        authorizer = %procedure,
                        %authid,
                        action = action.as_str(),
                        %uri,
                        %why,
                        "dynamic authorizer failed: denied"
                    );
                    (Grant::DENY, false)
                }
            }),
        })
    }
}

/// Reads an authorizer's answer: (grant, cache), or why it is unusable.
fn grant(outcome: CallOutcome, action: Action) -> Result<(Grant, bool), String> {
    let payload = outcome.map_err(|e| match e.payload.args.as_ref().and_then(|a| a.first()) {
        Some(Value::Str(m)) => format!("{}: {m}", e.error),
        _ => e.error,
    })?;
    let flag = |d: &crate::proto::Dict, key: &str| -> Result<Option<bool>, String> {
        match d.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(format!("'{key}' is not a bool")),
        }
    };
    let (allow, disclose, cache) = match payload.args.as_ref().and_then(|a| a.first()) {
        Some(Value::Bool(b)) => (*b, false, false),
        Some(Value::Dict(d)) => {
            if let Some((k, _)) = d
                .iter()
                .find(|(k, _)| !matches!(*k, "allow" | "disclose" | "cache" | "validate"))
            {
                return Err(format!("unknown key '{k}' in the answer"));
            }
            let allow = flag(d, "allow")?.ok_or("the answer has no 'allow'")?;
            (
                allow,
                flag(d, "disclose")?.unwrap_or(false),
                flag(d, "cache")?.unwrap_or(false),
            )
        }
        _ => return Err("the answer is neither a bool nor a dict".into()),
    };
    if !allow {
        return Ok((Grant::DENY, cache));
    }
    let disclose = Disclose {
        caller: disclose && action == Action::Call,
        publisher: disclose && action == Action::Publish,
    };
    Ok((
        Grant {
            allowed: true,
            disclose,
        },
        cache,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::session::authn::CallError;
    use crate::proto::{Dict, Payload};

    fn answer(v: Value) -> CallOutcome {
        Ok(Payload::args(vec![v]))
    }

    #[test]
    fn bools_and_dicts_decide() {
        assert_eq!(
            grant(answer(true.into()), Action::Subscribe),
            Ok((Grant::ALLOW, false))
        );
        assert_eq!(
            grant(answer(false.into()), Action::Call),
            Ok((Grant::DENY, false))
        );
        let d = Dict::new()
            .with("allow", true)
            .with("disclose", true)
            .with("cache", true);
        let (g, cache) = grant(answer(Value::Dict(d.clone())), Action::Call).expect("ok");
        assert!(g.allowed && g.disclose.caller && !g.disclose.publisher && cache);
        let (g, _) = grant(answer(Value::Dict(d.clone())), Action::Publish).expect("ok");
        assert!(g.disclose.publisher && !g.disclose.caller);
        let (g, _) = grant(answer(Value::Dict(d)), Action::Register).expect("ok");
        assert_eq!(g, Grant::ALLOW, "nothing to disclose for register");
        let denied = Dict::new().with("allow", false).with("cache", true);
        assert_eq!(
            grant(answer(Value::Dict(denied)), Action::Call),
            Ok((Grant::DENY, true))
        );
    }

    #[test]
    fn anything_else_is_an_error() {
        for bad in [
            Value::from("yes"),
            Value::Dict(Dict::new()),
            Value::Dict(Dict::new().with("allow", 1u64)),
            Value::Dict(Dict::new().with("allow", true).with("permit", true)),
        ] {
            assert!(grant(answer(bad.clone()), Action::Call).is_err(), "{bad:?}");
        }
        assert!(grant(Ok(Payload::empty()), Action::Call).is_err());
        let e = grant(
            Err(CallError {
                error: "wamp.error.timeout".into(),
                payload: Payload::empty(),
            }),
            Action::Call,
        );
        assert_eq!(e, Err("wamp.error.timeout".into()));
    }
}
