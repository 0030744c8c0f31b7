//! WAMP over HTTP long-poll, sans-IO: the protocol a client may ask for in
//! its `open` request, and the batching of messages in request and response
//! bodies (the spec's "HTTP Longpoll Transport" and "Message Batching").
//!
//! - Unbatched protocols (`wamp.2.json`, `wamp.2.msgpack`, `wamp.2.cbor`):
//!   a body is exactly one WAMP message.
//! - `wamp.2.json.batched`: each message followed by one separator octet.
//!   The spec's separator is 0x1E (record separator), and Junction sends
//!   that. Autobahn|Python and Crossbar.io write the separator as the Python
//!   string `'\30'`, which is octal, i.e. 0x18; Junction accepts **both** in
//!   what clients send (neither can occur inside JSON text, where control
//!   characters are escaped). A final message without a separator is
//!   accepted too.
//! - `wamp.2.msgpack.batched`, `wamp.2.cbor.batched`: each message preceded
//!   by its length as a 32-bit big-endian unsigned integer.
//!
//! An empty batch (no message) is refused, as the spec asks.

use bytes::{BufMut, Bytes, BytesMut};

use super::Serializer;

/// The spec's JSON batch separator (ASCII record separator).
pub const JSON_SEPARATOR: u8 = 0x1E;
/// The separator Autobahn|Python and Crossbar.io actually write (`'\30'`).
pub const JSON_SEPARATOR_AUTOBAHN: u8 = 0x18;

/// A long-poll protocol: a serializer, batched or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Protocol {
    /// The serializer.
    pub serializer: Serializer,
    /// Whether bodies carry batches.
    pub batched: bool,
}

impl Protocol {
    /// The protocol named `name` (`wamp.2.json`, `wamp.2.msgpack.batched`, ...).
    pub fn from_name(name: &str) -> Option<Protocol> {
        let rest = name.strip_prefix("wamp.2.")?;
        let (ser, batched) = match rest.strip_suffix(".batched") {
            Some(s) => (s, true),
            None => (rest, false),
        };
        let serializer = Serializer::from_name(ser)?;
        Some(Protocol {
            serializer,
            batched,
        })
    }

    /// The protocol's name.
    pub fn name(self) -> String {
        let b = if self.batched { ".batched" } else { "" };
        format!("wamp.2.{}{b}", self.serializer.name())
    }

    /// The first protocol of `offered` (the client's preference order) whose
    /// serializer is in `allowed`.
    pub fn choose<'a>(
        offered: impl IntoIterator<Item = &'a str>,
        allowed: &[Serializer],
    ) -> Option<Protocol> {
        offered
            .into_iter()
            .filter_map(Protocol::from_name)
            .find(|p| allowed.contains(&p.serializer))
    }

    /// The `Content-Type` of bodies in this protocol.
    pub fn mime_type(self) -> &'static str {
        match self.serializer {
            Serializer::Json => "application/json; charset=utf-8",
            Serializer::MsgPack => "application/x-msgpack",
            Serializer::Cbor => "application/cbor",
        }
    }

    /// Splits a request body into its WAMP messages.
    ///
    /// # Errors
    /// [`BatchError`] for an empty body, an empty batch, a truncated length
    /// prefix or message.
    pub fn split(self, body: &[u8]) -> Result<Vec<&[u8]>, BatchError> {
        if body.is_empty() {
            return Err(BatchError::Empty);
        }
        if !self.batched {
            return Ok(vec![body]);
        }
        let mut out = Vec::new();
        match self.serializer {
            Serializer::Json => {
                for part in body.split(|&b| b == JSON_SEPARATOR || b == JSON_SEPARATOR_AUTOBAHN) {
                    if !part.iter().all(u8::is_ascii_whitespace) {
                        out.push(part);
                    }
                }
            }
            Serializer::MsgPack | Serializer::Cbor => {
                let mut rest = body;
                while !rest.is_empty() {
                    let Some((len, tail)) = rest.split_first_chunk::<4>() else {
                        return Err(BatchError::Truncated);
                    };
                    let len = u32::from_be_bytes(*len) as usize;
                    if tail.len() < len {
                        return Err(BatchError::Truncated);
                    }
                    out.push(&tail[..len]);
                    rest = &tail[len..];
                }
            }
        }
        if out.is_empty() {
            return Err(BatchError::Empty);
        }
        Ok(out)
    }

    /// Appends one encoded message to a response body in this protocol's
    /// framing (unbatched: the message as is; a body holds only one).
    pub fn append(self, frame: &[u8], out: &mut BytesMut) {
        if !self.batched {
            out.extend_from_slice(frame);
            return;
        }
        match self.serializer {
            Serializer::Json => {
                out.extend_from_slice(frame);
                out.put_u8(JSON_SEPARATOR);
            }
            Serializer::MsgPack | Serializer::Cbor => {
                out.put_u32(u32::try_from(frame.len()).unwrap_or(u32::MAX));
                out.extend_from_slice(frame);
            }
        }
    }

    /// A response body of `frames` (all of them: call with one frame when
    /// unbatched).
    pub fn join<'a>(self, frames: impl IntoIterator<Item = &'a [u8]>) -> Bytes {
        let mut out = BytesMut::new();
        for f in frames {
            self.append(f, &mut out);
        }
        out.freeze()
    }
}

