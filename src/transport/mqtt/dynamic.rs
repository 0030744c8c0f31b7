//! The `dynamic` payload mapping (Crossbar.io's): WAMP procedures convert
//! payloads. Under a prefix mapped `{"type": "dynamic", "decoder": D,
//! "encoder": E}`:
//!
//! - **MQTT → WAMP**: a client's PUBLISH becomes a CALL of `D(uri, topic,
//!   payload)` (the WAMP URI, the MQTT topic, the payload as bytes); the
//!   answer, Crossbar's dictionary `{"args": [...], "kwargs": {...}}` (and
//!   the publish options `exclude*`/`eligible*`), is the WAMP payload of the
//!   publication. MQTT subscribers still get the payload as published (MQTT
//!   → MQTT is untouched).
//! - **WAMP → MQTT**: a WAMP publication that reaches an MQTT session
//!   becomes a CALL of `E(topic, uri, args, kwargs)` (the MQTT topic, the
//!   WAMP URI, the payload's args and kwargs or null); the answer (bytes, or
//!   a string sent as UTF-8) is the MQTT payload.
//!
//! The calls are made by the client's own session (as MQTT 5 requests are,
//! see `request.rs`), so its role needs `call` on the two procedures, and
//! time out after the listener's `dynamic_timeout`. A call that fails (an
//! error, no callee, the timeout, an answer of another shape) drops its
//! message with a log line: a QoS 1/2 PUBLISH is answered 0x83
//! (Implementation specific error, 5.0) so the client moves on. Nothing
//! stalls: the client's later PUBLISHes wait behind one being decoded (its
//! publications keep their order, and so do the acknowledgements), at most
//! `max_inflight` decodes wait (one more PUBLISH on such a topic is refused
//! with 0x97), and deliveries waiting for the encoder (at most
//! `max_queued_messages`) go out in the order they came, after the ones
//! before them on the same topic (MQTT's order is per topic).
//!
//! Imports the connection state, its codec queues (`codec.rs`) and the
//! mapping; the sink places encoded deliveries (it hands [`answered`] its
//! placing function, so this module does not import the sink).

use std::rc::Rc;

use bytes::Bytes;

use super::codec::{In, Out};
use super::mapping;
use super::out::{Matched, Msg};
use super::state::State;
use crate::core::api::CALL_ON_REALM_OPTION;
use crate::core::outbox::Overflow;
use crate::proto::mqtt::{MqttString, PublishProperties, PublishTemplate, ReasonCode};
use crate::proto::{Call, Dict, Message, Payload, PublicationId, RequestId, Value};

/// Whether the client's publications wait behind a decode.
pub fn holding(s: &State) -> bool {
    s.rare.codec.as_ref().is_some_and(|c| !c.inbound.is_empty())
}

/// Whether `request` is a CALL of this module.
pub fn waits(s: &State, request: RequestId) -> bool {
    s.rare.codec.as_ref().is_some_and(|c| {
        c.inbound.iter().any(|i| i.call == Some(request))
            || c.outbound.iter().any(|o| o.call == request)
    })
}

/// The CALL of `procedure` with `args`, timed out after `dynamic_timeout`;
/// made by the router on `realm` when the mapping names a realm other than
/// the client's ([`CALL_ON_REALM_OPTION`]).
fn call(
    s: &mut State,
    procedure: &str,
    realm: Option<&str>,
    args: Vec<Value>,
) -> (RequestId, Message) {
    let request = s.request();
    let mut options = Dict::new().with("timeout", s.svc.limits.dynamic_timeout_ms);
    if let Some(realm) = realm.filter(|r| *r != s.svc.realm) {
        options.insert(CALL_ON_REALM_OPTION, realm);
    }
    let m = Message::Call(Call {
        request,
        options,
        procedure: procedure.to_owned(),
        payload: Payload::args(args),
    });
    (request, m)
}

