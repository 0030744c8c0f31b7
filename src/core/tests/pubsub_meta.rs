//! Session testaments and the subscription and session meta API across shards.

use super::pubsub::*;
use super::*;
use super::{Cluster, Peer, args, error_uri, events, test_config};
use crate::config::Permission;
use crate::proto::uri::MatchPolicy;

#[test]
fn testaments_are_published_when_the_session_ends() {
    let mut c = Cluster::new(3);
    let (watcher, _, _) = join(&mut c, 2);
    c.subscribe(&watcher, 1, "com.gone", Dict::new());
    let (t, tid, _) = join(&mut c, 0);
    let r = call(
        &mut c,
        &t,
        1,
        "wamp.session.add_testament",
        vec![
            "com.gone".into(),
            Value::List(vec!["destroyed-1".into()]),
            Value::Dict(Dict::new().with("k", 1u64)),
        ],
        None,
    );
    assert_eq!(result_args(&r), Vec::<Value>::new());
    let r = call(
        &mut c,
        &t,
        2,
        "wamp.session.add_testament",
        vec!["com.gone".into(), Value::List(vec!["detached".into()])],
        Some(Dict::new().with("scope", "detached")),
    );
    assert!(matches!(r, Message::Result(_)));
    let r = call(
        &mut c,
        &t,
        3,
        "wamp.session.add_testament",
        vec!["com.gone".into(), Value::List(vec!["destroyed-2".into()])],
        Some(Dict::new().with(
            "publish_options",
            Dict::new().with("retain", true).with("disclose_me", true),
        )),
    );
    assert!(matches!(r, Message::Result(_)));
    // Bad arguments.
    let r = call(
        &mut c,
        &t,
        4,
        "wamp.session.add_testament",
        vec![Value::Int(3)],
        None,
    );
    assert_eq!(error_uri(&r), uris::INVALID_ARGUMENT);
    let r = call(
        &mut c,
        &t,
        5,
        "wamp.session.add_testament",
        vec!["com.gone".into()],
        Some(Dict::new().with("scope", "forever")),
    );
    assert_eq!(error_uri(&r), uris::INVALID_ARGUMENT);
    let r = call(
        &mut c,
        &t,
        6,
        "wamp.session.add_testament",
        vec!["com.gone".into()],
        Some(Dict::new().with("publish_options", Dict::new().with("exclude", "x"))),
    );
    assert_eq!(error_uri(&r), uris::INVALID_ARGUMENT);
    assert!(
        events(&c.recv(&watcher)).is_empty(),
        "nothing before the session ends"
    );
    c.close(&t); // transport lost
    c.pump();
    let got = c.recv(&watcher);
    let ev = events(&got);
    let texts: Vec<&str> = ev
        .iter()
        .map(|e| {
            e.payload.args.as_ref().expect("args")[0]
                .as_str()
                .expect("str")
        })
        .collect();
    assert_eq!(
        texts,
        vec!["detached", "destroyed-1", "destroyed-2"],
        "detached first, then in order"
    );
    assert_eq!(ev[1].payload.kwargs, Some(Dict::new().with("k", 1u64)));
    assert_eq!(ev[2].details.get("publisher"), Some(&Value::from(tid.0)));
    // The retained one is kept.
    let (late, _, _) = join(&mut c, 1);
    c.send(
        &late,
        Message::Subscribe(Subscribe {
            request: RequestId(1),
            options: Dict::new().with("get_retained", true),
            topic: "com.gone".into(),
        }),
    );
    c.pump();
    let got = c.recv(&late);
    assert_eq!(events(&got).len(), 1);

    // Flushed testaments are not published; GOODBYE publishes the rest.
    let (t2, _, _) = join(&mut c, 1);
    call(
        &mut c,
        &t2,
        1,
        "wamp.session.add_testament",
        vec!["com.gone".into(), Value::List(vec!["flushed".into()])],
        None,
    );
    call(
        &mut c,
        &t2,
        2,
        "wamp.session.add_testament",
        vec!["com.gone".into(), Value::List(vec!["kept".into()])],
        Some(Dict::new().with("scope", "detached")),
    );
    let r = call(
        &mut c,
        &t2,
        3,
        "wamp.session.flush_testaments",
        vec![],
        None,
    );
    assert!(matches!(r, Message::Result(_)));
    c.send(
        &t2,
        Message::Goodbye(Goodbye {
            details: Dict::new(),
            reason: "wamp.close.normal".into(),
        }),
    );
    c.pump();
    let got = c.recv(&watcher);
    let texts: Vec<&str> = events(&got)
        .iter()
        .map(|e| {
            e.payload.args.as_ref().expect("args")[0]
                .as_str()
                .expect("str")
        })
        .collect();
    assert_eq!(texts, vec!["kept"]);
}

