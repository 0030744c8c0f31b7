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
//! The mapping is one to one for every valid topic name, so an MQTT client
//! gets back exactly the topic that was published (as from any MQTT broker):
//! - an empty level (`/a`, `a//b`, `a/`: MQTT allows them, section 4.7.1.1)
//!   is the URI component `+`: `/a` ↔ `+.a`;
//! - a character that a URI component cannot hold (`.`, whitespace) is
//!   escaped as `+HH`, the upper-case hex of each of its UTF-8 octets:
//!   `dev/192.168.1.5` ↔ `dev.192+2E168+2E1+2E5`, `Living Room` ↔
//!   `Living+20Room`.
//!
//! `+` is free for both because no topic name may contain it (wildcard
//! characters, MQTT-4.7.0-1). Crossbar splits a level at its `.` (so
//! `a.b/c` comes back as `a/b/c`) and refuses empty levels and whitespace.
//! A WAMP URI has an MQTT form only if it is such a mapping's image: a
//! component with `#`, or with a `+` that is not one of these escapes (or
//! an escape of a character that needs none), has none, and MQTT
//! subscribers do not get that publication.

use bytes::{Bytes, BytesMut};

use crate::config::mqtt::PayloadFormat;
use crate::proto::mqtt::topic;
use crate::proto::uri::MatchPolicy;
use crate::proto::{Dict, Message, Payload, Serializer, Value};

/// The URI component that stands for an empty MQTT level.
const EMPTY_LEVEL: &str = "+";

/// The character that starts an escape (`+HH`) inside a URI component.
const ESCAPE: u8 = b'+';

/// Whether `ch` of an MQTT level cannot stand as is in a URI component:
/// `.` (the separator), whitespace (loose URIs refuse it), and the escape
/// character and `#` (neither occurs in a valid topic name, MQTT-4.7.0-1).
fn needs_escape(ch: char) -> bool {
    matches!(ch, '.' | '+' | '#') || crate::proto::uri::is_space(ch)
}

/// Appends the URI component of MQTT level `level` to `uri`: `+` for an
/// empty level, else the level with [`needs_escape`] characters escaped.
fn push_level(uri: &mut String, level: &str) {
    if level.is_empty() {
        uri.push_str(EMPTY_LEVEL);
        return;
    }
    // Fast path: an ASCII level with nothing to escape (nearly every one).
    if level
        .bytes()
        .all(|b| b.is_ascii() && !needs_escape(char::from(b)))
    {
        uri.push_str(level);
        return;
    }
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut utf8 = [0u8; 4];
    for ch in level.chars() {
        if needs_escape(ch) {
            for &b in ch.encode_utf8(&mut utf8).as_bytes() {
                uri.push(char::from(ESCAPE));
                uri.push(char::from(HEX[usize::from(b >> 4)]));
                uri.push(char::from(HEX[usize::from(b & 0xf)]));
            }
        } else {
            uri.push(ch);
        }
    }
}

/// The MQTT level of URI component `c`, the inverse of [`push_level`]:
/// `None` when `c` is no level's image (a `#`, a `+` that is not an escape,
/// an escape that is not canonical or decodes to no character, or to one
/// no topic name holds).
fn level_of(c: &str) -> Option<std::borrow::Cow<'_, str>> {
    if c == EMPTY_LEVEL {
        return Some("".into());
    }
    if c.contains('#') {
        return None;
    }
    if !c.as_bytes().contains(&ESCAPE) {
        return Some(c.into());
    }
    let bytes = c.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == ESCAPE {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            // Upper-case only, as `push_level` writes it.
            if hex.bytes().any(|b| b.is_ascii_lowercase()) {
                return None;
            }
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let level = String::from_utf8(out).ok()?;
    if level.contains(['/', '+', '#', '\0']) {
        return None;
    }
    // Canonical: escapes exactly where `push_level` puts them, so that two
    // URIs never name one topic.
    let mut again = String::with_capacity(c.len());
    push_level(&mut again, &level);
    (again == c).then_some(level.into())
}

/// The WAMP URI of an MQTT topic name (or of a filter's literal levels):
/// `/` becomes `.`, an empty level the component `+`, a `.` or whitespace
/// inside a level an escape `+HH`.
pub fn topic_to_uri(topic: &str) -> String {
    let mut uri = String::with_capacity(topic.len() + 2);
    for (i, level) in topic.split('/').enumerate() {
        if i > 0 {
            uri.push('.');
        }
        push_level(&mut uri, level);
    }
    uri
}

/// The MQTT topic name of a WAMP URI, the inverse of [`topic_to_uri`]:
/// `.` becomes `/`, a component `+` an empty level, an escape its
/// character. `None` when the URI has no MQTT form (see the module's
/// header), so MQTT subscribers never get such a publication.
pub fn uri_to_topic(uri: &str) -> Option<String> {
    let mut topic = String::with_capacity(uri.len());
    for (i, c) in uri.split('.').enumerate() {
        if i > 0 {
            topic.push('/');
        }
        topic.push_str(&level_of(c)?);
    }
    Some(topic)
}

