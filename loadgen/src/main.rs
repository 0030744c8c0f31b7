//! `loadgen`: a load generator for WAMP routers (Junction, Crossbar.io, any
//! router speaking WAMP over WebSocket or RawSocket) and MQTT 3.1.1 brokers,
//! plus `baseline-server`, the do-nothing reference server.
//!
//! Thread-per-core: `--threads` glommio executors each run a slice of the
//! connections; results are merged at the end. Exit status: 0 for a clean run,
//! 3 for a run with loss, reordering, duplicates or errors, 1 when the run
//! could not be set up, 2 for bad arguments.
//!
//! It uses only `junction::proto` (codecs, messages, RawSocket framing) from
//! the router crate.

mod baseline;
mod clock;
mod fastpath;
mod mqtt;
mod multiproc;
mod net;
mod payload;
mod plot;
mod routerctl;
mod runner;
mod scenario;
mod stats;
mod tls;
mod tracker;
mod url;
mod wamp;
mod worker;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{ArgGroup, Args, Parser, Subcommand};
use junction::proto::Serializer;

use crate::scenario::Amount;
use crate::stats::Report;
use crate::url::Target;

#[derive(Debug, Parser)]
#[command(
    name = "loadgen",
    version,
    about = "Load generator for WAMP routers and MQTT brokers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// One publisher, N subscribers on one topic.
    Fanout(FanoutArgs),
    /// P publishers × S subscribers over T topics.
    Pubsub(PubsubArgs),
    /// C callers, K callees of `loadgen.echo`.
    Rpc(RpcArgs),
    /// N devices publishing telemetry, M dashboards, commands from a controller.
    Iot(IotArgs),
    /// Open many sessions and hold them.
    Connections(ConnectionsArgs),
    /// The do-nothing reference server (minimal WAMP, no routing work).
    BaselineServer(BaselineArgs),
    /// Draw a chart described in JSON (bars or lines, see src/plot.rs) as SVG.
    Plot(PlotArgs),
    /// Redraw the plots of a saved `--json` report (NAME.latency.svg,
    /// NAME.throughput.svg next to it).
    Replot {
        /// The report.
        report: PathBuf,
    },
}

/// `loadgen plot`.
#[derive(Debug, Args)]
struct PlotArgs {
    /// The chart: {"kind": "bars", "title", "y_label", "categories", "series":
    /// [{"name", "values"}], "log_y"} or {"kind": "lines", "title", "x_label",
    /// "y_label", "series": [{"name", "points": [[x, y], ...]}]}.
    spec: PathBuf,
    /// Where to write the SVG.
    out: PathBuf,
}

/// Options every scenario takes.
#[derive(Debug, Args)]
struct Common {
    /// ws://host:port/path, rs://host:port, unix:///path, ws+unix:///path, mqtt://host:port
    #[arg(long)]
    url: String,
    /// WAMP serializer: json, msgpack or cbor.
    #[arg(long, default_value = "json", value_parser = parse_serializer)]
    serializer: Serializer,
    /// WAMP realm.
    #[arg(long, default_value = "realm1")]
    realm: String,
    /// Executors (threads); default: all online CPUs.
    #[arg(long)]
    threads: Option<usize>,
    /// Write the results as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Router process to measure (CPU time from /proc/PID/stat, RSS).
    #[arg(long, value_name = "PID")]
    router_pid: Option<u32>,
    /// Junction's control socket: report the router's cross-shard messages
    /// (by kind) and wake-ups per delivery.
    #[arg(long, value_name = "PATH")]
    router_control: Option<PathBuf>,
    /// Run as this many worker processes, each an independent slice of the
    /// scenario (its share of every population, its own topic and procedure
    /// names; `iot`: its share of the devices and commands, all dashboards),
    /// measured together and merged (not for `connections`).
    #[arg(long, value_name = "K", default_value_t = 1)]
    procs: usize,
    /// CPUs for loadgen, e.g. 8-15 or 0,2,4-6: with --procs split into
    /// contiguous chunks, one per worker; else this process's.
    #[arg(long, value_name = "LIST", value_parser = multiproc::parse_cpu_list)]
    cpus: Option<multiproc::CpuList>,
    /// Internal: this process is worker I of K of a --procs run.
    #[arg(long, value_name = "I/K", hide = true, value_parser = multiproc::parse_worker)]
    worker: Option<multiproc::WorkerOf>,
    /// Seconds to wait for outstanding deliveries with no progress after the last send.
    #[arg(long, value_name = "SECS", default_value_t = 5.0)]
    drain: f64,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("amount").required(true).args(["messages", "duration"])))]
