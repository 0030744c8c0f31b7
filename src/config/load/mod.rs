//! The walk over a parsed Crossbar node config (a [`serde_json::Value`]; YAML
//! is parsed into the same type), building the [`Config`] model.
//!
//! Every object is checked against a key table ([`Key`]): keys Junction reads,
//! keys it ignores silently, keys it ignores with a warning, and keys that
//! name a feature Junction has no model for (errors). Unknown keys are
//! errors, as in Crossbar's own checker. The walk collects every problem
//! instead of stopping at the first, each with its JSON path; the cross-item
//! checks in `check.rs` run only when the walk found nothing wrong. When
//! something is wrong, the features not supported yet (`support.rs`) of what
//! did load are reported with it, so one run shows every problem.
//!
//! This file holds the document, the workers and the `junction` block;
//! `read.rs` the typed readers, `realm.rs` realms and roles, `transport.rs`
//! listeners, `web.rs` web paths, `auth.rs` authentication, `mqtt.rs` MQTT
//! and universal transports, `worker.rs` components and other workers.

mod auth;
mod auth_function;
mod controller;
mod mqtt;
mod proxy;
mod read;
mod realm;
mod routers;
mod transport;
mod web;
mod web_archive;
mod web_gateways;
mod web_wap;
mod worker;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value};

use self::read::{Key, kind_of};
use super::auth::AuthSettings;
use super::check;
use super::error::{ConfigError, ConfigIssue};
use super::path::{Located, child, index};
use super::support;
use super::worker::{ComponentConfig, WorkerConfig, WorkerKind};
use super::{
    Config, Limits, LoadContext, NodeOptions, PythonOptions, RealmConfig, RoleAuthorizer,
    TransportConfig,
};

type Obj = Map<String, Value>;

/// Upper bound for the `junction` byte limits: 1 GiB.
const MAX_LIMIT_BYTES: u64 = 1 << 30;

/// Upper bound for `junction.shutdown_timeout` and `components_timeout`: one hour.
const MAX_SHUTDOWN_TIMEOUT_S: u64 = 3600;

/// Upper bound for `junction.shards`.
const MAX_SHARDS: u64 = 1024;

/// Warning text for worker options that only Crossbar's Python processes use.
const PYTHON_ONLY: &str = "ignored: only meaningful to Crossbar's Python worker processes";

/// Where the walk keeps what it found.
struct Loader<'a> {
    issues: Vec<ConfigIssue>,
    warnings: Vec<String>,
    /// Relative paths are resolved against this.
    node_dir: PathBuf,
    /// `${VAR}` lookups.
    env: &'a dyn Fn(&str) -> Option<String>,
    /// Put before generated transport and router component IDs (a later
    /// router worker's: `<worker id>.transportN`, see `routers.rs`).
    id_prefix: String,
    /// Paths of the `anonymous-proxy` / `cryptosign-proxy` methods read
    /// (see `proxy.rs`).
    proxy_methods: Vec<String>,
    /// Function authenticators read (see `auth_function.rs`).
    function_auths: Vec<auth_function::FunctionAuth>,
}

/// The `junction` extension block: Junction-only limits.
#[derive(Debug, Clone, Default)]
struct JunctionExt {
    max_message_size: Option<usize>,
    outbound_queue_bytes: Option<usize>,
    max_sessions_per_shard: Option<usize>,
    mqtt_offline_store_bytes: Option<u64>,
    mqtt_offline_store_sessions: Option<usize>,
    shards: Option<usize>,
    auth: Option<AuthSettings>,
    node: NodeOptions,
}

/// What one router worker produced (also when parts of it were wrong).
#[derive(Debug, Default)]
struct Router {
    index: usize,
    realms: Vec<Located<RealmConfig>>,
    role_authorizers: Vec<RoleAuthorizer>,
    transports: Vec<Located<TransportConfig>>,
    components: Vec<Located<ComponentConfig>>,
    limits: Limits,
    shards: Option<usize>,
    python: PythonOptions,
    node: NodeOptions,
}

