//! The `reverseproxy` path service (and the HTTP side of `wsgi`): each
//! request forwarded to a backend over a connection of its own, the answer
//! streamed back.
//!
//! - The backend: `host:port` over TCP (a name is resolved on the shard's
//!   blocking thread pool; an IP literal is not looked up), or a Unix
//!   socket (the WSGI host). Connecting takes at most
//!   `junction.connect_timeout`; a refused or failed connection is 502, a
//!   timeout 504.
//! - The request: the method, `path` + the path below the mount point +
//!   the query; every field but the hop-by-hop ones (RFC 9110 section
//!   7.6.1: `Connection`, `Keep-Alive`, `TE`, `Transfer-Encoding`,
//!   `Upgrade`, `Proxy-*`, and any the `Connection` field names; `Expect`,
//!   which the server answers itself); `Host` naming the backend (`host`,
//!   with `:port` unless 80, as Crossbar sends it; the WSGI host gets the
//!   client's);
//!   `X-Forwarded-For` extended with the client's address,
//!   `X-Forwarded-Proto`/`-Port` from `forwarded_proto`/`forwarded_port`,
//!   `X-Forwarded-Host`. The body is streamed as it arrives (its length, or
//!   chunked as it came), on the `duplex` pump: the answer streams back at
//!   the same time, its head and body reaching the client as the backend
//!   sends them, even before the request body's end (the client's
//!   connection then closes after the answer).
//! - Backend connections are kept alive and reused: after an answer read
//!   to its end (its length, or its last chunk; HTTP/1.1, no `Connection:
//!   close`), once the whole request went in, the connection goes back to
//!   this shard's pool of the path, at
//!   most `junction.pool_size` idle ones, each for at most
//!   `junction.pool_idle_timeout`; one the backend closed meanwhile is
//!   dropped when taken (a peek at the socket). Should a reused
//!   connection still turn out closed (the backend closed it as the
//!   request went out: no octet of an answer came), an idempotent request
//!   without a body (GET, HEAD, PUT, DELETE, OPTIONS, TRACE) is sent once
//!   more on a new connection; any other gets 502. `pool_size` 0 (and the
//!   WSGI host): a connection per request, sent with `Connection: close`.
//! - The answer: the backend's status and fields (hop-by-hop ones dropped),
//!   its body streamed as it comes: a `Content-Length` is kept, a chunked
//!   or close-delimited body goes out chunked (HTTP/1.1 clients). The
//!   backend may hold things up (take none of the body, or send nothing
//!   once it has all) for at most `junction.timeout`: 504 before the answer
//!   began, else the client's connection is closed (the answer is cut).
//! - WebSocket (any `Upgrade`): the offer is forwarded with `Connection:
//!   Upgrade`; when the backend answers 101, the 101 is passed on and the
//!   two connections become a byte pipe both ways (octets already read on
//!   either side first) until both sides closed; otherwise its answer is
//!   passed on as any other.

use std::cell::{Cell, RefCell};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::pin::pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures::future::{Either, select};

use super::conn::{HttpConn, Stop};
use super::duplex::{AnswerBody, BodyIn, Head, Input, Outcome, Program, Timing, pump};
use super::reply::text;
use super::stream::write_all;
use crate::config::web::{ForwardedProto, ReverseProxyService};
use crate::proto::http::gateway::{
    UpstreamBody, UpstreamHead, connection_options, is_hop_by_hop, parse_response_head, split_peer,
};
use crate::proto::http::request::write_request_head;
use crate::proto::http::{
    BodyDecoder, BodyLength, Limits, Method, Request, ResponseBody, ResponseHead, Version,
};
use crate::transport::Stream;
use crate::transport::conn::with_scratch;
use crate::transport::socket::Socket;

/// The longest backend response head taken.
const MAX_UPSTREAM_HEAD: usize = 64 << 10;

/// Where a proxy forwards to.
#[derive(Debug, Clone)]
pub(super) enum Backend {
    /// TCP.
    Tcp {
        /// Host name or address.
        host: String,
        /// Port.
        port: u16,
    },
    /// A Unix socket (the WSGI host).
    Unix(PathBuf),
}

