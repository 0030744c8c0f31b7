//! The session API seen from front ends that are not WAMP frames on a
//! socket: in-process typed links, authenticators that challenge or decide
//! later (or off the reactor), and authorizers that answer later.

use std::cell::RefCell;
use std::rc::Rc;

use super::{Cluster, args, error_uri, events};
use crate::core::api::LocalLink;
use crate::core::authz::{Answer, Authorizer, AuthzTicket, Grant, Request};
use crate::core::outbox::CloseReason;
use crate::core::session::authn::{
    Authenticator, Challenged, HelloRequest, Identity, Step, Ticket,
};
use crate::core::uris;
use crate::proto::*;

fn hello(realm: &str, details: Dict) -> Message {
    Message::Hello(Hello {
        realm: Some(realm.into()),
        details,
    })
}

fn with_methods(methods: &[&str]) -> Dict {
    Dict::new().with(
        "authmethods",
        Value::List(methods.iter().map(|m| Value::from(*m)).collect()),
    )
}

/// Joins realm1 over a typed local link on `shard`.
fn join_local(c: &mut Cluster, shard: usize) -> (LocalLink, SessionId) {
    let l = c.connect_local(shard);
    c.routers[shard].feed(l.id, hello("realm1", Dict::new()));
    match l.take().as_slice() {
        [Message::Welcome(w)] => (l, w.session),
        other => panic!("expected WELCOME, got {other:?}"),
    }
}

#[test]
fn a_typed_link_subscribes_publishes_and_calls_across_shards_with_wire_peers() {
    let mut c = Cluster::new(2);
    let (typed, typed_sid) = join_local(&mut c, 0);
    let (wire, _) = c.join(1, Serializer::MsgPack, "realm1");
    // The typed link subscribes; a wire peer on the other shard publishes.
    c.routers[0].feed(
        typed.id,
        Message::Subscribe(Subscribe {
            request: RequestId(1),
            options: Dict::new(),
            topic: "com.api.t".into(),
        }),
    );
    c.pump();
    let sub = match typed.take().as_slice() {
        [Message::Subscribed(s)] => s.subscription,
        other => panic!("expected SUBSCRIBED, got {other:?}"),
    };
    c.publish(
        &wire,
        2,
        "com.api.t",
        Dict::new(),
        args(vec![Value::from(42u64)]),
    );
    c.pump();
    match typed.take().as_slice() {
        [Message::Event(e)] => {
            assert_eq!(e.subscription, sub);
            assert_eq!(e.payload.args, Some(vec![Value::from(42u64)]));
        }
        other => panic!("expected one EVENT, got {other:?}"),
    }
    // The wire peer registers; the typed link calls it and gets the RESULT typed.
    c.send(
        &wire,
        Message::Register(Register {
            request: RequestId(3),
            options: Dict::new(),
            procedure: "com.api.add".into(),
        }),
    );
    c.pump();
    assert!(matches!(c.recv(&wire).as_slice(), [Message::Registered(_)]));
    c.routers[0].feed(
        typed.id,
        Message::Call(Call {
            request: RequestId(4),
            options: Dict::new().with("disclose_me", true),
            procedure: "com.api.add".into(),
            payload: args(vec![Value::from(1u64), Value::from(2u64)]),
        }),
    );
    c.pump();
    let inv = match c.recv(&wire).as_slice() {
        [Message::Invocation(i)] => i.clone(),
        other => panic!("expected INVOCATION, got {other:?}"),
    };
    assert_eq!(
        inv.details.get("caller").and_then(Value::as_u64),
        Some(typed_sid.0)
    );
    c.send(
        &wire,
        Message::Yield(Yield {
            request: inv.request,
            options: Dict::new(),
            payload: args(vec![Value::from(3u64)]),
        }),
    );
    c.pump();
    match typed.take().as_slice() {
        [Message::Result(r)] => {
            assert_eq!(r.request, RequestId(4));
            assert_eq!(r.payload.args, Some(vec![Value::from(3u64)]));
        }
        other => panic!("expected RESULT, got {other:?}"),
    }
    // GOODBYE ends the session and leaves no index entry behind.
    c.routers[0].feed(
        typed.id,
        Message::Goodbye(Goodbye {
            details: Dict::new(),
            reason: "wamp.close.normal".into(),
        }),
    );
    assert!(matches!(typed.take().as_slice(), [Message::Goodbye(_)]));
    c.close(&wire);
    c.pump();
    assert_eq!(c.index_entries(), 0);
}

