//! proptest strategies for MQTT packets that are valid in a given version, shared
//! by `tests/mqtt_codec.rs` and `tests/mqtt_oracle.rs`.
#![allow(dead_code)]

use bytes::Bytes;
use junction::proto::mqtt::properties::MAX_VARINT;
use junction::proto::mqtt::reason::ALL_REASON_CODES;
use junction::proto::mqtt::*;
use proptest::collection::vec;
use proptest::option::of;
use proptest::prelude::*;

/// Text without U+0000 (some non-ASCII, to cover UTF-8 lengths).
pub fn text() -> impl Strategy<Value = MqttString> {
    "[a-zA-Z0-9 _.é€😀-]{0,10}".prop_map(|s| MqttString::try_from(s).unwrap())
}

/// Non-empty text.
pub fn text1() -> impl Strategy<Value = MqttString> {
    "[a-zA-Z0-9_é]{1,10}".prop_map(|s| MqttString::try_from(s).unwrap())
}

pub fn bin() -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..12).prop_map(Bytes::from)
}

pub fn payload() -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..200).prop_map(Bytes::from)
}

pub fn qos() -> impl Strategy<Value = QoS> {
    prop_oneof![
        Just(QoS::AtMostOnce),
        Just(QoS::AtLeastOnce),
        Just(QoS::ExactlyOnce)
    ]
}

pub fn pid() -> impl Strategy<Value = PacketId> {
    (1..=u16::MAX).prop_map(|v| PacketId::new(v).unwrap())
}

fn level() -> impl Strategy<Value = String> {
    "[a-z0-9$ ]{0,4}"
}

/// A topic name: levels without wildcards, not empty.
pub fn topic_name() -> impl Strategy<Value = MqttString> {
    vec(level(), 1..5)
        .prop_map(|l| l.join("/"))
        .prop_filter("non-empty", |s| !s.is_empty())
        .prop_map(|s| MqttString::try_from(s).unwrap())
}

/// A valid topic filter (plain).
pub fn filter() -> impl Strategy<Value = MqttString> {
    let lvl = prop_oneof![3 => level(), 1 => Just("+".to_owned())];
    (vec(lvl, 1..5), any::<bool>())
        .prop_map(|(mut l, hash)| {
            if hash {
                l.push("#".to_owned());
            }
            l.join("/")
        })
        .prop_filter("non-empty", |s| !s.is_empty())
        .prop_map(|s| MqttString::try_from(s).unwrap())
}

/// A 5.0 filter: plain or `$share/{group}/{filter}`.
pub fn filter5() -> impl Strategy<Value = MqttString> {
    prop_oneof![
        3 => filter(),
        1 => ("[a-z]{1,4}", filter()).prop_map(|(g, f)| {
            MqttString::try_from(format!("$share/{g}/{f}")).unwrap()
        }),
    ]
}

pub fn users() -> impl Strategy<Value = UserProperties> {
    vec((text(), text()), 0..3)
}

fn flag() -> impl Strategy<Value = Option<bool>> {
    of(any::<bool>())
}

fn nz16() -> impl Strategy<Value = Option<u16>> {
    of(1..=u16::MAX)
}

fn nz32() -> impl Strategy<Value = Option<u32>> {
    of(1..=u32::MAX)
}

pub fn connect_props() -> impl Strategy<Value = ConnectProperties> {
    (
        (of(any::<u32>()), nz16(), nz32(), of(any::<u16>())),
        (flag(), flag(), users()),
        of((text(), of(bin()))),
    )
        .prop_map(|((sei, rm, mps, tam), (rri, rpi, user), auth)| {
            let (m, d) = match auth {
                Some((m, d)) => (Some(m), d),
                None => (None, None),
            };
            ConnectProperties {
                session_expiry_interval: sei,
                receive_maximum: rm,
                maximum_packet_size: mps,
                topic_alias_maximum: tam,
                request_response_information: rri,
                request_problem_information: rpi,
                user_properties: user,
                authentication_method: m,
                authentication_data: d,
            }
        })
}

