//! Dynamic authenticators and authorizers in the running core: a fake
//! component (a wire peer on another shard) registers the procedures, and
//! the router calls them from its own session, through the dealer.

use std::time::Duration;

use super::auth::*;
use super::*;
use crate::config::RoleAuthorizer;
use crate::config::auth::{
    AnonymousAuth, AuthConfig, CryptosignAuth, DynamicAuth, ScramAuth, TicketAuth, WampCraAuth,
};

pub(super) fn dynamic(procedure: &str) -> DynamicAuth {
    DynamicAuth {
        authenticator: procedure.into(),
        realm: None,
        role: None,
        default_role: None,
    }
}

/// Every method dynamic, each with its own procedure.
fn dynamic_config() -> AuthConfig {
    AuthConfig {
        anonymous: Some(AnonymousAuth::Dynamic(dynamic("com.auth.anonymous"))),
        ticket: Some(TicketAuth::Dynamic(dynamic("com.auth.ticket"))),
        wampcra: Some(WampCraAuth::Dynamic(dynamic("com.auth.wampcra"))),
        scram: Some(ScramAuth::Dynamic(dynamic("com.auth.scram"))),
        cryptosign: Some(CryptosignAuth::Dynamic(dynamic("com.auth.cryptosign"))),
        ..AuthConfig::none()
    }
}

/// A component on `shard`, joined anonymously (before the test transport
/// changes), that registered `procedures`.
pub(super) fn component(c: &mut Cluster, shard: usize, procedures: &[&str]) -> Peer {
    let (p, _) = c.join(shard, Serializer::Json, "realm1");
    for (i, proc) in procedures.iter().enumerate() {
        c.send(
            &p,
            Message::Register(Register {
                request: RequestId(100 + i as u64),
                options: Dict::new(),
                procedure: (*proc).into(),
            }),
        );
        c.pump();
        assert!(matches!(c.recv(&p).as_slice(), [Message::Registered(_)]));
    }
    p
}

/// The one INVOCATION the component got.
pub(super) fn invocation(c: &mut Cluster, comp: &Peer) -> Invocation {
    match c.recv(comp).as_slice() {
        [Message::Invocation(i)] => i.clone(),
        other => panic!("expected INVOCATION, got {other:?}"),
    }
}

pub(super) fn answer(c: &mut Cluster, comp: &Peer, inv: &Invocation, v: Value) {
    c.send(
        comp,
        Message::Yield(Yield {
            request: inv.request,
            options: Dict::new(),
            payload: Payload::args(vec![v]),
        }),
    );
    c.pump();
}

fn fail(c: &mut Cluster, comp: &Peer, inv: &Invocation, uri: &str, message: &str) {
    c.send(
        comp,
        Message::Error(Error {
            request_type: crate::proto::message::code::INVOCATION,
            request: inv.request,
            details: Dict::new(),
            error: uri.into(),
            payload: Payload::args(vec![message.into()]),
        }),
    );
    c.pump();
}

fn arg_dict(inv: &Invocation, i: usize) -> Dict {
    inv.payload
        .args
        .as_ref()
        .and_then(|a| a.get(i))
        .and_then(Value::as_dict)
        .cloned()
        .expect("a dict argument")
}

