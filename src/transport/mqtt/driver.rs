//! The MQTT connection's task and its one wake path.
//!
//! [`serve_mqtt`] drives a connection through its phases (CONNECT in
//! `opening.rs`, the main phase in `conn.rs`, the end in `finish.rs`) as a
//! hand-written future, so that only the running phase's locals take room.
//! [`conn_waker`] is the connection's own waker, the one everything the
//! main phase waits on holds: it wakes the running task, or, once the
//! connection parked without a task (`park.rs`), spawns one ([`resumed`]).
//!
//! The top of the connection driver: it imports the phases and the park;
//! nothing in the driver imports it (the shard's listeners call
//! [`serve_mqtt`] and [`serve_mqtt_counted`] through `transport::mqtt`).

use std::cell::RefCell;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use futures::Future;

use super::conn::Session;
use super::opening::open;
use super::park;
use super::state::{State, StateRef};
use super::{RouterPort, Service};
use crate::transport::{Counted, Stream};

/// Serves one MQTT connection whose first bytes (`first`, possibly empty)
/// were already read (a universal listener sniffed them).
///
/// The future is small (see the test bounding it): while the session runs
/// it is the `Session` alone (the service is the state's). The CONNECT
/// phase and the end
/// run in boxed futures of their own, so their buffers, timers and decoded
/// packets are gone while the session runs; the arguments go into the
/// boxed CONNECT phase at once.
pub fn serve_mqtt(
    sock: Stream,
    peer: String,
    svc: Rc<Service>,
    router: Rc<dyn RouterPort>,
    first: Vec<u8>,
) -> impl Future<Output = ()> {
    serve(sock, peer, svc, router, first, None)
}

/// Serves one MQTT connection accepted by an MQTT listener, counted on its
/// shard by `counted` (kept while the connection is parked without a task,
/// see `park.rs`; without it the connection never parks).
pub fn serve_mqtt_counted(
    sock: Stream,
    peer: String,
    svc: Rc<Service>,
    router: Rc<dyn RouterPort>,
    counted: Option<Counted>,
) -> impl Future<Output = ()> {
    serve(sock, peer, svc, router, Vec::new(), counted)
}

fn serve(
    sock: Stream,
    peer: String,
    svc: Rc<Service>,
    router: Rc<dyn RouterPort>,
    first: Vec<u8>,
    counted: Option<Counted>,
) -> Serve {
    if !svc.admit() {
        tracing::debug!(%peer, "MQTT listener at max_connections: connection refused");
        return Serve::Done;
    }
    let opening = Box::pin(open(sock, peer, Rc::clone(&svc), router, first, counted));
    Serve::Opening(opening, svc)
}

/// The task of a parked connection woken (`park.rs`): its session, taken
/// back from its state, served on.
fn resumed(state: StateRef) -> impl Future<Output = ()> {
    Serve::Resume(state, false)
}

/// A boxed phase of a connection.
type Phased<T> = Pin<Box<dyn Future<Output = T>>>;

/// The phases of [`serve_mqtt`], by hand: a compiler-made future would
/// keep room for every phase's locals at once.
enum Serve {
    /// CONNECT, up to the session's start.
    Opening(Phased<Option<Session>>, Rc<Service>),
    /// The session's main phase (the service is the state's).
    Main(Session),
    /// A parked connection woken: its session is in its state, taken at
    /// the second poll (`false`: not polled yet). glommio may poll a task
    /// at once inside `spawn_local`, i.e. inside the wake (the state or
    /// the router borrowed): the first poll only asks for another.
    Resume(StateRef, bool),
    /// The end (will, link, socket).
    Finishing(Phased<()>, Rc<Service>),
    /// Over (or refused at `max_connections`).
    Done,
}

impl Future for Serve {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        loop {
            let next = match this {
                Serve::Opening(f, svc) => match f.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Some(session)) => Serve::Main(session),
                    Poll::Ready(None) => {
                        svc.release();
                        Serve::Done
                    }
                },
                Serve::Resume(_, polled @ false) => {
                    *polled = true;
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Serve::Resume(state, true) => match park::resume(Rc::clone(state)) {
                    Some(session) => Serve::Main(session),
                    None => Serve::Done,
                },
                Serve::Main(session) => {
                    let conn = conn_waker(&session.state);
                    let Poll::Ready(end) = session.poll_main(cx, &conn) else {
                        if !session.park_if_idle() {
                            return Poll::Pending;
                        }
                        if let Serve::Main(session) = std::mem::replace(this, Serve::Done) {
                            session.park(conn);
                        }
                        return Poll::Ready(());
                    };
                    if let Some(ka) = session.keep_alive.take() {
                        ka.release(&conn);
                    }
                    match std::mem::replace(this, Serve::Done) {
                        Serve::Main(session) => {
                            let svc = Rc::clone(&session.state.borrow().svc);
                            Serve::Finishing(Box::pin(session.finish(end)), svc)
                        }
                        other => other,
                    }
                }
                Serve::Finishing(f, svc) => match f.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(()) => {
                        svc.release();
                        Serve::Done
                    }
                },
                Serve::Done => return Poll::Ready(()),
            };
            *this = next;
        }
    }
}

