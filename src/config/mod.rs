//! Node configuration: the typed model the router and runtime are built from,
//! and the loader for Crossbar.io's node config format. It imports only
//! `proto` (serializers, URI rules); every layer above reads it.
//!
//! The loader turns a `.crossbar/config.json` / YAML file (or the embedded
//! default) into [`Config`]; nothing outside this module reads config files.
//! It reads Crossbar's format as it is (see `docs/config.md`): keys that only
//! matter to Crossbar's Python runtime are accepted with a warning
//! ([`Config::warnings`]); wrong values and unknown keys are errors that name
//! the key's JSON path. `${VAR}` in any string value reads the environment
//! variable `VAR`; relative file paths are resolved against the node
//! directory (the config file's directory), as Crossbar does.
//!
//! What parses but the runtime does not do yet is listed in ONE place,
//! `support.rs` ([`Config::unsupported`]): `junction start` refuses such a
//! config and `junction check` reports each item. A feature that lands
//! deletes its line there.
//!
//! - `error.rs`: [`ConfigError`] and [`ConfigIssue`];
//! - the model: this file (the node, realms, roles, limits), `transport.rs`
//!   (listeners, endpoints, TLS), `wamp.rs` (WebSocket and RawSocket
//!   services),
//!   [`auth`] (authentication methods, cookies, [`Secret`](auth::Secret)),
//!   [`web`] (web transport paths), [`mqtt`], [`worker`] (components, guest,
//!   container and testee workers);
//! - `path.rs`: JSON paths (`workers[0].realms[1]`) and items located by them,
//!   shared by the walk, the checks and the gap list;
//! - `load/`: the walk over the parsed JSON value, building the model;
//! - [`node_dir`]: which config file a command reads (`--config`, `--cbdir`,
//!   `./.crossbar`) and `junction init`'s template;
//! - `check.rs`: cross-item checks (duplicates, port clashes, references) after the walk;
//! - `support.rs`: the gap list;
//! - `tests/`: loader tests over the sample files in `tests/config_files/`.

pub mod auth;
mod check;
mod error;
mod load;
pub mod mqtt;
pub mod node_dir;
mod path;
mod support;
#[cfg(test)]
mod tests;
mod transport;
mod wamp;
pub mod web;
pub mod worker;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use error::{ConfigError, ConfigIssue, IssueKind};
pub use transport::{
    ClientCertificates, DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS, DeflateParams, Endpoint, RealmRoutes,
    ServiceKind, TlsConfig, TlsVersion, TransportAuth, TransportConfig, TransportKind,
    UniversalTransport,
};
pub use wamp::{
    RawSocketOptions, RawSocketService, WampService, WebSocketOptions, WebSocketService,
};
pub use web::WebPaths;

use crate::proto::Serializer;
use crate::proto::uri::{MatchPolicy, UriCheck};
use worker::{ComponentConfig, WorkerConfig};

/// Default for [`Limits::max_message_size`]: 16 MiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 * 1024 * 1024;
/// Default for [`Limits::outbound_queue_bytes`]: 32 MiB per session.
pub const DEFAULT_OUTBOUND_QUEUE_BYTES: usize = 32 * 1024 * 1024;
/// Default for [`Limits::max_sessions_per_shard`].
pub const DEFAULT_MAX_SESSIONS_PER_SHARD: usize = 1_000_000;

/// A whole node: realms, listening transports and limits.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Realms served; a HELLO for any other realm gets ABORT `wamp.error.no_such_realm`.
    pub realms: Vec<RealmConfig>,
    /// Listening endpoints.
    pub transports: Vec<TransportConfig>,
    /// Router-wide limits.
    pub limits: Limits,
    /// Shard count override from the config (`--shards` on the CLI wins).
    pub shards: Option<usize>,
    /// Warnings produced while loading (ignored Crossbar-only keys, and
    /// settings the runtime does not use yet), one line each.
    pub warnings: Vec<String>,
    /// Roles whose permissions a dynamic authorizer decides (role
    /// `authorizer`). Such a role is also in its realm's `roles`, with no
    /// permissions. Kept here rather than on [`RoleConfig`] so that the
    /// routing core's tests, which build `RoleConfig` literally, did not have
    /// to change with this field; move it there when the core next changes.
    pub role_authorizers: Vec<RoleAuthorizer>,
    /// The router's `components`, in order.
    pub components: Vec<ComponentConfig>,
    /// Workers other than the router (guest, container, websocket-testee), in order.
    pub workers: Vec<WorkerConfig>,
    /// The router worker's Python settings (`options.python`,
    /// `options.pythonpath`), for `wsgi` services.
    pub python: PythonOptions,
    /// The node directory: relative paths in the config were resolved
    /// against it (the config file's directory; `.` for a config not read
    /// from a file).
    pub node_dir: PathBuf,
    /// Position of the router in the config's `workers` list (for messages).
    pub router_index: usize,
    /// Process-level settings: graceful shutdown, control socket, metrics.
    pub node: NodeOptions,
}

