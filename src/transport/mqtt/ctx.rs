//! The shard-wide context every part of the MQTT front end reads: the
//! handle on the realms' session logs (set at start, see
//! [`super::task::start_shard`]), the shard index (keys of stored messages
//! carry it), work deferred out of router calls ([`later`], run by the
//! shard's MQTT task), the count of durable sessions in the process
//! (publications are acknowledged after a WAL marker only while there are
//! some), and the clock.
//!
//! The ground floor of the front end: imports nothing of it but the
//! [`RouterPort`] deferred work runs with.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::RouterPort;
use crate::store::mqtt::MqttLog;
use crate::store::wal::WalError;
use crate::transport::Counted;

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
    /// The shard's router, once started (a parked connection resumes with it).
    static PORT: RefCell<Option<Rc<dyn RouterPort>>> = const { RefCell::new(None) };
    /// The shard's connection count (placement), once a connection parked:
    /// parked connections stay in it without holding it each.
    static COUNT: RefCell<Option<Arc<AtomicUsize>>> = const { RefCell::new(None) };
}

/// Whether a connection counted by `counted` may leave its place in the
/// count here while it is parked (the shard's count, the first time).
pub fn holds_count(counted: &Counted) -> bool {
    COUNT.with(|c| {
        let mut c = c.borrow_mut();
        match &*c {
            Some(k) => Arc::ptr_eq(k, counted.count()),
            None => {
                *c = Some(Arc::clone(counted.count()));
                true
            }
        }
    })
}

/// A parked connection's place in the shard's count, taken back.
///
/// # Panics
/// When no connection parked ([`holds_count`]).
pub fn counted() -> Counted {
    COUNT.with(|c| {
        let c = c.borrow();
        Counted::new(Arc::clone(
            c.as_ref().expect("a parked connection left its count here"),
        ))
    })
}

/// Sets the shard's router ([`super::task::start_shard`]).
pub fn set_port(port: Rc<dyn RouterPort>) {
    PORT.with(|p| *p.borrow_mut() = Some(port));
}

/// The shard's router, once started (`None` in tests without a shard):
/// connections park only when it is set, and resume with it.
pub fn port() -> Option<Rc<dyn RouterPort>> {
    PORT.with(|p| p.borrow().clone())
}

/// Whether the shard's router is set ([`port`]).
pub fn has_port() -> bool {
    PORT.with(|p| p.borrow().is_some())
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

/// Starts the context of this shard (its index, its session logs). Call
/// once per shard, on the shard, before it serves.
pub fn init(index: u16, log: MqttLog) {
    INDEX.with(|i| i.set(index));
    LOG.with(|l| *l.borrow_mut() = log);
}

/// Registers the shard's MQTT task to be woken by [`later`]; whether work
/// is waiting.
pub fn park_task(cx: &std::task::Context<'_>) -> bool {
    WAKER.with(|w| *w.borrow_mut() = Some(cx.waker().clone()));
    LATER.with(|l| !l.borrow().is_empty())
}

/// The deferred work waiting (taken).
pub fn take_later() -> Vec<Work> {
    LATER.with(|l| std::mem::take(&mut *l.borrow_mut()))
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

/// A durable incarnation starts, or came in from the log.
pub fn adopt_incarnation() {
    DURABLE_SESSIONS.fetch_add(1, Ordering::Relaxed);
}

/// A durable incarnation ended.
pub fn drop_incarnation() {
    DURABLE_SESSIONS.fetch_sub(1, Ordering::Relaxed);
}

/// Unix time in milliseconds.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
