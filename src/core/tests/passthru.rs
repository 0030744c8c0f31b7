//! Payloads the router passes on without looking inside
//! (`proto/passthru.rs`): the spec's Payload Passthru Mode (`ppt_*`
//! options, the features it requires of each peer) and Autobahn|Python's
//! transparent payloads (`enc_*` options, the payload bare in place of the
//! arguments list), across shards and serializers.

use super::*;
use crate::proto::codec::{cbor, json, msgpack};
use crate::proto::message::code;

const PUBLISHER: (&str, &str) = ("publisher", "payload_passthru_mode");
const CALLER: (&str, &str) = ("caller", "payload_passthru_mode");
const CALLEE: (&str, &str) = ("callee", "payload_passthru_mode");
const PROGRESS: (&str, &str) = ("callee", "progressive_call_results");

fn sealed() -> Value {
    Value::Bytes(Bytes::from_static(b"\x01\x02sealed box"))
}

fn ppt() -> Dict {
    Dict::new()
        .with("ppt_scheme", "wamp")
        .with("ppt_serializer", "cbor")
        .with("ppt_cipher", "xsalsa20poly1305")
        .with("ppt_keyid", "0x5e11")
}

fn enc() -> Dict {
    Dict::new()
        .with("enc_algo", "cryptobox")
        .with("enc_key", "key-1")
        .with("enc_serializer", "json")
}

/// Whether `d` has every entry of `want`.
fn carries(d: &Dict, want: &Dict) -> bool {
    want.iter().all(|(k, v)| d.get(k) == Some(v))
}

/// A session on `shard` in `serializer` announcing `features`.
fn join_as(
    c: &mut Cluster,
    shard: usize,
    serializer: Serializer,
    features: &[(&'static str, &'static str)],
) -> Peer {
    let roles = super::rpc::roles_of(features);
    let p = c.connect_raw(shard, serializer, 1 << 20);
    c.send(
        &p,
        Message::Hello(Hello {
            realm: Some("realm1".into()),
            details: Dict::new().with("roles", roles),
        }),
    );
    assert!(matches!(c.recv(&p).as_slice(), [Message::Welcome(_)]));
    p
}

fn call(c: &mut Cluster, p: &Peer, req: u64, options: Dict, payload: Payload) {
    c.send(
        p,
        Message::Call(Call {
            request: RequestId(req),
            options,
            procedure: "com.example.vault".into(),
            payload,
        }),
    );
    c.pump();
}

fn yield_(c: &mut Cluster, p: &Peer, request: RequestId, options: Dict, payload: Payload) {
    c.send(
        p,
        Message::Yield(Yield {
            request,
            options,
            payload,
        }),
    );
    c.pump();
}

fn invocation(c: &mut Cluster, callee: &Peer) -> Invocation {
    match c.recv(callee).as_slice() {
        [Message::Invocation(i)] => i.clone(),
        other => panic!("expected INVOCATION, got {other:?}"),
    }
}

fn aborted(c: &mut Cluster, p: &Peer) -> String {
    match c.recv(p).as_slice() {
        [Message::Abort(a)] => {
            assert_eq!(a.reason, uris::PROTOCOL_VIOLATION);
            a.details
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        }
        other => panic!("expected ABORT, got {other:?}"),
    }
}

