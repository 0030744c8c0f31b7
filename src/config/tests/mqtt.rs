//! MQTT services (transport, web path, universal entry) and universal transports.

use super::*;
use crate::config::auth::AnonymousAuth;
use crate::config::mqtt::{MqttLimits, PayloadFormat, QueueOverflow, SharedStrategy};
use crate::config::web::WebService;

const T: &str = "/workers/0/transports/0";
const AT: &str = "workers[0].transports[0]";

fn mqtt(options: Value, junction: Option<Value>) -> Value {
    let mut t =
        json!({"type": "mqtt", "endpoint": {"type": "tcp", "port": 1883}, "options": options});
    if let Some(j) = junction {
        t["junction"] = j;
    }
    with(T, t)
}

fn service(c: &Config) -> crate::config::mqtt::MqttService {
    match &c.transports[0].kind {
        TransportKind::Mqtt(m) => m.clone(),
        other => panic!("mqtt expected, got {other:?}"),
    }
}

/// `junction.transparent` on a `passthrough` entry: Crossbar's
/// payload-transparency form for that prefix only.
#[test]
fn transparent_passthrough_per_prefix() {
    let c = model(&mqtt(
        json!({"realm": "realm1", "payload_mapping": {
            "": {"type": "passthrough"},
            "mqtt.": {"type": "passthrough", "junction": {"transparent": true}},
        }}),
        None,
    ));
    let m = service(&c);
    assert_eq!(m.payload_mapping[""], PayloadFormat::PASSTHROUGH);
    assert_eq!(
        m.payload_mapping["mqtt."],
        PayloadFormat::Passthrough { transparent: true }
    );
}

#[test]
fn defaults() {
    let c = model(&mqtt(json!({"realm": "realm1"}), None));
    let m = service(&c);
    assert_eq!(m.role, "anonymous");
    assert_eq!(m.limits, MqttLimits::default());
    assert_eq!(m.payload_mapping.len(), 1);
    assert_eq!(m.payload_mapping[""], PayloadFormat::PASSTHROUGH);
    assert_eq!(
        m.auth.anonymous,
        Some(AnonymousAuth::Static {
            role: "anonymous".into(),
            authid: None
        })
    );
    assert_eq!(m.trustlevel, None);
    assert!(
        c.transports[0].serializers.is_empty(),
        "no WAMP serializers on an MQTT listener"
    );
    let l = MqttLimits::default();
    assert_eq!(
        (
            l.max_packet_size,
            l.max_inflight,
            l.max_queued_messages,
            l.max_session_expiry_s
        ),
        (1 << 20, 32, 1000, 7200)
    );
    assert!(c.unsupported().is_empty(), "{:?}", c.unsupported());
}

#[test]
fn limits_and_trust_level() {
    let c = model(&mqtt(
        json!({"realm": "realm1"}),
        Some(json!({
            "max_connections": 10, "max_packet_size": 1024, "max_topic_length": 256,
            "max_topic_levels": 8, "max_subscriptions": 50, "max_inflight": 10,
            "max_queued_messages": 0, "max_queued_bytes": 65536, "max_session_expiry": 0,
            "max_keep_alive": 60, "connect_timeout": 0, "trustlevel": 2,
            "queue_overflow": "drop_oldest", "shared_subscriptions": "sticky", "sys_interval": 0,
            "request_response": true, "dynamic_timeout": 250
        })),
    ));
    let m = service(&c);
    assert_eq!(
        m.limits,
        MqttLimits {
            max_connections: 10,
            max_packet_size: 1024,
            max_topic_length: 256,
            max_topic_levels: 8,
            max_subscriptions: 50,
            max_inflight: 10,
            max_queued_messages: 0,
            max_queued_bytes: 65536,
            max_session_expiry_s: 0,
            max_keep_alive_s: 60,
            connect_timeout_ms: 0,
            queue_overflow: QueueOverflow::DropOldest,
            shared_strategy: SharedStrategy::Sticky,
            sys_interval_s: 0,
            request_response: true,
            dynamic_timeout_ms: 250,
        }
    );
    assert_eq!(m.trustlevel, Some(2));
    // Above the router-wide message limit: lowered, with a warning.
    let mut v = mqtt(
        json!({"realm": "realm1"}),
        Some(json!({"max_packet_size": 4_000_000})),
    );
    set(&mut v, "/junction", json!({"max_message_size": 2_000_000}));
    let c = model(&v);
    assert_eq!(service(&c).limits.max_packet_size, 2_000_000);
    assert_eq!(
        warning_paths(&c),
        vec![format!("{AT}.junction.max_packet_size")]
    );
}

