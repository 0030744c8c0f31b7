//! Loader tests: the sample files in `tests/config_files/`, every error path,
//! every warning, and the cross-item checks. This file holds the helpers and
//! the core (realms, WebSocket and RawSocket transports, limits); the other
//! files one area each.

mod auth;
mod compat;
mod env;
mod mqtt;
mod mutations;
mod samples;
mod web;
mod web_archive;
mod workers;

use std::collections::BTreeMap;
use std::path::Path;

use rstest::rstest;
use serde_json::{Value, json};

use super::*;
use crate::proto::Serializer;
use crate::proto::uri::{MatchPolicy, UriCheck};

const CROSSBAR_JSON: &str = include_str!("../../../tests/config_files/crossbar.json");
const CROSSBAR_YAML: &str = include_str!("../../../tests/config_files/crossbar.yaml");
const CROSSBAR_STATIC_JSON: &str = include_str!("../../../tests/config_files/crossbar_static.json");
const TLS_JSON: &str = include_str!("../../../tests/config_files/tls.json");
const EMBEDDED_DEFAULT_JSON: &str =
    include_str!("../../../tests/config_files/embedded_default.json");
const LIMITS_YAML: &str = include_str!("../../../tests/config_files/junction_limits.yaml");

use IssueKind::{Invalid, Unsupported};

/// A small valid config that the cases below break one key at a time.
fn base() -> Value {
    json!({
        "version": 2,
        "workers": [{
            "type": "router",
            "realms": [{
                "name": "realm1",
                "roles": [{
                    "name": "anonymous",
                    "permissions": [{"uri": "", "match": "prefix", "allow": {"call": true}}]
                }]
            }],
            "transports": [{
                "type": "websocket",
                "endpoint": {"type": "tcp", "port": 8080}
            }]
        }]
    })
}

/// Sets the value at a JSON pointer whose parent exists (objects get the key inserted).
fn set(v: &mut Value, pointer: &str, new: Value) {
    let (parent, key) = pointer.rsplit_once('/').expect("pointer has a '/'");
    let parent = v.pointer_mut(parent).expect("parent exists");
    match parent {
        Value::Object(m) => {
            m.insert(key.replace("~1", "/"), new);
        }
        Value::Array(a) => {
            let i: usize = key.parse().expect("array index");
            if i == a.len() {
                a.push(new);
            } else {
                a[i] = new;
            }
        }
        _ => panic!("parent of {pointer} is not a container"),
    }
}

fn with(pointer: &str, new: Value) -> Value {
    let mut v = base();
    set(&mut v, pointer, new);
    v
}

/// Loads `v` with node directory `/node` and the environment `env`.
fn load_in(v: &Value, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let vars: BTreeMap<String, String> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let lookup = move |name: &str| vars.get(name).cloned();
    Config::from_value_in(
        v,
        &LoadContext {
            node_dir: Path::new("/node"),
            env: &lookup,
        },
    )
}

/// Every problem of `v` (an empty environment): the loader's issues, or the
/// features not supported yet of a config that loads.
fn issues(v: &Value) -> Vec<ConfigIssue> {
    match load_in(v, &[]) {
        Err(ConfigError::Invalid(issues)) => issues,
        Ok(c) => {
            let unsupported = c.unsupported();
            assert!(
                !unsupported.is_empty(),
                "expected issues, the config is fine"
            );
            unsupported
        }
        Err(other) => panic!("expected ConfigError::Invalid, got {other:?}"),
    }
}

/// Exactly one issue of `kind`, at `path`, with `needle` in its message.
/// A wrong key may come with the features not supported yet of what did
/// load (they are reported together), so for an [`Invalid`] issue other
/// [`Unsupported`] ones are allowed.
fn assert_one_issue(v: &Value, path: &str, kind: IssueKind, needle: &str) {
    let all = issues(v);
    let found: Vec<&ConfigIssue> = all
        .iter()
        .filter(|i| kind == Unsupported || i.kind == Invalid)
        .collect();
    assert_eq!(found.len(), 1, "expected one issue, got {all:#?}");
    assert_eq!(found[0].path, path, "{all:#?}");
    assert_eq!(found[0].kind, kind, "{all:#?}");
    assert!(
        found[0].message.contains(needle),
        "message {:?} lacks {needle:?}",
        found[0].message
    );
}

/// `v` loads (empty environment) and the runtime supports all of it.
fn load_ok(v: &Value) -> Config {
    let c = model(v);
    if let Err(e) = c.ensure_supported() {
        panic!("expected a runnable config, got:\n{e}");
    }
    c
}

/// `v` loads (empty environment); it may use features not supported yet.
fn model(v: &Value) -> Config {
    match load_in(v, &[]) {
        Ok(c) => c,
        Err(e) => panic!("expected a valid config, got:\n{e}"),
    }
}

/// The WebSocket service today's runtime serves on transport `i`.
fn served_ws(c: &Config, i: usize) -> &WebSocketService {
    c.transports[i]
        .kind
        .served_websocket()
        .expect("a served WebSocket service")
}

/// The warnings of `c` whose path starts with `prefix`.
fn warnings_at<'c>(c: &'c Config, prefix: &str) -> Vec<&'c str> {
    c.warnings
        .iter()
        .filter(|w| w.starts_with(prefix))
        .map(String::as_str)
        .collect()
}

fn warning_paths(c: &Config) -> Vec<&str> {
    c.warnings
        .iter()
        .map(|w| w.split_once(": ").expect("warning has a path").0)
        .collect()
}

#[test]
fn syntax_errors() {
    assert!(matches!(
        Config::from_json_str("{\"version\": 2,"),
        Err(ConfigError::Syntax { format: "JSON", .. })
    ));
    assert!(matches!(
        Config::from_yaml_str("version: [2"),
        Err(ConfigError::Syntax { format: "YAML", .. })
    ));
}

// ---- defaults ----

