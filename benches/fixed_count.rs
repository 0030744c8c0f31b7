//! Fixed-count loops of the routing core's two hot paths, for counting
//! instructions under valgrind when wall time is too noisy to compare two
//! builds (a shared machine): the difference between two counts of
//! iterations, divided by their difference, is the instructions per
//! iteration, setup excluded and independent of the machine's load.
//!
//! ```sh
//! cargo bench --bench fixed_count --no-run       # prints the binary's path
//! valgrind --tool=cachegrind --cache-sim=no BIN fanout 200
//! valgrind --tool=cachegrind --cache-sim=no BIN fanout 400   # (I₄₀₀ − I₂₀₀) / 200
//! valgrind --tool=cachegrind --cache-sim=no BIN rpc 5000
//! ```
//!
//! `fanout N`: N PUBLISH frames (JSON, 100 B) to 1,000 JSON subscribers on
//! one shard, every outbox drained (as `benches/broker.rs`). `rpc N`: N call
//! round trips, CALL → INVOCATION → YIELD → RESULT (as `benches/rpc.rs`).
//! `JUNCTION_TIMING=0` turns the routing-latency histogram off.

use std::collections::VecDeque;
use std::hint::black_box;
use std::rc::Rc;

use bytes::Bytes;
use junction::config::Config;
use junction::core::ShardRouter;
use junction::core::api::{FrontEnd, LinkId, LinkInfo, Output};
use junction::core::cluster::{Mesh, ShardMsg};
use junction::core::outbox::{Outbox, OutboxRef};
use junction::proto::{
    Call, Dict, Hello, Message, Payload, Publish, Register, RequestId, Serializer, ShardId,
    Subscribe, Value, Yield,
};

/// A one-shard router never sends to another shard.
struct NoMesh;

impl Mesh for NoMesh {
    fn send(&mut self, _to: ShardId, _msg: ShardMsg) {}
}

fn router() -> (ShardRouter, Config) {
    let config = Config::embedded_default();
    let mut r = ShardRouter::new(ShardId(0), 1, &config, Box::new(NoMesh));
    if std::env::var("JUNCTION_TIMING").as_deref() == Ok("0") {
        r.set_timing(false);
    }
    (r, config)
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

fn payload() -> Payload {
    Payload {
        args: Some(vec![Value::from("x".repeat(100))]),
        kwargs: None,
    }
}

fn fanout(n: usize) -> usize {
    let (mut r, config) = router();
    let mut outboxes = Vec::new();
    for _ in 0..1000 {
        let (conn, outbox) = connect(&mut r, &config);
        let sub = Serializer::Json.encode(&Message::Subscribe(Subscribe {
            request: RequestId(1),
            options: Dict::new(),
            topic: "com.bench.fanout".into(),
        }));
        r.feed_frame(conn, &sub);
        outbox.borrow_mut().drain_into(&mut VecDeque::new());
        outboxes.push(outbox);
    }
    let (publisher, _) = connect(&mut r, &config);
    let frame = Serializer::Json.encode(&Message::Publish(Publish {
        request: RequestId(2),
        options: Dict::new(),
        topic: "com.bench.fanout".into(),
        payload: payload(),
    }));
    let mut batch: VecDeque<Bytes> = VecDeque::new();
    let mut events = 0;
    for _ in 0..n {
        r.feed_frame(publisher, black_box(&frame));
        for o in &outboxes {
            o.borrow_mut().drain_into(&mut batch);
            events += batch.len();
            batch.clear();
        }
    }
    events
}

fn rpc(n: usize) -> usize {
    let (mut r, config) = router();
    let (callee, callee_out) = connect(&mut r, &config);
    let register = Serializer::Json.encode(&Message::Register(Register {
        request: RequestId(1),
        options: Dict::new(),
        procedure: "com.bench.echo".into(),
    }));
    r.feed_frame(callee, &register);
    callee_out.borrow_mut().drain_into(&mut VecDeque::new());
    let (caller, caller_out) = connect(&mut r, &config);
    let call = Serializer::Json.encode(&Message::Call(Call {
        request: RequestId(7),
        options: Dict::new(),
        procedure: "com.bench.echo".into(),
        payload: payload(),
    }));
    let mut batch: VecDeque<Bytes> = VecDeque::new();
    let mut results = 0;
    for _ in 0..n {
        r.feed_frame(caller, black_box(&call));
        callee_out.borrow_mut().drain_into(&mut batch);
        let inv = batch.pop_front().expect("INVOCATION queued");
        let Ok(Message::Invocation(inv)) = Serializer::Json.decode(&inv) else {
            panic!("expected INVOCATION");
        };
        let y = Serializer::Json.encode(&Message::Yield(Yield {
            request: inv.request,
            options: Dict::new(),
            payload: inv.payload,
        }));
        r.feed_frame(callee, &y);
        caller_out.borrow_mut().drain_into(&mut batch);
        results += batch.len();
        batch.clear();
    }
    results
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo bench` passes `--bench`: run a short smoke pass then.
    let (what, n) = match (args.get(1).map(String::as_str), args.get(2)) {
        (Some("fanout"), Some(n)) => ("fanout", n.parse().expect("a count")),
        (Some("rpc"), Some(n)) => ("rpc", n.parse().expect("a count")),
        _ => {
            assert_eq!(fanout(2), 2000);
            assert_eq!(rpc(2), 2);
            println!("fixed_count: run it under valgrind with `fanout N` or `rpc N`");
            return;
        }
    };
    let got = if what == "fanout" { fanout(n) } else { rpc(n) };
    println!("{what} {n}: {got}");
}