/// Default for [`NodeOptions::shutdown_timeout`]: 10 s.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// The process's own settings (`junction` block): how it drains, where its
/// control socket lives, whether it measures routing latency.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeOptions {
    /// How long a graceful shutdown (SIGTERM) waits, after every session got
    /// GOODBYE, for the clients to answer and leave; the rest are then cut
    /// (`shutdown_timeout`, seconds).
    pub shutdown_timeout: Duration,
    /// The control socket (`junction status`, `junction reload`); `None`:
    /// `junction.sock` in the runtime directory (`$RUNTIME_DIRECTORY`, else
    /// `$XDG_RUNTIME_DIR/junction`, else `/tmp/junction-<uid>`).
    pub control_socket: Option<PathBuf>,
    /// Whether the routing latency histogram is measured (`metrics`; one
    /// clock read per routed PUBLISH and CALL). Counters are always kept.
    pub metrics: bool,
    /// Connection placement (`pack_connections`): 0 leaves each connection
    /// on the shard whose listener the kernel's `SO_REUSEPORT` hash picked;
    /// N ≥ 1 places each new connection on a shard chosen by the router:
    /// the lowest shard with fewer than N connections (a light load stays
    /// on one shard and pays no cross-CPU wake-ups), and once every shard
    /// holds N, the shard with the fewest connections.
    pub pack_connections: usize,
    /// Write coalescing (`write_coalesce_us`; zero: off, the default): a
    /// connection holds its first message after an empty queue back this
    /// long so that one write carries what follows (`transport::hold`).
    pub write_coalesce: Duration,
    /// How long the node holds its clients back at the start while the
    /// router's Python components join (`components_timeout`, seconds; zero:
    /// accept at once). Crossbar starts a router's components before its
    /// transports; so does Junction, up to this long (node::run).
    pub components_timeout: Duration,
    /// Whether a container worker's end ends the node: Crossbar's node
    /// shutdown triggers (`controller.options.shutdown`).
    pub worker_exit: WorkerExitShutdown,
}

/// What a container worker's end does to the node: Crossbar's node shutdown
/// triggers (`controller.options.shutdown`), as far as Junction has workers
/// that end by themselves. Crossbar counts every native worker (router,
/// container, proxy); Junction's router and proxies end only with the node,
/// so a container's host process is the one that can end first. A guest's
/// end never counts (nor does it in Crossbar).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WorkerExitShutdown {
    /// `shutdown_on_worker_exit` (Crossbar's default, when the config names
    /// no trigger): any end of a container's host that the node did not ask
    /// for shuts the node down.
    #[default]
    Any,
    /// `shutdown_on_worker_exit_with_error`: only an end with a failure.
    Failed,
    /// Neither of the two (`shutdown_on_shutdown_requested`, and
    /// `shutdown_on_last_worker_exit`: the router never ends by itself): the
    /// node runs on.
    Never,
}

/// Default for [`NodeOptions::components_timeout`]: 10 s (the components'
/// own connect timeout).
pub const DEFAULT_COMPONENTS_TIMEOUT: Duration = Duration::from_secs(10);

/// Default for [`NodeOptions::pack_connections`] (BENCHMARKS.md,
/// "Connection placement").
pub const DEFAULT_PACK_CONNECTIONS: usize = 32;

/// Upper bound for [`NodeOptions::write_coalesce`]: 100 ms.
pub const MAX_WRITE_COALESCE: Duration = Duration::from_millis(100);

/// Upper bound for [`NodeOptions::pack_connections`].
pub const MAX_PACK_CONNECTIONS: usize = 1 << 20;