#[test]
fn testament_needs_publish_permission() {
    let mut config = test_config();
    config.realms[2].roles[0].permissions.push(Permission {
        uri: "wamp.session.".into(),
        match_policy: MatchPolicy::Prefix,
        allow: crate::config::Allow {
            call: true,
            register: false,
            publish: false,
            subscribe: true,
        },
        disclose: Default::default(),
    });
    let mut c = Cluster::with_config(2, config);
    let (p, _, _) = join_as(&mut c, 1, "restricted", "anonymous");
    let r = call(
        &mut c,
        &p,
        1,
        "wamp.session.add_testament",
        vec!["com.denied.x".into()],
        None,
    );
    assert_eq!(error_uri(&r), uris::NOT_AUTHORIZED);
    let r = call(
        &mut c,
        &p,
        2,
        "wamp.session.add_testament",
        vec!["com.allowed.x".into()],
        None,
    );
    assert!(matches!(r, Message::Result(_)));
}

fn meta_events(got: &[Message]) -> Vec<(String, Vec<Value>)> {
    // Meta events as (topic, args), from a prefix subscription (which gives the topic).
    events(got)
        .iter()
        .map(|e| {
            let name = e
                .details
                .get("topic")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_owned();
            (name, e.payload.args.clone().unwrap_or_default())
        })
        .collect()
}

#[test]
fn subscription_meta_events_are_ordered_across_shards() {
    for round in 0..40u64 {
        let mut c = Cluster::new(4);
        c.rng = SmallRng::seed_from_u64(round);
        let (m, _, _) = join(&mut c, (round % 4) as usize);
        // One prefix subscription to all subscription meta events gives the topic in details.
        c.subscribe(
            &m,
            1,
            "wamp.subscription.on_",
            Dict::new().with("match", "prefix"),
        );
        let (a, aid, _) = join(&mut c, ((round + 1) % 4) as usize);
        let (b, bid, _) = join(&mut c, ((round + 2) % 4) as usize);
        let topic = format!("com.meta.{round}");
        let id = c.subscribe(&a, 1, &topic, Dict::new());
        c.subscribe(&b, 1, &topic, Dict::new());
        c.send(
            &a,
            Message::Unsubscribe(Unsubscribe {
                request: RequestId(2),
                subscription: id,
            }),
        );
        c.close(&b);
        c.pump();
        let got = c.recv(&m);
        let ev = meta_events(&got);
        let names: Vec<&str> = ev.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "wamp.subscription.on_create",
                "wamp.subscription.on_subscribe",
                "wamp.subscription.on_subscribe",
                "wamp.subscription.on_unsubscribe",
                "wamp.subscription.on_unsubscribe",
                "wamp.subscription.on_delete",
            ],
            "round {round}"
        );
        let details = ev[0].1[1].as_dict().expect("SubscriptionDetails");
        assert_eq!(details.get("id"), Some(&Value::from(id.0)));
        assert_eq!(details.get("uri"), Some(&Value::from(topic.as_str())));
        assert_eq!(details.get("match"), Some(&Value::from("exact")));
        assert!(details.get("created").and_then(Value::as_str).is_some());
        let sessions: Vec<u64> = ev[1..3]
            .iter()
            .map(|(_, a)| a[0].as_u64().expect("id"))
            .collect();
        assert!(sessions.contains(&aid.0) && sessions.contains(&bid.0));
        assert_eq!(ev[1].1[1], Value::from(id.0));
        assert_eq!(ev[5].1[1], Value::from(id.0));
    }
}

