//! The connection driver's closing phase ([`Conn`]'s second `impl` block):
//! refusing a connection with a close frame, and after the main phase ended,
//! flushing what is queued, the close handshake (or, for a framing without
//! one, shutting our side down and reading to the peer's end of stream), each
//! bounded by [`CLOSE_TIMEOUT`]; and [`write_all`], the plain write loop the
//! handshakes share. Part of `conn.rs`; imports nothing beyond it.

use super::*;

impl<H: ConnectionHooks, F: Framing> Conn<H, F> {
    /// Answers a refused connection with `frame` (a close frame) and awaits
    /// the peer's reply for at most [`CLOSE_TIMEOUT`].
    pub(in crate::transport) async fn refuse(mut self: Box<Self>, frame: Vec<u8>) {
        if write_all(&mut self.sock, &frame).await.is_ok() {
            let _ = with_timeout(CLOSE_TIMEOUT, self.await_close_reply()).await;
        }
    }

    /// The closing phase after the main one ended with `end`.
    pub(super) async fn finish(mut self: Box<Self>, end: End) {
        if matches!(end, End::Gone | End::Drop) {
            return;
        }
        // A send still in flight on the ring completes first, so that what
        // follows goes out after it (a peer that does not read within the
        // close timeout is dropped).
        let settled = with_timeout(CLOSE_TIMEOUT, poll_fn(|cx| self.poll_settle(cx))).await;
        if settled.is_none() {
            return;
        }
        match end {
            End::PeerClosed(code) => {
                // Answer with the peer's code (RFC 6455 section 5.5.1); a close
                // without a code is answered with 1000.
                if let Some(reply) = self.framing.close_frame(code.unwrap_or(1000), "") {
                    let _ = with_timeout(CLOSE_TIMEOUT, self.send_at_boundary(reply)).await;
                }
                let _ = self.sock.shutdown_write();
            }
            End::CloseSent => {
                let _ = with_timeout(CLOSE_TIMEOUT, self.await_close_reply()).await;
            }
            End::Shutdown => {
                let _ = self.sock.shutdown_write();
                let _ = with_timeout(CLOSE_TIMEOUT, self.discard_until_eof()).await;
            }
            End::Fail(Fail(code, reason)) => {
                tracing::debug!(code, reason, "failing the connection");
                let Some(frame) = self.framing.close_frame(code, reason) else {
                    return; // no close frame: drop the connection
                };
                // What was queued before the broken frame (answers to the
                // messages before it) goes out first, within the close timeout.
                let flush = poll_fn(|cx| self.poll_flush(cx));
                if with_timeout(CLOSE_TIMEOUT, flush)
                    .await
                    .is_none_or(|r| r.is_err())
                {
                    return;
                }
                if with_timeout(CLOSE_TIMEOUT, self.send_at_boundary(frame))
                    .await
                    .is_some_and(|r| r.is_ok())
                {
                    // Discard what the peer still sends (the rest of an oversize
                    // message) until it closes, so that the close frame is not
                    // lost to a TCP reset.
                    let _ = self.sock.shutdown_write();
                    let _ = with_timeout(CLOSE_TIMEOUT, self.discard_until_eof()).await;
                }
            }
            End::Gone | End::Drop => {}
        }
    }

    /// Writes everything queued (control frames and the outbox's frames).
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            let empty = self.outbox.as_ref().is_none_or(|o| o.borrow().is_empty());
            if self.ctrl.is_empty() && empty {
                return Poll::Ready(Ok(()));
            }
            if self.outbox.is_none() {
                return Poll::Ready(Ok(()));
            }
            match self.write_once(cx) {
                Poll::Ready(Ok(())) => {}
                other => return other,
            }
        }
    }

    /// Finishes a half-written frame or control batch, then writes `frame`.
    async fn send_at_boundary(&mut self, frame: Vec<u8>) -> io::Result<()> {
        let mut out = Vec::new();
        if self.ctrl.sent() > 0 {
            out.extend_from_slice(self.ctrl.unsent());
        } else if self.front_sent > 0
            && let Some(outbox) = &self.outbox
            && let Some(front) = outbox.borrow().frames().front()
        {
            let whole = match self.encoded.front() {
                Some(e) => {
                    let mut w = e.header[..usize::from(e.header_len)].to_vec();
                    w.extend_from_slice(e.payload.as_deref().unwrap_or(front));
                    w
                }
                None => {
                    let (h, n) = self.framing.data_header(front.len());
                    let mut w = h[..n].to_vec();
                    w.extend_from_slice(front);
                    w
                }
            };
            out.extend_from_slice(&whole[(self.front_sent as usize).min(whole.len())..]);
        }
        out.extend_from_slice(&frame);
        write_all(&mut self.sock, &out).await
    }

    /// Reads (and drops) frames until the peer's close frame, a broken frame
    /// or the end of the stream.
    async fn await_close_reply(&mut self) {
        poll_fn(|cx| {
            loop {
                let step = with_scratch(|buf| self.read_for_close(cx, buf));
                match step {
                    Poll::Ready(true) => return Poll::Ready(()),
                    Poll::Ready(false) => {}
                    Poll::Pending => return Poll::Pending,
                }
            }
        })
        .await;
    }

    /// One read while awaiting the close reply: `true` once it came (or the stream ended).
    fn read_for_close(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<bool> {
        let n = match self.sock.poll_read(cx, buf) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => return Poll::Ready(true),
            Poll::Ready(Ok(n)) => n,
        };
        let inbuf = self.inbuf.buf();
        inbuf.extend_from_slice(&buf[..n]);
        let mut used = 0;
        loop {
            match self.framing.decode(&mut inbuf[used..]) {
                Err(_)
                | Ok(Decoded::Frame {
                    frame: Some(Frame::Close(_)),
                    ..
                }) => return Poll::Ready(true),
                Ok(Decoded::Frame { consumed, .. }) => used += consumed,
                Ok(Decoded::Incomplete { .. }) => break,
            }
        }
        inbuf.drain(..used);
        Poll::Ready(false)
    }

    /// Reads and discards until the end of the stream.
    async fn discard_until_eof(&mut self) {
        poll_fn(|cx| {
            loop {
                let step = with_scratch(|buf| self.sock.poll_read(cx, buf));
                match step {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => return Poll::Ready(()),
                    Poll::Ready(Ok(_)) => {}
                }
            }
        })
        .await;
    }
}

/// Writes all of `data` (handshake answers and closing frames: cold paths).
pub(in crate::transport) async fn write_all(sock: &mut Stream, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        let n = poll_fn(|cx| sock.poll_write_vectored(cx, &[IoSlice::new(data)])).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        data = &data[n..];
    }
    Ok(())
}
