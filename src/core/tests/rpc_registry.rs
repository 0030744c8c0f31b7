//! Shared, sharded and pattern registrations, the registration meta API, bad
//! options, cleanup, and calls racing a callee leaving.

use std::time::Duration;

use super::rpc::*;
use super::*;
use ahash::AHashMap;

/// Which of `callees` got the single INVOCATION of a call (their index).
fn invoked(c: &mut Cluster, callees: &[Peer]) -> usize {
    let mut hit = None;
    for (i, p) in callees.iter().enumerate() {
        let got = c.recv(p);
        if !got.is_empty() {
            assert!(hit.is_none(), "two callees invoked");
            let Message::Invocation(inv) = one(got) else {
                panic!("expected INVOCATION")
            };
            c.yield_(p, inv.request, false, Payload::empty());
            hit = Some(i);
        }
    }
    hit.expect("one callee invoked")
}

#[test]
fn shared_registration_policies_across_shards() {
    let mut c = Cluster::new(4);
    let callees: Vec<Peer> = (0..3).map(|s| c.join_with(s, &[]).0).collect();
    let (caller, _) = c.join_with(3, &[]);
    for (policy, expected) in [
        ("roundrobin", vec![0, 1, 2, 0, 1, 2, 0]),
        ("first", vec![0, 0, 0]),
        ("last", vec![2, 2, 2]),
    ] {
        let procedure = format!("com.shared.{policy}");
        let opts = Dict::new().with("invoke", policy);
        let ids: Vec<RegistrationId> = callees
            .iter()
            .map(|p| c.reg_ok(p, 1, &procedure, opts.clone()))
            .collect();
        assert!(
            ids.iter().all(|i| *i == ids[0]),
            "one registration ID: {ids:?}"
        );
        let got: Vec<usize> = (0..expected.len() as u64)
            .map(|r| {
                c.call(&caller, r + 1, &procedure, Dict::new(), Payload::empty());
                invoked(&mut c, &callees)
            })
            .collect();
        assert_eq!(got, expected, "{policy}");
        // The registration time order survives a callee leaving and rejoining.
        if policy == "first" {
            c.send(
                &callees[0],
                Message::Unregister(Unregister {
                    request: RequestId(9),
                    registration: ids[0],
                }),
            );
            c.pump();
            c.recv(&callees[0]);
            c.call(&caller, 50, &procedure, Dict::new(), Payload::empty());
            assert_eq!(invoked(&mut c, &callees), 1);
            c.reg_ok(&callees[0], 10, &procedure, opts.clone());
            c.call(&caller, 51, &procedure, Dict::new(), Payload::empty());
            assert_eq!(
                invoked(&mut c, &callees),
                1,
                "rejoined callee is now the last"
            );
        }
    }
    // random: every callee gets some calls.
    let opts = Dict::new().with("invoke", "random");
    for p in &callees {
        c.reg_ok(p, 1, "com.shared.random", opts.clone());
    }
    let mut counts = [0; 3];
    for r in 0..60 {
        c.call(
            &caller,
            100 + r,
            "com.shared.random",
            Dict::new(),
            Payload::empty(),
        );
        counts[invoked(&mut c, &callees)] += 1;
    }
    assert!(counts.iter().all(|n| *n > 5), "{counts:?}");
    assert_eq!(c.pending_calls(), 0);
}

