//! The web server over real sockets: a glommio executor accepts and serves
//! connections of one web transport while blocking clients in a std thread
//! speak raw HTTP/1.1 (and WebSocket) to it.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use bytes::Bytes;
use glommio::LocalExecutorBuilder;
use rstest::rstest;

use crate::config::web::{
    HttpLimits, JsonService, RedirectService, StaticFileOptions, StaticService, StaticSource,
    WebOptions, WebPaths, WebService, WebTransport,
};
use crate::config::{
    Endpoint, TransportConfig, TransportKind, WampService, WebSocketOptions, WebSocketService,
};
use crate::core::api::{HttpInfo, LinkInfo, Refused};
use crate::core::outbox::{Outbox, OutboxRef};
use crate::proto::Serializer;
use crate::transport::testutil::Io;
use crate::transport::{ConnectionHooks, Listening, bind, serve};

/// What the WebSocket links opened: their transport's serializers and HTTP info.
#[derive(Debug, Default)]
pub(super) struct Seen {
    pub links: Vec<(Vec<Serializer>, Option<Box<HttpInfo>>)>,
    pub closed: usize,
}

/// Echoes every frame.
struct Echo {
    seen: Rc<RefCell<Seen>>,
    outbox: Option<OutboxRef>,
}

impl ConnectionHooks for Echo {
    fn open(&mut self, mut info: LinkInfo, _: Serializer) -> Result<OutboxRef, Refused> {
        self.seen
            .borrow_mut()
            .links
            .push((info.transport.serializers.clone(), info.take_http()));
        let o = Outbox::new_ref(1 << 20);
        self.outbox = Some(o.clone());
        Ok(o)
    }

    fn frame(&mut self, data: &[u8]) {
        if let Some(o) = &self.outbox {
            let _ = o.borrow_mut().push(Bytes::copy_from_slice(data));
        }
    }

    fn closed(&mut self) {
        self.seen.borrow_mut().closed += 1;
    }
}

/// A web transport on 127.0.0.1:0 with `paths` and `http` limits.
pub(super) fn web(paths: WebPaths, http: HttpLimits) -> TransportConfig {
    TransportConfig::new(
        "web".to_owned(),
        TransportKind::Web(WebTransport {
            paths,
            options: WebOptions::default(),
            http,
        }),
        Endpoint::Tcp {
            host: "127.0.0.1".to_owned(),
            port: 0,
        },
    )
}

/// Serves `transport` (every connection) while `client` runs; returns what
/// the WebSocket hooks saw and the client's result. The server runs on the
/// shard's ring, as a shard does.
pub(super) fn with_server<R: Send + 'static>(
    transport: TransportConfig,
    client: impl FnOnce(String) -> R + Send + 'static,
) -> (Seen, R) {
    with_server_on(Io::Uring, transport, client)
}

/// [`with_server`] with the server's socket I/O chosen.
pub(super) fn with_server_on<R: Send + 'static>(
    io: Io,
    transport: TransportConfig,
    client: impl FnOnce(String) -> R + Send + 'static,
) -> (Seen, R) {
    let (tx, rx) = mpsc::channel::<String>();
    let done = Arc::new(AtomicBool::new(false));
    let done2 = Arc::clone(&done);
    let server = LocalExecutorBuilder::default()
        .io_memory(1 << 20)
        .spawn(move || async move {
            let ring = match io {
                Io::Uring => Some(crate::transport::uring::start().expect("io_uring")),
                Io::Readiness => None,
            };
            let listener = bind(&transport.endpoint).expect("bind");
            tx.send(listener.local_addr_string()).expect("address");
            let listening = Listening::new(Rc::new(transport), 1 << 20).expect("site");
            let seen = Rc::new(RefCell::new(Seen::default()));
            let seen2 = Rc::clone(&seen);
            let accept = glommio::spawn_local(async move {
                loop {
                    let Ok((stream, peer)) = listener.accept().await else {
                        continue;
                    };
                    let hooks = Echo {
                        seen: Rc::clone(&seen2),
                        outbox: None,
                    };
                    glommio::spawn_local(serve(stream, peer, &listening, hooks, None, &mut None))
                        .detach();
                }
            });
            while !done2.load(Ordering::Acquire) {
                glommio::timer::sleep(Duration::from_millis(5)).await;
            }
            // Let connections the client closed finish.
            glommio::timer::sleep(Duration::from_millis(50)).await;
            accept.cancel().await;
            if let Some(ring) = ring {
                ring.stop().await;
            }
            std::mem::take(&mut *seen.borrow_mut())
        })
        .expect("executor");
    let addr = rx.recv().expect("address");
    let result = std::thread::spawn(move || client(addr)).join();
    done.store(true, Ordering::Release);
    let seen = server.join().expect("server");
    (seen, result.expect("client"))
}

