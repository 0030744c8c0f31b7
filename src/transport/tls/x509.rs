//! What authentication reads of a client certificate: its SHA-1 and SHA-256
//! fingerprints (over the DER), serial number, and the subject's and
//! issuer's attributes (common name first among them). A small DER walk
//! over the fields it needs (the certificate was verified by rustls before
//! it gets here, or is only fingerprinted); anything it cannot read is left
//! out rather than failing the connection. Also the `SubjectPublicKeyInfo`
//! of the listener's own certificate, for the key check of an X.509
//! version 1 certificate (`config.rs`).

use sha1::Digest as _;

use crate::core::api::PeerCertificate;

/// A DER element: `(tag, content, rest)`.
fn tlv(d: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, d) = d.split_first()?;
    let (&first, mut d) = d.split_first()?;
    let len = if first < 0x80 {
        first as usize
    } else {
        let n = (first & 0x7F) as usize;
        if n == 0 || n > 4 || d.len() < n {
            return None;
        }
        let mut len = 0usize;
        for &b in &d[..n] {
            len = (len << 8) | b as usize;
        }
        d = &d[n..];
        len
    };
    if d.len() < len {
        return None;
    }
    Some((tag, &d[..len], &d[len..]))
}

/// The short name of an attribute type (OpenSSL's, as Crossbar reports
/// them), or its dotted form.
fn attribute_name(oid: &[u8]) -> String {
    match oid {
        [0x55, 0x04, 0x03] => "CN".into(),
        [0x55, 0x04, 0x06] => "C".into(),
        [0x55, 0x04, 0x07] => "L".into(),
        [0x55, 0x04, 0x08] => "ST".into(),
        [0x55, 0x04, 0x0A] => "O".into(),
        [0x55, 0x04, 0x0B] => "OU".into(),
        [0x55, 0x04, 0x05] => "serialNumber".into(),
        [0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x01] => "emailAddress".into(),
        _ => dotted(oid),
    }
}

/// An OID in dotted form.
fn dotted(oid: &[u8]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut v: u64 = 0;
    for (i, &b) in oid.iter().enumerate() {
        v = (v << 7) | u64::from(b & 0x7F);
        if b & 0x80 == 0 {
            if parts.is_empty() {
                let (a, b) = if v < 80 {
                    (v / 40, v % 40)
                } else {
                    (2, v - 80)
                };
                parts.push(a.to_string());
                parts.push(b.to_string());
            } else {
                parts.push(v.to_string());
            }
            v = 0;
        } else if i + 1 == oid.len() {
            return String::new();
        }
    }
    parts.join(".")
}

