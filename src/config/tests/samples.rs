//! The sample files in `tests/config_files/`: Crossbar's template, the
//! embedded default, and one realistic config per area plus a big one that
//! combines them, each loaded to its model and its gap list.

use std::path::{Path, PathBuf};

use super::*;
use crate::config::auth::{
    AnonymousAuth, CookieStore, CryptosignAuth, DynamicAuth, SameSite, ScramAuth, ScramKdf,
    TicketAuth, TlsAuth, WampCraAuth,
};
use crate::config::mqtt::PayloadFormat;
use crate::config::web::{ForwardedProto, StaticSource, WebService};
use crate::config::worker::{
    ComponentKind, ConnectingEndpoint, ContainerShutdown, EnvInherit, GuestOutput, GuestStdin,
    PythonEntry, WorkerKind,
};

const AUTH_JSON: &str = include_str!("../../../tests/config_files/auth.json");
const WEB_JSON: &str = include_str!("../../../tests/config_files/web.json");
const MQTT_JSON: &str = include_str!("../../../tests/config_files/mqtt.json");
const COMPONENTS_JSON: &str = include_str!("../../../tests/config_files/components.json");
const FULL_YAML: &str = include_str!("../../../tests/config_files/crossbar_full.yaml");

fn json_value(text: &str) -> Value {
    serde_json::from_str(text).expect("sample is JSON")
}

fn yaml_value(text: &str) -> Value {
    serde_yaml_ng::from_str(text).expect("sample is YAML")
}

/// The paths of `c`'s unsupported features, in order.
fn unsupported_paths(c: &Config) -> Vec<String> {
    c.unsupported().into_iter().map(|i| i.path).collect()
}

#[test]
fn crossbar_template_without_static_path_loads() {
    let c = Config::from_json_str(CROSSBAR_JSON).expect("loads");
    c.ensure_supported().expect("runs");
    assert_eq!(c.realms.len(), 1);
    let realm = &c.realms[0];
    assert_eq!(realm.name, "realm1");
    assert_eq!(realm.uri_check, UriCheck::Loose);
    assert_eq!(realm.roles.len(), 2);
    assert_eq!(realm.roles[0].name, "anonymous");
    assert_eq!(realm.roles[0].permissions, vec![Permission::allow_all()]);
    // Starred URI without `match`: a prefix rule.
    let backend = &realm.roles[1].permissions[0];
    assert_eq!(backend.uri, "com.example.");
    assert_eq!(backend.match_policy, MatchPolicy::Prefix);
    assert_eq!(
        backend.disclose,
        Disclose {
            caller: true,
            publisher: true
        }
    );

    assert_eq!(c.transports.len(), 2);
    let ws = &c.transports[0];
    assert_eq!(ws.id, "transport1");
    assert_eq!(
        ws.endpoint,
        Endpoint::Tcp {
            host: "0.0.0.0".to_owned(),
            port: 8080
        }
    );
    assert_eq!(
        ws.serializers,
        vec![Serializer::Cbor, Serializer::MsgPack, Serializer::Json]
    );
    assert_eq!(ws.auth, TransportAuth::default());
    assert!(matches!(ws.kind, TransportKind::Web(_)));
    assert_eq!(
        served_ws(&c, 0).options,
        WebSocketOptions {
            path: Some("/ws".to_owned()),
            max_message_size: 1_048_576,
            max_frame_size: 1_048_576,
            auto_ping_interval_ms: 10_000,
            auto_ping_timeout_ms: 5_000,
            open_handshake_timeout_ms: 2_500,
            compression: None,
            require_subprotocol: true,
        }
    );
    let rs = &c.transports[1];
    assert_eq!(rs.id, "transport2");
    let TransportKind::RawSocket(raw) = &rs.kind else {
        panic!("rawsocket expected");
    };
    assert_eq!(
        raw.options,
        RawSocketOptions {
            max_message_size: 1_048_576,
            open_handshake_timeout_ms: 10_000,
        }
    );
    assert_eq!(c.limits, Limits::default());
    assert_eq!(c.shards, None);
    assert_eq!(c.python.path, vec![PathBuf::from("./..")]);

    let opts = "workers[0].transports[0].paths.ws.options";
    // Its empty `controller` says nothing Junction ignores (the shutdown
    // triggers are read): no warning.
    let expected = [
        "workers[0].options.pythonpath".to_owned(),
        format!("{opts}.auto_fragment_size"),
        format!("{opts}.auto_ping_size"),
        format!("{opts}.close_handshake_timeout"),
        format!("{opts}.enable_webstatus"),
        format!("{opts}.fail_by_drop"),
    ];
    let mut got = warning_paths(&c);
    got.sort_unstable();
    assert_eq!(got, expected, "{:#?}", c.warnings);
}

