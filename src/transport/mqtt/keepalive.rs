//! Keep-alive enforcement for every MQTT connection of a shard with one
//! timer: a connection with a keep-alive keeps its limit and its last
//! packet's arrival, and leaves its waker in the bucket of the tick its
//! limit runs out in; one task per shard sleeps until the earliest bucket
//! and wakes the connections in it, each of which then checks its own time
//! (and, if a packet came since, leaves its waker in a later bucket).
//!
//! A connection costs a waker in a bucket (16 octets) instead of a glommio
//! timer of its own (an allocation and an entry in the reactor's timer
//! table). The end comes at most one [`TICK`] after the limit (1.5 × the
//! keep-alive, MQTT-3.1.2-22), never before it.
//!
//! The ground floor of the front end: imports nothing of it.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// The sweep's resolution: an idle connection ends within this much after
/// its limit.
pub const TICK: Duration = Duration::from_millis(100);

/// The shard's buckets.
struct Sweep {
    /// Ticks are counted from here.
    epoch: Instant,
    /// Tick → the connections whose limit runs out in it.
    buckets: BTreeMap<u32, Vec<Waker>>,
    /// The sweeping task, while it waits (woken when an earlier bucket comes).
    task: Option<Waker>,
    /// The tick the task sleeps until (`u32::MAX`: none, or no task).
    sleeping_until: u32,
    /// Whether the sweeping task runs.
    running: bool,
}

thread_local! {
    static SWEEP: RefCell<Sweep> = RefCell::new(Sweep::new(Instant::now()));
    /// What connections' arrival times count from ([`ms_of`]).
    static EPOCH: Instant = Instant::now();
}

/// `at` in milliseconds since the shard's [`EPOCH`], rounded down and
/// wrapping after 49 days (differences are taken wrapping; a limit is at
/// most 1.5 × 65,535 s).
fn ms_of(at: Instant) -> u32 {
    EPOCH.with(|e| at.saturating_duration_since(*e).as_millis() as u32)
}

impl Sweep {
    fn new(epoch: Instant) -> Sweep {
        Sweep {
            epoch,
            buckets: BTreeMap::new(),
            task: None,
            sleeping_until: u32::MAX,
            running: false,
        }
    }
}

/// The first tick at or after `at` (ticks from `epoch`; at least 1, so
/// that 0 can mean "none").
fn tick_of(epoch: Instant, at: Instant) -> u32 {
    let ms = at.saturating_duration_since(epoch).as_millis();
    let tick = ms.div_ceil(TICK.as_millis()).max(1);
    u32::try_from(tick).unwrap_or(u32::MAX)
}

/// When `tick` begins.
fn time_of(epoch: Instant, tick: u32) -> Instant {
    epoch + TICK * tick
}

/// One connection's keep-alive: its limit and its last packet's arrival
/// (12 bytes).
#[derive(Debug)]
pub struct KeepAlive {
    /// The last packet's arrival ([`ms_of`]).
    last_ms: u32,
    /// 1.5 × the keep-alive, in milliseconds (never 0: an
    /// `Option<KeepAlive>` is the same 12 bytes).
    limit_ms: std::num::NonZeroU32,
    /// The tick of the bucket this connection's waker waits in (0: none).
    armed: u32,
}

impl KeepAlive {
    /// A connection whose limit (1.5 × its keep-alive) starts now.
    pub fn new(limit: Duration) -> KeepAlive {
        KeepAlive {
            last_ms: ms_of(Instant::now()),
            limit_ms: std::num::NonZeroU32::new(
                u32::try_from(limit.as_millis()).unwrap_or(u32::MAX).max(1),
            )
            .expect("at least 1"),
            armed: 0,
        }
    }

    /// A packet arrived.
    pub fn seen(&mut self, now: Instant) {
        self.last_ms = ms_of(now);
    }

