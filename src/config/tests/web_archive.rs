//! The `archive` web service: its keys, defaults and errors.

use super::*;
use crate::config::web::{ArchiveLimits, ArchiveService, WebService};

fn web(paths: Value) -> Value {
    with(
        "/workers/0/transports/0",
        json!({"type": "web", "endpoint": {"type": "tcp", "port": 8080}, "paths": paths}),
    )
}

/// The archive service at `key` of a config that loads and runs.
fn archive_at(v: &Value, key: &str) -> ArchiveService {
    let c = load_ok(v);
    match &c.transports[0].kind {
        TransportKind::Web(w) => match &w.paths[key] {
            WebService::Archive(a) => a.clone(),
            other => panic!("archive expected, got {other:?}"),
        },
        other => panic!("web expected, got {other:?}"),
    }
}

#[test]
fn every_key_is_read() {
    let hash = "F63FB912EE13BA8CCD519BE5D0A99E70B18C04EF6827C78B23A73CF328E733C4";
    let a = archive_at(
        &web(json!({"ab": {
            "type": "archive",
            "id": "ab",
            "archive": "ab.zip",
            "origin": "https://example.com/ab/v1.zip",
            "download": true,
            "cache": true,
            "hashes": [hash],
            "object_prefix": "/ab-1.0/",
            "default_object": "autobahn.min.js",
            "mime_types": {".min.js": "text/javascript", ".jgz": "text/javascript"},
            "options": {"default_file": "index.html"},
            "junction": {"max_size": 1000, "max_content": 2000, "download_timeout": 3000}
        }})),
        "ab",
    );
    assert_eq!(a.archive, Path::new("/node/ab.zip"));
    assert_eq!(a.origin.as_deref(), Some("https://example.com/ab/v1.zip"));
    assert!(a.download && a.cache);
    assert_eq!(a.hashes, vec![hash.to_ascii_lowercase()]);
    assert_eq!(a.object_prefix.as_deref(), Some("ab-1.0"));
    assert_eq!(a.default_object.as_deref(), Some("autobahn.min.js"));
    assert_eq!(a.default_file.as_deref(), Some("index.html"));
    assert_eq!(a.mime_types[".min.js"], "text/javascript");
    assert_eq!(
        a.limits,
        ArchiveLimits {
            max_size: 1000,
            max_content: 2000,
            download_timeout_ms: 3000
        }
    );
    assert!(
        a.files.is_none(),
        "loaded by the web server, not the config"
    );
}

#[test]
fn defaults() {
    let a = archive_at(
        &web(json!({"/": {"type": "archive", "archive": "/srv/ui.zip"}})),
        "/",
    );
    assert_eq!(a.archive, Path::new("/srv/ui.zip"), "absolute paths stay");
    assert_eq!(a.origin, None);
    assert!(!a.download && !a.cache);
    assert!(a.hashes.is_empty() && a.mime_types.is_empty());
    assert_eq!(
        (a.object_prefix, a.default_object, a.default_file),
        (None, None, None)
    );
    assert_eq!(a.limits, ArchiveLimits::default());
    // An empty prefix (or just slashes) is the archive's top.
    let a = archive_at(
        &web(
            json!({"/": {"type": "archive", "archive": "a.zip", "object_prefix": "/", "hashes": []}}),
        ),
        "/",
    );
    assert_eq!(a.object_prefix, None);
    // `origin` without `download`: kept (used only when downloading).
    let a = archive_at(
        &web(json!({"/": {"type": "archive", "archive": "a.zip", "origin": "HTTP://h:8080"}})),
        "/",
    );
    assert_eq!(
        (a.origin.as_deref(), a.download),
        (Some("HTTP://h:8080"), false)
    );
}