#[test]
fn typed_and_wire_subscribers_share_one_encoding_per_serializer() {
    let mut c = Cluster::new(1);
    let (typed, _) = join_local(&mut c, 0);
    let (a, _) = c.join(0, Serializer::Json, "realm1");
    let (b, _) = c.join(0, Serializer::Json, "realm1");
    let (publ, _) = c.join(0, Serializer::Cbor, "realm1");
    c.routers[0].feed(
        typed.id,
        Message::Subscribe(Subscribe {
            request: RequestId(1),
            options: Dict::new(),
            topic: "com.api.shared".into(),
        }),
    );
    typed.take();
    c.subscribe(&a, 1, "com.api.shared", Dict::new());
    c.subscribe(&b, 1, "com.api.shared", Dict::new());
    c.publish(
        &publ,
        2,
        "com.api.shared",
        Dict::new(),
        args(vec!["x".into()]),
    );
    let fa = a.outbox.borrow().frames()[0].clone();
    let fb = b.outbox.borrow().frames()[0].clone();
    match (&fa, &fb) {
        (crate::core::outbox::Frame::Shared(x), crate::core::outbox::Frame::Shared(y)) => {
            assert!(Rc::ptr_eq(x, y), "the JSON subscribers share one buffer")
        }
        other => panic!("expected shared frames, got {other:?}"),
    }
    assert_eq!(
        events(&typed.take()).len(),
        1,
        "the typed subscriber got it too"
    );
}

/// A method that challenges with a nonce and welcomes whoever echoes it.
struct EchoChallenge {
    role: String,
}

struct EchoState {
    nonce: String,
    authid: String,
    role: String,
}

impl Authenticator for EchoChallenge {
    fn method(&self) -> &str {
        "echo"
    }

    fn hello(&self, req: &HelloRequest<'_>, _: Ticket) -> Step {
        let Some(authid) = req.authid() else {
            return Step::deny(uris::NOT_AUTHORIZED, "an authid is required");
        };
        Step::Challenge {
            method: "echo".into(),
            extra: Dict::new().with("nonce", "n-123"),
            next: Box::new(EchoState {
                nonce: "n-123".into(),
                authid: authid.to_owned(),
                role: self.role.clone(),
            }),
        }
    }
}

impl Challenged for EchoState {
    fn authenticate(self: Box<Self>, auth: &Authenticate, _: Ticket) -> Step {
        if auth.signature != self.nonce {
            return Step::deny("wamp.error.authentication_failed", "wrong signature");
        }
        Step::Welcome(Identity {
            authid: Some(self.authid),
            authrole: self.role,
            authmethod: "echo".into(),
            authprovider: "test".into(),
            authextra: Some(Dict::new().with("greeting", "hi")),
            realm: None,
        })
    }
}

