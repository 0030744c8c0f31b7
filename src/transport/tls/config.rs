//! Building a listener's [`TlsAcceptor`] from its `endpoint.tls`: the key
//! and certificate chain (PEM), the CAs that client certificates are
//! verified against, the protocol versions and cipher suites, ALPN.
//!
//! Safe defaults: TLS 1.2 and 1.3 (`junction.min_version` may drop 1.2),
//! only AEAD cipher suites with ECDHE key exchange (rustls has no other:
//! no CBC, no RSA key exchange, no finite-field DHE, so `dhparam` is not
//! used), the aws-lc-rs provider's key exchange groups (X25519MLKEM768,
//! X25519, P-256, P-384). A `ciphers` list (OpenSSL names, as Crossbar
//! takes them) narrows and orders the TLS 1.2 suites; the TLS 1.3 suites
//! follow it only when it names some (OpenSSL configures TLS 1.3 suites
//! apart, so Crossbar's lists never do). Names rustls does not offer are
//! skipped with a warning; a list that leaves no suite is an error.

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::{CryptoProvider, aws_lc_rs};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::sign::{CertifiedKey, SigningKey, SingleCertAndKey};
use rustls::{
    CipherSuite, InconsistentKeys, RootCertStore, ServerConfig, SignatureAlgorithm,
    SupportedCipherSuite,
};

use super::{TlsAcceptor, TlsError, binding, x509};
use crate::config::{ClientCertificates, TlsConfig, TlsVersion, TransportConfig, TransportKind};

/// The OpenSSL names of the suites rustls offers, and which they are.
const SUITES: &[(&str, CipherSuite)] = &[
    (
        "TLS_AES_256_GCM_SHA384",
        CipherSuite::TLS13_AES_256_GCM_SHA384,
    ),
    (
        "TLS_AES_128_GCM_SHA256",
        CipherSuite::TLS13_AES_128_GCM_SHA256,
    ),
    (
        "TLS_CHACHA20_POLY1305_SHA256",
        CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
    ),
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "ECDHE-RSA-AES256-GCM-SHA384",
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "ECDHE-RSA-AES128-GCM-SHA256",
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "ECDHE-RSA-CHACHA20-POLY1305",
        CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
];

/// The ALPN protocols a listener of `kind` offers: `http/1.1` where HTTP
/// (WebSocket upgrades) is served, `mqtt` where MQTT is (the IANA name
/// MQTT brokers use on 8883); none for a RawSocket-only listener (WAMP has
/// no ALPN name). A client that offers ALPN names none of which is served
/// is refused (RFC 7301, `no_application_protocol`).
pub fn alpn_for(kind: &TransportKind) -> Vec<Vec<u8>> {
    let (http, mqtt) = match kind {
        TransportKind::WebSocket(_) | TransportKind::Web(_) => (true, false),
        TransportKind::Mqtt(_) => (false, true),
        TransportKind::RawSocket(_) => (false, false),
        TransportKind::Universal(u) => {
            (!u.websocket.is_empty() || u.web.is_some(), u.mqtt.is_some())
        }
    };
    let mut out = Vec::new();
    if http {
        out.push(b"http/1.1".to_vec());
    }
    if mqtt {
        out.push(b"mqtt".to_vec());
    }
    out
}

/// The suites a `ciphers` list keeps, in its order (`None`: every suite of
/// the provider, in its order), and the names it gave that were skipped.
///
/// # Errors
/// [`TlsError::NoCipherSuite`] when nothing usable is left for the versions allowed.
pub fn select_suites(
    ciphers: Option<&[String]>,
    min_version: TlsVersion,
) -> Result<(Vec<SupportedCipherSuite>, Vec<String>), TlsError> {
    let all = aws_lc_rs::default_provider().cipher_suites;
    let Some(names) = ciphers else {
        return Ok((all, Vec::new()));
    };
    let mut tls13 = Vec::new();
    let mut tls12 = Vec::new();
    let mut skipped = Vec::new();
    for name in names {
        let wanted = SUITES.iter().find(|(n, _)| n.eq_ignore_ascii_case(name));
        let suite = wanted.and_then(|(_, s)| all.iter().find(|a| a.suite() == *s));
        match suite {
            Some(s @ SupportedCipherSuite::Tls13(_)) if !tls13.contains(s) => tls13.push(*s),
            Some(s @ SupportedCipherSuite::Tls12(_)) if !tls12.contains(s) => tls12.push(*s),
            Some(_) => {}
            None => skipped.push(name.clone()),
        }
    }
    if tls13.is_empty() {
        // OpenSSL's cipher lists do not touch TLS 1.3 suites (set apart).
        tls13 = all
            .iter()
            .filter(|s| matches!(s, SupportedCipherSuite::Tls13(_)))
            .copied()
            .collect();
    }
    if min_version == TlsVersion::Tls13 {
        tls12.clear();
    }
    let mut suites = tls13;
    suites.extend(tls12);
    if suites.is_empty() {
        return Err(TlsError::NoCipherSuite);
    }
    Ok((suites, skipped))
}

