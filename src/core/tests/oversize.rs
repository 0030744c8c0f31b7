//! Messages larger than the peer accepts (RawSocket: the maximum length the
//! client announced in its handshake) that the peer must get: never silence.
//! The sheddable kinds (EVENT, INVOCATION, a call's answer) are tested with
//! the other size limits in the parent module.

use super::*;
use super::{Cluster, Peer, error_uri, join_limited};

/// RawSocket's smallest announceable maximum length (2^9 octets).
const RAWSOCKET_MIN: usize = 512;

fn hello(c: &mut Cluster, p: &Peer) {
    c.send(
        p,
        Message::Hello(Hello {
            realm: Some("realm1".into()),
            details: Dict::new(),
        }),
    );
}

fn close_reason(p: &Peer) -> Option<CloseReason> {
    p.outbox.borrow().close_reason().cloned()
}

#[rstest::rstest]
fn welcome_larger_than_the_client_accepts_is_answered_with_abort(
    #[values(Serializer::Json, Serializer::MsgPack, Serializer::Cbor)] serializer: Serializer,
) {
    let mut c = Cluster::new(2);
    let p = c.connect_limited(1, serializer, 1 << 20, Some(RAWSOCKET_MIN));
    hello(&mut c, &p);
    c.pump();
    let frames = c.recv_frames(&p);
    assert_eq!(frames.len(), 1, "one reply to HELLO");
    assert!(frames[0].len() <= RAWSOCKET_MIN, "the ABORT fits");
    match serializer.decode(&frames[0]).expect("decodes") {
        Message::Abort(a) => {
            assert_eq!(a.reason, uris::PAYLOAD_SIZE_EXCEEDED);
            let text = a.details.get("message").and_then(Value::as_str);
            let text = text.expect("a message saying why");
            assert!(text.contains("WELCOME"), "{text}");
            assert!(text.contains("512 bytes"), "{text}");
            assert!(text.contains("too small"), "{text}");
        }
        other => panic!("expected ABORT, got {other:?}"),
    }
    assert_eq!(close_reason(&p), Some(CloseReason::MessageTooBig));
    assert_eq!(c.routers[1].session_count(), 0, "the session ended");
    // Nothing the peer sends afterwards is processed.
    hello(&mut c, &p);
    c.pump();
    assert!(c.recv(&p).is_empty());
    assert_eq!(c.routers[1].session_count(), 0);
    // The same client with a limit the WELCOME fits joins.
    let q = c.connect_limited(1, serializer, 1 << 20, Some(4 * RAWSOCKET_MIN));
    hello(&mut c, &q);
    assert!(matches!(c.recv(&q).as_slice(), [Message::Welcome(_)]));
}

#[test]
fn when_not_even_an_abort_fits_the_connection_closes() {
    let mut c = Cluster::new(1);
    let p = c.connect_limited(0, Serializer::Json, 1 << 20, Some(8));
    hello(&mut c, &p);
    assert!(c.recv(&p).is_empty(), "nothing fits in 8 bytes");
    assert_eq!(close_reason(&p), Some(CloseReason::MessageTooBig));
    assert_eq!(c.routers[0].session_count(), 0);
    // The transport goes; nothing is left behind.
    c.close(&p);
    assert_eq!(c.routers[0].connection_count(), 0);
}

#[test]
fn a_too_long_error_for_a_request_loses_its_message_but_arrives() {
    let mut c = Cluster::new(2);
    let p = join_limited(&mut c, 0, 1024);
    // An invalid topic URI longer than the limit: the ERROR would quote it.
    let topic = format!("com..{}", "x".repeat(2000));
    c.send(
        &p,
        Message::Subscribe(Subscribe {
            request: RequestId(9),
            options: Dict::new(),
            topic,
        }),
    );
    c.pump();
    match c.recv(&p).as_slice() {
        [Message::Error(e)] => {
            assert_eq!(
                (e.request_type, e.request, e.error.as_str()),
                (code::SUBSCRIBE, RequestId(9), uris::INVALID_URI)
            );
            assert_eq!(e.payload, Payload::empty(), "the quoted URI is left out");
        }
        other => panic!("expected ERROR, got {other:?}"),
    }
    // The session goes on.
    assert_eq!(close_reason(&p), None);
    c.subscribe(&p, 10, "com.fine", Dict::new());
    assert_eq!(
        error_uri(&c.register(&p, 11, "com..bad", Dict::new())),
        uris::INVALID_URI
    );
}
