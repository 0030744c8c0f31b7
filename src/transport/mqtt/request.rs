//! MQTT 5 request/response answered by WAMP procedures (a listener with
//! `request_response`): a PUBLISH with a Response Topic is published as
//! always, and is also a WAMP CALL of the procedure at the topic's URI, with
//! the publication's WAMP payload as arguments. The RESULT is published, by
//! the requesting client's session, to the Response Topic with the request's
//! Correlation Data (and QoS), so an MQTT requester subscribed to its
//! response topic gets it like any response, and WAMP subscribers see a
//! normal event. A call error other than "no such procedure" is published
//! the same way with the User Property `wamp_error` = the error URI and the
//! error's payload; "no such procedure" publishes nothing (an MQTT responder
//! may answer). Calls in flight per connection are bounded by `max_inflight`
//! (more requests are only published); a connection that ends drops the
//! answers of its calls.
//!
//! The sink records answers in the state ([`State::call_answered`]); the
//! connection's task turns them into PUBLISHes ([`answer`]). The state keeps
//! them boxed ([`super::state::Requests`]): nothing for connections that
//! make no request.
//!
//! Imports the connection state, the mapping and the native form (`sink`).

use super::mapping;
use super::sink::native_meta;
use super::state::{PendingCall, State};
use crate::core::api::NATIVE_OPTION;
use crate::core::uris;
use crate::proto::mqtt::{MqttString, Publish, PublishProperties, UserProperties, Version};
use crate::proto::{Call, Dict, Message, Payload, Value};

/// The CALL for request `p` (published at `uri` with `payload`), when the
/// listener answers requests with procedures and `p` is an MQTT 5 request.
pub fn call_of(s: &mut State, p: &Publish, uri: &str, payload: &Payload) -> Option<Message> {
    if !s.svc.limits.request_response || s.version != Version::V5 {
        return None;
    }
    let response_topic = p.properties.response_topic.clone()?;
    let max = usize::from(s.svc.limits.max_inflight);
    if s.rare
        .requests
        .as_ref()
        .is_some_and(|r| r.calls.len() >= max)
    {
        tracing::debug!(client = %s.client_id, "MQTT request: max_inflight calls in flight, not called");
        return None;
    }
    let request = s.request();
    s.rare.requests.get_or_insert_default().calls.insert(
        request,
        PendingCall {
            response_topic,
            correlation: p.properties.correlation_data.clone(),
            qos: p.qos,
        },
    );
    Some(Message::Call(Call {
        request,
        options: Dict::new(),
        procedure: uri.to_owned(),
        payload: payload.clone(),
    }))
}

/// The answers that came, as PUBLISHes to their response topics (queued
/// for the router in the state's `todo`).
pub fn answer(s: &mut State) {
    let Some(r) = &mut s.rare.requests else {
        return;
    };
    let answers = std::mem::take(&mut r.answers);
    for a in answers {
        let Some(call) = s
            .rare
            .requests
            .as_mut()
            .and_then(|r| r.calls.remove(&a.request))
        else {
            continue;
        };
        let (payload, error) = match a.outcome {
            Ok(p) => (p, None),
            Err((uri, _)) if uri == uris::NO_SUCH_PROCEDURE => continue,
            Err((uri, p)) => (p, Some(uri)),
        };
        if let Some(m) = response(s, call, payload, error) {
            s.rare.todo.push(m);
        }
    }
}

