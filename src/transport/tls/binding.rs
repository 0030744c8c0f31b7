//! Channel bindings of a TLS connection: `tls-unique` (RFC 5929: the first
//! Finished message of the handshake; cryptosign and SCRAM bind to it) and
//! `tls-exporter` (RFC 9266).
//!
//! rustls offers neither on a server connection (the unbuffered API has no
//! exporter, no API has the Finished message), so they are computed here
//! from what the handshake leaves behind:
//!
//! - the secrets: the listener's config has a [`KeyLog`] ([`Capture`]) that
//!   keeps the handshake traffic secrets, the exporter secret (TLS 1.3) and
//!   the master secret (TLS 1.2) in a thread-local slot while one handshake
//!   step runs on this thread (rustls calls it synchronously, inside
//!   `process_tls_records`); the stream takes them right after the step, so
//!   nothing of one connection is seen by another, and they are dropped
//!   (zeroed) once the bindings are computed;
//! - the raw records both sides sent during the handshake (a bounded copy).
//!
//! `tls-unique` is the first Finished message of the latest handshake: the
//! client's in a full handshake, the server's in a resumed one (TLS 1.3
//! encrypts both, so the record is decrypted here with the handshake
//! traffic key; TLS 1.2 with the key block derived from the master secret).
//! This is what OpenSSL's `SSL_get_finished`/`SSL_get_peer_finished` give,
//! hence Python's `get_channel_binding("tls-unique")` and Autobahn.

use std::cell::RefCell;

use aws_lc_rs::aead::{
    AES_128_GCM, AES_256_GCM, Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey,
};
use aws_lc_rs::{digest, hkdf, hmac};
use rustls::CipherSuite;
use rustls::KeyLog;
use zeroize::Zeroizing;

/// Octets of each direction's handshake records kept for the binding.
pub(super) const MAX_TRANSCRIPT: usize = 64 * 1024;

/// The secrets one handshake step logged.
#[derive(Default)]
pub(super) struct Secrets {
    /// `CLIENT_HANDSHAKE_TRAFFIC_SECRET` (TLS 1.3).
    client_hs: Option<Zeroizing<Vec<u8>>>,
    /// `SERVER_HANDSHAKE_TRAFFIC_SECRET` (TLS 1.3).
    server_hs: Option<Zeroizing<Vec<u8>>>,
    /// `EXPORTER_SECRET` (TLS 1.3).
    exporter: Option<Zeroizing<Vec<u8>>>,
    /// `CLIENT_RANDOM`: the master secret (TLS 1.2).
    master: Option<Zeroizing<Vec<u8>>>,
}

impl Secrets {
    /// Adds what `other` has (a later step's secrets).
    pub(super) fn merge(&mut self, other: Secrets) {
        self.client_hs = other.client_hs.or(self.client_hs.take());
        self.server_hs = other.server_hs.or(self.server_hs.take());
        self.exporter = other.exporter.or(self.exporter.take());
        self.master = other.master.or(self.master.take());
    }
}

thread_local! {
    /// What the key log received during the current handshake step on this thread.
    static CAPTURED: RefCell<Secrets> = RefCell::new(Secrets::default());
}

/// Takes (and clears) what the key log received on this thread.
pub(super) fn take() -> Secrets {
    CAPTURED.with(|c| std::mem::take(&mut *c.borrow_mut()))
}

/// The key log of every TLS listener: keeps the secrets the bindings need
/// for [`take`], on the thread that runs the handshake step.
#[derive(Debug)]
pub(super) struct Capture;

impl KeyLog for Capture {
    fn will_log(&self, label: &str) -> bool {
        matches!(
            label,
            "CLIENT_HANDSHAKE_TRAFFIC_SECRET"
                | "SERVER_HANDSHAKE_TRAFFIC_SECRET"
                | "EXPORTER_SECRET"
                | "CLIENT_RANDOM"
        )
    }

    fn log(&self, label: &str, _client_random: &[u8], secret: &[u8]) {
        CAPTURED.with(|c| {
            let mut c = c.borrow_mut();
            let v = Some(Zeroizing::new(secret.to_vec()));
            match label {
                "CLIENT_HANDSHAKE_TRAFFIC_SECRET" => c.client_hs = v,
                "SERVER_HANDSHAKE_TRAFFIC_SECRET" => c.server_hs = v,
                "EXPORTER_SECRET" => c.exporter = v,
                "CLIENT_RANDOM" => c.master = v,
                _ => {}
            }
        });
    }
}

