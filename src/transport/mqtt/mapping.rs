//! MQTT ↔ WAMP: topic names to URIs, topic filters to WAMP subscriptions,
//! and payloads per the service's `payload_mapping`. Pure functions, no
//! state.
//!
//! Topics map as Crossbar.io maps them: `/` ↔ `.`. A filter becomes one or
//! two WAMP subscriptions that together cover at least what it matches:
//!
//! | MQTT filter | WAMP subscription(s) | exact cover |
//! |---|---|---|
//! | `a/b` | `a.b` exact | yes |
//! | `a/+/c` | `a..c` wildcard | yes |
//! | `a/#` | `a.` prefix and `a` exact (`a/#` also matches `a`) | yes |
//! | `#` | `` prefix | yes |
//! | `a/+/b/#`, `+/#` (both wildcards) | prefix of the levels before the first wildcard | no: the sink checks each topic with `topic::matches` |
//!
//! An empty level (`/a`, `a//b`, `a/`: MQTT allows them, section 4.7.1.1)
//! is the URI component `+`, which no topic name's level can be (wildcard
//! characters are not allowed in topic names, MQTT-4.7.0-1), so the mapping
//! stays one to one: `/a` ↔ `+.a`, and a `+` component of a WAMP URI reads
//! back as an empty level. Crossbar refuses such topics (an empty component
//! is not a WAMP URI); Junction routes them, as every MQTT broker does.
//! Topic names whose URI is still not valid (whitespace) are refused by the
//! router's URI check; a `.` inside an MQTT level is ambiguous (it reads
//! back as `/`).

use bytes::{Bytes, BytesMut};

use crate::config::mqtt::PayloadFormat;
use crate::proto::mqtt::topic;
use crate::proto::uri::MatchPolicy;
use crate::proto::{Dict, Message, Payload, Serializer, Value};

/// The URI component that stands for an empty MQTT level.
const EMPTY_LEVEL: &str = "+";

/// The WAMP URI of an MQTT topic name (or of a filter's literal levels):
/// `/` becomes `.`, an empty level the component `+`.
pub fn topic_to_uri(topic: &str) -> String {
    let mut uri = String::with_capacity(topic.len() + 2);
    for (i, level) in topic.split('/').enumerate() {
        if i > 0 {
            uri.push('.');
        }
        uri.push_str(if level.is_empty() { EMPTY_LEVEL } else { level });
    }
    uri
}

/// The MQTT topic name of a WAMP URI: `.` becomes `/`, a component
/// `+` an empty level. `None` when the URI has no MQTT form:
/// a component holding `+` or `#` (a loose WAMP URI may have `+` inside a
/// component, `a.b+c`), which no MQTT topic name may contain (MQTT-4.7.0-1),
/// so MQTT subscribers never get such a publication.
pub fn uri_to_topic(uri: &str) -> Option<String> {
    let mut topic = String::with_capacity(uri.len());
    for (i, c) in uri.split('.').enumerate() {
        if i > 0 {
            topic.push('/');
        }
        if c != EMPTY_LEVEL {
            if c.contains(['+', '#']) {
                return None;
            }
            topic.push_str(c);
        }
    }
    Some(topic)
}

/// The WAMP subscriptions an MQTT filter maps to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterMap {
    /// (URI, policy) pairs, one or two.
    pub wamp: Vec<(String, MatchPolicy)>,
    /// Whether they match exactly what the filter matches (else every
    /// topic is checked against the filter).
    pub exact: bool,
}