struct FanoutArgs {
    #[command(flatten)]
    common: Common,
    /// Subscribers.
    #[arg(long)]
    subscribers: usize,
    /// Application payload bytes per event.
    #[arg(long, default_value_t = 100)]
    payload: usize,
    /// Messages to publish.
    #[arg(long)]
    messages: Option<u64>,
    /// Seconds to publish for.
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,
    /// Messages per second (default: as fast as possible).
    #[arg(long, value_name = "MSGS_PER_SEC")]
    rate: Option<f64>,
    /// Topic.
    #[arg(long, default_value = "loadgen.fanout")]
    topic: String,
    /// Flow control: at most this many messages per publisher on their way to
    /// subscribers at once; 0 publishes as fast as possible and lets the router queue.
    #[arg(long, default_value_t = 100)]
    window: u64,
    /// MQTT QoS (0 or 1).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=1))]
    qos: u8,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("amount").required(true).args(["messages", "duration"])))]
struct PubsubArgs {
    #[command(flatten)]
    common: Common,
    /// Publishers.
    #[arg(long)]
    publishers: usize,
    /// Subscribers.
    #[arg(long)]
    subscribers: usize,
    /// Topics.
    #[arg(long)]
    topics: usize,
    /// Subscribe to wildcard patterns, one per topic group.
    #[arg(long)]
    wildcard: bool,
    /// Topic groups for --wildcard (topic k is in group k % G).
    #[arg(long, default_value_t = 1)]
    groups: usize,
    /// Application payload bytes per event.
    #[arg(long, default_value_t = 100)]
    payload: usize,
    /// Messages per publisher.
    #[arg(long)]
    messages: Option<u64>,
    /// Seconds to publish for.
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,
    /// Messages per second per publisher.
    #[arg(long)]
    rate: Option<f64>,
    /// Flow control: at most this many messages per publisher on their way to
    /// subscribers at once; 0 publishes as fast as possible and lets the router queue.
    #[arg(long, default_value_t = 100)]
    window: u64,
    /// MQTT QoS (0 or 1).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=1))]
    qos: u8,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("amount").required(true).args(["calls", "duration"])))]
struct RpcArgs {
    #[command(flatten)]
    common: Common,
    /// Callers.
    #[arg(long)]
    callers: usize,
    /// Callees (more than one: shared registration, invoke roundrobin).
    #[arg(long)]
    callees: usize,
    /// Calls in flight per caller.
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// Application payload bytes per call.
    #[arg(long, default_value_t = 100)]
    payload: usize,
    /// Calls per caller.
    #[arg(long)]
    calls: Option<u64>,
    /// Seconds to call for.
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,
    /// Calls per second per caller.
    #[arg(long)]
    rate: Option<f64>,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("amount").required(true).args(["messages", "duration"])))]
struct IotArgs {
    #[command(flatten)]
    common: Common,
    /// Devices: each a session publishing to `devices.<n>.telemetry`.
    #[arg(long)]
    devices: usize,
    /// Messages per second per device.
    #[arg(long, default_value_t = 1.0)]
    rate: f64,
    /// Dashboards: sessions subscribed to every device's telemetry.
    #[arg(long, default_value_t = 1)]
    dashboards: usize,
    /// How dashboards subscribe: `prefix` (`devices.`, MQTT `devices/#`) or
    /// `wildcard` (`devices..telemetry`, MQTT `devices/+/telemetry`).
    #[arg(long, value_enum, default_value = "prefix")]
    subscribe: SubscribeBy,
    /// Commands per second from the controller to the devices in turn
    /// (WAMP: calls of `devices.<n>.command`; MQTT: `devices/<n>/command`
    /// answered on `devices/<n>/reply`); 0: no controller.
    #[arg(long, value_name = "PER_SEC", default_value_t = 10.0)]
    commands: f64,
    /// Application payload bytes per message.
    #[arg(long, default_value_t = 100)]
    payload: usize,
    /// Messages per device.
    #[arg(long)]
    messages: Option<u64>,
    /// Seconds to publish for.
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,
    /// MQTT QoS of the telemetry (0 or 1).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=1))]
    qos: u8,
}

