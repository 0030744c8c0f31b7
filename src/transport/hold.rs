//! Write coalescing (`junction.write_coalesce_us`, off by default): a
//! connection that has something to write after its queue was empty holds
//! it back for up to the configured delay, so that one write carries every
//! message queued meanwhile. Under a load of many small messages spread in
//! time (IoT telemetry fanned out to dashboards: each message arrives alone,
//! so each delivery is otherwise one `sendmsg` of its own) this trades at
//! most that delay of latency for far fewer system calls, TCP segments and
//! wake-ups of the receiving peer (BENCHMARKS.md, "Write coalescing").
//!
//! One task per shard releases the held connections: the first connection
//! held starts a timer of the delay, and when it runs out every connection
//! held meanwhile is woken and writes (a connection held later in the same
//! window waits less). A released connection writes until its queue is
//! empty (a backlog goes out at full speed, one send after another), then
//! the next message is held again. A queue that fills a whole write, a
//! closing connection and pending control frames go out at once. With
//! nothing held the task sleeps without a timer: an idle router stays idle.
//!
//! A connection keeps its place in a [`Hold`] (1 octet: the window it waits
//! in), the shard a list of the held connections' wakers (reused, no
//! allocation per window). Windows are counted modulo 254: a connection
//! woken at its window's end is polled before the releasing task runs again
//! (one task queue, first in first out), so it never meets its own number
//! again while held.
//!
//! The ground floor of the transports: imports nothing of them.

use std::cell::RefCell;
use std::future::poll_fn;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// The shard's held connections.
struct Shard {
    /// How long the first connection held waits (zero: off).
    delay: Duration,
    /// The window the connections held now are released at the end of
    /// (never [`IDLE`] or [`OPEN`]).
    window: u8,
    /// The wakers of the connections held in `window`.
    held: Vec<Waker>,
    /// The releasing task, while it waits for a connection to be held.
    task: Option<Waker>,
    /// Whether the releasing task runs.
    running: bool,
}

thread_local! {
    static SHARD: RefCell<Shard> = const {
        RefCell::new(Shard {
            delay: Duration::ZERO,
            window: 1,
            held: Vec::new(),
            task: None,
            running: false,
        })
    };
}

/// Sets this shard's delay (zero: off; the configuration takes at most
/// [`MAX_WRITE_COALESCE`](crate::config::MAX_WRITE_COALESCE), tests
/// longer). Connections held under an earlier delay are released at the
/// end of their window.
pub fn set_delay(delay: Duration) {
    SHARD.with(|s| s.borrow_mut().delay = delay);
}

/// The queue was empty when last looked at: the next message is held.
const IDLE: u8 = 0;
/// Released: writes until the queue is empty.
const OPEN: u8 = u8::MAX;

/// A connection's place in its shard's coalescing: idle, held in a window,
/// or released.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hold(u8);

impl Default for Hold {
    fn default() -> Self {
        Hold::IDLE
    }
}

impl Hold {
    /// Nothing queued: the next message is held.
    pub const IDLE: Hold = Hold(IDLE);

    /// The queue is empty: the next message queued is held again.
    pub fn drained(&mut self) {
        self.0 = IDLE;
    }

    /// Something is queued: whether to write it now. `now` says it must go
    /// at once (a whole write's worth queued, the connection closing,
    /// control frames waiting). When not, the connection (`cx`) is woken at
    /// the end of its window; it keeps its place if polled meanwhile.
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
            if self.0 != IDLE {
                if self.0 != s.window {
                    self.0 = OPEN;
                    return None;
                }
                // Still in its window, already on the list.
                return Some(false);
            }
            self.0 = s.window;
            s.held.push(cx.waker().clone());
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

    /// Whether the connection is held.
    pub fn is_held(&self) -> bool {
        self.0 != IDLE && self.0 != OPEN
    }
}

/// The window after `w`.
fn next_window(w: u8) -> u8 {
    match w.wrapping_add(1) {
        IDLE | OPEN => 1,
        n => n,
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
    fn windows_skip_the_idle_and_open_marks() {
        assert_eq!(next_window(1), 2);
        assert_eq!(next_window(OPEN - 1), 1);
        assert_eq!(next_window(OPEN), 1);
    }

    /// Off (the default): every write goes at once and nothing is listed.
    #[test]
    fn without_a_delay_nothing_is_held() {
        let ex = glommio::LocalExecutorBuilder::default()
            .spawn(|| async {
                let mut h = Hold::default();
                let now = poll_fn(|cx| Poll::Ready(h.may_write(cx, false))).await;
                (now, h.is_held(), SHARD.with(|s| s.borrow().held.len()))
            })
            .expect("executor");
        assert_eq!(ex.join().expect("join"), (true, false, 0));
    }

    /// With a delay, the first message waits for the window's end (not
    /// before the delay, and once released the connection writes until it
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
                        let mut h = Hold::default();
                        let mut polls = 0;
                        poll_fn(|cx| {
                            polls += 1;
                            if h.may_write(cx, false) {
                                Poll::Ready(())
                            } else {
                                Poll::Pending
                            }
                        })
                        .await;
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
                let mut urgent = Hold::default();
                let now = poll_fn(|cx| Poll::Ready(urgent.may_write(cx, true))).await;
                set_delay(Duration::ZERO);
                (out, released.get(), now)
            })
            .expect("executor");
        let (out, released, now) = ex.join().expect("join");
        assert_eq!(released, 2);
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
