//! The process around the shards: start them, then run the node's loop
//! until they have stopped. The loop takes, one at a time:
//!
//! - signals (`signals.rs`): SIGTERM or SIGINT starts a graceful drain
//!   (stop accepting, GOODBYE to every session, up to
//!   `junction.shutdown_timeout` for the clients to leave, then exit 0); a
//!   second one exits at once ([`Exit::Forced`]). SIGHUP reloads;
//! - requests from the control socket (`control.rs`): `status`
//!   (`status.rs`), `metrics` (the Prometheus text), `reload` (`reload.rs`);
//! - the watchdog's ticks (`notify.rs`): systemd's `WATCHDOG=1`, sent only
//!   while every shard answers its liveness check;
//! - a container worker's end (`workers/`): `controller.options.shutdown`
//!   may start the same drain as a signal (Crossbar's default does), and
//!   the node then exits with [`Exit::WorkerEnded`];
//! - the shards' end.
//!
//! The control socket is bound before the listeners (a script may wait for
//! either), and a node whose socket path another node owns stops
//! there with [`NodeError::Control`]. systemd is told `READY=1` once the
//! socket and every listener of every shard are up,
//! `RELOADING=1`/`READY=1` around a reload and `STOPPING=1` at a drain.
//!
//! Guest workers (`workers/`) start once every listener is up, on the
//! supervisor's own thread; a drain stops them (SIGTERM, then SIGKILL after
//! their stop timeout) while the sessions leave, and the node waits for
//! them before it returns. The router's Python components run in one such
//! worker; their private listener is added to the config before the shards
//! start and at each reload (`workers/router_components.rs`).
//!
//! The start, with router components: Crossbar starts a router's
//! components before its transports, so a client never finds their
//! procedures (a dynamic authenticator's, say) missing. Junction's run in
//! a Python process that needs a moment to start, so the node starts the
//! shards with every listener bound but only the components' private one
//! accepting ([`Opening::Held`]): clients connect and wait in the kernel's
//! backlog. It starts the components' host alone, and once the host says
//! every component has joined (its ready file), the host has exited, or
//! `junction.components_timeout` has passed, it opens the listeners
//! ([`RouterControl::open`]), starts the other guests and tells systemd
//! `READY=1`. A signal in the meantime drains as usual. The cluster
//! link will live here too. It may use
//! every layer below it (`shard`, `config`); no layer below imports it.

pub mod control;
pub mod notify;
mod reload;
mod signals;
pub mod status;
pub mod workers;

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use self::control::{ControlError, Request, Response};
use self::notify::{Notifier, Watchdog};
use self::status::{NodeFacts, Reloads, Status};
use self::workers::Supervisor;
use crate::config::{Config, WorkerExitShutdown};
use crate::shard::{Opening, RouterControl, RunError, metrics::render_metrics, start_with};

/// How long the node waits for the shards' reports.
const REPORT_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the node looks whether held listeners may open.
const HOLD_POLL: Duration = Duration::from_millis(20);

/// What the node was started with.
pub struct NodeSpec {
    /// The config.
    pub config: Config,
    /// The file it was read from (`None`: the embedded default, which
    /// cannot be reloaded).
    pub config_path: Option<PathBuf>,
    /// `--shards`, when given (wins over the config's).
    pub shards: Option<usize>,
}

/// How the node ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Every shard stopped (after a drain, or the clients' sessions timed out).
    Clean,
    /// A second SIGTERM/SIGINT during the drain: the process should exit now.
    Forced,
    /// A container worker ended by itself and the shutdown triggers
    /// (`controller.options.shutdown`) stopped the node after a drain:
    /// Crossbar's node exits with status 1 then.
    WorkerEnded,
}

/// What the node's loop takes.
pub(crate) enum Event {
    /// A signal arrived.
    Signal(libc::c_int),
    /// A control-socket request and where to answer.
    Control(Request, Sender<Response>),
    /// Every shard has stopped.
    Stopped(Result<(), RunError>),
    /// A container worker ended by itself (the supervisor's thread).
    WorkerEnded(workers::WorkerEnded),
}

