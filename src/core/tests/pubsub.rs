//! Multi-shard tests of the advanced broker features and the session and
//! subscription meta API, on the sans-IO cluster of `tests.rs` (random
//! interleaving of shard pairs). Sessions sit on different shards on purpose.

use std::rc::Rc;

use rand::SeedableRng;
use rand::rngs::SmallRng;

use super::*;
use super::{Cluster, Peer, args, error_uri, events, test_config};
use crate::config::{HistoryConfig, Permission, RoleConfig, TransportAuth, TransportConfig};
use crate::core::*;
use crate::proto::uri::MatchPolicy;

/// realm1: histories on prefix `com.hist.` (3 events) and exact `com.exact.h`
/// (10), role `other` with trust level 5 next to `anonymous` (no trust level).
fn adv_config() -> Config {
    let mut c = test_config();
    c.realms[0].store.event_history = vec![
        HistoryConfig {
            uri: "com.hist.".into(),
            match_policy: MatchPolicy::Prefix,
            limit: 3,
        },
        HistoryConfig {
            uri: "com.exact.h".into(),
            match_policy: MatchPolicy::Exact,
            limit: 10,
        },
    ];
    let perms = c.realms[0].roles[0].permissions.clone();
    c.realms[0].roles.push(RoleConfig {
        name: "other".into(),
        permissions: perms,
        trustlevel: Some(5),
    });
    c
}

/// Joins `realm` on `shard` with the transport's anonymous role set to `role`;
/// returns the peer, its session ID and authid.
fn join_as(c: &mut Cluster, shard: usize, realm: &str, role: &str) -> (Peer, SessionId, String) {
    let saved = Rc::clone(&c.transport);
    let mut t: TransportConfig = (*saved).clone();
    t.auth = TransportAuth {
        methods: crate::config::auth::AuthConfig {
            anonymous: Some(crate::config::auth::AnonymousAuth::Static {
                role: role.into(),
                authid: None,
            }),
            ..crate::config::auth::AuthConfig::none()
        },
        trustlevel: None,
    };
    c.transport = Rc::new(t);
    let p = c.connect_raw(shard, Serializer::Json, 1 << 20);
    c.transport = saved;
    c.send(
        &p,
        Message::Hello(Hello {
            realm: realm.into(),
            details: Dict::new(),
        }),
    );
    match c.recv(&p).as_slice() {
        [Message::Welcome(w)] => {
            let authid = w
                .details
                .get("authid")
                .and_then(Value::as_str)
                .expect("authid")
                .to_owned();
            (p, w.session, authid)
        }
        other => panic!("expected WELCOME, got {other:?}"),
    }
}

fn join(c: &mut Cluster, shard: usize) -> (Peer, SessionId, String) {
    join_as(c, shard, "realm1", "anonymous")
}

/// Calls `procedure` and returns the single answer (RESULT or ERROR).
fn call(
    c: &mut Cluster,
    p: &Peer,
    req: u64,
    procedure: &str,
    a: Vec<Value>,
    kw: Option<Dict>,
) -> Message {
    c.send(
        p,
        Message::Call(Call {
            request: RequestId(req),
            options: Dict::new(),
            procedure: procedure.into(),
            payload: Payload {
                args: Some(a),
                kwargs: kw,
            },
        }),
    );
    c.pump();
    let got: Vec<Message> = c
        .recv(p)
        .into_iter()
        .filter(|m| !matches!(m, Message::Event(_)))
        .collect();
    assert_eq!(got.len(), 1, "one answer to {procedure}: {got:?}");
    got.into_iter().next().expect("one")
}

fn result_args(m: &Message) -> Vec<Value> {
    match m {
        Message::Result(r) => r.payload.args.clone().unwrap_or_default(),
        other => panic!("expected RESULT, got {other:?}"),
    }
}

fn ids(v: &Value) -> Vec<u64> {
    let mut out: Vec<u64> = v
        .as_list()
        .expect("list")
        .iter()
        .map(|x| x.as_u64().expect("id"))
        .collect();
    out.sort_unstable();
    out
}

fn first_arg_int(e: &Event) -> i64 {
    e.payload.args.as_ref().expect("args")[0]
        .as_i64()
        .expect("int")
}

