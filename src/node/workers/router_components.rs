//! The router's Python components (`components` of the router worker,
//! `"type": "class"` with the user's own class). Crossbar runs them inside
//! its router process; Junction runs them all in one supervised Python
//! process, the container host (`container_host.py`), as worker
//! [`WORKER_ID`] of type [`WORKER_TYPE`].
//!
//! The config names no transport for them, so the node gives the host a
//! private way in ([`prepare`]): a RawSocket (JSON) listener on a Unix
//! socket in the node's runtime directory (the transport
//! [`TRANSPORT_ID`], never in the user's config; mode 0600, set by
//! [`Access::protect`] once the listener is bound), whose only login is
//! ticket authentication: one principal per component, authid = the
//! component's `id`, role = its `role`, ticket = a secret made once per
//! node start ([`Access::new`]). The secret reaches the host in its stdin
//! value only (never its arguments or environment) and is never logged; a
//! reload keeps it, so an unchanged component list leaves the host alone.
//!
//! The host process: the router's `options.python` (else `python3`) with
//! its `options.pythonpath`, in its `options.env` (default: the node's
//! environment), restarted when it
//! fails (`restart-on-failed`, with the supervisor's back-off: Crossbar's
//! router would not run on without them); inside it, a component whose
//! session ends stays ended (`shutdown-manual`), as in Crossbar.
//! `function` components run too: Autobahn's own session, with the
//! callbacks on its `join`, `leave`, `connect` and `disconnect` events.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::GuestSpec;
use crate::config::auth::{AuthConfig, Secret, TicketAuth, TicketPrincipal};
use crate::config::worker::{
    ComponentConfig, ComponentKind, ConnectingEndpoint, ConnectingKind, ConnectingTransport,
    ContainerComponent, ContainerRestart, ContainerShutdown, ContainerWorker, GuestStdin,
};
use crate::config::{
    Config, Endpoint, PythonOptions, RawSocketOptions, RawSocketService, TransportConfig,
    TransportKind, WampService,
};
use crate::proto::Serializer;

/// The internal transport's ID (`junction status` lists its listener).
pub const TRANSPORT_ID: &str = "internal:router-components";
/// The host's worker ID.
pub const WORKER_ID: &str = "router-components";
/// The host's worker type in `junction status`.
pub const WORKER_TYPE: &str = "router-components";
/// Seconds a component waits for the connection to the socket.
const CONNECT_TIMEOUT_S: u64 = 10;

/// The private way in of one node run: where its socket is and the secret
/// its components log in with.
pub struct Access {
    socket: PathBuf,
    secret: Secret,
}

impl Access {
    /// The socket `router-components-<pid>.sock` in `runtime_dir` and a
    /// fresh 256-bit secret (hex). Touches no file.
    pub fn new(runtime_dir: &Path) -> Access {
        let mut bytes = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
        Access {
            socket: runtime_dir.join(format!("router-components-{}.sock", std::process::id())),
            secret: Secret::new(hex::encode(bytes)),
        }
    }

    /// The socket's path.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Makes the socket (once a listener made it) readable and writable by
    /// this user only.
    pub fn protect(&self) {
        use std::os::unix::fs::PermissionsExt;
        if let Err(e) =
            std::fs::set_permissions(&self.socket, std::fs::Permissions::from_mode(0o600))
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %self.socket.display(), error = %e, "cannot make the router components' socket private");
        }
    }

    /// The file the host creates once every component has joined (or
    /// ended): the socket's path with the extension `ready`.
    fn ready_file(&self) -> PathBuf {
        ready_file(&self.socket)
    }

    /// Whether the host said every component has joined (or ended).
    pub fn components_ready(&self) -> bool {
        self.ready_file().exists()
    }

    /// Removes the socket and the ready file (at the node's start and end).
    pub fn remove(&self) {
        let _ = std::fs::remove_file(&self.socket);
        let _ = std::fs::remove_file(self.ready_file());
    }
}

