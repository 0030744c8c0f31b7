//! Unit tests of the codec, packet by packet: decoding hand-written bytes (valid
//! and each broken rule, with the reason code it must carry), encoding, and the
//! publish template. Round-trip proptests, golden vectors, the differential test
//! and chunked feeding are in `tests/mqtt_*.rs`.

use bytes::{Bytes, BytesMut};

use super::topic::TopicError;
use super::*;

const V4: Option<Version> = Some(Version::V311);
const V5: Option<Version> = Some(Version::V5);

fn limits(peer: Peer) -> Limits {
    Limits {
        peer,
        ..Limits::server()
    }
}

fn dec(bytes: &[u8], v: Option<Version>, peer: Peer) -> Result<Option<Packet>, MqttError> {
    let mut b = BytesMut::from(bytes);
    let r = decode(&mut b, v, &limits(peer));
    if let Ok(Some(_)) = &r {
        assert!(b.is_empty(), "bytes left over: {b:?}");
    }
    r
}

fn ok(bytes: &[u8], v: Option<Version>) -> Packet {
    match dec(bytes, v, Peer::Any) {
        Ok(Some(p)) => p,
        other => panic!("{bytes:02x?}: {other:?}"),
    }
}

fn err(bytes: &[u8], v: Option<Version>, peer: Peer) -> MqttError {
    match dec(bytes, v, peer) {
        Err(e) => e,
        other => panic!("{bytes:02x?} should fail: {other:?}"),
    }
}

fn code(bytes: &[u8], v: Option<Version>) -> u8 {
    err(bytes, v, Peer::Any).reason_code().value()
}

fn enc(p: &Packet, v: Version) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode(p, v, &mut out).unwrap();
    assert_eq!(encoded_len(p, v).unwrap(), out.len());
    out.to_vec()
}

fn s(v: &str) -> MqttString {
    MqttString::try_from(v).unwrap()
}

fn pid(v: u16) -> PacketId {
    PacketId::new(v).unwrap()
}

const CONNECT_V4: &[u8] = &[
    0x10, 0x0D, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60, 0, 1, b'a',
];

#[test]
fn fixed_header() {
    // Every proper prefix is incomplete, not an error.
    for n in 0..CONNECT_V4.len() {
        assert_eq!(dec(&CONNECT_V4[..n], None, Peer::Client), Ok(None), "{n}");
    }
    assert_eq!(
        peek_header(&[0x30, 0x80, 0x01], 1000),
        Ok(Some(FixedHeader {
            packet_type: PacketType::Publish,
            flags: 0,
            remaining_len: 128,
            header_len: 3,
            minimal: true,
        }))
    );
    assert_eq!(peek_header(&[0x30, 0x80], 1000), Ok(None));
    assert_eq!(
        peek_header(&[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01], u32::MAX),
        Err(MqttError::MalformedVarInt {
            field: "remaining length"
        })
    );
    assert_eq!(
        peek_header(&[0x00, 0x00], 1000),
        Err(MqttError::ReservedPacketType(0))
    );
    // The largest remaining length, four bytes.
    let h = peek_header(&[0x30, 0xFF, 0xFF, 0xFF, 0x7F], u32::MAX)
        .unwrap()
        .unwrap();
    assert_eq!(h.remaining_len, 268_435_455);
    assert_eq!(h.total_len(), 268_435_460);
}

#[test]
fn packet_too_large_from_the_header_alone() {
    let l = Limits {
        max_packet_size: 100,
        ..limits(Peer::Client)
    };
    // A PUBLISH announcing 1 MiB: refused with two of its bytes buffered.
    let mut b = BytesMut::from(&[0x30u8, 0x80, 0x80, 0x40][..]);
    assert_eq!(
        decode(&mut b, V4, &l),
        Err(MqttError::PacketTooLarge {
            size: 1_048_580,
            max: 100
        })
    );
    assert_eq!(
        MqttError::PacketTooLarge { size: 0, max: 0 }.reason_code(),
        ReasonCode::PacketTooLarge
    );
    // Exactly at the limit is accepted, one more byte is not.
    let mut p = vec![0x30, 98, 0, 1, b't'];
    p.resize(100, b'x');
    let mut b = BytesMut::from(&p[..]);
    assert!(matches!(
        decode(&mut b, V4, &l),
        Ok(Some(Packet::Publish(_)))
    ));
    let mut p = vec![0x30, 99, 0, 1, b't'];
    p.resize(101, b'x');
    assert!(matches!(
        decode(&mut BytesMut::from(&p[..]), V4, &l),
        Err(MqttError::PacketTooLarge { size: 101, .. })
    ));
}

#[test]
fn non_minimal_remaining_length() {
    // 3.1.1 does not require the shortest form; 5.0 does (MQTT-1.5.5-1).
    assert_eq!(ok(&[0xC0, 0x80, 0x00], V4), Packet::PingReq);
    assert_eq!(code(&[0xC0, 0x80, 0x00], V5), 0x81);
    let mut connect5 = vec![
        0x10, 0x8E, 0x00, 0, 4, b'M', b'Q', b'T', b'T', 5, 2, 0, 60, 0,
    ];
    connect5.extend_from_slice(&[0, 1, b'a']);
    assert_eq!(code(&connect5, None), 0x81);
    let mut connect4 = vec![0x10, 0x8D, 0x00];
    connect4.extend_from_slice(&CONNECT_V4[2..]);
    assert!(matches!(ok(&connect4, None), Packet::Connect(_)));
}

