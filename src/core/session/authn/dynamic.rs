//! Dynamic authenticators (`"type": "dynamic"`): a WAMP procedure that some
//! component registered decides each login.
//!
//! The router calls `authenticator` on `authenticator-realm` (default: the
//! realm the client asked for) from its own session on that realm (see
//! `core/internal.rs`), with the arguments Crossbar.io uses:
//! `(realm, authid, details)`, where `details` holds the pending `session`
//! ID, `authmethod`, `authid`, `authrole` and `authextra` from HELLO, the
//! link's `transport` details, and, for `ticket`, the `ticket` the client
//! sent. The call goes through the dealer like any other, so the
//! authenticator may live on any shard, and it carries the CALL timeout of
//! `junction.auth.authenticator_timeout`: a slow authenticator fails the
//! login with a clear reason, and meanwhile the shard serves everyone else.
//!
//! The answer is a role (a string) or a dict with `role`, `authid`,
//! `realm`, `extra` and the method's credential (`secret`, `salt`,
//! `iterations`, `keylen` for wampcra; `kdf`, `iterations`, `memory`,
//! `salt`, `stored-key`, `server-key` for scram; `pubkey` for cryptosign).
//! `default-role` applies when it names no role. An ERROR from the
//! authenticator denies the login with that error's URI and first argument,
//! as in Crossbar. No registered authenticator, a timeout, an authenticator
//! that leaves, and an answer of the wrong shape fail the login
//! ([`Step::Unavailable`]: not counted against the client's address).

use super::{AuthCall, CallOutcome, HelloRequest, Step, transport_details};
use crate::config::auth::{AuthSettings, DynamicAuth};
use crate::core::uris;
use crate::proto::{Dict, Payload, Value};

/// A configured dynamic authenticator.
#[derive(Debug, Clone)]
pub struct Dynamic {
    /// `authenticator`: the procedure.
    procedure: String,
    /// `authenticator-realm`; `None`: the client's realm.
    realm: Option<String>,
    /// `default-role`.
    default_role: Option<String>,
    /// The CALL timeout, milliseconds.
    timeout_ms: u64,
}

/// What the authenticator answered about one login.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    /// The role (the answer's, else `default-role`).
    pub role: String,
    /// The answer's `authid`, else the one from HELLO.
    pub authid: Option<String>,
    /// The answer's `realm`: the session joins it instead.
    pub realm: Option<String>,
    /// The answer's `extra`: WELCOME's authextra.
    pub extra: Option<Dict>,
    /// The whole answer (method-specific credential keys).
    pub answer: Dict,
}

impl Principal {
    /// A string member of the answer.
    pub fn str(&self, key: &str) -> Option<&str> {
        self.answer.get(key).and_then(Value::as_str)
    }

    /// An unsigned integer member of the answer.
    pub fn uint(&self, key: &str) -> Option<u64> {
        self.answer.get(key).and_then(Value::as_u64)
    }
}

impl Dynamic {
    /// The authenticator of a method's `dynamic` config.
    pub fn from_config(d: &DynamicAuth, settings: &AuthSettings) -> Dynamic {
        Dynamic {
            procedure: d.authenticator.clone(),
            realm: d.realm.clone(),
            default_role: d.default_role.clone(),
            timeout_ms: settings.authenticator_timeout_ms,
        }
    }

    /// The `details` argument for a login by `authmethod` (Crossbar's keys).
    pub fn details(req: &HelloRequest<'_>, authmethod: &str) -> Dict {
        let opt = |v: Option<&str>| v.map_or(Value::Null, Value::from);
        Dict::new()
            .with("session", req.session.0)
            .with("authmethod", authmethod)
            .with("authid", opt(req.authid()))
            .with("authrole", opt(req.authrole()))
            .with(
                "authextra",
                req.authextra()
                    .map_or(Value::Null, |d| Value::Dict(d.clone())),
            )
            .with("transport", transport_details(req.link))
    }

    /// Asks the authenticator about a login of `authid` on `realm` (`None`:
    /// HELLO named none; the authenticator gets `null`, as from Crossbar,
    /// and is expected to assign one); `then` decides once it has answered
    /// with a principal (failures are handled here, see the module header).
    pub fn ask(
        &self,
        realm: Option<&str>,
        authid: Option<&str>,
        details: Dict,
        then: impl FnOnce(Principal) -> Step + Send + 'static,
    ) -> Step {
        // Without `authenticator-realm`, the authenticator lives on the
        // client's realm: a client that named none cannot be asked about.
        let Some(on) = self.realm.as_deref().or(realm) else {
            return Step::deny(
                uris::NO_SUCH_REALM,
                format!(
                    "HELLO named no realm, and the dynamic authenticator '{}' has no \
                     'authenticator-realm' to be called on: name a realm in HELLO",
                    self.procedure
                ),
            );
        };
        let hello_authid = authid.map(str::to_owned);
        let me = self.clone();
        let payload = Payload::args(vec![
            realm.map_or(Value::Null, Value::from),
            authid.map_or(Value::Null, Value::from),
            Value::Dict(details),
        ]);
        Step::Call(AuthCall {
            realm: on.to_owned(),
            procedure: self.procedure.clone(),
            payload,
            timeout_ms: self.timeout_ms,
            then: Box::new(move |outcome| match me.principal(outcome, hello_authid) {
                Ok(p) => then(p),
                Err(step) => *step,
            }),
        })
    }

