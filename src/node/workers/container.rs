//! Container workers as supervised processes: each container becomes one
//! Python process running the host shipped in the binary
//! (`container_host.py`, Autobahn|Python's Component API), supervised
//! exactly like a guest (process group, stop, restart, reload, status). The
//! components, with their realms, `extra` and connecting transports, reach
//! the host as a JSON line on its stdin, with the container's
//! `options.shutdown`, which the host applies (when it exits by itself).

use std::path::PathBuf;

use serde_json::{Value, json};

use super::GuestSpec;
use crate::config::Config;
use crate::config::worker::{
    ComponentKind, ConnectingEndpoint, ConnectingKind, ContainerComponent, ContainerRestart,
    ContainerWorker, DEFAULT_GUEST_STOP_TIMEOUT_S, GuestOutput, GuestRestart, GuestStdin,
    GuestWorker, MessageForwarder, PythonEntry,
};

/// The worker type of a container's host process.
pub const KIND: &str = "container";

/// The host program.
const HOST: &str = include_str!("container_host.py");

/// The guest that runs container `id`: the container's `options.python`
/// (else the router's, else `python3`), with the container's
/// `options.pythonpath` (then the router's) in front of `PYTHONPATH` (the
/// container's `options.env.vars`, else the node's), in the container's
/// `options.env`.
pub(super) fn host(id: &str, c: &ContainerWorker, config: &Config) -> GuestSpec {
    let python = c
        .python
        .executable
        .clone()
        .or_else(|| config.python.executable.clone())
        .unwrap_or_else(|| PathBuf::from("python3"));
    let mut env = c.env.clone();
    let mut path: Vec<PathBuf> = c.python.path.clone();
    path.extend(config.python.path.iter().cloned());
    let existing = match env.vars.get("PYTHONPATH") {
        Some(v) => Some(std::ffi::OsString::from(v)),
        None => std::env::var_os("PYTHONPATH"),
    };
    if let Some(existing) = existing {
        path.extend(std::env::split_paths(&existing));
    }
    if !path.is_empty()
        && let Ok(joined) = std::env::join_paths(&path)
    {
        env.vars
            .insert("PYTHONPATH".into(), joined.to_string_lossy().into_owned());
    }
    let components: Vec<Value> = c.components.iter().map(component).collect();
    GuestSpec {
        id: id.to_owned(),
        kind: KIND,
        config: GuestWorker {
            executable: python.to_string_lossy().into_owned(),
            arguments: vec!["-c".into(), HOST.into()],
            workdir: config.node_dir.clone(),
            env,
            stdin: GuestStdin::Json {
                // How long a component's onJoin may hold back those after
                // it (`junction.components_timeout`; 0: they start together).
                value: json!({
                    "components": components,
                    "shutdown": c.shutdown.name(),
                    "start_timeout": config.node.components_timeout.as_secs(),
                }),
                msgpack: false,
                close: true,
            },
            stdout: GuestOutput::Log,
            stderr: GuestOutput::Log,
            watch: None,
            restart: match c.restart {
                Some(ContainerRestart::Always) => GuestRestart::Always,
                Some(ContainerRestart::OnFailed) => GuestRestart::OnFailed,
                Some(ContainerRestart::Never) | None => GuestRestart::Never,
            },
            stop_timeout_s: DEFAULT_GUEST_STOP_TIMEOUT_S,
        },
    }
}