/// An HTTP answer as a client reads it.
#[derive(Debug)]
pub(super) struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub(super) fn connect(addr: &str) -> BufReader<TcpStream> {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    BufReader::new(s)
}

/// Reads one answer (`head`: to a HEAD request, so no body).
pub(super) fn read_resp(r: &mut BufReader<TcpStream>, head: bool) -> Resp {
    let mut line = String::new();
    r.read_line(&mut line).expect("status line");
    assert!(line.starts_with("HTTP/1.1 "), "status line {line:?}");
    let status = line[9..12].parse().expect("status");
    let mut headers = Vec::new();
    loop {
        let mut l = String::new();
        r.read_line(&mut l).expect("header line");
        let l = l.trim_end();
        if l.is_empty() {
            break;
        }
        let (n, v) = l.split_once(':').expect("field");
        headers.push((n.to_owned(), v.trim().to_owned()));
    }
    let mut resp = Resp {
        status,
        headers,
        body: Vec::new(),
    };
    if !head && status != 304 && status >= 200 {
        let len: usize = resp
            .header("content-length")
            .expect("content-length")
            .parse()
            .expect("length");
        resp.body = vec![0; len];
        r.read_exact(&mut resp.body).expect("body");
    }
    resp
}

/// One request on a new connection.
pub(super) fn get(addr: &str, request: &str) -> Resp {
    let mut c = connect(addr);
    c.get_mut().write_all(request.as_bytes()).expect("write");
    read_resp(&mut c, request.starts_with("HEAD"))
}

pub(super) fn req(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n")
}

/// Whether the server closed the connection (EOF, or a reset).
pub(super) fn closed(c: &mut BufReader<TcpStream>) -> bool {
    let mut b = [0u8; 1];
    matches!(c.read(&mut b), Ok(0) | Err(_))
}

/// A static service on `dir` with `f` applied.
pub(super) fn static_service(dir: &Path, f: impl FnOnce(&mut StaticService)) -> WebService {
    let mut s = StaticService {
        source: StaticSource::Directory(dir.to_path_buf()),
        enable_directory_listing: false,
        mime_types: BTreeMap::new(),
        cache_timeout_s: Some(3600),
        default_file: None,
        allow_cross_origin: true,
        files: StaticFileOptions::default(),
    };
    f(&mut s);
    WebService::Static(s)
}

pub(super) fn ws_service(path: &str, serializers: &[Serializer]) -> WebService {
    WebService::WebSocket(WebSocketService {
        options: WebSocketOptions {
            path: Some(path.to_owned()),
            ..WebSocketOptions::default()
        },
        wamp: WampService {
            serializers: serializers.to_vec(),
            ..WampService::default()
        },
        cookie: None,
    })
}

/// The served tree: `www/` with `index.html`, `hello.txt`, `app.js`, `data.bin`
/// (1.5 MiB), `sub/page.html`, `empty/`, a link inside and one outside; and
/// `secret.txt` next to `www/` (never to be served).
pub(super) struct Tree {
    _tmp: tempfile::TempDir,
    pub www: PathBuf,
    pub big: Vec<u8>,
}

