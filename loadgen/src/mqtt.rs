//! A minimal MQTT 3.1.1 client: the codec (CONNECT/CONNACK, SUBSCRIBE/SUBACK,
//! PUBLISH at QoS 0 and 1, PUBACK, PINGREQ/PINGRESP, DISCONNECT) and a
//! connection split into reader and writer like [`crate::wamp`].
//!
//! The client connects with a clean session and keep-alive 0 (no keep-alive
//! timer), so an idle subscriber needs no PINGREQ; PINGREQ/PINGRESP are in the
//! codec for completeness. WAMP topic `a.b.c` becomes MQTT `a/b/c`, and a
//! WAMP wildcard component (empty) becomes `+` ([`topic_from_wamp`]).

use std::net::IpAddr;

use anyhow::{Context, bail};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use futures::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};

use crate::net::{self, Stream};
use crate::payload::{self, Stamp};
use crate::url::Target;

/// Write out once this much is buffered.
const FLUSH_AT: usize = 64 * 1024;
/// Bytes read per read call.
const READ_CHUNK: usize = 32 * 1024;

/// A packet a client receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// CONNACK: return code 0 is success.
    ConnAck {
        /// Session-present flag.
        session_present: bool,
        /// Return code.
        code: u8,
    },
    /// SUBACK: one return code per filter (0x80 is failure).
    SubAck {
        /// Packet identifier.
        pid: u16,
        /// Granted QoS or 0x80 per filter.
        codes: Vec<u8>,
    },
    /// PUBLISH.
    Publish {
        /// QoS 0, 1 or 2.
        qos: u8,
        /// Packet identifier (QoS > 0).
        pid: Option<u16>,
        /// Topic name.
        topic: Bytes,
        /// Application payload.
        payload: Bytes,
    },
    /// PUBACK.
    PubAck {
        /// Packet identifier.
        pid: u16,
    },
    /// PINGREQ.
    PingReq,
    /// PINGRESP.
    PingResp,
    /// DISCONNECT.
    Disconnect,
}

/// A malformed or unexpected packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MqttError {
    /// The remaining-length varint is longer than 4 bytes.
    #[error("malformed remaining length")]
    BadLength,
    /// A packet type a client never receives.
    #[error("unexpected packet type {0:#04x}")]
    UnexpectedType(u8),
    /// The packet is shorter than its fields.
    #[error("truncated packet")]
    Truncated,
}

/// MQTT topic for a WAMP URI or pattern: `.` → `/`, empty component → `+`.
pub fn topic_from_wamp(uri: &str) -> String {
    uri.split('.')
        .map(|c| if c.is_empty() { "+" } else { c })
        .collect::<Vec<_>>()
        .join("/")
}

fn put_len(out: &mut BytesMut, mut len: usize) {
    loop {
        let mut b = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            b |= 0x80;
        }
        out.put_u8(b);
        if len == 0 {
            break;
        }
    }
}

fn put_str(out: &mut BytesMut, s: &[u8]) {
    out.put_u16(s.len() as u16);
    out.put_slice(s);
}

/// Appends CONNECT (clean session, no will, no credentials).
pub fn encode_connect(client_id: &str, keep_alive: u16, out: &mut BytesMut) {
    out.put_u8(0x10);
    put_len(out, 10 + 2 + client_id.len());
    put_str(out, b"MQTT");
    out.put_u8(4); // protocol level 3.1.1
    out.put_u8(0x02); // clean session
    out.put_u16(keep_alive);
    put_str(out, client_id.as_bytes());
}

/// Appends SUBSCRIBE for `filters` (filter, requested QoS).
pub fn encode_subscribe(pid: u16, filters: &[(&str, u8)], out: &mut BytesMut) {
    out.put_u8(0x82);
    let len = 2 + filters.iter().map(|(f, _)| 3 + f.len()).sum::<usize>();
    put_len(out, len);
    out.put_u16(pid);
    for (f, q) in filters {
        put_str(out, f.as_bytes());
        out.put_u8(*q);
    }
}

