//! Fuzzes the HTTP/1.1 connection state machine (`proto::http::Connection`).
//! The first octet picks the chunk size the rest is fed in (as a socket
//! would deliver it), the second the limits; every request is answered after
//! its end (101 for an upgrade offer when the chunk size is odd). Checks: no panic; every head and every
//! body piece is exactly the octets just taken off the buffer (nothing lost,
//! invented or reordered); the buffer never grows while decoding; a head
//! parses again to itself and round-trips through the request writer; body
//! pieces are never empty and stay within the body limit; answers are
//! readable HTTP; errors carry a status the layer uses. The whole input also
//! goes to `parse_request_head` and, as a path, to `StaticPath::parse`, whose
//! result must never leave the root.
#![no_main]

use std::path::Component;

use bytes::BytesMut;
use junction::proto::http::path::StaticPath;
use junction::proto::http::request::write_request_head;
use junction::proto::http::{
    Connection, Event, HttpDate, Limits, Phase, ResponseBody, ResponseHead, parse_request_head,
};
use libfuzzer_sys::fuzz_target;

fn limits(pick: u8) -> Limits {
    let small = pick & 1 != 0;
    Limits {
        max_head: if small { 256 } else { 16 * 1024 },
        max_target: if small { 32 } else { 8 * 1024 },
        max_headers: if pick & 2 != 0 { 4 } else { 100 },
        max_body: if pick & 4 != 0 { 64 } else { 1 << 20 },
        max_chunk_line: if pick & 8 != 0 { 16 } else { 4096 },
        max_pipelined: usize::from(pick >> 4).max(1),
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = parse_request_head(data, &Limits::default());
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(p) = StaticPath::parse(text)
    {
        assert!(p.to_relative().components().all(|c| matches!(c, Component::Normal(_))));
    }
    if data.len() < 2 {
        return;
    }
    let chunk = usize::from(data[0]).max(1);
    let limits = limits(data[1]);
    let stream = &data[2..];
    let mut conn = Connection::new(limits.clone());
    let mut buf = BytesMut::new();
    let mut fed = 0usize;
    let mut body_len = 0u64;
    let mut upgrade_offered = false;
    let now = HttpDate::from_unix(1_800_000_000);
    for piece in stream.chunks(chunk) {
        buf.extend_from_slice(piece);
        fed += piece.len();
        loop {
            let before = buf.len();
            let event = match conn.decode(&mut buf) {
                Ok(Some(e)) => e,
                Ok(None) => break,
                Err(e) => {
                    assert!(
                        [400, 413, 414, 417, 431, 501, 505].contains(&e.status),
                        "unexpected status {}",
                        e.status
                    );
                    let _ = junction::proto::http::error_response(&e, now);
                    return;
                }
            };
            assert!(buf.len() <= before, "the buffer grew");
            let consumed = fed - buf.len();
            match event {
                Event::Request(r) => {
                    let raw = r.head.as_bytes();
                    assert_eq!(raw, &stream[consumed - raw.len()..consumed]);
                    let again = parse_request_head(raw, &limits)
                        .expect("a head parses again")
                        .expect("complete");
                    assert_eq!(again, r.head);
                    assert_eq!(again.len(), raw.len());
                    let fields: Vec<(&str, &[u8])> = r.head.headers().iter().collect();
                    let mut written = Vec::new();
                    if write_request_head(
                        r.head.method_str(),
                        r.head.target(),
                        r.head.version(),
                        &fields,
                        &mut written,
                    )
                    .is_ok()
                    {
                        let back = parse_request_head(&written, &Limits::default())
                            .expect("a written head parses")
                            .expect("complete");
                        assert_eq!(back, r.head);
                    }
                    body_len = 0;
                    upgrade_offered = r.framing.upgrade;
                }
                Event::Data(d) => {
                    assert!(!d.is_empty());
                    assert_eq!(&d[..], &stream[consumed - d.len()..consumed]);
                    body_len += d.len() as u64;
                    assert!(body_len <= limits.max_body, "body over the limit");
                }
                Event::End(trailers) => {
                    let _ = trailers.headers().len();
                    // Accept an upgrade offer when the chunk size is odd.
                    let switch = upgrade_offered && chunk % 2 == 1;
                    let mut head = ResponseHead::new(if switch { 101 } else { 200 });
                    head.body(ResponseBody::Streamed);
                    let mut out = Vec::new();
                    let plan = conn.write_head(&head, now, &mut out).expect("a request to answer");
                    let mut parsed = [httparse::EMPTY_HEADER; 16];
                    let mut resp = httparse::Response::new(&mut parsed);
                    assert!(matches!(resp.parse(&out), Ok(httparse::Status::Complete(n)) if n == out.len()));
                    if switch {
                        assert_eq!(conn.phase(&buf), Phase::Upgraded);
                        assert!(matches!(conn.decode(&mut buf), Ok(None)));
                        return;
                    }
                    conn.finish_response().expect("started");
                    if plan.close {
                        assert!(conn.must_close());
                        return;
                    }
                }
            }
        }
    }
    let _ = conn.eof(&buf);
});
