//! The CONNECT phase's pieces: reading the first packet, the CONNACK of a
//! refusal, the decoder limits of a service's clients and the HELLO a
//! CONNECT stands for. The driver (`conn.rs`) runs them.
//!
//! Imports the codec, the service's settings and the transport's socket
//! helpers; nothing else of the MQTT front end.

use std::future::poll_fn;
use std::task::{Context, Poll};

use bytes::BytesMut;

use super::Service;
use super::state::{Phase, State};
use crate::proto::mqtt::{
    self, Auth, AuthProperties, ConnAck, ConnAckProperties, Connect, MqttError, MqttString, Packet,
    ReasonCode, Version,
};
use crate::proto::{Dict, Hello, Message, Value};
use crate::transport::Stream;
use crate::transport::conn::with_scratch;
use crate::transport::socket::Socket;

/// The decoder limits of `svc`'s clients.
pub(super) fn decode_limits(svc: &Service) -> mqtt::Limits {
    mqtt::Limits {
        max_packet_size: svc.limits.max_packet_size as u32,
        max_topic_len: svc.limits.max_topic_length.min(u16::MAX as usize) as u16,
        max_topic_levels: svc.limits.max_topic_levels.min(u16::MAX as usize) as u16,
        peer: mqtt::Peer::Client,
        validate_payload_format: false,
    }
}

/// A refused CONNECT: the CONNACK to send (if any).
pub(super) type Refusal = Option<(Vec<u8>, ReasonCode)>;

/// Reads until a whole first packet is in `buf` and decodes it: a CONNECT,
/// or a refusal (CONNACK with the code the error names, when the version is known).
pub(super) async fn read_connect(
    sock: &mut Stream,
    buf: &mut BytesMut,
    limits: &mqtt::Limits,
) -> Result<Box<Connect>, Refusal> {
    loop {
        match mqtt::decode(buf, None, limits) {
            Ok(Some(Packet::Connect(c))) => return Ok(c),
            Ok(Some(_)) => return Err(None),
            Ok(None) => {}
            Err(e) => return Err(connack_for_error(buf, &e)),
        }
        let n = poll_fn(|cx| with_scratch(|s| read_into(sock, cx, s, buf))).await;
        if n == 0 {
            return Err(None);
        }
    }
}

fn read_into(
    sock: &mut Stream,
    cx: &mut Context<'_>,
    scratch: &mut [u8],
    buf: &mut BytesMut,
) -> Poll<usize> {
    match sock.poll_read(cx, scratch) {
        Poll::Pending => Poll::Pending,
        Poll::Ready(Ok(n)) => {
            buf.extend_from_slice(&scratch[..n]);
            Poll::Ready(n)
        }
        Poll::Ready(Err(_)) => Poll::Ready(0),
    }
}

/// The CONNACK answering a CONNECT that did not decode.
pub(super) fn connack_for_error(buf: &[u8], e: &MqttError) -> Refusal {
    // An unknown protocol level gets the 3.1.1 answer (MQTT-3.1.2-2).
    let version = match mqtt::peek_connect_version(buf) {
        Some(v) => v,
        None if e.v311_connack_code().is_some() => Version::V311,
        None => return None,
    };
    let code = match version {
        Version::V5 => e.reason_code(),
        Version::V311 => ReasonCode::from_v311_connack(e.v311_connack_code()?)?,
    };
    let c = ConnAck {
        session_present: false,
        code,
        properties: ConnAckProperties::default(),
    };
    let mut out = BytesMut::new();
    mqtt::encode(&Packet::ConnAck(Box::new(c)), version, &mut out).ok()?;
    Some((out.to_vec(), code))
}

/// A random client identifier for a client that gave none.
pub(super) fn assigned_client_id() -> String {
    format!("junction-{:016x}", rand::random::<u64>())
}

/// The MQTT 5 Authentication Method of WAMP-CRA through AUTH packets: the
/// CONNECT names it with a User Name (the authid), the server's AUTH
/// (0x18 Continue authentication) carries the router's CHALLENGE extra as
/// JSON Authentication Data (`challenge`, and `salt`, `iterations`,
/// `keylen` for salted secrets), the client's AUTH (0x18) carries the
/// signature (base64 HMAC-SHA256 of `challenge`), and CONNACK names the
/// method again. The transport's `auth.wampcra` checks it, as for WAMP.
pub const WAMP_CRA: &str = "WAMP-CRA";

/// The refusal of a CONNECT asking for MQTT 5 enhanced authentication
/// that the service does not offer: CONNACK 0x8C Bad authentication method
/// (section 4.12: the server may refuse a method it does not support).
/// Offered: [`WAMP_CRA`] with a User Name, when the transport's `auth` has
/// `wampcra`.
pub(super) fn auth_refusal(svc: &Service, c: &Connect, peer: &str) -> Option<ReasonCode> {
    let method = c.properties.authentication_method.as_ref()?;
    if method.as_str() == WAMP_CRA && c.username.is_some() && offers_wampcra(svc) {
        return None;
    }
    tracing::debug!(%peer, method = %method, "MQTT CONNECT with an unsupported authentication method: refused");
    Some(ReasonCode::BadAuthenticationMethod)
}

