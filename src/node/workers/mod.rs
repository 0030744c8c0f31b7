//! Guest workers (`"type": "guest"`): processes the node starts and
//! supervises, on a thread of their own (`junction-workers`), never on a
//! shard. It owns what a guest is while it runs: its process, its state,
//! its counters, the watch of its directories and what happens when it
//! exits. It may use `config` and `proto` (to encode a MessagePack stdin
//! value) and is used only by the node; `core`, `transport` and `shard`
//! never import it.
//!
//! - Start: after every listener is up, in config order ([`Supervisor::apply`]).
//!   The process (`spawn.rs`) runs in its own process group, with
//!   `PR_SET_PDEATHSIG` = SIGKILL so that it dies with the node even when
//!   the node is killed with SIGKILL (the process itself: what it started
//!   in its group is signalled at a normal stop, not at the node's death).
//! - Exit: logged with its status. `options.restart` (a Junction extension;
//!   the default `restart-never` is Crossbar's behaviour) may start it
//!   again, after a pause that doubles from [`BACKOFF_MIN`] up to
//!   [`BACKOFF_MAX`] (back to the minimum once a run lasted [`STABLE_RUN`]).
//! - Stop (shutdown, reload, watch): SIGTERM to its group, SIGKILL to the
//!   group after `options.stop_timeout` seconds.
//! - Watch (`watch.rs`): a change in a watched directory with `action:
//!   restart` stops the guest and starts it again once it has exited and
//!   `watch.timeout` seconds have passed since the change.
//! - Reload ([`Supervisor::apply`] with the new config): guests added
//!   start, removed stop, changed (any setting) restart, the others keep
//!   running untouched. A guest is known by its `id` (default as Crossbar:
//!   `workerNNN`, counting the workers without an `id` from 1).
//!
//! While there are guests the thread wakes every [`TICK`] to reap exits
//! (`waitpid` without blocking), so an exit is seen within that time;
//! without any it sleeps until asked.

mod container;
pub mod router_components;
mod spawn;
mod watch;

use std::collections::HashMap;
use std::fmt::Write;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::config::worker::{GuestRestart, GuestWorker, WorkerKind};

/// How often the supervisor looks at its processes.
pub const TICK: Duration = Duration::from_millis(100);
/// The first pause before a restart after an exit.
pub const BACKOFF_MIN: Duration = Duration::from_millis(500);
/// The longest pause before a restart after an exit.
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A run this long resets the pause to [`BACKOFF_MIN`].
pub const STABLE_RUN: Duration = Duration::from_secs(60);
/// How long the node waits, after the stop timeouts, for guests it sent
/// SIGKILL before it exits without them (a process stuck in the kernel).
pub const GIVE_UP_AFTER_KILL: Duration = Duration::from_secs(5);

/// One supervised worker of a config: its ID and process settings.
#[derive(Debug, Clone, PartialEq)]
pub struct GuestSpec {
    /// `id`, or Crossbar's `workerNNN`.
    pub id: String,
    /// The worker type: `guest`, `container` (a Python host process,
    /// `container.rs`) or `router-components` (the host of the router's
    /// Python components, `router_components.rs`).
    pub kind: &'static str,
    /// The process's settings.
    pub config: GuestWorker,
}

/// The supervised workers of `config`: the host of the router's Python
/// components (`router_components.rs`, once the node added their
/// transport), then guests and containers in config order.
pub fn guests(config: &Config) -> Vec<GuestSpec> {
    let router = router_components::host(config);
    router
        .into_iter()
        .chain(config.workers.iter().filter_map(|w| match &w.kind {
            WorkerKind::Guest(g) => Some(GuestSpec {
                id: w.id().to_owned(),
                kind: "guest",
                config: g.clone(),
            }),
            WorkerKind::Container(c) => Some(container::host(w.id(), c, config)),
            WorkerKind::WebSocketTestee(_) => None,
        }))
        .collect()
}