#[test]
fn crossbar_template_with_static_path_runs() {
    let c = Config::from_json_str(CROSSBAR_STATIC_JSON).expect("loads");
    let StaticSource::Directory(dir) = (match &c.transports[0].kind {
        TransportKind::Web(w) => match &w.paths["/"] {
            WebService::Static(s) => s.source.clone(),
            other => panic!("static expected, got {other:?}"),
        },
        other => panic!("web expected, got {other:?}"),
    }) else {
        panic!("directory expected");
    };
    assert_eq!(dir, PathBuf::from("./../web"));
    // The web server serves it as it is.
    assert!(c.ensure_supported().is_ok(), "{:#?}", c.unsupported());
}

#[test]
fn tls_endpoint_loads_and_runs() {
    let c = Config::from_json_str(TLS_JSON).expect("loads");
    let tls = c.transports[1].endpoint.tls().expect("TLS endpoint");
    assert_eq!(tls.client_certificates, ClientCertificates::None);
    assert_eq!(tls.min_version, TlsVersion::Tls12);
    assert!(c.ensure_supported().is_ok(), "{:#?}", c.unsupported());
}

#[test]
fn yaml_equals_json() {
    let from_yaml = Config::from_yaml_str(CROSSBAR_YAML).expect("YAML loads");
    let from_json = Config::from_json_str(CROSSBAR_JSON).expect("JSON loads");
    assert_eq!(from_yaml, from_json);
}

#[test]
fn embedded_default_json_equals_embedded_default() {
    let c = Config::from_json_str(EMBEDDED_DEFAULT_JSON).expect("loads");
    assert_eq!(c, Config::embedded_default());
}

#[test]
fn junction_block_and_unix_endpoint() {
    let c = Config::from_yaml_str(LIMITS_YAML).expect("loads");
    assert_eq!(
        c.limits,
        Limits {
            max_message_size: 1_048_576,
            outbound_queue_bytes: 8_388_608,
            max_sessions_per_shard: 10_000,
            ..Limits::default()
        }
    );
    assert_eq!(c.shards, Some(4));
    assert_eq!(c.realms[0].uri_check, UriCheck::Strict);
    let ws = &c.transports[0];
    assert_eq!(ws.id, "public_ws");
    assert_eq!(
        ws.endpoint,
        Endpoint::Tcp {
            host: "::1".to_owned(),
            port: 9000
        }
    );
    // Transport sizes default to the router-wide limit.
    let o = &served_ws(&c, 0).options;
    assert_eq!(o.path, None);
    assert_eq!(o.max_message_size, 1_048_576);
    assert_eq!(o.max_frame_size, 1_048_576);
    assert_eq!(o.open_handshake_timeout_ms, 10_000);
    assert_eq!(ws.auth.anonymous_role(), Some("anonymous"));
    let rs = &c.transports[1];
    assert_eq!(
        rs.endpoint,
        Endpoint::Unix {
            path: "/tmp/junction.sock".into()
        }
    );
    assert_eq!(rs.serializers, vec![Serializer::MsgPack]);
    assert!(c.warnings.is_empty(), "{:#?}", c.warnings);
}