/// Whether another decode may wait (at most `max_inflight`).
pub fn may_decode(s: &State) -> bool {
    let waiting = s
        .rare
        .codec
        .as_ref()
        .map_or(0, |c| c.inbound.iter().filter(|i| i.call.is_some()).count());
    waiting < usize::from(s.svc.limits.max_inflight)
}

/// Holds `publish` (request `request`) for `decoder` and feeds the CALL.
pub fn decode(
    s: &mut State,
    (decoder, realm): (&str, Option<&str>),
    topic: &str,
    payload: &Bytes,
    publish: Message,
    request: RequestId,
    feed: &mut Vec<Message>,
) {
    let uri = match &publish {
        Message::Publish(p) => p.topic.clone(),
        _ => String::new(),
    };
    let (id, m) = call(
        s,
        decoder,
        realm,
        vec![
            Value::Str(uri),
            Value::Str(topic.to_owned()),
            Value::Bytes(payload.clone()),
        ],
    );
    s.rare.codec.get_or_insert_default().inbound.push_back(In {
        call: Some(id),
        msgs: vec![publish],
        failed: Some((request, ReasonCode::ImplementationSpecificError)),
    });
    feed.push(m);
}

/// Holds messages that need no decoding behind those that wait.
pub fn hold(s: &mut State, msgs: Vec<Message>) {
    s.rare.codec.get_or_insert_default().inbound.push_back(In {
        call: None,
        msgs,
        failed: None,
    });
}

/// Asks `encoder` for the MQTT payload of a WAMP publication matched by
/// the session; delivered when the answer comes. `Ok(false)`: dropped
/// (too many wait).
#[allow(clippy::too_many_arguments)]
pub fn encode(
    s: &mut State,
    (encoder, realm): (&str, Option<&str>),
    topic: MqttString,
    uri: &str,
    payload: &Payload,
    matched: Matched,
    publication: PublicationId,
    retained: bool,
    retain: bool,
) -> bool {
    let waiting = s.rare.codec.as_ref().map_or(0, |c| c.outbound.len());
    if waiting >= s.svc.limits.max_queued_messages.max(1) {
        tracing::debug!(client = %s.client_id, topic = %topic, "MQTT dynamic encoder: too many waiting, dropped");
        s.svc.stats.dropped(1);
        return false;
    }
    let args = payload.args.clone().map_or(Value::Null, Value::List);
    let kwargs = payload.kwargs.clone().map_or(Value::Null, Value::Dict);
    let (id, m) = call(
        s,
        encoder,
        realm,
        vec![
            Value::Str(topic.as_str().to_owned()),
            Value::Str(uri.to_owned()),
            args,
            kwargs,
        ],
    );
    s.rare
        .codec
        .get_or_insert_default()
        .outbound
        .push_back(Out {
            call: id,
            payload: None,
            topic,
            matched,
            publication,
            retained,
            retain,
        });
    s.rare.todo.push(m);
    s.wake();
    true
}

/// The router answered one of this module's CALLs: the publication or
/// delivery gets its payload (or is dropped), and what is ready at the
/// front of each queue goes on.
///
/// # Errors
/// [`Overflow`] when the client's outgoing queue is full.
pub fn answered(
    s: &mut State,
    request: RequestId,
    outcome: Result<Payload, (String, Payload)>,
    place: Place,
) -> Result<(), Overflow> {
    let Some(c) = s.rare.codec.as_mut() else {
        return Ok(());
    };
    if let Some(i) = c.inbound.iter_mut().find(|i| i.call == Some(request)) {
        i.call = None;
        match decoded(outcome) {
            Ok((payload, options)) => {
                if let Some(Message::Publish(p)) = i.msgs.first_mut() {
                    p.payload = payload;
                    for (k, v) in options.0 {
                        p.options.insert(k, v);
                    }
                }
                i.failed = None;
            }
            Err(why) => {
                tracing::info!(client = %s.client_id, why, "MQTT dynamic decoder failed: message dropped");
                i.msgs.clear();
            }
        }
    } else if let Some(o) = c.outbound.iter_mut().find(|o| o.call == request) {
        o.payload = Some(match encoded(outcome) {
            Ok(b) => Some(b),
            Err(why) => {
                tracing::info!(client = %s.client_id, why, "MQTT dynamic encoder failed: message dropped");
                None
            }
        });
    }
    release(s, place)
}