#[test]
fn challenge_and_authenticate_welcome_with_the_real_identity() {
    let mut c = Cluster::new(2);
    c.routers[0].add_authenticator(
        "test",
        Box::new(EchoChallenge {
            role: "anonymous".into(),
        }),
    );
    let l = c.connect_local(0);
    c.routers[0].feed(
        l.id,
        hello(
            "realm1",
            with_methods(&["echo", "anonymous"]).with("authid", "alice"),
        ),
    );
    match l.take().as_slice() {
        [Message::Challenge(ch)] => {
            assert_eq!(ch.auth_method, "echo");
            assert_eq!(ch.extra.get("nonce").and_then(Value::as_str), Some("n-123"));
        }
        other => panic!("expected CHALLENGE, got {other:?}"),
    }
    c.routers[0].feed(
        l.id,
        Message::Authenticate(Authenticate {
            signature: "n-123".into(),
            extra: Dict::new(),
        }),
    );
    let sid = match l.take().as_slice() {
        [Message::Welcome(w)] => {
            let d = &w.details;
            assert_eq!(d.get("authid").and_then(Value::as_str), Some("alice"));
            assert_eq!(d.get("authrole").and_then(Value::as_str), Some("anonymous"));
            assert_eq!(d.get("authmethod").and_then(Value::as_str), Some("echo"));
            assert_eq!(d.get("authprovider").and_then(Value::as_str), Some("test"));
            let extra = d
                .get("authextra")
                .and_then(Value::as_dict)
                .expect("authextra");
            assert_eq!(extra.get("greeting").and_then(Value::as_str), Some("hi"));
            w.session
        }
        other => panic!("expected WELCOME, got {other:?}"),
    };
    // The session meta API, asked from the other shard, reports the same identity.
    let (q, _) = c.join(1, Serializer::Json, "realm1");
    c.send(
        &q,
        Message::Call(Call {
            request: RequestId(1),
            options: Dict::new(),
            procedure: "wamp.session.get".into(),
            payload: args(vec![Value::from(sid.0)]),
        }),
    );
    c.pump();
    match c.recv(&q).as_slice() {
        [Message::Result(r)] => {
            let d = r
                .payload
                .args
                .as_ref()
                .and_then(|a| a[0].as_dict())
                .expect("details");
            assert_eq!(d.get("authid").and_then(Value::as_str), Some("alice"));
            assert_eq!(d.get("authmethod").and_then(Value::as_str), Some("echo"));
            assert_eq!(d.get("authprovider").and_then(Value::as_str), Some("test"));
            let t = d
                .get("transport")
                .and_then(Value::as_dict)
                .expect("transport");
            assert_eq!(t.get("type").and_then(Value::as_str), Some("internal"));
        }
        other => panic!("expected RESULT, got {other:?}"),
    }
    // A wrong signature is an ABORT with the method's reason, and the link closes.
    let l2 = c.connect_local(0);
    c.routers[0].feed(
        l2.id,
        hello("realm1", with_methods(&["echo"]).with("authid", "bob")),
    );
    l2.take();
    c.routers[0].feed(
        l2.id,
        Message::Authenticate(Authenticate {
            signature: "nope".into(),
            extra: Dict::new(),
        }),
    );
    match l2.take().as_slice() {
        [Message::Abort(a)] => assert_eq!(a.reason, "wamp.error.authentication_failed"),
        other => panic!("expected ABORT, got {other:?}"),
    }
    assert_eq!(l2.close_reason(), Some(CloseReason::Normal));
    assert_eq!(c.routers[0].pending_decision_count(), 0);
}

#[test]
fn authenticate_out_of_turn_and_requests_while_challenged_are_violations() {
    let mut c = Cluster::new(1);
    c.routers[0].add_authenticator(
        "test",
        Box::new(EchoChallenge {
            role: "anonymous".into(),
        }),
    );
    // AUTHENTICATE with no CHALLENGE.
    let l = c.connect_local(0);
    c.routers[0].feed(
        l.id,
        Message::Authenticate(Authenticate {
            signature: "x".into(),
            extra: Dict::new(),
        }),
    );
    match l.take().as_slice() {
        [Message::Abort(a)] => assert_eq!(a.reason, uris::PROTOCOL_VIOLATION),
        other => panic!("expected ABORT, got {other:?}"),
    }
    assert!(matches!(
        l.close_reason(),
        Some(CloseReason::ProtocolViolation(_))
    ));
    // A SUBSCRIBE while the CHALLENGE is unanswered.
    let l = c.connect_local(0);
    c.routers[0].feed(
        l.id,
        hello("realm1", with_methods(&["echo"]).with("authid", "a")),
    );
    l.take();
    c.routers[0].feed(
        l.id,
        Message::Subscribe(Subscribe {
            request: RequestId(1),
            options: Dict::new(),
            topic: "com.x".into(),
        }),
    );
    match l.take().as_slice() {
        [Message::Abort(a)] => assert_eq!(a.reason, uris::PROTOCOL_VIOLATION),
        other => panic!("expected ABORT, got {other:?}"),
    }
    // AUTHENTICATE on an established session.
    let (l, _) = join_local(&mut c, 0);
    c.routers[0].feed(
        l.id,
        Message::Authenticate(Authenticate {
            signature: "x".into(),
            extra: Dict::new(),
        }),
    );
    assert!(
        matches!(l.take().as_slice(), [Message::Abort(a)] if a.reason == uris::PROTOCOL_VIOLATION)
    );
    // A client offering only a method the transport lacks.
    let l = c.connect_local(0);
    c.routers[0].feed(l.id, hello("realm1", with_methods(&["scram"])));
    match l.take().as_slice() {
        [Message::Abort(a)] => {
            assert_eq!(a.reason, uris::NO_AUTH_METHOD);
            let m = a
                .details
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("");
            assert!(m.contains("anonymous") && m.contains("echo"), "{m}");
        }
        other => panic!("expected ABORT, got {other:?}"),
    }
}

