//! Cross-shard hand-off through the runtime's real mesh
//! (`junction::shard::mesh`: one unbounded crossbeam channel per shard plus an
//! `AtomicWaker`), carrying `ShardMsg::Publish(Arc<RoutedPublish>)` as a
//! publish to a topic with subscribers on another shard does.
//!
//! - `mesh/handoff/batch{1,64}`: a producer thread (criterion's) sends N
//!   messages through a [`ChannelMesh`], calling `flush` (the once-per-peer
//!   wake) after every `batch` sends, as the router does at the end of each
//!   step; a consumer thread drains its inbox with [`drain_inbox`] — the same
//!   drain-everything loop the runtime runs on each wake — into a real
//!   [`ShardRouter`] (shard 1 of 2) that dispatches each publish (an index
//!   walk that finds no local subscriber). Time = first send until the
//!   consumer has processed the N-th message; criterion's `elem/s` is msgs/s.
//!   The consumer busy-polls instead of parking, so this is the hand-off cost
//!   under sustained load, without the cross-core wake-up (≈ 24 µs when the
//!   peer executor is parked, see docs/architecture.md).
//! - `mesh/handoff/same_thread`: the same messages sent and drained by one
//!   thread (batches of 64): channel operations, `Arc` traffic and router
//!   dispatch without any cross-core transfer — the floor for the above.
//! - `mesh/pingpong/rtt`: one message to shard 1, which answers with one
//!   message to shard 0; both sides busy-poll their inboxes. One iteration is a
//!   round trip; the one-way latency is half of it.
//!
//! Waiting sides spin 200 times, then `yield_now` (see [`idle`]): with two
//! spinning threads and fewer than two free cores, pure spinning would measure
//! the scheduler's time slice. On a loaded machine the figures are still
//! dominated by scheduling; compare them only on an idle one.

use std::cell::RefCell;
use std::hint::black_box;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use junction::config::Config;
use junction::core::ShardRouter;
use junction::core::cluster::{Mesh, RoutedPublish, ShardMsg};
use junction::proto::{Dict, Payload, PublicationId, SessionId, ShardId, Value};
use junction::shard::mesh::{ChannelMesh, PeerSet, drain_inbox};

const PRODUCER: ShardId = ShardId(0);
const CONSUMER: ShardId = ShardId(1);

/// Waiting for the other thread: spin briefly, then yield the core. On a
/// machine with fewer free cores than spinning threads, pure spinning would
/// measure the scheduler's time slice instead of the hand-off.
fn idle(spins: &mut u32) {
    *spins += 1;
    if *spins < 200 {
        std::hint::spin_loop();
    } else {
        *spins = 0;
        thread::yield_now();
    }
}

/// The publication every message carries (shared by reference, as the broker does).
fn routed() -> Arc<RoutedPublish> {
    Arc::new(RoutedPublish {
        realm: 0,
        topic: "com.bench.remote".into(),
        publication: PublicationId(42),
        publisher: SessionId(7),
        exclude_me: true,
        details: Dict::new(),
        payload: Payload {
            args: Some(vec![Value::from("x".repeat(100))]),
            kwargs: None,
        },
        filter: None,
        retain: false,
        rkey: None,
        native: None,
    })
}

/// Shard `me`'s router of a 2-shard node, sending through the real mesh.
fn router(me: ShardId, peers: &Arc<PeerSet>) -> Rc<RefCell<ShardRouter>> {
    let mesh = ChannelMesh::new(me, Arc::clone(peers));
    Rc::new(RefCell::new(ShardRouter::new(
        me,
        2,
        &Config::embedded_default(),
        Box::new(mesh),
    )))
}

