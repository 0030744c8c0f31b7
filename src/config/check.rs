//! Checks across items of a loaded config, run after the walk found no
//! problem in any single item: no duplicate realm names, role names unique
//! per realm, transport IDs unique, no two listeners on the same TCP
//! `host:port` (port 0 excepted) or Unix path. Also warns when a transport
//! hands out an anonymous role that no realm defines.

use super::error::{ConfigIssue, IssueKind};
use super::load::{child, index};
use super::{Endpoint, RealmConfig, TransportConfig};

/// An item with the JSON path it was read from.
#[derive(Debug, Clone)]
pub(super) struct Located<T> {
    /// JSON path of the item, e.g. `workers[0].realms[1]`.
    pub path: String,
    /// The item.
    pub item: T,
}

/// Runs every cross-item check, appending to `issues` and `warnings`.
pub(super) fn check(
    realms: &[Located<RealmConfig>],
    transports: &[Located<TransportConfig>],
    issues: &mut Vec<ConfigIssue>,
    warnings: &mut Vec<String>,
) {
    let mut invalid = |path: String, message: String| {
        issues.push(ConfigIssue {
            path,
            kind: IssueKind::Invalid,
            message,
        });
    };

    for (i, realm) in realms.iter().enumerate() {
        if let Some(first) = realms[..i].iter().find(|r| r.item.name == realm.item.name) {
            invalid(
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
                invalid(
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
            invalid(
                child(&t.path, "id"),
                format!(
                    "duplicate transport ID \"{}\" (also used by {})",
                    t.item.id, first.path
                ),
            );
        }
        let endpoint_path = child(&t.path, "endpoint");
        match &t.item.endpoint {
            Endpoint::Tcp { host, port } if *port != 0 => {
                let clash = earlier.iter().find(|o| match &o.item.endpoint {
                    Endpoint::Tcp {
                        host: other_host,
                        port: other_port,
                    } => {
                        other_port == port
                            && (other_host == host || is_any(other_host) || is_any(host))
                    }
                    Endpoint::Unix { .. } => false,
                });
                if let Some(other) = clash {
                    invalid(
                        child(&endpoint_path, "port"),
                        format!("port {port} on {host} is already used by {}", other.path),
                    );
                }
            }
            Endpoint::Tcp { .. } => {}
            Endpoint::Unix { path } => {
                let clash = earlier.iter().find(
                    |o| matches!(&o.item.endpoint, Endpoint::Unix { path: other } if other == path),
                );
                if let Some(other) = clash {
                    invalid(
                        child(&endpoint_path, "path"),
                        format!(
                            "socket path {} is already used by {}",
                            path.display(),
                            other.path
                        ),
                    );
                }
            }
        }
        if let Some(role) = &t.item.auth.anonymous_role {
            let defined = realms
                .iter()
                .any(|r| r.item.roles.iter().any(|x| &x.name == role));
            if !defined {
                warnings.push(format!(
                    "{}: anonymous sessions get role \"{role}\", which no realm defines; \
                     every action they try will be denied",
                    t.path
                ));
            }
        }
    }
}

/// Whether `host` is a wildcard address (listens on every interface).
fn is_any(host: &str) -> bool {
    matches!(host, "0.0.0.0" | "::" | "[::]" | "")
}