/// Decides later: records the tickets it was given.
struct Later {
    tickets: Rc<RefCell<Vec<Ticket>>>,
    offload: bool,
}

impl Authenticator for Later {
    fn method(&self) -> &str {
        "later"
    }

    fn hello(&self, req: &HelloRequest<'_>, ticket: Ticket) -> Step {
        self.tickets.borrow_mut().push(ticket);
        if self.offload {
            let authid = req.authid().unwrap_or("nobody").to_owned();
            return Step::Offload(Box::new(move || {
                Step::Welcome(Identity {
                    authid: Some(authid),
                    authrole: "anonymous".into(),
                    authmethod: "later".into(),
                    authprovider: "offloaded".into(),
                    authextra: None,
                    realm: None,
                })
            }));
        }
        Step::Pending
    }
}

#[test]
fn a_pending_authentication_is_resolved_later_and_others_are_not_held_up() {
    let mut c = Cluster::new(1);
    let tickets = Rc::new(RefCell::new(Vec::new()));
    c.routers[0].add_authenticator(
        "test",
        Box::new(Later {
            tickets: Rc::clone(&tickets),
            offload: false,
        }),
    );
    let waiting = c.connect_local(0);
    c.routers[0].feed(waiting.id, hello("realm1", with_methods(&["later"])));
    assert!(waiting.take().is_empty(), "nothing until the decision");
    assert_eq!(c.routers[0].pending_decision_count(), 1);
    // Another session joins and routes meanwhile.
    let (other, _) = join_local(&mut c, 0);
    c.routers[0].feed(
        other.id,
        Message::Publish(Publish {
            request: RequestId(1),
            options: Dict::new().with("acknowledge", true),
            topic: "com.x".into(),
            payload: Payload::empty(),
        }),
    );
    assert!(matches!(other.take().as_slice(), [Message::Published(_)]));
    let t = tickets.borrow()[0];
    c.routers[0].resolve_authentication(
        t,
        Step::Welcome(Identity {
            authid: Some("carol".into()),
            authrole: "anonymous".into(),
            authmethod: "later".into(),
            authprovider: "dynamic".into(),
            authextra: None,
            realm: None,
        }),
    );
    match waiting.take().as_slice() {
        [Message::Welcome(w)] => {
            assert_eq!(
                w.details.get("authid").and_then(Value::as_str),
                Some("carol")
            )
        }
        other => panic!("expected WELCOME, got {other:?}"),
    }
    // A decision for a ticket already used, or for a link that is gone, is dropped.
    c.routers[0].resolve_authentication(t, Step::deny(uris::NOT_AUTHORIZED, "late"));
    let gone = c.connect_local(0);
    c.routers[0].feed(gone.id, hello("realm1", with_methods(&["later"])));
    let t2 = tickets.borrow()[1];
    c.routers[0].close(gone.id);
    c.routers[0].resolve_authentication(t2, Step::deny(uris::NOT_AUTHORIZED, "late"));
    assert_eq!(c.routers[0].pending_decision_count(), 0);
    assert!(gone.take().is_empty());
}