/// How an encoded delivery is placed (`sink::place`: sent, queued for an
/// away client, or dropped); handed in by the sink, which calls this module.
pub type Place = fn(
    &mut State,
    Rc<Msg>,
    Rc<PublishTemplate>,
    Matched,
    PublicationId,
    bool,
    bool,
) -> Result<bool, Overflow>;

/// Feeds and delivers what is ready at the front of the queues.
fn release(s: &mut State, place: Place) -> Result<(), Overflow> {
    let mut fed = false;
    while let Some(i) = s
        .rare
        .codec
        .as_mut()
        .and_then(|c| {
            c.inbound
                .front()
                .is_some_and(|i| i.call.is_none())
                .then(|| c.inbound.pop_front())
        })
        .flatten()
    {
        fed |= !i.msgs.is_empty();
        s.rare.todo.extend(i.msgs);
        if let Some((request, code)) = i.failed {
            s.publish_answer(request, code)?;
        }
    }
    if fed {
        s.wake();
    }
    while let Some(o) = s
        .rare
        .codec
        .as_mut()
        .and_then(|c| {
            c.outbound
                .front()
                .is_some_and(|o| o.payload.is_some())
                .then(|| c.outbound.pop_front())
        })
        .flatten()
    {
        let Some(Some(payload)) = o.payload else {
            continue;
        };
        let msg = Rc::new(Msg {
            publication: o.publication,
            topic: o.topic,
            payload,
            props: PublishProperties::default(),
            at_ms: 0,
        });
        let Some(tmpl) = msg.template(o.matched.qos, s.version) else {
            continue;
        };
        place(s, msg, tmpl, o.matched, o.publication, o.retained, o.retain)?;
    }
    if s.rare
        .codec
        .as_ref()
        .is_some_and(|c| c.inbound.is_empty() && c.outbound.is_empty())
    {
        s.rare.codec = None;
    }
    Ok(())
}

/// The WAMP payload and publish options a decoder answered.
fn decoded(outcome: Result<Payload, (String, Payload)>) -> Result<(Payload, Dict), String> {
    let p = outcome.map_err(|(e, _)| e)?;
    match p.args.and_then(|a| a.into_iter().next()) {
        Some(Value::Dict(d)) => mapping::dict_to_wamp(d)
            .ok_or_else(|| "args or kwargs of the wrong type in the answer".to_owned()),
        _ => Err("the answer is not a dictionary {args, kwargs}".to_owned()),
    }
}