#[test]
fn subscription_meta_procedures_gather_from_every_shard() {
    let mut c = Cluster::new(3);
    let (a, aid, _) = join(&mut c, 0);
    let (b, bid, _) = join(&mut c, 1);
    let (q, _, _) = join(&mut c, 2);
    let exact = c.subscribe(&a, 1, "com.x.y", Dict::new());
    c.subscribe(&b, 1, "com.x.y", Dict::new());
    let prefix = c.subscribe(&b, 2, "com.x", Dict::new().with("match", "prefix"));
    let wild = c.subscribe(&a, 2, "com..y", Dict::new().with("match", "wildcard"));
    let r = call(&mut c, &q, 1, "wamp.subscription.list", vec![], None);
    let lists = result_args(&r)[0].as_dict().expect("dict").clone();
    assert_eq!(ids(lists.get("exact").expect("exact")), vec![exact.0]);
    assert_eq!(ids(lists.get("prefix").expect("prefix")), vec![prefix.0]);
    assert_eq!(ids(lists.get("wildcard").expect("wildcard")), vec![wild.0]);
    let r = call(
        &mut c,
        &q,
        2,
        "wamp.subscription.lookup",
        vec!["com.x.y".into()],
        None,
    );
    assert_eq!(result_args(&r), vec![Value::from(exact.0)]);
    let r = call(
        &mut c,
        &q,
        3,
        "wamp.subscription.lookup",
        vec![
            "com.x".into(),
            Value::Dict(Dict::new().with("match", "prefix")),
        ],
        None,
    );
    assert_eq!(result_args(&r), vec![Value::from(prefix.0)]);
    let r = call(
        &mut c,
        &q,
        4,
        "wamp.subscription.lookup",
        vec!["com.none".into()],
        None,
    );
    assert_eq!(result_args(&r), vec![Value::Null]);
    let r = call(
        &mut c,
        &q,
        5,
        "wamp.subscription.match",
        vec!["com.x.y".into()],
        None,
    );
    let mut want = vec![exact.0, prefix.0, wild.0];
    want.sort_unstable();
    assert_eq!(ids(&result_args(&r)[0]), want);
    let r = call(
        &mut c,
        &q,
        6,
        "wamp.subscription.match",
        vec!["org.none".into()],
        None,
    );
    assert_eq!(result_args(&r), vec![Value::Null]);
    let r = call(
        &mut c,
        &q,
        7,
        "wamp.subscription.get",
        vec![Value::from(prefix.0)],
        None,
    );
    let d = result_args(&r)[0].as_dict().expect("details").clone();
    assert_eq!(d.get("uri"), Some(&Value::from("com.x")));
    assert_eq!(d.get("match"), Some(&Value::from("prefix")));
    let r = call(
        &mut c,
        &q,
        8,
        "wamp.subscription.list_subscribers",
        vec![Value::from(exact.0)],
        None,
    );
    let mut both = vec![aid.0, bid.0];
    both.sort_unstable();
    assert_eq!(ids(&result_args(&r)[0]), both);
    let r = call(
        &mut c,
        &q,
        9,
        "wamp.subscription.count_subscribers",
        vec![Value::from(exact.0)],
        None,
    );
    assert_eq!(result_args(&r), vec![Value::from(2u64)]);
    for (n, proc_) in [
        "wamp.subscription.get",
        "wamp.subscription.list_subscribers",
        "wamp.subscription.count_subscribers",
    ]
    .into_iter()
    .enumerate()
    {
        let r = call(
            &mut c,
            &q,
            20 + n as u64,
            proc_,
            vec![Value::from(777_777u64)],
            None,
        );
        assert_eq!(error_uri(&r), uris::NO_SUCH_SUBSCRIPTION, "{proc_}");
        let r = call(&mut c, &q, 30 + n as u64, proc_, vec!["nope".into()], None);
        assert_eq!(error_uri(&r), uris::INVALID_ARGUMENT, "{proc_}");
    }
}

