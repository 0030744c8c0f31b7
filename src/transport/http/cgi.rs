//! The `cgi` path service: CGI/1.1 scripts (RFC 3875) run by the
//! configured `processor`, one process per request.
//!
//! - Which script: the path below the mount point is normalised like a
//!   static file's (`proto::http::path::StaticPath`: `..` in any spelling,
//!   encoded separators, control characters and double encodings are
//!   refused with 400); the shortest prefix of its names that is a regular
//!   file under `directory` is the script, the rest is `PATH_INFO`
//!   (`/cgi/app.py/users/7` runs `app.py` with `PATH_INFO=/users/7`). The
//!   script's real path (symbolic links resolved) must lie under the
//!   directory's, else 404: no script outside the directory ever runs.
//! - The process: `processor script`, in the script's directory, with only
//!   `PATH` of Junction's environment plus the CGI meta-variables
//!   (`proto::http::gateway::cgi_env`), in a process group of its own so
//!   that a timeout kills whatever it started. Its stdin and stdout are
//!   Unix socket pairs whose ends here are non-blocking and polled by the
//!   shard's reactor; the spawn itself (fork/exec) runs on the shard's
//!   blocking thread pool, and the exit is reaped by polling, never waited
//!   for on the reactor. Its stderr is Junction's.
//! - The request body is streamed to stdin as it arrives, while stdout is
//!   read and streamed to the client, both at once (`duplex`: the answer's
//!   head goes out as soon as the script's header block is complete, before
//!   the body's end if the script writes it so). `CONTENT_LENGTH` is the
//!   request's `Content-Length`. A chunked body up to
//!   `junction.chunked_buffer` octets is read whole first, so that
//!   `CONTENT_LENGTH` can be given, as RFC 3875 section 4.2 asks; a longer
//!   one is not held in memory: the script starts once that much has come,
//!   without `CONTENT_LENGTH`, and gets the body on its stdin as it
//!   arrives, to its end (stdin then closes). The transport's
//!   `max_body_size` applies to either (past it: 413 before the answer
//!   began, else the connection closes; the script is killed).
//! - The answer: the script's header block (`Status:`, `Location:` and any
//!   other fields; `gateway::parse_cgi_head`), then its output streamed
//!   (chunked for HTTP/1.1). Malformed output: 502.
//! - `junction.timeout`: from the spawn to the end of the output; past it
//!   the process group is killed and the client gets 504 (or, mid-body, the
//!   connection is closed). A script whose output ended gets up to two
//!   seconds (within the timeout) to exit before its group is killed; one
//!   whose client went away is killed at once.

use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use super::conn::{HttpConn, Stop};
use super::duplex::{AnswerBody, BodyIn, Head, Input, Outcome, Program, Timing, pump};
use super::reply::text;
use crate::config::TransportConfig;
use crate::config::web::CgiService;
use crate::proto::http::gateway::{CgiRequest, cgi_env, parse_cgi_head};
use crate::proto::http::path::{StaticPath, percent_decode_lossy};
use crate::proto::http::{BodyLength, Request, ResponseBody, ResponseHead};
use crate::transport::Stream;

/// How long a script may take to exit once its output ended.
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// A `cgi` service, prepared.
#[derive(Debug)]
pub(super) struct Cgi {
    /// `directory` as configured (resolved to its real path per request).
    directory: PathBuf,
    /// `processor`.
    processor: String,
    /// `junction.timeout`.
    timeout: Duration,
    /// `junction.max_head_size`.
    max_head: usize,
    /// `junction.chunked_buffer`: a chunked body up to this long is read
    /// whole first (the script gets `CONTENT_LENGTH`).
    chunked_buffer: usize,
    /// The listener's port (`SERVER_PORT` when `Host` names none).
    server_port: u16,
    /// Whether the listener is TLS (`HTTPS=on`).
    https: bool,
    /// Junction's `PATH`, given to scripts.
    path_env: Option<std::ffi::OsString>,
}

/// Where a request path led in the directory.
#[derive(Debug)]
struct Found {
    /// The script's real path.
    file: PathBuf,
    /// How many path names the script took.
    names: usize,
}

/// A running script: killed (with its process group) and reaped when
/// dropped before it exited.
struct Running {
    child: Option<Child>,
}

