//! Tests of the connection state machine (`conn.rs`).

use super::*;
use crate::proto::http::BodyLength;
use crate::proto::http::response::{BodyWrite, ResponseBody};

const NOW: HttpDate = HttpDate::from_unix(784_111_777);

/// An event with its data copied out, to compare.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Req(String, String, BodyLength),
    Data(Vec<u8>),
    End(Vec<(String, Vec<u8>)>),
}

fn own(e: Event) -> Ev {
    match e {
        Event::Request(r) => Ev::Req(
            r.head.method_str().to_owned(),
            r.head.target().to_owned(),
            r.framing.body,
        ),
        Event::Data(d) => Ev::Data(d.to_vec()),
        Event::End(t) => Ev::End(
            t.headers()
                .iter()
                .map(|(n, v)| (n.to_owned(), v.to_vec()))
                .collect(),
        ),
    }
}

/// Feeds `input` in pieces of `step` octets, decoding after each; data
/// pieces are merged so that the result does not depend on the split.
fn events(conn: &mut Connection, input: &[u8], step: usize) -> Result<Vec<Ev>, HttpError> {
    let mut buf = BytesMut::new();
    let mut out: Vec<Ev> = Vec::new();
    for piece in input.chunks(step.max(1)) {
        buf.extend_from_slice(piece);
        while let Some(e) = conn.decode(&mut buf)? {
            match (own(e), out.last_mut()) {
                (Ev::Data(d), Some(Ev::Data(prev))) => prev.extend_from_slice(&d),
                (e, _) => out.push(e),
            }
        }
    }
    Ok(out)
}

fn answer(conn: &mut Connection, status: u16, body: ResponseBody) -> (String, ResponsePlan) {
    let mut head = ResponseHead::new(status);
    head.body(body);
    let mut out = Vec::new();
    let plan = conn
        .write_head(&head, NOW, &mut out)
        .expect("a request to answer");
    (String::from_utf8(out).expect("ascii"), plan)
}

fn req(method: &str, target: &str, body: BodyLength) -> Ev {
    Ev::Req(method.to_owned(), target.to_owned(), body)
}

const PIPELINE: &str = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n\
    POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello\
    POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n\
    3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n\
    HEAD /d HTTP/1.1\r\nHost: h\r\n\r\n";

fn pipeline_events() -> Vec<Ev> {
    vec![
        req("GET", "/a", BodyLength::Empty),
        Ev::End(vec![]),
        req("POST", "/b", BodyLength::Length(5)),
        Ev::Data(b"hello".to_vec()),
        Ev::End(vec![]),
        req("POST", "/c", BodyLength::Chunked),
        Ev::Data(b"abcde".to_vec()),
        Ev::End(vec![("X-T".to_owned(), b"1".to_vec())]),
        req("HEAD", "/d", BodyLength::Empty),
        Ev::End(vec![]),
    ]
}

#[test]
fn pipelined_requests_at_every_split() {
    let input = PIPELINE.as_bytes();
    for step in [1, 2, 3, 5, 8, 13, 64, input.len()] {
        let mut conn = Connection::new(Limits::default());
        assert_eq!(
            events(&mut conn, input, step),
            Ok(pipeline_events()),
            "step {step}"
        );
        assert_eq!(conn.phase(&[]), Phase::Responding);
    }
}

