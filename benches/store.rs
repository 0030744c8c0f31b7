//! Append throughput of the store's write-ahead log (`junction::store::wal`)
//! and of the event store on it, per fsync policy, on the file system that
//! holds the temporary directory (name it with the figures).
//!
//! - `wal_append/<policy>/<size>B`: 10 000 puts of `size`-byte values queued
//!   as fast as the queue takes them (a full queue is retried), then
//!   `Wal::flush` (one sync whatever the policy). Time = first append until
//!   the flush returns: records/s as `elem/s`; MB/s = records/s × (size + 21
//!   bytes: 8 of frame, 9 of op, keep and key length, a 4-byte key). The writer
//!   batches whatever is queued (up to 1 MiB) into one write, so `always`
//!   costs one `fdatasync` per batch, not per record.
//! - `wal_append/always_one_by_one/100B`: 200 records, each appended with an
//!   ack and waited for before the next: the rate of a producer that needs
//!   each record durable before going on (an MQTT QoS 1 PUBACK): one
//!   `fdatasync` per record.
//! - `event_store/keep_retained/<policy>`: 10 000 `FileJournal::keep_retained`
//!   calls (what a shard does for a retained PUBLISH: an `Arc` clone and a
//!   channel send) then `EventStore::flush`; the writer thread encodes each
//!   (MessagePack EVENT inside an rkyv record) and writes it.
//! - `event_store/handoff`: the shard's side alone: one `keep_retained`
//!   call (only the calls are timed, in chunks of 16 384 with the writer
//!   catching up untimed in between; it drains in the background meanwhile).
//! - `event_store/open/10000`: startup: opening a store that holds 10 000
//!   retained events (10 000 topics) and decoding them for the shards.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use junction::config::{Config, FsyncPolicy, RealmConfig, StoreConfig};
use junction::core::cluster::RoutedPublish;
use junction::core::journal::EventJournal;
use junction::proto::{Dict, Payload, PublicationId, SessionId, Value};
use junction::store::evlog::EventStore;
use junction::store::wal::{Op, Options, Wal, WalError};

const N: usize = 10_000;