/// A reverse proxy, prepared.
#[derive(Debug)]
pub(super) struct Proxy {
    /// The backend.
    backend: Backend,
    /// `path`: prefix of the forwarded path.
    prefix: String,
    /// `forwarded_proto`.
    proto: &'static str,
    /// `forwarded_port`.
    port: u16,
    /// `junction.connect_timeout`.
    connect_timeout: Duration,
    /// `junction.timeout`.
    timeout: Duration,
    /// Send the mount point as `X-Junction-Script-Name` (the WSGI host sets
    /// `SCRIPT_NAME` from it) and forward the whole request path.
    script_name: bool,
    /// `junction.pool_size`: idle backend connections kept (0: none).
    pool_size: usize,
    /// `junction.pool_idle_timeout`.
    pool_idle: Duration,
    /// This shard's idle backend connections, the most recently used last.
    pool: RefCell<Vec<Idle>>,
}

/// An idle keep-alive connection to the backend.
#[derive(Debug)]
struct Idle {
    /// The connection.
    sock: Stream,
    /// When it went idle.
    since: Instant,
}

impl Proxy {
    /// The `reverseproxy` service of `config`.
    pub fn new(config: &ReverseProxyService) -> Self {
        Proxy {
            backend: Backend::Tcp {
                host: config.host.clone(),
                port: config.port,
            },
            prefix: config.path.trim_end_matches('/').to_owned(),
            proto: match config.forwarded_proto {
                ForwardedProto::Http => "http",
                ForwardedProto::Https => "https",
            },
            port: config.forwarded_port,
            connect_timeout: Duration::from_millis(config.connect_timeout_ms),
            timeout: Duration::from_millis(config.timeout_ms),
            script_name: false,
            pool_size: config.pool_size,
            pool_idle: Duration::from_millis(config.pool_idle_ms),
            pool: RefCell::new(Vec::new()),
        }
    }

    /// A proxy to a WSGI host's Unix socket.
    pub fn to_wsgi(socket: PathBuf, connect_timeout: Duration, timeout: Duration) -> Self {
        Proxy {
            backend: Backend::Unix(socket),
            prefix: String::new(),
            proto: "http",
            port: 80,
            connect_timeout,
            timeout,
            script_name: true,
            pool_size: 0,
            pool_idle: Duration::ZERO,
            pool: RefCell::new(Vec::new()),
        }
    }

    /// Answers one request: status and body octets sent. A WebSocket
    /// tunnel ends the connection when it closes (`Err(Stop)`).
    pub async fn serve(
        &self,
        c: &mut HttpConn,
        req: &Request,
        mount: &str,
        rest: &str,
        peer: &str,
    ) -> Result<(u16, u64), Stop> {
        let head = match self.request_head(req, mount, rest, peer) {
            Ok(h) => Bytes::from(h),
            Err(why) => return answer(c, 400, format!("{why}\n")).await,
        };
        let upgrade = req.framing.upgrade;
        let pooled = !upgrade && self.pool_size > 0;
        let (up, reused) = match pooled.then(|| self.take_idle()).flatten() {
            Some(s) => (s, true),
            None => match self.connect_in_time(c).await? {
                Ok(s) => (s, false),
                Err(answered) => return Ok(answered),
            },
        };
        let empty = req.framing.body == BodyLength::Empty;
        if empty {
            // The empty body's end, so that nothing of the request is left
            // (after a 101 the buffer holds only the client's first frames).
            c.body_piece().await?;
        } else {
            c.send_continue().await?;
        }
        let method = req.head.method();
        let is_head = method == Method::Head;
        // Whether the answer's head lets its connection carry another
        // exchange (set as it is parsed).
        let keep = Cell::new(false);
        let mut program = Program {
            input: Input::Output,
            output: up,
            parse_head: |out: &[u8]| parse_answer(out, is_head, upgrade, &keep),
        };
        let body = BodyIn {
            first: head.clone(),
            more: !empty,
            chunked: req.framing.body == BodyLength::Chunked,
        };
        let timing = Timing {
            deadline: None,
            stall: Some(self.timeout),
        };
        let mut outcome = pump(c, &mut program, body, timing).await;
        let idempotent = matches!(
            method,
            Method::Get
                | Method::Head
                | Method::Put
                | Method::Delete
                | Method::Options
                | Method::Trace
        );
        if reused && idempotent && empty && matches!(outcome, Outcome::Ended { empty: true }) {
            // The backend closed the idle connection as the request went
            // out: once more on a new one (nothing was sent to the client,
            // and the body was empty: nothing of the request is lost).
            tracing::debug!(backend = ?self.backend, "reverse proxy: pooled connection closed; retrying");
            program.output = match self.connect_in_time(c).await? {
                Ok(s) => s,
                Err(answered) => return Ok(answered),
            };
            program.input = Input::Output;
            let body = BodyIn {
                first: head,
                more: false,
                chunked: false,
            };
            outcome = pump(c, &mut program, body, timing).await;
        }
        match outcome {
            Outcome::Answered(status, sent, clean) => {
                if pooled && clean && keep.get() {
                    self.put_idle(program.output);
                }
                Ok((status, sent))
            }
            Outcome::Switched(rh, from_up) => self.tunnel(c, &rh, program.output, from_up).await,
            Outcome::Refuse(e) => {
                c.refuse(e).await;
                Err(Stop)
            }
            Outcome::Ended { empty: true } => {
                tracing::info!(backend = ?self.backend, "reverse proxy: the backend closed without an answer");
                answer(
                    c,
                    502,
                    "bad gateway: the backend closed without an answer\n",
                )
                .await
            }
            Outcome::Ended { empty: false } => {
                let why = "the backend closed mid-answer";
                self.bad_answer(c, why).await
            }
            Outcome::BadOutput(why) => self.bad_answer(c, &why).await,
            Outcome::TimedOut => {
                answer(
                    c,
                    504,
                    "gateway timeout: the backend did not answer in time\n",
                )
                .await
            }
            Outcome::Stop => Err(Stop),
        }
    }

