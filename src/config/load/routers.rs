//! Several router workers in one Crossbar config.
//!
//! Crossbar runs each router worker as its own process: a client of one
//! router's transports reaches only that router's realms. Junction runs one
//! router, so it folds them into one and keeps them apart by transport: each
//! router worker's transports serve only that worker's realms
//! ([`TransportConfig::routes`](crate::config::TransportConfig::routes);
//! a HELLO for another realm is answered `wamp.error.no_such_realm`, as the
//! other Crossbar router would answer it).
//!
//! What cannot be folded is refused: a realm name defined by two router
//! workers (two realms in Crossbar, one name here), a `junction` block on a
//! later router worker (Junction's limits are node-wide), and Python
//! settings (`options.python`, `pythonpath`, `env`) that differ between
//! workers (one host runs every router component).
//!
//! A realm-less copy of the first router worker on shared ports (Crossbar's
//! way of spreading a web server over processes) is not a second router:
//! `mod.rs` warns and skips it.

use std::collections::BTreeMap;

use super::{Loader, Obj, Router};
use crate::config::path::child;

impl Loader<'_> {
    /// A router worker after the first (`index` in `workers`, `default_id`
    /// its Crossbar name when it has no `id`).
    pub(super) fn other_router(
        &mut self,
        path: &str,
        index: usize,
        obj: &Obj,
        default_id: String,
    ) -> Option<Router> {
        if obj.contains_key("junction") {
            self.error(
                &child(path, "junction"),
                "Junction's limits are the node's: give the `junction` block on the first \
                 router worker or at the top level",
            );
            return None;
        }
        let id = worker_id(obj, default_id);
        self.id_prefix = format!("{id}.");
        let mut r = self.router(path, obj, None);
        self.id_prefix.clear();
        r.index = index;
        Some(r)
    }

    /// Folds the later router workers into the first; with more than one,
    /// every transport serves only its own worker's realms.
    pub(super) fn merge_routers(&mut self, first: &mut Router, others: Vec<Router>) {
        if others.is_empty() {
            return;
        }
        restrict(first);
        // Where each realm name was defined.
        let mut owner: BTreeMap<String, usize> = first
            .realms
            .iter()
            .map(|r| (r.item.name.clone(), first.index))
            .collect();
        let first_path = format!("workers[{}]", first.index);
        for mut r in others {
            restrict(&mut r);
            for realm in &r.realms {
                if let Some(j) = owner.get(&realm.item.name) {
                    self.error(
                        &child(&realm.path, "name"),
                        format!(
                            "realm \"{}\" is also defined by workers[{j}]: Crossbar runs two \
                             router workers as two routers, each with its own realm of that \
                             name; Junction runs one router, so realm names must differ \
                             between router workers",
                            realm.item.name
                        ),
                    );
                } else {
                    owner.insert(realm.item.name.clone(), r.index);
                }
            }
            let path = format!("workers[{}]", r.index);
            if r.python != Default::default() {
                if first.python == Default::default() {
                    first.python = r.python.clone();
                } else if first.python != r.python {
                    self.error(
                        &child(&path, "options"),
                        format!(
                            "options.python, pythonpath and env differ from {first_path}'s: \
                             Junction runs every router component in one host, with one set"
                        ),
                    );
                }
            }
            for c in &r.components {
                if !r.realms.iter().any(|x| x.item.name == c.item.realm) {
                    self.error(
                        &child(&c.path, "realm"),
                        format!(
                            "\"{}\" is not a realm of this router worker (Crossbar starts a \
                             component only on its own router's realms)",
                            c.item.realm
                        ),
                    );
                }
            }
            first.realms.extend(r.realms);
            first.role_authorizers.extend(r.role_authorizers);
            first.transports.extend(r.transports);
            first.components.extend(r.components);
        }
        self.warn(
            &first_path,
            "several router workers: Junction runs them as one router; each worker's \
             transports serve only that worker's realms",
        );
    }
}

/// A worker's `id`, else `default_id` (Crossbar's `workerNNN`), for the
/// prefix of the IDs generated in it.
pub(super) fn worker_id(obj: &Obj, default_id: String) -> String {
    match obj.get("id").and_then(serde_json::Value::as_str) {
        Some(id) => id.to_owned(),
        None => default_id,
    }
}

/// Limits `r`'s transports to `r`'s realms (every role).
fn restrict(r: &mut Router) {
    let routes: BTreeMap<String, Option<Vec<String>>> = r
        .realms
        .iter()
        .map(|x| (x.item.name.clone(), None))
        .collect();
    for t in &mut r.transports {
        t.item.routes = Some(routes.clone());
    }
}