/// One component as the host takes it: a class (`classname`), a
/// `function` component (`callbacks`), a function authenticator of the
/// router's (`authenticator`) or an HTTP bridge class (`bridge`: its
/// checked `extra`, which the host's own code runs; see the host's
/// docstring).
fn component(c: &ContainerComponent) -> Value {
    let endpoint = match &c.transport.endpoint {
        ConnectingEndpoint::Tcp {
            host,
            port,
            timeout_s,
            tls,
        } => {
            let mut e = json!({"type": "tcp", "host": host, "port": port, "timeout": timeout_s});
            if let Some(t) = tls {
                // Crossbar's keys; the host builds the TLS context from them.
                e["tls"] = json!({
                    "hostname": t.hostname,
                    "ca_certificates": t.ca_certificates,
                    "certificate": t.certificate,
                    "key": t.key,
                });
            }
            e
        }
        ConnectingEndpoint::Unix { path, timeout_s } => {
            json!({"type": "unix", "path": path, "timeout": timeout_s})
        }
    };
    let transport = match &c.transport.kind {
        ConnectingKind::WebSocket { url, serializers } => json!({
            "type": "websocket",
            "url": url,
            "endpoint": endpoint,
            "serializers": serializers.iter().map(|s| s.name()).collect::<Vec<_>>(),
        }),
        ConnectingKind::RawSocket { serializer } => json!({
            "type": "rawsocket",
            "url": "rs://localhost",
            "endpoint": endpoint,
            "serializer": serializer.name(),
        }),
    };
    let (key, entry, extra) = match &c.kind {
        ComponentKind::MessageForwarder(f) => ("bridge", forwarder(f), None),
        ComponentKind::RestCallee(r) => (
            "bridge",
            json!({"kind": "callee", "procedure": r.procedure, "baseurl": r.base_url}),
            None,
        ),
        ComponentKind::Python(py) => {
            let (key, entry) = match &py.entry {
                PythonEntry::Class(classname) => ("classname", json!(classname)),
                PythonEntry::Function(callbacks) => ("callbacks", json!(callbacks)),
                PythonEntry::Authenticator {
                    create,
                    config,
                    procedure,
                } => (
                    "authenticator",
                    json!({"create": create, "config": config, "procedure": procedure}),
                ),
            };
            (key, entry, py.extra.clone())
        }
    };
    let mut out = json!({
        "id": c.id,
        "realm": c.realm,
        "extra": extra,
        "transport": transport,
    });
    out[key] = entry;
    out
}