#[test]
fn connect_v311() {
    let Packet::Connect(c) = ok(CONNECT_V4, None) else {
        panic!()
    };
    assert_eq!(c.version, Version::V311);
    assert!(c.clean_start);
    assert_eq!(c.keep_alive, 60);
    assert_eq!(c.client_id, "a");
    assert_eq!(
        (c.will.clone(), c.username.clone(), c.password.clone()),
        (None, None, None)
    );
    assert_eq!(enc(&Packet::Connect(c), Version::V311), CONNECT_V4);

    // Will, user name and password.
    let bytes = [
        0x10,
        0x1C,
        0,
        4,
        b'M',
        b'Q',
        b'T',
        b'T',
        4,
        0b1111_0100,
        0,
        10,
        0,
        1,
        b'c',
        0,
        3,
        b'w',
        b'/',
        b't',
        0,
        1,
        b'!',
        0,
        1,
        b'u',
        0,
        2,
        0xFF,
        0x00,
    ];
    let Packet::Connect(c) = ok(&bytes, None) else {
        panic!()
    };
    let w = c.will.as_ref().unwrap();
    assert_eq!((w.topic.as_str(), &w.payload[..]), ("w/t", &b"!"[..]));
    assert_eq!((w.qos, w.retain), (QoS::ExactlyOnce, true));
    assert!(!c.clean_start);
    assert_eq!(c.username.as_ref().unwrap(), "u");
    assert_eq!(c.password.as_deref(), Some(&[0xFF, 0x00][..]));
    assert_eq!(enc(&Packet::Connect(c), Version::V311), bytes);
}

#[test]
fn connect_refusals() {
    let with = |i: usize, b: u8| {
        let mut v = CONNECT_V4.to_vec();
        v[i] = b;
        v
    };
    // Reserved flag, will QoS without will, will retain without will.
    for flags in [0x03, 0x0A, 0x22] {
        assert!(matches!(
            err(&with(9, flags), None, Peer::Client),
            MqttError::Malformed { .. }
        ));
    }
    // Password without user name: refused in 3.1.1 only.
    assert_eq!(code(&with(9, 0x42), None), 0x81);
    let pw5 = [
        0x10, 0x11, 0, 4, b'M', b'Q', b'T', b'T', 5, 0x42, 0, 60, 0, 0, 1, b'a', 0, 1, b'p',
    ];
    let Packet::Connect(c) = ok(&pw5, None) else {
        panic!()
    };
    assert_eq!(
        (c.username.clone(), c.password.as_deref()),
        (None, Some(&b"p"[..]))
    );
    // Protocol level and name.
    let e = err(&with(8, 3), None, Peer::Client);
    assert_eq!(e, MqttError::UnsupportedProtocolVersion(3));
    assert_eq!(
        (e.reason_code().value(), e.v311_connack_code()),
        (0x84, Some(1))
    );
    assert_eq!(
        err(&with(7, b'X'), None, Peer::Client),
        MqttError::UnsupportedProtocolName
    );
    let mqisdp = [
        0x10, 0x0F, 0, 6, b'M', b'Q', b'I', b's', b'd', b'p', 3, 2, 0, 60, 0, 1, b'a',
    ];
    assert_eq!(
        err(&mqisdp, None, Peer::Client),
        MqttError::UnsupportedProtocolVersion(3)
    );
    // Reserved fixed-header flags.
    assert_eq!(
        err(&with(0, 0x11), None, Peer::Client),
        MqttError::BadFlags {
            packet: PacketType::Connect,
            flags: 1
        }
    );
    // Trailing byte, truncated client id, NUL in the client id.
    let mut long = CONNECT_V4.to_vec();
    long[1] += 1;
    long.push(0);
    assert!(matches!(
        err(&long, None, Peer::Client),
        MqttError::TrailingBytes { extra: 1, .. }
    ));
    assert!(matches!(
        err(&with(13, 2), None, Peer::Client),
        MqttError::Truncated { .. }
    ));
    assert!(matches!(
        err(&with(14, 0), None, Peer::Client),
        MqttError::BadString { .. }
    ));
    // Will topic with a wildcard: 0x90.
    let mut will = vec![
        0x10,
        0x12,
        0,
        4,
        b'M',
        b'Q',
        b'T',
        b'T',
        4,
        0b0000_0110,
        0,
        0,
    ];
    will.extend_from_slice(&[0, 1, b'a', 0, 1, b'#', 0, 0]);
    assert_eq!(code(&will, None), 0x90);
}

#[test]
fn connect_state_and_buffer() {
    // Not CONNECT first; a second CONNECT from a client.
    assert!(matches!(
        err(&[0xC0, 0], None, Peer::Client),
        MqttError::Protocol { .. }
    ));
    assert_eq!(
        err(CONNECT_V4, V4, Peer::Client).reason_code().value(),
        0x82
    );
    // A refused CONNECT stays in the buffer so its version can be read.
    let mut b = BytesMut::from(
        &[
            0x10, 0x0F, 0, 4, b'M', b'Q', b'T', b'T', 5, 0x02, 0, 60, 2, 0x04, 0, 0, 1,
        ][..],
    );
    let e = decode(&mut b, None, &Limits::server()).unwrap_err();
    assert_eq!(e.reason_code(), ReasonCode::MalformedPacket);
    assert_eq!(peek_connect_version(&b), Some(Version::V5));
    assert_eq!(peek_connect_version(CONNECT_V4), Some(Version::V311));
    assert_eq!(peek_connect_version(&CONNECT_V4[..8]), None);
    assert_eq!(peek_connect_version(&[0x30, 0]), None);
}

