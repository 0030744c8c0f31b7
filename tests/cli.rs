//! The `junction` binary: `check` on good and bad config files (exit codes,
//! messages naming the key path), `version`, and `start` under a restricted
//! CPU affinity (taskset).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// A runtime directory of the test's own (`RUNTIME_DIRECTORY`): a started node
/// puts its control socket there and refuses one that another live node owns,
/// so tests never meet a router running elsewhere on the machine.
fn runtime_dir() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "cli-run-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("runtime dir");
    dir.to_str().expect("UTF-8 path").to_owned()
}

fn junction(args: &[&str]) -> Output {
    junction_env(args, &[])
}

/// Runs the binary with `vars` set (and nothing inherited that a sample reads).
fn junction_env(args: &[&str], vars: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_junction"));
    cmd.args(args).env("RUNTIME_DIRECTORY", runtime_dir());
    for name in SAMPLE_VARS {
        cmd.env_remove(name);
    }
    cmd.envs(vars.iter().copied());
    cmd.output().expect("the junction binary runs")
}

/// Environment variables the samples reference.
const SAMPLE_VARS: [&str; 6] = [
    "OPS_TICKET",
    "BRIDGE_SECRET",
    "SENSOR_PASSWORD",
    "BACKUP_DISABLED",
    "ALICE_SECRET",
    "PUSH_SECRET",
];

fn sample(name: &str) -> String {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "config_files", name]
        .iter()
        .collect();
    path.to_str().expect("UTF-8 path").to_owned()
}

/// The standard error of a command that must have been refused (exit
/// status 2, the configuration or argument error).
fn refused(out: &Output) -> String {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    stderr
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn check_accepts_the_crossbar_template_and_prints_warnings() {
    for file in ["crossbar.json", "crossbar.yaml"] {
        let out = junction(&["check", "--config", &sample(file)]);
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert_eq!(out.status.code(), Some(0), "{file}: {stdout}{stderr}");
        assert_eq!(stdout.trim(), "config OK: 1 realm(s), 2 transport(s)");
        assert!(
            stderr.contains("warning: workers[0].options.pythonpath: used only to locate"),
            "{stderr}"
        );
        // Its empty `controller` has nothing Junction ignores.
        assert!(!stderr.contains("warning: controller"), "{stderr}");
    }
}

#[test]
fn check_accepts_junction_limits_without_warnings() {
    let out = junction(&["check", "--config", &sample("junction_limits.yaml")]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stdout).trim(),
        "config OK: 1 realm(s), 2 transport(s)"
    );
    assert_eq!(text(&out.stderr), "");
}

#[test]
fn check_accepts_crossbars_template_with_its_static_path() {
    let out = junction(&["check", "--config", &sample("crossbar_static.json")]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        text(&out.stdout).trim(),
        "config OK: 1 realm(s), 2 transport(s)"
    );
    assert!(!stderr.contains("error"), "{stderr}");
}

/// `check` loads keys and certificates as `start` does: a config it calls
/// valid starts. tls.json names `server.key` and `server.crt` beside it.
#[test]
fn check_loads_tls_files_as_start_does() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("tls.json");
    std::fs::copy(sample("tls.json"), &config).expect("copy tls.json");
    let config = config.to_str().expect("UTF-8 path");
    let out = junction(&["check", "--config", config]);
    let stderr = refused(&out);
    assert!(
        stderr.contains("transport transport2: TLS: certificate "),
        "{stderr}"
    );
    assert!(!text(&out.stdout).contains("config OK"));
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .expect("params")
        .self_signed(&key)
        .expect("certificate");
    std::fs::write(dir.path().join("server.key"), key.serialize_pem()).expect("key file");
    std::fs::write(dir.path().join("server.crt"), cert.pem()).expect("certificate file");
    let out = junction(&["check", "--config", config]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("error"), "{stderr}");
}

/// A guest worker whose executable is nowhere: `start` refuses it, so
/// `check` does too.
#[test]
fn check_refuses_a_worker_without_its_executable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("guest.json");
    std::fs::write(
        &path,
        r#"{"version": 2, "workers": [
            {"type": "router", "realms": [{"name": "realm1", "roles": [{"name": "anonymous", "permissions": [
                {"uri": "", "match": "prefix", "allow": {"call": true, "register": true, "publish": true, "subscribe": true}}]}]}],
             "transports": [{"type": "websocket", "endpoint": {"type": "tcp", "port": 0}}]},
            {"type": "guest", "executable": "no-such-program-junction-test", "arguments": []}]}"#,
    )
    .expect("write config");
    let out = junction(&["check", "--config", path.to_str().expect("UTF-8 path")]);
    let stderr = refused(&out);
    assert!(
        stderr.contains("no executable \"no-such-program-junction-test\""),
        "{stderr}"
    );
}

