//! Sessions, pub/sub, RPC, limits and authorization across shards: the
//! basic profile, driven through the session API.

use std::rc::Rc;

use super::*;

#[test]
fn hello_gets_welcome_with_roles_and_unknown_realm_is_aborted() {
    let mut c = Cluster::new(2);
    let (p, sid) = c.join(1, Serializer::Json, "realm1");
    assert!(is_valid_id(sid.0));
    assert_eq!(
        (sid.0 - 1) % 2,
        1,
        "session IDs drawn on shard 1 are congruent to 2 mod 2"
    );
    let q = c.connect_raw(0, Serializer::Json, 1 << 20);
    c.send(
        &q,
        Message::Hello(Hello {
            realm: Some("nope".into()),
            details: Dict::new(),
        }),
    );
    match c.recv(&q).as_slice() {
        [Message::Abort(a)] => assert_eq!(a.reason, uris::NO_SUCH_REALM),
        other => panic!("expected ABORT, got {other:?}"),
    }
    assert_eq!(q.outbox.borrow().close_reason(), Some(&CloseReason::Normal));
    assert_eq!(c.routers[1].session_count(), 1);
    c.close(&p);
    assert_eq!(c.routers[1].session_count(), 0);
}

/// A transport with `routes` (a later Crossbar router worker's, or a
/// proxy's): its sessions join only the realms (and roles) it serves.
#[test]
fn a_routed_transport_serves_only_its_realms_and_roles() {
    let mut c = Cluster::new(2);
    let hello = |c: &mut Cluster, realm: &str| {
        let q = c.connect_raw(1, Serializer::Json, 1 << 20);
        c.send(
            &q,
            Message::Hello(Hello {
                realm: Some(realm.into()),
                details: Dict::new(),
            }),
        );
        c.recv(&q)
    };
    let mut t = (*c.transport).clone();
    t.routes = Some(
        [
            ("realm2".to_owned(), None),
            ("restricted".to_owned(), Some(vec!["operator".to_owned()])),
        ]
        .into(),
    );
    c.transport = Rc::new(t);
    match hello(&mut c, "realm1").as_slice() {
        [Message::Abort(a)] => {
            assert_eq!(a.reason, uris::NO_SUCH_REALM);
            let msg = a.details.get("message").and_then(Value::as_str);
            assert_eq!(msg, Some("no realm 'realm1' on this transport"));
        }
        other => panic!("expected ABORT, got {other:?}"),
    }
    assert!(matches!(
        hello(&mut c, "realm2").as_slice(),
        [Message::Welcome(_)]
    ));
    // Anonymous sessions get role "anonymous", which is not routed there.
    match hello(&mut c, "restricted").as_slice() {
        [Message::Abort(a)] => {
            assert_eq!(a.reason, uris::NO_SUCH_ROLE);
            let msg = a.details.get("message").and_then(Value::as_str);
            assert_eq!(
                msg,
                Some("role 'anonymous' is not routed to realm 'restricted' on this transport")
            );
        }
        other => panic!("expected ABORT, got {other:?}"),
    }
    assert_eq!(c.routers[1].session_count(), 1);
}

#[test]
fn messages_before_hello_and_garbage_are_protocol_violations() {
    let mut c = Cluster::new(1);
    let p = c.connect_raw(0, Serializer::Json, 1 << 20);
    c.send(
        &p,
        Message::Subscribe(Subscribe {
            request: RequestId(1),
            options: Dict::new(),
            topic: "a.b".into(),
        }),
    );
    match c.recv(&p).as_slice() {
        [Message::Abort(a)] => assert_eq!(a.reason, uris::PROTOCOL_VIOLATION),
        other => panic!("expected ABORT, got {other:?}"),
    }
    assert!(matches!(
        p.outbox.borrow().close_reason(),
        Some(CloseReason::ProtocolViolation(_))
    ));

    let (q, _) = c.join(0, Serializer::Json, "realm1");
    c.routers[0].feed_frame(q.conn, b"not json");
    match c.recv(&q).as_slice() {
        [Message::Abort(a)] => {
            assert_eq!(a.reason, uris::PROTOCOL_VIOLATION);
            assert!(
                a.details
                    .get("message")
                    .and_then(Value::as_str)
                    .is_some_and(|m| !m.is_empty())
            );
        }
        other => panic!("expected ABORT, got {other:?}"),
    }
    assert_eq!(
        c.routers[0].session_count(),
        0,
        "the violating session is gone"
    );
    // A router-to-client message from a client is a violation too.
    let (r, _) = c.join(0, Serializer::Json, "realm1");
    c.send(
        &r,
        Message::Published(Published {
            request: RequestId(1),
            publication: PublicationId(1),
        }),
    );
    assert!(matches!(c.recv(&r).as_slice(), [Message::Abort(_)]));
}

