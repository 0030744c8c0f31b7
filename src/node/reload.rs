//! Hot reload (SIGHUP, `junction reload`): re-read the config file, refuse
//! it if it does not pass `junction check` (the gap list included) — the
//! running config stays and the errors go to the log and to the asker —
//! and otherwise apply it on every shard (see `RouterControl::reload`):
//! realms, roles and permissions, transports and limits for new
//! connections; then the guest workers (`workers/`): added ones start,
//! removed ones stop, changed ones restart, the others keep running. Static
//! `package` sources are resolved (and new `wsgi` applications started) as
//! at the start, before any shard sees the config. What a running node
//! cannot change (the shard count, the control socket, a realm's event
//! store) is reported as a warning and takes effect at the next start.
//!
//! A realm keeps the store it was created with ([`RealmStores`]): a realm
//! removed and added back returns to its old place in the routers, with
//! its history and retained events, and with its file log if it had one at
//! the start. A realm first added by a reload keeps its events in memory
//! (its history as configured) until the next start opens its file log.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use super::Node;
use super::control::Response;
use super::workers;
use crate::config::{Config, ConfigError, StoreConfig};

/// How long each shard may take to apply a reload.
const SHARD_TIMEOUT: Duration = Duration::from_secs(10);

impl Node {
    /// Reloads the config file and answers with what happened.
    pub(super) fn reload(&mut self) -> Response {
        let Some(path) = self.config_path.clone() else {
            self.control.count_failed_reload();
            let r = Response::error(
                "the node runs the embedded default config; start it with --config FILE to reload",
            );
            tracing::error!("reload refused: {}", r.errors[0]);
            return r;
        };
        tracing::info!(config = %path.display(), "reloading the configuration");
        self.notify.reloading();
        let r = self.reload_from(&path);
        self.notify.ready(&self.status_line());
        if r.ok {
            for w in &r.warnings {
                tracing::warn!("reload: {w}");
            }
            tracing::info!(
                changes = r.text.as_deref().unwrap_or(""),
                "configuration reloaded"
            );
        } else if let Some(changes) = &r.text {
            // Shard 0 (and maybe others) applied it; a later shard did not.
            for e in &r.errors {
                tracing::error!("reload: {e}");
            }
            tracing::error!(
                errors = r.errors.len(),
                changes,
                "the configuration was reloaded on some shards only: restart the router so that every shard runs the same one"
            );
        } else {
            for e in &r.errors {
                tracing::error!("reload refused: {e}");
            }
            tracing::error!(
                errors = r.errors.len(),
                "the configuration was not reloaded; the running one stays"
            );
        }
        r
    }

    fn reload_from(&mut self, path: &Path) -> Response {
        let config = match load(path).and_then(|mut c| {
            // As at the start: `package` sources become directories, so that
            // the shards serve them (not a 404).
            crate::transport::http::resolve_packages(&mut c).map_err(|e| vec![e.to_string()])?;
            // As at the start: the router's Python components' listener (same
            // socket and secret: unchanged components keep their host).
            workers::router_components::prepare(&mut c, &self.access).map_err(|e| vec![e])?;
            // As at the start: a worker whose executable is not found refuses it.
            let missing = super::workers::missing_executables(&c);
            if !missing.is_empty() {
                return Err(missing);
            }
            Ok(c)
        }) {
            Ok(c) => c,
            Err(errors) => {
                self.control.count_failed_reload();
                return Response {
                    ok: false,
                    errors,
                    ..Response::default()
                };
            }
        };
        let mut warnings: Vec<String> = config.warnings.clone();
        warnings.extend(restart_only(&self.config, &config, self.cli_shards));
        warnings.extend(self.stores.changed(&config));
        match self.control.reload(config.clone(), SHARD_TIMEOUT) {
            Ok(done) => {
                let mut changes = Vec::new();
                let mut list = |what: &str, items: &[String]| {
                    if !items.is_empty() {
                        changes.push(format!("{what}: {}", items.join(", ")));
                    }
                };
                list("realms added", &done.applied.realms_added);
                list("realms removed", &done.applied.realms_removed);
                list("listeners opened", &done.listeners.opened);
                list("listeners closed", &done.listeners.closed);
                list("listeners rebound", &done.listeners.rebound);
                list("transports updated", &done.listeners.updated);
                list("TLS certificates reloaded", &done.listeners.tls_reloaded);
                self.access.protect();
                let mut specs = workers::guests(&config);
                if self.held.is_some() {
                    // The others start when the listeners open.
                    specs.retain(|g| g.id == workers::router_components::WORKER_ID);
                }
                let guests = self.workers.apply(specs);
                list("workers started", &guests.started);
                list("workers stopped", &guests.stopped);
                list("workers restarted", &guests.restarted);
                if done.sessions_closed > 0 {
                    changes.push(format!("sessions closed: {}", done.sessions_closed));
                }
                if changes.is_empty() {
                    changes.push("no realm, listener or worker changed".into());
                }
                self.shutdown_timeout = config.node.shutdown_timeout;
                self.stores.add_new(&config);
                self.config = config;
                Response {
                    ok: done.errors.is_empty(),
                    errors: done.errors,
                    warnings,
                    text: Some(changes.join("; ")),
                    ..Response::default()
                }
            }
            Err(e) => Response {
                ok: false,
                errors: vec![match super::run_error_hint(&e) {
                    Some(hint) => format!("{e}: {hint}"),
                    None => e.to_string(),
                }],
                warnings,
                ..Response::default()
            },
        }
    }
}

