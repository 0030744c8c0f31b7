//! Property tests for the three WAMP codecs: value and message round trips per
//! serializer, agreement across serializers, and no panics on arbitrary bytes.

use bytes::{Bytes, BytesMut};
use junction::proto::codec::{cbor, json, msgpack};
use junction::proto::message::*;
use junction::proto::{
    Dict, MAX_ID, PublicationId, RegistrationId, RequestId, Serializer, SessionId, SubscriptionId,
    Value,
};
use proptest::collection::vec;
use proptest::prelude::*;

type Encode = fn(&Value, &mut BytesMut);
type Decode = fn(&[u8]) -> Result<Value, junction::proto::DecodeError>;

const CODECS: [(&str, Encode, Decode); 3] = [
    ("json", json::encode_value, json::decode_value),
    ("msgpack", msgpack::encode_value, msgpack::decode_value),
    ("cbor", cbor::encode_value, cbor::decode_value),
];

/// Any string, except that JSON reads a leading U+0000 as "binary follows",
/// so values meant for every codec never start with one.
fn text() -> impl Strategy<Value = String> {
    any::<String>().prop_map(|s| {
        if s.starts_with('\0') {
            format!("x{s}")
        } else {
            s
        }
    })
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        (-1000i64..1000).prop_map(Value::Int),
        ((1u64 << 63)..=u64::MAX).prop_map(Value::UInt),
        // Finite: JSON cannot carry NaN or infinities, and NaN != NaN.
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::Float),
        text().prop_map(Value::Str),
        vec(any::<u8>(), 0..48).prop_map(|b| Value::Bytes(Bytes::from(b))),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::List),
            vec((any::<String>(), inner), 0..6).prop_map(|e| Value::Dict(Dict::from(e))),
        ]
    })
}

fn dict() -> impl Strategy<Value = Dict> {
    vec((any::<String>(), value()), 0..4).prop_map(Dict::from)
}

fn id() -> impl Strategy<Value = u64> {
    prop_oneof![1..=MAX_ID, Just(1u64), Just(MAX_ID)]
}

fn uri() -> impl Strategy<Value = String> {
    "[a-z]{1,8}(\\.[a-z0-9_]{1,8}){0,4}"
}

