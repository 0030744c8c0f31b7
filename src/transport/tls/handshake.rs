//! The server side of a TLS handshake on an accepted stream ([`accept`]):
//! read what the client sends, let rustls answer, send its answer, until
//! the handshake is done; then the stream becomes a [`TlsStream`].
//!
//! Each step (rustls over what has arrived) is synchronous. The step that
//! answers the ClientHello carries the server's signature; with an RSA key
//! (a 2048-bit RSA signature costs several times an ECDSA P-256 one; not
//! measured here) it runs on the executor's blocking pool so that it never
//! holds up the shard's other connections; ECDSA and Ed25519 keys sign
//! inline (a whole ECDSA handshake, client and server, takes ~0.7 ms of CPU:
//! benches/tls.rs).
//!
//! Failures end the connection with one line in the log (info: they are
//! the client's): a plaintext client (an HTTP client gets a `400` naming
//! the problem, others are just closed), a handshake rustls refuses (the
//! alert it queued is sent first), a client that is too slow.

use std::future::poll_fn;
use std::sync::Arc;
use std::task::Poll;

use rustls::HandshakeKind;
use rustls::server::UnbufferedServerConnection;
use rustls::unbuffered::ConnectionState;
use sha2::Digest as _;

use super::binding::{self, Secrets, Transcript};
use super::{TlsAcceptor, TlsStream, looks_like_tls};
use crate::core::api::TlsInfo;
use crate::transport::conn::{with_scratch, write_all};
use crate::transport::socket::Socket;
use crate::transport::{Stream, with_timeout};

/// Most octets a client may send before its handshake is done (rustls
/// itself allows handshake messages up to 64 KiB).
const MAX_HANDSHAKE_INPUT: usize = 96 * 1024;
/// Most octets one read of the handshake takes (a whole record and more).
const READ_CHUNK: usize = 32 * 1024;

/// What one handshake step produced.
pub(super) struct StepOut {
    /// Octets of the input used (the rest is an incomplete record).
    pub(super) consumed: usize,
    /// Records to send.
    out: Vec<u8>,
    /// Whether the handshake is done.
    established: bool,
    /// The error that ended it (its alert is in `out`).
    pub(super) error: Option<rustls::Error>,
    /// Secrets the step logged (for the channel binding).
    secrets: Secrets,
    /// Application data that came right after the client's Finished (in
    /// the same read), already decrypted by rustls.
    plain: Vec<u8>,
}

/// One step: rustls over `input`.
pub(super) fn step(conn: &mut UnbufferedServerConnection, input: &mut [u8]) -> StepOut {
    let _ = binding::take();
    let mut off = 0;
    let mut out = Vec::new();
    let mut plain = Vec::new();
    let mut error = None;
    loop {
        let status = conn.process_tls_records(&mut input[off..]);
        let mut discard = status.discard;
        match status.state {
            Ok(ConnectionState::EncodeTlsData(mut e)) => {
                if let Err(e) = super::stream::encode_into(&mut e, &mut out) {
                    error = Some(rustls::Error::General(e.to_string()));
                    break;
                }
            }
            Ok(ConnectionState::TransmitTlsData(t)) => t.done(),
            Ok(ConnectionState::BlockedHandshake) | Ok(ConnectionState::WriteTraffic(_)) => {
                off += discard;
                break;
            }
            // Application data after the client's Finished, in the same
            // read (asyncio's clients send both at once): rustls has
            // consumed and decrypted it; the stream hands it out first.
            Ok(ConnectionState::ReadTraffic(mut r)) => {
                while let Some(record) = r.next_record() {
                    match record {
                        Ok(record) => {
                            discard += record.discard;
                            plain.extend_from_slice(record.payload);
                        }
                        Err(e) => {
                            error = Some(e);
                            break;
                        }
                    }
                }
                if error.is_some() {
                    off += discard;
                    break;
                }
            }
            Ok(ConnectionState::PeerClosed) | Ok(ConnectionState::Closed) => {
                error = Some(rustls::Error::General(
                    "the client closed during the handshake".into(),
                ));
                off += discard;
                break;
            }
            Ok(other) => {
                error = Some(rustls::Error::General(format!(
                    "unexpected TLS state {other:?}"
                )));
                break;
            }
            Err(e) => {
                off += discard;
                // The alert rustls queued. It must see the octets it has not
                // discarded again, never an empty slice: they may hold part
                // of a handshake message it already took in, and it indexes
                // past them (a panic that took the shard down).
                let again = conn.process_tls_records(&mut input[off..]);
                if let Ok(ConnectionState::EncodeTlsData(mut alert)) = again.state {
                    let _ = super::stream::encode_into(&mut alert, &mut out);
                }
                error = Some(e);
                break;
            }
        }
        off += discard;
    }
    StepOut {
        consumed: off,
        out,
        established: error.is_none() && !conn.is_handshaking(),
        error,
        secrets: binding::take(),
        plain,
    }
}

