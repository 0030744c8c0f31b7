//! MQTT golden vectors: packets built here with `junction::proto::mqtt` must
//! encode to exactly the bytes of `tests/vectors/mqtt/<version>/<name>.hex`, and
//! those bytes must decode to the packet. The files were written by
//! `tests/vectors/mqtt/make.py`, an independent encoder written from the specs
//! that annotates every byte with its field (see `tests/vectors/mqtt/README.md`).

use std::path::PathBuf;

use bytes::{Bytes, BytesMut};
use junction::proto::mqtt::*;

fn s(v: &str) -> MqttString {
    MqttString::try_from(v).unwrap()
}

fn pid(v: u16) -> PacketId {
    PacketId::new(v).unwrap()
}

fn b(v: &[u8]) -> Bytes {
    Bytes::copy_from_slice(v)
}

fn connect(version: Version) -> Connect {
    Connect {
        version,
        clean_start: true,
        keep_alive: 60,
        client_id: s("abc"),
        will: None,
        username: None,
        password: None,
        properties: ConnectProperties::default(),
    }
}

fn publish(qos: QoS, topic: &str, id: Option<u16>, payload: &[u8]) -> Publish {
    Publish {
        dup: false,
        qos,
        retain: false,
        topic: s(topic),
        packet_id: id.map(pid),
        properties: PublishProperties::default(),
        payload: b(payload),
    }
}

fn ack(id: u16, reason: ReasonCode, reason_string: Option<&str>) -> PubResponse {
    PubResponse {
        packet_id: pid(id),
        reason,
        properties: AckProperties {
            reason_string: reason_string.map(s),
            user_properties: Vec::new(),
        },
    }
}

fn v311() -> Vec<(&'static str, Packet)> {
    use Packet as P;
    let mut full = connect(Version::V311);
    full.clean_start = false;
    full.keep_alive = 30;
    full.client_id = s("dev-1");
    full.will = Some(Will {
        topic: s("status/dev-1"),
        payload: b(b"offline"),
        qos: QoS::AtLeastOnce,
        retain: true,
        properties: WillProperties::default(),
    });
    full.username = Some(s("alice"));
    full.password = Some(b(b"s3cret"));
    let connack = |code| {
        P::ConnAck(Box::new(ConnAck {
            session_present: false,
            code,
            properties: ConnAckProperties::default(),
        }))
    };
    let mut dup = publish(QoS::AtLeastOnce, "sensors/t", Some(10), b"\x00\xff");
    dup.dup = true;
    dup.retain = true;
    vec![
        (
            "connect_minimal",
            P::Connect(Box::new(connect(Version::V311))),
        ),
        ("connect_full", P::Connect(Box::new(full))),
        ("connack_accepted", connack(ReasonCode::Success)),
        ("connack_refused", connack(ReasonCode::NotAuthorized)),
        (
            "publish_qos0",
            P::Publish(publish(QoS::AtMostOnce, "a/b", None, b"hi")),
        ),
        ("publish_qos1_dup_retain", P::Publish(dup)),
        (
            "publish_qos2",
            P::Publish(publish(QoS::ExactlyOnce, "x", Some(65535), b"")),
        ),
        ("puback", P::PubAck(PubResponse::new(pid(10)))),
        ("pubrec", P::PubRec(PubResponse::new(pid(10)))),
        ("pubrel", P::PubRel(PubResponse::new(pid(10)))),
        ("pubcomp", P::PubComp(PubResponse::new(pid(10)))),
        (
            "subscribe",
            P::Subscribe(Subscribe {
                packet_id: pid(1),
                subscriptions: vec![
                    Subscription {
                        filter: s("a/+"),
                        options: SubscriptionOptions::new(QoS::AtLeastOnce),
                    },
                    Subscription {
                        filter: s("b/#"),
                        options: SubscriptionOptions::new(QoS::ExactlyOnce),
                    },
                ],
                properties: SubscribeProperties::default(),
            }),
        ),
        (
            "suback",
            P::SubAck(SubAck {
                packet_id: pid(1),
                codes: vec![ReasonCode::GrantedQoS1, ReasonCode::UnspecifiedError],
                properties: AckProperties::default(),
            }),
        ),
        (
            "unsubscribe",
            P::Unsubscribe(Unsubscribe {
                packet_id: pid(2),
                filters: vec![s("a/+")],
                properties: UnsubscribeProperties::default(),
            }),
        ),
        (
            "unsuback",
            P::UnsubAck(UnsubAck {
                packet_id: pid(2),
                codes: Vec::new(),
                properties: AckProperties::default(),
            }),
        ),
        ("pingreq", P::PingReq),
        ("pingresp", P::PingResp),
        ("disconnect", P::Disconnect(Disconnect::default())),
    ]
}