/// Reads every certificate of a PEM file.
fn certs(what: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let list: Result<Vec<_>, _> = CertificateDer::pem_file_iter(path)
        .map_err(|e| TlsError::pem(what, path, e))?
        .collect();
    let list = list.map_err(|e| TlsError::pem(what, path, e))?;
    if list.is_empty() {
        return Err(TlsError::pem(
            what,
            path,
            rustls::pki_types::pem::Error::NoItemsFound,
        ));
    }
    Ok(list)
}

/// Builds the acceptor of a TLS endpoint; `alpn` as [`alpn_for`] gives it.
/// Reads the files (blocking): call it where that is fine (the node's
/// thread at start and reload), not on a shard.
///
/// # Errors
/// [`TlsError`]: a file that cannot be read or holds no key or certificate,
/// a key that does not match the certificate, no usable cipher suite, CAs
/// that cannot verify anything.
pub fn build(tls: &TlsConfig, alpn: Vec<Vec<u8>>) -> Result<TlsAcceptor, TlsError> {
    let (suites, skipped) = select_suites(tls.ciphers.as_deref(), tls.min_version)?;
    if !skipped.is_empty() {
        tracing::warn!(
            skipped = skipped.join(":"),
            "endpoint.tls.ciphers: cipher suites rustls does not offer were skipped (only ECDHE with AES-GCM or ChaCha20-Poly1305)"
        );
    }
    let provider = Arc::new(CryptoProvider {
        cipher_suites: suites,
        ..aws_lc_rs::default_provider()
    });
    let mut chain = certs("certificate", &tls.certificate)?;
    for extra in &tls.chain_certificates {
        chain.extend(certs("chain certificate", extra)?);
    }
    let key =
        PrivateKeyDer::from_pem_file(&tls.key).map_err(|e| TlsError::pem("key", &tls.key, e))?;
    let key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| TlsError::Key {
            path: tls.key.clone(),
            source: e,
        })?;
    let offload = key.algorithm() == SignatureAlgorithm::RSA;
    let certified = certified_key(tls, chain, key)?;
    let versions: &[&rustls::SupportedProtocolVersion] = match tls.min_version {
        TlsVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        TlsVersion::Tls13 => &[&rustls::version::TLS13],
    };
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(versions)
        .map_err(TlsError::Rustls)?;
    let builder = match tls.client_certificates {
        ClientCertificates::None => builder.with_no_client_auth(),
        mode => {
            let mut roots = RootCertStore::empty();
            for path in &tls.ca_certificates {
                for c in certs("CA certificate", path)? {
                    roots.add(c).map_err(|e| TlsError::Ca {
                        path: path.clone(),
                        source: e,
                    })?;
                }
            }
            let b =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider));
            let b = if mode == ClientCertificates::Optional {
                b.allow_unauthenticated()
            } else {
                b
            };
            builder.with_client_cert_verifier(
                b.build().map_err(|e| TlsError::Verifier(e.to_string()))?,
            )
        }
    };
    let mut config = builder.with_cert_resolver(Arc::new(SingleCertAndKey::from(certified)));
    config.alpn_protocols = alpn;
    // Stateless session tickets (one key set per acceptor, which every
    // shard shares): a client resumes on whichever shard it lands.
    config.ticketer = aws_lc_rs::Ticketer::new().map_err(TlsError::Rustls)?;
    // The channel binding needs the handshake's secrets (see `binding`).
    config.key_log = Arc::new(binding::Capture);
    Ok(TlsAcceptor {
        config: Arc::new(config),
        offload,
        verifies_clients: tls.client_certificates != ClientCertificates::None,
        handshake_timeout: std::time::Duration::from_millis(tls.handshake_timeout_ms),
    })
}

/// The listener's chain and key, checked to belong together. rustls's own
/// check (`CertifiedKey::keys_match`) parses the certificate with webpki,
/// which reads only X.509 version 3; OpenSSL's usual recipe (`openssl x509
/// -req` without extensions) makes version 1 certificates, and Crossbar
/// (OpenSSL) serves them. For such a certificate the key's public key is
/// compared with the certificate's here, and it is served with a warning:
/// OpenSSL-based clients accept it, clients that verify with webpki do not.
fn certified_key(
    tls: &TlsConfig,
    chain: Vec<CertificateDer<'static>>,
    key: Arc<dyn SigningKey>,
) -> Result<CertifiedKey, TlsError> {
    let certified = CertifiedKey::new(chain, key);
    let err = match certified.keys_match() {
        Ok(()) => return Ok(certified),
        Err(e) => e,
    };
    if matches!(err, rustls::Error::InconsistentKeys(_)) {
        return Err(TlsError::Key {
            path: tls.key.clone(),
            source: err,
        });
    }
    let ours = certified.key.public_key();
    let theirs = certified
        .end_entity_cert()
        .ok()
        .and_then(|c| x509::public_key_info(c));
    let (Some(ours), Some((theirs, true))) = (ours, theirs) else {
        return Err(TlsError::Pem {
            what: "certificate",
            path: tls.certificate.clone(),
            detail: format!("not a usable X.509 certificate: {err}"),
        });
    };
    if ours.as_ref() != theirs {
        return Err(TlsError::Key {
            path: tls.key.clone(),
            source: rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch),
        });
    }
    tracing::warn!(
        certificate = %tls.certificate.display(),
        "an X.509 version 1 certificate: served, but clients that verify with rustls (webpki) refuse it; OpenSSL-based clients accept it. Reissue it as version 3 (openssl x509 -req with -extfile naming basicConstraints=CA:FALSE and subjectAltName)"
    );
    Ok(certified)
}