#[test]
fn offloaded_authentication_runs_as_a_job_and_comes_back() {
    let mut c = Cluster::new(1);
    c.routers[0].add_authenticator(
        "test",
        Box::new(Later {
            tickets: Rc::default(),
            offload: true,
        }),
    );
    let l = c.connect_local(0);
    c.routers[0].feed(
        l.id,
        hello("realm1", with_methods(&["later"]).with("authid", "dave")),
    );
    assert!(l.take().is_empty());
    let jobs = c.routers[0].take_auth_jobs();
    assert_eq!(jobs.len(), 1);
    // The runtime runs the job on another thread and hands the result back.
    for job in jobs {
        let ticket = job.ticket;
        let step = std::thread::spawn(job.run).join().expect("job ran");
        c.routers[0].resolve_authentication(ticket, step);
    }
    match l.take().as_slice() {
        [Message::Welcome(w)] => {
            assert_eq!(
                w.details.get("authid").and_then(Value::as_str),
                Some("dave")
            );
            assert_eq!(
                w.details.get("authprovider").and_then(Value::as_str),
                Some("offloaded")
            );
        }
        other => panic!("expected WELCOME, got {other:?}"),
    }
}

/// Answers later, recording the questions.
struct Deferred {
    asked: Rc<RefCell<Vec<(AuthzTicket, String, String)>>>,
}

impl Authorizer for Deferred {
    fn authorize(&self, req: &Request<'_>, ticket: AuthzTicket) -> Answer {
        self.asked
            .borrow_mut()
            .push((ticket, req.action.as_str().to_owned(), req.uri.to_owned()));
        Answer::Later
    }
}

#[test]
fn requests_wait_in_order_for_a_deferred_authorization() {
    let mut c = Cluster::new(1);
    let asked = Rc::new(RefCell::new(Vec::new()));
    assert!(c.routers[0].install_authorizer(
        "realm1",
        "anonymous",
        Box::new(Deferred {
            asked: Rc::clone(&asked),
        }),
    ));
    let (l, _) = join_local(&mut c, 0);
    let publish = |req: u64, topic: &str| {
        Message::Publish(Publish {
            request: RequestId(req),
            options: Dict::new().with("acknowledge", true),
            topic: topic.into(),
            payload: Payload::empty(),
        })
    };
    c.routers[0].feed(l.id, publish(1, "com.a"));
    c.routers[0].feed(l.id, publish(2, "com.b"));
    c.routers[0].feed(
        l.id,
        Message::Unsubscribe(Unsubscribe {
            request: RequestId(3),
            subscription: SubscriptionId(99),
        }),
    );
    assert!(
        l.take().is_empty(),
        "everything waits behind the first request"
    );
    assert_eq!(asked.borrow().len(), 1, "only the first was asked about");
    let (t1, action, uri) = asked.borrow()[0].clone();
    assert_eq!((action.as_str(), uri.as_str()), ("publish", "com.a"));
    c.routers[0].resolve_authorization(t1, Grant::ALLOW, false);
    // com.a is published; com.b is asked about next and waits again.
    match l.take().as_slice() {
        [Message::Published(p)] => assert_eq!(p.request, RequestId(1)),
        other => panic!("expected PUBLISHED 1, got {other:?}"),
    }
    let (t2, _, uri) = asked.borrow()[1].clone();
    assert_eq!(uri, "com.b");
    c.routers[0].resolve_authorization(t2, Grant::DENY, true);
    match l.take().as_slice() {
        [Message::Error(e), Message::Error(u)] => {
            assert_eq!(
                (e.request, e.error.as_str()),
                (RequestId(2), uris::NOT_AUTHORIZED)
            );
            assert_eq!(
                u.error,
                uris::NO_SUCH_SUBSCRIPTION,
                "then the UNSUBSCRIBE, in order"
            );
        }
        other => panic!("expected two ERRORs, got {other:?}"),
    }
    // The cached denial answers at once without asking again.
    c.routers[0].feed(l.id, publish(4, "com.b"));
    assert_eq!(error_uri(&l.take()[0]), uris::NOT_AUTHORIZED);
    assert_eq!(asked.borrow().len(), 2);
    // A session that ends while a request waits leaves nothing behind.
    c.routers[0].feed(l.id, publish(5, "com.c"));
    c.routers[0].close(l.id);
    assert_eq!(c.routers[0].pending_decision_count(), 0);
}

