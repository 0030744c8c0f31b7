//! The `junction` binary: `start` runs the router, `check` validates a config
//! file, `init` creates a node directory, `status` and `reload` talk to a
//! running node over its control socket, `version` prints the version.
//! Everything else lives in the library.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use junction::config::node_dir::{self, ConfigSource};
use junction::config::{Config, ConfigError, ConfigIssue};
use junction::node::control::{self, Request, Response};
use junction::node::{Exit, NodeError, NodeSpec};
use junction::shard::RunError;
use tracing_subscriber::EnvFilter;

/// mimalloc, unless built with `--no-default-features` (the system allocator,
/// for heap profilers such as heaptrack that hook `malloc`).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's option `arena_eager_commit` (`mi_option_t` in `mimalloc.h`).
#[cfg(all(feature = "mimalloc", target_os = "linux"))]
const MI_OPTION_ARENA_EAGER_COMMIT: std::ffi::c_int = 4;

#[cfg(all(feature = "mimalloc", target_os = "linux"))]
unsafe extern "C" {
    /// Sets an option (part of mimalloc's API, linked in with the
    /// allocator; the `mimalloc` crate declares it only with its `extended`
    /// feature). mimalloc reads its `MIMALLOC_*` environment variables when
    /// the process starts, before `main`.
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}

/// [`allocator_settings`] runs as the executable's constructor: Rust's
/// runtime allocates before `main` (and mimalloc reserves its first arena
/// then), so `main` would be too late.
#[cfg(all(feature = "mimalloc", target_os = "linux"))]
#[used]
#[unsafe(link_section = ".init_array")]
static ALLOCATOR_SETTINGS: extern "C" fn() = allocator_settings;

