//! The `wsgi` path service: a Python WSGI application in a supervised child
//! process, behind the reverse proxy.
//!
//! Junction runs no Python itself. For each distinct application (module,
//! object, interpreter, module path) one Python process runs the small
//! host shipped in the binary (`wsgi_shim.py`: the standard library's
//! `wsgiref` on a threading `socketserver.UnixStreamServer`), listening on
//! a Unix socket (0600, in a 0700 directory of the process's own under the
//! temporary directory). Every shard's `wsgi` path forwards requests to it
//! as a `reverseproxy` to that socket ([`super::proxy::Proxy::to_wsgi`]),
//! with the mount point in `X-Junction-Script-Name`, from which the host
//! sets `SCRIPT_NAME` (and `PATH_INFO` below it), and the client's address
//! in `X-Forwarded-For` (`REMOTE_ADDR`).
//!
//! - Start ([`start_app`], from `resolve_packages`, before the shards run):
//!   the process is started and the node waits until the host says `READY`
//!   (or `ERROR ...`: the module cannot be imported, the object is missing)
//!   for at most `junction.start_timeout`; an error refuses the start and
//!   names the path, the module and Python's own message
//!   (`ModuleNotFoundError: No module named 'x'`).
//! - Supervision: a thread per application (never a shard) waits for the
//!   process; when it exits it is started again after a pause that doubles
//!   from 0.5 s up to 30 s (back to 0.5 s once a run lasted a minute).
//!   Requests meanwhile get 502.
//! - Lifetime: the process ends with Junction: its stdin is a pipe Junction
//!   holds (the host exits at its end), and it gets SIGTERM when its
//!   supervising thread ends (`PR_SET_PDEATHSIG`). A reload that removes a
//!   `wsgi` path leaves its process running until Junction exits; one that
//!   adds a path starts its process in the background (requests get 502
//!   until it is ready).
//! - Its stderr is Junction's; what the application prints on stdout is
//!   logged (target `junction::wsgi`).

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

use crate::config::web::WsgiService;

/// The host program (Python, standard library only).
const SHIM: &str = include_str!("wsgi_shim.py");

/// The first pause before a restart.
const BACKOFF_MIN: Duration = Duration::from_millis(500);
/// The longest pause before a restart.
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A run this long resets the pause.
const STABLE_RUN: Duration = Duration::from_secs(60);

/// What identifies one application process.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct AppKey {
    module: String,
    object: String,
    python: PathBuf,
    pythonpath: Vec<PathBuf>,
}

impl AppKey {
    fn of(s: &WsgiService) -> AppKey {
        AppKey {
            module: s.module.clone(),
            object: s.object.clone(),
            python: s.python.clone().unwrap_or_else(|| PathBuf::from("python3")),
            pythonpath: s.pythonpath.clone(),
        }
    }
}

/// The applications started by this process, by key: their sockets.
fn apps() -> &'static Mutex<HashMap<AppKey, PathBuf>> {
    static APPS: OnceLock<Mutex<HashMap<AppKey, PathBuf>>> = OnceLock::new();
    APPS.get_or_init(|| Mutex::new(HashMap::new()))
}

/// A new socket path in this process's directory.
fn socket_path() -> std::io::Result<PathBuf> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!("junction-{}", std::process::id()));
    if !dir.is_dir() {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
    }
    Ok(dir.join(format!(
        "wsgi-{}.sock",
        NEXT.fetch_add(1, Ordering::Relaxed)
    )))
}

/// Starts the application of `service` (once per process; later calls with
/// the same application return at once) and waits until it listens.
/// Blocking: call it before the shards run.
///
/// # Errors
/// Why it cannot run: Python's own message when the module cannot be
/// imported or the object is missing, or that Python cannot be started, or
/// that it did not get ready within `junction.start_timeout`.
pub fn start_app(service: &WsgiService) -> Result<PathBuf, String> {
    let key = AppKey::of(service);
    if let Some(p) = apps().lock().expect("not poisoned").get(&key) {
        return Ok(p.clone());
    }
    let socket = socket_path().map_err(|e| format!("cannot make its socket directory: {e}"))?;
    let (tx, rx) = mpsc::channel();
    spawn_supervisor(
        key.clone(),
        socket.clone(),
        service.start_timeout_ms,
        Some(tx),
    );
    let wait = Duration::from_millis(service.start_timeout_ms) + Duration::from_secs(1);
    match rx.recv_timeout(wait) {
        Ok(Ok(())) => {
            apps()
                .lock()
                .expect("not poisoned")
                .insert(key, socket.clone());
            Ok(socket)
        }
        Ok(Err(why)) => Err(why),
        Err(_) => Err("the application did not start in time".to_owned()),
    }
}