/// Appends PUBLISH carrying `stamp` padded to `payload_len` bytes (see [`payload::put_mqtt`]).
pub fn encode_publish(
    topic: &str,
    qos: u8,
    pid: u16,
    stamp: Stamp,
    payload_len: usize,
    out: &mut BytesMut,
) {
    let body = payload::mqtt_len(payload_len);
    out.put_u8(0x30 | (qos << 1));
    put_len(out, 2 + topic.len() + if qos > 0 { 2 } else { 0 } + body);
    put_str(out, topic.as_bytes());
    if qos > 0 {
        out.put_u16(pid);
    }
    payload::put_mqtt(stamp, payload_len, out);
}

/// Appends PUBACK.
pub fn encode_puback(pid: u16, out: &mut BytesMut) {
    out.put_slice(&[0x40, 0x02]);
    out.put_u16(pid);
}

/// Appends PINGREQ (unused with keep-alive 0; kept for codec completeness, tested).
#[allow(dead_code)]
pub fn encode_pingreq(out: &mut BytesMut) {
    out.put_slice(&[0xC0, 0x00]);
}

/// Appends DISCONNECT (loadgen just closes the socket; kept for codec completeness, tested).
#[allow(dead_code)]
pub fn encode_disconnect(out: &mut BytesMut) {
    out.put_slice(&[0xE0, 0x00]);
}

/// Takes one packet off the front of `buf`; `Ok(None)` while incomplete.
///
/// # Errors
/// [`MqttError`] for malformed input; `buf` is then left as it was.
pub fn decode(buf: &mut BytesMut) -> Result<Option<Packet>, MqttError> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let mut len = 0usize;
    let mut i = 1;
    loop {
        let Some(&b) = buf.get(i) else {
            return Ok(None);
        };
        len += usize::from(b & 0x7F) << (7 * (i - 1));
        i += 1;
        if b & 0x80 == 0 {
            break;
        }
        if i > 4 {
            return Err(MqttError::BadLength);
        }
    }
    if buf.len() < i + len {
        return Ok(None);
    }
    let first = buf[0];
    let body = &buf[i..i + len];
    let pkt = match first >> 4 {
        2 => {
            if len != 2 {
                return Err(MqttError::Truncated);
            }
            Packet::ConnAck {
                session_present: body[0] & 1 == 1,
                code: body[1],
            }
        }
        3 => {
            let qos = (first >> 1) & 3;
            let mut b = body;
            if b.len() < 2 {
                return Err(MqttError::Truncated);
            }
            let tl = usize::from(b.get_u16());
            if b.len() < tl + if qos > 0 { 2 } else { 0 } {
                return Err(MqttError::Truncated);
            }
            let topic = Bytes::copy_from_slice(&b[..tl]);
            b.advance(tl);
            let pid = if qos > 0 { Some(b.get_u16()) } else { None };
            let payload = Bytes::copy_from_slice(b);
            Packet::Publish {
                qos,
                pid,
                topic,
                payload,
            }
        }
        4 => {
            if len != 2 {
                return Err(MqttError::Truncated);
            }
            Packet::PubAck {
                pid: u16::from_be_bytes([body[0], body[1]]),
            }
        }
        9 => {
            if len < 3 {
                return Err(MqttError::Truncated);
            }
            Packet::SubAck {
                pid: u16::from_be_bytes([body[0], body[1]]),
                codes: body[2..].to_vec(),
            }
        }
        12 => Packet::PingReq,
        13 => Packet::PingResp,
        14 => Packet::Disconnect,
        _ => return Err(MqttError::UnexpectedType(first)),
    };
    buf.advance(i + len);
    Ok(Some(pkt))
}

/// The reading half.
pub struct MqttReader {
    half: ReadHalf<Stream>,
    buf: BytesMut,
}

/// The writing half.
pub struct MqttWriter {
    half: WriteHalf<Stream>,
    buf: BytesMut,
    next_pid: u16,
}

/// A connected MQTT client.
pub struct MqttConn {
    /// The reading half.
    pub reader: MqttReader,
    /// The writing half.
    pub writer: MqttWriter,
    /// Packets since the last yield.
    streak: u32,
}

