//! `--procs K --cpus LIST`: loadgen as K worker processes, each pinned to
//! its share of the CPUs, so that on a many-core machine the load tool is
//! never the limit; the parent merges what they measured.
//!
//! Each worker runs an independent slice of the scenario (its share of
//! every population: publishers, subscribers, topics, callers, callees,
//! devices; `iot` keeps all dashboards in every worker, so that a message
//! still reaches `--dashboards` of them and the deliveries add up to those
//! of one process, with K times the dashboard sessions) under its own
//! namespace (`w<i>.` before every topic and procedure), so no message
//! crosses processes and each worker checks loss and order for its own
//! streams as usual. The workers
//! connect and warm up, say `loadgen-worker: ready` on stdout, and wait for
//! a line on stdin: the parent starts every measured phase at once, and
//! measures the router (`--router-pid`, `--router-control`) itself from
//! then until the last worker is done. A worker writes its report with its
//! latency histogram (hdrhistogram V2, deflated, base64) to a file; the
//! parent adds up the counts, merges the histograms and takes the longest
//! measured phase as the run's duration.
//!
//! This is the parent's side and the split of the work; what a worker says
//! and hands over is in [`crate::worker`].

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, bail};

use crate::stats::{self, CpuMeter, Report};
use crate::worker::{MEASURED, READY, decode_histogram};

/// `I/K`: worker `I` (from 0) of `K`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerOf {
    /// This worker.
    pub index: usize,
    /// All workers.
    pub of: usize,
}

/// Parses `--worker I/K`.
///
/// # Errors
/// Not two numbers with `I < K`.
pub fn parse_worker(s: &str) -> Result<WorkerOf, String> {
    let (i, k) = s.split_once('/').ok_or("expected I/K")?;
    let index: usize = i.parse().map_err(|_| format!("bad worker index {i:?}"))?;
    let of: usize = k.parse().map_err(|_| format!("bad worker count {k:?}"))?;
    if index >= of {
        return Err(format!("worker {index} of {of}"));
    }
    Ok(WorkerOf { index, of })
}

impl WorkerOf {
    /// This worker's share of `n` (the first `n % K` workers take one more).
    pub fn share(self, n: usize) -> usize {
        n / self.of + usize::from(self.index < n % self.of)
    }

    /// The namespace of this worker's topics and procedures.
    pub fn namespace(self) -> String {
        format!("w{}.", self.index)
    }
}

/// A parsed `--cpus` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuList(pub Vec<usize>);

/// `--cpus` for clap.
///
/// # Errors
/// As [`parse_cpus`].
pub fn parse_cpu_list(s: &str) -> Result<CpuList, String> {
    parse_cpus(s).map(CpuList)
}

/// Parses a CPU list: `8-15`, `0,2,4-6`.
///
/// # Errors
/// Empty, or not numbers and ranges.
pub fn parse_cpus(s: &str) -> Result<Vec<usize>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a, b),
            None => (part, part),
        };
        let a: usize = a.parse().map_err(|_| format!("bad CPU {a:?}"))?;
        let b: usize = b.parse().map_err(|_| format!("bad CPU {b:?}"))?;
        if a > b || b >= libc::CPU_SETSIZE as usize {
            return Err(format!("bad CPU range {part:?}"));
        }
        out.extend(a..=b);
    }
    if out.is_empty() {
        return Err("no CPUs".into());
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Worker `i`'s CPUs of `cpus` when `k` workers share them: contiguous
/// chunks, the first `len % k` one CPU longer; with fewer CPUs than
/// workers, CPU `i % len`.
pub fn chunk(cpus: &[usize], i: usize, k: usize) -> Vec<usize> {
    if cpus.len() < k {
        return vec![cpus[i % cpus.len()]];
    }
    let w = WorkerOf { index: i, of: k };
    let start: usize = (0..i)
        .map(|j| WorkerOf { index: j, of: k }.share(cpus.len()))
        .sum();
    cpus[start..start + w.share(cpus.len())].to_vec()
}

/// Pins this process (and the threads it starts afterwards) to `cpus`.
///
/// # Errors
/// The kernel refused (a CPU outside the allowed set).
pub fn pin(cpus: &[usize]) -> anyhow::Result<()> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET stays in
    // bounds (parse_cpus checks CPU_SETSIZE).
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &c in cpus {
            libc::CPU_SET(c, &mut set);
        }
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            bail!(
                "cannot pin loadgen to CPUs {cpus:?}: {}",
                std::io::Error::last_os_error()
            );
        }
    }
    Ok(())
}

