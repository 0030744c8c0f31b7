//! WAMP-over-RawSocket: the server side of one connection.
//!
//! The handshake and framing rules live in [`crate::proto::rawsocket`]; this
//! module does the I/O. Handshake: read the client's 4 octets (within
//! `open_handshake_timeout_ms`); a wrong magic octet fails the connection
//! without a reply; non-zero reserved octets get error 3; a serializer that is
//! not enabled on this transport gets error 1. Then [`ConnectionHooks::open`] is
//! asked *before* the success reply goes out, so that a refusal can still be
//! answered with error 4 ("maximum connection count reached").
//!
//! The router announces `min(options.max_message_size, router limit)` rounded
//! down to a power of two (512 B ..= 16 MiB) and enforces exactly what it
//! announced: a longer frame, a reserved type or reserved bits fail the
//! connection (the spec: "a Peer MUST fail the connection"). PINGs are answered
//! with a PONG carrying the same payload, written by the writer ahead of the
//! next WAMP messages. The client's announced limit is passed to the router
//! (`ConnInfo::max_outbound`), which answers instead of sending a longer message
//! (an oversize RESULT becomes ERROR `wamp.error.payload_size_exceeded`, an
//! oversize INVOCATION fails the call, an oversize EVENT skips that subscriber);
//! should one still reach the writer, it is dropped and logged.
//!
//! When the outbox asks for a close, what was queued before is written, then our
//! side is shut down and the peer gets [`CLOSE_TIMEOUT`] to close its side.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::io;
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::future::{FutureExt, select};
use futures::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{CLOSE_TIMEOUT, ClosedOnDrop, ConnInfo, ConnectionHooks, StallGuard, with_timeout};
use crate::config::{TransportConfig, TransportKind};
use crate::proto::Serializer;
use crate::proto::rawsocket::{
    self as wire, ERR_MAX_CONNECTIONS, ERR_SERIALIZER_UNSUPPORTED, FrameKind, MAX_FRAME_PAYLOAD,
};
use crate::router::outbox::OutboxRef;

/// Smallest read; also the read buffer an idle connection keeps.
pub const READ_CHUNK: usize = 4 * 1024;
/// Largest single read into the frame buffer (bounds the zero-filling per read).
const MAX_READ: usize = 64 * 1024;
/// A read buffer that grew past this is given back once it is empty.
const KEEP_READ_BUFFER: usize = 64 * 1024;
/// Payloads at least this long are written straight from their `Bytes` instead
/// of being copied into the write buffer.
const DIRECT_WRITE: usize = 16 * 1024;
/// A write buffer that grew past this is given back after the batch.
const KEEP_WRITE_BUFFER: usize = 64 * 1024;
/// PONGs waiting to be written; a peer that pings faster than it reads is dropped.
const MAX_PENDING_PONGS: usize = 64;

/// Why the connection's main phase ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// EOF or an I/O error.
    Gone,
    /// A frame the spec says must fail the connection.
    BadFrame(wire::FrameError),
    /// Too many unanswered PINGs.
    PingFlood,
    /// The outbox asked for a close and everything queued was written.
    CloseRequested,
}

/// PONG payloads the reader hands to the writer (the outbox carries only WAMP messages).
#[derive(Default)]
struct Pongs {
    /// Payloads to echo, oldest first.
    queue: VecDeque<Bytes>,
    /// The writer, parked while it has nothing to write.
    waker: Option<Waker>,
}

