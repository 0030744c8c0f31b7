//! The event store through its journal: what shards hand over comes back
//! after a restart, unchanged.

use super::*;
use crate::config::{HistoryConfig, RealmConfig, StoreConfig};
use crate::core::cluster::PublishFilter;
use crate::proto::{Dict, Payload, PublicationId, SessionId, Value};

fn config(
    dir: &std::path::Path,
    histories: &[(&str, MatchPolicy, usize)],
    max_size: u64,
) -> Config {
    let mut c = Config::embedded_default();
    c.realms = vec![
        RealmConfig {
            name: "mem".into(),
            uri_check: Default::default(),
            roles: Vec::new(),
            store: StoreConfig::default(),
            prefer_local_callee: false,
            call_queue: Vec::new(),
        },
        RealmConfig {
            name: "realm1".into(),
            uri_check: Default::default(),
            roles: Vec::new(),
            store: StoreConfig {
                path: Some(dir.to_owned()),
                max_size,
                event_history: histories
                    .iter()
                    .map(|(uri, p, limit)| HistoryConfig {
                        uri: (*uri).into(),
                        match_policy: *p,
                        limit: *limit,
                    })
                    .collect(),
                ..StoreConfig::default()
            },
            prefer_local_callee: false,
            call_queue: Vec::new(),
        },
    ];
    c
}

fn publ(topic: &str, id: u64, retain: bool) -> Arc<RoutedPublish> {
    Arc::new(RoutedPublish {
        realm: 1,
        topic: topic.into(),
        publication: PublicationId(id),
        publisher: SessionId(77),
        exclude_me: true,
        details: Dict::new().with("trustlevel", 2u64),
        payload: Payload {
            args: Some(vec![Value::from(id), Value::Float(1.5)]),
            kwargs: Some(
                Dict::new().with("b", Value::Bytes(bytes::Bytes::from_static(b"\x00\xff"))),
            ),
        },
        filter: Some(Box::new(PublishFilter {
            eligible_authrole: Some(vec!["admin".into()]),
            ..PublishFilter::default()
        })),
        retain,
        rkey: None,
        native: None,
    })
}

fn history_ids(stored: &[StoredEvent]) -> Vec<u64> {
    stored
        .iter()
        .filter_map(|r| match r {
            StoredEvent::History { publish, .. } => Some(publish.publication.0),
            StoredEvent::Retained { .. } => None,
        })
        .collect()
}

fn retained(stored: &[StoredEvent]) -> Vec<&Arc<RoutedPublish>> {
    stored
        .iter()
        .filter_map(|r| match r {
            StoredEvent::Retained { publish, .. } => Some(publish),
            StoredEvent::History { .. } => None,
        })
        .collect()
}

const H: &str = "com.h.";

fn journal(store: &mut EventStore) -> FileJournal {
    store.journals(1).pop().expect("one")
}

#[test]
fn what_a_journal_keeps_comes_back_after_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = config(dir.path(), &[(H, MatchPolicy::Prefix, 3)], 1 << 30);
    {
        let mut store = EventStore::open(&c);
        let mut j = journal(&mut store);
        assert!(j.stored(1).is_empty());
        for i in 1..=5 {
            j.keep_history(
                1,
                H,
                MatchPolicy::Prefix,
                &publ("com.h.x", i, false),
                100 + i,
            );
        }
        // Not a configured history: ignored.
        j.keep_history(
            1,
            "com.other",
            MatchPolicy::Exact,
            &publ("com.other", 9, false),
            1,
        );
        j.keep_retained(1, &publ("com.r", 10, true), 10);
        j.keep_retained(1, &publ("com.r", 11, true), 11);
        // A realm without a file store: ignored.
        j.keep_retained(0, &publ("com.r", 12, true), 12);
        store.flush().expect("flush");
        assert_eq!(store.stats(1).expect("a log").records_written, 7);
        assert!(store.stats(0).is_none());
        store.close();
    }
    let mut store = EventStore::open(&c);
    let mut j = journal(&mut store);
    assert!(j.stored(0).is_empty());
    let stored = j.stored(1);
    assert!(j.stored(1).is_empty(), "handed back once");
    assert_eq!(
        history_ids(&stored),
        vec![3, 4, 5],
        "the last `limit`, oldest first"
    );
    let times: Vec<u64> = stored
        .iter()
        .filter_map(|r| match r {
            StoredEvent::History {
                time_ns,
                uri,
                policy,
                ..
            } => {
                assert_eq!((uri.as_str(), *policy), (H, MatchPolicy::Prefix));
                Some(*time_ns)
            }
            StoredEvent::Retained { .. } => None,
        })
        .collect();
    assert_eq!(times, vec![103, 104, 105]);
    let r = retained(&stored);
    assert_eq!(r.len(), 1);
    let want = publ("com.r", 11, true);
    assert_eq!(
        r[0].publication,
        PublicationId(11),
        "the latest retained event wins"
    );
    assert_eq!(r[0].payload, want.payload, "payload survives byte for byte");
    assert_eq!(r[0].details, want.details);
    assert_eq!(r[0].filter, want.filter);
    assert_eq!(
        (r[0].realm, r[0].retain, r[0].publisher),
        (1, true, SessionId(77))
    );
    store.close();
}