pub(super) fn tree() -> Tree {
    let tmp = tempfile::tempdir().expect("tempdir");
    let www = tmp.path().join("www");
    std::fs::create_dir_all(www.join("sub")).expect("mkdir");
    std::fs::create_dir_all(www.join("empty")).expect("mkdir");
    std::fs::write(www.join("index.html"), "<h1>home</h1>").expect("write");
    std::fs::write(www.join("hello.txt"), "hello, world\n").expect("write");
    std::fs::write(www.join("app.js"), "let x = 1;\n").expect("write");
    std::fs::write(www.join("sub/page.html"), "<p>page</p>").expect("write");
    std::fs::write(www.join("weird.xyz"), "custom").expect("write");
    let big: Vec<u8> = (0..1_500_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(www.join("data.bin"), &big).expect("write");
    std::fs::write(tmp.path().join("secret.txt"), "TOP SECRET").expect("write");
    std::os::unix::fs::symlink(www.join("hello.txt"), www.join("inside-link.txt"))
        .expect("symlink");
    std::os::unix::fs::symlink(tmp.path().join("secret.txt"), www.join("outside-link.txt"))
        .expect("symlink");
    std::os::unix::fs::symlink(tmp.path(), www.join("outside-dir")).expect("symlink");
    Tree {
        www,
        big,
        _tmp: tmp,
    }
}

/// `/` static (with `f`), `ws1` (JSON), `ws2` (MessagePack), `info`
/// nodeinfo, `api` JSON, `go` redirect, `app` → {`/` JSON, `deep` static}.
pub(super) fn site(t: &Tree, f: impl FnOnce(&mut StaticService)) -> WebPaths {
    let mut app = WebPaths::new();
    app.insert(
        "/".into(),
        WebService::Json(JsonService {
            value: serde_json::json!({"app": true}),
            prettify: false,
            allow_cross_origin: false,
            discourage_caching: true,
        }),
    );
    app.insert("deep".into(), static_service(&t.www.join("sub"), |_| {}));
    let mut paths = WebPaths::new();
    paths.insert("/".into(), static_service(&t.www, f));
    paths.insert("ws1".into(), ws_service("/ws1", &[Serializer::Json]));
    paths.insert("ws2".into(), ws_service("/ws2", &[Serializer::MsgPack]));
    paths.insert("info".into(), WebService::NodeInfo);
    paths.insert(
        "api".into(),
        WebService::Json(JsonService {
            value: serde_json::json!({"b": [1, 2], "a": "x"}),
            prettify: true,
            allow_cross_origin: true,
            discourage_caching: false,
        }),
    );
    paths.insert(
        "go".into(),
        WebService::Redirect(RedirectService {
            url: "https://example.com/target".into(),
        }),
    );
    paths.insert("app".into(), WebService::Path(app));
    paths
}

#[rstest]
fn static_files_with_types_validators_and_caching_fields(
    #[values(Io::Uring, Io::Readiness)] io: Io,
) {
    let t = tree();
    let transport = web(site(&t, |_| {}), HttpLimits::default());
    let (_, ()) = with_server_on(io, transport, |addr| {
        let r = get(&addr, &req("/hello.txt"));
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), "hello, world\n");
        assert_eq!(r.header("content-type"), Some("text/plain"));
        assert_eq!(r.header("accept-ranges"), Some("bytes"));
        assert_eq!(r.header("cache-control"), Some("max-age=3600, public"));
        assert!(r.header("expires").is_some());
        assert_eq!(r.header("access-control-allow-origin"), Some("*"));
        let etag = r.header("etag").expect("etag").to_owned();
        let modified = r.header("last-modified").expect("last-modified").to_owned();
        assert!(etag.starts_with("\"d-"), "{etag}");
        // HEAD: the same fields, no body.
        let h = get(&addr, "HEAD /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(h.status, 200);
        assert_eq!(h.header("content-length"), Some("13"));
        assert_eq!(h.header("etag"), Some(etag.as_str()));
        // Conditional requests.
        let r = get(
            &addr,
            &format!("GET /hello.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: {etag}\r\n\r\n"),
        );
        assert_eq!(r.status, 304);
        assert_eq!(r.header("etag"), Some(etag.as_str()));
        let r = get(
            &addr,
            &format!("GET /hello.txt HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: {modified}\r\n\r\n"),
        );
        assert_eq!(r.status, 304);
        let r = get(
            &addr,
            "GET /hello.txt HTTP/1.1\r\nHost: x\r\nIf-Match: \"other\"\r\n\r\n",
        );
        assert_eq!(r.status, 412);
        let r = get(
            &addr,
            "GET /hello.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"other\"\r\n\r\n",
        );
        assert_eq!(r.status, 200);
        // Ranges.
        let r = get(
            &addr,
            "GET /hello.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=7-11\r\n\r\n",
        );
        assert_eq!((r.status, r.text().as_str()), (206, "world"));
        assert_eq!(r.header("content-range"), Some("bytes 7-11/13"));
        let r = get(
            &addr,
            "GET /hello.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=-3\r\n\r\n",
        );
        assert_eq!((r.status, r.text().as_str()), (206, "ld\n"));
        let r = get(
            &addr,
            "GET /hello.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=100-\r\n\r\n",
        );
        assert_eq!(r.status, 416);
        assert_eq!(r.header("content-range"), Some("bytes */13"));
        // Types by extension.
        assert_eq!(
            get(&addr, &req("/app.js")).header("content-type"),
            Some("text/javascript")
        );
        assert_eq!(
            get(&addr, &req("/weird.xyz")).header("content-type"),
            Some("application/octet-stream")
        );
        // A second request is served from the shard's cache: same answer.
        assert_eq!(get(&addr, &req("/hello.txt")).text(), "hello, world\n");
    });
}