#[test]
fn check_reports_every_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bad.json");
    std::fs::write(
        &path,
        r#"{"workers": [{"type": "router", "realms": [{"name": "realm1", "store": {"type": "cfxdb"}}],
             "transports": [{"type": "rawsocket", "endpoint": {"type": "tcp", "port": 8081},
                             "serializers": ["ubjson"]}]}]}"#,
    )
    .expect("write");
    let out = junction(&["check", "--config", path.to_str().expect("UTF-8 path")]);
    let stderr = refused(&out);
    for needle in [
        "error: version: missing",
        "error: workers[0].realms[0].store.path: missing (required for a \"cfxdb\" store)",
        "error: workers[0].transports[0].serializers[0]: ",
        "3 error(s)",
    ] {
        assert!(stderr.contains(needle), "{needle:?} not in:\n{stderr}");
    }
}

#[test]
fn check_fails_on_missing_file_and_syntax_errors() {
    let out = junction(&["check", "--config", "/nonexistent/junction.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot read /nonexistent/junction.json"));

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("broken.json");
    std::fs::write(&path, "{\"version\": 2,").expect("write");
    let out = junction(&["check", "--config", path.to_str().expect("UTF-8 path")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("JSON syntax error"));
}

/// Runs the binary in `dir` without `$CROSSBAR_DIR`.
fn junction_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_junction"))
        .args(args)
        .current_dir(dir)
        .env("RUNTIME_DIRECTORY", runtime_dir())
        .env_remove("CROSSBAR_DIR")
        .output()
        .expect("the junction binary runs")
}

#[test]
fn check_requires_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = junction_in(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--config"),
        "{}",
        text(&out.stderr)
    );
    let out = junction_in(dir.path(), &["check", "--cbdir", "."]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no config.json, config.yaml or config.yml"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn init_creates_a_node_that_check_finds_as_crossbar_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = junction_in(dir.path(), &["init", "--appdir", "app"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("created app/.crossbar/config.json"),
        "{stdout}"
    );
    assert!(stdout.contains("created app/web/index.html"), "{stdout}");
    assert!(
        stdout.contains("junction start --cbdir app/.crossbar"),
        "{stdout}"
    );

    // In the application directory, `check` finds .crossbar/config.json by itself.
    let app = dir.path().join("app");
    let out = junction_in(&app, &["check"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        "config OK: 1 realm(s), 3 transport(s)"
    );
    // Elsewhere through --cbdir or $CROSSBAR_DIR.
    let out = junction_in(dir.path(), &["check", "--cbdir", "app/.crossbar"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = Command::new(env!("CARGO_BIN_EXE_junction"))
        .arg("check")
        .current_dir(dir.path())
        .env("CROSSBAR_DIR", app.join(".crossbar"))
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", text(&out.stderr));

    // A second init refuses and leaves the config as it was.
    let before = std::fs::read(app.join(".crossbar/config.json")).expect("read");
    let out = junction_in(dir.path(), &["init", "--appdir", "app"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("already exists"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        std::fs::read(app.join(".crossbar/config.json")).expect("read"),
        before
    );
}

#[test]
fn version_prints_the_crate_version() {
    let out = junction(&["version"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stdout).trim(),
        format!("junction {}", env!("CARGO_PKG_VERSION"))
    );
}

/// A valid config using a feature not supported yet (router
/// `connections`), written in `dir`.
fn gap_config(dir: &Path) -> String {
    let path = dir.join("gap.json");
    std::fs::write(
        &path,
        r#"{"version": 2, "workers": [{"type": "router",
            "realms": [{"name": "realm1", "roles": [{"name": "anonymous"}]}],
            "transports": [{"type": "websocket", "endpoint": {"type": "tcp", "port": 0}}],
            "connections": [{"id": "up"}]}]}"#,
    )
    .expect("write config");
    path.to_str().expect("UTF-8 path").to_owned()
}

#[test]
fn start_rejects_a_bad_config_before_starting() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = junction(&["start", "--config", &gap_config(dir.path())]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("is not supported yet"));
}

