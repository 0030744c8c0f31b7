//! The scenarios: `fanout` and `pubsub` (one module), `rpc`, `connections`.

pub mod connections;
pub mod iot;
pub mod pubsub;
pub mod rpc;

/// How much a sender sends.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Amount {
    /// This many messages / calls (per publisher or caller).
    Count(u64),
    /// For this many seconds.
    Seconds(f64),
}

impl Amount {
    /// The count limit, if any.
    pub fn count(self) -> Option<u64> {
        match self {
            Amount::Count(n) => Some(n),
            Amount::Seconds(_) => None,
        }
    }

    /// The deadline for a sender starting at `start_ns`, if any.
    pub fn deadline(self, start_ns: u64) -> Option<u64> {
        match self {
            Amount::Count(_) => None,
            Amount::Seconds(s) => Some(start_ns + (s * 1e9) as u64),
        }
    }
}

/// Sends allowed before the next flush / yield when running flat out.
pub const BATCH: u64 = 64;
/// Most sends in one go when catching up on a `--rate` schedule.
pub const MAX_CATCH_UP: u64 = 1024;

/// What a paced sender should do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// Send messages up to (excluding) this index now.
    SendUntil(u64),
    /// Nothing is due before this time ([`crate::clock::now_ns`]).
    SleepUntil(u64),
}

/// Pacing: with `interval_ns`, message `m` is due at `start + m * interval`;
/// without, send [`BATCH`] at a time.
pub fn pace(m: u64, start_ns: u64, now_ns: u64, interval_ns: Option<f64>) -> Pace {
    match interval_ns {
        None => Pace::SendUntil(m + BATCH),
        Some(iv) => {
            let due = ((now_ns.saturating_sub(start_ns)) as f64 / iv) as u64 + 1;
            if due <= m {
                Pace::SleepUntil(start_ns + (m as f64 * iv) as u64)
            } else {
                Pace::SendUntil(due.min(m + MAX_CATCH_UP))
            }
        }
    }
}

/// The intended send time of message `m` (with `--rate`), or now.
pub fn intended_ns(m: u64, start_ns: u64, interval_ns: Option<f64>) -> u64 {
    match interval_ns {
        Some(iv) => start_ns + (m as f64 * iv) as u64,
        None => crate::clock::now_ns(),
    }
}

/// Sleeps on the executor until `t_ns`.
pub async fn sleep_until(t_ns: u64) {
    let now = crate::clock::now_ns();
    if t_ns > now {
        glommio::timer::sleep(std::time::Duration::from_nanos(t_ns - now)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pacing_follows_the_schedule() {
        // 1000/s: one per ms.
        let iv = Some(1e6);
        assert_eq!(pace(0, 0, 0, iv), Pace::SendUntil(1));
        assert_eq!(pace(1, 0, 500_000, iv), Pace::SleepUntil(1_000_000));
        assert_eq!(pace(1, 0, 3_500_000, iv), Pace::SendUntil(4));
        assert_eq!(
            pace(0, 0, 10_000_000_000, iv),
            Pace::SendUntil(MAX_CATCH_UP)
        );
        assert_eq!(pace(5, 0, 0, None), Pace::SendUntil(5 + BATCH));
        assert_eq!(intended_ns(3, 100, iv), 3_000_100);
    }
}

/// An executor's accumulators, shared by its connections' tasks.
#[derive(Default)]
pub(crate) struct Local {
    pub(crate) hist: std::cell::RefCell<Option<hdrhistogram::Histogram<u64>>>,
    pub(crate) delivered: std::cell::Cell<u64>,
    pub(crate) sent: std::cell::Cell<u64>,
    pub(crate) last_rx_ns: std::cell::Cell<u64>,
    pub(crate) trackers: std::cell::RefCell<
        Vec<(
            usize,
            std::rc::Rc<std::cell::RefCell<crate::tracker::SeqTracker>>,
        )>,
    >,
}

/// What an executor hands back at the end of a run.
pub(crate) struct ThreadOut {
    pub(crate) hist: hdrhistogram::Histogram<u64>,
    pub(crate) trackers: Vec<(usize, crate::tracker::SeqTracker)>,
    pub(crate) last_rx_ns: u64,
}

impl Local {
    /// Takes the histogram and sequence trackers out for the merge.
    pub(crate) fn take_thread_out(&self) -> ThreadOut {
        let trackers = self
            .trackers
            .borrow()
            .iter()
            .map(|(i, tr)| (*i, std::mem::take(&mut *tr.borrow_mut())))
            .collect();
        ThreadOut {
            hist: self
                .hist
                .borrow_mut()
                .take()
                .expect("histogram set at start"),
            trackers,
            last_rx_ns: self.last_rx_ns.get(),
        }
    }
}

/// Publishes executor `t`'s counters to the control block every millisecond
/// (progress bar, and the publishers' flow control) until the run stops.
pub(crate) async fn report_until_stop(t: usize, ctl: &crate::runner::Control, local: &Local) {
    use std::sync::atomic::Ordering;
    while ctl.phase() < crate::runner::STOP {
        ctl.delivered[t].store(local.delivered.get(), Ordering::Relaxed);
        ctl.sent[t].store(local.sent.get(), Ordering::Relaxed);
        glommio::timer::sleep(std::time::Duration::from_millis(1)).await;
    }
}