impl Default for NodeOptions {
    fn default() -> Self {
        NodeOptions {
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            control_socket: None,
            metrics: true,
            pack_connections: DEFAULT_PACK_CONNECTIONS,
            write_coalesce: Duration::ZERO,
            components_timeout: DEFAULT_COMPONENTS_TIMEOUT,
            worker_exit: WorkerExitShutdown::default(),
        }
    }
}

/// A role whose permissions come from a dynamic authorizer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleAuthorizer {
    /// The realm.
    pub realm: String,
    /// The role.
    pub role: String,
    /// `authorizer`: the procedure the router calls with (session details,
    /// URI, action, options) and whose answer (bool or
    /// `{allow, disclose, cache}`) it obeys.
    pub authorizer: String,
}

/// The router worker's Python settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PythonOptions {
    /// `options.python`: the interpreter (Crossbar wants an absolute path).
    pub executable: Option<PathBuf>,
    /// `options.pythonpath`: directories added to the module search path,
    /// resolved against the node directory.
    pub path: Vec<PathBuf>,
    /// The router's `options.env`: the environment of the host process of
    /// its Python components (`None`: not given; a container's is its own
    /// `ContainerWorker::env`).
    pub env: Option<worker::ProcessEnv>,
}

/// URIs under this prefix belong to the router: only its own sessions may
/// call there, and only sessions of [`AUTHENTICATOR_ROLE`] may register
/// there (`core/dispatch.rs`; see `config/load/auth_function.rs`).
pub const RESERVED_PREFIX: &str = "junction.internal.";

/// The role of the router components' hidden sessions that register
/// function authenticators (reserved: a realm may not define it).
pub const AUTHENTICATOR_ROLE: &str = "junction.authenticator";

/// One realm.
#[derive(Debug, Clone, PartialEq)]
pub struct RealmConfig {
    /// The realm's name (a URI).
    pub name: String,
    /// URI validation for this realm (`options.uri_check`).
    pub uri_check: UriCheck,
    /// Roles and their static permissions.
    pub roles: Vec<RoleConfig>,
    /// Event history and persistence of history and retained events (realm `store`).
    pub store: StoreConfig,
    /// `junction.prefer_local_callee` (Junction extension): a `roundrobin`
    /// or `random` call goes to a callee on the caller's shard when there is
    /// one, so that it never crosses shards; the policy then rotates or
    /// draws among those callees only.
    pub prefer_local_callee: bool,
    /// Registrations whose calls wait for a free callee when every callee
    /// has as many invocations in flight as its `concurrency` allows (the
    /// store's `call-queue`), with how many calls may wait.
    pub call_queue: Vec<CallQueueConfig>,
}

/// One `call-queue` entry of a realm's store: calls to registrations matching
/// (uri, match) wait, at most `limit` of them per registration and caller shard,
/// while every callee is at its `concurrency`.
#[derive(Debug, Clone, PartialEq)]
pub struct CallQueueConfig {
    /// The procedure or pattern, compared with the registration's URI.
    pub uri: String,
    /// Its match policy.
    pub match_policy: MatchPolicy,
    /// How many calls may wait.
    pub limit: usize,
}

/// A realm's event store (Crossbar's realm `store`): which topics keep an
/// event history, and whether history and retained events survive a restart.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreConfig {
    /// `None`: in memory only (`"type": "memory"`, the default); `Some(dir)`:
    /// a write-ahead log per realm in this directory (`"type": "file"`).
    pub path: Option<PathBuf>,
    /// Log size in bytes past which the log is compacted (`maxsize`).
    pub max_size: u64,
    /// Subscriptions (topic patterns) whose events are kept (`event-history`).
    pub event_history: Vec<HistoryConfig>,
    /// When the log's writer syncs (`junction.fsync`, `junction.fsync-interval`).
    pub fsync: FsyncPolicy,
    /// Records that may wait for the log's writer (`junction.queue`); past
    /// that, records are not persisted (counted and logged).
    pub queue: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            path: None,
            max_size: DEFAULT_STORE_MAX_SIZE,
            event_history: Vec::new(),
            fsync: FsyncPolicy::default(),
            queue: DEFAULT_STORE_QUEUE,
        }
    }
}

/// When a store's writer makes what it wrote durable (realm
/// `store.junction.fsync`). Every batch is written (handed to the kernel) as
/// soon as it is taken, so a process crash (`kill -9`) loses only what was
/// still queued; the policy decides what a power cut or kernel crash loses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// `"always"`: every batch is synced (`fdatasync`) before it is acknowledged.
    Always,
    /// `"interval"`: synced at most once per this interval while something is unsynced.
    Interval(Duration),
    /// `"never"`: the OS writes dirty pages back when it chooses.
    Never,
}

