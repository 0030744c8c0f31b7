//! Measurements and the final report: latency histograms, CPU time of
//! loadgen and of the router, the human table and the `--json` document.

use std::io::Write as _;
use std::path::Path;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::tracker::SeqCounts;
use crate::worker;

/// Highest latency a histogram tracks: one hour, in nanoseconds.
const MAX_TRACKED_NS: u64 = 3_600_000_000_000;

/// A latency histogram in nanoseconds, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_TRACKED_NS, 3).expect("constant bounds are valid")
}

/// Records one latency, clamped into the tracked range.
pub fn record(h: &mut Histogram<u64>, ns: u64) {
    h.saturating_record(ns.clamp(1, MAX_TRACKED_NS));
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Latency {
    /// Number of samples.
    pub count: u64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest sample.
    pub max: f64,
}

impl Latency {
    /// Percentiles of `h` (ns) in µs.
    pub fn of(h: &Histogram<u64>) -> Latency {
        if h.is_empty() {
            return Latency::default();
        }
        let us = |ns: u64| ns as f64 / 1000.0;
        Latency {
            count: h.len(),
            mean: h.mean() / 1000.0,
            p50: us(h.value_at_quantile(0.50)),
            p90: us(h.value_at_quantile(0.90)),
            p99: us(h.value_at_quantile(0.99)),
            p999: us(h.value_at_quantile(0.999)),
            max: us(h.max()),
        }
    }
}

/// Writes the plots of a report (`--json` document `report`, as a value)
/// next to `json`: `NAME.latency.svg` and, when the report has a timeline,
/// `NAME.throughput.svg`. `loadgen replot` redraws them from a saved report.
///
/// # Errors
/// The report lacks its figures, or a file cannot be written.
pub fn write_svgs(
    report: &serde_json::Value,
    json: &Path,
) -> anyhow::Result<Vec<std::path::PathBuf>> {
    #[derive(serde::Deserialize)]
    struct Figures {
        scenario: String,
        #[serde(default)]
        params: serde_json::Value,
        throughput_per_s: f64,
        latency_us: LatencyIn,
        #[serde(default)]
        latency_buckets_us: Vec<(f64, f64, u64)>,
        #[serde(default)]
        timeline: Vec<(f64, f64)>,
    }
    #[derive(serde::Deserialize)]
    struct LatencyIn {
        count: u64,
        p50: f64,
        p99: f64,
    }
    let r: Figures = serde_json::from_value(report.clone())?;
    let stem = json.with_extension("");
    let mut written = Vec::new();
    let url = r.params.get("url").and_then(|u| u.as_str()).unwrap_or("");
    let l = &r.latency_us;
    let title = format!(
        "{} latency: p50 {:.0} µs, p99 {:.0} µs (n={})",
        r.scenario, l.p50, l.p99, l.count
    );
    let path = stem.with_extension("latency.svg");
    std::fs::write(&path, crate::plot::histogram(&title, &r.latency_buckets_us))?;
    written.push(path);
    if !r.timeline.is_empty() {
        let path = stem.with_extension("throughput.svg");
        let title = format!(
            "{} throughput (mean {}/s), {url}",
            r.scenario,
            crate::plot::short(r.throughput_per_s),
        );
        let series = [crate::plot::Series {
            name: "deliveries/s".into(),
            points: r.timeline,
        }];
        std::fs::write(
            &path,
            crate::plot::lines(&title, "seconds", "deliveries per second", &series),
        )?;
        written.push(path);
    }
    Ok(written)
}

/// The histogram `h` (ns) as (lower µs, upper µs, count) buckets growing by
/// a quarter from 1 µs; empty buckets are left out.
pub fn buckets_us(h: &Histogram<u64>) -> Vec<(f64, f64, u64)> {
    if h.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut lo = 0u64;
    for v in h.iter_log(1000, 1.25) {
        let hi = v.value_iterated_to();
        let n = v.count_since_last_iteration();
        if n > 0 {
            out.push((lo as f64 / 1000.0, hi as f64 / 1000.0, n));
        }
        lo = hi;
    }
    out
}

/// Deliveries per second between samples of (ns since the start, deliveries so far).
pub fn rates(samples: &[(u64, u64)]) -> Vec<(f64, f64)> {
    samples
        .windows(2)
        .filter(|w| w[1].0 > w[0].0)
        .map(|w| {
            let dt = (w[1].0 - w[0].0) as f64 / 1e9;
            (w[1].0 as f64 / 1e9, (w[1].1 - w[0].1) as f64 / dt)
        })
        .collect()
}

/// This process's CPU time so far (getrusage), in seconds: (user, system).
pub fn self_cpu() -> (f64, f64) {
    // SAFETY: getrusage fills a zeroed struct we own.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer to a rusage.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (tv(ru.ru_utime), tv(ru.ru_stime))
}

/// A snapshot of another process (the router) from /proc.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcSample {
    /// utime + stime, seconds.
    pub cpu_s: f64,
    /// Resident set size, KiB.
    pub rss_kib: u64,
    /// Its anonymous part (`RssAnon`: heap, stacks, anonymous mappings),
    /// KiB: what sessions allocate, without the binary's file pages, whose
    /// residency moves with the page cache.
    pub anon_kib: u64,
}