/// Maps a valid MQTT topic filter (not a `$share/` one) to WAMP subscriptions.
pub fn filter_to_wamp(filter: &str) -> FilterMap {
    let has_plus = filter.split('/').any(|l| l == "+");
    let has_hash = filter.ends_with('#');
    if !has_plus && !has_hash {
        return FilterMap {
            wamp: vec![(topic_to_uri(filter), MatchPolicy::Exact)],
            exact: true,
        };
    }
    if has_plus && !has_hash {
        // `+` levels become empty components: `a/+/c` → `a..c` (and empty
        // levels `+`: `a/+/` → `a..+`).
        let uri: Vec<&str> = filter
            .split('/')
            .map(|l| match l {
                "+" => "",
                "" => EMPTY_LEVEL,
                l => l,
            })
            .collect();
        return FilterMap {
            wamp: vec![(uri.join("."), MatchPolicy::Wildcard)],
            exact: true,
        };
    }
    if !has_plus {
        // `a/b/#` → prefix `a.b.` and exact `a.b`; `#` → prefix ``.
        let Some(parent) = filter.strip_suffix("/#") else {
            return FilterMap {
                wamp: vec![(String::new(), MatchPolicy::Prefix)],
                exact: true,
            };
        };
        let exact = topic_to_uri(parent);
        let wamp = vec![
            (format!("{exact}."), MatchPolicy::Prefix),
            (exact, MatchPolicy::Exact),
        ];
        return FilterMap { wamp, exact: true };
    }
    // Both wildcards: the literal levels before the first wildcard, as a prefix.
    let literal: Vec<&str> = filter
        .split('/')
        .take_while(|l| *l != "+" && *l != "#")
        .collect();
    let prefix = if literal.is_empty() {
        String::new()
    } else {
        format!("{}.", topic_to_uri(&literal.join("/")))
    };
    FilterMap {
        wamp: vec![(prefix, MatchPolicy::Prefix)],
        exact: false,
    }
}

/// Whether `topic` (an MQTT name) is delivered to a subscription of `filter`
/// mapped with `map`: names starting with `$` never match a filter that
/// starts with a wildcard (MQTT-4.7.2-1), nor do the router's meta events
/// (`wamp/...`, WAMP's `wamp.*`); an inexact map is checked.
pub fn delivers(filter: &str, exact: bool, topic: &str) -> bool {
    if (topic.starts_with('$') || topic.starts_with("wamp/")) && filter.starts_with(['+', '#']) {
        return false;
    }
    exact || topic::matches(filter, topic)
}

/// The payload format of `uri`: the longest prefix in `mapping` (the
/// default when none matches is passthrough).
pub fn format_of<'a>(
    mapping: &'a std::collections::BTreeMap<String, PayloadFormat>,
    uri: &str,
) -> &'a PayloadFormat {
    const PASSTHROUGH: &PayloadFormat = &PayloadFormat::PASSTHROUGH;
    mapping
        .iter()
        .filter(|(prefix, _)| uri.starts_with(prefix.as_str()))
        .max_by_key(|(prefix, _)| prefix.len())
        .map_or(PASSTHROUGH, |(_, f)| f)
}

/// The option that marks a transparent payload, and its value for MQTT's
/// bytes (Crossbar's `enc_algo: "mqtt"`).
const TRANSPARENT_KEY: &str = "enc_algo";
const TRANSPARENT_ALGO: &str = "mqtt";

/// Why an MQTT payload could not become a WAMP payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    /// `native`: the payload is not a serialized dictionary.
    #[error("the payload is not a {0} dictionary with args/kwargs")]
    NotADict(&'static str),
    /// `dynamic` needs a call: handled by the front end, not here.
    #[error("dynamic payload mapping is not supported yet")]
    Dynamic,
}

/// A WAMP publish's payload and extra options from an MQTT payload.
pub fn mqtt_to_wamp(format: &PayloadFormat, payload: &Bytes) -> Result<(Payload, Dict), MapError> {
    match format {
        PayloadFormat::Passthrough { transparent: false } => Ok((
            if payload.is_empty() {
                Payload::empty()
            } else {
                Payload::args(vec![Value::Bytes(payload.clone())])
            },
            Dict::new(),
        )),
        // Crossbar's form: the bytes in place of the arguments (an encoder
        // writes the one element bare when the details have `enc_algo`),
        // even when empty, for the subscriber's payload codec to decode.
        PayloadFormat::Passthrough { transparent: true } => Ok((
            Payload::args(vec![Value::Bytes(payload.clone())]),
            Dict::new().with(TRANSPARENT_KEY, TRANSPARENT_ALGO),
        )),
        PayloadFormat::Native { serializer } => native_to_wamp(*serializer, payload),
        PayloadFormat::Dynamic { .. } => Err(MapError::Dynamic),
    }
}

