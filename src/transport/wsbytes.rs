//! A WebSocket connection as a byte stream: the payloads of the client's
//! binary messages in, each write out as one binary frame. MQTT over
//! WebSocket (a `web` transport's `mqtt` path) runs the MQTT driver on it,
//! unchanged: MQTT packets may be split over messages or share one, so the
//! MQTT side sees a plain stream.
//!
//! Sans-IO framing from `proto::websocket`; pings are answered, a close is
//! echoed and ends the stream, a text message fails the connection (close
//! 1003: MQTT over WebSocket uses binary messages only). Writes keep the
//! [`Socket`] contract (a partial write reports the caller's octets that
//! went out; the caller passes the rest again): a data frame's header is
//! written once, its payload may take several calls, and control frames go
//! out only between data frames. Nothing of the caller's data is copied.
//!
//! Imports `proto` and the transport's [`Socket`]; never the router.

use std::io::{self, IoSlice};
use std::task::{Context, Poll};

use crate::proto::websocket::frame::{Decoded, Decoder, Event, Payload, close_frame, frame_header};
use crate::proto::websocket::{MAX_HEADER, MessageKind, Opcode};
use crate::transport::socket::{MAX_IOVECS, Socket};

/// Least room given to a read.
const READ_CHUNK: usize = 4096;
/// A read buffer larger than this is freed once empty (an idle connection
/// keeps a small one).
const KEEP_READ_BUFFER: usize = 16 * 1024;

/// A server-side WebSocket connection over `S`, read and written as bytes.
#[derive(Debug)]
pub struct WsBytes<S> {
    inner: S,
    decoder: Decoder,
    /// Octets read and not decoded yet.
    rbuf: Vec<u8>,
    /// Payload decoded and not read yet: `payload[ppos..]`.
    payload: Vec<u8>,
    ppos: usize,
    /// The header of the data frame being written; `head[hpos..hlen]` is
    /// still to go.
    head: [u8; MAX_HEADER],
    hpos: u8,
    hlen: u8,
    /// Payload octets the data frame being written still owes.
    frame_left: usize,
    /// Control frames waiting for the end of the data frame in progress.
    control: Vec<u8>,
    /// The client closed (a close frame or the end of the stream).
    eof: bool,
}

impl<S: Socket> WsBytes<S> {
    /// Wraps an upgraded connection; `leftover` are the octets read after
    /// the upgrade request (the client's first frames); messages up to
    /// `max_message` octets.
    pub fn new(inner: S, leftover: Vec<u8>, max_message: usize) -> Self {
        WsBytes {
            inner,
            decoder: Decoder::new(max_message, max_message),
            rbuf: leftover,
            payload: Vec::new(),
            ppos: 0,
            head: [0; MAX_HEADER],
            hpos: 0,
            hlen: 0,
            frame_left: 0,
            control: Vec::new(),
            eof: false,
        }
    }

    /// The wrapped stream.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The stream underneath, to change (the TLS state is taken from it).
    pub fn inner_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Whether no data frame is partly written.
    fn between_frames(&self) -> bool {
        self.frame_left == 0 && self.hpos == self.hlen
    }

