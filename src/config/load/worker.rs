//! Router components and the workers other than the router: `guest`,
//! `container` (with its components' connecting transports) and
//! `websocket-testee`.

use std::collections::BTreeMap;

use serde_json::Value;

use super::realm::is_realm_name;
use super::transport::{CROSSBAR_MAX_MESSAGE_SIZE, Within};
use super::{Key, Loader, Obj};
use crate::config::Limits;
use crate::config::path::{child, index};
use crate::config::worker::{
    ClientTls, ComponentConfig, ComponentKind, ConnectingEndpoint, ConnectingKind,
    ConnectingTransport, ContainerComponent, ContainerRestart, ContainerShutdown, ContainerWorker,
    DEFAULT_GUEST_STOP_TIMEOUT_S, EnvInherit, ForwardedTopic, GuestOutput, GuestRestart,
    GuestStdin, GuestWatch, GuestWorker, MESSAGE_FORWARDER_CLASSES, MessageForwarder, ProcessEnv,
    PythonComponent, PythonEntry, REST_CALLEE_CLASSES, RestCallee, TesteeWorker, WorkerConfig,
    WorkerKind,
};
use crate::proto::Serializer;
use crate::proto::uri::MatchPolicy;

/// Callback names of a `function` component.
const CALLBACKS: [&str; 4] = ["join", "leave", "connect", "disconnect"];

/// Why a container component transport's `options` are warned.
const CONNECTING_OPTIONS: &str = "ignored: the container host connects with Autobahn's default \
     transport options (the router's own limits still apply)";