#[test]
fn from_file_picks_the_format_by_extension_or_guesses() {
    let dir = tempfile::tempdir().expect("temp dir");
    let files = [
        ("c.json", CROSSBAR_JSON),
        ("c.yaml", CROSSBAR_YAML),
        ("c.YML", CROSSBAR_YAML),
        ("c.conf", CROSSBAR_JSON),
        ("c", CROSSBAR_YAML),
    ];
    // Relative paths (here `pythonpath`) resolve against the file's directory.
    let expected = Config::from_value_in(
        &json_value(CROSSBAR_JSON),
        &LoadContext {
            node_dir: dir.path(),
            env: &|_: &str| None,
        },
    )
    .expect("loads");
    assert_eq!(expected.python.path, vec![dir.path().join("..")]);
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        assert_eq!(Config::from_file(&path).expect(name), expected, "{name}");
    }
    // A .json file holding YAML is a JSON syntax error.
    let path = dir.path().join("yaml.json");
    std::fs::write(&path, CROSSBAR_YAML).expect("write");
    assert!(matches!(
        Config::from_file(&path),
        Err(ConfigError::Syntax { format: "JSON", .. })
    ));
    let missing = dir.path().join("missing.json");
    assert!(matches!(
        Config::from_file(&missing),
        Err(ConfigError::Read { .. })
    ));
}

/// A config named by a relative path gets an absolute node directory, so
/// what resolves against it (a `pythonpath` of `..`) stays right for the
/// guest workers, which run in the node directory.
#[test]
fn a_relative_config_path_gives_an_absolute_node_directory() {
    let c = Config::from_file(Path::new("tests/config_files/crossbar.json")).expect("loads");
    assert!(c.node_dir.is_absolute(), "{}", c.node_dir.display());
    assert!(c.node_dir.ends_with("tests/config_files"));
    assert!(
        c.python.path.iter().all(|p| p.is_absolute()),
        "{:?}",
        c.python.path
    );
}

