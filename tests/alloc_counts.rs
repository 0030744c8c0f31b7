//! Heap allocations per routed message in the routing core, counted by a
//! global allocator that wraps the system's.
//!
//! The quality bar: a publish is encoded once per serializer, whatever the
//! number of subscribers, and a delivery allocates nothing of its own (the
//! same `Bytes` goes on every outbox). So the allocations of one PUBLISH must
//! not grow with the subscriber count, and a CALL's round trip must stay a
//! small constant. The counts are exact (one thread, a warm router), not
//! timings: they fail on a change that adds work per subscriber or per
//! message. The budgets are the counts measured when the test was written
//! (debug build, JSON): a PUBLISH is decoding (its list, topic, arguments)
//! plus one encoding; a CALL and a YIELD are decoding plus the call's record
//! (a call to a callee on the caller's own shard, as here, is not boxed: only
//! a message to another shard is). A
//! queue's buffer comes from the shard's spares (`core::outbox`), not the
//! allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::VecDeque;
use std::rc::Rc;

use bytes::Bytes;
use junction::config::Config;
use junction::core::ShardRouter;
use junction::core::api::{FrontEnd, FrontSink, LinkId, LinkInfo, Output};
use junction::core::cluster::{Mesh, ShardMsg};
use junction::core::outbox::{CloseReason, Outbox, OutboxRef, Overflow};
use junction::core::session::EventOut;
use junction::proto::{
    Call, Dict, Hello, Message, Payload, Publish, Register, RequestId, Serializer, ShardId,
    Subscribe, Value, Yield,
};

/// Allocations of one JSON PUBLISH to JSON subscribers, deliveries included.
const PUBLISH_BUDGET: u64 = 6;
/// Allocations of one JSON CALL until its INVOCATION is queued.
const CALL_BUDGET: u64 = 5;
/// Allocations of one JSON YIELD until its RESULT is queued.
const YIELD_BUDGET: u64 = 3;

struct Counting;

thread_local! {
    /// Allocations on this thread while `COUNTING` is set.
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn note_alloc() {
    // `try_with`: the allocator also runs while thread locals are torn down.
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = ALLOCS.try_with(|n| n.set(n.get() + 1));
        }
    });
}

// SAFETY: every call is forwarded to `System` unchanged; the counter is a
// thread-local `Cell` that never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_alloc();
        // SAFETY: the caller's contract is `System`'s.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_alloc();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_alloc();
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations (and reallocations) `f` makes on this thread.
fn allocations(f: impl FnOnce()) -> u64 {
    ALLOCS.with(|n| n.set(0));
    COUNTING.with(|on| on.set(true));
    f();
    COUNTING.with(|on| on.set(false));
    ALLOCS.with(Cell::get)
}

/// A one-shard router never sends to another shard.
struct NoMesh;

impl Mesh for NoMesh {
    fn send(&mut self, _to: ShardId, _msg: ShardMsg) {}
}

struct Router {
    router: ShardRouter,
    config: Config,
}

struct Peer {
    link: LinkId,
    outbox: OutboxRef,
    ser: Serializer,
}

impl Router {
    fn new() -> Self {
        let config = Config::embedded_default();
        let router = ShardRouter::new(ShardId(0), 1, &config, Box::new(NoMesh));
        Router { router, config }
    }

    /// A session on `realm1` with `role` (HELLO answered by WELCOME).
    fn join(&mut self, ser: Serializer, role: &'static str) -> Peer {
        let transport = Rc::new(self.config.transports[0].clone());
        let outbox = Outbox::new_ref(self.config.limits.outbound_queue_bytes);
        let info = LinkInfo::new(transport, FrontEnd::WebSocket, "alloc-test");
        let out = Output::Wire {
            outbox: Rc::clone(&outbox),
            serializer: ser,
        };
        let link = self.router.open(info, out).expect("open");
        let peer = Peer { link, outbox, ser };
        self.send(
            &peer,
            &Message::Hello(Hello {
                realm: Some("realm1".into()),
                details: Dict::new().with("roles", Dict::new().with(role, Dict::new())),
            }),
        );
        assert!(matches!(self.take(&peer)[..], [Message::Welcome(_)]));
        peer
    }

    fn send(&mut self, peer: &Peer, m: &Message) {
        let frame = peer.ser.encode(m);
        self.router.feed_frame(peer.link, &frame);
    }

    /// Every message queued for `peer`, decoded.
    fn take(&self, peer: &Peer) -> Vec<Message> {
        let mut frames = VecDeque::new();
        peer.outbox.borrow_mut().drain_into(&mut frames);
        frames
            .iter()
            .map(|f| {
                peer.ser
                    .decode(f)
                    .expect("a frame the router encoded decodes")
            })
            .collect()
    }
}

/// A front end's sink (as the MQTT front end's) that counts what it gets and
/// allocates nothing: it reads the EVENT's topic and payload, not its details.
#[derive(Debug, Default)]
struct CountingSink {
    events: usize,
    messages: Vec<&'static str>,
}

