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

use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
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

/// Binds the control socket at `path` (0600) and serves it on a thread,
/// handing each request to the node's loop through `to`.
///
/// # Errors
/// When the directory is unusable, another node answers on `path`, or
/// the socket cannot be bound.
pub(super) fn serve(path: &Path, to: Sender<Event>) -> io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        prepare_dir(dir)?;
    }
    if std::fs::symlink_metadata(path).is_ok() {
        if UnixStream::connect(path).is_ok() {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("another process answers on {}", path.display()),
            ));
        }
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    std::thread::Builder::new()
        .name("junction-control".into())
        .spawn(move || {
            for conn in listener.incoming().flatten() {
                if let Err(e) = answer(conn, &to) {
                    tracing::debug!(error = %e, "control socket request failed");
                }
            }
        })?;
    Ok(())
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
        serve(&path, tx.clone()).expect("serve");
        let mode = std::fs::metadata(&path).expect("socket").mode();
        assert_eq!(mode & 0o777, 0o600);
        let dmode = std::fs::metadata(path.parent().expect("dir"))
            .expect("dir")
            .mode();
        assert_eq!(dmode & 0o777, 0o700);
        // A second node on the same path is refused.
        assert_eq!(
            serve(&path, tx).expect_err("in use").kind(),
            io::ErrorKind::AddrInUse
        );
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
    }
}