    /// Whether the limit ran out with no packet; if not, makes sure the
    /// connection (`cx`) is woken once it may have.
    pub fn expired(&mut self, cx: &Context<'_>) -> bool {
        let now = Instant::now();
        // Both times rounded down: one more millisecond than the limit, so
        // that the end never comes before it.
        let passed = ms_of(now).wrapping_sub(self.last_ms);
        let limit_ms = self.limit_ms.get();
        if passed > limit_ms {
            return true;
        }
        let due = now + Duration::from_millis(u64::from(limit_ms - passed + 1));
        // The sweeping task is woken (or started) once the table is let go.
        let (wake, start) = SWEEP.with(|s| {
            let mut s = s.borrow_mut();
            // Still waiting in a bucket that has not come: nothing to do
            // (a later packet only moves the end further out).
            if self.armed != 0 && time_of(s.epoch, self.armed) > now {
                return (None, false);
            }
            let tick = tick_of(s.epoch, due);
            s.buckets.entry(tick).or_default().push(cx.waker().clone());
            self.armed = tick;
            let mut wake = None;
            if tick < s.sleeping_until {
                s.sleeping_until = tick;
                wake = s.task.take();
            }
            let start = !s.running;
            s.running = true;
            (wake, start)
        });
        if let Some(t) = wake {
            t.wake();
        }
        if start {
            glommio::spawn_local(run()).detach();
        }
        false
    }
}

impl KeepAlive {
    /// The connection ends: its waker (`waker`, the one [`KeepAlive::expired`]
    /// was last given) leaves its bucket now, so that a connection with a
    /// long keep-alive does not keep its task alive after it ended.
    pub fn release(self, waker: &Waker) {
        if self.armed == 0 {
            return;
        }
        SWEEP.with(|s| {
            let mut s = s.borrow_mut();
            if let Some(b) = s.buckets.get_mut(&self.armed) {
                if let Some(i) = b.iter().position(|w| w.will_wake(waker)) {
                    b.swap_remove(i);
                }
                if b.is_empty() {
                    s.buckets.remove(&self.armed);
                }
            }
        });
    }
}

/// Takes the buckets due at `now`; the next bucket's tick and time, if any.
fn due(s: &mut Sweep, now: Instant, woken: &mut Vec<Waker>) -> Option<(u32, Instant)> {
    let epoch = s.epoch;
    while let Some(e) = s.buckets.first_entry() {
        if time_of(epoch, *e.key()) > now {
            break;
        }
        woken.extend(e.remove());
    }
    let next = s.buckets.keys().next().copied();
    s.sleeping_until = next.unwrap_or(u32::MAX);
    next.map(|t| (t, time_of(epoch, t)))
}

