//! Checks across items of a loaded config, run after the walk found no
//! problem in any single item: no duplicate realm names, role names unique
//! per realm, transport and component IDs unique, no two listeners on the
//! same TCP `host:port` (port 0 excepted) or Unix path, and the realms that
//! MQTT services, HTTP bridge services and components join exist.
//!
//! Warnings: a role handed out (anonymous role, static principals' roles,
//! MQTT, bridge and component roles) that no realm defines, cookie
//! authentication without cookie tracking, TLS authentication without a
//! TLS endpoint that asks for client certificates, and dynamic
//! authenticator or payload codec realms that do not exist.

use super::auth::{
    AnonymousAuth, AuthConfig, CryptosignAuth, ScramAuth, TicketAuth, TlsAuth, WampCraAuth,
};
use super::error::{ConfigIssue, IssueKind};
use super::mqtt::PayloadFormat;
use super::path::{Located, child, index};
use super::web::WebService;
use super::worker::{ComponentConfig, WorkerConfig};
use super::{ClientCertificates, Endpoint, RealmConfig, ServiceKind, TransportConfig};

/// Collects issues and warnings.
struct Checker<'a> {
    realms: &'a [Located<RealmConfig>],
    issues: &'a mut Vec<ConfigIssue>,
    warnings: &'a mut Vec<String>,
}

impl Checker<'_> {
    fn invalid(&mut self, path: String, message: String) {
        self.issues.push(ConfigIssue {
            path,
            kind: IssueKind::Invalid,
            message,
        });
    }

    fn realm(&self, name: &str) -> Option<&RealmConfig> {
        self.realms.iter().map(|r| &r.item).find(|r| r.name == name)
    }

    /// An error when `realm` is not defined.
    fn realm_exists(&mut self, path: String, realm: &str, who: &str) {
        if self.realm(realm).is_none() {
            self.invalid(
                path,
                format!("{who} realm \"{realm}\", which is not defined"),
            );
        }
    }

    /// An error when `transport` serves only some realms (a later router
    /// worker's, a proxy's) and `realm` is not one of them: Crossbar starts
    /// a service only on its own router's realms.
    fn routed(&mut self, path: String, transport: &TransportConfig, realm: &str) {
        if self.realm(realm).is_some() && !transport.serves_realm(realm) {
            self.invalid(
                path,
                format!(
                    "realm \"{realm}\" is not served on this transport (another router \
                     worker's realm, or not in its proxy's routes)"
                ),
            );
        }
    }

    /// A warning when `role` is defined in no realm (`realm: None`) or not in `realm`.
    fn role_defined(&mut self, path: &str, role: &str, realm: Option<&str>, who: &str) {
        let defined = match realm {
            Some(r) => self
                .realm(r)
                .is_some_and(|r| r.roles.iter().any(|x| x.name == role)),
            None => self
                .realms
                .iter()
                .any(|r| r.item.roles.iter().any(|x| x.name == role)),
        };
        if !defined {
            let place = realm.map_or_else(
                || "no realm defines".to_owned(),
                |r| format!("realm \"{r}\" does not define"),
            );
            self.warnings.push(format!(
                "{path}: {who} role \"{role}\", which {place}; every action they try will be denied"
            ));
        }
    }

    /// Roles and realms an `auth` object refers to.
    fn auth(&mut self, path: &str, auth: &AuthConfig, realm: Option<&str>) {
        let auth_path = child(path, "auth");
        match &auth.anonymous {
            Some(AnonymousAuth::Static { role, .. }) => {
                self.role_defined(path, role, realm, "anonymous sessions get");
            }
            Some(AnonymousAuth::Dynamic(_)) | None => {}
        }
        let mut roles: Vec<(String, String)> = Vec::new();
        let mut file_role = None;
        let mut add = |method: &str, key: &str, list: Vec<(&String, Option<&String>)>| {
            let at = child(&child(&auth_path, method), key);
            for (authid, role) in list {
                if let Some(role) = role {
                    roles.push((child(&at, authid), role.clone()));
                }
            }
        };
        if let Some(TicketAuth::Static {
            principals,
            password_file,
        }) = &auth.ticket
        {
            add(
                "ticket",
                "principals",
                principals
                    .iter()
                    .map(|(a, p)| (a, p.role.as_ref()))
                    .collect(),
            );
            file_role = password_file.as_ref().map(|f| f.role.clone());
        }
        if let Some(WampCraAuth::Static { users }) = &auth.wampcra {
            add(
                "wampcra",
                "users",
                users.iter().map(|(a, p)| (a, p.role.as_ref())).collect(),
            );
        }
        if let Some(ScramAuth::Static { principals }) = &auth.scram {
            add(
                "scram",
                "principals",
                principals
                    .iter()
                    .map(|(a, p)| (a, p.role.as_ref()))
                    .collect(),
            );
        }
        if let Some(CryptosignAuth::Static { principals }) = &auth.cryptosign {
            add(
                "cryptosign",
                "principals",
                principals
                    .iter()
                    .map(|(a, p)| (a, p.role.as_ref()))
                    .collect(),
            );
        }
        if let Some(TlsAuth::Static { principals, .. }) = &auth.tls {
            add(
                "tls",
                "principals",
                principals
                    .iter()
                    .map(|(a, p)| (a, p.role.as_ref()))
                    .collect(),
            );
        }
        if let Some(role) = file_role {
            let at = child(&child(&child(&auth_path, "ticket"), "junction"), "role");
            roles.push((at, role));
        }
        for (p, role) in roles {
            self.role_defined(&p, &role, realm, "this principal gets");
        }
        for (method, dynamic) in auth.methods() {
            if let Some(d) = dynamic
                && let Some(r) = &d.realm
                && self.realm(r).is_none()
            {
                self.warnings.push(format!(
                    "{}: realm \"{r}\" is not defined; every login through this authenticator will fail",
                    child(&child(&auth_path, method), "authenticator-realm")
                ));
            }
        }
    }
}

