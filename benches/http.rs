//! HTTP/1.1 micro-benchmarks (`src/proto/http/`), the per-request work of the
//! web transport:
//!
//! - `http_head/*`: a typical browser GET head (Firefox, 9 fields, 480
//!   octets), parsed three ways, to choose the parser:
//!   - `httparse`: `httparse::Request::parse` alone (SIMD scanning);
//!   - `handwritten`: a straightforward byte-by-byte parser of the same
//!     strictness (request line, tokens, field values, CRLF), the
//!     alternative to depending on httparse;
//!   - `parse_request_head`: what the server does per request: httparse
//!     plus spans, limits, target form and Host checks;
//!   - `connection`: the connection state machine taking the head off a
//!     `BytesMut` (head-end search, parse, framing, owned split) and its end
//!     event.
//! - `http_response/write_200_head`: a 200 head with Date (cached), two
//!   fields and Content-Length, through the connection.
//! - `http_chunked/decode_64k_*`: 64 KiB of chunked body in 4 KiB chunks and
//!   in 64 chunks of 1 KiB, decoded from one buffer; `encode_64k_4k`
//!   encodes it.

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use junction::proto::http::body::encode_chunk;
use junction::proto::http::{
    ChunkedDecoder, Connection, Event, HttpDate, Limits, ResponseBody, ResponseHead,
    parse_request_head,
};

