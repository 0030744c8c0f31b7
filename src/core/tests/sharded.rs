//! Multi-shard tests of sharded subscriptions (`SUBSCRIBE.Options.nkey`,
//! `PUBLISH.Options.rkey`) on the sans-IO cluster of `tests.rs` (random
//! interleaving of shard pairs). Subscribers of one node key sit on
//! different shards on purpose.

use std::collections::BTreeMap;

use rand::SeedableRng;
use rand::rngs::SmallRng;

use super::*;
use super::{Cluster, Peer, args, error_uri, events};

const TOPIC: &str = "com.sensor.temp";

fn nkey(n: &str) -> Dict {
    Dict::new().with("nkey", n)
}

fn rkey(k: &str) -> Dict {
    Dict::new().with("rkey", k)
}

/// Publishes `rkeys` from `publ` (one event each, the key as the argument)
/// and returns, per subscriber, the keys it received.
fn spread(c: &mut Cluster, publ: &Peer, rkeys: &[String], subs: &[&Peer]) -> Vec<Vec<String>> {
    for (i, k) in rkeys.iter().enumerate() {
        c.publish(
            publ,
            i as u64 + 1,
            TOPIC,
            rkey(k),
            args(vec![Value::from(k.as_str())]),
        );
    }
    c.pump();
    subs.iter()
        .map(|s| {
            events(&c.recv(s))
                .iter()
                .map(|e| {
                    e.payload.args.as_ref().expect("args")[0]
                        .as_str()
                        .expect("key")
                        .to_owned()
                })
                .collect()
        })
        .collect()
}

fn keys(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("sensor-{i}")).collect()
}

/// Which node each key went to, given the subscribers' node keys; asserts
/// that subscribers of one node key got the same keys and every key went to
/// exactly one node.
fn node_of_key(got: &[Vec<String>], nodes: &[&str], rkeys: &[String]) -> BTreeMap<String, String> {
    let mut per_node: BTreeMap<&str, &Vec<String>> = BTreeMap::new();
    for (g, n) in got.iter().zip(nodes) {
        if let Some(prev) = per_node.insert(n, g) {
            assert_eq!(prev, g, "subscribers of node {n} got the same events");
        }
    }
    let mut out = BTreeMap::new();
    for k in rkeys {
        let owners: Vec<&str> = per_node
            .iter()
            .filter(|(_, g)| g.contains(k))
            .map(|(n, _)| *n)
            .collect();
        assert_eq!(
            owners.len(),
            1,
            "key {k} went to exactly one node: {owners:?}"
        );
        out.insert(k.clone(), owners[0].to_owned());
    }
    out
}

#[test]
fn welcome_announces_both_spellings() {
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
        panic!("expected WELCOME, got {got:?}")
    };
    let features = w
        .details
        .get("roles")
        .and_then(Value::as_dict)
        .and_then(|r| r.get("broker"))
        .and_then(Value::as_dict)
        .and_then(|b| b.get("features"))
        .and_then(Value::as_dict)
        .expect("broker features");
    assert_eq!(
        features.get("shareded_subscriptions"),
        Some(&Value::Bool(true))
    );
    assert_eq!(
        features.get("sharded_subscription"),
        Some(&Value::Bool(true))
    );
}

#[test]
fn same_rkey_one_node_on_every_shard_and_plain_subscribers_get_all() {
    for seed in 0..20u64 {
        let mut c = Cluster::new(4);
        c.rng = SmallRng::seed_from_u64(seed);
        // Node n1 has subscribers on shards 0 and 2, n2 on 1, n3 on 3; a plain
        // subscriber on shard 1.
        let (a1, _) = c.join(0, Serializer::Json, "realm1");
        let (a2, _) = c.join(2, Serializer::MsgPack, "realm1");
        let (b, _) = c.join(1, Serializer::Cbor, "realm1");
        let (d, _) = c.join(3, Serializer::Json, "realm1");
        let (plain, _) = c.join(1, Serializer::Json, "realm1");
        let id = c.subscribe(&a1, 1, TOPIC, nkey("n1"));
        assert_eq!(c.subscribe(&a2, 1, TOPIC, nkey("n1")), id);
        assert_eq!(c.subscribe(&b, 1, TOPIC, nkey("n2")), id);
        assert_eq!(c.subscribe(&d, 1, TOPIC, nkey("n3")), id);
        assert_eq!(c.subscribe(&plain, 1, TOPIC, Dict::new()), id);
        let rkeys = keys(60);
        let subs = [&a1, &a2, &b, &d, &plain];
        let nodes = ["n1", "n1", "n2", "n3", "-"];
        let mut first: Option<BTreeMap<String, String>> = None;
        for publ_shard in 0..4 {
            let (publ, _) = c.join(publ_shard, Serializer::Json, "realm1");
            let got = spread(&mut c, &publ, &rkeys, &subs);
            assert_eq!(got[4], rkeys, "a subscriber without nkey gets everything");
            let map = node_of_key(&got[..4], &nodes[..4], &rkeys);
            let used: std::collections::BTreeSet<&String> = map.values().collect();
            assert_eq!(used.len(), 3, "60 keys spread over the 3 nodes: {map:?}");
            match &first {
                None => first = Some(map),
                Some(f) => assert_eq!(f, &map, "the same choice from every shard"),
            }
        }
        // Without rkey everybody gets it.
        let (publ, _) = c.join(2, Serializer::Json, "realm1");
        c.publish(&publ, 9, TOPIC, Dict::new(), Payload::empty());
        c.pump();
        for s in subs {
            assert_eq!(events(&c.recv(s)).len(), 1);
        }
    }
}

