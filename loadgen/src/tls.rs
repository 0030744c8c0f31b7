//! TLS for `wss://`, `rss://` and `mqtts://` targets: rustls's client over a
//! glommio TCP stream, as a `futures` byte stream.
//!
//! loadgen measures; it does not check who it talks to: the server's
//! certificate is accepted whatever it is (signatures are still checked, so
//! the handshake costs what a real client's does).

use std::io::{self, Read, Write};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use futures::io::{AsyncRead, AsyncWrite};
use glommio::net::TcpStream;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme};

/// Accepts any server certificate (see the module docs).
#[derive(Debug)]
struct AnyServer(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The client config every TLS connection shares (session resumption off:
/// every connection does a full handshake, as many distinct clients would).
fn config() -> Arc<ClientConfig> {
    static CONFIG: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    Arc::clone(CONFIG.get_or_init(|| {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut c = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .expect("default versions")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyServer(provider)))
            .with_no_client_auth();
        c.resumption = rustls::client::Resumption::disabled();
        Arc::new(c)
    }))
}

/// A TLS client connection over TCP.
pub struct TlsStream {
    tcp: TcpStream,
    conn: ClientConnection,
    /// Ciphertext waiting for the socket, from `out_off`.
    out: Vec<u8>,
    out_off: usize,
    /// Where ciphertext is read.
    inbuf: Box<[u8]>,
}

impl TlsStream {
    /// Starts a TLS client on `tcp` (the handshake runs with the first reads and writes).
    ///
    /// # Errors
    /// rustls's, for an unusable server name.
    pub fn new(tcp: TcpStream, server_name: &str) -> io::Result<TlsStream> {
        let name = ServerName::try_from(server_name.to_owned())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let conn = ClientConnection::new(config(), name).map_err(io::Error::other)?;
        Ok(TlsStream {
            tcp,
            conn,
            out: Vec::new(),
            out_off: 0,
            inbuf: vec![0u8; 18 * 1024].into_boxed_slice(),
        })
    }

    /// Sends what rustls has to send; `Ready(Ok)` once all of it is with the kernel.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            if self.out_off == self.out.len() {
                self.out.clear();
                self.out_off = 0;
                if !self.conn.wants_write() {
                    return Poll::Ready(Ok(()));
                }
                self.conn.write_tls(&mut self.out)?;
            }
            match Pin::new(&mut self.tcp).poll_write(cx, &self.out[self.out_off..]) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => self.out_off += n,
            }
        }
    }
}

impl AsyncRead for TlsStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let s = self.get_mut();
        loop {
            if let Poll::Ready(Err(e)) = s.poll_send(cx) {
                return Poll::Ready(Err(e));
            }
            match s.conn.reader().read(buf) {
                Ok(n) => return Poll::Ready(Ok(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
            let n = match Pin::new(&mut s.tcp).poll_read(cx, &mut s.inbuf) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(n)) => n,
            };
            if n == 0 {
                return Poll::Ready(Ok(0));
            }
            let mut data = &s.inbuf[..n];
            while !data.is_empty() {
                s.conn.read_tls(&mut data)?;
                s.conn
                    .process_new_packets()
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            }
        }
    }
}

impl AsyncWrite for TlsStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let s = self.get_mut();
        if let Poll::Ready(Err(e)) = s.poll_send(cx) {
            return Poll::Ready(Err(e));
        }
        if !s.out.is_empty() {
            // The socket is full: wait for it rather than buffer without bound.
            return Poll::Pending;
        }
        let n = s.conn.writer().write(buf)?;
        if let Poll::Ready(Err(e)) = s.poll_send(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let s = self.get_mut();
        match s.poll_send(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut s.tcp).poll_flush(cx),
            other => other,
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let s = self.get_mut();
        s.conn.send_close_notify();
        match s.poll_send(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut s.tcp).poll_close(cx),
            other => other,
        }
    }
}