fn offers_wampcra(svc: &Service) -> bool {
    matches!(&svc.transport.kind, crate::config::TransportKind::Mqtt(m) if m.auth.wampcra.is_some())
}

/// The Authentication Method of an enhanced authentication in progress
/// (the CONNECT named one; no CONNACK yet).
pub(super) fn enhanced_auth(s: &State) -> Option<&MqttString> {
    if s.phase != Phase::Joining {
        return None;
    }
    s.rare
        .connack
        .as_ref()?
        .properties
        .authentication_method
        .as_ref()
}

/// Whether the connection reads packets: once up, and before CONNACK
/// while an enhanced authentication waits for the client's AUTH.
pub(super) fn reading(s: &State) -> bool {
    s.phase == Phase::Up || enhanced_auth(s).is_some()
}

/// The router's CHALLENGE as an AUTH packet (enhanced authentication), or
/// `None` when the connection is in none.
pub(super) fn challenge_auth(s: &State, method: &str, extra: &Dict) -> Option<Packet> {
    let m = enhanced_auth(s)?;
    if method != "wampcra" || m.as_str() != WAMP_CRA {
        return None;
    }
    let mut data = BytesMut::new();
    crate::proto::codec::json::encode_value(&Value::Dict(extra.clone()), &mut data);
    Some(Packet::Auth(Auth {
        reason: ReasonCode::ContinueAuthentication,
        properties: AuthProperties {
            authentication_method: Some(m.clone()),
            authentication_data: Some(data.freeze()),
            ..Default::default()
        },
    }))
}

/// The client's AUTH during an enhanced authentication: the AUTHENTICATE
/// it stands for.
///
/// # Errors
/// The Protocol Error when no authentication is in progress, or the AUTH
/// names another method or reason.
pub(super) fn client_auth(s: &State, a: &Auth) -> Result<Message, &'static str> {
    let Some(m) = enhanced_auth(s) else {
        return Err("AUTH without an enhanced authentication method");
    };
    if a.reason != ReasonCode::ContinueAuthentication
        || a.properties.authentication_method.as_ref() != Some(m)
    {
        return Err("AUTH with another method or reason");
    }
    let signature = a
        .properties
        .authentication_data
        .as_ref()
        .map(|d| String::from_utf8_lossy(d).into_owned())
        .unwrap_or_default();
    Ok(Message::Authenticate(crate::proto::Authenticate {
        signature,
        extra: Dict::new(),
    }))
}

/// An encoded CONNACK refusal.
pub(super) fn refusal(version: Version, code: ReasonCode) -> Vec<u8> {
    let c = ConnAck {
        session_present: false,
        code,
        properties: ConnAckProperties::default(),
    };
    let mut out = BytesMut::new();
    let _ = mqtt::encode(&Packet::ConnAck(Box::new(c)), version, &mut out);
    out.to_vec()
}

