//! The HTTP bridge's request checks that need no I/O: the query fields of a
//! signed request, its timestamp, its signature, and GitHub's webhook
//! signature.
//!
//! Signed requests, as Crossbar defines them: the query carries `key`,
//! `timestamp` (UTC, ISO 8601 with fractional seconds,
//! `2011-10-14T16:59:51.123Z`), `seq` and `nonce` (integers) and
//! `signature`, which is the URL-safe Base64 (with padding) of
//! HMAC-SHA256 keyed with the path's `secret` over the concatenation of the
//! key, timestamp, seq and nonce exactly as sent (after the query's
//! percent-decoding) and the request body. The timestamp may differ from the
//! router's clock by at most `timestamp_delta_limit` seconds (0: any).
//!
//! GitHub's webhook signature: `X-Hub-Signature: sha1=<hex>` with the
//! HMAC-SHA1 of the body keyed with `github_secret`.

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::proto::http::path::percent_decode_lossy;

type HmacSha256 = Hmac<Sha256>;
type HmacSha1 = Hmac<sha1::Sha1>;

/// Why a request was refused: the HTTP status and Crossbar's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    /// 400, 401, 413, ...
    pub status: u16,
    /// The text of the answer's `error` field.
    pub message: String,
}

impl Denied {
    /// A refusal with `status` and `message`.
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Denied {
            status,
            message: message.into(),
        }
    }
}

/// The query fields of a (possibly) signed request, percent-decoded; the
/// first occurrence of each counts, as in Crossbar (Twisted's `args[x][0]`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SignedFields {
    /// `key`.
    pub key: Option<String>,
    /// `timestamp`.
    pub timestamp: Option<String>,
    /// `seq`.
    pub seq: Option<String>,
    /// `nonce`.
    pub nonce: Option<String>,
    /// `signature`.
    pub signature: Option<String>,
}

impl SignedFields {
    /// The fields of query string `query` (without the `?`).
    pub fn parse(query: &str) -> Self {
        let mut f = SignedFields::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = percent_decode_lossy(name, true);
            let slot = match &*name {
                "key" => &mut f.key,
                "timestamp" => &mut f.timestamp,
                "seq" => &mut f.seq,
                "nonce" => &mut f.nonce,
                "signature" => &mut f.signature,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(percent_decode_lossy(value, true).into_owned());
            }
        }
        f
    }
}

/// What a path requires of signed requests.
#[derive(Debug, Clone, Copy)]
pub struct Signing<'a> {
    /// `key`.
    pub key: &'a str,
    /// `secret`.
    pub secret: &'a [u8],
    /// `timestamp_delta_limit` in seconds (0: no limit).
    pub delta_limit_s: u64,
}

