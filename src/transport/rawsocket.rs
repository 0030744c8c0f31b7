//! WAMP-over-RawSocket: the opening handshake and the framing
//! ([`crate::proto::rawsocket`]) of one server-side connection; the connection
//! itself runs on the shared driver (`transport/conn.rs`).
//!
//! Handshake: read the client's 4 octets (within `open_handshake_timeout_ms`);
//! a wrong magic octet fails the connection without a reply; non-zero reserved
//! octets get error 3; a serializer that is not enabled on this transport gets
//! error 1. Then [`ConnectionHooks::open`] is asked *before* the success reply
//! goes out, so that a refusal can still be answered with error 4 ("maximum
//! connection count reached").
//!
//! The router announces `min(options.max_message_size, router limit)` rounded
//! down to a power of two (512 B ..= 16 MiB) and enforces exactly what it
//! announced: a longer frame, a reserved type or reserved bits fail the
//! connection (the spec: "a Peer MUST fail the connection"): it is dropped
//! without a reply. PINGs are answered with a PONG carrying the same payload,
//! written ahead of the next WAMP messages (at a message boundary); a peer that
//! pings faster than it reads is dropped. The client's announced limit is
//! passed to the router (`LinkInfo::max_outbound`), which answers instead of
//! sending a longer message (an oversize RESULT becomes ERROR
//! `wamp.error.payload_size_exceeded`, an oversize INVOCATION fails the call,
//! an oversize EVENT skips that subscriber, and a message the client must get
//! that does not fit even shortened, such as a WELCOME larger than a small
//! announced limit, gets ABORT `wamp.error.payload_size_exceeded` and the
//! connection closes); should one still reach the writer, it is dropped and
//! logged.
//!
//! RawSocket has no close frame: when the outbox asks for a close, what was
//! queued before is written, then our side is shut down and the peer gets
//! [`CLOSE_TIMEOUT`] to close its side.

use std::borrow::Cow;
use std::future::{Future, poll_fn};
use std::io;
use std::rc::Rc;
use std::time::Duration;

use super::conn::{self, Conn, Decoded, Fail, Frame, Framing, MAX_HEADER};
use super::socket::Socket;
use super::{CLOSE_TIMEOUT, ConnectionHooks, Stream, with_timeout};
use crate::config::{TransportConfig, TransportKind};
use crate::core::api::{FrontEnd, LinkInfo};
use crate::proto::Serializer;
use crate::proto::rawsocket::{
    self as wire, ERR_MAX_CONNECTIONS, ERR_SERIALIZER_UNSUPPORTED, FrameKind, HEADER_LEN,
    MAX_FRAME_PAYLOAD,
};

/// Control-frame (PONG) octets waiting to be written; a peer that pings faster
/// than it reads is dropped past this.
const MAX_PENDING_CONTROL: usize = 64 * 1024;

/// The RawSocket framing of one connection: the limits both handshakes announced.
pub(super) struct RawFraming {
    /// Largest frame we accept (what we announced).
    max_len: usize,
    /// Largest frame we may send (what the client announced, within 24 bits).
    send_max: usize,
}

impl RawFraming {
    /// Appends a frame of `kind` to `out`, unless it is longer than the peer accepts.
    fn push(&self, kind: FrameKind, payload: &[u8], out: &mut Vec<u8>) {
        if payload.len() > self.send_max {
            tracing::warn!(
                len = payload.len(),
                max = self.send_max,
                "dropping a control frame longer than the rawsocket peer accepts"
            );
            return;
        }
        let header = wire::encode_header(kind, payload.len())
            .expect("send_max is within the 24 bits of a header");
        out.extend_from_slice(&header);
        out.extend_from_slice(payload);
    }
}

/// The connection must be failed: log why, drop it (no reply).
fn refuse_frame(e: wire::FrameError) -> Fail {
    tracing::debug!(error = %e, "rawsocket frame refused");
    Fail(0, "rawsocket frame refused")
}

impl Framing for RawFraming {
    const MAX_PENDING_CONTROL: usize = MAX_PENDING_CONTROL;