fn publish_ack(
    c: &mut Cluster,
    p: &Peer,
    req: u64,
    topic: &str,
    opts: Dict,
    payload: Payload,
) -> Message {
    c.publish(p, req, topic, opts.with("acknowledge", true), payload);
    c.pump();
    let got = c.recv(p);
    let mut answers: Vec<Message> = got
        .into_iter()
        .filter(|m| matches!(m, Message::Published(_) | Message::Error(_)))
        .collect();
    assert_eq!(answers.len(), 1, "{answers:?}");
    answers.remove(0)
}

fn roles_features(w: &Welcome, role: &str) -> Dict {
    w.details
        .get("roles")
        .and_then(Value::as_dict)
        .and_then(|r| r.get(role))
        .and_then(Value::as_dict)
        .and_then(|b| b.get("features"))
        .and_then(Value::as_dict)
        .cloned()
        .expect("features")
}

#[test]
fn welcome_announces_the_broker_features() {
    let mut c = Cluster::new(1);
    let p = c.connect_raw(0, Serializer::Json, 1 << 20);
    c.send(
        &p,
        Message::Hello(Hello {
            realm: "realm1".into(),
            details: Dict::new(),
        }),
    );
    let got = c.recv(&p);
    let Message::Welcome(w) = &got[0] else {
        panic!("expected WELCOME")
    };
    let f = roles_features(w, "broker");
    for feature in [
        "publisher_exclusion",
        "publisher_identification",
        "pattern_based_subscription",
        "subscriber_blackwhite_listing",
        "publication_trustlevels",
        "event_history",
        "event_retention",
        "subscription_meta_api",
        "session_meta_api",
    ] {
        assert_eq!(f.get(feature), Some(&Value::Bool(true)), "{feature}");
    }
    let d = roles_features(w, "dealer");
    assert_eq!(d.get("testament_meta_api"), Some(&Value::Bool(true)));
    assert_eq!(d.get("session_meta_api"), Some(&Value::Bool(true)));
}

#[test]
fn exclude_me_and_acknowledge_across_shards() {
    let mut c = Cluster::new(3);
    let (a, _, _) = join(&mut c, 0);
    let (b, _, _) = join(&mut c, 2);
    c.subscribe(&a, 1, "t.me", Dict::new());
    c.subscribe(&b, 1, "t.me", Dict::new());
    // Default: the publisher (a, shard 0) is excluded; b on shard 2 gets it.
    let ack = publish_ack(
        &mut c,
        &a,
        2,
        "t.me",
        Dict::new(),
        args(vec![Value::Int(1)]),
    );
    assert!(matches!(ack, Message::Published(p) if p.request == RequestId(2)));
    assert_eq!(events(&c.recv(&b)).len(), 1);
    c.publish(
        &a,
        3,
        "t.me",
        Dict::new().with("exclude_me", false),
        args(vec![Value::Int(2)]),
    );
    c.pump();
    assert_eq!(
        events(&c.recv(&a)).len(),
        1,
        "exclude_me=false includes the publisher"
    );
    assert_eq!(events(&c.recv(&b)).len(), 1);
    // Without acknowledge there is no PUBLISHED.
    assert!(c.recv(&a).is_empty());
}

#[test]
fn black_and_whitelisting_applies_on_every_shard() {
    let mut c = Cluster::with_config(3, adv_config());
    let (publ, _, _) = join(&mut c, 0);
    let subs: Vec<(Peer, SessionId, String)> = vec![
        join(&mut c, 0),
        join(&mut c, 1),
        join(&mut c, 2),
        join_as(&mut c, 1, "realm1", "other"),
        join_as(&mut c, 2, "realm1", "other"),
    ];
    for (p, _, _) in &subs {
        c.subscribe(p, 1, "bw.t", Dict::new());
    }
    let sid = |i: usize| Value::from(subs[i].1.0);
    let authid = |i: usize| Value::from(subs[i].2.as_str());
    let cases: Vec<(Dict, Vec<usize>)> = vec![
        (Dict::new(), vec![0, 1, 2, 3, 4]),
        (
            Dict::new().with("exclude", Value::List(vec![sid(1), sid(4)])),
            vec![0, 2, 3],
        ),
        (
            Dict::new().with("eligible", Value::List(vec![sid(1), sid(2)])),
            vec![1, 2],
        ),
        (
            Dict::new()
                .with("eligible", Value::List(vec![sid(1), sid(2), sid(3)]))
                .with("exclude", Value::List(vec![sid(2)])),
            vec![1, 3],
        ),
        (
            Dict::new().with("exclude_authid", Value::List(vec![authid(0), authid(3)])),
            vec![1, 2, 4],
        ),
        (
            Dict::new().with("eligible_authid", Value::List(vec![authid(2)])),
            vec![2],
        ),
        (
            Dict::new().with("exclude_authrole", Value::List(vec!["other".into()])),
            vec![0, 1, 2],
        ),
        (
            Dict::new().with("eligible_authrole", Value::List(vec!["other".into()])),
            vec![3, 4],
        ),
        (
            Dict::new()
                .with("eligible_authrole", Value::List(vec!["other".into()]))
                .with("exclude_authid", Value::List(vec![authid(4)])),
            vec![3],
        ),
    ];
    for (n, (opts, want)) in cases.into_iter().enumerate() {
        c.publish(
            &publ,
            n as u64 + 1,
            "bw.t",
            opts.clone(),
            args(vec![Value::Int(n as i64)]),
        );
        c.pump();
        let got: Vec<usize> = subs
            .iter()
            .enumerate()
            .filter(|(_, (p, _, _))| !events(&c.recv(p)).is_empty())
            .map(|(i, _)| i)
            .collect();
        assert_eq!(got, want, "case {n}: {opts:?}");
    }
}