#[test]
fn auth_sample_loads_every_method() {
    let c = load_in(&json_value(AUTH_JSON), &[("OPS_TICKET", "from-env")]).expect("loads");
    assert_eq!(
        c.role_authorizer("realm1", "device"),
        Some("com.example.authorize")
    );
    let device = c.realms[0]
        .roles
        .iter()
        .find(|r| r.name == "device")
        .expect("device role");
    assert!(
        device.permissions.is_empty(),
        "an authorizer role has no static rules"
    );

    let TransportKind::WebSocket(ws) = &c.transports[0].kind else {
        panic!("websocket expected");
    };
    let auth = &ws.wamp.auth;
    assert_eq!(
        ws.wamp.serializers,
        vec![Serializer::Json, Serializer::MsgPack]
    );
    let Some(TicketAuth::Static { principals, .. }) = &auth.ticket else {
        panic!("static ticket expected");
    };
    assert_eq!(principals["joe"].ticket.expose(), b"secret!!!");
    assert_eq!(principals["ops"].ticket.expose(), b"from-env");
    assert_eq!(principals["ops"].role.as_deref(), Some("backend"));
    let Some(WampCraAuth::Static { users }) = &auth.wampcra else {
        panic!("static wampcra expected");
    };
    let salt = users["peter"].salt.as_ref().expect("salted");
    assert_eq!(
        (salt.salt.as_str(), salt.iterations, salt.keylen),
        ("salt123", 100, 16)
    );
    assert_eq!(users["joe"].salt, None);
    let Some(ScramAuth::Static { principals }) = &auth.scram else {
        panic!("static scram expected");
    };
    let alice = &principals["alice"];
    assert_eq!(
        (alice.kdf, alice.iterations, alice.memory),
        (ScramKdf::Argon2id13, 4096, 512)
    );
    assert_eq!(alice.salt.len(), 16);
    assert_eq!(alice.stored_key.len(), 32);
    assert_eq!(alice.server_key.expose()[..2], [0x0a, 0x1b]);
    let Some(CryptosignAuth::Static { principals }) = &auth.cryptosign else {
        panic!("static cryptosign expected");
    };
    let client = &principals["client01@example.com"];
    assert_eq!(client.authorized_keys[0][0], 0x54);
    assert_eq!(client.realm.as_deref(), Some("realm1"));
    assert_eq!(auth.anonymous_role(), Some("frontend"));
    // The runtime's view of the transport: anonymous as "frontend".
    assert_eq!(c.transports[0].auth.anonymous_role(), Some("frontend"));

    let TransportKind::RawSocket(rs) = &c.transports[1].kind else {
        panic!("rawsocket expected");
    };
    assert_eq!(
        rs.wamp.auth.ticket,
        Some(TicketAuth::Dynamic(DynamicAuth {
            authenticator: "com.example.authenticate".into(),
            realm: Some("realm1".into()),
            role: None,
            default_role: None,
        }))
    );
    assert_eq!(rs.wamp.auth.anonymous, None);
    assert_eq!(
        c.transports[1].auth.anonymous_role(),
        None,
        "no anonymous login"
    );

    let web = served_ws(&c, 2);
    let cookie = web.cookie.as_ref().expect("cookie tracking");
    assert_eq!(cookie.name, "session_id");
    assert_eq!(cookie.length, 24);
    assert_eq!(cookie.max_age_s, 86_400);
    assert_eq!(
        cookie.store,
        CookieStore::File {
            path: "/node/cookies.dat".into(),
            purge_on_startup: false
        }
    );
    assert!(cookie.secure && cookie.http_only);
    assert_eq!(cookie.same_site, Some(SameSite::Lax));
    assert!(web.wamp.auth.cookie);
    assert_eq!(
        web.wamp.auth.anonymous,
        Some(AnonymousAuth::Static {
            role: "frontend".into(),
            authid: Some("visitor".into())
        })
    );

    let t0 = "workers[0].transports[0].auth";
    let ws2 = "workers[0].transports[2].paths.ws";
    // Every method, cookie tracking and the authorizer run.
    assert!(
        unsupported_paths(&c).is_empty(),
        "{:#?}",
        unsupported_paths(&c)
    );
    assert!(
        warnings_at(&c, ws2).is_empty(),
        "{:#?}",
        warnings_at(&c, ws2)
    );
    // Without the variable the ticket cannot be read.
    // Without the variable the ticket cannot be read; the gaps of what did
    // load come with the error (transport 0 did not load).
    let err = load_in(&json_value(AUTH_JSON), &[]).expect_err("OPS_TICKET unset");
    assert_eq!(
        err.issues()[0].to_string(),
        format!("{t0}.ticket.principals.ops.ticket: environment variable OPS_TICKET is not set")
    );
    assert_eq!(err.issues()[0].kind, Invalid);
    assert!(err.issues()[1..].iter().all(|i| i.kind == Unsupported));
    assert!(
        !err.issues()
            .iter()
            .any(|i| i.path.starts_with("workers[0].transports[0].") && i.kind == Unsupported)
    );
}

