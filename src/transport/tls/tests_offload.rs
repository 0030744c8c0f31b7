//! The server's RSA signature runs off the reactor: while RSA handshakes
//! wait in their signing step, an established connection on the same
//! shard keeps getting answers.
//!
//! The proof is by ordering, not by timing: the server's key signs through
//! a gate that the test holds closed. A handshake is held at its signature
//! until the test opens the gate, and the test opens it only after an
//! established connection's round trip has completed. Were the signature
//! made on the reactor, the reactor would wait on the gate and that round
//! trip could never complete (the client's read would fail).

use std::future::poll_fn;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::time::Duration;

use glommio::LocalExecutorBuilder;
use rcgen::{CertificateParams, KeyPair};
use rstest::rstest;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::sign::{CertifiedKey, SigningKey, SingleCertAndKey};
use rustls::{ClientConfig, ClientConnection, RootCertStore, SignatureScheme, StreamOwned};

use super::{TlsAcceptor, accept, build};
use crate::config::{ClientCertificates, DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS, TlsConfig, TlsVersion};
use crate::transport::conn::write_all;
use crate::transport::socket::Socket;
use crate::transport::testutil::{Io, raw_transport};
use crate::transport::{Listener, bind};

/// Handshakes held at their signature while the established connection
/// makes its round trip.
const HELD: usize = 3;

/// What happened, in order, across the threads.
#[derive(Debug, Default)]
struct Gate {
    /// Whether signatures wait (`true`) or pass.
    closed: Mutex<bool>,
    /// Wakes the signers waiting on `closed`.
    opened: Condvar,
    /// The events, in the order they happened.
    events: Mutex<Vec<&'static str>>,
    /// Told each time a signature starts waiting.
    waiting: Mutex<Option<mpsc::Sender<()>>>,
}

impl Gate {
    fn note(&self, event: &'static str) {
        self.events.lock().expect("events").push(event);
    }

    fn set(&self, closed: bool) {
        *self.closed.lock().expect("gate") = closed;
        self.opened.notify_all();
    }

    /// Called by a signature: waits while the gate is closed.
    fn pass(&self) {
        let mut closed = self.closed.lock().expect("gate");
        if *closed {
            self.note("signature waits");
            if let Some(tx) = self.waiting.lock().expect("waiting").as_ref() {
                let _ = tx.send(());
            }
            while *closed {
                closed = self.opened.wait(closed).expect("gate");
            }
        }
    }
}

/// The server's RSA key, signing through the gate.
#[derive(Debug)]
struct GatedKey {
    inner: Arc<dyn SigningKey>,
    gate: Arc<Gate>,
}

#[derive(Debug)]
struct GatedSigner {
    inner: Box<dyn rustls::sign::Signer>,
    gate: Arc<Gate>,
}

impl SigningKey for GatedKey {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn rustls::sign::Signer>> {
        let inner = self.inner.choose_scheme(offered)?;
        Some(Box::new(GatedSigner {
            inner,
            gate: Arc::clone(&self.gate),
        }))
    }

    fn algorithm(&self) -> rustls::SignatureAlgorithm {
        self.inner.algorithm()
    }
}

impl rustls::sign::Signer for GatedSigner {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rustls::Error> {
        self.gate.pass();
        self.inner.sign(message)
    }

    fn scheme(&self) -> SignatureScheme {
        self.inner.scheme()
    }
}

/// An RSA-keyed acceptor built as the router builds it (so that it decides
/// to sign off the reactor), then given the gated key; and the client's
/// trust anchor.
fn rsa_acceptor(gate: &Arc<Gate>) -> (Arc<TlsAcceptor>, CertificateDer<'static>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let key = KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("RSA key");
    let cert = CertificateParams::new(vec!["localhost".to_owned()])
        .expect("params")
        .self_signed(&key)
        .expect("certificate");
    std::fs::write(dir.path().join("server.key"), key.serialize_pem()).expect("key file");
    std::fs::write(dir.path().join("server.crt"), cert.pem()).expect("certificate file");
    let config = TlsConfig {
        key: dir.path().join("server.key"),
        certificate: dir.path().join("server.crt"),
        chain_certificates: Vec::new(),
        ca_certificates: Vec::new(),
        dhparam: None,
        ciphers: None,
        client_certificates: ClientCertificates::None,
        min_version: TlsVersion::Tls12,
        handshake_timeout_ms: DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS,
    };
    let built = build(&config, Vec::new()).expect("RSA acceptor");
    assert!(built.offloads(), "an RSA key signs off the reactor");
    let der = PrivateKeyDer::try_from(key.serialize_der()).expect("key DER");
    let inner = rustls::crypto::aws_lc_rs::default_provider()
        .key_provider
        .load_private_key(der)
        .expect("RSA signing key");
    let gated: Arc<dyn SigningKey> = Arc::new(GatedKey {
        inner,
        gate: Arc::clone(gate),
    });
    let mut server = (*built.config).clone();
    server.cert_resolver = Arc::new(SingleCertAndKey::from(CertifiedKey::new(
        vec![cert.der().clone()],
        gated,
    )));
    let acceptor = TlsAcceptor {
        config: Arc::new(server),
        ..built
    };
    (Arc::new(acceptor), cert.der().clone())
}

