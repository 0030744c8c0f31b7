//! Router components and the guest, container and websocket-testee workers.

use super::*;
use crate::config::worker::{
    ComponentKind, ConnectingEndpoint, ConnectingKind, ContainerRestart, ContainerShutdown,
    DEFAULT_GUEST_STOP_TIMEOUT_S, EnvInherit, GuestOutput, GuestRestart, GuestStdin, PythonEntry,
    WorkerKind,
};

fn component(c: Value) -> Value {
    with("/workers/0/components", json!([c]))
}

#[test]
fn function_components_are_read_and_run_without_a_warning() {
    let c = load_ok(&component(json!({
        "type": "function", "realm": "realm1", "callbacks": {"join": "app.on_join"}, "extra": [1]
    })));
    let ComponentKind::Python(p) = &c.components[0].kind else {
        panic!("python");
    };
    assert_eq!(
        p.entry,
        PythonEntry::Function([("join".to_owned(), "app.on_join".to_owned())].into())
    );
    assert_eq!(p.extra, Some(json!([1])));
    assert_eq!(c.components[0].id, "component1");
    // It runs in the node's component host.
    assert_eq!(c.warnings, Vec::<String>::new());
}

#[rstest]
#[case(json!({"type": "class", "realm": "realm1", "classname": "crossbar.bridge.rest.MessageForwarder"}), "extra", "missing")]
#[case(json!({"type": "class", "realm": "realm1", "classname": "crossbar.bridge.rest.MessageForwarder", "extra": {}}), "extra.subscriptions", "missing")]
#[case(json!({"type": "class", "realm": "realm1", "classname": "crossbar.bridge.rest.MessageForwarder", "extra": {"subscriptions": [{"topic": "t"}]}}), "extra.subscriptions[0].url", "missing")]
#[case(json!({"type": "class", "realm": "realm1", "classname": "crossbar.bridge.rest.MessageForwarder", "extra": {"subscriptions": [], "expectedcode": 42}}), "extra.expectedcode", "out of range")]
#[case(json!({"type": "class", "realm": "realm1", "classname": "crossbar.bridge.rest.RESTCallee", "extra": {"procedure": "p.x"}}), "extra.baseurl", "missing")]
#[case(json!({"type": "class", "realm": "realm1", "classname": "crossbar.bridge.rest.RESTCallee", "extra": {"procedure": "p.x", "baseurl": "u", "timeout": 1}}), "extra.timeout", "unknown key")]
#[case(json!({"type": "plugin", "realm": "realm1"}), "type", "\"class\" or \"function\"")]
#[case(json!({"type": "function", "realm": "realm1", "callbacks": {"boot": "x.y"}}), "callbacks.boot", "unknown callback")]
#[case(json!({"type": "class", "realm": "realm1", "classname": "a.B", "transport": {}}), "transport", "unknown key")]
fn bad_components(#[case] c: Value, #[case] at: &str, #[case] needle: &str) {
    assert_one_issue(
        &component(c),
        &format!("workers[0].components[0].{at}"),
        Invalid,
        needle,
    );
}

#[test]
fn component_ids_are_unique() {
    let v = with(
        "/workers/0/components",
        json!([
            {"id": "c", "type": "class", "realm": "realm1", "classname": "a.B"},
            {"id": "c", "type": "class", "realm": "realm1", "classname": "a.C"}
        ]),
    );
    assert_one_issue(
        &v,
        "workers[0].components[1].id",
        Invalid,
        "duplicate component ID",
    );
}