#[test]
fn ppt_options_reach_subscribers_callees_and_callers() {
    let mut c = Cluster::new(2);
    let publisher = join_as(&mut c, 0, Serializer::Json, &[PUBLISHER]);
    let subscriber = join_as(&mut c, 1, Serializer::MsgPack, &[]);
    c.subscribe(&subscriber, 1, "com.example.vault", Dict::new());
    let options = ppt().with("acknowledge", true);
    c.publish(
        &publisher,
        2,
        "com.example.vault",
        options,
        args(vec![sealed()]),
    );
    c.pump();
    assert!(matches!(
        c.recv(&publisher).as_slice(),
        [Message::Published(_)]
    ));
    let got = c.recv(&subscriber);
    let ev = events(&got);
    assert_eq!(ev.len(), 1, "{got:?}");
    assert!(carries(&ev[0].details, &ppt()), "{:?}", ev[0].details);
    assert_eq!(ev[0].details.get("acknowledge"), None);
    assert_eq!(ev[0].payload, args(vec![sealed()]));

    // CALL → INVOCATION, progressive and final YIELD → RESULT, callee ERROR → ERROR.
    let callee = join_as(&mut c, 1, Serializer::Cbor, &[CALLEE, PROGRESS]);
    c.reg_ok(&callee, 1, "com.example.vault", Dict::new());
    let caller = join_as(&mut c, 0, Serializer::Json, &[CALLER]);
    let options = ppt().with("receive_progress", true);
    call(&mut c, &caller, 3, options, args(vec![sealed()]));
    let inv = invocation(&mut c, &callee);
    assert!(carries(&inv.details, &ppt()), "{:?}", inv.details);
    assert_eq!(inv.payload, args(vec![sealed()]));
    let answer = ppt().with("ppt_keyid", "0xca11ee");
    let progress = answer.clone().with("progress", true);
    yield_(&mut c, &callee, inv.request, progress, args(vec![sealed()]));
    yield_(
        &mut c,
        &callee,
        inv.request,
        answer.clone(),
        args(vec![sealed()]),
    );
    match c.recv(&caller).as_slice() {
        [Message::Result(p), Message::Result(r)] => {
            assert!(carries(&p.details, &answer), "{:?}", p.details);
            assert_eq!(p.details.get("progress"), Some(&Value::Bool(true)));
            assert!(carries(&r.details, &answer), "{:?}", r.details);
            assert_eq!(r.details.get("progress"), None);
            assert_eq!(r.payload, args(vec![sealed()]));
        }
        other => panic!("expected two RESULTs, got {other:?}"),
    }
    call(&mut c, &caller, 4, ppt(), args(vec![sealed()]));
    let inv = invocation(&mut c, &callee);
    c.send(
        &callee,
        Message::Error(Error {
            request_type: code::INVOCATION,
            request: inv.request,
            details: answer.clone(),
            error: "com.example.refused".into(),
            payload: args(vec![sealed()]),
        }),
    );
    c.pump();
    match c.recv(&caller).as_slice() {
        [Message::Error(e)] => {
            assert_eq!(e.error, "com.example.refused");
            assert!(carries(&e.details, &answer), "{:?}", e.details);
        }
        other => panic!("expected ERROR, got {other:?}"),
    }
}

/// The spec's rules: a sender that did not announce the feature commits a
/// protocol violation; a callee or caller that did not announce it is not
/// sent a passthru payload, and the call fails with
/// `wamp.error.feature_not_supported`.
#[test]
fn ppt_needs_every_peer_to_announce_it() {
    let mut c = Cluster::new(2);
    let publisher = join_as(&mut c, 0, Serializer::Json, &[]);
    c.publish(
        &publisher,
        1,
        "com.example.vault",
        ppt(),
        args(vec![sealed()]),
    );
    c.pump();
    assert!(aborted(&mut c, &publisher).contains("payload_passthru_mode"));
    let caller = join_as(&mut c, 0, Serializer::Json, &[]);
    call(&mut c, &caller, 1, ppt(), args(vec![sealed()]));
    assert!(aborted(&mut c, &caller).contains("payload_passthru_mode"));

    // A callee without the feature: the caller gets feature_not_supported.
    let plain = join_as(&mut c, 1, Serializer::Json, &[]);
    c.reg_ok(&plain, 1, "com.example.vault", Dict::new());
    let caller = join_as(&mut c, 0, Serializer::Cbor, &[CALLER]);
    call(&mut c, &caller, 2, ppt(), args(vec![sealed()]));
    assert!(c.recv(&plain).is_empty());
    let got = c.recv(&caller);
    assert_eq!(error_uri(&got[0]), uris::FEATURE_NOT_SUPPORTED, "{got:?}");
    // A plain call reaches it; its YIELD in passthru mode is a violation.
    call(
        &mut c,
        &caller,
        3,
        Dict::new(),
        args(vec![Value::from(1u64)]),
    );
    let inv = invocation(&mut c, &plain);
    yield_(&mut c, &plain, inv.request, ppt(), args(vec![sealed()]));
    assert!(aborted(&mut c, &plain).contains("YIELD"));

    // A caller without the feature answered in passthru mode: the callee
    // gets an ERROR for its YIELD, the caller feature_not_supported.
    let callee = join_as(&mut c, 1, Serializer::Json, &[CALLEE]);
    c.reg_ok(&callee, 1, "com.example.vault", Dict::new());
    let _ = c.recv(&caller);
    let old = join_as(&mut c, 0, Serializer::Json, &[]);
    call(&mut c, &old, 4, Dict::new(), args(vec![Value::from(2u64)]));
    let inv = invocation(&mut c, &callee);
    yield_(&mut c, &callee, inv.request, ppt(), args(vec![sealed()]));
    match c.recv(&callee).as_slice() {
        [Message::Error(e)] => {
            assert_eq!((e.request_type, e.request), (code::YIELD, inv.request));
            assert_eq!(e.error, uris::FEATURE_NOT_SUPPORTED);
        }
        other => panic!("expected ERROR, got {other:?}"),
    }
    let got = c.recv(&old);
    assert_eq!(error_uri(&got[0]), uris::FEATURE_NOT_SUPPORTED, "{got:?}");
    assert_eq!(c.routers[1].dealer.pending_count(), 0);
    assert_eq!(c.routers[0].dealer.pending_count(), 0);
}

