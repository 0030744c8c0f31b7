//! Errors of the sans-IO protocol core.
//!
//! A [`DecodeError`] always means the peer broke the protocol: the router answers
//! it with ABORT `wamp.error.protocol_violation` (its `Display` text becomes the
//! ABORT's message) and closes that one connection.

/// Bytes that are not a valid WAMP message for the negotiated serializer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The bytes are not valid for the serializer (bad JSON, truncated MessagePack, ...).
    #[error("invalid {serializer} data: {detail}")]
    Syntax {
        /// Which serializer failed.
        serializer: &'static str,
        /// What the decoder reported.
        detail: String,
    },
    /// The top-level value is not a list.
    #[error("a WAMP message must be a list")]
    NotAList,
    /// Nesting is deeper than the decoder allows.
    #[error("value nesting deeper than {0} levels")]
    TooDeep(usize),
    /// A dictionary key is not a string.
    #[error("dictionary keys must be strings")]
    NonStringKey,
    /// A JSON string that starts with `\0` is not valid base64.
    #[error("invalid base64 in binary string")]
    BadBase64,
    /// The list is empty.
    #[error("empty message list")]
    EmptyMessage,
    /// The first element is not a non-negative integer.
    #[error("message type must be a non-negative integer")]
    BadMessageType,
    /// The message type code is not one WAMP defines.
    #[error("unknown message type {0}")]
    UnknownMessageType(u64),
    /// A required element is missing.
    #[error("{message}: missing {field}")]
    MissingField {
        /// The message type's name.
        message: &'static str,
        /// The missing element.
        field: &'static str,
    },
    /// An element has the wrong type or range.
    #[error("{message}: {field} must be {expected}")]
    WrongType {
        /// The message type's name.
        message: &'static str,
        /// The element.
        field: &'static str,
        /// What it should be, in words.
        expected: &'static str,
    },
    /// More elements than the message type allows.
    #[error("{message}: too many elements")]
    TrailingFields {
        /// The message type's name.
        message: &'static str,
    },
}
