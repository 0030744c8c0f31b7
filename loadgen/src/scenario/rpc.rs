//! `rpc`: `--callees` K register `loadgen.echo` (shared registration with
//! `invoke: roundrobin` when K > 1) and echo every invocation's arguments;
//! `--callers` C each keep `--concurrency` calls in flight. Latency is call →
//! result (from the intended send time with `--rate`). Results are checked
//! per caller like events: each carries the caller's sequence number back.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::bail;
use glommio::sync::Semaphore;
use junction::proto::{Call, Dict, Message, Payload, Register, RequestId, Serializer, Yield, code};

use super::{Amount, Local, Pace, ThreadOut, intended_ns, pace, report_until_stop, sleep_until};
use crate::clock::now_ns;
use crate::fastpath;
use crate::payload::{self, Stamp, WARMUP_SENDER};
use crate::runner::{self, Control, MEASURE, STOP, WARMUP};
use crate::stats::{self, CpuMeter, Report};
use crate::tracker::{SeqCounts, SeqTracker};
use crate::url::Target;
use crate::wamp::{self, ReadStats, WampConn};

/// The procedure the callees register.
pub const PROCEDURE: &str = "loadgen.echo";
/// How long a caller retries its warm-up call (the registration may take a
/// moment to be visible everywhere).
const WARMUP_TRIES: u32 = 200;

/// Parameters of an `rpc` run.
#[derive(Debug, Clone)]
pub struct RpcParams {
    /// Router.
    pub target: Target,
    /// WAMP serializer.
    pub ser: Serializer,
    /// WAMP realm.
    pub realm: String,
    /// Application payload bytes per call.
    pub payload: usize,
    /// Calls per caller, or seconds.
    pub amount: Amount,
    /// Calls per second per caller.
    pub rate: Option<f64>,
    /// Callers.
    pub callers: usize,
    /// Callees.
    pub callees: usize,
    /// Calls in flight per caller.
    pub concurrency: usize,
    /// Executors.
    pub threads: usize,
    /// How long to wait for results with no progress after the last call.
    pub drain: Duration,
    /// Router process to measure.
    pub router_pid: Option<u32>,
    /// The procedure (`loadgen.echo`, after a `--procs` worker's namespace).
    pub procedure: String,
}

/// Each caller's and callee's progress, for the report of a run that gives
/// up before every caller finished (their final counts come only with
/// `sender_done`).
static PROGRESS: std::sync::OnceLock<Progress> = std::sync::OnceLock::new();

/// What the callers and callees of a run are doing, readable from the main
/// thread.
struct Progress {
    callers: Vec<CallerWatch>,
    /// Each callee's reader.
    callees: Vec<OnceLock<Arc<ReadStats>>>,
}

/// One caller: its measured calls sent so far, where its sending loop
/// waits, and its reader's counters.
#[derive(Default)]
struct CallerWatch {
    sent: AtomicU64,
    state: AtomicU8,
    reader: OnceLock<Arc<ReadStats>>,
}

/// [`CallerWatch::state`]: sending (or not started).
const SENDING: u8 = 0;
/// Waiting for a result (a free slot of `--concurrency`).
const AWAITING_RESULT: u8 = 1;
/// Ahead of the `--rate` schedule: sleeping.
const SLEEPING: u8 = 2;
/// Writing calls out.
const FLUSHING: u8 = 3;
/// Finished sending.
const FINISHED: u8 = 4;

impl CallerWatch {
    fn set(&self, state: u8) {
        self.state.store(state, Ordering::Relaxed);
    }

    fn describe(&self) -> &'static str {
        match self.state.load(Ordering::Relaxed) {
            SENDING => "sending",
            AWAITING_RESULT => "waiting for a result",
            SLEEPING => "sleeping (ahead of the schedule)",
            FLUSHING => "writing calls out",
            _ => "finished sending",
        }
    }
}

/// The watch of caller `c` (one for each caller from the start of a run).
fn watch(c: usize) -> Option<&'static CallerWatch> {
    PROGRESS.get().and_then(|p| p.callers.get(c))
}

