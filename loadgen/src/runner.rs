//! Thread-per-core execution: `--threads` glommio executors, each running a
//! slice of the connections, and the control block the main thread uses to
//! move them through the phases of a run.
//!
//! Phases: [`SETUP`] (connect, subscribe/register, report ready) →
//! [`WARMUP`] (make sure the routing is in place everywhere) → [`MEASURE`] →
//! [`STOP`]. The executors poll the phase (1 ms timer) and report progress in
//! per-thread counters that the main thread sums for the progress bar and the
//! drain check; the hot paths touch only thread-local state.

use std::io::IsTerminal as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use glommio::{LocalExecutorBuilder, Placement};
use indicatif::{ProgressBar, ProgressStyle};

/// Connecting and subscribing.
pub const SETUP: u8 = 0;
/// Warm-up traffic.
pub const WARMUP: u8 = 1;
/// The measured phase.
pub const MEASURE: u8 = 2;
/// Everything stops; executors return their results.
pub const STOP: u8 = 3;

/// Problem messages kept for the report.
const MAX_PROBLEMS: usize = 10;

/// State shared by the main thread and all executors.
pub struct Control {
    /// The current phase.
    pub phase: AtomicU8,
    /// Connections ready (joined, subscribed/registered).
    pub ready: AtomicU64,
    /// Receivers that got their warm-up message.
    pub warm: AtomicU64,
    /// Senders that finished sending.
    pub senders_done: AtomicU64,
    /// Failures (connections lost, errors) so far.
    pub failures: AtomicU64,
    /// Per thread: messages sent in the measured phase.
    pub sent: Vec<AtomicU64>,
    /// Per thread: deliveries in the measured phase.
    pub delivered: Vec<AtomicU64>,
    /// Deliveries the measured-phase publications sent so far should cause
    /// (publishers add to it per batch); with `delivered`, the flow-control window.
    pub expected: AtomicU64,
    /// The first few problem messages.
    pub problems: Mutex<Vec<String>>,
    /// When the measured phase started ([`crate::clock::now_ns`]).
    pub measure_start_ns: AtomicU64,
    /// When the last sender finished ([`crate::clock::now_ns`]).
    pub last_send_ns: AtomicU64,
    /// What each finished sender sent: (sender index, count per stream).
    pub sender_counts: Mutex<Vec<(usize, Vec<u64>)>>,
    /// Deliveries so far, sampled every 100 ms of the measured phase:
    /// (ns since it started, deliveries).
    pub samples: Mutex<Vec<(u64, u64)>>,
}

impl Control {
    /// A control block for `threads` executors.
    pub fn new(threads: usize) -> Control {
        Control {
            phase: AtomicU8::new(SETUP),
            ready: AtomicU64::new(0),
            warm: AtomicU64::new(0),
            senders_done: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            sent: (0..threads).map(|_| AtomicU64::new(0)).collect(),
            delivered: (0..threads).map(|_| AtomicU64::new(0)).collect(),
            expected: AtomicU64::new(0),
            problems: Mutex::new(Vec::new()),
            measure_start_ns: AtomicU64::new(0),
            last_send_ns: AtomicU64::new(0),
            sender_counts: Mutex::new(Vec::new()),
            samples: Mutex::new(Vec::new()),
        }
    }

    /// The current phase.
    pub fn phase(&self) -> u8 {
        self.phase.load(Ordering::Acquire)
    }

    /// Moves to `p`.
    pub fn set_phase(&self, p: u8) {
        self.phase.store(p, Ordering::Release);
    }

    /// Records a failure with its message.
    pub fn fail(&self, msg: impl Into<String>) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        let mut p = self.problems.lock().expect("problems lock");
        if p.len() < MAX_PROBLEMS {
            p.push(msg.into());
        }
    }

    /// Records that sender `index` finished after sending `counts` (per stream).
    pub fn sender_done(&self, index: usize, counts: Vec<u64>) {
        self.last_send_ns
            .fetch_max(crate::clock::now_ns(), Ordering::Relaxed);
        self.sender_counts
            .lock()
            .expect("sender_counts lock")
            .push((index, counts));
        self.senders_done.fetch_add(1, Ordering::Release);
    }

    /// Records a problem message without counting a failure.
    pub fn note(&self, msg: impl Into<String>) {
        let mut p = self.problems.lock().expect("problems lock");
        if p.len() < MAX_PROBLEMS {
            p.push(msg.into());
        }
    }

    /// The first problem messages.
    pub fn problems(&self) -> Vec<String> {
        self.problems.lock().expect("problems lock").clone()
    }

    /// Everything the finished senders reported sending.
    /// The deliveries sampled during the measured phase, starting at (0, 0).
    pub fn timeline(&self) -> Vec<(u64, u64)> {
        let mut t = vec![(0, 0)];
        t.extend(self.samples.lock().expect("samples lock").iter().copied());
        t
    }

    pub fn reported_sent(&self) -> u64 {
        self.sender_counts
            .lock()
            .expect("sender_counts lock")
            .iter()
            .map(|(_, c)| c.iter().sum::<u64>())
            .sum()
    }

    /// Sum of the per-thread sent counters.
    pub fn total_sent(&self) -> u64 {
        self.sent.iter().map(|a| a.load(Ordering::Relaxed)).sum()
    }

    /// Sum of the per-thread delivered counters.
    pub fn total_delivered(&self) -> u64 {
        self.delivered
            .iter()
            .map(|a| a.load(Ordering::Relaxed))
            .sum()
    }

    /// Waits (on an executor) until the phase is at least `p`.
    pub async fn wait_phase(&self, p: u8) {
        while self.phase() < p {
            glommio::timer::sleep(Duration::from_millis(1)).await;
        }
    }
}