/// The connection's own waker: wakes its task, or spawns one while it is
/// parked (`revive`). Holds the state weakly (no cycle through
/// `State::waker`).
pub fn conn_waker(state: &StateRef) -> Waker {
    let raw = Weak::into_raw(Rc::downgrade(state)).cast::<()>();
    // SAFETY: the vtable's functions treat the pointer as the `Weak` it is.
    unsafe { Waker::from_raw(RawWaker::new(raw, &VTABLE)) }
}

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);

/// # Safety
/// `p` comes from `Weak::into_raw` of a `Weak<RefCell<State>>`.
unsafe fn weak_of(p: *const ()) -> ManuallyDrop<Weak<RefCell<State>>> {
    // SAFETY: as the caller promises; not dropped here.
    ManuallyDrop::new(unsafe { Weak::from_raw(p.cast::<RefCell<State>>()) })
}

unsafe fn clone(p: *const ()) -> RawWaker {
    // SAFETY: the waker's own pointer.
    let w = unsafe { weak_of(p) };
    let raw = Weak::into_raw(Weak::clone(&w)).cast::<()>();
    RawWaker::new(raw, &VTABLE)
}

unsafe fn wake(p: *const ()) {
    // SAFETY: the waker's own pointer, consumed.
    let w = ManuallyDrop::into_inner(unsafe { weak_of(p) });
    revive(&w);
}

unsafe fn wake_by_ref(p: *const ()) {
    // SAFETY: the waker's own pointer.
    let w = unsafe { weak_of(p) };
    revive(&w);
}

unsafe fn drop_waker(p: *const ()) {
    // SAFETY: the waker's own pointer, consumed.
    drop(ManuallyDrop::into_inner(unsafe { weak_of(p) }));
}

