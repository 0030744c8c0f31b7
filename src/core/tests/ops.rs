//! What the process asks of the routers: a graceful drain, applying a
//! reloaded config (realms and transports added and removed, permissions
//! changed) while other sessions go on, and the counters moving with traffic.

use super::{Cluster, Peer, args, error_uri, events, test_config};
use crate::config::{Allow, Config, Permission, RealmConfig, RoleConfig};
use crate::core::outbox::CloseReason;
use crate::core::uris;
use crate::proto::message::code;
use crate::proto::uri::MatchPolicy;
use crate::proto::*;

/// The test config with the cluster's transport (`test`) in it, so that a
/// reload to it keeps the test's sessions.
fn config() -> Config {
    let mut c = test_config();
    c.transports[1].id = "test".into();
    c
}

fn goodbye(m: &Message) -> (&str, Option<&str>) {
    match m {
        Message::Goodbye(g) => (
            g.reason.as_str(),
            g.details.get("message").and_then(Value::as_str),
        ),
        other => panic!("expected GOODBYE, got {other:?}"),
    }
}

fn close_reason(p: &Peer) -> Option<CloseReason> {
    p.outbox.borrow().close_reason().cloned()
}

fn hello(c: &mut Cluster, p: &Peer, realm: &str) -> Message {
    c.send(
        p,
        Message::Hello(Hello {
            realm: Some(realm.into()),
            details: Dict::new(),
        }),
    );
    let mut got = c.recv(p);
    assert_eq!(got.len(), 1, "{got:?}");
    got.remove(0)
}

fn call(c: &mut Cluster, p: &Peer, req: u64, procedure: &str) -> Vec<Message> {
    c.send(
        p,
        Message::Call(Call {
            request: RequestId(req),
            options: Dict::new(),
            procedure: procedure.into(),
            payload: args(vec![Value::from(req)]),
        }),
    );
    c.pump();
    c.recv(p)
}

/// `callee` registers `procedure`; returns a function that answers one
/// INVOCATION on it with its arguments.
fn register(c: &mut Cluster, callee: &Peer, procedure: &str) {
    c.send(
        callee,
        Message::Register(Register {
            request: RequestId(1),
            options: Dict::new(),
            procedure: procedure.into(),
        }),
    );
    c.pump();
    assert!(matches!(
        c.recv(callee).as_slice(),
        [Message::Registered(_)]
    ));
}

fn answer(c: &mut Cluster, callee: &Peer) {
    let invocations = c.recv(callee);
    let [Message::Invocation(inv)] = invocations.as_slice() else {
        panic!("expected INVOCATION, got {invocations:?}");
    };
    c.send(
        callee,
        Message::Yield(Yield {
            request: inv.request,
            options: Dict::new(),
            payload: inv.payload.clone(),
        }),
    );
    c.pump();
}

/// One call from `caller` answered by `callee`.
fn round_trip(c: &mut Cluster, caller: &Peer, callee: &Peer, req: u64) {
    let before = call(c, caller, req, "com.example.echo");
    assert!(before.is_empty(), "{before:?}");
    answer(c, callee);
    match c.recv(caller).as_slice() {
        [Message::Result(r)] => {
            assert_eq!(r.request, RequestId(req));
            assert_eq!(r.payload, args(vec![Value::from(req)]));
        }
        other => panic!("expected RESULT, got {other:?}"),
    }
}