impl MqttReader {
    /// A packet already buffered, without waiting.
    ///
    /// # Errors
    /// A malformed packet.
    pub fn try_recv(&mut self) -> anyhow::Result<Option<Packet>> {
        Ok(decode(&mut self.buf)?)
    }

    /// The next packet; `None` when the broker closed the connection.
    ///
    /// # Errors
    /// A malformed packet or a failed connection.
    pub async fn recv(&mut self) -> anyhow::Result<Option<Packet>> {
        loop {
            if let Some(p) = decode(&mut self.buf)? {
                return Ok(Some(p));
            }
            glommio::yield_if_needed().await;
            let old = self.buf.len();
            self.buf.resize(old + READ_CHUNK, 0);
            let n = self.half.read(&mut self.buf[old..]).await;
            self.buf.truncate(old + *n.as_ref().unwrap_or(&0));
            if n? == 0 {
                return Ok(None);
            }
        }
    }
}

impl MqttWriter {
    /// A fresh packet identifier (never 0).
    pub fn pid(&mut self) -> u16 {
        self.next_pid = self.next_pid.wrapping_add(1).max(1);
        self.next_pid
    }

    /// The buffer to encode packets into; flushed by [`flush`](Self::flush).
    pub fn buf(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// Flushes when the buffer is large.
    ///
    /// # Errors
    /// The connection failed.
    pub async fn maybe_flush(&mut self) -> anyhow::Result<()> {
        if self.buf.len() >= FLUSH_AT {
            self.flush().await?;
        }
        Ok(())
    }

    /// Writes out everything buffered.
    ///
    /// # Errors
    /// The connection failed.
    pub async fn flush(&mut self) -> anyhow::Result<()> {
        if !self.buf.is_empty() {
            self.half.write_all(&self.buf).await?;
            self.buf.clear();
        }
        Ok(())
    }
}

impl MqttConn {
    /// Connects and completes CONNECT/CONNACK.
    ///
    /// # Errors
    /// Connection failure or a refused CONNECT.
    pub async fn connect(
        target: &Target,
        client_id: &str,
        source: Option<IpAddr>,
    ) -> anyhow::Result<MqttConn> {
        let stream = net::connect(&target.endpoint, source)
            .await
            .context("connect")?;
        let (r, w) = stream.split();
        let mut c = MqttConn {
            reader: MqttReader {
                half: r,
                buf: BytesMut::new(),
            },
            writer: MqttWriter {
                half: w,
                buf: BytesMut::new(),
                next_pid: 0,
            },
            streak: 0,
        };
        encode_connect(client_id, 0, &mut c.writer.buf);
        c.writer.flush().await?;
        match c.reader.recv().await? {
            Some(Packet::ConnAck { code: 0, .. }) => Ok(c),
            Some(Packet::ConnAck { code, .. }) => bail!("CONNECT refused, return code {code}"),
            Some(p) => bail!("expected CONNACK, got {p:?}"),
            None => bail!("connection closed before CONNACK"),
        }
    }

    /// Subscribes to `filter` and waits for SUBACK.
    ///
    /// # Errors
    /// Connection failure or a refused subscription.
    pub async fn subscribe(&mut self, filter: &str, qos: u8) -> anyhow::Result<()> {
        let pid = self.writer.pid();
        encode_subscribe(pid, &[(filter, qos)], &mut self.writer.buf);
        self.writer.flush().await?;
        loop {
            match self.reader.recv().await? {
                Some(Packet::SubAck { pid: p, codes }) if p == pid => {
                    if codes.first().is_none_or(|&c| c == 0x80) {
                        bail!("SUBSCRIBE {filter} refused");
                    }
                    return Ok(());
                }
                Some(_) => {}
                None => bail!("connection closed before SUBACK"),
            }
        }
    }

