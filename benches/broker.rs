//! Broker fan-out through the real routing core, in process: one
//! [`ShardRouter`] (1 shard, `Config::embedded_default()`, a no-op mesh), N
//! subscriber connections that each sent HELLO and SUBSCRIBE to the same
//! topic, and one publisher connection.
//!
//! One iteration = the publisher's PUBLISH frame (JSON, 100-byte string
//! argument) handed to [`ShardRouter::frame`] → decode, authorize, one index
//! walk, the EVENT encoded once per serializer, the same `Bytes` pushed onto N
//! outboxes — **plus draining every subscriber's outbox** (moving the frames to
//! a batch and dropping them, as a writer task would after the socket write),
//! so queues never grow. The drain is inside the measured time.
//!
//! Names: `broker/fanout/{json,mix3}/{1,10,1000,10000}`; `json` = every
//! subscriber on JSON, `mix3` = subscribers split evenly over JSON, MessagePack
//! and CBOR (three encodings per publish). Throughput is in EVENTs, so
//! criterion's `elem/s` is events enqueued per second; the time is per publish.

use std::collections::VecDeque;
use std::hint::black_box;
use std::rc::Rc;

use bytes::Bytes;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use junction::config::Config;
use junction::core::ShardRouter;
use junction::core::api::{FrontEnd, LinkId, LinkInfo, Output};
use junction::core::cluster::{Mesh, ShardMsg};
use junction::core::outbox::{Outbox, OutboxRef};
use junction::proto::{
    Dict, Hello, Message, Payload, Publish, RequestId, Serializer, ShardId, Subscribe, Value,
};

const TOPIC: &str = "com.bench.fanout";

/// A one-shard router never sends to another shard.
struct NoMesh;

impl Mesh for NoMesh {
    fn send(&mut self, _to: ShardId, _msg: ShardMsg) {}
}

struct Setup {
    router: ShardRouter,
    publisher: LinkId,
    publish_frame: Bytes,
    outboxes: Vec<OutboxRef>,
}

fn hello(ser: Serializer, role: &'static str) -> Bytes {
    ser.encode(&Message::Hello(Hello {
        realm: Some("realm1".into()),
        details: Dict::new().with("roles", Dict::new().with(role, Dict::new())),
    }))
}

/// A router with `n` subscribers to [`TOPIC`] (serializers from `sers`, round
/// robin) and one JSON publisher; every outbox drained and checked.
fn setup(n: usize, sers: &[Serializer]) -> Setup {
    let config = Config::embedded_default();
    let transport = Rc::new(config.transports[0].clone());
    let mut router = ShardRouter::new(ShardId(0), 1, &config, Box::new(NoMesh));
    let connect = |router: &mut ShardRouter, ser: Serializer| {
        let outbox = Outbox::new_ref(config.limits.outbound_queue_bytes);
        let info = LinkInfo::new(Rc::clone(&transport), FrontEnd::WebSocket, "bench");
        let out = Output::Wire {
            outbox: Rc::clone(&outbox),
            serializer: ser,
        };
        let conn = router.open(info, out).expect("open");
        (conn, outbox)
    };
    let mut outboxes = Vec::with_capacity(n);
    for i in 0..n {
        let ser = sers[i % sers.len()];
        let (conn, outbox) = connect(&mut router, ser);
        router.feed_frame(conn, &hello(ser, "subscriber"));
        let sub = ser.encode(&Message::Subscribe(Subscribe {
            request: RequestId(1),
            options: Dict::new(),
            topic: TOPIC.into(),
        }));
        router.feed_frame(conn, &sub);
        let mut got = VecDeque::new();
        outbox.borrow_mut().drain_into(&mut got);
        let last = got.back().expect("replies queued");
        assert!(
            matches!(ser.decode(last), Ok(Message::Subscribed(_))),
            "subscriber {i} got SUBSCRIBED"
        );
        outboxes.push(outbox);
    }
    let (publisher, pub_outbox) = connect(&mut router, Serializer::Json);
    router.feed_frame(publisher, &hello(Serializer::Json, "publisher"));
    pub_outbox.borrow_mut().drain_into(&mut VecDeque::new());
    let publish_frame = Serializer::Json.encode(&Message::Publish(Publish {
        request: RequestId(2),
        options: Dict::new(),
        topic: TOPIC.into(),
        payload: Payload {
            args: Some(vec![Value::from("x".repeat(100))]),
            kwargs: None,
        },
    }));
    let mut s = Setup {
        router,
        publisher,
        publish_frame,
        outboxes,
    };
    // Sanity check: one publish queues exactly one EVENT per subscriber.
    assert_eq!(publish_and_drain(&mut s, &mut VecDeque::new()), n);
    s
}

/// The measured step: PUBLISH in, then every outbox drained. Returns the
/// number of frames drained.
fn publish_and_drain(s: &mut Setup, batch: &mut VecDeque<Bytes>) -> usize {
    s.router
        .feed_frame(s.publisher, black_box(&s.publish_frame));
    let mut n = 0;
    for o in &s.outboxes {
        o.borrow_mut().drain_into(batch);
        n += batch.len();
        batch.clear();
    }
    n
}

fn fanout(c: &mut Criterion) {
    let all_json = [Serializer::Json];
    let mix3 = Serializer::ALL;
    let cases: [(&str, &[Serializer], usize); 6] = [
        ("json", &all_json, 1),
        ("json", &all_json, 10),
        ("json", &all_json, 1_000),
        ("json", &all_json, 10_000),
        ("mix3", &mix3, 1_000),
        ("mix3", &mix3, 10_000),
    ];
    let mut g = c.benchmark_group("broker/fanout");
    for (label, sers, n) in cases {
        let mut s = setup(n, sers);
        let mut batch = VecDeque::with_capacity(4);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(format!("{label}/{n}"), |b| {
            b.iter(|| publish_and_drain(&mut s, &mut batch))
        });
    }
    g.finish();

    // Setup cost, for reference: HELLO + SUBSCRIBE for 1,000 JSON subscribers.
    let mut g = c.benchmark_group("broker/setup");
    g.sample_size(10);
    g.throughput(Throughput::Elements(1_000));
    g.bench_function("hello_subscribe/json/1000", |b| {
        b.iter_batched(|| (), |()| setup(1_000, &all_json), BatchSize::PerIteration)
    });
    g.finish();
}

criterion_group!(benches, fanout);
criterion_main!(benches);