/// The HELLO a CONNECT stands for: user name and password offer `ticket`
/// (then `anonymous`, for services that take anyone), no credentials offer
/// `anonymous`; the authid asked for is the user name, else the client
/// identifier; `authextra.mqtt` carries the client's details.
pub(super) fn hello(svc: &Service, c: &Connect, client_id: &str, certificate: bool) -> Message {
    let mut methods = Vec::new();
    if certificate {
        // A TLS client certificate comes first (the transport's `auth.tls`;
        // skipped by the router when the transport has no such method).
        methods.push(Value::Str("tls".into()));
    }
    let cra = c
        .properties
        .authentication_method
        .as_ref()
        .is_some_and(|m| m.as_str() == WAMP_CRA);
    if cra {
        // Enhanced authentication asked for: that method only.
        methods.clear();
        methods.push(Value::Str("wampcra".into()));
    } else {
        if c.username.is_some() && c.password.is_some() {
            methods.push(Value::Str("ticket".into()));
        }
        methods.push(Value::Str("anonymous".into()));
    }
    let authid = c
        .username
        .as_ref()
        .map_or(client_id, |u| u.as_str())
        .to_owned();
    let mqtt = Dict::new()
        .with("client_id", client_id)
        .with("protocol_level", u64::from(c.version.level()))
        .with("will", c.will.is_some());
    let roles = Dict::new()
        .with(
            "subscriber",
            Dict::new().with(
                "features",
                Dict::new().with("pattern_based_subscription", true),
            ),
        )
        .with("publisher", Dict::new().with("features", Dict::new()));
    let dynamic = svc
        .payload_mapping
        .values()
        .any(|f| matches!(f, crate::config::mqtt::PayloadFormat::Dynamic { .. }));
    let roles = if svc.limits.request_response || dynamic {
        // MQTT 5 requests become CALLs (see `request.rs`), and so do
        // conversions of `dynamic` payloads (`dynamic.rs`).
        roles.with("caller", Dict::new().with("features", Dict::new()))
    } else {
        roles
    };
    let details = Dict::new()
        .with("authmethods", Value::List(methods))
        .with("authid", authid)
        .with("authextra", Dict::new().with("mqtt", mqtt))
        .with("roles", roles)
        .with("agent", "mqtt");
    Message::Hello(Hello {
        realm: Some(svc.realm.clone()),
        details,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 5.0 CONNECT with these properties (client identifier `c`).
    fn connect(props: &[u8]) -> Connect {
        let mut body = vec![0, 4, b'M', b'Q', b'T', b'T', 5, 0x02, 0, 60];
        body.push(u8::try_from(props.len()).expect("short"));
        body.extend_from_slice(props);
        body.extend_from_slice(&[0, 1, b'c']);
        let mut buf = BytesMut::from(&[0x10, u8::try_from(body.len()).expect("short")][..]);
        buf.extend_from_slice(&body);
        match mqtt::decode(&mut buf, None, &mqtt::Limits::server()) {
            Ok(Some(Packet::Connect(c))) => *c,
            other => panic!("a CONNECT, not {other:?}"),
        }
    }

    #[test]
    fn an_authentication_method_is_refused_with_0x8c() {
        let svc = Service::default_for_tests();
        assert_eq!(auth_refusal(&svc, &connect(&[]), "p"), None);
        // Authentication Method "SCRAM-SHA-1", with and without data.
        let mut method = vec![0x15, 0, 11];
        method.extend_from_slice(b"SCRAM-SHA-1");
        let c = connect(&method);
        assert_eq!(
            auth_refusal(&svc, &c, "p"),
            Some(ReasonCode::BadAuthenticationMethod)
        );
        method.extend_from_slice(&[0x16, 0, 2, b'n', b',']);
        let c = connect(&method);
        assert_eq!(
            auth_refusal(&svc, &c, "p"),
            Some(ReasonCode::BadAuthenticationMethod)
        );
        // WAMP-CRA on a service without `wampcra`: refused too.
        let mut cra = vec![0x15, 0, 8];
        cra.extend_from_slice(WAMP_CRA.as_bytes());
        assert_eq!(
            auth_refusal(&svc, &connect(&cra), "p"),
            Some(ReasonCode::BadAuthenticationMethod)
        );
        assert_eq!(
            refusal(Version::V5, ReasonCode::BadAuthenticationMethod),
            vec![0x20, 3, 0, 0x8C, 0],
            "CONNACK, session present 0, 0x8C, no properties"
        );
    }

    fn joining(method: Option<&'static str>) -> State {
        let mut s = State::new(
            std::rc::Rc::new(Service::default_for_tests()),
            Version::V5,
            "c",
        );
        s.rare.connack = Some(Box::new(ConnAck {
            session_present: false,
            code: ReasonCode::Success,
            properties: ConnAckProperties {
                authentication_method: method.map(MqttString::from_static),
                ..Default::default()
            },
        }));
        s
    }

    fn auth(reason: ReasonCode, method: &'static str, data: &'static [u8]) -> Auth {
        Auth {
            reason,
            properties: AuthProperties {
                authentication_method: Some(MqttString::from_static(method)),
                authentication_data: Some(bytes::Bytes::from_static(data)),
                ..Default::default()
            },
        }
    }

    #[test]
    fn wamp_cra_goes_through_auth_packets() {
        let mut s = joining(Some(WAMP_CRA));
        assert!(reading(&s), "AUTH is read before CONNACK");
        let extra = Dict::new().with("challenge", "{\"nonce\":\"n\"}");
        let Some(Packet::Auth(a)) = challenge_auth(&s, "wampcra", &extra) else {
            panic!("an AUTH");
        };
        assert_eq!(a.reason, ReasonCode::ContinueAuthentication);
        assert_eq!(
            a.properties.authentication_data.as_deref(),
            Some(&br#"{"challenge":"{\"nonce\":\"n\"}"}"#[..])
        );
        assert!(challenge_auth(&s, "ticket", &extra).is_none());
        let m = client_auth(
            &s,
            &auth(ReasonCode::ContinueAuthentication, WAMP_CRA, b"sig=="),
        )
        .expect("an AUTHENTICATE");
        assert!(matches!(m, Message::Authenticate(a) if a.signature == "sig=="));
        assert!(
            client_auth(&s, &auth(ReasonCode::ReAuthenticate, WAMP_CRA, b"x")).is_err(),
            "another reason"
        );
        assert!(
            client_auth(
                &s,
                &auth(ReasonCode::ContinueAuthentication, "SCRAM-SHA-1", b"x")
            )
            .is_err(),
            "another method"
        );
        s.phase = Phase::Up;
        assert!(
            client_auth(
                &s,
                &auth(ReasonCode::ContinueAuthentication, WAMP_CRA, b"x")
            )
            .is_err()
        );
        // Without enhanced authentication nothing is read before CONNACK.
        assert!(!reading(&joining(None)));
    }
}
