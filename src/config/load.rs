//! The walk over a parsed Crossbar node config (a [`serde_json::Value`]; YAML
//! is parsed into the same type), building the [`Config`] model.
//!
//! Every object is checked against a key table ([`Key`]): keys Junction reads,
//! keys it ignores silently, keys it ignores with a warning, and keys that
//! name a feature it does not have yet (errors). Unknown keys are errors, as
//! in Crossbar's own checker. The walk collects every problem instead of
//! stopping at the first, each with its JSON path; the cross-item checks in
//! `check.rs` run only when the walk found nothing wrong.

use std::net::IpAddr;
use std::path::PathBuf;

use serde_json::{Map, Value};

use super::check::{self, Located};
use super::error::{ConfigError, ConfigIssue, IssueKind};
use super::{
    Allow, Config, Disclose, Endpoint, Limits, Permission, RawSocketOptions, RealmConfig,
    RoleConfig, TransportAuth, TransportConfig, TransportKind, WebSocketOptions,
};
use crate::proto::Serializer;
use crate::proto::uri::{MatchPolicy, UriCheck};

type Obj = Map<String, Value>;

/// Crossbar's limit for `max_message_size` on transports: 64 MiB.
const CROSSBAR_MAX_MESSAGE_SIZE: u64 = 64 * 1024 * 1024;

/// Upper bound for the `junction` byte limits: 1 GiB.
const MAX_LIMIT_BYTES: u64 = 1 << 30;

/// Upper bound for `junction.shards`.
const MAX_SHARDS: u64 = 1024;

/// Warning text for worker options that only Crossbar's Python processes use.
const PYTHON_ONLY: &str = "ignored: only meaningful to Crossbar's Python worker processes";

/// Warning text for WebSocket tuning options Junction does not offer.
const WS_TUNING: &str = "ignored: WebSocket tuning option Junction does not offer";

/// What the loader does with a key of an object.
#[derive(Debug, Clone, Copy)]
enum Key {
    /// Read (and checked) by the handler of the object.
    Read,
    /// Accepted and ignored without a word.
    Ignore,
    /// Accepted and ignored; the warning says why.
    Warn(&'static str),
    /// A feature Junction does not have yet: an error "`<what>` is not supported yet".
    Unsupported(&'static str),
}

/// Where the walk keeps what it found.
#[derive(Debug, Default)]
struct Loader {
    issues: Vec<ConfigIssue>,
    warnings: Vec<String>,
}

/// The `junction` extension block: Junction-only limits.
#[derive(Debug, Clone, Default)]
struct JunctionExt {
    max_message_size: Option<usize>,
    outbound_queue_bytes: Option<usize>,
    max_sessions_per_shard: Option<usize>,
    shards: Option<usize>,
}

/// What one router worker produced.
#[derive(Debug, Default)]
struct Router {
    realms: Vec<Located<RealmConfig>>,
    transports: Vec<Located<TransportConfig>>,
    limits: Limits,
    shards: Option<usize>,
}

/// Builds the config from a parsed document.
pub(super) fn load(root: &Value) -> Result<Config, ConfigError> {
    let mut l = Loader::default();
    let router = l.root(root);
    if l.issues.is_empty() {
        if let Some(router) = &router {
            check::check(
                &router.realms,
                &router.transports,
                &mut l.issues,
                &mut l.warnings,
            );
        }
    }
    match router {
        Some(router) if l.issues.is_empty() => Ok(Config {
            realms: router.realms.into_iter().map(|r| r.item).collect(),
            transports: router.transports.into_iter().map(|t| t.item).collect(),
            limits: router.limits,
            shards: router.shards,
            warnings: l.warnings,
        }),
        _ => {
            if l.issues.is_empty() {
                l.error("", "the document describes no router");
            }
            Err(ConfigError::Invalid(l.issues))
        }
    }
}

/// `path.key`, or `key` at the top.
pub(super) fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// `path[i]`.
pub(super) fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// "a string", "a number", ... for type errors.
fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

impl Loader {
    fn error(&mut self, path: &str, message: impl Into<String>) {
        self.issues.push(ConfigIssue {
            path: path.to_owned(),
            kind: IssueKind::Invalid,
            message: message.into(),
        });
    }

    fn unsupported(&mut self, path: &str, what: &str) {
        self.issues.push(ConfigIssue {
            path: path.to_owned(),
            kind: IssueKind::Unsupported,
            message: format!("{what} is not supported yet"),
        });
    }

    fn warn(&mut self, path: &str, message: &str) {
        self.warnings.push(format!("{path}: {message}"));
    }

    /// Checks the keys of `obj` against `table`: warns, rejects unsupported
    /// and unknown keys. The handler reads the [`Key::Read`] ones itself.
    fn keys(&mut self, path: &str, obj: &Obj, table: &[(&str, Key)]) {
        for k in obj.keys() {
            let p = child(path, k);
            match table.iter().find(|(name, _)| name == k) {
                Some((_, Key::Read | Key::Ignore)) => {}
                Some((_, Key::Warn(why))) => self.warn(&p, why),
                Some((_, Key::Unsupported(what))) => self.unsupported(&p, what),
                None => {
                    let known: Vec<&str> = table.iter().map(|(name, _)| *name).collect();
                    self.error(
                        &p,
                        format!("unknown key (known here: {})", known.join(", ")),
                    );
                }
            }
        }
    }

    fn object<'v>(&mut self, path: &str, v: &'v Value) -> Option<&'v Obj> {
        match v {
            Value::Object(o) => Some(o),
            other => {
                self.error(
                    path,
                    format!("expected an object, found {}", kind_of(other)),
                );
                None
            }
        }
    }

