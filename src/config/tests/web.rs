//! Web transports: every path type's keys, defaults and errors, nested
//! paths, HTTP options, and which of them the runtime serves.

use super::*;
use crate::config::web::{
    DEFAULT_HSTS_MAX_AGE_S, DEFAULT_STATIC_CACHE_TIMEOUT_S, DEFAULT_TIMESTAMP_DELTA_LIMIT_S,
    ForwardedProto, StaticSource, WebService,
};

fn web(paths: Value) -> Value {
    with(
        "/workers/0/transports/0",
        json!({"type": "web", "endpoint": {"type": "tcp", "port": 8080}, "paths": paths}),
    )
}

/// The service at `key` of the first transport's paths.
fn path_service(c: &Config, key: &str) -> WebService {
    match &c.transports[0].kind {
        TransportKind::Web(w) => w.paths[key].clone(),
        other => panic!("web expected, got {other:?}"),
    }
}

#[rstest]
#[case(json!({"ws": {"type": "websocket"}, "call": {"type": "caller", "realm": "realm1", "role": "anonymous", "options": {"bogus": 1}}}), "workers[0].transports[0].paths.call.options.bogus", Invalid, "unknown key")]
#[case(json!({"ws": {"type": "websocket"}, "call": {"type": "caller", "realm": "realm1"}}), "workers[0].transports[0].paths.call.role", Invalid, "missing")]
#[case(json!({"ws": {"type": "websocket"}, "lp": {"type": "longpoll", "options": {"session_timeout": "x"}}}), "workers[0].transports[0].paths.lp.options.session_timeout", Invalid, "")]
#[case(json!({"a/b": {"type": "websocket"}}), "workers[0].transports[0].paths.a/b", Invalid, "invalid path")]
#[case(json!({}), "workers[0].transports[0].paths", Invalid, "no path")]
#[case(json!({"ws": {"type": "websocket", "options": {"max_message_size": 0}}}), "workers[0].transports[0].paths.ws.options.max_message_size", Invalid, "out of range")]
#[case(json!({"ws": {"type": "websocket", "endpoint": {}}}), "workers[0].transports[0].paths.ws.endpoint", Invalid, "unknown key")]
#[case(json!({"ws": {"type": "websocket", "id": "bad id"}}), "workers[0].transports[0].paths.ws.id", Invalid, "invalid ID")]
#[case(json!({"x": {"type": "wap", "templates": "t", "routes": [], "wamp": {}}}), "workers[0].transports[0].paths.x.wamp.realm", Invalid, "missing")]
#[case(json!({"x": {"type": "wap", "routes": [], "wamp": {"realm": "realm1"}}}), "workers[0].transports[0].paths.x.templates", Invalid, "missing")]
#[case(json!({"x": {"type": "wap", "templates": "t", "routes": [{"path": "/a/<uuid:x>", "call": "a.b", "render": "a.html"}], "wamp": {"realm": "realm1"}}}), "workers[0].transports[0].paths.x.routes[0].path", Invalid, "unknown converter")]
#[case(json!({"x": {"type": "wap", "templates": "t", "routes": [{"path": "/a", "method": "PUT", "render": "a.html"}], "wamp": {"realm": "realm1"}}}), "workers[0].transports[0].paths.x.routes[0].method", Invalid, "\"GET\" or \"POST\"")]
#[case(json!({"x": {"type": "wap", "templates": "t", "routes": [{"path": "/a", "call": "a..b", "render": "a.html"}], "wamp": {"realm": "realm1"}}}), "workers[0].transports[0].paths.x.routes[0].call", Invalid, "invalid URI")]
#[case(json!({"x": {"type": "wap", "templates": "t", "routes": [{"path": "/a"}], "wamp": {"realm": "realm1"}}}), "workers[0].transports[0].paths.x.routes[0].render", Invalid, "missing")]
#[case(json!({"x": {"type": "wap", "templates": "t", "routes": [], "wamp": {"realm": "nosuch"}}}), "workers[0].transports[0].paths.x.wamp.realm", Invalid, "not defined")]
#[case(json!({"x": {"type": "pairme"}}), "workers[0].transports[0].paths.x.type", Unsupported, "\"pairme\"")]
#[case(json!({"x": {"type": "websocket-reverseproxy", "backend": {}}}), "workers[0].transports[0].paths.x.type", Unsupported, "\"websocket-reverseproxy\"")]
#[case(json!({"x": {"type": "ftp"}}), "workers[0].transports[0].paths.x.type", Invalid, "unknown web service type")]
#[case(json!({"x": {"directory": ".."}}), "workers[0].transports[0].paths.x.type", Invalid, "missing")]
#[case(json!({"/": {"type": "static"}}), "workers[0].transports[0].paths./", Invalid, "either `directory`")]
#[case(json!({"/": {"type": "static", "directory": "..", "package": "p", "resource": "r"}}), "workers[0].transports[0].paths./", Invalid, "either `directory`")]
#[case(json!({"/": {"type": "static", "directory": "..", "options": {"mime_types": {"svg": "image/svg+xml"}}}}), "workers[0].transports[0].paths./.options.mime_types.svg", Invalid, "not a file extension")]
#[case(json!({"/": {"type": "static", "directory": "..", "options": {"allow_cross_origin": 1}}}), "workers[0].transports[0].paths./.options.allow_cross_origin", Invalid, "expected true or false")]
#[case(json!({"/": {"type": "static", "directory": "..", "junction": {"cache": 1}}}), "workers[0].transports[0].paths./.junction.cache", Invalid, "unknown key")]
#[case(json!({"/": {"type": "static", "directory": "..", "junction": {"cache_bytes": -1}}}), "workers[0].transports[0].paths./.junction.cache_bytes", Invalid, "")]
#[case(json!({"/": {"type": "static", "directory": "..", "junction": {"follow_symlinks_outside": "yes"}}}), "workers[0].transports[0].paths./.junction.follow_symlinks_outside", Invalid, "expected true or false")]
#[case(json!({"r": {"type": "redirect"}}), "workers[0].transports[0].paths.r.url", Invalid, "missing")]
#[case(json!({"j": {"type": "json"}}), "workers[0].transports[0].paths.j.value", Invalid, "missing")]
#[case(json!({"j": {"type": "json", "value": 1, "options": {"sort_keys": true}}}), "workers[0].transports[0].paths.j.options.sort_keys", Invalid, "unknown key")]
#[case(json!({"c": {"type": "cgi", "directory": "cgi"}}), "workers[0].transports[0].paths.c.processor", Invalid, "missing")]
#[case(json!({"p": {"type": "reverseproxy", "host": "h", "port": 0}}), "workers[0].transports[0].paths.p.port", Invalid, "out of range")]
#[case(json!({"p": {"type": "reverseproxy", "host": "h", "forwarded_proto": "ftp"}}), "workers[0].transports[0].paths.p.forwarded_proto", Invalid, "\"http\" or \"https\"")]
#[case(json!({"w": {"type": "wsgi", "module": "m"}}), "workers[0].transports[0].paths.w.object", Invalid, "missing")]
#[case(json!({"l": {"type": "longpoll", "options": {"session_timeout": 86_401}}}), "workers[0].transports[0].paths.l.options.session_timeout", Invalid, "out of range")]
#[case(json!({"p": {"type": "publisher", "realm": "realm1", "role": "anonymous", "options": {"key": "k"}}}), "workers[0].transports[0].paths.p.options", Invalid, "`key` and `secret` together")]
#[case(json!({"p": {"type": "publisher", "realm": "realm1", "role": "anonymous", "options": {"require_ip": ["10.0.0.1/8"]}}}), "workers[0].transports[0].paths.p.options.require_ip[0]", Invalid, "host bits set")]
#[case(json!({"p": {"type": "publisher", "realm": "realm1", "role": "anonymous", "options": {"post_body_limit": 2_000_000}}}), "workers[0].transports[0].paths.p.options.post_body_limit", Invalid, "out of range")]
#[case(json!({"p": {"type": "publisher", "realm": "realm1", "role": "anonymous", "options": {"timestamp_delta_limit": 100_000}}}), "workers[0].transports[0].paths.p.options.timestamp_delta_limit", Invalid, "out of range")]
#[case(json!({"h": {"type": "webhook", "realm": "realm1", "role": "anonymous"}}), "workers[0].transports[0].paths.h.options", Invalid, "missing")]
#[case(json!({"h": {"type": "webhook", "realm": "realm1", "role": "anonymous", "options": {}}}), "workers[0].transports[0].paths.h.options.topic", Invalid, "missing")]
#[case(json!({"u": {"type": "upload", "realm": "realm1", "role": "anonymous", "directory": "up", "form_fields": {"file_name": "f", "total_size": "t", "chunk_number": "n", "chunk_size": "s", "total_chunks": "k", "content": "c"}}}), "workers[0].transports[0].paths.u.form_fields.mime_type", Invalid, "missing")]
#[case(json!({"x": {"type": "resource"}}), "workers[0].transports[0].paths.x.classname", Invalid, "missing")]
#[case(json!({"n": {"type": "path"}}), "workers[0].transports[0].paths.n.paths", Invalid, "missing")]
#[case(json!({"c": {"type": "cgi", "directory": "cgi", "processor": "sh", "junction": {"timeout": 0}}}), "workers[0].transports[0].paths.c.junction.timeout", Invalid, "out of range")]
#[case(json!({"c": {"type": "cgi", "directory": "cgi", "processor": "sh", "junction": {"max_head_size": 10}}}), "workers[0].transports[0].paths.c.junction.max_head_size", Invalid, "out of range")]
#[case(json!({"p": {"type": "reverseproxy", "host": "h", "junction": {"retries": 1}}}), "workers[0].transports[0].paths.p.junction.retries", Invalid, "unknown key")]
#[case(json!({"w": {"type": "wsgi", "module": "m", "object": "o", "junction": {"python": ""}}}), "workers[0].transports[0].paths.w.junction.python", Invalid, "must not be empty")]
#[case(json!({"m": {"type": "metrics", "port": 9100}}), "workers[0].transports[0].paths.m.port", Invalid, "unknown key")]
fn bad_web_paths(
    #[case] paths: Value,
    #[case] path: &str,
    #[case] kind: IssueKind,
    #[case] needle: &str,
) {
    assert_one_issue(&web(paths), path, kind, needle);
}