    /// A 502 for a backend's answer that is not one.
    async fn bad_answer(&self, c: &mut HttpConn, why: &str) -> Result<(u16, u64), Stop> {
        tracing::info!(backend = ?self.backend, reason = why, "reverse proxy: bad answer");
        answer(c, 502, format!("bad gateway: {why}\n")).await
    }

    /// A new connection to the backend within `connect_timeout`;
    /// `Ok(Err(answered))`: it failed and the client got 502 or 504.
    async fn connect_in_time(&self, c: &mut HttpConn) -> Result<Result<Stream, (u16, u64)>, Stop> {
        match with_deadline(self.connect_timeout, self.connect()).await {
            Some(Ok(s)) => Ok(Ok(s)),
            Some(Err(e)) => {
                tracing::info!(backend = ?self.backend, error = %e, "reverse proxy: backend unreachable");
                answer(c, 502, "bad gateway: the backend cannot be reached\n")
                    .await
                    .map(Err)
            }
            None => answer(c, 504, "gateway timeout: connecting to the backend\n")
                .await
                .map(Err),
        }
    }

    /// An idle pooled connection that still looks open; those idle too
    /// long, closed by the backend, or with unexpected octets are dropped.
    fn take_idle(&self) -> Option<Stream> {
        let mut pool = self.pool.borrow_mut();
        while let Some(idle) = pool.pop() {
            if idle.since.elapsed() < self.pool_idle && still_open(&idle.sock) {
                return Some(idle.sock);
            }
        }
        None
    }

    /// Keeps `sock`, whose answer was read to its end, for a next request
    /// (the oldest idle one goes when the pool is full).
    fn put_idle(&self, sock: Stream) {
        let mut pool = self.pool.borrow_mut();
        if pool.len() >= self.pool_size {
            pool.remove(0);
        }
        pool.push(Idle {
            sock,
            since: Instant::now(),
        });
    }