#[test]
fn connect_v5_properties() {
    // Session Expiry, Receive Maximum, a user property, authentication method
    // and data; a will with a delay and a response topic.
    let build = |response_topic: &[u8]| {
        #[rustfmt::skip]
        let mut v = vec![
            0, 4, b'M', b'Q', b'T', b'T', 5, 0b0000_0110, 0, 30,
            25, // properties
            0x11, 0, 0, 0, 120,
            0x21, 0, 10,
            0x26, 0, 1, b'k', 0, 1, b'v',
            0x15, 0, 2, b'm', b'1',
            0x16, 0, 2, 1, 2,
            0, 1, b'c',
            (5 + 3 + response_topic.len()) as u8, // will properties
            0x18, 0, 0, 0, 5,
            0x08, 0, response_topic.len() as u8,
        ];
        v.extend_from_slice(response_topic);
        v.extend_from_slice(&[0, 1, b't', 0, 1, b'p']);
        let mut out = vec![0x10, v.len() as u8];
        out.extend(v);
        out
    };
    // An empty response topic is not a topic name.
    assert_eq!(code(&build(b""), None), 0x90);
    let Packet::Connect(c) = ok(&build(b"r"), None) else {
        panic!()
    };
    assert_eq!(c.version, Version::V5);
    let p = &c.properties;
    assert_eq!(p.session_expiry_interval, Some(120));
    assert_eq!(p.receive_maximum, Some(10));
    assert_eq!(p.user_properties, vec![(s("k"), s("v"))]);
    assert_eq!(p.authentication_method, Some(s("m1")));
    assert_eq!(p.authentication_data.as_deref(), Some(&[1u8, 2][..]));
    let w = c.will.as_ref().unwrap();
    assert_eq!(w.properties.will_delay_interval, Some(5));
    assert_eq!(w.properties.response_topic, Some(s("r")));
    assert_eq!((w.topic.as_str(), &w.payload[..]), ("t", &b"p"[..]));
    // Our encoding writes properties in identifier order; decoding it gives the
    // same packet.
    let again = enc(&Packet::Connect(c.clone()), Version::V5);
    assert_eq!(ok(&again, None), Packet::Connect(c));
}

/// A 5.0 CONNECT with `props` as its property block.
fn connect5_with(props: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 4, b'M', b'Q', b'T', b'T', 5, 2, 0, 0, props.len() as u8];
    v.extend_from_slice(props);
    v.extend_from_slice(&[0, 1, b'a']);
    let mut out = vec![0x10, v.len() as u8];
    out.extend(v);
    out
}

#[test]
fn property_rules() {
    let cases: &[(&[u8], u8)] = &[
        (&[0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 2], 0x82), // duplicate
        (&[0x23, 0, 1], 0x81),                         // Topic Alias not in CONNECT
        (&[0x04, 0], 0x81),                            // undefined identifier
        (&[0x81, 0x00, 0, 0, 0, 1], 0x81),             // non-minimal identifier
        (&[0x21, 0, 0], 0x82),                         // Receive Maximum 0
        (&[0x27, 0, 0, 0, 0], 0x82),                   // Maximum Packet Size 0
        (&[0x17, 2], 0x82),                            // Request Problem Information 2
        (&[0x16, 0, 1, 9], 0x82),                      // data without a method
        (&[0x11, 0, 0], 0x81),                         // truncated value
        (&[0x26, 0, 1, b'k'], 0x81),                   // pair without its value
        (&[0x03, 0, 1, 0xC0], 0x81), // Content Type not in CONNECT (checked first)
    ];
    for (props, want) in cases {
        assert_eq!(code(&connect5_with(props), None), *want, "{props:02x?}");
    }
    // Several user properties keep their order.
    let two = [0x26, 0, 1, b'a', 0, 0, 0x26, 0, 1, b'a', 0, 1, b'b'];
    let Packet::Connect(c) = ok(&connect5_with(&two), None) else {
        panic!()
    };
    assert_eq!(
        c.properties.user_properties,
        vec![(s("a"), s("")), (s("a"), s("b"))]
    );
    // Property length past the end of the packet.
    let mut bad = connect5_with(&[]);
    bad[12] = 9;
    assert_eq!(code(&bad, None), 0x81);
}

