//! X.509 version 1 certificates (tests/vectors/tls-v1, made by OpenSSL's
//! `x509 -req` without extensions): a listener serves one as its own
//! certificate, a key that does not belong to it is still refused, and a
//! version 1 client certificate fails the handshake with a hint that says
//! why. Handshakes run in memory (rustls client and server connections).

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, aws_lc_rs};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, ServerConnection, SignatureScheme,
};

use super::handshake::failure_hint;
use super::{TlsAcceptor, TlsError, build, x509};
use crate::config::{ClientCertificates, DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS, TlsConfig, TlsVersion};

fn vector(name: &str) -> PathBuf {
    [
        env!("CARGO_MANIFEST_DIR"),
        "tests",
        "vectors",
        "tls-v1",
        name,
    ]
    .iter()
    .collect()
}

fn der(name: &str) -> CertificateDer<'static> {
    CertificateDer::from_pem_file(vector(name)).expect("certificate PEM")
}

fn listener(key: &str, clients: ClientCertificates) -> TlsConfig {
    TlsConfig {
        key: vector(key),
        certificate: vector("server.crt"),
        chain_certificates: Vec::new(),
        ca_certificates: if clients == ClientCertificates::None {
            Vec::new()
        } else {
            vec![vector("ca.crt")]
        },
        dhparam: None,
        ciphers: None,
        client_certificates: clients,
        min_version: TlsVersion::Tls12,
        handshake_timeout_ms: DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS,
    }
}

/// A client that takes any server certificate and keeps the one it got
/// (rustls's own verifier cannot read a version 1 certificate either).
#[derive(Debug)]
struct TakeAny(Arc<CryptoProvider>);

impl ServerCertVerifier for TakeAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verify_tls12_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A client, presenting `cert` (`name.crt` and `name.key`) when given.
fn client(cert: Option<&str>) -> ClientConnection {
    let provider = Arc::new(aws_lc_rs::default_provider());
    let b = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(TakeAny(Arc::clone(&provider))));
    let config = match cert {
        None => b.with_no_client_auth(),
        Some(name) => {
            let key = PrivateKeyDer::from_pem_file(vector(&format!("{name}.key"))).expect("key");
            let key = provider.key_provider.load_private_key(key).expect("key");
            // Not `with_client_auth_cert`: its key check cannot read a v1
            // certificate either.
            let certified = CertifiedKey::new(vec![der(&format!("{name}.crt"))], key);
            b.with_client_cert_resolver(Arc::new(SingleCertAndKey::from(certified)))
        }
    };
    let name = ServerName::try_from("localhost").expect("name");
    ClientConnection::new(Arc::new(config), name).expect("client")
}

/// Runs the handshake in memory: the server's error, if it failed.
fn handshake(
    a: &TlsAcceptor,
    mut c: ClientConnection,
) -> (ClientConnection, Option<rustls::Error>) {
    let mut s = ServerConnection::new(Arc::clone(&a.config)).expect("server");
    for _ in 0..16 {
        let mut wire = Vec::new();
        c.write_tls(&mut wire).expect("client writes");
        s.read_tls(&mut &wire[..]).expect("server reads");
        if let Err(e) = s.process_new_packets() {
            return (c, Some(e));
        }
        let mut wire = Vec::new();
        s.write_tls(&mut wire).expect("server writes");
        c.read_tls(&mut &wire[..]).expect("client reads");
        c.process_new_packets().expect("client accepts the server");
        if !c.is_handshaking() && !s.is_handshaking() {
            return (c, None);
        }
    }
    panic!("the handshake did not finish");
}

#[test]
fn the_vectors_are_version_1_certificates() {
    for name in ["server.crt", "client.crt"] {
        let cert = der(name);
        let (spki, v1) = x509::public_key_info(&cert).expect("readable");
        assert!(v1, "{name}");
        assert_eq!(spki[0], 0x30, "{name}: a DER SEQUENCE");
    }
    let (_, v1) = x509::public_key_info(&der("ca.crt")).expect("readable");
    assert!(!v1, "the CA is version 3");
}

#[test]
fn a_listener_serves_a_version_1_certificate() {
    let a = build(
        &listener("server.key", ClientCertificates::None),
        Vec::new(),
    )
    .expect("a v1 certificate with its own key loads");
    let (c, failed) = handshake(&a, client(None));
    assert!(failed.is_none(), "{failed:?}");
    let served = c.peer_certificates().expect("a certificate");
    assert_eq!(served, [der("server.crt")]);
}

#[test]
fn a_key_that_is_not_the_version_1_certificates_is_refused() {
    let e = build(
        &listener("client.key", ClientCertificates::None),
        Vec::new(),
    )
    .expect_err("the client's key does not match the server certificate");
    assert!(
        matches!(
            &e,
            TlsError::Key {
                source: rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch),
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("client.key"), "{e}");
}

#[test]
fn a_certificate_that_is_not_x509_names_the_certificate() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("junk.crt");
    std::fs::write(
        &path,
        "-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n",
    )
    .expect("write");
    let mut tls = listener("server.key", ClientCertificates::None);
    tls.certificate = path;
    let e = build(&tls, Vec::new()).expect_err("not a certificate");
    let text = e.to_string();
    assert!(
        text.starts_with("certificate ") && text.contains("junk.crt"),
        "{text}"
    );
    assert!(text.contains("not a usable X.509 certificate"), "{text}");
}

#[test]
fn a_version_1_client_certificate_fails_with_a_hint() {
    let a = build(
        &listener("server.key", ClientCertificates::Required),
        Vec::new(),
    )
    .expect("acceptor");
    let (_, failed) = handshake(&a, client(Some("client")));
    let e = failed.expect("the v1 client certificate is refused");
    let hint = failure_hint(&e).unwrap_or_else(|| panic!("no hint for {e:?}"));
    assert!(hint.contains("version 1"), "{hint}");
    // A failure for another reason gets no hint: a required certificate
    // that is missing.
    let (_, failed) = handshake(&a, client(None));
    let e = failed.expect("a required certificate is missing");
    assert_eq!(failure_hint(&e), None, "{e:?}");
}