#[test]
fn base_config_defaults() {
    let c = load_ok(&base());
    assert!(c.warnings.is_empty(), "{:#?}", c.warnings);
    let t = &c.transports[0];
    assert_eq!(t.id, "transport1");
    assert_eq!(t.serializers, Serializer::ALL.to_vec());
    assert_eq!(t.auth.anonymous_role(), Some("anonymous"));
    assert_eq!(
        t.kind,
        TransportKind::WebSocket(WebSocketService {
            options: WebSocketOptions {
                path: None,
                ..WebSocketOptions::default()
            },
            wamp: WampService::default(),
            cookie: None,
        })
    );
    assert_eq!(c.node_dir, Path::new("/node"));
    assert!(c.components.is_empty() && c.workers.is_empty() && c.role_authorizers.is_empty());
}

#[rstest]
#[case(json!({}), Some("anonymous"))]
#[case(json!({"anonymous": {"type": "static"}}), Some("anonymous"))]
#[case(json!({"anonymous": {"type": "static", "role": "public"}}), Some("public"))]
fn anonymous_auth(#[case] auth: Value, #[case] role: Option<&str>) {
    let c = load_ok(&with("/workers/0/transports/0/auth", auth));
    assert_eq!(c.transports[0].auth.anonymous_role(), role);
}

#[test]
fn ipv6_listens_on_all_v6_interfaces_by_default() {
    let c = load_ok(&with(
        "/workers/0/transports/0/endpoint",
        json!({"type": "tcp", "port": 8080, "version": 6}),
    ));
    assert_eq!(
        c.transports[0].endpoint,
        Endpoint::Tcp {
            host: "::".to_owned(),
            port: 8080
        }
    );
}

/// Crossbar's checker ignores a realm's keys other than `roles` and
/// `options` (crossbar-examples encryption/cryptobox has `trace`): warned,
/// not refused; an unknown key inside `options` stays an error, as there.
#[test]
fn an_unknown_realm_key_is_warned_as_crossbar_ignores_it() {
    let c = load_ok(&with("/workers/0/realms/0/trace", json!(true)));
    let w = warnings_at(&c, "workers[0].realms[0].trace");
    assert_eq!(w.len(), 1, "{:?}", c.warnings);
    assert_eq!(
        w[0],
        "workers[0].realms[0].trace: ignored: unknown key, as Crossbar ignores it (known here: \
         name, id, roles, options, store, junction, stats, rlinks, inventory)"
    );
}

/// Crossbar resolves a listening Unix socket's path against the node
/// directory, as it resolves a container component's connecting path: both
/// must name the same file whatever the working directory.
#[rstest]
#[case("backend.sock", "/node/backend.sock")]
#[case("../run/b.sock", "/node/../run/b.sock")]
#[case("/run/b.sock", "/run/b.sock")]
fn a_listening_unix_path_is_in_the_node_directory(#[case] given: &str, #[case] want: &str) {
    let c = load_ok(&with(
        "/workers/0/transports/0/endpoint",
        json!({"type": "unix", "path": given}),
    ));
    assert_eq!(
        c.transports[0].endpoint,
        Endpoint::Unix {
            path: PathBuf::from(want)
        }
    );
}

#[rstest]
#[case("com.*.x", "com..x", MatchPolicy::Wildcard)]
#[case("*", "", MatchPolicy::Prefix)]
#[case("com.a", "com.a", MatchPolicy::Exact)]
#[case("", "", MatchPolicy::Prefix)]
fn starred_permission_uris(#[case] uri: &str, #[case] want: &str, #[case] policy: MatchPolicy) {
    let c = load_ok(&with(
        "/workers/0/realms/0/roles/0/permissions/0",
        json!({"uri": uri, "allow": {"call": true}}),
    ));
    let p = &c.realms[0].roles[0].permissions[0];
    assert_eq!((p.uri.as_str(), p.match_policy), (want, policy));
}

#[test]
fn websocket_sizes_and_limits() {
    // max_frame_size 0 means "any size": the message limit.
    let c = load_ok(&with(
        "/workers/0/transports/0/options",
        json!({"max_message_size": 4096, "max_frame_size": 0}),
    ));
    let o = &served_ws(&c, 0).options;
    assert_eq!((o.max_message_size, o.max_frame_size), (4096, 4096));
    // Above the router-wide limit: lowered, with a warning.
    let mut v = with("/junction", json!({"max_message_size": 2048}));
    set(
        &mut v,
        "/workers/0/transports/0/options",
        json!({"max_message_size": 4096}),
    );
    let c = load_ok(&v);
    let o = &served_ws(&c, 0).options;
    assert_eq!((o.max_message_size, o.max_frame_size), (2048, 2048));
    assert_eq!(
        warning_paths(&c),
        vec!["workers[0].transports[0].options.max_message_size"]
    );
}

#[test]
fn rawsocket_max_message_size_at_the_transport_level() {
    let c = load_ok(&with(
        "/workers/0/transports/1",
        json!({"type": "rawsocket", "endpoint": {"type": "tcp", "port": 8081}, "max_message_size": 65536}),
    ));
    assert_eq!(
        c.transports[1].kind,
        TransportKind::RawSocket(RawSocketService {
            options: RawSocketOptions {
                max_message_size: 65536,
                ..RawSocketOptions::default()
            },
            wamp: WampService::default(),
        })
    );
}

#[test]
fn port_zero_may_repeat() {
    let mut v = with("/workers/0/transports/0/endpoint/port", json!(0));
    set(
        &mut v,
        "/workers/0/transports/1",
        json!({"type": "rawsocket", "endpoint": {"type": "tcp", "port": 0}}),
    );
    let c = load_ok(&v);
    assert_eq!(c.transports.len(), 2);
}

#[test]
fn disabled_worker_is_skipped() {
    let v = with(
        "/workers/1",
        json!({"type": "guest", "options": {"disabled": true}, "executable": "x"}),
    );
    let c = load_ok(&v);
    assert_eq!(warning_paths(&c), vec!["workers[1]"]);
}

// ---- errors, one key at a time ----