#[test]
fn drain_says_goodbye_waits_for_the_reply_and_refuses_new_links() {
    let mut c = Cluster::with_config(2, config());
    let (a, _) = c.join(0, Serializer::Json, "realm1");
    let (b, _) = c.join(1, Serializer::MsgPack, "realm1");
    c.subscribe(&b, 1, "com.example.topic", Dict::new());
    let idle = c.connect_raw(0, Serializer::Cbor, 1 << 20);
    assert!(c.index_entries() > 0);
    for r in &mut c.routers {
        r.drain();
    }
    c.pump();
    for p in [&a, &b] {
        let got = c.recv(p);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(goodbye(&got[0]).0, uris::SYSTEM_SHUTDOWN);
        // The link stays open for the client's answer.
        assert_eq!(close_reason(p), None);
    }
    // The sessions ended on the router's side at once.
    assert_eq!(
        c.routers[0].session_count() + c.routers[1].session_count(),
        0
    );
    assert_eq!(c.index_entries(), 0);
    // A link without a session is closed now.
    assert_eq!(close_reason(&idle), Some(CloseReason::GoingAway));
    // New links are refused.
    let info = crate::core::api::LinkInfo::new(
        std::rc::Rc::clone(&c.transport),
        crate::core::api::FrontEnd::RawSocket,
        "late",
    );
    let (out, _) = crate::core::api::Output::wire(Serializer::Json, 1 << 20);
    assert!(c.routers[0].open(info, out).is_err());
    // The client's GOODBYE closes its link; a HELLO instead is refused.
    c.send(
        &a,
        Message::Goodbye(Goodbye {
            details: Dict::new(),
            reason: uris::GOODBYE_AND_OUT.into(),
        }),
    );
    assert!(c.recv(&a).is_empty(), "no second GOODBYE");
    assert_eq!(close_reason(&a), Some(CloseReason::Normal));
    match hello(&mut c, &b, "realm1") {
        Message::Abort(m) => assert_eq!(m.reason, uris::SYSTEM_SHUTDOWN),
        other => panic!("expected ABORT, got {other:?}"),
    }
    assert_eq!(close_reason(&b), Some(CloseReason::Normal));
    c.close(&a);
    c.close(&b);
    c.close(&idle);
    assert_eq!(c.routers[0].client_link_count(), 0);
    assert_eq!(c.routers[1].client_link_count(), 0);
}

#[test]
fn reload_adds_and_removes_realms_while_other_sessions_go_on() {
    let mut c = Cluster::with_config(2, config());
    let (caller, _) = c.join(0, Serializer::Json, "realm1");
    let (callee, _) = c.join(1, Serializer::Json, "realm1");
    register(&mut c, &callee, "com.example.echo");
    let (doomed, _) = c.join(1, Serializer::Cbor, "realm2");
    round_trip(&mut c, &caller, &callee, 10);

    // realm2 goes, realm3 comes.
    let mut next = config();
    next.realms.retain(|r| r.name != "realm2");
    let mut realm3 = next.realms[0].clone();
    realm3.name = "realm3".into();
    next.realms.push(realm3);
    for r in &mut c.routers {
        let applied = r.apply(&next);
        assert_eq!(applied.realms_added, vec!["realm3".to_owned()]);
        assert_eq!(applied.realms_removed, vec!["realm2".to_owned()]);
    }
    c.pump();
    // The session of the removed realm got GOODBYE saying why, and its link closes.
    let got = c.recv(&doomed);
    assert_eq!(got.len(), 1, "{got:?}");
    let (reason, message) = goodbye(&got[0]);
    assert_eq!(reason, uris::CLOSE_REALM);
    assert!(
        message.is_some_and(|m| m.contains("realm2") && m.contains("removed")),
        "{message:?}"
    );
    assert_eq!(close_reason(&doomed), Some(CloseReason::Normal));
    c.close(&doomed);
    // The realm1 sessions were not disturbed: no message, and calls go on.
    assert!(c.recv(&caller).is_empty());
    assert!(c.recv(&callee).is_empty());
    round_trip(&mut c, &caller, &callee, 11);
    // realm2 is gone for new sessions; realm3 works across shards.
    let late = c.connect_raw(0, Serializer::Json, 1 << 20);
    match hello(&mut c, &late, "realm2") {
        Message::Abort(a) => assert_eq!(a.reason, uris::NO_SUCH_REALM),
        other => panic!("expected ABORT, got {other:?}"),
    }
    let (sub, _) = c.join(1, Serializer::Json, "realm3");
    let (publ, _) = c.join(0, Serializer::MsgPack, "realm3");
    c.subscribe(&sub, 1, "com.example.news", Dict::new());
    c.publish(
        &publ,
        2,
        "com.example.news",
        Dict::new(),
        args(vec![Value::from(3u64)]),
    );
    c.pump();
    let got = c.recv(&sub);
    assert_eq!(events(&got).len(), 1, "{got:?}");
    // realm1's callee is not reachable from realm3.
    let got = call(&mut c, &publ, 5, "com.example.echo");
    assert_eq!(error_uri(&got[0]), uris::NO_SUCH_PROCEDURE);

    // Adding realm2 back serves it again, in its old place (no new slot),
    // with none of realm1's registrations.
    let slots = c.routers[0].cx.realms.len();
    let mut again = next.clone();
    let mut realm2 = again.realms[0].clone();
    realm2.name = "realm2".into();
    again.realms.push(realm2);
    for r in &mut c.routers {
        assert_eq!(r.apply(&again).realms_added, vec!["realm2".to_owned()]);
        assert_eq!(r.cx.realms.len(), slots);
    }
    let (r2, _) = c.join(0, Serializer::Json, "realm2");
    let got = call(&mut c, &r2, 6, "com.example.echo");
    assert_eq!(error_uri(&got[0]), uris::NO_SUCH_PROCEDURE);
    round_trip(&mut c, &caller, &callee, 12);
}