    /// A connection to the backend.
    async fn connect(&self) -> std::io::Result<Stream> {
        match &self.backend {
            Backend::Unix(path) => Ok(Stream::Unix(Box::new(
                glommio::net::UnixStream::connect(path).await?,
            ))),
            Backend::Tcp { host, port } => {
                let port = *port;
                let addrs: Vec<SocketAddr> = match host.trim_matches(['[', ']']).parse::<IpAddr>() {
                    Ok(ip) => vec![SocketAddr::new(ip, port)],
                    Err(_) => {
                        let h = host.clone();
                        glommio::executor()
                            .spawn_blocking(move || {
                                std::net::ToSocketAddrs::to_socket_addrs(&(h.as_str(), port))
                                    .map(Iterator::collect)
                            })
                            .await?
                    }
                };
                let mut last = std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "the backend's name resolves to nothing",
                );
                for a in addrs {
                    match glommio::net::TcpStream::connect(a).await {
                        Ok(s) => {
                            let _ = s.set_nodelay(true);
                            return Ok(Stream::Tcp(Box::new(s)));
                        }
                        Err(e) => last = e.into(),
                    }
                }
                Err(last)
            }
        }
    }

    /// The request head to the backend.
    fn request_head(
        &self,
        req: &Request,
        mount: &str,
        rest: &str,
        peer: &str,
    ) -> Result<Vec<u8>, &'static str> {
        let h = &req.head;
        let headers = h.headers();
        let mut target = if self.script_name {
            h.path().to_owned()
        } else {
            format!("{}{}", self.prefix, rest)
        };
        if !target.starts_with('/') {
            target.insert(0, '/');
        }
        if let Some(q) = h.query() {
            target.push('?');
            target.push_str(q);
        }
        let named = connection_options(headers.get_all("connection"));
        let (client, _) = split_peer(peer);
        let mut forwarded_for = Vec::new();
        for v in headers.get_all("x-forwarded-for") {
            forwarded_for.extend_from_slice(v);
            forwarded_for.extend_from_slice(b", ");
        }
        forwarded_for.extend_from_slice(client.as_bytes());
        let mut fields: Vec<(&str, &[u8])> = Vec::with_capacity(headers.len() + 8);
        for (n, v) in headers.iter() {
            let lower = n.to_ascii_lowercase();
            if is_hop_by_hop(n)
                || named.contains(&lower)
                || matches!(
                    lower.as_str(),
                    "content-length"
                        | "host"
                        | "expect"
                        | "x-forwarded-for"
                        | "x-forwarded-proto"
                        | "x-forwarded-port"
                        | "x-forwarded-host"
                        | "x-junction-script-name"
                )
            {
                continue;
            }
            fields.push((n, v));
        }
        // `Host`: the backend's own name (as Crossbar sends it: `host`, with
        // `:port` unless 80), so that name-based virtual hosts work; the
        // client's goes in `X-Forwarded-Host`. The WSGI host gets the
        // client's (its SERVER_NAME).
        let backend_host = match &self.backend {
            Backend::Tcp { host, port: 80 } => host.clone(),
            Backend::Tcp { host, port } if host.contains(':') && !host.starts_with('[') => {
                format!("[{host}]:{port}")
            }
            Backend::Tcp { host, port } => format!("{host}:{port}"),
            Backend::Unix(_) => "localhost".to_owned(),
        };
        let client_host = headers.get("host").unwrap_or(backend_host.as_bytes());
        match &self.backend {
            Backend::Tcp { .. } => fields.push(("Host", backend_host.as_bytes())),
            Backend::Unix(_) => fields.push(("Host", client_host)),
        }
        fields.push(("X-Forwarded-For", &forwarded_for));
        fields.push(("X-Forwarded-Proto", self.proto.as_bytes()));
        let port = self.port.to_string();
        fields.push(("X-Forwarded-Port", port.as_bytes()));
        fields.push(("X-Forwarded-Host", client_host));
        let mount_field = mount.as_bytes();
        if self.script_name {
            fields.push(("X-Junction-Script-Name", mount_field));
        }
        let length;
        match req.framing.body {
            BodyLength::Length(n) => {
                length = n.to_string();
                fields.push(("Content-Length", length.as_bytes()));
            }
            BodyLength::Chunked => fields.push(("Transfer-Encoding", b"chunked")),
            BodyLength::Empty if headers.contains("content-length") => {
                fields.push(("Content-Length", b"0"));
            }
            BodyLength::Empty => {}
        }
        let upgrade_value;
        if req.framing.upgrade {
            upgrade_value = headers.get("upgrade").unwrap_or_default().to_vec();
            fields.push(("Connection", b"Upgrade"));
            fields.push(("Upgrade", &upgrade_value));
        } else if self.pool_size == 0 {
            fields.push(("Connection", b"close"));
        }
        let mut out = Vec::with_capacity(h.len() + 256);
        write_request_head(h.method_str(), &target, Version::Http11, &fields, &mut out)
            .map_err(|_| "the request cannot be forwarded")?;
        Ok(out)
    }

    /// After the backend's 101: passes it on, then pipes octets both ways.
    async fn tunnel(
        &self,
        c: &mut HttpConn,
        rh: &ResponseHead,
        mut up: Stream,
        from_up: BytesMut,
    ) -> Result<(u16, u64), Stop> {
        // A 101 has no body: nothing to stream after the head.
        let _ = c.start_streaming(rh).await?;
        let from_client = std::mem::take(&mut c.buf);
        if !from_up.is_empty() && !write_all(&mut c.sock, &from_up).await {
            return Err(Stop);
        }
        if !from_client.is_empty() && !write_all(&mut up, &from_client).await {
            return Err(Stop);
        }
        pipe(&mut c.sock, &mut up).await;
        Err(Stop)
    }
}