fn v5() -> Vec<(&'static str, Packet)> {
    use Packet as P;
    let mut full = connect(Version::V5);
    full.keep_alive = 0;
    full.client_id = s("");
    full.properties = ConnectProperties {
        session_expiry_interval: Some(3600),
        request_problem_information: Some(false),
        receive_maximum: Some(20),
        topic_alias_maximum: Some(10),
        user_properties: vec![(s("region"), s("eu"))],
        maximum_packet_size: Some(65536),
        ..ConnectProperties::default()
    };
    full.will = Some(Will {
        topic: s("status/€"),
        payload: b(b"gone"),
        qos: QoS::ExactlyOnce,
        retain: false,
        properties: WillProperties {
            payload_format_indicator: Some(true),
            message_expiry_interval: Some(600),
            content_type: Some(s("text/plain")),
            will_delay_interval: Some(5),
            ..WillProperties::default()
        },
    });
    full.username = Some(s("bob"));
    full.password = Some(b(b"\x00\x01"));
    let mut auth = connect(Version::V5);
    auth.clean_start = false;
    auth.keep_alive = 10;
    auth.client_id = s("c1");
    auth.properties.authentication_method = Some(s("SCRAM-SHA-256"));
    auth.properties.authentication_data = Some(b(b"n,,n=u,r=abc"));

    let mut props = publish(QoS::AtMostOnce, "req/x", None, b"{}");
    props.retain = true;
    props.properties = PublishProperties {
        payload_format_indicator: Some(true),
        message_expiry_interval: Some(30),
        content_type: Some(s("application/json")),
        response_topic: Some(s("resp/x")),
        correlation_data: Some(b(b"\x01\x02\x03")),
        user_properties: vec![(s("k"), s("v")), (s("k"), s("w"))],
        ..PublishProperties::default()
    };
    let mut alias = publish(QoS::AtLeastOnce, "", Some(10), b"hi");
    alias.properties.topic_alias = Some(3);
    let mut subids = publish(QoS::ExactlyOnce, "a/b", Some(7), b"x");
    subids.dup = true;
    subids.properties.subscription_identifiers = vec![1, 200];

    let disconnect = |reason, p: DisconnectProperties| {
        P::Disconnect(Disconnect {
            reason,
            properties: p,
        })
    };
    vec![
        (
            "connect_minimal",
            P::Connect(Box::new(connect(Version::V5))),
        ),
        ("connect_full", P::Connect(Box::new(full))),
        ("connect_auth", P::Connect(Box::new(auth))),
        (
            "connack_props",
            P::ConnAck(Box::new(ConnAck {
                session_present: true,
                code: ReasonCode::Success,
                properties: ConnAckProperties {
                    session_expiry_interval: Some(120),
                    assigned_client_identifier: Some(s("auto-7f")),
                    server_keep_alive: Some(30),
                    receive_maximum: Some(100),
                    topic_alias_maximum: Some(16),
                    maximum_qos: Some(QoS::AtLeastOnce),
                    retain_available: Some(false),
                    maximum_packet_size: Some(1_048_576),
                    wildcard_subscription_available: Some(true),
                    subscription_identifiers_available: Some(true),
                    shared_subscription_available: Some(false),
                    ..ConnAckProperties::default()
                },
            })),
        ),
        (
            "connack_refused",
            P::ConnAck(Box::new(ConnAck {
                session_present: false,
                code: ReasonCode::NotAuthorized,
                properties: ConnAckProperties {
                    reason_string: Some(s("no")),
                    ..ConnAckProperties::default()
                },
            })),
        ),
        ("publish_props", P::Publish(props)),
        ("publish_alias", P::Publish(alias)),
        ("publish_subids", P::Publish(subids)),
        ("puback_short", P::PubAck(PubResponse::new(pid(10)))),
        (
            "puback_reason",
            P::PubAck(ack(10, ReasonCode::NoMatchingSubscribers, None)),
        ),
        (
            "pubrec_props",
            P::PubRec(ack(11, ReasonCode::QuotaExceeded, Some("full"))),
        ),
        (
            "pubrel_not_found",
            P::PubRel(ack(12, ReasonCode::PacketIdentifierNotFound, None)),
        ),
        ("pubcomp", P::PubComp(PubResponse::new(pid(12)))),
        (
            "subscribe_options",
            P::Subscribe(Subscribe {
                packet_id: pid(3),
                subscriptions: vec![
                    Subscription {
                        filter: s("a/+/c"),
                        options: SubscriptionOptions {
                            qos: QoS::AtLeastOnce,
                            no_local: true,
                            retain_as_published: true,
                            retain_handling: RetainHandling::DoNotSend,
                        },
                    },
                    Subscription {
                        filter: s("$share/g1/x/#"),
                        options: SubscriptionOptions {
                            retain_handling: RetainHandling::SendIfNew,
                            ..SubscriptionOptions::new(QoS::AtMostOnce)
                        },
                    },
                ],
                properties: SubscribeProperties {
                    subscription_identifier: Some(5),
                    user_properties: vec![(s("a"), s("b"))],
                },
            }),
        ),
        (
            "suback",
            P::SubAck(SubAck {
                packet_id: pid(3),
                codes: vec![ReasonCode::GrantedQoS1, ReasonCode::TopicFilterInvalid],
                properties: AckProperties {
                    reason_string: Some(s("bad filter")),
                    user_properties: Vec::new(),
                },
            }),
        ),
        (
            "unsubscribe",
            P::Unsubscribe(Unsubscribe {
                packet_id: pid(4),
                filters: vec![s("a/+/c"), s("$share/g1/x/#")],
                properties: UnsubscribeProperties {
                    user_properties: vec![(s("why"), s("done"))],
                },
            }),
        ),
        (
            "unsuback",
            P::UnsubAck(UnsubAck {
                packet_id: pid(4),
                codes: vec![ReasonCode::Success, ReasonCode::NoSubscriptionExisted],
                properties: AckProperties::default(),
            }),
        ),
        ("pingreq", P::PingReq),
        ("pingresp", P::PingResp),
        (
            "disconnect_normal",
            disconnect(ReasonCode::Success, DisconnectProperties::default()),
        ),
        (
            "disconnect_will",
            disconnect(
                ReasonCode::DisconnectWithWill,
                DisconnectProperties::default(),
            ),
        ),
        (
            "disconnect_server",
            disconnect(
                ReasonCode::UseAnotherServer,
                DisconnectProperties {
                    server_reference: Some(s("b.example:1883")),
                    reason_string: Some(s("moving")),
                    ..DisconnectProperties::default()
                },
            ),
        ),
        (
            "disconnect_expiry",
            disconnect(
                ReasonCode::Success,
                DisconnectProperties {
                    session_expiry_interval: Some(0),
                    ..DisconnectProperties::default()
                },
            ),
        ),
        (
            "auth_continue",
            P::Auth(Auth {
                reason: ReasonCode::ContinueAuthentication,
                properties: AuthProperties {
                    authentication_method: Some(s("SCRAM-SHA-256")),
                    authentication_data: Some(b(b"r=abcdef,s=salt,i=4096")),
                    ..AuthProperties::default()
                },
            }),
        ),
        ("auth_success", P::Auth(Auth::default())),
    ]
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/mqtt")
}

