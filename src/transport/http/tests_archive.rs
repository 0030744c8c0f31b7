//! The `archive` service: loading (hashes, limits, damaged archives, the
//! download from a local HTTP server, its atomic write) and serving over
//! real sockets (files, folders, the default object and file, MIME
//! overrides, conditional and range requests, methods).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Cursor, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use super::super::tests::{get, req, web, with_server};
use super::*;
use crate::config::web::{HttpLimits, WebPaths, WebService};

/// A ZIP of `files` (names ending in `/` are folders), deflated.
fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    for (name, data) in files {
        if name.ends_with('/') {
            w.add_directory(*name, opts).expect("folder");
        } else {
            w.start_file(*name, opts).expect("file");
            w.write_all(data).expect("write");
        }
    }
    w.finish().expect("finish").into_inner()
}

/// The app the tests serve, under `app-1.0/` (as GitHub's archives are).
fn app_zip() -> Vec<u8> {
    zip_of(&[
        ("app-1.0/", b""),
        ("app-1.0/index.html", b"<h1>index</h1>"),
        ("app-1.0/autobahn.min.js", b"var ab = 1;"),
        ("app-1.0/autobahn.js", b"var ab = 1; // long"),
        ("app-1.0/docs/", b""),
        ("app-1.0/docs/index.html", b"<h1>docs</h1>"),
        ("app-1.0/img/logo.svg", b"<svg/>"),
        ("outside.txt", b"not under the prefix"),
    ])
}

/// An archive service for `path` with `f` applied.
fn service(path: &Path, f: impl FnOnce(&mut ArchiveService)) -> ArchiveService {
    let mut s = ArchiveService {
        archive: path.to_path_buf(),
        origin: None,
        download: false,
        cache: true,
        hashes: Vec::new(),
        object_prefix: Some("app-1.0".to_owned()),
        default_object: Some("index.html".to_owned()),
        default_file: None,
        mime_types: BTreeMap::new(),
        limits: ArchiveLimits::default(),
        files: None,
    };
    f(&mut s);
    s
}

/// `data` written to `app.zip` in a new temporary folder.
fn on_disk(data: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("app.zip");
    std::fs::write(&path, data).expect("write");
    (dir, path)
}

#[test]
fn index_keeps_the_files_under_the_prefix() {
    let (_d, path) = on_disk(&app_zip());
    let files = load(&service(&path, |_| {}), true)
        .expect("loads")
        .expect("there");
    let mut names: Vec<&str> = files.entries.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "autobahn.js",
            "autobahn.min.js",
            "docs/index.html",
            "img/logo.svg",
            "index.html"
        ]
    );
    assert_eq!(&files.entries["docs/index.html"].data[..], b"<h1>docs</h1>");
    assert!(files.folders.contains("docs") && files.folders.contains("img"));
    assert_eq!(files.sha256, sha256_hex(&app_zip()));
    // Without a prefix: the whole archive, the prefix's folder included.
    let all = load(&service(&path, |s| s.object_prefix = None), true)
        .expect("loads")
        .expect("there");
    assert!(all.entries.contains_key("outside.txt"));
    assert!(all.entries.contains_key("app-1.0/index.html"));
    assert!(all.folders.contains("app-1.0"));
}

#[test]
fn hashes_are_checked_for_an_archive_already_there() {
    let data = app_zip();
    let (_d, path) = on_disk(&data);
    let good = sha256_hex(&data);
    let other = "0".repeat(64);
    let ok = load(
        &service(&path, |s| s.hashes = vec![other.clone(), good]),
        true,
    );
    assert!(ok.expect("matches one").is_some());
    let err = load(&service(&path, |s| s.hashes = vec![other]), true).expect_err("mismatch");
    assert!(matches!(err, ArchiveError::Hash { .. }), "{err}");
    assert!(err.to_string().contains(&sha256_hex(&data)), "{err}");
}