#[test]
fn a_dynamic_ticket_authenticator_on_another_shard_decides() {
    let mut c = Cluster::with_config(2, config());
    let comp = component(&mut c, 1, &["com.auth.ticket"]);
    set_auth(&mut c, dynamic_config());
    let (p, got) = hello(&mut c, 0, "realm1", details(&["ticket"], Some("joe")));
    assert_eq!(
        challenge(&got).auth_method,
        "ticket",
        "at once, as Crossbar"
    );
    assert!(c.recv(&comp).is_empty(), "not asked before the ticket");
    let got = authenticate(&mut c, &p, "tick-1", Dict::new());
    assert!(got.is_empty());
    let inv = invocation(&mut c, &comp);
    let a = inv.payload.args.clone().expect("args");
    assert_eq!(
        (a[0].as_str(), a[1].as_str()),
        (Some("realm1"), Some("joe"))
    );
    let d = arg_dict(&inv, 2);
    assert_eq!(s(&d, "ticket"), "tick-1");
    assert_eq!(s(&d, "authmethod"), "ticket");
    assert!(d.get("session").and_then(Value::as_u64).is_some());
    let t = d
        .get("transport")
        .and_then(Value::as_dict)
        .expect("transport");
    assert_eq!((s(t, "type"), s(t, "peer")), ("rawsocket", "test"));
    answer(
        &mut c,
        &comp,
        &inv,
        Value::Dict(
            Dict::new()
                .with("role", "user")
                .with("authid", "joe@example")
                .with("extra", Dict::new().with("tier", "gold")),
        ),
    );
    let w = welcome(&c.recv(&p)).clone();
    assert_eq!(
        identity(&w),
        ids("joe@example", "user", "ticket", "dynamic")
    );
    let extra = w
        .get("authextra")
        .and_then(Value::as_dict)
        .expect("authextra");
    assert_eq!(s(extra, "tier"), "gold");
    // The authenticator's error denies with its URI and message.
    let (p, _) = hello(&mut c, 0, "realm1", details(&["ticket"], Some("eve")));
    authenticate(&mut c, &p, "bad", Dict::new());
    let inv = invocation(&mut c, &comp);
    fail(
        &mut c,
        &comp,
        &inv,
        "com.app.invalid_ticket",
        "no such ticket",
    );
    assert_eq!(
        abort(&c.recv(&p)),
        ("com.app.invalid_ticket".into(), "no such ticket".into())
    );
    // A plain role string is an answer too; a role the realm lacks is refused.
    let (p, _) = hello(&mut c, 0, "realm1", details(&["ticket"], Some("ann")));
    authenticate(&mut c, &p, "t", Dict::new());
    let inv = invocation(&mut c, &comp);
    answer(&mut c, &comp, &inv, "nosuchrole".into());
    assert_eq!(abort(&c.recv(&p)).0, uris::NO_SUCH_ROLE);
    assert_eq!(c.routers[0].pending_decision_count(), 0);
    assert_eq!(c.routers[0].router_calls_waiting(), 0);
}

#[test]
fn a_missing_or_slow_authenticator_fails_the_login_and_blocks_nobody() {
    let mut cfg = config();
    cfg.limits.auth.authenticator_timeout_ms = 1_500;
    let mut c = Cluster::with_config(2, cfg);
    let clock = manual_clock(&mut c);
    let comp = component(&mut c, 1, &["com.auth.anonymous"]);
    let (other, _) = c.join(0, Serializer::Json, "realm1");
    set_auth(&mut c, dynamic_config());
    // Nobody registered the ticket authenticator.
    let (p, _) = hello(&mut c, 0, "realm1", details(&["ticket"], Some("joe")));
    let (reason, message) = abort(&authenticate(&mut c, &p, "t", Dict::new()));
    assert_eq!(reason, uris::AUTHENTICATION_FAILED);
    assert!(
        message.contains("no dynamic authenticator is registered at 'com.auth.ticket'"),
        "{message}"
    );
    // The anonymous authenticator never answers.
    let (p, got) = hello(&mut c, 0, "realm1", details(&["anonymous"], None));
    assert!(got.is_empty());
    let slow = invocation(&mut c, &comp);
    // Meanwhile the shard serves everyone else.
    c.send(
        &other,
        Message::Publish(Publish {
            request: RequestId(7),
            options: Dict::new().with("acknowledge", true),
            topic: "com.still.routing".into(),
            payload: Payload::empty(),
        }),
    );
    c.pump();
    assert!(matches!(c.recv(&other).as_slice(), [Message::Published(_)]));
    let now = clock.advance(Duration::from_millis(1_499));
    c.routers[0].poll_timers(now);
    c.pump();
    assert!(c.recv(&p).is_empty(), "not yet");
    let now = clock.advance(Duration::from_millis(2));
    c.routers[0].poll_timers(now);
    c.pump();
    let (reason, message) = abort(&c.recv(&p));
    assert_eq!(reason, uris::AUTHENTICATION_FAILED);
    assert!(
        message.contains("'com.auth.anonymous' did not answer within 1500 ms"),
        "{message}"
    );
    // A late answer is dropped.
    answer(&mut c, &comp, &slow, "user".into());
    assert!(c.recv(&p).is_empty());
    assert_eq!(c.routers[0].pending_decision_count(), 0);
    assert_eq!(c.routers[0].router_calls_waiting(), 0);
}

