//! The `junction` binary: `check` on good and bad config files (exit codes,
//! messages naming the key path) and `version`.

use std::path::PathBuf;
use std::process::{Command, Output};

fn junction(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_junction"))
        .args(args)
        .output()
        .expect("the junction binary runs")
}

fn sample(name: &str) -> String {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "config_files", name]
        .iter()
        .collect();
    path.to_str().expect("UTF-8 path").to_owned()
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
            stderr.contains("warning: workers[0].options.pythonpath: ignored"),
            "{stderr}"
        );
        assert!(stderr.contains("warning: controller: ignored"), "{stderr}");
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
fn check_rejects_a_static_web_path_naming_the_key() {
    let out = junction(&["check", "--config", &sample("crossbar_static.json")]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "error: workers[0].transports[0].paths./.type: web service type \"static\" is not supported yet"
        ),
        "{stderr}"
    );
    assert_eq!(text(&out.stdout), "");
}

#[test]
fn check_rejects_tls_naming_the_key() {
    let out = junction(&["check", "--config", &sample("tls.json")]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("error: workers[0].transports[1].endpoint.tls: TLS is not supported yet"),
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
                             "auth": {"ticket": {}}}]}]}"#,
    )
    .expect("write");
    let out = junction(&["check", "--config", path.to_str().expect("UTF-8 path")]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for needle in [
        "error: version: missing",
        "error: workers[0].realms[0].store.type: store type \"cfxdb\" (use \"file\" for a persistent store) is not supported yet",
        "error: workers[0].transports[0].auth.ticket: \"ticket\" authentication is not supported yet",
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

#[test]
fn check_requires_config() {
    let out = junction(&["check"]);
    assert_eq!(out.status.code(), Some(2), "clap usage errors exit with 2");
    assert!(text(&out.stderr).contains("--config"));
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

#[test]
fn start_rejects_a_bad_config_before_starting() {
    let out = junction(&["start", "--config", &sample("tls.json")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("endpoint.tls: TLS is not supported yet"));
}
