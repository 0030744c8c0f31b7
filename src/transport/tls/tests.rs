//! TLS on a real socket: a rustls client against [`accept`] and the
//! RawSocket front end on the decrypted stream, on the ring and on
//! readiness sockets; client certificates; plaintext clients on a TLS port
//! and TLS clients on a plaintext port; the acceptor's settings.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
};
use rstest::rstest;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use super::{PLAINTEXT_PORT_ALERT, TlsAcceptor, build};
use crate::config::{
    ClientCertificates, DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS, Endpoint, RawSocketOptions, TlsConfig,
    TlsVersion,
};
use crate::proto::Serializer;
use crate::transport::Listening;
use crate::transport::testutil::{Behaviour, Io, Outcome, raw_transport, run_one_tls};

/// A CA, a server certificate for `localhost` and a client certificate
/// (CN `device-7`), as PEM files in a temporary directory.
struct Pki {
    dir: tempfile::TempDir,
    ca_der: CertificateDer<'static>,
    client_chain: Vec<CertificateDer<'static>>,
    client_key: PrivateKeyDer<'static>,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().expect("temp dir");
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name = DistinguishedName::new();
        ca.distinguished_name
            .push(DnType::CommonName, "Junction Test CA");
        let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
        let issuer = Issuer::new(ca, ca_key);
        let leaf = |names: Vec<String>, cn: &str| {
            let key = KeyPair::generate().expect("key");
            let mut p = CertificateParams::new(names).expect("params");
            p.distinguished_name = DistinguishedName::new();
            p.distinguished_name.push(DnType::CommonName, cn);
            let cert = p.signed_by(&key, &issuer).expect("signed");
            (cert, key)
        };
        let (server, server_key) = leaf(vec!["localhost".into()], "localhost");
        let (client, client_key) = leaf(Vec::new(), "device-7");
        let write = |name: &str, text: String| {
            std::fs::write(dir.path().join(name), text).expect("write PEM");
        };
        write("ca.crt", ca_cert.pem());
        write("server.crt", server.pem());
        write("server.key", server_key.serialize_pem());
        Pki {
            ca_der: ca_cert.der().clone(),
            client_chain: vec![client.der().clone()],
            client_key: PrivateKeyDer::try_from(client_key.serialize_der()).expect("client key"),
            dir,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn tls_config(&self, clients: ClientCertificates) -> TlsConfig {
        TlsConfig {
            key: self.path("server.key"),
            certificate: self.path("server.crt"),
            chain_certificates: Vec::new(),
            ca_certificates: if clients == ClientCertificates::None {
                Vec::new()
            } else {
                vec![self.path("ca.crt")]
            },
            dhparam: None,
            ciphers: None,
            client_certificates: clients,
            min_version: TlsVersion::Tls12,
            handshake_timeout_ms: DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS,
        }
    }

    fn acceptor(&self, clients: ClientCertificates) -> Arc<TlsAcceptor> {
        Arc::new(build(&self.tls_config(clients), Vec::new()).expect("acceptor"))
    }

    fn client_config(&self, with_cert: bool, version: TlsVersion) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca_der.clone()).expect("root");
        let versions: &[&rustls::SupportedProtocolVersion] = match version {
            TlsVersion::Tls12 => &[&rustls::version::TLS12],
            TlsVersion::Tls13 => &[&rustls::version::TLS13],
        };
        let b = ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_protocol_versions(versions)
        .expect("versions")
        .with_root_certificates(roots);
        Arc::new(if with_cert {
            b.with_client_auth_cert(self.client_chain.clone(), self.client_key.clone_key())
                .expect("client cert")
        } else {
            b.with_no_client_auth()
        })
    }
}

fn tcp(addr: &str) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s
}

fn tls_client(addr: &str, config: Arc<ClientConfig>) -> StreamOwned<ClientConnection, TcpStream> {
    let name = ServerName::try_from("localhost").expect("name");
    let conn = ClientConnection::new(config, name).expect("client");
    StreamOwned::new(conn, tcp(addr))
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let len = payload.len();
    let mut f = vec![0, (len >> 16) as u8, (len >> 8) as u8, len as u8];
    f.extend_from_slice(payload);
    f
}

fn read_n<S: Read>(s: &mut S, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    s.read_exact(&mut buf).expect("read");
    buf
}

