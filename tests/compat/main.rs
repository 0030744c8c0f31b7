//! `tests/compat/crossbar_examples.sh` (the corpus classifier, see
//! docs/config.md "Checking your own configs") run on this repository's
//! sample configs and on a directory made here: which files it takes for
//! node configs, the class it gives each, and its summary line. The corpus
//! itself (crossbar-examples, ...) is not in the repository, so this is the
//! part that runs in CI.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the script with `-l` on `dirs`: its exit status and stdout.
fn classify(dirs: &[&Path]) -> (Option<i32>, String) {
    let out = Command::new("bash")
        .arg(root().join("tests/compat/crossbar_examples.sh"))
        .arg("-b")
        .arg(env!("CARGO_BIN_EXE_junction"))
        .arg("-l")
        .args(dirs)
        .output()
        .expect("run bash");
    let stdout = String::from_utf8(out.stdout).expect("UTF-8 output");
    (out.status.code(), stdout)
}

/// File name → class, from the `-l` lines.
fn classes(stdout: &str) -> BTreeMap<String, String> {
    stdout
        .lines()
        .filter_map(|line| {
            // `CLASS   FILE<TAB>FIRST MESSAGE`; the summary has no tab.
            let (head, _) = line.split_once('\t')?;
            let (class, rest) = head.split_once(' ')?;
            if !["valid", "warned", "env", "refused", "failed"].contains(&class) {
                return None;
            }
            let file = rest.trim_start();
            let name = Path::new(file).file_name()?.to_str()?.to_owned();
            Some((name, class.to_owned()))
        })
        .collect()
}

#[test]
fn the_sample_configs_are_classified() {
    let (status, stdout) = classify(&[&root().join("tests/config_files")]);
    assert_eq!(status, Some(0), "{stdout}");
    let expected: BTreeMap<String, String> = [
        ("auth.json", "env"),
        ("compat_archive.json", "valid"),
        ("compat_call_queue.json", "valid"),
        ("compat_no_transport.json", "warned"),
        ("compat_proxy.json", "warned"),
        ("compat_roles.json", "warned"),
        ("compat_store.json", "warned"),
        ("compat_testee_only.json", "warned"),
        ("compat_web_only.json", "warned"),
        ("components.json", "valid"),
        ("crossbar.json", "warned"),
        ("crossbar.yaml", "warned"),
        ("crossbar_full.yaml", "env"),
        ("crossbar_static.json", "warned"),
        ("embedded_default.json", "valid"),
        ("junction_limits.yaml", "valid"),
        ("mqtt.json", "env"),
        ("tls.json", "warned"),
        ("web.json", "env"),
    ]
    .into_iter()
    .map(|(f, c)| (f.to_owned(), c.to_owned()))
    .collect();
    assert_eq!(classes(&stdout), expected, "{stdout}");
    assert!(
        stdout.contains(
            "configs: 19; accepted: 15 (valid 5, with warnings 10); \
             needs environment variables: 4; refused: 0; failed: 0"
        ),
        "{stdout}"
    );
}

#[test]
fn only_node_configs_are_taken() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let write = |name: &str, text: &str| {
        let path = d.join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    };
    let node = r#"{"version": 2, "workers": [{"type": "router",
        "realms": [{"name": "realm1", "roles": [{"name": "anonymous", "allow-by-default": true}]}],
        "transports": [{"type": "rawsocket", "endpoint": {"type": "tcp", "port": 0}}]}]}"#;
    write("a/.crossbar/config.json", node);
    write(
        "b/config.yaml",
        "version: 2\nworkers:\n  - type: router\n    realms: []\n    nonsense: 1\n",
    );
    // Not node configs: no `workers`, a JSON Schema, and a file in node_modules.
    write("c/package.json", r#"{"name": "app", "version": "1.0.0"}"#);
    write(
        "c/schema.json",
        r#"{"$schema": "http://json-schema.org/draft-04/schema#", "properties": {"workers": {}}}"#,
    );
    write("node_modules/x/config.json", node);
    let (status, stdout) = classify(&[d]);
    assert_eq!(status, Some(0), "{stdout}");
    let got = classes(&stdout);
    let want: BTreeMap<String, String> = [("config.json", "valid"), ("config.yaml", "refused")]
        .into_iter()
        .map(|(f, c)| (f.to_owned(), c.to_owned()))
        .collect();
    assert_eq!(got, want, "{stdout}");
    assert!(
        stdout.contains("1 nonsense: unknown key"),
        "refusal cause by key: {stdout}"
    );
}