#[test]
fn dynamic_anonymous_can_send_the_session_to_another_realm() {
    let mut c = Cluster::with_config(2, config());
    let comp = component(&mut c, 1, &["com.auth.anonymous"]);
    set_auth(&mut c, dynamic_config());
    let (p, _) = hello(
        &mut c,
        0,
        "realm1",
        details(&["anonymous"], Some("claimed")),
    );
    let inv = invocation(&mut c, &comp);
    let a = inv.payload.args.clone().expect("args");
    assert_eq!(a[1], Value::Null, "a client's own authid is no credential");
    assert_eq!(s(&arg_dict(&inv, 2), "authid"), "claimed", "but it is told");
    answer(
        &mut c,
        &comp,
        &inv,
        Value::Dict(Dict::new().with("role", "user").with("realm", "realm2")),
    );
    let w = welcome(&c.recv(&p)).clone();
    assert_eq!(s(&w, "realm"), "realm2");
    assert_eq!(s(&w, "authprovider"), "dynamic");
    assert_eq!(s(&w, "authid").len(), 29, "a random authid");
}

/// A HELLO for a realm this router lacks is still authenticated, as
/// Crossbar does on a transport with authentication: the login may place
/// the session in a realm of its own; without one, ABORT no_such_realm
/// (crossbar-examples' exclude_subscribers asks for "crossbardemo", and its
/// cryptosign principals send it to "demo_realm"). An authenticator called
/// on the realm asked for (the default) cannot be: no_such_realm.
#[test]
fn a_login_may_place_a_session_asking_for_an_unknown_realm() {
    let mut c = Cluster::with_config(2, config());
    let comp = component(&mut c, 1, &["com.auth.anonymous"]);
    set_auth(&mut c, dynamic_config());
    let (_, got) = hello(&mut c, 0, "nowhere", details(&["anonymous"], None));
    let (reason, message) = abort(&got);
    assert_eq!(reason, uris::NO_SUCH_REALM);
    assert_eq!(
        message,
        "the dynamic authenticator's realm 'nowhere' does not exist on this router"
    );
    let mut on_realm1 = dynamic("com.auth.anonymous");
    on_realm1.realm = Some("realm1".into());
    set_auth(
        &mut c,
        AuthConfig {
            anonymous: Some(AnonymousAuth::Dynamic(on_realm1)),
            ..AuthConfig::none()
        },
    );
    for placed in [true, false] {
        let (p, got) = hello(&mut c, 0, "nowhere", details(&["anonymous"], None));
        assert!(got.is_empty(), "the authenticator is asked: {got:?}");
        let inv = invocation(&mut c, &comp);
        assert_eq!(
            inv.payload.args.as_ref().map(|a| a[0].clone()),
            Some("nowhere".into())
        );
        let mut principal = Dict::new().with("role", "user");
        if placed {
            principal = principal.with("realm", "realm2");
        }
        answer(&mut c, &comp, &inv, Value::Dict(principal));
        let got = c.recv(&p);
        if placed {
            assert_eq!(s(&welcome(&got).clone(), "realm"), "realm2");
        } else {
            assert_eq!(
                abort(&got),
                (
                    uris::NO_SUCH_REALM.to_owned(),
                    "no realm 'nowhere' on this router".to_owned()
                )
            );
        }
    }
}

#[test]
fn dynamic_wampcra_plain_and_salted() {
    let mut c = Cluster::with_config(1, config());
    let comp = component(&mut c, 0, &["com.auth.wampcra"]);
    set_auth(&mut c, dynamic_config());
    for salted in [false, true] {
        let (p, got) = hello(&mut c, 0, "realm1", details(&["wampcra"], Some("ann")));
        assert!(got.is_empty(), "the authenticator is asked first");
        let inv = invocation(&mut c, &comp);
        assert_eq!(s(&arg_dict(&inv, 2), "authmethod"), "wampcra");
        let mut user = Dict::new().with("secret", "pw").with("role", "user");
        if salted {
            user = user
                .with("salt", "s4lt")
                .with("iterations", 50u64)
                .with("keylen", 32u64);
        }
        answer(&mut c, &comp, &inv, Value::Dict(user));
        let ch = challenge(&c.recv(&p)).clone();
        let fields: serde_json::Value =
            serde_json::from_str(s(&ch.extra, "challenge")).expect("JSON");
        assert_eq!(fields["authprovider"], "dynamic");
        let sig = {
            use crate::proto::auth::wampcra::{compute_signature, derive_key};
            let key = if salted {
                derive_key(b"pw", b"s4lt", 50, 32, &Default::default()).expect("derive")
            } else {
                "pw".to_owned()
            };
            compute_signature(key.as_bytes(), s(&ch.extra, "challenge"))
        };
        let got = authenticate(&mut c, &p, &sig, Dict::new());
        let got = if salted {
            assert!(got.is_empty(), "salted: derived off the reactor");
            assert_eq!(run_jobs(&mut c, 0), 1);
            c.recv(&p)
        } else {
            got
        };
        assert_eq!(
            identity(welcome(&got)),
            ids("ann", "user", "wampcra", "dynamic")
        );
    }
    // An answer without a secret fails the login.
    let (p, _) = hello(&mut c, 0, "realm1", details(&["wampcra"], Some("ann")));
    let inv = invocation(&mut c, &comp);
    answer(&mut c, &comp, &inv, "user".into());
    assert!(abort(&c.recv(&p)).1.contains("no wampcra 'secret'"));
}

