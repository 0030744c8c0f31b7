//! Golden vectors of the HTTP layer (`tests/vectors/http/`, see its README):
//!
//! - `requests/NAME.in`: raw client bytes; `requests/NAME.out`: the
//!   transcript of what the connection state machine makes of them (events,
//!   the answers' framing, the error and its status), compared line by line,
//!   for the input fed whole and fed one octet at a time;
//! - `responses/NAME.http`: response heads (and small bodies) written by the
//!   writer for the cases built in `response_cases`, compared byte for byte.
//!
//! `UPDATE_HTTP_VECTORS=1 cargo test --test http_vectors` rewrites the
//! expected files (then review the diff).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use bytes::BytesMut;
use junction::proto::http::conditional::EntityTag;
use junction::proto::http::cookie::{SameSite, SetCookie};
use junction::proto::http::range::RangeDecision;
use junction::proto::http::response::RequestContext;
use junction::proto::http::{
    BodyLength, Connection, Event, HttpDate, HttpError, Limits, Method, ResponseBody, ResponseHead,
    Version, error_response,
};

const NOW: HttpDate = HttpDate::from_unix(1_800_000_000);

fn dir(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors/http")
        .join(sub)
}

fn updating() -> bool {
    std::env::var_os("UPDATE_HTTP_VECTORS").is_some()
}

/// Octets as text: printable ASCII as is, the rest escaped.
fn show(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

/// What the connection makes of `input` fed in pieces of `step` octets:
/// each request is answered (200, empty body) after its end.
fn transcript(input: &[u8], step: usize) -> String {
    let mut conn = Connection::new(Limits::default());
    let mut buf = BytesMut::new();
    let mut out = String::new();
    let mut data = Vec::new();
    let mut upgrade_offered = false;
    let mut upgraded = false;
    for piece in input.chunks(step.max(1)) {
        buf.extend_from_slice(piece);
        while !upgraded {
            match conn.decode(&mut buf) {
                Ok(Some(Event::Request(r))) => {
                    let f = r.framing;
                    let body = match f.body {
                        BodyLength::Empty => "empty".to_owned(),
                        BodyLength::Length(n) => format!("length:{n}"),
                        BodyLength::Chunked => "chunked".to_owned(),
                    };
                    let version = match r.head.version() {
                        Version::Http10 => "HTTP/1.0",
                        Version::Http11 => "HTTP/1.1",
                    };
                    let _ = writeln!(
                        out,
                        "request {} {} {version} path={} body={body} keep-alive={} \
                         continue={} upgrade={}",
                        r.head.method_str(),
                        show(r.head.target().as_bytes()),
                        show(r.head.path().as_bytes()),
                        f.keep_alive,
                        f.expect_continue,
                        f.upgrade
                    );
                    for (name, value) in r.head.headers().iter() {
                        let _ = writeln!(out, "  {name}: {}", show(value));
                    }
                    upgrade_offered = f.upgrade;
                    if let Some(c) = conn.take_continue() {
                        let _ = writeln!(out, "interim {}", show(c));
                    }
                }
                Ok(Some(Event::Data(d))) => data.extend_from_slice(&d),
                Ok(Some(Event::End(trailers))) => {
                    if !data.is_empty() {
                        let _ = writeln!(out, "data \"{}\"", show(&data));
                        data.clear();
                    }
                    let _ = writeln!(out, "end");
                    for (name, value) in trailers.headers().iter() {
                        let _ = writeln!(out, "  trailer {name}: {}", show(value));
                    }
                    // An upgrade offer is accepted (101); the rest is the
                    // new protocol's.
                    let status = if upgrade_offered { 101 } else { 200 };
                    let mut head = ResponseHead::new(status);
                    if upgrade_offered {
                        head.header("Upgrade", "websocket").expect("valid");
                    }
                    let mut resp = Vec::new();
                    let plan = conn.write_head(&head, NOW, &mut resp).expect("a request");
                    let _ = writeln!(out, "answer {status} close={}", plan.close);
                    if upgrade_offered {
                        upgraded = true;
                        break;
                    }
                    conn.finish_response().expect("started");
                }
                Ok(None) => break,
                Err(e) => {
                    let _ = writeln!(out, "error {} {}", e.status, e.reason);
                    return out;
                }
            }
        }
    }
    if upgraded {
        let _ = writeln!(
            out,
            "upgraded: phase {:?}, left \"{}\"",
            conn.phase(&buf),
            show(&buf)
        );
        return out;
    }
    if !data.is_empty() {
        let _ = writeln!(out, "data \"{}\" (unfinished)", show(&data));
    }
    match conn.eof(&buf) {
        Ok(()) => {}
        Err(e) => {
            let _ = writeln!(out, "eof error {} {}", e.status, e.reason);
        }
    }
    let _ = writeln!(
        out,
        "left {} octets; must_close={}",
        buf.len(),
        conn.must_close()
    );
    out
}

#[test]
fn request_vectors() {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir("requests"))
        .expect("tests/vectors/http/requests")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "in"))
        .collect();
    names.sort();
    assert!(names.len() >= 30, "only {} request vectors", names.len());
    for input_path in names {
        let input = std::fs::read(&input_path).expect("read .in");
        let whole = transcript(&input, input.len());
        let bytewise = transcript(&input, 1);
        assert_eq!(
            whole,
            bytewise,
            "{}: split changes the result",
            input_path.display()
        );
        let expected_path = input_path.with_extension("out");
        if updating() {
            std::fs::write(&expected_path, &whole).expect("write .out");
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path)
            .unwrap_or_else(|e| panic!("{}: {e}", expected_path.display()));
        assert_eq!(whole, expected, "{}", input_path.display());
    }
}