/// The supervised workers of `config` whose executable is not found (in
/// their `workdir`, then on the node's `PATH`), one line each. Checked
/// before the router starts and before a reload, so that a typo refuses
/// the start (as Crossbar.io does) instead of leaving a guest `failed`.
pub fn missing_executables(config: &Config) -> Vec<String> {
    let path = std::env::var_os("PATH");
    let mut specs = guests(config);
    specs.extend(router_components::unprepared_host(config));
    specs
        .iter()
        .filter(|g| {
            spawn::resolve_executable(&g.config.executable, &g.config.workdir, path.as_deref())
                .is_none()
        })
        .map(|g| {
            format!(
                "worker {} ({}): no executable \"{}\" (neither in {} nor on PATH)",
                g.id,
                g.kind,
                g.config.executable,
                g.config.workdir.display()
            )
        })
        .collect()
}

/// What a worker is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkerState {
    /// Its process runs.
    Running,
    /// It was sent SIGTERM and has not exited yet.
    Stopping,
    /// It exited and will be started again (`options.restart`, a watch).
    Restarting,
    /// It exited and stays so.
    Exited,
    /// It could not be started.
    Failed,
}

impl WorkerState {
    /// The state as `junction status` shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkerState::Running => "running",
            WorkerState::Stopping => "stopping",
            WorkerState::Restarting => "restarting",
            WorkerState::Exited => "exited",
            WorkerState::Failed => "failed",
        }
    }
}

/// One worker, as `junction status` and the metrics show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerStatus {
    /// Its ID.
    pub id: String,
    /// Its type (`guest`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Its process, while there is one.
    pub pid: Option<u32>,
    /// What it is doing.
    pub state: WorkerState,
    /// Processes started for it.
    pub starts: u64,
    /// Its processes' exits.
    pub exits: u64,
    /// Starts after the first (an exit, a watched change, a reload).
    pub restarts: u64,
    /// How the last process ended, or why it could not start.
    pub last_exit: Option<String>,
}

/// A container's host process that ended on its own and stays ended (no
/// restart follows, the node did not stop it): Crossbar's native worker
/// exit, which the node's shutdown triggers act on
/// ([`crate::config::WorkerExitShutdown`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerEnded {
    /// The worker's ID.
    pub id: String,
    /// How it ended (`exit status 1`, `killed by SIGSEGV`).
    pub how: String,
    /// Whether that was a failure (not status 0).
    pub failed: bool,
}

/// The exit status of a container host whose components could not be set
/// up (an import, Autobahn missing, a TLS file): Crossbar's container
/// worker would have stayed up with the component failed, so this end is
/// not a worker's exit ([`WorkerEnded`]).
const HOST_SETUP_FAILED: i32 = 2;

/// What the supervisor calls with each [`WorkerEnded`] (on its thread).
pub type OnEnded = Box<dyn Fn(WorkerEnded) + Send>;

/// What [`Supervisor::apply`] did, by worker ID.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Started (new).
    pub started: Vec<String>,
    /// Stopped (gone from the config).
    pub stopped: Vec<String>,
    /// Restarted (their settings changed).
    pub restarted: Vec<String>,
}

/// What the supervisor's thread is asked.
enum Command {
    Apply(Vec<GuestSpec>, Sender<Applied>),
    Status(Sender<Vec<WorkerStatus>>),
    /// Stop every guest (SIGTERM, then SIGKILL after its stop timeout; at
    /// once with `kill`); no restarts from now on.
    StopAll {
        kill: bool,
    },
}

/// The handle of the supervisor's thread. Dropping it stops every guest
/// and waits for them (at most their stop timeouts).
pub struct Supervisor {
    tx: Option<Sender<Command>>,
    thread: Option<JoinHandle<()>>,
}

