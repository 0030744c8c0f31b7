//! Golden vectors: representative messages built in Rust, compared byte for
//! byte with the files under `tests/vectors/<serializer>/`, and decoded back.
//!
//! The files were generated once by the ignored test `regenerate` below
//! (`JUNCTION_REGEN_VECTORS=1 cargo test --test golden_vectors -- --ignored`)
//! and checked independently against Python's `json`, `msgpack` and `cbor2`
//! with `tests/vectors/verify.py`; see `tests/vectors/README.md`.

use std::path::PathBuf;

use bytes::Bytes;
use junction::proto::message::*;
use junction::proto::{
    Dict, PublicationId, RegistrationId, RequestId, Serializer, SessionId, SubscriptionId, Value,
};

fn d(entries: &[(&str, Value)]) -> Dict {
    Dict(
        entries
            .iter()
            .map(|(k, v)| ((*k).to_owned().into(), v.clone()))
            .collect(),
    )
}

fn s(v: &str) -> Value {
    Value::Str(v.to_owned())
}

fn list(items: &[Value]) -> Value {
    Value::List(items.to_vec())
}

fn john() -> Payload {
    Payload {
        args: Some(vec![s("johnny")]),
        kwargs: Some(d(&[("firstname", s("John")), ("surname", s("Doe"))])),
    }
}

/// The vectors: file stem and message.
fn cases() -> Vec<(&'static str, Message)> {
    vec![
        (
            "hello",
            Message::Hello(Hello {
                realm: Some("com.example.realm".into()),
                details: d(&[
                    (
                        "roles",
                        Value::Dict(d(&[
                            ("publisher", Value::Dict(Dict::new())),
                            ("subscriber", Value::Dict(Dict::new())),
                            ("caller", Value::Dict(Dict::new())),
                            (
                                "callee",
                                Value::Dict(d(&[(
                                    "features",
                                    Value::Dict(d(&[(
                                        "progressive_call_results",
                                        Value::Bool(true),
                                    )])),
                                )])),
                            ),
                        ])),
                    ),
                    ("authmethods", list(&[s("anonymous"), s("ticket")])),
                    ("agent", s("junction-test/0.1")),
                ]),
            }),
        ),
        (
            "welcome",
            Message::Welcome(Welcome {
                session: SessionId(9129137332),
                details: d(&[
                    ("authid", s("alice")),
                    ("authrole", s("user")),
                    (
                        "roles",
                        Value::Dict(d(&[
                            (
                                "broker",
                                Value::Dict(d(&[(
                                    "features",
                                    Value::Dict(d(&[("publisher_exclusion", Value::Bool(true))])),
                                )])),
                            ),
                            ("dealer", Value::Dict(Dict::new())),
                        ])),
                    ),
                ]),
            }),
        ),
        (
            "abort",
            Message::Abort(Abort {
                details: d(&[("message", s("The realm does not exist."))]),
                reason: "wamp.error.no_such_realm".into(),
                payload: Payload::empty(),
            }),
        ),
        (
            "goodbye",
            Message::Goodbye(Goodbye {
                details: d(&[("message", s("The host is shutting down now."))]),
                reason: "wamp.close.system_shutdown".into(),
            }),
        ),
        (
            "publish",
            Message::Publish(Publish {
                request: RequestId(239714735),
                options: d(&[
                    ("acknowledge", Value::Bool(true)),
                    ("exclude_me", Value::Bool(false)),
                ]),
                topic: "com.myapp.mytopic1".into(),
                payload: Payload {
                    args: Some(vec![
                        s("Hello, world!"),
                        Value::Int(42),
                        Value::Int(-7),
                        Value::Float(3.25),
                        Value::Null,
                        Value::Bool(true),
                        Value::Bytes(Bytes::from_static(b"\x00\x01\x02\xff")),
                        list(&[
                            Value::Int(1),
                            list(&[Value::Int(2), list(&[Value::Int(3)])]),
                        ]),
                    ]),
                    kwargs: Some(d(&[
                        ("color", s("orange")),
                        (
                            "sizes",
                            list(&[Value::Int(23), Value::Int(42), Value::Int(7)]),
                        ),
                        ("blob", Value::Bytes(Bytes::from_static(b"hi"))),
                        ("big", Value::UInt(u64::MAX)),
                        ("neg", Value::Int(i64::MIN)),
                        ("medium", Value::Int(70000)),
                        ("unicode", s("Grüße, 世界 😀")),
                        ("escape", s("line\nbreak \"q\" \\ tab\t\u{1}")),
                        (
                            "long",
                            s("a string longer than thirty-one bytes, so not a fixstr"),
                        ),
                    ])),
                },
            }),
        ),
        (
            "publish_minimal",
            Message::Publish(Publish {
                request: RequestId(1),
                options: Dict::new(),
                topic: "com.myapp.t".into(),
                payload: Payload::empty(),
            }),
        ),
        (
            "subscribe",
            Message::Subscribe(Subscribe {
                request: RequestId(713845233),
                options: d(&[("match", s("wildcard"))]),
                topic: "com.myapp..update".into(),
            }),
        ),
        (
            "event",
            Message::Event(Event {
                subscription: SubscriptionId(5512315355),
                publication: PublicationId(4429313566),
                details: d(&[("publisher", Value::Int(3335656))]),
                payload: john(),
            }),
        ),
        (
            "call",
            Message::Call(Call {
                request: RequestId(7814135),
                options: d(&[
                    ("timeout", Value::Int(1000)),
                    ("receive_progress", Value::Bool(true)),
                ]),
                procedure: "com.myapp.user.new".into(),
                payload: john(),
            }),
        ),
        (
            "result",
            Message::Result(CallResult {
                request: RequestId(7814135),
                details: d(&[("progress", Value::Bool(false))]),
                payload: Payload::args(vec![
                    Value::Int(30),
                    Value::Float(1.5),
                    Value::Float(-0.25),
                ]),
            }),
        ),
        (
            "error",
            Message::Error(Error {
                request_type: 48,
                request: RequestId(7814135),
                details: Dict::new(),
                error: "com.myapp.error.object_write_protected".into(),
                payload: Payload {
                    args: Some(vec![s("Object is write protected.")]),
                    kwargs: Some(d(&[("severity", Value::Int(3))])),
                },
            }),
        ),
        (
            "register",
            Message::Register(Register {
                request: RequestId(25349185),
                options: d(&[("match", s("prefix")), ("invoke", s("roundrobin"))]),
                procedure: "com.myapp.myprocedure1".into(),
            }),
        ),
        (
            "invocation",
            Message::Invocation(Invocation {
                request: RequestId(6131533),
                registration: RegistrationId(9823526),
                details: d(&[
                    ("caller", Value::Int(3335656)),
                    ("procedure", s("com.myapp.myprocedure1.x")),
                ]),
                payload: Payload::args(vec![s("Hello, world!")]),
            }),
        ),
        (
            "yield",
            Message::Yield(Yield {
                request: RequestId(6131533),
                options: Dict::new(),
                payload: Payload {
                    args: Some(vec![]),
                    kwargs: Some(d(&[("userid", Value::Int(123)), ("karma", Value::Int(10))])),
                },
            }),
        ),
    ]
}