/// The ready file next to socket `socket` (see [`Access::components_ready`]).
fn ready_file(socket: &Path) -> PathBuf {
    socket.with_extension("ready")
}

/// How long the node holds its clients at the start while the host's
/// components join (`junction.components_timeout`): `None` when `config`
/// has no host (no Python component, or not prepared) or the timeout is 0.
pub fn hold(config: &Config) -> Option<std::time::Duration> {
    let timeout = config.node.components_timeout;
    let prepared = config.transports.iter().any(|t| t.id == TRANSPORT_ID);
    (prepared && !timeout.is_zero()).then_some(timeout)
}

/// The router components the host runs: Python classes and `function`
/// components.
fn hosted(config: &Config) -> impl Iterator<Item = &ComponentConfig> {
    config
        .components
        .iter()
        .filter(|c| matches!(&c.kind, ComponentKind::Python(_)))
}

/// Adds the internal transport to `config` when its router has Python
/// components (creating the socket's directory, 0700, if missing).
///
/// # Errors
/// The directory cannot be created.
pub fn prepare(config: &mut Config, access: &Access) -> Result<(), String> {
    let principals: std::collections::BTreeMap<String, TicketPrincipal> = hosted(config)
        .map(|c| {
            (
                c.id.clone(),
                TicketPrincipal {
                    ticket: access.secret.clone(),
                    role: Some(c.role.clone()),
                },
            )
        })
        .collect();
    if principals.is_empty() {
        return Ok(());
    }
    if let Some(dir) = access.socket.parent()
        && !dir.exists()
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| {
                format!(
                    "router components: cannot create {} for their socket: {e}",
                    dir.display()
                )
            })?;
    }
    let auth = AuthConfig {
        ticket: Some(TicketAuth::Static {
            principals,
            password_file: None,
        }),
        ..AuthConfig::none()
    };
    config.transports.push(TransportConfig::new(
        TRANSPORT_ID.to_owned(),
        TransportKind::RawSocket(RawSocketService {
            options: RawSocketOptions::default(),
            wamp: WampService {
                serializers: vec![Serializer::Json],
                auth,
                trustlevel: None,
            },
        }),
        Endpoint::Unix {
            path: access.socket.clone(),
        },
    ));
    Ok(())
}

/// The host of `config`'s router components, reaching the router over the
/// transport [`prepare`] added; `None` when there is none (no Python
/// component, or `config` was not prepared).
pub(super) fn host(config: &Config) -> Option<GuestSpec> {
    let t = config.transports.iter().find(|t| t.id == TRANSPORT_ID)?;
    let Endpoint::Unix { path } = &t.endpoint else {
        return None;
    };
    let Some(TicketAuth::Static { principals, .. }) = &t.auth.methods.ticket else {
        return None;
    };
    let secret = principals.values().next()?.ticket.expose();
    let secret = String::from_utf8_lossy(secret).into_owned();
    Some(spec(config, path, Some(&secret)))
}

/// The host as `junction check` sees it (its executable), before any
/// transport is added; `None` without Python components.
pub(super) fn unprepared_host(config: &Config) -> Option<GuestSpec> {
    if config.transports.iter().any(|t| t.id == TRANSPORT_ID) || hosted(config).next().is_none() {
        return None;
    }
    Some(spec(config, Path::new(""), None))
}