#[test]
fn start_names_a_tls_file_that_does_not_load_once() {
    // tls.json names key and certificate files that are not there. Its
    // ports are moved to free ones: a router on 8080 (the default) must not
    // make the listener fail before the TLS files are read.
    let text_of = std::fs::read_to_string(sample("tls.json")).expect("sample");
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port()
    };
    let moved = text_of
        .replace("\"port\": 8080", &format!("\"port\": {}", free()))
        .replace("\"port\": 8081", &format!("\"port\": {}", free()));
    assert_ne!(moved, text_of, "the sample's ports moved");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("tls.json");
    std::fs::write(&config, moved).expect("config");
    let out = junction(&["start", "--config", config.to_str().expect("UTF-8 path")]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .expect("an error line");
    assert!(
        line.contains("transport transport2: TLS: certificate "),
        "{line}"
    );
    assert_eq!(line.matches("No such file").count(), 1, "{line}");
}

/// A config of one realm and one WebSocket transport on `endpoint` (JSON).
fn one_transport_config(dir: &Path, endpoint: &str) -> String {
    let path = dir.join("one.json");
    std::fs::write(
        &path,
        format!(
            r#"{{"version": 2, "workers": [{{"type": "router",
                "realms": [{{"name": "realm1", "roles": [{{"name": "anonymous", "permissions": [
                    {{"uri": "", "match": "prefix", "allow": {{"call": true, "register": true, "publish": true, "subscribe": true}}}}]}}]}}],
                "transports": [{{"type": "websocket", "endpoint": {endpoint}}}]}}]}}"#
        ),
    )
    .expect("write config");
    path.to_str().expect("UTF-8 path").to_owned()
}

/// The `error: ` line of a failed start, checked for the noise earlier
/// versions printed: a context that says nothing, a cause written twice.
fn start_error_line(out: &Output) -> String {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(!lines[0].contains("router runtime failed"), "{stderr}");
    lines[0].to_owned()
}

#[test]
fn start_on_a_port_in_use_says_so_once_and_what_to_do() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let dir = tempfile::tempdir().expect("temp dir");
    let config = one_transport_config(
        dir.path(),
        &format!(r#"{{"type": "tcp", "interface": "127.0.0.1", "port": {port}}}"#),
    );
    let line = start_error_line(&junction(&["start", "--config", &config]));
    assert!(
        line.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{line}"
    );
    assert_eq!(
        line.matches("another process listens there").count(),
        1,
        "{line}"
    );
    assert!(
        line.contains("another port (its `endpoint.port`)"),
        "{line}"
    );
}

#[test]
fn start_on_a_unix_socket_in_a_missing_directory_names_the_directory() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("no-such-dir");
    let socket = missing.join("ws.sock");
    let config = one_transport_config(
        dir.path(),
        &format!(r#"{{"type": "unix", "path": "{}"}}"#, socket.display()),
    );
    let line = start_error_line(&junction(&["start", "--config", &config]));
    assert_eq!(
        line.matches("No such file or directory").count(),
        1,
        "{line}"
    );
    assert!(
        line.contains(&format!(
            "the directory {} does not exist: create it",
            missing.display()
        )),
        "{line}"
    );
}

#[test]
fn start_on_a_unix_path_taken_says_what_to_do() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("taken.sock");
    std::fs::write(&path, "not a socket").expect("write");
    let config = one_transport_config(
        dir.path(),
        &format!(r#"{{"type": "unix", "path": "{}"}}"#, path.display()),
    );
    let line = start_error_line(&junction(&["start", "--config", &config]));
    assert!(line.contains("exists and is not a socket"), "{line}");
    assert!(line.contains("remove that file, or change"), "{line}");
    // A socket another process listens on.
    std::fs::remove_file(&path).expect("remove");
    let _other = std::os::unix::net::UnixListener::bind(&path).expect("bind");
    let line = start_error_line(&junction(&["start", "--config", &config]));
    assert!(
        line.contains("another process listens on this socket: stop it"),
        "{line}"
    );
}

#[test]
fn an_unusable_runtime_directory_is_a_warning_that_says_what_to_do() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = ephemeral_config(dir.path(), "{}");
    // A directory that cannot be made: its parent is a file.
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").expect("write");
    let mut child = Command::new(env!("CARGO_BIN_EXE_junction"))
        .args(["start", "--shards", "1", "--config", &config])
        .env("RUNTIME_DIRECTORY", file.join("run"))
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("junction starts");
    let mut lines = BufReader::new(child.stderr.take().expect("piped")).lines();
    let mut log = String::new();
    for line in lines.by_ref() {
        let line = line.expect("log line");
        log.push_str(&line);
        log.push('\n');
        if line.contains("listening") {
            break;
        }
    }
    // SAFETY: plain kill(2) on our own child's PID.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().expect("router exits");
    assert!(status.success(), "{status:?}\n{log}{}", rest.join("\n"));
    let warning = log
        .lines()
        .find(|l| l.contains("no control socket"))
        .unwrap_or_else(|| panic!("no warning:\n{log}"));
    assert!(warning.contains("WARN"), "{warning}");
    assert!(
        warning.contains("set RUNTIME_DIRECTORY to a directory this user owns"),
        "{warning}"
    );
}