#[test]
fn one_websocket_path_is_served_on_its_http_path() {
    let c = load_ok(&web(json!({"/": {"type": "websocket"}})));
    assert_eq!(served_ws(&c, 0).options.path.as_deref(), Some("/"));
    let c = load_ok(&web(json!({"ws": {"type": "websocket", "id": "main"}})));
    assert_eq!(served_ws(&c, 0).options.path.as_deref(), Some("/ws"));
}

#[test]
fn web_transport_options_and_paths_missing() {
    let mut v = web(json!({"ws": {"type": "websocket"}}));
    set(
        &mut v,
        "/workers/0/transports/0/options",
        json!({"hsts": true, "display_tracebacks": true}),
    );
    let c = load_ok(&v);
    let mut got = warning_paths(&c);
    got.sort_unstable();
    assert_eq!(
        got,
        vec!["workers[0].transports[0].options.display_tracebacks",]
    );
    let TransportKind::Web(w) = &c.transports[0].kind else {
        panic!("web expected");
    };
    assert!(w.options.hsts);
    assert_eq!(w.options.hsts_max_age_s, DEFAULT_HSTS_MAX_AGE_S);
    // A value equal to the default is silent; `null` client_timeout is Crossbar's "none".
    set(
        &mut v,
        "/workers/0/transports/0/options",
        json!({"hsts": false, "client_timeout": null}),
    );
    assert!(load_ok(&v).warnings.is_empty());
    let v = with(
        "/workers/0/transports/0",
        json!({"type": "web", "endpoint": {"type": "tcp", "port": 8080}}),
    );
    assert_one_issue(&v, "workers[0].transports[0].paths", Invalid, "missing");
}