fn client(
    addr: &str,
    anchor: &CertificateDer<'static>,
) -> StreamOwned<ClientConnection, TcpStream> {
    let mut roots = RootCertStore::empty();
    roots.add(anchor.clone()).expect("root");
    let config = ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = TcpStream::connect(addr).expect("connect");
    // Only a bound on a failing test: nothing here waits on time.
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let name = ServerName::try_from("localhost").expect("name");
    let conn = ClientConnection::new(Arc::new(config), name).expect("client");
    StreamOwned::new(conn, tcp)
}

/// Writes `msg` and reads it back (the server echoes).
fn round_trip<S: Read + Write>(s: &mut S, msg: &[u8]) -> std::io::Result<Vec<u8>> {
    s.write_all(msg)?;
    s.flush()?;
    let mut back = vec![0u8; msg.len()];
    s.read_exact(&mut back)?;
    Ok(back)
}

/// Serves `n` connections: each TLS handshake, then an echo until the
/// client closes.
fn serve(io: Io, acceptor: Arc<TlsAcceptor>, n: usize, addr: mpsc::Sender<String>) {
    LocalExecutorBuilder::default()
        .io_memory(1 << 20)
        .spawn(move || async move {
            let ring = match io {
                Io::Uring => Some(crate::transport::uring::start().expect("io_uring")),
                Io::Readiness => None,
            };
            let transport = raw_transport(Default::default(), &[crate::proto::Serializer::Json]);
            let listener = bind(&transport.endpoint).expect("bind");
            assert_eq!(matches!(listener, Listener::Uring(_)), io == Io::Uring);
            addr.send(listener.local_addr_string()).expect("address");
            let mut tasks = Vec::new();
            for _ in 0..n {
                let (stream, peer) = listener.accept().await.expect("accept");
                let acceptor = Arc::clone(&acceptor);
                tasks.push(glommio::spawn_local(async move {
                    let Some(mut s) = accept(acceptor, stream, &peer, "test").await else {
                        return;
                    };
                    let mut buf = vec![0u8; 4096];
                    loop {
                        match poll_fn(|cx| s.poll_read(cx, &mut buf)).await {
                            Ok(0) | Err(_) => break,
                            Ok(k) => {
                                if write_all(&mut s, &buf[..k]).await.is_err() {
                                    break;
                                }
                            }
                        }
                    }
                }));
            }
            for t in tasks {
                t.await;
            }
            drop(listener);
            if let Some(ring) = ring {
                ring.stop().await;
            }
        })
        .expect("executor")
        .join()
        .expect("server executor");
}

#[rstest]
fn an_established_connection_is_served_while_rsa_handshakes_sign(
    #[values(Io::Uring, Io::Readiness)] io: Io,
) {
    let gate = Arc::new(Gate::default());
    let (acceptor, anchor) = rsa_acceptor(&gate);
    let (addr_tx, addr_rx) = mpsc::channel();
    let server = std::thread::spawn(move || serve(io, acceptor, 1 + HELD, addr_tx));
    let addr = addr_rx.recv().expect("server address");

    // The established connection (its signature passes: the gate is open).
    let mut a = client(&addr, &anchor);
    assert_eq!(round_trip(&mut a, b"first").expect("echo"), b"first");

    // Handshakes that stop at their signature.
    let (waiting_tx, waiting_rx) = mpsc::channel();
    *gate.waiting.lock().expect("waiting") = Some(waiting_tx);
    gate.set(true);
    let held: Vec<_> = (0..HELD)
        .map(|i| {
            let (addr, anchor, gate) = (addr.clone(), anchor.clone(), Arc::clone(&gate));
            std::thread::spawn(move || {
                let mut b = client(&addr, &anchor);
                let msg = format!("held-{i}").into_bytes();
                let back = round_trip(&mut b, &msg).expect("held handshake's echo");
                gate.note("held connection served");
                assert_eq!(back, msg);
            })
        })
        .collect();
    waiting_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("a handshake reaches its signature");

    // The shard answers the established connection meanwhile.
    let echoed = round_trip(&mut a, b"while signing");
    gate.note("established connection served");
    assert_eq!(
        echoed.expect("the established connection is served"),
        b"while signing"
    );

    gate.note("gate opened");
    gate.set(false);
    for h in held {
        h.join().expect("held client");
    }
    a.conn.send_close_notify();
    let _ = a.flush();
    drop(a);
    server.join().expect("server thread");

    let events = gate.events.lock().expect("events").clone();
    let first = |e: &str| events.iter().position(|x| *x == e).expect(e);
    // The established connection's answer came while a signature waited,
    // before any held handshake finished; every held one then finished.
    assert!(
        first("signature waits") < first("established connection served")
            && first("established connection served") < first("gate opened")
            && first("gate opened") < first("held connection served"),
        "{events:?}"
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| **e == "held connection served")
            .count(),
        HELD,
        "{events:?}"
    );
}
