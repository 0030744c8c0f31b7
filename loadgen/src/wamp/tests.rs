//! Tests of the WAMP client connection: a scripted server, and the
//! WebSocket reader fed scripted reads.

use super::*;
use glommio::net::{UnixListener, UnixStream};
use glommio::{LocalExecutorBuilder, Placement};

/// A server frame (unmasked) with FIN as given.
fn server_frame(fin: bool, op: Opcode, payload: &[u8]) -> Vec<u8> {
    let (h, n) = ws::frame_header(op, payload.len());
    let mut out = h[..n].to_vec();
    if !fin {
        out[0] &= 0x7F;
    }
    out.extend_from_slice(payload);
    out
}

/// Reads a client's WebSocket upgrade request: the request, the length of
/// its head, and every octet read so far (what follows the head included).
async fn read_upgrade(s: &mut UnixStream) -> (ws::UpgradeRequest, usize, Vec<u8>) {
    let mut buf = Vec::new();
    loop {
        let mut chunk = [0u8; 1024];
        let n = s.read(&mut chunk).await.expect("read");
        buf.extend_from_slice(&chunk[..n]);
        if let Some((req, head)) = ws::parse_upgrade(&buf).expect("valid upgrade") {
            return (req, head, buf);
        }
    }
}

/// Reads from `s` until `dec` yields a whole event; returns it owned as
/// (opcode-ish tag, payload).
async fn server_next(
    s: &mut UnixStream,
    dec: &mut Decoder,
    buf: &mut Vec<u8>,
) -> (&'static str, Vec<u8>) {
    loop {
        let got = match dec.decode(buf).expect("valid client frame") {
            Decoded::Frame { event, consumed } => {
                let e = event.map(|e| match e {
                    Event::Message(_, p) => (
                        "message",
                        match p {
                            Payload::Borrowed(b) => b.to_vec(),
                            Payload::Owned(v) => v,
                        },
                    ),
                    Event::Ping(p) => ("ping", p.to_vec()),
                    Event::Pong(p) => ("pong", p.to_vec()),
                    Event::Close(c) => (
                        "close",
                        c.map_or(vec![], |(code, _)| code.to_be_bytes().to_vec()),
                    ),
                });
                Some((e, consumed))
            }
            Decoded::Incomplete { .. } => None,
        };
        match got {
            Some((e, consumed)) => {
                buf.drain(..consumed);
                if let Some(e) = e {
                    return e;
                }
            }
            None => {
                let mut chunk = [0u8; 4096];
                let n = s.read(&mut chunk).await.expect("read");
                assert!(n > 0, "client closed early");
                buf.extend_from_slice(&chunk[..n]);
            }
        }
    }
}

/// A byte source that hands out `chunks`, one per read (cut to the
/// reader's room; the rest comes with the next read), and answers every
/// other read with `Pending` (waking its task at once), as a socket
/// with nothing to read yet would.
struct Script {
    chunks: std::collections::VecDeque<Vec<u8>>,
    pending_next: bool,
}

impl AsyncRead for Script {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut [u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        if std::mem::replace(&mut self.pending_next, false) {
            cx.waker().wake_by_ref();
            return std::task::Poll::Pending;
        }
        self.pending_next = true;
        let Some(mut chunk) = self.chunks.pop_front() else {
            return std::task::Poll::Ready(Ok(0));
        };
        let n = chunk.len().min(buf.len());
        buf[..n].copy_from_slice(&chunk[..n]);
        if n < chunk.len() {
            chunk.drain(..n);
            self.chunks.push_front(chunk);
        }
        std::task::Poll::Ready(Ok(n))
    }
}

/// Every message `src` yields until its source ends; `keep`: hold on to
/// each message (the buffer it was split off cannot be reclaimed).
fn read_all(src: &mut WsSource<Script>, keep: bool) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut alive = Vec::new();
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        while let Some(m) = src.try_next().expect("valid frames") {
            out.push(m.to_vec());
            if keep {
                alive.push(m);
            }
        }
        let n = loop {
            let read = std::pin::pin!(src.read_more());
            if let std::task::Poll::Ready(n) = read.poll(&mut cx) {
                break n.expect("scripted read");
            }
        };
        if n == 0 {
            assert_eq!(src.filled, 0, "octets left undecoded at the end");
            return out;
        }
    }
}

fn script(stream: &[u8], cuts: &[usize]) -> Script {
    let mut chunks = std::collections::VecDeque::new();
    let mut at = 0;
    for &c in cuts {
        chunks.push_back(stream[at..c].to_vec());
        at = c;
    }
    chunks.push_back(stream[at..].to_vec());
    Script {
        chunks,
        pending_next: false,
    }
}