#[test]
fn dynamic_scram_and_cryptosign() {
    let mut c = Cluster::with_config(2, config());
    let comp = component(&mut c, 1, &["com.auth.scram", "com.auth.cryptosign"]);
    set_auth(&mut c, dynamic_config());
    // SCRAM: the authenticator answers the stored credential.
    let params = crate::proto::auth::scram::KdfParams {
        kdf: crate::proto::auth::scram::Kdf::Pbkdf2,
        iterations: 32,
        memory: None,
    };
    let cred = crate::proto::auth::scram::derive_credentials(
        b"pencil",
        b"0123456789abcdef",
        params,
        &Default::default(),
    )
    .expect("derive");
    let nonce = "0123456789abcdefgh";
    let mut d = details(&["scram"], Some("sam"));
    d.insert("authextra", Dict::new().with("nonce", nonce));
    let (p, _) = hello(&mut c, 0, "realm1", d);
    let inv = invocation(&mut c, &comp);
    let a = inv.payload.args.clone().expect("args");
    assert_eq!(a[1].as_str(), Some("sam"));
    answer(
        &mut c,
        &comp,
        &inv,
        Value::Dict(cred.to_crossbar().with("role", "user")),
    );
    let ch = challenge(&c.recv(&p)).clone();
    let (proof, _) = scram_answer(&ch, "sam", nonce, "pencil");
    let got = authenticate(&mut c, &p, &proof, Dict::new());
    let w = welcome(&got);
    assert_eq!(identity(w), ids("sam", "user", "scram", "dynamic"));
    // Cryptosign: the authenticator answers the principal's key.
    let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let pk = hex::encode(key.verifying_key().to_bytes());
    let mut d = details(&["cryptosign"], Some("dev"));
    d.insert("authextra", Dict::new().with("pubkey", pk.as_str()));
    let (p, _) = hello(&mut c, 0, "realm1", d);
    let inv = invocation(&mut c, &comp);
    let told = arg_dict(&inv, 2);
    let extra = told
        .get("authextra")
        .and_then(Value::as_dict)
        .expect("authextra");
    assert_eq!(
        s(extra, "pubkey"),
        pk,
        "the announced key is in the details"
    );
    answer(
        &mut c,
        &comp,
        &inv,
        Value::Dict(Dict::new().with("pubkey", pk.as_str()).with("role", "user")),
    );
    let ch = challenge(&c.recv(&p)).clone();
    let challenge_bytes: [u8; 32] = hex::decode(s(&ch.extra, "challenge"))
        .expect("hex")
        .try_into()
        .expect("32");
    let sig = crate::proto::auth::cryptosign::sign(&key, &challenge_bytes, None);
    let got = authenticate(&mut c, &p, &sig, Dict::new());
    assert_eq!(
        identity(welcome(&got)),
        ids("dev", "user", "cryptosign", "dynamic")
    );
    // An unusable key in the answer fails the login.
    let mut d = details(&["cryptosign"], Some("dev"));
    d.insert("authextra", Dict::new().with("pubkey", pk.as_str()));
    let (p, _) = hello(&mut c, 0, "realm1", d);
    let inv = invocation(&mut c, &comp);
    answer(
        &mut c,
        &comp,
        &inv,
        Value::Dict(Dict::new().with("pubkey", "00").with("role", "user")),
    );
    assert!(abort(&c.recv(&p)).1.contains("key is unusable"));
}