#[rstest]
#[case(json!({}), None, "options.realm", Invalid, "missing")]
#[case(json!({"realm": "r"}), None, "options.realm", Invalid, "invalid realm name")]
#[case(json!({"realm": "nowhere"}), None, "options.realm", Invalid, "which is not defined")]
#[case(json!({"realm": "realm1", "qos": 2}), None, "options.qos", Invalid, "unknown key")]
#[case(json!({"realm": "realm1", "payload_mapping": {"": {"type": "native"}}}), None, "options.payload_mapping..serializer", Invalid, "missing")]
#[case(json!({"realm": "realm1", "payload_mapping": {"": {"type": "native", "serializer": "ubjson"}}}), None, "options.payload_mapping..serializer", Unsupported, "serializer \"ubjson\"")]
#[case(json!({"realm": "realm1", "payload_mapping": {"": {"type": "dynamic", "encoder": "a.enc"}}}), None, "options.payload_mapping..decoder", Invalid, "missing")]
#[case(json!({"realm": "realm1", "payload_mapping": {"": {"type": "dynamic", "encoder": "a.enc", "decoder": "a.dec", "realm": "nowhere"}}}), None, "options.payload_mapping..realm", Invalid, "the codec is called on realm \"nowhere\", which is not defined")]
#[case(json!({"realm": "realm1", "payload_mapping": {"": {"type": "zip"}}}), None, "options.payload_mapping..type", Invalid, "\"passthrough\", \"native\" or \"dynamic\"")]
#[case(json!({"realm": "realm1", "payload_mapping": {"a b": {"type": "passthrough"}}}), None, "options.payload_mapping.a b", Invalid, "invalid URI prefix")]
#[case(json!({"realm": "realm1", "payload_mapping": {"": {"type": "passthrough", "junction": {"transparent": 1}}}}), None, "options.payload_mapping..junction.transparent", Invalid, "expected true or false")]
#[case(json!({"realm": "realm1", "payload_mapping": {"": {"type": "passthrough", "junction": {"enc": true}}}}), None, "options.payload_mapping..junction.enc", Invalid, "unknown key")]
#[case(json!({"realm": "realm1"}), Some(json!({"max_inflight": 0})), "junction.max_inflight", Invalid, "out of range")]
#[case(json!({"realm": "realm1"}), Some(json!({"max_packet_size": 300_000_000})), "junction.max_packet_size", Invalid, "out of range")]
#[case(json!({"realm": "realm1"}), Some(json!({"connect_timeout": 10})), "junction.connect_timeout", Invalid, "too small")]
#[case(json!({"realm": "realm1"}), Some(json!({"qos2": false})), "junction.qos2", Invalid, "unknown key")]
#[case(json!({"realm": "realm1"}), Some(json!({"queue_overflow": "drop_all"})), "junction.queue_overflow", Invalid, "\"drop_new\" or \"drop_oldest\"")]
#[case(json!({"realm": "realm1"}), Some(json!({"shared_subscriptions": "hash"})), "junction.shared_subscriptions", Invalid, "\"round_robin\", \"random\" or \"sticky\"")]
#[case(json!({"realm": "realm1"}), Some(json!({"sys_interval": 100_000})), "junction.sys_interval", Invalid, "out of range")]
#[case(json!({"realm": "realm1"}), Some(json!({"request_response": "yes"})), "junction.request_response", Invalid, "expected true or false")]
#[case(json!({"realm": "realm1"}), Some(json!({"dynamic_timeout": 0})), "junction.dynamic_timeout", Invalid, "out of range")]
fn bad_mqtt(
    #[case] options: Value,
    #[case] junction: Option<Value>,
    #[case] at: &str,
    #[case] kind: IssueKind,
    #[case] needle: &str,
) {
    let found = issues(&mqtt(options, junction));
    assert_eq!(found[0].path, format!("{AT}.{at}"), "{found:#?}");
    assert_eq!(found[0].kind, kind, "{found:#?}");
    assert!(found[0].message.contains(needle), "{:?}", found[0].message);
}