/// A long-poll body that is not a valid batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// No message at all.
    #[error("empty batch (no WAMP message)")]
    Empty,
    /// A length prefix or a message cut short.
    #[error("truncated batch")]
    Truncated,
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn protocols_by_name_and_preference() {
        let p = Protocol::from_name("wamp.2.msgpack.batched").expect("known");
        assert_eq!(
            (p.serializer, p.batched, p.name().as_str()),
            (Serializer::MsgPack, true, "wamp.2.msgpack.batched")
        );
        assert_eq!(Protocol::from_name("wamp.2.ubjson"), None);
        assert_eq!(Protocol::from_name("wamp.1.json"), None);
        let chosen = Protocol::choose(
            ["wamp.2.ubjson", "wamp.2.cbor", "wamp.2.json"],
            &[Serializer::Json, Serializer::MsgPack],
        );
        assert_eq!(chosen.map(Protocol::name).as_deref(), Some("wamp.2.json"));
        assert_eq!(Protocol::choose(["x"], &Serializer::ALL), None);
    }

    #[test]
    fn json_batches_take_both_separators() {
        let p = Protocol::from_name("wamp.2.json.batched").expect("known");
        let body = b"[1,\"realm1\",{}]\x1e[6,{},\"x\"]\x18[2]";
        assert_eq!(
            p.split(body).expect("ok"),
            vec![&b"[1,\"realm1\",{}]"[..], b"[6,{},\"x\"]", b"[2]"]
        );
        assert_eq!(p.split(b"[2]\x1e").expect("ok"), vec![&b"[2]"[..]]);
        assert_eq!(p.split(b"\x1e\x18"), Err(BatchError::Empty));
        assert_eq!(p.split(b""), Err(BatchError::Empty));
        assert_eq!(&p.join([&b"[1]"[..], b"[2]"])[..], b"[1]\x1e[2]\x1e");
    }

    #[test]
    fn unbatched_bodies_are_one_message() {
        let p = Protocol::from_name("wamp.2.json").expect("known");
        assert_eq!(
            p.split(b"[1]\x1e[2]").expect("ok"),
            vec![&b"[1]\x1e[2]"[..]]
        );
        assert_eq!(&p.join([&b"[1]"[..]])[..], b"[1]");
        assert_eq!(p.mime_type(), "application/json; charset=utf-8");
    }

    #[test]
    fn length_prefixed_batches() {
        let p = Protocol::from_name("wamp.2.msgpack.batched").expect("known");
        let body = p.join([&b"\x93\x01\x02\x03"[..], b"\x91\x02"]);
        assert_eq!(&body[..4], &[0, 0, 0, 4]);
        assert_eq!(
            p.split(&body).expect("ok"),
            vec![&b"\x93\x01\x02\x03"[..], b"\x91\x02"]
        );
        assert_eq!(p.split(&body[..body.len() - 1]), Err(BatchError::Truncated));
        assert_eq!(p.split(&[0, 0]), Err(BatchError::Truncated));
    }

    proptest! {
        #[test]
        fn join_then_split_gives_the_messages_back(
            msgs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..40), 1..8),
            ser in 0usize..3,
        ) {
            let p = Protocol { serializer: Serializer::ALL[ser], batched: true };
            // JSON text never holds the separators or is only whitespace.
            let msgs: Vec<Vec<u8>> = if p.serializer == Serializer::Json {
                msgs.into_iter().map(|m| m.into_iter().map(|b| if b == 0x1e || b == 0x18 || b.is_ascii_whitespace() { b'x' } else { b }).collect()).collect()
            } else { msgs };
            let body = p.join(msgs.iter().map(Vec::as_slice));
            let back = p.split(&body).expect("a joined batch splits");
            prop_assert_eq!(back, msgs.iter().map(Vec::as_slice).collect::<Vec<_>>());
        }
    }
}