/// A RawSocket session over `s`: handshake (JSON, 16 MiB), then each
/// message of `messages` echoed back whole; returns the echoes.
fn rawsocket_echo<S: Read + Write>(s: &mut S, messages: &[Vec<u8>]) -> Vec<Vec<u8>> {
    s.write_all(&[0x7F, 0xF1, 0, 0]).expect("handshake");
    assert_eq!(read_n(s, 4), [0x7F, 0xF1, 0, 0]);
    // All pipelined at once: records of several frames and frames of several records.
    let mut all = Vec::new();
    for m in messages {
        all.extend(frame(m));
    }
    s.write_all(&all).expect("frames");
    let mut echoes = Vec::new();
    for _ in messages {
        let head = read_n(s, 4);
        assert_eq!(head[0], 0, "a WAMP message frame");
        let len = (usize::from(head[1]) << 16) | (usize::from(head[2]) << 8) | usize::from(head[3]);
        echoes.push(read_n(s, len));
    }
    echoes
}

fn raw() -> crate::config::TransportConfig {
    raw_transport(RawSocketOptions::default(), &[Serializer::Json])
}

fn serve_tls<R: Send + 'static>(
    io: Io,
    acceptor: Arc<TlsAcceptor>,
    client: impl FnOnce(String) -> R + Send + 'static,
) -> (Outcome, R) {
    run_one_tls(
        io,
        raw(),
        |t| Listening::new(t, 16 << 20).expect("listening"),
        Some(acceptor),
        Behaviour::Echo,
        client,
    )
}

#[rstest]
fn rawsocket_messages_round_trip_over_tls(
    #[values(Io::Uring, Io::Readiness)] io: Io,
    #[values(TlsVersion::Tls12, TlsVersion::Tls13)] version: TlsVersion,
) {
    let pki = Pki::new();
    let config = pki.client_config(false, version);
    // Small messages and ones larger than a TLS record (16 KiB) and than a
    // provided buffer.
    let messages: Vec<Vec<u8>> = vec![
        b"[1,\"realm1\",{}]".to_vec(),
        vec![b'x'; 40_000],
        (0..300_000u32).map(|i| (i % 251) as u8).collect(),
        b"tail".to_vec(),
    ];
    let expected = messages.clone();
    let (outcome, echoes) = serve_tls(io, pki.acceptor(ClientCertificates::None), move |addr| {
        let mut s = tls_client(&addr, config);
        let echoes = rawsocket_echo(&mut s, &messages);
        s.conn.send_close_notify();
        let _ = s.flush();
        echoes
    });
    assert_eq!(echoes, expected);
    assert_eq!(outcome.opened, 1);
    assert_eq!(outcome.frames.len(), expected.len());
    let tls = outcome.tls.expect("the link has its TLS state");
    let want = match version {
        TlsVersion::Tls12 => "TLSv1.2",
        TlsVersion::Tls13 => "TLSv1.3",
    };
    assert_eq!(tls.version, want);
    assert!(
        tls.cipher.contains("GCM") || tls.cipher.contains("CHACHA"),
        "{}",
        tls.cipher
    );
    assert!(tls.peer_certificate.is_none());
    // The channel bindings are there, of the sizes the RFCs give:
    // `tls-unique` is the Finished verify_data (12 octets in TLS 1.2, the
    // hash's length in TLS 1.3).
    let unique = match version {
        TlsVersion::Tls12 => 12,
        TlsVersion::Tls13 if tls.cipher.contains("SHA384") => 48,
        TlsVersion::Tls13 => 32,
    };
    assert_eq!(tls.tls_unique.as_ref().map(Vec::len), Some(unique));
    // The channel id cryptosign binds to: SHA-256 of `tls-unique`.
    let unique_hash = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        tls.tls_unique.as_deref().expect("tls-unique"),
    );
    assert_eq!(
        tls.channel_id.as_ref().map(|c| &c[..]),
        Some(unique_hash.as_ref())
    );
    assert_eq!(tls.tls_exporter.is_some(), version == TlsVersion::Tls13);
}