/// The response cases: name and the bytes the writer produces.
fn response_cases() -> Vec<(&'static str, Vec<u8>)> {
    let keep11 = RequestContext {
        head: false,
        version: Version::Http11,
        keep_alive: true,
    };
    let write = |head: &ResponseHead, ctx: RequestContext, body: &[u8]| {
        let mut out = Vec::new();
        head.write(ctx, NOW, &mut out);
        out.extend_from_slice(body);
        out
    };
    let mut cases = Vec::new();

    let mut h = ResponseHead::new(200);
    h.header("Content-Type", "text/html").expect("valid");
    h.header("Server", "Junction").expect("valid");
    h.body(ResponseBody::Length(14));
    cases.push(("ok_length", write(&h, keep11, b"<h1>hello</h1>")));
    let head_ctx = RequestContext {
        head: true,
        ..keep11
    };
    cases.push(("head_request", write(&h, head_ctx, b"")));

    let mut h = ResponseHead::new(200);
    h.header("Content-Type", "application/json").expect("valid");
    h.body(ResponseBody::Streamed);
    let mut body = Vec::new();
    junction::proto::http::body::encode_chunk(b"{\"a\":", &mut body);
    junction::proto::http::body::encode_chunk(b"1}", &mut body);
    junction::proto::http::body::encode_last_chunk(&[], &mut body).expect("valid");
    cases.push(("chunked_http11", write(&h, keep11, &body)));
    let ctx10 = RequestContext {
        head: false,
        version: Version::Http10,
        keep_alive: true,
    };
    cases.push(("streamed_http10", write(&h, ctx10, b"{\"a\":1}")));

    let tag = EntityTag::strong("3e8-5f5e1000.0").expect("valid");
    let mut h = ResponseHead::new(304);
    h.header("ETag", tag.to_header_value()).expect("valid");
    h.header(
        "Last-Modified",
        HttpDate::from_unix(1_600_000_000).to_string(),
    )
    .expect("valid");
    cases.push(("not_modified", write(&h, keep11, b"")));

    let decision = RangeDecision::Partial { first: 0, last: 99 };
    let mut h = ResponseHead::new(206);
    h.header(
        "Content-Range",
        decision.content_range(1000).expect("partial"),
    )
    .expect("valid");
    h.header("Accept-Ranges", "bytes").expect("valid");
    h.body(ResponseBody::Length(100));
    cases.push(("partial_content", write(&h, keep11, b"")));

    let mut h = ResponseHead::new(416);
    h.header(
        "Content-Range",
        RangeDecision::NotSatisfiable
            .content_range(1000)
            .expect("416"),
    )
    .expect("valid");
    cases.push(("range_not_satisfiable", write(&h, keep11, b"")));

    let h = ResponseHead::method_not_allowed(&[Method::Get, Method::Head, Method::Options]);
    cases.push(("method_not_allowed", write(&h, keep11, b"")));

    let mut h = ResponseHead::new(204);
    let cookie = SetCookie::new("cbtid", "UDfMmp3-o2ZBkcVqKg8ZkOqz")
        .and_then(|c| c.path("/"))
        .expect("valid")
        .max_age(604_800)
        .http_only()
        .same_site(SameSite::Lax);
    h.header("Set-Cookie", cookie.to_header_value())
        .expect("valid");
    let close_ctx = RequestContext {
        keep_alive: false,
        ..keep11
    };
    cases.push(("set_cookie_close", write(&h, close_ctx, b"")));

    let mut h = ResponseHead::new(101);
    h.header("Upgrade", "websocket").expect("valid");
    h.header("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        .expect("valid");
    cases.push(("switching_protocols", write(&h, keep11, b"")));

    for (name, e) in [
        (
            "error_400",
            HttpError::bad_request("both Transfer-Encoding and Content-Length"),
        ),
        ("error_413", HttpError::new(413, "request body too large")),
        ("error_414", HttpError::new(414, "request target too long")),
        ("error_431", HttpError::new(431, "request head too large")),
        (
            "error_505",
            HttpError::new(505, "HTTP version not supported"),
        ),
    ] {
        cases.push((name, error_response(&e, NOW)));
    }
    cases
}

#[test]
fn response_vectors() {
    let cases = response_cases();
    for (name, bytes) in &cases {
        let path = dir("responses").join(format!("{name}.http"));
        if updating() {
            std::fs::write(&path, bytes).expect("write .http");
            continue;
        }
        let expected = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(
            show(bytes),
            show(&expected),
            "{name}: the writer's bytes differ from the vector"
        );
    }
    // No stale vector without a case.
    let files = std::fs::read_dir(dir("responses"))
        .expect("tests/vectors/http/responses")
        .count();
    assert_eq!(files, cases.len());
}