    /// The next packet, flushing pending writes (PUBACKs) before it waits.
    ///
    /// # Errors
    /// As [`MqttReader::recv`].
    pub async fn next(&mut self) -> anyhow::Result<Option<Packet>> {
        self.streak += 1;
        if self.streak >= crate::wamp::FAIR_SHARE {
            self.streak = 0;
            futures_lite::future::yield_now().await;
        }
        if let Some(p) = self.reader.try_recv()? {
            return Ok(Some(p));
        }
        self.writer.flush().await?;
        self.reader.recv().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_bytes_match_the_spec_example() {
        let mut b = BytesMut::new();
        encode_connect("ab", 60, &mut b);
        assert_eq!(
            &b[..],
            &[
                0x10, 14, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60, 0, 2, b'a', b'b'
            ]
        );
    }

    #[test]
    fn subscribe_bytes() {
        let mut b = BytesMut::new();
        encode_subscribe(7, &[("a/+", 1)], &mut b);
        assert_eq!(&b[..], &[0x82, 8, 0, 7, 0, 3, b'a', b'/', b'+', 1]);
    }

    #[test]
    fn publish_round_trips_at_both_qos() {
        let st = Stamp {
            seq: 9,
            sender: 1,
            t_ns: 77,
        };
        for qos in [0u8, 1] {
            let mut b = BytesMut::new();
            encode_publish("a/b", qos, 300, st, 200, &mut b);
            // 200-byte payload needs a two-byte remaining length.
            assert_eq!(b[1] & 0x80, 0x80);
            let Ok(Some(Packet::Publish {
                qos: q,
                pid,
                topic,
                payload,
            })) = decode(&mut b)
            else {
                panic!("decode")
            };
            assert_eq!(q, qos);
            assert_eq!(pid, (qos == 1).then_some(300));
            assert_eq!(&topic[..], b"a/b");
            assert_eq!(payload.len(), 200);
            assert_eq!(payload::from_mqtt(&payload), Some(st));
            assert!(b.is_empty());
        }
    }

    #[test]
    fn decodes_acks_and_pings_and_waits_for_more() {
        let mut b = BytesMut::from(&[0x20, 0x02, 0x00][..]);
        assert_eq!(decode(&mut b), Ok(None));
        b.put_u8(0);
        assert_eq!(
            decode(&mut b),
            Ok(Some(Packet::ConnAck {
                session_present: false,
                code: 0
            }))
        );
        b.put_slice(&[0x90, 3, 0, 5, 1, 0x40, 2, 1, 2, 0xD0, 0, 0xE0, 0]);
        assert_eq!(
            decode(&mut b),
            Ok(Some(Packet::SubAck {
                pid: 5,
                codes: vec![1]
            }))
        );
        assert_eq!(decode(&mut b), Ok(Some(Packet::PubAck { pid: 258 })));
        assert_eq!(decode(&mut b), Ok(Some(Packet::PingResp)));
        assert_eq!(decode(&mut b), Ok(Some(Packet::Disconnect)));
        let mut p = BytesMut::new();
        encode_pingreq(&mut p);
        encode_puback(3, &mut p);
        encode_disconnect(&mut p);
        assert_eq!(&p[..], &[0xC0, 0, 0x40, 2, 0, 3, 0xE0, 0]);
        assert_eq!(decode(&mut p), Ok(Some(Packet::PingReq)));
    }

    #[test]
    fn rejects_malformed_input() {
        let mut b = BytesMut::from(&[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01][..]);
        assert_eq!(decode(&mut b), Err(MqttError::BadLength));
        let mut b = BytesMut::from(&[0x32, 0x03, 0x00, 0x05, b'a'][..]);
        assert_eq!(decode(&mut b), Err(MqttError::Truncated));
        let mut b = BytesMut::from(&[0x80, 0x00][..]);
        assert_eq!(decode(&mut b), Err(MqttError::UnexpectedType(0x80)));
    }

    #[test]
    fn topics_map_from_wamp() {
        assert_eq!(topic_from_wamp("a.b.c"), "a/b/c");
        assert_eq!(topic_from_wamp("loadgen.pubsub.g0."), "loadgen/pubsub/g0/+");
    }
}