/// A resumed handshake (the client's ticket from a first connection) has its
/// channel binding too: the binding then reads the server's Finished, the
/// only record the transcript keeps of a resumed TLS 1.3 handshake. A
/// binding is only produced when that record decrypts and authenticates.
#[rstest]
fn a_resumed_handshake_has_its_channel_binding(
    #[values(TlsVersion::Tls12, TlsVersion::Tls13)] version: TlsVersion,
) {
    let pki = Pki::new();
    let config = pki.client_config(false, version);
    let acceptor = pki.acceptor(ClientCertificates::None);
    let mut seen = Vec::new();
    for _ in 0..2 {
        let config = Arc::clone(&config);
        let (outcome, kind) = serve_tls(Io::Uring, Arc::clone(&acceptor), move |addr| {
            let mut s = tls_client(&addr, config);
            assert_eq!(rawsocket_echo(&mut s, &[b"hi".to_vec()]), [b"hi".to_vec()]);
            s.conn.handshake_kind()
        });
        seen.push((kind, outcome.tls.expect("the link has its TLS state")));
    }
    assert_eq!(seen[0].0, Some(rustls::HandshakeKind::Full));
    assert_eq!(seen[1].0, Some(rustls::HandshakeKind::Resumed));
    for (_, tls) in &seen {
        let unique = tls.tls_unique.as_deref().expect("tls-unique");
        let want = match version {
            TlsVersion::Tls12 => 12,
            TlsVersion::Tls13 if tls.cipher.contains("SHA384") => 48,
            TlsVersion::Tls13 => 32,
        };
        assert_eq!(unique.len(), want);
        let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, unique);
        assert_eq!(tls.channel_id.as_ref().map(|c| &c[..]), Some(hash.as_ref()));
        assert_eq!(tls.tls_exporter.is_some(), version == TlsVersion::Tls13);
    }
    assert_ne!(seen[0].1.tls_unique, seen[1].1.tls_unique);
}

/// A client that sends its first data with its Finished, in one write
/// (what asyncio's TLS clients do): the data is not lost.
#[rstest]
fn data_sent_with_the_clients_finished_is_read(
    #[values(Io::Uring, Io::Readiness)] io: Io,
    #[values(TlsVersion::Tls12, TlsVersion::Tls13)] version: TlsVersion,
) {
    let pki = Pki::new();
    let config = pki.client_config(false, version);
    let (outcome, echoed) = serve_tls(io, pki.acceptor(ClientCertificates::None), move |addr| {
        let mut s = tls_client(&addr, config);
        // Queued before the handshake: rustls sends it right after its Finished.
        s.conn
            .writer()
            .write_all(&[0x7F, 0xF1, 0, 0])
            .expect("queue");
        s.conn.writer().write_all(&frame(b"early")).expect("queue");
        assert_eq!(read_n(&mut s, 4), [0x7F, 0xF1, 0, 0]);
        let head = read_n(&mut s, 4);
        read_n(&mut s, usize::from(head[3]))
    });
    assert_eq!(echoed, b"early");
    assert_eq!(outcome.frames.len(), 1);
}

#[rstest]
fn a_client_certificate_reaches_the_link(#[values(Io::Uring, Io::Readiness)] io: Io) {
    let pki = Pki::new();
    let config = pki.client_config(true, TlsVersion::Tls13);
    let (outcome, echoes) = serve_tls(
        io,
        pki.acceptor(ClientCertificates::Required),
        move |addr| {
            let mut s = tls_client(&addr, config);
            rawsocket_echo(&mut s, &[b"hi".to_vec()])
        },
    );
    assert_eq!(echoes, [b"hi".to_vec()]);
    let cert = outcome
        .tls
        .and_then(|t| t.peer_certificate)
        .expect("the client certificate");
    assert_eq!(cert.subject_cn.as_deref(), Some("device-7"));
    assert!(cert.ca_verified);
    assert_eq!(
        cert.issuer
            .iter()
            .find(|(k, _)| k == "CN")
            .map(|(_, v)| v.as_str()),
        Some("Junction Test CA")
    );
    let der = &pki.client_chain[0];
    let sha1 = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, der);
    assert_eq!(cert.sha1.as_slice(), sha1.as_ref());
}

#[test]
fn a_required_client_certificate_that_is_missing_fails_the_handshake() {
    let pki = Pki::new();
    let config = pki.client_config(false, TlsVersion::Tls13);
    let (outcome, result) = serve_tls(
        Io::Uring,
        pki.acceptor(ClientCertificates::Required),
        move |addr| {
            let mut s = tls_client(&addr, config);
            // TLS 1.3: the client learns of the refusal on its first read.
            let _ = s.write_all(&[0x7F, 0xF1, 0, 0]);
            let mut buf = [0u8; 4];
            s.read_exact(&mut buf).map_err(|e| e.to_string())
        },
    );
    assert_eq!(outcome.opened, 0, "no link is opened");
    let err = result.expect_err("the handshake fails");
    assert!(
        err.contains("Certificate") || err.contains("certificate"),
        "{err}"
    );
}