/// The bytes of an annotated hex file: everything after `#` on a line is a
/// comment; the rest is hex pairs separated by spaces.
fn read_hex(path: &PathBuf) -> Vec<u8> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let mut out = Vec::new();
    for line in text.lines() {
        let data = line.split('#').next().unwrap_or("");
        for pair in data.split_whitespace() {
            out.push(u8::from_str_radix(pair, 16).unwrap_or_else(|_| panic!("{path:?}: {pair}")));
        }
    }
    out
}

#[test]
fn golden_vectors() {
    let mut checked = 0;
    for (sub, version, cases) in [("v311", Version::V311, v311()), ("v5", Version::V5, v5())] {
        let mut names: Vec<String> = std::fs::read_dir(dir().join(sub))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".hex"))
            .collect();
        names.sort();
        let mut ours: Vec<String> = cases.iter().map(|(n, _)| format!("{n}.hex")).collect();
        ours.sort();
        assert_eq!(names, ours, "vector files and cases differ in {sub}");
        for (name, packet) in cases {
            let path = dir().join(sub).join(format!("{name}.hex"));
            let want = read_hex(&path);
            let mut got = BytesMut::new();
            encode(&packet, version, &mut got).unwrap();
            assert_eq!(&got[..], &want[..], "{sub}/{name}: encoding differs");
            let limits = Limits {
                peer: Peer::Any,
                ..Limits::server()
            };
            let mut buf = BytesMut::from(&want[..]);
            let connected = !matches!(packet, Packet::Connect(_));
            let decoded = decode(&mut buf, connected.then_some(version), &limits);
            assert_eq!(decoded, Ok(Some(packet)), "{sub}/{name}: decoding differs");
            assert!(buf.is_empty());
            checked += 1;
        }
    }
    assert_eq!(checked, 43);
}