    /// Reads the authenticator's answer.
    fn principal(
        &self,
        outcome: CallOutcome,
        hello_authid: Option<String>,
    ) -> Result<Principal, Box<Step>> {
        let procedure = &self.procedure;
        let payload = match outcome {
            Ok(p) => p,
            Err(e) => {
                let unavailable = |message: String| Step::Unavailable { message };
                return Err(Box::new(match e.error.as_str() {
                    uris::NO_SUCH_PROCEDURE => unavailable(format!(
                        "no dynamic authenticator is registered at '{procedure}'"
                    )),
                    uris::TIMEOUT => unavailable(format!(
                        "the dynamic authenticator '{procedure}' did not answer within {} ms",
                        self.timeout_ms
                    )),
                    uris::CANCELED => unavailable(format!(
                        "the dynamic authenticator '{procedure}' went away before answering"
                    )),
                    _ => {
                        let message = match e.payload.args.as_ref().and_then(|a| a.first()) {
                            Some(Value::Str(s)) => s.clone(),
                            _ => format!("denied by the dynamic authenticator '{procedure}'"),
                        };
                        Step::Deny {
                            reason: e.error,
                            message,
                        }
                    }
                }));
            }
        };
        let nonsense = |what: &str| {
            Box::new(Step::Unavailable {
                message: format!("the dynamic authenticator '{procedure}' answered {what}"),
            })
        };
        let answer = match payload.args.as_ref().and_then(|a| a.first()) {
            Some(Value::Str(role)) => Dict::new().with("role", role.as_str()),
            Some(Value::Dict(d)) => d.clone(),
            _ => return Err(nonsense("neither a role nor a dict")),
        };
        let text = |key: &str| -> Result<Option<String>, Box<Step>> {
            match answer.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Str(s)) if !s.is_empty() => Ok(Some(s.clone())),
                Some(_) => Err(nonsense(&format!(
                    "a '{key}' that is not a non-empty string"
                ))),
            }
        };
        let role = text("role")?.or_else(|| self.default_role.clone());
        let authid = text("authid")?.or(hello_authid);
        let realm = text("realm")?;
        let extra = match answer.get("extra") {
            None | Some(Value::Null) => None,
            Some(Value::Dict(d)) => Some(d.clone()),
            Some(_) => return Err(nonsense("an 'extra' that is not a dict")),
        };
        let Some(role) = role else {
            return Err(Box::new(Step::deny(
                uris::NO_SUCH_ROLE,
                format!("the dynamic authenticator '{procedure}' assigned no role"),
            )));
        };
        Ok(Principal {
            role,
            authid,
            realm,
            extra,
            answer,
        })
    }
}

/// The identity a dynamic principal logs in as: its authid (required) and
/// role, `method`, provider `dynamic`, its `extra` and `realm`.
pub(super) fn identity(p: Principal, method: &str) -> Result<super::Identity, Box<Step>> {
    let Some(authid) = p.authid else {
        return Err(Box::new(Step::deny(
            super::NO_SUCH_PRINCIPAL,
            "the dynamic authenticator assigned no authid",
        )));
    };
    Ok(super::Identity {
        authid: Some(authid),
        authrole: p.role,
        authmethod: method.to_owned(),
        authprovider: "dynamic".to_owned(),
        authextra: p.extra,
        realm: p.realm,
    })
}

#[cfg(test)]
mod tests {
    use super::super::CallError;
    use super::*;

    fn dynamic(default_role: Option<&str>) -> Dynamic {
        Dynamic::from_config(
            &DynamicAuth {
                authenticator: "com.auth".into(),
                realm: Some("auth".into()),
                role: None,
                default_role: default_role.map(str::to_owned),
            },
            &AuthSettings {
                authenticator_timeout_ms: 250,
                ..AuthSettings::default()
            },
        )
    }

    fn ok(v: Value) -> CallOutcome {
        Ok(Payload::args(vec![v]))
    }

    fn err(uri: &str, arg: Option<&str>) -> CallOutcome {
        Err(CallError {
            error: uri.into(),
            payload: match arg {
                Some(a) => Payload::args(vec![a.into()]),
                None => Payload::empty(),
            },
        })
    }