impl Supervisor {
    /// Starts the supervisor's thread; `metrics` receives its series in the
    /// Prometheus text format after every change, `ended` each container
    /// that ended by itself ([`WorkerEnded`]).
    ///
    /// # Errors
    /// The thread cannot be started.
    pub fn start(
        metrics: Arc<crate::shard::request::ProcessStats>,
        ended: OnEnded,
    ) -> std::io::Result<Supervisor> {
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("junction-workers".into())
            .spawn(move || run(&rx, &metrics.node_text, &ended))?;
        Ok(Supervisor {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    fn ask<T>(&self, make: impl FnOnce(Sender<T>) -> Command) -> Option<T> {
        let (tx, rx) = mpsc::channel();
        self.tx.as_ref()?.send(make(tx)).ok()?;
        rx.recv().ok()
    }

    /// Makes the running guests those of `specs`: see the module header.
    pub fn apply(&self, specs: Vec<GuestSpec>) -> Applied {
        self.ask(|tx| Command::Apply(specs, tx)).unwrap_or_default()
    }

    /// Every worker's status, in config order.
    pub fn status(&self) -> Vec<WorkerStatus> {
        self.ask(Command::Status).unwrap_or_default()
    }

    /// Starts stopping every guest (a drain): SIGTERM now, SIGKILL after
    /// their stop timeouts, or SIGKILL at once with `kill`. Returns at once.
    pub fn stop_all(&self, kill: bool) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Command::StopAll { kill });
        }
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        // The thread stops every guest when its channel closes, then ends.
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The supervisor's loop.
fn run(rx: &mpsc::Receiver<Command>, metrics: &Mutex<String>, ended: &OnEnded) {
    let mut guests = Guests::default();
    // Set when the handle is dropped: the instant the node stops waiting
    // (a process stuck in the kernel cannot hold the node forever).
    let mut closing: Option<Instant> = None;
    let mut last_metrics = String::new();
    loop {
        // Without guests the thread sleeps until asked (no idle wake-ups).
        let next = if guests.list.is_empty() && closing.is_none() {
            rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
        } else {
            rx.recv_timeout(TICK)
        };
        match next {
            Ok(Command::Apply(specs, reply)) => {
                let _ = reply.send(guests.apply(specs, Instant::now()));
            }
            Ok(Command::Status(reply)) => {
                guests.step(Instant::now()).into_iter().for_each(ended);
                let _ = reply.send(guests.status());
            }
            Ok(Command::StopAll { kill }) => guests.stop_all(kill, Instant::now()),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                if closing.is_none() {
                    let now = Instant::now();
                    guests.stop_all(false, now);
                    closing = Some(now + guests.longest_stop() + GIVE_UP_AFTER_KILL);
                }
                std::thread::sleep(TICK);
            }
        }
        guests.step(Instant::now()).into_iter().for_each(ended);
        let text = render_metrics(&guests.status());
        if text != last_metrics {
            if let Ok(mut m) = metrics.lock() {
                m.clone_from(&text);
            }
            last_metrics = text;
        }
        if let Some(give_up) = closing {
            if guests.all_gone() {
                return;
            }
            if Instant::now() >= give_up {
                for w in guests.status().iter().filter(|w| w.pid.is_some()) {
                    tracing::error!(target: "junction::guest", worker = %w.id, pid = w.pid, "did not end even after SIGKILL; not waiting for it");
                }
                return;
            }
        }
    }
}

/// What follows a requested stop.
#[derive(Debug)]
enum After {
    /// Nothing (a drain): the guest stays stopped.
    Rest,
    /// Forget the guest (removed by a reload).
    Remove,
    /// Start it again, with these settings, not before this instant.
    Restart(Box<GuestWorker>, Instant),
}

/// A stop under way.
#[derive(Debug)]
struct Stopping {
    kill_at: Instant,
    killed: bool,
    then: After,
}

/// A guest's running process.
struct Running {
    process: spawn::Spawned,
    pid: u32,
    since: Instant,
    stopping: Option<Stopping>,
}

/// One guest.
struct Guest {
    id: String,
    /// `guest` or `container`.
    kind: &'static str,
    config: GuestWorker,
    running: Option<Running>,
    state: WorkerState,
    /// Set while waiting to start again.
    start_at: Option<Instant>,
    /// The next pause after an exit.
    backoff: Duration,
    watch: Option<watch::Watch>,
    /// Gone from the config: forgotten once its process has exited.
    removed: bool,
    starts: u64,
    exits: u64,
    last_exit: Option<String>,
}

/// Every guest, in config order.
#[derive(Default)]
struct Guests {
    list: Vec<Guest>,
    /// A drain: nothing starts any more.
    draining: bool,
}

impl Guests {
    fn apply(&mut self, specs: Vec<GuestSpec>, now: Instant) -> Applied {
        let mut done = Applied::default();
        let mut wanted: HashMap<String, GuestWorker> = specs
            .iter()
            .map(|s| (s.id.clone(), s.config.clone()))
            .collect();
        for g in &mut self.list {
            match wanted.remove(&g.id) {
                None if !g.removed => {
                    g.removed = true;
                    tracing::info!(target: "junction::guest", worker = %g.id, "removed from the config: stopping");
                    g.stop(After::Remove, false, now);
                    done.stopped.push(g.id.clone());
                }
                None => {}
                Some(c) if c != g.config || g.removed => {
                    g.removed = false;
                    tracing::info!(target: "junction::guest", worker = %g.id, "settings changed: restarting");
                    g.stop(After::Restart(Box::new(c), now), false, now);
                    done.restarted.push(g.id.clone());
                }
                Some(_) => {}
            }
        }
        // New ones, in config order.
        let order: HashMap<String, usize> = specs
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.clone(), i))
            .collect();
        for s in specs {
            if let Some(config) = wanted.remove(&s.id) {
                let mut g = Guest::new(s.id, s.kind, config);
                if !self.draining {
                    g.start(now);
                }
                done.started.push(g.id.clone());
                self.list.push(g);
            }
        }
        // Config order (Crossbar starts workers in that order; the status
        // lists them so); removed ones last until they are gone.
        self.list
            .sort_by_key(|g| order.get(&g.id).copied().unwrap_or(usize::MAX));
        done
    }

    /// Reaps exits, stops and starts; returns the containers that ended
    /// by themselves.
    fn step(&mut self, now: Instant) -> Vec<WorkerEnded> {
        let draining = self.draining;
        let ended = self
            .list
            .iter_mut()
            .filter_map(|g| g.step(now, draining))
            .collect();
        self.list.retain(|g| !(g.removed && g.running.is_none()));
        ended
    }

    fn stop_all(&mut self, kill: bool, now: Instant) {
        self.draining = true;
        for g in &mut self.list {
            g.start_at = None;
            if g.state == WorkerState::Restarting {
                g.state = WorkerState::Exited;
            }
            g.stop(After::Rest, kill, now);
        }
    }

    /// The longest stop timeout of the guests.
    fn longest_stop(&self) -> Duration {
        self.list
            .iter()
            .map(|g| Duration::from_secs(g.config.stop_timeout_s))
            .max()
            .unwrap_or_default()
    }

    fn all_gone(&self) -> bool {
        self.list.iter().all(|g| g.running.is_none())
    }

    fn status(&self) -> Vec<WorkerStatus> {
        self.list
            .iter()
            .map(|g| WorkerStatus {
                id: g.id.clone(),
                kind: g.kind.into(),
                pid: g.running.as_ref().map(|r| r.pid),
                state: g.state,
                starts: g.starts,
                exits: g.exits,
                restarts: g.starts.saturating_sub(1),
                last_exit: g.last_exit.clone(),
            })
            .collect()
    }
}

