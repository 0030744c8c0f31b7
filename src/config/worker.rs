//! Workers other than the router, and components: the router's `components`
//! (HTTP bridge classes Junction runs natively, and Python components its
//! component host runs), `guest` workers (processes Junction supervises),
//! `container` workers (components that connect to the router over a
//! transport) and `websocket-testee` workers (a WebSocket echo endpoint for
//! Autobahn|Testsuite).
//!
//! Only types live here; `load/worker.rs` reads them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::transport::Endpoint;
use super::wamp::WebSocketOptions;
use crate::proto::Serializer;
use crate::proto::uri::MatchPolicy;

/// A component attached to a realm of the router (`components` of the
/// router worker, `"type": "class"` or `"function"`).
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentConfig {
    /// `id`, default `componentN` (N counting from 1), as in Crossbar.
    pub id: String,
    /// `realm` the component joins.
    pub realm: String,
    /// `role` it joins with (default `anonymous`).
    pub role: String,
    /// What it is.
    pub kind: ComponentKind,
}

/// The kind of a component.
#[derive(Debug, Clone, PartialEq)]
pub enum ComponentKind {
    /// `crossbar.bridge.rest.MessageForwarder` (or the older
    /// `crossbar.adapter.rest.MessageForwarder`): events → HTTP requests.
    MessageForwarder(MessageForwarder),
    /// `crossbar.bridge.rest.RESTCallee` (or `crossbar.adapter.rest.RESTCallee`):
    /// a procedure that makes an HTTP request.
    RestCallee(RestCallee),
    /// Any other class, or a `function` component: Python code (the
    /// router's run in the node's component host, a container's classes in
    /// its host).
    Python(PythonComponent),
}

/// The class names of the HTTP bridge subscriber.
pub const MESSAGE_FORWARDER_CLASSES: [&str; 2] = [
    "crossbar.bridge.rest.MessageForwarder",
    "crossbar.adapter.rest.MessageForwarder",
];
/// The class names of the HTTP bridge callee.
pub const REST_CALLEE_CLASSES: [&str; 2] = [
    "crossbar.bridge.rest.RESTCallee",
    "crossbar.adapter.rest.RESTCallee",
];

/// The HTTP bridge subscriber (`extra` of a MessageForwarder component).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageForwarder {
    /// `subscriptions`: which events go where.
    pub subscriptions: Vec<ForwardedTopic>,
    /// `method`: HTTP method of the requests (default `POST`).
    pub method: String,
    /// `expectedcode`: the status a request must answer, else an error is
    /// logged; `None`: not checked.
    pub expected_code: Option<u16>,
    /// `debug`: log response bodies (default false).
    pub debug: bool,
}

/// One subscription of a MessageForwarder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardedTopic {
    /// `topic`.
    pub topic: String,
    /// `match` (default `exact`).
    pub match_policy: MatchPolicy,
    /// `url`: where each event is sent, as JSON `{"args": [...], "kwargs": {...}}`.
    pub url: String,
}

/// The HTTP bridge callee (`extra` of a RESTCallee component).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestCallee {
    /// `procedure`: the URI registered.
    pub procedure: String,
    /// `baseurl`: the call's `url` argument is resolved against it.
    pub base_url: String,
}

/// A Python component.
#[derive(Debug, Clone, PartialEq)]
pub struct PythonComponent {
    /// `classname` (`type: class`) or `callbacks` (`type: function`).
    pub entry: PythonEntry,
    /// `extra`, given to the component.
    pub extra: Option<serde_json::Value>,
}

/// How a Python component is started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PythonEntry {
    /// `type: class`: the fully qualified class name.
    Class(String),
    /// `type: function`: callback name (`join`, `leave`, `connect`,
    /// `disconnect`) → fully qualified function name.
    Function(BTreeMap<String, String>),
    /// A `"type": "function"` authenticator of a transport: the host calls
    /// `create(config, None)` and registers the function it returns as
    /// `procedure` (see `config/load/auth_function.rs`).
    Authenticator {
        /// `create`: the fully qualified factory.
        create: String,
        /// `config`, given to the factory.
        config: Option<serde_json::Value>,
        /// The reserved procedure the router calls.
        procedure: String,
    },
}

impl ComponentKind {
    /// A short description for messages: the class name or `function`.
    pub fn describe(&self) -> String {
        match self {
            ComponentKind::MessageForwarder(_) => MESSAGE_FORWARDER_CLASSES[0].to_owned(),
            ComponentKind::RestCallee(_) => REST_CALLEE_CLASSES[0].to_owned(),
            ComponentKind::Python(PythonComponent {
                entry: PythonEntry::Class(c),
                ..
            }) => c.clone(),
            ComponentKind::Python(PythonComponent {
                entry: PythonEntry::Function(_),
                ..
            }) => "a function component".to_owned(),
            ComponentKind::Python(PythonComponent {
                entry: PythonEntry::Authenticator { create, .. },
                ..
            }) => format!("the function authenticator {create}"),
        }
    }
}

