//! This shard's MQTT front end as a whole: the router port and session log
//! it was started with ([`start_shard`]), work deferred out of the router's
//! calls ([`later`]), and the shard's MQTT task that runs it: the host of
//! offline sessions and its timers (session expiry, will delay), the
//! acknowledgements of durable publications, and the `$SYS/` updates.
//!
//! A sink runs inside the router (which is borrowed then): whatever must
//! call back into the router (feed a message, close a link, send to another
//! shard) is queued with [`later`] and runs on the shard's MQTT task right
//! after.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use futures::Future;
use glommio::timer::Timer;

use super::state::State;
use super::{RouterPort, Service};
use crate::store::mqtt::{MqttLog, Record, RestoredSession};
use crate::store::wal::WalError;

/// Deferred work: runs on the shard's MQTT task with the router port.
pub type Work = Box<dyn FnOnce(&dyn RouterPort)>;

/// The shard's MQTT front end.
struct Shard {
    /// The router.
    port: Rc<dyn RouterPort>,
    /// The MQTT session records of realms with a file store.
    log: MqttLog,
    /// Every MQTT service of the config at start, by listener ID (restored
    /// sessions find theirs by it).
    services: Vec<Rc<Service>>,
}

thread_local! {
    static SHARD: RefCell<Option<Shard>> = const { RefCell::new(None) };
    /// This shard's index (0 until started).
    static INDEX: Cell<u16> = const { Cell::new(0) };
    /// Work waiting for the task.
    static LATER: RefCell<Vec<Work>> = const { RefCell::new(Vec::new()) };
    /// The task, parked.
    static WAKER: RefCell<Option<Waker>> = const { RefCell::new(None) };
    /// Set while the task should run again.
    static DIRTY: Cell<bool> = const { Cell::new(false) };
    /// At most one log line per interval for records not written.
    static LAST_WARN: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Persistent sessions written to a log, in the process (the durable
/// acknowledgement of publications is skipped while there are none).
static DURABLE_SESSIONS: AtomicUsize = AtomicUsize::new(0);

/// Durable sessions in the process.
pub fn durable_sessions() -> usize {
    DURABLE_SESSIONS.load(Ordering::Relaxed)
}

/// This shard's index.
pub fn shard_index() -> u16 {
    INDEX.with(Cell::get)
}

/// Runs `f` with the shard's session log, if the front end was started.
pub fn with_log<R>(f: impl FnOnce(&MqttLog) -> R) -> Option<R> {
    SHARD.with(|s| s.borrow().as_ref().map(|s| f(&s.log)))
}

/// Whether `realm` keeps MQTT sessions durably.
pub fn durable(realm: &str) -> bool {
    with_log(|l| l.durable(realm)).unwrap_or(false)
}

/// The MQTT service of listener `id` known at start.
pub fn service(id: &str) -> Option<Rc<Service>> {
    SHARD.with(|s| {
        s.borrow()
            .as_ref()
            .and_then(|s| s.services.iter().find(|x| x.transport.id == id).cloned())
    })
}

/// The first MQTT service of `realm` known at start.
pub fn service_of_realm(realm: &str) -> Option<Rc<Service>> {
    SHARD.with(|s| {
        s.borrow()
            .as_ref()
            .and_then(|s| s.services.iter().find(|x| x.realm == realm).cloned())
    })
}

/// Logs (at most every ten seconds) a session record that was not written.
pub fn log_write_error(e: &WalError) {
    let now = Instant::now();
    let due = LAST_WARN.with(|w| {
        let due = w.get().is_none_or(|t| now.duration_since(t) >= Duration::from_secs(10));
        if due {
            w.set(Some(now));
        }
        due
    });
    if due {
        tracing::warn!(error = %e, "MQTT session store: a record is not persisted");
    }
}

/// A persistent connection's session gets an incarnation in the log (a
/// realm with a file store), or loses it when it is no longer persistent.
pub fn start_incarnation(s: &mut State) {
    if s.p.persistent() && s.p.inc == 0 && durable(&s.svc.realm) {
        s.p.inc = super::session::next_key(shard_index());
        DURABLE_SESSIONS.fetch_add(1, Ordering::Relaxed);
    } else if !s.p.persistent() && s.p.inc != 0 {
        s.write(Record::End);
        s.p.inc = 0;
        DURABLE_SESSIONS.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A durable session incarnation came in (from the log or another shard).
pub fn adopt_incarnation() {
    DURABLE_SESSIONS.fetch_add(1, Ordering::Relaxed);
}

/// A durable session incarnation ended (its `End` was written) or left the shard.
pub fn end_incarnation() {
    DURABLE_SESSIONS.fetch_sub(1, Ordering::Relaxed);
}

/// Queues `work` for the shard's MQTT task (it runs after the router's
/// current call, with the router free).
pub fn later(work: impl FnOnce(&dyn RouterPort) + 'static) {
    LATER.with(|l| l.borrow_mut().push(Box::new(work)));
    wake();
}

/// Wakes the shard's MQTT task.
pub fn wake() {
    DIRTY.with(|d| d.set(true));
    WAKER.with(|w| {
        if let Some(w) = w.borrow_mut().take() {
            w.wake();
        }
    });
}

/// The router port, outside any router call (the task, a connection).
pub fn port() -> Option<Rc<dyn RouterPort>> {
    SHARD.with(|s| s.borrow().as_ref().map(|s| Rc::clone(&s.port)))
}

/// Starts this shard's MQTT front end: its router port, its handle on the
/// session log, the MQTT services of the config, and the sessions read back
/// from the logs (this shard keeps those whose client identifier it owns).
/// Spawns the shard's MQTT task; call once per shard, on the shard.
pub fn start_shard(
    port: Rc<dyn RouterPort>,
    log: MqttLog,
    services: Vec<Rc<Service>>,
    restored: &[RestoredSession],
    offline_store_bytes: u64,
) {
    let (me, shards) = port.shard();
    INDEX.with(|i| i.set(me.0));
    super::session::set_offline_limit(offline_store_bytes);
    SHARD.with(|s| {
        *s.borrow_mut() = Some(Shard {
            port: Rc::clone(&port),
            log,
            services,
        })
    });
    let mine: Vec<RestoredSession> = restored
        .iter()
        .filter(|r| super::takeover::owner_of(&r.client, shards) == me)
        .cloned()
        .collect();
    for r in mine {
        super::host::restore(r);
    }
    glommio::spawn_local(run(port)).detach();
}

/// The shard's MQTT task: deferred work, the host's timers, durable
/// acknowledgements, `$SYS/`.
async fn run(port: Rc<dyn RouterPort>) {
    let mut timer: Option<(Instant, Timer)> = None;
    loop {
        poll_fn(|cx| {
            WAKER.with(|w| *w.borrow_mut() = Some(cx.waker().clone()));
            super::durable::register(cx.waker());
            if DIRTY.with(|d| d.replace(false)) || super::durable::ready() {
                return Poll::Ready(());
            }
            if let Some((_, t)) = &mut timer
                && Pin::new(t).poll(cx).is_ready()
            {
                return Poll::Ready(());
            }
            Poll::Pending
        })
        .await;
        for _ in 0..64 {
            let work = LATER.with(|l| std::mem::take(&mut *l.borrow_mut()));
            if work.is_empty() {
                break;
            }
            for w in work {
                w(&*port);
            }
        }
        super::durable::run(&*port);
        let now = Instant::now();
        let next = [super::host::tick(&*port, now), super::sys::tick(now)]
            .into_iter()
            .flatten()
            .min();
        if LATER.with(|l| !l.borrow().is_empty()) {
            DIRTY.with(|d| d.set(true));
        }
        timer = match (next, timer.take()) {
            (Some(at), Some((old, t))) if old == at => Some((old, t)),
            (Some(at), _) => Some((at, Timer::new(at.saturating_duration_since(now)))),
            (None, _) => None,
        };
    }
}