    fn message(step: impl Into<Box<Step>>) -> (String, String) {
        match *step.into() {
            Step::Deny { reason, message } => (reason, message),
            Step::Unavailable { message } => ("unavailable".into(), message),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_role_or_a_dict_becomes_a_principal() {
        let d = dynamic(Some("guest"));
        let p = d
            .principal(ok("user".into()), Some("joe".into()))
            .expect("a role");
        assert_eq!(
            (p.role.as_str(), p.authid.as_deref()),
            ("user", Some("joe"))
        );
        let answer = Dict::new()
            .with("authid", "joe2")
            .with("realm", "realm2")
            .with("extra", Dict::new().with("k", 1u64))
            .with("secret", "s3");
        let p = d
            .principal(ok(Value::Dict(answer)), Some("joe".into()))
            .expect("a dict");
        assert_eq!(p.role, "guest", "default-role fills in");
        assert_eq!(
            p.authid.as_deref(),
            Some("joe2"),
            "the answer's authid wins"
        );
        assert_eq!(p.realm.as_deref(), Some("realm2"));
        assert_eq!(p.extra, Some(Dict::new().with("k", 1u64)));
        assert_eq!(p.str("secret"), Some("s3"));
        let no_role = dynamic(None).principal(ok(Value::Dict(Dict::new())), None);
        assert_eq!(message(no_role.expect_err("no role")).0, uris::NO_SUCH_ROLE);
    }

    #[test]
    fn failures_say_what_went_wrong() {
        let d = dynamic(None);
        let (r, m) = message(
            d.principal(err(uris::NO_SUCH_PROCEDURE, None), None)
                .expect_err("missing"),
        );
        assert_eq!(r, "unavailable");
        assert!(
            m.contains("no dynamic authenticator is registered at 'com.auth'"),
            "{m}"
        );
        let (_, m) = message(
            d.principal(err(uris::TIMEOUT, None), None)
                .expect_err("slow"),
        );
        assert!(m.contains("did not answer within 250 ms"), "{m}");
        let (_, m) = message(
            d.principal(err(uris::CANCELED, None), None)
                .expect_err("gone"),
        );
        assert!(m.contains("went away"), "{m}");
        // The authenticator's own error denies with its URI and message.
        let (r, m) = message(
            d.principal(err("com.app.no_such_user", Some("who?")), None)
                .expect_err("denied"),
        );
        assert_eq!((r.as_str(), m.as_str()), ("com.app.no_such_user", "who?"));
        // Nonsense answers.
        for bad in [
            Value::from(3u64),
            Value::Dict(Dict::new().with("role", 3u64)),
            Value::Dict(Dict::new().with("role", "r").with("extra", "x")),
        ] {
            let (r, _) = message(d.principal(ok(bad), None).expect_err("nonsense"));
            assert_eq!(r, "unavailable");
        }
        let (r, _) = message(d.principal(Ok(Payload::empty()), None).expect_err("empty"));
        assert_eq!(r, "unavailable");
    }

    #[test]
    fn ask_calls_with_realm_authid_and_details_on_the_authenticator_realm() {
        let d = dynamic(None);
        let step = d.ask(
            Some("realm1"),
            Some("joe"),
            Dict::new().with("x", 1u64),
            |p| Step::failed(p.role),
        );
        let Step::Call(call) = step else {
            panic!("expected a call");
        };
        assert_eq!(call.realm, "auth");
        assert_eq!(call.procedure, "com.auth");
        assert_eq!(call.timeout_ms, 250);
        assert_eq!(
            call.payload.args,
            Some(vec![
                "realm1".into(),
                "joe".into(),
                Value::Dict(Dict::new().with("x", 1u64))
            ])
        );
        let (_, m) = message((call.then)(ok("r7".into())));
        assert_eq!(m, "r7", "then gets the principal");
    }

    #[test]
    fn a_null_realm_is_passed_as_null_and_needs_an_authenticator_realm() {
        // With `authenticator-realm`: called there, with realm `null`.
        let step = dynamic(None).ask(None, Some("joe"), Dict::new(), |p| Step::failed(p.role));
        let Step::Call(call) = step else {
            panic!("expected a call");
        };
        assert_eq!(call.realm, "auth");
        assert_eq!(
            call.payload.args,
            Some(vec![Value::Null, "joe".into(), Value::Dict(Dict::new())])
        );
        // Without one there is no realm to call it on.
        let mut d = dynamic(None);
        d.realm = None;
        let step = d.ask(None, Some("joe"), Dict::new(), |p| Step::failed(p.role));
        let Step::Deny { reason, message } = step else {
            panic!("expected a denial, got {step:?}");
        };
        assert_eq!(reason, uris::NO_SUCH_REALM);
        assert!(
            message.contains("'com.auth' has no 'authenticator-realm'"),
            "{message}"
        );
    }
}