/// Runs the `rpc` scenario.
///
/// # Errors
/// Setup failed (connect, register, warm-up call).
pub fn run(p: RpcParams, url: &str) -> anyhow::Result<Report> {
    if p.callers == 0 || p.callees == 0 || p.concurrency == 0 {
        bail!("--callers, --callees and --concurrency must be at least 1");
    }
    let progress = PROGRESS.get_or_init(|| Progress {
        callers: (0..p.callers).map(|_| CallerWatch::default()).collect(),
        callees: (0..p.callees).map(|_| OnceLock::new()).collect(),
    });
    let p = Arc::new(p);
    let ctl = Arc::new(Control::new(p.threads));
    let join = {
        let (p, ctl) = (p.clone(), ctl.clone());
        std::thread::spawn(move || {
            runner::run_threads(p.threads, move |t| thread_main(t, p.clone(), ctl.clone()))
        })
    };
    let result = drive(&p, &ctl, url);
    ctl.set_phase(STOP);
    let outs = join
        .join()
        .map_err(|_| anyhow::anyhow!("executor thread panicked"))??;
    let mut report = result?;
    let t0 = ctl.measure_start_ns.load(Ordering::Acquire);
    let sent: Vec<u64> = {
        let mut v = vec![0u64; p.callers];
        for (c, n) in ctl.sender_counts.lock().expect("lock").iter() {
            v[*c] = n.first().copied().unwrap_or(0);
        }
        v
    };
    let mut hist = stats::new_histogram();
    let mut counts = SeqCounts::default();
    let mut last_rx = 0;
    for o in outs {
        let _ = hist.add(&o.hist);
        last_rx = last_rx.max(o.last_rx_ns);
        for (c, tr) in o.trackers {
            let got = tr.finish([(c as u64 + 1, sent[c])]);
            if sent[c] == 0
                && let Some(w) = progress.callers.get(c)
            {
                let reader = w
                    .reader
                    .get()
                    .map_or_else(|| "not started".to_owned(), ToString::to_string);
                eprintln!(
                    "caller {c} did not finish: {} calls sent, {} results received; \
                     it was {}; its reader: {reader}",
                    w.sent.load(Ordering::Relaxed),
                    got.received,
                    w.describe(),
                );
                for (k, r) in progress.callees.iter().enumerate() {
                    if let Some(r) = r.get() {
                        eprintln!("  callee {k}'s reader: {r}");
                    }
                }
            }
            counts.add(&got);
        }
    }
    let end = if last_rx > t0 { last_rx } else { now_ns() };
    report.duration_s = (end - t0) as f64 / 1e9;
    report.delivered = counts.received;
    report.lost = counts.lost;
    report.reordered = counts.reordered;
    report.duplicates = counts.duplicates;
    report.unexpected = counts.unexpected;
    report.throughput_per_s = counts.received as f64 / report.duration_s.max(1e-9);
    report.set_latency(&hist);
    report.timeline = stats::rates(&ctl.timeline());
    report.errors = ctl.failures.load(Ordering::Relaxed);
    report.problems = ctl.problems();
    // With several calls in flight, results may legitimately overtake each other.
    let order_ok = p.concurrency > 1 || counts.reordered == 0;
    if p.concurrency > 1 {
        report.extra.insert(
            "note".into(),
            "reordered results are expected with --concurrency > 1 and do not fail the run".into(),
        );
    }
    report.clean = counts.lost == 0
        && counts.duplicates == 0
        && counts.unexpected == 0
        && order_ok
        && report.errors == 0;
    Ok(report)
}

fn drive(p: &RpcParams, ctl: &Control, url: &str) -> anyhow::Result<Report> {
    let pb = runner::connect_and_warm_up(
        ctl,
        (p.callers + p.callees) as u64,
        p.callers as u64,
        Duration::from_secs(15),
        "warm-up calls",
    )?;
    let meter = CpuMeter::start(p.router_pid);
    ctl.measure_start_ns.store(now_ns(), Ordering::Release);
    ctl.set_phase(MEASURE);
    pb.set_message("results");
    pb.set_position(0);
    pb.set_length(p.amount.count().map_or(0, |n| n * p.callers as u64));
    let (expected, reached) = runner::wait_drain(ctl, &pb, p.callers as u64, p.drain, |c| {
        c.sender_counts
            .lock()
            .expect("lock")
            .iter()
            .map(|(_, n)| n.first().copied().unwrap_or(0))
            .sum()
    });
    pb.finish_and_clear();
    let mut report = Report::new(
        "rpc",
        serde_json::json!({
            "url": url,
            "serializer": p.ser.name(),
            "realm": p.realm,
            "payload": p.payload,
            "amount": p.amount,
            "rate": p.rate,
            "callers": p.callers,
            "callees": p.callees,
            "concurrency": p.concurrency,
            "threads": p.threads,
        }),
        SeqCounts::default(),
    );
    report.expected = expected;
    report.sent = ctl.reported_sent();
    // A run that gave up: do results still come in right after (and after
    // `--router-control`'s look at the router's counters)? Then something
    // held them that the end of the run set going again.
    let before_look = ctl.total_delivered();
    report.cpu = meter.finish();
    if !reached {
        std::thread::sleep(Duration::from_millis(200));
        let late = ctl.total_delivered().saturating_sub(before_look);
        if late > 0 {
            ctl.note(format!(
                "{late} results arrived within 200 ms after the run gave up waiting"
            ));
        }
    }
    Ok(report)
}

