//! The local control socket: `junction status` and `junction reload` talk
//! to a running node over a Unix stream socket that only the node's user
//! may use (the socket is 0600, in a 0700 directory when Junction makes it).
//!
//! Protocol: one request per connection, one JSON object per line each way.
//! The client sends `{"command": "status" | "metrics" | "reload"}`; the node
//! answers `{"ok": true, ...}` (`status`: a [`Status`]; `metrics`: `text`,
//! the Prometheus text format; `reload`: what changed, and `warnings`) or
//! `{"ok": false, "errors": [...]}`.
//!
//! Where the socket is: the config's `junction.control_socket`, else
//! `junction.sock` in the runtime directory: `$RUNTIME_DIRECTORY` (systemd's
//! `RuntimeDirectory=`), else `$XDG_RUNTIME_DIR/junction`, else
//! `/tmp/junction-<uid>`. The server thread only reads the request and
//! hands it to the node's loop, which answers.
//!
//! One node per path: a node holds an `flock` on `<path>.lock` while it
//! owns the path, and also refuses a socket that answers; a socket left by
//! a dead node (lock free, nothing listening) is replaced.

use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Sender};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Event;
use super::status::Status;

/// The socket's file name in the runtime directory.
pub const SOCKET_NAME: &str = "junction.sock";

/// Where the unit file's node listens (`RuntimeDirectory=junction`); the
/// CLI tries it when the usual place has no socket.
pub const SYSTEM_SOCKET: &str = "/run/junction/junction.sock";

/// How long the server waits for a client's request line.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the server waits for the node's answer (a reload may bind
/// listeners on every shard).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

/// The longest request line accepted.
const MAX_REQUEST: u64 = 4096;

/// A request to the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "lowercase")]
pub enum Request {
    /// Version, uptime, config, shards, listeners, sessions.
    Status,
    /// The Prometheus text format.
    Metrics,
    /// Re-read the config file and apply it.
    Reload,
}

/// The node's answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// Whether the request succeeded.
    pub ok: bool,
    /// Why not (or, for a reload, every problem of the refused config).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    /// Things to know (a reload's changes that need a restart, ignored keys).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// `status`: the node's status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// `metrics`: the Prometheus text; `reload`: a summary of the changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

impl Response {
    /// A failure with one error.
    pub fn error(e: impl Into<String>) -> Response {
        Response {
            ok: false,
            errors: vec![e.into()],
            ..Response::default()
        }
    }
}

/// The runtime directory: `$RUNTIME_DIRECTORY` (its first entry), else
/// `$XDG_RUNTIME_DIR/junction`, else `/tmp/junction-<uid>`.
pub fn runtime_dir() -> PathBuf {
    runtime_dir_from(&|k| std::env::var(k).ok())
}

fn runtime_dir_from(env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    if let Some(d) = env("RUNTIME_DIRECTORY")
        .as_deref()
        .and_then(|v| v.split(':').next())
        .filter(|d| !d.is_empty())
    {
        return PathBuf::from(d);
    }
    if let Some(d) = env("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        return Path::new(&d).join("junction");
    }
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    PathBuf::from(format!("/tmp/junction-{uid}"))
}

/// The control socket's path: `configured`, else [`SOCKET_NAME`] in [`runtime_dir`].
pub fn socket_path(configured: Option<&Path>) -> PathBuf {
    match configured {
        Some(p) => p.to_owned(),
        None => runtime_dir().join(SOCKET_NAME),
    }
}

/// Makes the socket's directory if it is missing (0700), and refuses one
/// that another user owns or others may write to (another user could
/// otherwise replace the socket).
fn prepare_dir(dir: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir),
        Err(e) => Err(e),
        Ok(m) => {
            // SAFETY: getuid has no preconditions and cannot fail.
            let uid = unsafe { libc::getuid() };
            if !m.is_dir() {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} is not a directory", dir.display()),
                ));
            }
            if m.uid() != uid || m.mode() & 0o022 != 0 {
                if m.mode() & 0o1000 != 0 {
                    // A sticky, shared directory (/tmp): fine for a configured path.
                    return Ok(());
                }
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!(
                        "{} belongs to another user or others may write to it",
                        dir.display()
                    ),
                ));
            }
            Ok(())
        }
    }
}