#[test]
fn web_sample_loads_every_path_type() {
    let c = load_in(&json_value(WEB_JSON), &[("BRIDGE_SECRET", "s3cr3t")]).expect("loads");
    let TransportKind::Web(w) = &c.transports[0].kind else {
        panic!("web expected");
    };
    assert!(w.options.access_log && w.options.hsts);
    assert_eq!(
        (w.options.hsts_max_age_s, w.options.client_timeout_s),
        (600, Some(30))
    );
    let listed: Vec<(&str, &str)> = w
        .paths
        .iter()
        .map(|(k, s)| (k.as_str(), s.type_name()))
        .collect();
    assert_eq!(
        listed,
        vec![
            ("/", "static"),
            ("api", "reverseproxy"),
            ("app", "wsgi"),
            ("call", "caller"),
            ("cgi", "cgi"),
            ("config", "json"),
            ("docs", "redirect"),
            ("hook", "webhook"),
            ("info", "nodeinfo"),
            ("lp", "longpoll"),
            ("metrics", "metrics"),
            ("mqtt", "mqtt"),
            ("nested", "path"),
            ("publish", "publisher"),
            ("ws", "websocket"),
        ]
    );
    let WebService::Static(s) = &w.paths["/"] else {
        panic!("static root");
    };
    assert_eq!(s.source, StaticSource::Directory("/node/../web".into()));
    assert!(s.enable_directory_listing);
    assert_eq!(s.cache_timeout_s, Some(100));
    assert_eq!(s.mime_types[".wasm"], "application/wasm");
    let WebService::ReverseProxy(p) = &w.paths["api"] else {
        panic!("reverse proxy");
    };
    assert_eq!(
        (p.host.as_str(), p.port, p.path.as_str()),
        ("127.0.0.1", 5000, "/api/v1")
    );
    assert_eq!(
        (p.forwarded_port, p.forwarded_proto),
        (443, ForwardedProto::Https)
    );
    let WebService::Publisher(b) = &w.paths["publish"] else {
        panic!("publisher");
    };
    let signing = b.signing.as_ref().expect("signed");
    assert_eq!(
        (signing.key.as_str(), signing.secret.expose()),
        ("foobar", &b"s3cr3t"[..])
    );
    assert_eq!(b.require_ip.len(), 3);
    assert!(b.require_ip[0].contains("192.168.1.200".parse().expect("ip")));
    assert_eq!((b.post_body_limit, b.timestamp_delta_limit_s), (8192, 10));
    let WebService::Caller(call) = &w.paths["call"] else {
        panic!("caller");
    };
    // Crossbar's 0 / absent = no limit becomes the router's message size limit.
    assert_eq!(call.post_body_limit, DEFAULT_MAX_MESSAGE_SIZE);
    assert_eq!(call.signing, None);
    let WebService::Webhook(h) = &w.paths["hook"] else {
        panic!("webhook");
    };
    assert_eq!(
        (
            h.topic.as_str(),
            h.success_response.as_str(),
            h.error_response.as_str()
        ),
        ("com.example.webhook", "thanks", "NOT OK")
    );
    assert!(h.github_secret.is_some());
    let WebService::Path(nested) = &w.paths["nested"] else {
        panic!("nested path");
    };
    let WebService::WebSocket(ws2) = &nested["ws2"] else {
        panic!("nested websocket");
    };
    assert_eq!(ws2.options.path.as_deref(), Some("/nested/ws2"));
    let WebService::Mqtt(m) = &w.paths["mqtt"] else {
        panic!("mqtt path");
    };
    assert_eq!(m.realm, "realm1");
    let WebService::LongPoll(lp) = &w.paths["lp"] else {
        panic!("longpoll");
    };
    assert_eq!(
        (
            lp.request_timeout_s,
            lp.session_timeout_s,
            lp.queue_limit_messages
        ),
        (5, 60, 100)
    );
    let WebService::Cgi(cgi) = &w.paths["cgi"] else {
        panic!("cgi");
    };
    assert_eq!(cgi.directory, PathBuf::from("/node/../cgi"));
    // The runtime's view: the first websocket path (in key order).
    assert_eq!(
        c.transports[0].serializers,
        vec![Serializer::Cbor, Serializer::Json]
    );
    assert!(c.transports[0].kind.served_websocket().is_none());

    // Every path type is served now: nothing is refused.
    assert_eq!(unsupported_paths(&c), Vec::<String>::new());
    // The HTTP options are served now: no warning.
    let opts = "workers[0].transports[0].options";
    assert!(
        !warning_paths(&c).iter().any(|w| w.starts_with(opts)),
        "{:#?}",
        c.warnings
    );
    assert!(
        warning_paths(&c).contains(&"workers[0].transports[0].paths.app.maxthreads"),
        "{:#?}",
        c.warnings
    );
}

