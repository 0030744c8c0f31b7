//! A HELLO whose realm is `null` (Autobahn|Python's `Component(realm=None)`,
//! `join(None)`): authenticated as usual, placed in the realm the login
//! assigns (a principal's `realm`, a dynamic authenticator's answer), and
//! refused with `wamp.error.no_such_realm` when it assigns none.

use super::auth::*;
use super::auth_dynamic::{answer, component, dynamic, invocation};
use super::*;
use crate::config::auth::{
    AnonymousAuth, AuthConfig, CryptosignAuth, CryptosignPrincipal, TicketAuth,
};

/// Cryptosign principals: `roam` (key 5) is sent to realm2, `dev` (key 1)
/// names no realm.
fn cryptosign_config() -> AuthConfig {
    let p = |n: u8, realm: Option<&str>| CryptosignPrincipal {
        authorized_keys: vec![key(n).verifying_key().to_bytes()],
        role: Some("user".into()),
        realm: realm.map(str::to_owned),
    };
    AuthConfig {
        cryptosign: Some(CryptosignAuth::Static {
            principals: [
                ("roam".to_owned(), p(5, Some("realm2"))),
                ("dev".to_owned(), p(1, None)),
            ]
            .into(),
        }),
        ..AuthConfig::none()
    }
}

/// HELLO (null realm) as `authid` with cryptosign, signed with key `n`.
fn cryptosign_login(c: &mut Cluster, authid: &str, n: u8) -> (Peer, Vec<Message>) {
    let (p, got) = hello(c, 0, None, details(&["cryptosign"], Some(authid)));
    let sig = cs_sign(challenge(&got), n);
    let got = authenticate(c, &p, &sig, Dict::new());
    (p, got)
}

#[test]
fn a_null_realm_joins_the_realm_its_principal_assigns() {
    let mut c = Cluster::with_config(2, config());
    // Watchers on both realms, joined before the transport needs cryptosign.
    let (w2, _) = c.join(1, Serializer::Json, "realm2");
    c.subscribe(&w2, 1, "wamp.session.on_join", Dict::new());
    let (w1, _) = c.join(1, Serializer::Json, "realm1");
    c.subscribe(&w1, 1, "wamp.session.on_join", Dict::new());
    set_auth(&mut c, cryptosign_config());

    let (p, got) = cryptosign_login(&mut c, "roam", 5);
    let w = welcome(&got).clone();
    assert_eq!(s(&w, "realm"), "realm2");
    assert_eq!(s(&w, "authid"), "roam");
    assert_eq!(s(&w, "authrole"), "user");
    // The meta API reports the session in the realm it was placed in.
    c.pump();
    let got = c.recv(&w2);
    let ev = events(&got);
    assert_eq!(ev.len(), 1, "{got:?}");
    let d = ev[0].payload.args.as_ref().expect("args")[0]
        .as_dict()
        .expect("session details");
    assert_eq!(s(d, "authid"), "roam");
    assert_eq!(s(d, "realm"), "realm2");
    assert!(c.recv(&w1).is_empty(), "realm1 saw no join");
    // It works there: it can subscribe on realm2.
    c.subscribe(&p, 7, "com.example.topic", Dict::new());

    // A principal without a realm: authenticated, then refused.
    let (_, got) = cryptosign_login(&mut c, "dev", 1);
    let (reason, message) = abort(&got);
    assert_eq!(reason, uris::NO_SUCH_REALM);
    assert_eq!(
        message,
        "HELLO named no realm, and the cryptosign login assigned none: name a realm in \
         HELLO, or give the principal (or the dynamic authenticator's answer) a 'realm'"
    );
}

#[test]
fn a_null_realm_with_an_anonymous_login_is_refused_no_such_realm() {
    let mut c = Cluster::with_config(1, config());
    let (_, got) = hello(&mut c, 0, None, Dict::new());
    let (reason, message) = abort(&got);
    assert_eq!(reason, uris::NO_SUCH_REALM);
    assert!(
        message.starts_with("HELLO named no realm, and the anonymous login assigned none"),
        "{message}"
    );
    // The link stays usable: a HELLO naming a realm is welcomed after it.
    let (_, got) = hello(&mut c, 0, "realm1", Dict::new());
    assert_eq!(s(welcome(&got), "realm"), "realm1");
}

#[test]
fn a_null_realm_is_placed_by_a_dynamic_authenticator() {
    let mut c = Cluster::with_config(2, config());
    let comp = component(&mut c, 1, &["com.auth.ticket", "com.auth.anonymous"]);
    let mut on_realm1 = dynamic("com.auth.ticket");
    on_realm1.realm = Some("realm1".into());
    set_auth(
        &mut c,
        AuthConfig {
            ticket: Some(TicketAuth::Dynamic(on_realm1)),
            anonymous: Some(AnonymousAuth::Dynamic(dynamic("com.auth.anonymous"))),
            ..AuthConfig::none()
        },
    );
    for assigned in [Some("realm2"), None] {
        let (p, got) = hello(&mut c, 0, None, details(&["ticket"], Some("user1")));
        assert_eq!(challenge(&got).auth_method, "ticket");
        assert!(authenticate(&mut c, &p, "123secret", Dict::new()).is_empty());
        let inv = invocation(&mut c, &comp);
        let a = inv.payload.args.clone().expect("args");
        // Called as Crossbar calls it: realm null, the authid, the details.
        assert_eq!(a[0], Value::Null);
        assert_eq!(a[1].as_str(), Some("user1"));
        let mut principal = Dict::new().with("role", "user");
        if let Some(r) = assigned {
            principal.insert("realm", r);
        }
        answer(&mut c, &comp, &inv, Value::Dict(principal));
        let got = c.recv(&p);
        match assigned {
            Some(r) => {
                let w = welcome(&got);
                assert_eq!((s(w, "realm"), s(w, "authid")), (r, "user1"));
                assert_eq!(s(w, "authprovider"), "dynamic");
            }
            None => {
                let (reason, message) = abort(&got);
                assert_eq!(reason, uris::NO_SUCH_REALM);
                assert!(
                    message.contains("the ticket login assigned none"),
                    "{message}"
                );
            }
        }
    }
    // An authenticator without `authenticator-realm` lives on the client's
    // realm: with none named it cannot be asked.
    let (_, got) = hello(&mut c, 0, None, details(&["anonymous"], None));
    let (reason, message) = abort(&got);
    assert_eq!(reason, uris::NO_SUCH_REALM);
    assert!(
        message.contains("'com.auth.anonymous' has no 'authenticator-realm'"),
        "{message}"
    );
    assert!(c.recv(&comp).is_empty(), "not invoked");
}