/// The raw records of a handshake, both ways (each bounded by
/// [`MAX_TRANSCRIPT`]), as far as the binding needs them.
#[derive(Default)]
pub(super) struct Transcript {
    /// What the client sent.
    pub incoming: Vec<u8>,
    /// What we sent.
    pub outgoing: Vec<u8>,
    /// Whether what we send is no longer needed (TLS 1.3, full handshake).
    skip_outgoing: bool,
    /// Whether what the client sends is no longer needed (TLS 1.3, resumed).
    skip_incoming: bool,
}

impl Transcript {
    /// Keeps `data` (received) as far as the bound allows.
    pub(super) fn received(&mut self, data: &[u8]) {
        if !self.skip_incoming {
            keep(&mut self.incoming, data);
        }
    }

    /// Keeps `data` (sent) as far as the bound allows.
    pub(super) fn sent(&mut self, data: &[u8]) {
        if !self.skip_outgoing {
            keep(&mut self.outgoing, data);
        }
    }

    /// Drops what the binding will not read, once the handshake's kind is
    /// known. TLS 1.2 needs both Hellos' randoms and a Finished: all is kept.
    /// TLS 1.3 reads only the encrypted records of one side: the client's
    /// in a full handshake (its Finished), ours in a resumed one; the other
    /// side's records and the plaintext ones before them (Hellos, the
    /// compatibility ChangeCipherSpec) are dropped, which spares a waiting
    /// handshake a copy of the certificate chain.
    pub(super) fn trim(&mut self, tls13: bool, kind: Option<rustls::HandshakeKind>) {
        if !tls13 {
            return;
        }
        match kind {
            None => {}
            Some(rustls::HandshakeKind::Resumed) => {
                self.skip_incoming = true;
                self.incoming = Vec::new();
            }
            Some(_) => {
                self.skip_outgoing = true;
                self.outgoing = Vec::new();
                drop_plaintext_prefix(&mut self.incoming);
            }
        }
    }
}

/// Removes the whole records before the first encrypted one (content type
/// 23) from the front of `data`.
fn drop_plaintext_prefix(data: &mut Vec<u8>) {
    let mut skip = 0;
    for (typ, _, body) in records(&data[..]) {
        if typ == 23 {
            break;
        }
        skip += 5 + body.len();
    }
    if skip == data.len() {
        *data = Vec::new();
    } else if skip > 0 {
        data.drain(..skip);
    }
}

fn keep(buf: &mut Vec<u8>, data: &[u8]) {
    let room = MAX_TRANSCRIPT.saturating_sub(buf.len());
    buf.extend_from_slice(&data[..data.len().min(room)]);
}

/// The channel bindings of a finished handshake.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Bindings {
    /// `tls-unique`: the first Finished message's `verify_data`.
    pub tls_unique: Option<Vec<u8>>,
    /// `tls-exporter` (TLS 1.3): 32 octets exported with label
    /// `EXPORTER-Channel-Binding` and an empty context.
    pub tls_exporter: Option<[u8; 32]>,
}

/// The record protection of a suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Aead {
    Aes128Gcm,
    Aes256Gcm,
    ChaCha20,
}

impl Aead {
    fn key(self, key: &[u8]) -> Option<LessSafeKey> {
        let alg = match self {
            Aead::Aes128Gcm => &AES_128_GCM,
            Aead::Aes256Gcm => &AES_256_GCM,
            Aead::ChaCha20 => &CHACHA20_POLY1305,
        };
        UnboundKey::new(alg, key).ok().map(LessSafeKey::new)
    }

    fn key_len(self) -> usize {
        match self {
            Aead::Aes128Gcm => 16,
            Aead::Aes256Gcm | Aead::ChaCha20 => 32,
        }
    }
}

/// What the binding needs of a suite: TLS 1.3 or not, its AEAD, SHA-384 or SHA-256.
fn suite_info(s: CipherSuite) -> Option<(bool, Aead, bool)> {
    use CipherSuite as C;
    Some(match s {
        C::TLS13_AES_128_GCM_SHA256 => (true, Aead::Aes128Gcm, false),
        C::TLS13_AES_256_GCM_SHA384 => (true, Aead::Aes256Gcm, true),
        C::TLS13_CHACHA20_POLY1305_SHA256 => (true, Aead::ChaCha20, false),
        C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 | C::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => {
            (false, Aead::Aes128Gcm, false)
        }
        C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 | C::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => {
            (false, Aead::Aes256Gcm, true)
        }
        C::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        | C::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => (false, Aead::ChaCha20, false),
        _ => return None,
    })
}