#[test]
fn shared_registration_conflicts() {
    let mut c = Cluster::new(3);
    let (a, _) = c.join_with(0, &[]);
    let (b, _) = c.join_with(1, &[]);
    let (d, _) = c.join_with(2, &[]);
    c.reg_ok(&a, 1, "com.single", Dict::new());
    let m = c.register(
        &b,
        1,
        "com.single",
        Dict::new().with("invoke", "roundrobin"),
    );
    assert_eq!(error_uri(&m), uris::PROCEDURE_ALREADY_EXISTS);
    c.reg_ok(&a, 2, "com.rr", Dict::new().with("invoke", "roundrobin"));
    let m = c.register(&b, 2, "com.rr", Dict::new().with("invoke", "random"));
    assert_eq!(
        error_uri(&m),
        "wamp.error.procedure_exists_with_different_invocation_policy"
    );
    let m = c.register(&d, 2, "com.rr", Dict::new());
    assert_eq!(
        error_uri(&m),
        "wamp.error.procedure_exists_with_different_invocation_policy"
    );
    let m = c.register(&a, 3, "com.rr", Dict::new().with("invoke", "roundrobin"));
    assert_eq!(
        error_uri(&m),
        uris::PROCEDURE_ALREADY_EXISTS,
        "same session twice"
    );
    // After every callee left, the registration is gone and any policy may register.
    c.close(&a);
    c.pump();
    c.reg_ok(&b, 4, "com.rr", Dict::new().with("invoke", "last"));
}

#[test]
fn sharded_registration_routes_by_rkey() {
    let mut c = Cluster::new(3);
    let callees: Vec<Peer> = (0..3).map(|s| c.join_with(s, &[]).0).collect();
    let callers: Vec<Peer> = (0..3).map(|s| c.join_with(s, &[]).0).collect();
    for p in &callees {
        c.reg_ok(p, 1, "com.db.get", Dict::new().with("invoke", "roundrobin"));
    }
    let mut owners = std::collections::HashSet::new();
    for k in 0..20 {
        let key = format!("customer-{k}");
        let mut seen = Vec::new();
        for (i, caller) in callers.iter().enumerate() {
            for mode in [Dict::new(), Dict::new().with("runmode", "partition")] {
                let opts = mode.with("rkey", key.as_str());
                c.call(caller, 1 + i as u64, "com.db.get", opts, Payload::empty());
                seen.push(invoked(&mut c, &callees));
            }
        }
        assert!(seen.iter().all(|s| *s == seen[0]), "{key}: {seen:?}");
        owners.insert(seen[0]);
    }
    assert_eq!(owners.len(), 3, "keys spread over the callees");
}

#[test]
fn pattern_registrations_precedence_across_shards() {
    let mut c = Cluster::new(4);
    let (wild, _) = c.join_with(0, &[]);
    let (short, _) = c.join_with(1, &[]);
    let (long, _) = c.join_with(2, &[]);
    let (exact, _) = c.join_with(3, &[]);
    let (caller, _) = c.join_with(1, &[]);
    c.reg_ok(&wild, 1, "com..get", Dict::new().with("match", "wildcard"));
    c.reg_ok(&short, 1, "com.app", Dict::new().with("match", "prefix"));
    c.reg_ok(
        &long,
        1,
        "com.app.users",
        Dict::new().with("match", "prefix"),
    );
    c.reg_ok(&exact, 1, "com.app.users.get", Dict::new());
    let all = [wild, short, long, exact];
    for (req, (procedure, who, detail)) in [
        ("com.app.users.get", 3, false),
        ("com.app.users.list", 2, true),
        ("com.app.other", 1, true),
        ("com.zzz.get", 0, true),
    ]
    .into_iter()
    .enumerate()
    {
        c.call(
            &caller,
            req as u64 + 1,
            procedure,
            Dict::new(),
            Payload::empty(),
        );
        let mut hit = None;
        for (i, p) in all.iter().enumerate() {
            if let [Message::Invocation(inv)] = c.recv(p).as_slice() {
                hit = Some(i);
                let d = inv.details.get("procedure").and_then(Value::as_str);
                assert_eq!(d, detail.then_some(procedure), "{procedure}");
            }
        }
        assert_eq!(hit, Some(who), "{procedure}");
    }
}