#[rstest::rstest]
#[case(1)]
#[case(2)]
#[case(4)]
fn pubsub_across_shards_shares_subscription_id(#[case] shards: u16) {
    let mut c = Cluster::new(shards);
    let last = shards as usize - 1;
    let (s1, _) = c.join(0, Serializer::Json, "realm1");
    let (s2, _) = c.join(last, Serializer::MsgPack, "realm1");
    let (publ, _) = c.join(last / 2, Serializer::Cbor, "realm1");
    let id1 = c.subscribe(&s1, 1, "com.example.topic", Dict::new());
    let id2 = c.subscribe(&s2, 1, "com.example.topic", Dict::new());
    assert_eq!(
        id1, id2,
        "same topic and policy give the same subscription ID on every shard"
    );
    let kw = Dict::new().with("k", Value::Bytes(Bytes::from_static(b"\x00\x01\xff")));
    let payload = Payload {
        args: Some(vec![Value::Int(-5), Value::Float(1.5), "ü".into()]),
        kwargs: Some(kw),
    };
    c.publish(
        &publ,
        1,
        "com.example.topic",
        Dict::new().with("acknowledge", true),
        payload.clone(),
    );
    c.pump();
    for s in [&s1, &s2] {
        let got = c.recv(s);
        let ev = events(&got);
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].subscription, id1);
        assert_eq!(ev[0].payload, payload, "payload intact across serializers");
    }
    match c.recv(&publ).as_slice() {
        [Message::Published(p)] => assert_eq!(p.request, RequestId(1)),
        other => panic!("expected PUBLISHED, got {other:?}"),
    }
}

#[test]
fn publisher_is_excluded_by_default_and_included_on_request() {
    let mut c = Cluster::new(1);
    let (p, _) = c.join(0, Serializer::Json, "realm1");
    c.subscribe(&p, 1, "t.x", Dict::new());
    c.publish(&p, 2, "t.x", Dict::new(), Payload::empty());
    assert!(events(&c.recv(&p)).is_empty());
    c.publish(
        &p,
        3,
        "t.x",
        Dict::new().with("exclude_me", false),
        Payload::empty(),
    );
    assert_eq!(events(&c.recv(&p)).len(), 1);
}

#[test]
fn subscribed_means_visible_to_every_later_publish() {
    // Many rounds with random interleaving of shard pairs: as soon as SUBSCRIBED
    // is out, a publish from any shard must reach the subscriber.
    for round in 0..200u64 {
        let mut c = Cluster::new(4);
        c.rng = SmallRng::seed_from_u64(round);
        let sub_shard = (round % 4) as usize;
        let pub_shard = ((round / 4) % 4) as usize;
        let (s, _) = c.join(sub_shard, Serializer::Json, "realm1");
        let (p, _) = c.join(pub_shard, Serializer::Json, "realm1");
        let topic = format!("t.{round}");
        c.send(
            &s,
            Message::Subscribe(Subscribe {
                request: RequestId(1),
                options: Dict::new(),
                topic: topic.clone(),
            }),
        );
        // Deliver cross-shard traffic one message at a time until SUBSCRIBED shows up.
        let mut seen = Vec::new();
        loop {
            seen.extend(c.recv(&s));
            if seen.iter().any(|m| matches!(m, Message::Subscribed(_))) {
                break;
            }
            assert!(c.step(), "SUBSCRIBED never came");
        }
        c.publish(&p, 1, &topic, Dict::new(), args(vec![Value::Int(1)]));
        c.pump();
        assert_eq!(
            events(&c.recv(&s)).len(),
            1,
            "round {round}: event lost after SUBSCRIBED"
        );
    }
}