/// Runs every cross-item check, appending to `issues` and `warnings`.
pub(super) fn check(
    realms: &[Located<RealmConfig>],
    transports: &[Located<TransportConfig>],
    components: &[Located<ComponentConfig>],
    workers: &[WorkerConfig],
    issues: &mut Vec<ConfigIssue>,
    warnings: &mut Vec<String>,
) {
    let mut c = Checker {
        realms,
        issues,
        warnings,
    };
    for (i, realm) in realms.iter().enumerate() {
        if let Some(first) = realms[..i].iter().find(|r| r.item.name == realm.item.name) {
            c.invalid(
                child(&realm.path, "name"),
                format!(
                    "duplicate realm name \"{}\" (first defined at {})",
                    realm.item.name, first.path
                ),
            );
        }
        let roles = &realm.item.roles;
        for (k, role) in roles.iter().enumerate() {
            if let Some(j) = roles[..k].iter().position(|r| r.name == role.name) {
                let roles_path = child(&realm.path, "roles");
                c.invalid(
                    child(&index(&roles_path, k), "name"),
                    format!(
                        "duplicate role name \"{}\" in this realm (first defined at {})",
                        role.name,
                        index(&roles_path, j)
                    ),
                );
            }
        }
    }

    for (k, t) in transports.iter().enumerate() {
        let earlier = &transports[..k];
        if let Some(first) = earlier.iter().find(|o| o.item.id == t.item.id) {
            c.invalid(
                child(&t.path, "id"),
                format!(
                    "duplicate transport ID \"{}\" (also used by {})",
                    t.item.id, first.path
                ),
            );
        }
        endpoint_clash(&mut c, t, earlier);
        services(&mut c, t);
    }

    for (k, comp) in components.iter().enumerate() {
        if let Some(first) = components[..k].iter().find(|o| o.item.id == comp.item.id) {
            c.invalid(
                child(&comp.path, "id"),
                format!(
                    "duplicate component ID \"{}\" (also used by {})",
                    comp.item.id, first.path
                ),
            );
        }
        c.realm_exists(
            child(&comp.path, "realm"),
            &comp.item.realm,
            "the component joins",
        );
        if c.realm(&comp.item.realm).is_some() {
            c.role_defined(
                &comp.path,
                &comp.item.role,
                Some(&comp.item.realm),
                "the component gets",
            );
        }
    }

    for (k, w) in workers.iter().enumerate() {
        let Some(id) = &w.id else { continue };
        if let Some(first) = workers[..k].iter().find(|o| o.id.as_ref() == Some(id)) {
            c.invalid(
                child(&index("workers", w.index), "id"),
                format!(
                    "duplicate worker ID \"{id}\" (also used by workers[{}])",
                    first.index
                ),
            );
        }
    }
}