/// A realm removed and added back by reloads, again and again, takes its
/// old place each time (it once took a new one: a router reloaded with a
/// toggling realm grew without end). Its retained events stay, as they
/// would across a restart with a file store; its sessions, subscriptions
/// and registrations went with the removal, on both shards.
#[test]
fn a_realm_added_back_takes_its_old_place_each_time() {
    let mut c = Cluster::with_config(2, config());
    let with = config();
    let mut without = config();
    without.realms.retain(|r| r.name != "realm2");
    let slots = c.routers[0].cx.realms.len();
    let (publ, _) = c.join(0, Serializer::Json, "realm2");
    c.publish(
        &publ,
        1,
        "com.example.kept",
        Dict::new().with("retain", true),
        args(vec![Value::from(1u64)]),
    );
    c.pump();
    for round in 0..20u64 {
        for r in &mut c.routers {
            assert_eq!(r.apply(&without).realms_removed, vec!["realm2".to_owned()]);
        }
        c.pump();
        for r in &mut c.routers {
            assert_eq!(r.apply(&with).realms_added, vec!["realm2".to_owned()]);
            assert_eq!(r.cx.realms.len(), slots, "round {round}");
        }
        // A subscriber on each shard, a callee on shard 1: what they set
        // up lives until the next removal only.
        let (s0, _) = c.join(0, Serializer::Json, "realm2");
        let (s1, _) = c.join(1, Serializer::MsgPack, "realm2");
        for s in [&s0, &s1] {
            c.send(
                s,
                Message::Subscribe(Subscribe {
                    request: RequestId(1),
                    options: Dict::new().with("get_retained", true),
                    topic: "com.example.kept".into(),
                }),
            );
            c.pump();
            let got = c.recv(s);
            assert!(matches!(got[0], Message::Subscribed(_)), "{got:?}");
            let ev = events(&got);
            assert_eq!(ev.len(), 1, "round {round}: {got:?}");
            assert_eq!(ev[0].payload, args(vec![Value::from(1u64)]));
        }
        let (callee, _) = c.join(1, Serializer::Json, "realm2");
        let (caller, _) = c.join(0, Serializer::Json, "realm2");
        let got = call(&mut c, &caller, 2, "com.example.echo");
        assert_eq!(error_uri(&got[0]), uris::NO_SUCH_PROCEDURE, "round {round}");
        register(&mut c, &callee, "com.example.echo");
        round_trip(&mut c, &caller, &callee, 3);
        c.publish(&caller, 4, "com.example.kept", Dict::new(), args(vec![]));
        c.pump();
        for s in [&s0, &s1] {
            assert_eq!(events(&c.recv(s)).len(), 1, "round {round}");
        }
    }
    // The last removal takes the last round's subscriptions and
    // registration with it, on both shards.
    assert!(c.index_entries() > 0);
    for r in &mut c.routers {
        r.apply(&without);
    }
    c.pump();
    assert_eq!(c.index_entries(), 0);
}