#[test]
fn events_from_one_publisher_arrive_in_order_across_shards() {
    let mut c = Cluster::new(3);
    let subs: Vec<Peer> = (0..3)
        .map(|s| c.join(s, Serializer::Json, "realm1").0)
        .collect();
    for s in &subs {
        c.subscribe(s, 1, "seq", Dict::new());
    }
    let (p, _) = c.join(1, Serializer::Json, "realm1");
    for i in 0..300 {
        c.publish(
            &p,
            i + 1,
            "seq",
            Dict::new(),
            args(vec![Value::Int(i as i64)]),
        );
        if i % 7 == 0 {
            c.step();
        }
    }
    c.pump();
    for s in &subs {
        let got: Vec<i64> = events(&c.recv(s))
            .iter()
            .map(|e| {
                e.payload.args.as_ref().expect("args")[0]
                    .as_i64()
                    .expect("int")
            })
            .collect();
        assert_eq!(got, (0..300).collect::<Vec<i64>>());
    }
}

#[test]
fn event_is_encoded_once_per_serializer() {
    let mut c = Cluster::new(1);
    let (a, _) = c.join(0, Serializer::MsgPack, "realm1");
    let (b, _) = c.join(0, Serializer::MsgPack, "realm1");
    let (j, _) = c.join(0, Serializer::Json, "realm1");
    let (p, _) = c.join(0, Serializer::Cbor, "realm1");
    for s in [&a, &b, &j] {
        c.subscribe(s, 1, "fan", Dict::new());
    }
    c.publish(&p, 1, "fan", Dict::new(), args(vec!["x".into()]));
    let fa = c.recv_frames(&a);
    let fb = c.recv_frames(&b);
    let fj = c.recv_frames(&j);
    assert_eq!(
        fa[0].as_ptr(),
        fb[0].as_ptr(),
        "same serializer: the very same bytes are shared"
    );
    assert_ne!(fa[0], fj[0], "different serializer: a different encoding");
}

#[test]
fn pattern_subscriptions_get_topic_detail() {
    let mut c = Cluster::new(2);
    let (s, _) = c.join(0, Serializer::Json, "realm1");
    let (p, _) = c.join(1, Serializer::Json, "realm1");
    let pre = c.subscribe(&s, 1, "com.app", Dict::new().with("match", "prefix"));
    let wild = c.subscribe(&s, 2, "com..event", Dict::new().with("match", "wildcard"));
    let exact = c.subscribe(&s, 3, "com.app.event", Dict::new());
    assert!(pre != wild && wild != exact && pre != exact);
    c.publish(&p, 1, "com.app.event", Dict::new(), Payload::empty());
    c.pump();
    let got = c.recv(&s);
    let ev = events(&got);
    assert_eq!(ev.len(), 3);
    for e in ev {
        let topic = e.details.get("topic").and_then(Value::as_str);
        if e.subscription == exact {
            assert_eq!(topic, None);
        } else {
            assert_eq!(topic, Some("com.app.event"));
        }
    }
}

#[test]
fn invalid_uri_bad_match_and_unknown_subscription_get_errors() {
    let mut c = Cluster::new(1);
    let (s, _) = c.join(0, Serializer::Json, "realm1");
    c.send(
        &s,
        Message::Subscribe(Subscribe {
            request: RequestId(1),
            options: Dict::new(),
            topic: "com..bad".into(),
        }),
    );
    assert_eq!(error_uri(&c.recv(&s)[0]), uris::INVALID_URI);
    let opts = Dict::new().with("match", "fuzzy");
    c.send(
        &s,
        Message::Subscribe(Subscribe {
            request: RequestId(2),
            options: opts,
            topic: "com.ok".into(),
        }),
    );
    assert_eq!(error_uri(&c.recv(&s)[0]), uris::INVALID_ARGUMENT);
    c.send(
        &s,
        Message::Unsubscribe(Unsubscribe {
            request: RequestId(3),
            subscription: SubscriptionId(999),
        }),
    );
    assert_eq!(error_uri(&c.recv(&s)[0]), uris::NO_SUCH_SUBSCRIPTION);
    c.publish(
        &s,
        4,
        "bad..topic",
        Dict::new().with("acknowledge", true),
        Payload::empty(),
    );
    assert_eq!(error_uri(&c.recv(&s)[0]), uris::INVALID_URI);
}

