//! `connections`: open `--sessions` sessions (WAMP HELLO/WELCOME, or MQTT
//! CONNECT/CONNACK) at `--ramp` per second, spreading TCP source addresses
//! over `--source-ips` (each client socket is bound to one before connecting,
//! since one source address only has ~28k ephemeral ports towards one router
//! port), hold them `--hold` seconds, and report how many opened, failed or
//! were dropped, the session setup latency, and the router's memory per session.

use std::cell::Cell;
use std::net::{IpAddr, Ipv4Addr};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use junction::proto::{Message, Serializer};

use super::sleep_until;
use crate::clock::now_ns;
use crate::mqtt::MqttConn;
use crate::runner::{self, Control, MEASURE, STOP};
use crate::stats::{self, CpuMeter, Report, proc_sample};
use crate::tracker::SeqCounts;
use crate::url::{Endpoint, Target};
use crate::wamp::WampConn;

/// Parameters of a `connections` run.
#[derive(Debug, Clone)]
pub struct ConnParams {
    /// Router or broker.
    pub target: Target,
    /// WAMP serializer.
    pub ser: Serializer,
    /// WAMP realm.
    pub realm: String,
    /// Sessions to open.
    pub sessions: usize,
    /// Sessions opened per second.
    pub ramp: f64,
    /// Seconds to hold them.
    pub hold: f64,
    /// Source addresses to bind to (TCP only); empty: the kernel chooses.
    pub source_ips: Vec<IpAddr>,
    /// Executors.
    pub threads: usize,
    /// Router process to measure.
    pub router_pid: Option<u32>,
}

/// Parses `127.0.0.1-127.0.0.20` or `127.0.0.1,127.0.0.5` (or one address).
///
/// # Errors
/// Malformed addresses or a reversed range.
pub fn parse_ips(s: &str) -> anyhow::Result<Vec<IpAddr>> {
    let mut out = Vec::new();
    for part in s.split(',') {
        let part = part.trim();
        if let Some((a, b)) = part.split_once('-') {
            let a: Ipv4Addr = a
                .trim()
                .parse()
                .with_context(|| format!("bad address {a}"))?;
            let b: Ipv4Addr = b
                .trim()
                .parse()
                .with_context(|| format!("bad address {b}"))?;
            let (a, b) = (u32::from(a), u32::from(b));
            if b < a || b - a > 1 << 16 {
                bail!("bad address range {part}");
            }
            out.extend((a..=b).map(|x| IpAddr::V4(Ipv4Addr::from(x))));
        } else {
            out.push(
                part.parse()
                    .with_context(|| format!("bad address {part}"))?,
            );
        }
    }
    Ok(out)
}

/// Shared counters.
#[derive(Default)]
struct Counts {
    failed: AtomicU64,
    dropped: AtomicU64,
}

/// Runs the `connections` scenario.
///
/// # Errors
/// The executors could not be started.
pub fn run(p: ConnParams, url: &str) -> anyhow::Result<Report> {
    if p.ramp <= 0.0 {
        bail!("--ramp must be positive");
    }
    let p = Arc::new(p);
    let ctl = Arc::new(Control::new(p.threads));
    let counts = Arc::new(Counts::default());
    let rss_before = p.router_pid.and_then(proc_sample);
    let meter = CpuMeter::start(p.router_pid);
    ctl.measure_start_ns.store(now_ns(), Ordering::Release);
    ctl.set_phase(MEASURE);
    let join = {
        let (p, ctl, counts) = (p.clone(), ctl.clone(), counts.clone());
        std::thread::spawn(move || {
            runner::run_threads(p.threads, move |t| {
                thread_main(t, p.clone(), ctl.clone(), counts.clone())
            })
        })
    };
    let n = p.sessions as u64;
    let pb = runner::progress(n, "sessions");
    let opened_at = Instant::now();
    let mut last = (0, Instant::now());
    loop {
        std::thread::sleep(Duration::from_millis(20));
        let ok = ctl.total_delivered();
        let attempted = ctl.total_sent();
        pb.set_position(ok);
        if attempted >= n {
            break;
        }
        if attempted != last.0 {
            last = (attempted, Instant::now());
        } else if last.1.elapsed() > Duration::from_secs(60) {
            ctl.note(format!("opening stalled at {attempted} of {n} attempts"));
            break;
        }
    }
    let open_s = opened_at.elapsed().as_secs_f64();
    let ok_open = ctl.total_delivered();
    let rss_open = p.router_pid.and_then(proc_sample);
    pb.set_message("holding");
    let hold_until = Instant::now() + Duration::from_secs_f64(p.hold);
    while Instant::now() < hold_until {
        std::thread::sleep(Duration::from_millis(50));
        pb.set_position(ok_open - counts.dropped.load(Ordering::Relaxed));
    }
    pb.finish_and_clear();
    let cpu = meter.finish();
    ctl.set_phase(STOP);
    let outs = join
        .join()
        .map_err(|_| anyhow::anyhow!("executor thread panicked"))??;
    let mut hist = stats::new_histogram();
    for h in outs {
        let _ = hist.add(&h);
    }
    let failed = counts.failed.load(Ordering::Relaxed);
    let dropped = counts.dropped.load(Ordering::Relaxed);
    let mut r = Report::new(
        "connections",
        serde_json::json!({
            "url": url,
            "serializer": p.ser.name(),
            "realm": p.realm,
            "sessions": p.sessions,
            "ramp": p.ramp,
            "hold": p.hold,
            "source_ips": p.source_ips.len(),
            "threads": p.threads,
        }),
        SeqCounts::default(),
    );
    r.sent = n;
    r.expected = n;
    r.delivered = ok_open;
    r.duration_s = open_s;
    r.throughput_per_s = ok_open as f64 / open_s.max(1e-9);
    r.set_latency(&hist);
    r.errors = failed + dropped;
    r.cpu = cpu;
    r.problems = ctl.problems();
    r.extra.insert("sessions_ok".into(), ok_open.into());
    r.extra.insert("sessions_failed".into(), failed.into());
    r.extra
        .insert("sessions_dropped_while_held".into(), dropped.into());
    if let (Some(b), Some(o)) = (rss_before, rss_open) {
        r.extra
            .insert("router_rss_kib_idle".into(), b.rss_kib.into());
        r.extra
            .insert("router_rss_kib_with_sessions".into(), o.rss_kib.into());
        r.extra
            .insert("router_anon_kib_idle".into(), b.anon_kib.into());
        if ok_open > 0 {
            // Also from the anonymous part alone: a baseline whose file
            // pages (the binary's) happened to be resident or not moves the
            // RSS figure, not this one.
            for (key, before, open) in [
                ("router_rss_kib_per_session", b.rss_kib, o.rss_kib),
                ("router_anon_kib_per_session", b.anon_kib, o.anon_kib),
            ] {
                let per = (open as f64 - before as f64) / ok_open as f64;
                r.extra
                    .insert(key.into(), serde_json::json!((per * 100.0).round() / 100.0));
            }
        }
    }
    r.clean = failed == 0 && dropped == 0 && ok_open == n;
    Ok(r)
}