#[rstest]
#[case("/version", json!(1), "version", Invalid, "only version 2")]
#[case("/version", json!("2"), "version", Invalid, "only version 2")]
#[case("/bogus", json!(1), "bogus", Invalid, "unknown key")]
#[case("/workers", json!({}), "workers", Invalid, "expected a list")]
#[case("/workers", json!([]), "workers", Invalid, "no router worker")]
#[case("/workers/1", json!({"type": "container", "components": [{"type": "class", "classname": "crossbar.bridge.rest.MessageForwarder", "realm": "realm1", "extra": {"subscriptions": [{"topic": "a.b"}]}, "transport": {"type": "rawsocket", "serializer": "json", "endpoint": {"type": "unix", "path": "s"}}}]}), "workers[1].components[0].extra.subscriptions[0].url", Invalid, "missing")]
#[case("/workers/1", json!({"type": "container", "components": [{"type": "class", "classname": "crossbar.adapter.rest.RESTCallee", "realm": "realm1", "extra": {"procedure": "a.b", "baseurl": "http://h/", "timeout": 3}, "transport": {"type": "rawsocket", "serializer": "json", "endpoint": {"type": "unix", "path": "s"}}}]}), "workers[1].components[0].extra.timeout", Invalid, "unknown key")]
#[case("/workers/1", json!({"type": "guest"}), "workers[1].executable", Invalid, "missing")]
#[case("/workers/1", json!({"type": "proxy"}), "workers[1].routes", Invalid, "a proxy forwards nothing without routes")]
#[case("/workers/1", json!({"type": "hostmonitor"}), "workers[1].type", Unsupported, "not supported yet")]
#[case("/workers/1", json!({"type": "websocket-testee"}), "workers[1].transport", Invalid, "missing")]
#[case("/workers/1", json!({"type": "brain"}), "workers[1].type", Invalid, "unknown worker type")]
#[case("/workers/1", json!({}), "workers[1].type", Invalid, "missing")]
#[case("/workers/0/components", json!([{"type": "class", "realm": "realm1", "classname": "crossbar.bridge.rest.RESTCallee", "extra": {"procedure": "com.x"}}]), "workers[0].components[0].extra.baseurl", Invalid, "missing")]
#[case("/workers/0/components", json!([{"type": "class", "realm": "realm1"}]), "workers[0].components[0].classname", Invalid, "missing")]
#[case("/workers/0/components", json!([{"type": "class", "realm": "nowhere", "classname": "a.B"}]), "workers[0].components[0].realm", Invalid, "not defined")]
#[case("/workers/0/connections", json!([{}]), "workers[0].connections", Unsupported, "router connections")]
#[case("/workers/0/options", json!({"frobnicate": true}), "workers[0].options.frobnicate", Invalid, "unknown key")]
#[case("/workers/0/options", json!({"disabled": "yes"}), "workers", Invalid, "no router worker")]
#[case("/workers/0/options", json!({"disabled": 1}), "workers[0].options.disabled", Invalid, "expected true, false or a string")]
#[case("/workers/0/options", json!({"python": "python3"}), "workers[0].options.python", Invalid, "absolute path")]
#[case("/workers/0/id", json!("bad id"), "workers[0].id", Invalid, "invalid ID")]
#[case("/workers/0/junction", json!({"shards": 0}), "workers[0].junction.shards", Invalid, "out of range")]
#[case("/workers/0/junction", json!({"threads": 4}), "workers[0].junction.threads", Invalid, "unknown key")]
#[case("/junction", json!({"max_message_size": "big"}), "junction.max_message_size", Invalid, "expected a whole number")]
#[case("/junction", json!({"outbound_queue_bytes": 0}), "junction.outbound_queue_bytes", Invalid, "out of range")]
#[case("/junction", json!({"mqtt_offline_store_sessions": 0}), "junction.mqtt_offline_store_sessions", Invalid, "out of range")]
#[case("/junction", json!({"shutdown_timeout": 3601}), "junction.shutdown_timeout", Invalid, "out of range")]
#[case("/junction", json!({"shutdown_timeout": 1.5}), "junction.shutdown_timeout", Invalid, "expected a whole number")]
#[case("/junction", json!({"components_timeout": 3601}), "junction.components_timeout", Invalid, "out of range")]
#[case("/junction", json!({"control_socket": ""}), "junction.control_socket", Invalid, "empty")]
#[case("/junction", json!({"metrics": "on"}), "junction.metrics", Invalid, "expected true or false")]
#[case("/junction", json!({"pack_connections": -1}), "junction.pack_connections", Invalid, "")]
#[case("/junction", json!({"pack_connections": 2_000_000}), "junction.pack_connections", Invalid, "out of range")]
#[case("/junction", json!({"write_coalesce_us": 100_001}), "junction.write_coalesce_us", Invalid, "out of range")]
#[case("/junction", json!({"write_coalesce_us": 0.5}), "junction.write_coalesce_us", Invalid, "expected a whole number")]
#[case("/workers/0/realms/0/store", json!({"type": "memory", "call-queue": [{"uri": "a..b"}]}), "workers[0].realms[0].store.call-queue[0].uri", Invalid, "invalid procedure")]
#[case("/workers/0/realms/0/store", json!({"type": "memory", "call-queue": [{"uri": "a.b", "limit": 0}]}), "workers[0].realms[0].store.call-queue[0].limit", Invalid, "out of range")]
#[case("/workers/0/realms/0/store", json!({"type": "memory", "call-queue": [{"uri": "a.b", "size": 3}]}), "workers[0].realms[0].store.call-queue[0].size", Invalid, "unknown key")]
#[case("/workers/0/realms/0/store", json!({"type": "memory", "call-queue": {"uri": "a.b"}}), "workers[0].realms[0].store.call-queue", Invalid, "expected a list")]
#[case("/workers/0/realms/0/store", json!({"type": "file"}), "workers[0].realms[0].store.path", Invalid, "missing")]
#[case("/workers/0/realms/0/store", json!({"type": "memory", "event-history": [{"uri": "a..b"}]}), "workers[0].realms[0].store.event-history[0].uri", Invalid, "invalid topic")]
#[case("/workers/0/realms/0/store", json!({"type": "memory", "event-history": [{"uri": "a.b", "limit": 0}]}), "workers[0].realms[0].store.event-history[0].limit", Invalid, "out of range")]
#[case("/workers/0/realms/0/store", json!({"type": "memory", "junction": {"fsync": "sometimes"}}), "workers[0].realms[0].store.junction.fsync", Invalid, "\"always\", \"interval\" or \"never\"")]
#[case("/workers/0/realms/0/store", json!({"type": "memory", "junction": {"fsync-interval": 0}}), "workers[0].realms[0].store.junction.fsync-interval", Invalid, "out of range")]
#[case("/workers/0/realms/0/store", json!({"type": "memory", "junction": {"queue": 0}}), "workers[0].realms[0].store.junction.queue", Invalid, "out of range")]
#[case("/workers/0/realms/0/store", json!({"type": "memory", "junction": {"batch": 10}}), "workers[0].realms[0].store.junction.batch", Invalid, "unknown key")]
#[case("/workers/0/realms/0/junction", json!({"prefer_local_callee": "yes"}), "workers[0].realms[0].junction.prefer_local_callee", Invalid, "expected true or false")]
#[case("/workers/0/realms/0/junction", json!({"prefer_local": true}), "workers[0].realms[0].junction.prefer_local", Invalid, "unknown key")]
#[case("/workers/0/realms/0/roles/0/junction", json!({"trustlevel": -1}), "workers[0].realms[0].roles[0].junction.trustlevel", Invalid, "whole number")]
#[case("/workers/0/realms/0/rlinks", json!([]), "workers[0].realms[0].rlinks", Unsupported, "not supported yet")]
#[case("/workers/0/realms/0/inventory", json!({"type": "wamp.eth", "catalogs": []}), "workers[0].realms[0].inventory", Unsupported, "payload validation (the realm's `inventory`)")]
#[case("/workers/0/realms/0/name", json!("r1"), "workers[0].realms[0].name", Invalid, "invalid realm name")]
#[case("/workers/0/realms/0/name", json!(7), "workers[0].realms[0].name", Invalid, "expected a string")]
#[case("/workers/0/realms/0/options", json!({"uri_check": "medium"}), "workers[0].realms[0].options.uri_check", Invalid, "\"strict\" or \"loose\"")]
#[case("/workers/0/realms/0/options", json!({"mood": 1}), "workers[0].realms[0].options.mood", Invalid, "unknown key")]
#[case("/workers/0/realms/0/roles/0/authorizer", json!("com.example.authorize"), "workers[0].realms[0].roles[0].authorizer", Invalid, "not both")]
#[case("/workers/0/realms/0/roles/0", json!({"name": "anonymous", "authorizer": "com..x"}), "workers[0].realms[0].roles[0].authorizer", Invalid, "invalid URI")]
#[case("/workers/0/realms/0/roles/0/name", json!(""), "workers[0].realms[0].roles[0].name", Invalid, "empty")]
#[case("/workers/0/realms/0/roles/0/permissions/0/validate", json!({"call": "x"}), "workers[0].realms[0].roles[0].permissions[0].validate", Unsupported, "payload validation")]
#[case("/workers/0/realms/0/roles/0/permissions/0/match", json!("regex"), "workers[0].realms[0].roles[0].permissions[0].match", Invalid, "not \"exact\"")]
#[case("/workers/0/realms/0/roles/0/permissions/0/allow", json!({"admin": true}), "workers[0].realms[0].roles[0].permissions[0].allow.admin", Invalid, "unknown key")]
#[case("/workers/0/realms/0/roles/0/permissions/0/allow", json!({"call": "yes"}), "workers[0].realms[0].roles[0].permissions[0].allow.call", Invalid, "expected true or false")]
#[case("/workers/0/realms/0/roles/0/permissions/0/disclose", json!({"callee": true}), "workers[0].realms[0].roles[0].permissions[0].disclose.callee", Invalid, "unknown key")]
#[case("/workers/0/realms/0/roles/0/permissions/0", json!({"uri": "com..x", "match": "exact"}), "workers[0].realms[0].roles[0].permissions[0].uri", Invalid, "empty components")]
#[case("/workers/0/realms/0/roles/0/permissions/0", json!({"uri": "com.a b"}), "workers[0].realms[0].roles[0].permissions[0].uri", Invalid, "invalid URI")]
#[case("/workers/0/realms/0/roles/0/permissions/0", json!({"allow": {}}), "workers[0].realms[0].roles[0].permissions[0].uri", Invalid, "missing")]
#[case("/workers/0/transports/0", json!({"type": "mqtt", "endpoint": {"type": "tcp", "port": 1883}, "options": {"realm": "nowhere"}}), "workers[0].transports[0].options.realm", Invalid, "nowhere")]
#[case("/workers/0/transports/0/type", json!("websocket.testee"), "workers[0].transports[0].type", Unsupported, "not supported yet")]
#[case("/workers/0/transports/0/type", json!("carrier-pigeon"), "workers[0].transports[0].type", Invalid, "unknown transport type")]
#[case("/workers/0/transports/0/endpoint/portrange", json!([8000, 8010]), "workers[0].transports[0].endpoint.portrange", Unsupported, "port range")]
#[case("/workers/0/transports/0/endpoint/port", json!(70000), "workers[0].transports[0].endpoint.port", Invalid, "out of range")]
#[case("/workers/0/transports/0/endpoint/port", json!("$PORT"), "workers[0].transports[0].endpoint.port", Invalid, "environment variable PORT is not set")]
#[case("/workers/0/transports/0/endpoint/tls", json!({"key": "k"}), "workers[0].transports[0].endpoint.tls.certificate", Invalid, "missing")]
#[case("/workers/0/transports/0/endpoint/port", json!(80.5), "workers[0].transports[0].endpoint.port", Invalid, "expected a whole number, found 80.5")]
#[case("/workers/0/transports/0/endpoint/version", json!(5), "workers[0].transports[0].endpoint.version", Invalid, "not 4 or 6")]
#[case("/workers/0/transports/0/endpoint/interface", json!("::1"), "workers[0].transports[0].endpoint.interface", Invalid, "not an IPv4 address")]
#[case("/workers/0/transports/0/endpoint/backlog", json!(0), "workers[0].transports[0].endpoint.backlog", Invalid, "out of range")]
#[case("/workers/0/transports/0/endpoint/shared", json!("yes"), "workers[0].transports[0].endpoint.shared", Invalid, "expected true or false")]
#[case("/workers/0/transports/0/endpoint/color", json!(1), "workers[0].transports[0].endpoint.color", Invalid, "unknown key")]
#[case("/workers/0/transports/0/endpoint", json!({"type": "twisted", "server_string": "tcp:80"}), "workers[0].transports[0].endpoint.type", Unsupported, "endpoint type \"twisted\"")]
#[case("/workers/0/transports/0/endpoint", json!({"type": "unix"}), "workers[0].transports[0].endpoint.path", Invalid, "missing")]
#[case("/workers/0/transports/0/endpoint", json!({"type": "udp", "port": 1}), "workers[0].transports[0].endpoint.type", Invalid, "unknown endpoint type")]
#[case("/workers/0/transports/0/serializers", json!(["flatbuffers"]), "workers[0].transports[0].serializers[0]", Unsupported, "not supported yet")]
#[case("/workers/0/transports/0/serializers", json!(["xml"]), "workers[0].transports[0].serializers[0]", Invalid, "unknown serializer")]
#[case("/workers/0/transports/0/serializers", json!([]), "workers[0].transports[0].serializers", Invalid, "at least one")]
#[case("/workers/0/transports/0/options", json!({"allowed_origins": ["https://example.com"]}), "workers[0].transports[0].options.allowed_origins", Unsupported, "Origin")]
#[case("/workers/0/transports/0/options", json!({"allow_null_origin": false}), "workers[0].transports[0].options.allow_null_origin", Unsupported, "null Origin")]
#[case("/workers/0/transports/0/options", json!({"enable_rfc6455": false}), "workers[0].transports[0].options.enable_rfc6455", Invalid, "cannot be turned off")]
#[case("/workers/0/transports/0/options", json!({"open_handshake_timeout": 500}), "workers[0].transports[0].options.open_handshake_timeout", Invalid, "too small")]
#[case("/workers/0/transports/0/options", json!({"auto_ping_interval": -1}), "workers[0].transports[0].options.auto_ping_interval", Invalid, "expected a whole number")]
#[case("/workers/0/transports/0/options", json!({"max_message_size": 0}), "workers[0].transports[0].options.max_message_size", Invalid, "out of range")]
#[case("/workers/0/transports/0/options", json!({"max_message_size": 100_000_000}), "workers[0].transports[0].options.max_message_size", Invalid, "out of range")]
#[case("/workers/0/transports/0/options", json!({"turbo": true}), "workers[0].transports[0].options.turbo", Invalid, "unknown key")]
#[case("/workers/0/transports/0/auth", json!({"password": {}}), "workers[0].transports[0].auth.password", Invalid, "unknown authentication method")]
#[case("/workers/0/transports/0/auth", json!({"anonymous": {"role": "x"}}), "workers[0].transports[0].auth.anonymous.type", Invalid, "missing")]
#[case("/workers/0/transports/0/auth", json!({"anonymous": {"type": "static", "role": ""}}), "workers[0].transports[0].auth.anonymous.role", Invalid, "empty")]
#[case("/workers/0/transports/0/auth", json!({"anonymous": {"type": "static", "secret": 1}}), "workers[0].transports[0].auth.anonymous.secret", Invalid, "unknown key")]
#[case("/workers/0/transports/0/id", json!(""), "workers[0].transports[0].id", Invalid, "invalid ID")]
fn one_bad_key(
    #[case] pointer: &str,
    #[case] value: Value,
    #[case] path: &str,
    #[case] kind: IssueKind,
    #[case] needle: &str,
) {
    assert_one_issue(&with(pointer, value), path, kind, needle);
}