#[test]
fn pipelined_answers_in_order() {
    let mut conn = Connection::new(Limits::default());
    events(&mut conn, PIPELINE.as_bytes(), 7).expect("valid");
    let (text, plan) = answer(&mut conn, 200, ResponseBody::Length(2));
    assert!(text.starts_with("HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"));
    assert!(text.ends_with("Content-Length: 2\r\n\r\n"), "{text}");
    assert_eq!(
        plan,
        ResponsePlan {
            body: BodyWrite::Length(2),
            close: false
        }
    );
    // The second answer cannot start before the first is finished.
    let mut out = Vec::new();
    assert_eq!(
        conn.write_head(&ResponseHead::new(200), NOW, &mut out),
        Err(WriteError::HeadWritten)
    );
    assert!(out.is_empty());
    conn.finish_response().expect("started");
    for _ in 0..2 {
        let (_, plan) = answer(&mut conn, 201, ResponseBody::Streamed);
        assert_eq!(plan.body, BodyWrite::Chunked);
        conn.finish_response().expect("started");
    }
    // The HEAD request: Content-Length kept, no body.
    let (text, plan) = answer(&mut conn, 200, ResponseBody::Length(99));
    assert!(text.contains("Content-Length: 99\r\n"));
    assert_eq!(plan.body, BodyWrite::None);
    conn.finish_response().expect("started");
    assert_eq!(conn.finish_response(), Err(WriteError::NotStarted));
    assert_eq!(
        conn.write_head(&ResponseHead::new(200), NOW, &mut out),
        Err(WriteError::NoRequest)
    );
    assert!(!conn.must_close());
    assert_eq!(conn.phase(&[]), Phase::Idle);
}

#[test]
fn pipelining_limit_pauses_reading() {
    let limits = Limits {
        max_pipelined: 2,
        ..Limits::default()
    };
    let mut conn = Connection::new(limits);
    let mut buf = BytesMut::from(PIPELINE.as_bytes());
    let mut got = Vec::new();
    while let Some(e) = conn.decode(&mut buf).expect("valid") {
        got.push(own(e));
    }
    assert_eq!(got, pipeline_events()[..5]);
    assert!(buf.starts_with(b"POST /c"));
    answer(&mut conn, 204, ResponseBody::Empty);
    conn.finish_response().expect("started");
    assert_eq!(
        conn.decode(&mut buf).map(|e| e.map(own)),
        Ok(Some(req("POST", "/c", BodyLength::Chunked)))
    );
}

#[test]
fn http10_closes_unless_keep_alive() {
    let mut conn = Connection::new(Limits::default());
    let input = b"GET / HTTP/1.0\r\n\r\nGET /next HTTP/1.0\r\n\r\n";
    let got = events(&mut conn, input, input.len()).expect("valid");
    // Nothing is read after a request that does not persist.
    assert_eq!(
        got,
        vec![req("GET", "/", BodyLength::Empty), Ev::End(vec![])]
    );
    assert_eq!(conn.phase(&[]), Phase::Closing);
    let (text, plan) = answer(&mut conn, 200, ResponseBody::Length(1));
    assert!(text.ends_with("Content-Length: 1\r\nConnection: close\r\n\r\n"));
    assert!(plan.close);
    assert!(!conn.must_close());
    conn.finish_response().expect("started");
    assert!(conn.must_close());

    let mut conn = Connection::new(Limits::default());
    let input = b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /2 HTTP/1.0\r\n\r\n";
    let got = events(&mut conn, input, 4).expect("valid");
    assert_eq!(got.len(), 4);
    let (text, plan) = answer(&mut conn, 200, ResponseBody::Empty);
    assert!(text.ends_with("Content-Length: 0\r\nConnection: keep-alive\r\n\r\n"));
    assert!(!plan.close);
    conn.finish_response().expect("started");
    let (_, plan) = answer(&mut conn, 200, ResponseBody::Streamed);
    assert_eq!(
        plan,
        ResponsePlan {
            body: BodyWrite::UntilClose,
            close: true
        }
    );
}

#[test]
fn connection_close_request() {
    let mut conn = Connection::new(Limits::default());
    let input = b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\nGET /x HTTP/1.1\r\n";
    assert_eq!(events(&mut conn, input, 3).expect("valid").len(), 2);
    let (text, plan) = answer(&mut conn, 200, ResponseBody::Empty);
    assert!(text.contains("Connection: close\r\n"));
    assert!(plan.close);
    conn.finish_response().expect("started");
    assert!(conn.must_close());
}