impl Router {
    /// An empty router with the limits, shard count and node options of a
    /// `junction` block (defaults where it says nothing).
    fn with_junction(ext: &JunctionExt) -> Router {
        let defaults = Limits::default();
        let limits = Limits {
            max_message_size: ext.max_message_size.unwrap_or(defaults.max_message_size),
            outbound_queue_bytes: ext
                .outbound_queue_bytes
                .unwrap_or(defaults.outbound_queue_bytes),
            max_sessions_per_shard: ext
                .max_sessions_per_shard
                .unwrap_or(defaults.max_sessions_per_shard),
            mqtt_offline_store_bytes: ext
                .mqtt_offline_store_bytes
                .unwrap_or(defaults.mqtt_offline_store_bytes),
            mqtt_offline_store_sessions: ext
                .mqtt_offline_store_sessions
                .unwrap_or(defaults.mqtt_offline_store_sessions),
            auth: ext.auth.clone().unwrap_or(defaults.auth),
        };
        Router {
            limits,
            shards: ext.shards,
            node: ext.node.clone(),
            ..Router::default()
        }
    }
}

/// Builds the config from a parsed document.
pub(super) fn load(root: &Value, ctx: &LoadContext<'_>) -> Result<Config, ConfigError> {
    let mut l = Loader {
        issues: Vec::new(),
        warnings: Vec::new(),
        node_dir: ctx.node_dir.to_owned(),
        env: ctx.env,
        id_prefix: String::new(),
        proxy_methods: Vec::new(),
        function_auths: Vec::new(),
    };
    let (router, workers) = l.root(root);
    if l.issues.is_empty()
        && let Some(router) = &router
    {
        check::check(
            &router.realms,
            &router.transports,
            &router.components,
            &workers,
            &mut l.issues,
            &mut l.warnings,
        );
    }
    let Some(router) = router else {
        if l.issues.is_empty() {
            l.error("", "the document describes no router");
        }
        return Err(ConfigError::Invalid(l.issues));
    };
    let at = support::Paths {
        router: index("workers", router.index),
        realms: router.realms.iter().map(|r| r.path.clone()).collect(),
        transports: router.transports.iter().map(|t| t.path.clone()).collect(),
        components: router.components.iter().map(|c| c.path.clone()).collect(),
    };
    let mut config = Config {
        realms: router.realms.into_iter().map(|r| r.item).collect(),
        transports: router.transports.into_iter().map(|t| t.item).collect(),
        limits: router.limits,
        shards: router.shards,
        warnings: Vec::new(),
        role_authorizers: router.role_authorizers,
        components: router.components.into_iter().map(|c| c.item).collect(),
        workers,
        python: router.python,
        node_dir: ctx.node_dir.to_owned(),
        router_index: router.index,
        node: router.node,
    };
    web_gateways::fill_wsgi_python(&mut config);
    let gaps = support::gaps(&config, &at);
    if l.issues.is_empty() {
        l.warnings.extend(gaps.warnings);
        config.warnings = l.warnings;
        Ok(config)
    } else {
        l.issues.extend(gaps.errors);
        Err(ConfigError::Invalid(l.issues))
    }
}

/// Whether router worker `copy` repeats router worker `first` the way
/// Crossbar's multi-process web servers do: the same worker except its
/// `id` and the per-process options `title` and `cpu_affinity`, with no
/// realm and no component (so no WAMP routing that merging could change:
/// in Crossbar each router worker has realms of its own), and every
/// transport on a TCP endpoint with `shared: true` (else Crossbar could
/// not start both).
fn is_web_only_copy(first: &Obj, copy: &Obj) -> bool {
    fn essence(worker: &Obj) -> Obj {
        let mut w = worker.clone();
        w.remove("id");
        if let Some(Value::Object(options)) = w.get_mut("options") {
            options.remove("title");
            options.remove("cpu_affinity");
        }
        w
    }
    let empty = |key: &str| match copy.get(key) {
        None => true,
        Some(Value::Array(items)) => items.is_empty(),
        Some(_) => false,
    };
    let shared_tcp = |t: &Value| {
        let endpoint = t.get("endpoint");
        endpoint.and_then(|e| e.get("type")) == Some(&Value::from("tcp"))
            && endpoint.and_then(|e| e.get("shared")) == Some(&Value::Bool(true))
    };
    empty("realms")
        && empty("components")
        && matches!(copy.get("transports"), Some(Value::Array(ts)) if ts.iter().all(shared_tcp))
        && essence(first) == essence(copy)
}

