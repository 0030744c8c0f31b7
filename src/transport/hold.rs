//! Write coalescing (`junction.write_coalesce_us`, off by default): a
//! connection that writes often holds what it has to write for up to the
//! configured delay, so that one write carries every message queued
//! meanwhile. Under a load of many small messages spread in time (IoT
//! telemetry fanned out to dashboards: each message arrives alone, so each
//! delivery is otherwise one `sendmsg` of its own) this trades at most that
//! delay of latency for far fewer system calls, TCP segments and wake-ups
//! of the receiving peer (BENCHMARKS.md, "Write coalescing").
//!
//! Only a connection that wrote within the last one or two delays holds
//! (like Nagle's algorithm, with the delay standing in for the
//! acknowledgement): a message to a connection that has been quiet goes at
//! once, so a sporadic message (a command to one device, an event on a
//! quiet topic) pays no latency, and only a stream of at least one message
//! per delay waits, in exchange for sharing its writes.
//!
//! One task per shard releases the held connections: the first connection
//! held starts a timer of the delay, and when it runs out every connection
//! held meanwhile is woken and writes (a connection held later in the same
//! window waits less). A released connection writes until its queue is
//! empty (a backlog goes out at full speed, one send after another), then
//! the next message is held again if it comes soon. A queue that fills a
//! whole write, a closing connection and pending control frames go out at
//! once. With nothing held the task sleeps without a timer: an idle router
//! stays idle.
//!
//! A connection keeps its place in a [`Hold`] (1 octet: idle, the tick of
//! its last write, the window it waits in, or released), the shard a list
//! of the held connections' wakers (reused, no allocation per window).
//! Ticks (the delay's multiples since the shard started coalescing) are
//! counted modulo 239: a connection quiet for a multiple of 239 ticks may
//! hold its next message once, at most the delay. Windows are counted
//! modulo 15: a connection woken at its window's end is polled before the
//! releasing task runs again (one task queue, first in first out), so it
//! never meets its own number again while held.
//!
//! The ground floor of the transports: imports nothing of them.

use std::cell::RefCell;
use std::future::poll_fn;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// The shard's held connections.
struct Shard {
    /// How long the first connection held waits (zero: off).
    delay: Duration,
    /// The window the connections held now are released at the end of
    /// (one of [`HELD`]).
    window: u8,
    /// Where ticks are counted from (set when first needed).
    epoch: Option<Instant>,
    /// The wakers of the connections held in `window`.
    held: Vec<Waker>,
    /// The releasing task, while it waits for a connection to be held.
    task: Option<Waker>,
    /// Whether the releasing task runs.
    running: bool,
    /// What coalescing did on this shard.
    stats: Stats,
}

/// What a shard's write coalescing did since it started (the
/// `junction_write_coalesce_*` metrics): connections held per window, and
/// against `junction_uring_sends_total`, how much it merges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Windows that ended with connections to release.
    pub windows: u64,
    /// Times a connection was held (each writes at its window's end or
    /// earlier).
    pub holds: u64,
}

/// This shard's [`Stats`].
pub fn stats() -> Stats {
    SHARD.with(|s| s.borrow().stats)
}

thread_local! {
    static SHARD: RefCell<Shard> = const {
        RefCell::new(Shard {
            delay: Duration::ZERO,
            window: *HELD.start(),
            epoch: None,
            held: Vec::new(),
            task: None,
            running: false,
            stats: Stats { windows: 0, holds: 0 },
        })
    };
}

/// Sets this shard's delay (zero: off; the configuration takes at most
/// [`MAX_WRITE_COALESCE`](crate::config::MAX_WRITE_COALESCE), tests
/// longer). Connections held under an earlier delay are released at the
/// end of their window. Zero (a reload that turns coalescing off) also ends
/// the releasing task if it waits for a connection to be held.
pub fn set_delay(delay: Duration) {
    let task = SHARD.with(|s| {
        let mut s = s.borrow_mut();
        s.delay = delay;
        if delay.is_zero() { s.task.take() } else { None }
    });
    if let Some(t) = task {
        t.wake();
    }
}