#[test]
fn path_type_defaults() {
    let c = model(&web(json!({
        "/": {"type": "static", "package": "myapp", "resource": "web"},
        "s": {"type": "static", "directory": "/srv/www", "options": {"cache_timeout": null, "default_file": "index.html"}},
        "j": {"type": "json", "value": [1, "two", {"three": null}]},
        "p": {"type": "reverseproxy", "host": "backend"},
        "l": {"type": "longpoll"},
        "c": {"type": "caller", "realm": "realm1", "role": "anonymous"},
        "pages": {"type": "wap", "templates": "templates", "sandbox": true, "routes": [{"path": "/greeting/<name>", "call": "com.example.greeting", "render": "g.html"}, {"path": "/form", "method": "POST", "call": null, "render": "f.html"}], "wamp": {"realm": "realm1"}},
        "h": {"type": "webhook", "realm": "realm1", "role": "anonymous", "options": {"topic": "com.hook", "post_body_limit": 0}},
        "u": {"type": "upload", "realm": "realm1", "role": "anonymous", "directory": "up", "form_fields": {
            "file_name": "f", "mime_type": "m", "total_size": "t", "chunk_number": "n",
            "chunk_size": "s", "total_chunks": "k", "content": "c", "on_progress": "com.progress"}}
    })));
    let WebService::Static(root) = path_service(&c, "/") else {
        panic!("static");
    };
    assert_eq!(
        root.source,
        StaticSource::Package {
            package: "myapp".into(),
            resource: "web".into()
        }
    );
    assert_eq!(root.cache_timeout_s, Some(DEFAULT_STATIC_CACHE_TIMEOUT_S));
    assert!(!root.enable_directory_listing);
    let WebService::Static(s) = path_service(&c, "s") else {
        panic!("static");
    };
    assert_eq!(
        s.source,
        StaticSource::Directory("/srv/www".into()),
        "absolute paths stay"
    );
    assert_eq!(
        (s.cache_timeout_s, s.default_file.as_deref()),
        (None, Some("index.html"))
    );
    let WebService::Json(j) = path_service(&c, "j") else {
        panic!("json");
    };
    assert_eq!(j.value, json!([1, "two", {"three": null}]));
    assert!(!j.prettify && j.allow_cross_origin && !j.discourage_caching);
    let WebService::ReverseProxy(p) = path_service(&c, "p") else {
        panic!("proxy");
    };
    assert_eq!((p.port, p.path.as_str(), p.forwarded_port), (80, "", 80));
    assert_eq!(p.forwarded_proto, ForwardedProto::Http);
    let WebService::LongPoll(l) = path_service(&c, "l") else {
        panic!("longpoll");
    };
    assert_eq!(l, crate::config::web::LongPollService::default());
    assert_eq!(
        (
            l.request_timeout_s,
            l.session_timeout_s,
            l.queue_limit_bytes
        ),
        (10, 30, 131_072)
    );
    let WebService::Caller(b) = path_service(&c, "c") else {
        panic!("caller");
    };
    let WebService::Wap(w) = path_service(&c, "pages") else {
        panic!("wap");
    };
    assert_eq!((w.realm.as_str(), w.role.as_str()), ("realm1", "anonymous"));
    assert!(
        matches!(&w.templates, crate::config::web::StaticSource::Directory(d) if d.ends_with("templates"))
    );
    assert_eq!(w.routes.len(), 2);
    assert_eq!(w.routes[0].rule, "/greeting/<name>");
    assert!(!w.routes[0].post && w.routes[1].post);
    assert_eq!(w.routes[1].call, None);
    assert!(w.sources.is_empty(), "read when the node starts");
    assert_eq!(b.timestamp_delta_limit_s, DEFAULT_TIMESTAMP_DELTA_LIMIT_S);
    assert!(!b.require_tls && b.require_ip.is_empty() && b.signing.is_none());
    let WebService::Webhook(h) = path_service(&c, "h") else {
        panic!("webhook");
    };
    assert_eq!(
        h.post_body_limit, DEFAULT_MAX_MESSAGE_SIZE,
        "0 is Crossbar's no limit"
    );
    assert_eq!(
        (h.success_response.as_str(), h.error_response.as_str()),
        ("OK", "NOT OK")
    );
    let WebService::Upload(u) = path_service(&c, "u") else {
        panic!("upload");
    };
    assert_eq!(u.directory, Path::new("/node/up"));
    assert_eq!(u.form_fields.len(), 8);
    assert_eq!(u.form_fields["on_progress"], "com.progress");
}