/// How `iot` dashboards subscribe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum SubscribeBy {
    /// By prefix.
    Prefix,
    /// By wildcard.
    Wildcard,
}

#[derive(Debug, Args)]
struct ConnectionsArgs {
    #[command(flatten)]
    common: Common,
    /// Sessions to open.
    #[arg(long)]
    sessions: usize,
    /// Sessions opened per second.
    #[arg(long, value_name = "PER_SEC", default_value_t = 5000.0)]
    ramp: f64,
    /// Seconds to hold the sessions open.
    #[arg(long, value_name = "SECS", default_value_t = 5.0)]
    hold: f64,
    /// Source addresses for TCP connections, e.g. 127.0.0.1-127.0.0.20.
    #[arg(long)]
    source_ips: Option<String>,
}

#[derive(Debug, Args)]
struct BaselineArgs {
    /// Address to listen on (port 0: a free port, printed as `listening on ADDR`).
    #[arg(long, value_name = "HOST:PORT")]
    listen: std::net::SocketAddr,
    /// Transport.
    #[arg(long, value_enum, default_value = "rs")]
    transport: baseline::Transport,
    /// Accept only this serializer (default: any).
    #[arg(long, value_parser = parse_serializer)]
    serializer: Option<Serializer>,
    /// Test only: drop every N-th publication.
    #[arg(long, value_name = "N")]
    drop_every: Option<u64>,
    /// Test only: deliver every N-th publication after the next one.
    #[arg(long, value_name = "N")]
    swap_every: Option<u64>,
}

fn parse_serializer(s: &str) -> Result<Serializer, String> {
    Serializer::from_name(s)
        .ok_or_else(|| format!("unknown serializer {s:?} (json, msgpack, cbor)"))
}

fn amount(count: Option<u64>, secs: Option<f64>) -> anyhow::Result<Amount> {
    match (count, secs) {
        (Some(n), None) => Ok(Amount::Count(n)),
        (None, Some(s)) if s > 0.0 => Ok(Amount::Seconds(s)),
        _ => bail!("give either a count or a positive --duration"),
    }
}

fn check_rate(rate: Option<f64>) -> anyhow::Result<()> {
    if rate.is_some_and(|r| r <= 0.0 || !r.is_finite()) {
        bail!("--rate must be positive");
    }
    Ok(())
}

impl Common {
    fn target(&self) -> anyhow::Result<Target> {
        Target::parse(&self.url)
    }
    fn threads(&self) -> usize {
        self.threads.unwrap_or_else(runner::online_cpus).max(1)
    }
    fn drain(&self) -> Duration {
        Duration::from_secs_f64(self.drain.max(0.0))
    }
    /// The prefix of this process's topics and procedures (a worker of
    /// `--procs`: `w<i>.`).
    fn namespace(&self) -> String {
        self.worker
            .map(multiproc::WorkerOf::namespace)
            .unwrap_or_default()
    }
}

fn main() -> ExitCode {
    clock::init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("loadgen: error: {e:#}");
            ExitCode::from(1)
        }
    }
}

