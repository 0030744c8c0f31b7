//! The walk over a parsed Crossbar node config (a [`serde_json::Value`]; YAML
//! is parsed into the same type), building the [`Config`] model.
//!
//! Every object is checked against a key table ([`Key`]): keys Junction reads,
//! keys it ignores silently, keys it ignores with a warning, and keys that
//! name a feature it does not have yet (errors). Unknown keys are errors, as
//! in Crossbar's own checker. The walk collects every problem instead of
//! stopping at the first, each with its JSON path; the cross-item checks in
//! `check.rs` run only when the walk found nothing wrong.
//!
//! This file holds the walker's helpers, the document, workers and the
//! `junction` block; `realm.rs` and `transport.rs` the rest.

mod realm;
mod transport;

use serde_json::{Map, Value};

use super::check::{self, Located};
use super::error::{ConfigError, ConfigIssue, IssueKind};
use super::{Config, Limits, RealmConfig, TransportConfig};

type Obj = Map<String, Value>;

/// Upper bound for the `junction` byte limits: 1 GiB.
const MAX_LIMIT_BYTES: u64 = 1 << 30;

/// Upper bound for `junction.shards`.
const MAX_SHARDS: u64 = 1024;

/// Warning text for worker options that only Crossbar's Python processes use.
const PYTHON_ONLY: &str = "ignored: only meaningful to Crossbar's Python worker processes";

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
    if l.issues.is_empty()
        && let Some(router) = &router
    {
        check::check(
            &router.realms,
            &router.transports,
            &mut l.issues,
            &mut l.warnings,
        );
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
                if let Some(items) = self.array(&p, v)
                    && !items.is_empty()
                {
                    self.unsupported(&p, what);
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
}

/// A value for messages: the JSON text of scalars, the kind of containers.
fn describe(v: &Value) -> String {
    match v {
        Value::Array(_) | Value::Object(_) => kind_of(v).to_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_join() {
        assert_eq!(child("", "version"), "version");
        assert_eq!(child("workers[0]", "type"), "workers[0].type");
        assert_eq!(index("workers", 2), "workers[2]");
    }
}