const BROWSER_GET: &[u8] = b"GET /static/js/app.3f9c2b.js?v=12 HTTP/1.1\r\n\
Host: www.example.com:8080\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
Accept: */*\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Referer: http://www.example.com:8080/index.html\r\n\
Connection: keep-alive\r\n\
Cookie: cbtid=UDfMmp3-o2ZBkcVqKg8ZkOqz; theme=dark\r\n\
Sec-Fetch-Dest: script\r\n\r\n";

/// The comparison parser: one pass over the octets, same rules as httparse's
/// default (single spaces in the request line, token names, visible-ASCII or
/// obs-text values, CRLF or LF line ends). Returns the head length and the
/// field count.
fn handwritten(buf: &[u8], fields: &mut [(usize, usize, usize, usize)]) -> Option<(usize, usize)> {
    fn tchar(b: u8) -> bool {
        b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
    }
    let mut i = 0;
    let method = buf.iter().position(|&b| b == b' ')?;
    if method == 0 || !buf[..method].iter().all(|&b| tchar(b)) {
        return None;
    }
    i += method + 1;
    let target = buf[i..].iter().position(|&b| b == b' ')?;
    if target == 0 || !buf[i..i + target].iter().all(|&b| b > 0x20 && b != 0x7F) {
        return None;
    }
    i += target + 1;
    if buf.get(i..i + 7)? != b"HTTP/1." || !matches!(buf.get(i + 7)?, b'0' | b'1') {
        return None;
    }
    i += 8;
    let eol = |i: &mut usize| -> Option<()> {
        match buf.get(*i)? {
            b'\r' if buf.get(*i + 1)? == &b'\n' => *i += 2,
            b'\n' => *i += 1,
            _ => return None,
        }
        Some(())
    };
    eol(&mut i)?;
    let mut n = 0;
    loop {
        if matches!(buf.get(i)?, b'\r' | b'\n') {
            eol(&mut i)?;
            return Some((i, n));
        }
        let name_start = i;
        while tchar(*buf.get(i)?) {
            i += 1;
        }
        if i == name_start || buf[i] != b':' {
            return None;
        }
        let name_end = i;
        i += 1;
        while matches!(buf.get(i)?, b' ' | b'\t') {
            i += 1;
        }
        let value_start = i;
        loop {
            let b = *buf.get(i)?;
            if (b < 0x20 && b != b'\t') || b == 0x7F {
                break;
            }
            i += 1;
        }
        let mut value_end = i;
        while value_end > value_start && matches!(buf[value_end - 1], b' ' | b'\t') {
            value_end -= 1;
        }
        eol(&mut i)?;
        *fields.get_mut(n)? = (name_start, name_end, value_start, value_end);
        n += 1;
    }
}

fn heads(c: &mut Criterion) {
    let mut g = c.benchmark_group("http_head");
    g.throughput(Throughput::Bytes(BROWSER_GET.len() as u64));
    g.bench_function("httparse", |b| {
        b.iter(|| {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut req = httparse::Request::new(&mut headers);
            let n = req.parse(black_box(BROWSER_GET)).expect("valid");
            black_box((n.is_complete(), req.headers.len()))
        })
    });
    g.bench_function("handwritten", |b| {
        let mut fields = [(0, 0, 0, 0); 64];
        b.iter(|| black_box(handwritten(black_box(BROWSER_GET), &mut fields)))
    });
    let limits = Limits::default();
    g.bench_function("parse_request_head", |b| {
        b.iter(|| {
            let head = parse_request_head(black_box(BROWSER_GET), &limits)
                .expect("valid")
                .expect("complete");
            black_box(head.headers().len())
        })
    });
    g.bench_function("connection", |b| {
        let mut buf = BytesMut::with_capacity(4096);
        b.iter(|| {
            let mut conn = Connection::new(Limits::default());
            buf.extend_from_slice(BROWSER_GET);
            let Ok(Some(Event::Request(req))) = conn.decode(&mut buf) else {
                panic!("a request");
            };
            let end = conn.decode(&mut buf);
            black_box((req, end))
        })
    });
    g.finish();
}

fn responses(c: &mut Criterion) {
    let mut g = c.benchmark_group("http_response");
    g.bench_function("write_200_head", |b| {
        let mut conn = Connection::new(Limits::default());
        let mut input = BytesMut::new();
        let mut out = Vec::with_capacity(512);
        let now = HttpDate::from_unix(1_800_000_000);
        b.iter(|| {
            input.extend_from_slice(BROWSER_GET);
            while let Ok(Some(_)) = conn.decode(&mut input) {}
            let mut head = ResponseHead::new(200);
            head.header("Content-Type", "text/javascript")
                .and_then(|h| h.header("Cache-Control", "max-age=3600"))
                .expect("valid");
            head.body(ResponseBody::Length(48_213));
            out.clear();
            let plan = conn.write_head(&head, now, &mut out).expect("a request");
            conn.finish_response().expect("started");
            black_box((plan, out.len()))
        })
    });
    g.finish();
}

/// `total` octets of body in chunks of `chunk` octets, chunked-encoded.
fn chunked_body(total: usize, chunk: usize) -> Vec<u8> {
    let data: Vec<u8> = (0..total).map(|i| (i * 31 % 251) as u8).collect();
    let mut out = Vec::with_capacity(total + total / chunk * 16 + 8);
    for piece in data.chunks(chunk) {
        encode_chunk(piece, &mut out);
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

fn chunked(c: &mut Criterion) {
    let mut g = c.benchmark_group("http_chunked");
    g.throughput(Throughput::Bytes(64 * 1024));
    for (name, chunk) in [("decode_64k_4k", 4096), ("decode_64k_1k", 1024)] {
        let body = chunked_body(64 * 1024, chunk);
        let mut buf = BytesMut::with_capacity(body.len());
        g.bench_function(name, |b| {
            b.iter(|| {
                buf.extend_from_slice(&body);
                let mut dec = ChunkedDecoder::new(&Limits::default());
                let mut total = 0;
                while let Ok(Some(piece)) = dec.decode(&mut buf) {
                    if let junction::proto::http::Chunk::Data(d) = piece {
                        total += d.len();
                    } else {
                        break;
                    }
                }
                black_box(total)
            })
        });
    }
    let data: Vec<u8> = vec![7; 64 * 1024];
    let mut out = Vec::with_capacity(70 * 1024);
    g.bench_function("encode_64k_4k", |b| {
        b.iter(|| {
            out.clear();
            for piece in data.chunks(4096) {
                encode_chunk(piece, &mut out);
            }
            black_box(out.len())
        })
    });
    g.finish();
}

criterion_group!(benches, heads, responses, chunked);
criterion_main!(benches);