/// Anonymous logins get role `dyn`.
fn anonymous_dyn() -> AuthConfig {
    AuthConfig {
        anonymous: Some(AnonymousAuth::Static {
            role: "dyn".into(),
            authid: None,
        }),
        ..AuthConfig::none()
    }
}

/// `config()` where realm1's role `dyn` is decided by `com.authz.check`.
fn authorizer_config() -> Config {
    let mut cfg = config();
    cfg.realms[0].roles.push(RoleConfig {
        name: "dyn".into(),
        permissions: Vec::new(),
        trustlevel: None,
    });
    cfg.role_authorizers.push(RoleAuthorizer {
        realm: "realm1".into(),
        role: "dyn".into(),
        authorizer: "com.authz.check".into(),
    });
    cfg.limits.auth.authenticator_timeout_ms = 800;
    cfg
}

#[test]
fn a_dynamic_authorizer_decides_caches_and_discloses() {
    let mut c = Cluster::with_config(2, authorizer_config());
    let comp = component(&mut c, 1, &["com.authz.check", "com.svc.echo"]);
    set_auth(
        &mut c,
        AuthConfig {
            anonymous: Some(AnonymousAuth::Static {
                role: "dyn".into(),
                authid: Some("dyno".into()),
            }),
            ..AuthConfig::none()
        },
    );
    let (p, got) = hello(&mut c, 0, "realm1", Dict::new());
    let sid = match got.as_slice() {
        [Message::Welcome(w)] => w.session,
        other => panic!("expected WELCOME, got {other:?}"),
    };
    // PUBLISH: the authorizer gets (details, uri, action, options).
    c.send(
        &p,
        Message::Publish(Publish {
            request: RequestId(1),
            options: Dict::new().with("acknowledge", true),
            topic: "com.x.news".into(),
            payload: Payload::empty(),
        }),
    );
    c.pump();
    assert!(c.recv(&p).is_empty(), "waits for the authorizer");
    let inv = invocation(&mut c, &comp);
    let a = inv.payload.args.clone().expect("args");
    let d = a[0].as_dict().expect("details");
    assert_eq!(d.get("session").and_then(Value::as_u64), Some(sid.0));
    assert_eq!((s(d, "authid"), s(d, "authrole")), ("dyno", "dyn"));
    assert!(d.get("transport").and_then(Value::as_dict).is_some());
    assert_eq!(
        (a[1].as_str(), a[2].as_str()),
        (Some("com.x.news"), Some("publish"))
    );
    assert_eq!(
        a[3].as_dict().and_then(|o| o.get("acknowledge")),
        Some(&Value::Bool(true))
    );
    answer(&mut c, &comp, &inv, true.into());
    assert!(matches!(c.recv(&p).as_slice(), [Message::Published(_)]));
    // A cached denial is not asked again.
    for round in 0..2 {
        c.send(
            &p,
            Message::Subscribe(Subscribe {
                request: RequestId(10 + round),
                options: Dict::new(),
                topic: "com.x.secret".into(),
            }),
        );
        c.pump();
        if round == 0 {
            let inv = invocation(&mut c, &comp);
            answer(
                &mut c,
                &comp,
                &inv,
                Value::Dict(Dict::new().with("allow", false).with("cache", true)),
            );
        } else {
            assert!(c.recv(&comp).is_empty(), "cached");
        }
        assert_eq!(error_uri(&c.recv(&p)[0]), uris::NOT_AUTHORIZED);
    }
    // disclose: the callee sees the caller.
    c.send(
        &p,
        Message::Call(Call {
            request: RequestId(20),
            options: Dict::new(),
            procedure: "com.svc.echo".into(),
            payload: Payload::empty(),
        }),
    );
    c.pump();
    let inv = invocation(&mut c, &comp);
    assert_eq!(
        inv.payload.args.as_ref().expect("args")[2].as_str(),
        Some("call")
    );
    answer(
        &mut c,
        &comp,
        &inv,
        Value::Dict(Dict::new().with("allow", true).with("disclose", true)),
    );
    let call = invocation(&mut c, &comp);
    assert_eq!(
        call.details.get("caller").and_then(Value::as_u64),
        Some(sid.0)
    );
    assert_eq!(s(&call.details, "caller_authid"), "dyno");
}