/// Why the control socket could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// Another node owns the path (holds its lock, or answers on it):
    /// starting would take its socket over, and `junction status` would
    /// then reach the wrong node.
    #[error(
        "another junction node owns the control socket {}: stop it, or give this \
         node its own socket with `junction.control_socket` in its config (then \
         `junction status --socket PATH` reaches it)",
        path.display()
    )]
    InUse {
        /// The socket's path.
        path: PathBuf,
    },
    /// Something that is not a socket is at the path.
    #[error(
        "{} exists and is not a socket: remove it, or choose another path with \
         `junction.control_socket`",
        path.display()
    )]
    NotASocket {
        /// The path.
        path: PathBuf,
    },
    /// The directory is unusable, or the socket cannot be bound.
    #[error("cannot make the control socket {}: {source}", path.display())]
    Io {
        /// The socket's path.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

/// The bound control socket: removes its file when dropped (unless another
/// socket has replaced it since).
#[derive(Debug)]
pub(super) struct ControlSocket {
    path: PathBuf,
    /// The socket file's inode, to tell it from a later one at the same path.
    ino: u64,
    /// `<path>.lock`, locked (`flock`) while this node owns the path; the
    /// kernel releases it when the process dies, however it dies.
    _lock: std::fs::File,
}

impl ControlSocket {
    /// Where it listens.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        if std::fs::symlink_metadata(&self.path).is_ok_and(|m| m.ino() == self.ino) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Takes `<path>.lock` (created 0600, left in place): held, another node
/// owns the path, whether or not its socket answers yet (two nodes
/// starting at once; a node whose socket another one replaced).
fn lock(path: &Path) -> Result<std::fs::File, ControlError> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&name)
        .map_err(|source| ControlError::Io {
            path: PathBuf::from(&name),
            source,
        })?;
    // SAFETY: flock on a descriptor this function owns.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let e = io::Error::last_os_error();
        return Err(if e.kind() == io::ErrorKind::WouldBlock {
            ControlError::InUse {
                path: path.to_owned(),
            }
        } else {
            ControlError::Io {
                path: PathBuf::from(&name),
                source: e,
            }
        });
    }
    Ok(file)
}

/// Clears `path` for a new socket: a live socket (another node answers:
/// one that predates the lock file) is refused, a stale one (nothing
/// listens: its node was killed) removed.
fn clear_stale(path: &Path) -> Result<(), ControlError> {
    let io = |source| ControlError::Io {
        path: path.to_owned(),
        source,
    };
    let meta = match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io(e)),
        Ok(m) => m,
    };
    if !meta.file_type().is_socket() {
        return Err(ControlError::NotASocket {
            path: path.to_owned(),
        });
    }
    match UnixStream::connect(path) {
        Ok(_) => Err(ControlError::InUse {
            path: path.to_owned(),
        }),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            std::fs::remove_file(path).map_err(io)
        }
        Err(e) => Err(io(e)),
    }
}

/// Binds the control socket at `path` (0600) and serves it on a thread,
/// handing each request to the node's loop through `to` (requests that
/// arrive before the loop runs wait for it).
///
/// # Errors
/// [`ControlError::InUse`] when another node answers on `path` (a stale
/// socket, with nothing listening, is replaced); [`ControlError::NotASocket`];
/// [`ControlError::Io`] when the directory is unusable or the socket cannot
/// be bound.
pub(super) fn serve(path: &Path, to: Sender<Event>) -> Result<ControlSocket, ControlError> {
    let io = |source| ControlError::Io {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        prepare_dir(dir).map_err(io)?;
    }
    let lock = lock(path)?;
    clear_stale(path)?;
    // Two nodes starting at once: bind fails for the second (the file exists).
    let listener = UnixListener::bind(path).map_err(|e| match e.kind() {
        io::ErrorKind::AddrInUse => ControlError::InUse {
            path: path.to_owned(),
        },
        _ => io(e),
    })?;
    let ino = std::fs::symlink_metadata(path).map_err(io)?.ino();
    let socket = ControlSocket {
        path: path.to_owned(),
        ino,
        _lock: lock,
    };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    std::thread::Builder::new()
        .name("junction-control".into())
        .spawn(move || {
            for conn in listener.incoming().flatten() {
                if let Err(e) = answer(conn, &to) {
                    tracing::debug!(error = %e, "control socket request failed");
                }
            }
        })
        .map_err(io)?;
    Ok(socket)
}