/// The host's spec: a container of the hosted components, each with its
/// ticket login (without `secret`: none).
fn spec(config: &Config, socket: &Path, secret: Option<&str>) -> GuestSpec {
    let components: Vec<ContainerComponent> = hosted(config)
        .map(|c| ContainerComponent {
            id: c.id.clone(),
            realm: c.realm.clone(),
            transport: ConnectingTransport {
                kind: ConnectingKind::RawSocket {
                    serializer: Serializer::Json,
                },
                endpoint: ConnectingEndpoint::Unix {
                    path: socket.to_owned(),
                    timeout_s: CONNECT_TIMEOUT_S,
                },
            },
            kind: c.kind.clone(),
        })
        .collect();
    let container = ContainerWorker {
        components,
        shutdown: ContainerShutdown::Manual,
        restart: Some(ContainerRestart::OnFailed),
        // The router's `options.env`, else the node's environment.
        env: config.python.env.clone().unwrap_or_default(),
        // The router's own (the container's come first, and are empty).
        python: PythonOptions::default(),
    };
    let mut spec = super::container::host(WORKER_ID, &container, config);
    spec.kind = WORKER_TYPE;
    if let (Some(secret), GuestStdin::Json { value, .. }) = (secret, &mut spec.config.stdin) {
        // Where the host says its components have joined (`hold`).
        value["ready_file"] = json!(ready_file(socket));
        if let Some(list) = value.get_mut("components").and_then(Value::as_array_mut) {
            for c in list {
                let authid = c["id"].clone();
                c["authentication"] = json!({"ticket": {"authid": authid, "ticket": secret}});
            }
        }
    }
    spec
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::worker::{EnvInherit, GuestRestart};

    const CONFIG: &str = r#"{"version": 2, "workers": [
        {"type": "router", "options": {"pythonpath": ["apps"]},
         "realms": [{"name": "realm1", "roles": [{"name": "anonymous"}, {"name": "backend"}]},
                    {"name": "realm2", "roles": [{"name": "anonymous"}]}],
         "transports": [{"type": "websocket", "endpoint": {"type": "tcp", "port": 8080}}],
         "components": [
            {"type": "class", "classname": "app.Backend", "realm": "realm1", "role": "backend",
             "extra": {"k": [1, 2]}},
            {"type": "class", "id": "fwd", "classname": "crossbar.bridge.rest.MessageForwarder",
             "realm": "realm1", "extra": {"subscriptions": []}},
            {"type": "function", "realm": "realm1", "callbacks": {"join": "app.on_join"}},
            {"type": "class", "id": "other", "classname": "app.Other", "realm": "realm2"}]}]}"#;

    fn prepared(access: &Access) -> Config {
        let mut c = Config::from_json_str(CONFIG).expect("loads");
        prepare(&mut c, access).expect("prepared");
        c
    }

    #[test]
    fn the_internal_transport_logs_each_class_component_in_with_its_role() {
        let dir = tempfile::tempdir().expect("temp dir");
        let access = Access::new(&dir.path().join("run"));
        let c = prepared(&access);
        assert!(dir.path().join("run").is_dir(), "the socket's directory");
        let t = c.transports.last().expect("added");
        assert_eq!(t.id, TRANSPORT_ID);
        assert_eq!(
            t.endpoint,
            Endpoint::Unix {
                path: dir
                    .path()
                    .join("run")
                    .join(format!("router-components-{}.sock", std::process::id()))
            }
        );
        assert_eq!(t.serializers, vec![Serializer::Json]);
        // Ticket only: no anonymous login, one principal per Python class.
        assert_eq!(t.auth.methods.anonymous, None);
        assert_eq!(t.auth.methods.wampcra, None);
        let Some(TicketAuth::Static { principals, .. }) = &t.auth.methods.ticket else {
            panic!("ticket: {:?}", t.auth.methods.ticket);
        };
        let roles: Vec<(&str, Option<&str>)> = principals
            .iter()
            .map(|(id, p)| (id.as_str(), p.role.as_deref()))
            .collect();
        assert_eq!(
            roles,
            vec![
                ("component1", Some("backend")),
                ("component3", Some("anonymous")),
                ("other", Some("anonymous"))
            ]
        );
        assert_eq!(principals["component1"].ticket.len(), 64);
        // Another node start, another secret.
        let again = Access::new(dir.path());
        assert_ne!(again.secret, access.secret);
    }

    #[test]
    fn a_router_without_python_components_gets_no_transport_and_no_host() {
        let mut c = Config::from_json_str(
            r#"{"version": 2, "workers": [
                {"type": "router", "realms": [{"name": "realm1", "roles": [{"name": "anonymous"}]}],
                 "transports": [{"type": "websocket", "endpoint": {"type": "tcp", "port": 8080}}],
                 "components": [
                    {"type": "class", "classname": "crossbar.bridge.rest.RESTCallee", "realm": "realm1",
                     "extra": {"procedure": "com.x", "baseurl": "http://h/"}}]}]}"#,
        )
        .expect("loads");
        let before = c.transports.len();
        let dir = tempfile::tempdir().expect("temp dir");
        prepare(&mut c, &Access::new(&dir.path().join("run"))).expect("nothing to do");
        assert_eq!(c.transports.len(), before);
        assert!(!dir.path().join("run").exists());
        assert_eq!(host(&c), None);
        assert_eq!(unprepared_host(&c), None);
    }

    #[test]
    fn the_host_gets_each_component_with_its_login_on_stdin_only() {
        let dir = tempfile::tempdir().expect("temp dir");
        let access = Access::new(dir.path());
        let c = prepared(&access);
        let secret = String::from_utf8(access.secret.expose().to_vec()).expect("hex");
        let specs = super::super::guests(&c);
        assert_eq!(specs.len(), 1);
        let s = &specs[0];
        assert_eq!((s.id.as_str(), s.kind), (WORKER_ID, WORKER_TYPE));
        assert_eq!(s.config.executable, "python3");
        assert_eq!(s.config.restart, GuestRestart::OnFailed);
        assert_eq!(s.config.env.inherit, EnvInherit::All);
        assert!(
            s.config.env.vars["PYTHONPATH"].starts_with("./apps"),
            "{:?}",
            s.config.env.vars
        );
        // The secret: never in the arguments or the environment.
        assert!(s.config.arguments.iter().all(|a| !a.contains(&secret)));
        assert!(
            s.config
                .env
                .vars
                .iter()
                .all(|(k, v)| !k.contains(&secret) && !v.contains(&secret))
        );
        let GuestStdin::Json { value, close, .. } = &s.config.stdin else {
            panic!("stdin: {:?}", s.config.stdin);
        };
        assert!(*close);
        assert_eq!(value["shutdown"], "shutdown-manual");
        let sock = access.socket().to_string_lossy().into_owned();
        assert_eq!(
            value["components"],
            json!([
                {"id": "component1", "classname": "app.Backend", "realm": "realm1",
                 "extra": {"k": [1, 2]},
                 "transport": {"type": "rawsocket", "url": "rs://localhost", "serializer": "json",
                               "endpoint": {"type": "unix", "path": sock, "timeout": 10}},
                 "authentication": {"ticket": {"authid": "component1", "ticket": secret}}},
                {"id": "component3", "callbacks": {"join": "app.on_join"}, "realm": "realm1",
                 "extra": null,
                 "transport": {"type": "rawsocket", "url": "rs://localhost", "serializer": "json",
                               "endpoint": {"type": "unix", "path": sock, "timeout": 10}},
                 "authentication": {"ticket": {"authid": "component3", "ticket": secret}}},
                {"id": "other", "classname": "app.Other", "realm": "realm2", "extra": null,
                 "transport": {"type": "rawsocket", "url": "rs://localhost", "serializer": "json",
                               "endpoint": {"type": "unix", "path": sock, "timeout": 10}},
                 "authentication": {"ticket": {"authid": "other", "ticket": secret}}}
            ])
        );
        // Printed settings never show it either.
        assert!(!format!("{:?}", c.transports.last()).contains(&secret));
        // The host says where its components are ready; until then the
        // node holds its clients (10 s at most by default).
        let ready = access.socket().with_extension("ready");
        assert_eq!(value["ready_file"], json!(ready));
        assert_eq!(hold(&c), Some(std::time::Duration::from_secs(10)));
        assert!(!access.components_ready());
        std::fs::write(&ready, b"").expect("written");
        assert!(access.components_ready());
        access.remove();
        assert!(!ready.exists());
        let mut quick = c.clone();
        quick.node.components_timeout = std::time::Duration::ZERO;
        assert_eq!(hold(&quick), None, "0: no hold");
        let unprepared = Config::from_json_str(CONFIG).expect("loads");
        assert_eq!(hold(&unprepared), None, "no host without the transport");
    }

    #[test]
    fn the_router_env_is_the_hosts() {
        let c = Config::from_json_str(&CONFIG.replace(
            r#""options": {"pythonpath": ["apps"]}"#,
            r#""options": {"pythonpath": ["apps"],
                           "env": {"inherit": ["HOME"], "vars": {"APP_MODE": "x", "PYTHONPATH": "/opt"}}}"#,
        ))
        .expect("loads");
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        let s = unprepared_host(&c).expect("python components");
        assert_eq!(s.config.env.inherit, EnvInherit::Only(vec!["HOME".into()]));
        assert_eq!(s.config.env.vars["APP_MODE"], "x");
        assert_eq!(s.config.env.vars["PYTHONPATH"], "./apps:/opt");
    }

    #[test]
    fn the_router_python_runs_the_host_and_check_sees_it_unprepared() {
        let c = Config::from_json_str(&CONFIG.replace(
            r#""options": {"pythonpath": ["apps"]}"#,
            r#""options": {"python": "/no/such/python3"}"#,
        ))
        .expect("loads");
        let s = unprepared_host(&c).expect("class components");
        assert_eq!(s.config.executable, "/no/such/python3");
        let missing = super::super::missing_executables(&c);
        assert_eq!(missing.len(), 1, "{missing:?}");
        assert!(
            missing[0].starts_with(
                "worker router-components (router-components): no executable \"/no/such/python3\""
            ),
            "{missing:?}"
        );
        // Prepared, the host is the real one (no second line).
        let dir = tempfile::tempdir().expect("temp dir");
        let mut p = c.clone();
        prepare(&mut p, &Access::new(dir.path())).expect("prepared");
        assert_eq!(unprepared_host(&p), None);
        assert_eq!(super::super::missing_executables(&p).len(), 1);
    }

    #[test]
    fn without_autobahn_the_host_ends_with_status_2_and_says_so() {
        use std::process::{Command, Stdio};
        if Command::new("python3").arg("--version").output().is_err() {
            eprintln!("skipped: no python3");
            return;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        // An `autobahn` that does not import, before any real one.
        std::fs::create_dir(dir.path().join("autobahn")).expect("mkdir");
        std::fs::write(
            dir.path().join("autobahn").join("__init__.py"),
            "raise ImportError('no autobahn here')\n",
        )
        .expect("write");
        std::fs::write(dir.path().join("app.py"), "def on_join(s, d):\n    pass\n").expect("write");
        let config = format!(
            r#"{{"version": 2, "workers": [
                {{"type": "router", "options": {{"pythonpath": ["{}"]}},
                 "realms": [{{"name": "realm1", "roles": [{{"name": "anonymous"}}]}}],
                 "components": [{{"type": "function", "realm": "realm1", "callbacks": {{"join": "app.on_join"}}}}]}}]}}"#,
            dir.path().display()
        );
        let mut c = Config::from_json_str(&config).expect("loads");
        prepare(&mut c, &Access::new(dir.path())).expect("prepared");
        let spec = host(&c).expect("a host");
        let child = super::super::spawn_host(&spec, Stdio::piped());
        let out = child.wait_with_output().expect("ends");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.starts_with("Autobahn|Python is not installed for ")
                && stderr.contains("no autobahn here"),
            "{stderr}"
        );
    }

    #[test]
    fn a_changed_component_changes_the_host_and_an_unchanged_one_does_not() {
        let dir = tempfile::tempdir().expect("temp dir");
        let access = Access::new(dir.path());
        let a = super::super::guests(&prepared(&access));
        assert_eq!(a, super::super::guests(&prepared(&access)));
        let mut c =
            Config::from_json_str(&CONFIG.replace("app.Other", "app.Changed")).expect("loads");
        prepare(&mut c, &access).expect("prepared");
        assert_ne!(a, super::super::guests(&c));
    }
}
