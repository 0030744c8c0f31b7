//! `tls`: the client is who its TLS client certificate says.
//!
//! The TLS layer verified the certificate (against the listener's
//! `ca_certificates`, when it has them) and left what authentication needs
//! in the link's [`TlsInfo`](crate::core::api::TlsInfo): the SHA-1 and
//! SHA-256 fingerprints, the subject and issuer, whether a CA vouched for it.
//!
//! Static: `principals` map authids to a certificate's SHA-1 fingerprint
//! (Crossbar's `certificate-sha1`) and a role; the certificate must be one of
//! them. Junction extension `junction: {authid, role}`: a certificate the
//! CAs verified and that no principal names logs in with the authid taken
//! from it (subject CN, SHA-1 or SHA-256 fingerprint) and that role. A
//! certificate that only a fingerprint vouches for (no CA configured) must
//! be listed. No certificate: the login fails (the client may offer
//! another method first).
//!
//! Dynamic: the authenticator gets the usual details plus
//! `transport.client_cert` (`sha1`, `sha256`, `serial`, `subject`,
//! `issuer`, `verified`) and answers with the role (and authid).
//!
//! No CHALLENGE: the TLS handshake already proved the key.

use std::collections::BTreeMap;
use std::rc::Rc;

use super::dynamic::{self, Dynamic};
use super::{Authenticator, HelloRequest, Identity, Step, Ticket};
use crate::config::auth::{AuthSettings, CertificateAuthid, CertificateLogin, TlsAuth};
use crate::core::api::PeerCertificate;
use crate::core::uris;
use crate::proto::{Dict, Value};

/// The method name.
const METHOD: &str = "tls";

/// TLS client-certificate authentication.
#[derive(Debug, Clone)]
pub struct TlsMethod {
    kind: Kind,
}

/// SHA-1 fingerprint → (authid, role) of the static principals.
type BySha1 = BTreeMap<[u8; 20], (String, Option<String>)>;

#[derive(Debug, Clone)]
enum Kind {
    Static {
        /// SHA-1 fingerprint → (authid, role).
        by_sha1: Rc<BySha1>,
        /// Any CA-verified certificate, when configured.
        from_certificate: Option<CertificateLogin>,
    },
    Dynamic(Dynamic),
}

impl TlsMethod {
    /// From a transport's `auth.tls`.
    pub fn from_config(a: &TlsAuth, settings: &AuthSettings) -> TlsMethod {
        let kind = match a {
            TlsAuth::Static {
                principals,
                from_certificate,
            } => Kind::Static {
                by_sha1: Rc::new(
                    principals
                        .iter()
                        .map(|(id, p)| (p.certificate_sha1, (id.clone(), p.role.clone())))
                        .collect(),
                ),
                from_certificate: from_certificate.clone(),
            },
            TlsAuth::Dynamic(d) => Kind::Dynamic(Dynamic::from_config(d, settings)),
        };
        TlsMethod { kind }
    }
}

/// The authid a certificate gives under `from`.
pub fn certificate_authid(cert: &PeerCertificate, from: CertificateAuthid) -> Option<String> {
    match from {
        CertificateAuthid::CommonName => cert.subject_cn.clone().filter(|cn| !cn.is_empty()),
        CertificateAuthid::Sha1 => Some(cert.sha1_hex()),
        CertificateAuthid::Sha256 => Some(cert.sha256_hex()),
    }
}

/// What a dynamic authenticator learns of the certificate.
fn certificate_details(cert: &PeerCertificate) -> Dict {
    let name = |attrs: &[(String, String)]| {
        let mut d = Dict::new();
        for (k, v) in attrs {
            d.insert(k.to_ascii_lowercase(), v.as_str());
        }
        d
    };
    Dict::new()
        .with("sha1", cert.sha1_hex())
        .with("sha256", cert.sha256_hex())
        .with("serial", cert.serial.as_str())
        .with("subject", name(&cert.subject))
        .with("issuer", name(&cert.issuer))
        .with("verified", cert.ca_verified)
}

impl Authenticator for TlsMethod {
    fn method(&self) -> &str {
        METHOD
    }

