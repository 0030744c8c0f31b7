//! An idle MQTT connection without a task of its own ("parked"): what it
//! needs to resume (its socket on the shard's ring, its keep-alive and its
//! place in the shard's connection count) moves into its state, its task
//! and the task's future end, and the first wake spawns a task again.
//!
//! **One wake path.** Everything the main phase registers with (the ring
//! slot, the keep-alive sweep, timers) holds the connection's own waker
//! (`driver::conn_waker`), never the task's: a waker on the state's `Weak`
//! pointer whose wake goes to `driver::revive`. While a task runs, `revive` wakes
//! it (its waker is `State::waker`); while the connection is parked, it
//! spawns one. `State::wake` (deliveries, a close, takeover) reaches the
//! same function: a parked state's `waker` is the connection's waker.
//!
//! **No lost wake-up.** A task parks at the end of a poll only if nothing
//! woke it during that poll (`State::waker`, set at the poll's start, is
//! still there; every wake takes it), nothing waits (no bytes, nothing to
//! write, no send in flight on the ring, no acknowledgement waiting for a
//! WAL marker, no stall timer) and the connection is up. Parking is
//! synchronous on the shard's thread, so no wake can come between the
//! decision and the state holding the socket; any wake after it finds the
//! connection parked and spawns.
//! A task spawned for a connection that a task already serves (several
//! wakes in one turn) wakes that task and ends.
//!
//! **Nothing on the busy path.** A connection parks only after it was idle
//! for a whole [`PARK_TICK`]: one task per shard (running while there are
//! candidates) looks at the connections that went idle once per tick; one
//! that ran since is left alone (marks in `State::park`), one that did not
//! is asked to park and does so at its next poll. A busy connection keeps
//! its task; it costs a flag per tick.
//!
//! Only connections on the shard's own ring park (their socket's waker is
//! a plain slot, see `uring/stream.rs`), and only those that hold their
//! count (served straight from an MQTT listener's accept, see
//! `transport::serve`).

use std::cell::RefCell;
use std::rc::{Rc, Weak};
use std::task::Waker;
use std::time::Duration;

use super::conn::Session;
use super::state::{ACTIVE, ASKED, CANDIDATE, Parked, Phase, State, StateRef};
use crate::transport::Stream;

/// How long a connection stays idle, at least, before it parks (at most
/// twice this): the keep-alive sweep's resolution. A connection that gets
/// a message every few hundred milliseconds or less keeps its task; one
/// that gets fewer pays a task's spawn per wake (well under a
/// microsecond), which is nothing at that rate.
pub const PARK_TICK: Duration = Duration::from_millis(100);

/// The session of a parked connection, taken back by the task `revive`
/// spawned; `None` when a task already serves it (that task is woken).
pub(super) fn resume(state: StateRef) -> Option<Session> {
    let parked = {
        let mut s = state.borrow_mut();
        match s.parked.take() {
            Some(p) => {
                s.park = 0;
                tracing::trace!(client = %s.client_id, "MQTT connection resumed");
                p
            }
            None => {
                if let Some(t) = s.waker.take() {
                    t.wake();
                }
                return None;
            }
        }
    };
    let router =
        super::ctx::port().expect("a connection parks only once the shard's router is set");
    Some(Session {
        sock: Stream::Uring(parked.sock),
        state,
        router,
        inbuf: None,
        front_sent: 0,
        keep_alive: parked.keep_alive,
        stall: None,
        durable: None,
        counted: Some(super::ctx::counted()),
    })
}

impl Session {
    /// After a poll that left the connection waiting: parks it (`true`:
    /// the task may end) if it is idle, holds its count, is on the ring and
    /// the sweep asked; otherwise makes it a candidate once it is idle.
    pub(super) fn park_if_idle(&mut self) -> bool {
        let mut s = self.state.borrow_mut();
        let decided = decide(&mut s, || {
            self.inbuf.is_none()
                && self.front_sent == 0
                && self.stall.is_none()
                && self.durable.is_none()
                && sock_parks(&self.sock)
                && self.counted.as_ref().is_some_and(super::ctx::holds_count)
                && super::ctx::has_port()
        });
        drop(s);
        match decided {
            Decision::Park => true,
            Decision::Candidate => {
                candidate(&self.state);
                false
            }
            Decision::Stay => false,
        }
    }

    /// Moves what the connection resumes with into its state, `conn` (the
    /// connection's own waker) as its waker; the task ends after this (see
    /// [`Session::park_if_idle`]).
    pub(super) fn park(self, conn: Waker) {
        let Session {
            sock,
            state,
            keep_alive,
            counted,
            ..
        } = self;
        let (Stream::Uring(sock), Some(counted)) = (sock, counted) else {
            unreachable!("park_if_idle checked: a ring stream with its count");
        };
        // Its place in the count stays taken (`ctx::holds_count` checked
        // that the shard keeps the count).
        drop(counted.into_count());
        let mut s = state.borrow_mut();
        s.park = 0;
        // Nothing queued: the queue's box goes; so does what only some
        // connections use, if unused.
        s.out.free_if_empty();
        s.tidy();
        s.waker = Some(conn);
        tracing::trace!(client = %s.client_id, "MQTT connection parked");
        s.parked = Some(Parked { sock, keep_alive });
    }
}