/// Checks the fields of a request against the path's signing settings, in
/// Crossbar's order: each field present and well-formed (a timestamp too
/// far from `now_unix_ms` is refused as it is read), then the key, then the
/// signature over `body`. `signing` `None`: fields are still checked for
/// form when given (a malformed timestamp, seq or nonce is refused), as
/// Crossbar does.
///
/// # Errors
/// [`Denied`] with 400 (a field missing or malformed, an expired
/// timestamp) or 401 (unknown key, wrong signature).
pub fn check(
    fields: &SignedFields,
    signing: Option<Signing<'_>>,
    body: &[u8],
    now_unix_ms: i64,
) -> Result<(), Denied> {
    let signed = signing.is_some();
    let missing = |what: &str| {
        Denied::new(
            400,
            format!("REST bridge signature was invalid (missing mandatory field - {what})."),
        )
    };
    let invalid =
        |why: String| Denied::new(400, format!("REST bridge signature was invalid ({why})."));
    if fields.key.is_none() && signed {
        return Err(missing("'key' field missing"));
    }
    match &fields.timestamp {
        Some(ts) => {
            let Some(at_ms) = parse_timestamp(ts) else {
                return Err(invalid(format!(
                    "invalid timestamp '{ts}' (must be UTC/ISO-8601, e.g. '2011-10-14T16:59:51.123Z')"
                )));
            };
            let limit = signing.map_or(300, |s| s.delta_limit_s);
            let delta_ms = (at_ms - now_unix_ms).unsigned_abs();
            if limit > 0 && delta_ms > limit.saturating_mul(1000) {
                return Err(Denied::new(400, "Request expired, too old timestamp."));
            }
        }
        None if signed => {
            return Err(missing(
                "signed request required, but mandatory 'timestamp' field missing",
            ));
        }
        None => {}
    }
    for (name, value) in [("seq", &fields.seq), ("nonce", &fields.nonce)] {
        match value {
            Some(v) if v.trim().parse::<i128>().is_err() => {
                let what = if name == "seq" {
                    "sequence number"
                } else {
                    "nonce"
                };
                return Err(invalid(format!(
                    "invalid {what} '{v}' (must be an integer)"
                )));
            }
            Some(_) => {}
            None if signed => return Err(missing(&format!("'{name}' field missing"))),
            None => {}
        }
    }
    let Some(s) = signing else {
        return Ok(());
    };
    let Some(signature) = &fields.signature else {
        return Err(missing("'signature' field missing"));
    };
    let key = fields.key.as_deref().unwrap_or_default();
    if !constant_eq(key.as_bytes(), s.key.as_bytes()) {
        return Err(Denied::new(401, "REST bridge signature key not valid."));
    }
    let expected = signature_of(
        s.secret,
        key,
        fields.timestamp.as_deref().unwrap_or_default(),
        fields.seq.as_deref().unwrap_or_default(),
        fields.nonce.as_deref().unwrap_or_default(),
        body,
    );
    if !constant_eq(expected.as_bytes(), signature.as_bytes()) {
        return Err(Denied::new(401, "REST bridge signature secret not valid."));
    }
    Ok(())
}

/// The signature of a request: URL-safe Base64 (padded) of
/// HMAC-SHA256(`secret`, key ‖ timestamp ‖ seq ‖ nonce ‖ body).
pub fn signature_of(
    secret: &[u8],
    key: &str,
    timestamp: &str,
    seq: &str,
    nonce: &str,
    body: &[u8],
) -> String {
    let mut mac =
        <HmacSha256 as KeyInit>::new_from_slice(secret).expect("HMAC takes keys of any size");
    for part in [
        key.as_bytes(),
        timestamp.as_bytes(),
        seq.as_bytes(),
        nonce.as_bytes(),
        body,
    ] {
        mac.update(part);
    }
    base64::engine::general_purpose::URL_SAFE.encode(mac.finalize().into_bytes())
}

/// Whether `header` (the `X-Hub-Signature` value) is GitHub's signature of
/// `body` for `secret` (`sha1=` and lowercase or uppercase hex).
pub fn github_signature_ok(secret: &[u8], header: Option<&[u8]>, body: &[u8]) -> bool {
    let Some(h) = header else {
        return false;
    };
    let mut mac =
        <HmacSha1 as KeyInit>::new_from_slice(secret).expect("HMAC takes keys of any size");
    mac.update(body);
    let ours = format!("sha1={}", hex::encode(mac.finalize().into_bytes()));
    constant_eq(ours.as_bytes(), &h.to_ascii_lowercase())
}

