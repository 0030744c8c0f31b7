//! `cookie`: a WebSocket client that logged in once (with any other method)
//! is welcomed again, without credentials, when a later connection presents
//! the tracking cookie the router set on that first connection's upgrade
//! response.
//!
//! The cookie and its store belong to the WebSocket service (`cookie`
//! tracking, handled by the transport's upgrade; [`LinkCookie`]); every
//! successful login on a link with a cookie is remembered under it (see
//! `hello.rs`, `welcome`). This method only looks the link's cookie up: it
//! applies when the cookie has a login remembered for the realm asked for
//! (for a HELLO that names no realm: any login it remembers, whose realm the
//! session then joins), and is skipped otherwise, so that a client offering
//! `["cookie", "ticket"]` falls through to `ticket` on its first visit
//! (Crossbar's behaviour).
//!
//! [`LinkCookie`]: crate::core::api::LinkCookie

use super::{Authenticator, HelloRequest, Identity, Step, Ticket};
use crate::core::api::{CookieLogin, LinkInfo};

/// The method name.
const METHOD: &str = "cookie";

/// Cookie authentication.
#[derive(Debug, Clone, Copy, Default)]
pub struct CookieMethod;

/// The login the link's cookie remembers for `realm` (`None`: whatever
/// realm it was), if any.
fn remembered(link: &LinkInfo, realm: Option<&str>) -> Option<CookieLogin> {
    let c = link.cookie()?;
    c.jar
        .login(&c.id)
        .filter(|l| realm.is_none_or(|r| l.realm == r))
}

impl Authenticator for CookieMethod {
    fn method(&self) -> &str {
        METHOD
    }

    fn applies(&self, link: &LinkInfo, realm: Option<&str>) -> bool {
        remembered(link, realm).is_some()
    }

    fn hello(&self, req: &HelloRequest<'_>, _ticket: Ticket) -> Step {
        match remembered(req.link, req.realm) {
            Some(l) => {
                let mut id = Identity::new(Some(l.authid), l.authrole, METHOD, "cookie");
                id.authextra =
                    Some(crate::proto::Dict::new().with("cookie_authmethod", l.authmethod));
                // The realm of that login (the one asked for, if one was).
                id.realm = Some(l.realm);
                Step::Welcome(id)
            }
            None => Step::failed(
                "cookie authentication failed: no login is remembered under this cookie",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::rc::Rc;
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::config::{Endpoint, TransportConfig, TransportKind};
    use crate::core::api::{CookieJar, FrontEnd, LinkCookie};
    use crate::proto::{Dict, SessionId};

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

    fn link(jar: &Arc<Jar>, id: &str) -> LinkInfo {
        let t = TransportConfig::new(
            "t".into(),
            TransportKind::WebSocket(Default::default()),
            Endpoint::Tcp {
                host: "127.0.0.1".into(),
                port: 0,
            },
        );
        let mut l = LinkInfo::new(Rc::new(t), FrontEnd::WebSocket, "tcp4:127.0.0.1:1");
        l.set_cookie(Some(Box::new(LinkCookie {
            id: id.into(),
            jar: Arc::clone(jar) as Arc<dyn CookieJar>,
        })));
        l
    }

    #[test]
    fn a_remembered_login_is_welcomed_on_its_realm_only() {
        let jar = Arc::new(Jar::default());
        jar.remember(
            "c1",
            CookieLogin {
                realm: "realm1".into(),
                authid: "joe".into(),
                authrole: "user".into(),
                authmethod: "ticket".into(),
            },
        );
        let m = CookieMethod;
        let known = link(&jar, "c1");
        assert!(m.applies(&known, Some("realm1")));
        assert!(!m.applies(&known, Some("realm2")));
        assert!(!m.applies(&link(&jar, "c2"), Some("realm1")));
        // A HELLO naming no realm gets the remembered login's realm.
        assert!(m.applies(&known, None));
        assert!(!m.applies(&link(&jar, "c2"), None));
        let details = Dict::new();
        for asked in [Some("realm1"), None] {
            let req = HelloRequest {
                realm: asked,
                details: &details,
                link: &known,
                session: SessionId(1),
                unix_ms: 0,
            };
            match m.hello(&req, Ticket(1)) {
                Step::Welcome(i) => {
                    assert_eq!(i.authid.as_deref(), Some("joe"));
                    assert_eq!(i.authrole, "user");
                    assert_eq!(i.authmethod, "cookie");
                    assert_eq!(i.realm.as_deref(), Some("realm1"));
                }
                other => panic!("not welcomed: {other:?}"),
            }
        }
    }
}