    fn hello(&self, req: &HelloRequest<'_>, _ticket: Ticket) -> Step {
        let Some(cert) = req.link.tls().and_then(|t| t.peer_certificate.as_ref()) else {
            let why = if req.link.tls().is_some() {
                "tls authentication needs a client certificate; none was presented"
            } else {
                "tls authentication needs a TLS connection with a client certificate"
            };
            return Step::failed(why);
        };
        match &self.kind {
            Kind::Static {
                by_sha1,
                from_certificate,
            } => {
                if let Some((authid, role)) = by_sha1.get(&cert.sha1) {
                    return match role {
                        Some(role) => Step::Welcome(Identity::new(
                            Some(authid.clone()),
                            role.as_str(),
                            METHOD,
                            "static",
                        )),
                        None => Step::deny(
                            uris::NO_SUCH_ROLE,
                            format!("principal '{authid}' has no role configured"),
                        ),
                    };
                }
                let Some(login) = from_certificate.as_ref().filter(|_| cert.ca_verified) else {
                    return Step::failed(format!(
                        "tls authentication failed: no principal has the certificate {}",
                        cert.sha1_hex()
                    ));
                };
                match certificate_authid(cert, login.authid) {
                    Some(authid) => Step::Welcome(Identity::new(
                        Some(authid),
                        login.role.as_str(),
                        METHOD,
                        "static",
                    )),
                    None => Step::failed("tls authentication failed: the certificate has no CN"),
                }
            }
            Kind::Dynamic(d) => {
                let mut details = Dynamic::details(req, METHOD);
                if let Some(Value::Dict(t)) = details.get("transport").cloned() {
                    details.insert(
                        "transport",
                        t.with("client_cert", certificate_details(cert)),
                    );
                }
                let authid = req
                    .authid()
                    .map(str::to_owned)
                    .or_else(|| cert.subject_cn.clone());
                d.ask(
                    req.realm,
                    authid.as_deref(),
                    details,
                    |p| match dynamic::identity(p, METHOD) {
                        Ok(id) => Step::Welcome(id),
                        Err(step) => *step,
                    },
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::auth::TlsPrincipal;
    use crate::config::{Endpoint, TransportConfig, TransportKind};
    use crate::core::api::{FrontEnd, LinkInfo, TlsInfo};
    use crate::proto::SessionId;

    fn cert(cn: Option<&str>, verified: bool) -> PeerCertificate {
        PeerCertificate {
            sha1: [0xAB; 20],
            sha256: [0x01; 32],
            serial: "0a".into(),
            subject_cn: cn.map(str::to_owned),
            subject: vec![("CN".into(), cn.unwrap_or("").into())],
            issuer: vec![("CN".into(), "Test CA".into())],
            ca_verified: verified,
        }
    }

    fn link(cert: Option<PeerCertificate>, tls: bool) -> LinkInfo {
        let t = TransportConfig::new(
            "t".into(),
            TransportKind::RawSocket(Default::default()),
            Endpoint::Tcp {
                host: "127.0.0.1".into(),
                port: 0,
            },
        );
        let mut l = LinkInfo::new(Rc::new(t), FrontEnd::RawSocket, "tcp4:127.0.0.1:1");
        if tls {
            l.set_tls(Some(Box::new(TlsInfo {
                peer_certificate: cert.map(Box::new),
                ..TlsInfo::default()
            })));
        }
        l
    }

    fn hello(m: &TlsMethod, link: &LinkInfo) -> Step {
        let details = Dict::new();
        let req = HelloRequest {
            realm: Some("realm1"),
            details: &details,
            link,
            session: SessionId(1),
            unix_ms: 0,
        };
        m.hello(&req, Ticket(1))
    }

    fn method(principal: bool, from: Option<CertificateAuthid>) -> TlsMethod {
        let mut principals = BTreeMap::new();
        if principal {
            principals.insert(
                "alice".to_owned(),
                TlsPrincipal {
                    certificate_sha1: [0xAB; 20],
                    role: Some("user".into()),
                },
            );
        }
        TlsMethod::from_config(
            &TlsAuth::Static {
                principals,
                from_certificate: from.map(|authid| CertificateLogin {
                    authid,
                    role: "device".into(),
                }),
            },
            &AuthSettings::default(),
        )
    }

    fn welcomed(s: Step) -> (String, String) {
        match s {
            Step::Welcome(i) => (i.authid.expect("authid"), i.authrole),
            other => panic!("not welcomed: {other:?}"),
        }
    }

    #[test]
    fn a_listed_fingerprint_logs_in_as_its_principal() {
        let m = method(true, None);
        let got = welcomed(hello(&m, &link(Some(cert(Some("x"), false)), true)));
        assert_eq!(got, ("alice".into(), "user".into()));
    }

    #[test]
    fn a_verified_certificate_logs_in_by_cn_or_fingerprint() {
        let l = link(Some(cert(Some("dev-7"), true)), true);
        let by_cn = method(false, Some(CertificateAuthid::CommonName));
        assert_eq!(
            welcomed(hello(&by_cn, &l)),
            ("dev-7".into(), "device".into())
        );
        let by_sha1 = method(false, Some(CertificateAuthid::Sha1));
        let (authid, _) = welcomed(hello(&by_sha1, &l));
        assert_eq!(authid, ["AB"; 20].join(":"));
        let by_sha256 = method(false, Some(CertificateAuthid::Sha256));
        let (authid, _) = welcomed(hello(&by_sha256, &l));
        assert_eq!(authid, ["01"; 32].join(":"));
    }

    #[test]
    fn unverified_unlisted_or_missing_certificates_fail() {
        let m = method(false, Some(CertificateAuthid::CommonName));
        for l in [
            link(Some(cert(Some("dev"), false)), true),
            link(None, true),
            link(None, false),
        ] {
            match hello(&m, &l) {
                Step::Deny { reason, .. } => {
                    assert_eq!(reason, super::super::AUTHENTICATION_FAILED)
                }
                other => panic!("not denied: {other:?}"),
            }
        }
        // Verified but without a CN, when the CN is the authid.
        match hello(&m, &link(Some(cert(None, true)), true)) {
            Step::Deny { message, .. } => assert!(message.contains("no CN"), "{message}"),
            other => panic!("not denied: {other:?}"),
        }
    }
}