impl Command {
    /// A `--procs` worker's slice: its share of every population.
    ///
    /// # Errors
    /// A population too small to give this worker one of each.
    fn slice(&mut self, w: multiproc::WorkerOf) -> anyhow::Result<()> {
        let least = |what: &str, n: usize| {
            if n == 0 {
                bail!(
                    "--procs {}: worker {} gets no {what} (give at least one per worker)",
                    w.of,
                    w.index
                );
            }
            Ok(())
        };
        match self {
            Command::Fanout(a) => a.subscribers = w.share(a.subscribers),
            Command::Pubsub(a) => {
                a.publishers = w.share(a.publishers);
                a.subscribers = w.share(a.subscribers);
                a.topics = w.share(a.topics);
                a.groups = a.groups.min(a.topics).max(1);
            }
            Command::Rpc(a) => {
                a.callers = w.share(a.callers);
                a.callees = w.share(a.callees);
            }
            Command::Iot(a) => {
                // Every worker keeps all dashboards (each hears its own
                // devices): deliveries per message and in all stay those
                // of one process.
                a.devices = w.share(a.devices);
                a.commands /= w.of as f64;
            }
            Command::Connections(a) => a.sessions = w.share(a.sessions),
            Command::BaselineServer(_) | Command::Plot(_) | Command::Replot { .. } => {}
        }
        match self {
            Command::Fanout(a) => least("subscribers", a.subscribers),
            Command::Pubsub(a) => {
                least("publishers", a.publishers)?;
                least("subscribers", a.subscribers)?;
                least("topics", a.topics)
            }
            Command::Rpc(a) => {
                least("callers", a.callers)?;
                least("callees", a.callees)
            }
            Command::Iot(a) => {
                least("devices", a.devices)?;
                least("dashboards", a.dashboards)
            }
            _ => Ok(()),
        }
    }