/// Reads `out` until `line` (true) or its end (false).
fn wait_line(out: &mut impl BufRead, want: &str) -> std::io::Result<bool> {
    let mut line = String::new();
    loop {
        line.clear();
        if out.read_line(&mut line)? == 0 {
            return Ok(false);
        }
        if line.trim() == want {
            return Ok(true);
        }
    }
}

/// The arguments of worker `i` of `k`: ours without `--procs`, `--cpus`,
/// `--json`, `--router-pid`, `--router-control` (the parent measures the
/// router), plus `--worker i/k`, its CPUs and its report file.
pub fn worker_args(
    args: &[String],
    i: usize,
    k: usize,
    cpus: Option<&[usize]>,
    json: &Path,
) -> Vec<String> {
    const DROP: [&str; 5] = [
        "--procs",
        "--cpus",
        "--json",
        "--router-pid",
        "--router-control",
    ];
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if DROP.contains(&a.as_str()) {
            it.next();
            continue;
        }
        if DROP.iter().any(|d| a.starts_with(&format!("{d}="))) {
            continue;
        }
        out.push(a.clone());
    }
    out.push("--worker".into());
    out.push(format!("{i}/{k}"));
    if let Some(cpus) = cpus {
        let c = chunk(cpus, i, k);
        out.push("--cpus".into());
        out.push(c.iter().map(usize::to_string).collect::<Vec<_>>().join(","));
    }
    out.push("--json".into());
    out.push(json.display().to_string());
    out
}

/// Runs `k` workers of this command line and merges their reports.
///
/// # Errors
/// A worker could not start, failed before measuring, or left no report.
pub fn run_parent(
    k: usize,
    cpus: Option<&[usize]>,
    router_pid: Option<u32>,
) -> anyhow::Result<Report> {
    let exe = std::env::current_exe().context("finding loadgen's own binary")?;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = tempdir()?;
    let mut children: Vec<(Child, PathBuf)> = Vec::with_capacity(k);
    for i in 0..k {
        let json = dir.join(format!("worker-{i}.json"));
        let child = Command::new(&exe)
            .args(worker_args(&args, i, k, cpus, &json))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting worker {i}"))?;
        children.push((child, json));
    }
    // Every worker connected and warmed up?
    let mut outs = Vec::with_capacity(k);
    for (i, (child, _)) in children.iter_mut().enumerate() {
        let mut out = BufReader::new(child.stdout.take().expect("piped stdout"));
        if !wait_line(&mut out, READY)? {
            for (c, _) in &mut children {
                let _ = c.kill();
            }
            bail!("worker {i} ended before it was ready (see its errors above)");
        }
        outs.push(out);
    }
    let meter = CpuMeter::start(router_pid);
    for (child, _) in &mut children {
        let stdin = child.stdin.as_mut().expect("piped stdin");
        stdin.write_all(b"go\n")?;
        stdin.flush()?;
    }
    // The router's figures cover the measured phases (a worker that fails
    // ends its output: the figures then include its end).
    for o in &mut outs {
        wait_line(o, MEASURED)?;
    }
    let cpu = meter.finish();
    // The workers' own tables are not shown: their output is drained so
    // that they never block on a full pipe.
    let drains: Vec<_> = outs
        .into_iter()
        .map(|mut o| {
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut o, &mut std::io::sink());
            })
        })
        .collect();
    let mut reports = Vec::with_capacity(k);
    for (i, (mut child, json)) in children.into_iter().enumerate() {
        let status = child.wait()?;
        let text = std::fs::read_to_string(&json).with_context(|| {
            format!("worker {i} ({status}) left no report at {}", json.display())
        })?;
        reports.push(serde_json::from_str::<serde_json::Value>(&text)?);
    }
    for d in drains {
        let _ = d.join();
    }
    let _ = std::fs::remove_dir_all(&dir);
    let mut report = merge(&reports)?;
    report.cpu.router_cpu_s = cpu.router_cpu_s;
    report.cpu.router_rss_kib_before = cpu.router_rss_kib_before;
    report.cpu.router_rss_kib_after = cpu.router_rss_kib_after;
    report.cpu.router_mesh = cpu.router_mesh;
    Ok(report)
}