impl Running {
    /// Kills the process group.
    fn kill(&self) {
        if let Some(c) = &self.child
            && let Ok(pid) = i32::try_from(c.id())
        {
            // SAFETY: kill(2) with a negative pid signals that process
            // group; the group is the child's own (process_group(0)).
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
    }

    /// Waits for the exit without blocking the reactor (polls with
    /// growing pauses); the exit status, if it came before `deadline`.
    async fn reap(&mut self, deadline: Instant) -> Option<std::process::ExitStatus> {
        let mut pause = Duration::from_micros(200);
        loop {
            let child = self.child.as_mut()?;
            match child.try_wait() {
                Ok(Some(status)) => {
                    self.child = None;
                    return Some(status);
                }
                Ok(None) => {}
                Err(_) => {
                    self.child = None;
                    return None;
                }
            }
            if Instant::now() >= deadline {
                return None;
            }
            glommio::timer::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.child.is_none() {
            return;
        }
        self.kill();
        let mut child = self.child.take().expect("checked");
        // SIGKILL takes effect at once, but the exit is reaped later, off
        // this call: a task polls for it.
        glommio::spawn_local(async move {
            for _ in 0..200 {
                if !matches!(child.try_wait(), Ok(None)) {
                    return;
                }
                glommio::timer::sleep(Duration::from_millis(10)).await;
            }
            tracing::warn!(pid = child.id(), "a killed CGI script did not exit");
        })
        .detach();
    }
}

impl Cgi {
    /// The service of `config` on `transport`.
    pub fn new(transport: &TransportConfig, config: &CgiService) -> Self {
        let (server_port, https) = match &transport.endpoint {
            crate::config::Endpoint::Tcp { port, .. } => (*port, false),
            crate::config::Endpoint::TcpTls { port, .. } => (*port, true),
            crate::config::Endpoint::Unix { .. } => (0, false),
        };
        Cgi {
            directory: config.directory.clone(),
            processor: config.processor.clone(),
            timeout: Duration::from_millis(config.timeout_ms),
            max_head: config.max_head_bytes,
            chunked_buffer: config.chunked_buffer,
            server_port,
            https,
            path_env: std::env::var_os("PATH"),
        }
    }

    /// Answers one request: status and body octets sent.
    pub async fn serve(
        &self,
        c: &mut HttpConn,
        req: &Request,
        mount: &str,
        rest: &str,
        peer: &str,
    ) -> Result<(u16, u64), Stop> {
        let path = match StaticPath::parse(if rest.is_empty() { "/" } else { rest }) {
            Ok(p) => p,
            Err(e) => return answer(c, e.status(), "invalid script path\n").await,
        };
        let names = path.segments().to_vec();
        let dir = self.directory.clone();
        let found = glommio::executor()
            .spawn_blocking(move || find_script(&dir, &names))
            .await;
        let Some(found) = found else {
            return answer(c, 404, "not found\n").await;
        };
        let segs = path.segments();
        let mut script_name = percent_decode_lossy(mount, false).into_owned();
        for s in &segs[..found.names] {
            script_name.push('/');
            script_name.push_str(s);
        }
        let mut path_info = String::new();
        for s in &segs[found.names..] {
            path_info.push('/');
            path_info.push_str(s);
        }
        if path.trailing_slash() {
            path_info.push('/');
        }
        // A short chunked body is read whole first, so that its length can
        // be given; a longer one streams on without it.
        let (content_length, buffered) = match req.framing.body {
            BodyLength::Empty => (None, None),
            BodyLength::Length(n) => (Some(n), None),
            BodyLength::Chunked => {
                let mut first = BytesMut::new();
                let mut ended = false;
                while first.len() < self.chunked_buffer {
                    match c.body_piece().await? {
                        Some(piece) => first.extend_from_slice(&piece),
                        None => {
                            ended = true;
                            break;
                        }
                    }
                }
                let length = ended.then_some(first.len() as u64);
                (
                    length,
                    Some(Buffered {
                        first,
                        more: !ended,
                    }),
                )
            }
        };
        let filename = found.file.to_string_lossy().into_owned();
        let env = cgi_env(
            &req.head,
            &CgiRequest {
                script_name: &script_name,
                path_info: &path_info,
                script_filename: &filename,
                peer,
                server_port: self.server_port,
                content_length,
                https: self.https,
            },
        );
        let deadline = Instant::now() + self.timeout;
        let file = found.file.clone();
        let spawned = glommio::executor()
            .spawn_blocking({
                let processor = self.processor.clone();
                let path_env = self.path_env.clone();
                move || spawn(&processor, &file, path_env, env)
            })
            .await;
        let (child, stdin, stdout) = match spawned {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(processor = %self.processor, script = %found.file.display(), error = %e, "cannot run CGI script");
                return answer(c, 500, "cannot run the script\n").await;
            }
        };
        // SAFETY: the descriptors were just made by socketpair(2) and are
        // owned here alone.
        let (stdin, stdout) = unsafe {
            (
                Stream::Unix(Box::new(glommio::net::UnixStream::from_raw_fd(
                    stdin.into_raw_fd(),
                ))),
                Stream::Unix(Box::new(glommio::net::UnixStream::from_raw_fd(
                    stdout.into_raw_fd(),
                ))),
            )
        };
        let mut running = Running { child: Some(child) };
        let result = self
            .run(c, req, buffered, stdin, stdout, deadline, &mut running)
            .await;
        // The client is gone or the answer was cut: the guard kills it.
        let answered = result?;
        // The output ended: the script is exiting. It gets a moment (within
        // the deadline) to do so; then the guard kills its process group.
        let grace = deadline.min(Instant::now() + EXIT_GRACE);
        if let Some(status) = running.reap(grace).await
            && !status.success()
        {
            tracing::debug!(script = %found.file.display(), %status, "CGI script failed");
        }
        Ok(answered)
    }

    /// Streams the body in and the output out, concurrently (`duplex`),
    /// and answers what went wrong before the answer began.
    #[allow(clippy::too_many_arguments)]
    async fn run(
        &self,
        c: &mut HttpConn,
        req: &Request,
        buffered: Option<Buffered>,
        stdin: Stream,
        stdout: Stream,
        deadline: Instant,
        running: &mut Running,
    ) -> Result<(u16, u64), Stop> {
        let body = match buffered {
            Some(b) => BodyIn {
                first: b.first.freeze(),
                more: b.more,
                chunked: false,
            },
            None => BodyIn {
                first: Bytes::new(),
                more: req.framing.body != BodyLength::Empty,
                chunked: false,
            },
        };
        if body.more {
            c.send_continue().await?;
        }
        let max_head = self.max_head;
        let mut program = Program {
            input: Input::Own(stdin),
            output: stdout,
            parse_head: |out: &[u8]| match parse_cgi_head(out, max_head) {
                Ok(Some((head, used))) => {
                    let mut rh = ResponseHead::new(head.status);
                    for (name, value) in &head.fields {
                        if rh.header(name, value).is_err() {
                            tracing::debug!(field = %name, "CGI field dropped");
                        }
                    }
                    rh.body(ResponseBody::Streamed);
                    Ok(Some(Head::Answer(rh, used, AnswerBody::UntilEnd)))
                }
                Ok(None) => Ok(None),
                Err(e) => Err(e.to_string()),
            },
        };
        let timing = Timing {
            deadline: Some(deadline),
            stall: None,
        };
        let outcome = match pump(c, &mut program, body, timing).await {
            Outcome::Ended { .. } => {
                let why = crate::proto::http::gateway::CgiOutputError::Truncated;
                Outcome::BadOutput(why.to_string())
            }
            o => o,
        };
        match outcome {
            Outcome::Answered(status, sent, _) => Ok((status, sent)),
            Outcome::Refuse(e) => {
                running.kill();
                c.refuse(e).await;
                Err(Stop)
            }
            Outcome::BadOutput(why) => {
                tracing::info!(reason = %why, "CGI script answered badly");
                running.kill();
                answer(c, 502, format!("bad gateway: {why}\n")).await
            }
            Outcome::TimedOut => {
                running.kill();
                tracing::info!(
                    timeout_ms = self.timeout.as_millis() as u64,
                    "CGI script timed out"
                );
                answer(c, 504, "the script did not answer in time\n").await
            }
            // (A script's head never switches protocols.)
            Outcome::Stop | Outcome::Ended { .. } | Outcome::Switched(..) => {
                if Instant::now() >= deadline {
                    tracing::info!("CGI script timed out while sending its output");
                }
                Err(Stop)
            }
        }
    }
}

/// The start of a chunked request body, read before the script starts.
struct Buffered {
    /// What was read.
    first: BytesMut,
    /// The body goes on (it was longer than `chunked_buffer`): the rest is
    /// streamed after `first`.
    more: bool,
}

/// A plain answer (also when the request's body was not read: the
/// connection then closes after it).
async fn answer(
    c: &mut HttpConn,
    status: u16,
    why: impl Into<bytes::Bytes>,
) -> Result<(u16, u64), Stop> {
    let (head, body) = text(status, why);
    let sent = c.respond(&head, body).await?;
    Ok((status, sent))
}

/// The script `names` lead to under `dir` (blocking: the shard's thread
/// pool runs it): the first prefix that is a regular file, if its real
/// path lies under the directory's.
fn find_script(dir: &Path, names: &[String]) -> Option<Found> {
    let root = std::fs::canonicalize(dir).ok()?;
    let mut p = root.clone();
    for (i, name) in names.iter().enumerate() {
        p.push(name);
        let meta = std::fs::metadata(&p).ok()?;
        if meta.is_file() {
            let real = std::fs::canonicalize(&p).ok()?;
            return real.starts_with(&root).then_some(Found {
                file: real,
                names: i + 1,
            });
        }
        if !meta.is_dir() {
            return None;
        }
    }
    None
}

/// Starts `processor script` (blocking: the shard's thread pool runs it)
/// with stdin and stdout on socket pairs; returns the child and our ends.
fn spawn(
    processor: &str,
    script: &Path,
    path_env: Option<std::ffi::OsString>,
    env: Vec<(String, Vec<u8>)>,
) -> std::io::Result<(Child, OwnedFd, OwnedFd)> {
    use std::os::unix::ffi::OsStringExt;
    use std::os::unix::process::CommandExt;
    let (our_in, their_in) = std::os::unix::net::UnixStream::pair()?;
    let (our_out, their_out) = std::os::unix::net::UnixStream::pair()?;
    our_in.set_nonblocking(true)?;
    our_out.set_nonblocking(true)?;
    let mut cmd = Command::new(processor);
    cmd.arg(script)
        .env_clear()
        .stdin(Stdio::from(OwnedFd::from(their_in)))
        .stdout(Stdio::from(OwnedFd::from(their_out)))
        .stderr(Stdio::inherit())
        .process_group(0);
    if let Some(dir) = script.parent() {
        cmd.current_dir(dir);
    }
    if let Some(p) = path_env {
        cmd.env("PATH", p);
    }
    for (k, v) in env {
        cmd.env(k, std::ffi::OsString::from_vec(v));
    }
    let child = cmd.spawn()?;
    Ok((child, OwnedFd::from(our_in), OwnedFd::from(our_out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(p: &str) -> Vec<String> {
        StaticPath::parse(p).expect("valid").segments().to_vec()
    }

    #[test]
    fn find_script_takes_the_first_file_and_stays_inside() {
        let tmp = std::env::temp_dir().join(format!("junction-cgi-find-{}", std::process::id()));
        let dir = tmp.join("cgi");
        std::fs::create_dir_all(dir.join("sub")).expect("mkdir");
        std::fs::write(dir.join("a.sh"), "echo").expect("write");
        std::fs::write(dir.join("sub/b.py"), "print()").expect("write");
        std::fs::write(tmp.join("outside.sh"), "echo").expect("write");
        std::os::unix::fs::symlink(tmp.join("outside.sh"), dir.join("link.sh")).expect("symlink");
        std::os::unix::fs::symlink(dir.join("a.sh"), dir.join("inside.sh")).expect("symlink");

        let f = find_script(&dir, &names("/a.sh/x/y")).expect("found");
        assert_eq!(
            (f.file.file_name().and_then(|n| n.to_str()), f.names),
            (Some("a.sh"), 1)
        );
        let f = find_script(&dir, &names("/sub/b.py")).expect("found");
        assert_eq!(f.names, 2);
        let f = find_script(&dir, &names("/inside.sh/p")).expect("a link inside is followed");
        assert!(f.file.ends_with("a.sh"));
        assert!(
            find_script(&dir, &names("/link.sh")).is_none(),
            "a link out is refused"
        );
        assert!(
            find_script(&dir, &names("/sub")).is_none(),
            "a directory is no script"
        );
        assert!(find_script(&dir, &names("/missing.sh")).is_none());
        assert!(find_script(&dir, &names("/")).is_none());
        std::fs::remove_dir_all(&tmp).expect("cleanup");
    }
}