/// Payloads as they survive the wire: kwargs without args come back with
/// `args: Some(vec![])`, so that shape is not generated.
fn payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        Just(Payload::empty()),
        vec(value(), 0..4).prop_map(Payload::args),
        (vec(value(), 0..4), dict()).prop_map(|(a, k)| Payload {
            args: Some(a),
            kwargs: Some(k),
        }),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        (proptest::option::of(uri()), dict())
            .prop_map(|(realm, details)| Message::Hello(Hello { realm, details })),
        (id(), dict()).prop_map(|(s, details)| Message::Welcome(Welcome {
            session: SessionId(s),
            details
        })),
        (dict(), uri(), payload()).prop_map(|(details, reason, payload)| Message::Abort(Abort {
            details,
            reason,
            payload
        })),
        (dict(), uri()).prop_map(|(details, reason)| Message::Goodbye(Goodbye { details, reason })),
        (any::<u64>(), id(), dict(), uri(), payload()).prop_map(
            |(request_type, r, details, error, payload)| Message::Error(Error {
                request_type,
                request: RequestId(r),
                details,
                error,
                payload,
            })
        ),
        (id(), dict(), uri(), payload()).prop_map(|(r, options, topic, payload)| {
            Message::Publish(Publish {
                request: RequestId(r),
                options,
                topic,
                payload,
            })
        }),
        (id(), id()).prop_map(|(r, p)| Message::Published(Published {
            request: RequestId(r),
            publication: PublicationId(p),
        })),
        (id(), dict(), uri()).prop_map(|(r, options, topic)| Message::Subscribe(Subscribe {
            request: RequestId(r),
            options,
            topic,
        })),
        (id(), id(), dict(), payload()).prop_map(|(s, p, details, payload)| {
            Message::Event(Event {
                subscription: SubscriptionId(s),
                publication: PublicationId(p),
                details,
                payload,
            })
        }),
        (id(), dict(), uri(), payload()).prop_map(|(r, options, procedure, payload)| {
            Message::Call(Call {
                request: RequestId(r),
                options,
                procedure,
                payload,
            })
        }),
        (id(), dict(), payload()).prop_map(|(r, details, payload)| Message::Result(CallResult {
            request: RequestId(r),
            details,
            payload,
        })),
        (id(), dict(), uri()).prop_map(|(r, options, procedure)| Message::Register(Register {
            request: RequestId(r),
            options,
            procedure,
        })),
        (0..=MAX_ID, proptest::option::of(dict())).prop_map(|(r, details)| {
            Message::Unregistered(Unregistered {
                request: RequestId(r),
                details,
            })
        }),
        (id(), id(), dict(), payload()).prop_map(|(r, reg, details, payload)| {
            Message::Invocation(Invocation {
                request: RequestId(r),
                registration: RegistrationId(reg),
                details,
                payload,
            })
        }),
        (id(), dict(), payload()).prop_map(|(r, options, payload)| Message::Yield(Yield {
            request: RequestId(r),
            options,
            payload,
        })),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn value_round_trips(v in value()) {
        for (name, encode, decode) in CODECS {
            let mut out = BytesMut::new();
            encode(&v, &mut out);
            prop_assert_eq!(decode(&out), Ok(v.clone()), "codec {}", name);
        }
    }

    #[test]
    fn json_output_is_valid_json(v in value()) {
        let mut out = BytesMut::new();
        json::encode_value(&v, &mut out);
        prop_assert!(serde_json::from_slice::<serde_json::Value>(&out).is_ok());
    }

    #[test]
    fn binary_codecs_carry_any_string_and_infinities(
        s in any::<String>(),
        f in prop_oneof![Just(f64::INFINITY), Just(f64::NEG_INFINITY), any::<f64>()],
    ) {
        let v = Value::List(vec![Value::Str(s), Value::Float(f)]);
        for (name, encode, decode) in &CODECS[1..] {
            let mut out = BytesMut::new();
            encode(&v, &mut out);
            let back = decode(&out).expect("own encoding decodes");
            match (&back, &v) {
                (Value::List(b), Value::List(o)) => {
                    prop_assert_eq!(&b[0], &o[0], "codec {}", name);
                    match (&b[1], f) {
                        (Value::Float(x), f) if f.is_nan() => prop_assert!(x.is_nan()),
                        (Value::Float(x), f) => prop_assert_eq!(x.to_bits(), f.to_bits()),
                        (other, _) => prop_assert!(false, "not a float: {:?}", other),
                    }
                }
                _ => prop_assert!(false, "not a list: {:?}", back),
            }
        }
    }

    #[test]
    fn message_round_trips(m in message()) {
        for s in Serializer::ALL {
            let bytes = s.encode(&m);
            prop_assert_eq!(s.decode(&bytes), Ok(m.clone()), "serializer {}", s.name());
        }
    }

    #[test]
    fn serializers_agree(m in message()) {
        let decoded: Vec<Message> = Serializer::ALL
            .into_iter()
            .map(|s| s.decode(&s.encode(&m)).expect("own encoding decodes"))
            .collect();
        prop_assert_eq!(&decoded[0], &decoded[1]);
        prop_assert_eq!(&decoded[1], &decoded[2]);
    }

    #[test]
    fn encode_into_appends(m in message(), prefix in vec(any::<u8>(), 0..16)) {
        for s in Serializer::ALL {
            let mut out = BytesMut::from(&prefix[..]);
            s.encode_into(&m, &mut out);
            prop_assert_eq!(&out[..prefix.len()], &prefix[..]);
            prop_assert_eq!(&out[prefix.len()..], &s.encode(&m)[..]);
        }
    }

    #[test]
    fn random_bytes_never_panic(data in vec(any::<u8>(), 0..512)) {
        for s in Serializer::ALL {
            let _ = s.decode(&data);
        }
        for (_, _, decode) in CODECS {
            let _ = decode(&data);
        }
    }

    #[test]
    fn mutated_messages_never_panic_and_reencode_stably(
        m in message(),
        flips in vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        for s in Serializer::ALL {
            let mut bytes = s.encode(&m).to_vec();
            for (at, b) in &flips {
                let i = at.index(bytes.len());
                bytes[i] = *b;
            }
            if let Ok(decoded) = s.decode(&bytes) {
                let again = s.encode(&decoded);
                let redecoded = s.decode(&again).expect("own encoding decodes");
                prop_assert_eq!(&s.encode(&redecoded), &again);
                // A NaN (which msgpack and CBOR can carry) is unequal to itself.
                #[allow(clippy::eq_op)]
                let has_nan = decoded != decoded;
                if !has_nan {
                    prop_assert_eq!(redecoded, decoded);
                }
            }
            let _ = s.decode(&bytes[..cut.index(bytes.len())]);
        }
    }
}
