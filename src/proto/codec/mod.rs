//! The three WAMP serializers: JSON, MessagePack and CBOR.
//!
//! Each codec module decodes one whole message (a byte slice, already framed
//! by the transport) into a `Vec<Value>` and encodes through a [`Writer`], so
//! [`Message::write_to`](super::message::Message::write_to) drives all three.
//! Codecs know nothing of message layouts; [`super::message`] knows nothing of bytes.

pub mod cbor;
pub mod json;
pub mod msgpack;
pub(crate) mod writer;

use bytes::{Bytes, BytesMut};

pub use self::writer::Writer;
use super::error::DecodeError;
use super::ids::{PublicationId, SubscriptionId};
use super::message::{Message, Payload};
use super::value::Dict;

/// Deepest nesting of lists and dicts a decoder accepts (the message list
/// itself counts as one level). Deeper input is a protocol violation, never a
/// stack overflow.
pub const MAX_DEPTH: usize = 64;

/// How many elements to reserve for a container whose header claims `claimed`
/// entries, each taking at least `min_size` bytes of input, when `remaining`
/// input bytes are left. Never more than the input could actually hold, so a
/// forged length prefix cannot make a decoder allocate gigabytes.
pub(crate) fn capped_capacity(claimed: u64, remaining: usize, min_size: usize) -> usize {
    let fits = remaining / min_size.max(1);
    usize::try_from(claimed).map_or(fits, |c| c.min(fits))
}

/// A WAMP serializer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Serializer {
    /// `wamp.2.json`: UTF-8 text; binary as `"\u0000"` + base64.
    Json,
    /// `wamp.2.msgpack`.
    MsgPack,
    /// `wamp.2.cbor`.
    Cbor,
}

impl Serializer {
    /// All serializers, in [`Serializer::index`] order.
    pub const ALL: [Serializer; 3] = [Serializer::Json, Serializer::MsgPack, Serializer::Cbor];

    /// A dense index in `0..3`, for per-serializer caches.
    pub const fn index(self) -> usize {
        match self {
            Serializer::Json => 0,
            Serializer::MsgPack => 1,
            Serializer::Cbor => 2,
        }
    }

    /// Short name as used in config files (`json`, `msgpack`, `cbor`).
    pub const fn name(self) -> &'static str {
        match self {
            Serializer::Json => "json",
            Serializer::MsgPack => "msgpack",
            Serializer::Cbor => "cbor",
        }
    }

    /// Parses a config-file name.
    pub fn from_name(name: &str) -> Option<Serializer> {
        Serializer::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The WebSocket subprotocol that selects this serializer.
    pub const fn ws_subprotocol(self) -> &'static str {
        match self {
            Serializer::Json => "wamp.2.json",
            Serializer::MsgPack => "wamp.2.msgpack",
            Serializer::Cbor => "wamp.2.cbor",
        }
    }

    /// The serializer a WebSocket subprotocol selects.
    pub fn from_ws_subprotocol(p: &str) -> Option<Serializer> {
        Serializer::ALL
            .into_iter()
            .find(|s| s.ws_subprotocol() == p)
    }

    /// The RawSocket handshake's serializer number.
    pub const fn rawsocket_id(self) -> u8 {
        match self {
            Serializer::Json => 1,
            Serializer::MsgPack => 2,
            Serializer::Cbor => 3,
        }
    }

    /// The serializer a RawSocket handshake number selects.
    pub fn from_rawsocket_id(id: u8) -> Option<Serializer> {
        Serializer::ALL.into_iter().find(|s| s.rawsocket_id() == id)
    }

    /// Whether WebSocket carries this serializer in text frames.
    pub const fn is_text(self) -> bool {
        matches!(self, Serializer::Json)
    }

    /// Appends the encoding of `msg` to `out`.
    pub fn encode_into(self, msg: &Message, out: &mut BytesMut) {
        match self {
            Serializer::Json => msg.write_to(&mut json::JsonWriter::new(out)),
            Serializer::MsgPack => msg.write_to(&mut msgpack::MsgPackWriter::new(out)),
            Serializer::Cbor => msg.write_to(&mut cbor::CborWriter::new(out)),
        }
    }

    /// Appends an EVENT built from borrowed parts (the broker's encode-once path).
    pub fn encode_event_into(
        self,
        subscription: SubscriptionId,
        publication: PublicationId,
        details: &Dict,
        payload: &Payload,
        out: &mut BytesMut,
    ) {
        use super::message::write_event;
        match self {
            Serializer::Json => write_event(
                &mut json::JsonWriter::new(out),
                subscription,
                publication,
                details,
                payload,
            ),
            Serializer::MsgPack => write_event(
                &mut msgpack::MsgPackWriter::new(out),
                subscription,
                publication,
                details,
                payload,
            ),
            Serializer::Cbor => write_event(
                &mut cbor::CborWriter::new(out),
                subscription,
                publication,
                details,
                payload,
            ),
        }
    }

    /// Encodes `msg` into fresh bytes.
    pub fn encode(self, msg: &Message) -> Bytes {
        let mut out = BytesMut::with_capacity(128);
        self.encode_into(msg, &mut out);
        out.freeze()
    }

    /// Decodes one whole message.
    ///
    /// # Errors
    /// [`DecodeError`] for bytes that are not a valid WAMP message in this serializer.
    pub fn decode(self, data: &[u8]) -> Result<Message, DecodeError> {
        let list = match self {
            Serializer::Json => json::decode_list(data)?,
            Serializer::MsgPack => msgpack::decode_list(data)?,
            Serializer::Cbor => cbor::decode_list(data)?,
        };
        Message::from_list(list)
    }
}