/// Whether a connection's socket lets it park: one on the shard's ring
/// (its waker a plain slot) with no send in flight (the kernel reads the
/// op until its completion, which must find the task that accounts for it).
fn sock_parks(sock: &Stream) -> bool {
    matches!(sock, Stream::Uring(s) if !s.sending())
}

/// What a task does at the end of a poll that left it waiting.
#[derive(Debug, PartialEq, Eq)]
enum Decision {
    /// Keeps its task.
    Stay,
    /// Keeps its task and joins the shard's candidates.
    Candidate,
    /// Parks: the sweep asked and it is idle.
    Park,
}

/// The decision for a connection whose state is `s`; `session_idle`: the
/// task's own part (no bytes or acknowledgements waiting, a ring socket, its
/// count held), looked at only when needed.
fn decide(s: &mut State, session_idle: impl FnOnce() -> bool) -> Decision {
    // The busy path: a candidate the sweep has not asked (one borrow and a
    // flag per poll; whether it is idle is looked at when asked).
    if s.park & (CANDIDATE | ASKED) == CANDIDATE {
        return Decision::Stay;
    }
    // Woken during the poll (the waker was taken): it runs again.
    let idle = s.waker.is_some()
        && s.phase == Phase::Up
        && s.out.items.is_empty()
        && s.parked.is_none()
        && waits_for_nothing(s)
        && session_idle();
    if !idle {
        s.park &= !ASKED;
        return Decision::Stay;
    }
    if s.park & ASKED == 0 {
        s.park |= CANDIDATE;
        return Decision::Candidate;
    }
    Decision::Park
}

/// Whether nothing waits for the connection's task in its state: no
/// message for the router, no chore, no answer to a request, no takeover
/// or resumption under way.
fn waits_for_nothing(s: &State) -> bool {
    s.rare.todo.is_empty()
        && s.rare.chores.is_none()
        && s.rare
            .requests
            .as_ref()
            .is_none_or(|r| r.answers.is_empty())
        && !s.rare.resume.is_allocated()
}

/// The shard's candidates for parking (connections that went idle), and
/// whether the sweeping task runs.
struct Sweep {
    list: Vec<Weak<RefCell<State>>>,
    running: bool,
}

thread_local! {
    static SWEEP: RefCell<Sweep> = const { RefCell::new(Sweep { list: Vec::new(), running: false }) };
}

/// Puts `state` in the shard's list (its `CANDIDATE` mark is set).
fn candidate(state: &StateRef) {
    let start = SWEEP.with(|s| {
        let mut s = s.borrow_mut();
        s.list.push(Rc::downgrade(state));
        !std::mem::replace(&mut s.running, true)
    });
    if start {
        glommio::spawn_local(sweep()).detach();
    }
}

/// What the sweep does with one candidate.
#[derive(Debug, PartialEq, Eq)]
enum Look {
    /// Still a candidate (it ran since the last look, or is busy now).
    Keep,
    /// Asked to park: its task is woken.
    Ask,
    /// No longer a candidate (gone, parked, or no longer up).
    Drop,
}

/// One look at a candidate's marks.
fn look(s: &mut State) -> Look {
    if s.parked.is_some() || s.phase != Phase::Up || s.park & CANDIDATE == 0 {
        s.park &= !CANDIDATE;
        return Look::Drop;
    }
    if s.park & ACTIVE != 0 {
        s.park &= !ACTIVE;
        return Look::Keep;
    }
    s.park = (s.park & !CANDIDATE) | ASKED;
    Look::Ask
}