/// `p` sends SUBSCRIBE `req` to `topic`; the cluster runs.
fn subscribe_to(c: &mut Cluster, p: &Peer, req: u64, topic: &str) {
    c.send(
        p,
        Message::Subscribe(Subscribe {
            request: RequestId(req),
            options: Dict::new(),
            topic: topic.into(),
        }),
    );
    c.pump();
}

#[test]
fn a_failing_missing_or_slow_authorizer_denies() {
    let mut c = Cluster::with_config(2, authorizer_config());
    let clock = manual_clock(&mut c);
    let comp = component(&mut c, 1, &["com.authz.check"]);
    set_auth(&mut c, anonymous_dyn());
    let (p, _) = hello(&mut c, 0, "realm1", Dict::new());
    let subscribe = |c: &mut Cluster, req: u64| subscribe_to(c, &p, req, "com.x.t");
    // An error, then an answer of the wrong shape.
    subscribe(&mut c, 1);
    let inv = invocation(&mut c, &comp);
    fail(&mut c, &comp, &inv, "com.app.oops", "broken");
    assert_eq!(error_uri(&c.recv(&p)[0]), uris::NOT_AUTHORIZED);
    subscribe(&mut c, 2);
    let inv = invocation(&mut c, &comp);
    answer(&mut c, &comp, &inv, "yes".into());
    assert_eq!(error_uri(&c.recv(&p)[0]), uris::NOT_AUTHORIZED);
    // No answer in time.
    subscribe(&mut c, 3);
    let _ = invocation(&mut c, &comp);
    let now = clock.advance(Duration::from_millis(801));
    c.routers[0].poll_timers(now);
    c.pump();
    assert_eq!(error_uri(&c.recv(&p)[0]), uris::NOT_AUTHORIZED);
    // The authorizer leaves: denied at once.
    c.close(&comp);
    c.pump();
    subscribe(&mut c, 4);
    assert_eq!(error_uri(&c.recv(&p)[0]), uris::NOT_AUTHORIZED);
    assert_eq!(c.routers[0].pending_decision_count(), 0);
    assert_eq!(c.routers[0].router_calls_waiting(), 0);
}

/// An authorizer written for `(details, uri, action)` (crossbar-examples'
/// authorization/dynamic) refuses the fourth argument with Python's
/// TypeError; the router asks it again without `options`. Any other error
/// still denies without a second call.
#[test]
fn a_legacy_three_argument_authorizer_is_asked_again_without_options() {
    let mut c = Cluster::with_config(2, authorizer_config());
    let comp = component(&mut c, 1, &["com.authz.check"]);
    set_auth(&mut c, anonymous_dyn());
    let (p, _) = hello(&mut c, 0, "realm1", Dict::new());
    let subscribe = |c: &mut Cluster, req: u64| subscribe_to(c, &p, req, "com.x.t");
    subscribe(&mut c, 1);
    let first = invocation(&mut c, &comp);
    assert_eq!(first.payload.args.as_ref().map(Vec::len), Some(4));
    fail(
        &mut c,
        &comp,
        &first,
        "wamp.error.runtime_error",
        "Authorizer.authorize() takes 4 positional arguments but 5 were given",
    );
    assert!(c.recv(&p).is_empty(), "not decided yet");
    let again = invocation(&mut c, &comp);
    let args = again.payload.args.clone().expect("args");
    assert_eq!(args.len(), 3, "(details, uri, action)");
    assert_eq!(
        (args[1].as_str(), args[2].as_str()),
        (Some("com.x.t"), Some("subscribe"))
    );
    answer(&mut c, &comp, &again, true.into());
    assert!(matches!(c.recv(&p).as_slice(), [Message::Subscribed(_)]));
    // The second call failing the same way denies: no third call.
    subscribe(&mut c, 2);
    let first = invocation(&mut c, &comp);
    let arity = "authorize() takes 3 positional arguments but 4 were given";
    fail(&mut c, &comp, &first, "wamp.error.runtime_error", arity);
    let again = invocation(&mut c, &comp);
    fail(&mut c, &comp, &again, "wamp.error.runtime_error", arity);
    assert_eq!(error_uri(&c.recv(&p)[0]), uris::NOT_AUTHORIZED);
    assert!(c.recv(&comp).is_empty());
    // Another error: denied at once.
    subscribe(&mut c, 3);
    let first = invocation(&mut c, &comp);
    fail(
        &mut c,
        &comp,
        &first,
        "wamp.error.runtime_error",
        "KeyError: 'x'",
    );
    assert_eq!(error_uri(&c.recv(&p)[0]), uris::NOT_AUTHORIZED);
    assert!(c.recv(&comp).is_empty());
    assert_eq!(c.routers[0].pending_decision_count(), 0);
    assert_eq!(c.routers[0].router_calls_waiting(), 0);
}