/// The MQTT payload an encoder answered.
fn encoded(outcome: Result<Payload, (String, Payload)>) -> Result<Bytes, String> {
    let p = outcome.map_err(|(e, _)| e)?;
    match p.args.and_then(|a| a.into_iter().next()) {
        Some(Value::Bytes(b)) => Ok(b),
        Some(Value::Str(s)) => Ok(Bytes::from(s.into_bytes())),
        _ => Err("the answer is not bytes or a string".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    /// Places as the sink does.
    const PLACE: Place = crate::transport::mqtt::sink::place;
    use super::*;
    use crate::config::mqtt::PayloadFormat;
    use crate::proto::mqtt::{QoS, Version};
    use crate::transport::mqtt::Service;
    use crate::transport::mqtt::out::SubIds;
    use crate::transport::mqtt::state::Phase;

    fn state() -> State {
        let mut svc = Service::default_for_tests();
        svc.payload_mapping.insert(
            "dev.".into(),
            PayloadFormat::Dynamic {
                encoder: "codec.enc".into(),
                decoder: "codec.dec".into(),
                realm: None,
            },
        );
        svc.limits.max_inflight = 2;
        svc.limits.dynamic_timeout_ms = 1500;
        let mut s = State::new(Rc::new(svc), Version::V5, "c");
        s.phase = Phase::Up;
        s
    }

    fn publish(s: &mut State, topic: &str) -> (RequestId, Message) {
        let request = s.request();
        let m = Message::Publish(crate::proto::Publish {
            request,
            options: Dict::new(),
            topic: topic.to_owned(),
            payload: Payload::empty(),
        });
        (request, m)
    }

    fn topics(todo: &[Message]) -> Vec<String> {
        todo.iter()
            .filter_map(|m| match m {
                Message::Publish(p) => Some(format!("{}:{:?}", p.topic, p.payload.args)),
                _ => None,
            })
            .collect()
    }

    /// A codec on another realm is called by the router there: the CALL
    /// names that realm (`CALL_ON_REALM_OPTION`); on the client's own realm
    /// it is the client's call, as before.
    #[test]
    fn a_codec_on_another_realm_is_called_there() {
        let mut s = state();
        let own = s.svc.realm.clone();
        for (realm, named) in [
            (Some("codec"), Some("codec")),
            (Some(own.as_str()), None),
            (None, None),
        ] {
            let mut feed = Vec::new();
            let (r, p) = publish(&mut s, "dev.a");
            decode(
                &mut s,
                ("codec.dec", realm),
                "dev/a",
                &Bytes::new(),
                p,
                r,
                &mut feed,
            );
            let Some(Message::Call(c)) = feed.last() else {
                panic!("a CALL, not {feed:?}");
            };
            assert_eq!(
                c.options.get(CALL_ON_REALM_OPTION).and_then(Value::as_str),
                named,
                "{realm:?}"
            );
            // Answer it, so that the next decode may wait.
            let req = c.request;
            let _ = answered(&mut s, req, Err(("x".into(), Payload::empty())), PLACE);
        }
    }

    #[test]
    fn decoded_publications_go_in_arrival_order() {
        let mut s = state();
        let mut feed = Vec::new();
        let (r1, p1) = publish(&mut s, "dev.a");
        decode(
            &mut s,
            ("codec.dec", None),
            "dev/a",
            &Bytes::from_static(b"1"),
            p1,
            r1,
            &mut feed,
        );
        let Message::Call(c1) = &feed[0] else {
            panic!("a CALL, not {:?}", feed[0]);
        };
        assert_eq!(c1.procedure, "codec.dec");
        assert_eq!(
            c1.payload.args,
            Some(vec![
                Value::Str("dev.a".into()),
                Value::Str("dev/a".into()),
                Value::Bytes(Bytes::from_static(b"1"))
            ])
        );
        assert_eq!(c1.options.get("timeout"), Some(&Value::Int(1500)));
        let c1 = c1.request;
        assert!(holding(&s) && waits(&s, c1));
        // A plain publication behind it waits too; a second decode as well.
        let (_, plain) = publish(&mut s, "other");
        hold(&mut s, vec![plain]);
        let (r3, p3) = publish(&mut s, "dev.b");
        decode(
            &mut s,
            ("codec.dec", None),
            "dev/b",
            &Bytes::from_static(b"3"),
            p3,
            r3,
            &mut feed,
        );
        let Message::Call(c3) = &feed[1] else {
            panic!("a CALL");
        };
        let c3 = c3.request;
        assert!(!may_decode(&s), "max_inflight (2) decodes wait");
        // The second answer first: nothing moves until the first comes.
        let answer = |v: i64| {
            Ok(Payload::args(vec![Value::Dict(
                Dict::new().with("args", Value::List(vec![Value::Int(v)])),
            )]))
        };
        answered(&mut s, c3, answer(3), PLACE).expect("room");
        assert!(s.rare.todo.is_empty());
        answered(&mut s, c1, answer(1), PLACE).expect("room");
        assert_eq!(
            topics(&s.rare.todo),
            vec!["dev.a:Some([Int(1)])", "other:None", "dev.b:Some([Int(3)])"]
        );
        assert!(s.rare.codec.is_none(), "nothing left");
    }

    #[test]
    fn a_failed_decode_drops_its_message_and_answers_it() {
        let mut s = state();
        let mut feed = Vec::new();
        let (r1, p1) = publish(&mut s, "dev.a");
        s.rare.pending_pubs.insert(
            r1,
            (
                crate::proto::mqtt::PacketId::new(7).expect("non-zero"),
                QoS::AtLeastOnce,
                false,
            ),
        );
        s.inflight_in = 1;
        decode(
            &mut s,
            ("codec.dec", None),
            "dev/a",
            &Bytes::from_static(b"x"),
            p1,
            r1,
            &mut feed,
        );
        let (_, plain) = publish(&mut s, "other");
        hold(&mut s, vec![plain]);
        let Message::Call(c) = &feed[0] else {
            panic!("a CALL");
        };
        answered(
            &mut s,
            c.request,
            Err(("wamp.error.canceled".into(), Payload::empty())),
            PLACE,
        )
        .expect("room");
        assert_eq!(
            topics(&s.rare.todo),
            vec!["other:None"],
            "only the plain one"
        );
        assert!(
            s.rare.pending_pubs.is_empty() && s.inflight_in == 0,
            "PUBACK 0x83 sent"
        );
        // An answer of the wrong shape fails too.
        assert!(decoded(Ok(Payload::args(vec![Value::Int(1)]))).is_err());
        assert!(
            decoded(Ok(Payload::args(vec![Value::Dict(
                Dict::new().with("args", 5i64)
            )])))
            .is_err()
        );
    }

    #[test]
    fn encoded_deliveries_keep_their_order_and_drop_failures() {
        let mut s = state();
        let matched = Matched {
            qos: QoS::AtMostOnce,
            sub_ids: SubIds::None,
            retain_as_published: false,
        };
        let payload = Payload::args(vec![Value::Int(1)]);
        let mut calls = Vec::new();
        for n in 0..3 {
            assert!(encode(
                &mut s,
                ("codec.enc", None),
                MqttString::from_static("dev/x"),
                "dev.x",
                &payload,
                matched.clone(),
                PublicationId(n),
                false,
                false,
            ));
            let Some(Message::Call(c)) = s.rare.todo.last() else {
                panic!("a CALL");
            };
            calls.push(c.request);
        }
        let Some(Message::Call(c)) = s.rare.todo.first() else {
            panic!("a CALL");
        };
        assert_eq!(
            c.payload.args,
            Some(vec![
                Value::Str("dev/x".into()),
                Value::Str("dev.x".into()),
                Value::List(vec![Value::Int(1)]),
                Value::Null
            ])
        );
        let before = s.out.items.len();
        answered(
            &mut s,
            calls[2],
            Ok(Payload::args(vec![Value::Str("c".into())])),
            PLACE,
        )
        .expect("room");
        assert_eq!(s.out.items.len(), before, "waits for the first two");
        answered(
            &mut s,
            calls[1],
            Err(("wamp.error.runtime_error".into(), Payload::empty())),
            PLACE,
        )
        .expect("room");
        answered(
            &mut s,
            calls[0],
            Ok(Payload::args(vec![Value::Bytes(Bytes::from_static(b"a"))])),
            PLACE,
        )
        .expect("room");
        let payloads: Vec<&[u8]> = s
            .out
            .items
            .iter()
            .filter_map(|i| match i {
                crate::transport::mqtt::out::Item::Publish(p) => Some(&p.msg.payload[..]),
                _ => None,
            })
            .collect();
        assert_eq!(
            payloads,
            vec![&b"a"[..], &b"c"[..]],
            "the failed one dropped"
        );
        assert!(s.rare.codec.is_none());
    }
}