fn path(ser: Serializer, stem: &str) -> PathBuf {
    let ext = if ser == Serializer::Json {
        "json"
    } else {
        "bin"
    };
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(ser.name())
        .join(format!("{stem}.{ext}"))
}

#[test]
fn encode_matches_golden_bytes() {
    for (stem, msg) in cases() {
        for ser in Serializer::ALL {
            let p = path(ser, stem);
            let want = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let got = ser.encode(&msg);
            assert_eq!(
                &got[..],
                &want[..],
                "{} differs; got {:?}",
                p.display(),
                String::from_utf8_lossy(&got)
            );
        }
    }
}

#[test]
fn decode_golden_bytes() {
    for (stem, msg) in cases() {
        for ser in Serializer::ALL {
            let p = path(ser, stem);
            let data = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            assert_eq!(ser.decode(&data).as_ref(), Ok(&msg), "{}", p.display());
        }
    }
}

#[test]
fn every_vector_file_is_tested() {
    let stems: Vec<&str> = cases().iter().map(|(s, _)| *s).collect();
    for ser in Serializer::ALL {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/vectors")
            .join(ser.name());
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).expect("vector directory exists") {
            let name = entry.expect("readable directory").file_name();
            let name = name.to_string_lossy();
            let stem = name.rsplit_once('.').map_or(&*name, |(s, _)| s);
            assert!(stems.contains(&stem), "untested vector {}", name);
            n += 1;
        }
        assert_eq!(n, stems.len(), "{}", dir.display());
    }
}

/// Writes the vector files from the Rust messages. Run only when the set of
/// vectors changes, then re-run `tests/vectors/verify.py`.
#[test]
#[ignore = "writes tests/vectors; run by hand with JUNCTION_REGEN_VECTORS=1"]
fn regenerate() {
    if std::env::var_os("JUNCTION_REGEN_VECTORS").is_none() {
        return;
    }
    for (stem, msg) in cases() {
        for ser in Serializer::ALL {
            let p = path(ser, stem);
            std::fs::create_dir_all(p.parent().expect("has a parent")).expect("mkdir");
            std::fs::write(&p, ser.encode(&msg)).expect("write vector");
        }
    }
}