#[test]
fn connack() {
    let c = ok(&[0x20, 2, 1, 0], V4);
    let want = ConnAck {
        session_present: true,
        code: ReasonCode::Success,
        properties: ConnAckProperties::default(),
    };
    assert_eq!(c, Packet::ConnAck(Box::new(want.clone())));
    assert_eq!(enc(&c, Version::V311), [0x20, 2, 1, 0]);
    let Packet::ConnAck(r) = ok(&[0x20, 2, 0, 5], V4) else {
        panic!()
    };
    assert_eq!(r.code, ReasonCode::NotAuthorized);
    // 3.1.1 maps 5.0 codes onto its six.
    let banned = Packet::ConnAck(Box::new(ConnAck {
        code: ReasonCode::Banned,
        session_present: false,
        ..want.clone()
    }));
    assert_eq!(enc(&banned, Version::V311), [0x20, 2, 0, 5]);
    assert_eq!(enc(&banned, Version::V5), [0x20, 3, 0, 0x8A, 0]);
    assert_eq!(code(&[0x20, 2, 0, 6], V4), 0x81);
    assert_eq!(code(&[0x20, 2, 2, 0], V4), 0x81); // reserved flag
    assert_eq!(code(&[0x20, 2, 1, 5], V4), 0x82); // session present on refusal
    assert_eq!(code(&[0x20, 3, 0, 0x04, 0], V5), 0x81); // not a CONNACK code
    assert_eq!(code(&[0x20, 2, 0, 0], V5), 0x81); // properties missing
    let v5 = [
        0x20, 0x0D, 0, 0x00, 0x0A, 0x24, 1, 0x12, 0, 2, b'i', b'd', 0x13, 0, 30,
    ];
    let Packet::ConnAck(r) = ok(&v5, V5) else {
        panic!()
    };
    assert_eq!(r.properties.maximum_qos, Some(QoS::AtLeastOnce));
    assert_eq!(r.properties.assigned_client_identifier, Some(s("id")));
    assert_eq!(r.properties.server_keep_alive, Some(30));
    assert_eq!(code(&[0x20, 5, 0, 0, 2, 0x24, 2], V5), 0x82); // Maximum QoS 2
    // A client does not send CONNACK; a server does.
    assert_eq!(
        err(&[0x20, 2, 0, 0], V4, Peer::Client)
            .reason_code()
            .value(),
        0x82
    );
    assert!(dec(&[0x20, 2, 0, 0], V4, Peer::Server).is_ok());
}

#[test]
fn publish() {
    let bytes = [0x3B, 8, 0, 3, b'a', b'/', b'b', 0, 7, b'x'];
    let mut buf = BytesMut::from(&bytes[..]);
    let base = buf.as_ptr() as usize;
    let Some(Packet::Publish(p)) = decode(&mut buf, V4, &Limits::server()).unwrap() else {
        panic!()
    };
    assert_eq!((p.dup, p.qos, p.retain), (true, QoS::AtLeastOnce, true));
    assert_eq!((p.topic.as_str(), p.packet_id), ("a/b", Some(pid(7))));
    assert_eq!(&p.payload[..], b"x");
    // Zero copy: topic and payload point into the read buffer.
    assert_eq!(p.topic.as_bytes().as_ptr() as usize, base + 4);
    assert_eq!(p.payload.as_ptr() as usize, base + 9);
    assert_eq!(enc(&Packet::Publish(p), Version::V311), bytes);

    assert_eq!(code(&[0x36, 5, 0, 1, b't', 0, 1], V4), 0x81); // QoS 3
    assert_eq!(code(&[0x38, 3, 0, 1, b't'], V4), 0x81); // DUP at QoS 0
    assert_eq!(code(&[0x32, 5, 0, 1, b't', 0, 0], V4), 0x82); // packet id 0
    assert_eq!(code(&[0x32, 4, 0, 1, b't', 0], V4), 0x81); // truncated id
    assert_eq!(code(&[0x30, 3, 0, 1, b'+'], V4), 0x90);
    assert_eq!(code(&[0x30, 4, 0, 2, b'a', b'#'], V4), 0x90);
    assert_eq!(code(&[0x30, 2, 0, 0], V4), 0x90); // empty topic
    assert_eq!(code(&[0x30, 3, 0, 0, 0], V5), 0x82); // empty, no alias
    assert_eq!(code(&[0x30, 3, 0, 1, 0xFF], V4), 0x81); // bad UTF-8
    assert_eq!(code(&[0x30, 5, 0, 3, 0xED, 0xA0, 0x80], V4), 0x81); // U+D800
    assert_eq!(code(&[0x30, 3, 0, 1, 0], V4), 0x81); // U+0000
    // 5.0: an alias stands for the topic; alias 0 is invalid.
    let Packet::Publish(p) = ok(&[0x30, 7, 0, 0, 3, 0x23, 0, 5, b'z'][..], V5) else {
        panic!()
    };
    assert_eq!((p.topic.as_str(), p.properties.topic_alias), ("", Some(5)));
    assert_eq!(code(&[0x30, 6, 0, 0, 3, 0x23, 0, 0], V5), 0x94);
    // Subscription identifiers: from a server (several), never from a client.
    let sub = [0x30, 8, 0, 1, b't', 4, 0x0B, 1, 0x0B, 2];
    let Packet::Publish(p) = ok(&sub, V5) else {
        panic!()
    };
    assert_eq!(p.properties.subscription_identifiers, vec![1, 2]);
    assert_eq!(err(&sub, V5, Peer::Client).reason_code().value(), 0x82);
    assert!(dec(&sub, V5, Peer::Server).is_ok());
    // Response topic must be a topic name.
    assert_eq!(code(&[0x30, 8, 0, 1, b't', 4, 0x08, 0, 1, b'#'], V5), 0x90);
}

