//! Crossbar's proxy workers, folded into the router.
//!
//! A Crossbar proxy worker accepts the clients (its own transports and their
//! authentication), and forwards each session, by (realm, role) through its
//! `routes`, over one of its `connections` to a router transport that
//! trusts what the proxy asserts (`anonymous-proxy`, `cryptosign-proxy`).
//! Proxies spread the WebSocket work of one router over processes; Junction
//! spreads it over its shards already. So a proxy worker whose connections
//! all lead to this node's router becomes a set of Junction transports:
//!
//! - the proxy's transports are served by the router, with the proxy's
//!   authentication, and their sessions may join only the (realm, role)
//!   pairs its `routes` name ([`TransportConfig::routes`]); a role with no
//!   route is refused `wamp.error.no_such_role`, as the proxy refuses it;
//! - identical proxy workers (Crossbar runs copies on one shared port) are
//!   served once;
//! - the router's proxy authentication methods are not kept: nothing
//!   connects with them any more. A router transport that accepted only
//!   those is not opened (it would refuse every client); one that accepts
//!   other methods too keeps them.
//!
//! A proxy connection to anything but a router transport of this node with
//! proxy authentication is refused (a proxy in front of another node's
//! router is not this router's business), as are proxy authentication
//! methods on a node without proxy workers (they trust what the client
//! asserts).

use serde_json::Value;

use super::read::Key;
use super::{Loader, Obj, Router};
use crate::config::path::{Located, child, index};
use crate::config::{Endpoint, RealmRoutes, TransportConfig};

/// What one proxy worker produced.
pub(super) struct Proxy {
    /// Its path (`workers[N]`).
    path: String,
    /// Its transports.
    transports: Vec<Located<TransportConfig>>,
    /// Realm → roles its `routes` forward.
    routes: RealmRoutes,
    /// Where its `routes` are, for errors.
    routes_path: String,
    /// Each connection's path and where it leads.
    targets: Vec<(String, Target)>,
    /// The worker without `id` and `options`, to recognise copies.
    essence: Obj,
}

/// Where a proxy connection leads.
#[derive(Debug, Clone, PartialEq)]
enum Target {
    /// A socket path, resolved against the node directory.
    Unix(std::path::PathBuf),
    Tcp {
        host: String,
        port: u16,
    },
}

impl Target {
    /// Whether a router listening on `e` is this target.
    fn reaches(&self, e: &Endpoint) -> bool {
        let local =
            |h: &str| matches!(h, "" | "localhost" | "127.0.0.1" | "::1" | "0.0.0.0" | "::");
        match (self, e) {
            (Target::Unix(p), Endpoint::Unix { path }) => path == p,
            (
                Target::Tcp { host, port },
                Endpoint::Tcp { host: h, port: q }
                | Endpoint::TcpTls {
                    host: h, port: q, ..
                },
            ) => port == q && (host == h || (local(host) && local(h))),
            _ => false,
        }
    }
}

