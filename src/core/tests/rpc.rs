//! Advanced-profile dealer tests (issue 4) on the multi-shard harness of
//! `tests.rs` (this module is its child and uses the harness directly).
//! Callers and callees sit on different shards wherever that matters; time is
//! injected through a manual [`Clock`].

use std::cell::Cell;
use std::time::{Duration, Instant};

use super::*;
use crate::core::Clock;

/// Features a test client announces in HELLO.
pub(super) const CANCEL: (&str, &str) = ("callee", "call_canceling");
pub(super) const PROG_RESULTS: (&str, &str) = ("callee", "progressive_call_results");
pub(super) const PROG_INV: (&str, &str) = ("callee", "progressive_call_invocations");
pub(super) const CALLER_PROG_INV: (&str, &str) = ("caller", "progressive_call_invocations");
pub(super) const REVOCATION: (&str, &str) = ("callee", "registration_revocation");

/// HELLO `roles` announcing `features` (role, feature).
pub(super) fn roles_of(features: &[(&'static str, &'static str)]) -> Dict {
    let mut roles = Dict::new();
    for (role, feature) in features {
        let mut f = roles
            .get(role)
            .and_then(Value::as_dict)
            .and_then(|r| r.get("features"))
            .and_then(Value::as_dict)
            .cloned()
            .unwrap_or_default();
        f.insert(*feature, true);
        roles.insert(*role, Dict::new().with("features", f));
    }
    roles
}

#[derive(Clone)]
pub(super) struct ManualClock(pub(super) Rc<Cell<Instant>>);

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.0.get()
    }
    fn unix_ms(&self) -> u64 {
        1_714_566_896_789
    }
}

/// Installs one manual clock on every shard; returns it.
pub(super) fn manual_clock(c: &mut Cluster) -> ManualClock {
    let clock = ManualClock(Rc::new(Cell::new(Instant::now())));
    for r in &mut c.routers {
        r.set_clock(Box::new(clock.clone()));
    }
    clock
}

impl Cluster {
    /// A session on `shard` announcing `features` (role, feature) in HELLO.
    pub(super) fn join_with(
        &mut self,
        shard: usize,
        features: &[(&'static str, &'static str)],
    ) -> (Peer, SessionId) {
        let roles = roles_of(features);
        let p = self.connect_raw(shard, Serializer::Json, 1 << 20);
        self.send(
            &p,
            Message::Hello(Hello {
                realm: Some("realm1".into()),
                details: Dict::new().with("roles", roles),
            }),
        );
        match self.recv(&p).as_slice() {
            [Message::Welcome(w)] => (p, w.session),
            other => panic!("expected WELCOME, got {other:?}"),
        }
    }

    pub(super) fn reg_ok(
        &mut self,
        p: &Peer,
        req: u64,
        procedure: &str,
        options: Dict,
    ) -> RegistrationId {
        match self.register(p, req, procedure, options) {
            Message::Registered(r) => r.registration,
            other => panic!("expected REGISTERED for {procedure}, got {other:?}"),
        }
    }

    pub(super) fn call(
        &mut self,
        p: &Peer,
        req: u64,
        procedure: &str,
        options: Dict,
        payload: Payload,
    ) {
        self.send(
            p,
            Message::Call(Call {
                request: RequestId(req),
                options,
                procedure: procedure.into(),
                payload,
            }),
        );
        self.pump();
    }

    pub(super) fn invocation(&mut self, p: &Peer) -> Invocation {
        match self.recv(p).as_slice() {
            [Message::Invocation(i)] => i.clone(),
            other => panic!("expected one INVOCATION, got {other:?}"),
        }
    }

    pub(super) fn yield_(
        &mut self,
        p: &Peer,
        request: RequestId,
        progress: bool,
        payload: Payload,
    ) {
        let options = if progress {
            Dict::new().with("progress", true)
        } else {
            Dict::new()
        };
        self.send(
            p,
            Message::Yield(Yield {
                request,
                options,
                payload,
            }),
        );
        self.pump();
    }