#[test]
fn the_router_calls_and_publishes_on_its_own_behalf_and_stays_out_of_the_meta_api() {
    use crate::core::internal::RouterAnswer;
    let mut c = Cluster::new(2);
    let (callee, _) = c.join(1, Serializer::Json, "realm1");
    c.send(
        &callee,
        Message::Register(Register {
            request: RequestId(1),
            options: Dict::new(),
            procedure: "com.auth.check".into(),
        }),
    );
    c.pump();
    assert!(matches!(
        c.recv(&callee).as_slice(),
        [Message::Registered(_)]
    ));
    let call = c.routers[0]
        .call_as_router(
            "realm1",
            "com.auth.check",
            args(vec!["alice".into()]),
            5_000,
        )
        .expect("realm exists");
    c.pump();
    let inv = match c.recv(&callee).as_slice() {
        [Message::Invocation(i)] => i.clone(),
        other => panic!("expected INVOCATION, got {other:?}"),
    };
    assert_eq!(inv.payload.args, Some(vec![Value::from("alice")]));
    assert_eq!(
        inv.details.get("timeout"),
        None,
        "the dealer enforces the router's timeout itself"
    );
    c.send(
        &callee,
        Message::Yield(Yield {
            request: inv.request,
            options: Dict::new(),
            payload: args(vec!["user".into()]),
        }),
    );
    c.pump();
    let answers = c.routers[0].take_router_answers();
    match answers.as_slice() {
        [(id, RouterAnswer::Result { payload, .. })] => {
            assert_eq!(*id, call);
            assert_eq!(payload.args, Some(vec![Value::from("user")]));
        }
        other => panic!("expected one result, got {other:?}"),
    }
    // No callee: the router gets the dealer's error.
    let missing = c.routers[0]
        .call_as_router("realm1", "com.auth.missing", Payload::empty(), 0)
        .expect("realm exists");
    c.pump();
    match c.routers[0].take_router_answers().as_slice() {
        [(id, RouterAnswer::Error { error, .. })] => {
            assert_eq!(*id, missing);
            assert_eq!(error, uris::NO_SUCH_PROCEDURE);
        }
        other => panic!("expected one error, got {other:?}"),
    }
    assert!(
        c.routers[0]
            .call_as_router("nope", "x.y", Payload::empty(), 0)
            .is_none()
    );
    // A router publication reaches a subscriber on another shard.
    let sub = c.subscribe(&callee, 2, "com.router.news", Dict::new());
    assert!(c.routers[0].publish_as_router("realm1", "com.router.news", args(vec![1u64.into()])));
    c.pump();
    match c.recv(&callee).as_slice() {
        [Message::Event(e)] => assert_eq!(e.subscription, sub),
        other => panic!("expected EVENT, got {other:?}"),
    }
    // The router's session is not one the meta API shows.
    c.send(
        &callee,
        Message::Call(Call {
            request: RequestId(3),
            options: Dict::new(),
            procedure: "wamp.session.count".into(),
            payload: Payload::empty(),
        }),
    );
    c.pump();
    match c.recv(&callee).as_slice() {
        [Message::Result(r)] => assert_eq!(r.payload.args, Some(vec![Value::from(1u64)])),
        other => panic!("expected RESULT, got {other:?}"),
    }
    assert_eq!(c.routers[0].router_calls_waiting(), 0);
}

/// A service session (the HTTP bridge's) on `shard`: joined at once with
/// `role` on `realm`, no HELLO.
fn open_service(c: &mut Cluster, shard: usize, realm: &str, role: &str) -> LocalLink {
    let queue = crate::core::api::MessageQueue::new_ref(1 << 20);
    let info = crate::core::api::LinkInfo::new(
        std::rc::Rc::clone(&c.transport),
        crate::core::api::FrontEnd::HttpBridge,
        "http-bridge",
    );
    let id = c.routers[shard]
        .open_service(
            info,
            crate::core::api::Output::Typed(std::rc::Rc::clone(&queue)),
            realm,
            "http-bridge",
            role,
        )
        .expect("service session");
    LocalLink { id, queue }
}