#[test]
fn reload_changes_permissions_on_every_shard() {
    let mut c = Cluster::with_config(2, config());
    let (p0, _) = c.join(0, Serializer::Json, "restricted");
    let (p1, _) = c.join(1, Serializer::Json, "restricted");
    let subscribe = |c: &mut Cluster, p: &Peer, req: u64| {
        c.send(
            p,
            Message::Subscribe(Subscribe {
                request: RequestId(req),
                options: Dict::new(),
                topic: "com.other.topic".into(),
            }),
        );
        c.pump();
        c.recv(p)
    };
    for (p, req) in [(&p0, 1), (&p1, 2)] {
        let got = subscribe(&mut c, p, req);
        assert_eq!(error_uri(&got[0]), uris::NOT_AUTHORIZED);
    }
    let mut next = config();
    let restricted = next
        .realms
        .iter_mut()
        .find(|r| r.name == "restricted")
        .expect("realm");
    restricted.roles[0].permissions.push(Permission {
        uri: "com.other.".into(),
        match_policy: MatchPolicy::Prefix,
        allow: Allow {
            subscribe: true,
            ..Allow::default()
        },
        disclose: Default::default(),
    });
    for r in &mut c.routers {
        let applied = r.apply(&next);
        assert_eq!(applied.sessions_closed, 0);
    }
    for (p, req) in [(&p0, 3), (&p1, 4)] {
        let got = subscribe(&mut c, p, req);
        assert!(
            matches!(got.as_slice(), [Message::Subscribed(_)]),
            "{got:?}"
        );
    }
}

#[test]
fn reload_closes_the_sessions_of_a_removed_transport_only() {
    let mut c = Cluster::with_config(2, config());
    let (kept, _) = c.join(0, Serializer::Json, "realm1");
    // A second transport whose sessions go.
    let mut other = (*c.transport).clone();
    other.id = "old".into();
    let other = std::rc::Rc::new(other);
    let info =
        crate::core::api::LinkInfo::new(other, crate::core::api::FrontEnd::RawSocket, "old-peer");
    let (out, outbox) = crate::core::api::Output::wire(Serializer::Json, 1 << 20);
    let conn = c.routers[1].open(info, out).expect("open");
    let gone = Peer {
        shard: 1,
        conn,
        outbox,
        serializer: Serializer::Json,
    };
    assert!(matches!(
        hello(&mut c, &gone, "realm1"),
        Message::Welcome(_)
    ));
    let applied = c.routers[1].apply(&config());
    assert_eq!(applied.sessions_closed, 1);
    assert_eq!(c.routers[0].apply(&config()).sessions_closed, 0);
    let got = c.recv(&gone);
    let (reason, message) = goodbye(&got[0]);
    assert_eq!(reason, uris::SYSTEM_SHUTDOWN);
    assert!(
        message.is_some_and(|m| m.contains("transport")),
        "{message:?}"
    );
    assert_eq!(close_reason(&gone), Some(CloseReason::Normal));
    assert_eq!(close_reason(&kept), None);
    assert!(c.recv(&kept).is_empty());
}

