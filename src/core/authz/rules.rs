//! Static authorization rules: which actions a role may take on which URIs, from
//! the roles' permission rules in the config ([`RealmConfig::roles`]). This
//! runs on every CALL, REGISTER, PUBLISH and SUBSCRIBE, so each role's rules
//! are compiled once into lookup tables; authentication (which role a
//! session gets) lives elsewhere.
//!
//! # Which rule applies
//!
//! Crossbar (`RouterRoleStaticAuth` in `crossbar/router/role.py`) documents
//! "the rule with the longest matching URI (pattern) wins" and implements it
//! as: an exact rule equal to the URI first; else a matching wildcard rule;
//! else the longest matching prefix rule; else deny. Junction follows that
//! order:
//!
//! 1. an **exact** rule whose URI equals the URI;
//! 2. else the most specific matching **wildcard** rule: the one with the
//!    most leading literal components (Crossbar keys wildcards by the text
//!    before their first empty component), then the most literal components
//!    in all, then the one defined first;
//! 3. else the **prefix** rule with the longest URI that the URI starts with
//!    (string prefix, as in Crossbar: `com.app` also covers `com.apple`;
//!    write `com.app.` to stop at a component). The empty prefix covers
//!    every URI;
//! 4. else **deny**. A role that does not exist denies everything.
//!
//! Where Crossbar's implementation departs from its documented rule,
//! Junction follows the documented rule:
//! - Crossbar looks only at the longest *key* that is a prefix of the URI, so
//!   an exact rule `com.a` hides a prefix rule `com.` for `com.ab` (denied).
//!   Junction falls through to the prefix rule (allowed).
//! - Crossbar stores rules by URI only, so an exact and a prefix rule with the
//!   same URI overwrite each other. Junction keeps both: the exact one for
//!   that URI, the prefix one for longer URIs. Two rules with the same URI
//!   *and* policy: the later wins, as in Crossbar (the loader warns).
//! - Crossbar tries only the wildcard with the longest literal head, and two
//!   wildcards with the same head overwrite each other; Junction tries all.
//!
//! The grant carries the rule's disclosure flag for the action: the
//! publisher's identity for PUBLISH, the caller's for CALL, nothing for
//! SUBSCRIBE and REGISTER.

use ahash::AHashMap;

use crate::config::{Allow, Disclose, Permission, RealmConfig, RoleConfig};
use crate::proto::uri::MatchPolicy;

use super::{Action, Grant};

/// The allow and disclose flags of one rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rule {
    allow: Allow,
    disclose: Disclose,
}

impl Rule {
    fn of(p: &Permission) -> Rule {
        Rule {
            allow: p.allow,
            disclose: p.disclose,
        }
    }

    fn grant(self, action: Action) -> Grant {
        let (allowed, disclose) = match action {
            Action::Call => (
                self.allow.call,
                Disclose {
                    caller: self.disclose.caller,
                    publisher: false,
                },
            ),
            Action::Publish => (
                self.allow.publish,
                Disclose {
                    caller: false,
                    publisher: self.disclose.publisher,
                },
            ),
            Action::Register => (self.allow.register, Disclose::default()),
            Action::Subscribe => (self.allow.subscribe, Disclose::default()),
        };
        if allowed {
            Grant { allowed, disclose }
        } else {
            Grant::DENY
        }
    }
}

/// A compiled wildcard rule.
#[derive(Debug, Clone)]
struct WildcardRule {
    /// The pattern as written, to merge duplicates.
    pattern: Box<str>,
    /// One entry per component: `Some(literal)` or `None` for "any one component".
    components: Box<[Option<Box<str>>]>,
    /// Literal components before the first empty one (specificity, first key).
    leading: usize,
    /// Literal components in all (specificity, second key).
    literals: usize,
    rule: Rule,
}

impl WildcardRule {
    fn new(pattern: &str, rule: Rule) -> WildcardRule {
        let components: Box<[Option<Box<str>>]> = pattern
            .split('.')
            .map(|c| (!c.is_empty()).then(|| c.into()))
            .collect();
        let leading = components.iter().take_while(|c| c.is_some()).count();
        let literals = components.iter().filter(|c| c.is_some()).count();
        WildcardRule {
            pattern: pattern.into(),
            components,
            leading,
            literals,
            rule,
        }
    }