#[test]
fn authorization_is_enforced() {
    let mut c = Cluster::new(2);
    let (s, _) = c.join(0, Serializer::Json, "restricted");
    c.send(
        &s,
        Message::Subscribe(Subscribe {
            request: RequestId(1),
            options: Dict::new(),
            topic: "com.denied.x".into(),
        }),
    );
    assert_eq!(error_uri(&c.recv(&s)[0]), uris::NOT_AUTHORIZED);
    c.publish(
        &s,
        2,
        "com.denied.x",
        Dict::new().with("acknowledge", true),
        Payload::empty(),
    );
    assert_eq!(error_uri(&c.recv(&s)[0]), uris::NOT_AUTHORIZED);
    c.subscribe(&s, 3, "com.allowed.x", Dict::new());
    let m = c.register(&s, 4, "com.denied.proc", Dict::new());
    assert_eq!(error_uri(&m), uris::NOT_AUTHORIZED);
}

#[test]
fn realms_are_isolated() {
    let mut c = Cluster::new(2);
    let (s1, _) = c.join(0, Serializer::Json, "realm1");
    let (s2, _) = c.join(1, Serializer::Json, "realm2");
    let (p, _) = c.join(1, Serializer::Json, "realm1");
    c.subscribe(&s1, 1, "same.topic", Dict::new());
    c.subscribe(&s2, 1, "same.topic", Dict::new());
    c.publish(&p, 1, "same.topic", Dict::new(), Payload::empty());
    c.pump();
    assert_eq!(events(&c.recv(&s1)).len(), 1);
    assert_eq!(events(&c.recv(&s2)).len(), 0);
}

#[rstest::rstest]
#[case(1)]
#[case(3)]
fn rpc_across_shards_and_error_routing(#[case] shards: u16) {
    let mut c = Cluster::new(shards);
    let (callee, _) = c.join(0, Serializer::MsgPack, "realm1");
    let (caller, _) = c.join(shards as usize - 1, Serializer::Json, "realm1");
    let reg = match c.register(&callee, 1, "com.example.add2", Dict::new()) {
        Message::Registered(r) => r.registration,
        other => panic!("expected REGISTERED, got {other:?}"),
    };
    let kw = Dict::new().with("k", 2u64);
    c.send(
        &caller,
        Message::Call(Call {
            request: RequestId(7),
            options: Dict::new(),
            procedure: "com.example.add2".into(),
            payload: Payload {
                args: Some(vec![Value::Int(2), Value::Int(3)]),
                kwargs: Some(kw.clone()),
            },
        }),
    );
    c.pump();
    let inv = match c.recv(&callee).as_slice() {
        [Message::Invocation(i)] => i.clone(),
        other => panic!("expected INVOCATION, got {other:?}"),
    };
    assert_eq!(inv.registration, reg);
    assert_eq!(inv.payload.kwargs, Some(kw));
    c.send(
        &callee,
        Message::Yield(Yield {
            request: inv.request,
            options: Dict::new(),
            payload: args(vec![Value::Int(5)]),
        }),
    );
    c.pump();
    match c.recv(&caller).as_slice() {
        [Message::Result(r)] => {
            assert_eq!(r.request, RequestId(7));
            assert_eq!(r.payload.args, Some(vec![Value::Int(5)]));
        }
        other => panic!("expected RESULT, got {other:?}"),
    }
    // An application error travels back with its URI and payload.
    c.send(
        &caller,
        Message::Call(Call {
            request: RequestId(8),
            options: Dict::new(),
            procedure: "com.example.add2".into(),
            payload: Payload::empty(),
        }),
    );
    c.pump();
    let inv = match c.recv(&callee).as_slice() {
        [Message::Invocation(i)] => i.request,
        other => panic!("expected INVOCATION, got {other:?}"),
    };
    let err_payload = Payload {
        args: Some(vec![Value::Int(1), "x".into()]),
        kwargs: Some(Dict::new().with("k", 2u64)),
    };
    c.send(
        &callee,
        Message::Error(Error {
            request_type: code::INVOCATION,
            request: inv,
            details: Dict::new(),
            error: "com.example.error.custom".into(),
            payload: err_payload.clone(),
        }),
    );
    c.pump();
    match c.recv(&caller).as_slice() {
        [Message::Error(e)] => {
            assert_eq!((e.request_type, e.request), (code::CALL, RequestId(8)));
            assert_eq!(e.error, "com.example.error.custom");
            assert_eq!(e.payload, err_payload);
        }
        other => panic!("expected ERROR, got {other:?}"),
    }
}