#[test]
fn session_meta_events_and_procedures() {
    let mut c = Cluster::with_config(3, adv_config());
    let (m, mid, _) = join(&mut c, 0);
    c.subscribe(&m, 1, "wamp.session.on_join", Dict::new());
    c.subscribe(&m, 2, "wamp.session.on_leave", Dict::new());
    let (a, aid, aauth) = join(&mut c, 1);
    let (b, bid, _) = join_as(&mut c, 2, "realm1", "other");
    let (_other_realm, _, _) = join_as(&mut c, 2, "realm2", "anonymous");
    c.pump();
    let got = c.recv(&m);
    let ev = events(&got);
    assert_eq!(ev.len(), 2);
    let d = ev[0].payload.args.as_ref().expect("args")[0]
        .as_dict()
        .expect("details")
        .clone();
    assert_eq!(d.get("session"), Some(&Value::from(aid.0)));
    assert_eq!(d.get("authid"), Some(&Value::from(aauth.as_str())));
    assert_eq!(d.get("authrole"), Some(&Value::from("anonymous")));
    assert_eq!(d.get("authmethod"), Some(&Value::from("anonymous")));
    assert!(
        d.get("authprovider").is_some() && d.get("transport").and_then(Value::as_dict).is_some()
    );
    let r = call(&mut c, &a, 1, "wamp.session.count", vec![], None);
    assert_eq!(
        result_args(&r),
        vec![Value::from(3u64)],
        "realm2's session not counted"
    );
    let r = call(
        &mut c,
        &a,
        2,
        "wamp.session.count",
        vec![Value::List(vec!["other".into()])],
        None,
    );
    assert_eq!(result_args(&r), vec![Value::from(1u64)]);
    let r = call(&mut c, &a, 3, "wamp.session.list", vec![], None);
    let mut all = vec![mid.0, aid.0, bid.0];
    all.sort_unstable();
    assert_eq!(ids(&result_args(&r)[0]), all);
    let r = call(
        &mut c,
        &a,
        4,
        "wamp.session.list",
        vec![Value::List(vec!["anonymous".into()])],
        None,
    );
    let mut anon = vec![mid.0, aid.0];
    anon.sort_unstable();
    assert_eq!(ids(&result_args(&r)[0]), anon);
    let r = call(
        &mut c,
        &a,
        5,
        "wamp.session.get",
        vec![Value::from(bid.0)],
        None,
    );
    let d = result_args(&r)[0].as_dict().expect("details").clone();
    assert_eq!(d.get("authrole"), Some(&Value::from("other")));
    let r = call(
        &mut c,
        &a,
        6,
        "wamp.session.get",
        vec![Value::from(12_345u64)],
        None,
    );
    assert_eq!(error_uri(&r), "wamp.error.no_such_session");
    let r = call(
        &mut c,
        &a,
        7,
        "wamp.session.count",
        vec![Value::Int(3)],
        None,
    );
    assert_eq!(error_uri(&r), uris::INVALID_ARGUMENT);
    // kill: b (other shard) gets GOODBYE with the reason and message.
    let r = call(
        &mut c,
        &a,
        8,
        "wamp.session.kill",
        vec![Value::from(bid.0)],
        Some(
            Dict::new()
                .with("reason", "com.example.bye")
                .with("message", "go"),
        ),
    );
    assert_eq!(result_args(&r), Vec::<Value>::new());
    match c.recv(&b).as_slice() {
        [Message::Goodbye(g)] => {
            assert_eq!(g.reason, "com.example.bye");
            assert_eq!(g.details.get("message"), Some(&Value::from("go")));
        }
        other => panic!("expected GOODBYE, got {other:?}"),
    }
    assert_eq!(
        b.outbox.borrow().close_reason(),
        Some(&outbox::CloseReason::Normal)
    );
    c.pump();
    let got = c.recv(&m);
    let leave = events(&got);
    assert_eq!(leave.len(), 1);
    assert_eq!(
        leave[0].payload.args.as_ref().expect("args")[0],
        Value::from(bid.0)
    );
    // Killing oneself is no_such_session; a bad reason is invalid_uri.
    let r = call(
        &mut c,
        &a,
        9,
        "wamp.session.kill",
        vec![Value::from(aid.0)],
        None,
    );
    assert_eq!(error_uri(&r), "wamp.error.no_such_session");
    let r = call(
        &mut c,
        &a,
        10,
        "wamp.session.kill",
        vec![Value::from(mid.0)],
        Some(Dict::new().with("reason", "not a uri!")),
    );
    assert_eq!(error_uri(&r), uris::INVALID_URI);
    let r = call(
        &mut c,
        &a,
        11,
        "wamp.session.kill",
        vec![Value::from(bid.0)],
        None,
    );
    assert_eq!(error_uri(&r), "wamp.error.no_such_session", "already gone");
}