/// A router whose stderr is closed (a pipe whose reader went away) keeps
/// running and shuts down cleanly: log lines it cannot write are dropped,
/// not a panic.
#[test]
fn a_closed_stderr_is_not_a_crash() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = ephemeral_config(dir.path(), "{}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_junction"))
        .args(["start", "--shards", "1", "--config", &config])
        .env("RUNTIME_DIRECTORY", runtime_dir())
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("junction starts");
    let mut lines = BufReader::new(child.stderr.take().expect("piped")).lines();
    assert!(
        lines
            .by_ref()
            .map_while(Result::ok)
            .any(|l| l.contains("listening")),
        "the router did not start"
    );
    drop(lines);
    // The shutdown logs (to the closed pipe) and must still exit 0.
    // SAFETY: plain kill(2) on our own child's PID.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let status = child.wait().expect("router exits");
    assert_eq!(status.code(), Some(0), "{status:?}");
}

#[test]
fn a_bad_log_filter_is_named_once() {
    let out = junction(&["start", "--log-level", "info,junction::core=bogus"]);
    let stderr = refused(&out);
    assert!(stderr.starts_with("error: invalid --log-level"), "{stderr}");
    assert_eq!(
        stderr.matches("error parsing level filter").count(),
        1,
        "{stderr}"
    );
}

#[test]
fn syntax_errors_name_the_file_line_and_column() {
    let dir = tempfile::tempdir().expect("temp dir");
    let json = dir.path().join("broken.json");
    std::fs::write(&json, "{\"version\": 2,\n  \"workers\": [,]}").expect("write");
    let yaml = dir.path().join("broken.yaml");
    std::fs::write(
        &yaml,
        "version: 2\nworkers:\n  - type: router\n   realms: [\n",
    )
    .expect("write");
    for (path, format) in [(&json, "JSON"), (&yaml, "YAML")] {
        let path = path.to_str().expect("UTF-8 path");
        for command in ["check", "start"] {
            let out = junction(&[command, "--config", path]);
            let stderr = refused(&out);
            let line = stderr
                .lines()
                .find(|l| l.starts_with("error: "))
                .expect("an error line");
            assert!(
                line.starts_with(&format!("error: {path}: {format} syntax error: ")),
                "{line}"
            );
            assert!(line.contains(" line "), "{line}");
            assert!(line.contains(" column "), "{line}");
        }
    }
}

#[test]
fn a_missing_config_or_node_directory_says_what_to_pass() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = junction_in(dir.path(), &["start", "--config", "nope.json"]);
    let stderr = refused(&out);
    assert!(
        stderr.contains("cannot read nope.json: ")
            && stderr.contains("give --config an existing file"),
        "{stderr}"
    );
    // `junction init --appdir app` makes app/.crossbar; `--cbdir app` is a slip.
    let out = junction_in(dir.path(), &["init", "--appdir", "app"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = junction_in(dir.path(), &["check", "--cbdir", "app"]);
    let stderr = refused(&out);
    assert!(
        stderr.contains("did you mean --cbdir app/.crossbar?"),
        "{stderr}"
    );
    let out = junction_in(dir.path(), &["check", "--cbdir", "."]);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("pass --config FILE, or a --cbdir DIR that has one"),
        "{stderr}"
    );
}

/// Writes a config like the embedded default, listening on ephemeral ports,
/// with `junction` as its top-level `junction` section.
fn ephemeral_config(dir: &Path, junction: &str) -> String {
    let text = std::fs::read_to_string(sample("embedded_default.json")).expect("sample");
    let text = text
        .replace("\"port\": 8080", "\"port\": 0")
        .replace("\"port\": 8081", "\"port\": 0")
        .replace("\"port\": 1883", "\"port\": 0")
        .replacen(
            "\"version\": 2,",
            &format!("\"version\": 2, \"junction\": {junction},"),
            1,
        );
    let path = dir.join("junction.json");
    std::fs::write(&path, text).expect("write config");
    path.to_str().expect("UTF-8 path").to_owned()
}