/// The socket of `service`'s application, starting it in the background if
/// this process has not (a reload added it). Never blocks on the process.
pub fn app_socket(service: &WsgiService) -> PathBuf {
    let key = AppKey::of(service);
    let mut map = apps().lock().expect("not poisoned");
    if let Some(p) = map.get(&key) {
        return p.clone();
    }
    let socket = socket_path().unwrap_or_else(|_| std::env::temp_dir().join("junction-wsgi.sock"));
    map.insert(key.clone(), socket.clone());
    drop(map);
    spawn_supervisor(key, socket.clone(), service.start_timeout_ms, None);
    socket
}

/// Starts the thread that runs and restarts the application; `first` gets
/// the outcome of the first start (and the thread ends if it failed).
fn spawn_supervisor(
    key: AppKey,
    socket: PathBuf,
    start_timeout_ms: u64,
    first: Option<mpsc::Sender<Result<(), String>>>,
) {
    let name = format!("junction-wsgi-{}", key.module);
    let spawned = std::thread::Builder::new().name(name).spawn(move || {
        supervise(
            &key,
            &socket,
            Duration::from_millis(start_timeout_ms),
            first,
        );
    });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the WSGI supervisor thread");
    }
}

/// Runs the application until Junction exits, restarting it with backoff.
fn supervise(
    key: &AppKey,
    socket: &Path,
    start_timeout: Duration,
    mut first: Option<mpsc::Sender<Result<(), String>>>,
) {
    let mut pause = BACKOFF_MIN;
    loop {
        let started = Instant::now();
        match run_once(key, socket, start_timeout) {
            Ok((mut child, stdin)) => {
                if let Some(tx) = first.take() {
                    let _ = tx.send(Ok(()));
                }
                tracing::info!(target: "junction::wsgi", module = %key.module, object = %key.object, pid = child.id(), "WSGI application ready");
                let status = child.wait();
                drop(stdin);
                tracing::warn!(target: "junction::wsgi", module = %key.module, ?status, restart_in_ms = pause.as_millis() as u64, "WSGI application exited; restarting");
            }
            Err(why) => {
                if let Some(tx) = first.take() {
                    let _ = tx.send(Err(why));
                    return;
                }
                tracing::warn!(target: "junction::wsgi", module = %key.module, reason = %why, restart_in_ms = pause.as_millis() as u64, "WSGI application failed to start");
            }
        }
        if started.elapsed() >= STABLE_RUN {
            pause = BACKOFF_MIN;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(BACKOFF_MAX);
    }
}

/// Starts the host once and waits for its first line; returns the process
/// and the pipe to its stdin (its lifeline).
fn run_once(
    key: &AppKey,
    socket: &Path,
    start_timeout: Duration,
) -> Result<(Child, std::process::ChildStdin), String> {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(&key.python);
    cmd.arg("-c")
        .arg(SHIM)
        .arg(&key.module)
        .arg(&key.object)
        .arg(socket)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if !key.pythonpath.is_empty() {
        let mut all: Vec<PathBuf> = key.pythonpath.clone();
        if let Some(existing) = std::env::var_os("PYTHONPATH") {
            all.extend(std::env::split_paths(&existing));
        }
        if let Ok(joined) = std::env::join_paths(all) {
            cmd.env("PYTHONPATH", joined);
        }
    }
    // SAFETY: prctl(2) is async-signal-safe; the closure touches nothing else.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", key.python.display()))?;
    let stdin = child.stdin.take().expect("piped");
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    let module = key.module.clone();
    let _ = std::thread::Builder::new()
        .name("junction-wsgi-out".to_owned())
        .spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let first = lines.next().and_then(Result::ok);
            let _ = tx.send(first);
            for line in lines.map_while(Result::ok) {
                tracing::info!(target: "junction::wsgi", module = %module, "{line}");
            }
        });
    let line = rx.recv_timeout(start_timeout);
    match line {
        Ok(Some(l)) if l == "READY" => Ok((child, stdin)),
        Ok(Some(l)) if l.starts_with("ERROR ") => {
            let _ = child.wait();
            Err(format!(
                "cannot load {}:{} with {}{}: {}",
                key.module,
                key.object,
                key.python.display(),
                pythonpath_text(&key.pythonpath),
                &l[6..]
            ))
        }
        other => {
            let _ = child.kill();
            let status = child.wait().ok();
            Err(match other {
                Err(_) => format!(
                    "{}:{} did not get ready within {} ms",
                    key.module,
                    key.object,
                    start_timeout.as_millis()
                ),
                _ => format!(
                    "{} ended before serving {}:{} ({})",
                    key.python.display(),
                    key.module,
                    key.object,
                    status.map_or_else(|| "no status".to_owned(), |s| s.to_string())
                ),
            })
        }
    }
}

fn pythonpath_text(p: &[PathBuf]) -> String {
    if p.is_empty() {
        return String::new();
    }
    let list: Vec<String> = p.iter().map(|d| d.display().to_string()).collect();
    format!(" (pythonpath {})", list.join(":"))
}