    pub(super) fn cancel(&mut self, p: &Peer, req: u64, mode: &str) {
        self.send(
            p,
            Message::Cancel(Cancel {
                request: RequestId(req),
                options: Dict::new().with("mode", mode),
            }),
        );
        self.pump();
    }

    pub(super) fn pending_calls(&self) -> usize {
        self.routers
            .iter()
            .map(ShardRouter::pending_call_count)
            .sum()
    }
}

pub(super) fn result(m: &Message) -> &CallResult {
    match m {
        Message::Result(r) => r,
        other => panic!("expected RESULT, got {other:?}"),
    }
}

pub(super) fn one(msgs: Vec<Message>) -> Message {
    assert_eq!(msgs.len(), 1, "expected exactly one message: {msgs:?}");
    msgs.into_iter().next().expect("one")
}

pub(super) fn int(i: i64) -> Payload {
    args(vec![Value::Int(i)])
}

pub(super) fn error_message(m: &Message) -> String {
    match m {
        Message::Error(e) => e
            .payload
            .args
            .as_ref()
            .and_then(|a| a.first())
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        other => panic!("expected ERROR, got {other:?}"),
    }
}

#[test]
pub(super) fn welcome_announces_the_dealer_features() {
    let mut c = Cluster::new(1);
    let p = c.connect_raw(0, Serializer::Json, 1 << 20);
    c.send(
        &p,
        Message::Hello(Hello {
            realm: Some("realm1".into()),
            details: Dict::new(),
        }),
    );
    let Message::Welcome(w) = one(c.recv(&p)) else {
        panic!("expected WELCOME")
    };
    let features = w
        .details
        .get("roles")
        .and_then(Value::as_dict)
        .and_then(|r| r.get("dealer"))
        .and_then(Value::as_dict)
        .and_then(|d| d.get("features"))
        .and_then(Value::as_dict)
        .expect("dealer features")
        .clone();
    for f in [
        "progressive_call_results",
        "progressive_call_invocations",
        "call_canceling",
        "call_timeout",
        "caller_identification",
        "call_trustlevels",
        "shared_registration",
        "sharded_registration",
        "pattern_based_registration",
        "registration_meta_api",
        "registration_revocation",
    ] {
        assert_eq!(features.get(f), Some(&Value::Bool(true)), "{f}");
    }
}

#[rstest::rstest]
#[case(1)]
#[case(3)]
pub(super) fn progressive_call_results_across_shards(#[case] shards: u16) {
    let mut c = Cluster::new(shards);
    let (callee, _) = c.join_with(0, &[CANCEL, PROG_RESULTS]);
    let (caller, _) = c.join_with(shards as usize - 1, &[]);
    c.reg_ok(&callee, 1, "com.stream", Dict::new());
    c.call(
        &caller,
        7,
        "com.stream",
        Dict::new().with("receive_progress", true),
        Payload::empty(),
    );
    let inv = c.invocation(&callee);
    assert_eq!(
        inv.details.get("receive_progress"),
        Some(&Value::Bool(true))
    );
    for i in 1..=2 {
        c.yield_(&callee, inv.request, true, int(i));
        let m = one(c.recv(&caller));
        let r = result(&m);
        assert_eq!(r.request, RequestId(7));
        assert_eq!(r.details, Dict::new().with("progress", true));
        assert_eq!(r.payload, int(i));
    }
    c.yield_(&callee, inv.request, false, int(3));
    let m = one(c.recv(&caller));
    let r = result(&m);
    assert_eq!((r.request, r.details.get("progress")), (RequestId(7), None));
    assert_eq!(r.payload, int(3));
    // The invocation is over: a further (progressive) YIELD goes nowhere.
    c.yield_(&callee, inv.request, true, int(4));
    assert!(c.recv(&caller).is_empty());
    assert_eq!(c.pending_calls(), 0);
}