/// The node's state.
struct Node {
    config: Config,
    config_path: Option<PathBuf>,
    /// Whether `--shards` was given.
    cli_shards: bool,
    /// The store each realm runs with: the one it had when it was first
    /// created (at the start, or by the reload that added it). A reload does
    /// not change it, even across a removal and a re-add (see `reload.rs`).
    stores: reload::RealmStores,
    control: RouterControl,
    notify: Notifier,
    started: Instant,
    draining: bool,
    /// Whether SIGTERM or SIGINT came (a second one exits at once).
    signalled: bool,
    /// Set when a worker's end started the drain ([`Exit::WorkerEnded`]).
    ended_by_worker: bool,
    shutdown_timeout: Duration,
    /// The guest workers' supervisor.
    workers: Supervisor,
    /// The router components' private listener.
    access: workers::router_components::Access,
    /// Until when the listeners are held for the router's components (see
    /// the module header); `None` once they are open.
    held: Option<Held>,
}

/// Listeners held at the start while the router's components join.
struct Held {
    since: Instant,
    until: Instant,
}

/// Why the node could not run.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The shards could not start, or one failed.
    #[error(transparent)]
    Run(#[from] RunError),
    /// The control socket's path is taken (another node owns it, or a
    /// file that is not a socket).
    #[error(transparent)]
    Control(ControlError),
}

/// What to do about a listener that cannot be bound (at the start or in a
/// reload), by the OS's reason; `None` for other errors.
pub fn run_error_hint(e: &RunError) -> Option<String> {
    let RunError::Bind { endpoint, source } = e else {
        return None;
    };
    let unix = endpoint.starts_with('/') || !endpoint.contains(':');
    let dir = || {
        Path::new(endpoint)
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| ".".to_owned(), |p| p.display().to_string())
    };
    use std::io::ErrorKind;
    Some(match source.kind() {
        ErrorKind::AddrInUse if unix => {
            "another process listens on this socket: stop it, or change the transport's \
             `endpoint.path`"
                .into()
        }
        ErrorKind::AddrInUse => {
            "stop the process that listens there, or give this transport another port \
             (its `endpoint.port`)"
                .into()
        }
        ErrorKind::AlreadyExists if unix => {
            "remove that file, or change the transport's `endpoint.path`".into()
        }
        ErrorKind::NotFound if unix => format!(
            "the directory {} does not exist: create it, or change the transport's `endpoint.path`",
            dir()
        ),
        ErrorKind::PermissionDenied if unix => format!(
            "this user may not create a socket in {}: use a directory it may write to \
             (the transport's `endpoint.path`)",
            dir()
        ),
        ErrorKind::PermissionDenied => "a port below 1024 needs CAP_NET_BIND_SERVICE \
             (docs/operations.md, \"systemd\"), or use a port above 1023"
            .into(),
        ErrorKind::AddrNotAvailable => "no network interface of this machine has that address: \
             change the transport's `endpoint.interface`"
            .into(),
        _ => return None,
    })
}