    fn array<'v>(&mut self, path: &str, v: &'v Value) -> Option<&'v [Value]> {
        match v {
            Value::Array(a) => Some(a),
            other => {
                self.error(path, format!("expected a list, found {}", kind_of(other)));
                None
            }
        }
    }

    fn string<'v>(&mut self, path: &str, v: &'v Value) -> Option<&'v str> {
        match v {
            Value::String(s) => Some(s),
            other => {
                self.error(path, format!("expected a string, found {}", kind_of(other)));
                None
            }
        }
    }

    fn boolean(&mut self, path: &str, v: &Value) -> Option<bool> {
        match v {
            Value::Bool(b) => Some(*b),
            other => {
                self.error(
                    path,
                    format!("expected true or false, found {}", kind_of(other)),
                );
                None
            }
        }
    }

    /// An integer in `min..=max`.
    fn uint(&mut self, path: &str, v: &Value, min: u64, max: u64) -> Option<u64> {
        let n = match v {
            Value::Number(n) => n.as_u64(),
            Value::String(s) if s.starts_with('$') => {
                self.unsupported(path, "reading values from environment variables");
                return None;
            }
            _ => None,
        };
        match n {
            Some(n) if (min..=max).contains(&n) => Some(n),
            Some(n) => {
                self.error(
                    path,
                    format!("{n} is out of range (must be {min} to {max})"),
                );
                None
            }
            None => {
                self.error(
                    path,
                    format!("expected a whole number, found {}", describe(v)),
                );
                None
            }
        }
    }

    /// A size in bytes (`usize`) in `min..=max`.
    fn size(&mut self, path: &str, v: &Value, min: u64, max: u64) -> Option<usize> {
        self.uint(path, v, min, max)
            .and_then(|n| usize::try_from(n).ok())
    }

    /// A duration in milliseconds following Crossbar's rule: 0 (off) or at least 1000.
    fn millis(&mut self, path: &str, v: &Value) -> Option<u64> {
        let n = self.uint(path, v, 0, u64::from(u32::MAX))?;
        if n != 0 && n < 1000 {
            self.error(
                path,
                format!(
                    "is in milliseconds; {n} is too small (0 turns it off, else at least 1000)"
                ),
            );
            return None;
        }
        Some(n)
    }

    /// A required string field.
    fn required_str<'v>(&mut self, path: &str, obj: &'v Obj, key: &str) -> Option<&'v str> {
        let p = child(path, key);
        match obj.get(key) {
            Some(v) => self.string(&p, v),
            None => {
                self.error(&p, "missing (required)");
                None
            }
        }
    }

    /// An optional boolean field.
    fn opt_bool(&mut self, path: &str, obj: &Obj, key: &str) -> Option<bool> {
        let v = obj.get(key)?;
        self.boolean(&child(path, key), v)
    }

    // ---- document and workers ----

    fn root(&mut self, root: &Value) -> Option<Router> {
        let obj = self.object("", root)?;
        self.keys(
            "",
            obj,
            &[
                ("$schema", Key::Ignore),
                ("version", Key::Read),
                (
                    "controller",
                    Key::Warn("ignored: Junction has no node controller (its content is not read)"),
                ),
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
                    describe(other)
                ),
            ),
        }
        let top_junction = obj.get("junction").map(|v| self.junction("junction", v));
        let Some(workers_v) = obj.get("workers") else {
            self.error(
                "workers",
                "missing; a worker with \"type\": \"router\" is required",
            );
            return None;
        };
        let workers = self.array("workers", workers_v)?;
        let mut router: Option<Router> = None;
        for (i, w) in workers.iter().enumerate() {
            let path = index("workers", i);
            let Some(wobj) = self.object(&path, w) else {
                continue;
            };
            if self.worker_disabled(&path, wobj) {
                self.warn(&path, "worker is disabled (options.disabled); skipped");
                continue;
            }
            let Some(wtype) = self.required_str(&path, wobj, "type") else {
                continue;
            };
            let type_path = child(&path, "type");
            match wtype {
                "router" if router.is_some() => {
                    self.unsupported(&type_path, "more than one router worker");
                }
                "router" => {
                    router = self.router(&path, wobj, top_junction.as_ref());
                }
                "container" | "guest" | "proxy" | "websocket-testee" | "hostmonitor" | "xbrmm"
                | "marketmaker" => {
                    self.unsupported(&type_path, &format!("worker type \"{wtype}\""));
                }
                other => self.error(
                    &type_path,
                    format!("unknown worker type \"{other}\" (Junction runs \"router\" workers)"),
                ),
            }
        }
        if router.is_none() && self.issues.is_empty() {
            self.error(
                "workers",
                "no router worker; Junction needs one worker with \"type\": \"router\"",
            );
        }
        router
    }

    /// Whether `options.disabled` is `true` (checked before anything else so a
    /// disabled worker of any type is skipped, as in Crossbar).
    fn worker_disabled(&mut self, path: &str, worker: &Obj) -> bool {
        let Some(Value::Object(options)) = worker.get("options") else {
            return false;
        };
        match options.get("disabled") {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(_)) => {
                let p = child(&child(path, "options"), "disabled");
                self.unsupported(&p, "reading `disabled` from an environment variable");
                false
            }
            Some(other) => {
                let p = child(&child(path, "options"), "disabled");
                self.error(
                    &p,
                    format!("expected true or false, found {}", kind_of(other)),
                );
                false
            }
            None => false,
        }
    }

    fn router(
        &mut self,
        path: &str,
        obj: &Obj,
        top_junction: Option<&JunctionExt>,
    ) -> Option<Router> {
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
                self.check_id(&p, id);
            }
        }
        if let Some(v) = obj.get("options") {
            self.worker_options(&child(path, "options"), v);
        }
        for (key, what) in [
            (
                "components",
                "router components (application code run inside the router)",
            ),
            (
                "connections",
                "router connections (outgoing links from the router)",
            ),
        ] {
            if let Some(v) = obj.get(key) {
                let p = child(path, key);
                if let Some(items) = self.array(&p, v) {
                    if !items.is_empty() {
                        self.unsupported(&p, what);
                    }
                }
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
        let limits = Limits {
            max_message_size: ext
                .max_message_size
                .unwrap_or(Limits::default().max_message_size),
            outbound_queue_bytes: ext
                .outbound_queue_bytes
                .unwrap_or(Limits::default().outbound_queue_bytes),
            max_sessions_per_shard: ext
                .max_sessions_per_shard
                .unwrap_or(Limits::default().max_sessions_per_shard),
        };
        let mut router = Router {
            limits,
            shards: ext.shards,
            ..Router::default()
        };
        let realms_path = child(path, "realms");
        let realms = match obj.get("realms") {
            Some(v) => self.array(&realms_path, v),
            None => Some(&[][..]),
        };
        if realms.is_some_and(<[Value]>::is_empty) {
            self.error(&realms_path, "no realm; at least one realm is required");
        }
        for (i, r) in realms.unwrap_or_default().iter().enumerate() {
            let rp = index(&realms_path, i);
            if let Some(realm) = self.realm(&rp, r) {
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
            self.error(
                &transports_path,
                "no transport; at least one listening transport is required",
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
        Some(router)
    }

    fn worker_options(&mut self, path: &str, v: &Value) {
        let Some(obj) = self.object(path, v) else {
            return;
        };
        self.keys(
            path,
            obj,
            &[
                ("extra", Key::Warn(PYTHON_ONLY)),
                ("title", Key::Warn(PYTHON_ONLY)),
                ("python", Key::Warn(PYTHON_ONLY)),
                ("pythonpath", Key::Warn(PYTHON_ONLY)),
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
            ],
        );
    }

    /// Checks an item ID (`id` of workers and transports).
    fn check_id(&mut self, path: &str, id: &str) {
        let ok = !id.is_empty()
            && id.len() <= 64
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !ok {
            self.error(
                path,
                format!("invalid ID \"{id}\" (1 to 64 characters from a-z, A-Z, 0-9, _ and -)"),
            );
        }
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
                ("shards", Key::Read),
            ],
        );
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
        if let Some(v) = obj.get("shards") {
            ext.shards = self.size(&child(path, "shards"), v, 1, MAX_SHARDS);
        }
        ext
    }

    // ---- realms, roles, permissions ----

    fn realm(&mut self, path: &str, v: &Value) -> Option<RealmConfig> {
        let obj = self.object(path, v)?;
        self.keys(
            path,
            obj,
            &[
                ("name", Key::Read),
                ("id", Key::Ignore),
                ("roles", Key::Read),
                ("options", Key::Read),
                ("store", Key::Unsupported("event history (realm `store`)")),
                (
                    "rlinks",
                    Key::Unsupported("router-to-router links (`rlinks`)"),
                ),
            ],
        );
        let name = self.required_str(path, obj, "name");
        if let Some(name) = name {
            if !is_realm_name(name) {
                self.error(
                    &child(path, "name"),
                    format!(
                        "invalid realm name \"{name}\" (a letter, then 2 to 254 characters \
                         from letters, digits, _ - @ .)"
                    ),
                );
            }
        }
        let mut uri_check = UriCheck::Loose;
        if let Some(v) = obj.get("options") {
            uri_check = self.realm_options(&child(path, "options"), v);
        }
        let mut roles = Vec::new();
        match obj.get("roles") {
            Some(v) => {
                let p = child(path, "roles");
                for (i, r) in self.array(&p, v).unwrap_or_default().iter().enumerate() {
                    if let Some(role) = self.role(&index(&p, i), r) {
                        roles.push(role);
                    }
                }
            }
            None => self.warn(
                path,
                "realm has no roles; every action on it will be denied",
            ),
        }
        Some(RealmConfig {
            name: name?.to_owned(),
            uri_check,
            roles,
        })
    }

    fn realm_options(&mut self, path: &str, v: &Value) -> UriCheck {
        let Some(obj) = self.object(path, v) else {
            return UriCheck::Loose;
        };
        self.keys(
            path,
            obj,
            &[
                ("uri_check", Key::Read),
                ("enable_meta_api", Key::Read),
                (
                    "bridge_meta_api",
                    Key::Warn("ignored: Junction has no node management side to bridge to"),
                ),
                (
                    "event_dispatching_chunk_size",
                    Key::Warn("ignored: Junction does not dispatch events in chunks"),
                ),
            ],
        );
        if self.opt_bool(path, obj, "enable_meta_api") == Some(false) {
            self.warn(
                &child(path, "enable_meta_api"),
                "ignored: the WAMP meta API cannot be turned off yet \
                 (its procedures and topics are still subject to the roles' permissions)",
            );
        }
        let mut check = UriCheck::Loose;
        if let Some(v) = obj.get("uri_check") {
            let p = child(path, "uri_check");
            match self.string(&p, v) {
                Some("loose") => {}
                Some("strict") => check = UriCheck::Strict,
                Some(other) => {
                    self.error(&p, format!("\"{other}\" is not \"strict\" or \"loose\""));
                }
                None => {}
            }
        }
        check
    }

    fn role(&mut self, path: &str, v: &Value) -> Option<RoleConfig> {
        let obj = self.object(path, v)?;
        self.keys(
            path,
            obj,
            &[
                ("name", Key::Read),
                ("permissions", Key::Read),
                (
                    "authorizer",
                    Key::Unsupported("dynamic authorization (role `authorizer`)"),
                ),
            ],
        );
        let name = self.required_str(path, obj, "name");
        if name == Some("") {
            self.error(&child(path, "name"), "must not be empty");
        }
        let mut permissions: Vec<Permission> = Vec::new();
        if let Some(v) = obj.get("permissions") {
            let p = child(path, "permissions");
            let mut first_at: Vec<usize> = Vec::new();
            for (i, item) in self.array(&p, v).unwrap_or_default().iter().enumerate() {
                let pp = index(&p, i);
                let Some(perm) = self.permission(&pp, item) else {
                    continue;
                };
                if let Some(j) = permissions
                    .iter()
                    .position(|q| q.uri == perm.uri && q.match_policy == perm.match_policy)
                {
                    self.warn(
                        &pp,
                        &format!(
                            "same URI and match policy as {}; this later rule wins (as in Crossbar)",
                            index(&p, first_at[j])
                        ),
                    );
                }
                first_at.push(i);
                permissions.push(perm);
            }
        }
        Some(RoleConfig {
            name: name?.to_owned(),
            permissions,
        })
    }

    fn permission(&mut self, path: &str, v: &Value) -> Option<Permission> {
        let obj = self.object(path, v)?;
        self.keys(
            path,
            obj,
            &[
                ("uri", Key::Read),
                ("match", Key::Read),
                ("allow", Key::Read),
                ("disclose", Key::Read),
                // Crossbar caches authorization results; static rules here are precompiled.
                ("cache", Key::Ignore),
                (
                    "validate",
                    Key::Unsupported("payload validation (permission `validate`)"),
                ),
            ],
        );
        let uri_path = child(path, "uri");
        let raw = self.required_str(path, obj, "uri")?;
        if raw.chars().any(|c| c.is_whitespace() || c == '#') {
            self.error(
                &uri_path,
                format!("invalid URI \"{raw}\" (no whitespace or '#')"),
            );
            return None;
        }
        let (mut uri, mut policy) = match obj.get("match") {
            Some(v) => {
                let p = child(path, "match");
                let s = self.string(&p, v)?;
                let Some(policy) = MatchPolicy::parse(s) else {
                    self.error(
                        &p,
                        format!("\"{s}\" is not \"exact\", \"prefix\" or \"wildcard\""),
                    );
                    return None;
                };
                if raw.contains('*') {
                    self.warn(
                        &uri_path,
                        "'*' is taken literally because `match` is given (as in Crossbar); \
                         drop `match` to use a starred URI",
                    );
                }
                (raw.to_owned(), policy)
            }
            None => convert_starred(raw),
        };
        if uri.is_empty() {
            // The empty URI covers everything whatever its policy (as in Crossbar,
            // where `"uri": ""` or `"*"` is the catch-all rule).
            policy = MatchPolicy::Prefix;
            uri.clear();
        }
        if policy == MatchPolicy::Exact && uri.split('.').any(str::is_empty) {
            self.error(
                &uri_path,
                format!(
                    "\"{uri}\" has empty components, which an exact URI cannot have \
                     (use \"match\": \"wildcard\" or \"prefix\")"
                ),
            );
            return None;
        }
        let mut allow = Allow::default();
        if let Some(v) = obj.get("allow") {
            let p = child(path, "allow");
            if let Some(a) = self.object(&p, v) {
                self.keys(
                    &p,
                    a,
                    &[
                        ("call", Key::Read),
                        ("register", Key::Read),
                        ("publish", Key::Read),
                        ("subscribe", Key::Read),
                    ],
                );
                allow = Allow {
                    call: self.opt_bool(&p, a, "call").unwrap_or(false),
                    register: self.opt_bool(&p, a, "register").unwrap_or(false),
                    publish: self.opt_bool(&p, a, "publish").unwrap_or(false),
                    subscribe: self.opt_bool(&p, a, "subscribe").unwrap_or(false),
                };
            }
        }
        let mut disclose = Disclose::default();
        if let Some(v) = obj.get("disclose") {
            let p = child(path, "disclose");
            if let Some(d) = self.object(&p, v) {
                self.keys(&p, d, &[("caller", Key::Read), ("publisher", Key::Read)]);
                disclose = Disclose {
                    caller: self.opt_bool(&p, d, "caller").unwrap_or(false),
                    publisher: self.opt_bool(&p, d, "publisher").unwrap_or(false),
                };
            }
        }
        Some(Permission {
            uri,
            match_policy: policy,
            allow,
            disclose,
        })
    }

    // ---- transports ----

    fn transport(
        &mut self,
        path: &str,
        i: usize,
        v: &Value,
        limits: &Limits,
    ) -> Option<TransportConfig> {
        let obj = self.object(path, v)?;
        let ttype = self.required_str(path, obj, "type")?;
        let type_path = child(path, "type");
        let default_id = format!("transport{}", i + 1);
        match ttype {
            "websocket" => self.websocket_transport(path, obj, default_id, limits),
            "rawsocket" => self.rawsocket_transport(path, obj, default_id, limits),
            "web" => self.web_transport(path, obj, default_id, limits),
            "universal" | "mqtt" | "flashpolicy" | "websocket.testee" | "stream.testee" => {
                self.unsupported(&type_path, &format!("transport type \"{ttype}\""));
                None
            }
            other => {
                self.error(
                    &type_path,
                    format!("unknown transport type \"{other}\" (websocket, rawsocket or web)"),
                );
                None
            }
        }
    }

    /// The transport's `id`, or the Crossbar default `transportN`.
    fn transport_id(&mut self, path: &str, obj: &Obj, default_id: String) -> String {
        let Some(v) = obj.get("id") else {
            return default_id;
        };
        let p = child(path, "id");
        match self.string(&p, v) {
            Some(id) => {
                self.check_id(&p, id);
                id.to_owned()
            }
            None => default_id,
        }
    }

    /// The mandatory listening endpoint.
    fn required_endpoint(&mut self, path: &str, obj: &Obj) -> Option<Endpoint> {
        match obj.get("endpoint") {
            Some(v) => self.endpoint(&child(path, "endpoint"), v),
            None => {
                self.error(&child(path, "endpoint"), "missing (required)");
                None
            }
        }
    }

    fn websocket_transport(
        &mut self,
        path: &str,
        obj: &Obj,
        default_id: String,
        limits: &Limits,
    ) -> Option<TransportConfig> {
        self.keys(
            path,
            obj,
            &[
                ("id", Key::Read),
                ("type", Key::Read),
                ("endpoint", Key::Read),
                (
                    "url",
                    Key::Warn("ignored: Junction accepts WebSocket upgrades on any path and host"),
                ),
                ("serializers", Key::Read),
                ("debug", Key::Warn("ignored: use --log-level or RUST_LOG")),
                ("options", Key::Read),
                ("auth", Key::Read),
                (
                    "cookie",
                    Key::Warn(
                        "ignored: cookie tracking is not implemented; sessions get random authids",
                    ),
                ),
            ],
        );
        let id = self.transport_id(path, obj, default_id);
        let endpoint = self.required_endpoint(path, obj);
        let (options, serializers, auth) = self.websocket_service(path, obj, limits, None);
        Some(TransportConfig {
            id,
            kind: TransportKind::WebSocket(options?),
            endpoint: endpoint?,
            serializers: serializers?,
            auth: auth?,
        })
    }

    /// The WAMP parts of a WebSocket transport or a web transport's websocket
    /// path: options (with `ws_path`), serializers and auth.
    fn websocket_service(
        &mut self,
        path: &str,
        obj: &Obj,
        limits: &Limits,
        ws_path: Option<String>,
    ) -> (
        Option<WebSocketOptions>,
        Option<Vec<Serializer>>,
        Option<TransportAuth>,
    ) {
        let options = match obj.get("options") {
            Some(v) => self.websocket_options(&child(path, "options"), v, limits),
            None => Some(WebSocketOptions {
                max_message_size: limits.max_message_size,
                max_frame_size: limits.max_message_size,
                ..WebSocketOptions::default()
            }),
        }
        .map(|o| WebSocketOptions { path: ws_path, ..o });
        let serializers = self.serializers(path, obj);
        let auth = self.auth(path, obj);
        (options, serializers, auth)
    }

    fn websocket_options(
        &mut self,
        path: &str,
        v: &Value,
        limits: &Limits,
    ) -> Option<WebSocketOptions> {
        let obj = self.object(path, v)?;
        self.keys(
            path,
            obj,
            &[
                ("max_message_size", Key::Read),
                ("max_frame_size", Key::Read),
                ("open_handshake_timeout", Key::Read),
                ("auto_ping_interval", Key::Read),
                ("auto_ping_timeout", Key::Read),
                ("allowed_origins", Key::Read),
                ("allow_null_origin", Key::Read),
                ("require_websocket_subprotocol", Key::Read),
                ("validate_utf8", Key::Read),
                ("require_masked_client_frames", Key::Read),
                ("enable_rfc6455", Key::Read),
                ("close_handshake_timeout", Key::Warn(WS_TUNING)),
                ("auto_ping_size", Key::Warn(WS_TUNING)),
                ("auto_ping_restart_on_any_traffic", Key::Warn(WS_TUNING)),
                ("auto_fragment_size", Key::Warn(WS_TUNING)),
                ("fail_by_drop", Key::Warn(WS_TUNING)),
                ("echo_close_codereason", Key::Warn(WS_TUNING)),
                ("tcp_nodelay", Key::Warn(WS_TUNING)),
                (
                    "compression",
                    Key::Warn(
                        "ignored: permessage-deflate is not offered; messages go uncompressed",
                    ),
                ),
                (
                    "external_port",
                    Key::Warn("ignored: only used by Crossbar's status page"),
                ),
                (
                    "enable_webstatus",
                    Key::Warn("ignored: Junction renders no status page"),
                ),
                (
                    "show_server_version",
                    Key::Warn("ignored: Junction renders no status page"),
                ),
                (
                    "enable_hybi10",
                    Key::Warn("ignored: Junction speaks RFC 6455 only"),
                ),
                (
                    "mask_server_frames",
                    Key::Warn("ignored: testing option; Junction always masks as RFC 6455 says"),
                ),
                (
                    "apply_mask",
                    Key::Warn("ignored: testing option; Junction always masks as RFC 6455 says"),
                ),
                (
                    "enable_flash_policy",
                    Key::Warn("ignored: Flash is not supported"),
                ),
                ("flash_policy", Key::Warn("ignored: Flash is not supported")),
            ],
        );
        let mut o = WebSocketOptions {
            max_message_size: limits.max_message_size,
            max_frame_size: 0,
            ..WebSocketOptions::default()
        };
        if let Some(v) = obj.get("max_message_size") {
            let p = child(path, "max_message_size");
            if let Some(n) = self.size(&p, v, 1, CROSSBAR_MAX_MESSAGE_SIZE) {
                o.max_message_size = self.clamp_to_limit(&p, n, limits);
            }
        }
        if let Some(v) = obj.get("max_frame_size") {
            let p = child(path, "max_frame_size");
            // 0 means "any size" in Crossbar; a frame is never larger than a message.
            if let Some(n) = self.size(&p, v, 0, CROSSBAR_MAX_MESSAGE_SIZE) {
                o.max_frame_size = n;
            }
        }
        if o.max_frame_size == 0 || o.max_frame_size > o.max_message_size {
            o.max_frame_size = o.max_message_size;
        }
        for (key, slot) in [
            ("open_handshake_timeout", &mut o.open_handshake_timeout_ms),
            ("auto_ping_interval", &mut o.auto_ping_interval_ms),
            ("auto_ping_timeout", &mut o.auto_ping_timeout_ms),
        ] {
            if let Some(v) = obj.get(key) {
                if let Some(ms) = self.millis(&child(path, key), v) {
                    *slot = ms;
                }
            }
        }
        if let Some(v) = obj.get("allowed_origins") {
            let p = child(path, "allowed_origins");
            if let Some(items) = self.array(&p, v) {
                let any = items.len() == 1 && items[0].as_str() == Some("*");
                if !any {
                    self.unsupported(
                        &p,
                        "checking the Origin header (`allowed_origins` other than [\"*\"])",
                    );
                }
            }
        }
        // Options whose Crossbar default is what Junction does: accepted at that
        // value; the other value changes security or protocol behaviour.
        let fixed: [(&str, bool, &str); 5] = [
            (
                "allow_null_origin",
                true,
                "rejecting the null Origin (`allow_null_origin: false`)",
            ),
            (
                "require_websocket_subprotocol",
                true,
                "WebSocket connections without a WAMP subprotocol (`require_websocket_subprotocol: false`)",
            ),
            ("validate_utf8", true, ""),
            ("require_masked_client_frames", true, ""),
            ("enable_rfc6455", true, ""),
        ];
        for (key, junction_value, what) in fixed {
            let Some(b) = self.opt_bool(path, obj, key) else {
                continue;
            };
            if b == junction_value {
                continue;
            }
            let p = child(path, key);
            match key {
                "validate_utf8" => {
                    self.warn(&p, "ignored: Junction always validates UTF-8 text messages")
                }
                "require_masked_client_frames" => {
                    self.warn(
                        &p,
                        "ignored: Junction always requires masked client frames (RFC 6455)",
                    );
                }
                "enable_rfc6455" => {
                    self.error(&p, "cannot be turned off: RFC 6455 is the only WebSocket version Junction speaks");
                }
                _ => self.unsupported(&p, what),
            }
        }
        Some(o)
    }

    /// A transport's `max_message_size` above the router-wide limit is lowered to it.
    fn clamp_to_limit(&mut self, path: &str, n: usize, limits: &Limits) -> usize {
        if n > limits.max_message_size {
            self.warn(
                path,
                &format!(
                    "{n} is above junction.max_message_size; lowered to {}",
                    limits.max_message_size
                ),
            );
            limits.max_message_size
        } else {
            n
        }
    }

    fn rawsocket_transport(
        &mut self,
        path: &str,
        obj: &Obj,
        default_id: String,
        limits: &Limits,
    ) -> Option<TransportConfig> {
        self.keys(
            path,
            obj,
            &[
                ("id", Key::Read),
                ("type", Key::Read),
                ("endpoint", Key::Read),
                ("serializers", Key::Read),
                ("debug", Key::Warn("ignored: use --log-level or RUST_LOG")),
                ("options", Key::Read),
                ("auth", Key::Read),
                // Crossbar's RawSocket docs put it here; its checker wants `options`.
                ("max_message_size", Key::Read),
            ],
        );
        let id = self.transport_id(path, obj, default_id);
        let endpoint = self.required_endpoint(path, obj);
        let mut size_at: Option<(String, &Value)> = obj
            .get("max_message_size")
            .map(|v| (child(path, "max_message_size"), v));
        if let Some(v) = obj.get("options") {
            let p = child(path, "options");
            if let Some(o) = self.object(&p, v) {
                self.keys(&p, o, &[("max_message_size", Key::Read)]);
                if let Some(v) = o.get("max_message_size") {
                    let op = child(&p, "max_message_size");
                    if size_at.is_some() {
                        self.error(
                            &op,
                            "also given as max_message_size on the transport; use one",
                        );
                    }
                    size_at = Some((op, v));
                }
            }
        }
        let mut options = RawSocketOptions {
            max_message_size: limits.max_message_size,
            ..RawSocketOptions::default()
        };
        if let Some((p, v)) = size_at {
            if let Some(n) = self.size(&p, v, 1, CROSSBAR_MAX_MESSAGE_SIZE) {
                options.max_message_size = self.clamp_to_limit(&p, n, limits);
            }
        }
        let serializers = self.serializers(path, obj);
        let auth = self.auth(path, obj);
        Some(TransportConfig {
            id,
            kind: TransportKind::RawSocket(options),
            endpoint: endpoint?,
            serializers: serializers?,
            auth: auth?,
        })
    }

    fn web_transport(
        &mut self,
        path: &str,
        obj: &Obj,
        default_id: String,
        limits: &Limits,
    ) -> Option<TransportConfig> {
        self.keys(
            path,
            obj,
            &[
                ("id", Key::Read),
                ("type", Key::Read),
                ("endpoint", Key::Read),
                ("paths", Key::Read),
                ("options", Key::Read),
            ],
        );
        let id = self.transport_id(path, obj, default_id);
        let endpoint = self.required_endpoint(path, obj);
        if let Some(v) = obj.get("options") {
            let p = child(path, "options");
            if let Some(o) = self.object(&p, v) {
                const NO_HTTP: &str =
                    "ignored: Junction serves nothing over HTTP but the WebSocket upgrade";
                self.keys(
                    &p,
                    o,
                    &[
                        ("access_log", Key::Warn(NO_HTTP)),
                        ("display_tracebacks", Key::Warn(NO_HTTP)),
                        ("hsts", Key::Warn(NO_HTTP)),
                        ("hsts_max_age", Key::Warn(NO_HTTP)),
                        ("client_timeout", Key::Warn(NO_HTTP)),
                    ],
                );
            }
        }
        let paths_path = child(path, "paths");
        let Some(paths_v) = obj.get("paths") else {
            self.error(&paths_path, "missing (required)");
            return None;
        };
        let paths = self.object(&paths_path, paths_v)?;
        let mut service = None;
        let mut ws_at: Option<String> = None;
        for (name, svc) in paths {
            let sp = child(&paths_path, name);
            if !is_web_path(name) {
                self.error(
                    &sp,
                    format!("invalid path \"{name}\" (\"/\" or letters, digits, _ and -)"),
                );
                continue;
            }
            let Some(sobj) = self.object(&sp, svc) else {
                continue;
            };
            let Some(stype) = self.required_str(&sp, sobj, "type") else {
                continue;
            };
            if stype != "websocket" {
                self.unsupported(
                    &child(&sp, "type"),
                    &format!("web service type \"{stype}\""),
                );
                continue;
            }
            if let Some(first) = &ws_at {
                self.unsupported(
                    &sp,
                    &format!("a second websocket path on one web transport (first: {first})"),
                );
                continue;
            }
            ws_at = Some(sp.clone());
            self.keys(
                &sp,
                sobj,
                &[
                    ("id", Key::Ignore),
                    ("type", Key::Read),
                    ("url", Key::Warn("ignored: Junction accepts WebSocket upgrades on any host")),
                    ("serializers", Key::Read),
                    (
                        "cookie",
                        Key::Warn(
                            "ignored: cookie tracking is not implemented; sessions get random authids",
                        ),
                    ),
                    ("auth", Key::Read),
                    ("options", Key::Read),
                    ("debug", Key::Warn("ignored: use --log-level or RUST_LOG")),
                ],
            );
            let http_path = if name == "/" {
                "/".to_owned()
            } else {
                format!("/{name}")
            };
            service = Some(self.websocket_service(&sp, sobj, limits, Some(http_path)));
        }
        let any_ws = paths
            .values()
            .any(|s| s.get("type").and_then(Value::as_str) == Some("websocket"));
        if !any_ws {
            self.error(
                &paths_path,
                "no path of type \"websocket\"; Junction serves only WAMP over WebSocket on web transports",
            );
        }
        let (options, serializers, auth) = service?;
        Some(TransportConfig {
            id,
            kind: TransportKind::WebSocket(options?),
            endpoint: endpoint?,
            serializers: serializers?,
            auth: auth?,
        })
    }

    fn endpoint(&mut self, path: &str, v: &Value) -> Option<Endpoint> {
        let obj = self.object(path, v)?;
        let etype = self.required_str(path, obj, "type")?;
        match etype {
            "tcp" => self.tcp_endpoint(path, obj),
            "unix" => {
                self.keys(
                    path,
                    obj,
                    &[
                        ("type", Key::Read),
                        ("path", Key::Read),
                        ("backlog", Key::Read),
                    ],
                );
                if let Some(v) = obj.get("backlog") {
                    self.uint(&child(path, "backlog"), v, 1, 65535);
                }
                let p = self.required_str(path, obj, "path")?;
                if p.is_empty() {
                    self.error(&child(path, "path"), "must not be empty");
                    return None;
                }
                Some(Endpoint::Unix {
                    path: PathBuf::from(p),
                })
            }
            "twisted" | "onion" => {
                self.unsupported(&child(path, "type"), &format!("endpoint type \"{etype}\""));
                None
            }
            other => {
                self.error(
                    &child(path, "type"),
                    format!("unknown endpoint type \"{other}\" (tcp or unix)"),
                );
                None
            }
        }
    }

    fn tcp_endpoint(&mut self, path: &str, obj: &Obj) -> Option<Endpoint> {
        self.keys(
            path,
            obj,
            &[
                ("type", Key::Read),
                ("port", Key::Read),
                ("interface", Key::Read),
                ("host", Key::Read),
                ("version", Key::Read),
                ("backlog", Key::Read),
                ("shared", Key::Read),
                ("tls", Key::Unsupported("TLS")),
                (
                    "portrange",
                    Key::Unsupported("listening on a port range (`portrange`)"),
                ),
                (
                    "user_timeout",
                    Key::Warn("ignored: Junction does not set TCP_USER_TIMEOUT"),
                ),
            ],
        );
        let port = match obj.get("port") {
            Some(v) => self.uint(&child(path, "port"), v, 0, 65535),
            None => {
                self.error(&child(path, "port"), "missing (required)");
                None
            }
        };
        let version = match obj.get("version") {
            Some(v) => {
                let p = child(path, "version");
                match self.uint(&p, v, 4, 6) {
                    Some(n @ (4 | 6)) => Some(n),
                    Some(n) => {
                        self.error(&p, format!("{n} is not 4 or 6"));
                        None
                    }
                    None => None,
                }
            }
            None => Some(4),
        };
        if let Some(v) = obj.get("backlog") {
            self.uint(&child(path, "backlog"), v, 1, 65535);
        }
        // Junction always shares the port between its shards (SO_REUSEPORT).
        self.opt_bool(path, obj, "shared");
        let host = match (obj.get("interface"), obj.get("host")) {
            (Some(_), Some(_)) => {
                self.error(
                    &child(path, "host"),
                    "give either `interface` or `host`, not both",
                );
                None
            }
            (Some(v), None) => self
                .string(&child(path, "interface"), v)
                .map(|s| (s, "interface")),
            (None, Some(v)) => self.string(&child(path, "host"), v).map(|s| (s, "host")),
            (None, None) => None,
        };
        let version = version?;
        let host = match host {
            Some((h, key)) => {
                let p = child(path, key);
                if h.is_empty() {
                    self.error(&p, "must not be empty");
                    return None;
                }
                if let Ok(ip) = h.parse::<IpAddr>() {
                    if (ip.is_ipv4() && version == 6) || (ip.is_ipv6() && version == 4) {
                        self.error(
                            &p,
                            format!("{h} is not an IPv{version} address (see `version`)"),
                        );
                        return None;
                    }
                }
                h.to_owned()
            }
            // Crossbar (Twisted) listens on all interfaces by default.
            None if version == 6 => "::".to_owned(),
            None => "0.0.0.0".to_owned(),
        };
        Some(Endpoint::Tcp {
            host,
            port: u16::try_from(port?).ok()?,
        })
    }

    /// `serializers` of a transport: the given order, or all when absent.
    fn serializers(&mut self, path: &str, obj: &Obj) -> Option<Vec<Serializer>> {
        let Some(v) = obj.get("serializers") else {
            return Some(Serializer::ALL.to_vec());
        };
        let p = child(path, "serializers");
        let items = self.array(&p, v)?;
        if items.is_empty() {
            self.error(&p, "must name at least one serializer");
            return None;
        }
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let ip = index(&p, i);
            let Some(name) = self.string(&ip, item) else {
                ok = false;
                continue;
            };
            match Serializer::from_name(name) {
                Some(s) if !out.contains(&s) => out.push(s),
                Some(_) => {}
                None if matches!(name, "ubjson" | "flatbuffers") => {
                    self.unsupported(&ip, &format!("serializer \"{name}\""));
                    ok = false;
                }
                None => {
                    self.error(
                        &ip,
                        format!("unknown serializer \"{name}\" (json, msgpack or cbor)"),
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    /// `auth` of a transport. Absent or empty: anonymous with role
    /// `anonymous`, as Crossbar does when no authentication is configured.
    fn auth(&mut self, path: &str, obj: &Obj) -> Option<TransportAuth> {
        let Some(v) = obj.get("auth") else {
            return Some(TransportAuth::default());
        };
        let p = child(path, "auth");
        let methods = self.object(&p, v)?;
        if methods.is_empty() {
            return Some(TransportAuth::default());
        }
        let mut auth = TransportAuth {
            anonymous_role: None,
        };
        let mut ok = true;
        for (method, cfg) in methods {
            let mp = child(&p, method);
            match method.as_str() {
                "anonymous" => match self.anonymous(&mp, cfg) {
                    Some(role) => auth.anonymous_role = Some(role),
                    None => ok = false,
                },
                "ticket" | "wampcra" | "scram" | "cryptosign" | "cookie" | "tls"
                | "cryptosign-proxy" | "anonymous-proxy" => {
                    self.unsupported(&mp, &format!("\"{method}\" authentication"));
                    ok = false;
                }
                other => {
                    self.error(&mp, format!("unknown authentication method \"{other}\""));
                    ok = false;
                }
            }
        }
        ok.then_some(auth)
    }

    /// `auth.anonymous`: the role it assigns.
    fn anonymous(&mut self, path: &str, v: &Value) -> Option<String> {
        let obj = self.object(path, v)?;
        let atype = self.required_str(path, obj, "type")?;
        match atype {
            "static" => {}
            "dynamic" | "function" => {
                self.unsupported(
                    &child(path, "type"),
                    &format!("{atype} anonymous authentication"),
                );
                return None;
            }
            other => {
                self.error(
                    &child(path, "type"),
                    format!("unknown type \"{other}\" (Junction supports \"static\")"),
                );
                return None;
            }
        }
        self.keys(
            path,
            obj,
            &[
                ("type", Key::Read),
                ("role", Key::Read),
                (
                    "realm",
                    Key::Warn(
                        "ignored: the client's requested realm is used (Crossbar ignores it too)",
                    ),
                ),
                (
                    "authid",
                    Key::Warn("ignored: anonymous sessions get a random authid"),
                ),
            ],
        );
        match obj.get("role") {
            None => Some("anonymous".to_owned()),
            Some(v) => {
                let p = child(path, "role");
                let role = self.string(&p, v)?;
                if role.is_empty() {
                    self.error(&p, "must not be empty");
                    return None;
                }
                Some(role.to_owned())
            }
        }
    }
}

/// A value for messages: the JSON text of scalars, the kind of containers.
fn describe(v: &Value) -> String {
    match v {
        Value::Array(_) | Value::Object(_) => kind_of(v).to_owned(),
        other => other.to_string(),
    }
}

/// Crossbar's starred URIs, used when a permission has no `match`: no star is
/// exact, one trailing star is a prefix, other stars are wildcard components.
fn convert_starred(uri: &str) -> (String, MatchPolicy) {
    let stars = uri.matches('*').count();
    if stars == 0 {
        (uri.to_owned(), MatchPolicy::Exact)
    } else if stars == 1 && uri.ends_with('*') {
        (uri[..uri.len() - 1].to_owned(), MatchPolicy::Prefix)
    } else {
        (uri.replace('*', ""), MatchPolicy::Wildcard)
    }
}

/// Autobahn's realm name rule: a letter, then 2 to 254 of `[A-Za-z0-9_-@.]`.
fn is_realm_name(name: &str) -> bool {
    let b = name.as_bytes();
    (3..=255).contains(&b.len())
        && b[0].is_ascii_alphabetic()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'@' | b'.'))
}

/// Crossbar's rule for web transport path keys: `/` or `[A-Za-z0-9_-]+`.
fn is_web_path(name: &str) -> bool {
    name == "/"
        || (!name.is_empty()
            && name
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starred_uris_convert_like_crossbar() {
        assert_eq!(
            convert_starred("com.example.a"),
            ("com.example.a".to_owned(), MatchPolicy::Exact)
        );
        assert_eq!(
            convert_starred("com.example.*"),
            ("com.example.".to_owned(), MatchPolicy::Prefix)
        );
        assert_eq!(convert_starred("*"), (String::new(), MatchPolicy::Prefix));
        assert_eq!(
            convert_starred("com.*.foo.*"),
            ("com..foo.".to_owned(), MatchPolicy::Wildcard)
        );
        assert_eq!(
            convert_starred("com.*.foo"),
            ("com..foo".to_owned(), MatchPolicy::Wildcard)
        );
    }

    #[test]
    fn realm_names_follow_autobahn() {
        assert!(is_realm_name("realm1"));
        assert!(is_realm_name("com.example-app@x"));
        assert!(!is_realm_name("r1"));
        assert!(!is_realm_name("1realm"));
        assert!(!is_realm_name("realm 1"));
    }

    #[test]
    fn web_paths_follow_crossbar() {
        assert!(is_web_path("/"));
        assert!(is_web_path("ws"));
        assert!(is_web_path("my-ws_2"));
        assert!(!is_web_path(""));
        assert!(!is_web_path("/ws"));
        assert!(!is_web_path("a/b"));
    }

    #[test]
    fn paths_join() {
        assert_eq!(child("", "version"), "version");
        assert_eq!(child("workers[0]", "type"), "workers[0].type");
        assert_eq!(index("workers", 2), "workers[2]");
    }
}
