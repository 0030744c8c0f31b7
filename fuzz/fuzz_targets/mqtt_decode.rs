//! Fuzzes the MQTT decoder (`junction::proto::mqtt`). Four leading octets choose
//! the state and limits (version or awaiting CONNECT, sending peer, payload
//! format check, chunk size, maximum packet size, topic limits); the rest is fed
//! in chunks as a socket would deliver it, and decoded packet by packet until an
//! error closes the "connection". It must never panic, and:
//! - `Ok(None)` consumes nothing, and an error while awaiting CONNECT leaves
//!   the buffer as it was;
//! - a decoded packet is within the size and topic limits, re-encodes for its
//!   version, decodes again to the same packet, and encodes to the same bytes;
//! - the fan-out template of a decoded PUBLISH writes a head whose head +
//!   payload decodes to that PUBLISH.
#![no_main]

use bytes::BytesMut;
use junction::proto::mqtt::{
    self, Delivery, Limits, MqttError, Packet, Peer, PublishTemplate, QoS, Version,
};
use libfuzzer_sys::fuzz_target;

fn any_limits() -> Limits {
    Limits {
        max_packet_size: u32::MAX,
        peer: Peer::Any,
        ..Limits::server()
    }
}

fn check_round_trip(p: &Packet, v: Version) {
    let mut first = BytesMut::new();
    if let Err(e) = mqtt::encode(p, v, &mut first) {
        panic!("cannot encode what was decoded: {e}: {p:?}");
    }
    assert_eq!(mqtt::encoded_len(p, v).ok(), Some(first.len()));
    let mut buf = first.clone();
    let again = mqtt::decode(&mut buf, Some(v), &any_limits());
    assert_eq!(again, Ok(Some(p.clone())), "round trip changed the packet");
    assert!(buf.is_empty());
    let mut second = BytesMut::new();
    mqtt::encode(p, v, &mut second).expect("encodes twice");
    assert_eq!(first, second, "encoding is not stable");
}

fn check_template(p: &mqtt::Publish, v: Version) {
    if p.topic.is_empty() {
        return;
    }
    let Ok(t) = PublishTemplate::new(p, p.qos, v) else {
        return;
    };
    let ids = if v == Version::V5 {
        p.properties.subscription_identifiers.clone()
    } else {
        Vec::new()
    };
    let d = Delivery {
        packet_id: p.packet_id,
        topic_alias: if v == Version::V5 {
            p.properties.topic_alias
        } else {
            None
        },
        send_topic: true,
        dup: p.dup,
        retain: p.retain,
        subscription_ids: &ids,
    };
    let mut head = [0u8; 512];
    let Ok(n) = t.write_head(&d, &mut head) else {
        return;
    };
    let mut whole = BytesMut::from(&head[..n]);
    whole.extend_from_slice(t.payload());
    let back = mqtt::decode(&mut whole, Some(v), &any_limits());
    let mut want = p.clone();
    if v == Version::V311 {
        want.properties = Default::default();
    }
    assert_eq!(back, Ok(Some(Packet::Publish(want))), "template head differs");
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let mut version = match data[0] % 3 {
        0 => None,
        1 => Some(Version::V311),
        _ => Some(Version::V5),
    };
    let peer = match (data[0] / 3) % 3 {
        0 => Peer::Client,
        1 => Peer::Server,
        _ => Peer::Any,
    };
    let chunk = match data[1] {
        0 => usize::MAX,
        n => usize::from(n),
    };
    let limits = Limits {
        max_packet_size: 2u32 << (data[2] % 24),
        max_topic_len: 1 + u16::from(data[3]) * 64,
        max_topic_levels: 1 + u16::from(data[3] % 32),
        peer,
        validate_payload_format: data[0] & 0x80 != 0,
    };
    let mut buf = BytesMut::new();
    for piece in data[4..].chunks(chunk.min(data.len())) {
        buf.extend_from_slice(piece);
        loop {
            let before = buf.len();
            match mqtt::decode(&mut buf, version, &limits) {
                Ok(None) => {
                    assert_eq!(buf.len(), before, "incomplete input was consumed");
                    break;
                }
                Ok(Some(p)) => {
                    let used = before - buf.len();
                    assert!(used <= limits.max_packet_size as usize, "over the size limit");
                    let v = match (&p, version) {
                        (Packet::Connect(c), _) => c.version,
                        (_, Some(v)) => v,
                        (_, None) => panic!("a packet other than CONNECT before CONNECT"),
                    };
                    version = Some(version.unwrap_or(v));
                    if let Packet::Publish(publish) = &p {
                        assert!(publish.topic.len() <= usize::from(limits.max_topic_len));
                        assert_eq!(publish.packet_id.is_some(), publish.qos != QoS::AtMostOnce);
                        check_template(publish, v);
                    }
                    check_round_trip(&p, v);
                }
                Err(e) => {
                    if version.is_none() {
                        assert_eq!(buf.len(), before, "a refused CONNECT was consumed");
                    }
                    if let MqttError::PacketTooLarge { size, max } = e {
                        assert!(size > max as usize);
                    }
                    let _ = (e.reason_code(), e.to_string());
                    return;
                }
            }
        }
    }
});