#[test]
fn bad_publish_options_get_invalid_argument_or_silence() {
    let mut c = Cluster::new(2);
    let (p, _, _) = join(&mut c, 0);
    let (s, _, _) = join(&mut c, 1);
    c.subscribe(&s, 1, "bad.opts", Dict::new());
    for (n, opts) in [
        Dict::new().with("exclude", Value::Int(5)),
        Dict::new().with("eligible", Value::List(vec!["x".into()])),
        Dict::new().with("exclude_authrole", Value::List(vec![Value::Int(1)])),
        Dict::new().with("retain", "yes"),
        Dict::new().with("disclose_me", Value::Int(1)),
    ]
    .into_iter()
    .enumerate()
    {
        let m = publish_ack(
            &mut c,
            &p,
            n as u64 + 1,
            "bad.opts",
            opts.clone(),
            Payload::empty(),
        );
        assert_eq!(error_uri(&m), uris::INVALID_ARGUMENT, "{opts:?}");
        if let Message::Error(e) = &m {
            let text = e.payload.args.as_ref().expect("message")[0]
                .as_str()
                .expect("str");
            assert!(text.starts_with("option '"), "{text}");
        }
        // Unacknowledged: dropped without a word.
        c.publish(&p, 100 + n as u64, "bad.opts", opts, Payload::empty());
        c.pump();
        assert!(c.recv(&p).is_empty());
        assert!(events(&c.recv(&s)).is_empty());
    }
    // Router topics are reserved.
    let m = publish_ack(
        &mut c,
        &p,
        50,
        "wamp.session.on_join",
        Dict::new(),
        Payload::empty(),
    );
    assert_eq!(error_uri(&m), uris::INVALID_URI);
}

#[test]
fn publisher_disclosure_and_trustlevel_across_shards() {
    let mut config = adv_config();
    config.realms[0].roles[0].permissions.push(Permission {
        uri: "auto.disclosed".into(),
        match_policy: MatchPolicy::Exact,
        allow: crate::config::Allow {
            call: true,
            register: true,
            publish: true,
            subscribe: true,
        },
        disclose: crate::config::Disclose {
            caller: false,
            publisher: true,
        },
    });
    let mut c = Cluster::with_config(3, config);
    let (s, _, _) = join(&mut c, 2);
    let (p, pid, pauth) = join(&mut c, 0);
    let (trusted, tid, _) = join_as(&mut c, 1, "realm1", "other");
    c.subscribe(&s, 1, "who", Dict::new());
    c.subscribe(&s, 2, "auto.disclosed", Dict::new());
    c.publish(&p, 1, "who", Dict::new(), Payload::empty());
    c.publish(
        &p,
        2,
        "who",
        Dict::new().with("disclose_me", true),
        Payload::empty(),
    );
    c.publish(&p, 3, "auto.disclosed", Dict::new(), Payload::empty());
    c.publish(
        &trusted,
        1,
        "who",
        Dict::new().with("disclose_me", true),
        Payload::empty(),
    );
    c.pump();
    let got = c.recv(&s);
    let ev = events(&got);
    assert_eq!(ev.len(), 4);
    assert_eq!(
        ev[0].details.get("publisher"),
        None,
        "not disclosed by default"
    );
    assert_eq!(
        ev[0].details.get("trustlevel"),
        None,
        "role without a trust level"
    );
    for e in &ev[1..3] {
        assert_eq!(e.details.get("publisher"), Some(&Value::from(pid.0)));
        assert_eq!(
            e.details.get("publisher_authid"),
            Some(&Value::from(pauth.as_str()))
        );
        assert_eq!(
            e.details.get("publisher_authrole"),
            Some(&Value::from("anonymous"))
        );
    }
    assert_eq!(ev[3].details.get("publisher"), Some(&Value::from(tid.0)));
    assert_eq!(ev[3].details.get("trustlevel"), Some(&Value::from(5u64)));
}