    /// The options every scenario takes, for scenarios.
    fn common(&self) -> Option<&Common> {
        match self {
            Command::Fanout(a) => Some(&a.common),
            Command::Pubsub(a) => Some(&a.common),
            Command::Rpc(a) => Some(&a.common),
            Command::Iot(a) => Some(&a.common),
            Command::Connections(a) => Some(&a.common),
            Command::BaselineServer(_) | Command::Plot(_) | Command::Replot { .. } => None,
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    net::raise_nofile();
    let mut cli = cli;
    if let Some(c) = cli.command.common() {
        if let Some(path) = c.router_control.clone() {
            routerctl::set_control(path);
        }
        if c.procs > 1 {
            if matches!(cli.command, Command::Connections(_)) {
                bail!("--procs is not supported for connections");
            }
            if c.worker.is_some() {
                bail!("a worker cannot have workers");
            }
            let json = c.json.clone();
            let mut report =
                multiproc::run_parent(c.procs, c.cpus.as_ref().map(|l| &l.0[..]), c.router_pid)?;
            return finish(&mut report, json.as_deref());
        }
        if c.procs == 0 {
            bail!("--procs must be at least 1");
        }
        if let Some(cpus) = &c.cpus {
            multiproc::pin(&cpus.0)?;
        }
        if let Some(w) = c.worker {
            worker::set_worker();
            cli.command.slice(w)?;
        }
    }
    let (mut report, json) = match cli.command {
        Command::Replot { report } => {
            let text = std::fs::read_to_string(&report)
                .with_context(|| format!("reading {}", report.display()))?;
            let value: serde_json::Value = serde_json::from_str(&text)?;
            for svg in stats::write_svgs(&value, &report)? {
                eprintln!("loadgen: wrote {}", svg.display());
            }
            return Ok(ExitCode::SUCCESS);
        }
        Command::Plot(a) => {
            let text = std::fs::read_to_string(&a.spec)
                .with_context(|| format!("reading {}", a.spec.display()))?;
            let spec: plot::Spec = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a chart spec", a.spec.display()))?;
            std::fs::write(&a.out, spec.render())
                .with_context(|| format!("writing {}", a.out.display()))?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::BaselineServer(a) => {
            baseline::run(baseline::BaselineOpts {
                listen: a.listen,
                transport: a.transport,
                serializer: a.serializer,
                drop_every: a.drop_every,
                swap_every: a.swap_every,
            })?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Fanout(a) => {
            check_rate(a.rate)?;
            let c = &a.common;
            let p = scenario::pubsub::PubSubParams {
                target: c.target()?,
                ser: c.serializer,
                realm: c.realm.clone(),
                payload: a.payload,
                amount: amount(a.messages, a.duration)?,
                rate: a.rate,
                window: a.window,
                qos: a.qos,
                publishers: 1,
                subscribers: a.subscribers,
                topics: 1,
                wildcard: false,
                groups: 1,
                fanout_topic: Some(a.topic.clone()),
                threads: c.threads(),
                drain: c.drain(),
                router_pid: c.router_pid,
                iot: None,
                namespace: c.namespace(),
            };
            (scenario::pubsub::run(p, &c.url)?, c.json.clone())
        }
        Command::Pubsub(a) => {
            check_rate(a.rate)?;
            let c = &a.common;
            if a.publishers == 0 {
                bail!("--publishers must be at least 1");
            }
            let p = scenario::pubsub::PubSubParams {
                target: c.target()?,
                ser: c.serializer,
                realm: c.realm.clone(),
                payload: a.payload,
                amount: amount(a.messages, a.duration)?,
                rate: a.rate,
                window: a.window,
                qos: a.qos,
                publishers: a.publishers,
                subscribers: a.subscribers,
                topics: a.topics,
                wildcard: a.wildcard,
                groups: a.groups,
                fanout_topic: None,
                threads: c.threads(),
                drain: c.drain(),
                router_pid: c.router_pid,
                iot: None,
                namespace: c.namespace(),
            };
            (scenario::pubsub::run(p, &c.url)?, c.json.clone())
        }
        Command::Iot(a) => {
            check_rate(Some(a.rate))?;
            if a.commands < 0.0 || !a.commands.is_finite() {
                bail!("--commands must be 0 or more");
            }
            let c = &a.common;
            if a.devices == 0 || a.dashboards == 0 {
                bail!("--devices and --dashboards must be at least 1");
            }
            let p = scenario::pubsub::PubSubParams {
                target: c.target()?,
                ser: c.serializer,
                realm: c.realm.clone(),
                payload: a.payload,
                amount: amount(a.messages, a.duration)?,
                rate: Some(a.rate),
                // Paced devices: no flow-control window.
                window: 0,
                qos: a.qos,
                publishers: a.devices,
                subscribers: a.dashboards,
                topics: a.devices,
                wildcard: false,
                groups: 1,
                fanout_topic: None,
                threads: c.threads(),
                drain: c.drain(),
                router_pid: c.router_pid,
                iot: Some(scenario::iot::Iot {
                    prefix: a.subscribe == SubscribeBy::Prefix,
                    commands: (a.commands > 0.0).then_some(a.commands),
                }),
                namespace: c.namespace(),
            };
            (scenario::pubsub::run(p, &c.url)?, c.json.clone())
        }
        Command::Rpc(a) => {
            check_rate(a.rate)?;
            let c = &a.common;
            let target = c.target()?;
            if target.is_mqtt() {
                bail!("rpc needs a WAMP router, not MQTT");
            }
            let p = scenario::rpc::RpcParams {
                target,
                ser: c.serializer,
                realm: c.realm.clone(),
                payload: a.payload,
                amount: amount(a.calls, a.duration)?,
                rate: a.rate,
                callers: a.callers,
                callees: a.callees,
                concurrency: a.concurrency,
                threads: c.threads(),
                drain: c.drain(),
                router_pid: c.router_pid,
                procedure: format!("{}{}", c.namespace(), scenario::rpc::PROCEDURE),
            };
            (scenario::rpc::run(p, &c.url)?, c.json.clone())
        }
        Command::Connections(a) => {
            let c = &a.common;
            let source_ips = match &a.source_ips {
                Some(s) => scenario::connections::parse_ips(s)?,
                None => Vec::new(),
            };
            let p = scenario::connections::ConnParams {
                target: c.target()?,
                ser: c.serializer,
                realm: c.realm.clone(),
                sessions: a.sessions,
                ramp: a.ramp,
                hold: a.hold,
                source_ips,
                threads: c.threads(),
                router_pid: c.router_pid,
            };
            (scenario::connections::run(p, &c.url)?, c.json.clone())
        }
    };
    finish(&mut report, json.as_deref())
}

fn finish(report: &mut Report, json: Option<&std::path::Path>) -> anyhow::Result<ExitCode> {
    if let (Some(cpu), true) = (report.cpu.router_cpu_s, report.delivered > 0) {
        let us = (cpu * 1e6 / report.delivered as f64 * 1000.0).round() / 1000.0;
        report
            .extra
            .insert("router_us_per_delivery".into(), us.into());
    }
    if let Some(mesh) = &report.cpu.router_mesh {
        let figures = mesh.per_delivery(report.delivered);
        report.extra.extend(figures);
    }
    report.print();
    if let Some(path) = json {
        report
            .write_json(path)
            .with_context(|| format!("writing {}", path.display()))?;
        if worker::is_worker() {
            return Ok(ExitCode::SUCCESS);
        }
        for svg in report
            .write_svgs(path)
            .with_context(|| format!("writing the plots next to {}", path.display()))?
        {
            eprintln!("loadgen: wrote {}", svg.display());
        }
    }
    Ok(if report.clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("loadgen").chain(args.iter().copied()))
    }

    #[test]
    fn iot_and_worker_options_parse() {
        let cli = parse(&[
            "iot",
            "--url",
            "mqtt://127.0.0.1:1883",
            "--devices",
            "10000",
            "--dashboards",
            "3",
            "--subscribe",
            "wildcard",
            "--commands",
            "50",
            "--duration",
            "10",
            "--procs",
            "4",
            "--cpus",
            "8-15",
        ])
        .expect("parses");
        let Command::Iot(a) = &cli.command else {
            panic!("not iot: {cli:?}");
        };
        assert_eq!((a.devices, a.dashboards, a.rate), (10_000, 3, 1.0));
        assert_eq!(a.subscribe, SubscribeBy::Wildcard);
        assert_eq!(a.common.procs, 4);
        assert_eq!(a.common.cpus, Some(multiproc::CpuList((8..=15).collect())));
        assert!(a.common.worker.is_none());
        // Defaults: prefix subscriptions, 10 commands/s, one process.
        let cli = parse(&[
            "iot",
            "--url",
            "ws://h/ws",
            "--devices",
            "5",
            "--messages",
            "3",
        ])
        .expect("parses");
        let Command::Iot(a) = &cli.command else {
            panic!("not iot");
        };
        assert_eq!(
            (a.subscribe, a.commands, a.common.procs),
            (SubscribeBy::Prefix, 10.0, 1)
        );
        // Refused: no amount, a bad CPU list, a bad worker.
        assert!(parse(&["iot", "--url", "ws://h/ws", "--devices", "5"]).is_err());
        assert!(
            parse(&[
                "rpc",
                "--url",
                "u",
                "--callers",
                "1",
                "--callees",
                "1",
                "--calls",
                "1",
                "--cpus",
                "3-1"
            ])
            .is_err()
        );
        assert!(
            parse(&[
                "rpc",
                "--url",
                "u",
                "--callers",
                "1",
                "--callees",
                "1",
                "--calls",
                "1",
                "--worker",
                "2/2"
            ])
            .is_err()
        );
    }

    #[test]
    fn workers_take_their_share_and_refuse_an_empty_one() {
        let mut cli = parse(&[
            "pubsub",
            "--url",
            "u",
            "--publishers",
            "5",
            "--subscribers",
            "10",
            "--topics",
            "3",
            "--wildcard",
            "--groups",
            "3",
            "--messages",
            "1",
        ])
        .expect("parses");
        cli.command
            .slice(multiproc::WorkerOf { index: 2, of: 3 })
            .expect("slice");
        let Command::Pubsub(a) = &cli.command else {
            panic!("not pubsub");
        };
        assert_eq!(
            (a.publishers, a.subscribers, a.topics, a.groups),
            (1, 3, 1, 1)
        );
        let mut cli = parse(&[
            "rpc",
            "--url",
            "u",
            "--callers",
            "8",
            "--callees",
            "1",
            "--calls",
            "1",
        ])
        .expect("parses");
        let e = cli
            .command
            .slice(multiproc::WorkerOf { index: 1, of: 2 })
            .expect_err("no callee for worker 1");
        assert!(e.to_string().contains("no callees"), "{e}");
        let mut cli = parse(&[
            "iot",
            "--url",
            "u",
            "--devices",
            "10",
            "--dashboards",
            "2",
            "--commands",
            "20",
            "--messages",
            "1",
        ])
        .expect("parses");
        cli.command
            .slice(multiproc::WorkerOf { index: 0, of: 2 })
            .expect("slice");
        let Command::Iot(a) = &cli.command else {
            panic!("not iot");
        };
        assert_eq!((a.devices, a.dashboards, a.commands), (5, 2, 10.0));
    }
}