async fn thread_main(t: usize, p: Arc<RpcParams>, ctl: Arc<Control>) -> ThreadOut {
    let local = Rc::new(Local::default());
    *local.hist.borrow_mut() = Some(stats::new_histogram());
    for k in (t..p.callees).step_by(p.threads) {
        let (p, ctl) = (p.clone(), ctl.clone());
        glommio::spawn_local(async move {
            if let Err(e) = callee(k, &p, &ctl).await {
                if ctl.phase() < STOP {
                    ctl.fail(format!("callee {k}: {e:#}"));
                }
            }
        })
        .detach();
    }
    for c in (t..p.callers).step_by(p.threads) {
        let tracker = Rc::new(RefCell::new(SeqTracker::new()));
        local.trackers.borrow_mut().push((c, tracker.clone()));
        let (p, ctl, local) = (p.clone(), ctl.clone(), local.clone());
        glommio::spawn_local(async move {
            if let Err(e) = caller(c, &p, &ctl, &local, tracker).await {
                if ctl.phase() < STOP {
                    ctl.fail(format!("caller {c}: {e:#}"));
                }
            }
        })
        .detach();
    }
    report_until_stop(t, &ctl, &local).await;
    local.take_thread_out()
}

/// What a caller's reader got.
enum Got {
    /// A RESULT, with its stamp if it carries one.
    Result(Option<Stamp>),
    /// An ERROR reply, as text.
    Error(String),
    /// Anything else.
    Other,
    /// The connection ended, and why.
    Closed(String),
}

async fn callee(k: usize, p: &RpcParams, ctl: &Control) -> anyhow::Result<()> {
    let mut c = WampConn::connect(&p.target, p.ser, &p.realm, None).await?;
    if let Some(w) = PROGRESS.get().and_then(|p| p.callees.get(k)) {
        let _ = w.set(c.reader.stats());
    }
    let req = c.writer.request_id();
    let options = if p.callees > 1 {
        Dict::new().with("invoke", "roundrobin")
    } else {
        Dict::new()
    };
    c.writer
        .send(&Message::Register(Register {
            request: RequestId(req),
            options,
            procedure: p.procedure.clone(),
        }))
        .await?;
    loop {
        match c.next().await? {
            Some(Message::Registered(r)) if r.request.get() == req => break,
            Some(Message::Error(e)) => bail!("REGISTER refused: {}", wamp::error_text(&e)),
            Some(_) => {}
            None => bail!("connection closed before REGISTERED"),
        }
    }
    ctl.ready.fetch_add(1, Ordering::Relaxed);
    loop {
        match c.next().await? {
            Some(Message::Invocation(inv)) => {
                c.writer
                    .feed(&Message::Yield(Yield {
                        request: inv.request,
                        options: Dict::new(),
                        payload: inv.payload,
                    }))
                    .await?;
            }
            Some(Message::Goodbye(_) | Message::Abort(_)) => bail!("session closed by the router"),
            Some(_) => {}
            None => bail!("connection closed by the router"),
        }
    }
}