impl Guest {
    fn new(id: String, kind: &'static str, config: GuestWorker) -> Guest {
        Guest {
            id,
            kind,
            config,
            running: None,
            state: WorkerState::Exited,
            start_at: None,
            backoff: BACKOFF_MIN,
            watch: None,
            removed: false,
            starts: 0,
            exits: 0,
            last_exit: None,
        }
    }

    fn start(&mut self, now: Instant) {
        self.start_at = None;
        self.starts += 1;
        match spawn::spawn(&self.id, &self.config) {
            Ok(process) => {
                let pid = process.child.id();
                tracing::info!(
                    target: "junction::guest",
                    worker = %self.id,
                    pid,
                    executable = %self.config.executable,
                    "guest started"
                );
                self.running = Some(Running {
                    process,
                    pid,
                    since: now,
                    stopping: None,
                });
                self.state = WorkerState::Running;
                self.watch = self
                    .config
                    .watch
                    .as_ref()
                    .map(|w| watch::Watch::new(w.directories.clone(), now));
            }
            Err(why) => {
                tracing::error!(target: "junction::guest", worker = %self.id, "cannot start the guest: {why}");
                self.last_exit = Some(why);
                self.state = WorkerState::Failed;
                self.after_exit(false, now, false);
            }
        }
    }