#[test]
fn node_set_change_reroutes_only_the_moving_keys() {
    let mut c = Cluster::new(3);
    let (a, _) = c.join(0, Serializer::Json, "realm1");
    let (b, _) = c.join(1, Serializer::Json, "realm1");
    let (publ, _) = c.join(2, Serializer::Json, "realm1");
    c.subscribe(&a, 1, TOPIC, nkey("n1"));
    c.subscribe(&b, 1, TOPIC, nkey("n2"));
    let rkeys = keys(60);
    let before = node_of_key(
        &spread(&mut c, &publ, &rkeys, &[&a, &b]),
        &["n1", "n2"],
        &rkeys,
    );
    // n3 joins, on the publisher's shard.
    let (n3, _) = c.join(2, Serializer::Json, "realm1");
    let id = c.subscribe(&n3, 1, TOPIC, nkey("n3"));
    let during = node_of_key(
        &spread(&mut c, &publ, &rkeys, &[&a, &b, &n3]),
        &["n1", "n2", "n3"],
        &rkeys,
    );
    let moved: Vec<&String> = rkeys.iter().filter(|k| during[*k] == "n3").collect();
    assert!(!moved.is_empty(), "n3 takes some keys");
    for k in &rkeys {
        if during[k] != "n3" {
            assert_eq!(during[k], before[k], "key {k} stays on its node");
        }
    }
    // n3 leaves: its keys go back where they were.
    c.send(
        &n3,
        Message::Unsubscribe(Unsubscribe {
            request: RequestId(2),
            subscription: id,
        }),
    );
    c.pump();
    assert!(matches!(c.recv(&n3).as_slice(), [Message::Unsubscribed(_)]));
    let after = node_of_key(
        &spread(&mut c, &publ, &rkeys, &[&a, &b]),
        &["n1", "n2"],
        &rkeys,
    );
    assert_eq!(after, before);
}

#[test]
fn subscribed_means_the_node_is_visible_to_every_later_publish() {
    for round in 0..100u64 {
        let mut c = Cluster::new(4);
        c.rng = SmallRng::seed_from_u64(round);
        let (a, _) = c.join((round % 4) as usize, Serializer::Json, "realm1");
        c.subscribe(&a, 1, TOPIC, nkey("n1"));
        let (b, _) = c.join(((round / 4) % 4) as usize, Serializer::Json, "realm1");
        c.send(
            &b,
            Message::Subscribe(Subscribe {
                request: RequestId(1),
                options: nkey("n2"),
                topic: TOPIC.into(),
            }),
        );
        loop {
            if !c.recv(&b).is_empty() {
                break;
            }
            assert!(c.step(), "SUBSCRIBED never came");
        }
        // Every shard's replica now has both nodes: publications from every
        // shard, in flight together, each go to exactly one node.
        let publishers: Vec<Peer> = (0..4)
            .map(|s| c.join(s, Serializer::Json, "realm1").0)
            .collect();
        let mut all = Vec::new();
        for (s, publ) in publishers.iter().enumerate() {
            for i in 0..20 {
                let k = format!("s{s}-{i}");
                c.publish(
                    publ,
                    i + 1,
                    TOPIC,
                    rkey(&k),
                    args(vec![Value::from(k.as_str())]),
                );
                all.push(k);
            }
        }
        c.pump();
        let got: Vec<Vec<String>> = [&a, &b]
            .iter()
            .map(|s| {
                let mut v: Vec<String> = events(&c.recv(s))
                    .iter()
                    .map(|e| {
                        e.payload.args.as_ref().expect("args")[0]
                            .as_str()
                            .expect("key")
                            .to_owned()
                    })
                    .collect();
                v.sort();
                v
            })
            .collect();
        node_of_key(&got, &["n1", "n2"], &all);
        assert!(!got[1].is_empty(), "round {round}: the new node gets keys");
    }
}

