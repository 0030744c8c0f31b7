//! A wake-up from outside for every executor, every [`EVERY`]: the
//! workaround for a glommio 0.9 flaw that can leave an executor asleep with
//! tasks ready to run.
//!
//! glommio's run loop (`LocalExecutor::run`) parks when `run_task_queues`
//! returns false, and `run_task_queues` returns false without running a
//! task when `need_preempt()` is already true on entry, i.e. when a
//! completion sits in the latency ring (a preemption timer's, or that of
//! the timer the executor slept with and cancelled on waking, which the
//! kernel may post after glommio's last look at that ring). The park does
//! not look at the task queues: it sleeps with every ready task still
//! queued, until a timer registered with the reactor fires or an I/O
//! completion comes. When the ready tasks are the ones that would arm the
//! next timer or send what the peer would answer, nothing comes and the
//! executor sleeps for good. Seen on this project's 2-core machine: `rpc`
//! runs whose callers and callees all stopped at once with an answer read
//! and not acted on, and a `pubsub` run against mosquitto whose executor
//! slept in `io_uring_enter` for 11 minutes after the run had ended (its
//! main thread waiting in `join`), until a debugger's attach interrupted
//! the system call and the run finished at once.
//!
//! The nudge: each executor runs a task that only leaves its waker where a
//! plain thread finds it, and that thread wakes every waker it finds every
//! [`EVERY`]. A wake from another thread is glommio's foreign wake: the
//! waker is queued and, when the executor sleeps, its eventfd is written,
//! so the executor wakes, runs what is ready, and such a stall lasts at
//! most [`EVERY`]. An awake executor pays one queued waker per period.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often every executor is woken from outside.
pub const EVERY: Duration = Duration::from_millis(5);

/// The executors' wakers and the thread that wakes them.
pub struct Nudger {
    /// Per executor: the waker its nudge task left, until the thread takes it.
    /// The thread takes and wakes under the lock, so once [`Nudger::leave`]
    /// has run it holds no waker of that executor: a foreign wake or drop of
    /// a waker whose executor is gone must not happen (glommio would queue
    /// it to a channel nobody reads, over and over).
    slots: Mutex<Vec<Slot>>,
    /// Per executor: how many times its nudge task was polled (tests).
    polls: Vec<std::sync::atomic::AtomicU64>,
    stop: AtomicBool,
}

impl Nudger {
    /// A nudger for `executors` executors and its thread, started.
    pub fn start(executors: usize, every: Duration) -> (Arc<Nudger>, JoinHandle<()>) {
        let n = Arc::new(Nudger {
            slots: Mutex::new((0..executors).map(|_| Slot::default()).collect()),
            polls: (0..executors)
                .map(|_| std::sync::atomic::AtomicU64::new(0))
                .collect(),
            stop: AtomicBool::new(false),
        });
        let thread = {
            let n = n.clone();
            std::thread::Builder::new()
                .name("loadgen-nudge".into())
                .spawn(move || {
                    while !n.stop.load(Ordering::Acquire) {
                        std::thread::sleep(every);
                        let mut slots = n.slots.lock().expect("nudge slots");
                        for w in slots.iter_mut().filter_map(|s| s.waker.take()) {
                            w.wake();
                        }
                    }
                })
                .expect("spawn the nudge thread")
        };
        (n, thread)
    }

    /// Runs on executor `i` for as long as it runs: leaves its waker for the
    /// thread each time it is polled.
    pub async fn serve(self: Arc<Self>, i: usize) {
        std::future::poll_fn(|cx| {
            self.polls[i].fetch_add(1, Ordering::Relaxed);
            if let Some(slot) = self.slots.lock().expect("nudge slots").get_mut(i)
                && !slot.left
            {
                slot.waker = Some(cx.waker().clone());
            }
            Poll::<()>::Pending
        })
        .await;
    }

    /// Executor `i` is done (call it on that executor): nothing of it is
    /// woken any more, and its waker is dropped here, on its own thread.
    pub fn leave(&self, i: usize) {
        let waker = {
            let mut slots = self.slots.lock().expect("nudge slots");
            slots.get_mut(i).and_then(|slot| {
                slot.left = true;
                slot.waker.take()
            })
        };
        drop(waker);
    }

    /// How many times executor `i`'s nudge task was polled.
    #[cfg(test)]
    pub fn polls(&self, i: usize) -> u64 {
        self.polls.get(i).map_or(0, |p| p.load(Ordering::Relaxed))
    }

    /// Stops the thread (it ends within one period).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
    }
}

/// One executor's place in the [`Nudger`].
#[derive(Default)]
struct Slot {
    waker: Option<Waker>,
    /// The executor is done: its nudge task leaves no waker any more.
    left: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use glommio::{LocalExecutorBuilder, Placement};

    /// A task of an executor that has nothing else to do is woken by the
    /// thread again and again (the executor sleeps in between: no timer and
    /// no I/O of its own would wake it).
    #[test]
    fn a_sleeping_executor_is_woken_from_outside() {
        let (n, thread) = Nudger::start(1, Duration::from_millis(1));
        let served = n.clone();
        let polls = LocalExecutorBuilder::new(Placement::Unbound)
            .spawn(move || async move {
                // The executor's only task waits for nothing of its own (no
                // timer, no I/O): only the nudge polls it again.
                let n = served.clone();
                glommio::spawn_local(async move {
                    let mut serve = std::pin::pin!(n.clone().serve(0));
                    std::future::poll_fn(|cx| {
                        let _ = serve.as_mut().poll(cx);
                        if n.polls(0) >= 20 {
                            Poll::Ready(())
                        } else {
                            Poll::Pending
                        }
                    })
                    .await;
                })
                .await;
                served.leave(0);
                served.polls(0)
            })
            .expect("executor")
            .join()
            .expect("join");
        n.stop();
        thread.join().expect("nudge thread");
        assert!(polls >= 20, "nudge task polled {polls} times");
    }
}