/// A directory string's text (UTF-8, printable, IA5, T61 as Latin-1, BMP).
fn text(tag: u8, v: &[u8]) -> String {
    match tag {
        0x1E => {
            let units: Vec<u16> = v
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        0x14 => v.iter().map(|&b| b as char).collect(),
        _ => String::from_utf8_lossy(v).into_owned(),
    }
}

/// The attributes of a `Name`, in order.
fn name(mut d: &[u8]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    while let Some((0x31, set, rest)) = tlv(d) {
        let mut s = set;
        while let Some((0x30, atv, more)) = tlv(s) {
            if let Some((0x06, oid, after)) = tlv(atv)
                && let Some((tag, value, _)) = tlv(after)
            {
                out.push((attribute_name(oid), text(tag, value)));
            }
            s = more;
        }
        d = rest;
    }
    out
}

/// A distinguished name's attributes in order (`CN`, `O`, ... or dotted OIDs).
type Name = Vec<(String, String)>;

/// Serial, issuer and subject of a DER certificate.
fn fields(der: &[u8]) -> Option<(Vec<u8>, Name, Name)> {
    let (0x30, cert, _) = tlv(der)? else {
        return None;
    };
    let (0x30, tbs, _) = tlv(cert)? else {
        return None;
    };
    let mut d = tbs;
    let (mut tag, mut v, mut rest) = tlv(d)?;
    if tag == 0xA0 {
        // [0] version
        (tag, v, rest) = tlv(rest)?;
    }
    if tag != 0x02 {
        return None;
    }
    let serial = v.to_vec();
    d = rest;
    let (_sig_alg, _, rest) = tlv(d)?;
    let (0x30, issuer, rest) = tlv(rest)? else {
        return None;
    };
    let (_validity, _, rest) = tlv(rest)?;
    let (0x30, subject, _) = tlv(rest)? else {
        return None;
    };
    Some((serial, name(issuer), name(subject)))
}

/// The certificate's `SubjectPublicKeyInfo`, whole (its DER element), and
/// whether the certificate is X.509 version 1 (no `[0]` version field).
/// rustls parses a certificate with webpki, which reads only version 3;
/// the listener's own certificate is checked against its key with this.
pub fn public_key_info(der: &[u8]) -> Option<(&[u8], bool)> {
    let (0x30, cert, _) = tlv(der)? else {
        return None;
    };
    let (0x30, tbs, _) = tlv(cert)? else {
        return None;
    };
    let (mut tag, _, mut rest) = tlv(tbs)?;
    let v1 = tag != 0xA0;
    if !v1 {
        // [0] version, then the serial
        (tag, _, rest) = tlv(rest)?;
    }
    if tag != 0x02 {
        return None;
    }
    // signature algorithm, issuer, validity, subject
    for _ in 0..4 {
        (_, _, rest) = tlv(rest)?;
    }
    let (0x30, _, after) = tlv(rest)? else {
        return None;
    };
    Some((&rest[..rest.len() - after.len()], v1))
}

/// What the router keeps of a client certificate (DER); `ca_verified`:
/// whether it was verified against the listener's CAs.
pub fn peer_certificate(der: &[u8], ca_verified: bool) -> PeerCertificate {
    let sha1: [u8; 20] = sha1::Sha1::digest(der).into();
    let sha256: [u8; 32] = sha2::Sha256::digest(der).into();
    let (serial, issuer, subject) = fields(der).unwrap_or_default();
    let subject_cn = subject
        .iter()
        .find(|(k, _)| k == "CN")
        .map(|(_, v)| v.clone());
    PeerCertificate {
        sha1,
        sha256,
        serial: hex::encode(serial),
        subject_cn,
        subject,
        issuer,
        ca_verified,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_subject_issuer_and_fingerprints_of_a_generated_certificate() {
        let ca_key = rcgen::KeyPair::generate().expect("key");
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "Test CA");
        let ca_cert = ca.self_signed(&ca_key).expect("ca");
        let issuer = rcgen::Issuer::new(ca, ca_key);
        let key = rcgen::KeyPair::generate().expect("key");
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name.push(rcgen::DnType::CountryName, "DE");
        p.distinguished_name
            .push(rcgen::DnType::OrganizationName, "Ünïcode GmbH");
        p.distinguished_name
            .push(rcgen::DnType::CommonName, "client-1");
        p.serial_number = Some(rcgen::SerialNumber::from(vec![0x01, 0x02, 0x03]));
        let cert = p.signed_by(&key, &issuer).expect("sign");
        let c = peer_certificate(cert.der(), true);
        assert_eq!(c.subject_cn.as_deref(), Some("client-1"));
        assert_eq!(
            c.subject,
            vec![
                ("C".to_owned(), "DE".to_owned()),
                ("O".to_owned(), "Ünïcode GmbH".to_owned()),
                ("CN".to_owned(), "client-1".to_owned())
            ]
        );
        assert_eq!(c.issuer, vec![("CN".to_owned(), "Test CA".to_owned())]);
        assert_eq!(c.serial, "010203");
        assert_eq!(c.sha256, <[u8; 32]>::from(sha2::Sha256::digest(cert.der())));
        assert_eq!(c.sha1, <[u8; 20]>::from(sha1::Sha1::digest(cert.der())));
        assert!(c.ca_verified);
        let _ = ca_cert;
    }

    #[test]
    fn garbage_gives_fingerprints_only() {
        let c = peer_certificate(&[0x30, 0x82, 0xFF], false);
        assert!(c.subject.is_empty() && c.issuer.is_empty() && c.subject_cn.is_none());
        assert_eq!(c.serial, "");
        assert!(!c.ca_verified);
    }

    #[test]
    fn dotted_oids() {
        assert_eq!(
            dotted(&[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D]),
            "1.2.840.113549"
        );
        assert_eq!(attribute_name(&[0x55, 0x04, 0x2A]), "2.5.4.42");
    }
}
