//! Every WAMP v2 message (basic and advanced profile) as a typed value, and the
//! mapping between a message and its wire array `[Code, ...]`.
//!
//! Direction notes follow the spec: "C→R" is client (caller, callee, publisher,
//! subscriber) to router, "R→C" the other way. The codecs in [`super::codec`]
//! turn bytes into a `Vec<Value>` and back; this module knows the array layout.
//!
//! - `decode.rs`: a decoded wire array → [`Message`] (`Message::from_list`),
//!   with errors that name the field;
//! - `encode.rs`: [`Message`] → a codec's [`Writer`] (`Message::write_to`), and
//!   [`write_event`], which encodes one EVENT from borrowed parts.
//!
//! Imports only the rest of `proto` (no routing core, no I/O).

use super::codec::writer::Writer;
use super::error::DecodeError;
use super::ids::{
    PublicationId, RegistrationId, RequestId, SessionId, SubscriptionId, is_valid_id,
};
use super::passthru;
use super::value::{Dict, Value};

/// Positional and keyword arguments that the router routes without looking inside.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Payload {
    /// `Arguments|list`, absent when the peer sent none.
    pub args: Option<Vec<Value>>,
    /// `ArgumentsKw|dict`, absent when the peer sent none.
    pub kwargs: Option<Dict>,
}

impl Payload {
    /// A payload with neither args nor kwargs.
    pub const fn empty() -> Self {
        Payload {
            args: None,
            kwargs: None,
        }
    }

    /// A payload with only positional arguments.
    pub fn args(args: Vec<Value>) -> Self {
        Payload {
            args: Some(args),
            kwargs: None,
        }
    }

    /// A payload with only keyword arguments (an empty args list before
    /// them on the wire, as the spec's message layout needs).
    pub fn kwargs(kwargs: Dict) -> Self {
        Payload {
            args: Some(Vec::new()),
            kwargs: Some(kwargs),
        }
    }

    /// Whether the payload is empty on the wire (no args and no kwargs).
    pub fn is_empty(&self) -> bool {
        self.args.is_none() && self.kwargs.is_none()
    }
}

/// HELLO `[1, Realm|uri, Details|dict]` (C→R).
#[derive(Debug, Clone, PartialEq)]
pub struct Hello {
    /// The realm to join. The spec requires a URI; Autobahn|Python sends
    /// `null` when the application leaves the realm to the router (the
    /// authentication then assigns one): `None` (the decoder:
    /// only `null` is accepted, any other non-string stays an error).
    pub realm: Option<String>,
    /// Roles, authentication methods, agent.
    pub details: Dict,
}

/// WELCOME `[2, Session|id, Details|dict]` (R→C).
#[derive(Debug, Clone, PartialEq)]
pub struct Welcome {
    /// The new session's ID.
    pub session: SessionId,
    /// Router roles, authid, authrole, ...
    pub details: Dict,
}

/// ABORT `[3, Details|dict, Reason|uri, (Arguments|list, (ArgumentsKw|dict))]` (both ways).
#[derive(Debug, Clone, PartialEq)]
pub struct Abort {
    /// Details, usually `{"message": "..."}`.
    pub details: Dict,
    /// The reason URI.
    pub reason: String,
    /// Optional payload.
    pub payload: Payload,
}

/// CHALLENGE `[4, AuthMethod|string, Extra|dict]` (R→C).
#[derive(Debug, Clone, PartialEq)]
pub struct Challenge {
    /// The authentication method being used.
    pub auth_method: String,
    /// Method-specific data.
    pub extra: Dict,
}

/// AUTHENTICATE `[5, Signature|string, Extra|dict]` (C→R).
#[derive(Debug, Clone, PartialEq)]
pub struct Authenticate {
    /// The signature or ticket.
    pub signature: String,
    /// Method-specific data.
    pub extra: Dict,
}

/// GOODBYE `[6, Details|dict, Reason|uri]` (both ways).
#[derive(Debug, Clone, PartialEq)]
pub struct Goodbye {
    /// Details, usually `{"message": "..."}`.
    pub details: Dict,
    /// The reason URI.
    pub reason: String,
}