/// Parses the start of a backend's output: its final answer's head
/// (interim 1xx answers but 101 are skipped) as the client gets it, the
/// octets it used, and how its body ends; `keep`: whether the connection
/// may carry another exchange after it.
fn parse_answer(
    out: &[u8],
    is_head: bool,
    upgrade: bool,
    keep: &Cell<bool>,
) -> Result<Option<Head>, String> {
    let mut at = 0;
    loop {
        let (uh, used) = match parse_response_head(&out[at..], MAX_UPSTREAM_HEAD, is_head) {
            Ok(Some(h)) => h,
            Ok(None) => return Ok(None),
            Err(e) => return Err(e.reason.to_owned()),
        };
        at += used;
        if uh.status == 101 {
            if !upgrade {
                return Err("101 to a request that offered no upgrade".to_owned());
            }
            let mut rh = ResponseHead::new(101);
            copy_fields(&uh.fields, |n, v| {
                let _ = rh.header(n, v);
            });
            if let Some(u) = uh.get("upgrade") {
                let _ = rh.header("Upgrade", u);
            }
            return Ok(Some(Head::Switch(rh, at)));
        }
        if uh.status < 200 {
            continue;
        }
        keep.set(reusable(&uh));
        let mut rh = ResponseHead::new(uh.status);
        copy_fields(&uh.fields, |n, v| {
            let _ = rh.header(n, v);
        });
        let framed = |length| AnswerBody::Framed(BodyDecoder::new(length, &unlimited()));
        let (length, body) = match uh.body {
            UpstreamBody::Empty => match uh.get("content-length").map(parse_len) {
                // The answer to HEAD says how long GET's would be.
                Some(Some(n)) if is_head => (ResponseBody::Length(n), AnswerBody::None),
                _ => (ResponseBody::Empty, AnswerBody::None),
            },
            UpstreamBody::Length(n) => (ResponseBody::Length(n), framed(BodyLength::Length(n))),
            UpstreamBody::Chunked => (ResponseBody::Streamed, framed(BodyLength::Chunked)),
            UpstreamBody::UntilClose => (ResponseBody::Streamed, AnswerBody::UntilEnd),
        };
        rh.body(length);
        return Ok(Some(Head::Answer(rh, at, body)));
    }
}