/// A MessageForwarder's `bridge` entry: its `extra` as the config check
/// read it (`method` upper case, `match` and `expectedcode` explicit).
fn forwarder(f: &MessageForwarder) -> Value {
    let subscriptions: Vec<Value> = f
        .subscriptions
        .iter()
        .map(|s| json!({"topic": s.topic, "url": s.url, "match": s.match_policy.as_str()}))
        .collect();
    json!({
        "kind": "forwarder",
        "subscriptions": subscriptions,
        "method": f.method,
        "expectedcode": f.expected_code,
        "debug": f.debug,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::worker::EnvInherit;

    #[test]
    fn a_container_becomes_a_python_host_with_its_components_on_stdin() {
        let c = Config::from_json_str(
            r#"{"version": 2, "workers": [
                {"type": "router", "realms": [{"name": "realm1", "roles": [{"name": "anonymous"}]}],
                 "transports": [{"type": "websocket", "endpoint": {"type": "tcp", "port": 8080}}]},
                {"type": "container", "id": "box",
                 "options": {"pythonpath": ["apps"], "restart": "restart-on-failed",
                             "env": {"inherit": ["HOME"], "vars": {"APP_MODE": "test", "PYTHONPATH": "/opt/lib"}}},
                 "components": [
                    {"type": "class", "classname": "app.Session", "realm": "realm1", "extra": {"k": 1},
                     "transport": {"type": "websocket", "url": "ws://127.0.0.1:8080/ws",
                                   "endpoint": {"type": "tcp", "host": "127.0.0.1", "port": 8080}}},
                    {"type": "class", "classname": "app.Other", "realm": "realm1",
                     "transport": {"type": "rawsocket", "serializer": "cbor",
                                   "endpoint": {"type": "unix", "path": "r.sock"}}}]}]}"#,
        )
        .expect("loads");
        assert!(c.unsupported().is_empty(), "{:?}", c.unsupported());
        let specs = super::super::guests(&c);
        assert_eq!(specs.len(), 1);
        let s = &specs[0];
        assert_eq!((s.id.as_str(), s.kind), ("box", "container"));
        assert_eq!(s.config.executable, "python3");
        assert_eq!(s.config.arguments[0], "-c");
        assert!(s.config.arguments[1].contains("session_factory"));
        // The default shutdown mode travels with the components.
        let GuestStdin::Json { value, .. } = &s.config.stdin else {
            panic!("stdin");
        };
        assert_eq!(value["shutdown"], "shutdown-manual");
        assert_eq!(s.config.restart, GuestRestart::OnFailed);
        // The container's env is the host's; its PYTHONPATH goes after the pythonpath.
        assert_eq!(s.config.env.vars["PYTHONPATH"], "./apps:/opt/lib");
        assert_eq!(s.config.env.vars["APP_MODE"], "test");
        assert_eq!(s.config.env.inherit, EnvInherit::Only(vec!["HOME".into()]));
        let GuestStdin::Json { value, .. } = &s.config.stdin else {
            panic!("stdin");
        };
        assert_eq!(
            value["components"][0],
            json!({"id": "component1", "classname": "app.Session", "realm": "realm1", "extra": {"k": 1},
                   "transport": {"type": "websocket", "url": "ws://127.0.0.1:8080/ws",
                                 "endpoint": {"type": "tcp", "host": "127.0.0.1", "port": 8080, "timeout": 10},
                                 "serializers": ["json", "msgpack", "cbor"]}})
        );
        assert_eq!(
            value["components"][1]["transport"],
            json!({"type": "rawsocket", "url": "rs://localhost", "serializer": "cbor",
                   "endpoint": {"type": "unix", "path": "./r.sock", "timeout": 10}})
        );
    }

    #[test]
    fn function_and_bridge_components_go_to_the_host_and_so_does_tls() {
        let c = Config::from_json_str(
            r#"{"version": 2, "workers": [
                {"type": "router", "realms": [{"name": "realm1", "roles": [{"name": "anonymous"}]}],
                 "transports": [{"type": "websocket", "endpoint": {"type": "tcp", "port": 8080}}]},
                {"type": "container", "components": [
                    {"type": "function", "realm": "realm1", "callbacks": {"join": "app.on_join"},
                     "auth": {"anonymous": {}}, "extra": {"n": 1},
                     "transport": {"type": "websocket", "url": "wss://h/ws",
                                   "endpoint": {"type": "tcp", "host": "h", "port": 443, "tls": {"hostname": "h"}}}},
                    {"type": "class", "classname": "crossbar.adapter.rest.MessageForwarder", "realm": "realm1",
                     "extra": {"subscriptions": [{"topic": "com.a", "url": "http://s/a"},
                                                 {"topic": "com.", "url": "https://s/b", "match": "prefix"}],
                               "method": "put", "expectedcode": 204},
                     "transport": {"type": "rawsocket", "serializer": "json",
                                   "endpoint": {"type": "unix", "path": "r.sock"}}},
                    {"type": "class", "classname": "crossbar.bridge.rest.RESTCallee", "realm": "realm1", "id": "rest",
                     "extra": {"procedure": "com.rest", "baseurl": "https://s/api/"},
                     "transport": {"type": "rawsocket", "serializer": "json",
                                   "endpoint": {"type": "unix", "path": "r.sock"}}}]}]}"#,
        )
        .expect("loads");
        assert!(c.unsupported().is_empty(), "{:?}", c.unsupported());
        let specs = super::super::guests(&c);
        let GuestStdin::Json { value, .. } = &specs[0].config.stdin else {
            panic!("stdin");
        };
        let components = &value["components"];
        assert_eq!(components[0]["callbacks"], json!({"join": "app.on_join"}));
        assert_eq!(components[0]["extra"], json!({"n": 1}));
        // The bridge classes: their checked `extra`, never a class to import.
        assert_eq!(components[1]["classname"], Value::Null);
        assert_eq!(components[1]["extra"], Value::Null);
        assert_eq!(
            components[1]["bridge"],
            json!({"kind": "forwarder", "method": "PUT", "expectedcode": 204, "debug": false,
                   "subscriptions": [{"topic": "com.a", "url": "http://s/a", "match": "exact"},
                                     {"topic": "com.", "url": "https://s/b", "match": "prefix"}]})
        );
        assert_eq!(
            (&components[2]["id"], &components[2]["bridge"]),
            (
                &json!("rest"),
                &json!({"kind": "callee", "procedure": "com.rest", "baseurl": "https://s/api/"})
            )
        );
        assert_eq!(components[2]["transport"]["type"], "rawsocket");
        // TLS on a class component's transport: the host gets Crossbar's keys.
        let c = Config::from_json_str(
            r#"{"version": 2, "workers": [
                {"type": "router", "realms": [{"name": "realm1", "roles": [{"name": "anonymous"}]}],
                 "transports": [{"type": "websocket", "endpoint": {"type": "tcp", "port": 8080}}]},
                {"type": "container", "components": [
                    {"type": "class", "classname": "app.Session", "realm": "realm1",
                     "transport": {"type": "websocket", "url": "wss://h/ws",
                                   "endpoint": {"type": "tcp", "host": "h", "port": 443,
                                                "tls": {"hostname": "h", "ca_certificates": ["/ca.pem"],
                                                        "certificate": "/c.pem", "key": "/c.key"}}}}]}]}"#,
        )
        .expect("loads");
        assert!(c.unsupported().is_empty());
        let specs = super::super::guests(&c);
        let GuestStdin::Json { value, .. } = &specs[0].config.stdin else {
            panic!("stdin");
        };
        assert_eq!(
            value["components"][0]["transport"]["endpoint"]["tls"],
            json!({"hostname": "h", "ca_certificates": ["/ca.pem"], "certificate": "/c.pem", "key": "/c.key"})
        );
    }

    /// A stand-in for Autobahn|Python: each component joins (its session's
    /// onJoin runs) and then its `extra.end` says whether its `start()`
    /// future succeeds (`stop`), fails (`fail`) or never completes
    /// (`hang`); `run` returns when every one is done.
    const FAKE_AUTOBAHN: &str = r#"