#[test]
fn guest_defaults_and_errors() {
    let c = model(&with(
        "/workers/1",
        json!({"type": "guest", "executable": "node"}),
    ));
    let WorkerKind::Guest(g) = &c.workers[0].kind else {
        panic!("guest");
    };
    assert_eq!(g.workdir, Path::new("/node"), "the node directory");
    assert_eq!(g.env.inherit, EnvInherit::All);
    assert_eq!(
        (&g.stdin, g.stdout, g.stderr),
        (&GuestStdin::Open, GuestOutput::Log, GuestOutput::Log)
    );
    assert_eq!(g.watch, None);
    assert_eq!(
        (g.restart, g.stop_timeout_s),
        (GuestRestart::Never, DEFAULT_GUEST_STOP_TIMEOUT_S)
    );
    let c = model(&with(
        "/workers/1",
        json!({"type": "guest", "executable": "x", "options": {"restart": "restart-on-failed", "stop_timeout": 3,
            "stdin": {"type": "msgpack", "value": [1], "close": false}}}),
    ));
    let WorkerKind::Guest(g) = &c.workers[0].kind else {
        panic!("guest");
    };
    assert_eq!((g.restart, g.stop_timeout_s), (GuestRestart::OnFailed, 3));
    assert_eq!(
        g.stdin,
        GuestStdin::Json {
            value: json!([1]),
            msgpack: true,
            close: false
        }
    );
    let c = model(&with(
        "/workers/1",
        json!({"type": "guest", "executable": "x", "options": {"env": {"inherit": false}, "stdin": "close", "stdout": "close"}}),
    ));
    let WorkerKind::Guest(g) = &c.workers[0].kind else {
        panic!("guest");
    };
    assert_eq!(
        (&g.env.inherit, &g.stdin, g.stdout),
        (&EnvInherit::Nothing, &GuestStdin::Close, GuestOutput::Close)
    );
    for (options, at, needle) in [
        (
            json!({"stdout": "file"}),
            "options.stdout",
            "\"log\", \"drop\" or \"close\"",
        ),
        (json!({"stdin": "open"}), "options.stdin", "not \"close\""),
        (
            json!({"stdin": {"type": "cbor", "value": 1}}),
            "options.stdin.type",
            "not \"json\" or \"msgpack\"",
        ),
        (
            json!({"stdin": {"type": "json"}}),
            "options.stdin.value",
            "missing",
        ),
        (
            json!({"env": {"vars": {"A B": "x"}}}),
            "options.env.vars.A B",
            "not a valid environment variable name",
        ),
        (
            json!({"env": {"inherit": "yes"}}),
            "options.env.inherit",
            "expected a list",
        ),
        (
            json!({"watch": {"directories": ["."], "action": "reload"}}),
            "options.watch.action",
            "not \"restart\"",
        ),
        (
            json!({"restart": true}),
            "options.restart",
            "expected a string",
        ),
        (
            json!({"restart": "restart-sometimes"}),
            "options.restart",
            "\"restart-on-failed\"",
        ),
        (json!({"stop_timeout": -1}), "options.stop_timeout", ""),
        (json!({"bogus": 1}), "options.bogus", "unknown key"),
    ] {
        let v = with(
            "/workers/1",
            json!({"type": "guest", "executable": "x", "options": options}),
        );
        assert_one_issue(&v, &format!("workers[1].{at}"), Invalid, needle);
    }
    assert_one_issue(
        &with(
            "/workers/1",
            json!({"type": "guest", "executable": "x", "arguments": ["a", 1]}),
        ),
        "workers[1].arguments[1]",
        Invalid,
        "expected a string",
    );
}