#[test]
fn mime_overrides_listing_and_default_file() {
    let t = tree();
    let transport = web(
        site(&t, |s| {
            s.mime_types.insert(".xyz".into(), "text/x-custom".into());
            s.enable_directory_listing = true;
            s.cache_timeout_s = None;
        }),
        HttpLimits::default(),
    );
    with_server(transport, |addr| {
        let r = get(&addr, &req("/weird.xyz"));
        assert_eq!(r.header("content-type"), Some("text/x-custom"));
        assert_eq!(r.header("cache-control"), None, "cache_timeout null");
        let r = get(&addr, &req("/empty/"));
        assert_eq!(r.status, 200);
        assert!(r.text().contains("Index of /empty/"), "{}", r.text());
        let r = get(&addr, &req("/sub/"));
        assert_eq!(r.status, 200, "no index.html in sub: a listing");
        assert!(r.text().contains("page.html"), "{}", r.text());
        assert_eq!(get(&addr, &req("/missing.html")).status, 404);
    });
    let transport = web(
        site(&t, |s| s.default_file = Some("index.html".into())),
        HttpLimits::default(),
    );
    with_server(transport, |addr| {
        let r = get(&addr, &req("/no/such/route"));
        assert_eq!((r.status, r.text().as_str()), (200, "<h1>home</h1>"));
        // Without listing, a directory without index serves the default file too.
        assert_eq!(get(&addr, &req("/empty/")).text(), "<h1>home</h1>");
    });
}

#[test]
fn directories_redirect_to_their_slash_and_serve_their_index() {
    let t = tree();
    with_server(web(site(&t, |_| {}), HttpLimits::default()), |addr| {
        let r = get(&addr, &req("/"));
        assert_eq!((r.status, r.text().as_str()), (200, "<h1>home</h1>"));
        assert_eq!(r.header("content-type"), Some("text/html"));
        let r = get(&addr, &req("/sub?x=1"));
        assert_eq!(r.status, 301);
        assert_eq!(r.header("location"), Some("/sub/?x=1"));
        assert_eq!(
            get(&addr, &req("/empty/")).status,
            404,
            "no index, no listing"
        );
        // A static service mounted below the root.
        let r = get(&addr, &req("/app/deep"));
        assert_eq!((r.status, r.header("location")), (301, Some("/app/deep/")));
        let r = get(&addr, &req("/app/deep/page.html"));
        assert_eq!((r.status, r.text().as_str()), (200, "<p>page</p>"));
        assert_eq!(
            get(&addr, &req("/hello.txt/")).status,
            404,
            "a file is no directory"
        );
    });
}

#[rstest]
fn large_files_stream_whole_and_in_ranges(#[values(Io::Uring, Io::Readiness)] io: Io) {
    let t = tree();
    let big = t.big.clone();
    with_server_on(
        io,
        web(site(&t, |_| {}), HttpLimits::default()),
        move |addr| {
            let mut c = connect(&addr);
            c.get_mut()
                .write_all(req("/data.bin").as_bytes())
                .expect("write");
            let r = read_resp(&mut c, false);
            assert_eq!(r.status, 200);
            assert_eq!(r.body.len(), big.len());
            assert!(r.body == big, "the bytes of the file");
            // Same connection: a range in the middle, across a piece boundary.
            let range = "GET /data.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=262000-262200\r\n\r\n";
            c.get_mut().write_all(range.as_bytes()).expect("write");
            let r = read_resp(&mut c, false);
            assert_eq!(r.status, 206);
            assert_eq!(r.body, big[262_000..=262_200]);
            assert_eq!(
                r.header("content-range"),
                Some("bytes 262000-262200/1500000")
            );
            assert_eq!(r.header("content-type"), Some("application/octet-stream"));
        },
    );
}