/// The shard's sweeping task: sleeps until the earliest bucket, wakes its
/// connections; ends when no bucket is left (the next connection with a
/// keep-alive starts it again).
async fn run() {
    let mut timer: Option<(u32, glommio::timer::Timer)> = None;
    let mut woken = Vec::new();
    std::future::poll_fn(|cx| {
        loop {
            let next = SWEEP.with(|s| {
                let mut s = s.borrow_mut();
                let next = due(&mut s, Instant::now(), &mut woken);
                if next.is_some() {
                    s.task = Some(cx.waker().clone());
                } else {
                    s.task = None;
                    s.running = false;
                }
                next
            });
            for w in woken.drain(..) {
                w.wake();
            }
            let Some((tick, at)) = next else {
                return Poll::Ready(());
            };
            if timer.as_ref().is_none_or(|(t, _)| *t != tick) {
                let wait = at.saturating_duration_since(Instant::now());
                timer = Some((tick, glommio::timer::Timer::new(wait)));
            }
            let (_, t) = timer.as_mut().expect("set above");
            match Pin::new(t).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(_) => timer = None,
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_round_up_so_no_connection_ends_early() {
        let epoch = Instant::now();
        let at = epoch + Duration::from_millis(1_550);
        let tick = tick_of(epoch, at);
        assert_eq!(tick, 16);
        assert!(time_of(epoch, tick) >= at);
        assert!(time_of(epoch, tick) - at < TICK);
        assert_eq!(tick_of(epoch, epoch + Duration::from_millis(1_500)), 15);
        assert_eq!(tick_of(epoch, epoch), 1);
    }

    #[test]
    fn due_buckets_are_taken_in_order_and_later_ones_wait() {
        let epoch = Instant::now();
        let mut s = Sweep::new(epoch);
        for tick in [3, 1, 2, 7] {
            s.buckets
                .entry(tick)
                .or_default()
                .push(Waker::noop().clone());
        }
        s.buckets.entry(2).or_default().push(Waker::noop().clone());
        let mut woken = Vec::new();
        let next = due(&mut s, time_of(epoch, 2), &mut woken);
        assert_eq!(woken.len(), 3, "ticks 1 and 2 (two wakers)");
        assert_eq!(next, Some((3, time_of(epoch, 3))));
        assert_eq!(s.sleeping_until, 3);
        woken.clear();
        assert_eq!(due(&mut s, time_of(epoch, 100), &mut woken), None);
        assert_eq!(woken.len(), 2);
        assert_eq!(s.sleeping_until, u32::MAX);
    }

    /// An idle connection ends after its limit, never before, with one
    /// timer for the shard; a connection that keeps sending does not end.
    #[test]
    fn idle_connections_end_after_their_limit_and_busy_ones_do_not() {
        let ex = glommio::LocalExecutorBuilder::default()
            .spawn(|| async {
                let limit = Duration::from_millis(300);
                let idle = glommio::spawn_local(async move {
                    let start = Instant::now();
                    let mut ka = KeepAlive::new(limit);
                    std::future::poll_fn(|cx| {
                        if ka.expired(cx) {
                            Poll::Ready(())
                        } else {
                            Poll::Pending
                        }
                    })
                    .await;
                    start.elapsed()
                });
                let busy = glommio::spawn_local(async move {
                    let mut ka = KeepAlive::new(limit);
                    for _ in 0..6 {
                        glommio::timer::sleep(Duration::from_millis(100)).await;
                        ka.seen(Instant::now());
                        let ended = std::future::poll_fn(|cx| Poll::Ready(ka.expired(cx))).await;
                        assert!(!ended);
                    }
                    true
                });
                let waited = idle.await;
                assert!(waited >= limit, "ended after {waited:?}");
                assert!(busy.await);
                SWEEP.with(|s| s.borrow().buckets.len())
            })
            .expect("executor");
        // Every bucket was swept by the time the last one came due, or is
        // still waiting for the busy connection's last wakeup.
        assert!(ex.join().expect("join") <= 1);
    }

    /// A connection that ends takes its waker out of its bucket (the
    /// sweep would otherwise keep its task until the limit).
    #[test]
    fn an_ended_connection_leaves_its_bucket() {
        let ex = glommio::LocalExecutorBuilder::default()
            .spawn(|| async {
                let mut ka = KeepAlive::new(Duration::from_secs(90));
                let armed = std::future::poll_fn(|cx| {
                    assert!(!ka.expired(cx));
                    Poll::Ready(cx.waker().clone())
                })
                .await;
                let before =
                    SWEEP.with(|s| s.borrow().buckets.values().map(Vec::len).sum::<usize>());
                ka.release(&armed);
                let after =
                    SWEEP.with(|s| s.borrow().buckets.values().map(Vec::len).sum::<usize>());
                (before, after)
            })
            .expect("executor");
        assert_eq!(ex.join().expect("join"), (1, 0));
    }

    #[test]
    fn a_keep_alive_is_smaller_than_a_timer_of_its_own() {
        let before = std::mem::size_of::<Option<(Duration, Instant, glommio::timer::Timer)>>();
        let after = std::mem::size_of::<Option<KeepAlive>>();
        assert!(after <= 16, "{after}");
        assert!(after < before, "{after} >= {before}");
    }
}