fn policies() -> [(&'static str, FsyncPolicy); 3] {
    [
        ("always", FsyncPolicy::Always),
        (
            "interval",
            FsyncPolicy::Interval(Duration::from_millis(1000)),
        ),
        ("never", FsyncPolicy::Never),
    ]
}

fn append_all(wal: &Wal<Vec<u8>>, values: &[Vec<u8>]) {
    let tx = wal.sender();
    for (i, v) in values.iter().enumerate() {
        let mut op = Op::Put {
            key: (i as u32).to_be_bytes().to_vec(),
            value: v.clone(),
        };
        loop {
            match tx.append(op) {
                Ok(()) => break,
                Err(WalError::QueueFull) => {
                    std::thread::yield_now();
                    op = Op::Put {
                        key: (i as u32).to_be_bytes().to_vec(),
                        value: v.clone(),
                    };
                }
                Err(e) => panic!("append: {e}"),
            }
        }
    }
    wal.flush().expect("flush");
}

fn wal_append(c: &mut Criterion) {
    let mut g = c.benchmark_group("wal_append");
    g.sample_size(10).measurement_time(Duration::from_secs(4));
    for (name, policy) in policies() {
        for size in [100usize, 1000] {
            let dir = tempfile::tempdir().expect("tempdir");
            let opts = Options::new("bench", policy, 1 << 30);
            let (wal, _) = Wal::<Vec<u8>>::open(dir.path(), opts, |_, _| {}).expect("open");
            let values: Vec<Vec<u8>> = (0..N).map(|i| vec![i as u8; size]).collect();
            g.throughput(Throughput::Elements(N as u64));
            g.bench_function(BenchmarkId::new(name, format!("{size}B")), |b| {
                b.iter(|| append_all(&wal, &values));
            });
            wal.close();
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (wal, _) = Wal::<Vec<u8>>::open(
        dir.path(),
        Options::new("bench", FsyncPolicy::Always, 1 << 30),
        |_, _| {},
    )
    .expect("open");
    let tx = wal.sender();
    g.throughput(Throughput::Elements(200));
    g.bench_function("always_one_by_one/100B", |b| {
        b.iter(|| {
            for i in 0..200u32 {
                let (done, wait) = crossbeam_channel::bounded(1);
                tx.append_acked(
                    Op::Put {
                        key: i.to_be_bytes().to_vec(),
                        value: vec![1u8; 100],
                    },
                    Box::new(move |r| {
                        let _ = done.send(r);
                    }),
                )
                .expect("queued");
                wait.recv().expect("ack").expect("durable");
            }
        });
    });
    g.finish();
    wal.close();
}

fn publish(topic: &str, id: u64) -> Arc<RoutedPublish> {
    Arc::new(RoutedPublish {
        realm: 0,
        topic: topic.into(),
        publication: PublicationId(id),
        publisher: SessionId(7),
        exclude_me: true,
        details: Dict::new(),
        payload: Payload {
            args: Some(vec![
                Value::from(id),
                "a reading".into(),
                Value::Float(21.5),
            ]),
            kwargs: None,
        },
        filter: None,
        retain: true,
        rkey: None,
        native: None,
    })
}

fn store_config(dir: &std::path::Path, fsync: FsyncPolicy) -> Config {
    let mut c = Config::embedded_default();
    c.realms = vec![RealmConfig {
        name: "bench".into(),
        uri_check: Default::default(),
        roles: Vec::new(),
        store: StoreConfig {
            path: Some(dir.to_owned()),
            fsync,
            ..StoreConfig::default()
        },
        prefer_local_callee: false,
        call_queue: Vec::new(),
    }];
    c
}

fn event_store(c: &mut Criterion) {
    let mut g = c.benchmark_group("event_store");
    g.sample_size(10).measurement_time(Duration::from_secs(4));
    let pubs: Vec<Arc<RoutedPublish>> = (0..N)
        .map(|i| publish(&format!("com.example.sensor.{}", i % 1000), i as u64 + 1))
        .collect();
    for (name, policy) in policies() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = EventStore::open(&store_config(dir.path(), policy));
        let mut j = store.journals(1).pop().expect("one");
        g.throughput(Throughput::Elements(N as u64));
        g.bench_function(BenchmarkId::new("keep_retained", name), |b| {
            b.iter(|| {
                for p in &pubs {
                    j.keep_retained(0, p, 1);
                }
                store.flush().expect("flush");
            });
        });
        let dropped = store.stats(0).expect("a log").dropped;
        assert_eq!(dropped, 0, "the queue (65 536) absorbs 10 000");
        store.close();
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = EventStore::open(&store_config(dir.path(), FsyncPolicy::Never));
    let mut j = store.journals(1).pop().expect("one");
    let p = publish("com.example.sensor.1", 1);
    g.throughput(Throughput::Elements(1));
    g.bench_function("handoff", |b| {
        b.iter_custom(|iters| {
            // Only the calls are timed; between chunks the writer catches up
            // (untimed), so the queue never fills (a full queue is a cheaper path).
            let mut spent = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let chunk = left.min(16_384);
                let start = Instant::now();
                for _ in 0..chunk {
                    j.keep_retained(0, black_box(&p), 1);
                }
                spent += start.elapsed();
                left -= chunk;
                store.flush().expect("flush");
            }
            spent
        });
    });
    assert_eq!(store.stats(0).expect("a log").dropped, 0);
    store.close();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = store_config(dir.path(), FsyncPolicy::Never);
    let mut store = EventStore::open(&config);
    let mut j = store.journals(1).pop().expect("one");
    for (i, p) in (0..N).map(|i| (i, publish(&format!("com.example.t{i}"), i as u64 + 1))) {
        j.keep_retained(0, &p, i as u64);
    }
    store.close();
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function(BenchmarkId::new("open", N), |b| {
        b.iter(|| {
            let mut store = EventStore::open(&config);
            let n = store.journals(1).pop().expect("one").stored(0).len();
            assert_eq!(n, N);
            store.close();
        });
    });
    g.finish();
}

criterion_group!(benches, wal_append, event_store);
criterion_main!(benches);
