//! TLS on TCP listeners: a property of the accepted stream, so every front
//! end (WebSocket, RawSocket, MQTT, `universal`, the web server) gets it
//! without knowing.
//!
//! - [`TlsAcceptor`] (`config.rs`): one per TLS listener, built from its
//!   `endpoint.tls` on the node's thread (files are read there, at start
//!   and at every reload) and shared by every shard: the rustls config with
//!   the key and certificate chain, the client-certificate verifier, the
//!   protocol versions, cipher suites and ALPN, the session-ticket keys.
//! - [`accept`] (`handshake.rs`): the handshake, on the accepted stream,
//!   before the front end sees it; bounded by `handshake_timeout`. The
//!   step that answers the ClientHello (the server's signature) runs off
//!   the reactor when the key is RSA (an RSA signature is the costly
//!   part of its handshake; ECDSA keys sign inline). A plaintext
//!   client is refused with a line in the log (an HTTP client gets a
//!   `400` saying the port speaks TLS).
//! - [`TlsStream`] (`stream.rs`): the established connection, a
//!   [`Stream::Tls`] variant. It uses rustls's
//!   *unbuffered* API on our own buffers: a record the ring's multishot
//!   receive put in a provided buffer is decrypted where it lies (rustls
//!   0.23 then still copies its plaintext into a queue of its own), only the
//!   tail of a record that has not fully arrived is copied into the
//!   connection; what the driver writes is gathered into records of up to
//!   16 KiB, encrypted into one buffer that the ring's send op then owns
//!   (submitted with the turn's other sends). An idle connection holds no
//!   buffer; its TLS state is rustls's connection: 1,088 B inline in the
//!   boxed stream and 2,336 B of heap with the aws-lc-rs provider (the two
//!   AEAD contexts, 640 B each, most of it; BENCHMARKS.md, "Memory per held
//!   TLS session").
//! - `binding.rs`: the channel bindings (`tls-unique`, `tls-exporter`)
//!   that cryptosign and SCRAM use; `x509.rs`: what authentication reads
//!   of a client certificate (fingerprints, subject, issuer), and the
//!   public key of the listener's own (X.509 version 1 ones, which rustls
//!   cannot parse, are checked against their key with it).
//! - [`refuse_tls_client`]: a TLS client on a plaintext port gets a TLS
//!   alert (a clean failure on its side) and a line in the log.
//!
//! Imports: rustls and its aws-lc-rs provider, the transport's streams, the
//! core's [`TlsInfo`](crate::core::api::TlsInfo). Nothing of the runtime.

mod binding;
mod config;
mod handshake;
mod stream;
mod x509;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use self::binding::Bindings;
pub use self::config::{alpn_for, build, for_transport, select_suites};
pub use self::handshake::accept;
pub use self::stream::TlsStream;
pub use self::x509::peer_certificate;

use super::Stream;

/// What a TLS listener's settings failed on.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or held nothing of the kind.
    #[error("{what} {}: {detail}", path.display())]
    Pem {
        /// What the file was for (`key`, `certificate`, ...).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        detail: String,
    },
    /// The key is unusable or does not match the certificate.
    #[error("key {}: {source}", path.display())]
    Key {
        /// The key file.
        path: PathBuf,
        /// rustls's reason.
        source: rustls::Error,
    },
    /// A CA certificate cannot be used to verify clients.
    #[error("CA certificate {}: {source}", path.display())]
    Ca {
        /// The file.
        path: PathBuf,
        /// rustls's reason.
        source: rustls::Error,
    },
    /// The client-certificate verifier could not be built.
    #[error("client certificate verification: {0}")]
    Verifier(String),
    /// `ciphers` and `min_version` leave no cipher suite.
    #[error(
        "no cipher suite left: `ciphers` names none that rustls offers for the TLS versions allowed"
    )]
    NoCipherSuite,
    /// Another rustls error.
    #[error("{0}")]
    Rustls(rustls::Error),
}

impl TlsError {
    fn pem(what: &'static str, path: &Path, e: rustls::pki_types::pem::Error) -> TlsError {
        let detail = match e {
            rustls::pki_types::pem::Error::NoItemsFound => format!("holds no PEM {what}"),
            rustls::pki_types::pem::Error::Io(e) => e.to_string(),
            other => format!("not PEM: {other}"),
        };
        TlsError::Pem {
            what,
            path: path.to_owned(),
            detail,
        }
    }
}

/// The TLS side of one listener, shared by every shard.
#[derive(Debug)]
pub struct TlsAcceptor {
    /// The rustls config (certificates, verifier, versions, suites, ALPN, tickets).
    config: Arc<rustls::ServerConfig>,
    /// Whether the ClientHello step runs off the reactor (RSA keys).
    offload: bool,
    /// Whether client certificates are verified against CAs (any a client
    /// presents has then been verified).
    verifies_clients: bool,
    /// How long a client has for its handshake.
    handshake_timeout: Duration,
}

impl TlsAcceptor {
    /// Whether the server's key is RSA (its signature runs off the reactor).
    pub fn offloads(&self) -> bool {
        self.offload
    }

    /// The ALPN protocols offered.
    pub fn alpn(&self) -> &[Vec<u8>] {
        &self.config.alpn_protocols
    }
}

/// Whether `first` (a connection's first octets) starts a TLS handshake
/// record (content type 22, protocol version 3.x).
pub fn looks_like_tls(first: &[u8]) -> bool {
    first.first() == Some(&0x16) && first.get(1).is_none_or(|&v| v == 3)
}

/// A fatal `handshake_failure` alert in a plaintext record: what a TLS
/// client on a plaintext port gets, so that it fails at once and clearly.
pub const PLAINTEXT_PORT_ALERT: [u8; 7] = [0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x28];

/// Answers a TLS client that reached a plaintext listener: a TLS alert,
/// and a line in the log. The caller then drops the connection.
pub async fn refuse_tls_client(sock: &mut Stream, peer: &str, transport: &str) {
    tracing::info!(
        %peer,
        %transport,
        "a TLS client connected to a plaintext port: refused (TLS alert sent)"
    );
    let _ = super::conn::write_all(sock, &PLAINTEXT_PORT_ALERT).await;
    let _ = super::socket::Socket::shutdown_write(sock);
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_offload;
#[cfg(test)]
mod tests_v1;