#[test]
fn pattern_subscriptions_across_three_shards() {
    let mut c = Cluster::new(3);
    let (pre, _, _) = join(&mut c, 0);
    let (wild, _, _) = join(&mut c, 1);
    let (p, _, _) = join(&mut c, 2);
    let pid = c.subscribe(&pre, 1, "com.app.", Dict::new().with("match", "prefix"));
    let wid = c.subscribe(
        &wild,
        1,
        "com..event",
        Dict::new().with("match", "wildcard"),
    );
    c.publish(&p, 1, "com.app.event", Dict::new(), Payload::empty());
    c.publish(&p, 2, "com.other.event", Dict::new(), Payload::empty());
    c.publish(&p, 3, "com.app.x", Dict::new(), Payload::empty());
    c.pump();
    let gp = c.recv(&pre);
    let topics: Vec<&str> = events(&gp)
        .iter()
        .map(|e| {
            assert_eq!(e.subscription, pid);
            e.details
                .get("topic")
                .and_then(Value::as_str)
                .expect("topic")
        })
        .collect();
    assert_eq!(topics, vec!["com.app.event", "com.app.x"]);
    let gw = c.recv(&wild);
    let topics: Vec<&str> = events(&gw)
        .iter()
        .map(|e| {
            assert_eq!(e.subscription, wid);
            e.details
                .get("topic")
                .and_then(Value::as_str)
                .expect("topic")
        })
        .collect();
    assert_eq!(topics, vec!["com.app.event", "com.other.event"]);
}

#[test]
fn retained_event_is_delivered_first_and_filtered() {
    let mut c = Cluster::new(3);
    let (p, _, _) = join(&mut c, 0);
    let (other, other_id, _) = join(&mut c, 2);
    for i in 1..=3 {
        c.publish(
            &p,
            i,
            "ret.t",
            Dict::new().with("retain", true),
            args(vec![Value::Int(i as i64)]),
        );
    }
    c.publish(&p, 4, "ret.t", Dict::new(), args(vec![Value::Int(4)])); // not retained
    c.publish(
        &p,
        5,
        "ret.secret",
        Dict::new()
            .with("retain", true)
            .with("eligible", Value::List(vec![Value::from(other_id.0)])),
        args(vec![Value::Int(5)]),
    );
    c.pump();
    let (s, _, _) = join(&mut c, 1);
    c.send(
        &s,
        Message::Subscribe(Subscribe {
            request: RequestId(1),
            options: Dict::new().with("get_retained", true),
            topic: "ret.t".into(),
        }),
    );
    c.pump();
    let got = c.recv(&s);
    match got.as_slice() {
        [Message::Subscribed(sub), Message::Event(e)] => {
            assert_eq!(e.subscription, sub.subscription);
            assert_eq!(first_arg_int(e), 3, "the latest retained event");
            assert_eq!(e.details.get("retained"), Some(&Value::Bool(true)));
            assert_eq!(e.details.get("topic"), None, "exact subscription: no topic");
        }
        other => panic!("expected SUBSCRIBED then the retained EVENT, got {other:?}"),
    }
    c.send(
        &s,
        Message::Subscribe(Subscribe {
            request: RequestId(2),
            options: Dict::new()
                .with("get_retained", true)
                .with("match", "prefix"),
            topic: "ret.".into(),
        }),
    );
    c.pump();
    let got = c.recv(&s);
    assert!(matches!(got[0], Message::Subscribed(_)), "{got:?}");
    let ev = events(&got);
    assert_eq!(ev.len(), 1, "ret.secret is not for this session: {got:?}");
    assert_eq!(first_arg_int(ev[0]), 3);
    assert_eq!(ev[0].details.get("retained"), Some(&Value::Bool(true)));
    assert_eq!(ev[0].details.get("topic"), Some(&Value::from("ret.t")));
    // The eligible session gets the secret one through its prefix subscription.
    c.send(
        &other,
        Message::Subscribe(Subscribe {
            request: RequestId(1),
            options: Dict::new()
                .with("get_retained", true)
                .with("match", "prefix"),
            topic: "ret.".into(),
        }),
    );
    c.pump();
    let got = c.recv(&other);
    let mut vals: Vec<i64> = events(&got).iter().map(|e| first_arg_int(e)).collect();
    vals.sort_unstable();
    assert_eq!(vals, vec![3, 5]);
    // No get_retained: nothing old.
    let (n, _, _) = join(&mut c, 2);
    c.subscribe(&n, 1, "ret.t", Dict::new());
    assert!(c.recv(&n).is_empty());
    // Bad get_retained type.
    c.send(
        &n,
        Message::Subscribe(Subscribe {
            request: RequestId(2),
            options: Dict::new().with("get_retained", "yes"),
            topic: "ret.t".into(),
        }),
    );
    assert_eq!(error_uri(&c.recv(&n)[0]), uris::INVALID_ARGUMENT);
}

