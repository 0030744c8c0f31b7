//! Realms, roles (static permissions or a dynamic authorizer) and
//! permission rules of a router worker.

use std::time::Duration;

use serde_json::Value;

use super::{Key, Loader};
use crate::config::path::{child, index};
use crate::config::{
    Allow, CallQueueConfig, DEFAULT_FSYNC_INTERVAL_MS, DEFAULT_HISTORY_LIMIT,
    DEFAULT_STORE_MAX_SIZE, Disclose, FsyncPolicy, HistoryConfig, Permission, RealmConfig,
    RoleAuthorizer, RoleConfig, StoreConfig,
};
use crate::proto::uri::{MatchPolicy, UriCheck};

impl Loader<'_> {
    /// A realm, and the dynamic authorizers of its roles.
    pub(super) fn realm(
        &mut self,
        path: &str,
        v: &Value,
    ) -> Option<(RealmConfig, Vec<RoleAuthorizer>)> {
        let obj = self.object(path, v)?;
        // Crossbar's checker reads a realm's `roles` and `options` only and
        // ignores other keys (`trace` in crossbar-examples encryption/cryptobox).
        self.keys_lenient(
            path,
            obj,
            &[
                ("name", Key::Read),
                ("id", Key::Ignore),
                ("roles", Key::Read),
                ("options", Key::Read),
                ("store", Key::Read),
                ("junction", Key::Read),
                ("stats", Key::Read),
                (
                    "rlinks",
                    Key::Unsupported("router-to-router links (`rlinks`)"),
                ),
                (
                    "inventory",
                    Key::Unsupported("payload validation (the realm's `inventory`)"),
                ),
            ],
        );
        let name = self.required_str(path, obj, "name");
        if let Some(name) = &name
            && !is_realm_name(name)
        {
            self.error(
                &child(path, "name"),
                format!(
                    "invalid realm name \"{name}\" (a letter, then 2 to 254 characters \
                         from letters, digits, _ - @ .)"
                ),
            );
        }
        if let Some(v) = obj.get("stats") {
            self.realm_stats(&child(path, "stats"), v);
        }
        let mut uri_check = UriCheck::Loose;
        if let Some(v) = obj.get("options") {
            uri_check = self.realm_options(&child(path, "options"), v);
        }
        let mut roles = Vec::new();
        let mut authorizers = Vec::new();
        match obj.get("roles") {
            Some(v) => {
                let p = child(path, "roles");
                for (i, r) in self.array(&p, v).unwrap_or_default().iter().enumerate() {
                    if let Some((role, authorizer)) = self.role(&index(&p, i), r) {
                        if let (Some(authorizer), Some(realm)) = (authorizer, &name) {
                            authorizers.push(RoleAuthorizer {
                                realm: realm.to_string(),
                                role: role.name.clone(),
                                authorizer,
                            });
                        }
                        roles.push(role);
                    }
                }
            }
            None => self.warn(
                path,
                "realm has no roles; every action on it will be denied",
            ),
        }
        let (store, call_queue) = match obj.get("store") {
            Some(v) => self.store(&child(path, "store"), v),
            None => (StoreConfig::default(), Vec::new()),
        };
        let prefer_local_callee = match obj.get("junction") {
            Some(v) => self.realm_junction(&child(path, "junction"), v),
            None => false,
        };
        let realm = RealmConfig {
            name: name?.into_owned(),
            uri_check,
            roles,
            store,
            prefer_local_callee,
            call_queue,
        };
        Some((realm, authorizers))
    }

    /// Realm `store`: Crossbar's `memory` type, or Junction's `file` type
    /// (the same plus persistence in an append-only log under `path`), and
    /// its `call-queue` (which the dealer reads, not the store).
    fn store(&mut self, path: &str, v: &Value) -> (StoreConfig, Vec<CallQueueConfig>) {
        let mut store = StoreConfig {
            max_size: DEFAULT_STORE_MAX_SIZE,
            ..StoreConfig::default()
        };
        let mut call_queue = Vec::new();
        let Some(obj) = self.object(path, v) else {
            return (store, call_queue);
        };
        self.keys(
            path,
            obj,
            &[
                ("type", Key::Read),
                ("path", Key::Read),
                ("maxsize", Key::Read),
                ("limit", Key::Read),
                ("event-history", Key::Read),
                ("call-queue", Key::Read),
                (
                    "readonly",
                    Key::Warn("ignored: Junction's store is always writable"),
                ),
                (
                    "sync",
                    Key::Warn("ignored (LMDB tuning): Junction's sync policy is `junction.fsync`"),
                ),
                (
                    "max-buffer",
                    Key::Warn("ignored (LMDB tuning): Junction's write queue is `junction.queue`"),
                ),
                (
                    "buffer-flush",
                    Key::Warn("ignored (LMDB tuning): Junction's sync policy is `junction.fsync`"),
                ),
                ("junction", Key::Read),
            ],
        );
        if let Some(v) = obj.get("junction") {
            self.store_junction(&child(path, "junction"), v, &mut store);
        }
        let type_path = child(path, "type");
        match self.required_str(path, obj, "type").as_deref() {
            Some("memory") if obj.contains_key("path") => {
                self.error(
                    &child(path, "path"),
                    "a \"memory\" store has no path (use \"type\": \"file\" to persist)",
                );
            }
            Some("memory") => {}
            Some("file") => match obj.get("path") {
                Some(v) => {
                    // Relative to the working directory (unlike the paths
                    // added later, which follow Crossbar's node directory):
                    // kept as it was when this store was introduced.
                    if let Some(p) = self.nonempty(&child(path, "path"), v) {
                        store.path = Some(p.into_owned().into());
                    }
                }
                None => self.error(
                    &child(path, "path"),
                    "missing (required for a \"file\" store)",
                ),
            },
            // Crossbar's persistent store (LMDB): the same keys as Junction's
            // `file` store, which takes its place. Its `path` is relative to
            // the node directory, as in Crossbar.
            Some("cfxdb") => match obj.get("path") {
                Some(v) => {
                    if let Some(p) = self.nonempty(&child(path, "path"), v) {
                        let dir = self.resolve(&p);
                        self.warn(
                            &type_path,
                            &format!(
                                "read as Junction's \"file\" store: history and retained \
                                 events persist in {}/<realm>.events/ (Junction's own log; a \
                                 Crossbar database there is not read)",
                                dir.display()
                            ),
                        );
                        store.path = Some(dir);
                    }
                }
                None => self.error(
                    &child(path, "path"),
                    "missing (required for a \"cfxdb\" store)",
                ),
            },
            Some(other) => self.error(
                &type_path,
                format!("\"{other}\" is not \"memory\" or \"file\""),
            ),
            None => {}
        }
        if let Some(v) = obj.get("maxsize") {
            // Crossbar's range for `maxsize`: 128 KiB to 128 GiB.
            if let Some(n) = self.uint(&child(path, "maxsize"), v, 128 * 1024, 128 << 30) {
                store.max_size = n;
            }
        }
        let mut default_limit = DEFAULT_HISTORY_LIMIT;
        if let Some(v) = obj.get("limit")
            && let Some(n) = self.size(&child(path, "limit"), v, 1, 1_000_000)
        {
            default_limit = n;
        }
        if let Some(v) = obj.get("event-history") {
            let p = child(path, "event-history");
            for (i, item) in self.array(&p, v).unwrap_or_default().iter().enumerate() {
                if let Some((uri, match_policy, limit)) =
                    self.uri_limit(&index(&p, i), item, default_limit, "topic")
                {
                    store.event_history.push(HistoryConfig {
                        uri,
                        match_policy,
                        limit,
                    });
                }
            }
        }
        if let Some(v) = obj.get("call-queue") {
            let p = child(path, "call-queue");
            for (i, item) in self.array(&p, v).unwrap_or_default().iter().enumerate() {
                if let Some((uri, match_policy, limit)) =
                    self.uri_limit(&index(&p, i), item, default_limit, "procedure")
                {
                    call_queue.push(CallQueueConfig {
                        uri,
                        match_policy,
                        limit,
                    });
                }
            }
        }
        (store, call_queue)
    }

    /// A store's `junction` block (Junction extension): the write-ahead
    /// log's sync policy and queue.
    fn store_junction(&mut self, path: &str, v: &Value, store: &mut StoreConfig) {
        let Some(obj) = self.object(path, v) else {
            return;
        };
        self.keys(
            path,
            obj,
            &[
                ("fsync", Key::Read),
                ("fsync-interval", Key::Read),
                ("queue", Key::Read),
            ],
        );
        let mut interval = DEFAULT_FSYNC_INTERVAL_MS;
        if let Some(v) = obj.get("fsync-interval")
            && let Some(n) = self.uint(&child(path, "fsync-interval"), v, 1, 3_600_000)
        {
            interval = n;
        }
        store.fsync = match obj.get("fsync") {
            None => FsyncPolicy::Interval(Duration::from_millis(interval)),
            Some(v) => {
                let p = child(path, "fsync");
                match self.string(&p, v).as_deref() {
                    Some("always") => FsyncPolicy::Always,
                    Some("interval") => FsyncPolicy::Interval(Duration::from_millis(interval)),
                    Some("never") => FsyncPolicy::Never,
                    Some(other) => {
                        self.error(
                            &p,
                            format!("\"{other}\" is not \"always\", \"interval\" or \"never\""),
                        );
                        store.fsync
                    }
                    None => store.fsync,
                }
            }
        };
        if obj.contains_key("fsync-interval") && !matches!(store.fsync, FsyncPolicy::Interval(_)) {
            self.warn(
                &child(path, "fsync-interval"),
                "ignored: only used with \"fsync\": \"interval\"",
            );
        }
        if let Some(v) = obj.get("queue")
            && let Some(n) = self.size(&child(path, "queue"), v, 1, 16 << 20)
        {
            store.queue = n;
        }
    }

    /// An `event-history` or `call-queue` entry: `{uri, match, limit}`
    /// (`what`: "topic" or "procedure", for the error about an invalid `uri`).
    fn uri_limit(
        &mut self,
        path: &str,
        v: &Value,
        default_limit: usize,
        what: &str,
    ) -> Option<(String, MatchPolicy, usize)> {
        let obj = self.object(path, v)?;
        self.keys(
            path,
            obj,
            &[
                ("uri", Key::Read),
                ("match", Key::Read),
                ("limit", Key::Read),
            ],
        );
        let uri = self.required_str(path, obj, "uri")?;
        let match_policy = match obj.get("match") {
            None => MatchPolicy::Exact,
            Some(v) => {
                let p = child(path, "match");
                let s = self.string(&p, v)?;
                let Some(m) = MatchPolicy::parse(&s) else {
                    self.error(
                        &p,
                        format!("\"{s}\" is not \"exact\", \"prefix\" or \"wildcard\""),
                    );
                    return None;
                };
                m
            }
        };
        if !crate::proto::uri::is_valid(&uri, UriCheck::Loose, match_policy) {
            self.error(
                &child(path, "uri"),
                format!(
                    "invalid {what} \"{uri}\" for match policy \"{}\"",
                    match_policy.as_str()
                ),
            );
            return None;
        }
        let limit = match obj.get("limit") {
            Some(v) => self.size(&child(path, "limit"), v, 1, 1_000_000)?,
            None => default_limit,
        };
        Some((uri.into_owned(), match_policy, limit))
    }

    /// A realm's `stats`: Crossbar's `wamp.session.on_stats` meta events
    /// (per-session serializer statistics). Checked as Crossbar checks it
    /// when a session joins, then ignored with a warning.
    fn realm_stats(&mut self, path: &str, v: &Value) {
        let Some(obj) = self.object(path, v) else {
            return;
        };
        self.keys(
            path,
            obj,
            &[
                ("rated_message_size", Key::Read),
                ("trigger_after_rated_messages", Key::Read),
                ("trigger_after_duration", Key::Read),
                ("trigger_on_join", Key::Read),
                ("trigger_on_leave", Key::Read),
            ],
        );
        if let Some(v) = obj.get("rated_message_size") {
            let p = child(path, "rated_message_size");
            if let Some(n) = self.uint(&p, v, 2, u64::from(u32::MAX))
                && n % 2 != 0
            {
                self.error(&p, format!("{n} is odd (Crossbar wants an even size)"));
            }
        }
        let mut triggers = 0;
        for key in ["trigger_after_rated_messages", "trigger_after_duration"] {
            if let Some(v) = obj.get(key) {
                triggers += self
                    .uint(&child(path, key), v, 0, u64::from(u32::MAX))
                    .unwrap_or(1);
            }
        }
        if triggers == 0 {
            self.error(
                path,
                "`trigger_after_rated_messages` or `trigger_after_duration` must be \
                 non-zero (as in Crossbar)",
            );
        }
        self.opt_bool(path, obj, "trigger_on_join");
        self.opt_bool(path, obj, "trigger_on_leave");
        self.warn(
            path,
            "ignored: Junction publishes no `wamp.session.on_stats` events \
             (per-shard traffic counters: `junction status --metrics`)",
        );
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
            match self.string(&p, v).as_deref() {
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

    /// A role, and its dynamic authorizer when it has one.
    fn role(&mut self, path: &str, v: &Value) -> Option<(RoleConfig, Option<String>)> {
        let obj = self.object(path, v)?;
        // Crossbar's checker reads a realm's `roles` and `options` only and
        // ignores other keys (`trace` in crossbar-examples encryption/cryptobox).
        self.keys_lenient(
            path,
            obj,
            &[
                ("name", Key::Read),
                ("permissions", Key::Read),
                ("authorizer", Key::Read),
                ("allow-by-default", Key::Read),
                ("junction", Key::Read),
            ],
        );
        let name = self.required_str(path, obj, "name");
        if name.as_deref() == Some("") {
            self.error(&child(path, "name"), "must not be empty");
        }
        let authorizer = match obj.get("authorizer") {
            Some(_) if obj.contains_key("permissions") => {
                self.error(
                    &child(path, "authorizer"),
                    "give either `authorizer` (dynamic) or `permissions` (static), not both",
                );
                return None;
            }
            Some(v) => Some(self.uri(&child(path, "authorizer"), v)?),
            None => None,
        };
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
        if let Some(allow_all) = self.opt_bool(path, obj, "allow-by-default") {
            // Crossbar reads `allow-by-default` only for a role with neither
            // `permissions` nor `authorizer`: true allows every action on
            // every URI (nothing disclosed), false denies everything.
            if obj.contains_key("permissions") || obj.contains_key("authorizer") {
                self.warn(
                    &child(path, "allow-by-default"),
                    "ignored: the role has `permissions` or an `authorizer`, which decide \
                     alone (as in Crossbar)",
                );
            } else if allow_all {
                permissions.push(Permission::allow_all());
            }
        }
        let trustlevel = obj
            .get("junction")
            .and_then(|v| self.role_junction(&child(path, "junction"), v));
        let role = RoleConfig {
            name: name?.into_owned(),
            permissions,
            trustlevel,
        };
        Some((role, authorizer))
    }

    /// A realm's `junction` block (Junction extension): `prefer_local_callee`.
    fn realm_junction(&mut self, path: &str, v: &Value) -> bool {
        let Some(obj) = self.object(path, v) else {
            return false;
        };
        self.keys(path, obj, &[("prefer_local_callee", Key::Read)]);
        self.opt_bool(path, obj, "prefer_local_callee")
            .unwrap_or(false)
    }

    /// A role's `junction` block (Junction extension): `trustlevel`, the
    /// `INVOCATION.Details.trustlevel` of calls made by sessions with this role.
    fn role_junction(&mut self, path: &str, v: &Value) -> Option<u64> {
        let obj = self.object(path, v)?;
        self.keys(path, obj, &[("trustlevel", Key::Read)]);
        let v = obj.get("trustlevel")?;
        self.uint(&child(path, "trustlevel"), v, 0, u64::from(u32::MAX))
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
        let raw = &*raw;
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
                let Some(policy) = MatchPolicy::parse(&s) else {
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
pub(super) fn is_realm_name(name: &str) -> bool {
    let b = name.as_bytes();
    (3..=255).contains(&b.len())
        && b[0].is_ascii_alphabetic()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'@' | b'.'))
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
}