pub fn will_props() -> impl Strategy<Value = WillProperties> {
    (
        (of(any::<u32>()), flag(), of(any::<u32>())),
        (of(text()), of(topic_name()), of(bin()), users()),
    )
        .prop_map(|((wdi, pfi, mei), (ct, rt, cd, user))| WillProperties {
            will_delay_interval: wdi,
            payload_format_indicator: pfi,
            message_expiry_interval: mei,
            content_type: ct,
            response_topic: rt,
            correlation_data: cd,
            user_properties: user,
        })
}

pub fn connect(v: Version) -> impl Strategy<Value = Connect> {
    let v5 = v == Version::V5;
    (
        (any::<bool>(), any::<u16>(), text()),
        of((topic_name(), bin(), qos(), any::<bool>(), will_props())),
        of(text()),
        of(bin()),
        connect_props(),
    )
        .prop_map(move |((clean, ka, id), will, user, pass, props)| Connect {
            version: v,
            clean_start: clean,
            keep_alive: ka,
            client_id: id,
            will: will.map(|(topic, payload, qos, retain, p)| Will {
                topic,
                payload,
                qos,
                retain,
                properties: if v5 { p } else { WillProperties::default() },
            }),
            // 3.1.1: a password only with a user name.
            password: if v5 || user.is_some() { pass } else { None },
            username: user,
            properties: if v5 {
                props
            } else {
                ConnectProperties::default()
            },
        })
}

fn codes_for(packet: PacketType) -> Vec<ReasonCode> {
    ALL_REASON_CODES
        .iter()
        .copied()
        .filter(|c| c.allowed_in(packet, None))
        .collect()
}

pub fn reason_for(packet: PacketType) -> impl Strategy<Value = ReasonCode> {
    proptest::sample::select(codes_for(packet))
}

pub fn connack_props() -> impl Strategy<Value = ConnAckProperties> {
    (
        (
            of(any::<u32>()),
            nz16(),
            of(prop_oneof![Just(QoS::AtMostOnce), Just(QoS::AtLeastOnce)]),
            flag(),
            nz32(),
            of(text()),
        ),
        (
            of(any::<u16>()),
            of(text()),
            users(),
            flag(),
            flag(),
            flag(),
        ),
        (
            of(any::<u16>()),
            of(text()),
            of(text()),
            of(text()),
            of(bin()),
        ),
    )
        .prop_map(
            |((sei, rm, mq, ra, mps, aci), (tam, rs, up, wsa, sia, ssa), (ska, ri, sr, am, ad))| {
                ConnAckProperties {
                    session_expiry_interval: sei,
                    receive_maximum: rm,
                    maximum_qos: mq,
                    retain_available: ra,
                    maximum_packet_size: mps,
                    assigned_client_identifier: aci,
                    topic_alias_maximum: tam,
                    reason_string: rs,
                    user_properties: up,
                    wildcard_subscription_available: wsa,
                    subscription_identifiers_available: sia,
                    shared_subscription_available: ssa,
                    server_keep_alive: ska,
                    response_information: ri,
                    server_reference: sr,
                    authentication_method: am,
                    authentication_data: ad,
                }
            },
        )
}

pub fn connack(v: Version) -> BoxedStrategy<ConnAck> {
    let code = if v == Version::V5 {
        reason_for(PacketType::ConnAck).boxed()
    } else {
        (0u8..=5)
            .prop_map(|c| ReasonCode::from_v311_connack(c).unwrap())
            .boxed()
    };
    (any::<bool>(), code, connack_props())
        .prop_map(move |(sp, code, props)| ConnAck {
            session_present: sp && code == ReasonCode::Success,
            code,
            properties: if v == Version::V5 {
                props
            } else {
                ConnAckProperties::default()
            },
        })
        .boxed()
}