#[test]
fn missing_version_is_an_error() {
    let mut v = base();
    v.as_object_mut().expect("object").remove("version");
    assert_one_issue(&v, "version", Invalid, "missing");
}

#[test]
fn non_object_document() {
    assert_one_issue(&json!([1, 2]), "", Invalid, "expected an object");
}

#[test]
fn missing_workers() {
    assert_one_issue(&json!({"version": 2}), "workers", Invalid, "missing");
}

#[test]
fn junction_block_in_both_places() {
    let mut v = with("/junction", json!({"shards": 2}));
    set(&mut v, "/workers/0/junction", json!({"shards": 3}));
    assert_one_issue(
        &v,
        "workers[0].junction",
        Invalid,
        "also given at the top level",
    );
    // Either place alone works.
    assert_eq!(
        load_ok(&with("/junction", json!({"shards": 2}))).shards,
        Some(2)
    );
    assert_eq!(
        load_ok(&with("/workers/0/junction", json!({"shards": 3}))).shards,
        Some(3)
    );
}

#[test]
fn node_options_default_and_set() {
    let d = load_ok(&base()).node;
    assert_eq!(d, crate::config::NodeOptions::default());
    assert_eq!(d.shutdown_timeout, std::time::Duration::from_secs(10));
    let n = load_ok(&with(
        "/junction",
        json!({"shutdown_timeout": 3, "control_socket": "run/ctl.sock", "metrics": false,
               "pack_connections": 0, "write_coalesce_us": 1500, "components_timeout": 0}),
    ))
    .node;
    assert_eq!(d.pack_connections, crate::config::DEFAULT_PACK_CONNECTIONS);
    assert_eq!(n.pack_connections, 0);
    assert_eq!(
        d.write_coalesce,
        std::time::Duration::ZERO,
        "off by default"
    );
    assert_eq!(n.write_coalesce, std::time::Duration::from_micros(1500));
    assert_eq!(n.shutdown_timeout, std::time::Duration::from_secs(3));
    assert_eq!(d.components_timeout, std::time::Duration::from_secs(10));
    assert_eq!(n.components_timeout, std::time::Duration::ZERO);
    // Relative to the node directory, like every path in the config.
    assert_eq!(
        n.control_socket,
        Some(std::path::PathBuf::from("/node/run/ctl.sock"))
    );
    assert!(!n.metrics);
}