/// The WAMP subscriptions an MQTT filter maps to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterMap {
    /// (URI, policy) pairs, one or two: two only for `a/#`, the prefix
    /// `a.` first, then the exact parent level `a` ([`Self::is_parent`]).
    pub wamp: Vec<(String, MatchPolicy)>,
    /// Whether they match exactly what the filter matches (else every
    /// topic is checked against the filter).
    pub exact: bool,
}

impl FilterMap {
    /// Whether entry `i` of `wamp` is the exact parent level of an `a/#`
    /// filter, which a subscription may go without (see `PendingSub`).
    pub fn is_parent(i: usize) -> bool {
        i == 1
    }
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
        let mut uri = String::with_capacity(filter.len() + 2);
        for (i, level) in filter.split('/').enumerate() {
            if i > 0 {
                uri.push('.');
            }
            if level != "+" {
                push_level(&mut uri, level);
            }
        }
        return FilterMap {
            wamp: vec![(uri, MatchPolicy::Wildcard)],
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

    /// A `.` or whitespace inside a level is escaped, so the topic comes
    /// back as it was published (Crossbar split `a.b/c` into `a/b/c`, and
    /// whitespace made an invalid URI that was refused).
    #[test]
    fn dots_and_whitespace_in_a_level_are_escaped_both_ways() {
        let cases = [
            ("dev/192.168.1.5/cmd", "dev.192+2E168+2E1+2E5.cmd"),
            (
                "zigbee2mqtt/Living Room Lamp",
                "zigbee2mqtt.Living+20Room+20Lamp",
            ),
            ("a\tb/c\nd", "a+09b.c+0Ad"),
            ("nb\u{a0}sp", "nb+C2+A0sp"),
            ("ideo\u{3000}space", "ideo+E3+80+80space"),
            ("./.", "+2E.+2E"),
            (" ", "+20"),
            ("caf\u{e9}/\u{1F600}", "caf\u{e9}.\u{1F600}"),
            ("/a.b/", "+.a+2Eb.+"),
        ];
        let loose = crate::proto::uri::UriCheck::Loose;
        for (t, uri) in cases {
            assert_eq!(topic_to_uri(t), uri, "{t:?}");
            assert_eq!(uri_to_topic(uri).as_deref(), Some(t), "{uri:?}");
            assert!(crate::proto::uri::is_valid(uri, loose, Exact), "{uri:?}");
        }
        // Not the image of any topic: no MQTT form.
        for uri in [
            "a+2e",   // lower-case hex
            "a+41",   // an escape of a character that needs none ('A')
            "a+2F",   // '/': a level separator
            "a+2B",   // '+': no topic name holds it
            "a+23",   // '#'
            "a+00",   // NUL (MQTT-1.5.4-2)
            "a+C2",   // half a UTF-8 sequence
            "a+2",    // a short escape
            "a+G0",   // not hex
            "a.+2E+", // a trailing '+'
        ] {
            assert_eq!(uri_to_topic(uri), None, "{uri:?}");
        }
        // Filters escape their literal levels the same way.
        assert_eq!(
            wamp("dev/192.168.1.5/+"),
            (vec![("dev.192+2E168+2E1+2E5.".into(), Wildcard)], true)
        );
        assert_eq!(
            wamp("zigbee2mqtt/Living Room/#"),
            (
                vec![
                    ("zigbee2mqtt.Living+20Room.".into(), Prefix),
                    ("zigbee2mqtt.Living+20Room".into(), Exact)
                ],
                true
            )
        );
        assert_eq!(
            wamp("a b/+/c.d/#"),
            (vec![("a+20b.".into(), Prefix)], false)
        );
    }

    /// Every (filter, topic) pair: the WAMP subscriptions plus the sink's
    /// check deliver exactly what MQTT's own matching delivers.
    #[test]
    fn the_wamp_cover_plus_the_check_is_mqtt_matching() {
        let filters = [
            "a/b", "a/+", "a/#", "#", "+/b", "+/+", "a/+/c/#", "+/#", "$SYS/#", "+", "/#", "/+",
            "a//b", "a/+/", "+/", "a/", "//#", "/+/#", "a//#", "a.b/#", "a.b/+", "a b/+/c",
            "a/b.c", "+/b.c",
        ];
        let topics = [
            "a",
            "a/b",
            "a/c",
            "a/b/c",
            "b/b",
            "a/x/c/d",
            "$SYS/x",
            "x",
            "/a",
            "/",
            "a/",
            "a//b",
            "//",
            "/a/c/d",
            "a//c",
            "$SYS/",
            "a.b",
            "a.b/c",
            "a/b/c.d",
            "a/b.c",
            "a b/x/c",
            "a b/x/c/d",
            "b/b.c",
            "a/b/c/b.c",
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
