//! Container workers as supervised processes: each container becomes one
//! Python process running the host shipped in the binary
//! (`container_host.py`, Autobahn|Python's Component API), supervised
//! exactly like a guest (process group, stop, restart, reload, status). The
//! components, with their realms, `extra` and connecting transports, reach
//! the host as a JSON line on its stdin.

use std::path::PathBuf;

use serde_json::{Value, json};

use super::GuestSpec;
use crate::config::Config;
use crate::config::worker::{
    ComponentKind, ConnectingEndpoint, ConnectingKind, ContainerComponent, ContainerRestart,
    ContainerWorker, DEFAULT_GUEST_STOP_TIMEOUT_S, GuestOutput, GuestRestart, GuestStdin,
    GuestWorker, ProcessEnv, PythonEntry,
};

/// The host program.
const HOST: &str = include_str!("container_host.py");

/// The guest that runs container `id`: the container's `options.python`
/// (else the router's, else `python3`), with the container's
/// `options.pythonpath` (then the router's) in front of `PYTHONPATH`.
pub(super) fn host(id: &str, c: &ContainerWorker, config: &Config) -> GuestSpec {
    let python = c
        .python
        .executable
        .clone()
        .or_else(|| config.python.executable.clone())
        .unwrap_or_else(|| PathBuf::from("python3"));
    let mut env = ProcessEnv::default();
    let mut path: Vec<PathBuf> = c.python.path.clone();
    path.extend(config.python.path.iter().cloned());
    if let Some(existing) = std::env::var_os("PYTHONPATH") {
        path.extend(std::env::split_paths(&existing));
    }
    if !path.is_empty()
        && let Ok(joined) = std::env::join_paths(&path)
    {
        env.vars
            .insert("PYTHONPATH".into(), joined.to_string_lossy().into_owned());
    }
    let components: Vec<Value> = c.components.iter().filter_map(component).collect();
    GuestSpec {
        id: id.to_owned(),
        kind: "container",
        config: GuestWorker {
            executable: python.to_string_lossy().into_owned(),
            arguments: vec!["-c".into(), HOST.into()],
            workdir: config.node_dir.clone(),
            env,
            stdin: GuestStdin::Json {
                value: json!({ "components": components }),
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

/// One component as the host takes it; `None` for what is not a Python
/// class (the gap list refuses those before a node starts).
fn component(c: &ContainerComponent) -> Option<Value> {
    let ComponentKind::Python(py) = &c.kind else {
        return None;
    };
    let PythonEntry::Class(classname) = &py.entry else {
        return None;
    };
    let endpoint = match &c.transport.endpoint {
        ConnectingEndpoint::Tcp {
            host,
            port,
            timeout_s,
            ..
        } => json!({"type": "tcp", "host": host, "port": port, "timeout": timeout_s}),
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
    Some(json!({
        "id": c.id,
        "classname": classname,
        "realm": c.realm,
        "extra": py.extra,
        "transport": transport,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_container_becomes_a_python_host_with_its_components_on_stdin() {
        let c = Config::from_json_str(
            r#"{"version": 2, "workers": [
                {"type": "router", "realms": [{"name": "realm1", "roles": [{"name": "anonymous"}]}],
                 "transports": [{"type": "websocket", "endpoint": {"type": "tcp", "port": 8080}}]},
                {"type": "container", "id": "box",
                 "options": {"pythonpath": ["apps"], "restart": "restart-on-failed"},
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
        assert_eq!(s.config.restart, GuestRestart::OnFailed);
        assert!(s.config.env.vars["PYTHONPATH"].starts_with("./apps"));
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
    fn function_components_and_tls_stay_on_the_gap_list() {
        let c = Config::from_json_str(
            r#"{"version": 2, "workers": [
                {"type": "router", "realms": [{"name": "realm1", "roles": [{"name": "anonymous"}]}],
                 "transports": [{"type": "websocket", "endpoint": {"type": "tcp", "port": 8080}}]},
                {"type": "container", "components": [
                    {"type": "function", "realm": "realm1", "callbacks": {"join": "app.on_join"},
                     "transport": {"type": "websocket", "url": "wss://h/ws",
                                   "endpoint": {"type": "tcp", "host": "h", "port": 443, "tls": {"hostname": "h"}}}}]}]}"#,
        )
        .expect("loads");
        let gaps: Vec<String> = c.unsupported().iter().map(ToString::to_string).collect();
        assert_eq!(gaps.len(), 2, "{gaps:?}");
        assert!(gaps[0].contains("workers[1].components[0]") && gaps[0].contains("function"));
        assert!(gaps[1].contains("components[0].transport.endpoint.tls"));
    }
}