/// Whether util-linux's `taskset` can run here.
fn have_taskset() -> bool {
    let ok = Command::new("taskset")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("SKIPPED: taskset (util-linux) is not installed; the CPU affinity tests need it");
    }
    ok
}

/// Every thread of process `pid`: (name, `Cpus_allowed_list`). The shard
/// executors are named `junction-shard-N` (the kernel keeps 15 characters;
/// their helper threads inherit the name).
fn threads(pid: u32) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).expect("/proc") {
        let task = task.expect("task entry").path();
        let Ok(status) = std::fs::read_to_string(task.join("status")) else {
            continue; // the thread ended meanwhile
        };
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.trim().to_owned())
                .expect("field present")
        };
        out.push((field("Name:"), field("Cpus_allowed_list:")));
    }
    out
}

/// Runs `junction start` under `taskset -c cpu` until it listens; returns
/// its threads and its log up to that point, then stops it.
fn start_pinned(cpu: usize) -> (Vec<(String, String)>, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = ephemeral_config(dir.path(), "{}");
    let mut child = Command::new("taskset")
        .args(["-c", &cpu.to_string(), env!("CARGO_BIN_EXE_junction")])
        .args(["start", "--config", &config, "--log-level", "info"])
        .env("RUNTIME_DIRECTORY", runtime_dir())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("taskset runs");
    let stderr = child.stderr.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            if tx.send(line.expect("log line")).is_err() {
                break;
            }
        }
    });
    let mut log = String::new();
    // Generous: only a router that never starts waits this long.
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(60)) {
        log.push_str(&line);
        log.push('\n');
        if line.contains("listening") {
            break;
        }
    }
    let threads = threads(child.id());
    // SIGTERM: the router shuts down gracefully.
    // SAFETY: plain kill(2) on our own child's PID.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let status = child.wait().expect("router exits");
    assert!(
        log.contains("listening"),
        "the router did not start:\n{log}"
    );
    assert!(status.success(), "exit after SIGTERM: {status:?}\n{log}");
    (threads, log)
}

#[test]
fn start_runs_one_shard_per_allowed_cpu_and_only_there() {
    if !have_taskset() {
        return;
    }
    let allowed = junction::shard::allowed_cpus();
    // CPU 0, and the last allowed CPU: a shard pinned to CPU 0 regardless of
    // the mask would show there.
    let mut cpus = vec![0];
    if let Some(&last) = allowed.last().filter(|&&c| c != 0) {
        cpus.push(last);
    }
    for cpu in cpus {
        let (threads, log) = start_pinned(cpu);
        // The router's own count (the log); then where its threads may run.
        assert!(
            log.contains("starting junction") && log.contains("shards=1\n"),
            "one shard under taskset -c {cpu}:\n{log}"
        );
        assert!(
            threads
                .iter()
                .any(|(name, _)| name.starts_with("junction-shard")),
            "{threads:?}"
        );
        for (name, allowed) in &threads {
            assert_eq!(
                allowed,
                &cpu.to_string(),
                "thread {name} may leave CPU {cpu}"
            );
        }
    }
}