/// Computes the bindings of a handshake that negotiated `suite`; `resumed`
/// when it was an abbreviated (resumed) one. Missing pieces leave a
/// binding `None` (a client asking for it is then refused by its method).
pub(super) fn compute(
    suite: CipherSuite,
    resumed: bool,
    secrets: &Secrets,
    t: &Transcript,
) -> Bindings {
    let Some((tls13, aead, sha384)) = suite_info(suite) else {
        return Bindings::default();
    };
    if tls13 {
        let hkdf_alg = if sha384 {
            hkdf::HKDF_SHA384
        } else {
            hkdf::HKDF_SHA256
        };
        let hash = if sha384 {
            &digest::SHA384
        } else {
            &digest::SHA256
        };
        // Full handshake: the client's Finished comes first; resumed: the server's.
        let (secret, records) = if resumed {
            (&secrets.server_hs, &t.outgoing)
        } else {
            (&secrets.client_hs, &t.incoming)
        };
        let tls_unique = secret
            .as_ref()
            .and_then(|s| tls13_finished(records, s, aead, hkdf_alg));
        let tls_exporter = secrets
            .exporter
            .as_ref()
            .map(|s| tls13_exporter(s, hkdf_alg, hash, b"EXPORTER-Channel-Binding"));
        Bindings {
            tls_unique,
            tls_exporter,
        }
    } else {
        let tls_unique = secrets.master.as_ref().and_then(|m| {
            let client_random = hello_random(&t.incoming)?;
            let server_random = hello_random(&t.outgoing)?;
            let hmac_alg = if sha384 {
                hmac::HMAC_SHA384
            } else {
                hmac::HMAC_SHA256
            };
            tls12_finished(
                if resumed { &t.outgoing } else { &t.incoming },
                !resumed,
                m,
                client_random,
                server_random,
                aead,
                hmac_alg,
            )
        });
        Bindings {
            tls_unique,
            tls_exporter: None,
        }
    }
}

/// Splits raw TLS records: `(content type, header, body)` of each whole one.
fn records(mut data: &[u8]) -> impl Iterator<Item = (u8, [u8; 5], &[u8])> {
    std::iter::from_fn(move || {
        if data.len() < 5 {
            return None;
        }
        let len = u16::from_be_bytes([data[3], data[4]]) as usize;
        if data.len() < 5 + len {
            return None;
        }
        let header: [u8; 5] = data[..5].try_into().expect("five octets");
        let body = &data[5..5 + len];
        data = &data[5 + len..];
        Some((header[0], header, body))
    })
}

/// The random of the first (Client/Server)Hello in `data` (raw records).
fn hello_random(data: &[u8]) -> Option<[u8; 32]> {
    let (typ, _, body) = records(data).next()?;
    // handshake type (1), length (3), version (2), random (32)
    (typ == 22 && body.len() >= 38).then(|| body[6..38].try_into().expect("32 octets"))
}

/// `HKDF-Expand-Label(secret, label, context, out.len())` (RFC 8446 7.1).
fn expand_label(alg: hkdf::Algorithm, secret: &[u8], label: &[u8], context: &[u8], out: &mut [u8]) {
    struct Len(usize);
    impl hkdf::KeyType for Len {
        fn len(&self) -> usize {
            self.0
        }
    }
    let length = (out.len() as u16).to_be_bytes();
    let label_len = [(6 + label.len()) as u8];
    let context_len = [context.len() as u8];
    let info: [&[u8]; 6] = [&length, &label_len, b"tls13 ", label, &context_len, context];
    hkdf::Prk::new_less_safe(alg, secret)
        .expand(&info, Len(out.len()))
        .and_then(|okm| okm.fill(out))
        .expect("HKDF output lengths here are far below the limit");
}

