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
use crate::proto::mqtt::{
    self, ConnAck, ConnAckProperties, Connect, MqttError, Packet, ReasonCode, Version,
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

/// The refusal of a CONNECT asking for MQTT 5 enhanced authentication
/// (an Authentication Method): no method is supported, so CONNACK 0x8C Bad
/// authentication method (section 4.12: the server may refuse a method it
/// does not support). Logins go through user name and password (WAMP
/// `ticket`) or a TLS client certificate (`tls`).
pub(super) fn auth_refusal(c: &Connect, peer: &str) -> Option<ReasonCode> {
    let method = c.properties.authentication_method.as_ref()?;
    tracing::debug!(%peer, method = %method, "MQTT CONNECT with an unsupported authentication method: refused");
    Some(ReasonCode::BadAuthenticationMethod)
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
    if c.username.is_some() && c.password.is_some() {
        methods.push(Value::Str("ticket".into()));
    }
    methods.push(Value::Str("anonymous".into()));
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
        realm: svc.realm.clone(),
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
        assert_eq!(auth_refusal(&connect(&[]), "p"), None);
        // Authentication Method "SCRAM-SHA-1", with and without data.
        let mut method = vec![0x15, 0, 11];
        method.extend_from_slice(b"SCRAM-SHA-1");
        let c = connect(&method);
        assert_eq!(
            auth_refusal(&c, "p"),
            Some(ReasonCode::BadAuthenticationMethod)
        );
        method.extend_from_slice(&[0x16, 0, 2, b'n', b',']);
        let c = connect(&method);
        assert_eq!(
            auth_refusal(&c, "p"),
            Some(ReasonCode::BadAuthenticationMethod)
        );
        assert_eq!(
            refusal(Version::V5, ReasonCode::BadAuthenticationMethod),
            vec![0x20, 3, 0, 0x8C, 0],
            "CONNACK, session present 0, 0x8C, no properties"
        );
    }
}
