//! Starting one guest process from its config: the executable (resolved
//! as Crossbar does), its arguments, working directory, environment,
//! standard input and output, its own process group and the parent-death
//! signal. Threads of their own copy its output into the log and write its
//! standard input, so that nothing here ever blocks the supervisor on a
//! pipe.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;

use crate::config::worker::{EnvInherit, GuestOutput, GuestStdin, GuestWorker, ProcessEnv};
use crate::proto::codec::{json, msgpack};

/// The longest line of a guest's output logged as one record; longer
/// lines are logged in pieces of this size.
pub(super) const MAX_LOG_LINE: usize = 16 * 1024;

/// A started guest process and what keeps its standard input open.
pub(super) struct Spawned {
    /// The process.
    pub child: Child,
    /// Standard input, held open (`stdin` not given).
    pub _stdin: Option<ChildStdin>,
    /// Dropped when the process ends: the thread that wrote a value with
    /// `close: false` then closes its standard input.
    pub _stdin_hold: Option<mpsc::Sender<()>>,
}

/// Starts guest `id`.
///
/// # Errors
/// Why it cannot start: the executable is not found, or the system refused
/// the process or a thread.
pub(super) fn spawn(id: &str, g: &GuestWorker) -> Result<Spawned, String> {
    let exe = resolve_executable(
        &g.executable,
        &g.workdir,
        std::env::var_os("PATH").as_deref(),
    )
    .ok_or_else(|| {
        format!(
            "no executable \"{}\" (neither in {} nor on PATH)",
            g.executable,
            g.workdir.display()
        )
    })?;
    let mut cmd = Command::new(&exe);
    cmd.args(&g.arguments)
        .current_dir(&g.workdir)
        .env_clear()
        .envs(environment(&g.env, std::env::vars_os()));
    let input = stdin_bytes(&g.stdin).map_err(|e| format!("options.stdin: {e}"))?;
    cmd.stdin(match &g.stdin {
        GuestStdin::Close => Stdio::null(),
        GuestStdin::Open | GuestStdin::Json { .. } => Stdio::piped(),
    });
    for (output, set) in [
        (
            g.stdout,
            Command::stdout as fn(&mut Command, Stdio) -> &mut Command,
        ),
        (g.stderr, Command::stderr),
    ] {
        set(
            &mut cmd,
            match output {
                GuestOutput::Close => Stdio::null(),
                GuestOutput::Log | GuestOutput::Drop => Stdio::piped(),
            },
        );
    }
    // Its own process group: a stop signals the guest and what it started.
    cmd.process_group(0);
    let parent = std::process::id();
    // SAFETY: the closure calls only async-signal-safe functions (sigemptyset,
    // pthread_sigmask, prctl, getppid) and allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            // The node blocks SIGTERM/SIGINT/SIGHUP on its threads (a thread
            // of its own waits for them); a mask is inherited over exec.
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::pthread_sigmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
            // Killed when the supervising thread (the whole node, in
            // practice) dies, even by SIGKILL.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The node died between fork and prctl: do not outlive it.
            if libc::getppid() as u32 != parent {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
    if let Some(out) = child.stdout.take() {
        copy_output(id, "stdout", out, g.stdout == GuestOutput::Log);
    }
    if let Some(err) = child.stderr.take() {
        copy_output(id, "stderr", err, g.stderr == GuestOutput::Log);
    }
    let (mut stdin, mut stdin_hold) = (None, None);
    if let Some(pipe) = child.stdin.take() {
        match (input, &g.stdin) {
            (Some(bytes), GuestStdin::Json { close, .. }) => {
                let (hold, held) = mpsc::channel::<()>();
                if !close {
                    stdin_hold = Some(hold);
                }
                if let Err(e) = write_input(id, pipe, bytes, held) {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(e);
                }
            }
            _ => stdin = Some(pipe),
        }
    }
    Ok(Spawned {
        child,
        _stdin: stdin,
        _stdin_hold: stdin_hold,
    })
}

/// The executable of a guest: `workdir/executable` when that is an
/// executable file, else `executable` looked up in `path` (the node's
/// `PATH`), as Crossbar does. A name with a `/` is not looked up.
pub(super) fn resolve_executable(
    executable: &str,
    workdir: &Path,
    path: Option<&OsStr>,
) -> Option<PathBuf> {
    let here = workdir.join(executable);
    if is_executable(&here) {
        return Some(here);
    }
    if executable.contains('/') {
        return None;
    }
    std::env::split_paths(path?)
        .map(|dir| dir.join(executable))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The environment of a guest from the node's own (`parent`): `inherit`
/// picks from it, `vars` are set on top, and `PYTHONUNBUFFERED=1` is added
/// unless present (as Crossbar does: a Python guest's output then reaches
/// the log line by line).
pub(super) fn environment(
    env: &ProcessEnv,
    parent: impl Iterator<Item = (OsString, OsString)>,
) -> BTreeMap<OsString, OsString> {
    let mut out: BTreeMap<OsString, OsString> = match &env.inherit {
        EnvInherit::All => parent.collect(),
        EnvInherit::Nothing => BTreeMap::new(),
        EnvInherit::Only(names) => parent
            .filter(|(k, _)| names.iter().any(|n| OsStr::new(n) == k))
            .collect(),
    };
    for (k, v) in &env.vars {
        out.insert(k.into(), v.into());
    }
    out.entry("PYTHONUNBUFFERED".into())
        .or_insert_with(|| "1".into());
    out
}

/// What is written to a guest's standard input: `options.stdin`'s value as
/// JSON (with a final newline, so a guest may read a line) or MessagePack.
///
/// # Errors
/// The value cannot be encoded as MessagePack (it cannot happen for a
/// value read from a config, but is not unwrapped).
pub(super) fn stdin_bytes(stdin: &GuestStdin) -> Result<Option<Vec<u8>>, String> {
    let GuestStdin::Json { value, msgpack, .. } = stdin else {
        return Ok(None);
    };
    let mut text = serde_json::to_vec(value).map_err(|e| e.to_string())?;
    if !msgpack {
        text.push(b'\n');
        return Ok(Some(text));
    }
    let v = json::decode_value(&text).map_err(|e| e.to_string())?;
    let mut out = bytes::BytesMut::new();
    msgpack::encode_value(&v, &mut out);
    Ok(Some(out.to_vec()))
}

/// Writes `bytes` to a guest's standard input on a thread of its own, then
/// closes it (at once, or once `held` is dropped: the guest ended).
fn write_input(
    id: &str,
    mut stdin: ChildStdin,
    bytes: Vec<u8>,
    held: mpsc::Receiver<()>,
) -> Result<(), String> {
    let who = id.to_owned();
    std::thread::Builder::new()
        .name("junction-guest-in".into())
        .spawn(move || {
            if let Err(e) = stdin.write_all(&bytes).and_then(|()| stdin.flush()) {
                tracing::warn!(target: "junction::guest", worker = %who, error = %e, "cannot write the guest's standard input");
                return;
            }
            // Returns when the sender is dropped (or was never kept).
            let _ = held.recv();
        })
        .map(drop)
        .map_err(|e| format!("cannot start a thread: {e}"))
}

/// Reads a guest's stdout or stderr to its end on a thread of its own and
/// logs each line (`log`) or drops it (`drop`).
fn copy_output(id: &str, stream: &'static str, from: impl Read + Send + 'static, log: bool) {
    let who = id.to_owned();
    let started = std::thread::Builder::new()
        .name("junction-guest-out".into())
        .spawn(move || {
            let mut reader = BufReader::new(from);
            let mut line = Vec::new();
            loop {
                line.clear();
                match read_line(&mut reader, &mut line, MAX_LOG_LINE) {
                    Ok(0) | Err(_) => return,
                    Ok(_) if !log => {}
                    Ok(_) => {
                        let text = String::from_utf8_lossy(&line);
                        let text = text.trim_end_matches(['\n', '\r']);
                        tracing::info!(target: "junction::guest", worker = %who, stream, "{text}");
                    }
                }
            }
        });
    if let Err(e) = started {
        tracing::error!(target: "junction::guest", worker = %id, error = %e, "cannot start the thread that reads the guest's {stream}");
    }
}

/// Reads up to and including a newline, or `max` octets, whichever comes
/// first; `Ok(0)` at the end.
pub(super) fn read_line(
    r: &mut impl BufRead,
    out: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<usize> {
    let mut n = 0;
    while n < max {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            break;
        }
        let room = max - n;
        let take = buf.len().min(room);
        match buf[..take].iter().position(|&b| b == b'\n') {
            Some(i) => {
                out.extend_from_slice(&buf[..=i]);
                r.consume(i + 1);
                return Ok(n + i + 1);
            }
            None => {
                out.extend_from_slice(&buf[..take]);
                r.consume(take);
                n += take;
            }
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_executable_is_found_in_workdir_then_on_path() {
        let dir = tempfile::tempdir().expect("dir");
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).expect("mkdir");
        let make = |p: &Path, mode: u32| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::write(p, "#!/bin/sh\n").expect("write");
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
        };
        make(&bin.join("tool"), 0o755);
        make(&bin.join("plain"), 0o644);
        make(&dir.path().join("local"), 0o755);
        let path = std::env::join_paths([Path::new("/nonexistent"), &bin]).expect("join");
        let found = |exe: &str| resolve_executable(exe, dir.path(), Some(&path));
        assert_eq!(found("tool"), Some(bin.join("tool")), "on PATH");
        assert_eq!(found("local"), Some(dir.path().join("local")), "in workdir");
        assert_eq!(
            found("bin/tool"),
            Some(bin.join("tool")),
            "relative to workdir"
        );
        assert_eq!(found("plain"), None, "not executable");
        assert_eq!(found("bin"), None, "a directory");
        assert_eq!(found("missing"), None);
        assert_eq!(found("x/tool"), None, "a path is not looked up");
        assert_eq!(resolve_executable("tool", dir.path(), None), None);
    }

    fn parent() -> impl Iterator<Item = (OsString, OsString)> {
        [("PATH", "/bin"), ("HOME", "/root"), ("SECRET", "s")]
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
    }

    fn keys(m: &BTreeMap<OsString, OsString>) -> Vec<&str> {
        m.keys().map(|k| k.to_str().expect("utf-8")).collect()
    }

    #[test]
    fn the_environment_inherits_as_told_and_sets_vars_on_top() {
        let all = environment(&ProcessEnv::default(), parent());
        assert_eq!(keys(&all), ["HOME", "PATH", "PYTHONUNBUFFERED", "SECRET"]);
        assert_eq!(all[OsStr::new("PYTHONUNBUFFERED")], "1");
        let none = environment(
            &ProcessEnv {
                inherit: EnvInherit::Nothing,
                vars: [("A".to_owned(), "1".to_owned())].into(),
            },
            parent(),
        );
        assert_eq!(keys(&none), ["A", "PYTHONUNBUFFERED"]);
        let some = environment(
            &ProcessEnv {
                inherit: EnvInherit::Only(vec!["PATH".into(), "NOPE".into()]),
                vars: [
                    ("PATH".to_owned(), "/opt/bin".to_owned()),
                    ("PYTHONUNBUFFERED".to_owned(), String::new()),
                ]
                .into(),
            },
            parent(),
        );
        assert_eq!(keys(&some), ["PATH", "PYTHONUNBUFFERED"]);
        assert_eq!(some[OsStr::new("PATH")], "/opt/bin", "vars win");
        assert_eq!(
            some[OsStr::new("PYTHONUNBUFFERED")],
            "",
            "an explicit value stays"
        );
    }

    #[test]
    fn stdin_values_are_json_lines_or_msgpack() {
        assert_eq!(stdin_bytes(&GuestStdin::Open), Ok(None));
        assert_eq!(stdin_bytes(&GuestStdin::Close), Ok(None));
        let v = json!({"a": [1, "x"]});
        assert_eq!(
            stdin_bytes(&GuestStdin::Json {
                value: v.clone(),
                msgpack: false,
                close: true
            }),
            Ok(Some(b"{\"a\":[1,\"x\"]}\n".to_vec()))
        );
        // fixmap(1) "a" fixarray(2) 1 "x"
        assert_eq!(
            stdin_bytes(&GuestStdin::Json {
                value: v,
                msgpack: true,
                close: false
            }),
            Ok(Some(vec![0x81, 0xa1, b'a', 0x92, 0x01, 0xa1, b'x']))
        );
    }

    #[test]
    fn long_lines_come_in_pieces() {
        let text = b"short\nabcdefghij\nend";
        let mut r = BufReader::with_capacity(4, &text[..]);
        let mut lines = Vec::new();
        loop {
            let mut line = Vec::new();
            if read_line(&mut r, &mut line, 6).expect("read") == 0 {
                break;
            }
            lines.push(String::from_utf8(line).expect("utf-8"));
        }
        assert_eq!(lines, ["short\n", "abcdef", "ghij\n", "end"]);
    }
}