#[test]
fn kill_by_authid_authrole_and_all_spare_the_caller() {
    let mut c = Cluster::with_config(3, adv_config());
    let (caller, cid, cauth) = join_as(&mut c, 0, "realm1", "other");
    let peers: Vec<(Peer, SessionId, String)> = (0..6)
        .map(|i| {
            let role = if i % 2 == 0 { "other" } else { "anonymous" };
            join_as(&mut c, i % 3, "realm1", role)
        })
        .collect();
    let r = call(
        &mut c,
        &caller,
        1,
        "wamp.session.kill_by_authid",
        vec![peers[1].2.as_str().into()],
        None,
    );
    assert_eq!(ids(&result_args(&r)[0]), vec![peers[1].1.0]);
    let r = call(
        &mut c,
        &caller,
        2,
        "wamp.session.kill_by_authid",
        vec![cauth.as_str().into()],
        None,
    );
    assert_eq!(
        ids(&result_args(&r)[0]),
        Vec::<u64>::new(),
        "the caller is spared"
    );
    let r = call(
        &mut c,
        &caller,
        3,
        "wamp.session.kill_by_authrole",
        vec!["other".into()],
        Some(Dict::new().with("reason", "wamp.close.role_gone")),
    );
    assert_eq!(
        result_args(&r),
        vec![Value::from(3u64)],
        "peers 0, 2, 4 but not the caller"
    );
    for i in [0, 2, 4] {
        assert!(
            matches!(c.recv(&peers[i].0).as_slice(), [Message::Goodbye(g)] if g.reason == "wamp.close.role_gone")
        );
    }
    let r = call(&mut c, &caller, 4, "wamp.session.kill_all", vec![], None);
    assert_eq!(
        result_args(&r),
        vec![Value::from(2u64)],
        "peers 3 and 5 remain to be killed"
    );
    let r = call(&mut c, &caller, 5, "wamp.session.count", vec![], None);
    assert_eq!(result_args(&r), vec![Value::from(1u64)]);
    let r = call(&mut c, &caller, 6, "wamp.session.list", vec![], None);
    assert_eq!(ids(&result_args(&r)[0]), vec![cid.0]);
}

/// The GOODBYE `p` got: its reason and message.
fn goodbye(c: &mut Cluster, p: &Peer) -> (String, Option<String>) {
    match c.recv(p).as_slice() {
        [Message::Goodbye(g)] => (
            g.reason.clone(),
            g.details
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_owned),
        ),
        other => panic!("expected GOODBYE, got {other:?}"),
    }
}