async fn caller(
    c: usize,
    p: &RpcParams,
    ctl: &Arc<Control>,
    local: &Rc<Local>,
    tracker: Rc<RefCell<SeqTracker>>,
) -> anyhow::Result<()> {
    let mut conn = WampConn::connect(&p.target, p.ser, &p.realm, None).await?;
    let pad = payload::wamp_padding(p.ser, p.payload);
    let sender = c as u64 + 1;
    ctl.ready.fetch_add(1, Ordering::Relaxed);
    ctl.wait_phase(WARMUP).await;
    let mut tries = 0;
    loop {
        let st = Stamp {
            seq: 0,
            sender: WARMUP_SENDER,
            t_ns: now_ns(),
        };
        let req = conn.writer.request_id();
        conn.writer
            .send(&Message::Call(Call {
                request: RequestId(req),
                options: Dict::new(),
                procedure: p.procedure.clone(),
                payload: Payload::args(payload::wamp_args(st, &pad)),
            }))
            .await?;
        let ok = loop {
            match conn.next().await? {
                Some(Message::Result(r)) if r.request.get() == req => break true,
                Some(Message::Error(e)) if e.request.get() == req => {
                    tries += 1;
                    if tries >= WARMUP_TRIES {
                        bail!("warm-up call failed: {}", wamp::error_text(&e));
                    }
                    break false;
                }
                Some(_) => {}
                None => bail!("connection closed during warm-up"),
            }
        };
        if ok {
            break;
        }
        glommio::timer::sleep(Duration::from_millis(50)).await;
    }
    ctl.warm.fetch_add(1, Ordering::Relaxed);
    ctl.wait_phase(MEASURE).await;

    let WampConn {
        mut reader,
        mut writer,
        ..
    } = conn;
    let permits = Rc::new(Semaphore::new(p.concurrency as u64));
    let ser = reader.serializer();
    let me = watch(c);
    if let Some(w) = me {
        let _ = w.reader.set(reader.stats());
    }
    let set = |state| {
        if let Some(w) = me {
            w.set(state);
        }
    };
    {
        let (ctl, local, permits) = (ctl.clone(), local.clone(), permits.clone());
        glommio::spawn_local(async move {
            let mut streak = 0u32;
            loop {
                streak += 1;
                if streak >= wamp::FAIR_SHARE {
                    streak = 0;
                    futures_lite::future::yield_now().await;
                }
                let got = match reader.recv_raw().await {
                    Ok(Some(b)) => match fastpath::scan(ser, &b) {
                        Some((code::RESULT, st)) => Got::Result(Some(st)),
                        _ => match reader.decode(&b) {
                            Ok(Message::Result(r)) => {
                                Got::Result(payload::from_wamp_args(r.payload.args.as_ref()))
                            }
                            Ok(Message::Error(e)) => Got::Error(wamp::error_text(&e)),
                            Ok(_) => Got::Other,
                            Err(e) => Got::Closed(format!("{e:#}")),
                        },
                    },
                    Ok(None) => Got::Closed("connection closed by the router".into()),
                    Err(e) => Got::Closed(format!("{e:#}")),
                };
                match got {
                    Got::Result(st) => {
                        match st {
                            Some(s) if s.sender != WARMUP_SENDER => {
                                let now = now_ns();
                                if let Some(h) = local.hist.borrow_mut().as_mut() {
                                    stats::record(h, now.saturating_sub(s.t_ns));
                                }
                                tracker.borrow_mut().record(s.sender, s.seq);
                                local.delivered.set(local.delivered.get() + 1);
                                local.last_rx_ns.set(now);
                            }
                            Some(_) => {}
                            None => ctl.fail(format!("caller {c}: RESULT without loadgen payload")),
                        }
                        permits.signal(1);
                    }
                    Got::Error(e) => {
                        ctl.fail(format!("caller {c}: CALL error {e}"));
                        permits.signal(1);
                    }
                    Got::Other => {}
                    Got::Closed(why) => {
                        if ctl.phase() < STOP {
                            ctl.fail(format!("caller {c}: {why}"));
                        }
                        break;
                    }
                }
            }
        })
        .detach();
    }

    let start = now_ns();
    let interval = p.rate.map(|r| 1e9 / r);
    let deadline = p.amount.deadline(start);
    let limit = p.amount.count().unwrap_or(u64::MAX);
    let mut m = 0u64;
    'outer: loop {
        let now = now_ns();
        if m >= limit || deadline.is_some_and(|d| now >= d) || ctl.phase() >= STOP {
            break;
        }
        let until = match pace(m, start, now, interval) {
            Pace::SleepUntil(t) => {
                set(FLUSHING);
                writer.flush().await?;
                set(SLEEPING);
                sleep_until(t.min(deadline.unwrap_or(u64::MAX))).await;
                set(SENDING);
                continue;
            }
            Pace::SendUntil(u) => u.min(limit),
        };
        let batch_start = m;
        while m < until {
            if !permits.try_acquire(1).map_err(std::io::Error::from)? {
                set(FLUSHING);
                writer.flush().await?;
                set(AWAITING_RESULT);
                permits.acquire(1).await.map_err(std::io::Error::from)?;
                set(SENDING);
            }
            if ctl.phase() >= STOP || deadline.is_some_and(|d| now_ns() >= d) {
                local.sent.set(local.sent.get() + (m - batch_start));
                break 'outer;
            }
            let st = Stamp {
                seq: m,
                sender,
                t_ns: intended_ns(m, start, interval),
            };
            let request = RequestId(writer.request_id());
            writer
                .feed(&Message::Call(Call {
                    request,
                    options: Dict::new(),
                    procedure: p.procedure.clone(),
                    payload: Payload::args(payload::wamp_args(st, &pad)),
                }))
                .await?;
            m += 1;
            if let Some(w) = me {
                w.sent.store(m, Ordering::Relaxed);
            }
        }
        set(FLUSHING);
        writer.flush().await?;
        set(SENDING);
        local.sent.set(local.sent.get() + (m - batch_start));
        glommio::yield_if_needed().await;
    }
    writer.flush().await?;
    set(FINISHED);
    ctl.sender_done(c, vec![m]);
    ctl.wait_phase(STOP).await;
    Ok(())
}