#[test]
pub(super) fn progressive_yields_are_dropped_for_callers_that_did_not_ask() {
    let mut c = Cluster::new(2);
    let (callee, _) = c.join_with(0, &[CANCEL, PROG_RESULTS]);
    let (plain_callee, _) = c.join_with(0, &[PROG_RESULTS]);
    let (no_prog_callee, _) = c.join_with(0, &[CANCEL]);
    let (caller, _) = c.join_with(1, &[]);
    c.reg_ok(&callee, 1, "com.a", Dict::new());
    c.reg_ok(&plain_callee, 1, "com.b", Dict::new());
    c.reg_ok(&no_prog_callee, 1, "com.c", Dict::new());
    c.call(&caller, 1, "com.a", Dict::new(), Payload::empty());
    let inv = c.invocation(&callee);
    assert_eq!(inv.details.get("receive_progress"), None);
    c.yield_(&callee, inv.request, true, int(1));
    assert!(
        c.recv(&caller).is_empty(),
        "no RESULT the caller would take as final"
    );
    c.yield_(&callee, inv.request, false, int(2));
    assert_eq!(result(&one(c.recv(&caller))).payload, int(2));
    // A callee announcing progressive results but not call canceling (as
    // Autobahn|JS does) is offered them: the spec's only condition is the
    // callee's `progressive_call_results`.
    c.call(
        &caller,
        2,
        "com.b",
        Dict::new().with("receive_progress", true),
        Payload::empty(),
    );
    let inv = c.invocation(&plain_callee);
    assert_eq!(
        inv.details.get("receive_progress"),
        Some(&Value::Bool(true))
    );
    c.yield_(&plain_callee, inv.request, true, int(1));
    let m = one(c.recv(&caller));
    assert_eq!(result(&m).details, Dict::new().with("progress", true));
    c.yield_(&plain_callee, inv.request, false, int(2));
    assert_eq!(result(&one(c.recv(&caller))).payload, int(2));
    // A callee that did not announce progressive results is told the caller
    // wants them all the same (libraries such as wampy.js never announce the
    // feature but read the flag), and its progressive YIELDs reach the caller.
    c.call(
        &caller,
        3,
        "com.c",
        Dict::new().with("receive_progress", true),
        Payload::empty(),
    );
    let inv = c.invocation(&no_prog_callee);
    assert_eq!(
        inv.details.get("receive_progress"),
        Some(&Value::Bool(true))
    );
    c.yield_(&no_prog_callee, inv.request, true, int(5));
    let m = one(c.recv(&caller));
    assert_eq!(result(&m).details, Dict::new().with("progress", true));
    assert_eq!(result(&m).payload, int(5));
    c.yield_(&no_prog_callee, inv.request, false, int(6));
    let m = one(c.recv(&caller));
    assert_eq!(
        (result(&m).details.get("progress"), &result(&m).payload),
        (None, &int(6))
    );
}

#[rstest::rstest]
#[case(1)]
#[case(2)]
pub(super) fn receive_progress_reaches_a_callee_that_announced_no_features(#[case] shards: u16) {
    let mut c = Cluster::new(shards);
    // A HELLO without any roles, as wampy.js sends for a callee.
    let (callee, _) = c.join(0, Serializer::Json, "realm1");
    let (caller, _) = c.join_with(shards as usize - 1, &[]);
    c.reg_ok(&callee, 1, "com.wampy", Dict::new());
    c.call(
        &caller,
        4,
        "com.wampy",
        Dict::new().with("receive_progress", true),
        Payload::empty(),
    );
    let inv = c.invocation(&callee);
    assert_eq!(
        inv.details.get("receive_progress"),
        Some(&Value::Bool(true))
    );
    for i in 1..=3 {
        c.yield_(&callee, inv.request, true, int(i));
        let m = one(c.recv(&caller));
        assert_eq!(result(&m).details, Dict::new().with("progress", true));
        assert_eq!(result(&m).payload, int(i));
    }
    c.yield_(&callee, inv.request, false, Payload::empty());
    let m = one(c.recv(&caller));
    assert_eq!(result(&m).details.get("progress"), None);
    // Without the caller asking, the flag is absent.
    c.call(&caller, 5, "com.wampy", Dict::new(), Payload::empty());
    assert_eq!(c.invocation(&callee).details.get("receive_progress"), None);
    assert_eq!(
        c.pending_calls(),
        2,
        "call 5 on the caller's and the callee's side"
    );
}

