//! `tls` and `cookie` authentication in the running core (issue 10): the
//! client certificate and the tracking cookie come in the link's
//! `LinkInfo` (as the TLS layer and the WebSocket upgrade put them there);
//! a login on a link with a cookie is remembered under it and a later link
//! presenting it is welcomed with method `cookie`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use super::auth::{abort, config, details, identity, ids, set_auth, welcome};
use super::*;
use crate::config::auth::{
    AuthConfig, CertificateAuthid, CertificateLogin, Secret, TicketAuth, TicketPrincipal, TlsAuth,
    TlsPrincipal,
};
use crate::core::api::{CookieJar, CookieLogin, LinkCookie, PeerCertificate, TlsInfo};

#[derive(Debug, Default)]
struct Jar(Mutex<HashMap<String, CookieLogin>>);

impl CookieJar for Jar {
    fn login(&self, id: &str) -> Option<CookieLogin> {
        self.0.lock().expect("lock").get(id).cloned()
    }
    fn remember(&self, id: &str, login: CookieLogin) {
        self.0.lock().expect("lock").insert(id.to_owned(), login);
    }
}

/// A link on shard 0 with `tls` and `cookie` in its `LinkInfo`; sends
/// HELLO for realm1 with `d` and returns what came back.
fn hello_with(
    c: &mut Cluster,
    tls: Option<TlsInfo>,
    cookie: Option<LinkCookie>,
    d: Dict,
) -> (Peer, Vec<Message>) {
    let outbox = crate::core::outbox::Outbox::new_ref(1 << 20);
    let mut info = LinkInfo::new(
        Rc::clone(&c.transport),
        FrontEnd::WebSocket,
        "tcp4:10.0.0.9:4000",
    );
    info.set_tls(tls.map(Box::new));
    info.set_cookie(cookie.map(Box::new));
    let out = Output::Wire {
        outbox: Rc::clone(&outbox),
        serializer: Serializer::Json,
    };
    let conn = c.routers[0].open(info, out).expect("open");
    let p = Peer {
        shard: 0,
        conn,
        outbox,
        serializer: Serializer::Json,
    };
    c.send(
        &p,
        Message::Hello(Hello {
            realm: Some("realm1".into()),
            details: d,
        }),
    );
    c.pump();
    let got = c.recv(&p);
    (p, got)
}

fn certificate(cn: &str, sha1: u8, verified: bool) -> TlsInfo {
    TlsInfo {
        version: "TLSv1.3",
        peer_certificate: Some(Box::new(PeerCertificate {
            sha1: [sha1; 20],
            sha256: [sha1; 32],
            subject_cn: Some(cn.to_owned()),
            subject: vec![("CN".into(), cn.into())],
            ca_verified: verified,
            ..PeerCertificate::default()
        })),
        ..TlsInfo::default()
    }
}

#[test]
fn tls_logs_in_listed_and_ca_verified_certificates_only() {
    let mut c = Cluster::with_config(1, config());
    let mut principals = BTreeMap::new();
    principals.insert(
        "alice".to_owned(),
        TlsPrincipal {
            certificate_sha1: [0xA1; 20],
            role: Some("user".into()),
        },
    );
    set_auth(
        &mut c,
        AuthConfig {
            tls: Some(TlsAuth::Static {
                principals,
                from_certificate: Some(CertificateLogin {
                    authid: CertificateAuthid::CommonName,
                    role: "anonymous".into(),
                }),
            }),
            ..AuthConfig::none()
        },
    );
    let tls = |cn, sha1, verified| Some(certificate(cn, sha1, verified));
    let (_, got) = hello_with(
        &mut c,
        tls("whatever", 0xA1, false),
        None,
        details(&["tls"], None),
    );
    assert_eq!(
        identity(welcome(&got)),
        ids("alice", "user", "tls", "static")
    );
    let (_, got) = hello_with(
        &mut c,
        tls("dev-7", 0x01, true),
        None,
        details(&["tls"], None),
    );
    assert_eq!(
        identity(welcome(&got)),
        ids("dev-7", "anonymous", "tls", "static")
    );
    // Not listed and not verified by a CA; no certificate; no TLS at all.
    for info in [tls("dev-8", 0x02, false), Some(TlsInfo::default()), None] {
        let (_, got) = hello_with(&mut c, info, None, details(&["tls"], None));
        assert_eq!(abort(&got).0, uris::AUTHENTICATION_FAILED);
    }
}

#[test]
fn a_login_on_a_tracked_link_is_remembered_and_the_cookie_logs_in_later() {
    let mut c = Cluster::with_config(1, config());
    set_auth(
        &mut c,
        AuthConfig {
            ticket: Some(TicketAuth::Static {
                principals: [(
                    "joe".to_owned(),
                    TicketPrincipal {
                        ticket: Secret::new("t-1"),
                        role: Some("user".into()),
                    },
                )]
                .into(),
                password_file: None,
            }),
            cookie: true,
            ..AuthConfig::none()
        },
    );
    let jar = Arc::new(Jar::default());
    let cookie = |id: &str| {
        Some(LinkCookie {
            id: id.to_owned(),
            jar: Arc::clone(&jar) as Arc<dyn CookieJar>,
        })
    };
    // First visit: the cookie remembers nothing, so `cookie` is skipped and
    // `ticket` applies.
    let (p, got) = hello_with(
        &mut c,
        None,
        cookie("c1"),
        details(&["cookie", "ticket"], Some("joe")),
    );
    assert!(matches!(got.as_slice(), [Message::Challenge(_)]), "{got:?}");
    let got = super::auth::authenticate(&mut c, &p, "t-1", Dict::new());
    assert_eq!(
        identity(welcome(&got)),
        ids("joe", "user", "ticket", "static")
    );
    assert_eq!(
        jar.login("c1"),
        Some(CookieLogin {
            realm: "realm1".into(),
            authid: "joe".into(),
            authrole: "user".into(),
            authmethod: "ticket".into(),
        })
    );
    // Later: the cookie alone.
    let (_, got) = hello_with(&mut c, None, cookie("c1"), details(&["cookie"], None));
    let w = welcome(&got);
    assert_eq!(identity(w), ids("joe", "user", "cookie", "cookie"));
    assert_eq!(
        w.get("authextra")
            .and_then(Value::as_dict)
            .and_then(|e| e.get("cookie_authmethod"))
            .and_then(Value::as_str),
        Some("ticket")
    );
    // Another cookie, or none: no method applies.
    for other in [cookie("c2"), None] {
        let (_, got) = hello_with(&mut c, None, other, details(&["cookie"], None));
        assert_eq!(abort(&got).0, uris::NO_AUTH_METHOD);
    }
}