/// Runs the router until its shards stop: see the module header.
///
/// # Errors
/// [`NodeError::Control`] when another node owns the control socket's path;
/// [`NodeError::Run`] from [`start_with`] or from a shard.
pub fn run(mut spec: NodeSpec) -> Result<Exit, NodeError> {
    // The router's Python components reach it over a private listener of
    // this run (`workers/router_components.rs`).
    let access = workers::router_components::Access::new(&control::runtime_dir());
    workers::router_components::prepare(&mut spec.config, &access).map_err(RunError::Workers)?;
    let missing = workers::missing_executables(&spec.config);
    if !missing.is_empty() {
        return Err(RunError::Workers(missing.join("\n")).into());
    }
    let blocked = signals::block();
    let (tx, rx) = mpsc::channel();
    // The control socket first: scripts wait for it or for the ports, and
    // a second node configured like this one stops here, before its
    // listeners. Requests wait in the channel until the loop runs.
    let socket = control::socket_path(spec.config.node.control_socket.as_deref());
    let socket = match control::serve(&socket, tx.clone()) {
        Ok(s) => {
            tracing::info!(path = %s.path().display(), "control socket (junction status, junction reload)");
            Some(s)
        }
        Err(e @ (ControlError::InUse { .. } | ControlError::NotASocket { .. })) => {
            return Err(NodeError::Control(e));
        }
        Err(e) => {
            tracing::warn!(
                error = %e,
                "no control socket: junction status and junction reload will not reach this node \
                 (set RUNTIME_DIRECTORY to a directory this user owns, or `junction.control_socket`)"
            );
            None
        }
    };
    // Held while the router's components join (see the module header).
    let hold = workers::router_components::hold(&spec.config);
    let opening = match hold {
        Some(_) => Opening::Held {
            except: vec![workers::router_components::TRANSPORT_ID.to_owned()],
        },
        None => Opening::AtOnce,
    };
    access.remove();
    let handle = start_with(spec.config.clone(), spec.shards, opening)?;
    access.protect();
    if let Err(e) = signals::spawn_waiter(blocked, tx.clone()) {
        tracing::error!(error = %e, "cannot wait for signals");
    }
    let control = handle.control();
    let ended = {
        let tx = tx.clone();
        Box::new(move |e| {
            let _ = tx.send(Event::WorkerEnded(e));
        })
    };
    let workers =
        Supervisor::start(control.process_shared(), ended).map_err(|e| RunError::Executor {
            shard: 0,
            detail: format!("cannot start the worker supervisor's thread: {e}"),
        })?;
    // Every listener is up: the guests start, in config order (while the
    // listeners are held, the router components' host alone).
    let mut guests = workers::guests(&spec.config);
    if hold.is_some() {
        guests.retain(|g| g.id == workers::router_components::WORKER_ID);
    }
    log_started(&workers.apply(guests));
    let now = Instant::now();
    let held = hold.map(|timeout| {
        tracing::info!(
            timeout_s = timeout.as_secs(),
            "clients wait until the router's components have joined (junction.components_timeout)"
        );
        Held {
            since: now,
            until: now + timeout,
        }
    });
    let mut node = Node {
        held,
        access,
        workers,
        control,
        shutdown_timeout: spec.config.node.shutdown_timeout,
        stores: reload::RealmStores::of(&spec.config),
        config: spec.config,
        config_path: spec.config_path,
        cli_shards: spec.shards.is_some(),
        notify: Notifier::from_env(),
        started: Instant::now(),
        draining: false,
        signalled: false,
        ended_by_worker: false,
    };
    {
        let tx = tx.clone();
        std::thread::Builder::new()
            .name("junction-join".into())
            .spawn(move || {
                let _ = tx.send(Event::Stopped(handle.join()));
            })
            .map_err(|e| RunError::Executor {
                shard: 0,
                detail: format!("cannot start the join thread: {e}"),
            })?;
    }
    drop(tx);
    if node.held.is_none() {
        node.notify.ready(&node.status_line());
    }
    let exit = node.run_loop(&rx);
    // Guests still running (the shards stopped first, or a second signal
    // forced the exit) are stopped; dropping the supervisor waits for them.
    node.workers
        .stop_all(matches!(exit, Ok(Exit::Forced)) || exit.is_err());
    node.access.remove();
    drop(node);
    drop(socket);
    Ok(exit?)
}