    /// Sends SIGTERM (SIGKILL with `kill`) to the group, or applies `then`
    /// at once when nothing runs.
    fn stop(&mut self, then: After, kill: bool, now: Instant) {
        let Some(r) = &mut self.running else {
            self.start_at = None;
            match then {
                After::Restart(c, at) => {
                    self.config = *c;
                    self.backoff = BACKOFF_MIN;
                    self.start_at = Some(at);
                    self.state = WorkerState::Restarting;
                }
                After::Rest | After::Remove => {}
            }
            return;
        };
        if let Some(s) = &mut r.stopping {
            // Already stopping: keep its SIGKILL deadline.
            s.then = then;
            if kill && !s.killed {
                signal_group(r.pid, libc::SIGKILL);
                s.killed = true;
            }
            return;
        }
        signal_group(r.pid, if kill { libc::SIGKILL } else { libc::SIGTERM });
        let kill_at = now + Duration::from_secs(self.config.stop_timeout_s);
        r.stopping = Some(Stopping {
            kill_at,
            killed: kill,
            then,
        });
        self.state = WorkerState::Stopping;
    }

    fn step(&mut self, now: Instant, draining: bool) -> Option<WorkerEnded> {
        let mut ended = None;
        if let Some(r) = &mut self.running {
            match r.process.child.try_wait() {
                Ok(Some(status)) => {
                    let r = self.running.take().expect("running");
                    ended = self.exited(r, status, now, draining);
                }
                Ok(None) => {
                    if let Some(s) = &mut r.stopping {
                        if !s.killed && now >= s.kill_at {
                            tracing::warn!(target: "junction::guest", worker = %self.id, pid = r.pid, "did not stop in time: SIGKILL");
                            signal_group(r.pid, libc::SIGKILL);
                            s.killed = true;
                        }
                    } else if let (Some(w), Some(cfg)) = (&mut self.watch, &self.config.watch)
                        && w.changed(&self.id, now)
                    {
                        if cfg.restart && !draining {
                            tracing::info!(target: "junction::guest", worker = %self.id, "a watched file changed: restarting");
                            let at = now + Duration::from_secs(cfg.timeout_s);
                            let c = Box::new(self.config.clone());
                            self.stop(After::Restart(c, at), false, now);
                        } else {
                            tracing::info!(target: "junction::guest", worker = %self.id, "a watched file changed (no action)");
                        }
                    }
                }
                Err(e) => {
                    tracing::error!(target: "junction::guest", worker = %self.id, error = %e, "cannot wait for the guest");
                }
            }
        }
        if self.running.is_none()
            && !draining
            && !self.removed
            && self.start_at.is_some_and(|at| now >= at)
        {
            self.start(now);
        }
        ended
    }

    /// Records an exit and what follows it; a container that ended by
    /// itself for good is returned ([`WorkerEnded`]).
    fn exited(
        &mut self,
        r: Running,
        status: ExitStatus,
        now: Instant,
        draining: bool,
    ) -> Option<WorkerEnded> {
        self.exits += 1;
        let how = describe(status);
        let ran = now.saturating_duration_since(r.since);
        // A failure the node did not ask for is worth a warning (a
        // component host that cannot import its classes exits 2, again
        // and again under a restart policy).
        if status.success() || r.stopping.is_some() {
            tracing::info!(
                target: "junction::guest",
                worker = %self.id,
                pid = r.pid,
                ran_s = ran.as_secs_f64(),
                "guest exited: {how}"
            );
        } else {
            tracing::warn!(
                target: "junction::guest",
                worker = %self.id,
                pid = r.pid,
                ran_s = ran.as_secs_f64(),
                "guest exited: {how}"
            );
        }
        self.last_exit = Some(how);
        self.state = WorkerState::Exited;
        // Its stdin, and the thread holding it, end here.
        drop(r.process);
        match r.stopping.map(|s| s.then) {
            Some(After::Restart(c, at)) => {
                self.config = *c;
                self.backoff = BACKOFF_MIN;
                if !draining {
                    self.start_at = Some(at.max(now));
                    self.state = WorkerState::Restarting;
                }
            }
            Some(After::Rest | After::Remove) => {}
            None => {
                if ran >= STABLE_RUN {
                    self.backoff = BACKOFF_MIN;
                }
                self.after_exit(status.success(), now, draining);
                let ends = self.kind == container::KIND
                    && self.state == WorkerState::Exited
                    && !draining
                    && !self.removed
                    && status.code() != Some(HOST_SETUP_FAILED);
                if ends {
                    return Some(WorkerEnded {
                        id: self.id.clone(),
                        how: self.last_exit.clone().unwrap_or_default(),
                        failed: !status.success(),
                    });
                }
            }
        }
        None
    }