/// Reads `/proc/PID/stat` and `/proc/PID/status`; `None` when the process is gone.
pub fn proc_sample(pid: u32) -> Option<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime is field 14, stime 15.
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = |field: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    Some(ProcSample {
        cpu_s: (utime + stime) / hz,
        rss_kib: kib("VmRSS:"),
        anon_kib: kib("RssAnon:"),
    })
}

/// CPU and memory figures of a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CpuReport {
    /// loadgen's user CPU time during the measured phase, seconds.
    pub loadgen_user_s: f64,
    /// loadgen's system CPU time during the measured phase, seconds.
    pub loadgen_sys_s: f64,
    /// Router CPU time (utime + stime) during the measured phase, seconds.
    pub router_cpu_s: Option<f64>,
    /// Router RSS before the measured phase (after connecting), KiB.
    pub router_rss_kib_before: Option<u64>,
    /// Router RSS at the end, KiB.
    pub router_rss_kib_after: Option<u64>,
    /// The router's cross-shard traffic during the measured phase (with
    /// `--router-control`); reported per delivery in `extra`.
    #[serde(skip)]
    pub router_mesh: Option<crate::routerctl::MeshSnapshot>,
}

/// Starts measuring CPU: call [`CpuMeter::finish`] at the end.
pub struct CpuMeter {
    start: (f64, f64),
    router_pid: Option<u32>,
    router: Option<ProcSample>,
    mesh: Option<crate::routerctl::MeshSnapshot>,
}

impl CpuMeter {
    /// Takes the "before" snapshots.
    pub fn start(router_pid: Option<u32>) -> CpuMeter {
        CpuMeter {
            start: self_cpu(),
            router_pid,
            router: router_pid.and_then(proc_sample),
            mesh: mesh_now(),
        }
    }

    /// Takes the "after" snapshots.
    pub fn finish(&self) -> CpuReport {
        worker::measured();
        let (u, s) = self_cpu();
        let after = self.router_pid.and_then(proc_sample);
        CpuReport {
            loadgen_user_s: u - self.start.0,
            loadgen_sys_s: s - self.start.1,
            router_cpu_s: match (self.router, after) {
                (Some(a), Some(b)) => Some(b.cpu_s - a.cpu_s),
                _ => None,
            },
            router_rss_kib_before: self.router.map(|r| r.rss_kib),
            router_rss_kib_after: after.map(|r| r.rss_kib),
            router_mesh: match (&self.mesh, mesh_now()) {
                (Some(a), Some(b)) => Some(a.delta(&b)),
                _ => None,
            },
        }
    }
}

/// The router's mesh counters now, when `--router-control` names its
/// control socket (a failure is reported once and leaves the figures out).
fn mesh_now() -> Option<crate::routerctl::MeshSnapshot> {
    let path = crate::routerctl::control()?;
    match crate::routerctl::read_mesh(path) {
        Ok(s) => Some(s),
        Err(e) => {
            eprintln!("loadgen: --router-control: {e:#}");
            None
        }
    }
}

