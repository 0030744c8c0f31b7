//! Payloads the router passes on without looking inside, in the two forms
//! clients send them.
//!
//! - **Payload Passthru Mode** (the WAMP spec, announced as
//!   `payload_passthru_mode`; wampy.js, connectanum): PUBLISH, CALL and
//!   YIELD options carry `ppt_scheme` (required), `ppt_serializer`,
//!   `ppt_cipher`, `ppt_keyid`, and the payload is one binary argument
//!   (`Arguments = [payload]`). The router copies the `ppt_*` options into
//!   the EVENT, INVOCATION and RESULT details (an ERROR's details go on
//!   whole).
//! - **Payload transparency** (Autobahn|Python's payload codecs, such as its
//!   end-to-end encryption; Crossbar.io routes it): the options carry
//!   `enc_algo`, `enc_key`, `enc_serializer`, and the payload stands **in
//!   place of** the arguments list, as one binary (or string) element:
//!   `[PUBLISH, Request, Options, Topic, payload]`. The spec does not have
//!   this form. A decoder accepts a bare payload there only when the
//!   message's options or details have `enc_algo` ([`transparent`]); the
//!   router copies the `enc_*` options on like the `ppt_*` ones, and an
//!   encoder writes a payload bare again when the details it writes have
//!   `enc_algo` and the payload is that one element (`message.rs`).
//!
//! Autobahn|Python's `transaction_hash` (an application's hash of the
//! originating PUBLISH or CALL, for XBR) is forwarded the same way, as
//! Crossbar.io does.
//!
//! The values of these options are not checked: the router forwards them.

use super::value::{Dict, Value};

/// The options of PUBLISH, CALL and YIELD the router forwards into EVENT,
/// INVOCATION and RESULT details.
pub const PASSTHRU_KEYS: [&str; 8] = [
    "ppt_scheme",
    "ppt_serializer",
    "ppt_cipher",
    "ppt_keyid",
    "enc_algo",
    "enc_key",
    "enc_serializer",
    "transaction_hash",
];

/// Whether options or details put the message in Payload Passthru Mode
/// (a non-empty `ppt_scheme`).
pub fn is_ppt(d: &Dict) -> bool {
    d.get("ppt_scheme")
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty())
}

/// Whether options or details announce a transparent payload (`enc_algo`).
pub fn transparent(d: &Dict) -> bool {
    d.get("enc_algo").is_some()
}

/// Copies the passthru options of `from` into `to`.
pub fn copy_passthru(from: &Dict, to: &mut Dict) {
    for (k, v) in from.iter() {
        if let Some(key) = PASSTHRU_KEYS.iter().find(|p| **p == k) {
            to.insert(*key, v.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::proto::codec::Serializer;
    use crate::proto::{DecodeError, Message, Payload, Publish, RequestId};

    fn publish(options: Dict, payload: Payload) -> Message {
        Message::Publish(Publish {
            request: RequestId(7),
            options,
            topic: "com.example.t".into(),
            payload,
        })
    }

    fn enc() -> Dict {
        Dict::new()
            .with("enc_algo", "cryptobox")
            .with("enc_key", "k1")
            .with("enc_serializer", "cbor")
    }

    /// Autobahn|Python's form: the payload in place of the arguments list,
    /// read and written again bare, in every serializer.
    #[test]
    fn a_transparent_payload_stands_bare_and_round_trips() {
        let secret = Value::Bytes(Bytes::from_static(b"\x00\x01sealed"));
        let m = publish(enc(), Payload::args(vec![secret.clone()]));
        for s in Serializer::ALL {
            let wire = s.encode(&m);
            let list = match s {
                Serializer::Json => crate::proto::codec::json::decode_list(&wire),
                Serializer::MsgPack => crate::proto::codec::msgpack::decode_list(&wire),
                Serializer::Cbor => crate::proto::codec::cbor::decode_list(&wire),
            }
            .expect("decodes");
            assert_eq!(list.len(), 5, "{s:?}: five elements, no list");
            assert_eq!(list[4], secret, "{s:?}: the payload bare");
            assert_eq!(s.decode(&wire).expect("decodes"), m, "{s:?}");
        }
        // A string payload too (JSON clients may send text).
        let m = publish(enc(), Payload::args(vec![Value::from("c2VhbGVk")]));
        let wire = Serializer::Json.encode(&m);
        assert!(wire.ends_with(b",\"c2VhbGVk\"]"), "{wire:?}");
        assert_eq!(Serializer::Json.decode(&wire).expect("decodes"), m);
    }

    /// Without `enc_algo` a bare payload is what it always was: a wrong
    /// type; and a payload of another shape goes out as a list even with it.
    #[test]
    fn bare_only_with_enc_algo_and_one_element() {
        let bare = br#"[16, 7, {"enc_key": "k"}, "com.example.t", "x"]"#;
        assert!(matches!(
            Serializer::Json.decode(bare),
            Err(DecodeError::WrongType {
                field: "Arguments",
                ..
            })
        ));
        let trailing = br#"[16, 7, {"enc_algo": "x_a"}, "com.example.t", "x", {}]"#;
        assert!(Serializer::Json.decode(trailing).is_err());
        let two = publish(
            enc(),
            Payload::args(vec![Value::from("a"), Value::from("b")]),
        );
        let wire = Serializer::Json.encode(&two);
        assert!(wire.ends_with(b",[\"a\",\"b\"]]"), "{wire:?}");
        let number = publish(enc(), Payload::args(vec![Value::from(1u64)]));
        assert!(Serializer::Json.encode(&number).ends_with(b",[1]]"));
    }

    #[test]
    fn passthru_options_are_copied_and_recognised() {
        let options = Dict::new()
            .with("acknowledge", true)
            .with("transaction_hash", "0xfeed")
            .with("ppt_scheme", "wamp")
            .with("ppt_serializer", "cbor")
            .with("ppt_cipher", "xsalsa20poly1305")
            .with("ppt_keyid", "0xabc")
            .with("exclude_me", false);
        assert!(is_ppt(&options) && !transparent(&options));
        let mut details = Dict::new().with("publisher", 1u64);
        copy_passthru(&options, &mut details);
        let keys: Vec<&str> = details.iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            [
                "publisher",
                "transaction_hash",
                "ppt_scheme",
                "ppt_serializer",
                "ppt_cipher",
                "ppt_keyid"
            ]
        );
        assert!(!is_ppt(&Dict::new().with("ppt_scheme", "")));
        assert!(!is_ppt(&Dict::new().with("ppt_scheme", 1u64)));
        let mut details = Dict::new();
        copy_passthru(&enc(), &mut details);
        assert_eq!(details, enc());
    }
}