#[test]
fn damaged_or_foreign_archives_are_refused() {
    // Not a ZIP at all.
    let (_d, path) = on_disk(b"this is no zip archive, just text");
    let err = load(&service(&path, |_| {}), true).expect_err("not a zip");
    assert!(matches!(err, ArchiveError::Zip { .. }), "{err}");
    // A file's octets changed (same length): its CRC no longer matches.
    let mut data = zip_of(&[("app-1.0/index.html", &[b'a'; 4000])]);
    let at = data
        .windows(4)
        .position(|w| w == b"PK\x03\x04")
        .expect("local header")
        + 30
        + "app-1.0/index.html".len()
        + 2;
    data[at] ^= 0xFF;
    let (_d2, path) = on_disk(&data);
    let err = load(&service(&path, |_| {}), true).expect_err("damaged");
    assert!(matches!(err, ArchiveError::Zip { .. }), "{err}");
    // Cut short.
    let data = app_zip();
    let (_d3, path) = on_disk(&data[..data.len() / 2]);
    let err = load(&service(&path, |_| {}), true).expect_err("truncated");
    assert!(matches!(err, ArchiveError::Zip { .. }), "{err}");
}

#[test]
fn limits_and_missing_things_are_refused() {
    let (dir, path) = on_disk(&app_zip());
    // Nothing under the prefix.
    let err = load(
        &service(&path, |s| s.object_prefix = Some("nope".into())),
        true,
    )
    .expect_err("empty prefix");
    assert!(matches!(err, ArchiveError::EmptyPrefix { .. }), "{err}");
    // The archive larger than max_size.
    let err = load(&service(&path, |s| s.limits.max_size = 100), true).expect_err("max_size");
    assert!(matches!(err, ArchiveError::TooLarge { .. }), "{err}");
    // The files more than max_content uncompressed.
    let err = load(&service(&path, |s| s.limits.max_content = 40), true).expect_err("content");
    assert!(matches!(err, ArchiveError::TooMuchContent { .. }), "{err}");
    // Missing, without download (origin or not).
    let gone = dir.path().join("gone.zip");
    let err = load(
        &service(&gone, |s| {
            s.origin = Some("http://127.0.0.1:1/x.zip".into())
        }),
        true,
    )
    .expect_err("missing");
    assert!(matches!(err, ArchiveError::Missing(_)), "{err}");
    assert!(err.to_string().contains("gone.zip"), "{err}");
    // A folder where the file should be.
    let err = load(&service(dir.path(), |_| {}), true).expect_err("folder");
    assert!(matches!(err, ArchiveError::NotAFile(_)), "{err}");
}

/// A one-thread HTTP server answering `routes` (path → status, extra
/// header, body) for `n` connections; a body marked short is announced
/// longer than sent (the connection then closes mid-body).
fn http_server(
    n: usize,
    routes: Vec<(&'static str, u16, String, Vec<u8>, bool)>,
) -> (String, std::thread::JoinHandle<Vec<String>>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", l.local_addr().expect("addr"));
    let h = std::thread::spawn(move || {
        let mut asked = Vec::new();
        for _ in 0..n {
            let Ok((s, _)) = l.accept() else { break };
            let mut r = BufReader::new(s);
            let mut line = String::new();
            r.read_line(&mut line).expect("request line");
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).expect("header") <= 2 {
                    break;
                }
            }
            let path = line.split(' ').nth(1).unwrap_or("").to_owned();
            asked.push(path.clone());
            let mut s = r.into_inner();
            match routes.iter().find(|r| r.0 == path) {
                Some((_, status, extra, body, short)) => {
                    let len = if *short { body.len() * 4 } else { body.len() };
                    let head = format!(
                        "HTTP/1.1 {status} X\r\nContent-Length: {len}\r\n{extra}Connection: close\r\n\r\n"
                    );
                    let _ = s.write_all(head.as_bytes());
                    let _ = s.write_all(body);
                }
                None => {
                    let _ = s.write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                }
            }
        }
        asked
    });
    (base, h)
}