#[test]
fn rawsocket_errors() {
    let rs = |extra: Value| {
        let mut t = json!({"type": "rawsocket", "endpoint": {"type": "tcp", "port": 8081}});
        for (k, v) in extra.as_object().expect("object") {
            t[k] = v.clone();
        }
        with("/workers/0/transports/1", t)
    };
    assert_one_issue(
        &rs(json!({"options": {"max_message_size": 1024, "timeout": 1}})),
        "workers[0].transports[1].options.timeout",
        Invalid,
        "unknown key",
    );
    assert_one_issue(
        &rs(json!({"max_message_size": 1024, "options": {"max_message_size": 1024}})),
        "workers[0].transports[1].options.max_message_size",
        Invalid,
        "use one",
    );
    assert_one_issue(
        &rs(json!({"serializers": ["ubjson"]})),
        "workers[0].transports[1].serializers[0]",
        Unsupported,
        "not supported yet",
    );
    assert_one_issue(
        &rs(json!({"url": "ws://x"})),
        "workers[0].transports[1].url",
        Invalid,
        "unknown key",
    );
}

#[test]
fn several_errors_are_all_reported() {
    let mut v = with("/workers/0/transports/0/serializers", json!(["ubjson"]));
    set(&mut v, "/workers/0/realms/0/store", json!({"type": "tape"}));
    set(
        &mut v,
        "/workers/1",
        json!({"type": "container", "components": [{"type": "class", "classname": "crossbar.bridge.rest.RESTCallee", "realm": "realm1", "extra": {"procedure": "a.b"}, "transport": {"type": "rawsocket", "serializer": "json", "endpoint": {"type": "unix", "path": "s"}}}]}),
    );
    let paths: Vec<String> = issues(&v).into_iter().map(|i| i.path).collect();
    assert_eq!(
        paths,
        vec![
            "workers[0].realms[0].store.type",
            "workers[0].transports[0].serializers[0]",
            "workers[1].components[0].extra.baseurl",
        ]
    );
}