#[test]
fn payload_format_indicator() {
    let bad = [0x30, 7, 0, 1, b't', 2, 0x01, 1, 0xFF];
    let l = Limits {
        validate_payload_format: true,
        ..limits(Peer::Client)
    };
    assert!(dec(&bad, V5, Peer::Client).is_ok());
    let e = decode(&mut BytesMut::from(&bad[..]), V5, &l).unwrap_err();
    assert_eq!(e.reason_code(), ReasonCode::PayloadFormatInvalid);
    let good = [0x30, 7, 0, 1, b't', 2, 0x01, 1, b'k'];
    assert!(decode(&mut BytesMut::from(&good[..]), V5, &l).is_ok());
}

#[test]
fn publish_responses() {
    for (first, want) in [
        (0x40, PacketType::PubAck),
        (0x50, PacketType::PubRec),
        (0x62, PacketType::PubRel),
        (0x70, PacketType::PubComp),
    ] {
        let p = ok(&[first, 2, 0x12, 0x34], V4);
        assert_eq!(p.packet_type(), want);
        assert_eq!(enc(&p, Version::V311), [first, 2, 0x12, 0x34]);
        assert_eq!(enc(&p, Version::V5), [first, 2, 0x12, 0x34]);
        assert_eq!(ok(&[first, 2, 0x12, 0x34], V5), p);
        assert_eq!(code(&[first, 3, 0, 1, 0], V4), 0x81); // 3.1.1: exactly 2
        assert_eq!(code(&[first, 2, 0, 0], V4), 0x82); // packet id 0
    }
    assert_eq!(code(&[0x60, 2, 0, 1], V4), 0x81); // PUBREL flags must be 0010
    assert_eq!(code(&[0x42, 2, 0, 1], V4), 0x81); // PUBACK flags must be 0
    // 5.0 forms: reason alone, reason and properties.
    let Packet::PubAck(r) = ok(&[0x40, 3, 0, 1, 0x10], V5) else {
        panic!()
    };
    assert_eq!(r.reason, ReasonCode::NoMatchingSubscribers);
    let full = [0x40, 8, 0, 1, 0x87, 4, 0x1F, 0, 1, b'n'];
    let Packet::PubAck(r) = ok(&full, V5) else {
        panic!()
    };
    assert_eq!(r.properties.reason_string, Some(s("n")));
    assert_eq!(enc(&Packet::PubAck(r), Version::V5), full);
    assert_eq!(code(&[0x40, 3, 0, 1, 0x92], V5), 0x81); // a PUBREL code
    assert_eq!(code(&[0x62, 3, 0, 1, 0x10], V5), 0x81); // a PUBACK code
    assert!(matches!(ok(&[0x62, 3, 0, 1, 0x92], V5), Packet::PubRel(_)));
    assert_eq!(code(&[0x40, 6, 0, 1, 0, 2, 0x23, 0], V5), 0x81); // Topic Alias here
}

#[test]
fn subscribe() {
    let bytes = [0x82, 8, 0, 9, 0, 3, b'a', b'/', b'#', 1];
    let Packet::Subscribe(p) = ok(&bytes, V4) else {
        panic!()
    };
    assert_eq!(p.packet_id, pid(9));
    assert_eq!(
        p.subscriptions,
        vec![Subscription {
            filter: s("a/#"),
            options: SubscriptionOptions::new(QoS::AtLeastOnce)
        }]
    );
    assert_eq!(enc(&Packet::Subscribe(p), Version::V311), bytes);
    assert_eq!(code(&[0x80, 6, 0, 9, 0, 1, b'a', 1], V4), 0x81); // flags
    assert_eq!(code(&[0x82, 2, 0, 9], V4), 0x82); // no filter
    assert_eq!(code(&[0x82, 6, 0, 9, 0, 1, b'a', 3], V4), 0x81); // QoS 3
    assert_eq!(code(&[0x82, 6, 0, 9, 0, 1, b'a', 4], V4), 0x81); // 3.1.1 reserved
    assert_eq!(code(&[0x82, 5, 0, 9, 0, 1, b'a'], V4), 0x81); // options missing
    assert_eq!(code(&[0x82, 7, 0, 9, 0, 2, b'a', b'#', 0], V4), 0x8F);
    assert_eq!(code(&[0x82, 6, 0, 0, 0, 1, b'a', 0], V4), 0x82); // packet id 0
    // 5.0 options: No Local, Retain As Published, Retain Handling.
    let v5 = [0x82, 7, 0, 9, 0, 0, 1, b'a', 0b0010_1110];
    let Packet::Subscribe(p) = ok(&v5, V5) else {
        panic!()
    };
    let o = p.subscriptions[0].options;
    assert_eq!(o.qos, QoS::ExactlyOnce);
    assert!(o.no_local && o.retain_as_published);
    assert_eq!(o.retain_handling, RetainHandling::DoNotSend);
    assert_eq!(enc(&Packet::Subscribe(p.clone()), Version::V5), v5);
    assert!(matches!(
        encode(&Packet::Subscribe(p), Version::V311, &mut BytesMut::new()),
        Err(EncodeError::NotInV311 { .. })
    ));
    assert_eq!(code(&[0x82, 7, 0, 9, 0, 0, 1, b'a', 0x30], V5), 0x82); // RH 3
    assert_eq!(code(&[0x82, 7, 0, 9, 0, 0, 1, b'a', 0x03], V5), 0x82); // QoS 3
    assert_eq!(code(&[0x82, 7, 0, 9, 0, 0, 1, b'a', 0x40], V5), 0x81); // reserved
    // Subscription identifier: 0 is a Protocol Error, one only.
    assert_eq!(code(&[0x82, 9, 0, 9, 2, 0x0B, 0, 0, 1, b'a', 0], V5), 0x82);
    assert_eq!(
        code(&[0x82, 11, 0, 9, 4, 0x0B, 1, 0x0B, 2, 0, 1, b'a', 0], V5),
        0x82
    );
    // Shared subscriptions (5.0): checked as such; No Local is refused.
    let shared = |f: &[u8], o: u8| {
        let mut v = vec![0x82, (5 + f.len() + 1) as u8, 0, 9, 0, 0, f.len() as u8];
        v.extend_from_slice(f);
        v.push(o);
        v
    };
    let Packet::Subscribe(p) = ok(&shared(b"$share/g/a/+", 1), V5) else {
        panic!()
    };
    assert_eq!(p.subscriptions[0].filter, "$share/g/a/+");
    assert_eq!(code(&shared(b"$share/g/a/+", 4), V5), 0x82);
    assert_eq!(code(&shared(b"$share/g", 0), V5), 0x8F);
    assert_eq!(code(&shared(b"$share/g+/a", 0), V5), 0x8F);
    assert!(dec(&shared(b"$share/g", 0), V4, Peer::Client).is_err()); // 3.1.1 header length differs
    let v4_share = [
        0x82, 13, 0, 9, 0, 8, b'$', b's', b'h', b'a', b'r', b'e', b'/', b'g', 0,
    ];
    assert!(matches!(ok(&v4_share, V4), Packet::Subscribe(_)));
    // A server does not send SUBSCRIBE.
    assert_eq!(err(&bytes, V4, Peer::Server).reason_code().value(), 0x82);
}

