//! A call's round trip through the real routing core, in process: one
//! [`ShardRouter`] (1 shard, `Config::embedded_default()`, a no-op mesh), a
//! callee that registered `com.bench.echo` and a caller, both JSON.
//!
//! One iteration = the caller's CALL frame (100-byte string argument) fed
//! to [`ShardRouter::feed_frame`] → the guard, the dealer, INVOCATION queued
//! on the callee's outbox; the callee's side reads the INVOCATION's request
//! ID, its YIELD frame is fed back, RESULT queued on the caller's outbox and
//! drained. Decoding the INVOCATION and encoding the YIELD (what a client
//! does) are inside the measured time too; they are the same for any
//! router build, so A/B comparisons of builds see the router's share.
//!
//! Name: `rpc/roundtrip/json`.

use std::collections::VecDeque;
use std::hint::black_box;
use std::rc::Rc;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use junction::config::Config;
use junction::core::ShardRouter;
use junction::core::api::{FrontEnd, LinkId, LinkInfo, Output};
use junction::core::cluster::{Mesh, ShardMsg};
use junction::core::outbox::{Outbox, OutboxRef};
use junction::proto::{
    Call, Dict, Hello, Message, Payload, Register, RequestId, Serializer, ShardId, Value, Yield,
};

const PROCEDURE: &str = "com.bench.echo";

/// A one-shard router never sends to another shard.
struct NoMesh;

impl Mesh for NoMesh {
    fn send(&mut self, _to: ShardId, _msg: ShardMsg) {}
}

struct Setup {
    router: ShardRouter,
    caller: LinkId,
    caller_out: OutboxRef,
    callee: LinkId,
    callee_out: OutboxRef,
    call_frame: Bytes,
    batch: VecDeque<Bytes>,
}

fn connect(router: &mut ShardRouter, config: &Config) -> (LinkId, OutboxRef) {
    let transport = Rc::new(config.transports[0].clone());
    let outbox = Outbox::new_ref(config.limits.outbound_queue_bytes);
    let info = LinkInfo::new(transport, FrontEnd::WebSocket, "bench");
    let out = Output::Wire {
        outbox: Rc::clone(&outbox),
        serializer: Serializer::Json,
    };
    let conn = router.open(info, out).expect("open");
    let hello = Serializer::Json.encode(&Message::Hello(Hello {
        realm: Some("realm1".into()),
        details: Dict::new(),
    }));
    router.feed_frame(conn, &hello);
    outbox.borrow_mut().drain_into(&mut VecDeque::new());
    (conn, outbox)
}

fn setup() -> Setup {
    let config = Config::embedded_default();
    let mut router = ShardRouter::new(ShardId(0), 1, &config, Box::new(NoMesh));
    let (callee, callee_out) = connect(&mut router, &config);
    let register = Serializer::Json.encode(&Message::Register(Register {
        request: RequestId(1),
        options: Dict::new(),
        procedure: PROCEDURE.into(),
    }));
    router.feed_frame(callee, &register);
    let mut got = VecDeque::new();
    callee_out.borrow_mut().drain_into(&mut got);
    assert!(matches!(
        Serializer::Json.decode(&got[0]),
        Ok(Message::Registered(_))
    ));
    let (caller, caller_out) = connect(&mut router, &config);
    let call_frame = Serializer::Json.encode(&Message::Call(Call {
        request: RequestId(7),
        options: Dict::new(),
        procedure: PROCEDURE.into(),
        payload: Payload {
            args: Some(vec![Value::from("x".repeat(100))]),
            kwargs: None,
        },
    }));
    let mut s = Setup {
        router,
        caller,
        caller_out,
        callee,
        callee_out,
        call_frame,
        batch: VecDeque::with_capacity(4),
    };
    // Sanity check: one round trip gives the caller one RESULT.
    let result = round_trip(&mut s);
    assert!(matches!(
        Serializer::Json.decode(&result),
        Ok(Message::Result(_))
    ));
    s
}

/// The measured step: CALL in, INVOCATION out, YIELD in, RESULT out.
fn round_trip(s: &mut Setup) -> Bytes {
    s.router.feed_frame(s.caller, black_box(&s.call_frame));
    s.callee_out.borrow_mut().drain_into(&mut s.batch);
    let inv = s.batch.pop_front().expect("INVOCATION queued");
    let Ok(Message::Invocation(inv)) = Serializer::Json.decode(&inv) else {
        panic!("expected INVOCATION");
    };
    let yield_frame = Serializer::Json.encode(&Message::Yield(Yield {
        request: inv.request,
        options: Dict::new(),
        payload: inv.payload,
    }));
    s.router.feed_frame(s.callee, &yield_frame);
    s.caller_out.borrow_mut().drain_into(&mut s.batch);
    s.batch.pop_front().expect("RESULT queued")
}

fn rpc(c: &mut Criterion) {
    let mut s = setup();
    let mut g = c.benchmark_group("rpc/roundtrip");
    g.throughput(Throughput::Elements(1));
    g.bench_function("json", |b| b.iter(|| round_trip(&mut s)));
    g.finish();
}

criterion_group!(benches, rpc);
criterion_main!(benches);