#[test]
fn a_plaintext_client_on_a_tls_port_is_refused_cleanly() {
    let pki = Pki::new();
    let (outcome, answer) = serve_tls(Io::Uring, pki.acceptor(ClientCertificates::None), |addr| {
        let mut s = tcp(&addr);
        s.write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n")
            .expect("write");
        let mut answer = Vec::new();
        let _ = s.read_to_end(&mut answer);
        answer
    });
    assert_eq!(outcome.opened, 0);
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 400 "), "{text}");
    assert!(text.contains("This port speaks TLS"), "{text}");
    // A RawSocket client gets the connection closed, nothing else.
    let (outcome, answer) = serve_tls(
        Io::Readiness,
        pki.acceptor(ClientCertificates::None),
        |addr| {
            let mut s = tcp(&addr);
            s.write_all(&[0x7F, 0xF1, 0, 0]).expect("write");
            let mut answer = Vec::new();
            let _ = s.read_to_end(&mut answer);
            answer
        },
    );
    assert_eq!(outcome.opened, 0);
    assert!(answer.is_empty(), "{answer:?}");
}

#[test]
fn a_tls_client_on_a_plaintext_port_gets_an_alert() {
    let pki = Pki::new();
    let config = pki.client_config(false, TlsVersion::Tls13);
    let (outcome, result) = run_one_tls(
        Io::Uring,
        raw(),
        |t| Listening::new(t, 16 << 20).expect("listening"),
        None,
        Behaviour::Echo,
        move |addr| {
            let mut raw = tcp(&addr);
            let mut s = tls_client(&addr, config);
            // The ClientHello goes out; the alert comes back in plaintext.
            let mut hello = Vec::new();
            s.conn.write_tls(&mut hello).expect("client hello");
            raw.write_all(&hello).expect("write");
            let mut answer = Vec::new();
            let _ = raw.read_to_end(&mut answer);
            answer
        },
    );
    assert_eq!(outcome.opened, 0, "no link is opened");
    assert_eq!(result, PLAINTEXT_PORT_ALERT);
}

#[test]
fn acceptor_settings_load_and_fail_clearly() {
    let pki = Pki::new();
    let a = pki.acceptor(ClientCertificates::Optional);
    assert!(!a.offloads(), "an ECDSA key signs inline");
    assert!(a.verifies_clients);
    let b = build(
        &pki.tls_config(ClientCertificates::None),
        vec![b"http/1.1".to_vec()],
    )
    .expect("acceptor");
    assert_eq!(b.alpn(), [b"http/1.1".to_vec()]);
    // A key that is not there, a certificate that holds no certificate.
    let mut bad = pki.tls_config(ClientCertificates::None);
    bad.key = pki.path("missing.key");
    let e = build(&bad, Vec::new()).expect_err("no key").to_string();
    assert!(e.contains("missing.key"), "{e}");
    let mut bad = pki.tls_config(ClientCertificates::None);
    bad.certificate = pki.path("server.key");
    let e = build(&bad, Vec::new())
        .expect_err("no certificate")
        .to_string();
    assert!(e.contains("server.key"), "{e}");
    // The other CA's key does not match the server certificate.
    let other = Pki::new();
    let mut bad = pki.tls_config(ClientCertificates::None);
    bad.key = other.path("server.key");
    let e = build(&bad, Vec::new())
        .expect_err("key mismatch")
        .to_string();
    assert!(e.starts_with("key "), "{e}");
}

#[test]
fn endpoint_tls_of_a_transport_builds_its_acceptor() {
    let pki = Pki::new();
    let mut t = raw();
    assert!(super::for_transport(&t).is_none(), "plaintext: no acceptor");
    t.endpoint = Endpoint::TcpTls {
        host: "127.0.0.1".into(),
        port: 0,
        tls: Box::new(pki.tls_config(ClientCertificates::None)),
    };
    let a = super::for_transport(&t).expect("TLS").expect("builds");
    assert!(a.alpn().is_empty(), "RawSocket has no ALPN protocol");
}

/// A record with the first octets of a handshake message (type 0xa9, said
/// to be 197,454 octets long), then a record of no known type, in one read
/// (found by tests/interop/test_fuzz_web.py, a mutated ClientHello): the
/// handshake fails with rustls's error, and the alert step after it does not
/// panic (it once did: rustls had taken in the partial message without
/// discarding it and was handed an empty slice).
#[test]
fn a_corrupt_record_after_part_of_a_handshake_message_fails_cleanly() {
    let pki = Pki::new();
    let acceptor = pki.acceptor(ClientCertificates::None);
    let mut conn = rustls::server::UnbufferedServerConnection::new(Arc::clone(&acceptor.config))
        .expect("conn");
    let mut input = vec![0x16, 0x03, 0x01, 0x00, 0x05, 0xa9, 0x03, 0x03, 0x4e, 0xcb];
    input.extend_from_slice(&[0xb8, 0xcf, 0x52, 0x3e, 0x4f]);
    let out = super::handshake::step(&mut conn, &mut input);
    let error = out.error.expect("the handshake fails");
    assert!(format!("{error}").contains("corrupt"), "{error}");
    assert!(out.consumed <= input.len());
}