/// A fresh private directory for the workers' reports.
fn tempdir() -> anyhow::Result<PathBuf> {
    let base = std::env::temp_dir();
    for n in 0..1000 {
        let d = base.join(format!("loadgen-{}-{n}", std::process::id()));
        if std::fs::create_dir(&d).is_ok() {
            return Ok(d);
        }
    }
    bail!("cannot create a directory in {}", base.display())
}

/// One run's report from the workers' reports (their `--json` documents
/// with `histogram`): counts added up, histograms merged, the longest
/// measured phase as the duration, CPU of loadgen added up; the router's
/// figures are the caller's to set.
///
/// # Errors
/// No reports, or one without its figures.
pub fn merge(reports: &[serde_json::Value]) -> anyhow::Result<Report> {
    let Some(first) = reports.first() else {
        bail!("no worker reports");
    };
    let scenario: &'static str = match first["scenario"].as_str() {
        Some("fanout") => "fanout",
        Some("pubsub") => "pubsub",
        Some("rpc") => "rpc",
        Some("iot") => "iot",
        Some("connections") => "connections",
        other => bail!("unknown scenario {other:?} in a worker report"),
    };
    let mut params = first["params"].clone();
    if let Some(m) = params.as_object_mut() {
        m.remove("namespace");
        m.insert("procs".into(), reports.len().into());
    }
    let mut r = Report::new(scenario, params, crate::tracker::SeqCounts::default());
    let mut hist = stats::new_histogram();
    let mut timeline: Vec<(f64, f64)> = Vec::new();
    let mut workers = Vec::new();
    r.clean = true;
    for (i, w) in reports.iter().enumerate() {
        let n = |k: &str| w[k].as_u64().unwrap_or(0);
        r.sent += n("sent");
        r.delivered += n("delivered");
        r.expected += n("expected");
        r.lost += n("lost");
        r.reordered += n("reordered");
        r.duplicates += n("duplicates");
        r.unexpected += n("unexpected");
        r.errors += n("errors");
        r.duration_s = r.duration_s.max(w["duration_s"].as_f64().unwrap_or(0.0));
        r.clean &= w["clean"].as_bool().unwrap_or(false);
        r.cpu.loadgen_user_s += w["cpu"]["loadgen_user_s"].as_f64().unwrap_or(0.0);
        r.cpu.loadgen_sys_s += w["cpu"]["loadgen_sys_s"].as_f64().unwrap_or(0.0);
        let Some(h) = w["histogram"].as_str() else {
            bail!("worker {i}'s report has no histogram");
        };
        hist.add(decode_histogram(h)?)
            .map_err(|e| anyhow::anyhow!("merging worker {i}'s histogram: {e:?}"))?;
        if let Some(points) = w["timeline"].as_array() {
            for (j, p) in points.iter().enumerate() {
                let (t, v) = (p[0].as_f64().unwrap_or(0.0), p[1].as_f64().unwrap_or(0.0));
                match timeline.get_mut(j) {
                    Some(slot) => slot.1 += v,
                    None => timeline.push((t, v)),
                }
            }
        }
        if let Some(problems) = w["problems"].as_array() {
            r.problems.extend(
                problems
                    .iter()
                    .filter_map(|p| p.as_str())
                    .map(|p| format!("worker {i}: {p}")),
            );
        }
        workers.push(serde_json::json!({
            "throughput_per_s": w["throughput_per_s"],
            "delivered": w["delivered"],
            "p50_us": w["latency_us"]["p50"],
            "p99_us": w["latency_us"]["p99"],
            "extra": w["extra"],
        }));
    }
    r.throughput_per_s = r.delivered as f64 / r.duration_s.max(1e-9);
    r.set_latency(&hist);
    r.timeline = timeline;
    r.extra.insert("workers".into(), workers.into());
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::worker::encode_histogram;

    #[test]
    fn worker_shares_add_up_and_cpus_split_in_chunks() {
        for n in [0, 1, 7, 10, 1001] {
            for k in 1..6 {
                let total: usize = (0..k).map(|i| WorkerOf { index: i, of: k }.share(n)).sum();
                assert_eq!(total, n, "n={n} k={k}");
            }
        }
        assert_eq!(WorkerOf { index: 0, of: 3 }.share(10), 4);
        assert_eq!(WorkerOf { index: 2, of: 3 }.share(10), 3);
        let cpus = parse_cpus("8-15").expect("cpus");
        assert_eq!(chunk(&cpus, 0, 3), vec![8, 9, 10]);
        assert_eq!(chunk(&cpus, 1, 3), vec![11, 12, 13]);
        assert_eq!(chunk(&cpus, 2, 3), vec![14, 15]);
        assert_eq!(chunk(&[0, 1], 3, 4), vec![1]);
    }

    #[test]
    fn arguments_parse_or_are_refused() {
        assert_eq!(parse_cpus("0,2,4-6").expect("list"), vec![0, 2, 4, 5, 6]);
        assert_eq!(parse_cpus("3, 1-2,3").expect("list"), vec![1, 2, 3]);
        assert!(parse_cpus("").is_err());
        assert!(parse_cpus("5-2").is_err());
        assert!(parse_cpus("a").is_err());
        assert!(parse_cpus("0-99999").is_err());
        assert_eq!(parse_worker("2/4"), Ok(WorkerOf { index: 2, of: 4 }));
        assert!(parse_worker("4/4").is_err());
        assert!(parse_worker("1").is_err());
        assert_eq!(WorkerOf { index: 3, of: 4 }.namespace(), "w3.");
    }

    #[test]
    fn workers_get_our_arguments_without_the_parents_own() {
        let args: Vec<String> = [
            "pubsub",
            "--url",
            "ws://h/ws",
            "--procs",
            "2",
            "--cpus=8-11",
            "--json",
            "out.json",
            "--router-pid",
            "42",
            "--publishers",
            "4",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let cpus = parse_cpus("8-11").expect("cpus");
        let w = worker_args(&args, 1, 2, Some(&cpus), Path::new("/t/w1.json"));
        assert_eq!(
            w,
            [
                "pubsub",
                "--url",
                "ws://h/ws",
                "--publishers",
                "4",
                "--worker",
                "1/2",
                "--cpus",
                "10,11",
                "--json",
                "/t/w1.json"
            ]
        );
    }

    /// A worker's report with latencies `lat_us` (one delivery each).
    fn worker_report(lat_us: &[u64], duration: f64, clean: bool) -> serde_json::Value {
        let mut h = stats::new_histogram();
        for &l in lat_us {
            stats::record(&mut h, l * 1000);
        }
        serde_json::json!({
            "scenario": "pubsub",
            "params": {"publishers": 2, "namespace": "w0."},
            "sent": lat_us.len(), "delivered": lat_us.len(), "expected": lat_us.len() + 1,
            "lost": 1, "reordered": 0, "duplicates": 0, "unexpected": 0, "errors": 0,
            "duration_s": duration, "clean": clean,
            "cpu": {"loadgen_user_s": 0.5, "loadgen_sys_s": 0.25},
            "timeline": [[0.1, 10.0], [0.2, 20.0]],
            "latency_us": {"p50": 0.0, "p99": 0.0}, "throughput_per_s": 1.0,
            "problems": ["x"], "extra": {},
            "histogram": encode_histogram(&h),
        })
    }

    #[test]
    fn merging_adds_counts_and_histograms() {
        let a: Vec<u64> = (1..=100).collect();
        let b: Vec<u64> = (101..=300).collect();
        let r =
            merge(&[worker_report(&a, 2.0, true), worker_report(&b, 4.0, false)]).expect("merge");
        assert_eq!(r.delivered, 300);
        assert_eq!(r.expected, 302);
        assert_eq!(r.lost, 2);
        assert_eq!(r.duration_s, 4.0);
        assert_eq!(r.throughput_per_s, 75.0);
        assert_eq!(r.latency_us.count, 300);
        assert!(
            (r.latency_us.p50 - 150.0).abs() < 1.0,
            "{}",
            r.latency_us.p50
        );
        assert!(
            (r.latency_us.max - 300.0).abs() < 1.0,
            "{}",
            r.latency_us.max
        );
        assert!(!r.clean);
        assert_eq!(r.cpu.loadgen_user_s, 1.0);
        assert_eq!(r.timeline, vec![(0.1, 20.0), (0.2, 40.0)]);
        assert_eq!(r.params["procs"], 2);
        assert!(r.params.get("namespace").is_none());
        assert_eq!(r.problems, vec!["worker 0: x", "worker 1: x"]);
        assert!(merge(&[]).is_err());
        let mut no_hist = worker_report(&a, 1.0, true);
        no_hist["histogram"] = serde_json::Value::Null;
        assert!(merge(&[no_hist]).is_err());
    }
}