impl Shard {
    /// The current tick (the delay's multiples since `epoch`) as a mark of
    /// [`WROTE`]; `delay` is not zero.
    fn tick(&mut self) -> u8 {
        let epoch = *self.epoch.get_or_insert_with(Instant::now);
        let delay = self.delay.as_micros().max(1);
        let ticks = epoch.elapsed().as_micros() / delay;
        let span = u128::from(WROTE.end() - WROTE.start() + 1);
        // Below `span`, so the cast keeps it.
        WROTE.start() + (ticks % span) as u8
    }
}

/// Nothing written lately (or coalescing off): the next message goes at
/// once.
const IDLE: u8 = 0;
/// Drained after a write in this tick (modulo 239): a message in the same
/// or the next tick is held.
const WROTE: std::ops::RangeInclusive<u8> = 1..=239;
/// Held in this window (modulo 15).
const HELD: std::ops::RangeInclusive<u8> = 240..=254;
/// Released: writes until the queue is empty.
const OPEN: u8 = u8::MAX;

/// Whether a write in tick `then` is recent at tick `now` (the same tick
/// or the one before; both marks of [`WROTE`]).
fn recent(then: u8, now: u8) -> bool {
    let span = u16::from(WROTE.end() - WROTE.start() + 1);
    let since = (u16::from(now) + span - u16::from(then)) % span;
    since <= 1
}

/// A connection's place in its shard's coalescing: idle, the tick of its
/// last write, held in a window, or released.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hold(u8);

impl Default for Hold {
    fn default() -> Self {
        Hold::IDLE
    }
}

impl Hold {
    /// Nothing queued, nothing written lately.
    pub const IDLE: Hold = Hold(IDLE);

    /// The queue is empty: after a write, the next message queued soon is
    /// held (with coalescing on).
    pub fn drained(&mut self) {
        if HELD.contains(&self.0) {
            self.0 = IDLE;
        } else {
            self.wrote_all();
        }
    }

    /// A write took everything queued (a send submitted on the ring, whose
    /// completion may come with the next message already queued): the next
    /// message soon is held. Should that send complete only in part, the
    /// writer opens the hold again ([`Hold::open`]) for the rest.
    pub fn wrote_all(&mut self) {
        if self.0 == OPEN {
            self.0 = SHARD.with(|s| {
                let mut s = s.borrow_mut();
                if s.delay.is_zero() { IDLE } else { s.tick() }
            });
        }
    }

    /// Something is queued: whether to write it now. `now` says it must go
    /// at once (a whole write's worth queued, the connection closing,
    /// control frames waiting); so does it after the connection was quiet.
    /// When not, the connection (`cx`) is woken at the end of its window;
    /// it keeps its place if polled meanwhile.
    pub fn may_write(&mut self, cx: &Context<'_>, now: bool) -> bool {
        if self.0 == OPEN {
            return true;
        }
        if now {
            self.0 = OPEN;
            return true;
        }
        let start = SHARD.with(|s| {
            let mut s = s.borrow_mut();
            if s.delay.is_zero() {
                self.0 = OPEN;
                return None;
            }
            if HELD.contains(&self.0) {
                if self.0 != s.window {
                    self.0 = OPEN;
                    return None;
                }
                // Still in its window, already on the list.
                return Some(false);
            }
            if self.0 == IDLE || !recent(self.0, s.tick()) {
                // Quiet lately: nothing to share a write with.
                self.0 = OPEN;
                return None;
            }
            self.0 = s.window;
            s.held.push(cx.waker().clone());
            s.stats.holds += 1;
            if s.held.len() == 1
                && let Some(t) = s.task.take()
            {
                t.wake();
            }
            let start = !s.running;
            s.running = true;
            Some(start)
        });
        match start {
            None => true,
            Some(start) => {
                if start {
                    glommio::spawn_local(release()).detach();
                }
                false
            }
        }
    }

    /// What is queued goes at once (a reply queued behind held messages):
    /// released until the queue is empty.
    pub fn open(&mut self) {
        self.0 = OPEN;
    }