/// Why a handshake did not complete.
#[derive(Debug)]
enum Failed {
    /// The first octets are not a TLS record.
    NotTls(Vec<u8>),
    /// rustls refused the handshake.
    Tls(rustls::Error),
    /// The socket failed or the client left.
    Io(std::io::Error),
}

/// What to do about a handshake failure whose reason alone does not say
/// it: a client certificate that is X.509 version 1 (webpki, which verifies
/// client certificates for rustls, reads only version 3; OpenSSL's `x509
/// -req` without extensions makes version 1, and Crossbar accepts them).
pub(super) fn failure_hint(e: &rustls::Error) -> Option<&'static str> {
    let rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other)) = e else {
        return None;
    };
    format!("{other:?}")
        .contains("UnsupportedCertVersion")
        .then_some(
            "the client's certificate is X.509 version 1, which Junction (rustls) cannot verify: reissue it as version 3 (openssl x509 -req with -extfile naming basicConstraints=CA:FALSE)",
        )
}

/// Runs the server's handshake on `inner`. Returns the established stream,
/// or `None` when the handshake failed or timed out (logged; the caller
/// drops the connection).
pub async fn accept(
    acceptor: Arc<TlsAcceptor>,
    mut inner: Stream,
    peer: &str,
    transport: &str,
) -> Option<Stream> {
    let limit = acceptor.handshake_timeout;
    let run = Box::pin(handshake(&acceptor, &mut inner));
    let result = match with_timeout(limit, run).await {
        Some(r) => r,
        None => {
            tracing::info!(%peer, %transport, "TLS handshake timed out");
            return None;
        }
    };
    let Established {
        conn,
        leftover,
        info,
        plain,
    } = match result {
        Ok(done) => done,
        Err(Failed::NotTls(first)) => {
            let shown = String::from_utf8_lossy(&first[..first.len().min(16)]).into_owned();
            tracing::info!(
                %peer,
                %transport,
                first = %shown.escape_debug(),
                "a plaintext client connected to a TLS port: refused"
            );
            if first.first().is_some_and(u8::is_ascii_alphabetic) {
                let _ = write_all(&mut inner, HTTP_ON_TLS_PORT).await;
            }
            let _ = inner.shutdown_write();
            return None;
        }
        Err(Failed::Tls(e)) => {
            match failure_hint(&e) {
                Some(hint) => {
                    tracing::info!(%peer, %transport, error = %e, hint, "TLS handshake failed")
                }
                None => tracing::info!(%peer, %transport, error = %e, "TLS handshake failed"),
            }
            let _ = inner.shutdown_write();
            return None;
        }
        Err(Failed::Io(e)) => {
            tracing::debug!(%peer, %transport, error = %e, "TLS handshake: connection lost");
            return None;
        }
    };
    match TlsStream::new(inner, conn, plain, leftover, info) {
        Ok(s) => Some(Stream::Tls(Box::new(s))),
        Err(e) => {
            tracing::info!(%peer, %transport, error = %e, "TLS: bad record right after the handshake");
            None
        }
    }
}

/// What an HTTP client that did not use TLS on a TLS port gets.
const HTTP_ON_TLS_PORT: &[u8] = b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n\
Content-Length: 59\r\nConnection: close\r\n\r\nThis port speaks TLS: use https:// or wss:// to connect.\r\n\n";