/// The WAMP PUBLISH of one answer.
fn response(
    s: &mut State,
    call: PendingCall,
    payload: Payload,
    error: Option<String>,
) -> Option<Message> {
    let uri = mapping::topic_to_uri(call.response_topic.as_str());
    let format = mapping::format_of(&s.svc.payload_mapping, &uri);
    let bytes = match mapping::wamp_to_mqtt(format, &payload) {
        Ok(b) => b,
        Err(e) => {
            tracing::debug!(client = %s.client_id, error = %e, "MQTT response not mapped: dropped");
            return None;
        }
    };
    let mut props = PublishProperties {
        correlation_data: call.correlation,
        ..Default::default()
    };
    if let Some(e) = error {
        let mut u = UserProperties::default();
        if let Ok(v) = MqttString::try_from(e.as_str()) {
            u.push((MqttString::from_static("wamp_error"), v));
        }
        props.user_properties = u;
    }
    let mut options = Dict::new();
    options.insert(
        NATIVE_OPTION,
        Value::List(vec![
            Value::Bytes(native_meta(call.qos, &props)),
            Value::Bytes(bytes),
        ]),
    );
    // The requester is subscribed to its response topic.
    options.insert("exclude_me", false);
    Some(Message::Publish(crate::proto::Publish {
        request: s.request(),
        options,
        topic: uri,
        payload,
    }))
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use bytes::Bytes;

    use super::*;
    use crate::proto::RequestId;
    use crate::proto::mqtt::QoS;
    use crate::transport::mqtt::Service;
    use crate::transport::mqtt::state::CallAnswer;

    fn state(enabled: bool, version: Version, max_inflight: u16) -> State {
        let mut svc = Service::default_for_tests();
        svc.limits.request_response = enabled;
        svc.limits.max_inflight = max_inflight;
        State::new(Rc::new(svc), version, "req")
    }

    fn request(response: Option<&'static str>) -> Publish {
        Publish {
            dup: false,
            qos: QoS::AtLeastOnce,
            retain: false,
            topic: MqttString::from_static("dev/get"),
            packet_id: crate::proto::mqtt::PacketId::new(1),
            properties: PublishProperties {
                response_topic: response.map(MqttString::from_static),
                correlation_data: Some(Bytes::from_static(b"c")),
                ..Default::default()
            },
            payload: Bytes::from_static(b"x"),
        }
    }

    fn args(v: &str) -> Payload {
        Payload {
            args: Some(vec![Value::Str(v.into())]),
            kwargs: None,
        }
    }

    #[test]
    fn only_mqtt5_requests_on_a_listener_that_asks_become_calls() {
        let p = args("x");
        let mut off = state(false, Version::V5, 8);
        assert!(call_of(&mut off, &request(Some("r")), "dev.get", &p).is_none());
        let mut v311 = state(true, Version::V311, 8);
        assert!(call_of(&mut v311, &request(Some("r")), "dev.get", &p).is_none());
        let mut s = state(true, Version::V5, 2);
        assert!(
            call_of(&mut s, &request(None), "dev.get", &p).is_none(),
            "no Response Topic"
        );
        let Some(Message::Call(c)) = call_of(&mut s, &request(Some("r")), "dev.get", &p) else {
            panic!("a CALL");
        };
        assert_eq!(c.procedure, "dev.get");
        assert_eq!(c.payload, p);
        assert!(call_of(&mut s, &request(Some("r")), "dev.get", &p).is_some());
        assert!(
            call_of(&mut s, &request(Some("r")), "dev.get", &p).is_none(),
            "max_inflight calls in flight"
        );
        assert_eq!(s.rare.requests.as_ref().map(|r| r.calls.len()), Some(2));
    }

    #[test]
    fn answers_are_published_to_the_response_topic() {
        let mut s = state(true, Version::V5, 8);
        let mut ids = Vec::new();
        for _ in 0..3 {
            let Some(Message::Call(c)) =
                call_of(&mut s, &request(Some("dev/reply")), "dev.get", &args("x"))
            else {
                panic!("a CALL");
            };
            ids.push(c.request);
        }
        s.rare.requests.as_mut().expect("calls made").answers = vec![
            CallAnswer {
                request: ids[0],
                outcome: Ok(args("pong")),
            },
            CallAnswer {
                request: ids[1],
                outcome: Err((uris::NO_SUCH_PROCEDURE.into(), Payload::default())),
            },
            CallAnswer {
                request: ids[2],
                outcome: Err(("com.example.failed".into(), args("why"))),
            },
            CallAnswer {
                request: RequestId(999),
                outcome: Ok(args("not ours")),
            },
        ];
        answer(&mut s);
        let r = s.rare.requests.as_ref().expect("calls made");
        assert!(r.calls.is_empty() && r.answers.is_empty());
        let topics: Vec<(&str, &Payload)> = s
            .rare
            .todo
            .iter()
            .map(|m| match m {
                Message::Publish(p) => (p.topic.as_str(), &p.payload),
                other => panic!("a PUBLISH, not {other:?}"),
            })
            .collect();
        assert_eq!(
            topics,
            vec![("dev.reply", &args("pong")), ("dev.reply", &args("why"))],
            "no such procedure: nothing; an unknown request: nothing"
        );
        let Message::Publish(p) = &s.rare.todo[0] else {
            unreachable!()
        };
        assert_eq!(p.options.get("exclude_me"), Some(&Value::Bool(false)));
        let Some(Value::List(native)) = p.options.get(NATIVE_OPTION) else {
            panic!("the MQTT form");
        };
        assert_eq!(native[1], Value::Bytes(Bytes::from_static(b"pong")));
    }
}