impl Default for FsyncPolicy {
    fn default() -> Self {
        FsyncPolicy::Interval(Duration::from_millis(DEFAULT_FSYNC_INTERVAL_MS))
    }
}

/// Default `store.junction.fsync-interval`, in milliseconds.
pub const DEFAULT_FSYNC_INTERVAL_MS: u64 = 1000;

/// Default `store.junction.queue`: records waiting for the store's writer.
pub const DEFAULT_STORE_QUEUE: usize = 65_536;

/// Default for [`StoreConfig::max_size`]: 128 MiB (Crossbar's default `maxsize`).
pub const DEFAULT_STORE_MAX_SIZE: u64 = 128 * 1024 * 1024;

/// Default per-subscription history length (Crossbar's store `limit` default).
pub const DEFAULT_HISTORY_LIMIT: usize = 100;

/// One `event-history` entry: the last `limit` events of subscription (uri, match).
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryConfig {
    /// The topic or pattern.
    pub uri: String,
    /// Its match policy.
    pub match_policy: MatchPolicy,
    /// How many events are kept.
    pub limit: usize,
}

/// A role with static permissions.
#[derive(Debug, Clone, PartialEq)]
pub struct RoleConfig {
    /// The role's name (the session's `authrole`).
    pub name: String,
    /// Permission rules.
    pub permissions: Vec<Permission>,
    /// Trust level given to this role's publications and calls
    /// (`"junction": {"trustlevel": N}` on the role); `None`: none announced.
    pub trustlevel: Option<u64>,
}

/// One permission rule of a role.
#[derive(Debug, Clone, PartialEq)]
pub struct Permission {
    /// The URI or pattern the rule covers (`""` with prefix match covers everything).
    pub uri: String,
    /// How `uri` is matched against the URI of an action.
    pub match_policy: MatchPolicy,
    /// Which actions are allowed.
    pub allow: Allow,
    /// Which identities are disclosed.
    pub disclose: Disclose,
}

impl Permission {
    /// Every action on every URI, nothing disclosed (a role's
    /// `allow-by-default: true`, and the embedded default's `anonymous`).
    pub fn allow_all() -> Permission {
        Permission {
            uri: String::new(),
            match_policy: MatchPolicy::Prefix,
            allow: Allow {
                call: true,
                register: true,
                publish: true,
                subscribe: true,
            },
            disclose: Disclose::default(),
        }
    }
}

/// Allowed actions of a [`Permission`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Allow {
    /// CALL.
    pub call: bool,
    /// REGISTER.
    pub register: bool,
    /// PUBLISH.
    pub publish: bool,
    /// SUBSCRIBE.
    pub subscribe: bool,
}

/// Identity disclosure of a [`Permission`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Disclose {
    /// Disclose the caller to callees.
    pub caller: bool,
    /// Disclose the publisher to subscribers.
    pub publisher: bool,
}

/// Router-wide limits. Every limit is enforced; see the README's limits table.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Largest WAMP message accepted from a client, in bytes.
    pub max_message_size: usize,
    /// Bytes queued for one session before it counts as a slow consumer and is closed.
    pub outbound_queue_bytes: usize,
    /// Sessions one shard accepts; further connections are refused.
    pub max_sessions_per_shard: usize,
    /// Bytes all offline MQTT sessions together may queue (node-wide bound
    /// of the MQTT offline store).
    pub mqtt_offline_store_bytes: u64,
    /// Persistent MQTT sessions the node keeps, their clients connected or
    /// away (node-wide); a CONNECT that would start one more is refused.
    pub mqtt_offline_store_sessions: usize,
    /// Authentication: dynamic authenticator timeout, failed-login rate
    /// limit, sizes of what clients send (`junction.auth`).
    pub auth: auth::AuthSettings,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            outbound_queue_bytes: DEFAULT_OUTBOUND_QUEUE_BYTES,
            max_sessions_per_shard: DEFAULT_MAX_SESSIONS_PER_SHARD,
            mqtt_offline_store_bytes: mqtt::DEFAULT_MQTT_OFFLINE_STORE_BYTES,
            mqtt_offline_store_sessions: mqtt::DEFAULT_MQTT_OFFLINE_STORE_SESSIONS,
            auth: auth::AuthSettings::default(),
        }
    }
}