/// The element after the topic, procedure or details of a raw frame.
fn last(serializer: Serializer, frame: &[u8]) -> (usize, Value) {
    let mut list = match serializer {
        Serializer::Json => json::decode_list(frame),
        Serializer::MsgPack => msgpack::decode_list(frame),
        Serializer::Cbor => cbor::decode_list(frame),
    }
    .expect("decodes");
    (list.len(), list.pop().expect("not empty"))
}

/// Autobahn|Python's form: every subscriber, callee and caller gets the
/// payload bare, as sent, in its own serializer, with the `enc_*` options.
#[test]
fn transparent_payloads_stay_bare_in_every_serializer() {
    let mut c = Cluster::new(2);
    let subscribers: Vec<Peer> = Serializer::ALL
        .iter()
        .enumerate()
        .map(|(i, s)| join_as(&mut c, i % 2, *s, &[]))
        .collect();
    for s in &subscribers {
        c.subscribe(s, 1, "com.example.vault", Dict::new());
    }
    let publisher = join_as(&mut c, 0, Serializer::Cbor, &[]);
    c.publish(
        &publisher,
        2,
        "com.example.vault",
        enc(),
        args(vec![sealed()]),
    );
    c.pump();
    for s in &subscribers {
        let frames = c.recv_frames(s);
        assert_eq!(frames.len(), 1);
        assert_eq!(
            last(s.serializer, &frames[0]),
            (5, sealed()),
            "{:?}",
            s.serializer
        );
        match s.serializer.decode(&frames[0]).expect("decodes") {
            Message::Event(e) => assert!(carries(&e.details, &enc()), "{:?}", e.details),
            other => panic!("expected EVENT, got {other:?}"),
        }
    }
    let callee = join_as(&mut c, 1, Serializer::MsgPack, &[]);
    c.reg_ok(&callee, 1, "com.example.vault", Dict::new());
    let caller = join_as(&mut c, 0, Serializer::Json, &[]);
    call(&mut c, &caller, 3, enc(), args(vec![sealed()]));
    let frames = c.recv_frames(&callee);
    assert_eq!(last(Serializer::MsgPack, &frames[0]), (5, sealed()));
    let Ok(Message::Invocation(inv)) = Serializer::MsgPack.decode(&frames[0]) else {
        panic!("expected INVOCATION");
    };
    assert!(carries(&inv.details, &enc()), "{:?}", inv.details);
    yield_(&mut c, &callee, inv.request, enc(), args(vec![sealed()]));
    let frames = c.recv_frames(&caller);
    assert_eq!(last(Serializer::Json, &frames[0]), (4, sealed()));
    let Ok(Message::Result(r)) = Serializer::Json.decode(&frames[0]) else {
        panic!("expected RESULT");
    };
    assert!(carries(&r.details, &enc()), "{:?}", r.details);
}