/// mimalloc's settings, before the first allocation: its arenas are
/// committed as they are used, not all at once (by default they are on
/// Linux, which overcommits). Held connections cost less resident memory
/// that way, most with several shards (BENCHMARKS.md, "Memory per session:
/// the core link, keep-alive and the allocator"): 2 shards, 10,000 idle MQTT
/// connections, 2.6–3.0 KiB → 2.0 KiB each. The environment variable
/// `MIMALLOC_ARENA_EAGER_COMMIT`, when set, still decides.
#[cfg(all(feature = "mimalloc", target_os = "linux"))]
extern "C" fn allocator_settings() {
    if std::env::var_os("MIMALLOC_ARENA_EAGER_COMMIT").is_none() {
        // SAFETY: a plain setter of mimalloc's (`mimalloc.h`), called
        // before any thread starts (and before any allocation: the
        // variable's name fits `var_os`'s stack buffer, and nothing is
        // allocated unless it is set); option 4 is
        // `mi_option_arena_eager_commit` in the mimalloc bundled by
        // libmimalloc-sys 0.1 (v2 and v3 alike).
        unsafe {
            mi_option_set(MI_OPTION_ARENA_EAGER_COMMIT, 0);
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// Human-readable lines (colours on a terminal).
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `fields`
    /// (with `message`), and the span, if any.
    Json,
}

/// Exit status when a second SIGTERM/SIGINT cut a graceful shutdown short.
const EXIT_FORCED: u8 = 1;

/// How long `junction status` and `junction reload` wait for the node.
const CONTROL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(70);

/// Exit status for a config that does not load.
const EXIT_BAD_CONFIG: u8 = 2;

/// Junction: a WAMP v2 router that reads Crossbar.io node configs.
#[derive(Debug, Parser)]
#[command(name = "junction", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the router.
    Start {
        #[command(flatten)]
        config: ConfigArgs,
        /// Number of shards (one thread per core); overrides the config's `junction.shards`.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
        shards: Option<u16>,
        /// Log filter, RUST_LOG syntax: a level (`info`, `debug`) and/or
        /// per-module levels (`info,junction::core=debug,junction::transport=trace`);
        /// overrides RUST_LOG.
        #[arg(long, value_name = "FILTER")]
        log_level: Option<String>,
        /// Log line format on stderr: `text` (the default) or `json` (one
        /// JSON object per line, for log shippers).
        #[arg(long, value_name = "FORMAT", default_value = "text")]
        log_format: LogFormat,
    },
    /// Load and validate a config file, print its warnings, and exit
    /// (0: valid, 2: invalid). Also loads what `start` would refuse to run
    /// without (TLS keys and certificates, static `package` sources, guest
    /// executables), unless --config-only.
    Check {
        #[command(flatten)]
        config: ConfigArgs,
        /// Check the config alone, as `crossbar check` does: not the files
        /// and programs it names (e.g. in CI, away from the certificates).
        #[arg(long)]
        config_only: bool,
    },
    /// Create a node in a directory, as `crossbar init` does:
    /// `.crossbar/config.json` (the embedded default plus a static web root)
    /// and `web/index.html`. Refuses to overwrite an existing config.
    Init {
        /// The application directory (created if missing).
        #[arg(long, value_name = "DIR", default_value = ".")]
        appdir: PathBuf,
    },
    /// Ask a running node for its status: version, uptime, config, shards,
    /// listeners, sessions per realm and transport (exit 1: no node answers).
    Status {
        /// Print JSON instead of tables.
        #[arg(long, conflicts_with = "metrics")]
        json: bool,
        /// Print the metrics in the Prometheus text format instead.
        #[arg(long)]
        metrics: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Have a running node re-read its config file and apply it; a config
    /// that fails `check` is refused and the running one stays (exit 1).
    Reload {
        #[command(flatten)]
        target: Target,
    },
    /// Print the version.
    Version,
}

/// Which config file a command reads.
#[derive(Debug, clap::Args)]
struct ConfigArgs {
    /// Crossbar-format node config (.json, .yaml, .yml); relative to --cbdir
    /// when both are given. Without --config and --cbdir: .crossbar/config.json
    /// (or .yaml, .yml) in the working directory if present, else (`start`) the
    /// embedded default (realm1, ws://127.0.0.1:8080/ws, rawsocket
    /// 127.0.0.1:8081, MQTT 127.0.0.1:1883); `check` then needs one.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The node directory (Crossbar's --cbdir; default $CROSSBAR_DIR): its
    /// config.json, config.yaml or config.yml is read.
    #[arg(long, value_name = "DIR")]
    cbdir: Option<PathBuf>,
}

impl ConfigArgs {
    /// The config this command reads, or why none can be chosen.
    fn source(&self) -> Result<ConfigSource, String> {
        let env = std::env::var_os(node_dir::CBDIR_ENV).map(PathBuf::from);
        let cwd = std::env::current_dir().map_err(|e| format!("working directory: {e}"))?;
        node_dir::locate(
            self.config.as_deref(),
            self.cbdir.as_deref(),
            env.as_deref(),
            &cwd,
        )
        .map_err(|e| {
            let node_dir::LocateError::NoConfigIn(dir) = &e;
            // `junction init --appdir D` makes D/.crossbar: a common slip is
            // to pass D itself.
            let inner = dir.join(node_dir::DEFAULT_CBDIR);
            let there = ["config.json", "config.yaml", "config.yml"]
                .iter()
                .any(|name| inner.join(name).is_file());
            if there {
                format!("{e}: did you mean --cbdir {}?", inner.display())
            } else {
                format!("{e}: pass --config FILE, or a --cbdir DIR that has one")
            }
        })
    }
}

/// Which running node to talk to.
#[derive(Debug, clap::Args)]
struct Target {
    /// The node's control socket (default: `junction.control_socket` of
    /// the node's config, else junction.sock in $RUNTIME_DIRECTORY, $XDG_RUNTIME_DIR/junction
    /// or /tmp/junction-<uid>, else /run/junction/junction.sock).
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// The node's config, to find its control socket (as for `start`).
    #[command(flatten)]
    config: ConfigArgs,
}

impl Target {
    /// The socket path, or why it cannot be known.
    fn socket(&self) -> Result<PathBuf, String> {
        if let Some(s) = &self.socket {
            return Ok(s.clone());
        }
        let configured = match self.config.source()? {
            ConfigSource::File(path) => {
                Config::from_file(&path)
                    .map_err(|e| format!("{}: {e}", path.display()))?
                    .node
                    .control_socket
            }
            ConfigSource::EmbeddedDefault => None,
        };
        let path = control::socket_path(configured.as_deref());
        // The unit file's socket, for an administrator whose own runtime
        // directory has none.
        let system = std::path::Path::new(control::SYSTEM_SOCKET);
        if configured.is_none() && !path.exists() && system.exists() {
            return Ok(system.to_owned());
        }
        Ok(path)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Version => {
            println!("junction {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Check {
            config,
            config_only,
        } => match config.source() {
            Ok(ConfigSource::File(path)) => check(&path, !config_only),
            Ok(ConfigSource::EmbeddedDefault) => {
                eprintln!(
                    "error: no config to check: pass --config FILE or --cbdir DIR \
                     (no .crossbar/config.json, .yaml or .yml here)"
                );
                ExitCode::from(EXIT_BAD_CONFIG)
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(EXIT_BAD_CONFIG)
            }
        },
        Command::Init { appdir } => init(&appdir),
        Command::Status {
            json,
            metrics,
            target,
        } => status(&target, json, metrics),
        Command::Reload { target } => reload(&target),
        Command::Start {
            config,
            shards,
            log_level,
            log_format,
        } => {
            if let Err(e) = init_logging(log_level.as_deref(), log_format) {
                eprintln!("error: {}", error_line(&e));
                return ExitCode::from(EXIT_BAD_CONFIG);
            }
            let (loaded, path) = match config.source() {
                Ok(ConfigSource::File(path)) => {
                    let Some(loaded) = load(&path) else {
                        return ExitCode::from(EXIT_BAD_CONFIG);
                    };
                    tracing::info!(path = %path.display(), "config file");
                    (loaded, Some(std::path::absolute(&path).unwrap_or(path)))
                }
                Ok(ConfigSource::EmbeddedDefault) => {
                    tracing::info!("no config file: the embedded default");
                    (Config::embedded_default(), None)
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(EXIT_BAD_CONFIG);
                }
            };
            match start(loaded, path, shards.map(usize::from)) {
                Ok(Exit::Clean) => ExitCode::SUCCESS,
                Ok(Exit::Forced) => ExitCode::from(EXIT_FORCED),
                // As Crossbar's node, whose shutdown a worker's end
                // triggered.
                Ok(Exit::WorkerEnded) => ExitCode::FAILURE,
                Err(e) => {
                    eprintln!("error: {}", error_line(&e));
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// One line for `e` and its causes: each cause's text once (an error whose
/// message already quotes its source does not repeat it), then, for the
/// common mistakes, what to do.
fn error_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    let run = e.chain().find_map(|c| {
        c.downcast_ref::<RunError>()
            .or(match c.downcast_ref::<NodeError>() {
                Some(NodeError::Run(r)) => Some(r),
                _ => None,
            })
    });
    if let Some(hint) = run.and_then(junction::node::run_error_hint) {
        line.push_str(": ");
        line.push_str(&hint);
    }
    line
}

/// `junction check`: prints warnings and "config OK", or every error;
/// `files`: also what `start` loads before it binds.
fn check(path: &Path, files: bool) -> ExitCode {
    match load(path) {
        Some(config) => {
            // What `start` refuses before binding (keys and certificates,
            // static packages, web paths, workers' executables): a config
            // `check` calls valid starts, a port in use aside.
            let mut failed = Vec::new();
            if files {
                if let Err(e) = junction::shard::preflight(&config) {
                    failed.push(e.to_string());
                }
                failed.extend(junction::node::workers::missing_executables(&config));
            }
            if !failed.is_empty() {
                for line in &failed {
                    eprintln!("error: {line}");
                }
                eprintln!(
                    "{}: the config is valid, but `junction start` would refuse it on this \
                     machine; pass --config-only to check the config alone",
                    path.display()
                );
                return ExitCode::from(EXIT_BAD_CONFIG);
            }
            println!(
                "config OK: {} realm(s), {} transport(s)",
                config.realms.len(),
                config.transports.len()
            );
            ExitCode::SUCCESS
        }
        None => ExitCode::from(EXIT_BAD_CONFIG),
    }
}

/// `junction init`: creates the node directory and says how to start it.
fn init(appdir: &Path) -> ExitCode {
    match node_dir::init(appdir) {
        Ok(report) => {
            for path in &report.created {
                println!("created {}", path.display());
            }
            println!(
                "start the node with: junction start --cbdir {}",
                report.cbdir.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Loads `path`, printing warnings, or every error, to stderr. A config
/// that loads but uses features the runtime does not have yet
/// ([`Config::unsupported`]) is an error too, one line per feature.
fn load(path: &Path) -> Option<Config> {
    match Config::from_file(path) {
        Ok(config) => {
            for w in &config.warnings {
                eprintln!("warning: {w}");
            }
            let unsupported = config.unsupported();
            if unsupported.is_empty() {
                Some(config)
            } else {
                report(path, &unsupported);
                None
            }
        }
        Err(ConfigError::Invalid(issues)) => {
            report(path, &issues);
            None
        }
        // The parser's line and column, with the file they are in.
        Err(e @ ConfigError::Syntax { .. }) => {
            eprintln!("error: {}: {e}", path.display());
            None
        }
        Err(e @ ConfigError::Read { .. }) if !path.exists() => {
            eprintln!(
                "error: {e}: give --config an existing file (a relative path is \
                 relative to --cbdir or $CROSSBAR_DIR when set, else to the working directory)"
            );
            None
        }
        Err(e) => {
            eprintln!("error: {e}");
            None
        }
    }
}

/// Prints each issue and the count.
fn report(path: &Path, issues: &[ConfigIssue]) {
    for issue in issues {
        eprintln!("error: {issue}");
    }
    eprintln!(
        "{}: {} error(s); see docs/config.md for the supported keys",
        path.display(),
        issues.len()
    );
}

/// Installs the log subscriber: `filter` (else RUST_LOG, else `info`) in
/// `format`, on stderr.
fn init_logging(filter: Option<&str>, format: LogFormat) -> anyhow::Result<()> {
    let filter = match filter {
        Some(f) => EnvFilter::try_new(f).with_context(|| format!("invalid --log-level {f:?}"))?,
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    // A log line that cannot be written (stderr closed: a pipe whose reader
    // went away) is dropped: the subscriber would otherwise report it with
    // `eprintln!`, which panics on the same closed stderr.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .log_internal_errors(false);
    match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => builder.json().with_current_span(false).init(),
    }
    Ok(())
}

/// `junction status`: prints the node's status (tables, JSON) or metrics.
fn status(target: &Target, json: bool, metrics: bool) -> ExitCode {
    let request = if metrics {
        Request::Metrics
    } else {
        Request::Status
    };
    let Some(r) = ask(target, request) else {
        return ExitCode::FAILURE;
    };
    if !r.ok {
        for e in &r.errors {
            eprintln!("error: {e}");
        }
        return ExitCode::FAILURE;
    }
    if metrics {
        print!("{}", r.text.unwrap_or_default());
        return ExitCode::SUCCESS;
    }
    let Some(s) = r.status else {
        eprintln!("error: the node sent no status");
        return ExitCode::FAILURE;
    };
    if json {
        match serde_json::to_string_pretty(&s) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        print!("{}", s.to_table());
    }
    ExitCode::SUCCESS
}

/// `junction reload`: prints what changed, or why the config was refused.
fn reload(target: &Target) -> ExitCode {
    let Some(r) = ask(target, Request::Reload) else {
        return ExitCode::FAILURE;
    };
    for w in &r.warnings {
        eprintln!("warning: {w}");
    }
    for e in &r.errors {
        eprintln!("error: {e}");
    }
    if r.ok {
        println!(
            "reloaded: {}",
            r.text.as_deref().unwrap_or("no change reported")
        );
        ExitCode::SUCCESS
    } else if let Some(changes) = &r.text {
        // Shard 0 applied it, a later shard did not: they now disagree.
        eprintln!(
            "the configuration was reloaded on some shards only ({changes}): restart the router so that every shard runs the same one"
        );
        ExitCode::FAILURE
    } else {
        eprintln!("the configuration was not reloaded; the running one stays");
        ExitCode::FAILURE
    }
}

/// Sends `request` to the node `target` names; prints why not on failure.
fn ask(target: &Target, request: Request) -> Option<Response> {
    let socket = match target.socket() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return None;
        }
    };
    match control::request(&socket, request, CONTROL_TIMEOUT) {
        Ok(r) => Some(r),
        Err(e) => {
            eprintln!("error: {e}");
            None
        }
    }
}

/// `junction start` after the config loaded.
fn start(config: Config, path: Option<PathBuf>, shards: Option<usize>) -> anyhow::Result<Exit> {
    raise_open_files_limit();
    let shards = junction::shard::shard_count(shards, &config).context("invalid shard count")?;
    tracing::info!(
        realms = config.realms.len(),
        transports = config.transports.len(),
        shards,
        "starting junction {}",
        env!("CARGO_PKG_VERSION")
    );
    let exit = junction::node::run(NodeSpec {
        config,
        config_path: path,
        shards: Some(shards),
    })?;
    Ok(exit)
}

/// Raises the soft limit on open files to the hard limit: every session holds a
/// socket, and the usual soft default (1024) would cap the router far below
/// what the machine allows. Logs the limit in force.
fn raise_open_files_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim = raised;
            }
        }
    }
    tracing::info!(
        open_files = lim.rlim_cur,
        "open files limit (bounds the number of sessions)"
    );
}