/// A completed handshake.
struct Established {
    /// rustls's connection.
    conn: UnbufferedServerConnection,
    /// Input after the last record rustls took (part of a record).
    leftover: Vec<u8>,
    /// What the front end learns of it.
    info: TlsInfo,
    /// Application data that arrived with the handshake's last flight.
    plain: Vec<u8>,
}

/// The handshake proper.
async fn handshake(acceptor: &Arc<TlsAcceptor>, inner: &mut Stream) -> Result<Established, Failed> {
    let mut conn =
        UnbufferedServerConnection::new(Arc::clone(&acceptor.config)).map_err(Failed::Tls)?;
    let mut input: Vec<u8> = Vec::new();
    let mut transcript = Transcript::default();
    let mut secrets = Secrets::default();
    let mut answered_hello = false;
    let mut plain = Vec::new();
    loop {
        let start = input.len();
        // Read into the shard's scratch buffer; only what arrived is kept
        // (a ClientHello is a few hundred octets: a waiting handshake holds
        // no read buffer of its own).
        let n = poll_fn(|cx| {
            with_scratch(|buf| {
                let len = buf.len().min(READ_CHUNK);
                let buf = &mut buf[..len];
                let r = inner.poll_read(cx, buf);
                if let Poll::Ready(Ok(n)) = r {
                    input.extend_from_slice(&buf[..n]);
                }
                r
            })
        })
        .await
        .map_err(Failed::Io)?;
        if n == 0 {
            return Err(Failed::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
        if start == 0 && !answered_hello && !looks_like_tls(&input) {
            return Err(Failed::NotTls(input));
        }
        if input.len() > MAX_HANDSHAKE_INPUT {
            return Err(Failed::Tls(rustls::Error::General(
                "handshake larger than 96 KiB".into(),
            )));
        }
        transcript.received(&input[start..]);
        let out = if acceptor.offload && !answered_hello {
            // The server's RSA signature: off the reactor.
            let (c, i, out) = glommio::executor()
                .spawn_blocking(move || {
                    let out = step(&mut conn, &mut input);
                    (conn, input, out)
                })
                .await;
            conn = c;
            input = i;
            out
        } else {
            step(&mut conn, &mut input)
        };
        input.drain(..out.consumed);
        if input.is_empty() {
            input = Vec::new();
        }
        answered_hello |= !out.out.is_empty();
        transcript.sent(&out.out);
        transcript.trim(
            conn.protocol_version() == Some(rustls::ProtocolVersion::TLSv1_3),
            conn.handshake_kind(),
        );
        secrets.merge(out.secrets);
        plain.extend_from_slice(&out.plain);
        if !out.out.is_empty() {
            write_all(inner, &out.out).await.map_err(Failed::Io)?;
        }
        if let Some(e) = out.error {
            return Err(Failed::Tls(e));
        }
        if out.established {
            let info = info(&conn, acceptor.verifies_clients, &secrets, &transcript);
            return Ok(Established {
                conn,
                leftover: input,
                info,
                plain,
            });
        }
    }
}

/// What the front end learns of an established connection.
fn info(
    conn: &UnbufferedServerConnection,
    verified: bool,
    secrets: &Secrets,
    transcript: &Transcript,
) -> TlsInfo {
    let suite = conn.negotiated_cipher_suite();
    let resumed = conn.handshake_kind() == Some(HandshakeKind::Resumed);
    let b = suite
        .map(|s| binding::compute(s.suite(), resumed, secrets, transcript))
        .unwrap_or_default();
    let version = match conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
        _ => "TLS",
    };
    TlsInfo {
        channel_id: b
            .tls_unique
            .as_ref()
            .map(|u| sha2::Sha256::digest(u).into()),
        tls_unique: b.tls_unique,
        tls_exporter: b.tls_exporter,
        version,
        cipher: suite.and_then(|s| s.suite().as_str()).unwrap_or("unknown"),
        alpn: conn
            .alpn_protocol()
            .map(|p| String::from_utf8_lossy(p).into_owned()),
        peer_certificate: conn
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|der| Box::new(super::peer_certificate(der, verified))),
    }
}
