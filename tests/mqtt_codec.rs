//! Properties of the MQTT codec (`junction::proto::mqtt`), both versions:
//! `decode(encode(p)) == p`; the same packets out of every split of a buffer
//! (chunked feeding); random bytes never panic and what decodes re-encodes; the
//! fan-out template's head + payload equals the full encoding.

mod mqtt_common;

use bytes::BytesMut;
use junction::proto::mqtt::*;
use mqtt_common::*;
use proptest::collection::vec;
use proptest::prelude::*;

fn enc(p: &Packet, v: Version) -> BytesMut {
    let mut out = BytesMut::new();
    encode(p, v, &mut out).expect("valid packets encode");
    out
}

/// Decodes every whole packet in `buf`.
fn drain(buf: &mut BytesMut, v: Version, limits: &Limits) -> Vec<Packet> {
    let mut out = Vec::new();
    while let Some(p) = decode(buf, Some(v), limits).expect("valid packets decode") {
        out.push(p);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn round_trip((v, p) in version().prop_flat_map(|v| (Just(v), packet(v)))) {
        let bytes = enc(&p, v);
        prop_assert_eq!(encoded_len(&p, v).unwrap(), bytes.len());
        let mut buf = bytes.clone();
        let back = decode(&mut buf, Some(v), &any_limits());
        prop_assert_eq!(back, Ok(Some(p.clone())));
        prop_assert!(buf.is_empty());
        // A CONNECT is also decoded before the version is known.
        if let Packet::Connect(_) = p {
            let mut buf = bytes.clone();
            prop_assert_eq!(decode(&mut buf, None, &Limits::server()), Ok(Some(p.clone())));
        }
        // The encoding is stable.
        prop_assert_eq!(enc(&p, v), bytes);
    }

    #[test]
    fn size_limit_from_the_header(
        (v, p) in version().prop_flat_map(|v| (Just(v), packet(v))),
    ) {
        let bytes = enc(&p, v);
        let n = bytes.len();
        let exact = Limits { max_packet_size: n as u32, ..any_limits() };
        prop_assert!(decode(&mut bytes.clone(), Some(v), &exact).is_ok());
        let less = Limits { max_packet_size: n as u32 - 1, ..any_limits() };
        // Refused with only the fixed header buffered.
        let header = bytes.len() - peek_header(&bytes, u32::MAX).unwrap().unwrap().remaining_len;
        let mut head = BytesMut::from(&bytes[..header]);
        let e = decode(&mut head, Some(v), &less).unwrap_err();
        prop_assert_eq!(e, MqttError::PacketTooLarge { size: n, max: n as u32 - 1 });
    }

    #[test]
    fn every_split_point_gives_the_same_packets(
        (v, ps) in version().prop_flat_map(|v| (Just(v), vec(packet(v), 1..4))),
    ) {
        let mut all = BytesMut::new();
        for p in &ps {
            all.extend_from_slice(&enc(p, v));
        }
        let limits = any_limits();
        for split in 0..=all.len() {
            let mut buf = BytesMut::from(&all[..split]);
            let mut got = drain(&mut buf, v, &limits);
            buf.extend_from_slice(&all[split..]);
            got.extend(drain(&mut buf, v, &limits));
            prop_assert!(buf.is_empty());
            prop_assert_eq!(&got, &ps, "split at {}", split);
        }
    }

    #[test]
    fn byte_by_byte_and_random_chunks(
        (v, ps) in version().prop_flat_map(|v| (Just(v), vec(packet(v), 1..6))),
        sizes in vec(1usize..40, 1..50),
    ) {
        let mut all = BytesMut::new();
        for p in &ps {
            all.extend_from_slice(&enc(p, v));
        }
        let limits = any_limits();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        let mut at = 0;
        for size in sizes.iter().cycle() {
            if at >= all.len() {
                break;
            }
            let end = (at + size).min(all.len());
            buf.extend_from_slice(&all[at..end]);
            at = end;
            got.extend(drain(&mut buf, v, &limits));
        }
        prop_assert_eq!(got, ps);
    }

    /// Random bytes (and mutated valid packets) never panic; whatever decodes
    /// re-encodes to bytes that decode to the same packet.
    #[test]
    fn garbage_never_panics(
        v in version(),
        p in version().prop_flat_map(packet),
        flips in vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        noise in vec(any::<u8>(), 0..64),
        max in 2u32..400,
        peer in prop_oneof![Just(Peer::Client), Just(Peer::Server), Just(Peer::Any)],
        connected in any::<bool>(),
    ) {
        let mut bytes = BytesMut::new();
        let _ = encode(&p, v, &mut bytes);
        for (i, b) in &flips {
            if !bytes.is_empty() {
                let i = i.index(bytes.len());
                bytes[i] ^= b;
            }
        }
        bytes.extend_from_slice(&noise);
        let limits = Limits { max_packet_size: max, peer, ..Limits::server() };
        let version = connected.then_some(v);
        let mut buf = bytes.clone();
        while let Ok(Some(got)) = decode(&mut buf, version, &limits) {
            let dv = match &got {
                Packet::Connect(c) => c.version,
                _ => v,
            };
            let again = enc(&got, dv);
            let mut again_buf = again.clone();
            let back = decode(&mut again_buf, Some(dv), &any_limits());
            prop_assert_eq!(back, Ok(Some(got)));
            if version.is_none() {
                break;
            }
        }
    }

    #[test]
    fn template_head_plus_payload_is_the_packet(
        v in version(),
        src in publish(Version::V5),
        qos in qos(),
        id in pid(),
        alias in proptest::option::of(1u16..),
        hide_topic in any::<bool>(),
        dup in any::<bool>(),
        retain in any::<bool>(),
        sub_ids in vec(1u32..=properties::MAX_VARINT, 0..3),
    ) {
        let v5 = v == Version::V5;
        let mut src = src;
        if src.topic.is_empty() {
            src.topic = MqttString::try_from("t").unwrap();
        }
        let t = PublishTemplate::new(&src, qos, v).unwrap();
        let q0 = qos == QoS::AtMostOnce;
        let alias = alias.filter(|_| v5);
        let sub_ids = if v5 { sub_ids } else { Vec::new() };
        let d = Delivery {
            packet_id: (!q0).then_some(id),
            topic_alias: alias,
            send_topic: !(hide_topic && alias.is_some()),
            dup: dup && !q0,
            retain,
            subscription_ids: &sub_ids,
        };
        let mut head = vec![0u8; t.head_len(&d).unwrap()];
        let n = t.write_head(&d, &mut head).unwrap();
        prop_assert_eq!(n, head.len());
        let shared = if v5 {
            let mut c = BytesMut::new();
            let only_shared = Publish {
                properties: PublishProperties {
                    topic_alias: None,
                    subscription_identifiers: Vec::new(),
                    ..src.properties.clone()
                },
                ..src.clone()
            };
            let bare = Publish {
                qos: QoS::AtMostOnce,
                packet_id: None,
                dup: false,
                payload: bytes::Bytes::new(),
                ..only_shared
            };
            encode(&Packet::Publish(bare), v, &mut c).unwrap();
            // First byte, remaining length, topic length and topic, property
            // length: at least 4 + topic bytes besides the shared properties.
            c.len() - 4 - src.topic.len()
        } else {
            0
        };
        let bound = HEAD_OVERHEAD + src.topic.len() + shared + sub_ids.len() * HEAD_PER_SUBSCRIPTION_ID;
        prop_assert!(n <= bound, "head {} over {}", n, bound);
        let expected = Publish {
            dup: d.dup,
            qos,
            retain,
            topic: if d.send_topic { src.topic.clone() } else { MqttString::default() },
            packet_id: d.packet_id,
            properties: if v5 {
                PublishProperties {
                    topic_alias: alias,
                    subscription_identifiers: sub_ids.clone(),
                    ..src.properties.clone()
                }
            } else {
                PublishProperties::default()
            },
            payload: src.payload.clone(),
        };
        let mut whole = head.clone();
        whole.extend_from_slice(t.payload());
        let full = enc(&Packet::Publish(expected), v);
        prop_assert_eq!(&whole[..], &full[..]);
    }
}