#[test]
fn registration_meta_api_and_revocation() {
    let mut c = Cluster::new(3);
    manual_clock(&mut c);
    let (watcher, _) = c.join_with(2, &[]);
    let mut subs = AHashMap::new();
    for (i, t) in ["on_create", "on_register", "on_unregister", "on_delete"]
        .into_iter()
        .enumerate()
    {
        let id = c.subscribe(
            &watcher,
            i as u64 + 1,
            &format!("wamp.registration.{t}"),
            Dict::new(),
        );
        subs.insert(id, t);
    }
    let (a, a_id) = c.join_with(0, &[REVOCATION]);
    let (b, b_id) = c.join_with(1, &[]);
    let opts = Dict::new().with("invoke", "roundrobin");
    let reg = c.reg_ok(&a, 1, "com.meta.proc", opts.clone());
    c.reg_ok(&b, 1, "com.meta.proc", opts);
    c.pump();
    let got: Vec<(&str, Vec<Value>)> = c
        .recv(&watcher)
        .iter()
        .map(|m| match m {
            Message::Event(e) => (
                subs[&e.subscription],
                e.payload.args.clone().unwrap_or_default(),
            ),
            other => panic!("expected EVENT, got {other:?}"),
        })
        .collect();
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(got[0].0, "on_create");
    assert_eq!(got[0].1[0], Value::from(a_id.0));
    let details = got[0].1[1].as_dict().expect("RegistrationDetails");
    assert_eq!(details.get("id"), Some(&Value::from(reg.0)));
    assert_eq!(
        details.get("uri").and_then(Value::as_str),
        Some("com.meta.proc")
    );
    assert_eq!(details.get("match").and_then(Value::as_str), Some("exact"));
    assert_eq!(
        details.get("invoke").and_then(Value::as_str),
        Some("roundrobin")
    );
    assert!(details.get("created").and_then(Value::as_str).is_some());
    assert_eq!(
        got[1],
        ("on_register", vec![Value::from(a_id.0), Value::from(reg.0)])
    );
    assert_eq!(
        got[2],
        ("on_register", vec![Value::from(b_id.0), Value::from(reg.0)])
    );

    let (caller, _) = c.join_with(2, &[]);
    let meta = |c: &mut Cluster, name: &str, a: Vec<Value>| -> Message {
        c.call(
            &caller,
            1,
            &format!("wamp.registration.{name}"),
            Dict::new(),
            args(a),
        );
        one(c.recv(&caller))
    };
    let first_arg = |m: &Message| result(m).payload.args.clone().unwrap_or_default()[0].clone();
    let m = meta(&mut c, "list", vec![]);
    let lists = first_arg(&m);
    let lists = lists.as_dict().expect("lists");
    assert_eq!(
        lists.get("exact"),
        Some(&Value::List(vec![Value::from(reg.0)]))
    );
    assert_eq!(lists.get("prefix"), Some(&Value::List(vec![])));
    let m = meta(&mut c, "lookup", vec!["com.meta.proc".into()]);
    assert_eq!(first_arg(&m), Value::from(reg.0));
    let m = meta(
        &mut c,
        "lookup",
        vec![
            "com.meta.proc".into(),
            Value::Dict(Dict::new().with("match", "prefix")),
        ],
    );
    assert_eq!(first_arg(&m), Value::Null);
    let m = meta(&mut c, "match", vec!["com.meta.proc".into()]);
    assert_eq!(first_arg(&m), Value::from(reg.0));
    let m = meta(&mut c, "match", vec!["com.meta.none".into()]);
    assert_eq!(first_arg(&m), Value::Null);
    let m = meta(&mut c, "get", vec![Value::from(reg.0)]);
    assert_eq!(
        first_arg(&m)
            .as_dict()
            .and_then(|d| d.get("created"))
            .and_then(Value::as_str),
        Some("2024-05-01T12:34:56.789Z")
    );
    let m = meta(&mut c, "list_callees", vec![Value::from(reg.0)]);
    assert_eq!(
        first_arg(&m),
        Value::List(vec![Value::from(a_id.0), Value::from(b_id.0)])
    );
    let m = meta(&mut c, "count_callees", vec![Value::from(reg.0)]);
    assert_eq!(first_arg(&m), Value::from(2u64));
    let m = meta(&mut c, "get", vec![Value::from(999_999u64)]);
    assert_eq!(error_uri(&m), uris::NO_SUCH_REGISTRATION);
    let m = meta(&mut c, "count_callees", vec!["x".into()]);
    assert_eq!(error_uri(&m), uris::INVALID_ARGUMENT);

    // Revocation of one callee: UNREGISTERED(0) to a callee that announced it.
    let m = meta(
        &mut c,
        "remove_callee",
        vec![
            Value::from(reg.0),
            Value::from(a_id.0),
            "maintenance".into(),
        ],
    );
    assert!(matches!(m, Message::Result(_)));
    match one(c.recv(&a)) {
        Message::Unregistered(u) => {
            assert_eq!(u.request, RequestId(0));
            let d = u.details.expect("details");
            assert_eq!(d.get("registration"), Some(&Value::from(reg.0)));
            assert_eq!(d.get("reason").and_then(Value::as_str), Some("maintenance"));
        }
        other => panic!("expected UNREGISTERED, got {other:?}"),
    }
    c.pump();
    let m = meta(&mut c, "count_callees", vec![Value::from(reg.0)]);
    assert_eq!(first_arg(&m), Value::from(1u64));
    // Revoking the whole registration: b did not announce revocation, so it
    // gets no UNREGISTERED, but the registration is gone.
    c.recv(&watcher);
    let m = meta(&mut c, "remove", vec![Value::from(reg.0)]);
    assert!(matches!(m, Message::Result(_)));
    c.pump();
    assert!(c.recv(&b).is_empty());
    let m = meta(&mut c, "match", vec!["com.meta.proc".into()]);
    assert_eq!(first_arg(&m), Value::Null);
    c.call(&caller, 2, "com.meta.proc", Dict::new(), Payload::empty());
    assert_eq!(error_uri(&one(c.recv(&caller))), uris::NO_SUCH_PROCEDURE);
    let topics: Vec<&str> = c
        .recv(&watcher)
        .iter()
        .map(|m| match m {
            Message::Event(e) => subs[&e.subscription],
            other => panic!("expected EVENT, got {other:?}"),
        })
        .collect();
    assert_eq!(topics, ["on_unregister", "on_delete"]);
    // b may register anew (its session no longer holds the registration).
    c.reg_ok(&b, 5, "com.meta.proc", Dict::new());
}

