//! Node configuration: the typed model the router and runtime are built from,
//! and the loader for Crossbar.io's node config format.
//!
//! The loader turns a `.crossbar/config.json` / YAML file (or the embedded
//! default) into [`Config`]; nothing outside this module reads config files.
//! It accepts a documented subset of Crossbar's format (see `docs/config.md`):
//! keys that only matter to Crossbar's Python runtime are accepted with a
//! warning ([`Config::warnings`]); features Junction does not have yet are
//! errors that name the key's JSON path, never silently ignored.
//!
//! - `error.rs`: [`ConfigError`] and [`ConfigIssue`];
//! - `load/`: the walk over the parsed JSON value, building the model
//!   (`realm.rs`: realms, roles, permissions; `transport.rs`: transports);
//! - `tests.rs`: loader tests over the sample files in `tests/config_files/`;
//! - `check.rs`: cross-item checks (duplicates, port clashes) after the walk.

mod check;
mod error;
mod load;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use error::{ConfigError, ConfigIssue, IssueKind};

use crate::proto::Serializer;
use crate::proto::uri::{MatchPolicy, UriCheck};

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
    /// Warnings produced while loading (ignored Crossbar-only keys), one line each.
    pub warnings: Vec<String>,
}

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

/// A listening transport.
#[derive(Debug, Clone, PartialEq)]
pub struct TransportConfig {
    /// Transport ID from the config (`id`), or a generated one, for logs.
    pub id: String,
    /// WebSocket or RawSocket.
    pub kind: TransportKind,
    /// Where to listen.
    pub endpoint: Endpoint,
    /// Serializers offered, in preference order.
    pub serializers: Vec<Serializer>,
    /// Authentication accepted on this transport.
    pub auth: TransportAuth,
}

/// The protocol a transport speaks.
#[derive(Debug, Clone, PartialEq)]
pub enum TransportKind {
    /// WebSocket (`websocket`, or a `web` transport's websocket path).
    WebSocket(WebSocketOptions),
    /// RawSocket (`rawsocket`).
    RawSocket(RawSocketOptions),
}

/// WebSocket options (Crossbar's `options` on a websocket transport).
#[derive(Debug, Clone, PartialEq)]
pub struct WebSocketOptions {
    /// The HTTP path the WebSocket is served on (`/ws`); `None` accepts any path.
    pub path: Option<String>,
    /// Largest message accepted; larger ones close with 1009.
    pub max_message_size: usize,
    /// Largest single frame accepted.
    pub max_frame_size: usize,
    /// Send a WebSocket ping after this many ms without traffic (0 = off).
    pub auto_ping_interval_ms: u64,
    /// Close when a ping is not answered within this many ms (0 = off).
    pub auto_ping_timeout_ms: u64,
    /// Close when the opening handshake takes longer than this many ms (0 = off).
    pub open_handshake_timeout_ms: u64,
}

impl Default for WebSocketOptions {
    fn default() -> Self {
        WebSocketOptions {
            path: None,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            max_frame_size: DEFAULT_MAX_MESSAGE_SIZE,
            auto_ping_interval_ms: 0,
            auto_ping_timeout_ms: 0,
            open_handshake_timeout_ms: 10_000,
        }
    }
}

/// RawSocket options.
#[derive(Debug, Clone, PartialEq)]
pub struct RawSocketOptions {
    /// Largest message the router accepts (announced in the handshake, rounded
    /// down to a power of two between 512 B and 16 MiB).
    pub max_message_size: usize,
    /// Close when the 4-byte handshake takes longer than this many ms (0 = off).
    pub open_handshake_timeout_ms: u64,
}

impl Default for RawSocketOptions {
    fn default() -> Self {
        RawSocketOptions {
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            open_handshake_timeout_ms: 10_000,
        }
    }
}

/// Where a transport listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// TCP on `host:port` (port 0 picks a free port).
    Tcp {
        /// Interface address or host name.
        host: String,
        /// Port.
        port: u16,
    },
    /// A Unix domain socket at `path`.
    Unix {
        /// Socket path.
        path: PathBuf,
    },
}

/// Authentication accepted on a transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportAuth {
    /// Anonymous authentication: the role given, or `None` when not allowed.
    pub anonymous_role: Option<String>,
    /// Trust level of sessions joined over this transport (transport
    /// `"junction": {"trustlevel": N}`), used when their role sets none.
    pub trustlevel: Option<u64>,
}

impl Default for TransportAuth {
    fn default() -> Self {
        TransportAuth {
            anonymous_role: Some("anonymous".to_owned()),
            trustlevel: None,
        }
    }
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
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            outbound_queue_bytes: DEFAULT_OUTBOUND_QUEUE_BYTES,
            max_sessions_per_shard: DEFAULT_MAX_SESSIONS_PER_SHARD,
        }
    }
}

impl Config {
    /// The embedded default: realm `realm1` where role `anonymous` may do
    /// everything, WebSocket on `ws://127.0.0.1:8080/ws`, RawSocket on
    /// `127.0.0.1:8081`, all serializers, anonymous authentication.
    pub fn embedded_default() -> Config {
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
            }],
            transports: vec![
                TransportConfig {
                    id: "ws".to_owned(),
                    kind: TransportKind::WebSocket(WebSocketOptions {
                        path: Some("/ws".to_owned()),
                        ..WebSocketOptions::default()
                    }),
                    endpoint: Endpoint::Tcp {
                        host: "127.0.0.1".to_owned(),
                        port: 8080,
                    },
                    serializers: Serializer::ALL.to_vec(),
                    auth: TransportAuth::default(),
                },
                TransportConfig {
                    id: "rawsocket".to_owned(),
                    kind: TransportKind::RawSocket(RawSocketOptions::default()),
                    endpoint: Endpoint::Tcp {
                        host: "127.0.0.1".to_owned(),
                        port: 8081,
                    },
                    serializers: Serializer::ALL.to_vec(),
                    auth: TransportAuth::default(),
                },
            ],
            limits: Limits::default(),
            shards: None,
            warnings: Vec::new(),
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

impl Config {
    /// Loads a Crossbar-format node config from `path`: `.json` as JSON,
    /// `.yaml`/`.yml` as YAML, anything else as JSON and then as YAML.
    ///
    /// # Errors
    /// [`ConfigError::Read`] when the file cannot be read,
    /// [`ConfigError::Syntax`] when it is not valid JSON/YAML, and
    /// [`ConfigError::Invalid`] listing every key that is wrong or not
    /// supported, each with its JSON path.
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
        Config::from_value(&value)
    }

    /// Loads a Crossbar-format node config from JSON text.
    ///
    /// # Errors
    /// As [`Config::from_file`], without [`ConfigError::Read`].
    pub fn from_json_str(s: &str) -> Result<Config, ConfigError> {
        Config::from_value(&parse_json(s)?)
    }

    /// Loads a Crossbar-format node config from YAML text.
    ///
    /// # Errors
    /// As [`Config::from_file`], without [`ConfigError::Read`].
    pub fn from_yaml_str(s: &str) -> Result<Config, ConfigError> {
        Config::from_value(&parse_yaml(s)?)
    }

    /// Builds a config from an already parsed Crossbar-format document.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] listing every wrong or unsupported key.
    pub fn from_value(value: &serde_json::Value) -> Result<Config, ConfigError> {
        load::load(value)
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