#[test]
fn topic_limits() {
    let l = Limits {
        max_topic_len: 3,
        max_topic_levels: 2,
        ..limits(Peer::Client)
    };
    let long = [0x30, 6, 0, 4, b'a', b'b', b'c', b'd'];
    assert_eq!(
        decode(&mut BytesMut::from(&long[..]), V4, &l),
        Err(MqttError::TopicNameInvalid {
            packet: PacketType::Publish,
            why: TopicError::TooLong { len: 4, max: 3 }
        })
    );
    // A filter's limits are the broker's, per filter (SUBACK 0x8F): the
    // codec checks its syntax only.
    let deep = [0x82, 8, 0, 1, 0, 3, b'/', b'/', b'#', 0];
    assert!(matches!(
        decode(&mut BytesMut::from(&deep[..]), V4, &l),
        Ok(Some(Packet::Subscribe(_)))
    ));
    let bad = [0x82, 8, 0, 1, 0, 3, b'a', b'#', b'/', 0];
    assert_eq!(
        decode(&mut BytesMut::from(&bad[..]), V4, &l),
        Err(MqttError::TopicFilterInvalid {
            packet: PacketType::Subscribe,
            why: TopicError::MultiLevelMisplaced
        })
    );
}

#[test]
fn suback_unsubscribe_unsuback() {
    let p = ok(&[0x90, 5, 0, 9, 0, 2, 0x80], V4);
    let Packet::SubAck(a) = &p else { panic!() };
    assert_eq!(
        a.codes,
        vec![
            ReasonCode::Success,
            ReasonCode::GrantedQoS2,
            ReasonCode::UnspecifiedError
        ]
    );
    assert_eq!(enc(&p, Version::V311), [0x90, 5, 0, 9, 0, 2, 0x80]);
    assert_eq!(code(&[0x90, 3, 0, 9, 3], V4), 0x81);
    assert_eq!(code(&[0x90, 3, 0, 9, 0x8F], V4), 0x81); // 5.0 only
    assert_eq!(code(&[0x90, 2, 0, 9], V4), 0x82); // no code
    let Packet::SubAck(a) = ok(&[0x90, 4, 0, 9, 0, 0x8F], V5) else {
        panic!()
    };
    assert_eq!(a.codes, vec![ReasonCode::TopicFilterInvalid]);
    assert_eq!(code(&[0x90, 4, 0, 9, 0, 0x11], V5), 0x81); // an UNSUBACK code

    let un = [0xA2, 7, 0, 3, 0, 3, b'a', b'/', b'+'];
    let Packet::Unsubscribe(u) = ok(&un, V4) else {
        panic!()
    };
    assert_eq!(u.filters, vec![s("a/+")]);
    assert_eq!(enc(&Packet::Unsubscribe(u), Version::V311), un);
    assert_eq!(code(&[0xA2, 2, 0, 3], V4), 0x82);
    assert_eq!(code(&[0xA0, 5, 0, 3, 0, 1, b'a'], V4), 0x81); // flags
    assert_eq!(code(&[0xA2, 6, 0, 3, 0, 2, b'+', b'a'], V4), 0x8F);

    let ua = ok(&[0xB0, 2, 0, 3], V4);
    assert_eq!(enc(&ua, Version::V311), [0xB0, 2, 0, 3]);
    assert_eq!(code(&[0xB0, 3, 0, 3, 0], V4), 0x81);
    let Packet::UnsubAck(u) = ok(&[0xB0, 5, 0, 3, 0, 0x00, 0x11], V5) else {
        panic!()
    };
    assert_eq!(
        u.codes,
        vec![ReasonCode::Success, ReasonCode::NoSubscriptionExisted]
    );
    assert_eq!(code(&[0xB0, 3, 0, 3, 0], V5), 0x82); // no code
    assert_eq!(code(&[0xB0, 4, 0, 3, 0, 0x01], V5), 0x81); // a SUBACK code
}

