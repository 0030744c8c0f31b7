//! The reverse proxy over real sockets: a raw-socket backend in std
//! threads behind a web transport. The backend answers each body line as
//! it reads it; the client sends its next line only once it has the answer
//! to the one before, so a proxy that sent the whole body before reading
//! the answer fails (the client's read times out). Also the pool: which
//! backend connections are reused, and the one retry.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rstest::rstest;

use super::tests::{connect, web, with_server_on};
use super::tests_cgi::{closed, echo_while_sending, read_chunk, read_head};
use crate::config::web::{ForwardedProto, HttpLimits, ReverseProxyService, WebPaths, WebService};
use crate::transport::testutil::Io;

/// A backend on 127.0.0.1, each connection served in a thread of its own
/// (the threads end with the test process); counts its connections.
struct Backend {
    port: u16,
    accepted: Arc<AtomicUsize>,
}

impl Backend {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&accepted);
        std::thread::spawn(move || {
            for s in listener.incoming() {
                let Ok(s) = s else { continue };
                count.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || serve_backend(BufReader::new(s)));
            }
        });
        Backend { port, accepted }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// The request body's framing, as its head says.
enum Framing {
    Length(usize),
    Chunked,
}

/// Reads a request head: its target and body framing; `None` at the end.
fn read_request(r: &mut BufReader<TcpStream>) -> Option<(String, Framing)> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let target = line.split(' ').nth(1)?.to_owned();
    let mut framing = Framing::Length(0);
    loop {
        let mut l = String::new();
        r.read_line(&mut l).ok()?;
        let l = l.trim_end().to_ascii_lowercase();
        if l.is_empty() {
            return Some((target, framing));
        }
        if let Some(v) = l.strip_prefix("content-length:") {
            framing = Framing::Length(v.trim().parse().ok()?);
        }
        if l == "transfer-encoding: chunked" {
            framing = Framing::Chunked;
        }
    }
}

/// Reads a request body, calling `line` with each line as it completes.
fn read_body(r: &mut BufReader<TcpStream>, framing: Framing, mut line: impl FnMut(&str)) {
    let mut pending = Vec::new();
    let mut take = |data: &[u8], pending: &mut Vec<u8>| {
        for b in data {
            pending.push(*b);
            if *b == b'\n' {
                line(&String::from_utf8_lossy(pending));
                pending.clear();
            }
        }
    };
    match framing {
        Framing::Length(mut left) => {
            while left > 0 {
                let mut buf = vec![0; left];
                let n = r.read(&mut buf).expect("body");
                assert!(n > 0, "the body ended early");
                take(&buf[..n], &mut pending);
                left -= n;
            }
        }
        Framing::Chunked => loop {
            let mut size = String::new();
            r.read_line(&mut size).expect("chunk size");
            let n = usize::from_str_radix(size.trim_end(), 16).expect("hex size");
            let mut data = vec![0; n + 2];
            r.read_exact(&mut data).expect("chunk");
            if n == 0 {
                break;
            }
            take(&data[..n], &mut pending);
        },
    }
}

