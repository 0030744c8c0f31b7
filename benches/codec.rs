//! Codec micro-benchmarks: `Serializer::decode` and `Serializer::encode_into`
//! for each serializer (JSON, MessagePack, CBOR) on three representative
//! messages:
//!
//! - `small_event`: EVENT with one 100-byte string argument (the fan-out unit);
//! - `call_1k`: CALL with a 1 KiB string argument and a `timeout` option;
//! - `nested_publish`: PUBLISH whose kwargs nest four levels deep and mix
//!   integers, floats, booleans, null, strings, lists and 64 bytes of binary.
//!
//! Names: `codec/{decode,encode}/{json,msgpack,cbor}/{message}`. Each benchmark
//! reports throughput in bytes of the encoded frame. Encoding reuses one
//! `BytesMut` (cleared per iteration), as the router's scratch buffer does.

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use junction::proto::{
    Call, Dict, Event, Message, Payload, PublicationId, Publish, RequestId, Serializer,
    SubscriptionId, Value,
};

/// EVENT with a single 100-byte string argument.
fn small_event() -> Message {
    Message::Event(Event {
        subscription: SubscriptionId(5_512_315_355),
        publication: PublicationId(4_429_313_566),
        details: Dict::new(),
        payload: Payload {
            args: Some(vec![Value::from("x".repeat(100))]),
            kwargs: None,
        },
    })
}

/// CALL with a 1 KiB string argument.
fn call_1k() -> Message {
    Message::Call(Call {
        request: RequestId(7_814_135),
        options: Dict::new().with("timeout", 1000_u64),
        procedure: "com.myapp.user.new".into(),
        payload: Payload {
            args: Some(vec![Value::from("y".repeat(1024))]),
            kwargs: None,
        },
    })
}

/// PUBLISH with nested kwargs of mixed types, binary included.
fn nested_publish() -> Message {
    let leaf = Dict::new()
        .with("id", 123_456_789_u64)
        .with("ratio", Value::Float(0.125))
        .with("ok", true)
        .with("none", Value::Null)
        .with("name", "sensor-42");
    let level3 = Dict::new()
        .with("leaf", leaf.clone())
        .with(
            "samples",
            Value::List((0..8).map(|i| Value::Float(f64::from(i) * 1.5)).collect()),
        )
        .with("blob", Value::Bytes(Bytes::from(vec![0xa5_u8; 64])));
    let level2 = Dict::new()
        .with("level3", level3)
        .with(
            "tags",
            vec![Value::from("a"), Value::from("b"), Value::from("c")],
        )
        .with("count", -42_i64);
    let kwargs = Dict::new()
        .with("level2", level2)
        .with(
            "items",
            Value::List(
                (0..4)
                    .map(|i| Value::from(leaf.clone().with("i", i as u64)))
                    .collect(),
            ),
        )
        .with("version", 3_u64);
    Message::Publish(Publish {
        request: RequestId(239_714_735),
        options: Dict::new().with("acknowledge", true),
        topic: "com.myapp.mytopic1".into(),
        payload: Payload {
            args: Some(vec![Value::Int(1), Value::from("two")]),
            kwargs: Some(kwargs),
        },
    })
}

fn messages() -> [(&'static str, Message); 3] {
    [
        ("small_event", small_event()),
        ("call_1k", call_1k()),
        ("nested_publish", nested_publish()),
    ]
}

fn codec(c: &mut Criterion) {
    for ser in Serializer::ALL {
        for (name, msg) in messages() {
            let frame = ser.encode(&msg);
            // The frame must round-trip, or the decode figure would measure an error path.
            assert_eq!(
                ser.decode(&frame).expect("benchmark frame decodes"),
                msg,
                "{} {name} round-trips",
                ser.name()
            );

            let mut g = c.benchmark_group("codec/decode");
            g.throughput(Throughput::Bytes(frame.len() as u64));
            g.bench_function(format!("{}/{name}", ser.name()), |b| {
                b.iter(|| ser.decode(black_box(&frame)).expect("decodes"))
            });
            g.finish();

            let mut g = c.benchmark_group("codec/encode");
            g.throughput(Throughput::Bytes(frame.len() as u64));
            let mut buf = BytesMut::with_capacity(4096);
            g.bench_function(format!("{}/{name}", ser.name()), |b| {
                b.iter(|| {
                    buf.clear();
                    ser.encode_into(black_box(&msg), &mut buf);
                    black_box(buf.len())
                })
            });
            g.finish();
        }
    }
}

criterion_group!(benches, codec);
criterion_main!(benches);