#[test]
fn ping_disconnect_auth() {
    assert_eq!(ok(&[0xC0, 0], V4), Packet::PingReq);
    assert_eq!(ok(&[0xD0, 0], V5), Packet::PingResp);
    assert_eq!(enc(&Packet::PingReq, Version::V311), [0xC0, 0]);
    assert_eq!(code(&[0xC0, 1, 0], V4), 0x81);
    assert_eq!(code(&[0xC1, 0], V4), 0x81);
    assert_eq!(
        err(&[0xC0, 0], V4, Peer::Server).reason_code().value(),
        0x82
    );
    assert_eq!(
        err(&[0xD0, 0], V4, Peer::Client).reason_code().value(),
        0x82
    );

    let d = ok(&[0xE0, 0], V4);
    assert_eq!(d, Packet::Disconnect(Disconnect::default()));
    assert_eq!(enc(&d, Version::V5), [0xE0, 0]);
    assert_eq!(code(&[0xE0, 1, 0], V4), 0x81);
    // 3.1.1 servers do not send DISCONNECT; 5.0 servers do.
    assert!(dec(&[0xE0, 0], V4, Peer::Server).is_err());
    assert!(dec(&[0xE0, 0], V5, Peer::Server).is_ok());
    let Packet::Disconnect(d) = ok(&[0xE0, 1, 0x04], V5) else {
        panic!()
    };
    assert_eq!(d.reason, ReasonCode::DisconnectWithWill);
    assert!(dec(&[0xE0, 1, 0x04], V5, Peer::Server).is_err());
    assert!(dec(&[0xE0, 1, 0x8B], V5, Peer::Client).is_err());
    assert!(dec(&[0xE0, 1, 0x8B], V5, Peer::Server).is_ok());
    let expiry = [0xE0, 7, 0, 5, 0x11, 0, 0, 0, 9];
    let Packet::Disconnect(d) = ok(&expiry, V5) else {
        panic!()
    };
    assert_eq!(d.properties.session_expiry_interval, Some(9));
    assert_eq!(enc(&Packet::Disconnect(d), Version::V5), expiry);
    assert_eq!(err(&expiry, V5, Peer::Server).reason_code().value(), 0x82);

    assert_eq!(ok(&[0xF0, 0], V5), Packet::Auth(Auth::default()));
    assert_eq!(code(&[0xF0, 0], V4), 0x81); // type 15 is reserved in 3.1.1
    let auth = [0xF0, 7, 0x18, 5, 0x15, 0, 2, b'm', b'x'];
    let Packet::Auth(a) = ok(&auth, V5) else {
        panic!()
    };
    assert_eq!(a.reason, ReasonCode::ContinueAuthentication);
    assert_eq!(a.properties.authentication_method, Some(s("mx")));
    assert_eq!(enc(&Packet::Auth(a.clone()), Version::V5), auth);
    assert_eq!(
        encode(&Packet::Auth(a), Version::V311, &mut BytesMut::new()),
        Err(EncodeError::NotInVersion(PacketType::Auth))
    );
    assert_eq!(code(&[0xF0, 2, 0x18, 0], V5), 0x82); // no method
    assert_eq!(code(&[0xF0, 1, 0x18], V5), 0x81); // properties missing
    assert_eq!(code(&[0xF0, 2, 0x04, 0], V5), 0x81); // not an AUTH code
}

#[test]
fn encode_refusals_leave_output_alone() {
    let mut out = BytesMut::from(&b"keep"[..]);
    let mut p = Publish {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: false,
        topic: s("t"),
        packet_id: None,
        properties: PublishProperties::default(),
        payload: Bytes::new(),
    };
    assert_eq!(
        encode(&Packet::Publish(p.clone()), Version::V311, &mut out),
        Err(EncodeError::PacketIdMismatch)
    );
    p.packet_id = Some(pid(1));
    p.properties.message_expiry_interval = Some(1);
    assert!(matches!(
        encode(&Packet::Publish(p.clone()), Version::V311, &mut out),
        Err(EncodeError::NotInV311 { .. })
    ));
    p.properties = PublishProperties::default();
    p.topic = MqttString::default();
    assert_eq!(
        encode(&Packet::Publish(p.clone()), Version::V5, &mut out),
        Err(EncodeError::NoTopic)
    );
    p.topic = s("t");
    p.qos = QoS::AtMostOnce;
    p.packet_id = None;
    p.dup = true;
    assert_eq!(
        encode(&Packet::Publish(p), Version::V5, &mut out),
        Err(EncodeError::DupOnQoS0)
    );
    let big = Packet::Connect(Box::new(Connect {
        version: Version::V311,
        clean_start: true,
        keep_alive: 0,
        client_id: s(""),
        will: None,
        username: Some(s("u")),
        password: Some(Bytes::from(vec![0u8; 70_000])),
        properties: ConnectProperties::default(),
    }));
    assert_eq!(
        encode(&big, Version::V311, &mut out),
        Err(EncodeError::FieldTooLong)
    );
    let ack = Packet::PubAck(PubResponse {
        reason: ReasonCode::QuotaExceeded,
        ..PubResponse::new(pid(1))
    });
    assert!(encode(&ack, Version::V311, &mut out).is_err());
    assert_eq!(&out[..], b"keep");
}