    /// Same number of components, literals equal, wildcards match any
    /// non-empty component. No allocation.
    fn matches(&self, uri: &str) -> bool {
        let mut parts = uri.split('.');
        for c in &self.components {
            match (parts.next(), c) {
                (None, _) => return false,
                (Some(p), Some(lit)) if p != &**lit => return false,
                (Some(""), None) => return false,
                _ => {}
            }
        }
        parts.next().is_none()
    }
}

/// One role's permissions, compiled for lookup.
#[derive(Debug, Clone, Default)]
pub struct RoleAuthorizer {
    /// Exact rules by URI.
    exact: AHashMap<Box<str>, Rule>,
    /// Wildcard rules, most specific first.
    wildcard: Vec<WildcardRule>,
    /// Prefix rules, longest first: the first that matches is the longest.
    prefix: Vec<(Box<str>, Rule)>,
}

impl RoleAuthorizer {
    /// Compiles a role's permission rules.
    pub fn new(role: &RoleConfig) -> RoleAuthorizer {
        let mut a = RoleAuthorizer::default();
        for p in &role.permissions {
            let rule = Rule::of(p);
            match p.match_policy {
                MatchPolicy::Exact => {
                    a.exact.insert(p.uri.as_str().into(), rule);
                }
                MatchPolicy::Prefix => match a.prefix.iter_mut().find(|(u, _)| **u == *p.uri) {
                    Some(slot) => slot.1 = rule,
                    None => a.prefix.push((p.uri.as_str().into(), rule)),
                },
                MatchPolicy::Wildcard => {
                    match a.wildcard.iter_mut().find(|w| *w.pattern == *p.uri) {
                        Some(w) => w.rule = rule,
                        None => a.wildcard.push(WildcardRule::new(&p.uri, rule)),
                    }
                }
            }
        }
        // Stable sorts: among equals, the rule defined first stays first.
        a.prefix
            .sort_by_key(|(uri, _)| std::cmp::Reverse(uri.len()));
        a.wildcard
            .sort_by_key(|w| std::cmp::Reverse((w.leading, w.literals)));
        a
    }

    /// Whether this role may take `action` on `uri`, and what it discloses.
    pub fn authorize(&self, action: Action, uri: &str) -> Grant {
        self.rule_for(uri)
            .map_or(Grant::DENY, |rule| rule.grant(action))
    }

    /// The rule that applies to `uri` (see the module docs for the order).
    fn rule_for(&self, uri: &str) -> Option<Rule> {
        if !self.exact.is_empty()
            && let Some(rule) = self.exact.get(uri)
        {
            return Some(*rule);
        }
        if let Some(w) = self.wildcard.iter().find(|w| w.matches(uri)) {
            return Some(w.rule);
        }
        self.prefix
            .iter()
            .find(|(p, _)| uri.starts_with(&**p))
            .map(|(_, rule)| *rule)
    }
}

/// The static authorizer of one realm: every role's compiled rules.
#[derive(Debug, Clone, Default)]
pub struct RealmAuthorizer {
    roles: AHashMap<Box<str>, RoleAuthorizer>,
}

impl RealmAuthorizer {
    /// Compiles every role of `realm`.
    pub fn new(realm: &RealmConfig) -> Self {
        RealmAuthorizer {
            roles: realm
                .roles
                .iter()
                .map(|r| (r.name.as_str().into(), RoleAuthorizer::new(r)))
                .collect(),
        }
    }

    /// Whether a session with `authrole` may take `action` on `uri`.
    /// Unknown roles are denied everything.
    pub fn authorize(&self, authrole: &str, action: Action, uri: &str) -> Grant {
        self.roles
            .get(authrole)
            .map_or(Grant::DENY, |r| r.authorize(action, uri))
    }

    /// Whether the realm defines `authrole`.
    pub fn has_role(&self, authrole: &str) -> bool {
        self.roles.contains_key(authrole)
    }