/// The one wake path: the running task is woken, a parked connection gets
/// a task. Where the state is borrowed (a wake from inside its own code)
/// a task is spawned, which looks once the borrow is over.
fn revive(w: &Weak<RefCell<State>>) {
    let Some(state) = w.upgrade() else {
        return;
    };
    if let Ok(mut s) = state.try_borrow_mut()
        && s.parked.is_none()
    {
        if let Some(t) = s.waker.take() {
            t.wake();
        }
        return;
    }
    glommio::spawn_local(resumed(state)).detach();
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::core::api::{LinkInfo, Output};
    use crate::core::cluster::FrontMsg;
    use crate::proto::Message;
    use crate::proto::mqtt::Version;
    use crate::transport::mqtt::state::Phase;

    fn up() -> StateRef {
        let mut s = State::new(Rc::new(Service::default_for_tests()), Version::V5, "c");
        s.phase = Phase::Up;
        Rc::new(RefCell::new(s))
    }

    /// A task's waker that counts its wakes.
    struct Count(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for Count {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// The connection's waker wakes the running task through the state
    /// (taking its waker, as `State::wake` does), and holds the state
    /// weakly: a waker left behind keeps nothing alive.
    #[test]
    fn the_connection_waker_wakes_the_running_task_and_holds_the_state_weakly() {
        let state = up();
        let count = std::sync::Arc::new(Count(Default::default()));
        state.borrow_mut().waker = Some(Waker::from(std::sync::Arc::clone(&count)));
        let w = conn_waker(&state);
        let w2 = w.clone();
        assert!(w.will_wake(&w2), "one connection, one waker");
        w.wake_by_ref();
        assert_eq!(count.0.load(std::sync::atomic::Ordering::Relaxed), 1);
        assert!(state.borrow().waker.is_none(), "the task's waker was taken");
        w2.wake_by_ref();
        assert_eq!(
            count.0.load(std::sync::atomic::Ordering::Relaxed),
            1,
            "woken once"
        );
        assert_eq!((Rc::strong_count(&state), Rc::weak_count(&state)), (1, 2));
        drop(state);
        w2.wake();
        drop(w);
    }

    fn future_size<A, B, C, D, E, F: Future>(_: fn(A, B, C, D, E) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    /// What every held connection keeps (issue #11: no more memory per
    /// idle connection than mosquitto): the task's future is the session
    /// alone, not room for the CONNECT phase or the end (nor the decode
    /// limits, a list of its own for what packets feed the router, or an
    /// empty read buffer); the
    /// state's allocation stays in the 224-byte size class (the `Rc` and
    /// `RefCell` counters included) with what a parked connection keeps
    /// (`park.rs`), what only some connections use in one box apart
    /// (`rare.rs`), freed while unused.
    #[test]
    fn a_held_connection_stays_small() {
        let fut = future_size(serve_mqtt);
        let session = std::mem::size_of::<Session>();
        assert!(
            fut <= session,
            "serve_mqtt's future is {fut} bytes, the session {session}"
        );
        // `transport::serve`'s box is this future alone (the listener's
        // hooks are not kept): the 96-byte size class.
        assert!(session <= 96, "Session is {session} bytes");
        let state = std::mem::size_of::<RefCell<State>>() + 2 * std::mem::size_of::<usize>();
        eprintln!("future {fut} B, Session {session} B, the state's Rc {state} B");
        assert!(state <= 224, "the state's Rc allocation is {state} bytes");
        let rare = std::mem::size_of::<super::super::rare::Rare>();
        assert!(rare <= 208, "the rarely used part is {rare} bytes");
        // A parked connection (no task, no future) keeps its socket and its
        // keep-alive in the state (its count is the shard's): the outgoing
        // queue is a box of its own (freed when it parks), so are the last
        // delivery's merge marks; the WAMP session's ID is a `NonZeroU64`,
        // "welcomed" is that ID's presence, a persistent session's slot one
        // octet.
        let parked = std::mem::size_of::<Option<super::super::state::Parked>>();
        assert!(parked <= 32, "a parked connection's part is {parked} bytes");
        let persist = std::mem::size_of::<super::super::session::Persist>();
        assert!(persist <= 56, "the persistent part is {persist} bytes");
        let out = std::mem::size_of_val(
            &State::new(Rc::new(Service::default_for_tests()), Version::V5, "c").out,
        );
        assert_eq!(out, 8, "the outgoing queue is one pointer");
    }

    /// Hooks that count `closed`; nothing else is called on an MQTT listener.
    struct CountClosed(Rc<std::cell::Cell<usize>>);

    impl crate::transport::ConnectionHooks for CountClosed {
        fn open(
            &mut self,
            _: LinkInfo,
            _: crate::proto::Serializer,
        ) -> Result<crate::core::outbox::OutboxRef, crate::core::api::Refused> {
            unreachable!("an MQTT connection opens its links through its port")
        }
        fn frame(&mut self, _: &[u8]) {
            unreachable!("no WAMP frames on an MQTT listener")
        }
        fn closed(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }

    /// A router port never reached: the connection is not polled.
    struct NoRouter;

    impl RouterPort for NoRouter {
        fn open(
            &self,
            _: LinkInfo,
            _: Output,
        ) -> Result<crate::core::api::LinkId, crate::core::api::Refused> {
            unreachable!()
        }
        fn feed(&self, _: crate::core::api::LinkId, _: Message) {
            unreachable!()
        }
        fn close(&self, _: crate::core::api::LinkId) {
            unreachable!()
        }
        fn open_service(&self, _: &str, _: Output) -> Option<crate::core::api::LinkId> {
            unreachable!()
        }
        fn publish_as_router(&self, _: &str, _: &str, _: crate::proto::Payload) {
            unreachable!()
        }
        fn shard(&self) -> (crate::proto::ShardId, u16) {
            unreachable!()
        }
        fn send_front(&self, _: crate::proto::ShardId, _: FrontMsg) {
            unreachable!()
        }
    }

    /// On an MQTT listener `transport::serve` is done with the listener's
    /// hooks at once (their `closed` comes before the connection is
    /// served, exactly once), so a held connection's box is the MQTT
    /// future alone.
    #[test]
    fn an_mqtt_connection_keeps_no_hooks() {
        glommio::LocalExecutorBuilder::default()
            .spawn(|| async {
                let service = Rc::new(Service::default_for_tests());
                let listening =
                    crate::transport::Listening::new(Rc::clone(&service.transport), 1 << 20)
                        .expect("an MQTT listener");
                let (a, _b) = glommio::net::UnixStream::pair().expect("a socket pair");
                let closed = Rc::new(std::cell::Cell::new(0));
                let port = crate::transport::MqttPort {
                    service,
                    router: Rc::new(NoRouter),
                };
                let count = Arc::new(AtomicUsize::new(1));
                let mut counted = Some(Counted::new(Arc::clone(&count)));
                let fut = crate::transport::serve(
                    Stream::Unix(Box::new(a)),
                    "unix".into(),
                    &listening,
                    CountClosed(Rc::clone(&closed)),
                    Some(port),
                    &mut counted,
                );
                assert_eq!(closed.get(), 1, "closed before the connection is served");
                assert!(counted.is_none(), "the connection holds its count");
                assert_eq!(count.load(Ordering::Relaxed), 1);
                let boxed = std::mem::size_of_val(&*fut);
                assert_eq!(boxed, future_size(serve_mqtt), "the MQTT future alone");
                drop(fut);
                assert_eq!(closed.get(), 1, "once");
                assert_eq!(count.load(Ordering::Relaxed), 0, "counted until it ends");
            })
            .expect("executor")
            .join()
            .expect("joined");
    }
}