#[test]
fn mqtt_options_missing_is_an_error() {
    let v = with(
        T,
        json!({"type": "mqtt", "endpoint": {"type": "tcp", "port": 1883}}),
    );
    assert_one_issue(&v, &format!("{AT}.options"), Invalid, "missing");
}

#[test]
fn mqtt_over_websocket_path() {
    let v = with(
        T,
        json!({"type": "web", "endpoint": {"type": "tcp", "port": 8080}, "paths": {
            "ws": {"type": "websocket"},
            "mqtt": {"type": "mqtt", "options": {"realm": "realm1", "auth": {"anonymous": {"type": "static"}}},
                     "junction": {"max_connections": 100}}
        }}),
    );
    let c = model(&v);
    let TransportKind::Web(w) = &c.transports[0].kind else {
        panic!("web expected");
    };
    let WebService::Mqtt(m) = &w.paths["mqtt"] else {
        panic!("mqtt path expected");
    };
    assert_eq!(m.limits.max_connections, 100);
    assert!(c.unsupported().is_empty(), "{:?}", c.unsupported());
}

#[test]
fn universal_transport() {
    let v = with(
        T,
        json!({"type": "universal", "endpoint": {"type": "tcp", "port": 8080},
               "rawsocket": {"serializers": ["msgpack"], "max_message_size": 4096},
               "websocket": {"/": {"type": "websocket"}, "ws2": {"type": "websocket", "options": {"auto_ping_interval": 5000}}}}),
    );
    let c = model(&v);
    let TransportKind::Universal(u) = &c.transports[0].kind else {
        panic!("universal expected");
    };
    let rs = u.rawsocket.as_ref().expect("rawsocket");
    assert_eq!(
        (rs.options.max_message_size, rs.wamp.serializers.clone()),
        (4096, vec![Serializer::MsgPack])
    );
    assert_eq!(u.websocket["/"].options.path.as_deref(), Some("/"));
    assert_eq!(u.websocket["ws2"].options.auto_ping_interval_ms, 5000);
    assert!(u.mqtt.is_none() && u.web.is_none());
    for (entry, at, kind, needle) in [
        (
            json!({"rawsocket": {"endpoint": {}}}),
            "rawsocket.endpoint",
            Invalid,
            "unknown key",
        ),
        (
            json!({"rawsocket": {"type": "websocket"}}),
            "rawsocket.type",
            Invalid,
            "not \"rawsocket\"",
        ),
        (
            json!({"websocket": {"ws": {"type": "static"}}}),
            "websocket.ws.type",
            Invalid,
            "not \"websocket\"",
        ),
        (
            json!({"websocket": {"ws": {}}}),
            "websocket.ws.type",
            Invalid,
            "missing",
        ),
        (
            json!({"web": {"paths": {}, "endpoint": {}}}),
            "web.endpoint",
            Invalid,
            "unknown key",
        ),
        (json!({"flash": {}}), "flash", Invalid, "unknown key"),
    ] {
        let mut t = json!({"type": "universal", "endpoint": {"type": "tcp", "port": 8080}});
        for (k, val) in entry.as_object().expect("object") {
            t[k] = val.clone();
        }
        let found = issues(&with(T, t));
        assert_eq!(found[0].path, format!("{AT}.{at}"), "{found:#?}");
        assert_eq!(found[0].kind, kind);
        assert!(found[0].message.contains(needle), "{:?}", found[0].message);
    }
    // One with nothing to serve is warned.
    let c = model(&with(
        T,
        json!({"type": "universal", "endpoint": {"type": "tcp", "port": 8080}}),
    ));
    assert_eq!(warning_paths(&c), vec![AT]);
}

#[test]
fn default_packet_size_follows_a_smaller_message_limit() {
    let mut v = mqtt(json!({"realm": "realm1"}), None);
    set(&mut v, "/junction", json!({"max_message_size": 65536}));
    let c = model(&v);
    assert_eq!(service(&c).limits.max_packet_size, 65536);
    assert!(c.warnings.is_empty(), "{:#?}", c.warnings);
}