// ---- cross-item checks ----

#[test]
fn duplicate_realm_names() {
    let v = with(
        "/workers/0/realms/1",
        json!({"name": "realm1", "roles": []}),
    );
    assert_one_issue(
        &v,
        "workers[0].realms[1].name",
        Invalid,
        "duplicate realm name \"realm1\" (first defined at workers[0].realms[0])",
    );
}

#[test]
fn duplicate_role_names() {
    let v = with("/workers/0/realms/0/roles/1", json!({"name": "anonymous"}));
    assert_one_issue(
        &v,
        "workers[0].realms[0].roles[1].name",
        Invalid,
        "duplicate role name \"anonymous\"",
    );
    // The same role name in two realms is fine.
    let v = with(
        "/workers/0/realms/1",
        json!({"name": "realm2", "roles": [{"name": "anonymous"}]}),
    );
    assert_eq!(load_ok(&v).realms.len(), 2);
}

#[rstest]
#[case(json!({"type": "tcp", "port": 8080}), "0.0.0.0")]
#[case(json!({"type": "tcp", "port": 8080, "interface": "127.0.0.1"}), "127.0.0.1")]
#[case(json!({"type": "tcp", "port": 8080, "version": 6}), "::")]
fn tcp_port_clash(#[case] endpoint: Value, #[case] host: &str) {
    let v = with(
        "/workers/0/transports/1",
        json!({"type": "rawsocket", "endpoint": endpoint}),
    );
    assert_one_issue(
        &v,
        "workers[0].transports[1].endpoint.port",
        Invalid,
        &format!("port 8080 on {host} is already used by workers[0].transports[0]"),
    );
}

#[test]
fn different_interfaces_may_share_a_port() {
    let mut v = with(
        "/workers/0/transports/0/endpoint/interface",
        json!("127.0.0.1"),
    );
    set(
        &mut v,
        "/workers/0/transports/1",
        json!({"type": "rawsocket", "endpoint": {"type": "tcp", "port": 8080, "interface": "127.0.0.2"}}),
    );
    assert_eq!(load_ok(&v).transports.len(), 2);
}

#[test]
fn duplicate_unix_paths_and_transport_ids() {
    let mut v = with(
        "/workers/0/transports/0/endpoint",
        json!({"type": "unix", "path": "/tmp/j.sock"}),
    );
    set(
        &mut v,
        "/workers/0/transports/1",
        json!({"type": "rawsocket", "endpoint": {"type": "unix", "path": "/tmp/j.sock"}}),
    );
    assert_one_issue(
        &v,
        "workers[0].transports[1].endpoint.path",
        Invalid,
        "already used by workers[0].transports[0]",
    );
    let mut v = with("/workers/0/transports/0/id", json!("main"));
    set(
        &mut v,
        "/workers/0/transports/1",
        json!({"id": "main", "type": "rawsocket", "endpoint": {"type": "tcp", "port": 8081}}),
    );
    assert_one_issue(
        &v,
        "workers[0].transports[1].id",
        Invalid,
        "duplicate transport ID \"main\"",
    );
}

// ---- warnings ----