/// Serves one RawSocket connection on `stream` (any byte stream: TCP, Unix, TLS).
/// See [`super::serve`] for the contract with `hooks`.
pub async fn serve_rawsocket<S, H>(
    mut stream: S,
    peer: String,
    transport: Rc<TransportConfig>,
    max_message_size: usize,
    hooks: H,
) where
    S: AsyncRead + AsyncWrite + Unpin,
    H: ConnectionHooks,
{
    let mut hooks = ClosedOnDrop(hooks);
    let config = Rc::clone(&transport);
    let TransportKind::RawSocket(opts) = &config.kind else {
        return; // not a RawSocket transport
    };

    let mut request = [0u8; 4];
    let timeout = Duration::from_millis(opts.open_handshake_timeout_ms);
    match with_timeout(timeout, stream.read_exact(&mut request)).await {
        Some(Ok(())) => {}
        Some(Err(e)) => {
            tracing::debug!(%peer, error = %e, "rawsocket handshake read failed");
            return;
        }
        None => {
            tracing::debug!(%peer, "rawsocket opening handshake timed out");
            return;
        }
    }
    let client = match wire::parse_client_handshake(request) {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(%peer, error = %e, "rawsocket handshake refused");
            if let Some(code) = e.reply_code() {
                reply_and_close(stream, wire::error_reply(code)).await;
            }
            return;
        }
    };
    let Some(serializer) = Serializer::from_rawsocket_id(client.serializer_id)
        .filter(|s| transport.serializers.contains(s))
    else {
        tracing::debug!(%peer, id = client.serializer_id, "rawsocket serializer not enabled");
        reply_and_close(stream, wire::error_reply(ERR_SERIALIZER_UNSUPPORTED)).await;
        return;
    };

    let announced = wire::announced_max_len(opts.max_message_size.min(max_message_size));
    // Largest frame we may send: what the client announced, within 24 bits.
    let send_max = client.max_len.min(MAX_FRAME_PAYLOAD);

    let info = ConnInfo {
        serializer,
        transport,
        protocol: "rawsocket",
        peer,
        max_outbound: Some(send_max),
    };
    let outbox = match hooks.0.open(info) {
        Ok(o) => o,
        Err(refused) => {
            tracing::debug!(reason = refused.0, "rawsocket connection refused");
            reply_and_close(stream, wire::error_reply(ERR_MAX_CONNECTIONS)).await;
            return;
        }
    };
    let reply = wire::server_handshake_reply(client.serializer_id, announced);
    if with_timeout(CLOSE_TIMEOUT, stream.write_all(&reply))
        .await
        .is_none_or(|r| r.is_err())
    {
        return;
    }

    let stream = RefCell::new(stream);
    let pongs = RefCell::new(Pongs::default());
    let end = {
        let reader = pin!(read_loop(&stream, &mut hooks.0, &outbox, &pongs, announced));
        let writer = pin!(write_loop(&stream, &outbox, &pongs, send_max));
        select(reader, writer).map(|e| e.factor_first().0).await
    };
    match end {
        End::CloseRequested => linger(stream.into_inner()).await,
        End::BadFrame(e) => tracing::debug!(error = %e, "rawsocket frame refused"),
        End::PingFlood => tracing::debug!("rawsocket peer pings faster than it reads"),
        End::Gone => {}
    }
}

/// Sends a 4-octet handshake reply and ends the connection.
async fn reply_and_close<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, reply: [u8; 4]) {
    let send = async {
        stream.write_all(&reply).await?;
        stream.close().await
    };
    let _ = with_timeout(CLOSE_TIMEOUT, send).await;
}

/// Shuts our side down and waits (at most [`CLOSE_TIMEOUT`]) for the peer to
/// close its side, discarding what it still sends.
async fn linger<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) {
    let drain = async {
        let _ = stream.close().await;
        let mut sink = [0u8; 1024];
        while let Ok(n) = stream.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    };
    let _ = with_timeout(CLOSE_TIMEOUT, drain).await;
}