/// A cleared retained event stays cleared after a restart; other topics
/// keep theirs.
#[test]
fn a_cleared_retained_event_is_gone_after_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = config(dir.path(), &[], 1 << 30);
    let mut store = EventStore::open(&c);
    let mut j = journal(&mut store);
    j.keep_retained(1, &publ("com.a", 1, true), 1);
    j.keep_retained(1, &publ("com.b", 2, true), 2);
    j.clear_retained(1, "com.a");
    // Clearing a topic without a retained event, or in a memory realm: harmless.
    j.clear_retained(1, "com.none");
    j.clear_retained(0, "com.b");
    store.close();
    let mut store = EventStore::open(&c);
    let stored = journal(&mut store).stored(1);
    let topics: Vec<&str> = retained(&stored).iter().map(|p| p.topic.as_str()).collect();
    assert_eq!(topics, vec!["com.b"]);
    store.close();
}

/// MQTT session records share the realm's log: they come back through
/// `mqtt_sessions`, never as events, and each shard gets a handle.
#[test]
fn mqtt_sessions_share_the_realms_log() {
    use crate::proto::mqtt::{QoS, Version};
    use crate::store::mqtt::{Record, SessionMeta, StoredFilter};
    let dir = tempfile::tempdir().expect("tempdir");
    let c = config(dir.path(), &[], 1 << 30);
    let mut store = EventStore::open(&c);
    let logs = store.mqtt_logs(2);
    assert_eq!(logs.len(), 2);
    assert!(logs[0].durable("realm1") && !logs[0].durable("mem"));
    let meta = SessionMeta {
        version: Version::V5,
        expiry_s: 300,
        last_pid: 4,
        offline_since_ms: 0,
        listener: "mqtt".into(),
        filters: vec![StoredFilter {
            filter: "a/#".into(),
            qos: QoS::AtLeastOnce,
            no_local: false,
            retain_as_published: false,
            sub_id: None,
        }],
    };
    logs[1]
        .write("realm1", "dev-1", 7, Record::Meta(meta.clone()))
        .expect("queued");
    logs[0]
        .write("mem", "dev-1", 7, Record::Meta(meta.clone()))
        .expect("a memory realm ignores it");
    journal(&mut store).keep_retained(1, &publ("com.r", 2, true), 2);
    let (tx, rx) = std::sync::mpsc::channel();
    logs[0]
        .mark(
            "realm1",
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        )
        .expect("queued");
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(Ok(())));
    store.close();
    let mut store = EventStore::open(&c);
    let sessions = store.mqtt_sessions();
    assert_eq!(sessions.len(), 1);
    assert_eq!(
        (
            sessions[0].client.as_str(),
            sessions[0].inc,
            &sessions[0].meta
        ),
        ("dev-1", 7, &meta)
    );
    assert!(store.mqtt_sessions().is_empty(), "handed out once");
    assert_eq!(retained(&journal(&mut store).stored(1)).len(), 1);
    store.close();
}