/// Crossbar's `native` form: a serialized dictionary whose `args` and
/// `kwargs` are the payload and whose `exclude`, `eligible`, ... are
/// publish options.
fn native_to_wamp(serializer: Serializer, payload: &[u8]) -> Result<(Payload, Dict), MapError> {
    if payload.is_empty() {
        return Ok((Payload::empty(), Dict::new()));
    }
    let value = match serializer {
        Serializer::Json => crate::proto::codec::json::decode_value(payload),
        Serializer::MsgPack => crate::proto::codec::msgpack::decode_value(payload),
        Serializer::Cbor => crate::proto::codec::cbor::decode_value(payload),
    };
    let Ok(Value::Dict(d)) = value else {
        return Err(MapError::NotADict(serializer.name()));
    };
    dict_to_wamp(d).ok_or(MapError::NotADict(serializer.name()))
}

/// A WAMP payload and publish options from Crossbar's dictionary form
/// (`native` payloads, the answer of a `dynamic` decoder): `args` (a list
/// or null), `kwargs` (a dictionary or null) and the publish options
/// `exclude*`/`eligible*`; other keys are ignored. `None` when `args` or
/// `kwargs` has another type.
pub fn dict_to_wamp(d: Dict) -> Option<(Payload, Dict)> {
    let mut out = Payload::empty();
    let mut options = Dict::new();
    for (k, v) in d.0 {
        match (k.as_ref(), v) {
            ("args", Value::List(l)) => out.args = Some(l),
            ("kwargs", Value::Dict(kw)) => out.kwargs = Some(kw),
            ("args" | "kwargs", Value::Null) => {}
            ("args" | "kwargs", _) => return None,
            (
                "exclude" | "exclude_authid" | "exclude_authrole" | "eligible" | "eligible_authid"
                | "eligible_authrole",
                v,
            ) => options.insert(k, v),
            _ => {}
        }
    }
    Some((out, options))
}

/// The MQTT payload of a WAMP publication (one that did not come from MQTT).
///
/// - `passthrough`: a single binary (or string) argument is the payload
///   itself; no payload is an empty payload; anything else is sent as the
///   JSON dictionary `{"args": [...], "kwargs": {...}}` (WAMP publishers have
///   no payload transparency in Junction).
/// - `native`: the dictionary `{"args": [...], "kwargs": {...}}` in the
///   serializer (Crossbar's form).
///
/// # Errors
/// [`MapError::Dynamic`] for `dynamic`.
pub fn wamp_to_mqtt(format: &PayloadFormat, payload: &Payload) -> Result<Bytes, MapError> {
    match format {
        PayloadFormat::Passthrough { .. } => {
            if payload.kwargs.as_ref().is_none_or(|k| k.is_empty()) {
                match payload.args.as_deref() {
                    None | Some([]) => return Ok(Bytes::new()),
                    Some([Value::Bytes(b)]) => return Ok(b.clone()),
                    Some([Value::Str(s)]) => return Ok(Bytes::copy_from_slice(s.as_bytes())),
                    _ => {}
                }
            }
            Ok(serialize_dict(Serializer::Json, payload))
        }
        PayloadFormat::Native { serializer } => Ok(serialize_dict(*serializer, payload)),
        PayloadFormat::Dynamic { .. } => Err(MapError::Dynamic),
    }
}

fn serialize_dict(serializer: Serializer, payload: &Payload) -> Bytes {
    let mut d = Dict::new();
    if let Some(a) = &payload.args {
        d.insert("args", Value::List(a.clone()));
    }
    if let Some(kw) = &payload.kwargs {
        d.insert("kwargs", Value::Dict(kw.clone()));
    }
    let v = Value::Dict(d);
    let mut out = BytesMut::new();
    match serializer {
        Serializer::Json => crate::proto::codec::json::encode_value(&v, &mut out),
        Serializer::MsgPack => crate::proto::codec::msgpack::encode_value(&v, &mut out),
        Serializer::Cbor => crate::proto::codec::cbor::encode_value(&v, &mut out),
    }
    out.freeze()
}