/// The verify_data of the first Finished message in `records` (TLS 1.3,
/// protected with the handshake traffic key derived from `secret`).
fn tls13_finished(
    records_in: &[u8],
    secret: &[u8],
    aead: Aead,
    alg: hkdf::Algorithm,
) -> Option<Vec<u8>> {
    let mut key = Zeroizing::new([0u8; 32]);
    let key = &mut key[..aead.key_len()];
    expand_label(alg, secret, b"key", b"", key);
    let mut iv = [0u8; 12];
    expand_label(alg, secret, b"iv", b"", &mut iv);
    let key = aead.key(key)?;
    let mut handshake = Vec::new();
    let mut seq = 0u64;
    for (typ, header, body) in records(records_in) {
        // Hellos and the compatibility ChangeCipherSpec are plaintext.
        if typ != 23 {
            continue;
        }
        let mut nonce = iv;
        for (n, s) in nonce[4..].iter_mut().zip(seq.to_be_bytes()) {
            *n ^= s;
        }
        seq += 1;
        let mut buf = body.to_vec();
        let plain = key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(header),
                &mut buf,
            )
            .ok()?;
        let end = plain.iter().rposition(|&b| b != 0)?;
        if plain[end] != 22 {
            return None; // anything but handshake messages before the Finished
        }
        handshake.extend_from_slice(&plain[..end]);
        if let Some(v) = finished_in(&handshake) {
            return Some(v);
        }
    }
    None
}

/// The body of the first Finished (type 20) among whole handshake messages.
fn finished_in(mut hs: &[u8]) -> Option<Vec<u8>> {
    while hs.len() >= 4 {
        let len = u32::from_be_bytes([0, hs[1], hs[2], hs[3]]) as usize;
        if hs.len() < 4 + len {
            return None;
        }
        if hs[0] == 20 {
            return Some(hs[4..4 + len].to_vec());
        }
        hs = &hs[4 + len..];
    }
    None
}

/// TLS-Exporter(label, "", 32) (RFC 8446 7.5).
fn tls13_exporter(
    exporter_secret: &[u8],
    alg: hkdf::Algorithm,
    hash: &'static digest::Algorithm,
    label: &[u8],
) -> [u8; 32] {
    let empty = digest::digest(hash, b"");
    let mut derived = Zeroizing::new(vec![0u8; hash.output_len()]);
    expand_label(alg, exporter_secret, label, empty.as_ref(), &mut derived);
    let mut out = [0u8; 32];
    expand_label(alg, &derived, b"exporter", empty.as_ref(), &mut out);
    out
}

/// The TLS 1.2 PRF: `P_hash(secret, label + seed)` into `out`.
fn prf12(alg: hmac::Algorithm, secret: &[u8], label: &[u8], seed: &[u8], out: &mut [u8]) {
    let key = hmac::Key::new(alg, secret);
    let mut label_seed = label.to_vec();
    label_seed.extend_from_slice(seed);
    let mut a = hmac::sign(&key, &label_seed); // A(1)
    let mut filled = 0;
    while filled < out.len() {
        let mut ctx = hmac::Context::with_key(&key);
        ctx.update(a.as_ref());
        ctx.update(&label_seed);
        let block = ctx.sign();
        let n = block.as_ref().len().min(out.len() - filled);
        out[filled..filled + n].copy_from_slice(&block.as_ref()[..n]);
        filled += n;
        a = hmac::sign(&key, a.as_ref());
    }
}