impl FrontSink for CountingSink {
    fn message(&mut self, msg: &Message) -> Result<(), Overflow> {
        // Outside the counted windows (HELLO, SUBSCRIBE): the names are static.
        self.messages.push(match msg {
            Message::Welcome(_) => "WELCOME",
            Message::Subscribed(_) => "SUBSCRIBED",
            _ => "other",
        });
        Ok(())
    }
    fn event(&mut self, ev: &mut EventOut<'_, '_>) -> Result<bool, Overflow> {
        assert_eq!(ev.topic, "com.alloc.topic");
        // Compared without building the expected payload (that would allocate).
        match ev.payload.args.as_deref() {
            Some([Value::Str(s)]) => assert!(s.len() == 100 && s.bytes().all(|b| b == b'x')),
            other => panic!("unexpected arguments {other:?}"),
        }
        self.events += 1;
        Ok(true)
    }
    fn close(&mut self, _: CloseReason) {}
    fn is_closed(&self) -> bool {
        false
    }
}

/// Moves `peer`'s frames into `batch` and drops them, as a writer does after
/// the socket write; returns how many there were.
fn drain(peer: &Peer, batch: &mut VecDeque<Bytes>) -> usize {
    peer.outbox.borrow_mut().drain_into(batch);
    let n = batch.len();
    batch.clear();
    n
}

fn payload() -> Payload {
    Payload {
        args: Some(vec![Value::from("x".repeat(100))]),
        kwargs: None,
    }
}

/// Allocations of one PUBLISH (fed as a frame) to `n` subscribers spread
/// over `sers`, the subscribers' outboxes drained inside the count. Measured
/// after a few warm-up publishes, so that queues and scratch buffers have
/// their working size.
fn publish_allocations(n: usize, sers: &[Serializer]) -> u64 {
    publish_allocations_to(n, sers, "com.alloc.topic", Dict::new())
}

/// [`publish_allocations`] with the subscribers subscribed to `filter` with
/// `options` (a pattern subscription's EVENT carries the topic in its details).
fn publish_allocations_to(n: usize, sers: &[Serializer], filter: &str, options: Dict) -> u64 {
    let mut r = Router::new();
    let topic = "com.alloc.topic";
    let subs: Vec<Peer> = (0..n)
        .map(|i| {
            let p = r.join(sers[i % sers.len()], "subscriber");
            r.send(
                &p,
                &Message::Subscribe(Subscribe {
                    request: RequestId(1),
                    options: options.clone(),
                    topic: filter.into(),
                }),
            );
            assert!(matches!(r.take(&p)[..], [Message::Subscribed(_)]));
            p
        })
        .collect();
    let publisher = r.join(Serializer::Json, "publisher");
    let frame = Serializer::Json.encode(&Message::Publish(Publish {
        request: RequestId(2),
        options: Dict::new(),
        topic: topic.into(),
        payload: payload(),
    }));
    // The deliveries are real: each subscriber gets the EVENT with the payload.
    r.router.feed_frame(publisher.link, &frame);
    for s in &subs {
        match &r.take(s)[..] {
            [Message::Event(e)] => assert_eq!(e.payload, payload()),
            other => panic!("expected one EVENT, got {other:?}"),
        }
    }
    let mut batch = VecDeque::with_capacity(4);
    let mut once = || {
        r.router.feed_frame(publisher.link, &frame);
        let delivered: usize = subs.iter().map(|s| drain(s, &mut batch)).sum();
        assert_eq!(delivered, n);
    };
    for _ in 0..3 {
        once();
    }
    allocations(once)
}

#[test]
fn a_publish_allocates_the_same_for_one_subscriber_and_for_a_thousand() {
    let json = [Serializer::Json];
    let one = publish_allocations(1, &json);
    let ten = publish_allocations(10, &json);
    let thousand = publish_allocations(1_000, &json);
    println!("allocations per publish, JSON: 1 -> {one}, 10 -> {ten}, 1000 -> {thousand}");
    assert!(
        one > 0,
        "the counter counts (decoding the PUBLISH allocates)"
    );
    assert!(
        one <= PUBLISH_BUDGET,
        "{one} allocations per publish, budget {PUBLISH_BUDGET}"
    );
    assert_eq!(one, ten, "a delivery allocates nothing of its own");
    assert_eq!(one, thousand, "a delivery allocates nothing of its own");
}

#[test]
fn a_publish_to_three_serializers_allocates_only_two_more_encodings() {
    let one_each = publish_allocations(3, &Serializer::ALL);
    let many_each = publish_allocations(300, &Serializer::ALL);
    let json_only = publish_allocations(3, &[Serializer::Json]);
    println!(
        "allocations per publish: 3 serializers {one_each} (300 subscribers: {many_each}), JSON only {json_only}"
    );
    assert_eq!(
        one_each, many_each,
        "one encoding per serializer, not per subscriber"
    );
    assert_eq!(
        one_each,
        json_only + 2,
        "two more encodings, one allocation each"
    );
}