#[test]
fn a_service_session_publishes_across_shards_with_its_roles_permissions() {
    let mut c = Cluster::new(2);
    let (sub, _) = c.join(1, Serializer::Json, "restricted");
    let sid = c.subscribe(&sub, 1, "com.allowed.news", Dict::new());
    let svc = open_service(&mut c, 0, "restricted", "anonymous");
    assert!(
        svc.take().is_empty(),
        "no WELCOME: the session is established at once"
    );
    let publish = |topic: &str, request: u64| {
        Message::Publish(Publish {
            request: RequestId(request),
            options: Dict::new().with("acknowledge", true),
            topic: topic.into(),
            payload: args(vec![Value::from(7i64)]),
        })
    };
    c.routers[0].feed(svc.id, publish("com.allowed.news", 1));
    c.pump();
    match svc.take().as_slice() {
        [Message::Published(p)] => assert_eq!(p.request, RequestId(1)),
        other => panic!("expected PUBLISHED, got {other:?}"),
    }
    let got = c.recv(&sub);
    let evs = events(&got);
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].subscription, sid);
    assert_eq!(evs[0].payload, args(vec![Value::from(7i64)]));
    // Its role's permissions apply: not a trusted router session.
    c.routers[0].feed(svc.id, publish("com.other.news", 2));
    c.pump();
    match svc.take().as_slice() {
        [m @ Message::Error(_)] => assert_eq!(error_uri(m), uris::NOT_AUTHORIZED),
        other => panic!("expected ERROR, got {other:?}"),
    }
    // It counts as a session until closed; an unknown realm is refused.
    let before = c.routers[0].session_count();
    c.routers[0].close(svc.id);
    assert_eq!(c.routers[0].session_count(), before - 1);
    let queue = crate::core::api::MessageQueue::new_ref(1 << 20);
    let info = crate::core::api::LinkInfo::new(
        std::rc::Rc::clone(&c.transport),
        crate::core::api::FrontEnd::HttpBridge,
        "x",
    );
    assert!(
        c.routers[0]
            .open_service(
                info,
                crate::core::api::Output::Typed(queue),
                "nowhere",
                "a",
                "b"
            )
            .is_err()
    );
}

/// Counts its wakes.
struct Wakes(std::sync::atomic::AtomicUsize);

