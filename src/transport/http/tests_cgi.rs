//! CGI over real sockets: a script's answer streams while its request body
//! still streams in (`duplex`). The scripts are `/bin/sh` ones that echo
//! each input line as they read it; the client sends its next line only
//! once it has the answer to the one before, so a server that waited for
//! the whole body before answering fails (the client's read times out).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;

use rstest::rstest;

use super::tests::{connect, web, with_server_on};
use crate::config::web::{CgiService, HttpLimits, WebPaths, WebService};
use crate::transport::testutil::Io;

/// Echoes each line of its input as it reads it, after the head.
const ECHO_LINES: &str = "printf 'Content-Type: text/plain\\r\\n\\r\\n'\n\
                          while IFS= read -r line; do printf 'echo: %s\\n' \"$line\"; done\n";

/// Reads its whole input first, then answers with its length.
const COUNT: &str = "n=$(wc -c)\nprintf 'Content-Type: text/plain\\r\\n\\r\\n%s\\n' \"$n\"\n";

/// A directory with the two scripts, removed when dropped.
struct Scripts(PathBuf);

impl Scripts {
    fn new(tag: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("junction-cgi-duplex-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("lines.sh"), ECHO_LINES).expect("write");
        std::fs::write(dir.join("count.sh"), COUNT).expect("write");
        Scripts(dir)
    }
}

impl Drop for Scripts {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn cgi_paths(dir: &std::path::Path) -> WebPaths {
    let mut paths = WebPaths::new();
    paths.insert(
        "cgi".to_owned(),
        WebService::Cgi(CgiService {
            directory: dir.to_owned(),
            processor: "/bin/sh".to_owned(),
            timeout_ms: 20_000,
            max_head_bytes: 4096,
            // Chunked bodies stream from their first octet.
            chunked_buffer: 0,
        }),
    );
    paths
}

/// Reads the answer's head: the status and the fields (names lowercased).
pub(super) fn read_head(c: &mut BufReader<TcpStream>) -> (u16, Vec<(String, String)>) {
    let mut line = String::new();
    c.read_line(&mut line).expect("status line");
    let status = line
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let mut fields = Vec::new();
    loop {
        let mut l = String::new();
        c.read_line(&mut l).expect("field");
        let l = l.trim_end();
        if l.is_empty() {
            return (status, fields);
        }
        let (n, v) = l.split_once(':').expect("field");
        fields.push((n.to_ascii_lowercase(), v.trim().to_owned()));
    }
}

/// Reads one chunk of a chunked answer (empty: the last).
pub(super) fn read_chunk(c: &mut BufReader<TcpStream>) -> String {
    let mut size = String::new();
    c.read_line(&mut size)
        .expect("chunk size (the answer did not come in time?)");
    let n = usize::from_str_radix(size.trim_end(), 16).expect("hex size");
    let mut data = vec![0; n + 2];
    c.read_exact(&mut data).expect("chunk");
    assert_eq!(&data[n..], b"\r\n");
    data.truncate(n);
    String::from_utf8(data).expect("text")
}

/// Whether the server closed the connection (nothing more comes).
pub(super) fn closed(c: &mut BufReader<TcpStream>) -> bool {
    let mut rest = Vec::new();
    matches!(c.read_to_end(&mut rest), Ok(0))
}

#[rstest]
fn answer_streams_while_the_body_streams_in(
    #[values(Io::Uring, Io::Readiness)] io: Io,
    #[values(false, true)] chunked: bool,
) {
    let scripts = Scripts::new(&format!("{io:?}-{chunked}"));
    let t = web(cgi_paths(&scripts.0), HttpLimits::default());
    with_server_on(io, t, move |addr| {
        echo_while_sending(&addr, "/cgi/lines.sh", chunked);
    });
}

/// POSTs three lines to `path` (a program that answers `echo: LINE` to
/// each line as it reads it), each only once the answer to the one before
/// came, and checks the answer: chunked, its connection closed after it
/// (it began before the body's end), the last chunk once the body ended.
pub(super) fn echo_while_sending(addr: &str, path: &str, chunked: bool) {
    let lines = ["one\n", "two\n", "three\n"];
    let mut c = connect(addr);
    let framing = if chunked {
        "Transfer-Encoding: chunked".to_owned()
    } else {
        format!("Content-Length: {}", lines.concat().len())
    };
    let send = |c: &mut BufReader<TcpStream>, line: &str| {
        let data = if chunked {
            format!("{:x}\r\n{line}\r\n", line.len())
        } else {
            line.to_owned()
        };
        c.get_mut().write_all(data.as_bytes()).expect("send");
    };
    c.get_mut()
        .write_all(format!("POST {path} HTTP/1.1\r\nHost: x\r\n{framing}\r\n\r\n").as_bytes())
        .expect("head");
    send(&mut c, lines[0]);
    // The head and the first line's answer come before the rest is sent.
    let (status, fields) = read_head(&mut c);
    assert_eq!(status, 200);
    let field = |n: &str| fields.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    assert_eq!(field("transfer-encoding"), Some("chunked"));
    assert_eq!(
        field("connection"),
        Some("close"),
        "answered before the body's end: the connection closes after it"
    );
    let mut got = read_chunk(&mut c);
    while got.len() < "echo: one\n".len() {
        got += &read_chunk(&mut c);
    }
    assert_eq!(got, "echo: one\n");
    send(&mut c, lines[1]);
    assert_eq!(read_chunk(&mut c), "echo: two\n");
    send(&mut c, lines[2]);
    assert_eq!(read_chunk(&mut c), "echo: three\n");
    if chunked {
        c.get_mut().write_all(b"0\r\n\r\n").expect("last chunk");
    }
    assert_eq!(
        read_chunk(&mut c),
        "",
        "the last chunk once the input ended"
    );
    assert!(closed(&mut c));
}

#[test]
fn limits_and_keep_alive_around_the_answers_start() {
    let scripts = Scripts::new("limits");
    let limits = HttpLimits {
        max_body_bytes: 64,
        ..HttpLimits::default()
    };
    let t = web(cgi_paths(&scripts.0), limits);
    with_server_on(Io::Uring, t, |addr| {
        // Answered after the body's end: keep-alive stays.
        let mut c = connect(&addr);
        for _ in 0..2 {
            c.get_mut()
                .write_all(
                    b"POST /cgi/count.sh HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
                )
                .expect("send");
            let (status, fields) = read_head(&mut c);
            assert_eq!(status, 200);
            assert!(
                !fields
                    .iter()
                    .any(|(n, v)| n == "connection" && v == "close")
            );
            assert_eq!(read_chunk(&mut c).trim(), "5");
            assert_eq!(read_chunk(&mut c), "");
        }
        // A body over the limit before the answer began: 413.
        let mut c = connect(&addr);
        c.get_mut()
            .write_all(
                b"POST /cgi/count.sh HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
            )
            .expect("send");
        c.get_mut()
            .write_all(format!("50\r\n{}\r\n", "x".repeat(80)).as_bytes())
            .expect("send");
        assert_eq!(read_head(&mut c).0, 413);
        // Over the limit after the answer began: the connection just closes
        // (the answer so far is all the client gets; no 413 after it).
        let mut c = connect(&addr);
        c.get_mut()
            .write_all(b"POST /cgi/lines.sh HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabc\n\r\n")
            .expect("send");
        assert_eq!(read_head(&mut c).0, 200);
        assert_eq!(read_chunk(&mut c), "echo: abc\n");
        c.get_mut()
            .write_all(format!("50\r\n{}\r\n", "x".repeat(80)).as_bytes())
            .expect("send");
        let mut rest = Vec::new();
        let _ = c.read_to_end(&mut rest);
        assert!(!String::from_utf8_lossy(&rest).contains("413"), "{rest:?}");
        assert!(
            !rest.ends_with(b"0\r\n\r\n"),
            "the answer is cut, not ended: {rest:?}"
        );
    });
}