impl Loader<'_> {
    // ---- document and workers ----

    fn root(&mut self, root: &Value) -> (Option<Router>, Vec<WorkerConfig>) {
        let mut workers = Vec::new();
        let Some(obj) = self.object("", root) else {
            return (None, workers);
        };
        self.keys(
            "",
            obj,
            &[
                ("$schema", Key::Ignore),
                ("version", Key::Read),
                ("controller", Key::Read),
                ("workers", Key::Read),
                ("junction", Key::Read),
            ],
        );
        match obj.get("version") {
            None => self.error(
                "version",
                "missing; Junction reads Crossbar's config format version 2 (add \"version\": 2)",
            ),
            Some(Value::Number(n)) if n.as_u64() == Some(2) => {}
            Some(other) => self.error(
                "version",
                format!(
                    "unsupported config version {}; only version 2 is supported \
                     (older files can be converted with `crossbar upgrade`)",
                    read::describe(other)
                ),
            ),
        }
        let top_junction = obj.get("junction").map(|v| self.junction("junction", v));
        let worker_exit = obj
            .get("controller")
            .map(|v| self.controller("controller", v))
            .unwrap_or_default();
        let Some(workers_v) = obj.get("workers") else {
            self.error(
                "workers",
                "missing; a worker with \"type\": \"router\" is required",
            );
            return (None, workers);
        };
        let Some(items) = self.array("workers", workers_v) else {
            return (None, workers);
        };
        let mut router: Option<Router> = None;
        // Router workers after the first that are not copies of it.
        let mut others: Vec<Router> = Vec::new();
        // Proxy workers (path, object, default ID), read once the router is.
        let mut proxies: Vec<(String, &Obj, String)> = Vec::new();
        // The first router worker's index and object, to recognise copies.
        let mut first_router: Option<(usize, &Obj)> = None;
        // Crossbar names a worker without an `id` `workerNNN`, counting
        // such workers (disabled ones too) in list order from 1.
        let mut unnamed = 0;
        for (i, w) in items.iter().enumerate() {
            let path = index("workers", i);
            let Some(wobj) = self.object(&path, w) else {
                continue;
            };
            if !wobj.contains_key("id") {
                unnamed += 1;
            }
            if self.worker_disabled(&path, wobj) {
                self.warn(&path, "worker is disabled (options.disabled); skipped");
                continue;
            }
            let Some(wtype) = self.required_str(&path, wobj, "type") else {
                continue;
            };
            let type_path = child(&path, "type");
            match &*wtype {
                "router" if router.is_some() => match first_router {
                    Some((j, first)) if is_web_only_copy(first, wobj) => self.warn(
                        &path,
                        &format!(
                            "a copy of {} without realms on shared ports (Crossbar runs one \
                             process per copy); Junction serves these transports once, on all \
                             its shards",
                            index("workers", j)
                        ),
                    ),
                    _ => {
                        let default_id = format!("worker{unnamed:03}");
                        if let Some(r) = self.other_router(&path, i, wobj, default_id) {
                            others.push(r);
                        }
                    }
                },
                "router" => {
                    first_router = Some((i, wobj));
                    let mut r = self.router(&path, wobj, top_junction.as_ref());
                    r.index = i;
                    router = Some(r);
                }
                "guest" | "container" | "websocket-testee" => {
                    let default_id = format!("worker{unnamed:03}");
                    if let Some(w) = self.worker(&path, i, &wtype, wobj, default_id) {
                        workers.push(w);
                    }
                }
                "proxy" => proxies.push((path, wobj, format!("worker{unnamed:03}"))),
                "hostmonitor" | "xbrmm" | "marketmaker" => {
                    self.unsupported(&type_path, &format!("worker type \"{wtype}\""));
                }
                other => self.error(
                    &type_path,
                    format!(
                        "unknown worker type \"{other}\" (router, guest, container, websocket-testee)"
                    ),
                ),
            }
        }
        if let Some(first) = router.as_mut() {
            self.merge_routers(first, others);
            let proxies: Vec<proxy::Proxy> = proxies
                .into_iter()
                .filter_map(|(p, o, id)| self.proxy(&p, o, id, first))
                .collect();
            self.fold_proxies(first, proxies);
            self.host_function_auths(first);
        }
        let testees = workers
            .iter()
            .any(|w| matches!(w.kind, WorkerKind::WebSocketTestee(_)));
        if router.is_none() && testees {
            // Crossbar's WebSocket benchmarks run nodes of testee workers
            // only: an empty router (no realm, no transport) serves them.
            self.warn(
                "workers",
                "no router worker: the node serves only its websocket-testee workers",
            );
            router = Some(Router::with_junction(
                &top_junction.clone().unwrap_or_default(),
            ));
        } else if router.is_none() && self.issues.is_empty() {
            self.error(
                "workers",
                "no router worker; Junction needs one worker with \"type\": \"router\" \
                 (or a websocket-testee worker)",
            );
        }
        if let Some(r) = router.as_mut() {
            r.node.worker_exit = worker_exit;
        }
        (router, workers)
    }

    /// Whether `options.disabled` is true (checked before anything else so a
    /// disabled worker of any type is skipped, as in Crossbar). A string is
    /// Crossbar's environment switch: `"${VAR}"` disables the worker when
    /// `VAR` is set and not empty (whatever its value, as in Crossbar), and
    /// any other non-empty string disables it too.
    fn worker_disabled(&mut self, path: &str, worker: &Obj) -> bool {
        let Some(Value::Object(options)) = worker.get("options") else {
            return false;
        };
        let p = child(&child(path, "options"), "disabled");
        match options.get("disabled") {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => {
                let value = match s.strip_prefix("${").and_then(|r| r.strip_suffix('}')) {
                    Some(name) if read::is_env_name(name) => (self.env)(name).unwrap_or_default(),
                    Some(_) => {
                        self.error(
                            &p,
                            format!("\"{s}\" is not a valid environment variable reference"),
                        );
                        return false;
                    }
                    None => s.clone(),
                };
                !value.is_empty()
            }
            Some(other) => {
                self.error(
                    &p,
                    format!("expected true, false or a string, found {}", kind_of(other)),
                );
                false
            }
            None => false,
        }
    }

    fn router(&mut self, path: &str, obj: &Obj, top_junction: Option<&JunctionExt>) -> Router {
        self.keys(
            path,
            obj,
            &[
                ("id", Key::Read),
                ("type", Key::Read),
                ("options", Key::Read),
                (
                    "manhole",
                    Key::Warn("ignored: Junction has no manhole (Crossbar's Python debug shell)"),
                ),
                ("realms", Key::Read),
                ("transports", Key::Read),
                ("components", Key::Read),
                ("connections", Key::Read),
                ("junction", Key::Read),
            ],
        );
        if let Some(v) = obj.get("id") {
            let p = child(path, "id");
            if let Some(id) = self.string(&p, v) {
                self.check_id(&p, &id);
            }
        }
        let python = match obj.get("options") {
            Some(v) => {
                let op = child(path, "options");
                let mut python = self.worker_options(&op, v, &[("env", Key::Read)], true);
                // The environment of its Python components' host.
                if let Some(e) = v.get("env") {
                    python.env = self.process_env(&child(&op, "env"), e);
                }
                python
            }
            None => PythonOptions::default(),
        };
        if let Some(v) = obj.get("connections") {
            let p = child(path, "connections");
            if let Some(items) = self.array(&p, v)
                && !items.is_empty()
            {
                self.unsupported(&p, "router connections (outgoing links from the router)");
            }
        }
        let ext = match (top_junction, obj.get("junction")) {
            (Some(_), Some(_)) => {
                self.error(
                    &child(path, "junction"),
                    "a `junction` block is also given at the top level; use only one",
                );
                JunctionExt::default()
            }
            (Some(top), None) => top.clone(),
            (None, Some(v)) => self.junction(&child(path, "junction"), v),
            (None, None) => JunctionExt::default(),
        };
        let mut router = Router {
            python,
            ..Router::with_junction(&ext)
        };
        let realms_path = child(path, "realms");
        let realms = match obj.get("realms") {
            Some(v) => self.array(&realms_path, v),
            None => Some(&[][..]),
        };
        if realms.is_some_and(<[Value]>::is_empty) {
            // Crossbar allows a router without realms (a web server, say).
            self.warn(
                &realms_path,
                "no realm: WAMP clients can join no realm on this router",
            );
        }
        for (i, r) in realms.unwrap_or_default().iter().enumerate() {
            let rp = index(&realms_path, i);
            if let Some((realm, authorizers)) = self.realm(&rp, r) {
                router.role_authorizers.extend(authorizers);
                router.realms.push(Located {
                    path: rp,
                    item: realm,
                });
            }
        }
        let transports_path = child(path, "transports");
        let transports = match obj.get("transports") {
            Some(v) => self.array(&transports_path, v),
            None => Some(&[][..]),
        };
        if transports.is_some_and(<[Value]>::is_empty) {
            // Crossbar allows a router with components only.
            self.warn(
                &transports_path,
                "no transport: no client can connect to this router (only its components run)",
            );
        }
        for (i, t) in transports.unwrap_or_default().iter().enumerate() {
            let tp = index(&transports_path, i);
            if let Some(transport) = self.transport(&tp, i, t, &router.limits) {
                router.transports.push(Located {
                    path: tp,
                    item: transport,
                });
            }
        }
        if let Some(v) = obj.get("components") {
            let p = child(path, "components");
            for (i, c) in self.array(&p, v).unwrap_or_default().iter().enumerate() {
                let cp = index(&p, i);
                if let Some(component) = self.router_component(&cp, i, c) {
                    router.components.push(Located {
                        path: cp,
                        item: component,
                    });
                }
            }
        }
        router
    }

    /// Native worker `options` (router, container, testee); `extra` adds
    /// keys the worker type reads itself. Returns the Python settings
    /// (`python`, `pythonpath`), which only the router's `wsgi` services use:
    /// elsewhere (`python: false`) they are warned and ignored.
    fn worker_options(
        &mut self,
        path: &str,
        v: &Value,
        extra: &[(&str, Key)],
        python_used: bool,
    ) -> PythonOptions {
        let mut python = PythonOptions::default();
        let Some(obj) = self.object(path, v) else {
            return python;
        };
        let mut table = vec![
            ("extra", Key::Warn(PYTHON_ONLY)),
            ("title", Key::Warn(PYTHON_ONLY)),
            (
                "python",
                if python_used {
                    Key::Read
                } else {
                    Key::Warn(PYTHON_ONLY)
                },
            ),
            (
                "pythonpath",
                if python_used {
                    Key::Read
                } else {
                    Key::Warn(PYTHON_ONLY)
                },
            ),
            (
                "cpu_affinity",
                Key::Warn("ignored: Junction pins one shard per core itself (see --shards)"),
            ),
            ("env", Key::Warn(PYTHON_ONLY)),
            ("reactor", Key::Warn(PYTHON_ONLY)),
            ("expose_controller", Key::Warn(PYTHON_ONLY)),
            ("expose_shared", Key::Warn(PYTHON_ONLY)),
            // Handled by `worker_disabled` before the worker is read.
            ("disabled", Key::Read),
        ];
        // A worker type's own reading of a key replaces the default.
        table.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
        table.extend_from_slice(extra);
        self.keys(path, obj, &table);
        if !python_used {
            return python;
        }
        if let Some(v) = obj.get("python") {
            let p = child(path, "python");
            if let Some(exe) = self.nonempty(&p, v) {
                if !Path::new(&*exe).is_absolute() {
                    self.error(&p, "must be an absolute path (as in Crossbar)");
                } else {
                    python.executable = Some(PathBuf::from(&*exe));
                }
            }
        }
        if let Some(v) = obj.get("pythonpath") {
            python.path = self
                .node_paths(&child(path, "pythonpath"), v)
                .unwrap_or_default();
        }
        python
    }

    fn junction(&mut self, path: &str, v: &Value) -> JunctionExt {
        let mut ext = JunctionExt::default();
        let Some(obj) = self.object(path, v) else {
            return ext;
        };
        self.keys(
            path,
            obj,
            &[
                ("max_message_size", Key::Read),
                ("outbound_queue_bytes", Key::Read),
                ("max_sessions_per_shard", Key::Read),
                ("mqtt_offline_store_bytes", Key::Read),
                ("mqtt_offline_store_sessions", Key::Read),
                ("shards", Key::Read),
                ("auth", Key::Read),
                ("shutdown_timeout", Key::Read),
                ("components_timeout", Key::Read),
                ("control_socket", Key::Read),
                ("metrics", Key::Read),
                ("pack_connections", Key::Read),
                ("write_coalesce_us", Key::Read),
            ],
        );
        if let Some(v) = obj.get("auth") {
            ext.auth = self.auth_settings(&child(path, "auth"), v);
        }
        if let Some(v) = obj.get("max_message_size") {
            ext.max_message_size =
                self.size(&child(path, "max_message_size"), v, 1, MAX_LIMIT_BYTES);
        }
        if let Some(v) = obj.get("outbound_queue_bytes") {
            ext.outbound_queue_bytes =
                self.size(&child(path, "outbound_queue_bytes"), v, 1, MAX_LIMIT_BYTES);
        }
        if let Some(v) = obj.get("max_sessions_per_shard") {
            ext.max_sessions_per_shard = self.size(
                &child(path, "max_sessions_per_shard"),
                v,
                1,
                u64::from(u32::MAX),
            );
        }
        if let Some(v) = obj.get("mqtt_offline_store_bytes") {
            // 1 MiB to 1 TiB.
            ext.mqtt_offline_store_bytes = self.uint(
                &child(path, "mqtt_offline_store_bytes"),
                v,
                1 << 20,
                1 << 40,
            );
        }
        if let Some(v) = obj.get("mqtt_offline_store_sessions") {
            ext.mqtt_offline_store_sessions = self.size(
                &child(path, "mqtt_offline_store_sessions"),
                v,
                1,
                u64::from(u32::MAX),
            );
        }
        if let Some(v) = obj.get("shards") {
            ext.shards = self.size(&child(path, "shards"), v, 1, MAX_SHARDS);
        }
        if let Some(v) = obj.get("shutdown_timeout") {
            let p = child(path, "shutdown_timeout");
            if let Some(s) = self.uint(&p, v, 0, MAX_SHUTDOWN_TIMEOUT_S) {
                ext.node.shutdown_timeout = Duration::from_secs(s);
            }
        }
        if let Some(v) = obj.get("components_timeout") {
            let p = child(path, "components_timeout");
            if let Some(s) = self.uint(&p, v, 0, MAX_SHUTDOWN_TIMEOUT_S) {
                ext.node.components_timeout = Duration::from_secs(s);
            }
        }
        if let Some(v) = obj.get("control_socket") {
            ext.node.control_socket = self.node_path(&child(path, "control_socket"), v);
        }
        if let Some(v) = obj.get("metrics")
            && let Some(b) = self.boolean(&child(path, "metrics"), v)
        {
            ext.node.metrics = b;
        }
        if let Some(v) = obj.get("pack_connections")
            && let Some(n) = self.size(
                &child(path, "pack_connections"),
                v,
                0,
                crate::config::MAX_PACK_CONNECTIONS as u64,
            )
        {
            ext.node.pack_connections = n;
        }
        if let Some(v) = obj.get("write_coalesce_us")
            && let Some(us) = self.uint(
                &child(path, "write_coalesce_us"),
                v,
                0,
                crate::config::MAX_WRITE_COALESCE.as_micros() as u64,
            )
        {
            ext.node.write_coalesce = Duration::from_micros(us);
        }
        ext
    }
}