#[rstest]
#[case::dotdot("/../secret.txt")]
#[case::dotdot_deep("/sub/../../secret.txt")]
#[case::encoded("/%2e%2e/secret.txt")]
#[case::encoded_upper("/%2E%2E/secret.txt")]
#[case::half_encoded("/.%2e/secret.txt")]
#[case::half_encoded2("/%2e./secret.txt")]
#[case::double_encoded("/%252e%252e/secret.txt")]
#[case::encoded_slash("/..%2fsecret.txt")]
#[case::encoded_slash2("/%2f..%2fsecret.txt")]
#[case::backslash("/..\\secret.txt")]
#[case::encoded_backslash("/..%5csecret.txt")]
#[case::overlong_utf8("/%c0%ae%c0%ae/secret.txt")]
#[case::nul("/hello.txt%00.html")]
#[case::dot_segments("/./sub/./../../secret.txt")]
#[case::absolute_form("http://x/../secret.txt")]
#[case::link_out("/outside-link.txt")]
#[case::dir_link_out("/outside-dir/secret.txt")]
#[case::deep_static("/app/deep/../../secret.txt")]
#[case::deep_static_encoded("/app/deep/%2e%2e/%2e%2e/secret.txt")]
fn no_spelling_escapes_the_directory(#[case] path: &'static str) {
    let t = tree();
    with_server(web(site(&t, |_| {}), HttpLimits::default()), move |addr| {
        let r = get(&addr, &format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert!(
            matches!(r.status, 400 | 404),
            "{path}: {} {}",
            r.status,
            r.text()
        );
        assert!(!r.text().contains("TOP SECRET"), "{path} leaked the file");
    });
}

#[test]
fn symlinks_inside_are_followed_and_outside_only_when_allowed() {
    let t = tree();
    with_server(web(site(&t, |_| {}), HttpLimits::default()), |addr| {
        let r = get(&addr, &req("/inside-link.txt"));
        assert_eq!((r.status, r.text().as_str()), (200, "hello, world\n"));
        assert_eq!(get(&addr, &req("/outside-link.txt")).status, 404);
    });
    let allowed = site(&t, |s| s.files.follow_symlinks_outside = true);
    with_server(web(allowed, HttpLimits::default()), |addr| {
        let r = get(&addr, &req("/outside-link.txt"));
        assert_eq!((r.status, r.text().as_str()), (200, "TOP SECRET"));
    });
}

#[test]
fn redirect_json_nodeinfo_and_routing() {
    let t = tree();
    with_server(web(site(&t, |_| {}), HttpLimits::default()), |addr| {
        let r = get(&addr, &req("/go"));
        assert_eq!(r.status, 302);
        assert_eq!(r.header("location"), Some("https://example.com/target"));
        assert_eq!(
            get(&addr, &req("/go/below?x")).status,
            302,
            "everything below too"
        );
        let r = get(
            &addr,
            "GET /api HTTP/1.1\r\nHost: x\r\nOrigin: https://a.example\r\n\r\n",
        );
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("https://a.example")
        );
        assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
        assert_eq!(
            r.text(),
            "{\n   \"a\": \"x\",\n   \"b\": [\n      1,\n      2\n   ]\n}"
        );
        assert_eq!(get(&addr, &req("/api/more")).status, 404);
        let r = get(&addr, &req("/app"));
        assert_eq!((r.status, r.text().as_str()), (200, "{\"app\":true}"));
        assert_eq!(r.header("access-control-allow-origin"), None);
        assert_eq!(
            r.header("cache-control"),
            Some("no-store, no-cache, must-revalidate, max-age=0")
        );
        let r = get(&addr, &req("/info"));
        assert_eq!(r.status, 200);
        assert!(r.text().contains("Junction"), "{}", r.text());
        assert!(r.text().contains("tcp4:127.0.0.1:"), "{}", r.text());
        // Percent-encoded component names route like the plain ones.
        assert_eq!(get(&addr, &req("/%61pi")).status, 200);
        // Methods: GET and HEAD only.
        let r = get(
            &addr,
            "POST /api HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        );
        assert_eq!(r.status, 405);
        assert_eq!(r.header("allow"), Some("GET, HEAD"));
        let r = get(&addr, "DELETE /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(r.status, 405);
    });
}

#[test]
fn no_root_service_is_404_and_none_is_404() {
    let mut paths = WebPaths::new();
    paths.insert("hidden".into(), WebService::NotFound);
    paths.insert("ws".into(), ws_service("/ws", &[Serializer::Json]));
    with_server(web(paths, HttpLimits::default()), |addr| {
        assert_eq!(get(&addr, &req("/")).status, 404);
        assert_eq!(get(&addr, &req("/x/y")).status, 404);
        assert_eq!(get(&addr, &req("/hidden")).status, 404);
        assert_eq!(get(&addr, &req("/hidden/z")).status, 404);
    });
}

#[rstest]
fn keep_alive_pipelining_and_http10(#[values(Io::Uring, Io::Readiness)] io: Io) {
    let t = tree();
    with_server_on(io, web(site(&t, |_| {}), HttpLimits::default()), |addr| {
        let mut c = connect(&addr);
        // Three requests in one write: three answers, in order.
        let three = format!("{}{}{}", req("/hello.txt"), req("/api"), req("/app.js"));
        c.get_mut().write_all(three.as_bytes()).expect("write");
        assert_eq!(read_resp(&mut c, false).text(), "hello, world\n");
        assert!(read_resp(&mut c, false).text().starts_with('{'));
        assert_eq!(read_resp(&mut c, false).text(), "let x = 1;\n");
        // And the connection is still open.
        c.get_mut()
            .write_all(req("/hello.txt").as_bytes())
            .expect("write");
        assert_eq!(read_resp(&mut c, false).status, 200);
        // Connection: close ends it after the answer.
        c.get_mut()
            .write_all(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .expect("write");
        let r = read_resp(&mut c, false);
        assert_eq!(r.header("connection"), Some("close"));
        assert!(closed(&mut c));
        // HTTP/1.0 without keep-alive: one answer, then close.
        let mut c = connect(&addr);
        c.get_mut()
            .write_all(b"GET /hello.txt HTTP/1.0\r\n\r\n")
            .expect("write");
        assert_eq!(read_resp(&mut c, false).status, 200);
        assert!(closed(&mut c));
        // A request split into tiny writes.
        let mut c = connect(&addr);
        for b in req("/hello.txt").bytes() {
            c.get_mut().write_all(&[b]).expect("write");
        }
        assert_eq!(read_resp(&mut c, false).text(), "hello, world\n");
    });
}

#[test]
fn bodies_are_drained_and_100_continue_is_sent() {
    let t = tree();
    with_server(web(site(&t, |_| {}), HttpLimits::default()), |addr| {
        let mut c = connect(&addr);
        // A GET with a body: read and dropped, the connection stays usable.
        c.get_mut()
            .write_all(b"GET /api HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
            .expect("write");
        assert_eq!(read_resp(&mut c, false).status, 200);
        c.get_mut()
            .write_all(
                b"GET /api HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
                  3\r\nabc\r\n0\r\n\r\n",
            )
            .expect("write");
        assert_eq!(read_resp(&mut c, false).status, 200);
        // Expect: 100-continue: the interim answer, then the body, then the answer.
        c.get_mut()
            .write_all(b"GET /api HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
            .expect("write");
        let mut line = String::new();
        c.read_line(&mut line).expect("interim");
        assert_eq!(line, "HTTP/1.1 100 Continue\r\n");
        c.read_line(&mut line).expect("blank");
        c.get_mut().write_all(b"xyz").expect("body");
        assert_eq!(read_resp(&mut c, false).status, 200);
        c.get_mut()
            .write_all(req("/hello.txt").as_bytes())
            .expect("write");
        assert_eq!(read_resp(&mut c, false).status, 200);
    });
}

#[rstest]
#[case::garbage("\x01\x02\x03 nonsense\r\n\r\n", 400)]
#[case::bad_version("GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505)]
#[case::no_host("GET / HTTP/1.1\r\n\r\n", 400)]
#[case::long_target(&format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(9000)), 414)]
#[case::big_head(&format!("GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n", "a".repeat(17000)), 431)]
#[case::many_fields(&format!("GET / HTTP/1.1\r\nHost: x\r\n{}\r\n", "X: 1\r\n".repeat(101)), 431)]
#[case::body_too_large("GET /api HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n", 413)]
#[case::chunked_too_large(
    "GET /api HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n200000\r\n",
    413
)]
#[case::smuggling(
    "GET /api HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
    400
)]
#[case::unknown_coding(
    "GET /api HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
    501
)]
#[case::not_chunked_last("GET /api HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400)]
fn malformed_requests_get_their_status_and_others_are_served(
    #[case] request: &str,
    #[case] status: u16,
) {
    let t = tree();
    let request = request.to_owned();
    with_server(web(site(&t, |_| {}), HttpLimits::default()), move |addr| {
        // A client in the middle of its keep-alive connection while another misbehaves.
        let mut good = connect(&addr);
        good.get_mut()
            .write_all(req("/hello.txt").as_bytes())
            .expect("write");
        assert_eq!(read_resp(&mut good, false).status, 200);
        let mut bad = connect(&addr);
        bad.get_mut().write_all(request.as_bytes()).expect("write");
        let r = read_resp(&mut bad, false);
        assert_eq!(r.status, status, "{}", r.text());
        assert_eq!(r.header("connection"), Some("close"));
        assert!(closed(&mut bad));
        good.get_mut()
            .write_all(req("/hello.txt").as_bytes())
            .expect("write");
        assert_eq!(read_resp(&mut good, false).text(), "hello, world\n");
    });
}