/// The verify_data of the first Finished (TLS 1.2): the first encrypted
/// handshake record after a ChangeCipherSpec in `records_in`, sent by the
/// client (`from_client`) or the server.
fn tls12_finished(
    records_in: &[u8],
    from_client: bool,
    master: &[u8],
    client_random: [u8; 32],
    server_random: [u8; 32],
    aead: Aead,
    alg: hmac::Algorithm,
) -> Option<Vec<u8>> {
    let key_len = aead.key_len();
    let iv_len = if aead == Aead::ChaCha20 { 12 } else { 4 };
    let mut seed = server_random.to_vec();
    seed.extend_from_slice(&client_random);
    let mut block = Zeroizing::new(vec![0u8; 2 * key_len + 2 * iv_len]);
    prf12(alg, master, b"key expansion", &seed, &mut block);
    let (key, iv) = if from_client {
        (&block[..key_len], &block[2 * key_len..2 * key_len + iv_len])
    } else {
        (
            &block[key_len..2 * key_len],
            &block[2 * key_len + iv_len..2 * key_len + 2 * iv_len],
        )
    };
    let key = aead.key(key)?;
    let mut after_ccs = false;
    for (typ, header, body) in records(records_in) {
        if typ == 20 {
            after_ccs = true;
            continue;
        }
        if !after_ccs || typ != 22 {
            continue;
        }
        // The first record under the new keys: sequence number 0.
        let (nonce, ct) = if aead == Aead::ChaCha20 {
            (iv.try_into().ok()?, body)
        } else {
            if body.len() < 8 {
                return None;
            }
            let mut n = [0u8; 12];
            n[..4].copy_from_slice(iv);
            n[4..].copy_from_slice(&body[..8]);
            (n, &body[8..])
        };
        let plain_len = ct.len().checked_sub(16)?;
        let mut aad = [0u8; 13];
        aad[8] = 22;
        aad[9..11].copy_from_slice(&header[1..3]);
        aad[11..].copy_from_slice(&(plain_len as u16).to_be_bytes());
        let mut buf = ct.to_vec();
        let plain = key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut buf,
            )
            .ok()?;
        return finished_in(plain);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expand_label_matches_rfc8448() {
        // RFC 8448 (simple 1-RTT handshake): the server handshake traffic
        // secret and the key and iv derived from it.
        let secret =
            hex::decode("b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38")
                .expect("hex");
        let mut key = [0u8; 16];
        expand_label(hkdf::HKDF_SHA256, &secret, b"key", b"", &mut key);
        assert_eq!(hex::encode(key), "3fce516009c21727d0f2e4e86ee403bc");
        let mut iv = [0u8; 12];
        expand_label(hkdf::HKDF_SHA256, &secret, b"iv", b"", &mut iv);
        assert_eq!(hex::encode(iv), "5d313eb2671276ee13000b30");
    }

    #[test]
    fn prf12_matches_a_known_vector() {
        // The TLS 1.2 PRF (SHA-256) test vector from the IETF TLS list
        // (used by many implementations' tests).
        let secret = hex::decode("9bbe436ba940f017b17652849a71db35").expect("hex");
        let seed = hex::decode("a0ba9f936cda311827a6f796ffd5198c").expect("hex");
        let mut out = [0u8; 100];
        prf12(hmac::HMAC_SHA256, &secret, b"test label", &seed, &mut out);
        assert_eq!(
            hex::encode(&out[..32]),
            "e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a"
        );
    }

    #[test]
    fn records_and_finished_parsing_stop_at_partial_input() {
        let mut data = vec![22, 3, 3, 0, 2, 0xAA, 0xBB, 23, 3, 3, 0, 5, 1];
        let got: Vec<_> = records(&data).map(|(t, _, b)| (t, b.to_vec())).collect();
        assert_eq!(got, vec![(22, vec![0xAA, 0xBB])]);
        data.truncate(3);
        assert_eq!(records(&data).count(), 0);
        // Two handshake messages; the Finished is the second.
        let hs = [8, 0, 0, 1, 0, 20, 0, 0, 2, 7, 9];
        assert_eq!(finished_in(&hs), Some(vec![7, 9]));
        assert_eq!(finished_in(&hs[..10]), None);
    }

    #[test]
    fn the_transcript_keeps_only_what_the_binding_reads() {
        use rustls::HandshakeKind::{Full, Resumed};
        let hello = [22, 3, 1, 0, 2, 1, 2];
        let ccs = [20, 3, 3, 0, 1, 1];
        let finished = [23, 3, 3, 0, 3, 9, 9, 9];
        let partial = [23, 3, 3, 0, 9, 5];
        // TLS 1.2: everything, both ways, whatever the kind.
        let mut t = Transcript::default();
        t.received(&hello);
        t.trim(false, Some(Full));
        t.sent(&hello);
        t.received(&ccs);
        assert_eq!(t.incoming, [&hello[..], &ccs].concat());
        assert_eq!(t.outgoing, hello);
        // TLS 1.3, full: the client's records from its first encrypted one.
        let mut t = Transcript::default();
        t.received(&hello);
        t.trim(true, None);
        assert_eq!(t.incoming, hello, "kind not known yet: kept");
        t.sent(&hello);
        t.trim(true, Some(Full));
        assert!(t.incoming.is_empty() && t.incoming.capacity() == 0);
        assert!(t.outgoing.is_empty() && t.outgoing.capacity() == 0);
        t.sent(&finished);
        t.received(&[&ccs[..], &finished, &partial].concat());
        t.trim(true, Some(Full));
        assert!(t.outgoing.is_empty());
        assert_eq!(t.incoming, [&finished[..], &partial].concat());
        // TLS 1.3, resumed: ours only.
        let mut t = Transcript::default();
        t.received(&hello);
        t.sent(&[&hello[..], &finished].concat());
        t.trim(true, Some(Resumed));
        t.received(&finished);
        assert!(t.incoming.is_empty());
        assert_eq!(t.outgoing, [&hello[..], &finished].concat());
    }
}