    fn decode<'a>(&mut self, buf: &'a mut [u8]) -> Result<Decoded<'a>, Fail> {
        let Some(head) = buf.first_chunk::<HEADER_LEN>() else {
            return Ok(Decoded::Incomplete { needed: HEADER_LEN });
        };
        let header = wire::decode_header(*head).map_err(refuse_frame)?;
        if header.len > self.max_len {
            return Err(refuse_frame(wire::FrameError::TooLong {
                len: header.len,
                max: self.max_len,
            }));
        }
        let end = HEADER_LEN + header.len;
        let Some(payload) = buf.get(HEADER_LEN..end) else {
            return Ok(Decoded::Incomplete { needed: end });
        };
        let frame = match header.kind {
            FrameKind::Message => Frame::Message(Cow::Borrowed(payload)),
            FrameKind::Ping => Frame::Ping(payload),
            FrameKind::Pong => Frame::Pong,
        };
        Ok(Decoded::Frame {
            frame: Some(frame),
            consumed: end,
        })
    }

    fn data_header(&self, len: usize) -> ([u8; MAX_HEADER], usize) {
        let header = wire::encode_header(FrameKind::Message, len)
            .expect("frames longer than send_max (within 24 bits) are not sent");
        let mut h = [0u8; MAX_HEADER];
        h[..HEADER_LEN].copy_from_slice(&header);
        (h, HEADER_LEN)
    }

    fn max_send(&self) -> usize {
        self.send_max
    }

    fn pong(&self, payload: &[u8], out: &mut Vec<u8>) {
        self.push(FrameKind::Pong, payload, out);
    }

    fn ping(&self, payload: &[u8], out: &mut Vec<u8>) {
        self.push(FrameKind::Ping, payload, out);
    }

    fn close_frame(&self, _code: u16, _reason: &str) -> Option<Vec<u8>> {
        None
    }
}

/// Serves one RawSocket connection on `stream`. See [`super::serve`] for the
/// contract with `hooks`.
///
/// Everything a held connection keeps is in one boxed `Conn`; the returned
/// future holds little more than that box, and the handshake's and closing
/// phase's futures are boxed only while they run.
pub fn serve_rawsocket<H: ConnectionHooks>(
    stream: Stream,
    peer: String,
    transport: Rc<TransportConfig>,
    max_message_size: usize,
    hooks: H,
) -> impl Future<Output = ()> {
    let framing = RawFraming {
        max_len: 0,
        send_max: 0,
    };
    // The opening phase runs in a boxed future of its own; the future a held
    // connection's task keeps holds only that box's place and the main phase.
    let conn = Conn::new(stream, hooks, framing);
    let opening = Box::pin(opening(conn, peer, transport, max_message_size));
    async move {
        let Some(conn) = opening.await else {
            return;
        };
        conn.serve(Vec::new()).await;
    }
}

/// The opening phase: handshake, `open` and the success reply. Returns the
/// opened connection; `None` when it ended there.
async fn opening<H: ConnectionHooks>(
    mut conn: Box<Conn<H, RawFraming>>,
    peer: String,
    transport: Rc<TransportConfig>,
    max_message_size: usize,
) -> Option<Box<Conn<H, RawFraming>>> {
    let config = Rc::clone(&transport);
    let TransportKind::RawSocket(service) = &config.kind else {
        return None; // not a RawSocket transport
    };
    let opts = &service.options;
    let timeout = Duration::from_millis(opts.open_handshake_timeout_ms);
    let request = match with_timeout(timeout, Box::pin(read_request(&mut conn.sock))).await {
        Some(Ok(request)) => request,
        Some(Err(e)) => {
            tracing::debug!(%peer, error = %e, "rawsocket handshake read failed");
            return None;
        }
        None => {
            tracing::debug!(%peer, "rawsocket opening handshake timed out");
            return None;
        }
    };
    if super::tls::looks_like_tls(&request) {
        Box::pin(super::tls::refuse_tls_client(
            &mut conn.sock,
            &peer,
            &transport.id,
        ))
        .await;
        return None;
    }
    let client = match wire::parse_client_handshake(request) {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(%peer, error = %e, "rawsocket handshake refused");
            if let Some(code) = e.reply_code() {
                Box::pin(reply_and_close(&mut conn.sock, wire::error_reply(code))).await;
            }
            return None;
        }
    };
    let Some(serializer) = Serializer::from_rawsocket_id(client.serializer_id)
        .filter(|s| transport.serializers.contains(s))
    else {
        tracing::debug!(%peer, id = client.serializer_id, "rawsocket serializer not enabled");
        let reply = wire::error_reply(ERR_SERIALIZER_UNSUPPORTED);
        Box::pin(reply_and_close(&mut conn.sock, reply)).await;
        return None;
    };

    let announced = wire::announced_max_len(opts.max_message_size.min(max_message_size));
    // Largest frame we may send: what the client announced, within 24 bits.
    let send_max = client.max_len.min(MAX_FRAME_PAYLOAD);
    conn.framing = RawFraming {
        max_len: announced,
        send_max,
    };
    let mut info = LinkInfo::new(transport, FrontEnd::RawSocket, peer);
    info.set_max_outbound(Some(send_max));
    info.set_tls(conn.sock.take_tls_info());
    if let Err(refused) = conn.open(info, serializer) {
        tracing::debug!(reason = refused.0, "rawsocket connection refused");
        let reply = wire::error_reply(ERR_MAX_CONNECTIONS);
        Box::pin(reply_and_close(&mut conn.sock, reply)).await;
        return None;
    }
    let reply = wire::server_handshake_reply(client.serializer_id, announced);
    let sent = with_timeout(
        CLOSE_TIMEOUT,
        Box::pin(conn::write_all(&mut conn.sock, &reply)),
    )
    .await;
    if sent.is_none_or(|r| r.is_err()) {
        return None;
    }
    Some(conn)
}