/// ERROR `[8, REQUEST.Type|int, REQUEST.Request|id, Details|dict, Error|uri, (args, (kwargs))]` (both ways).
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    /// The message code of the request that failed.
    pub request_type: u64,
    /// The failed request's ID.
    pub request: RequestId,
    /// Details.
    pub details: Dict,
    /// The error URI.
    pub error: String,
    /// Optional payload.
    pub payload: Payload,
}

/// PUBLISH `[16, Request|id, Options|dict, Topic|uri, (args, (kwargs))]` (C→R).
#[derive(Debug, Clone, PartialEq)]
pub struct Publish {
    /// Request ID.
    pub request: RequestId,
    /// Options (`acknowledge`, `exclude_me`, ...).
    pub options: Dict,
    /// The topic.
    pub topic: String,
    /// The event payload.
    pub payload: Payload,
}

/// PUBLISHED `[17, PUBLISH.Request|id, Publication|id]` (R→C).
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    /// The PUBLISH request ID.
    pub request: RequestId,
    /// The publication's ID.
    pub publication: PublicationId,
}

/// SUBSCRIBE `[32, Request|id, Options|dict, Topic|uri]` (C→R).
#[derive(Debug, Clone, PartialEq)]
pub struct Subscribe {
    /// Request ID.
    pub request: RequestId,
    /// Options (`match`, ...).
    pub options: Dict,
    /// The topic or pattern.
    pub topic: String,
}

/// SUBSCRIBED `[33, SUBSCRIBE.Request|id, Subscription|id]` (R→C).
#[derive(Debug, Clone, PartialEq)]
pub struct Subscribed {
    /// The SUBSCRIBE request ID.
    pub request: RequestId,
    /// The subscription's ID.
    pub subscription: SubscriptionId,
}

/// UNSUBSCRIBE `[34, Request|id, SUBSCRIBED.Subscription|id]` (C→R).
#[derive(Debug, Clone, PartialEq)]
pub struct Unsubscribe {
    /// Request ID.
    pub request: RequestId,
    /// The subscription to end.
    pub subscription: SubscriptionId,
}

/// UNSUBSCRIBED `[35, UNSUBSCRIBE.Request|id, (Details|dict)]` (R→C).
///
/// The details form (request 0) is the advanced profile's subscription revocation.
#[derive(Debug, Clone, PartialEq)]
pub struct Unsubscribed {
    /// The UNSUBSCRIBE request ID, or 0 for a router-initiated revocation.
    pub request: RequestId,
    /// Revocation details, when present.
    pub details: Option<Dict>,
}

/// EVENT `[36, SUBSCRIBED.Subscription|id, PUBLISHED.Publication|id, Details|dict, (args, (kwargs))]` (R→C).
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The subscription the event is delivered for.
    pub subscription: SubscriptionId,
    /// The publication's ID.
    pub publication: PublicationId,
    /// Details (`topic` for pattern subscriptions, `publisher` when disclosed, ...).
    pub details: Dict,
    /// The event payload.
    pub payload: Payload,
}

/// CALL `[48, Request|id, Options|dict, Procedure|uri, (args, (kwargs))]` (C→R).
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// Request ID.
    pub request: RequestId,
    /// Options (`timeout`, `receive_progress`, `disclose_me`, ...).
    pub options: Dict,
    /// The procedure.
    pub procedure: String,
    /// The call's arguments.
    pub payload: Payload,
}

/// CANCEL `[49, CALL.Request|id, Options|dict]` (C→R).
#[derive(Debug, Clone, PartialEq)]
pub struct Cancel {
    /// The CALL to cancel.
    pub request: RequestId,
    /// Options (`mode`).
    pub options: Dict,
}

/// RESULT `[50, CALL.Request|id, Details|dict, (args, (kwargs))]` (R→C).
#[derive(Debug, Clone, PartialEq)]
pub struct CallResult {
    /// The CALL request ID.
    pub request: RequestId,
    /// Details (`progress`).
    pub details: Dict,
    /// The result.
    pub payload: Payload,
}

/// REGISTER `[64, Request|id, Options|dict, Procedure|uri]` (C→R).
#[derive(Debug, Clone, PartialEq)]
pub struct Register {
    /// Request ID.
    pub request: RequestId,
    /// Options (`match`, `invoke`, ...).
    pub options: Dict,
    /// The procedure or pattern.
    pub procedure: String,
}