/// Crossbar's `session_timeout: 0` (crossbar-examples longpoll_curl): no
/// idle timeout, warned; `debug_transport_id` warned for what it is.
#[test]
fn a_long_poll_session_timeout_of_zero_never_closes_idle_sessions() {
    let c = load_ok(&web(json!({"lp": {"type": "longpoll", "options": {
        "session_timeout": 0, "debug_transport_id": "kjmd3sBLOUnb3Fyr"}}})));
    let WebService::LongPoll(l) = path_service(&c, "lp") else {
        panic!("longpoll");
    };
    assert_eq!(l.session_timeout_s, 0);
    let at = "workers[0].transports[0].paths.lp.options.";
    let said = |key: &str| -> Vec<&str> {
        c.warnings
            .iter()
            .filter(|w| w.starts_with(&format!("{at}{key}:")))
            .map(String::as_str)
            .collect()
    };
    assert_eq!(said("session_timeout").len(), 1, "{:?}", c.warnings);
    assert!(said("session_timeout")[0].contains("never closed"));
    assert!(said("debug_transport_id")[0].contains("use the `transport` that `open` answers"));
}

#[test]
fn nested_paths_compose_http_paths() {
    let c = model(&web(json!({
        "/": {"type": "path", "paths": {
            "/": {"type": "static", "directory": "."},
            "a": {"type": "path", "paths": {"/": {"type": "websocket"}, "b": {"type": "websocket"}}}
        }}
    })));
    let WebService::Path(root) = path_service(&c, "/") else {
        panic!("path");
    };
    let WebService::Path(a) = &root["a"] else {
        panic!("nested path");
    };
    let http = |s: &WebService| match s {
        WebService::WebSocket(ws) => ws.options.path.clone(),
        other => panic!("websocket expected, got {other:?}"),
    };
    assert_eq!(http(&a["/"]).as_deref(), Some("/a"));
    assert_eq!(http(&a["b"]).as_deref(), Some("/a/b"));
    let paths: Vec<String> = c.unsupported().into_iter().map(|i| i.path).collect();
    assert!(
        paths.is_empty(),
        "static, path and websocket paths are served: {paths:?}"
    );
}