#[test]
fn retained_events_race_subscribe_and_keep_order() {
    // Publisher and subscriber on different shards, random interleaving: the
    // subscriber sees values in increasing order and ends with the latest.
    for round in 0..100u64 {
        let mut c = Cluster::new(3);
        c.rng = SmallRng::seed_from_u64(round);
        let (p, _, _) = join(&mut c, (round % 3) as usize);
        let (s, _, _) = join(&mut c, ((round + 1) % 3) as usize);
        c.publish(
            &p,
            1,
            "race",
            Dict::new().with("retain", true),
            args(vec![Value::Int(0)]),
        );
        for _ in 0..(round % 4) {
            c.step();
        }
        c.send(
            &s,
            Message::Subscribe(Subscribe {
                request: RequestId(1),
                options: Dict::new().with("get_retained", true),
                topic: "race".into(),
            }),
        );
        for i in 1..=5 {
            c.publish(
                &p,
                i + 1,
                "race",
                Dict::new().with("retain", true),
                args(vec![Value::Int(i as i64)]),
            );
            if round % 2 == 0 {
                c.step();
            }
        }
        c.pump();
        let got = c.recv(&s);
        let vals: Vec<i64> = events(&got).iter().map(|e| first_arg_int(e)).collect();
        assert!(!vals.is_empty(), "round {round}: nothing received");
        assert!(
            vals.windows(2).all(|w| w[0] < w[1]),
            "round {round}: order {vals:?}"
        );
        assert_eq!(*vals.last().expect("some"), 5, "round {round}: {vals:?}");
    }
}