#[rstest::rstest]
#[case(1)]
#[case(3)]
pub(super) fn progressive_call_invocations_stream_to_one_invocation(#[case] shards: u16) {
    let mut c = Cluster::new(shards);
    let (callee, _) = c.join_with(0, &[CANCEL, PROG_INV, PROG_RESULTS]);
    let (caller, caller_id) = c.join_with(shards as usize - 1, &[CALLER_PROG_INV]);
    c.reg_ok(&callee, 1, "com.upload", Dict::new());
    let first = Dict::new()
        .with("progress", true)
        .with("disclose_me", true)
        .with("receive_progress", true);
    c.call(&caller, 5, "com.upload", first, int(1));
    let inv = c.invocation(&callee);
    assert_eq!(inv.details.get("progress"), Some(&Value::Bool(true)));
    assert_eq!(inv.details.get("caller"), Some(&Value::from(caller_id.0)));
    assert_eq!(inv.payload, int(1));
    // Continuations: same CALL request ID → same INVOCATION request ID, frozen details.
    c.call(
        &caller,
        5,
        "com.upload",
        Dict::new().with("progress", true),
        int(2),
    );
    let next = c.invocation(&callee);
    assert_eq!(next.request, inv.request);
    assert_eq!(next.details.get("progress"), Some(&Value::Bool(true)));
    assert_eq!(next.details.get("caller"), Some(&Value::from(caller_id.0)));
    assert_eq!(next.payload, int(2));
    // Progressive results flow while the upload goes on.
    c.yield_(&callee, inv.request, true, int(20));
    assert_eq!(result(&one(c.recv(&caller))).payload, int(20));
    c.call(&caller, 5, "com.upload", Dict::new(), int(3));
    let last = c.invocation(&callee);
    assert_eq!(last.request, inv.request);
    assert_eq!(last.details.get("progress"), None);
    assert_eq!(last.details.get("caller"), Some(&Value::from(caller_id.0)));
    c.yield_(&callee, inv.request, false, int(6));
    assert_eq!(result(&one(c.recv(&caller))).payload, int(6));
    // A continuation arriving after the call ended is discarded.
    c.call(
        &caller,
        5,
        "com.upload",
        Dict::new().with("progress", true),
        int(9),
    );
    assert!(c.recv(&callee).is_empty());
    assert!(c.recv(&caller).is_empty());
    assert_eq!(c.pending_calls(), 0);
}

#[test]
pub(super) fn progressive_invocations_need_announced_features() {
    let mut c = Cluster::new(2);
    let (old_callee, _) = c.join_with(0, &[CANCEL]);
    let (caller, _) = c.join_with(1, &[CALLER_PROG_INV]);
    c.reg_ok(&old_callee, 1, "com.old", Dict::new());
    c.call(
        &caller,
        1,
        "com.old",
        Dict::new().with("progress", true),
        int(1),
    );
    let m = one(c.recv(&caller));
    assert_eq!(error_uri(&m), uris::FEATURE_NOT_SUPPORTED);
    assert!(c.recv(&old_callee).is_empty());
    // A late continuation of that failed stream is discarded, not a new call.
    c.call(&caller, 1, "com.old", Dict::new(), int(2));
    assert!(c.recv(&old_callee).is_empty() && c.recv(&caller).is_empty());
    // A caller that did not announce the feature breaks the protocol.
    let (rude, _) = c.join_with(1, &[]);
    c.call(
        &rude,
        1,
        "com.old",
        Dict::new().with("progress", true),
        int(1),
    );
    match one(c.recv(&rude)) {
        Message::Abort(a) => assert_eq!(a.reason, uris::PROTOCOL_VIOLATION),
        other => panic!("expected ABORT, got {other:?}"),
    }
    // Reusing the request ID of a plain call in flight is a violation too.
    c.call(&caller, 2, "com.old", Dict::new(), int(1));
    assert_eq!(c.recv(&old_callee).len(), 1);
    c.call(&caller, 2, "com.old", Dict::new(), int(1));
    assert!(matches!(one(c.recv(&caller)), Message::Abort(_)));
}