    /// The compiled rules of `authrole`, so a session can look its role up
    /// once at join instead of on every action.
    pub fn role(&self, authrole: &str) -> Option<&RoleAuthorizer> {
        self.roles.get(authrole)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::uri::UriCheck;

    const ALL: Allow = Allow {
        call: true,
        register: true,
        publish: true,
        subscribe: true,
    };
    const NONE: Allow = Allow {
        call: false,
        register: false,
        publish: false,
        subscribe: false,
    };

    fn perm(uri: &str, m: MatchPolicy, allow: Allow) -> Permission {
        Permission {
            uri: uri.to_owned(),
            match_policy: m,
            allow,
            disclose: Disclose::default(),
        }
    }

    fn realm(perms: Vec<Permission>) -> RealmAuthorizer {
        RealmAuthorizer::new(&RealmConfig {
            name: "realm1".to_owned(),
            uri_check: UriCheck::Loose,
            roles: vec![RoleConfig {
                name: "user".to_owned(),
                permissions: perms,
                trustlevel: None,
            }],
            store: Default::default(),
            prefer_local_callee: false,
            call_queue: Vec::new(),
        })
    }

    fn allowed(a: &RealmAuthorizer, action: Action, uri: &str) -> bool {
        a.authorize("user", action, uri).allowed
    }

    use MatchPolicy::{Exact, Prefix, Wildcard};

    #[test]
    fn unknown_role_and_no_rule_deny() {
        let a = realm(vec![perm("com.a", Exact, ALL)]);
        assert!(a.has_role("user"));
        assert!(!a.has_role("anonymous"));
        assert_eq!(a.authorize("anonymous", Action::Call, "com.a"), Grant::DENY);
        assert!(allowed(&a, Action::Call, "com.a"));
        assert!(!allowed(&a, Action::Call, "com.b"));
        assert!(!allowed(&a, Action::Call, "com.a.b"));
    }

    #[test]
    fn actions_are_separate() {
        let only_sub = Allow {
            subscribe: true,
            ..NONE
        };
        let a = realm(vec![perm("com.t", Exact, only_sub)]);
        assert!(allowed(&a, Action::Subscribe, "com.t"));
        assert!(!allowed(&a, Action::Publish, "com.t"));
        assert!(!allowed(&a, Action::Call, "com.t"));
        assert!(!allowed(&a, Action::Register, "com.t"));
    }

    #[test]
    fn empty_prefix_covers_everything() {
        let a = realm(vec![perm("", Prefix, ALL)]);
        for uri in ["a", "com.example.x", "wamp.session.count"] {
            assert!(allowed(&a, Action::Publish, uri), "{uri}");
        }
    }

    #[test]
    fn longest_prefix_wins() {
        let a = realm(vec![
            perm("", Prefix, NONE),
            perm("com.example.", Prefix, ALL),
            perm("com.example.private.", Prefix, NONE),
        ]);
        assert!(!allowed(&a, Action::Call, "org.x"));
        assert!(allowed(&a, Action::Call, "com.example.public.x"));
        assert!(!allowed(&a, Action::Call, "com.example.private.x"));
        // String prefix, as in Crossbar.
        let b = realm(vec![perm("com.app", Prefix, ALL)]);
        assert!(allowed(&b, Action::Call, "com.apple"));
    }

    #[test]
    fn prefix_order_does_not_depend_on_definition_order() {
        let a = realm(vec![
            perm("com.example.private.", Prefix, NONE),
            perm("com.example.", Prefix, ALL),
        ]);
        assert!(!allowed(&a, Action::Call, "com.example.private.x"));
        assert!(allowed(&a, Action::Call, "com.example.x"));
    }

    #[test]
    fn exact_beats_prefix_and_wildcard() {
        let a = realm(vec![
            perm("com.", Prefix, ALL),
            perm("com..secret", Wildcard, ALL),
            perm("com.x.secret", Exact, NONE),
        ]);
        assert!(!allowed(&a, Action::Call, "com.x.secret"));
        assert!(allowed(&a, Action::Call, "com.y.secret"));
    }

    #[test]
    fn exact_rule_does_not_hide_a_shorter_prefix() {
        // Crossbar's trie would deny com.ab here; Junction follows the documented rule.
        let a = realm(vec![perm("com.", Prefix, ALL), perm("com.a", Exact, NONE)]);
        assert!(!allowed(&a, Action::Call, "com.a"));
        assert!(allowed(&a, Action::Call, "com.ab"));
    }

    #[test]
    fn exact_and_prefix_with_the_same_uri_both_apply() {
        let a = realm(vec![perm("com.a", Prefix, NONE), perm("com.a", Exact, ALL)]);
        assert!(allowed(&a, Action::Call, "com.a"));
        assert!(!allowed(&a, Action::Call, "com.a.b"));
    }

    #[test]
    fn wildcard_beats_prefix() {
        let a = realm(vec![
            perm("com.app.", Prefix, ALL),
            perm("com..admin", Wildcard, NONE),
        ]);
        assert!(!allowed(&a, Action::Call, "com.app.admin"));
        assert!(allowed(&a, Action::Call, "com.app.user"));
        // A wildcard matches exactly as many components as it has.
        assert!(allowed(&a, Action::Call, "com.app.admin.x"));
    }

    #[test]
    fn most_specific_wildcard_wins() {
        let a = realm(vec![
            perm("com...", Wildcard, NONE),
            perm("com.a..", Wildcard, ALL),
            perm("com.a..z", Wildcard, NONE),
            perm("..x.y", Wildcard, ALL),
        ]);
        assert!(!allowed(&a, Action::Call, "com.a.b.z"));
        assert!(allowed(&a, Action::Call, "com.a.b.c"));
        assert!(!allowed(&a, Action::Call, "com.b.c.d"));
        // Longer literal head beats more literals overall.
        assert!(allowed(&a, Action::Call, "com.a.x.y"));
        assert!(allowed(&a, Action::Call, "org.q.x.y"));
        // Wildcard components never match an empty component.
        assert!(!allowed(&a, Action::Call, "org..x.y"));
    }

    #[test]
    fn wildcard_ties_go_to_the_first_defined() {
        let a = realm(vec![
            perm("com..b", Wildcard, ALL),
            perm("com.a.", Wildcard, NONE),
        ]);
        assert!(
            !allowed(&a, Action::Call, "com.a.b"),
            "com.a. has the longer head"
        );
        let b = realm(vec![
            perm("com..b", Wildcard, ALL),
            perm("com..c", Wildcard, NONE),
        ]);
        assert!(allowed(&b, Action::Call, "com.x.b"));
        assert!(!allowed(&b, Action::Call, "com.x.c"));
        let c = realm(vec![
            perm("..c", Wildcard, NONE),
            perm(".b.", Wildcard, ALL),
        ]);
        assert!(
            !allowed(&c, Action::Call, "a.b.c"),
            "same specificity: first defined"
        );
    }

    #[test]
    fn duplicate_rules_later_wins() {
        let a = realm(vec![
            perm("com.a", Exact, ALL),
            perm("com.a", Exact, NONE),
            perm("org.", Prefix, NONE),
            perm("org.", Prefix, ALL),
            perm("net..x", Wildcard, NONE),
            perm("net..x", Wildcard, ALL),
        ]);
        assert!(!allowed(&a, Action::Call, "com.a"));
        assert!(allowed(&a, Action::Call, "org.b"));
        assert!(allowed(&a, Action::Call, "net.y.x"));
    }

    #[test]
    fn disclose_follows_the_action() {
        let mut p = perm("com.", Prefix, ALL);
        p.disclose = Disclose {
            caller: true,
            publisher: true,
        };
        let mut hidden = perm("com.hidden", Exact, ALL);
        hidden.disclose = Disclose::default();
        let a = realm(vec![p, hidden]);
        let call = a.authorize("user", Action::Call, "com.x");
        assert_eq!(
            call,
            Grant {
                allowed: true,
                disclose: Disclose {
                    caller: true,
                    publisher: false
                }
            }
        );
        let publish = a.authorize("user", Action::Publish, "com.x");
        assert_eq!(
            publish.disclose,
            Disclose {
                caller: false,
                publisher: true
            }
        );
        assert_eq!(
            a.authorize("user", Action::Subscribe, "com.x").disclose,
            Disclose::default()
        );
        assert_eq!(
            a.authorize("user", Action::Call, "com.hidden").disclose,
            Disclose::default()
        );
    }

    #[test]
    fn denied_grants_disclose_nothing() {
        let mut p = perm("com.", Prefix, NONE);
        p.disclose = Disclose {
            caller: true,
            publisher: true,
        };
        let a = realm(vec![p]);
        assert_eq!(a.authorize("user", Action::Call, "com.x"), Grant::DENY);
    }

    #[test]
    fn role_handle_gives_the_same_answers() {
        let a = realm(vec![perm("com.", Prefix, ALL)]);
        let role = a.role("user").expect("role exists");
        assert!(role.authorize(Action::Call, "com.x").allowed);
        assert!(!role.authorize(Action::Call, "org.x").allowed);
        assert!(a.role("nobody").is_none());
    }

    #[test]
    fn embedded_default_allows_anonymous_everything() {
        let cfg = crate::config::Config::embedded_default();
        let a = RealmAuthorizer::new(&cfg.realms[0]);
        for action in [
            Action::Call,
            Action::Register,
            Action::Publish,
            Action::Subscribe,
        ] {
            assert!(a.authorize("anonymous", action, "com.example.x").allowed);
        }
        assert!(!a.authorize("other", Action::Call, "com.example.x").allowed);
    }
}
