//! `https://` for the bridge's client: rustls's connection driven by hand
//! over glommio's TCP stream (request out, answer in, then close), and the
//! process's client configuration (the system's trust store).

use std::io::{Read, Write};
use std::sync::{Arc, OnceLock};

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, RootCertStore};

use super::{ClientError, Response, finish, take};

/// The client configuration, built once per process.
static CONFIG: OnceLock<Arc<ClientConfig>> = OnceLock::new();

/// The client configuration: built on the blocking pool the first time
/// (reading the trust store reads files).
pub(super) async fn config() -> Result<Arc<ClientConfig>, ClientError> {
    if let Some(c) = CONFIG.get() {
        return Ok(Arc::clone(c));
    }
    glommio::executor()
        .spawn_blocking(|| {
            if let Some(c) = CONFIG.get() {
                return Ok(Arc::clone(c));
            }
            let c = Arc::new(build(system_roots())?);
            Ok(Arc::clone(CONFIG.get_or_init(|| c)))
        })
        .await
}

/// The system's trust anchors, else Mozilla's.
fn system_roots() -> RootCertStore {
    let found = rustls_native_certs::load_native_certs();
    for e in &found.errors {
        tracing::warn!(error = %e, "HTTP bridge client: reading the system's trusted certificates");
    }
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        tracing::warn!(
            "HTTP bridge client: the system's trust store holds no certificate; \
             https:// requests trust Mozilla's roots (webpki-roots)"
        );
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    roots
}

/// A client configuration trusting `roots`, offering HTTP/1.1.
pub(super) fn build(roots: RootCertStore) -> Result<ClientConfig, ClientError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut c = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    c.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(c)
}

/// Sends `out` (head and body) over TLS to `host` on `sock` and reads the
/// answer.
pub(super) async fn exchange(
    mut sock: TcpStream,
    config: Arc<ClientConfig>,
    host: &str,
    out: &[u8],
) -> Result<Response, ClientError> {
    let name = ServerName::try_from(host.to_owned())
        .map_err(|_| ClientError::Tls(format!("{host:?} is not a valid server name")))?;
    let mut conn = ClientConnection::new(config, name).map_err(tls_error)?;
    // The request waits in rustls until the handshake is done.
    conn.set_buffer_limit(None);
    conn.writer().write_all(out)?;
    let mut raw = Vec::new();
    let mut wire = vec![0u8; 16 * 1024];
    let mut plain = vec![0u8; 16 * 1024];
    let mut records = Vec::new();
    loop {
        while conn.wants_write() {
            records.clear();
            conn.write_tls(&mut records)?;
            sock.write_all(&records).await?;
        }
        sock.flush().await?;
        let n = sock.read(&mut wire).await?;
        if n == 0 {
            // Without close_notify too: many servers skip it, and the
            // answer's own framing says whether it is whole.
            return finish(&raw);
        }
        let mut fed = &wire[..n];
        while !fed.is_empty() {
            conn.read_tls(&mut fed)?;
            let state = conn.process_new_packets().map_err(tls_error)?;
            let mut left = state.plaintext_bytes_to_read();
            while left > 0 {
                let got = conn.reader().read(&mut plain)?;
                if got == 0 {
                    break;
                }
                left = left.saturating_sub(got);
                if let Some(r) = take(&mut raw, &plain[..got])? {
                    return Ok(r);
                }
            }
            if state.peer_has_closed() {
                return finish(&raw);
            }
        }
    }
}

fn tls_error(e: rustls::Error) -> ClientError {
    ClientError::Tls(e.to_string())
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;

    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    use rustls::{ServerConfig, ServerConnection, StreamOwned};

    use super::*;

    /// A CA and a server configuration for `localhost` signed by it.
    fn pki() -> (CertificateDer<'static>, Arc<ServerConfig>) {
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
        let issuer = Issuer::new(ca, ca_key);
        let key = KeyPair::generate().expect("key");
        let leaf = CertificateParams::new(vec!["localhost".to_owned()])
            .expect("params")
            .signed_by(&key, &issuer)
            .expect("signed");
        let server = ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .expect("server config");
        (ca_cert.der().clone(), Arc::new(server))
    }

    /// A one-request HTTPS server: answers `answer` once it has read the
    /// request's head and `Content-Length` octets of body; the request
    /// comes back through the handle.
    fn serve(
        server: Arc<ServerConfig>,
        answer: &'static [u8],
    ) -> (u16, std::thread::JoinHandle<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let h = std::thread::spawn(move || {
            let (sock, _) = listener.accept().expect("accept");
            let conn = ServerConnection::new(server).expect("server conn");
            let mut tls = StreamOwned::new(conn, sock);
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                let Ok(n) = tls.read(&mut buf) else {
                    return got;
                };
                if n == 0 {
                    return got;
                }
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got).into_owned();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len = text
                        .lines()
                        .find_map(|l| l.strip_prefix("Content-Length: "))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    if got.len() >= end + 4 + len {
                        break;
                    }
                }
            }
            tls.write_all(answer).expect("answer");
            tls.conn.send_close_notify();
            let _ = tls.flush();
            got
        });
        (port, h)
    }

    fn run(
        port: u16,
        roots: RootCertStore,
        host: &'static str,
        out: Vec<u8>,
    ) -> Result<Response, ClientError> {
        glommio::LocalExecutorBuilder::default()
            .spawn(move || async move {
                let sock = TcpStream::connect(("127.0.0.1", port))
                    .await
                    .expect("connect");
                let config = Arc::new(build(roots).expect("client config"));
                exchange(sock, config, host, &out).await
            })
            .expect("executor")
            .join()
            .expect("join")
    }

    #[test]
    fn a_request_and_its_answer_over_tls() {
        let (ca, server) = pki();
        let (port, seen) = serve(
            server,
            b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nX-A: b\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        );
        let mut roots = RootCertStore::empty();
        roots.add(ca).expect("CA");
        let request =
            b"POST /hook HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\n\r\nbody".to_vec();
        let r = run(port, roots, "localhost", request.clone()).expect("answer");
        assert_eq!((r.status, &r.body[..]), (201, &b"abc"[..]));
        assert_eq!(r.headers[1], ("X-A".to_owned(), "b".to_owned()));
        assert_eq!(seen.join().expect("server"), request);
    }

    #[test]
    fn an_untrusted_or_misnamed_server_is_refused() {
        let (ca, server) = pki();
        let (port, _seen) = serve(Arc::clone(&server), b"HTTP/1.1 200 OK\r\n\r\n");
        let e = run(
            port,
            RootCertStore::empty(),
            "localhost",
            b"GET / HTTP/1.1\r\n\r\n".to_vec(),
        )
        .expect_err("untrusted");
        assert!(
            matches!(&e, ClientError::Tls(why) if why.contains("UnknownIssuer")),
            "{e}"
        );
        let (port, _seen) = serve(server, b"HTTP/1.1 200 OK\r\n\r\n");
        let mut roots = RootCertStore::empty();
        roots.add(ca).expect("CA");
        let e = run(
            port,
            roots,
            "example.org",
            b"GET / HTTP/1.1\r\n\r\n".to_vec(),
        )
        .expect_err("wrong name");
        assert!(
            matches!(&e, ClientError::Tls(why) if why.contains("not valid for name \"example.org\"")),
            "{e}"
        );
    }
}