import asyncio

import txaio

class Component:
    def __init__(self, transports, realm, extra, session_factory):
        self.end = (extra or {})["end"]
        self.session_factory = session_factory

    def start(self, loop):
        fut = loop.create_future()
        joined = txaio.as_future(self.session_factory(None).onJoin, None)

        def end(_):
            if self.end == "stop":
                fut.set_result(None)
            elif self.end == "fail":
                fut.set_exception(RuntimeError("boom"))

        joined.add_done_callback(end)
        return fut

def run(components, log_level=None):
    loop = asyncio.new_event_loop()
    txaio.loop = loop
    futs = [c.start(loop) for c in components]
    loop.run_until_complete(asyncio.gather(*futs, return_exceptions=True))
"#;

    /// A stand-in for txaio (asyncio only), as much as the host uses.
    const FAKE_TXAIO: &str = r#"
import asyncio

loop = None

def create_future():
    return loop.create_future()

def resolve(f, value):
    if not f.done():
        f.set_result(value)

def reject(f, error):
    if not f.done():
        f.set_exception(error)

def as_future(fn, *args, **kwargs):
    f = loop.create_future()
    try:
        r = fn(*args, **kwargs)
    except Exception as e:
        f.set_exception(e)
        return f
    if isinstance(r, asyncio.Future):
        return r
    f.set_result(r)
    return f

def call_later(delay, fn, *args):
    return loop.call_later(delay, fn, *args)

def add_callbacks(f, ok, err):
    def done(fut):
        if fut.cancelled():
            return
        e = fut.exception()
        if e is None:
            if ok:
                ok(fut.result())
        elif err:
            err(e)
    f.add_done_callback(done)
    return f