/// The number of online CPUs.
pub fn online_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Runs `f(thread_index)` on `threads` executors and returns their results in order.
///
/// # Errors
/// An executor could not be started or panicked.
pub fn run_threads<T, F, Fut>(threads: usize, f: F) -> anyhow::Result<Vec<T>>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut + Send + Clone + 'static,
    Fut: Future<Output = T> + 'static,
{
    // glommio 0.9 could park an executor with tasks ready to run (the
    // "1-shard RPC stall"); the patched copy in third_party/glommio that
    // this workspace builds does not (README.junction.md, item 6).
    let mut handles = Vec::with_capacity(threads);
    for t in 0..threads {
        let f = f.clone();
        let h = LocalExecutorBuilder::new(Placement::Unbound)
            .name(&format!("loadgen-{t}"))
            .io_memory(1 << 20)
            .spawn(move || f(t))
            .map_err(std::io::Error::from)?;
        handles.push(h);
    }
    let mut out = Vec::with_capacity(threads);
    let mut failed = None;
    for h in handles {
        match h.join() {
            Ok(v) => out.push(v),
            Err(e) => failed = failed.or(Some(e)),
        }
    }
    if let Some(e) = failed {
        bail!("executor failed: {e}");
    }
    Ok(out)
}

/// A progress bar on stderr, hidden when stderr is not a terminal.
pub fn progress(len: u64, msg: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template(
            "{msg:>12} [{elapsed_precise}] {wide_bar} {pos}/{len} {per_sec}",
        )
        .expect("constant template"),
    );
    pb.set_message(msg.to_owned());
    pb
}

/// Waits on the main thread until `count()` reaches `target`, updating `pb`.
///
/// # Errors
/// A failure was recorded, or `count()` made no progress for `stall`.
pub fn wait_count(
    ctl: &Control,
    pb: &ProgressBar,
    target: u64,
    stall: Duration,
    what: &str,
    count: impl Fn() -> u64,
) -> anyhow::Result<()> {
    let mut last = count();
    let mut last_change = Instant::now();
    loop {
        let c = count();
        pb.set_position(c);
        if c >= target {
            return Ok(());
        }
        if ctl.failures.load(Ordering::Relaxed) > 0 {
            bail!("{what}: {}", ctl.problems().join("; "));
        }
        if c != last {
            last = c;
            last_change = Instant::now();
        } else if last_change.elapsed() > stall {
            bail!("{what}: stuck at {c} of {target} for {stall:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// How often the measured phase's deliveries are sampled (the throughput plot).
const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// Waits on the main thread for the measured phase to end: all `senders`
/// done and either every expected delivery made or no delivery for `drain`.
/// Returns the expected delivery count (`expected` is asked once, when all
/// senders are done) and whether it was reached.
pub fn wait_drain(
    ctl: &Control,
    pb: &ProgressBar,
    senders: u64,
    drain: Duration,
    expected: impl Fn(&Control) -> u64,
) -> (u64, bool) {
    let stall = drain.max(Duration::from_secs(30));
    let (mut last_d, mut last_s) = (0, 0);
    let mut last_change = Instant::now();
    let mut want = None;
    let start = Instant::now();
    let mut next_sample = SAMPLE_EVERY;
    loop {
        std::thread::sleep(Duration::from_millis(10));
        let d = ctl.total_delivered();
        let s = ctl.total_sent();
        if start.elapsed() >= next_sample {
            let at = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
            ctl.samples.lock().expect("samples lock").push((at, d));
            next_sample += SAMPLE_EVERY;
        }
        pb.set_position(d);
        if want.is_none() && ctl.senders_done.load(Ordering::Acquire) >= senders {
            let e = expected(ctl);
            pb.set_length(e);
            want = Some(e);
            last_change = Instant::now();
        }
        if (d, s) != (last_d, last_s) {
            (last_d, last_s) = (d, s);
            last_change = Instant::now();
        }
        match want {
            Some(e) if d >= e => return (e, true),
            Some(e) if last_change.elapsed() >= drain => return (e, false),
            None if last_change.elapsed() >= stall => {
                ctl.fail(format!(
                    "no progress for {stall:?} before all senders finished"
                ));
                return (expected(ctl), false);
            }
            _ => {}
        }
    }
}

/// The setup phases every scenario shares: waits until `conns` connections are
/// ready, switches to warm-up and waits until `warm` receivers got their warm-up
/// message. Returns the progress bar for the measured phase.
///
/// # Errors
/// A phase did not complete in time, or a connection failed.
pub fn connect_and_warm_up(
    ctl: &Control,
    conns: u64,
    warm: u64,
    warm_timeout: Duration,
    warm_what: &str,
) -> anyhow::Result<indicatif::ProgressBar> {
    let pb = progress(conns, "connecting");
    wait_count(
        ctl,
        &pb,
        conns,
        Duration::from_secs(30),
        "connecting",
        || ctl.ready.load(Ordering::Relaxed),
    )?;
    ctl.set_phase(WARMUP);
    pb.set_message("warm-up");
    pb.set_length(warm);
    wait_count(ctl, &pb, warm, warm_timeout, warm_what, || {
        ctl.warm.load(Ordering::Relaxed)
    })?;
    // A `--procs` worker starts measuring when every worker is ready.
    crate::worker::barrier()?;
    Ok(pb)
}