#[test]
fn services_list_every_path() {
    let c = model(&web(json!({
        "ws": {"type": "websocket"},
        "n": {"type": "path", "paths": {"q": {"type": "mqtt", "options": {"realm": "realm1"}}}}
    })));
    let at: Vec<(String, &str)> = c.transports[0]
        .kind
        .services()
        .into_iter()
        .map(|(at, s)| {
            let kind = match s {
                ServiceKind::WebSocket(_) => "websocket",
                ServiceKind::RawSocket(_) => "rawsocket",
                ServiceKind::Mqtt(_) => "mqtt",
                ServiceKind::Http(h) => h.type_name(),
            };
            (at, kind)
        })
        .collect();
    assert_eq!(
        at,
        vec![
            ("paths.n".to_owned(), "path"),
            ("paths.n.paths.q".to_owned(), "mqtt"),
            ("paths.ws".to_owned(), "websocket"),
        ]
    );
}

#[test]
fn bridge_realms_must_exist_and_gaps_come_with_errors() {
    let v = web(json!({"p": {"type": "publisher", "realm": "nowhere", "role": "anonymous"}}));
    let found = issues(&v);
    let got: Vec<(&str, IssueKind)> = found.iter().map(|i| (i.path.as_str(), i.kind)).collect();
    assert_eq!(
        got,
        vec![("workers[0].transports[0].paths.p.realm", Invalid)]
    );
    assert!(
        found[0]
            .message
            .contains("realm \"nowhere\", which is not defined")
    );
}

#[test]
fn web_transport_junction_limits_and_client_timeout() {
    use crate::config::web::HttpLimits;
    let http = |v: &Value| match &model(v).transports[0].kind {
        TransportKind::Web(w) => w.http.clone(),
        other => panic!("web expected, got {other:?}"),
    };
    let mut v = web(json!({"ws": {"type": "websocket"}}));
    assert_eq!(http(&v), HttpLimits::default());
    set(
        &mut v,
        "/workers/0/transports/0/junction",
        json!({"max_head_size": 4096, "max_target_size": 1024, "max_header_fields": 20,
               "max_body_size": 0, "head_timeout": 2000, "body_timeout": 0,
               "idle_timeout": 5000, "send_timeout": 1000}),
    );
    let got = http(&v);
    assert_eq!(
        got,
        HttpLimits {
            max_head_bytes: 4096,
            max_target_bytes: 1024,
            max_headers: 20,
            max_body_bytes: 0,
            head_timeout_ms: 2000,
            body_timeout_ms: 0,
            idle_timeout_ms: 5000,
            send_timeout_ms: 1000,
        }
    );
    // Crossbar's client_timeout (seconds) sets the idle timeout.
    set(
        &mut v,
        "/workers/0/transports/0/options",
        json!({"client_timeout": 7}),
    );
    assert_eq!(http(&v).idle_timeout_ms, 7000);
}