#[test]
fn duplicate_register_and_missing_procedure() {
    let mut c = Cluster::new(3);
    let (a, _) = c.join(0, Serializer::Json, "realm1");
    let (b, _) = c.join(2, Serializer::Json, "realm1");
    assert!(matches!(
        c.register(&a, 1, "p.x", Dict::new()),
        Message::Registered(_)
    ));
    assert_eq!(
        error_uri(&c.register(&b, 1, "p.x", Dict::new())),
        uris::PROCEDURE_ALREADY_EXISTS
    );
    c.send(
        &b,
        Message::Call(Call {
            request: RequestId(2),
            options: Dict::new(),
            procedure: "p.nothing".into(),
            payload: Payload::empty(),
        }),
    );
    c.pump();
    assert_eq!(error_uri(&c.recv(&b)[0]), uris::NO_SUCH_PROCEDURE);
    // After the first callee leaves, the second may register.
    c.close(&a);
    c.pump();
    assert!(matches!(
        c.register(&b, 3, "p.x", Dict::new()),
        Message::Registered(_)
    ));
}

#[test]
fn most_specific_registration_wins() {
    let mut c = Cluster::new(2);
    let (exact, _) = c.join(0, Serializer::Json, "realm1");
    let (prefix, _) = c.join(1, Serializer::Json, "realm1");
    let (caller, _) = c.join(1, Serializer::Json, "realm1");
    assert!(matches!(
        c.register(&prefix, 1, "com.app", Dict::new().with("match", "prefix")),
        Message::Registered(_)
    ));
    assert!(matches!(
        c.register(&exact, 1, "com.app.exact", Dict::new()),
        Message::Registered(_)
    ));
    for (req, (proc_, who)) in [("com.app.exact", &exact), ("com.app.other", &prefix)]
        .into_iter()
        .enumerate()
    {
        c.send(
            &caller,
            Message::Call(Call {
                request: RequestId(req as u64 + 1),
                options: Dict::new(),
                procedure: proc_.into(),
                payload: Payload::empty(),
            }),
        );
        c.pump();
        match c.recv(who).as_slice() {
            [Message::Invocation(i)] => {
                let detail = i.details.get("procedure").and_then(Value::as_str);
                if std::ptr::eq(who, &prefix) {
                    assert_eq!(detail, Some(proc_));
                } else {
                    assert_eq!(detail, None);
                }
            }
            other => panic!("expected INVOCATION for {proc_}, got {other:?}"),
        }
    }
}

#[test]
fn callee_leaving_fails_pending_calls_at_once() {
    let mut c = Cluster::new(2);
    let (callee, _) = c.join(0, Serializer::Json, "realm1");
    let (caller, _) = c.join(1, Serializer::Cbor, "realm1");
    assert!(matches!(
        c.register(&callee, 1, "slow", Dict::new()),
        Message::Registered(_)
    ));
    c.send(
        &caller,
        Message::Call(Call {
            request: RequestId(5),
            options: Dict::new(),
            procedure: "slow".into(),
            payload: Payload::empty(),
        }),
    );
    c.pump();
    assert_eq!(c.recv(&callee).len(), 1);
    c.close(&callee);
    c.pump();
    match c.recv(&caller).as_slice() {
        [Message::Error(e)] => {
            assert_eq!(e.request, RequestId(5));
            assert_eq!(e.error, uris::CANCELED);
        }
        other => panic!("expected ERROR, got {other:?}"),
    }
}