/// REGISTERED `[65, REGISTER.Request|id, Registration|id]` (R→C).
#[derive(Debug, Clone, PartialEq)]
pub struct Registered {
    /// The REGISTER request ID.
    pub request: RequestId,
    /// The registration's ID.
    pub registration: RegistrationId,
}

/// UNREGISTER `[66, Request|id, REGISTERED.Registration|id]` (C→R).
#[derive(Debug, Clone, PartialEq)]
pub struct Unregister {
    /// Request ID.
    pub request: RequestId,
    /// The registration to end.
    pub registration: RegistrationId,
}

/// UNREGISTERED `[67, UNREGISTER.Request|id, (Details|dict)]` (R→C).
///
/// The details form (request 0) is the advanced profile's registration revocation.
#[derive(Debug, Clone, PartialEq)]
pub struct Unregistered {
    /// The UNREGISTER request ID, or 0 for a router-initiated revocation.
    pub request: RequestId,
    /// Revocation details, when present.
    pub details: Option<Dict>,
}

/// INVOCATION `[68, Request|id, REGISTERED.Registration|id, Details|dict, (args, (kwargs))]` (R→C).
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    /// The router-chosen request ID for this invocation.
    pub request: RequestId,
    /// The registration being invoked.
    pub registration: RegistrationId,
    /// Details (`procedure` for pattern registrations, `caller` when disclosed, ...).
    pub details: Dict,
    /// The call's arguments.
    pub payload: Payload,
}

/// INTERRUPT `[69, INVOCATION.Request|id, Options|dict]` (R→C).
#[derive(Debug, Clone, PartialEq)]
pub struct Interrupt {
    /// The invocation to interrupt.
    pub request: RequestId,
    /// Options (`mode`, `reason`).
    pub options: Dict,
}

/// YIELD `[70, INVOCATION.Request|id, Options|dict, (args, (kwargs))]` (C→R).
#[derive(Debug, Clone, PartialEq)]
pub struct Yield {
    /// The INVOCATION request ID.
    pub request: RequestId,
    /// Options (`progress`).
    pub options: Dict,
    /// The result.
    pub payload: Payload,
}

/// Any WAMP message.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub enum Message {
    Hello(Hello),
    Welcome(Welcome),
    Abort(Abort),
    Challenge(Challenge),
    Authenticate(Authenticate),
    Goodbye(Goodbye),
    Error(Error),
    Publish(Publish),
    Published(Published),
    Subscribe(Subscribe),
    Subscribed(Subscribed),
    Unsubscribe(Unsubscribe),
    Unsubscribed(Unsubscribed),
    Event(Event),
    Call(Call),
    Cancel(Cancel),
    Result(CallResult),
    Register(Register),
    Registered(Registered),
    Unregister(Unregister),
    Unregistered(Unregistered),
    Invocation(Invocation),
    Interrupt(Interrupt),
    Yield(Yield),
}

/// Message type codes, as the spec numbers them.
#[allow(missing_docs)]
pub mod code {
    pub const HELLO: u64 = 1;
    pub const WELCOME: u64 = 2;
    pub const ABORT: u64 = 3;
    pub const CHALLENGE: u64 = 4;
    pub const AUTHENTICATE: u64 = 5;
    pub const GOODBYE: u64 = 6;
    pub const ERROR: u64 = 8;
    pub const PUBLISH: u64 = 16;
    pub const PUBLISHED: u64 = 17;
    pub const SUBSCRIBE: u64 = 32;
    pub const SUBSCRIBED: u64 = 33;
    pub const UNSUBSCRIBE: u64 = 34;
    pub const UNSUBSCRIBED: u64 = 35;
    pub const EVENT: u64 = 36;
    pub const CALL: u64 = 48;
    pub const CANCEL: u64 = 49;
    pub const RESULT: u64 = 50;
    pub const REGISTER: u64 = 64;
    pub const REGISTERED: u64 = 65;
    pub const UNREGISTER: u64 = 66;
    pub const UNREGISTERED: u64 = 67;
    pub const INVOCATION: u64 = 68;
    pub const INTERRUPT: u64 = 69;
    pub const YIELD: u64 = 70;
}