/// Loads `path` as `junction check` does: every problem, the gap list included.
fn load(path: &Path) -> Result<Config, Vec<String>> {
    match Config::from_file(path) {
        Ok(c) => {
            let unsupported = c.unsupported();
            if unsupported.is_empty() {
                Ok(c)
            } else {
                Err(unsupported.iter().map(ToString::to_string).collect())
            }
        }
        Err(ConfigError::Invalid(issues)) => Err(issues.iter().map(ToString::to_string).collect()),
        // The parser's line and column, with the file they are in.
        Err(e @ ConfigError::Syntax { .. }) => Err(vec![format!("{}: {e}", path.display())]),
        Err(e) => Err(vec![e.to_string()]),
    }
}

/// The store each realm of the running node was created with, by name.
#[derive(Debug, Default)]
pub(super) struct RealmStores(BTreeMap<String, StoreConfig>);

impl RealmStores {
    /// The stores of the realms a node starts with.
    pub(super) fn of(config: &Config) -> RealmStores {
        let mut s = RealmStores::default();
        s.add_new(config);
        s
    }

    /// Records the stores of `config`'s realms that are not known yet
    /// (after a reload applied it).
    fn add_new(&mut self, config: &Config) {
        for r in &config.realms {
            self.0
                .entry(r.name.clone())
                .or_insert_with(|| r.store.clone());
        }
    }

    /// Warnings for `config`'s realms whose store differs from the one they
    /// run with, or that a reload adds with a file store.
    fn changed(&self, config: &Config) -> Vec<String> {
        let mut out = Vec::new();
        for r in &config.realms {
            match self.0.get(&r.name) {
                Some(s) if *s != r.store => out.push(format!(
                    "realm \"{}\": its store (event history, persistence) changes at the next start",
                    r.name
                )),
                None if r.store.path.is_some() => out.push(format!(
                    "realm \"{}\": added by a reload, its events are kept in memory until the next start opens its file store",
                    r.name
                )),
                _ => {}
            }
        }
        out
    }
}

/// Changes a running node cannot apply, as warnings.
fn restart_only(old: &Config, new: &Config, cli_shards: bool) -> Vec<String> {
    let mut out = Vec::new();
    if !cli_shards && old.shards != new.shards {
        out.push("junction.shards changed: the shard count changes at the next start".into());
    }
    if old.node.control_socket != new.node.control_socket {
        out.push(
            "junction.control_socket changed: the node keeps its socket until the next start"
                .into(),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_only_changes_are_named() {
        let old = Config::embedded_default();
        let mut new = old.clone();
        assert!(restart_only(&old, &new, false).is_empty());
        new.shards = Some(2);
        new.node.control_socket = Some("/run/x.sock".into());
        let w = restart_only(&old, &new, false);
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].contains("shards"));
        assert!(w[1].contains("control_socket"));
        // --shards on the command line wins anyway.
        assert_eq!(restart_only(&old, &new, true).len(), 1);
    }

    /// A realm's store is the one it was created with, across reloads that
    /// change it, remove the realm and add it back.
    #[test]
    fn a_realm_keeps_the_store_it_was_created_with() {
        let start = Config::embedded_default();
        let mut stores = RealmStores::of(&start);
        assert!(stores.changed(&start).is_empty());
        let mut changed = start.clone();
        changed.realms[0].store.max_size = 1;
        let w = stores.changed(&changed);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains("\"realm1\"") && w[0].contains("next start"),
            "{w:?}"
        );
        // Removed, then added back with the changed store: still a change.
        let mut without = start.clone();
        without.realms.clear();
        assert!(stores.changed(&without).is_empty());
        stores.add_new(&without);
        assert_eq!(stores.changed(&changed).len(), 1);
        // A realm a reload adds: a file store is not opened before the next
        // start; a memory one needs no word. Once added, it is known.
        let mut added = start.clone();
        let mut filed = start.realms[0].clone();
        filed.name = "filed".into();
        filed.store.path = Some("/var/lib/junction".into());
        let mut mem = start.realms[0].clone();
        mem.name = "mem".into();
        added.realms.extend([filed, mem]);
        let w = stores.changed(&added);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains("\"filed\"") && w[0].contains("in memory"),
            "{w:?}"
        );
        stores.add_new(&added);
        assert!(stores.changed(&added).is_empty());
    }

    #[test]
    fn a_config_with_gaps_is_refused_with_every_problem() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("c.json");
        std::fs::write(
            &path,
            r#"{"version": 2, "workers": [{"type": "router",
                "realms": [{"name": "realm1", "roles": [{"name": "anonymous"}]}],
                "transports": [{"type": "rawsocket", "serializers": ["ubjson"], "endpoint": {"type": "tcp", "port": 0}}],
                "connections": [{}]}]}"#,
        )
        .expect("write");
        let errors = load(&path).expect_err("refused");
        assert!(
            errors.iter().any(|e| e.contains("serializers[0]")),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e.contains("router connections") && e.contains("not supported yet")),
            "{errors:?}"
        );
        let errors = load(&dir.path().join("missing.json")).expect_err("refused");
        assert_eq!(errors.len(), 1);
        // A syntax error names the file as well as the line and column.
        std::fs::write(&path, "{\"version\": 2,\n  \"workers\": [,]}").expect("write");
        let errors = load(&path).expect_err("refused");
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].starts_with(&format!("{}: JSON syntax error: ", path.display()))
                && errors[0].contains("line 2 column"),
            "{errors:?}"
        );
    }
}
