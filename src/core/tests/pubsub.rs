//! Multi-shard tests of the advanced broker features and the session and
//! subscription meta API, on the sans-IO cluster of `tests.rs` (random
//! interleaving of shard pairs). Sessions sit on different shards on purpose.

use std::rc::Rc;

use rand::SeedableRng;
use rand::rngs::SmallRng;

use super::*;
use super::{Cluster, MemJournal, Peer, args, error_uri, events, test_config};
use crate::config::{HistoryConfig, Permission, RoleConfig, TransportAuth, TransportConfig};
use crate::core::*;
use crate::proto::uri::MatchPolicy;

/// realm1: histories on prefix `com.hist.` (3 events) and exact `com.exact.h`
/// (10), role `other` with trust level 5 next to `anonymous` (no trust level).
pub(super) fn adv_config() -> Config {
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
pub(super) fn join_as(
    c: &mut Cluster,
    shard: usize,
    realm: &str,
    role: &str,
) -> (Peer, SessionId, String) {
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
            realm: Some(realm.into()),
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

pub(super) fn join(c: &mut Cluster, shard: usize) -> (Peer, SessionId, String) {
    join_as(c, shard, "realm1", "anonymous")
}

/// Calls `procedure` and returns the single answer (RESULT or ERROR).
pub(super) fn call(
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

pub(super) fn result_args(m: &Message) -> Vec<Value> {
    match m {
        Message::Result(r) => r.payload.args.clone().unwrap_or_default(),
        other => panic!("expected RESULT, got {other:?}"),
    }
}

pub(super) fn ids(v: &Value) -> Vec<u64> {
    let mut out: Vec<u64> = v
        .as_list()
        .expect("list")
        .iter()
        .map(|x| x.as_u64().expect("id"))
        .collect();
    out.sort_unstable();
    out
}

pub(super) fn first_arg_int(e: &Event) -> i64 {
    e.payload.args.as_ref().expect("args")[0]
        .as_i64()
        .expect("int")
}

pub(super) fn publish_ack(
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

pub(super) fn roles_features(w: &Welcome, role: &str) -> Dict {
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
pub(super) fn welcome_announces_the_broker_features() {
    let mut c = Cluster::new(1);
    let p = c.connect_raw(0, Serializer::Json, 1 << 20);
    c.send(
        &p,
        Message::Hello(Hello {
            realm: Some("realm1".into()),
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
pub(super) fn exclude_me_and_acknowledge_across_shards() {
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
pub(super) fn black_and_whitelisting_applies_on_every_shard() {
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
pub(super) fn bad_publish_options_get_invalid_argument_or_silence() {
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
    // Crossbar's message, which its functional tests look for.
    assert_eq!(
        super::rpc::error_message(&m),
        "publish with restricted topic URI 'wamp.session.on_join': 'wamp.' topics are reserved for the router"
    );
}

#[test]
pub(super) fn publisher_disclosure_and_trustlevel_across_shards() {
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
pub(super) fn pattern_subscriptions_across_three_shards() {
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
pub(super) fn retained_event_is_delivered_first_and_filtered() {
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
pub(super) fn retained_events_race_subscribe_and_keep_order() {
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
pub(super) fn event_history_lives_on_the_owner_and_answers_every_shard() {
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
pub(super) fn history_and_retained_survive_a_restart() {
    let journal = MemJournal::default();
    let config = adv_config();
    {
        let mut c = Cluster::with_journal(3, config.clone(), &journal);
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
    {
        // Each event was handed over once, by its writer: the history's owner,
        // the retained topic's owner (not every shard that keeps it).
        let kept = journal.kept();
        let (retained, history): (usize, usize) = kept
            .by_shard
            .values()
            .fold((0, 0), |(r, h), (a, b)| (r + a, h + b));
        assert_eq!((retained, history), (1, 4));
        let owner = |uri, policy| cluster::owner_of(0, uri, policy, 3).0;
        assert_eq!(
            kept.by_shard
                .get(&owner("keep.me", MatchPolicy::Exact))
                .map(|c| c.0),
            Some(1)
        );
        assert_eq!(
            kept.by_shard
                .get(&owner("com.exact.h", MatchPolicy::Exact))
                .map(|c| c.1),
            Some(4)
        );
    }
    let mut c = Cluster::with_journal(3, config, &journal);
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