#[test]
fn leaving_cleans_every_index_on_every_shard() {
    let mut c = Cluster::new(3);
    let mut peers = Vec::new();
    for i in 0..9 {
        let (p, _) = c.join(i % 3, Serializer::Json, "realm1");
        c.subscribe(&p, 1, "shared.topic", Dict::new());
        c.subscribe(
            &p,
            2,
            &format!("own.{i}"),
            Dict::new().with("match", "prefix"),
        );
        assert!(matches!(
            c.register(&p, 3, &format!("proc.{i}"), Dict::new()),
            Message::Registered(_)
        ));
        peers.push(p);
    }
    assert!(c.index_entries() > 0);
    // Half leave with GOODBYE, half just drop.
    for (i, p) in peers.iter().enumerate() {
        if i % 2 == 0 {
            c.send(
                p,
                Message::Goodbye(Goodbye {
                    details: Dict::new(),
                    reason: "wamp.close.normal".into(),
                }),
            );
            assert!(
                matches!(c.recv(p).as_slice(), [Message::Goodbye(g)] if g.reason == uris::GOODBYE_AND_OUT)
            );
        }
        c.close(p);
    }
    c.pump();
    assert_eq!(
        c.index_entries(),
        0,
        "no subscription or registration survives its sessions"
    );
    assert_eq!(
        c.routers
            .iter()
            .map(ShardRouter::session_count)
            .sum::<usize>(),
        0
    );
}

#[test]
fn unsubscribe_and_resubscribe_race_settles() {
    let mut c = Cluster::new(3);
    let (s, _) = c.join(2, Serializer::Json, "realm1");
    let (p, _) = c.join(0, Serializer::Json, "realm1");
    let id = c.subscribe(&s, 1, "flap", Dict::new());
    c.send(
        &s,
        Message::Unsubscribe(Unsubscribe {
            request: RequestId(2),
            subscription: id,
        }),
    );
    c.send(
        &s,
        Message::Subscribe(Subscribe {
            request: RequestId(3),
            options: Dict::new(),
            topic: "flap".into(),
        }),
    );
    c.pump();
    let got = c.recv(&s);
    assert!(
        matches!(
            got.as_slice(),
            [Message::Unsubscribed(_), Message::Subscribed(_)]
        ),
        "{got:?}"
    );
    c.publish(&p, 1, "flap", Dict::new(), Payload::empty());
    c.pump();
    assert_eq!(events(&c.recv(&s)).len(), 1);
}

#[test]
fn slow_consumer_is_closed_without_hurting_others() {
    let mut c = Cluster::new(2);
    let slow = c.connect_raw(0, Serializer::Json, 4096);
    c.send(
        &slow,
        Message::Hello(Hello {
            realm: Some("realm1".into()),
            details: Dict::new(),
        }),
    );
    c.recv(&slow);
    c.subscribe(&slow, 1, "flood", Dict::new());
    let (fast, _) = c.join(0, Serializer::Json, "realm1");
    c.subscribe(&fast, 1, "flood", Dict::new());
    let (p, _) = c.join(1, Serializer::Json, "realm1");
    let mut received = 0;
    for i in 0..200 {
        c.publish(
            &p,
            i + 1,
            "flood",
            Dict::new(),
            args(vec![Value::Str("x".repeat(100))]),
        );
        c.pump();
        received += events(&c.recv(&fast)).len(); // the fast one keeps reading; the slow one never does
    }
    assert_eq!(received, 200);
    assert_eq!(
        slow.outbox.borrow().close_reason(),
        Some(&CloseReason::SlowConsumer)
    );
    assert!(
        slow.outbox.borrow().queued_bytes() <= 4096,
        "queue never grows past its limit"
    );
    assert_eq!(
        c.routers[0].session_count(),
        1,
        "only the slow session ended: the fast one is still joined"
    );
}

#[test]
fn shutdown_says_goodbye() {
    let mut c = Cluster::new(1);
    let (p, _) = c.join(0, Serializer::Json, "realm1");
    c.routers[0].shutdown();
    assert!(
        matches!(c.recv(&p).as_slice(), [Message::Goodbye(g)] if g.reason == uris::SYSTEM_SHUTDOWN)
    );
    assert_eq!(
        p.outbox.borrow().close_reason(),
        Some(&CloseReason::GoingAway)
    );
}