#[test]
fn containers_and_their_transports() {
    let v = with(
        "/workers/1",
        json!({"type": "container", "options": {"restart": "restart-on-failed"}, "components": [
            {"type": "class", "classname": "a.B", "realm": "elsewhere", "transport": {
                "type": "rawsocket", "serializer": "msgpack",
                "endpoint": {"type": "unix", "path": "router.sock"}}},
            {"type": "function", "realm": "elsewhere", "auth": {"ticket": {}}, "transport": {
                "type": "websocket", "url": "wss://router.example.com/ws",
                "endpoint": {"type": "tcp", "host": "router.example.com", "port": 443, "timeout": 5,
                             "tls": {"hostname": "router.example.com", "ca_certificates": ["ca.pem"]}}}}
        ]}),
    );
    let c = model(&v);
    let WorkerKind::Container(ct) = &c.workers[0].kind else {
        panic!("container");
    };
    assert_eq!(
        (ct.shutdown, ct.restart),
        (ContainerShutdown::Manual, Some(ContainerRestart::OnFailed))
    );
    assert_eq!(
        ct.components[0].transport.kind,
        ConnectingKind::RawSocket {
            serializer: Serializer::MsgPack
        }
    );
    assert_eq!(
        ct.components[0].transport.endpoint,
        ConnectingEndpoint::Unix {
            path: "/node/router.sock".into(),
            timeout_s: 10
        }
    );
    let ConnectingEndpoint::Tcp {
        tls: Some(tls),
        timeout_s: 5,
        ..
    } = &ct.components[1].transport.endpoint
    else {
        panic!("TLS endpoint");
    };
    assert_eq!(
        tls.ca_certificates,
        vec![Path::new("/node/ca.pem").to_owned()]
    );
    // Crossbar's container never reads it: its function components join anonymously.
    assert_eq!(
        warnings_at(&c, "workers[1].components[1].auth"),
        vec![
            "workers[1].components[1].auth: ignored: Crossbar's container does not use it either \
             (a function component joins anonymously)"
        ]
    );
    assert!(c.unsupported().is_empty(), "the function component runs");
    // Every shutdown mode is read.
    for mode in [
        ContainerShutdown::Manual,
        ContainerShutdown::OnLastComponentStopped,
        ContainerShutdown::OnAnyComponentFailed,
        ContainerShutdown::OnAnyComponentStopped,
    ] {
        let c = model(&with(
            "/workers/1",
            json!({"type": "container", "options": {"shutdown": mode.name()}}),
        ));
        let WorkerKind::Container(ct) = &c.workers[0].kind else {
            panic!("container");
        };
        assert_eq!(ct.shutdown, mode);
    }
    // A container's env is its host's (a guest's `options.env`), the router's is warned.
    let c = model(&with(
        "/workers/1",
        json!({"type": "container", "options": {"env": {"inherit": false, "vars": {"A": "1"}}}}),
    ));
    let WorkerKind::Container(ct) = &c.workers[0].kind else {
        panic!("container");
    };
    assert_eq!(ct.env.inherit, EnvInherit::Nothing);
    assert_eq!(ct.env.vars["A"], "1");
    assert!(warning_paths(&c).is_empty(), "{:?}", c.warnings);
    let c = model(&with(
        "/workers/0/options",
        json!({"env": {"vars": {"A": "1"}}}),
    ));
    assert_eq!(warning_paths(&c), vec!["workers[0].options.env"]);
    // A component transport's client options are not applied: warned, not silently dropped.
    let c = model(&with(
        "/workers/1",
        json!({"type": "container", "components": [
            {"type": "class", "classname": "a.B", "realm": "realm1", "transport": {
                "type": "websocket", "url": "ws://h/ws", "options": {"auto_ping_interval": 1000},
                "endpoint": {"type": "tcp", "host": "h", "port": 1}}},
            {"type": "class", "classname": "a.B", "realm": "realm1", "transport": {
                "type": "rawsocket", "serializer": "json", "options": {"max_message_size": 1024},
                "endpoint": {"type": "tcp", "host": "h", "port": 1}}}]}),
    ));
    assert_eq!(
        warning_paths(&c),
        vec![
            "workers[1].components[0].transport.options",
            "workers[1].components[1].transport.options"
        ]
    );
    // A container's Python settings are its host process's.
    let c = model(&with(
        "/workers/1",
        json!({"type": "container", "options": {"pythonpath": [".."], "python": "/usr/bin/python3"}}),
    ));
    assert!(warning_paths(&c).is_empty(), "{:?}", warning_paths(&c));
    assert_eq!(c.python, PythonOptions::default(), "not the router's");
    let WorkerKind::Container(ct) = &c.workers[0].kind else {
        panic!("container");
    };
    assert_eq!(
        ct.python.executable.as_deref(),
        Some(Path::new("/usr/bin/python3"))
    );
    assert_eq!(ct.python.path, vec![Path::new("/node/..").to_owned()]);
    for (options, needle) in [
        (
            json!({"restart": "restart-always", "shutdown": "shutdown-on-any-component-failed"}),
            "cannot work",
        ),
        (json!({"shutdown": "shutdown-now"}), "unknown shutdown mode"),
    ] {
        let found = issues(&with(
            "/workers/1",
            json!({"type": "container", "options": options}),
        ));
        assert!(found[0].message.contains(needle), "{found:#?}");
    }
    assert_one_issue(
        &with(
            "/workers/1",
            json!({"type": "container", "components": [
            {"type": "class", "classname": "a.B", "realm": "realm1"}]}),
        ),
        "workers[1].components[0].transport",
        Invalid,
        "missing",
    );
    assert_one_issue(
        &with(
            "/workers/1",
            json!({"type": "container", "components": [
            {"type": "class", "classname": "a.B", "realm": "realm1", "transport": {"type": "websocket", "endpoint": {"type": "tcp", "host": "h", "port": 1}}}]}),
        ),
        "workers[1].components[0].transport.url",
        Invalid,
        "missing",
    );
}

