//! Peers with a maximum message length, and trust levels from role or transport.

use std::rc::Rc;

use super::*;

/// Joins realm1 on `shard` over a transport whose trust level is `level`.
fn join_with_transport_trust(c: &mut Cluster, shard: usize, level: Option<u64>) -> Peer {
    let saved = Rc::clone(&c.transport);
    let mut t = (*saved).clone();
    t.auth.trustlevel = level;
    c.transport = Rc::new(t);
    let (p, _) = c.join(shard, Serializer::Json, "realm1");
    c.transport = saved;
    p
}

#[rstest::rstest]
#[case::transport_only(None, Some(7), Some(7))]
#[case::role_wins(Some(3), Some(7), Some(3))]
#[case::none(None, None, None)]
fn trust_level_comes_from_the_role_else_the_transport(
    #[case] role_level: Option<u64>,
    #[case] transport_level: Option<u64>,
    #[case] expected: Option<u64>,
) {
    let mut config = test_config();
    config.realms[0].roles[0].trustlevel = role_level;
    let mut c = Cluster::with_config(2, config);
    let (sub, _) = c.join(0, Serializer::Json, "realm1");
    c.subscribe(&sub, 1, "com.trust.t", Dict::new());
    assert!(matches!(
        c.register(&sub, 2, "com.trust.p", Dict::new()),
        Message::Registered(_)
    ));
    let publisher = join_with_transport_trust(&mut c, 1, transport_level);
    c.publish(&publisher, 1, "com.trust.t", Dict::new(), Payload::empty());
    c.send(
        &publisher,
        Message::Call(Call {
            request: RequestId(2),
            options: Dict::new(),
            procedure: "com.trust.p".into(),
            payload: Payload::empty(),
        }),
    );
    c.pump();
    let got = c.recv(&sub);
    let event = events(&got);
    assert_eq!(event.len(), 1);
    assert_eq!(
        event[0].details.get("trustlevel").and_then(Value::as_u64),
        expected
    );
    let inv = got
        .iter()
        .find_map(|m| match m {
            Message::Invocation(i) => Some(i),
            _ => None,
        })
        .expect("INVOCATION");
    assert_eq!(
        inv.details.get("trustlevel").and_then(Value::as_u64),
        expected
    );
}

fn big(n: usize) -> Payload {
    Payload::args(vec![Value::Str("x".repeat(n))])
}

#[test]
fn answers_larger_than_the_caller_accepts_become_errors() {
    let mut c = Cluster::new(2);
    let (callee, _) = c.join(0, Serializer::Json, "realm1");
    let caller = join_limited(&mut c, 1, 1024);
    assert!(matches!(
        c.register(&callee, 1, "com.big.result", Dict::new()),
        Message::Registered(_)
    ));
    for (req, size, expect_error) in [(1u64, 4000usize, true), (2, 10, false)] {
        c.send(
            &caller,
            Message::Call(Call {
                request: RequestId(req),
                options: Dict::new(),
                procedure: "com.big.result".into(),
                payload: Payload::empty(),
            }),
        );
        c.pump();
        let inv = match c.recv(&callee).as_slice() {
            [Message::Invocation(i)] => i.request,
            other => panic!("expected INVOCATION, got {other:?}"),
        };
        c.send(
            &callee,
            Message::Yield(Yield {
                request: inv,
                options: Dict::new(),
                payload: big(size),
            }),
        );
        c.pump();
        match c.recv(&caller).as_slice() {
            [Message::Error(e)] if expect_error => {
                assert_eq!(
                    (e.request, e.error.as_str()),
                    (RequestId(req), uris::PAYLOAD_SIZE_EXCEEDED)
                );
            }
            [Message::Result(r)] if !expect_error => assert_eq!(r.request, RequestId(req)),
            other => panic!("call {req}: got {other:?}"),
        }
    }
}

#[test]
fn arguments_larger_than_the_callee_accepts_fail_the_call() {
    let mut c = Cluster::new(2);
    let callee = join_limited(&mut c, 0, 1024);
    let (caller, _) = c.join(1, Serializer::Json, "realm1");
    assert!(matches!(
        c.register(&callee, 1, "com.big.args", Dict::new()),
        Message::Registered(_)
    ));
    c.send(
        &caller,
        Message::Call(Call {
            request: RequestId(1),
            options: Dict::new(),
            procedure: "com.big.args".into(),
            payload: big(4000),
        }),
    );
    c.pump();
    assert!(c.recv(&callee).is_empty(), "nothing reached the callee");
    match c.recv(&caller).as_slice() {
        [Message::Error(e)] => assert_eq!(e.error, uris::PAYLOAD_SIZE_EXCEEDED),
        other => panic!("expected ERROR, got {other:?}"),
    }
    // The callee still serves calls that fit.
    c.send(
        &caller,
        Message::Call(Call {
            request: RequestId(2),
            options: Dict::new(),
            procedure: "com.big.args".into(),
            payload: big(10),
        }),
    );
    c.pump();
    assert!(matches!(
        c.recv(&callee).as_slice(),
        [Message::Invocation(_)]
    ));
}

#[test]
fn events_larger_than_a_subscriber_accepts_skip_only_that_subscriber() {
    let mut c = Cluster::new(2);
    let small = join_limited(&mut c, 0, 1024);
    let (normal, _) = c.join(0, Serializer::Json, "realm1");
    let (publisher, _) = c.join(1, Serializer::Json, "realm1");
    c.subscribe(&small, 1, "com.big.t", Dict::new());
    c.subscribe(&normal, 1, "com.big.t", Dict::new());
    c.publish(&publisher, 1, "com.big.t", Dict::new(), big(4000));
    c.publish(&publisher, 2, "com.big.t", Dict::new(), big(10));
    c.pump();
    assert_eq!(events(&c.recv(&normal)).len(), 2);
    let got = c.recv(&small);
    let ev = events(&got);
    assert_eq!(ev.len(), 1, "only the event that fits");
    assert_eq!(ev[0].payload, big(10));
}