/// A WAMP SUBSCRIBE for one of a filter's (URI, policy) pairs.
pub fn wamp_subscribe(
    request: crate::proto::RequestId,
    uri: String,
    policy: MatchPolicy,
    get_retained: bool,
) -> Message {
    let mut options = Dict::new();
    if policy != MatchPolicy::Exact {
        options.insert("match", policy.as_str());
    }
    if get_retained {
        options.insert("get_retained", true);
    }
    Message::Subscribe(crate::proto::Subscribe {
        request,
        options,
        topic: uri,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use MatchPolicy::{Exact, Prefix, Wildcard};

    fn wamp(filter: &str) -> (Vec<(String, MatchPolicy)>, bool) {
        let m = filter_to_wamp(filter);
        (m.wamp, m.exact)
    }

    #[test]
    fn topics_and_filters_map_as_crossbar_maps_them() {
        assert_eq!(topic_to_uri("sensors/room1/temp"), "sensors.room1.temp");
        assert_eq!(
            uri_to_topic("com.example.x").as_deref(),
            Some("com/example/x")
        );
        assert_eq!(wamp("a/b"), (vec![("a.b".into(), Exact)], true));
        assert_eq!(wamp("a/+/c"), (vec![("a..c".into(), Wildcard)], true));
        assert_eq!(wamp("+"), (vec![("".into(), Wildcard)], true));
        assert_eq!(
            wamp("a/b/#"),
            (vec![("a.b.".into(), Prefix), ("a.b".into(), Exact)], true)
        );
        assert_eq!(wamp("#"), (vec![("".into(), Prefix)], true));
        assert_eq!(wamp("a/+/b/#"), (vec![("a.".into(), Prefix)], false));
        assert_eq!(wamp("+/#"), (vec![("".into(), Prefix)], false));
    }

    /// Empty levels (paho.mqtt.testing's `/TopicA`, a will topic of its
    /// keep-alive test, was refused as an invalid URI): `+` stands for one,
    /// both ways, and every URI made is valid.
    #[test]
    fn empty_levels_map_to_a_plus_component() {
        assert_eq!(topic_to_uri("/TopicA"), "+.TopicA");
        assert_eq!(topic_to_uri("a//b/"), "a.+.b.+");
        assert_eq!(topic_to_uri("/"), "+.+");
        assert_eq!(uri_to_topic("+.TopicA").as_deref(), Some("/TopicA"));
        assert_eq!(uri_to_topic("a.+.b.+").as_deref(), Some("a//b/"));
        // A `+` or `#` inside a component has no MQTT form (MQTT-4.7.0-1).
        assert_eq!(uri_to_topic("a.b+c"), None);
        assert_eq!(uri_to_topic("a.++"), None);
        assert_eq!(uri_to_topic("x#.y"), None);
        for t in ["/TopicA", "a//b/", "/", "//", "a", "$SYS//x"] {
            assert_eq!(uri_to_topic(&topic_to_uri(t)).as_deref(), Some(t));
            let uri = topic_to_uri(t);
            assert!(
                crate::proto::uri::is_valid(&uri, crate::proto::uri::UriCheck::Loose, Exact),
                "{uri}"
            );
        }
        assert_eq!(wamp("a//b"), (vec![("a.+.b".into(), Exact)], true));
        assert_eq!(wamp("/+"), (vec![("+.".into(), Wildcard)], true));
        assert_eq!(wamp("a/+/"), (vec![("a..+".into(), Wildcard)], true));
        assert_eq!(
            wamp("/#"),
            (vec![("+.".into(), Prefix), ("+".into(), Exact)], true)
        );
        assert_eq!(
            wamp("a//#"),
            (vec![("a.+.".into(), Prefix), ("a.+".into(), Exact)], true)
        );
        assert_eq!(wamp("//+/#"), (vec![("+.+.".into(), Prefix)], false));
        for f in ["a//b", "/+", "a/+/", "/#", "a//#", "//+/#"] {
            for (uri, policy) in filter_to_wamp(f).wamp {
                let check = crate::proto::uri::UriCheck::Loose;
                assert!(
                    crate::proto::uri::is_valid(&uri, check, policy),
                    "{f}: {uri}"
                );
            }
        }
    }

    /// Every (filter, topic) pair: the WAMP subscriptions plus the sink's
    /// check deliver exactly what MQTT's own matching delivers.
    #[test]
    fn the_wamp_cover_plus_the_check_is_mqtt_matching() {
        let filters = [
            "a/b", "a/+", "a/#", "#", "+/b", "+/+", "a/+/c/#", "+/#", "$SYS/#", "+", "/#", "/+",
            "a//b", "a/+/", "+/", "a/", "//#", "/+/#", "a//#",
        ];
        let topics = [
            "a", "a/b", "a/c", "a/b/c", "b/b", "a/x/c/d", "$SYS/x", "x", "/a", "/", "a/", "a//b",
            "//", "/a/c/d", "a//c", "$SYS/",
        ];
        for f in filters {
            let m = filter_to_wamp(f);
            for t in topics {
                let uri = topic_to_uri(t);
                let covered = m
                    .wamp
                    .iter()
                    .any(|(u, p)| crate::core::broker::options::pattern_matches(u, *p, &uri));
                let got = covered && delivers(f, m.exact, t);
                assert_eq!(got, topic::matches(f, t), "filter {f} topic {t}");
            }
        }
    }

    #[test]
    fn payload_mapping_picks_the_longest_prefix() {
        let mut m = BTreeMap::new();
        m.insert("".to_owned(), PayloadFormat::PASSTHROUGH);
        m.insert(
            "com.json".to_owned(),
            PayloadFormat::Native {
                serializer: Serializer::Json,
            },
        );
        assert_eq!(format_of(&m, "com.json.x"), &m["com.json"]);
        assert_eq!(format_of(&m, "com.other"), &PayloadFormat::PASSTHROUGH);
        assert_eq!(
            format_of(&BTreeMap::new(), "x"),
            &PayloadFormat::PASSTHROUGH
        );
    }

    /// `junction.transparent`: Crossbar's form, the bytes with `enc_algo:
    /// "mqtt"` (even when empty); back to MQTT the one binary element is
    /// the payload, as for the default form.
    #[test]
    fn transparent_passthrough_is_crossbars_enc_algo_mqtt() {
        let f = PayloadFormat::Passthrough { transparent: true };
        for raw in [&b"\x00\x01raw"[..], &b""[..]] {
            let (p, o) = mqtt_to_wamp(&f, &Bytes::copy_from_slice(raw)).expect("maps");
            assert_eq!(
                p.args,
                Some(vec![Value::Bytes(Bytes::copy_from_slice(raw))])
            );
            assert_eq!(p.kwargs, None);
            assert_eq!(o, Dict::new().with("enc_algo", "mqtt"));
            assert!(crate::proto::passthru::transparent(&o));
            assert_eq!(
                wamp_to_mqtt(&f, &p).expect("maps"),
                Bytes::copy_from_slice(raw)
            );
        }
    }

    #[test]
    fn passthrough_both_ways() {
        let (p, o) =
            mqtt_to_wamp(&PayloadFormat::PASSTHROUGH, &Bytes::from_static(b"21.5")).expect("maps");
        assert_eq!(
            p.args,
            Some(vec![Value::Bytes(Bytes::from_static(b"21.5"))])
        );
        assert!(o.is_empty());
        assert_eq!(
            wamp_to_mqtt(&PayloadFormat::PASSTHROUGH, &p).expect("maps"),
            Bytes::from_static(b"21.5")
        );
        let text = Payload::args(vec![Value::Str("on".into())]);
        assert_eq!(
            wamp_to_mqtt(&PayloadFormat::PASSTHROUGH, &text).expect("maps"),
            Bytes::from_static(b"on")
        );
        let structured = Payload::args(vec![Value::Int(1), Value::Int(2)]);
        assert_eq!(
            wamp_to_mqtt(&PayloadFormat::PASSTHROUGH, &structured).expect("maps"),
            Bytes::from_static(br#"{"args":[1,2]}"#)
        );
        assert!(
            wamp_to_mqtt(&PayloadFormat::PASSTHROUGH, &Payload::empty())
                .expect("maps")
                .is_empty()
        );
    }

    #[test]
    fn native_json_both_ways() {
        let f = PayloadFormat::Native {
            serializer: Serializer::Json,
        };
        let (p, o) = mqtt_to_wamp(
            &f,
            &Bytes::from_static(br#"{"args":[1,"x"],"kwargs":{"k":true},"exclude":[5]}"#),
        )
        .expect("maps");
        assert_eq!(p.args, Some(vec![Value::Int(1), Value::Str("x".into())]));
        assert_eq!(p.kwargs, Some(Dict::new().with("k", true)));
        assert_eq!(o.get("exclude"), Some(&Value::List(vec![Value::Int(5)])));
        let back = wamp_to_mqtt(&f, &p).expect("maps");
        assert_eq!(&back[..], br#"{"args":[1,"x"],"kwargs":{"k":true}}"#);
        assert_eq!(
            mqtt_to_wamp(&f, &Bytes::from_static(b"[1]")),
            Err(MapError::NotADict("json"))
        );
        assert_eq!(
            mqtt_to_wamp(&f, &Bytes::from_static(b"not json")),
            Err(MapError::NotADict("json"))
        );
    }
}
