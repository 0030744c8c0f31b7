//! The patched glommio executor (third_party/glommio, README.junction.md
//! items 7 and 8: the latency ring's timer kept across sleeps, the
//! ring-linking poll kept in flight) against the way it can go wrong: a
//! sleep with no timer armed while a user timer is due, after which nothing
//! wakes the executor (loadgen's pacing stalled this way during
//! development). The test asserts no duration: it fails by not finishing,
//! which a watchdog thread turns into a failure. Item 10 (the preemption
//! timer kept for a sleep) must not wake an idle executor after every slice:
//! the second test counts the wake-ups of an executor that has nothing to do.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

use glommio::LocalExecutorBuilder;
use glommio::channels::shared_channel;

/// Runs `f` on a thread and fails the test if it has not finished within
/// `limit` (a stalled executor never returns).
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(v) => v,
        Err(_) => panic!("the executor stalled: not finished within {limit:?}"),
    }
}

/// A small deterministic pseudo-random sequence (xorshift).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn timers_fire_while_other_work_wakes_the_executor() {
    // Two tasks on one executor: `ticker` only sleeps short random times;
    // `pinger` sleeps, then sends a ping to another executor and waits for
    // its pong. The pongs wake the executor at moments unrelated to the
    // ticker's timer, which is kept armed across those wakes and now and
    // then fires just as the executor decides to sleep again. If that
    // firing went unnoticed, the executor would sleep with no timer armed
    // while both tasks wait on timers, and nothing else would ever wake it:
    // the peer only answers pings. So a lost timer is a hang, and the
    // watchdog turns it into a failure.
    const ROUNDS: u64 = 4_000;
    let (ping_tx, ping_rx) = shared_channel::new_bounded::<u64>(1);
    let (pong_tx, pong_rx) = shared_channel::new_bounded::<u64>(1);
    let peer = LocalExecutorBuilder::default()
        .name("peer")
        .spawn(move || async move {
            let pings = ping_rx.connect().await;
            let pongs = pong_tx.connect().await;
            let mut answered = 0u64;
            while let Some(n) = pings.recv().await {
                if pongs.send(n).await.is_err() {
                    break;
                }
                answered += 1;
            }
            answered
        })
        .expect("peer executor");
    let (ticks, pongs) = within(Duration::from_secs(120), move || {
        LocalExecutorBuilder::default()
            .name("timers")
            .spawn(move || async move {
                let pings = ping_tx.connect().await;
                let pongs = pong_rx.connect().await;
                let done = Rc::new(Cell::new(false));
                let ticking = Rc::clone(&done);
                let ticker = glommio::spawn_local(async move {
                    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
                    let mut ticks = 0u64;
                    while !ticking.get() {
                        glommio::timer::sleep(Duration::from_micros(5 + rng.below(300))).await;
                        ticks += 1;
                    }
                    ticks
                });
                let mut rng = Rng(7919);
                let mut answered = 0u64;
                for n in 0..ROUNDS {
                    glommio::timer::sleep(Duration::from_micros(5 + rng.below(300))).await;
                    pings.send(n).await.expect("the peer takes pings");
                    assert_eq!(pongs.recv().await, Some(n), "the pong answers the ping");
                    answered += 1;
                }
                done.set(true);
                (ticker.await, answered)
            })
            .expect("timer executor")
            .join()
            .expect("timer executor ran")
    });
    assert_eq!(pongs, ROUNDS, "every round trip completed");
    assert!(ticks > 0, "the ticker's timers fired");
    assert_eq!(
        peer.join().expect("peer ran"),
        ROUNDS,
        "the peer answered every ping"
    );
}

/// The executor thread's voluntary context switches so far (each sleep that
/// ended is one).
fn voluntary_switches(tid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/self/task/{tid}/status"))
        .expect("the executor thread's status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("voluntary_ctxt_switches")
}

/// After a burst of work an executor with nothing due for seconds (one user
/// timer, 3 s away) sleeps: the preemption timer kept for the first sleep
/// (item 10) wakes it once, and the one armed after that wake is cancelled,
/// so that it does not wake after every 100 ms slice (which would be 15 or
/// so in the 1.5 s counted here).
#[test]
fn an_idle_executor_is_not_woken_after_every_slice() {
    let (tx, rx) = mpsc::channel();
    let ex = LocalExecutorBuilder::default()
        .spawn(move || async move {
            // SAFETY: gettid has no preconditions.
            let tid = unsafe { libc::gettid() };
            for _ in 0..20 {
                glommio::timer::sleep(Duration::from_millis(1)).await;
            }
            tx.send(tid).expect("the test waits");
            glommio::timer::sleep(Duration::from_secs(3)).await;
        })
        .expect("executor");
    let tid = rx.recv().expect("the executor's thread");
    let before = voluntary_switches(tid);
    std::thread::sleep(Duration::from_millis(1500));
    let after = voluntary_switches(tid);
    ex.join().expect("join");
    let woken = after - before;
    eprintln!("an idle executor woke {woken} times in 1.5 s");
    assert!(woken <= 3, "woke {woken} times in 1.5 s with nothing to do");
}