/// Serves one backend connection; the target says how:
/// - `/lines`: the head at once, then `echo: LINE` for each body line as it
///   is read (chunked), the last chunk after the body;
/// - `/count`: the body's length once it was all read;
/// - `/once`: answers the first request, closes at the next one unanswered;
/// - `/early`: answers at once, then reads the body;
/// - `/stall`: the head and a first chunk at once, then nothing;
/// - `/silent`: reads the request, answers nothing.
fn serve_backend(mut r: BufReader<TcpStream>) {
    let mut served = 0;
    while let Some((target, framing)) = read_request(&mut r) {
        let mut w = r.get_ref().try_clone().expect("clone");
        match target.as_str() {
            "/lines" => {
                w.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                    .expect("head");
                read_body(&mut r, framing, |line| {
                    let echo = format!("echo: {line}");
                    let _ = write!(w, "{:x}\r\n{echo}\r\n", echo.len());
                });
                let _ = w.write_all(b"0\r\n\r\n");
            }
            "/count" => {
                let mut n = 0;
                read_body(&mut r, framing, |line| n += line.len());
                let body = format!("{n}\n");
                let _ = write!(
                    w,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
            }
            "/once" if served == 0 => {
                read_body(&mut r, framing, |_| {});
                let _ = w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n");
            }
            "/early" => {
                let _ = w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nearly\n");
                read_body(&mut r, framing, |_| {});
            }
            "/stall" => {
                let _ = w.write_all(
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\npart\n\r\n",
                );
                std::thread::sleep(Duration::from_secs(3));
                return;
            }
            "/silent" => {
                read_body(&mut r, framing, |_| {});
                std::thread::sleep(Duration::from_secs(3));
                return;
            }
            _ => return,
        }
        served += 1;
    }
}

/// A web transport whose `/p` proxies to the backend on `port`.
fn proxy_paths(port: u16, timeout_ms: u64) -> WebPaths {
    let mut paths = WebPaths::new();
    paths.insert(
        "p".to_owned(),
        WebService::ReverseProxy(ReverseProxyService {
            host: "127.0.0.1".to_owned(),
            port,
            path: String::new(),
            forwarded_port: 80,
            forwarded_proto: ForwardedProto::Http,
            connect_timeout_ms: 5_000,
            timeout_ms,
            pool_size: 4,
            pool_idle_ms: 60_000,
        }),
    );
    paths
}

#[rstest]
fn answer_streams_while_the_body_streams_in(
    #[values(Io::Uring, Io::Readiness)] io: Io,
    #[values(false, true)] chunked: bool,
) {
    let backend = Backend::start();
    let t = web(proxy_paths(backend.port, 5_000), HttpLimits::default());
    with_server_on(io, t, move |addr| {
        echo_while_sending(&addr, "/p/lines", chunked);
    });
}

/// Reads an answer with a `Content-Length`: its status, its fields and
/// its body.
fn read_answer(c: &mut BufReader<TcpStream>) -> (u16, Vec<(String, String)>, String) {
    let (status, fields) = read_head(c);
    let len: usize = fields
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .expect("content-length");
    let mut data = vec![0; len];
    c.read_exact(&mut data).expect("body");
    (status, fields, String::from_utf8(data).expect("text"))
}

/// Sends `POST /p/count` with `body` and reads its answer (the length).
fn count(c: &mut BufReader<TcpStream>, body: &str) -> (u16, String) {
    write!(
        c.get_mut(),
        "POST /p/count HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("send");
    let (status, fields, body) = read_answer(c);
    assert!(
        !fields
            .iter()
            .any(|(n, v)| n == "connection" && v == "close")
    );
    (status, body)
}

#[test]
fn only_complete_exchanges_return_their_connection_to_the_pool() {
    let backend = Backend::start();
    let t = web(proxy_paths(backend.port, 5_000), HttpLimits::default());
    with_server_on(Io::Uring, t, move |addr| {
        let mut c = connect(&addr);
        assert_eq!(count(&mut c, "hello\n"), (200, "6\n".to_owned()));
        assert_eq!(count(&mut c, "hi\n"), (200, "3\n".to_owned()));
        assert_eq!(
            backend.accepted(),
            1,
            "the second request reused the first connection"
        );
        // An exchange that does not complete: its answer began, then the
        // client went away before its body ended.
        let mut cut = connect(&addr);
        cut.get_mut()
            .write_all(b"POST /p/lines HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc\n")
            .expect("send");
        assert_eq!(read_head(&mut cut).0, 200);
        assert_eq!(read_chunk(&mut cut), "echo: abc\n");
        drop(cut);
        assert_eq!(count(&mut c, "again\n"), (200, "6\n".to_owned()));
        assert_eq!(
            backend.accepted(),
            2,
            "the connection of the cut exchange was not reused"
        );
        // That one completed: it is reused.
        assert_eq!(count(&mut c, "more\n"), (200, "5\n".to_owned()));
        assert_eq!(backend.accepted(), 2);
    });
}

#[test]
fn a_closed_pooled_connection_is_retried_for_idempotent_requests_only() {
    let backend = Backend::start();
    let t = web(proxy_paths(backend.port, 5_000), HttpLimits::default());
    with_server_on(Io::Uring, t, move |addr| {
        let mut c = connect(&addr);
        let once = |c: &mut BufReader<TcpStream>, req: &str| {
            c.get_mut().write_all(req.as_bytes()).expect("send");
            let (status, _, body) = read_answer(c);
            (status, body)
        };
        let get = "GET /p/once HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_eq!(once(&mut c, get), (200, "ok\n".to_owned()));
        assert_eq!(backend.accepted(), 1);
        // The pooled connection closes at the next request: sent again on a
        // new one.
        assert_eq!(once(&mut c, get), (200, "ok\n".to_owned()));
        assert_eq!(backend.accepted(), 2);
        // Not a POST with a body: 502.
        let post = "POST /p/once HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nx\n";
        let (status, body) = once(&mut c, post);
        assert_eq!(status, 502);
        assert!(body.contains("closed without an answer"), "{body:?}");
        assert_eq!(backend.accepted(), 2);
    });
}

#[test]
fn an_answer_that_ends_before_the_body_closes_both_connections() {
    let backend = Backend::start();
    let t = web(proxy_paths(backend.port, 5_000), HttpLimits::default());
    with_server_on(Io::Uring, t, move |addr| {
        let mut c = connect(&addr);
        c.get_mut()
            .write_all(b"POST /p/early HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
            .expect("send");
        let (status, fields, body) = read_answer(&mut c);
        assert_eq!((status, body.as_str()), (200, "early\n"));
        assert!(
            fields
                .iter()
                .any(|(n, v)| n == "connection" && v == "close"),
            "{fields:?}"
        );
        assert!(closed(&mut c));
        assert_eq!(backend.accepted(), 1);
        // Its backend connection carried half a request: not reused.
        let mut c = connect(&addr);
        assert_eq!(count(&mut c, "x\n"), (200, "2\n".to_owned()));
        assert_eq!(backend.accepted(), 2);
    });
}

#[test]
fn a_body_over_the_limit_before_the_answer_gets_413() {
    let backend = Backend::start();
    let limits = HttpLimits {
        max_body_bytes: 64,
        ..HttpLimits::default()
    };
    let t = web(proxy_paths(backend.port, 5_000), limits);
    with_server_on(Io::Uring, t, move |addr| {
        let mut c = connect(&addr);
        c.get_mut()
            .write_all(b"POST /p/count HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            .expect("send");
        c.get_mut()
            .write_all(format!("50\r\n{}\r\n", "x".repeat(80)).as_bytes())
            .expect("send");
        assert_eq!(read_head(&mut c).0, 413);
    });
}

#[test]
fn a_backend_that_stalls_gets_504_before_its_answer_and_a_cut_after() {
    let backend = Backend::start();
    let t = web(proxy_paths(backend.port, 300), HttpLimits::default());
    with_server_on(Io::Uring, t, move |addr| {
        let mut c = connect(&addr);
        c.get_mut()
            .write_all(b"GET /p/stall HTTP/1.1\r\nHost: x\r\n\r\n")
            .expect("send");
        assert_eq!(read_head(&mut c).0, 200);
        assert_eq!(read_chunk(&mut c), "part\n");
        let mut rest = Vec::new();
        let _ = c.read_to_end(&mut rest);
        assert!(rest.is_empty(), "cut, no last chunk: {rest:?}");
        // It takes the body and answers nothing: 504.
        let mut c = connect(&addr);
        c.get_mut()
            .write_all(b"POST /p/silent HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nab\n")
            .expect("send");
        assert_eq!(read_head(&mut c).0, 504);
    });
}