/// A worker other than the router.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerConfig {
    /// `id`, if given.
    pub id: Option<String>,
    /// Its ID when `id` is not given, as Crossbar names it: `workerNNN`
    /// (`worker001`, ...), counting the workers without an `id` (the router
    /// and disabled ones included) in list order.
    pub default_id: String,
    /// Position in the config's `workers` list (for messages).
    pub index: usize,
    /// What it is.
    pub kind: WorkerKind,
}

/// The kind of a worker.
#[derive(Debug, Clone, PartialEq)]
pub enum WorkerKind {
    /// `guest`: a process Junction starts and supervises.
    Guest(GuestWorker),
    /// `container`: components that connect to the router over a transport.
    Container(ContainerWorker),
    /// `websocket-testee`: a WebSocket echo server.
    WebSocketTestee(TesteeWorker),
}

impl WorkerConfig {
    /// Its ID: `id`, else [`WorkerConfig::default_id`].
    pub fn id(&self) -> &str {
        self.id.as_deref().unwrap_or(&self.default_id)
    }
}

impl WorkerKind {
    /// The worker `type` as written in the config.
    pub fn type_name(&self) -> &'static str {
        match self {
            WorkerKind::Guest(_) => "guest",
            WorkerKind::Container(_) => "container",
            WorkerKind::WebSocketTestee(_) => "websocket-testee",
        }
    }
}

/// A `guest` worker.
#[derive(Debug, Clone, PartialEq)]
pub struct GuestWorker {
    /// `executable`, as given. Crossbar runs `workdir/executable` when that
    /// is an executable file, else looks the name up in `PATH`.
    pub executable: String,
    /// `arguments`.
    pub arguments: Vec<String>,
    /// `options.workdir`, resolved against the node directory (default: the
    /// node directory).
    pub workdir: PathBuf,
    /// `options.env`.
    pub env: ProcessEnv,
    /// `options.stdin`.
    pub stdin: GuestStdin,
    /// `options.stdout` (default `log`).
    pub stdout: GuestOutput,
    /// `options.stderr` (default `log`).
    pub stderr: GuestOutput,
    /// `options.watch`: restart the guest when files change.
    pub watch: Option<GuestWatch>,
    /// `options.restart` (a Junction extension; Crossbar restarts no guest):
    /// what happens when the guest exits. Default [`GuestRestart::Never`].
    pub restart: GuestRestart,
    /// `options.stop_timeout` (a Junction extension): seconds a guest gets
    /// after SIGTERM (at shutdown, on a reload that removes or changes it)
    /// before it is killed. Default [`DEFAULT_GUEST_STOP_TIMEOUT_S`].
    pub stop_timeout_s: u64,
}

/// The default of a guest's `options.stop_timeout`, in seconds.
pub const DEFAULT_GUEST_STOP_TIMEOUT_S: u64 = 10;

/// `options.restart` of a guest (a Junction extension, with the values of
/// a container's `options.restart`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum GuestRestart {
    /// `restart-never` (the default, as Crossbar): an exit is logged.
    #[default]
    Never,
    /// `restart-on-failed`: started again after an exit with a non-zero
    /// status or by a signal.
    OnFailed,
    /// `restart-always`: started again after any exit.
    Always,
}

/// A worker process's environment (`options.env`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessEnv {
    /// `inherit`: which variables of Junction's own environment the process gets.
    pub inherit: EnvInherit,
    /// `vars`: variables set on top.
    pub vars: BTreeMap<String, String>,
}

impl Default for ProcessEnv {
    fn default() -> Self {
        ProcessEnv {
            inherit: EnvInherit::All,
            vars: BTreeMap::new(),
        }
    }
}

/// `options.env.inherit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvInherit {
    /// `true` (the default): everything.
    All,
    /// `false`: nothing.
    Nothing,
    /// A list: only these variables.
    Only(Vec<String>),
}

/// A guest's standard input (`options.stdin`).
#[derive(Debug, Clone, PartialEq)]
pub enum GuestStdin {
    /// Not given: left open, nothing written.
    Open,
    /// `"close"`: closed at start.
    Close,
    /// `{"type": "json" | "msgpack", "value": ..., "close": ...}`: the value
    /// is written (as JSON or MessagePack), then stdin is closed unless
    /// `close` is false.
    Json {
        /// `value`.
        value: serde_json::Value,
        /// `type` is `msgpack` (else `json`).
        msgpack: bool,
        /// `close` (default true).
        close: bool,
    },
}