#[rstest]
#[case(json!({"type": "archive"}), "archive", "missing")]
#[case(json!({"type": "archive", "archive": ""}), "archive", "must not be empty")]
#[case(json!({"type": "archive", "archive": 1}), "archive", "expected a string")]
#[case(json!({"type": "archive", "archive": "a.zip", "download": true}), "download", "needs `origin`")]
#[case(json!({"type": "archive", "archive": "a.zip", "download": "yes", "origin": "http://h/a.zip"}), "download", "expected true or false")]
#[case(json!({"type": "archive", "archive": "a.zip", "cache": 1}), "cache", "expected true or false")]
#[case(json!({"type": "archive", "archive": "a.zip", "origin": "ftp://h/a.zip"}), "origin", "not an http:// or https:// URL")]
#[case(json!({"type": "archive", "archive": "a.zip", "origin": "https:///a.zip"}), "origin", "with a host")]
#[case(json!({"type": "archive", "archive": "a.zip", "origin": "http://h/a b.zip"}), "origin", "not an http")]
#[case(json!({"type": "archive", "archive": "a.zip", "hashes": "abc"}), "hashes", "expected a list")]
#[case(json!({"type": "archive", "archive": "a.zip", "hashes": ["abc"]}), "hashes[0]", "not a SHA-256 digest")]
#[case(json!({"type": "archive", "archive": "a.zip", "hashes": ["0".repeat(63) + "g"]}), "hashes[0]", "64 hexadecimal digits")]
#[case(json!({"type": "archive", "archive": "a.zip", "hashes": [1]}), "hashes[0]", "expected a string")]
#[case(json!({"type": "archive", "archive": "a.zip", "object_prefix": "a/../b"}), "object_prefix", "not a path inside the archive")]
#[case(json!({"type": "archive", "archive": "a.zip", "object_prefix": "a//b"}), "object_prefix", "not a path inside")]
#[case(json!({"type": "archive", "archive": "a.zip", "object_prefix": "a\\b"}), "object_prefix", "no backslash")]
#[case(json!({"type": "archive", "archive": "a.zip", "default_object": ""}), "default_object", "names no file")]
#[case(json!({"type": "archive", "archive": "a.zip", "default_object": "./index.html"}), "default_object", "not a path inside")]
#[case(json!({"type": "archive", "archive": "a.zip", "mime_types": {"js": "text/javascript"}}), "mime_types.js", "not a file extension")]
#[case(json!({"type": "archive", "archive": "a.zip", "mime_types": {".js": ""}}), "mime_types..js", "must not be empty")]
#[case(json!({"type": "archive", "archive": "a.zip", "options": {"default_file": ".."}}), "options.default_file", "not a path inside")]
#[case(json!({"type": "archive", "archive": "a.zip", "options": {"enable_directory_listing": true}}), "options.enable_directory_listing", "unknown key")]
#[case(json!({"type": "archive", "archive": "a.zip", "junction": {"max_size": 0}}), "junction.max_size", "out of range")]
#[case(json!({"type": "archive", "archive": "a.zip", "junction": {"download_timeout": 0}}), "junction.download_timeout", "out of range")]
#[case(json!({"type": "archive", "archive": "a.zip", "junction": {"cache": true}}), "junction.cache", "unknown key")]
#[case(json!({"type": "archive", "archive": "a.zip", "directory": "www"}), "directory", "unknown key")]
fn bad_archive_paths(#[case] svc: Value, #[case] key: &str, #[case] needle: &str) {
    assert_one_issue(
        &web(json!({ "a": svc })),
        &format!("workers[0].transports[0].paths.a.{key}"),
        Invalid,
        needle,
    );
}

const FIXTURE: &str = include_str!("../../../tests/config_files/compat_archive.json");

#[test]
fn the_fixture_loads_both_archives_without_a_warning() {
    let v: Value = serde_json::from_str(FIXTURE).expect("fixture is JSON");
    let c = load_ok(&v);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    let lib = archive_at(&v, "lib");
    assert_eq!(lib.archive, Path::new("/node/vendor/client-lib-3.1.zip"));
    assert_eq!(lib.object_prefix.as_deref(), Some("client-lib-3.1/dist"));
    assert_eq!(lib.hashes.len(), 1);
    let console = archive_at(&v, "console");
    assert!(!console.download && console.origin.is_none());
    assert_eq!(console.default_file.as_deref(), Some("index.html"));
}