#[test]
fn limits_are_the_transports() {
    let t = tree();
    let limits = HttpLimits {
        max_head_bytes: 2048,
        max_target_bytes: 256,
        max_headers: 4,
        max_body_bytes: 10,
        ..HttpLimits::default()
    };
    with_server(web(site(&t, |_| {}), limits), |addr| {
        let r = get(
            &addr,
            &format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(300)),
        );
        assert_eq!(r.status, 414);
        let r = get(
            &addr,
            &format!(
                "GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n",
                "a".repeat(3000)
            ),
        );
        assert_eq!(r.status, 431);
        let r = get(
            &addr,
            "GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\n\r\n",
        );
        assert_eq!(r.status, 431);
        let r = get(
            &addr,
            "GET /api HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n",
        );
        assert_eq!(r.status, 413);
        let r = get(
            &addr,
            "GET /api HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789",
        );
        assert_eq!(r.status, 200);
    });
}

#[test]
fn timeouts_by_phase() {
    let t = tree();
    let limits = HttpLimits {
        head_timeout_ms: 300,
        body_timeout_ms: 300,
        idle_timeout_ms: 300,
        ..HttpLimits::default()
    };
    with_server(web(site(&t, |_| {}), limits), |addr| {
        // A head that never ends: 408 after the head timeout.
        let mut c = connect(&addr);
        c.get_mut()
            .write_all(b"GET / HTTP/1.1\r\nHo")
            .expect("write");
        let r = read_resp(&mut c, false);
        assert_eq!(r.status, 408);
        assert!(closed(&mut c));
        // Trickling the head does not extend its deadline.
        let mut c = connect(&addr);
        let started = std::time::Instant::now();
        for b in b"GET / HTTP/1.1\r\nX: aaaaaaaaaa" {
            if c.get_mut().write_all(&[*b]).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let r = read_resp(&mut c, false);
        assert_eq!(r.status, 408);
        assert!(started.elapsed() < Duration::from_secs(2));
        // A body that stops: 408.
        let mut c = connect(&addr);
        c.get_mut()
            .write_all(b"GET /api HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n012")
            .expect("write");
        assert_eq!(read_resp(&mut c, false).status, 408);
        // Idle after an answer: closed without a word.
        let mut c = connect(&addr);
        c.get_mut()
            .write_all(req("/hello.txt").as_bytes())
            .expect("write");
        assert_eq!(read_resp(&mut c, false).status, 200);
        std::thread::sleep(Duration::from_millis(600));
        assert!(closed(&mut c));
    });
}