#[test]
fn bad_options_get_invalid_argument() {
    let mut c = Cluster::new(2);
    let (p, _) = c.join_with(0, &[]);
    let (callee, _) = c.join_with(1, &[]);
    for (opts, needle) in [
        (Dict::new().with("invoke", "fastest"), "fastest"),
        (Dict::new().with("invoke", 1u64), "invoke"),
        (
            Dict::new().with("disclose_caller", "yes"),
            "disclose_caller",
        ),
        (Dict::new().with("forward_timeout", 1u64), "forward_timeout"),
        (Dict::new().with("match", "fuzzy"), "fuzzy"),
    ] {
        let m = c.register(&p, 1, "com.bad", opts);
        assert_eq!(error_uri(&m), uris::INVALID_ARGUMENT);
        assert!(error_message(&m).contains(needle), "{needle}: {m:?}");
    }
    c.reg_ok(&callee, 1, "com.ok", Dict::new());
    for (opts, needle) in [
        (Dict::new().with("timeout", -5i64), "timeout"),
        (Dict::new().with("timeout", "soon"), "timeout"),
        (
            Dict::new().with("receive_progress", "yes"),
            "receive_progress",
        ),
        (Dict::new().with("progress", 1u64), "progress"),
        (Dict::new().with("disclose_me", 0u64), "disclose_me"),
        (Dict::new().with("runmode", "all"), "runmode"),
        (Dict::new().with("rkey", Value::List(vec![])), "rkey"),
    ] {
        c.call(&p, 2, "com.ok", opts, Payload::empty());
        let m = one(c.recv(&p));
        assert_eq!(error_uri(&m), uris::INVALID_ARGUMENT);
        assert!(error_message(&m).contains(needle), "{needle}: {m:?}");
    }
    assert!(c.recv(&callee).is_empty());
    // A YIELD with a non-boolean `progress` is a protocol violation of the callee.
    c.call(&p, 3, "com.ok", Dict::new(), Payload::empty());
    let inv = c.invocation(&callee);
    c.send(
        &callee,
        Message::Yield(Yield {
            request: inv.request,
            options: Dict::new().with("progress", "yes"),
            payload: Payload::empty(),
        }),
    );
    c.pump();
    assert!(matches!(one(c.recv(&callee)), Message::Abort(_)));
    assert_eq!(error_uri(&one(c.recv(&p))), uris::CANCELED);
    assert_eq!(c.pending_calls(), 0);
}