#[test]
pub(super) fn progressive_invocation_sticks_to_one_callee_of_a_shared_registration() {
    let mut c = Cluster::new(3);
    let feats = [CANCEL, PROG_INV];
    let (a, _) = c.join_with(0, &feats);
    let (b, _) = c.join_with(1, &feats);
    let (caller, _) = c.join_with(2, &[CALLER_PROG_INV]);
    let rr = Dict::new().with("invoke", "roundrobin");
    c.reg_ok(&a, 1, "com.rr", rr.clone());
    c.reg_ok(&b, 1, "com.rr", rr);
    c.call(
        &caller,
        1,
        "com.rr",
        Dict::new().with("progress", true),
        int(1),
    );
    let inv = c.invocation(&a);
    for i in 2..=4 {
        let progress = i < 4;
        c.call(
            &caller,
            1,
            "com.rr",
            Dict::new().with("progress", progress),
            int(i),
        );
        assert_eq!(c.invocation(&a).request, inv.request);
        assert!(c.recv(&b).is_empty());
    }
}

pub(super) fn interrupt(m: &Message) -> &Interrupt {
    match m {
        Message::Interrupt(i) => i,
        other => panic!("expected INTERRUPT, got {other:?}"),
    }
}

#[rstest::rstest]
#[case(1)]
#[case(3)]
pub(super) fn cancel_modes(#[case] shards: u16) {
    let mut c = Cluster::new(shards);
    let (callee, _) = c.join_with(0, &[CANCEL]);
    let (caller, _) = c.join_with(shards as usize - 1, &[]);
    c.reg_ok(&callee, 1, "com.slow", Dict::new());

    // skip: ERROR at once, no INTERRUPT, the late answer is dropped.
    c.call(&caller, 1, "com.slow", Dict::new(), Payload::empty());
    let inv = c.invocation(&callee);
    c.cancel(&caller, 1, "skip");
    let m = one(c.recv(&caller));
    assert_eq!(error_uri(&m), uris::CANCELED);
    assert!(c.recv(&callee).is_empty());
    c.yield_(&callee, inv.request, false, int(1));
    assert!(c.recv(&caller).is_empty());

    // kill: INTERRUPT, and the callee's answer goes to the caller.
    c.call(&caller, 2, "com.slow", Dict::new(), Payload::empty());
    let inv = c.invocation(&callee);
    c.cancel(&caller, 2, "kill");
    assert!(c.recv(&caller).is_empty(), "kill waits for the callee");
    let m = one(c.recv(&callee));
    let i = interrupt(&m);
    assert_eq!(i.request, inv.request);
    assert_eq!(i.options.get("mode").and_then(Value::as_str), Some("kill"));
    c.cancel(&caller, 2, "kill");
    assert!(c.recv(&callee).is_empty(), "a repeated CANCEL is ignored");
    c.send(
        &callee,
        Message::Error(Error {
            request_type: code::INVOCATION,
            request: inv.request,
            details: Dict::new(),
            error: "wamp.error.canceled".into(),
            payload: args(vec!["interrupted".into()]),
        }),
    );
    c.pump();
    let m = one(c.recv(&caller));
    assert_eq!(error_uri(&m), uris::CANCELED);
    assert_eq!(error_message(&m), "interrupted", "the callee's own ERROR");

    // kill, answered with an application error (as Autobahn|Python does:
    // its handler raises): the caller gets wamp.error.canceled, with the
    // callee's args and kwargs.
    c.call(&caller, 4, "com.slow", Dict::new(), Payload::empty());
    let inv = c.invocation(&callee);
    c.cancel(&caller, 4, "kill");
    assert_eq!(interrupt(&one(c.recv(&callee))).request, inv.request);
    let payload = Payload {
        args: Some(vec!["stopped at 40%".into()]),
        kwargs: Some(Dict::new().with("done", 40u64)),
    };
    c.send(
        &callee,
        Message::Error(Error {
            request_type: code::INVOCATION,
            request: inv.request,
            details: Dict::new(),
            error: "com.example.interrupted".into(),
            payload: payload.clone(),
        }),
    );
    c.pump();
    match one(c.recv(&caller)) {
        Message::Error(e) => {
            assert_eq!((e.request_type, e.request), (code::CALL, RequestId(4)));
            assert_eq!(e.error, uris::CANCELED);
            assert_eq!(e.payload, payload);
        }
        other => panic!("expected ERROR, got {other:?}"),
    }

    // kill, but the callee finished first: its RESULT goes to the caller as is.
    c.call(&caller, 5, "com.slow", Dict::new(), Payload::empty());
    let inv = c.invocation(&callee);
    c.cancel(&caller, 5, "kill");
    c.yield_(&callee, inv.request, false, int(5));
    assert_eq!(result(&one(c.recv(&caller))).payload, int(5));
    assert_eq!(interrupt(&one(c.recv(&callee))).request, inv.request);

    // Without a cancel, the callee's error URI reaches the caller unchanged.
    c.call(&caller, 6, "com.slow", Dict::new(), Payload::empty());
    let inv = c.invocation(&callee);
    c.send(
        &callee,
        Message::Error(Error {
            request_type: code::INVOCATION,
            request: inv.request,
            details: Dict::new(),
            error: "com.example.interrupted".into(),
            payload: Payload::empty(),
        }),
    );
    c.pump();
    assert_eq!(error_uri(&one(c.recv(&caller))), "com.example.interrupted");

    // killnowait: ERROR at once and INTERRUPT; the late answer is dropped.
    c.call(&caller, 3, "com.slow", Dict::new(), Payload::empty());
    let inv = c.invocation(&callee);
    c.cancel(&caller, 3, "killnowait");
    assert_eq!(error_uri(&one(c.recv(&caller))), uris::CANCELED);
    let m = one(c.recv(&callee));
    assert_eq!(
        interrupt(&m).options.get("mode").and_then(Value::as_str),
        Some("killnowait")
    );
    c.yield_(&callee, inv.request, false, int(1));
    assert!(c.recv(&caller).is_empty());

    // A CANCEL for a finished or unknown call is ignored; a bad mode is an ERROR.
    c.cancel(&caller, 99, "kill");
    assert!(c.recv(&caller).is_empty());
    c.cancel(&caller, 3, "nuke");
    let m = one(c.recv(&caller));
    match &m {
        Message::Error(e) => assert_eq!(e.request_type, code::CANCEL),
        other => panic!("expected ERROR, got {other:?}"),
    }
    assert_eq!(error_uri(&m), uris::INVALID_ARGUMENT);
    assert!(error_message(&m).contains("nuke"));
    assert_eq!(c.pending_calls(), 0);
}