#[test]
fn an_answer_that_closes_drops_later_requests() {
    let mut conn = Connection::new(Limits::default());
    events(&mut conn, PIPELINE.as_bytes(), PIPELINE.len()).expect("valid");
    let mut head = ResponseHead::new(503);
    head.close();
    let mut out = Vec::new();
    let plan = conn.write_head(&head, NOW, &mut out).expect("a request");
    assert!(plan.close);
    conn.finish_response().expect("started");
    assert!(conn.must_close());
    assert_eq!(conn.phase(&[]), Phase::Closing);
}

#[test]
fn expect_continue() {
    let mut conn = Connection::new(Limits::default());
    let mut buf = BytesMut::from(
        &b"PUT /f HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"[..],
    );
    let Some(Event::Request(r)) = conn.decode(&mut buf).expect("valid") else {
        panic!("a request");
    };
    assert!(r.framing.expect_continue);
    assert_eq!(conn.decode(&mut buf), Ok(None));
    assert_eq!(conn.take_continue(), Some(CONTINUE));
    assert_eq!(conn.take_continue(), None);
    buf.extend_from_slice(b"abc");
    assert_eq!(
        conn.decode(&mut buf).map(|e| e.map(own)),
        Ok(Some(Ev::Data(b"abc".to_vec())))
    );
    assert_eq!(
        conn.decode(&mut buf).map(|e| e.map(own)),
        Ok(Some(Ev::End(vec![])))
    );
    let (_, plan) = answer(&mut conn, 201, ResponseBody::Empty);
    assert!(!plan.close);
}

#[test]
fn answering_before_the_body_closes() {
    // The driver refuses an upload without reading it (no 100 Continue sent).
    let mut conn = Connection::new(Limits::default());
    let mut buf = BytesMut::from(
        &b"PUT /f HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 300\r\n\r\n"[..],
    );
    assert!(matches!(conn.decode(&mut buf), Ok(Some(Event::Request(_)))));
    let (text, plan) = answer(&mut conn, 413, ResponseBody::Empty);
    assert!(text.contains("Connection: close\r\n"));
    assert!(plan.close);
    assert_eq!(conn.take_continue(), None);
    conn.finish_response().expect("started");
    assert!(conn.must_close());
    // A streamed answer while the body still arrives (a CGI script): the
    // body can still be read, then the connection closes.
    let mut conn = Connection::new(Limits::default());
    let mut buf =
        BytesMut::from(&b"POST /cgi HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nab"[..]);
    assert!(matches!(conn.decode(&mut buf), Ok(Some(Event::Request(_)))));
    let (_, plan) = answer(&mut conn, 200, ResponseBody::Streamed);
    assert_eq!(
        plan,
        ResponsePlan {
            body: BodyWrite::Chunked,
            close: true
        }
    );
    assert_eq!(
        conn.decode(&mut buf).map(|e| e.map(own)),
        Ok(Some(Ev::Data(b"ab".to_vec())))
    );
    buf.extend_from_slice(b"cdGET / HTTP/1.1\r\n");
    assert_eq!(
        conn.decode(&mut buf).map(|e| e.map(own)),
        Ok(Some(Ev::Data(b"cd".to_vec())))
    );
    assert_eq!(
        conn.decode(&mut buf).map(|e| e.map(own)),
        Ok(Some(Ev::End(vec![])))
    );
    assert_eq!(conn.decode(&mut buf), Ok(None));
    conn.finish_response().expect("started");
    assert!(conn.must_close());
}