/// TLS 1.3 record protection for the test's own records: what rustls's
/// client would send, built from its extracted traffic secrets.
struct RecordKey {
    key: aws_lc_rs::aead::LessSafeKey,
    iv: [u8; 12],
    seq: u64,
}

impl RecordKey {
    fn new((seq, secrets): (u64, rustls::ConnectionTrafficSecrets)) -> RecordKey {
        use aws_lc_rs::aead::{
            AES_128_GCM, AES_256_GCM, CHACHA20_POLY1305, LessSafeKey, UnboundKey,
        };
        use rustls::ConnectionTrafficSecrets as S;
        let (alg, key, iv) = match secrets {
            S::Aes128Gcm { key, iv } => (&AES_128_GCM, key, iv),
            S::Aes256Gcm { key, iv } => (&AES_256_GCM, key, iv),
            S::Chacha20Poly1305 { key, iv } => (&CHACHA20_POLY1305, key, iv),
            _ => panic!("an AEAD this test does not know"),
        };
        RecordKey {
            key: LessSafeKey::new(UnboundKey::new(alg, key.as_ref()).expect("key")),
            iv: iv.as_ref().try_into().expect("12-octet IV"),
            seq,
        }
    }

    fn nonce(&mut self) -> aws_lc_rs::aead::Nonce {
        let mut n = self.iv;
        for (b, s) in n[4..].iter_mut().zip(self.seq.to_be_bytes()) {
            *b ^= s;
        }
        self.seq += 1;
        aws_lc_rs::aead::Nonce::assume_unique_for_key(n)
    }

    /// One protected record carrying `payload` of content type `typ`.
    fn seal(&mut self, typ: u8, payload: &[u8]) -> Vec<u8> {
        let mut body = payload.to_vec();
        body.push(typ);
        let len = body.len() + 16;
        let head = [0x17, 0x03, 0x03, (len >> 8) as u8, len as u8];
        let nonce = self.nonce();
        self.key
            .seal_in_place_append_tag(nonce, aws_lc_rs::aead::Aad::from(head), &mut body)
            .expect("seal");
        [head.as_slice(), &body].concat()
    }

    /// The payload and content type of the protected record `record`.
    fn open(&mut self, record: &[u8]) -> (u8, Vec<u8>) {
        let head: [u8; 5] = record[..5].try_into().expect("header");
        let mut body = record[5..].to_vec();
        let nonce = self.nonce();
        let plain = self
            .key
            .open_in_place(nonce, aws_lc_rs::aead::Aad::from(head), &mut body)
            .expect("open");
        let end = plain.iter().rposition(|&b| b != 0).expect("content type");
        (plain[end], plain[..end].to_vec())
    }
}

/// After the handshake, one write with a RawSocket frame and then a record
/// holding only the first two octets of a key update: the echo comes back,
/// protected, although rustls holds part of a handshake message when the
/// stream writes (it once panicked there and took the shard down).
#[rstest]
fn a_write_while_part_of_a_key_update_is_held_works(#[values(Io::Uring, Io::Readiness)] io: Io) {
    let pki = Pki::new();
    let mut config = (*pki.client_config(false, TlsVersion::Tls13)).clone();
    config.enable_secret_extraction = true;
    let config = Arc::new(config);
    let (outcome, echoed) = serve_tls(io, pki.acceptor(ClientCertificates::None), move |addr| {
        let mut s = tls_client(&addr, config);
        s.write_all(&[0x7F, 0xF1, 0, 0]).expect("handshake");
        assert_eq!(read_n(&mut s, 4), [0x7F, 0xF1, 0, 0]);
        let StreamOwned { conn, mut sock } = s;
        let secrets = conn.dangerous_extract_secrets().expect("secrets");
        let mut tx = RecordKey::new(secrets.tx);
        let mut rx = RecordKey::new(secrets.rx);
        let mut wire = tx.seal(0x17, &frame(b"held"));
        wire.extend(tx.seal(0x16, &[0x18, 0x00]));
        sock.write_all(&wire).expect("records");
        // The echo's record (skipping any other handshake records).
        loop {
            let head = read_n(&mut sock, 5);
            let len = (usize::from(head[3]) << 8) | usize::from(head[4]);
            let record = [head, read_n(&mut sock, len)].concat();
            let (typ, payload) = rx.open(&record);
            if typ == 0x17 {
                break payload;
            }
        }
    });
    assert_eq!(echoed, frame(b"held"));
    assert_eq!(outcome.frames.len(), 1);
}