#[test]
pub(super) fn cancel_kill_without_callee_support_is_skip() {
    let mut c = Cluster::new(2);
    let (callee, _) = c.join_with(0, &[]);
    let (caller, _) = c.join_with(1, &[]);
    c.reg_ok(&callee, 1, "com.slow", Dict::new());
    c.call(&caller, 1, "com.slow", Dict::new(), Payload::empty());
    let inv = c.invocation(&callee);
    c.cancel(&caller, 1, "kill");
    assert_eq!(error_uri(&one(c.recv(&caller))), uris::CANCELED);
    assert!(
        c.recv(&callee).is_empty(),
        "no INTERRUPT for a callee without call_canceling"
    );
    c.yield_(&callee, inv.request, false, int(1));
    assert!(c.recv(&caller).is_empty());
    c.call(&caller, 2, "com.slow", Dict::new(), Payload::empty());
    c.invocation(&callee);
    c.cancel(&caller, 2, "killnowait");
    assert_eq!(error_uri(&one(c.recv(&caller))), uris::CANCELED);
    assert!(c.recv(&callee).is_empty());
    assert_eq!(c.pending_calls(), 0);
}

#[test]
pub(super) fn caller_leaving_interrupts_the_callee() {
    let mut c = Cluster::new(2);
    let (callee, _) = c.join_with(0, &[CANCEL]);
    let (caller, _) = c.join_with(1, &[]);
    c.reg_ok(&callee, 1, "com.slow", Dict::new());
    c.call(&caller, 1, "com.slow", Dict::new(), Payload::empty());
    let inv = c.invocation(&callee);
    c.close(&caller);
    c.pump();
    let m = one(c.recv(&callee));
    let i = interrupt(&m);
    assert_eq!(i.request, inv.request);
    assert_eq!(
        i.options.get("mode").and_then(Value::as_str),
        Some("killnowait")
    );
    c.yield_(&callee, inv.request, false, int(1));
    assert_eq!(c.pending_calls(), 0);
}