#[test]
fn the_details_a_pattern_subscription_adds_allocate_no_key() {
    let json = [Serializer::Json];
    let exact = publish_allocations(10, &json);
    let prefix =
        publish_allocations_to(10, &json, "com.alloc", Dict::new().with("match", "prefix"));
    println!("allocations per publish: exact {exact}, prefix {prefix}");
    // The topic's string and the details' entries, once per publish: the
    // key "topic" is the router's own name, borrowed.
    assert_eq!(prefix, exact + 2);
}

#[test]
fn a_publication_that_reaches_only_sinks_builds_no_details_and_no_encoding() {
    let mut r = Router::new();
    let transport = Rc::new(r.config.transports[0].clone());
    let sinks: Vec<Rc<std::cell::RefCell<CountingSink>>> = (0..10)
        .map(|_| {
            let sink = Rc::new(std::cell::RefCell::new(CountingSink::default()));
            let info = LinkInfo::new(Rc::clone(&transport), FrontEnd::Mqtt, "alloc-test");
            let link = r
                .router
                .open(info, Output::Sink(sink.clone()))
                .expect("open");
            r.router.feed(
                link,
                Message::Hello(Hello {
                    realm: Some("realm1".into()),
                    details: Dict::new().with("roles", Dict::new().with("subscriber", Dict::new())),
                }),
            );
            r.router.feed(
                link,
                Message::Subscribe(Subscribe {
                    request: RequestId(1),
                    options: Dict::new().with("match", "prefix"),
                    topic: "com.alloc".into(),
                }),
            );
            assert_eq!(sink.borrow().messages, ["WELCOME", "SUBSCRIBED"]);
            sink
        })
        .collect();
    let publisher = r.join(Serializer::Json, "publisher");
    let frame = Serializer::Json.encode(&Message::Publish(Publish {
        request: RequestId(2),
        options: Dict::new(),
        topic: "com.alloc.topic".into(),
        payload: payload(),
    }));
    for _ in 0..3 {
        r.router.feed_frame(publisher.link, &frame);
    }
    let n = allocations(|| r.router.feed_frame(publisher.link, &frame));
    assert!(
        sinks.iter().all(|s| s.borrow().events == 4),
        "every sink got every publication"
    );
    // The same publication to one exact JSON subscriber: decoding + one encoding.
    let wire = publish_allocations(1, &[Serializer::Json]);
    println!("allocations per publish: to 10 prefix sinks {n}, to 1 JSON subscriber {wire}");
    assert_eq!(
        n,
        wire - 1,
        "decoding only: no encoding, no details with the topic"
    );
}

#[test]
fn a_call_round_trip_allocates_a_small_constant() {
    let mut r = Router::new();
    let callee = r.join(Serializer::Json, "callee");
    let caller = r.join(Serializer::Json, "caller");
    let procedure = "com.alloc.echo";
    r.send(
        &callee,
        &Message::Register(Register {
            request: RequestId(1),
            options: Dict::new(),
            procedure: procedure.into(),
        }),
    );
    assert!(matches!(r.take(&callee)[..], [Message::Registered(_)]));
    let mut request = 10u64;
    let mut round_trip = |r: &mut Router| {
        request += 1;
        let call = Serializer::Json.encode(&Message::Call(Call {
            request: RequestId(request),
            options: Dict::new(),
            procedure: procedure.into(),
            payload: payload(),
        }));
        // The test's own encoding is outside the count: only the router's work is in it.
        let n = allocations(|| r.router.feed_frame(caller.link, &call));
        let inv = match &r.take(&callee)[..] {
            [Message::Invocation(i)] => i.request,
            other => panic!("expected one INVOCATION, got {other:?}"),
        };
        let y = Serializer::Json.encode(&Message::Yield(Yield {
            request: inv,
            options: Dict::new(),
            payload: payload(),
        }));
        let m = allocations(|| r.router.feed_frame(callee.link, &y));
        match &r.take(&caller)[..] {
            [Message::Result(res)] => {
                assert_eq!(res.request, RequestId(request));
                assert_eq!(res.payload, payload());
            }
            other => panic!("expected one RESULT, got {other:?}"),
        }
        (n, m)
    };
    for _ in 0..3 {
        round_trip(&mut r);
    }
    let (call, yield_) = round_trip(&mut r);
    println!("allocations: CALL -> INVOCATION {call}, YIELD -> RESULT {yield_}");
    assert!(call > 0 && yield_ > 0, "the counter counts");
    assert!(
        call <= CALL_BUDGET,
        "CALL: {call} allocations, budget {CALL_BUDGET}"
    );
    assert!(
        yield_ <= YIELD_BUDGET,
        "YIELD: {yield_} allocations, budget {YIELD_BUDGET}"
    );
}