/// Reads frames and hands WAMP messages to the router, PING payloads to the
/// writer. Once the outbox is closed, messages are read but no longer handed on.
async fn read_loop<S, H>(
    stream: &RefCell<S>,
    hooks: &mut H,
    outbox: &OutboxRef,
    pongs: &RefCell<Pongs>,
    max_len: usize,
) -> End
where
    S: AsyncRead + AsyncWrite + Unpin,
    H: ConnectionHooks,
{
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    loop {
        loop {
            match wire::decode_frame(&mut buf, max_len) {
                Ok(Some((FrameKind::Message, data))) => {
                    if !outbox.borrow().is_closed() {
                        hooks.frame(data);
                    }
                }
                Ok(Some((FrameKind::Ping, data))) => {
                    let mut p = pongs.borrow_mut();
                    if p.queue.len() >= MAX_PENDING_PONGS {
                        return End::PingFlood;
                    }
                    p.queue.push_back(data);
                    if let Some(w) = p.waker.take() {
                        w.wake();
                    }
                }
                Ok(Some((FrameKind::Pong, _))) => {}
                Ok(None) => break,
                Err(e) => return End::BadFrame(e),
            }
        }
        if buf.is_empty() && buf.capacity() > KEEP_READ_BUFFER {
            buf = BytesMut::with_capacity(READ_CHUNK);
        }
        // Room for the rest of the current frame (decode_frame has checked its
        // length against the limit), read in bounded steps.
        let needed = wire::bytes_needed(&buf);
        buf.reserve(needed.max(READ_CHUNK));
        let start = buf.len();
        let step = needed.clamp(READ_CHUNK, MAX_READ);
        buf.resize(start + step, 0);
        let read =
            poll_fn(|cx| Pin::new(&mut *stream.borrow_mut()).poll_read(cx, &mut buf[start..]))
                .await;
        match read {
            Ok(0) | Err(_) => return End::Gone,
            Ok(n) => buf.truncate(start + n),
        }
    }
}

/// Writes PONGs and outbox frames, many per write; ends once the outbox's close
/// request is reached.
async fn write_loop<S>(
    stream: &RefCell<S>,
    outbox: &OutboxRef,
    pongs: &RefCell<Pongs>,
    send_max: usize,
) -> End
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let guard = StallGuard::new(outbox);
    let mut batch: VecDeque<Bytes> = VecDeque::new();
    let mut pong_batch: VecDeque<Bytes> = VecDeque::new();
    let mut out: Vec<u8> = Vec::new();
    loop {
        poll_fn(|cx| {
            let mut p = pongs.borrow_mut();
            if !p.queue.is_empty() {
                return Poll::Ready(());
            }
            match &p.waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => p.waker = Some(cx.waker().clone()),
            }
            drop(p);
            outbox.borrow_mut().poll_ready(cx)
        })
        .await;
        pong_batch.append(&mut pongs.borrow_mut().queue);
        let close = {
            let mut o = outbox.borrow_mut();
            o.drain_into(&mut batch);
            o.close_reason().is_some()
        };
        let frames = pong_batch
            .drain(..)
            .map(|p| (FrameKind::Pong, p))
            .chain(batch.drain(..).map(|f| (FrameKind::Message, f)));
        for (kind, payload) in frames {
            if payload.len() > send_max {
                tracing::warn!(
                    len = payload.len(),
                    max = send_max,
                    "dropping a message longer than the rawsocket peer accepts"
                );
                continue;
            }
            let Ok(header) = wire::encode_header(kind, payload.len()) else {
                continue; // send_max is within 24 bits, so this does not happen.
            };
            out.extend_from_slice(&header);
            if payload.len() >= DIRECT_WRITE {
                let both = async {
                    write_all(stream, &out).await?;
                    write_all(stream, &payload).await
                };
                if !matches!(guard.write(both).await, Some(Ok(()))) {
                    return End::Gone;
                }
                out.clear();
            } else {
                out.extend_from_slice(&payload);
            }
        }
        if !out.is_empty() {
            let written = guard.write(write_all(stream, &out)).await;
            if !matches!(written, Some(Ok(()))) {
                return End::Gone;
            }
            out.clear();
        }
        if out.capacity() > KEEP_WRITE_BUFFER {
            out = Vec::new();
        }
        if close {
            return End::CloseRequested;
        }
    }
}