/// Compares without an early exit (the lengths are not secret).
fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Milliseconds since the Unix epoch of `YYYY-MM-DDTHH:MM:SS[.ffffff]Z`
/// (Crossbar asks for the fraction; Junction also takes a timestamp
/// without one). `None` when malformed or out of range.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.split('-');
    let (y, mo, da) = (d.next()?, d.next()?, d.next()?);
    if d.next().is_some() || y.len() != 4 || mo.len() != 2 || da.len() != 2 {
        return None;
    }
    let (hms, frac) = match time.split_once('.') {
        Some((hms, f)) => (hms, Some(f)),
        None => (time, None),
    };
    let mut t = hms.split(':');
    let (h, mi, se) = (t.next()?, t.next()?, t.next()?);
    if t.next().is_some() || h.len() != 2 || mi.len() != 2 || se.len() != 2 {
        return None;
    }
    let num = |x: &str| -> Option<i64> {
        if x.bytes().all(|b| b.is_ascii_digit()) {
            x.parse().ok()
        } else {
            None
        }
    };
    let (y, mo, da, h, mi, se) = (num(y)?, num(mo)?, num(da)?, num(h)?, num(mi)?, num(se)?);
    if !(1..=12).contains(&mo) || !(1..=days_in_month(y, mo)).contains(&da) {
        return None;
    }
    if h > 23 || mi > 59 || se > 59 {
        return None;
    }
    let ms = match frac {
        None => 0,
        Some(f) if (1..=6).contains(&f.len()) => {
            let n = num(f)?;
            // Scale to microseconds, then milliseconds.
            n * 10_i64.pow(6 - f.len() as u32) / 1000
        }
        Some(_) => return None,
    };
    let days = days_from_civil(y, mo, da);
    Some(((days * 24 + h) * 60 + mi) * 60_000 + se * 1000 + ms)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: &str = "2024-03-01T12:00:00.000Z";

    fn now_ms() -> i64 {
        parse_timestamp(NOW).expect("valid")
    }

    fn signed(body: &[u8], secret: &str, ts: &str) -> SignedFields {
        let sig = signature_of(secret.as_bytes(), "k1", ts, "7", "42", body);
        SignedFields::parse(&format!(
            "key=k1&timestamp={ts}&seq=7&nonce=42&signature={}",
            sig.replace('=', "%3D")
        ))
    }

    fn signing() -> Signing<'static> {
        Signing {
            key: "k1",
            secret: b"s3cret",
            delta_limit_s: 300,
        }
    }

    #[test]
    fn timestamps_parse_to_epoch_milliseconds() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00.000Z"), Some(0));
        assert_eq!(parse_timestamp("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(
            parse_timestamp("2011-10-14T16:59:51.123Z"),
            Some(1_318_611_591_123)
        );
        assert_eq!(
            parse_timestamp("2024-02-29T23:59:59.999999Z"),
            Some(1_709_251_199_999)
        );
        for bad in [
            "2011-10-14T16:59:51.123",
            "2011-10-14 16:59:51.123Z",
            "2023-02-29T00:00:00Z",
            "2011-13-01T00:00:00Z",
            "2011-10-14T24:00:00Z",
            "2011-10-14T16:59:51.1234567Z",
            "2011-10-14T16:59:5a.1Z",
            "",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn signature_matches_crossbars_definition() {
        // Python: base64.urlsafe_b64encode(hmac.new(b"s3cret",
        //   b"k1" b"2024-03-01T12:00:00.000Z" b"7" b"42" b'{"topic":"a"}',
        //   hashlib.sha256).digest())
        let sig = signature_of(b"s3cret", "k1", NOW, "7", "42", br#"{"topic":"a"}"#);
        assert_eq!(sig, "JS3_VyFq5g-5bJus3rfXsjWD_603qLSaLEMtpKzawh0=");
        // Every part counts.
        assert_ne!(
            sig,
            signature_of(b"s3cret", "k1", NOW, "8", "42", br#"{"topic":"a"}"#)
        );
        assert_ne!(
            sig,
            signature_of(b"other", "k1", NOW, "7", "42", br#"{"topic":"a"}"#)
        );
    }

    #[test]
    fn a_good_signature_passes_and_a_bad_one_is_401() {
        let body = br#"{"topic":"com.example","args":[1]}"#;
        let f = signed(body, "s3cret", NOW);
        assert_eq!(check(&f, Some(signing()), body, now_ms()), Ok(()));
        // Another body, or another secret: 401.
        let e = check(&f, Some(signing()), b"{}", now_ms()).expect_err("body");
        assert_eq!(e.status, 401);
        assert!(e.message.contains("secret not valid"), "{}", e.message);
        let f2 = signed(body, "wrong", NOW);
        assert_eq!(
            check(&f2, Some(signing()), body, now_ms())
                .expect_err("secret")
                .status,
            401
        );
        // An unknown key: 401 naming the key problem.
        let mut f3 = f.clone();
        f3.key = Some("k2".into());
        let e = check(&f3, Some(signing()), body, now_ms()).expect_err("key");
        assert_eq!(e.status, 401);
        assert!(e.message.contains("key not valid"));
    }

    #[test]
    fn stale_and_malformed_fields_are_400() {
        let body = b"{}";
        let old = "2024-03-01T11:54:59.000Z"; // 301 s before NOW
        let f = signed(body, "s3cret", old);
        let e = check(&f, Some(signing()), body, now_ms()).expect_err("stale");
        assert_eq!(
            (e.status, e.message.as_str()),
            (400, "Request expired, too old timestamp.")
        );
        // Within the limit it passes; a limit of 0 takes any timestamp.
        let ok = signed(body, "s3cret", "2024-03-01T11:55:01.000Z");
        assert_eq!(check(&ok, Some(signing()), body, now_ms()), Ok(()));
        let any = Signing {
            delta_limit_s: 0,
            ..signing()
        };
        assert_eq!(check(&f, Some(any), body, now_ms()), Ok(()));
        // Missing fields, one at a time.
        for drop in ["key", "timestamp", "seq", "nonce", "signature"] {
            let mut g = signed(body, "s3cret", NOW);
            match drop {
                "key" => g.key = None,
                "timestamp" => g.timestamp = None,
                "seq" => g.seq = None,
                "nonce" => g.nonce = None,
                _ => g.signature = None,
            }
            let e = check(&g, Some(signing()), body, now_ms()).expect_err(drop);
            assert_eq!(e.status, 400, "{drop}");
            assert!(
                e.message.contains("missing mandatory field"),
                "{drop}: {}",
                e.message
            );
        }
        let mut g = signed(body, "s3cret", NOW);
        g.seq = Some("x1".into());
        let e = check(&g, Some(signing()), body, now_ms()).expect_err("seq");
        assert!(e.message.contains("invalid sequence number 'x1'"));
    }

    #[test]
    fn unsigned_paths_ignore_absent_fields_but_check_given_ones() {
        assert_eq!(
            check(&SignedFields::default(), None, b"{}", now_ms()),
            Ok(())
        );
        let f = SignedFields::parse("timestamp=yesterday");
        assert_eq!(
            check(&f, None, b"{}", now_ms()).expect_err("bad").status,
            400
        );
    }

    #[test]
    fn query_fields_are_decoded_and_first_wins() {
        let f = SignedFields::parse(
            "key=a%2Bb&key=second&timestamp=2024-03-01T12%3A00%3A00Z&x=1&signature=ab%3D%3D&seq",
        );
        assert_eq!(f.key.as_deref(), Some("a+b"));
        assert_eq!(f.timestamp.as_deref(), Some("2024-03-01T12:00:00Z"));
        assert_eq!(f.signature.as_deref(), Some("ab=="));
        assert_eq!(f.seq.as_deref(), Some(""));
        assert_eq!(f.nonce, None);
    }

    #[test]
    fn github_signatures() {
        let body = br#"{"zen":"Keep it logically awesome."}"#;
        let mut mac = <HmacSha1 as KeyInit>::new_from_slice(b"gh").expect("key");
        mac.update(body);
        let good = format!("sha1={}", hex::encode(mac.finalize().into_bytes()));
        assert!(github_signature_ok(b"gh", Some(good.as_bytes()), body));
        assert!(github_signature_ok(
            b"gh",
            Some(good.to_uppercase().replace("SHA1", "sha1").as_bytes()),
            body
        ));
        assert!(!github_signature_ok(b"other", Some(good.as_bytes()), body));
        assert!(!github_signature_ok(b"gh", None, body));
        assert!(!github_signature_ok(b"gh", Some(good.as_bytes()), b"{}"));
    }
}