#[test]
fn everything_is_cleaned_up_when_sessions_leave() {
    let mut c = Cluster::new(3);
    let clock = manual_clock(&mut c);
    let (a, _) = c.join_with(0, &[CANCEL, PROG_INV]);
    let (b, _) = c.join_with(1, &[CANCEL]);
    let (caller, _) = c.join_with(2, &[CALLER_PROG_INV]);
    let rr = Dict::new().with("invoke", "roundrobin");
    c.reg_ok(&a, 1, "com.x", rr.clone());
    c.reg_ok(&b, 1, "com.x", rr);
    c.call(
        &caller,
        1,
        "com.x",
        Dict::new().with("progress", true),
        Payload::empty(),
    );
    c.call(
        &caller,
        2,
        "com.x",
        Dict::new().with("timeout", 1000u64),
        Payload::empty(),
    );
    assert!(c.pending_calls() > 0);
    c.close(&caller);
    c.pump();
    c.routers[2].poll_timers(clock.0.get() + Duration::from_secs(5));
    c.close(&a);
    c.close(&b);
    c.pump();
    assert_eq!(c.pending_calls(), 0);
    assert_eq!(c.index_entries(), 0);
}

#[test]
fn call_racing_a_callee_leaving_bounces_to_another_callee() {
    let mut c = Cluster::new(3);
    let (a, _) = c.join_with(0, &[]);
    let (b, _) = c.join_with(1, &[]);
    let (caller, _) = c.join_with(2, &[]);
    let first = Dict::new().with("invoke", "first");
    c.reg_ok(&a, 1, "com.ha", first.clone());
    c.reg_ok(&b, 1, "com.ha", first);
    // `a` leaves; the caller's shard calls before its replica hears of it.
    c.close(&a);
    c.send(
        &caller,
        Message::Call(Call {
            request: RequestId(1),
            options: Dict::new(),
            procedure: "com.ha".into(),
            payload: int(1),
        }),
    );
    c.pump();
    let inv = c.invocation(&b);
    assert_eq!(inv.payload, int(1));
    c.yield_(&b, inv.request, false, int(2));
    assert_eq!(result(&one(c.recv(&caller))).payload, int(2));
    // With no callee left the bounced call fails.
    c.close(&b);
    c.send(
        &caller,
        Message::Call(Call {
            request: RequestId(2),
            options: Dict::new(),
            procedure: "com.ha".into(),
            payload: Payload::empty(),
        }),
    );
    c.pump();
    assert_eq!(error_uri(&one(c.recv(&caller))), uris::NO_SUCH_PROCEDURE);
    assert_eq!(c.pending_calls(), 0);
    assert_eq!(c.index_entries(), 0);
}