/// Sends `iters` publishes from shard 0 to shard 1, flushing every `batch`;
/// returns the time until shard 1 has processed them all.
fn handoff(iters: u64, batch: u64) -> Duration {
    let peers = Arc::new(PeerSet::new(2));
    let ready = Arc::new(Barrier::new(2));
    let consumer = {
        let peers = Arc::clone(&peers);
        let ready = Arc::clone(&ready);
        thread::spawn(move || {
            let r = router(CONSUMER, &peers);
            ready.wait();
            let (mut n, mut spins) = (0, 0);
            while n < iters {
                let k = drain_inbox(CONSUMER, &peers, &r) as u64;
                if k == 0 {
                    idle(&mut spins);
                }
                n += k;
            }
            Instant::now()
        })
    };
    let msg = routed();
    let mut mesh = ChannelMesh::new(PRODUCER, Arc::clone(&peers));
    ready.wait();
    let start = Instant::now();
    for i in 1..=iters {
        mesh.send(CONSUMER, ShardMsg::Publish(Arc::clone(&msg)));
        if i % batch == 0 {
            mesh.flush();
        }
    }
    mesh.flush();
    let end = consumer.join().expect("consumer thread");
    end.duration_since(start)
}

/// Reference without a second thread: shard 0 sends batches of 64 to shard 1's
/// inbox and the same thread drains them into shard 1's router. What is left
/// is the channel operations, the `Arc` traffic and the router's dispatch,
/// without cross-core cache misses.
fn same_thread(iters: u64) -> Duration {
    let peers = Arc::new(PeerSet::new(2));
    let r = router(CONSUMER, &peers);
    let msg = routed();
    let mut mesh = ChannelMesh::new(PRODUCER, Arc::clone(&peers));
    let start = Instant::now();
    let mut left = iters;
    while left > 0 {
        let k = left.min(64);
        for _ in 0..k {
            mesh.send(CONSUMER, ShardMsg::Publish(Arc::clone(&msg)));
        }
        mesh.flush();
        let got = drain_inbox(CONSUMER, &peers, &r) as u64;
        assert_eq!(got, k, "every message drained");
        left -= k;
    }
    start.elapsed()
}

/// `iters` round trips shard 0 → shard 1 → shard 0.
fn pingpong(iters: u64) -> Duration {
    let peers = Arc::new(PeerSet::new(2));
    let ready = Arc::new(Barrier::new(2));
    let stop = Arc::new(AtomicBool::new(false));
    let echo = {
        let (peers, ready, stop) = (Arc::clone(&peers), Arc::clone(&ready), Arc::clone(&stop));
        thread::spawn(move || {
            let r = router(CONSUMER, &peers);
            let mut back = ChannelMesh::new(CONSUMER, Arc::clone(&peers));
            let msg = routed();
            ready.wait();
            let mut spins = 0;
            while !stop.load(Ordering::Relaxed) {
                let k = drain_inbox(CONSUMER, &peers, &r);
                if k == 0 {
                    idle(&mut spins);
                    continue;
                }
                for _ in 0..k {
                    back.send(PRODUCER, ShardMsg::Publish(Arc::clone(&msg)));
                }
                back.flush();
            }
        })
    };
    let r = router(PRODUCER, &peers);
    let mut mesh = ChannelMesh::new(PRODUCER, Arc::clone(&peers));
    let msg = routed();
    ready.wait();
    let start = Instant::now();
    let mut spins = 0;
    for _ in 0..iters {
        mesh.send(CONSUMER, ShardMsg::Publish(Arc::clone(&msg)));
        mesh.flush();
        while drain_inbox(PRODUCER, &peers, &r) == 0 {
            idle(&mut spins);
        }
    }
    let elapsed = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    echo.join().expect("echo thread");
    elapsed
}

fn mesh(c: &mut Criterion) {
    let mut g = c.benchmark_group("mesh/handoff");
    g.throughput(Throughput::Elements(1));
    for batch in [1_u64, 64] {
        g.bench_function(format!("batch{batch}"), |b| {
            b.iter_custom(|iters| handoff(black_box(iters), batch))
        });
    }
    g.bench_function("same_thread", |b| b.iter_custom(same_thread));
    g.finish();

    let mut g = c.benchmark_group("mesh/pingpong");
    g.bench_function("rtt", |b| b.iter_custom(pingpong));
    g.finish();
}

criterion_group!(benches, mesh);
criterion_main!(benches);