impl Message {
    /// The message's type code.
    pub fn code(&self) -> u64 {
        use code::*;
        match self {
            Message::Hello(_) => HELLO,
            Message::Welcome(_) => WELCOME,
            Message::Abort(_) => ABORT,
            Message::Challenge(_) => CHALLENGE,
            Message::Authenticate(_) => AUTHENTICATE,
            Message::Goodbye(_) => GOODBYE,
            Message::Error(_) => ERROR,
            Message::Publish(_) => PUBLISH,
            Message::Published(_) => PUBLISHED,
            Message::Subscribe(_) => SUBSCRIBE,
            Message::Subscribed(_) => SUBSCRIBED,
            Message::Unsubscribe(_) => UNSUBSCRIBE,
            Message::Unsubscribed(_) => UNSUBSCRIBED,
            Message::Event(_) => EVENT,
            Message::Call(_) => CALL,
            Message::Cancel(_) => CANCEL,
            Message::Result(_) => RESULT,
            Message::Register(_) => REGISTER,
            Message::Registered(_) => REGISTERED,
            Message::Unregister(_) => UNREGISTER,
            Message::Unregistered(_) => UNREGISTERED,
            Message::Invocation(_) => INVOCATION,
            Message::Interrupt(_) => INTERRUPT,
            Message::Yield(_) => YIELD,
        }
    }

    /// The spec's name for the message type, for error reasons and logs.
    pub fn name(&self) -> &'static str {
        code_name(self.code())
    }
}

/// The spec's name for a message code ("UNKNOWN" for codes it does not define).
pub fn code_name(code: u64) -> &'static str {
    use code::*;
    match code {
        HELLO => "HELLO",
        WELCOME => "WELCOME",
        ABORT => "ABORT",
        CHALLENGE => "CHALLENGE",
        AUTHENTICATE => "AUTHENTICATE",
        GOODBYE => "GOODBYE",
        ERROR => "ERROR",
        PUBLISH => "PUBLISH",
        PUBLISHED => "PUBLISHED",
        SUBSCRIBE => "SUBSCRIBE",
        SUBSCRIBED => "SUBSCRIBED",
        UNSUBSCRIBE => "UNSUBSCRIBE",
        UNSUBSCRIBED => "UNSUBSCRIBED",
        EVENT => "EVENT",
        CALL => "CALL",
        CANCEL => "CANCEL",
        RESULT => "RESULT",
        REGISTER => "REGISTER",
        REGISTERED => "REGISTERED",
        UNREGISTER => "UNREGISTER",
        UNREGISTERED => "UNREGISTERED",
        INVOCATION => "INVOCATION",
        INTERRUPT => "INTERRUPT",
        YIELD => "YIELD",
        _ => "UNKNOWN",
    }
}

mod decode;
mod encode;

pub use encode::write_event;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::Serializer;

    fn hello(realm: Value) -> Result<Message, DecodeError> {
        Message::from_list(vec![
            Value::from(code::HELLO),
            realm,
            Value::Dict(Dict::new()),
        ])
    }

    #[test]
    fn hello_realm_may_be_null_but_no_other_non_string() {
        match hello(Value::Null) {
            Ok(Message::Hello(h)) => assert_eq!(h.realm, None),
            other => panic!("a null realm is accepted, got {other:?}"),
        }
        match hello(Value::from("realm1")) {
            Ok(Message::Hello(h)) => assert_eq!(h.realm.as_deref(), Some("realm1")),
            other => panic!("a string realm is accepted, got {other:?}"),
        }
        for bad in [
            Value::from(7u64),
            Value::List(vec![]),
            Value::Dict(Dict::new()),
        ] {
            let err = hello(bad).expect_err("a realm that is neither a string nor null");
            assert_eq!(err.to_string(), "HELLO: Realm must be a string (or null)");
        }
    }

    #[test]
    fn a_null_hello_realm_is_encoded_as_null() {
        let m = Message::Hello(Hello {
            realm: None,
            details: Dict::new(),
        });
        let bytes = Serializer::Json.encode(&m);
        assert_eq!(&bytes[..], b"[1,null,{}]");
        assert_eq!(Serializer::Json.decode(&bytes).expect("decodes"), m);
    }
}