impl Node {
    fn run_loop(&mut self, rx: &mpsc::Receiver<Event>) -> Result<Exit, RunError> {
        let interval = notify::watchdog_interval().filter(|_| self.notify.is_active());
        let mut watchdog = Watchdog::default();
        let mut next_tick = Instant::now();
        loop {
            let now = Instant::now();
            if let Some(every) = interval
                && now >= next_tick
            {
                let (ping, seq) = watchdog.tick(|s| self.control.all_answered(s));
                if ping {
                    self.notify.watchdog();
                } else {
                    tracing::warn!("a shard did not answer its liveness check: no watchdog ping");
                }
                self.control.ping(seq);
                next_tick = now + every;
            }
            self.open_when_ready(now);
            let wake = [
                interval.map(|_| next_tick),
                self.held.as_ref().map(|_| now + HOLD_POLL),
            ]
            .into_iter()
            .flatten()
            .min();
            let event = match wake {
                Some(at) => match rx.recv_timeout(at.saturating_duration_since(Instant::now())) {
                    Ok(e) => e,
                    Err(RecvTimeoutError::Timeout) => continue,
                    Err(RecvTimeoutError::Disconnected) => return Ok(Exit::Clean),
                },
                None => match rx.recv() {
                    Ok(e) => e,
                    Err(_) => return Ok(Exit::Clean),
                },
            };
            match event {
                Event::Signal(libc::SIGHUP) => {
                    let _ = self.reload();
                }
                Event::Signal(sig) => {
                    if self.signalled {
                        tracing::warn!(
                            signal = signals::name(sig),
                            "second signal: exiting without waiting for the sessions"
                        );
                        return Ok(Exit::Forced);
                    }
                    self.signalled = true;
                    // A drain a worker's end started goes on as it is.
                    if !self.draining {
                        tracing::info!(
                            signal = signals::name(sig),
                            timeout_s = self.shutdown_timeout.as_secs_f64(),
                            "shutting down: GOODBYE to every session, waiting for them to leave"
                        );
                        self.drain();
                    }
                }
                Event::WorkerEnded(w) => self.worker_ended(&w),
                Event::Control(req, reply) => {
                    let _ = reply.send(self.answer(req));
                }
                Event::Stopped(Ok(())) => {
                    tracing::info!("every shard stopped");
                    if self.ended_by_worker {
                        return Ok(Exit::WorkerEnded);
                    }
                    return Ok(Exit::Clean);
                }
                Event::Stopped(Err(e)) => {
                    tracing::error!(error = %e, "a shard failed: the router stops");
                    return Err(e);
                }
            }
        }
    }

    /// Starts the graceful drain: stop accepting, GOODBYE to every session,
    /// stop the guests.
    fn drain(&mut self) {
        self.draining = true;
        // Held listeners stay shut; the other guests never start.
        self.held = None;
        self.notify.stopping("draining sessions");
        self.control.drain(self.shutdown_timeout);
        self.workers.stop_all(false);
    }

    /// A container worker ended by itself: the node shuts down as
    /// `controller.options.shutdown` says (Crossbar's default: it does).
    fn worker_ended(&mut self, w: &workers::WorkerEnded) {
        let shut = match self.config.node.worker_exit {
            WorkerExitShutdown::Any => Some("shutdown_on_worker_exit"),
            WorkerExitShutdown::Failed if w.failed => Some("shutdown_on_worker_exit_with_error"),
            WorkerExitShutdown::Failed | WorkerExitShutdown::Never => None,
        };
        match shut {
            Some(trigger) if !self.draining => {
                tracing::warn!(
                    worker = %w.id,
                    how = %w.how,
                    trigger,
                    timeout_s = self.shutdown_timeout.as_secs_f64(),
                    "a container worker ended: shutting down (controller.options.shutdown), \
                     GOODBYE to every session, waiting for them to leave"
                );
                self.ended_by_worker = true;
                self.drain();
            }
            Some(_) => {}
            None => tracing::info!(
                worker = %w.id,
                how = %w.how,
                "a container worker ended; the node runs on (controller.options.shutdown)"
            ),
        }
    }