#[test]
fn pattern_and_exact_subscriptions_shard_independently() {
    let mut c = Cluster::new(3);
    let (a, _) = c.join(0, Serializer::Json, "realm1");
    let (b, _) = c.join(1, Serializer::Json, "realm1");
    let (w, _) = c.join(2, Serializer::Json, "realm1");
    let (publ, _) = c.join(1, Serializer::Json, "realm1");
    c.subscribe(&a, 1, TOPIC, nkey("n1"));
    c.subscribe(&b, 1, TOPIC, nkey("n2"));
    let pat = Dict::new().with("match", "wildcard").with("nkey", "only");
    c.subscribe(&w, 1, "com.sensor.", pat);
    let rkeys = keys(30);
    let got = spread(&mut c, &publ, &rkeys, &[&a, &b, &w]);
    node_of_key(&got[..2], &["n1", "n2"], &rkeys);
    assert_eq!(
        got[2], rkeys,
        "the only node of the wildcard subscription gets all"
    );
}

#[test]
fn resubscribing_keeps_the_node_key_and_leaving_cleans_every_shard() {
    let mut c = Cluster::new(4);
    let (a, _) = c.join(0, Serializer::Json, "realm1");
    let (a2, _) = c.join(3, Serializer::Json, "realm1");
    let (b, _) = c.join(1, Serializer::Json, "realm1");
    let (publ, _) = c.join(2, Serializer::Json, "realm1");
    let id = c.subscribe(&a, 1, TOPIC, nkey("n1"));
    c.subscribe(&a2, 1, TOPIC, nkey("n1"));
    c.subscribe(&b, 1, TOPIC, nkey("n2"));
    assert_eq!(
        c.subscribe(&a, 2, TOPIC, nkey("n2")),
        id,
        "same subscription"
    );
    let rkeys = keys(40);
    let got = spread(&mut c, &publ, &rkeys, &[&a, &a2, &b]);
    node_of_key(&got, &["n1", "n1", "n2"], &rkeys);
    // A session whose node-key confirmation is still in flight leaves.
    let (late, _) = c.join(2, Serializer::Json, "realm1");
    c.send(
        &late,
        Message::Subscribe(Subscribe {
            request: RequestId(1),
            options: nkey("n9"),
            topic: TOPIC.into(),
        }),
    );
    c.close(&late);
    c.pump();
    let got = spread(&mut c, &publ, &rkeys, &[&a, &a2, &b]);
    node_of_key(&got, &["n1", "n1", "n2"], &rkeys);
    for p in [&a, &a2, &b, &publ] {
        c.close(p);
    }
    c.pump();
    assert_eq!(c.index_entries(), 0, "no entry, replica or node key left");
}

#[test]
fn bad_option_types_are_invalid_arguments() {
    let mut c = Cluster::new(2);
    let (s, _) = c.join(0, Serializer::Json, "realm1");
    let (publ, _) = c.join(1, Serializer::Json, "realm1");
    c.send(
        &s,
        Message::Subscribe(Subscribe {
            request: RequestId(1),
            options: Dict::new().with("nkey", 5u64),
            topic: TOPIC.into(),
        }),
    );
    c.pump();
    let got = c.recv(&s);
    assert_eq!(error_uri(&got[0]), uris::INVALID_ARGUMENT);
    c.subscribe(&s, 2, TOPIC, Dict::new());
    c.publish(
        &publ,
        1,
        TOPIC,
        Dict::new().with("rkey", 5u64).with("acknowledge", true),
        Payload::empty(),
    );
    c.publish(
        &publ,
        2,
        TOPIC,
        Dict::new().with("rkey", 5u64),
        Payload::empty(),
    );
    c.pump();
    let got = c.recv(&publ);
    assert_eq!(got.len(), 1, "only the acknowledged publish is answered");
    assert_eq!(error_uri(&got[0]), uris::INVALID_ARGUMENT);
    assert!(events(&c.recv(&s)).is_empty(), "neither is delivered");
}