fn sample_publish(qos: QoS) -> Publish {
    let mut properties = PublishProperties {
        payload_format_indicator: Some(true),
        message_expiry_interval: Some(60),
        content_type: Some(s("text/plain")),
        response_topic: Some(s("re/ply")),
        correlation_data: Some(Bytes::from_static(b"\x01\x02")),
        ..PublishProperties::default()
    };
    properties.user_properties.push((s("k"), s("v")));
    Publish {
        dup: false,
        qos,
        retain: false,
        topic: s("sensors/1/temp"),
        packet_id: None,
        properties,
        payload: Bytes::from_static(b"21.5"),
    }
}

#[test]
fn template_heads_equal_full_encoding() {
    let ids = [7u32, 300];
    for version in [Version::V311, Version::V5] {
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
            let src = sample_publish(qos);
            let t = PublishTemplate::new(&src, qos, version).unwrap();
            for (alias, send_topic, sub_ids) in [
                (None, true, &[][..]),
                (Some(3), true, &ids[..1]),
                (Some(3), false, &ids[..]),
            ] {
                if version == Version::V311 && alias.is_some() {
                    continue;
                }
                let d = Delivery {
                    packet_id: (qos != QoS::AtMostOnce).then(|| pid(42)),
                    topic_alias: alias,
                    send_topic,
                    dup: qos != QoS::AtMostOnce,
                    retain: true,
                    subscription_ids: sub_ids,
                };
                let mut head = [0u8; 256];
                let n = t.write_head(&d, &mut head).unwrap();
                assert_eq!(n, t.head_len(&d).unwrap());
                // Appended after what a send op already holds: the same octets.
                let mut appended = b"before".to_vec();
                assert_eq!(t.append_head(&d, &mut appended).unwrap(), n);
                assert_eq!(&appended[..6], b"before");
                assert_eq!(&appended[6..], &head[..n]);
                let mut whole = head[..n].to_vec();
                whole.extend_from_slice(t.payload());
                let mut expected = src.clone();
                expected.packet_id = d.packet_id;
                expected.dup = d.dup;
                expected.retain = true;
                if !send_topic {
                    expected.topic = MqttString::default();
                }
                if version == Version::V5 {
                    expected.properties.topic_alias = alias;
                    expected.properties.subscription_identifiers = sub_ids.to_vec();
                } else {
                    expected.properties = PublishProperties::default();
                }
                let full = enc(&Packet::Publish(expected.clone()), version);
                assert_eq!(whole, full, "{version:?} {qos:?} {alias:?}");
                let mut put = BytesMut::new();
                t.put_head(&d, &mut put).unwrap();
                assert_eq!(&put[..], &head[..n]);
                assert_eq!(ok(&full, Some(version)), Packet::Publish(expected));
                assert!(n <= HEAD_OVERHEAD + 14 + 43 + sub_ids.len() * HEAD_PER_SUBSCRIPTION_ID);
            }
        }
    }
    // The payload is shared, not copied.
    let src = sample_publish(QoS::AtLeastOnce);
    let t = PublishTemplate::new(&src, QoS::AtLeastOnce, Version::V5).unwrap();
    assert_eq!(t.payload().as_ptr(), src.payload.as_ptr());
}

#[test]
fn template_refusals() {
    let src = sample_publish(QoS::AtLeastOnce);
    let t = PublishTemplate::new(&src, QoS::AtLeastOnce, Version::V5).unwrap();
    let d = Delivery {
        packet_id: Some(pid(1)),
        send_topic: true,
        ..Delivery::default()
    };
    let mut small = [0u8; 8];
    let need = t.head_len(&d).unwrap();
    assert_eq!(
        t.write_head(&d, &mut small),
        Err(EncodeError::BufferTooSmall { needed: need })
    );
    let mut head = [0u8; 256];
    let no_id = Delivery {
        packet_id: None,
        ..d
    };
    assert_eq!(
        t.write_head(&no_id, &mut head),
        Err(EncodeError::PacketIdMismatch)
    );
    let no_topic = Delivery {
        send_topic: false,
        ..d
    };
    assert_eq!(
        t.write_head(&no_topic, &mut head),
        Err(EncodeError::NoTopic)
    );
    let alias0 = Delivery {
        topic_alias: Some(0),
        ..d
    };
    assert_eq!(
        t.write_head(&alias0, &mut head),
        Err(EncodeError::TopicAliasZero)
    );
    let t4 = PublishTemplate::new(&src, QoS::AtLeastOnce, Version::V311).unwrap();
    let alias = Delivery {
        topic_alias: Some(1),
        ..d
    };
    assert!(matches!(
        t4.write_head(&alias, &mut head),
        Err(EncodeError::NotInV311 { .. })
    ));
}

#[test]
fn types_stay_small() {
    // Packet is dominated by PUBLISH; CONNECT and CONNACK are boxed.
    assert!(
        std::mem::size_of::<Packet>() <= 240,
        "{}",
        std::mem::size_of::<Packet>()
    );
    assert_eq!(std::mem::size_of::<Option<PacketId>>(), 2);
    assert!(
        std::mem::size_of::<MqttError>() <= 40,
        "{}",
        std::mem::size_of::<MqttError>()
    );
}