#[rstest]
#[case("/controller", json!({"id": "node1"}), "controller")]
#[case("/workers/0/options", json!({"title": "router"}), "workers[0].options.title")]
#[case("/workers/0/options", json!({"env": {"inherit": true}}), "workers[0].options.env")]
#[case("/workers/0/options", json!({"cpu_affinity": [0, 1]}), "workers[0].options.cpu_affinity")]
#[case("/workers/0/options", json!({"reactor": {}}), "workers[0].options.reactor")]
#[case("/workers/0/options", json!({"expose_controller": true}), "workers[0].options.expose_controller")]
#[case("/workers/0/options", json!({"expose_shared": true}), "workers[0].options.expose_shared")]
#[case("/workers/0/options", json!({"python": "/usr/bin/python3"}), "workers[0].options.python")]
#[case("/workers/0/options", json!({"extra": {}}), "workers[0].options.extra")]
#[case("/workers/0/manhole", json!({}), "workers[0].manhole")]
#[case("/workers/0/realms/0/options", json!({"bridge_meta_api": true}), "workers[0].realms[0].options.bridge_meta_api")]
#[case("/workers/0/realms/0/options", json!({"event_dispatching_chunk_size": 100}), "workers[0].realms[0].options.event_dispatching_chunk_size")]
#[case("/workers/0/realms/0/options", json!({"enable_meta_api": false}), "workers[0].realms[0].options.enable_meta_api")]
#[case("/workers/0/transports/0/url", json!("ws://localhost:8080"), "workers[0].transports[0].url")]
#[case("/workers/0/transports/0/debug", json!(true), "workers[0].transports[0].debug")]
#[case("/workers/0/transports/0/options", json!({"compression": {"deflate": {"memory_level": 5}}}), "workers[0].transports[0].options.compression.deflate.memory_level")]
#[case("/workers/0/transports/0/options", json!({"compression": {"deflate": {"max_window_bits": 8}}}), "workers[0].transports[0].options.compression.deflate.max_window_bits")]
#[case("/workers/0/transports/0/options", json!({"tcp_nodelay": true}), "workers[0].transports[0].options.tcp_nodelay")]
#[case("/workers/0/transports/0/options", json!({"auto_ping_restart_on_any_traffic": true}), "workers[0].transports[0].options.auto_ping_restart_on_any_traffic")]
#[case("/workers/0/transports/0/options", json!({"echo_close_codereason": true}), "workers[0].transports[0].options.echo_close_codereason")]
#[case("/workers/0/transports/0/options", json!({"external_port": 443}), "workers[0].transports[0].options.external_port")]
#[case("/workers/0/transports/0/options", json!({"show_server_version": false}), "workers[0].transports[0].options.show_server_version")]
#[case("/workers/0/transports/0/options", json!({"enable_hybi10": false}), "workers[0].transports[0].options.enable_hybi10")]
#[case("/workers/0/transports/0/options", json!({"mask_server_frames": false}), "workers[0].transports[0].options.mask_server_frames")]
#[case("/workers/0/transports/0/options", json!({"apply_mask": true}), "workers[0].transports[0].options.apply_mask")]
#[case("/workers/0/transports/0/options", json!({"enable_flash_policy": false}), "workers[0].transports[0].options.enable_flash_policy")]
#[case("/workers/0/transports/0/options", json!({"validate_utf8": false}), "workers[0].transports[0].options.validate_utf8")]
#[case("/workers/0/transports/0/options", json!({"require_masked_client_frames": false}), "workers[0].transports[0].options.require_masked_client_frames")]
#[case("/workers/0/transports/0/endpoint/user_timeout", json!(1000), "workers[0].transports[0].endpoint.user_timeout")]
#[case("/workers/0/transports/0/auth", json!({"anonymous": {"type": "static", "realm": "realm1"}}), "workers[0].transports[0].auth.anonymous.realm")]
#[case("/workers/0/transports/0/auth", json!({"anonymous": {"type": "static", "role": "visitor"}}), "workers[0].transports[0]")]
#[case("/workers/0/realms/0/roles/0/permissions/0", json!({"uri": "com.*", "match": "prefix"}), "workers[0].realms[0].roles[0].permissions[0].uri")]
#[case("/workers/0/realms/0/roles/0/permissions/1", json!({"uri": "", "match": "prefix"}), "workers[0].realms[0].roles[0].permissions[1]")]
#[case("/workers/0/realms/1", json!({"name": "realm2"}), "workers[0].realms[1]")]
fn one_warning(#[case] pointer: &str, #[case] value: Value, #[case] path: &str) {
    let c = load_ok(&with(pointer, value));
    assert_eq!(warning_paths(&c), vec![path], "{:#?}", c.warnings);
}

#[rstest]
#[case(json!({"allowed_origins": ["*"]}))]
#[case(json!({"allow_null_origin": true}))]
#[case(json!({"require_websocket_subprotocol": true}))]
#[case(json!({"validate_utf8": true}))]
#[case(json!({"require_masked_client_frames": true}))]
#[case(json!({"enable_rfc6455": true}))]
#[case(json!({"max_frame_size": 65536, "auto_ping_timeout": 0}))]
fn options_at_junctions_behaviour_are_silent(#[case] options: Value) {
    let c = load_ok(&with("/workers/0/transports/0/options", options));
    assert!(c.warnings.is_empty(), "{:#?}", c.warnings);
}

/// `require_websocket_subprotocol` is read both ways (false: a client that
/// offers no subprotocol speaks JSON, `transport/websocket.rs`).
#[rstest]
#[case(json!({}), true)]
#[case(json!({"require_websocket_subprotocol": true}), true)]
#[case(json!({"require_websocket_subprotocol": false}), false)]
fn require_websocket_subprotocol_is_read(#[case] options: Value, #[case] required: bool) {
    let c = load_ok(&with("/workers/0/transports/0/options", options));
    assert!(c.warnings.is_empty(), "{:#?}", c.warnings);
    let TransportKind::WebSocket(ws) = &c.transports[0].kind else {
        panic!("a websocket transport");
    };
    assert_eq!(ws.options.require_subprotocol, required);
}

#[test]
fn silent_keys() {
    // $schema, permission cache, backlog, shared, realm id, web path id.
    let mut v = with("/$schema", json!("https://example.com/schema.json"));
    set(
        &mut v,
        "/workers/0/realms/0/roles/0/permissions/0/cache",
        json!(true),
    );
    set(&mut v, "/workers/0/realms/0/id", json!("r1"));
    set(
        &mut v,
        "/workers/0/transports/0/endpoint/backlog",
        json!(1024),
    );
    set(
        &mut v,
        "/workers/0/transports/0/endpoint/shared",
        json!(true),
    );
    set(&mut v, "/workers/0/components", json!([]));
    let c = load_ok(&v);
    assert!(c.warnings.is_empty(), "{:#?}", c.warnings);
}

// ---- realm store and role trust levels ----