pub fn publish_props() -> impl Strategy<Value = PublishProperties> {
    (
        (flag(), of(any::<u32>()), nz16(), of(topic_name())),
        (of(bin()), users(), vec(1..=MAX_VARINT, 0..3), of(text())),
    )
        .prop_map(|((pfi, mei, ta, rt), (cd, up, si, ct))| PublishProperties {
            payload_format_indicator: pfi,
            message_expiry_interval: mei,
            topic_alias: ta,
            response_topic: rt,
            correlation_data: cd,
            user_properties: up,
            subscription_identifiers: si,
            content_type: ct,
        })
}

pub fn publish(v: Version) -> impl Strategy<Value = Publish> {
    let v5 = v == Version::V5;
    (
        (qos(), any::<bool>(), any::<bool>(), pid()),
        topic_name(),
        any::<bool>(),
        publish_props(),
        payload(),
    )
        .prop_map(
            move |((qos, dup, retain, id), topic, alias_only, props, payload)| {
                let q0 = qos == QoS::AtMostOnce;
                let props = if v5 {
                    props
                } else {
                    PublishProperties::default()
                };
                // 5.0: an empty topic name when an alias stands for it.
                let topic = if v5 && alias_only && props.topic_alias.is_some() {
                    MqttString::default()
                } else {
                    topic
                };
                Publish {
                    dup: dup && !q0,
                    qos,
                    retain,
                    topic,
                    packet_id: (!q0).then_some(id),
                    properties: props,
                    payload,
                }
            },
        )
}

pub fn ack_props() -> impl Strategy<Value = AckProperties> {
    (of(text()), users()).prop_map(|(rs, up)| AckProperties {
        reason_string: rs,
        user_properties: up,
    })
}

pub fn pub_response(v: Version, packet: PacketType) -> impl Strategy<Value = PubResponse> {
    (pid(), reason_for(packet), ack_props(), any::<bool>()).prop_map(
        move |(id, reason, props, plain)| {
            if v == Version::V311 || plain {
                PubResponse::new(id)
            } else {
                PubResponse {
                    packet_id: id,
                    reason,
                    properties: props,
                }
            }
        },
    )
}

pub fn subscribe(v: Version) -> BoxedStrategy<Subscribe> {
    let v5 = v == Version::V5;
    let sub = (
        filter5(),
        filter(),
        qos(),
        any::<bool>(),
        any::<bool>(),
        0u8..3,
    )
        .prop_map(move |(f5, f4, qos, nl, rap, rh)| {
            if !v5 {
                return Subscription {
                    filter: f4,
                    options: SubscriptionOptions::new(qos),
                };
            }
            let shared = f5.as_str().starts_with("$share/");
            Subscription {
                filter: f5,
                options: SubscriptionOptions {
                    qos,
                    no_local: nl && !shared,
                    retain_as_published: rap,
                    retain_handling: match rh {
                        0 => RetainHandling::SendAtSubscribe,
                        1 => RetainHandling::SendIfNew,
                        _ => RetainHandling::DoNotSend,
                    },
                },
            }
        });
    (pid(), vec(sub, 1..4), of(1..=MAX_VARINT), users())
        .prop_map(move |(id, subs, sid, up)| Subscribe {
            packet_id: id,
            subscriptions: subs,
            properties: if v5 {
                SubscribeProperties {
                    subscription_identifier: sid,
                    user_properties: up,
                }
            } else {
                SubscribeProperties::default()
            },
        })
        .boxed()
}

pub fn suback(v: Version) -> BoxedStrategy<SubAck> {
    let code = if v == Version::V5 {
        reason_for(PacketType::SubAck).boxed()
    } else {
        proptest::sample::select(vec![
            ReasonCode::Success,
            ReasonCode::GrantedQoS1,
            ReasonCode::GrantedQoS2,
            ReasonCode::UnspecifiedError,
        ])
        .boxed()
    };
    (pid(), vec(code, 1..4), ack_props())
        .prop_map(move |(id, codes, p)| SubAck {
            packet_id: id,
            codes,
            properties: if v == Version::V5 {
                p
            } else {
                AckProperties::default()
            },
        })
        .boxed()
}