/// Everything a run reports.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `fanout`, `pubsub`, `rpc` or `connections`.
    pub scenario: &'static str,
    /// The parameters the run was started with.
    pub params: serde_json::Value,
    /// Measured phase: from its start to the last delivery, seconds.
    pub duration_s: f64,
    /// Messages published / calls made in the measured phase.
    pub sent: u64,
    /// Deliveries (events received, results received, sessions opened).
    pub delivered: u64,
    /// Deliveries expected from what was sent.
    pub expected: u64,
    /// Deliveries per second over `duration_s`.
    pub throughput_per_s: f64,
    /// Latency percentiles, µs.
    pub latency_us: Latency,
    /// The latency histogram: (lower µs, upper µs, count), buckets growing
    /// by a quarter each, empty buckets left out.
    pub latency_buckets_us: Vec<(f64, f64, u64)>,
    /// Deliveries per second over the measured phase: (seconds since its
    /// start, rate over the preceding interval), one point per 100 ms.
    pub timeline: Vec<(f64, f64)>,
    /// Expected messages never received.
    pub lost: u64,
    /// Messages received after a higher sequence number from the same sender.
    pub reordered: u64,
    /// Messages received twice.
    pub duplicates: u64,
    /// Messages from senders a receiver should not hear from.
    pub unexpected: u64,
    /// Error replies and failed connections during the measured phase.
    pub errors: u64,
    /// CPU and memory.
    pub cpu: CpuReport,
    /// Scenario-specific figures.
    pub extra: serde_json::Map<String, serde_json::Value>,
    /// Problems seen (first few error messages).
    pub problems: Vec<String>,
    /// Whether the run was clean (no loss, reorder, duplicates, errors).
    pub clean: bool,
    /// A `--procs` worker's latency histogram for the parent's merge
    /// (hdrhistogram V2, deflated, base64); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub histogram: Option<String>,
}

impl Report {
    /// A report with the sequence counts filled in.
    pub fn new(scenario: &'static str, params: serde_json::Value, seq: SeqCounts) -> Report {
        Report {
            scenario,
            params,
            duration_s: 0.0,
            sent: 0,
            delivered: seq.received,
            expected: 0,
            throughput_per_s: 0.0,
            latency_us: Latency::default(),
            latency_buckets_us: Vec::new(),
            timeline: Vec::new(),
            lost: seq.lost,
            reordered: seq.reordered,
            duplicates: seq.duplicates,
            unexpected: seq.unexpected,
            errors: 0,
            cpu: CpuReport::default(),
            extra: serde_json::Map::new(),
            problems: Vec::new(),
            clean: seq.is_clean(),
            histogram: None,
        }
    }

    /// Sets the latency figures from `h` (ns): percentiles and histogram.
    pub fn set_latency(&mut self, h: &Histogram<u64>) {
        self.latency_us = Latency::of(h);
        self.latency_buckets_us = buckets_us(h);
        if worker::is_worker() {
            self.histogram = Some(worker::encode_histogram(h));
        }
    }

    /// Writes the plots next to the JSON document `json`: `NAME.latency.svg`
    /// (the histogram) and, when there is a timeline, `NAME.throughput.svg`.
    /// Returns the files written.
    ///
    /// # Errors
    /// A file cannot be written.
    pub fn write_svgs(&self, json: &Path) -> anyhow::Result<Vec<std::path::PathBuf>> {
        let v = serde_json::to_value(self)?;
        write_svgs(&v, json)
    }