/// A RESULT-like JSON message of `len` octets (`seq` makes each differ).
fn result_of(len: usize, seq: usize) -> Vec<u8> {
    let head = format!("[50,{seq},{{}},[\"");
    let pad = len.saturating_sub(head.len() + 3).max(1);
    format!("{head}{}\"]]", "x".repeat(pad)).into_bytes()
}

#[test]
fn a_message_split_at_every_octet_comes_out_whole() {
    // Payload lengths on both sides of the 7-bit and 16-bit length forms.
    for len in [20, 125, 126, 150, 300, 65_535, 65_536] {
        let msgs = [result_of(len, 1), result_of(40, 2)];
        let mut stream = server_frame(true, Opcode::Ping, b"p");
        for m in &msgs {
            stream.extend(server_frame(true, Opcode::Text, m));
        }
        let step = if stream.len() > 1000 { 97 } else { 1 };
        for cut in (1..stream.len()).step_by(step) {
            for keep in [false, true] {
                let mut src = WsSource::new(script(&stream, &[cut]), BytesMut::new(), 0);
                assert_eq!(read_all(&mut src, keep), msgs, "len {len}, cut at {cut}");
            }
        }
    }
}

#[test]
fn messages_survive_buffer_renewals_at_any_read_size() {
    // 400 small results with larger ones among them (over the read
    // buffer's size, over 65,535 octets), read in chunks of varying size,
    // so that buffers are renewed with a frame cut at every position.
    let mut msgs = Vec::new();
    for i in 0..400 {
        let len = match i % 50 {
            7 => WS_READ_BUF + 3_000,
            31 => 70_000,
            k => 100 + k * 7,
        };
        msgs.push(result_of(len, i));
    }
    let mut stream = Vec::new();
    for m in &msgs {
        stream.extend(server_frame(true, Opcode::Text, m));
    }
    let mut seed = 0x2545_f491_u64;
    for chunk_max in [1, 7, 150, 1_500, 20_000] {
        for keep in [false, true] {
            let mut cuts = Vec::new();
            let mut at = 0;
            loop {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                at += 1 + (seed >> 33) as usize % chunk_max;
                if at >= stream.len() {
                    break;
                }
                cuts.push(at);
            }
            // The handshake's leftovers: the first frame's head in the
            // initial buffer, as `ws_handshake` hands it over.
            let mut first = BytesMut::zeroed(WS_READ_BUF);
            first[..3].copy_from_slice(&stream[..3]);
            let rest = stream[3..].to_vec();
            let cuts: Vec<usize> = cuts.iter().filter(|&&c| c > 3).map(|c| c - 3).collect();
            let mut src = WsSource::new(script(&rest, &cuts), first, 3);
            let got = read_all(&mut src, keep);
            assert_eq!(
                got.len(),
                msgs.len(),
                "chunks up to {chunk_max}, keep {keep}"
            );
            assert!(got == msgs, "chunks up to {chunk_max}, keep {keep}");
        }
    }
}

#[test]
fn websocket_client_against_a_scripted_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ws.sock");
    LocalExecutorBuilder::new(Placement::Unbound)
        .spawn(move || async move {
            let listener = UnixListener::bind(&path).expect("bind");
            let big = format!("[36,1,3,{{}},[\"{}\"]]", "x".repeat(100_000));
            let big2 = big.clone();
            let server = glommio::spawn_local(async move {
                let mut s = listener.accept().await.expect("accept");
                // The upgrade request.
                let (req, head, mut buf) = read_upgrade(&mut s).await;
                assert_eq!(req.path, "/ws");
                assert_eq!(req.protocols, vec!["wamp.2.json"]);
                buf.drain(..head);
                // 101 and WELCOME in one write: the client must keep the
                // frame that follows the head.
                let mut out = ws::switching_protocols(&req.key, "wamp.2.json");
                out.extend(server_frame(true, Opcode::Text, b"[2,123,{}]"));
                s.write_all(&out).await.expect("write");
                let mut dec = Decoder::new(1 << 20, 1 << 20);
                let (kind, hello) = server_next(&mut s, &mut dec, &mut buf).await;
                assert_eq!(kind, "message");
                let hello = Serializer::Json.decode(&hello).expect("HELLO");
                assert!(matches!(hello, Message::Hello(h) if h.realm.as_deref() == Some("realm1")));
                // A ping, a fragmented EVENT with a pong between, one over
                // the read buffer's size, then a close.
                let mut out = server_frame(true, Opcode::Ping, b"p1");
                out.extend(server_frame(false, Opcode::Text, b"[36,1,2,"));
                out.extend(server_frame(true, Opcode::Pong, b"ignored"));
                out.extend(server_frame(true, Opcode::Continuation, b"{},[\"a\"]]"));
                out.extend(server_frame(true, Opcode::Text, big2.as_bytes()));
                out.extend(ws::close_frame(1000, "bye"));
                s.write_all(&out).await.expect("write");
                let pong = server_next(&mut s, &mut dec, &mut buf).await;
                assert_eq!(pong, ("pong", b"p1".to_vec()));
                let close = server_next(&mut s, &mut dec, &mut buf).await;
                assert_eq!(close, ("close", 1000u16.to_be_bytes().to_vec()));
            });
            let url = format!(
                "ws+unix://{}?path=/ws",
                dir.path().join("ws.sock").display()
            );
            let target = Target::parse(&url).expect("url");
            let mut conn = WampConn::connect(&target, Serializer::Json, "realm1", None)
                .await
                .expect("connect");
            assert_eq!(conn.session, 123);
            let first = conn.next_raw().await.expect("ok").expect("a message");
            assert_eq!(&first[..], b"[36,1,2,{},[\"a\"]]");
            let second = conn.next_raw().await.expect("ok").expect("a message");
            assert_eq!(&second[..], big.as_bytes());
            assert!(matches!(
                conn.reader.decode(&second).expect("EVENT"),
                Message::Event(_)
            ));
            assert_eq!(conn.next_raw().await.expect("ok"), None);
            server.await;
        })
        .expect("executor")
        .join()
        .expect("join");
}