    /// After an exit on its own (or a failed start): `options.restart`.
    fn after_exit(&mut self, success: bool, now: Instant, draining: bool) {
        let again = match self.config.restart {
            GuestRestart::Never => false,
            GuestRestart::OnFailed => !success,
            GuestRestart::Always => true,
        };
        if again && !draining && !self.removed {
            tracing::info!(
                target: "junction::guest",
                worker = %self.id,
                in_s = self.backoff.as_secs_f64(),
                "restarting (options.restart)"
            );
            self.start_at = Some(now + self.backoff);
            self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
            if self.state != WorkerState::Failed {
                self.state = WorkerState::Restarting;
            }
        }
    }
}

/// Signals process group `pid` (the guest leads it).
fn signal_group(pid: u32, sig: libc::c_int) {
    if let Ok(p) = libc::pid_t::try_from(pid) {
        // SAFETY: kill has no memory effects; a group that is gone gives ESRCH.
        unsafe {
            libc::kill(-p, sig);
        }
    }
}

/// `exit status 3`, `killed by SIGTERM`.
fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit status {c}"),
        (None, Some(s)) => format!("killed by {}", signal_name(s)),
        _ => status.to_string(),
    }
}

fn signal_name(s: libc::c_int) -> String {
    match s {
        libc::SIGTERM => "SIGTERM".into(),
        libc::SIGKILL => "SIGKILL".into(),
        libc::SIGINT => "SIGINT".into(),
        libc::SIGHUP => "SIGHUP".into(),
        libc::SIGSEGV => "SIGSEGV".into(),
        libc::SIGABRT => "SIGABRT".into(),
        libc::SIGPIPE => "SIGPIPE".into(),
        other => format!("signal {other}"),
    }
}

/// The supervisor's series in the Prometheus text format (empty without guests).
pub fn render_metrics(workers: &[WorkerStatus]) -> String {
    let mut out = String::new();
    if workers.is_empty() {
        return out;
    }
    type Field = fn(&WorkerStatus) -> u64;
    let series: [(&str, &str, &str, Field); 4] = [
        (
            "junction_guest_starts_total",
            "counter",
            "Guest worker processes started (first start and restarts).",
            |w| w.starts,
        ),
        (
            "junction_guest_exits_total",
            "counter",
            "Guest worker processes that exited (on their own or stopped).",
            |w| w.exits,
        ),
        (
            "junction_guest_restarts_total",
            "counter",
            "Guest worker starts after the first (options.restart, a watched change, a reload).",
            |w| w.restarts,
        ),
        (
            "junction_guest_running",
            "gauge",
            "1 while the guest worker's process runs.",
            |w| u64::from(w.pid.is_some()),
        ),
    ];
    for (name, kind, help, value) in series {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for w in workers {
            let _ = writeln!(out, "{name}{{worker=\"{}\"}} {}", escape(&w.id), value(w));
        }
    }
    out
}

/// A label value as the text format writes it.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests;

/// Starts a container or router-component host as its supervisor would,
/// with the spec's stdin JSON written and stdin closed; stdout piped.
#[cfg(test)]
fn spawn_host(spec: &GuestSpec, stderr: std::process::Stdio) -> std::process::Child {
    use std::io::Write as _;
    let crate::config::worker::GuestStdin::Json { value, .. } = &spec.config.stdin else {
        panic!("a host takes its spec as JSON on stdin");
    };
    let mut child = std::process::Command::new(&spec.config.executable)
        .args(&spec.config.arguments)
        .envs(&spec.config.env.vars)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("python3 runs");
    let mut stdin = child.stdin.take().expect("stdin");
    writeln!(stdin, "{value}").expect("write the spec");
    drop(stdin);
    child
}