#[rstest::rstest]
#[case(1)]
#[case(3)]
pub(super) fn call_timeout_is_enforced_by_the_callers_shard(#[case] shards: u16) {
    let mut c = Cluster::new(shards);
    let clock = manual_clock(&mut c);
    let t0 = clock.0.get();
    let cs = shards as usize - 1;
    let (callee, _) = c.join_with(0, &[CANCEL, PROG_RESULTS]);
    let (caller, _) = c.join_with(cs, &[]);
    c.reg_ok(&callee, 1, "com.slow", Dict::new());
    c.call(
        &caller,
        1,
        "com.slow",
        Dict::new().with("timeout", 100u64),
        Payload::empty(),
    );
    let inv = c.invocation(&callee);
    assert_eq!(inv.details.get("timeout"), None, "the dealer enforces it");
    assert_eq!(
        c.routers[cs].next_deadline(),
        Some(t0 + Duration::from_millis(100))
    );
    c.routers[cs].poll_timers(t0 + Duration::from_millis(99));
    c.pump();
    assert!(c.recv(&caller).is_empty());
    c.routers[cs].poll_timers(t0 + Duration::from_millis(100));
    c.pump();
    let m = one(c.recv(&caller));
    assert_eq!(error_uri(&m), uris::TIMEOUT);
    let m = one(c.recv(&callee));
    let i = interrupt(&m);
    assert_eq!(i.request, inv.request);
    assert_eq!(
        i.options.get("mode").and_then(Value::as_str),
        Some("killnowait")
    );
    assert_eq!(
        i.options.get("reason").and_then(Value::as_str),
        Some(uris::TIMEOUT)
    );
    c.yield_(&callee, inv.request, false, int(1));
    assert!(c.recv(&caller).is_empty());
    assert_eq!(c.routers[cs].next_deadline(), None);

    // Progressive results restart the timeout; an answer in time cancels it.
    let epoch = c.routers[cs].timer_epoch();
    c.call(
        &caller,
        2,
        "com.slow",
        Dict::new()
            .with("timeout", 50u64)
            .with("receive_progress", true),
        Payload::empty(),
    );
    assert_eq!(
        c.routers[cs].timer_epoch(),
        epoch + 1,
        "a new earliest deadline re-arms the timer"
    );
    let inv = c.invocation(&callee);
    clock.0.set(t0 + Duration::from_millis(40));
    c.yield_(&callee, inv.request, true, int(1));
    assert_eq!(result(&one(c.recv(&caller))).payload, int(1));
    assert_eq!(
        c.routers[cs].next_deadline(),
        Some(t0 + Duration::from_millis(90))
    );
    c.routers[cs].poll_timers(t0 + Duration::from_millis(60));
    c.pump();
    assert!(c.recv(&caller).is_empty());
    c.yield_(&callee, inv.request, false, int(2));
    assert_eq!(result(&one(c.recv(&caller))).payload, int(2));
    assert_eq!(c.routers[cs].next_deadline(), None);
    // timeout 0 means none.
    c.call(
        &caller,
        3,
        "com.slow",
        Dict::new().with("timeout", 0u64),
        Payload::empty(),
    );
    c.invocation(&callee);
    assert_eq!(c.routers[cs].next_deadline(), None);
}