#[test]
fn session_limit_per_shard_refuses_further_connections() {
    let mut config = test_config();
    config.limits.max_sessions_per_shard = 2;
    let mut c = Cluster::with_config(1, config);
    c.connect_raw(0, Serializer::Json, 1 << 20);
    let b = c.connect_raw(0, Serializer::Json, 1 << 20);
    let info = LinkInfo::new(Rc::clone(&c.transport), FrontEnd::RawSocket, "test");
    let out = || Output::wire(Serializer::Json, 1024).0;
    assert!(
        c.routers[0].open(info.clone(), out()).is_err(),
        "third connection refused"
    );
    c.close(&b);
    assert!(
        c.routers[0].open(info, out()).is_ok(),
        "a freed slot is usable again"
    );
}

#[test]
fn strict_uri_check_rejects_loose_uris() {
    let mut config = test_config();
    config.realms[0].uri_check = crate::proto::uri::UriCheck::Strict;
    let mut c = Cluster::with_config(1, config);
    let (s, _) = c.join(0, Serializer::Json, "realm1");
    c.send(
        &s,
        Message::Subscribe(Subscribe {
            request: RequestId(1),
            options: Dict::new(),
            topic: "com.Example-Topic".into(),
        }),
    );
    assert_eq!(error_uri(&c.recv(&s)[0]), uris::INVALID_URI);
    c.subscribe(&s, 2, "com.example_topic", Dict::new());
    // The loose realm accepts the same URI.
    let (l, _) = c.join(0, Serializer::Json, "realm2");
    c.subscribe(&l, 1, "com.Example-Topic", Dict::new());
}

#[test]
fn anonymous_authentication_is_per_transport() {
    let mut c = Cluster::new(1);
    let mut no_anon = (*c.transport).clone();
    no_anon.auth.methods.anonymous = None;
    let mut guest = (*c.transport).clone();
    guest.auth.methods.anonymous = Some(crate::config::auth::AnonymousAuth::Static {
        role: "guest".into(),
        authid: None,
    });
    for (transport, reason) in [(no_anon, uris::NO_AUTH_METHOD), (guest, uris::NO_SUCH_ROLE)] {
        c.transport = Rc::new(transport);
        let p = c.connect_raw(0, Serializer::Json, 1 << 20);
        c.send(
            &p,
            Message::Hello(Hello {
                realm: Some("realm1".into()),
                details: Dict::new(),
            }),
        );
        match c.recv(&p).as_slice() {
            [Message::Abort(a)] => assert_eq!(a.reason, reason),
            other => panic!("expected ABORT {reason}, got {other:?}"),
        }
    }
    // A client that offers only other methods is refused on an anonymous transport.
    let mut c = Cluster::new(1);
    let p = c.connect_raw(0, Serializer::Json, 1 << 20);
    let details = Dict::new().with("authmethods", Value::List(vec!["ticket".into()]));
    c.send(
        &p,
        Message::Hello(Hello {
            realm: Some("realm1".into()),
            details,
        }),
    );
    assert!(
        matches!(c.recv(&p).as_slice(), [Message::Abort(a)] if a.reason == uris::NO_AUTH_METHOD)
    );
    // The default transport welcomes with role anonymous and method anonymous.
    let q = c.connect_raw(0, Serializer::Json, 1 << 20);
    c.send(
        &q,
        Message::Hello(Hello {
            realm: Some("realm1".into()),
            details: Dict::new(),
        }),
    );
    match c.recv(&q).as_slice() {
        [Message::Welcome(w)] => {
            assert_eq!(
                w.details.get("authrole").and_then(Value::as_str),
                Some("anonymous")
            );
            assert_eq!(
                w.details.get("authmethod").and_then(Value::as_str),
                Some("anonymous")
            );
            assert_eq!(
                w.details.get("realm").and_then(Value::as_str),
                Some("realm1")
            );
            let roles = w
                .details
                .get("roles")
                .and_then(Value::as_dict)
                .expect("roles");
            assert!(roles.get("broker").is_some() && roles.get("dealer").is_some());
        }
        other => panic!("expected WELCOME, got {other:?}"),
    }
}
