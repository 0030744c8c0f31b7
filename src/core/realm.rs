//! A realm's settings as the core uses them: its name, URI rule, roles'
//! static permissions and trust levels. Read-only after startup; the
//! realm's routing state lives with the broker and the dealer.

use ahash::AHashMap;

use super::authz::RealmAuthorizer;
use crate::config::{AUTHENTICATOR_ROLE, CallQueueConfig, RealmConfig};
use crate::proto::uri::{MatchPolicy, UriCheck, pattern_matches};

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
    /// The store's `call-queue` rules (empty: calls never wait).
    call_queue: Box<[CallQueueConfig]>,
    /// Function authenticators register in this realm (it has the reserved
    /// role [`AUTHENTICATOR_ROLE`]): no registration pattern may reach their
    /// procedures (`core/dispatch.rs`).
    pub hosts_authenticators: bool,
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
            call_queue: cfg.call_queue.clone().into_boxed_slice(),
            hosts_authenticators: cfg.roles.iter().any(|r| r.name == AUTHENTICATOR_ROLE),
        }
    }

    /// Whether any call of this realm may wait in a call queue.
    pub fn queues_calls(&self) -> bool {
        !self.call_queue.is_empty()
    }

    /// How many calls to the registration of `uri` may wait for a free
    /// callee (the store's `call-queue`), if its calls wait at all. An `exact`
    /// rule for `uri` wins; otherwise the first `prefix` or `wildcard` rule
    /// that covers it, in the config's order.
    pub fn call_queue_limit(&self, uri: &str) -> Option<usize> {
        let rules = &self.call_queue;
        rules
            .iter()
            .find(|r| r.match_policy == MatchPolicy::Exact && r.uri == uri)
            .or_else(|| {
                rules.iter().find(|r| {
                    r.match_policy != MatchPolicy::Exact
                        && pattern_matches(&r.uri, r.match_policy, uri)
                })
            })
            .map(|r| r.limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(uri: &str, match_policy: MatchPolicy, limit: usize) -> CallQueueConfig {
        CallQueueConfig {
            uri: uri.to_owned(),
            match_policy,
            limit,
        }
    }

    #[test]
    fn call_queue_rules_match_registration_uris() {
        let mut cfg = crate::config::Config::embedded_default().realms[0].clone();
        let realm = Realm::new(&cfg);
        assert!(!realm.queues_calls());
        assert_eq!(realm.call_queue_limit("com.example.compute"), None);
        cfg.call_queue = vec![
            rule("com.example.", MatchPolicy::Prefix, 10),
            rule("com..run", MatchPolicy::Wildcard, 20),
            rule("com.example.compute", MatchPolicy::Exact, 30),
        ];
        let realm = Realm::new(&cfg);
        assert!(realm.queues_calls());
        assert_eq!(realm.call_queue_limit("com.example.compute"), Some(30));
        assert_eq!(realm.call_queue_limit("com.example.other"), Some(10));
        assert_eq!(realm.call_queue_limit("com.jobs.run"), Some(20));
        assert_eq!(realm.call_queue_limit("com.jobs.run.now"), None);
        assert_eq!(realm.call_queue_limit("org.example.compute"), None);
    }
}