/// The acceptor of `t`'s endpoint, when it has TLS.
///
/// # Errors
/// See [`build`].
pub fn for_transport(t: &TransportConfig) -> Option<Result<TlsAcceptor, TlsError>> {
    let tls = t.endpoint.tls()?;
    Some(build(tls, alpn_for(&t.kind)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(s: &[SupportedCipherSuite]) -> Vec<CipherSuite> {
        s.iter().map(|s| s.suite()).collect()
    }

    #[test]
    fn crossbars_cipher_list_keeps_the_ecdhe_aead_suites_in_order() {
        // Crossbar's default list (OpenSSL syntax), DHE, CBC and aliases included.
        let list: Vec<String> = "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256:\
             ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES256-GCM-SHA384:DHE-RSA-AES128-GCM-SHA256:\
             kEDH+AESGCM:ECDHE-RSA-AES128-SHA256:!aNULL"
            .split(':')
            .map(str::to_owned)
            .collect();
        let (suites, skipped) = select_suites(Some(&list), TlsVersion::Tls12).expect("some left");
        let got = names(&suites);
        // Every TLS 1.3 suite first (the list names none), then the list's order.
        assert_eq!(
            &got[3..],
            &[
                CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
                CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
                CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
                CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            ]
        );
        assert!(
            got[..3]
                .iter()
                .all(|s| format!("{s:?}").starts_with("TLS13_"))
        );
        assert_eq!(
            skipped,
            [
                "DHE-RSA-AES128-GCM-SHA256",
                "kEDH+AESGCM",
                "ECDHE-RSA-AES128-SHA256",
                "!aNULL"
            ]
        );
    }

    #[test]
    fn tls13_names_restrict_tls13_and_min_version_drops_tls12() {
        let list = vec![
            "TLS_CHACHA20_POLY1305_SHA256".to_owned(),
            "ECDHE-ECDSA-CHACHA20-POLY1305".to_owned(),
        ];
        let (s, _) = select_suites(Some(&list), TlsVersion::Tls12).expect("ok");
        assert_eq!(
            names(&s),
            [
                CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
                CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
            ]
        );
        let (s, _) = select_suites(Some(&list), TlsVersion::Tls13).expect("ok");
        assert_eq!(names(&s), [CipherSuite::TLS13_CHACHA20_POLY1305_SHA256]);
        let (all, skipped) = select_suites(None, TlsVersion::Tls12).expect("ok");
        assert_eq!(all.len(), 9);
        assert!(skipped.is_empty());
    }

    #[test]
    fn a_list_of_nothing_usable_is_an_error() {
        let list = vec!["DHE-RSA-AES128-SHA".to_owned()];
        // TLS 1.3 suites are still there (the list names none of them).
        assert!(select_suites(Some(&list), TlsVersion::Tls12).is_ok());
        let tls13_only = vec!["TLS_NONE".to_owned(), "RC4-SHA".to_owned()];
        let (s, skipped) = select_suites(Some(&tls13_only), TlsVersion::Tls13).expect("tls13");
        assert_eq!(s.len(), 3);
        assert_eq!(skipped.len(), 2);
    }

    #[test]
    fn alpn_follows_the_services() {
        use crate::config::UniversalTransport;
        use crate::config::auth::AuthConfig;
        use crate::config::mqtt::{MqttLimits, MqttService};
        assert_eq!(
            alpn_for(&TransportKind::WebSocket(Default::default())),
            [b"http/1.1".to_vec()]
        );
        assert!(alpn_for(&TransportKind::RawSocket(Default::default())).is_empty());
        let u = UniversalTransport {
            mqtt: Some(MqttService {
                realm: "r".into(),
                role: "anonymous".into(),
                payload_mapping: Default::default(),
                auth: AuthConfig::default(),
                limits: MqttLimits::default(),
                trustlevel: None,
            }),
            ..Default::default()
        };
        assert_eq!(alpn_for(&TransportKind::Universal(u)), [b"mqtt".to_vec()]);
    }
}
