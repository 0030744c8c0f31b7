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
mod net;
mod payload;
mod plot;
mod runner;
mod scenario;
mod stats;
mod tls;
mod tracker;
mod url;
mod wamp;

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

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    net::raise_nofile();
    let (report, json) = match cli.command {
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
    finish(&report, json.as_deref())
}

fn finish(report: &Report, json: Option<&std::path::Path>) -> anyhow::Result<ExitCode> {
    report.print();
    if let Some(path) = json {
        report
            .write_json(path)
            .with_context(|| format!("writing {}", path.display()))?;
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