/// A reload applies the config's dynamic authorizers: one named for a
/// role starts deciding that role's requests, one no longer named stops
/// (static permissions again), and a realm the reload adds gets its own
/// (reloads once ignored them: a realm added with a dynamic role refused
/// that role everything).
#[test]
fn a_reload_installs_and_removes_dynamic_authorizers() {
    let mut on = authorizer_config();
    on.transports[1].id = "test".into();
    let mut off = on.clone();
    off.role_authorizers.clear();
    let mut c = Cluster::with_config(2, off.clone());
    let comp = component(&mut c, 1, &["com.authz.check"]);
    let before = std::rc::Rc::clone(&c.transport);
    set_auth(&mut c, anonymous_dyn());
    let (p, _) = hello(&mut c, 0, "realm1", Dict::new());
    let subscribe = |c: &mut Cluster, p: &Peer, req: u64| {
        c.send(
            p,
            Message::Subscribe(Subscribe {
                request: RequestId(req),
                options: Dict::new(),
                topic: format!("com.x.t{req}"),
            }),
        );
        c.pump();
    };
    // No authorizer: the role's static permissions (none) decide at once.
    subscribe(&mut c, &p, 1);
    assert_eq!(error_uri(&c.recv(&p)[0]), uris::NOT_AUTHORIZED);
    assert!(c.recv(&comp).is_empty());
    for r in &mut c.routers {
        assert_eq!(r.apply(&on).sessions_closed, 0);
    }
    subscribe(&mut c, &p, 2);
    let inv = invocation(&mut c, &comp);
    assert_eq!(
        inv.payload.args.as_ref().expect("args")[1].as_str(),
        Some("com.x.t2")
    );
    answer(&mut c, &comp, &inv, true.into());
    assert!(matches!(c.recv(&p).as_slice(), [Message::Subscribed(_)]));
    // Named no more: static permissions again, the component is not asked.
    for r in &mut c.routers {
        r.apply(&off);
    }
    subscribe(&mut c, &p, 3);
    assert_eq!(error_uri(&c.recv(&p)[0]), uris::NOT_AUTHORIZED);
    assert!(c.recv(&comp).is_empty());
    // A realm added with a dynamic role: its authorizer decides there.
    let mut added = on.clone();
    let mut realm9 = added.realms[0].clone();
    realm9.name = "realm9".into();
    added.realms.push(realm9);
    added.role_authorizers.push(RoleAuthorizer {
        realm: "realm9".into(),
        role: "dyn".into(),
        authorizer: "com.authz.check".into(),
    });
    added.role_authorizers.retain(|a| a.realm == "realm9");
    for r in &mut c.routers {
        assert_eq!(r.apply(&added).realms_added, vec!["realm9".to_owned()]);
    }
    let anonymous_dyn = std::mem::replace(&mut c.transport, before);
    let comp9 = component_in(&mut c, 1, "realm9", "com.authz.check");
    c.transport = anonymous_dyn;
    let (p9, _) = hello(&mut c, 0, "realm9", Dict::new());
    subscribe(&mut c, &p9, 4);
    let inv = invocation(&mut c, &comp9);
    answer(&mut c, &comp9, &inv, false.into());
    assert_eq!(error_uri(&c.recv(&p9)[0]), uris::NOT_AUTHORIZED);
    // realm1's role is static again in this config.
    subscribe(&mut c, &p, 5);
    assert_eq!(error_uri(&c.recv(&p)[0]), uris::NOT_AUTHORIZED);
    assert!(c.recv(&comp).is_empty());
}

/// A component on `shard` in `realm` that registered `procedure`.
fn component_in(c: &mut Cluster, shard: usize, realm: &str, procedure: &str) -> Peer {
    let (p, _) = c.join(shard, Serializer::Json, realm);
    c.send(
        &p,
        Message::Register(Register {
            request: RequestId(100),
            options: Dict::new(),
            procedure: procedure.into(),
        }),
    );
    c.pump();
    assert!(matches!(c.recv(&p).as_slice(), [Message::Registered(_)]));
    p
}