/// Reads one request from `conn`, has the node answer it, writes the answer.
fn answer(conn: UnixStream, to: &Sender<Event>) -> io::Result<()> {
    conn.set_read_timeout(Some(READ_TIMEOUT))?;
    let mut line = String::new();
    BufReader::new(io::Read::take(&conn, MAX_REQUEST)).read_line(&mut line)?;
    let response = match serde_json::from_str::<Request>(line.trim()) {
        Ok(req) => {
            let (tx, rx) = mpsc::channel();
            if to.send(Event::Control(req, tx)).is_err() {
                return Err(io::Error::other("the node is gone"));
            }
            rx.recv_timeout(ANSWER_TIMEOUT)
                .unwrap_or_else(|_| Response::error("the node did not answer in time"))
        }
        Err(e) => Response::error(format!("bad request: {e}")),
    };
    let mut out = serde_json::to_vec(&response).map_err(io::Error::other)?;
    out.push(b'\n');
    (&conn).write_all(&out)
}

/// Sends `req` to the node listening on `path` and returns its answer.
///
/// # Errors
/// When nothing listens there (is the node running? is it another
/// user's?), or the answer does not arrive or parse.
pub fn request(path: &Path, req: Request, timeout: Duration) -> io::Result<Response> {
    let conn = UnixStream::connect(path).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "cannot reach a junction node at {}: {e} (is it running, as this user? \
                 --socket or --config name another socket)",
                path.display()
            ),
        )
    })?;
    conn.set_read_timeout(Some(timeout))?;
    let mut out = serde_json::to_vec(&req).map_err(io::Error::other)?;
    out.push(b'\n');
    (&conn).write_all(&out)?;
    let mut line = String::new();
    BufReader::new(&conn).read_line(&mut line)?;
    serde_json::from_str(line.trim()).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the node's answer does not parse: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_dir_follows_systemd_then_xdg_then_tmp() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(
            runtime_dir_from(&env(&[
                ("RUNTIME_DIRECTORY", "/run/junction:/run/other"),
                ("XDG_RUNTIME_DIR", "/run/user/1000")
            ])),
            PathBuf::from("/run/junction")
        );
        assert_eq!(
            runtime_dir_from(&env(&[("XDG_RUNTIME_DIR", "/run/user/1000")])),
            PathBuf::from("/run/user/1000/junction")
        );
        let tmp = runtime_dir_from(&env(&[]));
        assert!(
            tmp.to_string_lossy().starts_with("/tmp/junction-"),
            "{tmp:?}"
        );
    }

    #[test]
    fn requests_and_answers_are_json_lines() {
        assert_eq!(
            serde_json::to_string(&Request::Reload).expect("json"),
            r#"{"command":"reload"}"#
        );
        let r: Request = serde_json::from_str(r#"{"command": "status"}"#).expect("parse");
        assert_eq!(r, Request::Status);
        assert!(serde_json::from_str::<Request>(r#"{"command": "rm -rf"}"#).is_err());
        let e = Response::error("no");
        assert_eq!(
            serde_json::to_string(&e).expect("json"),
            r#"{"ok":false,"errors":["no"]}"#
        );
    }

    #[test]
    fn the_socket_is_owner_only_and_answers_through_the_node_loop() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("sub").join(SOCKET_NAME);
        let (tx, rx) = mpsc::channel();
        let socket = serve(&path, tx.clone()).expect("serve");
        assert_eq!(socket.path(), path);
        let mode = std::fs::metadata(&path).expect("socket").mode();
        assert_eq!(mode & 0o777, 0o600);
        let dmode = std::fs::metadata(path.parent().expect("dir"))
            .expect("dir")
            .mode();
        assert_eq!(dmode & 0o777, 0o700);
        // A second node on the same path is refused, and the message says
        // where and how to choose another socket.
        let e = serve(&path, tx).expect_err("in use");
        assert!(
            matches!(&e, ControlError::InUse { path: p } if *p == path),
            "{e:?}"
        );
        let text = e.to_string();
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(text.contains("junction.control_socket"), "{text}");
        // The node's loop, answering one request.
        let node = std::thread::spawn(move || {
            if let Ok(Event::Control(req, reply)) = rx.recv() {
                assert_eq!(req, Request::Status);
                let _ = reply.send(Response {
                    ok: true,
                    text: Some("fine".into()),
                    ..Response::default()
                });
            }
        });
        let r = request(&path, Request::Status, Duration::from_secs(5)).expect("answer");
        assert!(r.ok);
        assert_eq!(r.text.as_deref(), Some("fine"));
        node.join().expect("node thread");
        // Garbage gets an error answer, not a hang.
        let mut c = UnixStream::connect(&path).expect("connect");
        c.write_all(b"hello\n").expect("write");
        let mut line = String::new();
        BufReader::new(&c).read_line(&mut line).expect("read");
        let r: Response = serde_json::from_str(&line).expect("json");
        assert!(!r.ok);
        assert!(r.errors[0].starts_with("bad request"), "{r:?}");
        // The socket's file goes with it.
        drop(socket);
        assert!(!path.exists());
    }

    #[test]
    fn a_node_that_holds_the_lock_keeps_the_path_before_it_listens() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(SOCKET_NAME);
        // Another node took the lock and has not bound its socket yet (or
        // its socket file was removed): nothing answers, but the path is taken.
        let held = lock(&path).expect("lock");
        let (tx, _rx) = mpsc::channel();
        let e = serve(&path, tx.clone()).expect_err("locked");
        assert!(matches!(e, ControlError::InUse { .. }), "{e:?}");
        assert!(!path.exists(), "nothing bound");
        // Once that node is gone, the path is free.
        drop(held);
        let _socket = serve(&path, tx).expect("free");
        UnixStream::connect(&path).expect("listens");
    }

    #[test]
    fn a_stale_socket_is_replaced() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(SOCKET_NAME);
        // A node killed with SIGKILL leaves its socket file, with nothing listening.
        drop(UnixListener::bind(&path).expect("bind"));
        assert!(path.exists());
        let (tx, _rx) = mpsc::channel();
        let socket = serve(&path, tx).expect("a stale socket is replaced");
        UnixStream::connect(&path).expect("the new socket listens");
        drop(socket);
        assert!(!path.exists());
    }

    #[test]
    fn a_file_that_is_not_a_socket_is_left_alone() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(SOCKET_NAME);
        std::fs::write(&path, b"keep me").expect("write");
        let (tx, _rx) = mpsc::channel();
        let e = serve(&path, tx).expect_err("not a socket");
        assert!(matches!(e, ControlError::NotASocket { .. }), "{e:?}");
        assert_eq!(std::fs::read(&path).expect("still there"), b"keep me");
    }

    #[test]
    fn dropping_leaves_a_socket_that_replaced_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(SOCKET_NAME);
        let (tx, _rx) = mpsc::channel();
        let socket = serve(&path, tx).expect("serve");
        // Someone removed the file and another node bound the path since.
        std::fs::remove_file(&path).expect("remove");
        let _other = UnixListener::bind(&path).expect("bind");
        drop(socket);
        assert!(path.exists(), "the other node's socket stays");
    }
}