#[test]
fn mqtt_sample_loads_transports_and_universal() {
    let c = load_in(&json_value(MQTT_JSON), &[("SENSOR_PASSWORD", "pw")]).expect("loads");
    assert_eq!(c.limits.mqtt_offline_store_bytes, 268_435_456);
    assert_eq!(c.limits.mqtt_offline_store_sessions, 5000);
    let TransportKind::Mqtt(m) = &c.transports[0].kind else {
        panic!("mqtt expected");
    };
    assert_eq!((m.realm.as_str(), m.role.as_str()), ("realm1", "device"));
    assert_eq!(
        m.auth.anonymous_role(),
        Some("device"),
        "no auth: anonymous with `role`"
    );
    assert_eq!(m.payload_mapping[""], PayloadFormat::PASSTHROUGH);
    assert_eq!(
        m.payload_mapping["devices.json."],
        PayloadFormat::Native {
            serializer: Serializer::Json
        }
    );
    assert_eq!(
        m.payload_mapping["devices.custom."],
        PayloadFormat::Dynamic {
            encoder: "com.example.mqtt.encode".into(),
            decoder: "com.example.mqtt.decode".into(),
            realm: Some("codec".into()),
        }
    );
    // The router calls a codec on another realm there: nothing to warn.
    assert!(
        !warning_paths(&c)
            .iter()
            .any(|p| p.contains("payload_mapping")),
        "{:#?}",
        c.warnings
    );
    let l = &m.limits;
    assert_eq!(
        (l.max_connections, l.max_packet_size, l.max_inflight),
        (50_000, 262_144, 64)
    );
    assert_eq!(
        (
            l.max_queued_messages,
            l.max_session_expiry_s,
            l.max_keep_alive_s
        ),
        (500, 86_400, 600)
    );
    assert_eq!(l.connect_timeout_ms, 5000);
    assert_eq!(l.max_topic_levels, 128, "default");

    let TransportKind::Mqtt(secured) = &c.transports[1].kind else {
        panic!("mqtt expected");
    };
    assert!(matches!(
        secured.auth.ticket,
        Some(TicketAuth::Static { .. })
    ));
    assert!(c.transports[1].endpoint.tls().is_some());

    let TransportKind::Universal(u) = &c.transports[2].kind else {
        panic!("universal expected");
    };
    assert!(u.rawsocket.is_some());
    assert_eq!(u.websocket["ws"].options.path.as_deref(), Some("/ws"));
    assert_eq!(u.mqtt.as_ref().map(|m| m.role.as_str()), Some("device"));
    assert!(u.web.as_ref().is_some_and(|w| w.paths.contains_key("/")));

    assert!(
        unsupported_paths(&c).is_empty(),
        "{:#?}",
        unsupported_paths(&c)
    );
}

#[test]
fn components_sample_loads_components_and_workers() {
    let c = load_in(&json_value(COMPONENTS_JSON), &[]).expect("loads");
    assert_eq!(c.components.len(), 4);
    let ComponentKind::MessageForwarder(f) = &c.components[0].kind else {
        panic!("forwarder");
    };
    assert_eq!(c.components[0].id, "forwarder");
    assert_eq!(f.method, "PUT");
    assert_eq!(f.expected_code, Some(200));
    assert_eq!(f.subscriptions[1].match_policy, MatchPolicy::Prefix);
    let ComponentKind::RestCallee(r) = &c.components[1].kind else {
        panic!("callee (older class name)");
    };
    assert_eq!(c.components[1].id, "component2");
    assert_eq!(
        (r.procedure.as_str(), r.base_url.as_str()),
        ("com.myapp.rest", "https://httpbin.org/")
    );
    let ComponentKind::Python(py) = &c.components[2].kind else {
        panic!("python");
    };
    assert_eq!(py.entry, PythonEntry::Class("backend.MySession".into()));
    assert_eq!(py.extra, Some(json!({"greeting": "hello"})));
    assert_eq!(c.components[2].role, "anonymous");

    assert_eq!(c.workers.len(), 4);
    let WorkerKind::Guest(g) = &c.workers[0].kind else {
        panic!("guest");
    };
    assert_eq!(c.workers[0].id.as_deref(), Some("node_backend"));
    assert_eq!((g.executable.as_str(), g.arguments.len()), ("node", 2));
    assert_eq!(g.workdir, PathBuf::from("/node/../node"));
    assert_eq!(
        g.env.inherit,
        EnvInherit::Only(vec!["PATH".into(), "HOME".into()])
    );
    assert_eq!(g.env.vars["NODE_ENV"], "production");
    assert_eq!(
        g.stdin,
        GuestStdin::Json {
            value: json!({"realm": "realm1"}),
            msgpack: false,
            close: true
        }
    );
    assert_eq!((g.stdout, g.stderr), (GuestOutput::Log, GuestOutput::Drop));
    let watch = g.watch.as_ref().expect("watch");
    assert!(watch.restart);
    assert_eq!(watch.timeout_s, 1);
    let WorkerKind::Container(ct) = &c.workers[1].kind else {
        panic!("container");
    };
    assert_eq!(ct.shutdown, ContainerShutdown::OnAnyComponentStopped);
    assert!(matches!(
        ct.components[0].kind,
        ComponentKind::RestCallee(_)
    ));
    assert!(matches!(
        ct.components[0].transport.endpoint,
        ConnectingEndpoint::Tcp {
            port: 8080,
            timeout_s: 10,
            ..
        }
    ));
    let WorkerKind::WebSocketTestee(t) = &c.workers[2].kind else {
        panic!("testee");
    };
    assert_eq!(t.options.max_message_size, 16_777_216);
    assert_eq!(t.transport_id, "transport1");
    assert_eq!(
        c.workers[3].index, 4,
        "the guest with an unset BACKUP_DISABLED runs"
    );

    assert_eq!(
        unsupported_paths(&c),
        Vec::<String>::new(),
        "guests, containers and the container's RESTCallee run"
    );
    // The router's Python class and function component run in the node's
    // component host.
    assert_eq!(warnings_at(&c, "workers[0].components"), Vec::<&str>::new());
    // Crossbar's environment switch: a set BACKUP_DISABLED skips the guest.
    let c = load_in(&json_value(COMPONENTS_JSON), &[("BACKUP_DISABLED", "1")]).expect("loads");
    assert_eq!(c.workers.len(), 3);
    assert!(warning_paths(&c).contains(&"workers[4]"));
}