/// Two listeners on the same TCP port (a wildcard interface clashes with
/// every interface; port 0 may repeat) or Unix path.
fn endpoint_clash(
    c: &mut Checker<'_>,
    t: &Located<TransportConfig>,
    earlier: &[Located<TransportConfig>],
) {
    let endpoint_path = child(&t.path, "endpoint");
    match &t.item.endpoint {
        Endpoint::Unix { path } => {
            let clash = earlier.iter().find(
                |o| matches!(&o.item.endpoint, Endpoint::Unix { path: other } if other == path),
            );
            if let Some(other) = clash {
                c.invalid(
                    child(&endpoint_path, "path"),
                    format!(
                        "socket path {} is already used by {}",
                        path.display(),
                        other.path
                    ),
                );
            }
        }
        tcp => {
            let Some((host, port)) = tcp.tcp() else {
                return;
            };
            if port == 0 {
                return;
            }
            let clash = earlier.iter().find(|o| {
                o.item
                    .endpoint
                    .tcp()
                    .is_some_and(|(other_host, other_port)| {
                        other_port == port
                            && (other_host == host || is_any(other_host) || is_any(host))
                    })
            });
            if let Some(other) = clash {
                c.invalid(
                    child(&endpoint_path, "port"),
                    format!("port {port} on {host} is already used by {}", other.path),
                );
            }
        }
    }
}

/// Realms and roles the transport's services refer to; cookie and TLS authentication.
fn services(c: &mut Checker<'_>, t: &Located<TransportConfig>) {
    let tls_client_certs = t
        .item
        .endpoint
        .tls()
        .is_some_and(|tls| tls.client_certificates != ClientCertificates::None);
    for (at, service) in t.item.kind.services() {
        let path = if at.is_empty() {
            t.path.clone()
        } else {
            child(&t.path, &at)
        };
        let (auth, cookie_tracking) = match service {
            ServiceKind::WebSocket(s) => (Some(&s.wamp.auth), s.cookie.is_some()),
            ServiceKind::RawSocket(s) => (Some(&s.wamp.auth), false),
            ServiceKind::Mqtt(m) => {
                let options = child(&path, "options");
                c.realm_exists(child(&options, "realm"), &m.realm, "MQTT clients join");
                c.routed(child(&options, "realm"), &t.item, &m.realm);
                for (prefix, fmt) in &m.payload_mapping {
                    // A codec on another realm: the router calls it there.
                    if let PayloadFormat::Dynamic { realm: Some(r), .. } = fmt {
                        let at =
                            child(&child(&child(&options, "payload_mapping"), prefix), "realm");
                        c.realm_exists(at, r, "the codec is called on");
                    }
                }
                c.auth(&options, &m.auth, Some(&m.realm));
                (None, false)
            }
            ServiceKind::Http(s) => {
                let bridge = match s {
                    WebService::Publisher(b) | WebService::Caller(b) => Some((&b.realm, &b.role)),
                    WebService::Webhook(w) => Some((&w.realm, &w.role)),
                    WebService::Upload(u) => Some((&u.realm, &u.role)),
                    WebService::Wap(w) => Some((&w.realm, &w.role)),
                    _ => None,
                };
                if let Some((realm, role)) = bridge {
                    // A `wap` path names its realm under `wamp`.
                    let realm_at = match s {
                        WebService::Wap(_) => child(&child(&path, "wamp"), "realm"),
                        _ => child(&path, "realm"),
                    };
                    c.realm_exists(realm_at.clone(), realm, "the service uses");
                    c.routed(realm_at, &t.item, realm);
                    if c.realm(realm).is_some() {
                        c.role_defined(&path, role, Some(realm), "the service's requests get");
                    }
                }
                (None, false)
            }
        };
        let Some(auth) = auth else { continue };
        c.auth(&path, auth, None);
        let auth_path = child(&path, "auth");
        if auth.cookie && !cookie_tracking {
            c.warnings.push(format!(
                "{}: cookie authentication needs cookie tracking (`cookie`) on this WebSocket service; no client can log in with a cookie",
                child(&auth_path, "cookie")
            ));
        }
        if auth.tls.is_some() && !tls_client_certs {
            c.warnings.push(format!(
                "{}: TLS authentication needs `endpoint.tls` with `ca_certificates` (client certificates); no client can log in with it",
                child(&auth_path, "tls")
            ));
        }
    }
}

/// Whether `host` is a wildcard address (listens on every interface).
fn is_any(host: &str) -> bool {
    matches!(host, "0.0.0.0" | "::" | "[::]" | "")
}