/// The folder's entries' names.
fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn a_missing_archive_is_downloaded_through_a_redirect_and_kept() {
    let data = app_zip();
    let (base, server) = http_server(
        2,
        vec![
            (
                "/latest.zip",
                302,
                "Location: /v1/app.zip\r\n".into(),
                Vec::new(),
                false,
            ),
            ("/v1/app.zip", 200, String::new(), data.clone(), false),
        ],
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("app.zip");
    let svc = service(&path, |s| {
        s.origin = Some(format!("{base}/latest.zip"));
        s.download = true;
        s.hashes = vec![sha256_hex(&data)];
    });
    // `junction check`: not fetched, nothing written.
    assert!(load(&svc, false).expect("check").is_none());
    assert!(names_in(dir.path()).is_empty());
    let files = load(&svc, true).expect("downloads").expect("there");
    assert_eq!(&files.entries["index.html"].data[..], b"<h1>index</h1>");
    assert_eq!(
        server.join().expect("server"),
        ["/latest.zip", "/v1/app.zip"]
    );
    assert_eq!(std::fs::read(&path).expect("kept"), data);
    assert_eq!(names_in(dir.path()), ["app.zip"]);
    // The next start reads it (the server is gone).
    assert!(load(&svc, true).expect("reads").is_some());
}

#[test]
fn a_failed_download_leaves_no_file() {
    let data = app_zip();
    let (base, server) = http_server(
        4,
        vec![
            ("/wrong.zip", 200, String::new(), data.clone(), false),
            ("/cut.zip", 200, String::new(), data.clone(), true),
            ("/text", 200, String::new(), b"not a zip".to_vec(), false),
        ],
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("app.zip");
    let with = |url: &str, hashes: Vec<String>| {
        service(&path, |s| {
            s.origin = Some(format!("{base}{url}"));
            s.download = true;
            s.hashes = hashes;
        })
    };
    let err = load(&with("/wrong.zip", vec!["a".repeat(64)]), true).expect_err("hash");
    assert!(matches!(err, ArchiveError::Hash { .. }), "{err}");
    let err = load(&with("/cut.zip", Vec::new()), true).expect_err("cut");
    assert!(matches!(err, ArchiveError::Download { .. }), "{err}");
    let err = load(&with("/absent.zip", Vec::new()), true).expect_err("404");
    assert!(err.to_string().contains("HTTP status 404"), "{err}");
    let err = load(&with("/text", Vec::new()), true).expect_err("not a zip");
    assert!(matches!(err, ArchiveError::Zip { .. }), "{err}");
    server.join().expect("server");
    assert!(
        names_in(dir.path()).is_empty(),
        "{:?}",
        names_in(dir.path())
    );
}

#[test]
fn a_stale_partial_download_is_replaced() {
    let data = app_zip();
    let (base, server) = http_server(
        1,
        vec![("/app.zip", 200, String::new(), data.clone(), false)],
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("app.zip");
    // What a process killed mid-write leaves.
    std::fs::write(dir.path().join("app.zip.download"), b"PK\x03\x04half").expect("write");
    let svc = service(&path, |s| {
        s.origin = Some(format!("{base}/app.zip"));
        s.download = true;
    });
    assert!(load(&svc, true).expect("downloads").is_some());
    server.join().expect("server");
    assert_eq!(names_in(dir.path()), ["app.zip"]);
    assert_eq!(std::fs::read(&path).expect("kept"), data);
}

/// A site with the archive at `app` (and at `/` of level `root`).
fn site(svc: ArchiveService) -> WebPaths {
    let mut paths = WebPaths::new();
    let mut at_root = svc.clone();
    at_root.default_file = Some("index.html".to_owned());
    paths.insert("app".to_owned(), WebService::Archive(svc));
    let mut nested = WebPaths::new();
    nested.insert("/".to_owned(), WebService::Archive(at_root));
    paths.insert("spa".to_owned(), WebService::Path(nested));
    paths
}

#[test]
fn files_folders_and_defaults_are_served() {
    let (_d, path) = on_disk(&app_zip());
    let mut svc = service(&path, |s| {
        s.mime_types
            .insert(".min.js".to_owned(), "application/x-min".to_owned());
    });
    svc.files = load(&svc, true).expect("loads");
    let (_, ()) = with_server(web(site(svc), HttpLimits::default()), |addr| {
        let r = get(&addr, &req("/app/autobahn.min.js"));
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), "var ab = 1;");
        assert_eq!(r.header("content-type"), Some("application/x-min"));
        assert!(r.header("cache-control").is_none());
        assert!(r.header("access-control-allow-origin").is_none());
        let r = get(&addr, &req("/app/autobahn.js"));
        assert_eq!(r.header("content-type"), Some("text/javascript"));
        let r = get(&addr, &req("/app/img/logo.svg"));
        assert_eq!(r.header("content-type"), Some("image/svg+xml"));
        // The service's path: its slash added; with it, the default object.
        let r = get(&addr, &req("/app?x=1"));
        assert_eq!((r.status, r.header("location")), (301, Some("/app/?x=1")));
        let r = get(&addr, &req("/app/"));
        assert_eq!((r.status, r.text().as_str()), (200, "<h1>index</h1>"));
        assert_eq!(r.header("content-type"), Some("text/html"));
        // A folder: the same.
        let r = get(&addr, &req("/app/docs"));
        assert_eq!((r.status, r.header("location")), (301, Some("/app/docs/")));
        let r = get(&addr, &req("/app/docs/"));
        assert_eq!((r.status, r.text().as_str()), (200, "<h1>docs</h1>"));
        // A folder without the default object in it, and unknown paths.
        assert_eq!(get(&addr, &req("/app/img/")).status, 404);
        assert_eq!(get(&addr, &req("/app/nope.js")).status, 404);
        assert_eq!(get(&addr, &req("/app/outside.txt")).status, 404);
        assert_eq!(get(&addr, &req("/app/../outside.txt")).status, 400);
        // With options.default_file: unknown paths get it.
        let r = get(&addr, &req("/spa/some/route"));
        assert_eq!((r.status, r.text().as_str()), (200, "<h1>index</h1>"));
        let r = get(&addr, &req("/spa/autobahn.js"));
        assert_eq!(r.text(), "var ab = 1; // long");
        // HEAD, ranges, validators, methods.
        let r = get(&addr, "HEAD /app/autobahn.js HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!((r.status, r.header("content-length")), (200, Some("19")));
        let r = get(
            &addr,
            "GET /app/autobahn.js HTTP/1.1\r\nHost: x\r\nRange: bytes=4-5\r\n\r\n",
        );
        assert_eq!((r.status, r.text().as_str()), (206, "ab"));
        let etag = r.header("etag").expect("etag").to_owned();
        assert!(r.header("last-modified").is_some());
        let r = get(
            &addr,
            &format!("GET /app/autobahn.js HTTP/1.1\r\nHost: x\r\nIf-None-Match: {etag}\r\n\r\n"),
        );
        assert_eq!(r.status, 304);
        let other = get(&addr, &req("/app/autobahn.min.js"));
        assert_ne!(other.header("etag"), Some(etag.as_str()));
        let r = get(
            &addr,
            "POST /app/autobahn.js HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        );
        assert_eq!((r.status, r.header("allow")), (405, Some("GET, HEAD")));
    });
}

#[test]
fn an_https_origin_must_present_a_trusted_certificate() {
    // A self-signed certificate: the TLS handshake runs (rustls on the
    // aws-lc-rs provider) and the client refuses the server.
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(vec![ck.cert.der().clone()], key)
    .expect("server config");
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    let server = std::thread::spawn(move || {
        let (sock, _) = l.accept().expect("accept");
        let conn = rustls::ServerConnection::new(Arc::new(config)).expect("conn");
        let mut tls = rustls::StreamOwned::new(conn, sock);
        let mut buf = [0u8; 64];
        // The client's alert ends the handshake.
        std::io::Read::read(&mut tls, &mut buf).is_err()
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("app.zip");
    let svc = service(&path, |s| {
        s.origin = Some(format!("https://localhost:{port}/app.zip"));
        s.download = true;
    });
    let err = load(&svc, true).expect_err("untrusted");
    assert!(matches!(err, ArchiveError::Download { .. }), "{err}");
    assert!(err.to_string().contains("certificate"), "{err}");
    assert!(server.join().expect("server"), "the handshake failed");
    assert!(names_in(dir.path()).is_empty());
}

#[test]
fn only_entries_under_the_prefix_are_uncompressed() {
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    let stored = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
    w.start_file("other.bin", stored).expect("file");
    w.write_all(b"method patched below").expect("write");
    w.start_file("app-1.0/index.html", stored).expect("file");
    w.write_all(b"<h1>index</h1>").expect("write");
    let mut data = w.finish().expect("finish").into_inner();
    // `other.bin` claims method 12 (bzip2, not built in): in its local
    // header (the first) and its central directory entry (the first).
    let local = data
        .windows(4)
        .position(|x| x == b"PK\x03\x04")
        .expect("local");
    data[local + 8] = 12;
    let central = data
        .windows(4)
        .position(|x| x == b"PK\x01\x02")
        .expect("central");
    data[central + 10] = 12;
    let (_d, path) = on_disk(&data);
    let files = load(&service(&path, |_| {}), true)
        .expect("other.bin is not read")
        .expect("there");
    assert_eq!(&files.entries["index.html"].data[..], b"<h1>index</h1>");
    let err = load(&service(&path, |s| s.object_prefix = None), true).expect_err("bzip2");
    assert!(matches!(err, ArchiveError::Zip { .. }), "{err}");
}