#[test]
fn full_sample_combines_every_area() {
    let env = [("ALICE_SECRET", "alice-pw"), ("PUSH_SECRET", "push-pw")];
    let c = load_in(&yaml_value(FULL_YAML), &env).expect("loads");
    assert_eq!(c.realms.len(), 2);
    assert_eq!(
        c.role_authorizer("app", "device"),
        Some("com.app.authorize")
    );
    let tls = c.transports[0].endpoint.tls().expect("TLS");
    assert_eq!(tls.key, PathBuf::from("/node/tls/server.key"));
    assert_eq!(
        tls.chain_certificates,
        vec![PathBuf::from("/node/tls/intermediate.crt")]
    );
    assert_eq!(tls.client_certificates, ClientCertificates::Optional);
    assert_eq!(tls.min_version, TlsVersion::Tls13);
    assert_eq!(tls.ciphers.as_ref().map(Vec::len), Some(2));
    let TransportKind::Web(w) = &c.transports[0].kind else {
        panic!("web");
    };
    let WebService::WebSocket(ws) = &w.paths["ws"] else {
        panic!("ws");
    };
    let Some(TlsAuth::Static { principals, .. }) = &ws.wamp.auth.tls else {
        panic!("tls auth");
    };
    assert_eq!(principals["backend01"].certificate_sha1[0], 0xB6);
    let Some(WampCraAuth::Static { users }) = &ws.wamp.auth.wampcra else {
        panic!("wampcra");
    };
    assert_eq!(users["alice"].secret.expose(), b"alice-pw");
    assert!(matches!(w.paths["metrics"], WebService::Metrics));
    assert_eq!(c.components.len(), 2);
    assert_eq!(c.workers.len(), 1);
    let Endpoint::Unix { path } = &c.transports[2].endpoint else {
        panic!("unix");
    };
    assert_eq!(path, &PathBuf::from("/run/junction/router.sock"));

    // Nothing is left (TLS, tls/cookie auth, every path type, the bridge
    // components and the guest worker are served).
    assert!(
        unsupported_paths(&c).is_empty(),
        "{:?}",
        unsupported_paths(&c)
    );
    // No secret reaches the debug output.
    let debug = format!("{c:?}");
    assert!(!debug.contains("alice-pw") && !debug.contains("push-pw"));
}