async fn thread_main(
    t: usize,
    p: Arc<ConnParams>,
    ctl: Arc<Control>,
    counts: Arc<Counts>,
) -> Histogram<u64> {
    let hist = Rc::new(std::cell::RefCell::new(stats::new_histogram()));
    let ok = Rc::new(Cell::new(0u64));
    let attempted = Rc::new(Cell::new(0u64));
    let start = ctl.measure_start_ns.load(Ordering::Acquire);
    let tcp = matches!(p.target.endpoint, Endpoint::Tcp(_) | Endpoint::TcpTls(..));
    {
        let (p, ctl, hist, ok, attempted) = (
            p.clone(),
            ctl.clone(),
            hist.clone(),
            ok.clone(),
            attempted.clone(),
        );
        glommio::spawn_local(async move {
            for i in (t..p.sessions).step_by(p.threads) {
                if ctl.phase() >= STOP {
                    break;
                }
                sleep_until(start + (i as f64 * 1e9 / p.ramp) as u64).await;
                let source = if tcp && !p.source_ips.is_empty() {
                    Some(p.source_ips[i % p.source_ips.len()])
                } else {
                    None
                };
                let (p, ctl, counts, hist, ok, attempted) = (
                    p.clone(),
                    ctl.clone(),
                    counts.clone(),
                    hist.clone(),
                    ok.clone(),
                    attempted.clone(),
                );
                glommio::spawn_local(async move {
                    let t0 = now_ns();
                    let conn = open(&p, i, source).await;
                    attempted.set(attempted.get() + 1);
                    let mut conn = match conn {
                        Ok(c) => c,
                        Err(e) => {
                            counts.failed.fetch_add(1, Ordering::Relaxed);
                            ctl.note(format!("session {i}: {e:#}"));
                            return;
                        }
                    };
                    stats::record(&mut hist.borrow_mut(), now_ns() - t0);
                    ok.set(ok.get() + 1);
                    let end = conn.hold().await;
                    if ctl.phase() < STOP {
                        counts.dropped.fetch_add(1, Ordering::Relaxed);
                        ctl.note(format!("session {i} dropped while held: {end}"));
                    }
                })
                .detach();
            }
        })
        .detach();
    }
    while ctl.phase() < STOP {
        ctl.delivered[t].store(ok.get(), Ordering::Relaxed);
        ctl.sent[t].store(attempted.get(), Ordering::Relaxed);
        glommio::timer::sleep(Duration::from_millis(5)).await;
    }
    hist.borrow().clone()
}

/// An open session of either protocol.
enum Session {
    Wamp(WampConn),
    Mqtt(MqttConn),
}

async fn open(p: &ConnParams, i: usize, source: Option<IpAddr>) -> anyhow::Result<Session> {
    if p.target.is_mqtt() {
        let id = format!("loadgen-{}-c{i}", std::process::id());
        Ok(Session::Mqtt(
            MqttConn::connect(&p.target, &id, source).await?,
        ))
    } else {
        Ok(Session::Wamp(
            WampConn::connect(&p.target, p.ser, &p.realm, source).await?,
        ))
    }
}

impl Session {
    /// Keeps the session alive (answering pings) until it ends; returns why.
    async fn hold(&mut self) -> String {
        loop {
            let r = match self {
                Session::Wamp(c) => c
                    .next()
                    .await
                    .map(|m| m.map(|m| matches!(m, Message::Goodbye(_) | Message::Abort(_)))),
                Session::Mqtt(c) => c.next().await.map(|m| m.map(|_| false)),
            };
            match r {
                Ok(Some(false)) => {}
                Ok(Some(true)) => return "session closed by the router".into(),
                Ok(None) => return "connection closed by the router".into(),
                Err(e) => return format!("{e:#}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_address_ranges_and_lists() {
        let v = parse_ips("127.0.0.1-127.0.0.3").expect("range");
        assert_eq!(v.len(), 3);
        assert_eq!(v[2], "127.0.0.3".parse::<IpAddr>().expect("ip"));
        let v = parse_ips("127.0.0.1, 127.0.0.9").expect("list");
        assert_eq!(v.len(), 2);
        assert!(parse_ips("127.0.0.5-127.0.0.1").is_err());
        assert!(parse_ips("nope").is_err());
    }
}