/// The shard's sweeping task: every [`PARK_TICK`], asks the candidates
/// that did not run since the last tick to park; ends when none is left.
async fn sweep() {
    loop {
        glommio::timer::sleep(PARK_TICK).await;
        let list = SWEEP.with(|s| std::mem::take(&mut s.borrow_mut().list));
        let mut kept = Vec::with_capacity(list.len());
        for w in list {
            let Some(state) = w.upgrade() else {
                continue;
            };
            let Ok(mut s) = state.try_borrow_mut() else {
                kept.push(w);
                continue;
            };
            match look(&mut s) {
                Look::Keep => kept.push(w),
                Look::Drop => {}
                Look::Ask => {
                    if let Some(t) = s.waker.take() {
                        t.wake();
                    }
                }
            }
        }
        let done = SWEEP.with(|s| {
            let mut s = s.borrow_mut();
            s.list.append(&mut kept);
            if s.list.is_empty() {
                s.running = false;
                s.list = Vec::new();
                true
            } else {
                false
            }
        });
        if done {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::mqtt::Version;
    use crate::transport::mqtt::Service;

    fn up() -> StateRef {
        let mut s = State::new(Rc::new(Service::default_for_tests()), Version::V5, "c");
        s.phase = Phase::Up;
        Rc::new(RefCell::new(s))
    }

    /// A connection whose send is in flight on the ring (a peer that does
    /// not read) does not park; once the send completed and was collected,
    /// it may.
    #[test]
    fn a_connection_with_a_send_in_flight_does_not_park() {
        use std::io::Read;
        use std::time::Duration;

        use bytes::Bytes;

        use crate::core::outbox::Frame;
        use crate::transport::uring::{self, UringListener};

        glommio::LocalExecutorBuilder::default()
            .spawn(|| async {
                let driver = uring::start().expect("io_uring available");
                let ring = uring::current().expect("started");
                let l = UringListener::bind_tcp(ring, "127.0.0.1:0".parse().expect("addr"))
                    .expect("bind");
                let addr = l.local_addr().expect("addr").as_socket().expect("inet");
                let (go, wait) = std::sync::mpsc::channel::<()>();
                let client = std::thread::spawn(move || {
                    let mut c = std::net::TcpStream::connect(addr).expect("connect");
                    wait.recv().expect("told to read");
                    let mut n = 0;
                    let mut buf = vec![0u8; 1 << 16];
                    loop {
                        match c.read(&mut buf).expect("read") {
                            0 => return n,
                            k => n += k,
                        }
                    }
                });
                let (s, _) = l.accept().await.expect("accept");
                let mut sock = Stream::Uring(s);
                assert!(sock_parks(&sock), "nothing in flight");
                const LEN: usize = 32 << 20;
                let Stream::Uring(s) = &mut sock else {
                    unreachable!()
                };
                // More than the socket takes while the peer does not read.
                let mut op = s.send_op();
                op.frames.push(Frame::Own(Bytes::from(vec![7u8; LEN])));
                s.submit_send(op);
                glommio::timer::sleep(Duration::from_millis(100)).await;
                let mut sent = 0;
                if let Some((res, op)) = s.take_sent() {
                    // A first part went: the rest stalls in a second send.
                    sent = res.expect("sent");
                    s.recycle(op);
                    let mut op = s.send_op();
                    op.frames.push(Frame::Own(Bytes::from(vec![7u8; LEN])));
                    op.skip = sent;
                    s.submit_send(op);
                    glommio::timer::sleep(Duration::from_millis(100)).await;
                }
                assert!(s.sending(), "stalled on a peer that does not read");
                assert!(!sock_parks(&sock), "a send in flight: no parking");
                go.send(()).expect("client");
                let Stream::Uring(s) = &mut sock else {
                    unreachable!()
                };
                let (res, op) = std::future::poll_fn(|cx| s.poll_send(cx))
                    .await
                    .expect("in flight");
                s.recycle(op);
                assert!(sent + res.expect("sent") <= LEN);
                assert!(sock_parks(&sock), "collected: it may park");
                drop(sock);
                driver.stop().await;
                client.join().expect("client") > 0
            })
            .expect("executor")
            .join()
            .map(|read| assert!(read))
            .expect("joined");
    }

    /// A connection parks only after a look that found it idle since the
    /// previous one; one that ran in between stays.
    #[test]
    fn only_a_connection_idle_for_a_whole_tick_is_asked_to_park() {
        let state = up();
        let mut s = state.borrow_mut();
        s.park = CANDIDATE | ACTIVE;
        assert_eq!(look(&mut s), Look::Keep, "it ran since the last look");
        assert_eq!(s.park, CANDIDATE);
        assert_eq!(look(&mut s), Look::Ask, "idle for a whole tick");
        assert_eq!(s.park, ASKED);
        s.park = CANDIDATE;
        s.phase = Phase::Closing;
        assert_eq!(look(&mut s), Look::Drop, "closing: never parks");
        assert_eq!(s.park, 0);
    }

    /// A connection parks only when asked and idle, and never when it was
    /// woken during the poll that would park it: that wake took the task's
    /// waker from the state, so the task runs again instead.
    #[test]
    fn a_connection_woken_during_its_poll_does_not_park() {
        let state = up();
        let mut s = state.borrow_mut();
        s.waker = Some(Waker::noop().clone());
        assert_eq!(
            decide(&mut s, || true),
            Decision::Candidate,
            "idle: a candidate"
        );
        assert_eq!(s.park, CANDIDATE);
        assert_eq!(
            decide(&mut s, || unreachable!("not looked at")),
            Decision::Stay,
            "a candidate not asked: nothing else is looked at"
        );
        s.park = ASKED;
        s.waker = None;
        assert_eq!(
            decide(&mut s, || true),
            Decision::Stay,
            "woken during the poll"
        );
        assert_eq!(
            s.park, 0,
            "the request is dropped: it becomes a candidate again"
        );
        s.park = ASKED;
        s.waker = Some(Waker::noop().clone());
        assert_eq!(decide(&mut s, || false), Decision::Stay, "bytes wait");
        s.park = ASKED;
        s.rare
            .todo
            .push(crate::proto::Message::Goodbye(crate::proto::Goodbye {
                details: Default::default(),
                reason: "wamp.close.normal".into(),
            }));
        assert_eq!(
            decide(&mut s, || true),
            Decision::Stay,
            "work for the router waits"
        );
        s.rare.todo.clear();
        s.park = ASKED;
        assert_eq!(decide(&mut s, || true), Decision::Park);
    }
}
