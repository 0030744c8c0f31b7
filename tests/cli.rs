//! The `junction` binary: `check` on good and bad config files (exit codes,
//! messages naming the key path) and `version`.

use std::path::PathBuf;
use std::process::{Command, Output};

fn junction(args: &[&str]) -> Output {
    junction_env(args, &[])
}

/// Runs the binary with `vars` set (and nothing inherited that a sample reads).
fn junction_env(args: &[&str], vars: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_junction"));
    cmd.args(args);
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
                             "auth": {"ticket": {"type": "static", "principals": {}}}}]}]}"#,
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

/// `junction check` on a sample that parses but uses features not supported
/// yet: exit 2, one "not supported yet" line per feature, no other error.
fn check_gaps(file: &str, vars: &[(&str, &str)], expected: &[&str]) -> String {
    let out = junction_env(&["check", "--config", &sample(file)], vars);
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
fn check_lists_the_gaps_of_the_auth_sample() {
    let t = "workers[0].transports";
    check_gaps(
        "auth.json",
        &[("OPS_TICKET", "t0p-secret")],
        &[
            "workers[0].realms[0].roles[2].authorizer",
            &format!("{t}[0].auth.ticket"),
            &format!("{t}[0].auth.wampcra"),
            &format!("{t}[0].auth.scram"),
            &format!("{t}[0].auth.cryptosign"),
            &format!("{t}[1].auth.ticket"),
            &format!("{t}[1].auth.cryptosign"),
            &format!("{t}[2].paths.ws.auth.wampcra"),
            &format!("{t}[2].paths.ws.auth.cookie"),
        ],
    );
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
fn check_lists_the_gaps_of_the_web_sample() {
    let p = |k: &str| format!("workers[0].transports[0].paths.{k}.type");
    let keys = [
        "/",
        "api",
        "app",
        "call",
        "cgi",
        "config",
        "docs",
        "hook",
        "info",
        "lp",
        "metrics",
        "mqtt",
        "nested",
        "nested.paths./",
        "publish",
    ];
    let expected: Vec<String> = keys.iter().map(|k| p(k)).collect();
    let refs: Vec<&str> = expected.iter().map(String::as_str).collect();
    let stderr = check_gaps("web.json", &[("BRIDGE_SECRET", "x")], &refs);
    assert!(
        stderr.contains("warning: workers[0].transports[0].options.hsts: ignored"),
        "{stderr}"
    );
}

#[test]
fn check_lists_the_gaps_of_the_mqtt_sample() {
    check_gaps(
        "mqtt.json",
        &[("SENSOR_PASSWORD", "pw")],
        &[
            "workers[0].transports[0].type",
            "workers[0].transports[1].endpoint.tls",
            "workers[0].transports[1].type",
            "workers[0].transports[1].options.auth.ticket",
            "workers[0].transports[2].type",
            "workers[0].transports[2].web.paths./.type",
        ],
    );
}

#[test]
fn check_lists_the_gaps_of_the_components_sample() {
    let stderr = check_gaps(
        "components.json",
        &[],
        &[
            "workers[0].components[0].classname",
            "workers[0].components[1].classname",
            "workers[1].type",
            "workers[2].type",
            "workers[3].type",
            "workers[4].type",
        ],
    );
    assert!(
        stderr.contains(
            "warning: workers[0].components[2]: skipped: backend.MySession is Python code"
        ),
        "{stderr}"
    );
    // BACKUP_DISABLED set: the last guest is skipped (Crossbar's switch).
    check_gaps(
        "components.json",
        &[("BACKUP_DISABLED", "1")],
        &[
            "workers[0].components[0].classname",
            "workers[0].components[1].classname",
            "workers[1].type",
            "workers[2].type",
            "workers[3].type",
        ],
    );
}

#[test]
fn check_lists_the_gaps_of_the_full_sample() {
    let t0 = "workers[0].transports[0]";
    check_gaps(
        "crossbar_full.yaml",
        &[("ALICE_SECRET", "a"), ("PUSH_SECRET", "p")],
        &[
            "workers[0].realms[0].roles[3].authorizer",
            &format!("{t0}.endpoint.tls"),
            &format!("{t0}.paths./.type"),
            &format!("{t0}.paths.metrics.type"),
            &format!("{t0}.paths.mqtt.type"),
            &format!("{t0}.paths.push.type"),
            &format!("{t0}.paths.ws.auth.wampcra"),
            &format!("{t0}.paths.ws.auth.tls"),
            &format!("{t0}.paths.ws.auth.cookie"),
            "workers[0].transports[1].endpoint.tls",
            "workers[0].transports[1].type",
            "workers[0].transports[1].options.auth.ticket",
            "workers[0].components[0].classname",
            "workers[1].type",
        ],
    );
}

#[test]
fn check_accepts_the_embedded_default() {
    let out = junction(&["check", "--config", &sample("embedded_default.json")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        "config OK: 1 realm(s), 2 transport(s)"
    );
    assert_eq!(text(&out.stderr), "");
}

#[test]
fn start_refuses_features_not_supported_yet() {
    let out = junction_env(&["start", "--config", &sample("components.json")], &[]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("error: workers[1].type: worker type \"guest\" is not supported yet"),
        "{stderr}"
    );
}
