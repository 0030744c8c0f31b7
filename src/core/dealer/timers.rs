//! Time for the routing core, which has no clock of its own: a [`Clock`] the
//! runtime (or a test) supplies, and the queue of call deadlines the caller's
//! shard owns (`CALL.Options.timeout`).
//!
//! The runtime asks [`super::super::ShardRouter::next_deadline`] when to wake
//! up and then calls [`super::super::ShardRouter::poll_timers`]; a deadline
//! earlier than every queued one bumps an epoch and wakes the registered
//! waker, so the runtime's sleeping timer task re-arms itself.

use std::collections::BTreeSet;
use std::task::Waker;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::proto::{RequestId, SessionId};

/// Where the router reads the time. Injected so that tests control it.
pub trait Clock {
    /// Monotonic time, for deadlines.
    fn now(&self) -> Instant;
    /// Wall-clock time in milliseconds since the Unix epoch, for timestamps
    /// clients see (`wamp.registration.get`'s `created`).
    fn unix_ms(&self) -> u64;
}

/// The operating system's clocks.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn unix_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
}

/// Call deadlines on the caller's shard, earliest first.
#[derive(Debug, Default)]
pub(crate) struct TimerQueue {
    /// (deadline, caller, CALL request): ordered, so the first is the next to fire.
    set: BTreeSet<(Instant, SessionId, RequestId)>,
    /// Bumped whenever the earliest deadline moves earlier.
    epoch: u64,
    /// The runtime's timer task, woken when `epoch` changes.
    waker: Option<Waker>,
}

impl TimerQueue {
    /// Adds a deadline; wakes the runtime if it is now the earliest.
    pub(crate) fn insert(&mut self, at: Instant, caller: SessionId, request: RequestId) {
        let earliest = self.set.first().is_none_or(|f| at < f.0);
        self.set.insert((at, caller, request));
        if earliest {
            self.epoch += 1;
            if let Some(w) = &self.waker {
                w.wake_by_ref();
            }
        }
    }

    /// Removes a deadline (the call ended first).
    pub(crate) fn remove(&mut self, at: Instant, caller: SessionId, request: RequestId) {
        self.set.remove(&(at, caller, request));
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.set.first().map(|f| f.0)
    }

    /// Takes the earliest deadline if it is due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(SessionId, RequestId)> {
        match self.set.first() {
            Some(f) if f.0 <= now => self.set.pop_first().map(|(_, s, r)| (s, r)),
            _ => None,
        }
    }

    /// Number of queued deadlines.
    pub(crate) fn len(&self) -> usize {
        self.set.len()
    }

    /// The epoch: changes whenever an earlier deadline was added.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Remembers the waker of the runtime's timer task.
    pub(crate) fn set_waker(&mut self, waker: &Waker) {
        match &self.waker {
            Some(w) if w.will_wake(waker) => {}
            _ => self.waker = Some(waker.clone()),
        }
    }
}

/// Formats milliseconds since the Unix epoch as ISO 8601 UTC with millisecond
/// precision, e.g. `2024-05-01T12:34:56.789Z`.
pub(crate) fn iso8601_utc(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    let (y, mo, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}.{:03}Z",
        ms % 1000
    )
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian
/// calendar (era arithmetic: 400-year eras of 146 097 days).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn iso8601_known_dates() {
        assert_eq!(iso8601_utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601_utc(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(iso8601_utc(1_714_566_896_789), "2024-05-01T12:34:56.789Z");
        assert_eq!(iso8601_utc(4_102_444_799_999), "2099-12-31T23:59:59.999Z");
    }

    #[test]
    fn queue_orders_and_pops_only_due_deadlines() {
        let t0 = Instant::now();
        let mut q = TimerQueue::default();
        q.insert(t0 + Duration::from_millis(50), SessionId(1), RequestId(1));
        let e = q.epoch();
        q.insert(t0 + Duration::from_millis(80), SessionId(2), RequestId(1));
        assert_eq!(q.epoch(), e, "a later deadline does not re-arm the timer");
        q.insert(t0 + Duration::from_millis(10), SessionId(3), RequestId(9));
        assert_eq!(q.epoch(), e + 1, "an earlier deadline re-arms it");
        assert_eq!(q.next(), Some(t0 + Duration::from_millis(10)));
        assert_eq!(q.pop_due(t0), None);
        assert_eq!(
            q.pop_due(t0 + Duration::from_millis(60)),
            Some((SessionId(3), RequestId(9)))
        );
        assert_eq!(
            q.pop_due(t0 + Duration::from_millis(60)),
            Some((SessionId(1), RequestId(1)))
        );
        assert_eq!(q.pop_due(t0 + Duration::from_millis(60)), None);
        q.remove(t0 + Duration::from_millis(80), SessionId(2), RequestId(1));
        assert_eq!(q.len(), 0);
        assert_eq!(q.next(), None);
    }
}