#[test]
pub(super) fn forward_timeout_hands_the_timeout_to_the_callee() {
    let mut c = Cluster::new(2);
    manual_clock(&mut c);
    let (callee, _) = c.join_with(0, &[CANCEL]);
    let (caller, _) = c.join_with(1, &[]);
    c.reg_ok(
        &callee,
        1,
        "com.t",
        Dict::new().with("forward_timeout", true),
    );
    c.call(
        &caller,
        1,
        "com.t",
        Dict::new().with("timeout", 250u64),
        Payload::empty(),
    );
    let inv = c.invocation(&callee);
    assert_eq!(inv.details.get("timeout"), Some(&Value::from(250u64)));
    assert_eq!(c.routers[1].next_deadline(), None);
}

#[rstest::rstest]
#[case(1)]
#[case(3)]
pub(super) fn caller_identification_across_shards(#[case] shards: u16) {
    let mut c = Cluster::new(shards);
    let (callee, _) = c.join_with(0, &[]);
    let (caller, caller_id) = c.join_with(shards as usize - 1, &[]);
    c.reg_ok(&callee, 1, "com.who", Dict::new());
    c.reg_ok(
        &callee,
        2,
        "com.who.always",
        Dict::new().with("disclose_caller", true),
    );
    c.call(&caller, 1, "com.who", Dict::new(), Payload::empty());
    let inv = c.invocation(&callee);
    assert_eq!(inv.details.get("caller"), None);
    c.call(
        &caller,
        2,
        "com.who",
        Dict::new().with("disclose_me", true),
        Payload::empty(),
    );
    let inv = c.invocation(&callee);
    assert_eq!(inv.details.get("caller"), Some(&Value::from(caller_id.0)));
    assert_eq!(
        inv.details.get("caller_authrole").and_then(Value::as_str),
        Some("anonymous")
    );
    assert!(
        inv.details
            .get("caller_authid")
            .and_then(Value::as_str)
            .is_some()
    );
    c.call(&caller, 3, "com.who.always", Dict::new(), Payload::empty());
    let inv = c.invocation(&callee);
    assert_eq!(inv.details.get("caller"), Some(&Value::from(caller_id.0)));
}

#[test]
pub(super) fn trustlevel_comes_from_the_callers_role() {
    let mut config = test_config();
    config.realms[0].roles[0].trustlevel = Some(3);
    let mut c = Cluster::with_config(2, config);
    let (callee, _) = c.join_with(0, &[]);
    let (caller, _) = c.join_with(1, &[]);
    c.reg_ok(&callee, 1, "com.trust", Dict::new());
    c.call(&caller, 1, "com.trust", Dict::new(), Payload::empty());
    assert_eq!(
        c.invocation(&callee).details.get("trustlevel"),
        Some(&Value::from(3u64))
    );
    // Without configuration no trustlevel is sent.
    let mut c = Cluster::new(2);
    let (callee, _) = c.join_with(0, &[]);
    let (caller, _) = c.join_with(1, &[]);
    c.reg_ok(&callee, 1, "com.trust", Dict::new());
    c.call(&caller, 1, "com.trust", Dict::new(), Payload::empty());
    assert_eq!(c.invocation(&callee).details.get("trustlevel"), None);
}