#[test]
fn testee_worker() {
    let c = model(&with(
        "/workers/1",
        json!({"type": "websocket-testee", "id": "testee", "options": {"title": "t"}, "transport": {
            "type": "websocket", "id": "echo", "endpoint": {"type": "tcp", "port": 9001},
            "serializers": ["json"], "options": {"auto_ping_interval": 1000}}}),
    ));
    let WorkerKind::WebSocketTestee(t) = &c.workers[0].kind else {
        panic!("testee");
    };
    assert_eq!(c.workers[0].id.as_deref(), Some("testee"));
    assert_eq!(t.transport_id, "echo");
    assert_eq!(t.options.auto_ping_interval_ms, 1000);
    assert_eq!(
        t.options.max_message_size,
        64 << 20,
        "not clamped to the router's limit"
    );
    assert_eq!(
        t.endpoint,
        Endpoint::Tcp {
            host: "0.0.0.0".into(),
            port: 9001
        }
    );
    let mut got = warning_paths(&c);
    got.sort_unstable();
    assert_eq!(
        got,
        vec![
            "workers[1].options.title",
            "workers[1].transport.serializers"
        ]
    );
    assert!(c.unsupported().is_empty(), "the testee runs");
}

#[test]
fn worker_ids_are_unique() {
    let mut v = with(
        "/workers/1",
        json!({"id": "w", "type": "guest", "executable": "a"}),
    );
    set(
        &mut v,
        "/workers/2",
        json!({"id": "w", "type": "guest", "executable": "b"}),
    );
    let found = issues(&v);
    assert_eq!(found[0].path, "workers[2].id");
    assert!(found[0].message.contains("duplicate worker ID"));
}

/// `controller.options.shutdown`: Crossbar's node shutdown triggers decide
/// what a container's end does (`node::worker_ended`); without any, its
/// default `shutdown_on_worker_exit`. The controller's other keys are warned.
#[rstest]
#[case(None, WorkerExitShutdown::Any)]
#[case(Some(json!({"id": "node1"})), WorkerExitShutdown::Any)]
#[case(Some(json!({"options": {"shutdown": ["shutdown_on_worker_exit"]}})), WorkerExitShutdown::Any)]
#[case(Some(json!({"options": {"shutdown": ["shutdown_on_worker_exit_with_error"]}})), WorkerExitShutdown::Failed)]
#[case(Some(json!({"options": {"shutdown": ["shutdown_on_worker_exit_with_error", "shutdown_on_worker_exit"]}})), WorkerExitShutdown::Any)]
#[case(Some(json!({"options": {"shutdown": ["shutdown_on_shutdown_requested"]}})), WorkerExitShutdown::Never)]
#[case(Some(json!({"options": {"shutdown": ["shutdown_on_last_worker_exit"]}})), WorkerExitShutdown::Never)]
#[case(Some(json!({"options": {"shutdown": []}})), WorkerExitShutdown::Never)]
fn controller_shutdown_triggers_decide_what_a_container_end_does(
    #[case] controller: Option<Value>,
    #[case] expected: WorkerExitShutdown,
) {
    let v = match &controller {
        Some(c) => with("/controller", c.clone()),
        None => base(),
    };
    let c = load_ok(&v);
    assert_eq!(c.node.worker_exit, expected);
    let warned = warning_paths(&c).contains(&"controller");
    assert_eq!(warned, controller.is_some_and(|c| c.get("id").is_some()));
}

#[test]
fn an_unknown_shutdown_trigger_is_an_error() {
    assert_one_issue(
        &with(
            "/controller",
            json!({"options": {"shutdown": ["shutdown_on_lunch"]}}),
        ),
        "controller.options.shutdown",
        Invalid,
        "unknown shutdown trigger \"shutdown_on_lunch\"",
    );
}