#[rstest]
#[case(json!({"max_head_size": 100}), "workers[0].transports[0].junction.max_head_size", "out of range")]
#[case(json!({"max_header_fields": 1000}), "workers[0].transports[0].junction.max_header_fields", "out of range")]
#[case(json!({"max_head_size": 2048, "max_target_size": 4096}), "workers[0].transports[0].junction.max_target_size", "above max_head_size")]
#[case(json!({"head_timeout": 0}), "workers[0].transports[0].junction.head_timeout", "out of range")]
#[case(json!({"keepalive": 1}), "workers[0].transports[0].junction.keepalive", "unknown key")]
fn bad_web_junction_limits(#[case] junction: Value, #[case] path: &str, #[case] needle: &str) {
    let mut v = web(json!({"ws": {"type": "websocket"}}));
    set(&mut v, "/workers/0/transports/0/junction", junction);
    assert_one_issue(&v, path, Invalid, needle);
}

#[test]
fn websocket_compression_options() {
    use crate::config::DeflateParams;
    let ws = |options: Value| {
        let c = model(&web(
            json!({"ws": {"type": "websocket", "options": options}}),
        ));
        match path_service(&c, "ws") {
            WebService::WebSocket(s) => s.options.compression,
            other => panic!("websocket expected, got {other:?}"),
        }
    };
    assert_eq!(ws(json!({})), None);
    assert_eq!(ws(json!({"compression": {}})), None, "no deflate: off");
    assert_eq!(
        ws(json!({"compression": {"deflate": {}}})),
        Some(DeflateParams::default())
    );
    assert_eq!(
        ws(json!({"compression": {"deflate": {
            "request_no_context_takeover": true, "request_max_window_bits": 10,
            "no_context_takeover": false, "max_window_bits": 12, "level": 1, "threshold": 0}}})),
        Some(DeflateParams {
            no_context_takeover: false,
            request_no_context_takeover: true,
            max_window_bits: 12,
            request_max_window_bits: 10,
            level: 1,
            threshold: 0,
        })
    );
}

#[rstest]
#[case(json!({"deflate": {"max_window_bits": 16}}), "workers[0].transports[0].paths.ws.options.compression.deflate.max_window_bits", "out of range")]
#[case(json!({"deflate": {"request_max_window_bits": 5}}), "workers[0].transports[0].paths.ws.options.compression.deflate.request_max_window_bits", "not a window size")]
#[case(json!({"deflate": {"level": 0}}), "workers[0].transports[0].paths.ws.options.compression.deflate.level", "out of range")]
#[case(json!({"deflate": {"x": 1}}), "workers[0].transports[0].paths.ws.options.compression.deflate.x", "unknown key")]
#[case(json!({"gzip": {}}), "workers[0].transports[0].paths.ws.options.compression.gzip", "unknown key")]
fn bad_compression_options(#[case] compression: Value, #[case] path: &str, #[case] needle: &str) {
    let v = web(json!({"ws": {"type": "websocket", "options": {"compression": compression}}}));
    assert_one_issue(&v, path, Invalid, needle);
}