impl Config {
    /// The embedded default: realm `realm1` where role `anonymous` may do
    /// everything, WebSocket on `ws://127.0.0.1:8080/ws`, RawSocket on
    /// `127.0.0.1:8081`, MQTT on `127.0.0.1:1883` and over WebSocket on
    /// `ws://127.0.0.1:8080/mqtt` (passthrough payloads, realm `realm1`),
    /// all serializers, anonymous authentication.
    pub fn embedded_default() -> Config {
        let mqtt = mqtt::MqttService {
            realm: "realm1".to_owned(),
            role: "anonymous".to_owned(),
            payload_mapping: [(String::new(), mqtt::PayloadFormat::PASSTHROUGH)].into(),
            auth: auth::AuthConfig::default(),
            limits: mqtt::MqttLimits::default(),
            trustlevel: None,
        };
        let all = Allow {
            call: true,
            register: true,
            publish: true,
            subscribe: true,
        };
        Config {
            realms: vec![RealmConfig {
                name: "realm1".to_owned(),
                uri_check: UriCheck::Loose,
                roles: vec![RoleConfig {
                    name: "anonymous".to_owned(),
                    permissions: vec![Permission {
                        uri: String::new(),
                        match_policy: MatchPolicy::Prefix,
                        allow: all,
                        disclose: Disclose::default(),
                    }],
                    trustlevel: None,
                }],
                store: StoreConfig::default(),
                prefer_local_callee: false,
                call_queue: Vec::new(),
            }],
            transports: vec![
                TransportConfig::new(
                    "ws".to_owned(),
                    TransportKind::Web(web::WebTransport {
                        paths: WebPaths::from([
                            (
                                "ws".to_owned(),
                                web::WebService::WebSocket(WebSocketService {
                                    options: WebSocketOptions {
                                        path: Some("/ws".to_owned()),
                                        ..WebSocketOptions::default()
                                    },
                                    wamp: WampService {
                                        serializers: vec![
                                            Serializer::Json,
                                            Serializer::MsgPack,
                                            Serializer::Cbor,
                                        ],
                                        ..WampService::default()
                                    },
                                    cookie: None,
                                }),
                            ),
                            ("mqtt".to_owned(), web::WebService::Mqtt(mqtt.clone())),
                        ]),
                        options: web::WebOptions::default(),
                        http: web::HttpLimits::default(),
                    }),
                    Endpoint::Tcp {
                        host: "127.0.0.1".to_owned(),
                        port: 8080,
                    },
                ),
                TransportConfig::new(
                    "rawsocket".to_owned(),
                    TransportKind::RawSocket(RawSocketService {
                        options: RawSocketOptions::default(),
                        wamp: WampService {
                            serializers: vec![
                                Serializer::Json,
                                Serializer::MsgPack,
                                Serializer::Cbor,
                            ],
                            ..WampService::default()
                        },
                    }),
                    Endpoint::Tcp {
                        host: "127.0.0.1".to_owned(),
                        port: 8081,
                    },
                ),
                TransportConfig::new(
                    "mqtt".to_owned(),
                    TransportKind::Mqtt(mqtt),
                    Endpoint::Tcp {
                        host: "127.0.0.1".to_owned(),
                        port: 1883,
                    },
                ),
            ],
            limits: Limits::default(),
            shards: None,
            warnings: Vec::new(),
            role_authorizers: Vec::new(),
            components: Vec::new(),
            workers: Vec::new(),
            python: PythonOptions::default(),
            node_dir: PathBuf::from("."),
            router_index: 0,
            node: NodeOptions::default(),
        }
    }
}

/// The kind of file [`Config::from_file`] reads, chosen by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileFormat {
    Json,
    Yaml,
    /// Unknown extension: JSON first, then YAML.
    Guess,
}

/// Where a config's relative paths and `${VAR}` references are resolved.
pub struct LoadContext<'a> {
    /// The node directory (Crossbar's `cbdir`): relative paths (TLS keys,
    /// static directories, cookie files, ...) are taken relative to it.
    pub node_dir: &'a Path,
    /// Looks up an environment variable (`None`: not set).
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

/// The process environment; variables that are not UTF-8 count as not set.
fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