    /// Whether the connection was released (writes until its queue is
    /// empty).
    pub fn is_open(&self) -> bool {
        self.0 == OPEN
    }

    /// Whether the next write could be held (coalescing on, and the
    /// connection wrote lately or is held): what a writer checks before
    /// looking at a completed send's length.
    pub fn may_hold(&self) -> bool {
        self.0 != IDLE && self.0 != OPEN
    }

    /// Whether the connection is held.
    pub fn is_held(&self) -> bool {
        HELD.contains(&self.0)
    }
}

/// The window after `w`.
fn next_window(w: u8) -> u8 {
    if w >= *HELD.end() {
        *HELD.start()
    } else {
        w + 1
    }
}

/// The shard's releasing task: waits until a connection is held, sleeps
/// the delay, wakes the connections held meanwhile. Ends when the delay is
/// set to zero with nothing held.
async fn release() {
    let mut woken = Vec::new();
    loop {
        let delay = poll_fn(|cx| {
            SHARD.with(|s| {
                let mut s = s.borrow_mut();
                if !s.held.is_empty() {
                    return Poll::Ready(Some(s.delay));
                }
                if s.delay.is_zero() {
                    s.running = false;
                    return Poll::Ready(None);
                }
                s.task = Some(cx.waker().clone());
                Poll::Pending
            })
        })
        .await;
        let Some(delay) = delay else {
            return;
        };
        if !delay.is_zero() {
            glommio::timer::sleep(delay).await;
        }
        SHARD.with(|s| {
            let mut s = s.borrow_mut();
            s.window = next_window(s.window);
            s.stats.windows += 1;
            std::mem::swap(&mut s.held, &mut woken);
        });
        for w in woken.drain(..) {
            w.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;
    use std::time::Instant;

    #[test]
    fn windows_cycle_within_their_marks() {
        assert_eq!(next_window(240), 241);
        assert_eq!(next_window(254), 240);
        assert!(!HELD.contains(&IDLE) && !HELD.contains(&OPEN));
        assert!(!WROTE.contains(&IDLE) && !WROTE.contains(&OPEN));
        assert!(!WROTE.contains(HELD.start()));
    }

    /// A write is recent in its own tick and the next, across the wrap.
    #[test]
    fn a_write_is_recent_for_two_ticks() {
        assert!(recent(5, 5));
        assert!(recent(5, 6));
        assert!(!recent(5, 7));
        assert!(recent(239, 1), "the tick after the last mark is the first");
        assert!(recent(239, 239));
        assert!(!recent(238, 1));
        assert!(
            !recent(6, 5),
            "a mark ahead of now is one from the last lap"
        );
    }

    /// Polls `h` until it may write (released at its window's end),
    /// counting the polls.
    async fn until_released(h: &mut Hold, polls: &mut u32) {
        poll_fn(|cx| {
            *polls += 1;
            if h.may_write(cx, false) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
    }

    /// A connection that wrote in this tick (what a released connection is
    /// once drained).
    fn wrote_lately() -> Hold {
        let mut h = Hold(OPEN);
        h.drained();
        h
    }

    /// Turning coalescing off (a reload to 0) ends the releasing task that
    /// waits for a connection to be held; turning it on again starts one.
    #[test]
    fn a_delay_of_zero_ends_the_releasing_task() {
        let ex = glommio::LocalExecutorBuilder::default()
            .spawn(|| async {
                let running = || SHARD.with(|s| s.borrow().running);
                set_delay(Duration::from_millis(5));
                let mut h = wrote_lately();
                until_released(&mut h, &mut 0).await;
                // Released; the task now waits for the next hold.
                glommio::executor().yield_task_queue_now().await;
                let waiting = running();
                set_delay(Duration::ZERO);
                glommio::executor().yield_task_queue_now().await;
                let after_off = running();
                set_delay(Duration::from_millis(5));
                h.drained();
                until_released(&mut h, &mut 0).await;
                let again = running();
                set_delay(Duration::ZERO);
                glommio::executor().yield_task_queue_now().await;
                (waiting, after_off, again, running())
            })
            .expect("executor");
        assert_eq!(ex.join().expect("join"), (true, false, true, false));
    }

    /// Off (the default): every write goes at once and nothing is listed.
    #[test]
    fn without_a_delay_nothing_is_held() {
        let ex = glommio::LocalExecutorBuilder::default()
            .spawn(|| async {
                let mut h = wrote_lately();
                let idle = h == Hold::IDLE;
                let now = poll_fn(|cx| Poll::Ready(h.may_write(cx, false))).await;
                (
                    idle,
                    now,
                    h.is_held(),
                    SHARD.with(|s| s.borrow().held.len()),
                )
            })
            .expect("executor");
        assert_eq!(ex.join().expect("join"), (true, true, false, 0));
    }

    /// A message to a connection that has been quiet goes at once; once it
    /// has written, the next message soon after is held; after two quiet
    /// delays, the next goes at once again.
    #[test]
    fn only_a_connection_that_wrote_lately_holds() {
        let ex = glommio::LocalExecutorBuilder::default()
            .spawn(|| async {
                let delay = Duration::from_millis(20);
                set_delay(delay);
                let mut h = Hold::default();
                let look =
                    async |h: &mut Hold| poll_fn(|cx| Poll::Ready(h.may_write(cx, false))).await;
                let fresh = look(&mut h).await;
                h.drained();
                let soon = look(&mut h).await;
                until_released(&mut h, &mut 0).await;
                h.drained();
                glommio::timer::sleep(3 * delay).await;
                let later = look(&mut h).await;
                set_delay(Duration::ZERO);
                (fresh, soon, later)
            })
            .expect("executor");
        assert_eq!(ex.join().expect("join"), (true, false, true));
    }

    /// With a delay, a connection that wrote lately holds its next message
    /// until the window's end (not before the delay, and once released the connection writes until it
    /// drains); a second connection held later in the window is released
    /// with it; a write that must go now is never held.
    #[test]
    fn held_connections_are_released_together_after_the_delay() {
        let ex = glommio::LocalExecutorBuilder::default()
            .spawn(|| async {
                let delay = Duration::from_millis(20);
                set_delay(delay);
                let released = Rc::new(Cell::new(0));
                let mut tasks = Vec::new();
                let start = Instant::now();
                for i in 0..2u64 {
                    let released = Rc::clone(&released);
                    tasks.push(glommio::spawn_local(async move {
                        glommio::timer::sleep(Duration::from_millis(5 * i)).await;
                        let mut h = wrote_lately();
                        let mut polls = 0;
                        until_released(&mut h, &mut polls).await;
                        released.set(released.get() + 1);
                        let window = SHARD.with(|s| s.borrow().window);
                        // Released: writes on until drained, then holds again.
                        let open = poll_fn(|cx| Poll::Ready(h.may_write(cx, false))).await;
                        h.drained();
                        let again = poll_fn(|cx| Poll::Ready(h.may_write(cx, false))).await;
                        (start.elapsed(), window, polls, open, again)
                    }));
                }
                let mut out = Vec::new();
                for t in tasks {
                    out.push(t.await);
                }
                let counted = stats();
                let mut urgent = wrote_lately();
                let now = poll_fn(|cx| Poll::Ready(urgent.may_write(cx, true))).await;
                set_delay(Duration::ZERO);
                (out, released.get(), now, counted)
            })
            .expect("executor");
        let (out, released, now, counted) = ex.join().expect("join");
        assert_eq!(released, 2);
        assert_eq!(
            counted,
            Stats {
                windows: 1,
                holds: 4
            },
            "two connections held, one window ended, both held again after it"
        );
        assert!(now, "a write that must go now is not held");
        let first = out[0].0;
        assert!(
            first >= Duration::from_millis(20),
            "released after {first:?}"
        );
        assert_eq!(out[0].1, out[1].1, "released at the end of the same window");
        for (_, _, polls, open, again) in out {
            assert_eq!(polls, 2, "held once, woken once at the window's end");
            assert!(open, "a released connection writes until it drains");
            assert!(!again, "the next message after draining is held again");
        }
    }
}