#[test]
fn a_history_no_longer_configured_is_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let with = config(dir.path(), &[(H, MatchPolicy::Prefix, 5)], 1 << 30);
    let mut store = EventStore::open(&with);
    let mut j = journal(&mut store);
    j.keep_history(1, H, MatchPolicy::Prefix, &publ("com.h.x", 1, false), 1);
    j.keep_retained(1, &publ("com.r", 2, true), 2);
    store.close();
    let without = config(dir.path(), &[], 1 << 30);
    let mut store = EventStore::open(&without);
    let stored = journal(&mut store).stored(1);
    assert_eq!(history_ids(&stored), Vec::<u64>::new());
    assert_eq!(retained(&stored).len(), 1);
    store.close();
    // Its events were deleted, not just skipped.
    let mut store = EventStore::open(&with);
    assert_eq!(
        history_ids(&journal(&mut store).stored(1)),
        Vec::<u64>::new()
    );
    store.close();
}

#[test]
fn shards_hand_over_concurrently_without_a_lock() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = config(dir.path(), &[], 1 << 30);
    let mut store = EventStore::open(&c);
    let mut js = store.journals(4).into_iter();
    let threads: Vec<_> = (0..4)
        .map(|s| {
            let mut j = js.next().expect("a journal");
            std::thread::spawn(move || {
                for i in 0..200u64 {
                    let id = s * 1000 + i + 1; // publication IDs start at 1
                    j.keep_retained(1, &publ(&format!("t.{id}"), id, true), id);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    store.close();
    let mut store = EventStore::open(&c);
    let mut ids: Vec<u64> = retained(&journal(&mut store).stored(1))
        .iter()
        .map(|p| p.publication.0)
        .collect();
    ids.sort_unstable();
    let mut want: Vec<u64> = (0..4)
        .flat_map(|s| (0..200).map(move |i| s * 1000 + i + 1))
        .collect();
    want.sort_unstable();
    assert_eq!(ids, want);
    store.close();
}

#[test]
fn the_log_stays_bounded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let max = 128 << 10;
    let c = config(dir.path(), &[(H, MatchPolicy::Prefix, 5)], max);
    let mut store = EventStore::open(&c);
    let mut j = journal(&mut store);
    for i in 1..=3000 {
        j.keep_history(1, H, MatchPolicy::Prefix, &publ("com.h.x", i, false), i);
        j.keep_retained(1, &publ("com.r", i, true), i);
    }
    store.flush().expect("flush");
    let on_disk: u64 = std::fs::read_dir(log_dir(dir.path(), "realm1"))
        .expect("list")
        .map(|e| e.expect("entry").metadata().expect("stat").len())
        .sum();
    assert!(on_disk <= max + max / 4, "log grew to {on_disk}");
    assert!(store.stats(1).expect("log").compactions > 0);
    store.close();
    let mut store = EventStore::open(&c);
    assert_eq!(
        history_ids(&journal(&mut store).stored(1)),
        vec![2996, 2997, 2998, 2999, 3000]
    );
    store.close();
}

#[test]
fn a_log_that_cannot_open_leaves_the_realm_in_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = config(dir.path(), &[], 1 << 30);
    let first = EventStore::open(&c);
    // The same log open twice (another process would be refused the same way).
    let mut second = EventStore::open(&c);
    assert!(second.stats(1).is_none());
    let mut j = journal(&mut second);
    j.keep_retained(1, &publ("x", 1, true), 1);
    assert!(j.stored(1).is_empty());
    second.close();
    first.close();
    // A path that is a file.
    let file = dir.path().join("plain");
    std::fs::write(&file, b"x").expect("write");
    let store = EventStore::open(&config(&file, &[], 1 << 30));
    assert!(store.stats(1).is_none());
    store.close();
}

#[test]
fn a_journal_can_move_to_its_shard() {
    fn send<T: Send>(_: &T) {}
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = EventStore::open(&config(dir.path(), &[], 1 << 30));
    send(&journal(&mut store));
    store.close();
}