#[test]
fn prefer_local_callee_keeps_shared_calls_on_the_callers_shard() {
    let mut config = test_config();
    config.realms[0].prefer_local_callee = true;
    let mut c = Cluster::with_config(2, config);
    let callees: Vec<Peer> = (0..2).map(|s| c.join_with(s, &[]).0).collect();
    let opts = Dict::new().with("invoke", "roundrobin");
    for p in &callees {
        c.reg_ok(p, 1, "com.local", opts.clone());
    }
    for shard in 0..2 {
        let (caller, _) = c.join_with(shard, &[]);
        let got: Vec<usize> = (1..=4)
            .map(|r| {
                c.call(&caller, r, "com.local", Dict::new(), Payload::empty());
                invoked(&mut c, &callees)
            })
            .collect();
        assert_eq!(got, [shard; 4], "caller on shard {shard}");
    }
    // Without a callee on the caller's shard, calls go to the others.
    c.send(
        &callees[1],
        Message::Goodbye(Goodbye {
            details: Dict::new(),
            reason: "wamp.close.normal".into(),
        }),
    );
    c.pump();
    let (caller, _) = c.join_with(1, &[]);
    c.call(&caller, 9, "com.local", Dict::new(), Payload::empty());
    assert_eq!(invoked(&mut c, &callees[..1]), 0);
}

/// `force_reregister` (Autobahn|Python's RegisterOptions, Crossbar.io's
/// behaviour): a new callee takes a procedure whose callees are still
/// registered; they are revoked (UNREGISTERED with request 0 and reason
/// `wamp.error.unregistered` to those that announced revocation, silently
/// for the others), on whatever shard they are, shared registrations too.
#[test]
fn force_reregister_takes_the_procedure_over() {
    let mut c = Cluster::new(3);
    let (old, _) = c.join_with(1, &[REVOCATION]);
    let (caller, _) = c.join_with(0, &[]);
    let first = c.reg_ok(&old, 1, "com.svc", Dict::new());
    let (new, _) = c.join_with(2, &[]);
    let m = c.register(&new, 1, "com.svc", Dict::new());
    assert_eq!(error_uri(&m), uris::PROCEDURE_ALREADY_EXISTS);
    let force = Dict::new().with("force_reregister", true);
    let second = c.reg_ok(&new, 2, "com.svc", force.clone());
    assert_ne!(second, first);
    match one(c.recv(&old)) {
        Message::Unregistered(u) => {
            assert_eq!(u.request, RequestId(0));
            let d = u.details.expect("details");
            assert_eq!(d.get("registration"), Some(&Value::from(first.0)));
            assert_eq!(
                d.get("reason").and_then(Value::as_str),
                Some(uris::UNREGISTERED)
            );
        }
        other => panic!("expected UNREGISTERED, got {other:?}"),
    }
    c.call(&caller, 1, "com.svc", Dict::new(), Payload::empty());
    let inv = c.invocation(&new);
    assert_eq!(inv.registration, second);
    assert!(c.recv(&old).is_empty());
    // The old callee no longer holds it.
    c.send(
        &old,
        Message::Unregister(Unregister {
            request: RequestId(5),
            registration: first,
        }),
    );
    c.pump();
    assert_eq!(error_uri(&one(c.recv(&old))), uris::NO_SUCH_REGISTRATION);
    // A shared registration: both callees go (one silently), the newcomer's
    // own policy holds.
    let (a, _) = c.join_with(0, &[REVOCATION]);
    let (b, _) = c.join_with(1, &[]);
    let shared = Dict::new().with("invoke", "roundrobin");
    let rr = c.reg_ok(&a, 1, "com.pool", shared.clone());
    assert_eq!(c.reg_ok(&b, 1, "com.pool", shared), rr);
    let (solo, _) = c.join_with(2, &[]);
    let took = c.reg_ok(&solo, 3, "com.pool", force);
    assert!(matches!(one(c.recv(&a)), Message::Unregistered(_)));
    assert!(c.recv(&b).is_empty());
    let (late, _) = c.join_with(0, &[]);
    let m = c.register(
        &late,
        1,
        "com.pool",
        Dict::new().with("invoke", "roundrobin"),
    );
    assert_eq!(
        error_uri(&m),
        uris::PROCEDURE_ALREADY_EXISTS,
        "single now: {took:?}"
    );
    // Every replica lists only the newcomers, under the new IDs.
    for r in &c.routers {
        let regs = &r.dealer.realm(0).regs;
        for (uri, id, session) in [("com.svc", second, 2), ("com.pool", took, 2)] {
            let e = regs.get(uri, MatchPolicy::Exact).expect("replicated");
            assert_eq!(e.id, id);
            let shards: Vec<u16> = e.callees.iter().map(|c| c.shard.0).collect();
            assert_eq!(shards, [session]);
        }
    }
}