"#;

    /// How a host run went: its exit status (`None`: still running when
    /// its last line was read, then killed) and its stdout lines.
    struct HostRun {
        status: Option<i32>,
        lines: Vec<String>,
    }

    /// Runs the real host (`python3`) on the fake Autobahn with one
    /// component per entry of `ends`, under `options.shutdown` = `mode`,
    /// until it exits or prints `until` (then checks it still runs, and kills it).
    /// `None` when there is no `python3`.
    fn run_host(mode: &str, ends: &[&str], until: Option<&str>) -> Option<HostRun> {
        use std::io::BufRead;
        use std::process::{Command, Stdio};
        use std::time::{Duration, Instant};
        if Command::new("python3").arg("--version").output().is_err() {
            eprintln!("skipped: no python3");
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let pkg = dir.path().join("autobahn").join("asyncio");
        std::fs::create_dir_all(&pkg).expect("mkdir");
        std::fs::write(dir.path().join("autobahn").join("__init__.py"), "").expect("write");
        std::fs::write(pkg.join("__init__.py"), "").expect("write");
        std::fs::write(pkg.join("component.py"), FAKE_AUTOBAHN).expect("write");
        std::fs::write(dir.path().join("txaio.py"), FAKE_TXAIO).expect("write");
        std::fs::write(
            dir.path().join("app.py"),
            "class Session:\n    def __init__(self, config):\n        pass\n\n    def onJoin(self, details):\n        pass\n",
        )
        .expect("write");
        let components: Vec<Value> = ends
            .iter()
            .map(|e| {
                json!({"type": "class", "classname": "app.Session", "realm": "realm1",
                       "extra": {"end": e},
                       "transport": {"type": "websocket", "url": "ws://127.0.0.1:1/ws",
                                     "endpoint": {"type": "tcp", "host": "127.0.0.1", "port": 1}}})
            })
            .collect();
        let config = json!({"version": 2, "workers": [
            {"type": "router", "realms": [{"name": "realm1", "roles": [{"name": "anonymous"}]}],
             "transports": [{"type": "websocket", "endpoint": {"type": "tcp", "port": 8080}}]},
            {"type": "container", "id": "box",
             "options": {"shutdown": mode, "pythonpath": [dir.path()]},
             "components": components}]});
        let c = Config::from_json_str(&config.to_string()).expect("loads");
        let spec = &super::super::guests(&c)[0];
        let mut child = super::super::spawn_host(spec, Stdio::inherit());
        let (tx, rx) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut lines = Vec::new();
        loop {
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(line) => {
                    let reached = until.is_some_and(|u| line == u);
                    lines.push(line);
                    if reached {
                        // The host printed `until` and then waits.
                        let status = child
                            .try_wait()
                            .expect("wait")
                            .map(|s| s.code().unwrap_or(-1));
                        let _ = child.kill();
                        let _ = child.wait();
                        return Some(HostRun { status, lines });
                    }
                }
                Err(_) => {
                    if let Some(s) = child.try_wait().expect("wait") {
                        lines.extend(rx.try_iter());
                        return Some(HostRun {
                            status: Some(s.code().unwrap_or(-1)),
                            lines,
                        });
                    }
                    if Instant::now() > deadline {
                        let _ = child.kill();
                        let _ = child.wait();
                        panic!("the host neither exited nor printed {until:?}: {lines:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn shutdown_manual_keeps_the_host_when_no_component_runs() {
        let wait = "shutdown-manual: no component runs; waiting to be stopped";
        let Some(r) = run_host("shutdown-manual", &["stop"], Some(wait)) else {
            return;
        };
        assert_eq!(r.status, None, "{:?}", r.lines);
        assert!(
            r.lines.contains(&"component component1 stopped".to_owned()),
            "{:?}",
            r.lines
        );
    }

    #[test]
    fn shutdown_on_last_component_stopped_exits_when_all_have() {
        let Some(r) = run_host(
            "shutdown-on-last-component-stopped",
            &["stop", "stop"],
            None,
        ) else {
            return;
        };
        assert_eq!(r.status, Some(0), "{:?}", r.lines);
        let Some(r) = run_host(
            "shutdown-on-last-component-stopped",
            &["stop", "fail"],
            None,
        ) else {
            return;
        };
        assert_eq!(r.status, Some(1), "a failed component: {:?}", r.lines);
        assert!(
            r.lines
                .contains(&"component component2 failed: boom".to_owned()),
            "{:?}",
            r.lines
        );
    }

    #[test]
    fn shutdown_on_any_component_exits_while_others_run() {
        let Some(r) = run_host("shutdown-on-any-component-stopped", &["hang", "stop"], None) else {
            return;
        };
        assert_eq!(r.status, Some(0), "{:?}", r.lines);
        assert_eq!(
            r.lines.last().map(String::as_str),
            Some(
                "shutdown-on-any-component-stopped: component component2 ended: stopping the container"
            )
        );
        let Some(r) = run_host("shutdown-on-any-component-failed", &["hang", "fail"], None) else {
            return;
        };
        assert_eq!(r.status, Some(1), "{:?}", r.lines);
        assert_eq!(
            r.lines.last().map(String::as_str),
            Some(
                "shutdown-on-any-component-failed: component component2 failed: stopping the container"
            )
        );
        // A component that stops without failing does not end the host.
        let wait = "shutdown-on-any-component-failed: no component runs; waiting to be stopped";
        let Some(r) = run_host("shutdown-on-any-component-failed", &["stop"], Some(wait)) else {
            return;
        };
        assert_eq!(r.status, None, "{:?}", r.lines);
    }
}