#[test]
fn crossbar_memory_store_and_junction_file_store_load() {
    let mut v = base();
    set(
        &mut v,
        "/workers/0/realms/0/store",
        json!({
            "type": "memory",
            "limit": 50,
            "event-history": [
                {"uri": "com.example.oncounter", "limit": 1000},
                {"uri": "com.example.geo.", "match": "prefix"}
            ],
            "call-queue": [
                {"uri": "com.example.compute", "match": "exact", "limit": 1000},
                {"uri": "com.example.jobs.", "match": "prefix"}
            ]
        }),
    );
    set(
        &mut v,
        "/workers/0/realms/0/roles/0/junction",
        json!({"trustlevel": 3}),
    );
    let c = Config::from_value(&v).expect("valid");
    let store = &c.realms[0].store;
    assert_eq!(store.path, None);
    assert_eq!(store.max_size, crate::config::DEFAULT_STORE_MAX_SIZE);
    assert_eq!(
        store.event_history,
        vec![
            crate::config::HistoryConfig {
                uri: "com.example.oncounter".into(),
                match_policy: MatchPolicy::Exact,
                limit: 1000,
            },
            crate::config::HistoryConfig {
                uri: "com.example.geo.".into(),
                match_policy: MatchPolicy::Prefix,
                limit: 50,
            },
        ]
    );
    assert_eq!(
        c.realms[0].call_queue,
        vec![
            crate::config::CallQueueConfig {
                uri: "com.example.compute".into(),
                match_policy: MatchPolicy::Exact,
                limit: 1000,
            },
            crate::config::CallQueueConfig {
                uri: "com.example.jobs.".into(),
                match_policy: MatchPolicy::Prefix,
                limit: 50,
            },
        ],
        "the store's `limit` is the default"
    );
    assert_eq!(c.realms[0].roles[0].trustlevel, Some(3));
    assert!(!c.realms[0].prefer_local_callee, "off unless asked");
    set(
        &mut v,
        "/workers/0/realms/0/junction",
        json!({"prefer_local_callee": true}),
    );
    assert!(Config::from_value(&v).expect("valid").realms[0].prefer_local_callee);

    set(
        &mut v,
        "/workers/0/realms/0/store",
        json!({"type": "file", "path": "/var/lib/junction", "maxsize": 1048576, "sync": true}),
    );
    let c = Config::from_value(&v).expect("valid");
    assert_eq!(
        c.realms[0].store.path.as_deref(),
        Some(std::path::Path::new("/var/lib/junction"))
    );
    assert_eq!(c.realms[0].store.max_size, 1_048_576);
    assert!(c.realms[0].store.event_history.is_empty());
    assert_eq!(warning_paths(&c), vec!["workers[0].realms[0].store.sync"]);
    // A realm without `store`: memory, no history.
    let c = Config::from_value(&base()).expect("valid");
    assert_eq!(c.realms[0].store, crate::config::StoreConfig::default());
    assert_eq!(c.realms[0].roles[0].trustlevel, None);
}

#[test]
fn store_junction_sync_policy_and_queue() {
    use crate::config::FsyncPolicy;
    use std::time::Duration;
    let mut v = base();
    let store = |v: &mut serde_json::Value, junction: serde_json::Value| {
        set(
            v,
            "/workers/0/realms/0/store",
            json!({"type": "file", "path": "db", "junction": junction}),
        );
        Config::from_value(v).expect("valid")
    };
    let c = store(&mut v, json!({}));
    assert_eq!(
        (c.realms[0].store.fsync, c.realms[0].store.queue),
        (
            FsyncPolicy::Interval(Duration::from_millis(1000)),
            crate::config::DEFAULT_STORE_QUEUE
        )
    );
    let c = store(&mut v, json!({"fsync": "always", "queue": 100}));
    assert_eq!(
        (c.realms[0].store.fsync, c.realms[0].store.queue),
        (FsyncPolicy::Always, 100)
    );
    let c = store(&mut v, json!({"fsync": "interval", "fsync-interval": 250}));
    assert_eq!(
        c.realms[0].store.fsync,
        FsyncPolicy::Interval(Duration::from_millis(250))
    );
    let c = store(&mut v, json!({"fsync-interval": 40}));
    assert_eq!(
        c.realms[0].store.fsync,
        FsyncPolicy::Interval(Duration::from_millis(40)),
        "the interval alone implies the interval policy"
    );
    let c = store(&mut v, json!({"fsync": "never", "fsync-interval": 40}));
    assert_eq!(c.realms[0].store.fsync, FsyncPolicy::Never);
    assert_eq!(
        warning_paths(&c),
        vec!["workers[0].realms[0].store.junction.fsync-interval"]
    );
}

#[test]
fn role_junction_trustlevel() {
    let p = "/workers/0/realms/0/roles/0/junction";
    let c = load_ok(&with(p, json!({"trustlevel": 3})));
    assert_eq!(c.realms[0].roles[0].trustlevel, Some(3));
    assert_eq!(load_ok(&base()).realms[0].roles[0].trustlevel, None);
    let path = "workers[0].realms[0].roles[0].junction";
    assert_one_issue(
        &with(p, json!({"trustlevel": -1})),
        &format!("{path}.trustlevel"),
        Invalid,
        "whole number",
    );
    assert_one_issue(
        &with(p, json!({"trust": 1})),
        &format!("{path}.trust"),
        Invalid,
        "",
    );
}

#[test]
fn transport_junction_trustlevel() {
    let p = "/workers/0/transports/0/junction";
    let c = load_ok(&with(p, json!({"trustlevel": 4})));
    assert_eq!(c.transports[0].auth.trustlevel, Some(4));
    assert_eq!(
        c.transports[0].auth.anonymous_role(),
        Some("anonymous"),
        "a trust level leaves the transport's authentication as it was"
    );
    assert_eq!(load_ok(&base()).transports[0].auth.trustlevel, None);
    let path = "workers[0].transports[0].junction";
    assert_one_issue(
        &with(p, json!({"trustlevel": "high"})),
        &format!("{path}.trustlevel"),
        Invalid,
        "",
    );
    assert_one_issue(
        &with(p, json!({"level": 1})),
        &format!("{path}.level"),
        Invalid,
        "",
    );
}

#[test]
fn a_universal_transport_on_a_unix_socket_loads() {
    let v = with(
        "/workers/0/transports/0",
        json!({"type": "universal", "endpoint": {"type": "unix", "path": "/tmp/u.sock"}, "rawsocket": {}}),
    );
    let c = load_ok(&v);
    assert!(matches!(
        c.transports[0].endpoint,
        crate::config::Endpoint::Unix { .. }
    ));
}
