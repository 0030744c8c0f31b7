//! A realm's settings as the core uses them: its name, URI rule, roles'
//! static permissions and trust levels. Read-only after startup; the
//! realm's routing state lives with the broker and the dealer.

use ahash::AHashMap;

use super::authz::RealmAuthorizer;
use crate::config::RealmConfig;
use crate::proto::uri::UriCheck;

/// One realm's settings.
pub struct Realm {
    /// The realm's name.
    pub name: String,
    /// URI validation rule.
    pub uri_check: UriCheck,
    /// Static permissions of its roles.
    pub authz: RealmAuthorizer,
    /// Trust levels configured per role (`junction.trustlevel`).
    pub trustlevels: AHashMap<String, u64>,
    /// `junction.prefer_local_callee`: shared registrations pick a callee on
    /// the caller's shard first.
    pub prefer_local_callee: bool,
}

impl Realm {
    /// The settings of `cfg`.
    pub fn new(cfg: &RealmConfig) -> Self {
        Realm {
            name: cfg.name.clone(),
            uri_check: cfg.uri_check,
            authz: RealmAuthorizer::new(cfg),
            trustlevels: cfg
                .roles
                .iter()
                .filter_map(|r| r.trustlevel.map(|t| (r.name.clone(), t)))
                .collect(),
            prefer_local_callee: cfg.prefer_local_callee,
        }
    }
}