impl futures::task::ArcWake for Wakes {
    fn wake_by_ref(this: &std::sync::Arc<Self>) {
        this.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

#[test]
fn a_parked_consumer_is_not_woken_for_what_its_front_end_takes_itself() {
    use std::sync::Arc;
    use std::sync::atomic::Ordering;
    use std::task::{Context, Poll};

    let q = crate::core::api::MessageQueue::new_ref(1 << 20);
    let wakes = Arc::new(Wakes(Default::default()));
    let waker = futures::task::waker(Arc::clone(&wakes));
    let mut cx = Context::from_waker(&waker);
    let msg = |r: u64| {
        Message::Published(Published {
            request: RequestId(r),
            publication: PublicationId(r),
        })
    };
    assert_eq!(q.borrow_mut().poll_ready(&mut cx), Poll::Pending);
    // Queued and taken while parked: no wake, and parked again.
    let parked = q.borrow_mut().park_consumer();
    q.borrow_mut().push(msg(1)).expect("room");
    assert_eq!(q.borrow_mut().pop(), Some(msg(1)));
    q.borrow_mut().unpark(parked);
    assert_eq!(wakes.0.load(Ordering::Relaxed), 0);
    // Parked again: a later message wakes it as usual.
    q.borrow_mut().push(msg(2)).expect("room");
    assert_eq!(wakes.0.load(Ordering::Relaxed), 1);
    assert_eq!(q.borrow_mut().pop(), Some(msg(2)));
    // A message left queued (another request's answer) wakes it at unpark.
    assert_eq!(q.borrow_mut().poll_ready(&mut cx), Poll::Pending);
    let parked = q.borrow_mut().park_consumer();
    q.borrow_mut().push(msg(3)).expect("room");
    assert_eq!(wakes.0.load(Ordering::Relaxed), 1);
    q.borrow_mut().unpark(parked);
    assert_eq!(wakes.0.load(Ordering::Relaxed), 2);
    // So does a close requested meanwhile.
    assert_eq!(q.borrow_mut().pop(), Some(msg(3)));
    assert_eq!(q.borrow_mut().poll_ready(&mut cx), Poll::Pending);
    let parked = q.borrow_mut().park_consumer();
    q.borrow_mut().close(CloseReason::Normal);
    q.borrow_mut().unpark(parked);
    assert_eq!(wakes.0.load(Ordering::Relaxed), 3);
}

/// An MQTT front end's codec call on another realm
/// (`CALL_ON_REALM_OPTION`, Crossbar's `dynamic` mapping with a codec
/// `realm`) is made by the router there and answered to the link under the
/// CALL's request ID; a realm that does not exist gets no_such_realm. From
/// any other link the option means nothing: the call stays in its realm.
#[test]
fn an_mqtt_link_calls_a_codec_on_another_realm_and_no_other_link_can() {
    use crate::core::api::{CALL_ON_REALM_OPTION, FrontEnd};
    let mut c = Cluster::new(2);
    let (codec, _) = c.join(1, Serializer::Json, "realm2");
    c.send(
        &codec,
        Message::Register(Register {
            request: RequestId(1),
            options: Dict::new(),
            procedure: "far.decode".into(),
        }),
    );
    c.pump();
    assert!(matches!(
        c.recv(&codec).as_slice(),
        [Message::Registered(_)]
    ));
    let call = |request: u64, realm: &str| {
        Message::Call(Call {
            request: RequestId(request),
            options: Dict::new()
                .with(CALL_ON_REALM_OPTION, realm)
                .with("timeout", 1000u64),
            procedure: "far.decode".into(),
            payload: Payload::args(vec![Value::from(1u64)]),
        })
    };
    let mqtt = c.connect_local_as(0, FrontEnd::Mqtt);
    c.routers[0].feed(mqtt.id, hello("realm1", Dict::new()));
    assert!(matches!(mqtt.take().as_slice(), [Message::Welcome(_)]));
    c.routers[0].feed(mqtt.id, call(7, "realm2"));
    c.pump();
    let inv = match c.recv(&codec).as_slice() {
        [Message::Invocation(i)] => i.clone(),
        other => panic!("expected INVOCATION, got {other:?}"),
    };
    assert_eq!(inv.payload.args, Some(vec![Value::from(1u64)]));
    c.send(
        &codec,
        Message::Yield(Yield {
            request: inv.request,
            options: Dict::new(),
            payload: Payload::args(vec![Value::from(2u64)]),
        }),
    );
    c.pump();
    match mqtt.take().as_slice() {
        [Message::Result(r)] => {
            assert_eq!(r.request, RequestId(7));
            assert_eq!(r.payload.args, Some(vec![Value::from(2u64)]));
        }
        other => panic!("expected RESULT, got {other:?}"),
    }
    c.routers[0].feed(mqtt.id, call(8, "nowhere"));
    c.pump();
    match mqtt.take().as_slice() {
        [Message::Error(e)] => assert_eq!(
            (e.request, e.error.as_str()),
            (RequestId(8), uris::NO_SUCH_REALM)
        ),
        other => panic!("expected ERROR, got {other:?}"),
    }
    // A WAMP client's CALL with the option stays on its realm.
    let (wamp, _) = c.join(0, Serializer::Json, "realm1");
    c.send(&wamp, call(9, "realm2"));
    c.pump();
    assert_eq!(error_uri(&c.recv(&wamp)[0]), uris::NO_SUCH_PROCEDURE);
    let typed = c.connect_local(0);
    c.routers[0].feed(typed.id, hello("realm1", Dict::new()));
    let _ = typed.take();
    c.routers[0].feed(typed.id, call(10, "realm2"));
    c.pump();
    match typed.take().as_slice() {
        [Message::Error(e)] => assert_eq!(e.error, uris::NO_SUCH_PROCEDURE),
        other => panic!("expected ERROR, got {other:?}"),
    }
    assert!(c.recv(&codec).is_empty(), "the codec was called once");
}