/// What happens to a guest's standard output or error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestOutput {
    /// `log` (the default): each line goes to Junction's log.
    Log,
    /// `drop`: read and discarded.
    Drop,
    /// `close`: the pipe is closed.
    Close,
}

/// `options.watch` of a guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestWatch {
    /// `directories`, resolved against the node directory.
    pub directories: Vec<PathBuf>,
    /// `action: "restart"`: restart the guest on a change; `false` when no
    /// action is given (Crossbar then only watches).
    pub restart: bool,
    /// `timeout`: seconds the guest gets to stop before it is killed (default 1).
    pub timeout_s: u64,
}

/// A `container` worker.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerWorker {
    /// `components`.
    pub components: Vec<ContainerComponent>,
    /// `options.shutdown`.
    pub shutdown: ContainerShutdown,
    /// `options.restart`; `None`: not given.
    pub restart: Option<ContainerRestart>,
    /// `options.env`: the host process's environment (as a guest's).
    pub env: ProcessEnv,
    /// `options.python` (the host's interpreter) and `options.pythonpath`
    /// (where the component classes are imported from).
    pub python: crate::config::PythonOptions,
}

/// `options.shutdown` of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerShutdown {
    /// `shutdown-manual` (the default).
    Manual,
    /// `shutdown-on-last-component-stopped`.
    OnLastComponentStopped,
    /// `shutdown-on-any-component-failed`.
    OnAnyComponentFailed,
    /// `shutdown-on-any-component-stopped`.
    OnAnyComponentStopped,
}

impl ContainerShutdown {
    /// Its name in the config.
    pub fn name(self) -> &'static str {
        match self {
            ContainerShutdown::Manual => "shutdown-manual",
            ContainerShutdown::OnLastComponentStopped => "shutdown-on-last-component-stopped",
            ContainerShutdown::OnAnyComponentFailed => "shutdown-on-any-component-failed",
            ContainerShutdown::OnAnyComponentStopped => "shutdown-on-any-component-stopped",
        }
    }
}

/// `options.restart` of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerRestart {
    /// `restart-always`.
    Always,
    /// `restart-on-failed`.
    OnFailed,
    /// `restart-never`.
    Never,
}

/// A component of a container worker.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerComponent {
    /// `id`, default `componentN`.
    pub id: String,
    /// `realm`.
    pub realm: String,
    /// `transport`: how it reaches the router.
    pub transport: ConnectingTransport,
    /// What it is (HTTP bridge classes are recognised as for router components).
    pub kind: ComponentKind,
}

/// A connecting transport (a container component's `transport`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectingTransport {
    /// WebSocket or RawSocket.
    pub kind: ConnectingKind,
    /// Where to connect.
    pub endpoint: ConnectingEndpoint,
}

/// The protocol of a connecting transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectingKind {
    /// `websocket`.
    WebSocket {
        /// `url` (required).
        url: String,
        /// `serializers` (default all).
        serializers: Vec<Serializer>,
    },
    /// `rawsocket`.
    RawSocket {
        /// `serializer` (required).
        serializer: Serializer,
    },
}

/// A connecting endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectingEndpoint {
    /// `tcp`.
    Tcp {
        /// `host`.
        host: String,
        /// `port`.
        port: u16,
        /// `tls`: connect with TLS.
        tls: Option<ClientTls>,
        /// `timeout` in seconds (0 – 600; default 10).
        timeout_s: u64,
    },
    /// `unix`.
    Unix {
        /// `path`, resolved against the node directory (as Crossbar does).
        path: PathBuf,
        /// `timeout` in seconds.
        timeout_s: u64,
    },
}

/// TLS of a connecting endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTls {
    /// `hostname` the server certificate must name (required).
    pub hostname: String,
    /// `ca_certificates`, resolved against the node directory.
    pub ca_certificates: Vec<PathBuf>,
    /// `certificate`: client certificate, resolved against the node directory.
    pub certificate: Option<PathBuf>,
    /// `key`: client key, resolved against the node directory.
    pub key: Option<PathBuf>,
}

/// A `websocket-testee` worker.
#[derive(Debug, Clone, PartialEq)]
pub struct TesteeWorker {
    /// `transport.id`, default `transport1`.
    pub transport_id: String,
    /// `transport.endpoint`.
    pub endpoint: Endpoint,
    /// `transport.options`.
    pub options: WebSocketOptions,
}