    /// Opens the held listeners once the router's components are ready,
    /// their host has ended, or the hold timed out; then starts the other
    /// guests and tells systemd the node is ready.
    fn open_when_ready(&mut self, now: Instant) {
        let Some(held) = &self.held else {
            return;
        };
        let waited = now.duration_since(held.since).as_secs_f64();
        if self.access.components_ready() {
            tracing::info!(
                after_s = waited,
                "the router's components have joined: accepting clients"
            );
        } else if let Some(ended) = self.workers.status().into_iter().find(|w| {
            w.id == workers::router_components::WORKER_ID && (w.exits > 0 || w.pid.is_none())
        }) {
            tracing::warn!(
                after_s = waited,
                last_exit = ended.last_exit.as_deref().unwrap_or(""),
                "the router's components' host ended before they all joined: accepting clients"
            );
        } else if now >= held.until {
            tracing::warn!(
                after_s = waited,
                "the router's components have not all joined within junction.components_timeout: \
                 accepting clients anyway"
            );
        } else {
            return;
        }
        self.held = None;
        self.control.open();
        log_started(&self.workers.apply(workers::guests(&self.config)));
        self.notify.ready(&self.status_line());
    }

    /// Answers a control-socket request.
    fn answer(&mut self, req: Request) -> Response {
        match req {
            Request::Status => Response {
                ok: true,
                status: Some(self.status()),
                ..Response::default()
            },
            Request::Metrics => {
                let reports = self.control.reports(REPORT_TIMEOUT);
                Response {
                    ok: true,
                    text: Some(render_metrics(&reports, self.control.process())),
                    ..Response::default()
                }
            }
            Request::Reload if self.draining => Response::error("the node is shutting down"),
            Request::Reload => self.reload(),
        }
    }

    fn status(&self) -> Status {
        let reports = self.control.reports(REPORT_TIMEOUT);
        let p = self.control.process();
        Status::build(
            &NodeFacts {
                uptime: self.started.elapsed(),
                config: self.config_path.as_deref(),
                shards: self.control.shards(),
                draining: self.draining,
                holding: self
                    .held
                    .as_ref()
                    .map(|h| h.until.saturating_duration_since(Instant::now())),
                reloads: Reloads {
                    ok: p.reloads.load(std::sync::atomic::Ordering::Relaxed),
                    failed: p.reload_failures.load(std::sync::atomic::Ordering::Relaxed),
                },
            },
            &reports,
            self.workers.status(),
        )
    }

    /// The one-line status systemd shows.
    fn status_line(&self) -> String {
        format!(
            "serving {} realm(s) on {} transport(s), {} shard(s)",
            self.config.realms.len(),
            // The user's: not the router components' own.
            self.config
                .transports
                .iter()
                .filter(|t| t.id != workers::router_components::TRANSPORT_ID)
                .count(),
            self.control.shards()
        )
    }
}

/// Logs the guests `applied` started.
fn log_started(applied: &workers::Applied) {
    if !applied.started.is_empty() {
        tracing::info!(
            workers = applied.started.join(", "),
            "guest workers started"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bind(endpoint: &str, kind: std::io::ErrorKind) -> RunError {
        RunError::Bind {
            endpoint: endpoint.into(),
            source: std::io::Error::from(kind),
        }
    }

    #[test]
    fn bind_errors_get_a_hint_by_their_reason() {
        use std::io::ErrorKind::*;
        let hint = |e, k| run_error_hint(&bind(e, k)).unwrap_or_default();
        assert!(hint("127.0.0.1:80", PermissionDenied).contains("CAP_NET_BIND_SERVICE"));
        assert!(hint("127.0.0.1:8080", AddrInUse).contains("`endpoint.port`"));
        assert!(hint("/run/x/ws.sock", AddrInUse).contains("`endpoint.path`"));
        assert!(hint("/run/x/ws.sock", NotFound).contains("the directory /run/x does not"));
        assert!(hint("ws.sock", PermissionDenied).contains("a socket in ."));
        assert!(hint("10.9.9.9:80", AddrNotAvailable).contains("`endpoint.interface`"));
        assert_eq!(run_error_hint(&bind("127.0.0.1:80", TimedOut)), None);
        assert_eq!(run_error_hint(&RunError::Shards(0)), None);
    }
}