#[test]
fn start_refuses_more_shards_than_allowed_cpus() {
    if !have_taskset() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let plain = ephemeral_config(dir.path(), "{}");
    let run = |args: &[&str]| {
        Command::new("taskset")
            .args(["-c", "0", env!("CARGO_BIN_EXE_junction")])
            .args(args)
            .env("RUNTIME_DIRECTORY", runtime_dir())
            .output()
            .expect("taskset runs")
    };
    let out = run(&["start", "--config", &plain, "--shards", "2"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("2 shards (--shards), but this process may run on 1 CPU(s) only: 0 "),
        "{stderr}"
    );
    assert!(!stderr.contains("listening"), "{stderr}");
    let config_shards = ephemeral_config(dir.path(), r#"{"shards": 2}"#);
    let out = run(&["start", "--config", &config_shards]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("2 shards (the config's shards)"),
        "{stderr}"
    );
}

/// `junction check` on a config file that parses but uses features not
/// supported yet: exit 2, one "not supported yet" line per feature, no
/// other error.
fn check_gaps(file: &str, vars: &[(&str, &str)], expected: &[&str]) -> String {
    let out = junction_env(&["check", "--config", file], vars);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{file}: {stderr}");
    assert_eq!(text(&out.stdout), "");
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(errors.len(), expected.len(), "{file}:\n{stderr}");
    for (line, path) in errors.iter().zip(expected) {
        assert!(
            line.starts_with(&format!("error: {path}: "))
                && line.ends_with(" is not supported yet"),
            "{file}: {line:?} is not the gap at {path}"
        );
    }
    assert!(
        stderr.contains(&format!("{} error(s)", expected.len())),
        "{stderr}"
    );
    stderr
}

#[test]
fn check_accepts_the_auth_sample() {
    let t = "workers[0].transports";
    // Every method, cookie tracking and the role authorizer run.
    let out = junction_env(
        &["check", "--config", &sample("auth.json")],
        &[("OPS_TICKET", "t0p-secret")],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains(&format!("error: {t}")), "{stderr}");
}

#[test]
fn check_names_an_unset_environment_variable() {
    let out = junction(&["check", "--config", &sample("auth.json")]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains(
            "error: workers[0].transports[0].auth.ticket.principals.ops.ticket: environment variable OPS_TICKET is not set"
        ),
        "{stderr}"
    );
}

#[test]
fn check_never_prints_a_secret() {
    let secret = "env-s3cr3t-value";
    for (file, var) in [
        ("auth.json", "OPS_TICKET"),
        ("web.json", "BRIDGE_SECRET"),
        ("mqtt.json", "SENSOR_PASSWORD"),
    ] {
        let out = junction_env(&["check", "--config", &sample(file)], &[(var, secret)]);
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(!all.contains(secret), "{file}: {all}");
        assert!(!all.contains("secret!!!"), "{file}: a static ticket leaked");
    }
}

#[test]
fn check_accepts_the_web_sample() {
    // Every path type of the sample is served: static, json, redirect,
    // nodeinfo, path, none, websocket, mqtt, cgi, reverseproxy, wsgi,
    // longpoll, publisher, caller, webhook, metrics.
    let out = junction_env(
        // The sample names files that are not here (keys, a WSGI
        // module): the config alone.
        &["check", "--config-only", "--config", &sample("web.json")],
        &[("BRIDGE_SECRET", "x")],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("error:"), "{stderr}");
    assert!(
        text(&out.stdout).starts_with("config OK"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn check_accepts_the_mqtt_sample() {
    // MQTT over TLS runs: no gap left.
    let out = junction_env(
        // The sample names files that are not here (keys, a WSGI
        // module): the config alone.
        &["check", "--config-only", "--config", &sample("mqtt.json")],
        &[("SENSOR_PASSWORD", "pw")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn check_accepts_the_components_sample() {
    // The HTTP bridge components run natively, guests run, and the
    // container's RESTCallee runs in its host: no gap (the sample names a
    // guest executable that is not here: the config alone).
    let out = junction(&[
        "check",
        "--config-only",
        "--config",
        &sample("components.json"),
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(text(&out.stdout).starts_with("config OK"), "{stderr}");
    assert!(!stderr.contains("error: "), "{stderr}");
    // The router's Python class and function component run in the node's
    // component host: no warning names them, nor the container's components.
    assert!(
        !stderr.contains("warning: workers[0].components")
            && !stderr.contains("warning: workers[2].components"),
        "{stderr}"
    );
    // BACKUP_DISABLED set: the last guest is skipped (Crossbar's switch).
    let out = junction_env(
        &[
            "check",
            "--config-only",
            "--config",
            &sample("components.json"),
        ],
        &[("BACKUP_DISABLED", "1")],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("warning: workers[4]: worker is disabled"),
        "{stderr}"
    );
}

#[test]
fn check_accepts_the_full_sample() {
    // Its last gap, the guest worker, runs.
    let out = junction_env(
        // The sample names files that are not here (keys, a WSGI
        // module): the config alone.
        &[
            "check",
            "--config-only",
            "--config",
            &sample("crossbar_full.yaml"),
        ],
        &[("ALICE_SECRET", "a"), ("PUSH_SECRET", "p")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("config OK"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn check_accepts_the_embedded_default() {
    let out = junction(&["check", "--config", &sample("embedded_default.json")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        "config OK: 1 realm(s), 3 transport(s)"
    );
    assert_eq!(text(&out.stderr), "");
}

#[test]
fn start_refuses_features_not_supported_yet() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = gap_config(dir.path());
    check_gaps(&config, &[], &["workers[0].connections"]);
    let out = junction_env(&["start", "--config", &config], &[]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(
            "error: workers[0].connections: router connections (outgoing links from the router) \
             is not supported yet"
        ),
        "{stderr}"
    );
}