impl Loader<'_> {
    /// A proxy worker (`index` in `workers`, `default_id` its Crossbar name
    /// without an `id`); its transports get `router`'s limits.
    pub(super) fn proxy(
        &mut self,
        path: &str,
        obj: &Obj,
        default_id: String,
        router: &Router,
    ) -> Option<Proxy> {
        self.keys(
            path,
            obj,
            &[
                ("id", Key::Read),
                ("type", Key::Read),
                ("options", Key::Read),
                ("transports", Key::Read),
                ("routes", Key::Read),
                ("connections", Key::Read),
            ],
        );
        if let Some(v) = obj.get("options") {
            self.worker_options(&child(path, "options"), v, &[], false);
        }
        let id = super::routers::worker_id(obj, default_id);
        let mut targets = Vec::new();
        let cp = child(path, "connections");
        let connections = match obj.get("connections") {
            Some(v) => self.object(&cp, v)?.clone(),
            None => Obj::new(),
        };
        for (name, c) in &connections {
            let p = child(&cp, name);
            if let Some(t) = self.proxy_connection(&p, c) {
                targets.push((p, t));
            }
        }
        let routes_path = child(path, "routes");
        let mut routes = RealmRoutes::new();
        match obj.get("routes") {
            None => self.error(
                &routes_path,
                "missing: a proxy forwards nothing without routes",
            ),
            Some(v) => {
                for (realm, roles) in self.object(&routes_path, v)? {
                    let rp = child(&routes_path, realm);
                    let Some(roles) = self.object(&rp, roles) else {
                        continue;
                    };
                    let mut names = Vec::new();
                    for (role, conn) in roles {
                        let p = child(&rp, role);
                        match conn.as_str() {
                            Some(c) if connections.contains_key(c) => names.push(role.clone()),
                            Some(c) => {
                                self.error(&p, format!("no connection \"{c}\" in this proxy"))
                            }
                            None => self.error(&p, "expected a connection name"),
                        }
                    }
                    routes.insert(realm.clone(), Some(names));
                }
            }
        }
        let tp = child(path, "transports");
        let mut transports = Vec::new();
        let items = match obj.get("transports") {
            Some(v) => self.array(&tp, v).unwrap_or_default(),
            None => &[][..],
        };
        self.id_prefix = format!("{id}.");
        for (i, t) in items.iter().enumerate() {
            let p = index(&tp, i);
            if let Some(mut transport) = self.transport(&p, i, t, &router.limits) {
                transport.routes = Some(routes.clone());
                transports.push(Located {
                    path: p,
                    item: transport,
                });
            }
        }
        self.id_prefix.clear();
        let mut essence = obj.clone();
        essence.remove("id");
        essence.remove("options");
        Some(Proxy {
            path: path.to_owned(),
            transports,
            routes,
            routes_path,
            targets,
            essence,
        })
    }

    /// One of a proxy's `connections`: where it leads.
    fn proxy_connection(&mut self, path: &str, v: &Value) -> Option<Target> {
        let obj = self.object(path, v)?;
        // Crossbar's checker does not look into a proxy's connections and
        // its proxy reads only these keys: another one (its functional
        // tests' `url`) is warned, not refused.
        self.keys_lenient(
            path,
            obj,
            &[
                ("id", Key::Ignore),
                ("transport", Key::Read),
                ("auth", Key::Ignore),
                ("realm", Key::Ignore),
            ],
        );
        let tp = child(path, "transport");
        let Some(tv) = obj.get("transport") else {
            self.error(&tp, "missing (required)");
            return None;
        };
        let t = self.object(&tp, tv)?;
        self.keys(
            &tp,
            t,
            &[
                ("type", Key::Read),
                ("endpoint", Key::Read),
                ("url", Key::Ignore),
                ("serializer", Key::Ignore),
                ("serializers", Key::Ignore),
                ("options", Key::Ignore),
            ],
        );
        let ep = child(&tp, "endpoint");
        let Some(ev) = t.get("endpoint") else {
            self.error(&ep, "missing (required)");
            return None;
        };
        let e = self.object(&ep, ev)?;
        match e.get("type").and_then(Value::as_str) {
            Some("unix") => {
                let p = e.get("path").and_then(Value::as_str);
                match p {
                    Some(p) => Some(Target::Unix(self.resolve(p))),
                    None => {
                        self.error(&child(&ep, "path"), "missing (required)");
                        None
                    }
                }
            }
            Some("tcp") => {
                let host = e.get("host").and_then(Value::as_str).unwrap_or("localhost");
                match e.get("port").and_then(Value::as_u64) {
                    Some(port @ 1..=65535) => Some(Target::Tcp {
                        host: host.to_owned(),
                        port: port as u16,
                    }),
                    _ => {
                        self.error(&child(&ep, "port"), "expected a port (1 to 65535)");
                        None
                    }
                }
            }
            _ => {
                self.error(&child(&ep, "type"), "expected \"tcp\" or \"unix\"");
                None
            }
        }
    }

    /// Folds the proxy workers into `router` (see the module header); on a
    /// node without them, proxy authentication stays refused.
    pub(super) fn fold_proxies(&mut self, router: &mut Router, proxies: Vec<Proxy>) {
        let backends = std::mem::take(&mut self.proxy_methods);
        if proxies.is_empty() {
            for p in backends {
                let method = p.rsplit('.').next().unwrap_or_default().to_owned();
                self.unsupported(
                    &p,
                    &format!(
                        "\"{method}\" authentication on a node without proxy workers (it trusts \
                         whoever connects to say who they are)"
                    ),
                );
            }
            return;
        }
        // The router transports the proxies connect to.
        let is_backend = |t: &Located<TransportConfig>| {
            backends.iter().any(|b| {
                b.strip_prefix(t.path.as_str())
                    .is_some_and(|r| r.starts_with('.'))
            })
        };
        let mut kept: Vec<&Proxy> = Vec::new();
        for proxy in &proxies {
            for (p, target) in &proxy.targets {
                let found = router
                    .transports
                    .iter()
                    .find(|t| is_backend(t) && target.reaches(&t.item.endpoint));
                let Some(t) = found else {
                    self.unsupported(
                        p,
                        "a proxy connection to anything but a router transport of this node \
                         with proxy authentication (\"anonymous-proxy\", \"cryptosign-proxy\")",
                    );
                    continue;
                };
                for realm in proxy.routes.keys() {
                    if !t.item.serves_realm(realm) {
                        self.error(
                            &child(&proxy.routes_path, realm),
                            format!("{} does not serve realm \"{realm}\"", t.path),
                        );
                    }
                }
            }
            for (realm, roles) in &proxy.routes {
                let Some(r) = router.realms.iter().find(|r| &r.item.name == realm) else {
                    self.error(
                        &child(&proxy.routes_path, realm),
                        format!("no realm \"{realm}\" on the router"),
                    );
                    continue;
                };
                for role in roles.iter().flatten() {
                    if !r.item.roles.iter().any(|x| &x.name == role) {
                        self.warn(
                            &child(&child(&proxy.routes_path, realm), role),
                            &format!(
                                "realm \"{realm}\" defines no role \"{role}\": sessions \
                                 routed with it are refused"
                            ),
                        );
                    }
                }
            }
            if let Some(first) = kept.iter().find(|k| k.essence == proxy.essence) {
                self.warn(
                    &proxy.path,
                    &format!(
                        "a copy of {} (Crossbar runs one process per copy); Junction serves \
                         its transports once, on all its shards",
                        first.path
                    ),
                );
            } else {
                kept.push(proxy);
            }
        }
        // The router's proxy-only transports: nobody connects to them now.
        let mut dropped = Vec::new();
        router.transports.retain(|t| {
            let only_proxy = is_backend(t)
                && t.item.auth.methods.methods().is_empty()
                && !t.item.auth.methods.cookie;
            if only_proxy {
                dropped.push(t.path.clone());
            }
            !only_proxy
        });
        for p in dropped {
            self.warn(
                &p,
                "not opened: only Crossbar's proxy workers connected here, and Junction serves \
                 their transports itself",
            );
        }
        for b in backends {
            if router
                .transports
                .iter()
                .any(|t| b.starts_with(t.path.as_str()))
            {
                self.warn(
                    &b,
                    "ignored: Junction serves the proxy workers' transports itself, so no \
                     proxy connects here (the other methods stay)",
                );
            }
        }
        let transports: Vec<Located<TransportConfig>> = kept
            .iter()
            .flat_map(|p| p.transports.iter().cloned())
            .collect();
        router.transports.extend(transports);
    }
}