impl Loader<'_> {
    /// One of the router's `components`.
    pub(super) fn router_component(
        &mut self,
        path: &str,
        i: usize,
        v: &Value,
    ) -> Option<ComponentConfig> {
        let obj = self.object(path, v)?;
        let (id, realm, kind) = self.component(path, i, obj, &[("role", Key::Read)])?;
        let role = self.optional(path, obj, "role", Self::nonempty).ok()?;
        Some(ComponentConfig {
            id,
            realm,
            role: role.map_or_else(|| "anonymous".to_owned(), |r| r.into_owned()),
            kind,
        })
    }

    /// What router and container components share: `id`, `realm`, `type`
    /// (`class` or `function`) and what the class or callbacks are.
    fn component(
        &mut self,
        path: &str,
        i: usize,
        obj: &Obj,
        extra_keys: &[(&str, Key)],
    ) -> Option<(String, String, ComponentKind)> {
        let t = self.required_str(path, obj, "type")?;
        let mut table = vec![
            ("id", Key::Read),
            ("type", Key::Read),
            ("realm", Key::Read),
            ("extra", Key::Read),
        ];
        table.extend_from_slice(extra_keys);
        match &*t {
            "class" => table.extend([
                ("classname", Key::Read),
                (
                    "references",
                    Key::Warn("ignored: Crossbar's component references"),
                ),
            ]),
            "function" => table.push(("callbacks", Key::Read)),
            other => {
                self.error(
                    &child(path, "type"),
                    format!("\"{other}\" is not \"class\" or \"function\""),
                );
                return None;
            }
        }
        self.keys(path, obj, &table);
        let id = self.item_id(path, obj, format!("{}component{}", self.id_prefix, i + 1));
        let realm = self.required(path, obj, "realm", |l, p, v| {
            let r = l.string(p, v)?;
            if !is_realm_name(&r) {
                l.error(p, format!("invalid realm name \"{r}\""));
                return None;
            }
            Some(r.into_owned())
        });
        let kind = if &*t == "class" {
            let classname = self.required(path, obj, "classname", Self::nonempty)?;
            let extra_path = child(path, "extra");
            if MESSAGE_FORWARDER_CLASSES.contains(&&*classname) {
                self.message_forwarder(&extra_path, obj.get("extra"))
                    .map(ComponentKind::MessageForwarder)
            } else if REST_CALLEE_CLASSES.contains(&&*classname) {
                self.rest_callee(&extra_path, obj.get("extra"))
                    .map(ComponentKind::RestCallee)
            } else {
                Some(ComponentKind::Python(PythonComponent {
                    entry: PythonEntry::Class(classname.into_owned()),
                    extra: obj.get("extra").cloned(),
                }))
            }
        } else {
            let mut callbacks = BTreeMap::new();
            if let Some(v) = obj.get("callbacks") {
                let p = child(path, "callbacks");
                let map = self.object(&p, v)?;
                for (name, f) in map {
                    let cp = child(&p, name);
                    if !CALLBACKS.contains(&name.as_str()) {
                        self.error(
                            &cp,
                            format!("unknown callback (known: {})", CALLBACKS.join(", ")),
                        );
                        return None;
                    }
                    callbacks.insert(name.clone(), self.nonempty(&cp, f)?.into_owned());
                }
            }
            Some(ComponentKind::Python(PythonComponent {
                entry: PythonEntry::Function(callbacks),
                extra: obj.get("extra").cloned(),
            }))
        };
        Some((id, realm?, kind?))
    }

    /// `extra` of the HTTP bridge subscriber.
    fn message_forwarder(&mut self, path: &str, v: Option<&Value>) -> Option<MessageForwarder> {
        let Some(v) = v else {
            self.error(path, "missing (the MessageForwarder needs `subscriptions`)");
            return None;
        };
        let obj = self.object(path, v)?;
        self.keys(
            path,
            obj,
            &[
                ("subscriptions", Key::Read),
                ("method", Key::Read),
                ("expectedcode", Key::Read),
                ("debug", Key::Read),
            ],
        );
        let subscriptions = self.required(path, obj, "subscriptions", |l, p, v| {
            let items = l.array(p, v)?;
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let ip = index(p, i);
                let s = l.object(&ip, item)?;
                l.keys(
                    &ip,
                    s,
                    &[
                        ("topic", Key::Read),
                        ("url", Key::Read),
                        ("match", Key::Read),
                    ],
                );
                let topic = l.required(&ip, s, "topic", Self::nonempty);
                let url = l.required(&ip, s, "url", Self::nonempty);
                let policy = match s.get("match") {
                    None => Some(MatchPolicy::Exact),
                    Some(v) => {
                        let mp = child(&ip, "match");
                        let m = l.string(&mp, v)?;
                        let parsed = MatchPolicy::parse(&m);
                        if parsed.is_none() {
                            l.error(
                                &mp,
                                format!("\"{m}\" is not \"exact\", \"prefix\" or \"wildcard\""),
                            );
                        }
                        parsed
                    }
                };
                out.push(ForwardedTopic {
                    topic: topic?.into_owned(),
                    match_policy: policy?,
                    url: url?.into_owned(),
                });
            }
            Some(out)
        });
        let method = self.optional(path, obj, "method", Self::nonempty);
        let expected = self.optional(path, obj, "expectedcode", |l, p, v| {
            l.uint(p, v, 100, 599).and_then(|c| u16::try_from(c).ok())
        });
        Some(MessageForwarder {
            subscriptions: subscriptions?,
            method: method
                .ok()?
                .map_or_else(|| "POST".to_owned(), |m| m.to_ascii_uppercase()),
            expected_code: expected.ok()?,
            debug: self.opt_bool(path, obj, "debug").unwrap_or(false),
        })
    }

    /// `extra` of the HTTP bridge callee.
    fn rest_callee(&mut self, path: &str, v: Option<&Value>) -> Option<RestCallee> {
        let Some(v) = v else {
            self.error(
                path,
                "missing (the RESTCallee needs `procedure` and `baseurl`)",
            );
            return None;
        };
        let obj = self.object(path, v)?;
        self.keys(
            path,
            obj,
            &[("procedure", Key::Read), ("baseurl", Key::Read)],
        );
        let procedure = self.required(path, obj, "procedure", Self::uri);
        let base_url = self.required(path, obj, "baseurl", Self::nonempty);
        Some(RestCallee {
            procedure: procedure?,
            base_url: base_url?.into_owned(),
        })
    }

    /// A `guest`, `container` or `websocket-testee` worker.
    pub(super) fn worker(
        &mut self,
        path: &str,
        i: usize,
        wtype: &str,
        obj: &Obj,
        default_id: String,
    ) -> Option<WorkerConfig> {
        let id = match obj.get("id") {
            Some(v) => {
                let p = child(path, "id");
                let id = self.string(&p, v)?;
                self.check_id(&p, &id);
                Some(id.into_owned())
            }
            None => None,
        };
        let kind = match wtype {
            "guest" => WorkerKind::Guest(self.guest(path, obj)?),
            "container" => WorkerKind::Container(self.container(path, obj)?),
            _ => WorkerKind::WebSocketTestee(self.testee(path, obj)?),
        };
        Some(WorkerConfig {
            id,
            default_id,
            index: i,
            kind,
        })
    }

    fn guest(&mut self, path: &str, obj: &Obj) -> Option<GuestWorker> {
        self.keys(
            path,
            obj,
            &[
                ("id", Key::Read),
                ("type", Key::Read),
                ("executable", Key::Read),
                ("arguments", Key::Read),
                ("options", Key::Read),
            ],
        );
        let executable = self.required(path, obj, "executable", Self::nonempty);
        let arguments = self.optional(path, obj, "arguments", Self::strings);
        let mut g = GuestWorker {
            executable: String::new(),
            arguments: Vec::new(),
            workdir: self.node_dir.clone(),
            env: ProcessEnv::default(),
            stdin: GuestStdin::Open,
            stdout: GuestOutput::Log,
            stderr: GuestOutput::Log,
            watch: None,
            restart: GuestRestart::Never,
            stop_timeout_s: DEFAULT_GUEST_STOP_TIMEOUT_S,
        };
        if let Some(v) = obj.get("options") {
            let op = child(path, "options");
            let o = self.object(&op, v)?;
            self.keys(
                &op,
                o,
                &[
                    ("env", Key::Read),
                    ("workdir", Key::Read),
                    ("stdin", Key::Read),
                    ("stdout", Key::Read),
                    ("stderr", Key::Read),
                    ("watch", Key::Read),
                    // Junction extensions.
                    ("restart", Key::Read),
                    ("stop_timeout", Key::Read),
                    // Read by `worker_disabled` before the worker is.
                    ("disabled", Key::Read),
                ],
            );
            if let Some(v) = o.get("workdir") {
                g.workdir = self.node_path(&child(&op, "workdir"), v)?;
            }
            if let Some(v) = o.get("env") {
                g.env = self.process_env(&child(&op, "env"), v)?;
            }
            if let Some(v) = o.get("stdin") {
                g.stdin = self.guest_stdin(&child(&op, "stdin"), v)?;
            }
            for (key, slot) in [("stdout", &mut g.stdout), ("stderr", &mut g.stderr)] {
                if let Some(v) = o.get(key) {
                    let p = child(&op, key);
                    *slot = match self.string(&p, v)?.as_ref() {
                        "log" => GuestOutput::Log,
                        "drop" => GuestOutput::Drop,
                        "close" => GuestOutput::Close,
                        other => {
                            self.error(
                                &p,
                                format!("\"{other}\" is not \"log\", \"drop\" or \"close\""),
                            );
                            return None;
                        }
                    };
                }
            }
            if let Some(v) = o.get("watch") {
                g.watch = Some(self.guest_watch(&child(&op, "watch"), v)?);
            }
            if let Some(v) = o.get("restart") {
                let p = child(&op, "restart");
                g.restart = match self.string(&p, v)?.as_ref() {
                    "restart-never" => GuestRestart::Never,
                    "restart-on-failed" => GuestRestart::OnFailed,
                    "restart-always" => GuestRestart::Always,
                    other => {
                        self.error(
                            &p,
                            format!(
                                "\"{other}\" is not \"restart-never\", \"restart-on-failed\" or \"restart-always\""
                            ),
                        );
                        return None;
                    }
                };
            }
            if let Some(v) = o.get("stop_timeout") {
                g.stop_timeout_s = self.uint(&child(&op, "stop_timeout"), v, 0, 3600)?;
            }
        }
        g.executable = executable?.into_owned();
        g.arguments = arguments.ok()?.unwrap_or_default();
        Some(g)
    }

    pub(super) fn process_env(&mut self, path: &str, v: &Value) -> Option<ProcessEnv> {
        let obj = self.object(path, v)?;
        self.keys(path, obj, &[("inherit", Key::Read), ("vars", Key::Read)]);
        let mut env = ProcessEnv::default();
        match obj.get("inherit") {
            None => {}
            Some(Value::Bool(true)) => env.inherit = EnvInherit::All,
            Some(Value::Bool(false)) => env.inherit = EnvInherit::Nothing,
            Some(v) => env.inherit = EnvInherit::Only(self.strings(&child(path, "inherit"), v)?),
        }
        if let Some(v) = obj.get("vars") {
            let p = child(path, "vars");
            let map = self.object(&p, v)?;
            for (name, value) in map {
                let vp = child(&p, name);
                if !super::read::is_env_name(name) {
                    self.error(
                        &vp,
                        format!("\"{name}\" is not a valid environment variable name"),
                    );
                    return None;
                }
                env.vars
                    .insert(name.clone(), self.string(&vp, value)?.into_owned());
            }
        }
        Some(env)
    }

    fn guest_stdin(&mut self, path: &str, v: &Value) -> Option<GuestStdin> {
        if let Value::String(_) = v {
            return match self.string(path, v)?.as_ref() {
                "close" => Some(GuestStdin::Close),
                other => {
                    self.error(path, format!("\"{other}\" is not \"close\" (or an object)"));
                    None
                }
            };
        }
        let obj = self.object(path, v)?;
        self.keys(
            path,
            obj,
            &[
                ("type", Key::Read),
                ("value", Key::Read),
                ("close", Key::Read),
            ],
        );
        let msgpack = match self.required_str(path, obj, "type")?.as_ref() {
            "json" => false,
            "msgpack" => true,
            other => {
                self.error(
                    &child(path, "type"),
                    format!("\"{other}\" is not \"json\" or \"msgpack\""),
                );
                return None;
            }
        };
        let Some(value) = obj.get("value") else {
            self.error(&child(path, "value"), "missing (required)");
            return None;
        };
        Some(GuestStdin::Json {
            value: value.clone(),
            msgpack,
            close: self.opt_bool(path, obj, "close").unwrap_or(true),
        })
    }

    fn guest_watch(&mut self, path: &str, v: &Value) -> Option<GuestWatch> {
        let obj = self.object(path, v)?;
        self.keys(
            path,
            obj,
            &[
                ("directories", Key::Read),
                ("action", Key::Read),
                ("timeout", Key::Read),
            ],
        );
        let directories = self.required(path, obj, "directories", Self::node_paths)?;
        let restart = match obj.get("action") {
            None => false,
            Some(v) => {
                let p = child(path, "action");
                match self.string(&p, v)?.as_ref() {
                    "restart" => true,
                    other => {
                        self.error(&p, format!("\"{other}\" is not \"restart\""));
                        return None;
                    }
                }
            }
        };
        let timeout_s = match obj.get("timeout") {
            None => 1,
            Some(v) => self.uint(&child(path, "timeout"), v, 0, 3600)?,
        };
        Some(GuestWatch {
            directories,
            restart,
            timeout_s,
        })
    }

    fn container(&mut self, path: &str, obj: &Obj) -> Option<ContainerWorker> {
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
                ("components", Key::Read),
                ("connections", Key::Read),
            ],
        );
        let mut c = ContainerWorker {
            components: Vec::new(),
            shutdown: ContainerShutdown::Manual,
            restart: None,
            env: ProcessEnv::default(),
            python: crate::config::PythonOptions::default(),
        };
        if let Some(v) = obj.get("connections") {
            let p = child(path, "connections");
            if let Some(items) = self.array(&p, v)
                && !items.is_empty()
            {
                self.unsupported(&p, "container connections");
            }
        }
        if let Some(v) = obj.get("options") {
            let op = child(path, "options");
            // `python` and `pythonpath`: the host process's interpreter and
            // where the component classes are imported from.
            c.python = self.worker_options(
                &op,
                v,
                &[
                    ("shutdown", Key::Read),
                    ("restart", Key::Read),
                    ("env", Key::Read),
                ],
                true,
            );
            let o = v.as_object()?;
            if let Some(v) = o.get("env") {
                c.env = self.process_env(&child(&op, "env"), v)?;
            }
            if let Some(v) = o.get("shutdown") {
                let p = child(&op, "shutdown");
                c.shutdown = match self.string(&p, v)?.as_ref() {
                    "shutdown-manual" => ContainerShutdown::Manual,
                    "shutdown-on-last-component-stopped" => {
                        ContainerShutdown::OnLastComponentStopped
                    }
                    "shutdown-on-any-component-failed" => ContainerShutdown::OnAnyComponentFailed,
                    "shutdown-on-any-component-stopped" => ContainerShutdown::OnAnyComponentStopped,
                    other => {
                        self.error(&p, format!("unknown shutdown mode \"{other}\""));
                        return None;
                    }
                };
            }
            if let Some(v) = o.get("restart") {
                let p = child(&op, "restart");
                let restart = match self.string(&p, v)?.as_ref() {
                    "restart-always" => ContainerRestart::Always,
                    "restart-on-failed" => ContainerRestart::OnFailed,
                    "restart-never" => ContainerRestart::Never,
                    other => {
                        self.error(&p, format!("unknown restart mode \"{other}\""));
                        return None;
                    }
                };
                // Crossbar's impossible pairs.
                let impossible = matches!(
                    (restart, c.shutdown),
                    (
                        ContainerRestart::Always,
                        ContainerShutdown::OnAnyComponentStopped
                    ) | (
                        ContainerRestart::Always,
                        ContainerShutdown::OnAnyComponentFailed
                    ) | (
                        ContainerRestart::Always,
                        ContainerShutdown::OnLastComponentStopped
                    ) | (
                        ContainerRestart::OnFailed,
                        ContainerShutdown::OnAnyComponentFailed
                    )
                );
                if impossible {
                    self.error(&p, "cannot work with this `shutdown` mode");
                    return None;
                }
                c.restart = Some(restart);
            }
        }
        if let Some(v) = obj.get("components") {
            let p = child(path, "components");
            let mut ok = true;
            for (i, item) in self.array(&p, v)?.iter().enumerate() {
                let cp = index(&p, i);
                match self.container_component(&cp, i, item) {
                    Some(comp) => c.components.push(comp),
                    None => ok = false,
                }
            }
            if !ok {
                return None;
            }
        }
        Some(c)
    }

    fn container_component(
        &mut self,
        path: &str,
        i: usize,
        v: &Value,
    ) -> Option<ContainerComponent> {
        let obj = self.object(path, v)?;
        let mut keys = vec![("transport", Key::Read)];
        if obj.get("type").and_then(Value::as_str) == Some("function") {
            // Crossbar's checker wants it, but its container never reads it:
            // a function component joins anonymously (`_AnonymousRoleSession`),
            // as in Junction's host.
            keys.push((
                "auth",
                Key::Warn(
                    "ignored: Crossbar's container does not use it either (a function \
                     component joins anonymously)",
                ),
            ));
        }
        let (id, realm, kind) = self.component(path, i, obj, &keys)?;
        let transport = self.required(path, obj, "transport", Self::connecting_transport)?;
        Some(ContainerComponent {
            id,
            realm,
            transport,
            kind,
        })
    }

    /// A container component's transport (how it reaches the router).
    fn connecting_transport(&mut self, path: &str, v: &Value) -> Option<ConnectingTransport> {
        let obj = self.object(path, v)?;
        let t = self.required_str(path, obj, "type")?;
        let kind = match &*t {
            "websocket" => {
                self.keys(
                    path,
                    obj,
                    &[
                        ("id", Key::Ignore),
                        ("type", Key::Read),
                        ("endpoint", Key::Read),
                        ("url", Key::Read),
                        ("serializers", Key::Read),
                        // Client-side WebSocket tuning of the component's connection.
                        ("options", Key::Warn(CONNECTING_OPTIONS)),
                    ],
                );
                let url = self.required(path, obj, "url", Self::nonempty);
                let serializers = self.serializers(path, obj);
                ConnectingKind::WebSocket {
                    url: url?.into_owned(),
                    serializers: serializers?,
                }
            }
            "rawsocket" => {
                self.keys(
                    path,
                    obj,
                    &[
                        ("id", Key::Ignore),
                        ("type", Key::Read),
                        ("endpoint", Key::Read),
                        ("serializer", Key::Read),
                        ("options", Key::Warn(CONNECTING_OPTIONS)),
                        ("url", Key::Ignore),
                        ("debug", super::transport::DEBUG),
                    ],
                );
                let serializer: Option<Serializer> =
                    self.required(path, obj, "serializer", Self::serializer);
                ConnectingKind::RawSocket {
                    serializer: serializer?,
                }
            }
            other => {
                self.error(
                    &child(path, "type"),
                    format!("\"{other}\" is not \"websocket\" or \"rawsocket\""),
                );
                return None;
            }
        };
        let endpoint = self.required(path, obj, "endpoint", Self::connecting_endpoint)?;
        Some(ConnectingTransport { kind, endpoint })
    }

    fn connecting_endpoint(&mut self, path: &str, v: &Value) -> Option<ConnectingEndpoint> {
        let obj = self.object(path, v)?;
        let t = self.required_str(path, obj, "type")?;
        let timeout = |l: &mut Self| match obj.get("timeout") {
            None => Some(10),
            Some(v) => l.uint(&child(path, "timeout"), v, 0, 600),
        };
        match &*t {
            "tcp" => {
                self.keys(
                    path,
                    obj,
                    &[
                        ("type", Key::Read),
                        ("version", Key::Read),
                        ("host", Key::Read),
                        ("port", Key::Read),
                        ("timeout", Key::Read),
                        ("tls", Key::Read),
                    ],
                );
                if let Some(v) = obj.get("version") {
                    let p = child(path, "version");
                    if !matches!(self.uint(&p, v, 4, 6), Some(4 | 6)) {
                        self.error(&p, "must be 4 or 6");
                    }
                }
                let host = self.required(path, obj, "host", Self::nonempty);
                let port = self.required(path, obj, "port", |l, p, v| {
                    l.uint(p, v, 1, 65535).and_then(|n| u16::try_from(n).ok())
                });
                let tls = self.optional(path, obj, "tls", Self::client_tls);
                let timeout_s = timeout(self);
                Some(ConnectingEndpoint::Tcp {
                    host: host?.into_owned(),
                    port: port?,
                    tls: tls.ok()?,
                    timeout_s: timeout_s?,
                })
            }
            "unix" => {
                self.keys(
                    path,
                    obj,
                    &[
                        ("type", Key::Read),
                        ("path", Key::Read),
                        ("timeout", Key::Read),
                    ],
                );
                let p = self.required(path, obj, "path", Self::node_path);
                let timeout_s = timeout(self);
                Some(ConnectingEndpoint::Unix {
                    path: p?,
                    timeout_s: timeout_s?,
                })
            }
            other => {
                self.error(
                    &child(path, "type"),
                    format!("\"{other}\" is not \"tcp\" or \"unix\""),
                );
                None
            }
        }
    }

    fn client_tls(&mut self, path: &str, v: &Value) -> Option<ClientTls> {
        let obj = self.object(path, v)?;
        self.keys(
            path,
            obj,
            &[
                ("hostname", Key::Read),
                ("ca_certificates", Key::Read),
                ("certificate", Key::Read),
                ("key", Key::Read),
            ],
        );
        let hostname = self.required(path, obj, "hostname", Self::nonempty);
        let ca = self.optional(path, obj, "ca_certificates", Self::node_paths);
        let certificate = self.optional(path, obj, "certificate", Self::node_path);
        let key = self.optional(path, obj, "key", Self::node_path);
        Some(ClientTls {
            hostname: hostname?.into_owned(),
            ca_certificates: ca.ok()?.unwrap_or_default(),
            certificate: certificate.ok()?,
            key: key.ok()?,
        })
    }

    fn testee(&mut self, path: &str, obj: &Obj) -> Option<TesteeWorker> {
        self.keys(
            path,
            obj,
            &[
                ("id", Key::Read),
                ("type", Key::Read),
                ("options", Key::Read),
                ("transport", Key::Read),
            ],
        );
        if let Some(v) = obj.get("options") {
            self.worker_options(&child(path, "options"), v, &[], false);
        }
        let tp = child(path, "transport");
        let Some(tv) = obj.get("transport") else {
            self.error(&tp, "missing (required)");
            return None;
        };
        let t = self.object(&tp, tv)?;
        for key in ["serializers", "auth", "cookie"] {
            if t.contains_key(key) {
                self.warn(&child(&tp, key), "ignored: the testee speaks no WAMP");
            }
        }
        if let Some(v) = t.get("type") {
            let p = child(&tp, "type");
            let ty = self.string(&p, v)?;
            if ty != "websocket" {
                self.error(&p, format!("\"{ty}\" is not \"websocket\""));
                return None;
            }
        }
        // Autobahn|Testsuite sends messages up to 16 MiB: no router-wide clamp here.
        let limits = Limits {
            max_message_size: CROSSBAR_MAX_MESSAGE_SIZE as usize,
            ..Limits::default()
        };
        let service = self.websocket_service(&tp, t, &limits, None, Within::Transport);
        let endpoint = self.required_endpoint(&tp, t);
        let transport_id = self.item_id(&tp, t, "transport1".to_owned());
        Some(TesteeWorker {
            transport_id,
            endpoint: endpoint?,
            options: service?.options,
        })
    }
}