/// REGISTER `concurrency` (Crossbar.io's callee concurrency): a callee at
/// its limit is skipped for another callee of a shared registration, and
/// when none is left the call fails with
/// `crossbar.error.max_concurrency_reached`; an answer frees a slot.
#[test]
fn callee_concurrency_limits_invocations_in_flight() {
    let mut c = Cluster::new(3);
    let (caller, _) = c.join_with(0, &[]);
    let (solo, _) = c.join_with(1, &[]);
    let one_at_a_time = Dict::new().with("concurrency", 1u64);
    c.reg_ok(&solo, 1, "com.solo", one_at_a_time.clone());
    c.call(&caller, 1, "com.solo", Dict::new(), Payload::empty());
    let first = c.invocation(&solo);
    c.call(&caller, 2, "com.solo", Dict::new(), Payload::empty());
    assert!(c.recv(&solo).is_empty());
    let got = one(c.recv(&caller));
    assert_eq!(error_uri(&got), uris::MAX_CONCURRENCY_REACHED, "{got:?}");
    c.yield_(&solo, first.request, false, Payload::empty());
    assert!(matches!(one(c.recv(&caller)), Message::Result(_)));
    c.call(&caller, 3, "com.solo", Dict::new(), Payload::empty());
    let again = c.invocation(&solo);
    c.yield_(&solo, again.request, false, Payload::empty());
    assert!(matches!(one(c.recv(&caller)), Message::Result(_)));

    // A pool of two, one call each at most, on two shards.
    let pool: Vec<Peer> = [1, 2].iter().map(|s| c.join_with(*s, &[]).0).collect();
    let rr = one_at_a_time.clone().with("invoke", "roundrobin");
    for p in &pool {
        c.reg_ok(p, 1, "com.pool", rr.clone());
    }
    let mut busy = Vec::new();
    for req in 10..12 {
        c.call(&caller, req, "com.pool", Dict::new(), Payload::empty());
        let got: Vec<Invocation> = pool
            .iter()
            .flat_map(|p| c.recv(p))
            .map(|m| match m {
                Message::Invocation(i) => i,
                other => panic!("expected INVOCATION, got {other:?}"),
            })
            .collect();
        assert_eq!(got.len(), 1, "call {req}");
        busy.push(got[0].request);
    }
    // Both busy, whichever the round robin tries first.
    c.call(&caller, 12, "com.pool", Dict::new(), Payload::empty());
    assert!(pool.iter().all(|p| c.recv(p).is_empty()));
    assert_eq!(
        error_uri(&one(c.recv(&caller))),
        uris::MAX_CONCURRENCY_REACHED
    );
    // A bad value is refused; the limits go with the sessions.
    let m = c.register(&solo, 9, "com.bad", Dict::new().with("concurrency", 0u64));
    assert_eq!(error_uri(&m), uris::INVALID_ARGUMENT);
    for p in pool.iter().chain([&solo]) {
        c.close(p);
    }
    c.pump();
    assert!(c.routers.iter().all(|r| r.dealer.limit_count() == 0));
}