/// Whether the connection an answer came on may carry another request:
/// HTTP/1.1, no `Connection: close`, a body delimited by its length or
/// chunks (not by the close).
fn reusable(uh: &UpstreamHead) -> bool {
    let closes = uh
        .fields
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
        .any(|(_, v)| {
            v.split(|b| *b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"))
        });
    uh.version == Version::Http11 && !closes && !matches!(uh.body, UpstreamBody::UntilClose)
}

/// Whether an idle backend connection still looks open: a peek finds
/// neither its end nor octets nobody asked for (only TCP is pooled).
fn still_open(sock: &Stream) -> bool {
    let Stream::Tcp(s) = sock else {
        return false;
    };
    let mut probe = [0u8; 1];
    // SAFETY: a non-blocking peek of one octet into a buffer we own, on a
    // descriptor the stream keeps open for the duration of the call.
    let n = unsafe {
        libc::recv(
            s.as_raw_fd(),
            probe.as_mut_ptr().cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::WouldBlock
}

/// Copies the octets each side sends to the other until both have closed
/// (a side's end is passed on as a shutdown of our sending side).
async fn pipe(a: &mut Stream, b: &mut Stream) {
    let mut ab = Half::default();
    let mut ba = Half::default();
    std::future::poll_fn(|cx| {
        let p1 = ab.poll(cx, a, b);
        let p2 = ba.poll(cx, b, a);
        if (p1.is_ready() && p2.is_ready()) || ab.failed || ba.failed {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
}

/// One direction of a pipe.
#[derive(Default)]
struct Half {
    /// Read and not written yet.
    buf: Vec<u8>,
    /// Written of `buf`.
    done: usize,
    /// The reading side ended.
    eof: bool,
    /// A socket failed: the pipe ends.
    failed: bool,
}

impl Half {
    fn poll(
        &mut self,
        cx: &mut std::task::Context<'_>,
        from: &mut Stream,
        to: &mut Stream,
    ) -> Poll<()> {
        loop {
            if self.done < self.buf.len() {
                let iov = [std::io::IoSlice::new(&self.buf[self.done..])];
                match to.poll_write_vectored(cx, &iov) {
                    Poll::Ready(Ok(n)) if n > 0 => self.done += n,
                    Poll::Ready(_) => {
                        self.failed = true;
                        return Poll::Ready(());
                    }
                    Poll::Pending => return Poll::Pending,
                }
                continue;
            }
            if self.eof {
                return Poll::Ready(());
            }
            self.buf.clear();
            self.done = 0;
            let read = with_scratch(|scratch| match from.poll_read(cx, scratch) {
                Poll::Ready(Ok(n)) => {
                    self.buf.extend_from_slice(&scratch[..n]);
                    Poll::Ready(Ok(n))
                }
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            });
            match read {
                Poll::Ready(Ok(0)) => {
                    self.eof = true;
                    let _ = to.shutdown_write();
                    return Poll::Ready(());
                }
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(_)) => {
                    self.failed = true;
                    return Poll::Ready(());
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// The backend's fields a client gets: all but hop-by-hop ones, those its
/// `Connection` names, and those the writer sets itself.
fn copy_fields(fields: &[(String, Vec<u8>)], mut add: impl FnMut(&str, &[u8])) {
    let named = connection_options(
        fields
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
            .map(|(_, v)| v.as_slice()),
    );
    for (n, v) in fields {
        let lower = n.to_ascii_lowercase();
        if is_hop_by_hop(n)
            || named.contains(&lower)
            || matches!(lower.as_str(), "content-length" | "date")
        {
            continue;
        }
        add(n, v);
    }
}

fn parse_len(v: &[u8]) -> Option<u64> {
    std::str::from_utf8(v).ok()?.trim().parse().ok()
}

/// Limits for decoding a backend's body: none on its size (the client
/// gets it as it comes).
fn unlimited() -> Limits {
    Limits {
        max_body: u64::MAX,
        ..Limits::default()
    }
}

/// `f`, for at most `limit`; `None` when time ran out.
async fn with_deadline<F: std::future::Future>(limit: Duration, f: F) -> Option<F::Output> {
    let timer = glommio::timer::Timer::new(limit);
    match select(pin!(f), pin!(timer)).await {
        Either::Left((v, _)) => Some(v),
        Either::Right(_) => None,
    }
}

/// A plain answer.
async fn answer(
    c: &mut HttpConn,
    status: u16,
    why: impl Into<bytes::Bytes>,
) -> Result<(u16, u64), Stop> {
    let (head, body) = text(status, why);
    let sent = c.respond(&head, body).await?;
    Ok((status, sent))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(raw: &str) -> UpstreamHead {
        parse_response_head(raw.as_bytes(), MAX_UPSTREAM_HEAD, false)
            .expect("valid head")
            .expect("complete head")
            .0
    }

    #[test]
    fn only_delimited_http11_answers_without_close_keep_their_connection() {
        let cases = [
            ("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", true),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                true,
            ),
            ("HTTP/1.1 204 No Content\r\n\r\n", true),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\n",
                false,
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: X-Hop, Close\r\n\r\n",
                false,
            ),
            ("HTTP/1.1 200 OK\r\n\r\n", false),
            ("HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\n", false),
        ];
        for (raw, keep) in cases {
            assert_eq!(reusable(&head(raw)), keep, "{raw:?}");
        }
    }
}