/// Reads the client's 4 handshake octets (and nothing more: frames that came
/// with them are read by the driver).
async fn read_request(sock: &mut Stream) -> io::Result<[u8; 4]> {
    let mut request = [0u8; 4];
    let mut got = 0;
    while got < request.len() {
        let n = poll_fn(|cx| sock.poll_read(cx, &mut request[got..])).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        got += n;
    }
    Ok(request)
}

/// Sends a 4-octet handshake reply and shuts our side down (the connection
/// then ends).
async fn reply_and_close(sock: &mut Stream, reply: [u8; 4]) {
    let _ = with_timeout(CLOSE_TIMEOUT, conn::write_all(sock, &reply)).await;
    let _ = sock.shutdown_write();
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
    use crate::transport::testutil::{Behaviour, Io, Outcome, raw_transport, run_one_on};

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
        run_on(Io::Uring, opts, serializers, limit, behaviour, client)
    }

    /// [`run`] with the server's socket I/O chosen.
    fn run_on<R: Send + 'static>(
        io: Io,
        opts: RawSocketOptions,
        serializers: &[Serializer],
        limit: usize,
        behaviour: Behaviour,
        client: impl FnOnce(TcpStream) -> R + Send + 'static,
    ) -> (Outcome, R) {
        run_one_on(
            io,
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

    #[rstest]
    fn echoes_messages_and_answers_ping_with_same_payload(
        #[values(Io::Uring, Io::Readiness)] io: Io,
    ) {
        let (out, ()) = run_on(
            io,
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

    #[rstest]
    fn burst_is_written_in_order(#[values(Io::Uring, Io::Readiness)] io: Io) {
        let (out, ()) = run_on(
            io,
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

    #[rstest]
    fn large_message_round_trips(#[values(Io::Uring, Io::Readiness)] io: Io) {
        let (_, ()) = run_on(
            io,
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

    #[rstest]
    fn pipelined_frames_and_large_messages_round_trip(#[values(Io::Uring, Io::Readiness)] io: Io) {
        let big: Vec<u8> = (0..700_000u32).map(|i| (i % 251) as u8).collect();
        let expected = big.clone();
        let (out, ()) = run_on(
            io,
            RawSocketOptions::default(),
            ALL,
            MIB,
            Behaviour::Echo,
            move |mut s| {
                // The handshake, 300 small frames and one 700 kB frame in one write.
                let mut bytes = vec![0x7F, 0xF2, 0, 0];
                for i in 0..300u32 {
                    bytes.extend(frame(0, &i.to_be_bytes()));
                }
                bytes.extend(frame(0, &big));
                let mut w = s.try_clone().expect("clone");
                let writer = std::thread::spawn(move || w.write_all(&bytes).expect("send"));
                assert_eq!(read_n(&mut s, 4), vec![0x7F, 0xB2, 0, 0]);
                for i in 0..300u32 {
                    assert_eq!(read_n(&mut s, 8), frame(0, &i.to_be_bytes()));
                }
                assert_eq!(read_n(&mut s, 4 + big.len()), frame(0, &big));
                writer.join().expect("writer");
            },
        );
        assert_eq!(out.frames.len(), 301);
        assert_eq!(out.frames[7], Bytes::from(7u32.to_be_bytes().to_vec()));
        assert_eq!(out.frames[300], Bytes::from(expected));
        assert_eq!((out.opened, out.closed), (1, 1));
    }

    #[rstest]
    fn peer_pinging_faster_than_it_reads_is_dropped(#[values(Io::Uring, Io::Readiness)] io: Io) {
        let (out, (ended_it, sent)) = run_on(
            io,
            RawSocketOptions::default(),
            ALL,
            MIB,
            Behaviour::Echo,
            |mut s| {
                s.set_write_timeout(Some(Duration::from_secs(5)))
                    .expect("timeout");
                s.write_all(&[0x7F, 0xF1, 0, 0]).expect("handshake");
                assert_eq!(read_n(&mut s, 4), vec![0x7F, 0xB1, 0, 0]);
                // 64 MiB of pings, never reading a pong: more than the socket
                // buffers hold, so the pongs pile up on the server.
                let ping = frame(1, &[b'p'; 16 * 1024]);
                let mut sent = 0usize;
                for _ in 0..4096 {
                    match s.write_all(&ping) {
                        Ok(()) => sent += 1,
                        Err(e) => {
                            // Reset or broken pipe, not our own write timeout.
                            assert!(
                                !matches!(
                                    e.kind(),
                                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                                ),
                                "{e}"
                            );
                            return (true, sent);
                        }
                    }
                }
                (ended(&mut s), sent)
            },
        );
        assert!(
            ended_it,
            "the server ended the connection ({sent} pings sent)"
        );
        assert!(out.elapsed < Duration::from_secs(5), "{:?}", out.elapsed);
        assert_eq!((out.opened, out.closed), (1, 1));
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

    #[rstest]
    fn messages_longer_than_the_client_accepts_are_not_sent(
        #[values(Io::Uring, Io::Readiness)] io: Io,
    ) {
        let (out, ()) = run_on(
            io,
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

    #[rstest]
    fn outbox_close_flushes_then_ends_the_connection(#[values(Io::Uring, Io::Readiness)] io: Io) {
        let (out, ()) = run_on(
            io,
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

    #[rstest]
    fn slow_consumer_is_dropped_after_close_even_if_it_never_reads(
        #[values(Io::Uring, Io::Readiness)] io: Io,
    ) {
        let (out, ()) = run_on(
            io,
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

    #[rstest]
    fn works_over_a_unix_socket_replacing_a_stale_file(#[values(Io::Uring, Io::Readiness)] io: Io) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("raw.sock");
        // A socket file left behind by a listener that is gone.
        drop(std::os::unix::net::UnixListener::bind(&path).expect("stale listener"));
        assert!(path.exists());
        let mut t = raw_transport(RawSocketOptions::default(), ALL);
        t.endpoint = Endpoint::Unix { path: path.clone() };
        let (out, ()) = run_one_on(io, t, MIB, Behaviour::Echo, move |addr| {
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

    /// Write coalescing (`transport::hold`) with a window of an hour, so
    /// that only what ends a hold early can send anything: after a write,
    /// events wait until a reply is queued, then leave with it, in order,
    /// in one send on the ring.
    #[rstest]
    fn held_events_leave_with_the_next_reply(#[values(Io::Uring, Io::Readiness)] io: Io) {
        let (out, ()) = held(io, |mut s| {
            send_events(&mut s, 5, Duration::from_millis(2));
            s.write_all(&frame(0, b"now")).expect("send");
            read_events(&mut s, 5);
            assert_eq!(read_n(&mut s, 7), frame(0, b"now"));
        });
        assert_eq!(out.frames.len(), 7);
        if io == Io::Uring {
            assert_eq!(
                out.sends,
                Some(2),
                "the first reply; the events with the second"
            );
        }
    }

    /// A connection that has not written lately sends its first event at
    /// once (with a window of an hour, held it would never arrive); the
    /// next, soon after that write, is held until a reply.
    #[rstest]
    fn a_quiet_connections_first_event_is_not_held(#[values(Io::Uring, Io::Readiness)] io: Io) {
        let (out, ()) = held_from(io, false, |mut s| {
            send_events(&mut s, 1, Duration::ZERO);
            read_events(&mut s, 1);
            s.write_all(&frame(0, b"ev01")).expect("send");
            s.write_all(&frame(0, b"now")).expect("send");
            assert_eq!(read_n(&mut s, 8), frame(0, b"ev01"));
            assert_eq!(read_n(&mut s, 7), frame(0, b"now"));
        });
        assert_eq!(out.frames.len(), 3);
        if io == Io::Uring {
            assert_eq!(
                out.sends,
                Some(2),
                "the first event alone; the second with the reply"
            );
        }
    }

    /// A send that completes only in part (a peer slow to read) goes on
    /// with the rest at once, though the connection wrote lately: with a
    /// window of an hour, a rest left to wait would never arrive.
    #[rstest]
    fn a_send_completed_in_part_goes_on(#[values(Io::Uring, Io::Readiness)] io: Io) {
        let (out, ()) = held(io, |mut s| {
            socket2::SockRef::from(&s)
                .set_recv_buffer_size(64 * 1024)
                .expect("receive buffer");
            // 8 MB in one send: more than the kernel buffers for a peer
            // that does not read.
            let big: Vec<u8> = (0..1_000_000u32).map(|i| b'a' + (i % 26) as u8).collect();
            for _ in 0..8 {
                s.write_all(&frame(0, &big)).expect("send");
            }
            s.write_all(&frame(0, b"now")).expect("send");
            // Not read for a while: the server's send fills the socket.
            std::thread::sleep(Duration::from_millis(200));
            for _ in 0..8 {
                assert!(
                    read_n(&mut s, 4 + big.len()) == frame(0, &big),
                    "each event whole"
                );
            }
            assert_eq!(read_n(&mut s, 7), frame(0, b"now"));
        });
        assert_eq!(out.frames.len(), 10);
    }

    /// A held connection whose queue reaches a whole write (60 frames) writes
    /// at once (nothing is written before the 60th).
    #[rstest]
    fn a_full_write_ends_a_hold(#[values(Io::Uring, Io::Readiness)] io: Io) {
        let (out, ()) = held(io, |mut s| {
            send_events(&mut s, 60, Duration::ZERO);
            read_events(&mut s, 60);
        });
        assert_eq!(out.frames.len(), 61);
    }

    /// A ping's answer (a control frame) ends a hold: it goes first, the
    /// held event with it.
    #[rstest]
    fn a_pong_ends_a_hold(#[values(Io::Uring, Io::Readiness)] io: Io) {
        let (out, ()) = held(io, |mut s| {
            send_events(&mut s, 1, Duration::ZERO);
            s.write_all(&frame(1, b"p")).expect("ping");
            assert_eq!(read_n(&mut s, 5), frame(2, b"p"));
            read_events(&mut s, 1);
        });
        assert_eq!(out.frames.len(), 2);
    }

    /// [`held_from`] a connection that has just written (a reply), so that
    /// its next events are held.
    fn held(io: Io, client: impl FnOnce(TcpStream) + Send + 'static) -> (Outcome, ()) {
        held_from(io, true, client)
    }

    /// A JSON RawSocket connection whose server echoes every frame as an
    /// event (`now…` as a reply) with a hold of an hour: only what ends a
    /// hold early sends anything once the connection has written. `wrote`:
    /// a first reply is asked for and read before `client` runs.
    fn held_from(
        io: Io,
        wrote: bool,
        client: impl FnOnce(TcpStream) + Send + 'static,
    ) -> (Outcome, ()) {
        run_on(
            io,
            RawSocketOptions::default(),
            ALL,
            MIB,
            Behaviour::Events(Duration::from_secs(3600)),
            move |mut s| {
                s.write_all(&[0x7F, 0xF1, 0, 0]).expect("handshake");
                read_n(&mut s, 4);
                if wrote {
                    s.write_all(&frame(0, b"now")).expect("send");
                    assert_eq!(read_n(&mut s, 7), frame(0, b"now"));
                }
                client(s)
            },
        )
    }

    /// Sends `n` numbered frames, `gap` apart.
    fn send_events(s: &mut TcpStream, n: usize, gap: Duration) {
        for i in 0..n {
            s.write_all(&frame(0, format!("ev{i:02}").as_bytes()))
                .expect("send");
            std::thread::sleep(gap);
        }
    }

    /// Reads `n` numbered frames, in order.
    fn read_events(s: &mut TcpStream, n: usize) {
        for i in 0..n {
            let want = frame(0, format!("ev{i:02}").as_bytes());
            assert_eq!(read_n(s, want.len()), want, "in order");
        }
    }
}
