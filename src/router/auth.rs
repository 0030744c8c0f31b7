//! TEMPORARY static authorizer with the agreed API (replaced at merge).
#![allow(missing_docs)]
use crate::config::{Disclose, RealmConfig};
use crate::proto::uri::MatchPolicy;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Call,
    Register,
    Publish,
    Subscribe,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Grant {
    pub allowed: bool,
    pub disclose: Disclose,
}

#[derive(Debug, Clone)]
pub struct RealmAuthorizer {
    realm: RealmConfig,
}

impl RealmAuthorizer {
    pub fn new(realm: &RealmConfig) -> Self {
        RealmAuthorizer {
            realm: realm.clone(),
        }
    }
    pub fn has_role(&self, authrole: &str) -> bool {
        self.realm.roles.iter().any(|r| r.name == authrole)
    }
    pub fn authorize(&self, authrole: &str, action: Action, uri: &str) -> Grant {
        let Some(role) = self.realm.roles.iter().find(|r| r.name == authrole) else {
            return Grant::default();
        };
        for p in &role.permissions {
            let m = match p.match_policy {
                MatchPolicy::Exact => p.uri == uri,
                MatchPolicy::Prefix => uri.starts_with(&p.uri),
                MatchPolicy::Wildcard => false,
            };
            if m {
                let allowed = match action {
                    Action::Call => p.allow.call,
                    Action::Register => p.allow.register,
                    Action::Publish => p.allow.publish,
                    Action::Subscribe => p.allow.subscribe,
                };
                return Grant {
                    allowed,
                    disclose: p.disclose,
                };
            }
        }
        Grant::default()
    }
}
