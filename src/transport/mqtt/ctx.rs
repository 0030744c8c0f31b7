//! This shard's MQTT front end as a whole: the handle on the realms' session
//! logs it was started with ([`start_shard`]), the shard index (keys of
//! stored messages carry it), and the count of durable sessions in the
//! process (publications are acknowledged after a WAL marker only while
//! there are some).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::state::State;
use super::{RouterPort, Service};
use crate::store::mqtt::{MqttLog, Record, RestoredSession};
use crate::store::wal::WalError;

thread_local! {
    /// The session logs of the realms with a file store (empty until started).
    static LOG: RefCell<MqttLog> = RefCell::new(MqttLog::default());
    /// This shard's index (0 until started).
    static INDEX: Cell<u16> = const { Cell::new(0) };
    /// At most one log line per interval for records not written.
    static LAST_WARN: Cell<Option<Instant>> = const { Cell::new(None) };
    /// Work deferred out of a router call ([`later`]).
    static LATER: RefCell<Vec<Work>> = const { RefCell::new(Vec::new()) };
    /// The shard's MQTT task, parked.
    static WAKER: RefCell<Option<std::task::Waker>> = const { RefCell::new(None) };
}

/// Deferred work: runs on the shard's MQTT task with the router port.
pub type Work = Box<dyn FnOnce(&dyn RouterPort)>;

/// Queues `work` for the shard's MQTT task: what a sink (called inside the
/// router) must not do itself, such as sending to another shard.
pub fn later(work: impl FnOnce(&dyn RouterPort) + 'static) {
    LATER.with(|l| l.borrow_mut().push(Box::new(work)));
    WAKER.with(|w| {
        if let Some(w) = w.borrow_mut().take() {
            w.wake();
        }
    });
}

/// The shard's MQTT task: runs deferred work, and publishes the `$SYS/`
/// statistics every `sys_interval` (shard 0).
async fn run(port: Rc<dyn RouterPort>, sys: Option<(Duration, Vec<Rc<Service>>)>) {
    let mut next_sys = sys.as_ref().map(|(every, _)| Instant::now() + *every);
    let mut timer = next_sys.map(|at| glommio::timer::Timer::new(at - Instant::now()));
    loop {
        let due = std::future::poll_fn(|cx| {
            WAKER.with(|w| *w.borrow_mut() = Some(cx.waker().clone()));
            if LATER.with(|l| !l.borrow().is_empty()) {
                return std::task::Poll::Ready(false);
            }
            if let Some(t) = &mut timer
                && std::pin::Pin::new(t).poll(cx).is_ready()
            {
                return std::task::Poll::Ready(true);
            }
            std::task::Poll::Pending
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
        if due && let Some((every, services)) = &sys {
            super::sys::publish(&*port, services);
            let at = next_sys.map_or(Instant::now(), |n| n.max(Instant::now())) + *every;
            next_sys = Some(at);
            timer = Some(glommio::timer::Timer::new(at - Instant::now()));
        }
    }
}

use std::future::Future as _;

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

/// Runs `f` with the shard's session log.
pub fn with_log<R>(f: impl FnOnce(&MqttLog) -> R) -> R {
    LOG.with(|l| f(&l.borrow()))
}

/// Whether `realm` keeps MQTT sessions durably.
pub fn durable(realm: &str) -> bool {
    with_log(|l| l.durable(realm))
}

/// Logs (at most every ten seconds) a session record that was not written.
pub fn log_write_error(e: &WalError) {
    let now = Instant::now();
    let due = LAST_WARN.with(|w| {
        let due = w
            .get()
            .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(10));
        if due {
            w.set(Some(now));
        }
        due
    });
    if due {
        tracing::warn!(error = %e, "MQTT session store: a record is not persisted");
    }
}

/// A persistent session gets an incarnation in the log (a realm with a
/// file store), or loses it when it is no longer persistent.
pub fn start_incarnation(s: &mut State) {
    if s.p.persistent() && s.p.inc == 0 && durable(&s.svc.realm) {
        s.p.inc = super::session::next_key(shard_index());
        DURABLE_SESSIONS.fetch_add(1, Ordering::Relaxed);
    } else if !s.p.persistent() && s.p.inc != 0 {
        end_incarnation(s);
    }
}

/// A durable incarnation came in from the log.
pub fn adopt_incarnation() {
    DURABLE_SESSIONS.fetch_add(1, Ordering::Relaxed);
}

/// The session's incarnation ends: its records go (`End`).
pub fn end_incarnation(s: &mut State) {
    if s.p.inc != 0 {
        s.write(Record::End);
        s.p.inc = 0;
        DURABLE_SESSIONS.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Starts this shard's MQTT front end: its handle on the session logs, and
/// the sessions read back from the logs (this shard keeps those whose
/// client identifier it owns, each with the service of its listener, or the
/// first of its realm). Call once per shard, on the shard, before it serves.
pub fn start_shard(
    port: Rc<dyn RouterPort>,
    log: MqttLog,
    services: &[Rc<Service>],
    restored: &[RestoredSession],
    limits: &crate::config::Limits,
) {
    let (me, shards) = port.shard();
    INDEX.with(|i| i.set(me.0));
    super::session::set_offline_limit(limits.mqtt_offline_store_bytes);
    super::session::set_session_limit(limits.mqtt_offline_store_sessions);
    LOG.with(|l| *l.borrow_mut() = log);
    super::sys::start_clock();
    // `$SYS/`: shard 0 publishes for the whole process, at the shortest
    // interval of the listeners that want it.
    let every = services
        .iter()
        .map(|s| s.limits.sys_interval_s)
        .filter(|&s| s > 0)
        .min();
    let sys = match every {
        Some(s) if me.0 == 0 => Some((Duration::from_secs(u64::from(s)), services.to_vec())),
        _ => None,
    };
    glommio::spawn_local(run(Rc::clone(&port), sys)).detach();
    for r in restored {
        if super::takeover::owner_of(&r.client, shards) != me {
            continue;
        }
        let svc = services
            .iter()
            .find(|s| s.transport.id == r.meta.listener)
            .or_else(|| services.iter().find(|s| s.realm == r.realm));
        match svc {
            Some(svc) => super::offline::restore(&port, Rc::clone(svc), r.clone()),
            None => tracing::warn!(client = %r.client, realm = %r.realm,
                "stored MQTT session has no MQTT listener of its realm: not restored"),
        }
    }
}