/// Writes all of `data`, borrowing the stream only inside each poll.
async fn write_all<S: AsyncWrite + Unpin>(stream: &RefCell<S>, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        let n = poll_fn(|cx| Pin::new(&mut *stream.borrow_mut()).poll_write(cx, data)).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        data = &data[n..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::Duration;

    use bytes::Bytes;
    use rstest::rstest;

    use crate::config::{Endpoint, RawSocketOptions};
    use crate::proto::Serializer;
    use crate::transport::testutil::{Behaviour, Outcome, raw_transport, run_one};

    const ALL: &[Serializer] = &Serializer::ALL;
    const MIB: usize = 1 << 20;

    fn tcp(addr: &str) -> TcpStream {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        s
    }

    fn read_n<S: Read>(s: &mut S, n: usize) -> Vec<u8> {
        let mut buf = vec![0u8; n];
        s.read_exact(&mut buf).expect("read");
        buf
    }

    /// Whether the server ended the connection: EOF or reset, never a timeout.
    fn ended<S: Read>(s: &mut S) -> bool {
        match s.read(&mut [0u8; 64]) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }

    fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
        let len = payload.len();
        let mut f = vec![kind, (len >> 16) as u8, (len >> 8) as u8, len as u8];
        f.extend_from_slice(payload);
        f
    }

    /// Serves one RawSocket connection with `opts` and the router limit `limit`.
    fn run<R: Send + 'static>(
        opts: RawSocketOptions,
        serializers: &[Serializer],
        limit: usize,
        behaviour: Behaviour,
        client: impl FnOnce(TcpStream) -> R + Send + 'static,
    ) -> (Outcome, R) {
        run_one(
            raw_transport(opts, serializers),
            limit,
            behaviour,
            move |addr| client(tcp(&addr)),
        )
    }

    #[rstest]
    #[case::one_mib(MIB, 16 * MIB, 0xB2)]
    #[case::router_limit_wins(16 * MIB, 1000, 0x02)]
    #[case::rounded_down(3 * MIB, 16 * MIB, 0xC2)] // 2 MiB
    #[case::sixteen_mib(64 * MIB, 64 * MIB, 0xF2)]
    fn success_reply_announces_the_rounded_limit(
        #[case] transport_max: usize,
        #[case] router_max: usize,
        #[case] second_octet: u8,
    ) {
        let opts = RawSocketOptions {
            max_message_size: transport_max,
            ..RawSocketOptions::default()
        };
        let (out, reply) = run(opts, ALL, router_max, Behaviour::Echo, |mut s| {
            s.write_all(&[0x7F, 0xF2, 0, 0]).expect("handshake");
            read_n(&mut s, 4)
        });
        assert_eq!(reply, vec![0x7F, second_octet, 0, 0]);
        assert_eq!((out.opened, out.closed), (1, 1));
        let (serializer, protocol, peer) = out.info.expect("opened");
        assert_eq!((serializer, protocol), (Serializer::MsgPack, "rawsocket"));
        assert!(peer.starts_with("tcp4:127.0.0.1:"), "peer {peer}");
    }

    #[test]
    fn echoes_messages_and_answers_ping_with_same_payload() {
        let (out, ()) = run(
            RawSocketOptions::default(),
            ALL,
            MIB,
            Behaviour::Echo,
            |mut s| {
                s.write_all(&[0x7F, 0xF1, 0, 0]).expect("handshake");
                assert_eq!(read_n(&mut s, 4), vec![0x7F, 0xB1, 0, 0]);
                s.write_all(&frame(0, b"[1,\"realm1\",{}]")).expect("send");
                assert_eq!(read_n(&mut s, 19), frame(0, b"[1,\"realm1\",{}]"));
                s.write_all(&frame(1, b"ping payload")).expect("ping");
                assert_eq!(read_n(&mut s, 16), frame(2, b"ping payload"));
                s.write_all(&frame(1, b"")).expect("empty ping");
                assert_eq!(read_n(&mut s, 4), frame(2, b""));
                // A PONG from the client is ignored.
                s.write_all(&frame(2, b"x")).expect("pong");
                // A frame split into single octets is reassembled.
                for b in frame(0, b"[2]") {
                    s.write_all(&[b]).expect("octet");
                }
                assert_eq!(read_n(&mut s, 7), frame(0, b"[2]"));
            },
        );
        assert_eq!(
            out.frames,
            vec![
                Bytes::from_static(b"[1,\"realm1\",{}]"),
                Bytes::from_static(b"[2]")
            ]
        );
        assert_eq!((out.opened, out.closed), (1, 1));
    }

    #[test]
    fn burst_is_written_in_order() {
        let (out, ()) = run(
            RawSocketOptions::default(),
            ALL,
            MIB,
            Behaviour::Echo,
            |mut s| {
                s.write_all(&[0x7F, 0xF1, 0, 0]).expect("handshake");
                read_n(&mut s, 4);
                s.write_all(&frame(0, b"burst")).expect("send");
                for i in 0..1000 {
                    let want = frame(0, format!("frame {i}").as_bytes());
                    assert_eq!(read_n(&mut s, want.len()), want);
                }
            },
        );
        assert_eq!(out.closed, 1);
    }

    #[test]
    fn large_message_round_trips() {
        let (_, ()) = run(
            RawSocketOptions::default(),
            ALL,
            4 * MIB,
            Behaviour::Echo,
            |mut s| {
                s.write_all(&[0x7F, 0xF2, 0, 0]).expect("handshake");
                read_n(&mut s, 4);
                let payload: Vec<u8> = (0..3 * MIB).map(|i| i as u8).collect();
                let f = frame(0, &payload);
                let mut w = s.try_clone().expect("clone");
                let writer = std::thread::spawn(move || w.write_all(&f).expect("send"));
                assert_eq!(read_n(&mut s, 4 + payload.len()), frame(0, &payload));
                writer.join().expect("writer");
            },
        );
    }

    #[test]
    fn bad_magic_fails_without_reply() {
        let (out, closed) = run(
            RawSocketOptions::default(),
            ALL,
            MIB,
            Behaviour::Echo,
            |mut s| {
                s.write_all(b"GET / HTTP/1.1\r\n\r\n").expect("send");
                ended(&mut s)
            },
        );
        assert!(closed);
        assert_eq!((out.opened, out.closed), (0, 1));
    }

    #[rstest]
    #[case::reserved_third_octet([0x7F, 0xF1, 1, 0], 0x30)]
    #[case::reserved_fourth_octet([0x7F, 0xF1, 0, 0x10], 0x30)]
    #[case::illegal_serializer_zero([0x7F, 0xF0, 0, 0], 0x10)]
    #[case::disabled_msgpack([0x7F, 0xF2, 0, 0], 0x10)]
    #[case::disabled_cbor([0x7F, 0xF3, 0, 0], 0x10)]
    #[case::unknown_serializer([0x7F, 0xF9, 0, 0], 0x10)]
    fn handshake_errors_are_answered(#[case] request: [u8; 4], #[case] second_octet: u8) {
        let (out, (reply, closed)) = run(
            RawSocketOptions::default(),
            &[Serializer::Json],
            MIB,
            Behaviour::Echo,
            move |mut s| {
                s.write_all(&request).expect("handshake");
                (read_n(&mut s, 4), ended(&mut s))
            },
        );
        assert_eq!(reply, vec![0x7F, second_octet, 0, 0]);
        assert!(closed);
        assert_eq!((out.opened, out.closed), (0, 1));
    }

    #[test]
    fn refused_connection_gets_error_4() {
        let (out, (reply, closed)) = run(
            RawSocketOptions::default(),
            ALL,
            MIB,
            Behaviour::Refuse,
            |mut s| {
                s.write_all(&[0x7F, 0xF1, 0, 0]).expect("handshake");
                (read_n(&mut s, 4), ended(&mut s))
            },
        );
        assert_eq!(reply, vec![0x7F, 0x40, 0, 0]);
        assert!(closed);
        assert_eq!((out.opened, out.closed), (1, 1));
    }

    #[rstest]
    #[case::one_over_the_limit(frame(0, &[b'x'; 513]))]
    #[case::header_alone_is_enough(vec![0, 0xFF, 0xFF, 0xFF])]
    #[case::reserved_type(frame(3, b"[]"))]
    #[case::reserved_bits(frame(0x08, b"[]"))]
    fn bad_frames_drop_the_connection(#[case] bad: Vec<u8>) {
        let opts = RawSocketOptions {
            max_message_size: 512,
            ..RawSocketOptions::default()
        };
        let (out, closed) = run(opts, ALL, MIB, Behaviour::Echo, move |mut s| {
            s.write_all(&[0x7F, 0xF1, 0, 0]).expect("handshake");
            assert_eq!(read_n(&mut s, 4), vec![0x7F, 0x01, 0, 0]);
            s.write_all(&frame(0, &[b'y'; 512])).expect("at the limit");
            assert_eq!(read_n(&mut s, 516), frame(0, &[b'y'; 512]));
            let _ = s.write_all(&bad);
            ended(&mut s)
        });
        assert!(closed);
        assert_eq!(
            out.frames.len(),
            1,
            "only the frame within the limit reached the router"
        );
        assert_eq!((out.opened, out.closed), (1, 1));
    }

    #[test]
    fn messages_longer_than_the_client_accepts_are_not_sent() {
        let (out, ()) = run(
            RawSocketOptions::default(),
            ALL,
            MIB,
            Behaviour::Echo,
            |mut s| {
                s.write_all(&[0x7F, 0x01, 0, 0])
                    .expect("handshake (client takes 512 octets)");
                read_n(&mut s, 4);
                s.write_all(&frame(0, &[b'z'; 600])).expect("long");
                s.write_all(&frame(0, b"ok")).expect("short");
                assert_eq!(read_n(&mut s, 6), frame(0, b"ok"));
            },
        );
        assert_eq!(out.frames.len(), 2);
        assert_eq!(out.closed, 1);
    }

    #[test]
    fn outbox_close_flushes_then_ends_the_connection() {
        let (out, ()) = run(
            RawSocketOptions::default(),
            ALL,
            MIB,
            Behaviour::Echo,
            |mut s| {
                s.write_all(&[0x7F, 0xF1, 0, 0]).expect("handshake");
                read_n(&mut s, 4);
                s.write_all(&frame(0, b"close-normal")).expect("send");
                assert_eq!(read_n(&mut s, 7), frame(0, b"bye"));
                assert!(ended(&mut s));
            },
        );
        assert_eq!((out.opened, out.closed), (1, 1));
        assert!(
            out.elapsed < Duration::from_millis(900),
            "{:?}",
            out.elapsed
        );
    }

    #[test]
    fn slow_consumer_is_dropped_after_close_even_if_it_never_reads() {
        let (out, ()) = run(
            RawSocketOptions::default(),
            ALL,
            MIB,
            Behaviour::Echo,
            |mut s| {
                s.write_all(&[0x7F, 0xF1, 0, 0]).expect("handshake");
                read_n(&mut s, 4);
                s.write_all(&frame(0, b"flood")).expect("send");
                std::thread::sleep(Duration::from_secs(4)); // never reads
            },
        );
        assert!(
            out.elapsed < Duration::from_secs(3),
            "server gave up on the stuck write: {:?}",
            out.elapsed
        );
        assert_eq!((out.opened, out.closed), (1, 1));
    }

    #[test]
    fn opening_handshake_times_out() {
        let opts = RawSocketOptions {
            open_handshake_timeout_ms: 100,
            ..RawSocketOptions::default()
        };
        let (out, closed) = run(opts, ALL, MIB, Behaviour::Echo, |mut s| {
            s.write_all(&[0x7F]).expect("partial handshake");
            ended(&mut s)
        });
        assert!(closed);
        assert!(out.elapsed < Duration::from_secs(2));
        assert_eq!((out.opened, out.closed), (0, 1));
    }

    #[test]
    fn works_over_a_unix_socket_replacing_a_stale_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("raw.sock");
        // A socket file left behind by a listener that is gone.
        drop(std::os::unix::net::UnixListener::bind(&path).expect("stale listener"));
        assert!(path.exists());
        let mut t = raw_transport(RawSocketOptions::default(), ALL);
        t.endpoint = Endpoint::Unix { path: path.clone() };
        let (out, ()) = run_one(t, MIB, Behaviour::Echo, move |addr| {
            assert_eq!(addr, path.display().to_string());
            let mut s = std::os::unix::net::UnixStream::connect(&addr).expect("connect");
            s.set_read_timeout(Some(Duration::from_secs(5)))
                .expect("timeout");
            s.write_all(&[0x7F, 0xF3, 0, 0]).expect("handshake");
            assert_eq!(read_n(&mut s, 4), vec![0x7F, 0xB3, 0, 0]);
            s.write_all(&frame(0, b"\x81\x01")).expect("send");
            assert_eq!(read_n(&mut s, 6), frame(0, b"\x81\x01"));
        });
        let (serializer, _, peer) = out.info.expect("opened");
        assert_eq!((serializer, peer.as_str()), (Serializer::Cbor, "unix"));
        assert_eq!(out.closed, 1);
    }
}
