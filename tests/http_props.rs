//! Properties of the sans-IO HTTP layer (`junction::proto::http`):
//!
//! - a request head written by the writer parses back to the same head;
//! - a response head written by the writer is read back by an independent
//!   parser (httparse) with the same status, fields and framing;
//! - chunked encoding then decoding gives the data and trailers back,
//!   whatever the chunk sizes and however the input is split;
//! - the connection yields the same events however its input is split;
//! - static-path normalisation never yields a path that leaves the root,
//!   for any input.

use std::path::{Component, Path};

use bytes::BytesMut;
use junction::proto::http::body::{encode_chunk, encode_last_chunk};
use junction::proto::http::path::StaticPath;
use junction::proto::http::request::write_request_head;
use junction::proto::http::response::RequestContext;
use junction::proto::http::{
    BodyWrite, Chunk, ChunkedDecoder, Connection, Event, HttpDate, Limits, ResponseBody,
    ResponseHead, Version, parse_request_head,
};
use proptest::prelude::*;

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]{0,15}"
}

/// A field value without leading or trailing white space (the parser trims).
fn value() -> impl Strategy<Value = String> {
    "([!-~]([ -~\t]{0,28}[!-~])?)?"
}

fn version() -> impl Strategy<Value = Version> {
    prop_oneof![Just(Version::Http10), Just(Version::Http11)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn request_head_round_trip(
        method in prop_oneof![Just("GET".to_owned()), Just("POST".to_owned()), "[A-Z]{1,12}"],
        target in "/[A-Za-z0-9._~%!$&'()*+,;=:@/-]{0,60}(\\?[A-Za-z0-9=&%+]{0,20})?",
        version in version(),
        fields in proptest::collection::vec((token(), value()), 0..20),
        trailing in proptest::collection::vec(any::<u8>(), 0..16),
    ) {
        let mut all: Vec<(String, String)> = vec![("Host".to_owned(), "example.com:8080".to_owned())];
        all.extend(fields.into_iter().filter(|(n, _)| !n.eq_ignore_ascii_case("host")));
        let refs: Vec<(&str, &[u8])> = all.iter().map(|(n, v)| (n.as_str(), v.as_bytes())).collect();
        let mut bytes = Vec::new();
        write_request_head(&method, &target, version, &refs, &mut bytes).expect("valid head");
        let head_len = bytes.len();
        bytes.extend_from_slice(&trailing);
        let head = parse_request_head(&bytes, &Limits::default())
            .expect("valid")
            .expect("complete");
        prop_assert_eq!(head.len(), head_len);
        prop_assert_eq!(head.method_str(), method.as_str());
        prop_assert_eq!(head.target(), target.as_str());
        prop_assert_eq!(head.version(), version);
        let got: Vec<(String, String)> = head
            .headers()
            .iter()
            .map(|(n, v)| (n.to_owned(), String::from_utf8(v.to_vec()).expect("ascii")))
            .collect();
        prop_assert_eq!(got, all);
        // Every strict prefix is incomplete, never an error.
        for cut in [0, head_len / 3, head_len / 2, head_len - 1] {
            prop_assert_eq!(parse_request_head(&bytes[..cut], &Limits::default()).map(|h| h.is_some()), Ok(false));
        }
    }

    #[test]
    fn response_head_read_back_by_httparse(
        status in prop_oneof![200u16..=203, 205u16..=303, 305u16..=599],
        fields in proptest::collection::vec((token(), value()), 0..12),
        body in prop_oneof![
            Just(ResponseBody::Empty),
            (0u64..1 << 40).prop_map(ResponseBody::Length),
            Just(ResponseBody::Streamed),
        ],
        version in version(),
        keep_alive in any::<bool>(),
        head_request in any::<bool>(),
        close in any::<bool>(),
    ) {
        let managed = ["content-length", "transfer-encoding", "connection", "date"];
        let fields: Vec<(String, String)> = fields
            .into_iter()
            .filter(|(n, _)| !managed.iter().any(|m| n.eq_ignore_ascii_case(m)))
            .collect();
        let mut head = ResponseHead::new(status);
        for (n, v) in &fields {
            head.header(n, v).expect("valid field");
        }
        head.body(body);
        if close {
            head.close();
        }
        let ctx = RequestContext { head: head_request, version, keep_alive };
        let mut out = Vec::new();
        let plan = head.write(ctx, HttpDate::from_unix(1_700_000_000), &mut out);

        let mut parsed = [httparse::EMPTY_HEADER; 32];
        let mut resp = httparse::Response::new(&mut parsed);
        let n = resp.parse(&out).expect("httparse reads it");
        prop_assert_eq!(n, httparse::Status::Complete(out.len()));
        prop_assert_eq!(resp.code, Some(status));
        prop_assert_eq!(resp.version, Some(1));
        let get = |name: &str| resp.headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value);
        prop_assert_eq!(get("date"), Some(&b"Tue, 14 Nov 2023 22:13:20 GMT"[..]));
        // The caller's fields, in order, between Date and the framing fields.
        let user: Vec<(String, String)> = resp.headers[1..1 + fields.len()]
            .iter()
            .map(|h| (h.name.to_owned(), String::from_utf8(h.value.to_vec()).expect("ascii")))
            .collect();
        prop_assert_eq!(&user, &fields);
        let connection_close = get("connection") == Some(&b"close"[..]);
        prop_assert_eq!(connection_close, plan.close);
        prop_assert_eq!(plan.close, close || !keep_alive || plan.body == BodyWrite::UntilClose);
        match body {
            ResponseBody::Empty => prop_assert_eq!(get("content-length"), Some(&b"0"[..])),
            ResponseBody::Length(len) => {
                let text = len.to_string();
                prop_assert_eq!(get("content-length"), Some(text.as_bytes()));
            }
            ResponseBody::Streamed if head_request => {
                prop_assert!(get("content-length").is_none() && get("transfer-encoding").is_none());
            }
            ResponseBody::Streamed => {
                let chunked = get("transfer-encoding") == Some(&b"chunked"[..]);
                prop_assert_eq!(chunked, version == Version::Http11);
            }
        }
        if head_request {
            prop_assert_eq!(plan.body, BodyWrite::None);
        }
    }

    #[test]
    fn chunked_round_trip(
        data in proptest::collection::vec(any::<u8>(), 0..3000),
        sizes in proptest::collection::vec(1usize..700, 1..20),
        trailers in proptest::collection::vec((token(), value()), 0..4),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..10),
    ) {
        let mut wire = Vec::new();
        let mut rest = &data[..];
        let mut sizes = sizes.iter().cycle();
        while !rest.is_empty() {
            let n = (*sizes.next().expect("cycle")).min(rest.len());
            encode_chunk(&rest[..n], &mut wire);
            rest = &rest[n..];
        }
        let refs: Vec<(&str, &[u8])> = trailers.iter().map(|(n, v)| (n.as_str(), v.as_bytes())).collect();
        encode_last_chunk(&refs, &mut wire).expect("valid trailers");
        let mut offsets: Vec<usize> = cuts.iter().map(|c| c.index(wire.len() + 1)).collect();
        offsets.sort_unstable();
        offsets.push(wire.len());

        let mut dec = ChunkedDecoder::new(&Limits::default());
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        let mut ended = None;
        let mut start = 0;
        for end in offsets {
            buf.extend_from_slice(&wire[start..end]);
            start = end;
            while let Some(piece) = dec.decode(&mut buf).expect("valid body") {
                match piece {
                    Chunk::Data(d) => got.extend_from_slice(&d),
                    Chunk::End(t) => ended = Some(t),
                }
            }
        }
        prop_assert_eq!(got, data);
        let ended = ended.expect("the body ended");
        let back: Vec<(String, String)> = ended
            .headers()
            .iter()
            .map(|(n, v)| (n.to_owned(), String::from_utf8(v.to_vec()).expect("ascii")))
            .collect();
        prop_assert_eq!(back, trailers);
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn connection_events_do_not_depend_on_the_split(
        requests in proptest::collection::vec((0u8..3, proptest::collection::vec(any::<u8>(), 0..300)), 1..6),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let mut wire = Vec::new();
        for (i, (kind, body)) in requests.iter().enumerate() {
            match kind {
                0 => wire.extend_from_slice(format!("GET /r{i} HTTP/1.1\r\nHost: h\r\n\r\n").as_bytes()),
                1 => {
                    wire.extend_from_slice(format!("POST /r{i} HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes());
                    wire.extend_from_slice(body);
                }
                _ => {
                    wire.extend_from_slice(format!("PUT /r{i} HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n").as_bytes());
                    for piece in body.chunks(97) {
                        encode_chunk(piece, &mut wire);
                    }
                    wire.extend_from_slice(b"0\r\n\r\n");
                }
            }
        }
        let mut offsets: Vec<usize> = cuts.iter().map(|c| c.index(wire.len() + 1)).collect();
        offsets.sort_unstable();
        let whole = summarize(&wire, &[]);
        let split = summarize(&wire, &offsets);
        prop_assert_eq!(&whole, &split);
        // One request line and one end per request; the bodies come back whole.
        let expected: Vec<String> = requests
            .iter()
            .enumerate()
            .flat_map(|(i, (_, body))| {
                let method = ["GET", "POST", "PUT"][usize::from(requests[i].0)];
                let mut v = vec![format!("{method} /r{i}")];
                if requests[i].0 != 0 && !body.is_empty() {
                    v.push(format!("data {body:?}"));
                }
                v.push("end".to_owned());
                v
            })
            .collect();
        prop_assert_eq!(whole, expected);
    }

    #[test]
    fn static_paths_never_leave_the_root(
        path in proptest::collection::vec(
            prop_oneof![
                Just("/"), Just("."), Just(".."), Just("%2e"), Just("%2E"), Just("%2f"),
                Just("%2F"), Just("%5c"), Just("\\"), Just("%25"), Just("%00"), Just("a"),
                Just("%"), Just("2e"), Just("%c0%ae"), Just("..."), Just("%252e"),
            ],
            0..12,
        ).prop_map(|parts| parts.concat()),
        noise in ".{0,20}",
    ) {
        for candidate in [format!("/{path}"), path.clone(), format!("/{noise}{path}"), format!("/{path}{noise}")] {
            check_inside_root(&candidate)?;
        }
    }

    #[test]
    fn arbitrary_strings_never_leave_the_root(path in "/?.{0,60}") {
        check_inside_root(&path)?;
    }
}

/// When `path` is accepted, the relative path is plain names only, and
/// joined under a root it stays under it.
fn check_inside_root(path: &str) -> Result<(), TestCaseError> {
    let Ok(p) = StaticPath::parse(path) else {
        return Ok(());
    };
    let rel = p.to_relative();
    prop_assert!(rel.is_relative());
    for c in rel.components() {
        prop_assert!(matches!(c, Component::Normal(_)), "{path:?} gave {rel:?}");
    }
    for s in p.segments() {
        prop_assert!(s != ".." && s != "." && !s.is_empty());
        prop_assert!(
            !s.contains(['/', '\\', '\0']),
            "{path:?} gave segment {s:?}"
        );
    }
    let root = Path::new("/srv/www");
    let joined = root.join(&rel);
    prop_assert!(joined.starts_with(root));
    prop_assert_eq!(
        joined.components().count(),
        root.components().count() + p.segments().len()
    );
    // Accepted paths normalise to a fixed point.
    let again = StaticPath::parse(&p.to_url_path()).expect("a normalised path is accepted");
    prop_assert_eq!(again.segments(), p.segments());
    Ok(())
}

/// The connection's events for `wire` fed in pieces cut at `cuts`, answering
/// each request after its end; data pieces merged.
fn summarize(wire: &[u8], cuts: &[usize]) -> Vec<String> {
    let mut conn = Connection::new(Limits::default());
    let mut buf = BytesMut::new();
    let mut out: Vec<String> = Vec::new();
    let mut data = Vec::new();
    let mut start = 0;
    for end in cuts.iter().copied().chain(std::iter::once(wire.len())) {
        let end = end.clamp(start, wire.len());
        buf.extend_from_slice(&wire[start..end]);
        start = end;
        while let Some(e) = conn.decode(&mut buf).expect("valid requests") {
            match e {
                Event::Request(r) => {
                    out.push(format!("{} {}", r.head.method_str(), r.head.target()))
                }
                Event::Data(d) => data.extend_from_slice(&d),
                Event::End(_) => {
                    if !data.is_empty() {
                        out.push(format!("data {data:?}"));
                        data.clear();
                    }
                    out.push("end".to_owned());
                    let mut resp = Vec::new();
                    conn.write_head(&ResponseHead::new(204), HttpDate::from_unix(0), &mut resp)
                        .expect("a request to answer");
                    conn.finish_response().expect("started");
                }
            }
        }
    }
    out
}