#[test]
fn upgrade_offer_pauses_until_answered() {
    let head = "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
    let frames = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";
    let mut buf = BytesMut::from(head.as_bytes());
    buf.extend_from_slice(frames);
    let mut conn = Connection::new(Limits::default());
    let Some(Event::Request(r)) = conn.decode(&mut buf).expect("valid") else {
        panic!("a request");
    };
    assert!(r.framing.upgrade);
    assert!(matches!(conn.decode(&mut buf), Ok(Some(Event::End(_)))));
    // The frames are not read as a request.
    assert_eq!(conn.decode(&mut buf), Ok(None));
    assert_eq!(conn.phase(&buf), Phase::Responding);
    let mut resp = ResponseHead::new(101);
    resp.header("Upgrade", "websocket").expect("valid");
    let mut out = Vec::new();
    let plan = conn
        .write_head(&resp, NOW, &mut out)
        .expect("an upgrade offer");
    assert_eq!(plan.body, BodyWrite::None);
    assert_eq!(conn.phase(&buf), Phase::Upgraded);
    assert_eq!(conn.decode(&mut buf), Ok(None));
    assert_eq!(&buf[..], frames);
    assert!(!conn.must_close());

    // Refused (404): reading goes on with the next request.
    let mut buf = BytesMut::from(head.as_bytes());
    buf.extend_from_slice(b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n");
    let mut conn = Connection::new(Limits::default());
    assert!(matches!(conn.decode(&mut buf), Ok(Some(Event::Request(_)))));
    assert!(matches!(conn.decode(&mut buf), Ok(Some(Event::End(_)))));
    assert_eq!(conn.decode(&mut buf), Ok(None));
    answer(&mut conn, 404, ResponseBody::Empty);
    conn.finish_response().expect("started");
    assert_eq!(
        conn.decode(&mut buf).map(|e| e.map(own)),
        Ok(Some(req("GET", "/next", BodyLength::Empty)))
    );
}

#[test]
fn switching_protocols_needs_an_offer() {
    let mut conn = Connection::new(Limits::default());
    events(&mut conn, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", 100).expect("valid");
    let mut out = Vec::new();
    assert_eq!(
        conn.write_head(&ResponseHead::new(101), NOW, &mut out),
        Err(WriteError::NotUpgrade)
    );
    // An interim answer before the final one.
    let plan = conn
        .write_head(&ResponseHead::new(103), NOW, &mut out)
        .expect("interim");
    assert_eq!(plan.body, BodyWrite::None);
    assert_eq!(out, b"HTTP/1.1 103 Early Hints\r\n\r\n");
    assert!(
        conn.write_head(&ResponseHead::new(200), NOW, &mut out)
            .is_ok()
    );
}

#[test]
fn errors_are_final() {
    let mut conn = Connection::new(Limits::default());
    let input =
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
    let err = events(&mut conn, input, input.len()).expect_err("smuggling");
    assert_eq!(err.status, 400);
    assert_eq!(
        conn.decode(&mut BytesMut::from(&b"GET / HTTP/1.1\r\n\r\n"[..])),
        Err(err)
    );
    assert!(conn.must_close());
    assert_eq!(conn.phase(&[]), Phase::Failed);
}

#[test]
fn garbage_is_refused_at_once() {
    // A TLS ClientHello on the HTTP port: refused at the first octet.
    let mut conn = Connection::new(Limits::default());
    let mut buf = BytesMut::from(&b"\x16\x03\x01\x02\x00"[..]);
    assert_eq!(conn.decode(&mut buf).map_err(|e| e.status), Err(400));
    // A bad request line: refused when the line ends, not after max_head.
    let mut conn = Connection::new(Limits::default());
    let mut buf = BytesMut::from(&b"GET /a b c\r\nHost"[..]);
    assert_eq!(conn.decode(&mut buf).map_err(|e| e.status), Err(400));
    let mut conn = Connection::new(Limits::default());
    let mut buf = BytesMut::from(&b"GET / HTTP/2.0\r\n"[..]);
    assert_eq!(conn.decode(&mut buf).map_err(|e| e.status), Err(505));
}

#[test]
fn head_limits() {
    let limits = Limits {
        max_head: 64,
        max_target: 16,
        ..Limits::default()
    };
    let mut conn = Connection::new(limits.clone());
    let mut buf = BytesMut::from(&b"GET / HTTP/1.1\r\nHost: h\r\nX: "[..]);
    assert_eq!(conn.decode(&mut buf), Ok(None));
    assert_eq!(conn.phase(&buf), Phase::ReadingHead);
    buf.extend_from_slice(&[b'a'; 40]);
    assert_eq!(conn.decode(&mut buf).map_err(|e| e.status), Err(431));
    let mut conn = Connection::new(limits);
    let mut buf = BytesMut::from(&b"GET /aaaaaaaaaaaaaaaaaaaa"[..]);
    assert_eq!(conn.decode(&mut buf), Ok(None));
    buf.extend_from_slice(&[b'a'; 40]);
    assert_eq!(conn.decode(&mut buf).map_err(|e| e.status), Err(414));
}

#[test]
fn empty_lines_before_a_request() {
    let mut conn = Connection::new(Limits::default());
    let input = b"\r\n\r\n\nGET / HTTP/1.1\r\nHost: h\r\n\r\n";
    for step in [1, 2, input.len()] {
        let mut conn2 = Connection::new(Limits::default());
        assert_eq!(events(&mut conn2, input, step).expect("valid").len(), 2);
    }
    let mut buf = BytesMut::from(&vec![b'\n'; 20_000][..]);
    assert_eq!(conn.decode(&mut buf).map_err(|e| e.status), Err(400));
}

#[test]
fn body_limit_per_request() {
    let mut conn = Connection::new(Limits::default());
    let mut buf =
        BytesMut::from(&b"POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n"[..]);
    assert!(matches!(conn.decode(&mut buf), Ok(Some(Event::Request(_)))));
    assert_eq!(conn.set_body_limit(1000), Ok(()));
    assert_eq!(conn.set_body_limit(10).map_err(|e| e.status), Err(413));
    assert!(conn.must_close());

    let mut conn = Connection::new(Limits {
        max_body: 4,
        ..Limits::default()
    });
    let input =
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\n";
    assert_eq!(events(&mut conn, input, 5).map_err(|e| e.status), Err(413));
}

#[test]
fn eof_handling() {
    let mut conn = Connection::new(Limits::default());
    assert_eq!(conn.phase(&[]), Phase::Idle);
    assert_eq!(conn.eof(&[]), Ok(()));
    assert!(conn.must_close());

    let mut conn = Connection::new(Limits::default());
    let mut buf = BytesMut::from(&b"GET / HT"[..]);
    assert_eq!(conn.decode(&mut buf), Ok(None));
    assert_eq!(
        conn.eof(&buf).map_err(|e| e.reason),
        Err("request head cut short")
    );
    assert!(conn.must_close());

    // Body cut short: the earlier request's answer is still owed.
    let mut conn = Connection::new(Limits::default());
    let input = b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\nPOST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 9\r\n\r\nab";
    let mut buf = BytesMut::from(&input[..]);
    while conn.decode(&mut buf).expect("valid").is_some() {}
    assert_eq!(conn.phase(&buf), Phase::ReadingBody);
    assert_eq!(
        conn.eof(&buf).map_err(|e| e.reason),
        Err("request body cut short")
    );

    // A whole request, then EOF: answer it, then close.
    let mut conn = Connection::new(Limits::default());
    let mut buf = BytesMut::from(&b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"[..]);
    while conn.decode(&mut buf).expect("valid").is_some() {}
    assert_eq!(conn.eof(&buf), Ok(()));
    assert!(!conn.must_close());
    let (text, plan) = answer(&mut conn, 200, ResponseBody::Empty);
    assert!(plan.close && text.contains("Connection: close"));
    conn.finish_response().expect("started");
    assert!(conn.must_close());
}

#[test]
fn date_is_cached_per_second() {
    let mut conn = Connection::new(Limits::default());
    events(
        &mut conn,
        b"GET / HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
        99,
    )
    .expect("valid");
    let mut out = Vec::new();
    conn.write_head(&ResponseHead::new(204), HttpDate::from_unix(0), &mut out)
        .expect("a request");
    assert!(String::from_utf8_lossy(&out).contains("Date: Thu, 01 Jan 1970 00:00:00 GMT\r\n"));
    conn.finish_response().expect("started");
    out.clear();
    conn.write_head(&ResponseHead::new(204), NOW, &mut out)
        .expect("a request");
    assert!(String::from_utf8_lossy(&out).contains("Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"));
    assert_eq!(conn.limits().max_pipelined, 16);
}

#[test]
fn head_end_search() {
    assert_eq!(find_head_end(b"a\r\n\r\nb", 0), Some(5));
    assert_eq!(find_head_end(b"a\n\nb", 0), Some(3));
    assert_eq!(find_head_end(b"a\r\nb\r\n", 0), None);
    assert_eq!(find_head_end(b"a\r\n\r", 0), None);
    assert_eq!(find_head_end(b"a\r\n\r\n", 2), Some(5));
}

#[test]
fn answering_a_bodiless_request_before_its_end_keeps_the_connection() {
    let mut conn = Connection::new(Limits::default());
    let mut buf = BytesMut::from(
        &b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n"[..],
    );
    assert!(matches!(conn.decode(&mut buf), Ok(Some(Event::Request(_)))));
    let (_, plan) = answer(&mut conn, 200, ResponseBody::Length(3));
    assert!(!plan.close);
    conn.finish_response().expect("started");
    assert_eq!(
        conn.decode(&mut buf).map(|e| e.map(own)),
        Ok(Some(Ev::End(vec![])))
    );
    assert_eq!(
        conn.decode(&mut buf).map(|e| e.map(own)),
        Ok(Some(req("GET", "/b", BodyLength::Empty)))
    );
    // The same while closing: the end still comes, then nothing more.
    let mut conn = Connection::new(Limits::default());
    let mut buf = BytesMut::from(
        &b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n"[..],
    );
    assert!(matches!(conn.decode(&mut buf), Ok(Some(Event::Request(_)))));
    let mut head = ResponseHead::new(200);
    head.close();
    let mut out = Vec::new();
    assert!(
        conn.write_head(&head, NOW, &mut out)
            .expect("a request")
            .close
    );
    assert_eq!(
        conn.decode(&mut buf).map(|e| e.map(own)),
        Ok(Some(Ev::End(vec![])))
    );
    assert_eq!(conn.decode(&mut buf), Ok(None));
    conn.finish_response().expect("started");
    assert!(conn.must_close());
}

#[test]
fn fixed_fields_follow_each_answers_own_fields() {
    let fixed =
        FixedFields::new(&[("Strict-Transport-Security", b"max-age=600")]).expect("valid fields");
    assert_eq!(
        fixed.as_bytes(),
        b"Strict-Transport-Security: max-age=600\r\n"
    );
    let mut conn = Connection::new(Limits::default());
    conn.set_fixed_fields(fixed);
    let input = "GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n";
    let evs = events(&mut conn, input.as_bytes(), 7).expect("valid requests");
    let requests = evs.iter().filter(|e| matches!(e, Ev::Req(..))).count();
    assert_eq!(requests, 2);
    for _ in 0..2 {
        let mut head = ResponseHead::new(200);
        let _ = head.header("X-A", "1");
        let mut out = Vec::new();
        conn.write_head(&head, NOW, &mut out).expect("a request");
        conn.finish_response().expect("answered");
        assert_eq!(
            String::from_utf8(out).expect("ascii"),
            format!(
                "HTTP/1.1 200 OK\r\nDate: {}\r\nX-A: 1\r\n\
                 Strict-Transport-Security: max-age=600\r\nContent-Length: 0\r\n\r\n",
                std::str::from_utf8(&NOW.to_bytes()).expect("ascii")
            )
        );
    }
}

#[test]
fn fixed_fields_are_checked_once() {
    use crate::proto::http::response::InvalidHeader;
    assert_eq!(
        FixedFields::new(&[("Bad Name", b"x")]),
        Err(InvalidHeader::Name)
    );
    assert_eq!(
        FixedFields::new(&[("X-Split", b"a\r\nX-Evil: 1")]),
        Err(InvalidHeader::Value)
    );
    assert_eq!(
        FixedFields::new(&[("Content-Length", b"1")]),
        Err(InvalidHeader::Managed)
    );
}