impl Config {
    /// Loads a Crossbar-format node config from `path`: `.json` as JSON,
    /// `.yaml`/`.yml` as YAML, anything else as JSON and then as YAML. The
    /// node directory is the file's directory; `${VAR}` reads the process
    /// environment.
    ///
    /// The result may still use features the runtime does not have yet:
    /// see [`Config::unsupported`].
    ///
    /// # Errors
    /// [`ConfigError::Read`] when the file cannot be read,
    /// [`ConfigError::Syntax`] when it is not valid JSON/YAML, and
    /// [`ConfigError::Invalid`] listing every key that is wrong (and, with
    /// them, every feature not supported yet), each with its JSON path.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        let format = match ext.as_deref() {
            Some("json") => FileFormat::Json,
            Some("yaml" | "yml") => FileFormat::Yaml,
            _ => FileFormat::Guess,
        };
        let value = match format {
            FileFormat::Json => parse_json(&text)?,
            FileFormat::Yaml => parse_yaml(&text)?,
            FileFormat::Guess => match parse_json(&text) {
                Ok(v) => v,
                Err(json_err) => match parse_yaml(&text) {
                    Ok(v) => v,
                    // Report the error of the syntax the text most looks like.
                    Err(yaml_err) if !text.trim_start().starts_with('{') => return Err(yaml_err),
                    Err(_) => return Err(json_err),
                },
            },
        };
        let node_dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        // Absolute, so that what is resolved against it stays right for the
        // guest workers, which run in the node directory (`--cbdir .crossbar`
        // or a relative `--config` made their `pythonpath` point nowhere).
        let node_dir = std::path::absolute(node_dir).unwrap_or_else(|_| node_dir.to_owned());
        Config::from_value_in(
            &value,
            &LoadContext {
                node_dir: &node_dir,
                env: &process_env,
            },
        )
    }

    /// Loads a Crossbar-format node config from JSON text (node directory `.`).
    ///
    /// # Errors
    /// As [`Config::from_file`], without [`ConfigError::Read`].
    pub fn from_json_str(s: &str) -> Result<Config, ConfigError> {
        Config::from_value(&parse_json(s)?)
    }

    /// Loads a Crossbar-format node config from YAML text (node directory `.`).
    ///
    /// # Errors
    /// As [`Config::from_file`], without [`ConfigError::Read`].
    pub fn from_yaml_str(s: &str) -> Result<Config, ConfigError> {
        Config::from_value(&parse_yaml(s)?)
    }

    /// Builds a config from an already parsed Crossbar-format document
    /// (node directory `.`, the process environment).
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] listing every wrong key.
    pub fn from_value(value: &serde_json::Value) -> Result<Config, ConfigError> {
        Config::from_value_in(
            value,
            &LoadContext {
                node_dir: Path::new("."),
                env: &process_env,
            },
        )
    }

    /// Builds a config from a parsed document with an explicit node
    /// directory and environment.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] listing every wrong key.
    pub fn from_value_in(
        value: &serde_json::Value,
        ctx: &LoadContext<'_>,
    ) -> Result<Config, ConfigError> {
        load::load(value, ctx)
    }

    /// Every feature this config uses that the runtime does not have yet,
    /// one [`IssueKind::Unsupported`] issue each, naming its JSON path (the
    /// list is in `src/config/support.rs`). Empty when the config can run.
    pub fn unsupported(&self) -> Vec<ConfigIssue> {
        support::unsupported(self)
    }

    /// `Ok` when [`Config::unsupported`] is empty.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] with the unsupported features.
    pub fn ensure_supported(&self) -> Result<(), ConfigError> {
        let issues = self.unsupported();
        if issues.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(issues))
        }
    }

    /// The dynamic authorizer of `role` in `realm`, if it has one.
    pub fn role_authorizer(&self, realm: &str, role: &str) -> Option<&str> {
        self.role_authorizers
            .iter()
            .find(|a| a.realm == realm && a.role == role)
            .map(|a| a.authorizer.as_str())
    }
}

fn parse_json(s: &str) -> Result<serde_json::Value, ConfigError> {
    serde_json::from_str(s).map_err(|e| ConfigError::Syntax {
        format: "JSON",
        message: e.to_string(),
    })
}

fn parse_yaml(s: &str) -> Result<serde_json::Value, ConfigError> {
    serde_yaml_ng::from_str(s).map_err(|e| ConfigError::Syntax {
        format: "YAML",
        message: e.to_string(),
    })
}