/// The reader and the writer of one connection in two tasks, as an `rpc`
/// caller runs them: every message the server sends reaches the reader,
/// in order, while the writer task keeps writing (the halves share the
/// stream through futures' split lock; a read that completes while the
/// writer is busy must still wake the reader).
#[test]
fn a_reader_task_gets_every_message_while_a_writer_task_writes() {
    const N: u64 = 2_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("split.sock");
    LocalExecutorBuilder::new(Placement::Unbound)
        .spawn(move || async move {
            let listener = UnixListener::bind(&path).expect("bind");
            let server = glommio::spawn_local(async move {
                let mut s = listener.accept().await.expect("accept");
                let (req, head, mut buf) = read_upgrade(&mut s).await;
                buf.drain(..head);
                let mut out = ws::switching_protocols(&req.key, "wamp.2.json");
                out.extend(server_frame(true, Opcode::Text, b"[2,7,{}]"));
                s.write_all(&out).await.expect("write");
                let (mut rx, mut tx) = s.split();
                // Whatever the client writes is read and dropped.
                let drain = glommio::spawn_local(async move {
                    let mut chunk = vec![0u8; 64 * 1024];
                    while rx.read(&mut chunk).await.expect("read") > 0 {}
                });
                // Bursts of 1 to 7 messages, some with a pause after them.
                let mut i = 0;
                let mut burst = 0;
                while i < N {
                    burst = burst % 7 + 1;
                    let mut out = Vec::new();
                    for _ in 0..burst.min(N - i) {
                        out.extend(server_frame(
                            true,
                            Opcode::Text,
                            format!("[50,{i},{{}}]").as_bytes(),
                        ));
                        i += 1;
                    }
                    tx.write_all(&out).await.expect("write");
                    if burst % 3 == 0 {
                        glommio::timer::sleep(std::time::Duration::from_micros(50)).await;
                    } else {
                        glommio::yield_if_needed().await;
                    }
                }
                drain.await;
            });
            let url = format!(
                "ws+unix://{}?path=/ws",
                dir.path().join("split.sock").display()
            );
            let target = Target::parse(&url).expect("url");
            let conn = WampConn::connect(&target, Serializer::Json, "realm1", None)
                .await
                .expect("connect");
            assert_eq!(conn.session, 7);
            let WampConn {
                mut reader,
                mut writer,
                ..
            } = conn;
            let done = Rc::new(std::cell::Cell::new(false));
            let writing = {
                let done = done.clone();
                glommio::spawn_local(async move {
                    let mut sent = 0u64;
                    while !done.get() {
                        let req = writer.request_id();
                        writer
                            .send(&Message::Call(junction::proto::Call {
                                request: junction::proto::RequestId(req),
                                options: Dict::new(),
                                procedure: "p".into(),
                                payload: junction::proto::Payload::default(),
                            }))
                            .await
                            .expect("send");
                        sent += 1;
                        glommio::yield_if_needed().await;
                        futures_lite::future::yield_now().await;
                    }
                    sent
                })
            };
            for i in 0..N {
                let got = reader.recv_raw().await.expect("ok").expect("a message");
                assert_eq!(&got[..], format!("[50,{i},{{}}]").as_bytes());
            }
            done.set(true);
            let sent = writing.await;
            assert!(sent > 0, "the writer wrote meanwhile");
            let stats = reader.stats();
            assert_eq!(stats.messages.load(Ordering::Relaxed), N + 1);
            assert_eq!(stats.buffered.load(Ordering::Relaxed), 0);
            drop(reader);
            server.await;
        })
        .expect("executor")
        .join()
        .expect("join");
}