    /// Prints the human table to stdout and a warning to stderr when unclean.
    pub fn print(&self) {
        let mut o = String::new();
        let l = &self.latency_us;
        let line = |o: &mut String, k: &str, v: String| {
            o.push_str(&format!("  {k:<26} {v}\n"));
        };
        o.push_str(&format!("== loadgen {} ==\n", self.scenario));
        line(&mut o, "params", self.params.to_string());
        line(&mut o, "measured for", format!("{:.3} s", self.duration_s));
        line(&mut o, "sent", self.sent.to_string());
        line(
            &mut o,
            "delivered / expected",
            format!("{} / {}", self.delivered, self.expected),
        );
        line(
            &mut o,
            "throughput",
            format!("{:.0} /s", self.throughput_per_s),
        );
        line(
            &mut o,
            "latency µs",
            format!(
                "p50 {:.1}  p90 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}  (mean {:.1}, n={})",
                l.p50, l.p90, l.p99, l.p999, l.max, l.mean, l.count
            ),
        );
        line(
            &mut o,
            "lost / reordered / dup",
            format!(
                "{} / {} / {}  (unexpected {}, errors {})",
                self.lost, self.reordered, self.duplicates, self.unexpected, self.errors
            ),
        );
        let c = &self.cpu;
        let per = if self.delivered > 0 {
            format!(
                ", {:.2} µs/delivery",
                (c.loadgen_user_s + c.loadgen_sys_s) * 1e6 / self.delivered as f64
            )
        } else {
            String::new()
        };
        line(
            &mut o,
            "loadgen cpu",
            format!(
                "user {:.2} s  sys {:.2} s{per}",
                c.loadgen_user_s, c.loadgen_sys_s
            ),
        );
        if let Some(r) = c.router_cpu_s {
            line(&mut o, "router cpu", format!("{r:.2} s"));
        }
        if let (Some(b), Some(a)) = (c.router_rss_kib_before, c.router_rss_kib_after) {
            line(&mut o, "router rss", format!("{b} KiB -> {a} KiB"));
        }
        for (k, v) in &self.extra {
            line(&mut o, k, v.to_string());
        }
        print!("{o}");
        let _ = std::io::stdout().flush();
        if !self.clean {
            eprintln!(
                "\n!!!!!!!! WARNING: UNCLEAN RUN: lost {} reordered {} duplicates {} unexpected {} errors {} !!!!!!!!",
                self.lost, self.reordered, self.duplicates, self.unexpected, self.errors
            );
            for p in &self.problems {
                eprintln!("!!! {p}");
            }
        }
    }

    /// Writes the JSON document.
    ///
    /// # Errors
    /// The file cannot be written.
    pub fn write_json(&self, path: &Path) -> anyhow::Result<()> {
        let s = serde_json::to_string_pretty(self)?;
        std::fs::write(path, s + "\n")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_in_microseconds() {
        let mut h = new_histogram();
        for i in 1..=1000u64 {
            record(&mut h, i * 1000);
        }
        let l = Latency::of(&h);
        assert_eq!(l.count, 1000);
        assert!((l.p50 - 500.0).abs() < 1.0, "{}", l.p50);
        assert!((l.p99 - 990.0).abs() < 1.0, "{}", l.p99);
        assert!((l.max - 1000.0).abs() < 1.0, "{}", l.max);
    }

    #[test]
    fn buckets_cover_every_sample_and_rates_are_per_second() {
        let mut h = new_histogram();
        for i in 1..=1000u64 {
            record(&mut h, i * 1000);
        }
        let b = buckets_us(&h);
        assert_eq!(b.iter().map(|x| x.2).sum::<u64>(), 1000);
        assert!(
            b.windows(2)
                .all(|w| w[0].1 <= w[1].0 + 1e-9 && w[0].0 < w[1].0)
        );
        assert!(b.last().expect("buckets").1 >= 1000.0);
        assert!(buckets_us(&new_histogram()).is_empty());
        let r = rates(&[(0, 0), (100_000_000, 500), (200_000_000, 1500)]);
        assert_eq!(r, vec![(0.1, 5000.0), (0.2, 10000.0)]);
    }

    #[test]
    fn reads_own_proc_stats() {
        let s = proc_sample(std::process::id()).expect("own /proc entry");
        assert!(s.rss_kib > 0);
        assert!(
            s.anon_kib > 0 && s.anon_kib <= s.rss_kib,
            "anonymous part of the RSS: {s:?}"
        );
        assert!(s.cpu_s >= 0.0);
        assert!(proc_sample(u32::MAX).is_none());
    }
}