pub fn unsubscribe(v: Version) -> impl Strategy<Value = Unsubscribe> {
    let v5 = v == Version::V5;
    (pid(), vec(filter5(), 1..4), vec(filter(), 1..4), users()).prop_map(move |(id, f5, f4, up)| {
        Unsubscribe {
            packet_id: id,
            filters: if v5 { f5 } else { f4 },
            properties: UnsubscribeProperties {
                user_properties: if v5 { up } else { Vec::new() },
            },
        }
    })
}

pub fn unsuback(v: Version) -> impl Strategy<Value = UnsubAck> {
    let v5 = v == Version::V5;
    (
        pid(),
        vec(reason_for(PacketType::UnsubAck), 1..4),
        ack_props(),
    )
        .prop_map(move |(id, codes, p)| UnsubAck {
            packet_id: id,
            codes: if v5 { codes } else { Vec::new() },
            properties: if v5 { p } else { AckProperties::default() },
        })
}

pub fn disconnect(v: Version) -> impl Strategy<Value = Disconnect> {
    (
        reason_for(PacketType::Disconnect),
        of(any::<u32>()),
        of(text()),
        users(),
        of(text()),
    )
        .prop_map(move |(reason, sei, rs, up, sr)| {
            if v == Version::V311 {
                return Disconnect::default();
            }
            Disconnect {
                reason,
                properties: DisconnectProperties {
                    session_expiry_interval: sei,
                    reason_string: rs,
                    user_properties: up,
                    server_reference: sr,
                },
            }
        })
}

pub fn auth() -> impl Strategy<Value = Auth> {
    (
        reason_for(PacketType::Auth),
        any::<bool>(),
        text(),
        of(bin()),
        of(text()),
        users(),
    )
        .prop_map(|(reason, empty, m, d, rs, up)| {
            if empty {
                return Auth::default();
            }
            Auth {
                reason,
                properties: AuthProperties {
                    authentication_method: Some(m),
                    authentication_data: d,
                    reason_string: rs,
                    user_properties: up,
                },
            }
        })
}

/// Any packet valid in `v` (decoded with [`Peer::Any`]).
pub fn packet(v: Version) -> BoxedStrategy<Packet> {
    let mut s = vec![
        connect(v)
            .prop_map(|c| Packet::Connect(Box::new(c)))
            .boxed(),
        connack(v)
            .prop_map(|c| Packet::ConnAck(Box::new(c)))
            .boxed(),
        publish(v).prop_map(Packet::Publish).boxed(),
        pub_response(v, PacketType::PubAck)
            .prop_map(Packet::PubAck)
            .boxed(),
        pub_response(v, PacketType::PubRec)
            .prop_map(Packet::PubRec)
            .boxed(),
        pub_response(v, PacketType::PubRel)
            .prop_map(Packet::PubRel)
            .boxed(),
        pub_response(v, PacketType::PubComp)
            .prop_map(Packet::PubComp)
            .boxed(),
        subscribe(v).prop_map(Packet::Subscribe).boxed(),
        suback(v).prop_map(Packet::SubAck).boxed(),
        unsubscribe(v).prop_map(Packet::Unsubscribe).boxed(),
        unsuback(v).prop_map(Packet::UnsubAck).boxed(),
        Just(Packet::PingReq).boxed(),
        Just(Packet::PingResp).boxed(),
        disconnect(v).prop_map(Packet::Disconnect).boxed(),
    ];
    if v == Version::V5 {
        s.push(auth().prop_map(Packet::Auth).boxed());
    }
    proptest::strategy::Union::new(s).boxed()
}

pub fn version() -> impl Strategy<Value = Version> {
    prop_oneof![Just(Version::V311), Just(Version::V5)]
}

/// Limits that accept everything the strategies make.
pub fn any_limits() -> Limits {
    Limits {
        peer: Peer::Any,
        max_packet_size: 268_435_460,
        ..Limits::server()
    }
}