#[test]
fn event_history_lives_on_the_owner_and_answers_every_shard() {
    let mut c = Cluster::with_config(4, adv_config());
    let (p1, _, _) = join(&mut c, 0);
    let (p2, _, _) = join(&mut c, 3);
    let (asker, _, _) = join(&mut c, 1);
    // The history subscription exists (pinned) before anyone subscribes.
    let look = call(
        &mut c,
        &asker,
        1,
        "wamp.subscription.lookup",
        vec![
            "com.hist.".into(),
            Value::Dict(Dict::new().with("match", "prefix")),
        ],
        None,
    );
    let hid = result_args(&look)[0]
        .as_u64()
        .expect("history subscription ID");
    for i in 0..5 {
        let p = if i % 2 == 0 { &p1 } else { &p2 };
        c.publish(
            p,
            i + 1,
            &format!("com.hist.t{i}"),
            Dict::new(),
            args(vec![Value::Int(i as i64)]),
        );
    }
    c.publish(&p1, 9, "com.unrelated", Dict::new(), Payload::empty());
    // Session-based lists are not kept.
    c.publish(
        &p1,
        10,
        "com.hist.x",
        Dict::new().with("exclude", Value::List(vec![Value::Int(1)])),
        Payload::empty(),
    );
    c.pump();
    // Subscribing gives the same ID.
    let (sub, _, _) = join(&mut c, 2);
    let sid = c.subscribe(&sub, 1, "com.hist.", Dict::new().with("match", "prefix"));
    assert_eq!(sid.0, hid);
    let r = call(
        &mut c,
        &asker,
        2,
        "wamp.subscription.get_events",
        vec![Value::from(hid)],
        None,
    );
    let list = result_args(&r)[0].clone();
    let vals: Vec<i64> = list
        .as_list()
        .expect("list")
        .iter()
        .map(|e| {
            let d = e.as_dict().expect("event object");
            assert!(
                d.get("timestamp")
                    .and_then(Value::as_str)
                    .is_some_and(|t| t.ends_with('Z'))
            );
            assert_eq!(d.get("subscription"), Some(&Value::from(hid)));
            d.get("args").and_then(Value::as_list).expect("args")[0]
                .as_i64()
                .expect("int")
        })
        .collect();
    // Limit 3, per-publisher order kept; publishers interleave arbitrarily.
    assert_eq!(vals.len(), 3, "{vals:?}");
    let r = call(
        &mut c,
        &asker,
        3,
        "wamp.subscription.get_events",
        vec![Value::from(hid), Value::from(2u64)],
        None,
    );
    assert_eq!(result_args(&r)[0].as_list().expect("list").len(), 2);
    // A subscription without history, and an unknown ID.
    let (x, _, _) = join(&mut c, 0);
    let plain = c.subscribe(&x, 1, "com.plain", Dict::new());
    let r = call(
        &mut c,
        &asker,
        4,
        "wamp.subscription.get_events",
        vec![Value::from(plain.0)],
        None,
    );
    assert_eq!(error_uri(&r), "wamp.error.history_unavailable");
    let r = call(
        &mut c,
        &asker,
        5,
        "wamp.subscription.get_events",
        vec![Value::from(999_999u64)],
        None,
    );
    assert_eq!(error_uri(&r), uris::NO_SUCH_SUBSCRIPTION);
    let r = call(
        &mut c,
        &asker,
        6,
        "wamp.subscription.get_events",
        vec!["x".into()],
        None,
    );
    assert_eq!(error_uri(&r), uris::INVALID_ARGUMENT);
    // The history subscription survives its last subscriber, with the same ID.
    c.close(&sub);
    c.pump();
    let look = call(
        &mut c,
        &asker,
        7,
        "wamp.subscription.lookup",
        vec![
            "com.hist.".into(),
            Value::Dict(Dict::new().with("match", "prefix")),
        ],
        None,
    );
    assert_eq!(result_args(&look)[0].as_u64(), Some(hid));
}

#[test]
fn history_and_retained_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = adv_config();
    config.realms[0].store.path = Some(dir.path().to_owned());
    config.realms[0].store.max_size = crate::config::DEFAULT_STORE_MAX_SIZE;
    {
        let mut c = Cluster::with_config(3, config.clone());
        let (p, _, _) = join(&mut c, 1);
        for i in 0..4 {
            c.publish(
                &p,
                i + 1,
                "com.exact.h",
                Dict::new(),
                args(vec![Value::Int(i as i64)]),
            );
        }
        c.publish(
            &p,
            9,
            "keep.me",
            Dict::new().with("retain", true),
            args(vec!["kept".into()]),
        );
        c.pump();
    }
    let mut c = Cluster::with_config(3, config);
    let (asker, _, _) = join(&mut c, 2);
    let look = call(
        &mut c,
        &asker,
        1,
        "wamp.subscription.lookup",
        vec!["com.exact.h".into()],
        None,
    );
    let hid = result_args(&look)[0].as_u64().expect("ID");
    let r = call(
        &mut c,
        &asker,
        2,
        "wamp.subscription.get_events",
        vec![Value::from(hid)],
        None,
    );
    let vals: Vec<i64> = result_args(&r)[0]
        .as_list()
        .expect("list")
        .iter()
        .map(|e| {
            e.as_dict()
                .and_then(|d| d.get("args"))
                .and_then(Value::as_list)
                .expect("args")[0]
                .as_i64()
                .expect("int")
        })
        .collect();
    assert_eq!(vals, vec![0, 1, 2, 3]);
    let (s, _, _) = join(&mut c, 0);
    c.send(
        &s,
        Message::Subscribe(Subscribe {
            request: RequestId(1),
            options: Dict::new().with("get_retained", true),
            topic: "keep.me".into(),
        }),
    );
    c.pump();
    let got = c.recv(&s);
    let ev = events(&got);
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].payload.args, Some(vec![Value::from("kept")]));
}

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