#[test]
fn gateway_junction_options_and_defaults() {
    use crate::config::web::{
        DEFAULT_CGI_CHUNKED_BUFFER, DEFAULT_CGI_MAX_HEAD, DEFAULT_CGI_TIMEOUT_MS,
        DEFAULT_PROXY_CONNECT_TIMEOUT_MS, DEFAULT_PROXY_POOL_IDLE_MS, DEFAULT_PROXY_POOL_SIZE,
        DEFAULT_PROXY_TIMEOUT_MS, DEFAULT_WSGI_START_TIMEOUT_MS,
    };
    let c = model(&web(json!({
        "c": {"type": "cgi", "directory": "cgi", "processor": "/bin/sh"},
        "c2": {"type": "cgi", "directory": "cgi", "processor": "python3",
               "junction": {"timeout": 2500, "max_head_size": 4096, "chunked_buffer": 0}},
        "p": {"type": "reverseproxy", "host": "b", "junction": {"connect_timeout": 700, "timeout": 900,
               "pool_size": 0, "pool_idle_timeout": 1200}},
        "p2": {"type": "reverseproxy", "host": "b"},
        "w": {"type": "wsgi", "module": "m", "object": "app"},
        "w2": {"type": "wsgi", "module": "m", "object": "app",
               "junction": {"python": "/opt/py/bin/python3", "start_timeout": 1000, "timeout": 2000}},
        "m": {"type": "metrics"}
    })));
    let WebService::Cgi(c1) = path_service(&c, "c") else {
        panic!("cgi");
    };
    assert_eq!(
        (
            c1.processor.as_str(),
            c1.timeout_ms,
            c1.max_head_bytes,
            c1.chunked_buffer
        ),
        (
            "/bin/sh",
            DEFAULT_CGI_TIMEOUT_MS,
            DEFAULT_CGI_MAX_HEAD,
            DEFAULT_CGI_CHUNKED_BUFFER
        )
    );
    let WebService::Cgi(c2) = path_service(&c, "c2") else {
        panic!("cgi");
    };
    assert_eq!(
        (c2.timeout_ms, c2.max_head_bytes, c2.chunked_buffer),
        (2500, 4096, 0)
    );
    let WebService::ReverseProxy(p) = path_service(&c, "p") else {
        panic!("proxy");
    };
    assert_eq!(
        (
            p.connect_timeout_ms,
            p.timeout_ms,
            p.pool_size,
            p.pool_idle_ms
        ),
        (700, 900, 0, 1200)
    );
    let WebService::ReverseProxy(p2) = path_service(&c, "p2") else {
        panic!("proxy");
    };
    assert_eq!(
        (
            p2.connect_timeout_ms,
            p2.timeout_ms,
            p2.pool_size,
            p2.pool_idle_ms
        ),
        (
            DEFAULT_PROXY_CONNECT_TIMEOUT_MS,
            DEFAULT_PROXY_TIMEOUT_MS,
            DEFAULT_PROXY_POOL_SIZE,
            DEFAULT_PROXY_POOL_IDLE_MS
        )
    );
    let WebService::Wsgi(w) = path_service(&c, "w") else {
        panic!("wsgi");
    };
    assert_eq!(
        (w.python.as_deref(), w.start_timeout_ms, w.timeout_ms),
        (
            Some(std::path::Path::new("python3")),
            DEFAULT_WSGI_START_TIMEOUT_MS,
            DEFAULT_PROXY_TIMEOUT_MS
        )
    );
    let WebService::Wsgi(w2) = path_service(&c, "w2") else {
        panic!("wsgi");
    };
    assert_eq!(
        (w2.python.as_deref(), w2.start_timeout_ms, w2.timeout_ms),
        (
            Some(std::path::Path::new("/opt/py/bin/python3")),
            1000,
            2000
        )
    );
    assert!(matches!(path_service(&c, "m"), WebService::Metrics));
    // Served now: none of these is in the gap list.
    assert!(c.unsupported().is_empty(), "{:#?}", c.unsupported());
}

#[test]
fn wsgi_services_get_the_routers_python_and_pythonpath() {
    let mut v = web(json!({
        "w": {"type": "wsgi", "module": "m", "object": "app"},
        "n": {"type": "path", "paths": {
            "w2": {"type": "wsgi", "module": "m", "object": "app", "junction": {"python": "/opt/py"}}
        }}
    }));
    v["workers"][0]["options"] =
        json!({"python": "/usr/bin/python3.11", "pythonpath": ["apps", "/abs"]});
    let c = model(&v);
    let WebService::Wsgi(w) = path_service(&c, "w") else {
        panic!("wsgi");
    };
    assert_eq!(
        w.python.as_deref(),
        Some(std::path::Path::new("/usr/bin/python3.11"))
    );
    assert_eq!(w.pythonpath.len(), 2);
    assert!(w.pythonpath[0].ends_with("apps") && w.pythonpath[0].is_absolute());
    assert_eq!(w.pythonpath[1], std::path::PathBuf::from("/abs"));
    let WebService::Path(n) = path_service(&c, "n") else {
        panic!("path");
    };
    let WebService::Wsgi(w2) = &n["w2"] else {
        panic!("nested wsgi");
    };
    assert_eq!(
        w2.python.as_deref(),
        Some(std::path::Path::new("/opt/py")),
        "its own wins"
    );
    assert_eq!(w2.pythonpath, w.pythonpath);
}
