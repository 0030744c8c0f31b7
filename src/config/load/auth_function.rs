//! `"type": "function"` authenticators: Crossbar runs a Python factory
//! (`create`, called with `config` and its node controller) in its router
//! process and calls the function it returns as `authenticate(realm, authid,
//! details)`, the contract of a dynamic authenticator.
//!
//! Junction runs the factory in the router components' Python host
//! (`node/workers/router_components.rs`): for every realm, a hidden
//! component of role [`AUTHENTICATOR_ROLE`] calls it and registers the
//! function as a procedure under [`RESERVED_PREFIX`], and the transport's
//! method becomes a dynamic one calling that procedure on the client's
//! realm. The authorization guard (`core/dispatch.rs`) keeps the prefix to
//! the router: only its own sessions may call there (a WAMP-CRA function
//! answers the secret), and only the hidden role may register there,
//! whatever the roles' permissions say. The realms get that role, allowed
//! to register under the prefix and nothing else.

use serde_json::Value;

use super::{Key, Loader, Obj, Router};
use crate::config::auth::DynamicAuth;
use crate::config::path::{Located, child};
use crate::config::worker::{ComponentConfig, ComponentKind, PythonComponent, PythonEntry};
use crate::config::{AUTHENTICATOR_ROLE, Allow, Disclose, Permission, RESERVED_PREFIX, RoleConfig};
use crate::proto::uri::MatchPolicy;

/// A function authenticator read from a transport's `auth`.
#[derive(Debug)]
pub(super) struct FunctionAuth {
    /// Where it was configured (the method's path).
    path: String,
    /// `create`.
    create: String,
    /// `config`.
    config: Option<Value>,
    /// The procedure the router calls.
    procedure: String,
}

impl Loader<'_> {
    /// A method's `"type": "function"`: a dynamic authenticator calling the
    /// procedure the router components' host registers for it.
    pub(super) fn function_auth(&mut self, path: &str, obj: &Obj) -> Option<DynamicAuth> {
        self.keys(
            path,
            obj,
            &[
                ("type", Key::Read),
                ("create", Key::Read),
                ("config", Key::Read),
                (
                    "expose_controller",
                    Key::Warn(
                        "ignored: Junction has no node controller; the factory gets None for it",
                    ),
                ),
            ],
        );
        let create = self.required(path, obj, "create", Self::nonempty)?;
        if !create.contains('.') {
            self.error(
                &child(path, "create"),
                format!("\"{create}\" is not a qualified name (module.function)"),
            );
            return None;
        }
        let procedure = format!(
            "{RESERVED_PREFIX}authenticator.{}",
            self.function_auths.len() + 1
        );
        self.function_auths.push(FunctionAuth {
            path: path.to_owned(),
            create: create.into_owned(),
            config: obj.get("config").cloned(),
            procedure: procedure.clone(),
        });
        Some(DynamicAuth {
            authenticator: procedure,
            realm: None,
            role: None,
            default_role: None,
        })
    }

    /// Gives `router` the hidden components and role the function
    /// authenticators read so far need (one component per authenticator
    /// and realm).
    pub(super) fn host_function_auths(&mut self, router: &mut Router) {
        let auths = std::mem::take(&mut self.function_auths);
        if auths.is_empty() {
            return;
        }
        let role = RoleConfig {
            name: AUTHENTICATOR_ROLE.to_owned(),
            permissions: vec![Permission {
                uri: format!("{RESERVED_PREFIX}authenticator."),
                match_policy: MatchPolicy::Prefix,
                allow: Allow {
                    register: true,
                    ..Allow::default()
                },
                disclose: Disclose::default(),
            }],
            trustlevel: None,
        };
        for realm in &mut router.realms {
            if realm
                .item
                .roles
                .iter()
                .any(|r| r.name == AUTHENTICATOR_ROLE)
            {
                self.error(
                    &realm.path,
                    format!(
                        "role \"{AUTHENTICATOR_ROLE}\" is reserved for function authenticators"
                    ),
                );
                continue;
            }
            realm.item.roles.push(role.clone());
        }
        for (n, a) in auths.iter().enumerate() {
            for realm in &router.realms {
                router.components.push(Located {
                    path: a.path.clone(),
                    item: ComponentConfig {
                        id: format!("authenticator{}.{}", n + 1, realm.item.name),
                        realm: realm.item.name.clone(),
                        role: AUTHENTICATOR_ROLE.to_owned(),
                        kind: ComponentKind::Python(PythonComponent {
                            entry: PythonEntry::Authenticator {
                                create: a.create.clone(),
                                config: a.config.clone(),
                                procedure: a.procedure.clone(),
                            },
                            extra: None,
                        }),
                    },
                });
            }
        }
    }
}