/// The kill procedures take `reason` and `message` positionally after their
/// target too, as Crossbar.io's do (crossbar-examples' metaapi monitor calls
/// `wamp.session.kill` with `[session_id, reason, message]`); keyword
/// arguments win over positional ones; wrong types are invalid_argument.
#[test]
fn kill_procedures_take_reason_and_message_positionally() {
    let mut c = Cluster::with_config(3, adv_config());
    let (caller, _, _) = join_as(&mut c, 0, "realm1", "other");
    let (b, bid, _) = join_as(&mut c, 1, "realm1", "anonymous");
    let r = call(
        &mut c,
        &caller,
        1,
        "wamp.session.kill",
        vec![bid.0.into(), "com.example.kicked".into(), "bye now".into()],
        None,
    );
    assert_eq!(result_args(&r), Vec::<Value>::new());
    assert_eq!(
        goodbye(&mut c, &b),
        ("com.example.kicked".into(), Some("bye now".into()))
    );
    // By authid: positional, but the keyword message wins.
    let (d, _, dauth) = join_as(&mut c, 2, "realm1", "anonymous");
    call(
        &mut c,
        &caller,
        2,
        "wamp.session.kill_by_authid",
        vec![
            dauth.as_str().into(),
            "com.example.gone".into(),
            "pos".into(),
        ],
        Some(Dict::new().with("message", "kw")),
    );
    assert_eq!(
        goodbye(&mut c, &d),
        ("com.example.gone".into(), Some("kw".into()))
    );
    // By authrole: reason only; a null keyword reason does not hide it.
    let (e, _, _) = join_as(&mut c, 1, "realm1", "anonymous");
    let r = call(
        &mut c,
        &caller,
        3,
        "wamp.session.kill_by_authrole",
        vec!["anonymous".into(), "wamp.close.role_gone".into()],
        Some(Dict::new().with("reason", Value::Null)),
    );
    assert_eq!(result_args(&r), vec![Value::from(1u64)]);
    assert_eq!(goodbye(&mut c, &e), ("wamp.close.role_gone".into(), None));
    // kill_all has no target: reason and message come first.
    let (f, _, _) = join_as(&mut c, 2, "realm1", "anonymous");
    call(
        &mut c,
        &caller,
        4,
        "wamp.session.kill_all",
        vec!["wamp.close.maintenance".into(), "back soon".into()],
        None,
    );
    assert_eq!(
        goodbye(&mut c, &f),
        ("wamp.close.maintenance".into(), Some("back soon".into()))
    );
    // Wrong types are refused, and nobody is killed.
    let (g, gid, _) = join_as(&mut c, 1, "realm1", "anonymous");
    for (req, a, uri, msg) in [
        (
            5,
            vec![gid.0.into(), 7u64.into()],
            uris::INVALID_ARGUMENT,
            "wamp.session.kill: 'reason' must be a URI string, not Int(7)",
        ),
        (
            6,
            vec![gid.0.into(), Value::Null, Value::List(vec![])],
            uris::INVALID_ARGUMENT,
            "wamp.session.kill: 'message' must be a string, not List([])",
        ),
        (
            7,
            vec![gid.0.into(), "not a uri!".into()],
            uris::INVALID_URI,
            "wamp.session.kill: 'reason' must be a valid non-empty URI, not 'not a uri!'",
        ),
    ] {
        let r = call(&mut c, &caller, req, "wamp.session.kill", a, None);
        match r {
            Message::Error(e) => {
                assert_eq!(e.error, uri);
                let m = e.payload.args.as_ref().and_then(|a| a.first());
                assert_eq!(m.and_then(Value::as_str), Some(msg));
            }
            other => panic!("expected ERROR, got {other:?}"),
        }
    }
    c.pump();
    assert!(c.recv(&g).is_empty(), "still there");
}

#[test]
fn meta_api_obeys_authorization() {
    let mut c = Cluster::new(2);
    let (p, _, _) = join_as(&mut c, 1, "restricted", "anonymous");
    for (n, proc_) in [
        "wamp.session.count",
        "wamp.subscription.list",
        "wamp.session.add_testament",
        "wamp.subscription.get_events",
    ]
    .into_iter()
    .enumerate()
    {
        let r = call(&mut c, &p, n as u64 + 1, proc_, vec![], None);
        assert_eq!(error_uri(&r), uris::NOT_AUTHORIZED, "{proc_}");
    }
    c.send(
        &p,
        Message::Subscribe(Subscribe {
            request: RequestId(9),
            options: Dict::new(),
            topic: "wamp.session.on_join".into(),
        }),
    );
    assert_eq!(error_uri(&c.recv(&p)[0]), uris::NOT_AUTHORIZED);
}

#[test]
fn history_needs_subscribe_permission_and_applies_authrole_lists() {
    let mut config = adv_config();
    // `other` may call meta procedures but not subscribe to com.hist.*.
    config.realms[0].roles[1].permissions = vec![Permission {
        uri: "wamp.".into(),
        match_policy: MatchPolicy::Prefix,
        allow: crate::config::Allow {
            call: true,
            register: false,
            publish: false,
            subscribe: true,
        },
        disclose: Default::default(),
    }];
    let mut c = Cluster::with_config(2, config);
    let (p, _, _) = join(&mut c, 0);
    let (anon, _, _) = join(&mut c, 1);
    let (other, _, _) = join_as(&mut c, 1, "realm1", "other");
    let look = call(
        &mut c,
        &anon,
        1,
        "wamp.subscription.lookup",
        vec!["com.exact.h".into()],
        None,
    );
    let hid = result_args(&look)[0].as_u64().expect("ID");
    c.publish(
        &p,
        1,
        "com.exact.h",
        Dict::new().with("eligible_authrole", Value::List(vec!["nobody".into()])),
        args(vec![Value::Int(1)]),
    );
    c.publish(&p, 2, "com.exact.h", Dict::new(), args(vec![Value::Int(2)]));
    c.pump();
    let r = call(
        &mut c,
        &anon,
        2,
        "wamp.subscription.get_events",
        vec![Value::from(hid)],
        None,
    );
    assert_eq!(
        result_args(&r)[0].as_list().expect("list").len(),
        1,
        "the authrole-restricted event is filtered"
    );
    let r = call(
        &mut c,
        &other,
        1,
        "wamp.subscription.get_events",
        vec![Value::from(hid)],
        None,
    );
    assert_eq!(error_uri(&r), uris::NOT_AUTHORIZED);
}