    /// Writes the queued control frames (only between data frames).
    fn flush_control(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.control.is_empty() && self.between_frames() {
            match self
                .inner
                .poll_write_vectored(cx, &[IoSlice::new(&self.control)])
            {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    self.control.drain(..n);
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Fails the connection: a close frame with `code` queued, the error.
    fn fail(&mut self, cx: &mut Context<'_>, code: u16, why: String) -> io::Error {
        self.control.extend_from_slice(&close_frame(code, &why));
        self.eof = true;
        let _ = self.flush_control(cx);
        io::Error::new(io::ErrorKind::InvalidData, why)
    }

    /// Decodes one frame from the read buffer: `Ok(())` when it used one,
    /// `Err(needed)` when the buffer must first hold `needed` octets; the
    /// outer error is the connection's failure.
    fn decode_one(&mut self, cx: &mut Context<'_>) -> Result<Result<(), usize>, io::Error> {
        let (consumed, pong, close) = match self.decoder.decode(&mut self.rbuf) {
            Err(e) => return Err(self.fail(cx, e.close_code(), e.to_string())),
            Ok(Decoded::Incomplete { needed }) => return Ok(Err(needed)),
            Ok(Decoded::Frame { event, consumed }) => match event {
                Some(Event::Message(MessageKind::Text, _)) => {
                    return Err(self.fail(
                        cx,
                        1003,
                        "MQTT over WebSocket takes binary messages only".to_owned(),
                    ));
                }
                Some(Event::Message(MessageKind::Binary, p)) => {
                    let bytes: &[u8] = match &p {
                        Payload::Borrowed(b) => b,
                        Payload::Owned(v) => v,
                    };
                    if self.ppos == self.payload.len() {
                        self.payload.clear();
                        self.ppos = 0;
                    }
                    self.payload.extend_from_slice(bytes);
                    (consumed, None, false)
                }
                Some(Event::Ping(p)) => (consumed, Some(p.to_vec()), false),
                Some(Event::Pong(_)) | None => (consumed, None, false),
                Some(Event::Close(_)) => (consumed, None, true),
            },
        };
        self.rbuf.drain(..consumed);
        if self.rbuf.is_empty() && self.rbuf.capacity() > KEEP_READ_BUFFER {
            self.rbuf = Vec::new();
        }
        if let Some(p) = pong {
            let (h, n) = frame_header(Opcode::Pong, p.len());
            self.control.extend_from_slice(&h[..n]);
            self.control.extend_from_slice(&p);
        }
        if close {
            self.control.extend_from_slice(&close_frame(1000, ""));
            self.eof = true;
        }
        if !self.control.is_empty() {
            let _ = self.flush_control(cx);
        }
        Ok(Ok(()))
    }
}

impl<S: Socket> Socket for WsBytes<S> {
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        loop {
            if self.ppos < self.payload.len() {
                let n = buf.len().min(self.payload.len() - self.ppos);
                buf[..n].copy_from_slice(&self.payload[self.ppos..self.ppos + n]);
                self.ppos += n;
                if self.ppos == self.payload.len() {
                    self.payload.clear();
                    self.ppos = 0;
                    if self.payload.capacity() > KEEP_READ_BUFFER {
                        self.payload = Vec::new();
                    }
                }
                return Poll::Ready(Ok(n));
            }
            if self.eof {
                return Poll::Ready(Ok(0));
            }
            let needed = match self.decode_one(cx) {
                Err(e) => return Poll::Ready(Err(e)),
                Ok(Ok(())) => continue,
                Ok(Err(needed)) => needed,
            };
            let have = self.rbuf.len();
            let room = needed.saturating_sub(have).max(READ_CHUNK);
            self.rbuf.resize(have + room, 0);
            match self.inner.poll_read(cx, &mut self.rbuf[have..]) {
                Poll::Ready(Ok(0)) => {
                    self.rbuf.truncate(have);
                    self.eof = true;
                }
                Poll::Ready(Ok(n)) => self.rbuf.truncate(have + n),
                Poll::Ready(Err(e)) => {
                    self.rbuf.truncate(have);
                    return Poll::Ready(Err(e));
                }
                Poll::Pending => {
                    self.rbuf.truncate(have);
                    // A pong still waiting goes out if the socket takes it.
                    if let Poll::Ready(Err(e)) = self.flush_control(cx) {
                        return Poll::Ready(Err(e));
                    }
                    return Poll::Pending;
                }
            }
        }
    }

    fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.between_frames() {
            match self.flush_control(cx) {
                Poll::Ready(Ok(())) => {}
                other => return other.map(|r| r.map(|()| 0)),
            }
            let total: usize = bufs.iter().map(|b| b.len()).sum();
            if total == 0 {
                return Poll::Ready(Ok(0));
            }
            let (head, n) = frame_header(Opcode::Binary, total);
            self.head = head;
            self.hpos = 0;
            self.hlen = n as u8;
            self.frame_left = total;
        }
        loop {
            let mut iov = [IoSlice::new(&[]); MAX_IOVECS];
            let mut k = 0;
            if self.hpos < self.hlen {
                iov[0] = IoSlice::new(&self.head[self.hpos as usize..self.hlen as usize]);
                k = 1;
            }
            let mut left = self.frame_left;
            for b in bufs {
                if left == 0 || k == MAX_IOVECS {
                    break;
                }
                let take = b.len().min(left);
                if take > 0 {
                    iov[k] = IoSlice::new(&b[..take]);
                    k += 1;
                    left -= take;
                }
            }
            let written = match self.inner.poll_write_vectored(cx, &iov[..k]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => n,
                other => return other,
            };
            let of_head = written.min(usize::from(self.hlen - self.hpos));
            self.hpos += of_head as u8;
            let of_payload = written - of_head;
            self.frame_left -= of_payload;
            if of_payload > 0 {
                if self.between_frames() && !self.control.is_empty() {
                    let _ = self.flush_control(cx);
                }
                return Poll::Ready(Ok(of_payload));
            }
        }
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        if self.between_frames() && !self.eof {
            self.control.extend_from_slice(&close_frame(1000, ""));
        }
        // One try to send the close frame; the connection ends either way.
        let waker = futures::task::noop_waker();
        let _ = self.flush_control(&mut Context::from_waker(&waker));
        self.inner.shutdown_write()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::websocket::frame::{client_frame_header, mask_in_place};

    /// An in-memory socket: reads from `input` in chunks of `read_chunk`,
    /// writes at most `write_room` octets per call into `output`.
    #[derive(Default)]
    struct Pipe {
        input: Vec<u8>,
        read_chunk: usize,
        output: Vec<u8>,
        write_room: usize,
        closed: bool,
    }

    impl Socket for Pipe {
        fn poll_read(&mut self, _: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
            if self.input.is_empty() {
                return if self.closed {
                    Poll::Ready(Ok(0))
                } else {
                    Poll::Pending
                };
            }
            let n = buf.len().min(self.read_chunk).min(self.input.len());
            buf[..n].copy_from_slice(&self.input[..n]);
            self.input.drain(..n);
            Poll::Ready(Ok(n))
        }

        fn poll_write_vectored(
            &mut self,
            _: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            if self.write_room == 0 {
                return Poll::Pending;
            }
            let mut n = 0;
            for b in bufs {
                let take = b.len().min(self.write_room - n);
                self.output.extend_from_slice(&b[..take]);
                n += take;
            }
            Poll::Ready(Ok(n))
        }

        fn shutdown_write(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn client_frame(opcode: Opcode, payload: &[u8]) -> Vec<u8> {
        let mask = [1, 2, 3, 4];
        let (h, n) = client_frame_header(opcode, payload.len(), mask);
        let mut out = h[..n].to_vec();
        let mut p = payload.to_vec();
        mask_in_place(&mut p, mask);
        out.extend_from_slice(&p);
        out
    }

    fn read_all(ws: &mut WsBytes<Pipe>) -> (Vec<u8>, io::Result<()>) {
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let mut got = Vec::new();
        let mut buf = [0u8; 7];
        loop {
            match ws.poll_read(&mut cx, &mut buf) {
                Poll::Ready(Ok(0)) | Poll::Pending => return (got, Ok(())),
                Poll::Ready(Ok(n)) => got.extend_from_slice(&buf[..n]),
                Poll::Ready(Err(e)) => return (got, Err(e)),
            }
        }
    }

    #[test]
    fn binary_messages_read_as_one_stream_and_pings_are_answered() {
        let mut input = client_frame(Opcode::Binary, b"hello ");
        input.extend(client_frame(Opcode::Ping, b"p1"));
        input.extend(client_frame(Opcode::Binary, b"world"));
        let (first, rest) = input.split_at(3);
        let pipe = Pipe {
            input: rest.to_vec(),
            read_chunk: 5,
            write_room: 1000,
            ..Pipe::default()
        };
        let mut ws = WsBytes::new(pipe, first.to_vec(), 1 << 20);
        let (got, r) = read_all(&mut ws);
        assert!(r.is_ok());
        assert_eq!(got, b"hello world");
        let (h, n) = frame_header(Opcode::Pong, 2);
        let mut pong = h[..n].to_vec();
        pong.extend_from_slice(b"p1");
        assert_eq!(ws.inner.output, pong);
    }

    #[test]
    fn a_text_message_fails_with_1003_and_a_close_ends_the_stream() {
        let pipe = Pipe {
            input: client_frame(Opcode::Text, b"{}"),
            read_chunk: 100,
            write_room: 1000,
            ..Pipe::default()
        };
        let mut ws = WsBytes::new(pipe, Vec::new(), 1 << 20);
        let (_, r) = read_all(&mut ws);
        assert_eq!(r.unwrap_err().kind(), io::ErrorKind::InvalidData);
        assert_eq!(&ws.inner.output[2..4], &1003u16.to_be_bytes());

        let mut input = client_frame(Opcode::Binary, b"ab");
        input.extend(client_frame(Opcode::Close, &1000u16.to_be_bytes()));
        input.extend(client_frame(Opcode::Binary, b"never"));
        let pipe = Pipe {
            input,
            read_chunk: 100,
            write_room: 1000,
            ..Pipe::default()
        };
        let mut ws = WsBytes::new(pipe, Vec::new(), 1 << 20);
        let (got, r) = read_all(&mut ws);
        assert!(r.is_ok());
        assert_eq!(got, b"ab");
        assert_eq!(ws.inner.output, close_frame(1000, ""));
    }

    #[test]
    fn writes_frame_once_and_survive_partial_writes() {
        let pipe = Pipe {
            write_room: 3,
            ..Pipe::default()
        };
        let mut ws = WsBytes::new(pipe, Vec::new(), 1 << 20);
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let data: Vec<u8> = (0..200u8).collect();
        let (a, b) = data.split_at(50);
        // The caller passes what is left each time, as the contract says.
        let mut sent = 0;
        while sent < data.len() {
            let (x, y) = if sent < a.len() {
                (&a[sent..], b)
            } else {
                (&b[sent - a.len()..], &[][..])
            };
            match ws.poll_write_vectored(&mut cx, &[IoSlice::new(x), IoSlice::new(y)]) {
                Poll::Ready(Ok(n)) => sent += n,
                other => panic!("unexpected {other:?}"),
            }
        }
        let (h, n) = frame_header(Opcode::Binary, 200);
        let mut want = h[..n].to_vec();
        want.extend_from_slice(&data);
        assert_eq!(ws.inner.output, want, "one frame, header once");
    }

    #[test]
    fn a_message_over_the_limit_fails_with_1009() {
        let pipe = Pipe {
            input: client_frame(Opcode::Binary, &[0u8; 300]),
            read_chunk: 1000,
            write_room: 1000,
            ..Pipe::default()
        };
        let mut ws = WsBytes::new(pipe, Vec::new(), 256);
        let (got, r) = read_all(&mut ws);
        assert!(got.is_empty());
        assert!(r.is_err());
        assert_eq!(&ws.inner.output[2..4], &1009u16.to_be_bytes());
    }
}
