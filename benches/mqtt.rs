//! MQTT codec micro-benchmarks (`src/proto/mqtt/`), the per-packet work of an
//! MQTT connection:
//!
//! - `mqtt/decode/publish_qos1_100b/{v311,v5}`: one 100-byte QoS 1 PUBLISH
//!   (topic `sensors/device-0042/temperature`) taken off a read buffer, topic
//!   and payload split off without a copy; the 5.0 one carries a Message Expiry
//!   Interval and a Content Type;
//! - `mqtt/decode/puback/{v311,v5}`: one PUBACK;
//! - `mqtt/encode/publish_qos1_100b/{v311,v5}`: encoding that PUBLISH into a
//!   reused buffer;
//! - `mqtt/template/write_head/{v311,v5}`: the per-subscriber head of a fan-out
//!   (fixed header, topic or alias, packet id, properties) on the stack, the
//!   shared payload not touched; `.../new` builds the template once.
//!
//! Decoding consumes its input, so each iteration first refills a reused buffer;
//! `mqtt/copy/publish_qos1_100b` measures that refill alone, to subtract.

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, criterion_group, criterion_main};
use junction::proto::mqtt::{
    Delivery, Limits, MqttString, Packet, PacketId, PubResponse, Publish, PublishProperties,
    PublishTemplate, QoS, Version, decode, encode,
};

fn publish(v: Version) -> Publish {
    let properties = if v == Version::V5 {
        PublishProperties {
            message_expiry_interval: Some(3600),
            content_type: Some(MqttString::try_from("text/plain").expect("valid")),
            ..PublishProperties::default()
        }
    } else {
        PublishProperties::default()
    };
    let topic = MqttString::try_from("sensors/device-0042/temperature").expect("valid");
    // A 100-byte packet: fixed header 2, topic 2 + 31, packet id 2, properties.
    let props_len = if v == Version::V5 { 1 + 5 + 13 } else { 0 };
    let payload_len = 100 - 2 - 33 - 2 - props_len;
    Publish {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: false,
        topic,
        packet_id: PacketId::new(7),
        properties,
        payload: Bytes::from(vec![b'x'; payload_len]),
    }
}

fn bench(c: &mut Criterion) {
    let limits = Limits::server();
    for v in [Version::V311, Version::V5] {
        let name = if v == Version::V5 { "v5" } else { "v311" };
        let p = Packet::Publish(publish(v));
        let mut bytes = BytesMut::new();
        encode(&p, v, &mut bytes).expect("encodes");
        assert_eq!(bytes.len(), 100, "{name}");
        let mut buf = BytesMut::with_capacity(64 * 1024);

        if v == Version::V311 {
            c.bench_function("mqtt/copy/publish_qos1_100b", |b| {
                b.iter(|| {
                    buf.clear();
                    buf.extend_from_slice(black_box(&bytes));
                    black_box(buf.len())
                })
            });
        }
        c.bench_function(&format!("mqtt/decode/publish_qos1_100b/{name}"), |b| {
            b.iter(|| {
                buf.clear();
                buf.extend_from_slice(black_box(&bytes));
                let p = decode(&mut buf, Some(v), &limits).expect("valid");
                black_box(p)
            })
        });

        let ack = Packet::PubAck(PubResponse::new(PacketId::new(7).expect("non-zero")));
        let mut ack_bytes = BytesMut::new();
        encode(&ack, v, &mut ack_bytes).expect("encodes");
        c.bench_function(&format!("mqtt/decode/puback/{name}"), |b| {
            b.iter(|| {
                buf.clear();
                buf.extend_from_slice(black_box(&ack_bytes));
                black_box(decode(&mut buf, Some(v), &limits).expect("valid"))
            })
        });

        let mut out = BytesMut::with_capacity(64 * 1024);
        c.bench_function(&format!("mqtt/encode/publish_qos1_100b/{name}"), |b| {
            b.iter(|| {
                out.clear();
                encode(black_box(&p), v, &mut out).expect("encodes");
                black_box(out.len())
            })
        });

        let Packet::Publish(src) = &p else {
            unreachable!("built as a PUBLISH")
        };
        c.bench_function(&format!("mqtt/template/new/{name}"), |b| {
            b.iter(|| black_box(PublishTemplate::new(black_box(src), QoS::AtLeastOnce, v)))
        });
        let t = PublishTemplate::new(src, QoS::AtLeastOnce, v).expect("template");
        let ids = [12u32];
        let mut id = 0u16;
        c.bench_function(&format!("mqtt/template/write_head/{name}"), |b| {
            b.iter(|| {
                id = id.wrapping_add(1).max(1);
                let d = Delivery {
                    packet_id: PacketId::new(id),
                    topic_alias: (v == Version::V5).then_some(3),
                    send_topic: true,
                    dup: false,
                    retain: false,
                    subscription_ids: if v == Version::V5 { &ids } else { &[] },
                };
                let mut head = [0u8; 256];
                let n = t.write_head(black_box(&d), &mut head).expect("fits");
                black_box((head, n, t.payload().len()))
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