#[test]
fn counters_move_with_traffic() {
    let mut cfg = config();
    cfg.realms.push(RealmConfig {
        name: "empty".into(),
        uri_check: Default::default(),
        roles: vec![RoleConfig {
            name: "nobody".into(),
            permissions: vec![],
            trustlevel: None,
        }],
        store: Default::default(),
        prefer_local_callee: false,
        call_queue: Vec::new(),
    });
    let mut c = Cluster::with_config(2, cfg);
    let (sub, _) = c.join(1, Serializer::Json, "realm1");
    let (publ, _) = c.join(0, Serializer::Json, "realm1");
    c.subscribe(&sub, 1, "com.example.topic", Dict::new());
    for i in 0..5 {
        c.publish(
            &publ,
            10 + i,
            "com.example.topic",
            Dict::new(),
            args(vec![]),
        );
    }
    c.pump();
    assert_eq!(events(&c.recv(&sub)).len(), 5);
    let got = call(&mut c, &publ, 20, "com.example.missing");
    assert_eq!(error_uri(&got[0]), uris::NO_SUCH_PROCEDURE);
    // A session whose role does not exist fails to authenticate.
    let denied = c.connect_raw(0, Serializer::Json, 1 << 20);
    assert!(matches!(hello(&mut c, &denied, "empty"), Message::Abort(_)));

    let m0 = c.routers[0].metrics();
    let m1 = c.routers[1].metrics();
    assert_eq!(m0.received[code::PUBLISH as usize], 5);
    assert_eq!(m0.received[code::CALL as usize], 1);
    assert_eq!(m0.received[code::HELLO as usize], 2);
    assert_eq!(m1.received[code::SUBSCRIBE as usize], 1);
    assert_eq!(m1.sent[code::EVENT as usize], 5);
    assert_eq!(m1.sent[code::SUBSCRIBED as usize], 1);
    assert_eq!(m0.sent[code::ERROR as usize], 1);
    assert_eq!(m0.sent[code::WELCOME as usize], 1);
    assert!(m1.sent_bytes > 0);
    assert_eq!(
        m0.errors_sent,
        vec![(uris::NO_SUCH_PROCEDURE.to_owned(), 1)]
    );
    // One latency observation per PUBLISH and CALL.
    assert!(m0.timing);
    assert_eq!(m0.latency.count, 6);
    assert_eq!(m1.latency.count, 0);
    assert_eq!(
        m0.sessions,
        vec![("realm1".into(), "test".into(), "anonymous".into(), 1)]
    );
    assert_eq!(m0.auth_failures, vec![("anonymous".into(), 1)]);
    assert_eq!((m1.subscriptions, m0.subscriptions), (1, 0));
    assert_eq!(m0.registrations, 0);
    // Sessions leaving take their gauges down.
    c.close(&sub);
    c.pump();
    let m1 = c.routers[1].metrics();
    assert!(m1.sessions.is_empty(), "{:?}", m1.sessions);
    assert_eq!(m1.subscriptions, 0);
    // Timing off: no observations.
    c.routers[0].set_timing(false);
    c.publish(&publ, 30, "com.example.topic", Dict::new(), args(vec![]));
    assert_eq!(c.routers[0].metrics().latency.count, 6);
    assert_eq!(c.routers[0].metrics().received[code::PUBLISH as usize], 6);
}

/// The node reloads the shards one after the other: shard 0 has added
/// realm3 and a session there subscribes, while the owner shard of the
/// topic has not added realm3 yet. Its `SubJoin` waits there (it once
/// indexed past the shard's realms and panicked the shard, found by
/// tests/interop/test_chaos_reload.py); once shard 1 reloads, the
/// subscription completes and events flow both ways.
#[test]
fn a_message_about_a_realm_a_shard_has_not_added_yet_waits_for_its_reload() {
    let mut c = Cluster::with_config(2, config());
    let mut next = config();
    let mut realm3 = next.realms[0].clone();
    realm3.name = "realm3".into();
    next.realms.push(realm3);
    let idx = next.realms.len() as u32 - 1;
    // A topic whose owner is shard 1.
    let topic = (0..)
        .map(|i| format!("com.example.t{i}"))
        .find(|t| {
            crate::core::cluster::owner_of(idx, t, MatchPolicy::Exact, 2)
                == crate::proto::ShardId(1)
        })
        .expect("some topic is owned by shard 1");
    c.routers[0].apply(&next);
    let (sub, _) = c.join(0, Serializer::Json, "realm3");
    c.send(
        &sub,
        Message::Subscribe(Subscribe {
            request: RequestId(1),
            options: Dict::new(),
            topic: topic.clone(),
        }),
    );
    c.pump();
    // Shard 1 keeps the SubJoin: no answer yet.
    assert!(c.recv(&sub).is_empty());
    assert_eq!(
        c.routers[1].apply(&next).realms_added,
        vec!["realm3".to_owned()]
    );
    c.pump();
    match c.recv(&sub).as_slice() {
        [Message::Subscribed(s)] if s.request == RequestId(1) => {}
        other => panic!("expected SUBSCRIBED, got {other:?}"),
    }
    let (publ, _) = c.join(1, Serializer::MsgPack, "realm3");
    c.publish(&publ, 2, &topic, Dict::new(), args(vec![Value::from(7u64)]));
    c.pump();
    assert_eq!(events(&c.recv(&sub)).len(), 1);
}