/// `wamp.subscription.remove_subscriber` (Crossbar.io's procedure, with
/// positional or keyword arguments): the subscriber on another shard stops
/// getting events, silently (no UNSUBSCRIBED: see broker/meta.rs), its
/// fellow subscriber keeps them, watchers see `on_unsubscribe`; unknown
/// sessions, other realms' sessions, sessions not subscribed and the
/// router's own topics are refused with the right errors.
#[test]
fn remove_subscriber_revokes_one_subscription_silently() {
    let mut c = Cluster::new(3);
    let (admin, _, _) = join(&mut c, 0);
    let (watcher, _, _) = join(&mut c, 2);
    c.subscribe(&watcher, 1, "wamp.subscription.on_unsubscribe", Dict::new());
    let (victim, victim_id, _) = join(&mut c, 1);
    let (other, _, _) = join(&mut c, 2);
    let sub = c.subscribe(&victim, 1, "com.private", Dict::new());
    assert_eq!(c.subscribe(&other, 1, "com.private", Dict::new()), sub);
    let r = call(
        &mut c,
        &admin,
        1,
        "wamp.subscription.remove_subscriber",
        vec![sub.0.into(), victim_id.0.into(), "not allowed".into()],
        None,
    );
    assert_eq!(result_args(&r), Vec::<Value>::new());
    assert!(c.recv(&victim).is_empty(), "revoked silently");
    let got = c.recv(&watcher);
    let ev = events(&got);
    assert_eq!(ev.len(), 1, "{got:?}");
    assert_eq!(
        ev[0].payload.args.as_deref(),
        Some(&[Value::from(victim_id.0), Value::from(sub.0)][..])
    );
    let (publ, _, _) = join(&mut c, 0);
    c.publish(&publ, 1, "com.private", Dict::new(), args(vec![]));
    c.pump();
    assert!(c.recv(&victim).is_empty());
    assert_eq!(events(&c.recv(&other)).len(), 1);
    // Again: it is no longer subscribed. Keywords, as Crossbar's Python takes them.
    let kw = Dict::new()
        .with("subscription_id", sub.0)
        .with("subscriber_id", victim_id.0);
    let r = call(
        &mut c,
        &admin,
        2,
        "wamp.subscription.remove_subscriber",
        vec![],
        Some(kw),
    );
    assert_eq!(error_uri(&r), uris::NO_SUCH_SUBSCRIPTION);
    // No such session; a session of another realm; the router's own topics.
    let r = call(
        &mut c,
        &admin,
        3,
        "wamp.subscription.remove_subscriber",
        vec![sub.0.into(), 999_999u64.into()],
        None,
    );
    assert_eq!(error_uri(&r), uris::NO_SUCH_SESSION);
    let (stranger, stranger_id, _) = join_as(&mut c, 1, "realm2", "anonymous");
    let their = c.subscribe(&stranger, 1, "com.private", Dict::new());
    let r = call(
        &mut c,
        &admin,
        4,
        "wamp.subscription.remove_subscriber",
        vec![their.0.into(), stranger_id.0.into()],
        None,
    );
    assert_eq!(error_uri(&r), uris::NO_SUCH_SESSION);
    let meta_sub = c.subscribe(&watcher, 2, "wamp.session.on_join", Dict::new());
    let watcher_id = c.routers[2]
        .cx
        .links
        .session(watcher.conn)
        .expect("joined")
        .id;
    let r = call(
        &mut c,
        &admin,
        5,
        "wamp.subscription.remove_subscriber",
        vec![meta_sub.0.into(), watcher_id.0.into()],
        None,
    );
    assert_eq!(error_uri(&r), uris::NOT_AUTHORIZED);
    let r = call(
        &mut c,
        &admin,
        6,
        "wamp.subscription.remove_subscriber",
        vec![sub.0.into(), victim_id.0.into(), 7u64.into()],
        None,
    );
    assert_eq!(error_uri(&r), uris::INVALID_ARGUMENT);
}
