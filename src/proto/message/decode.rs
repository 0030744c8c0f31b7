//! A decoded wire array `[Code, ...]` → a typed [`Message`]: every field is
//! checked for presence and type, and an error names the field.

use super::*;

impl Message {
    /// Builds a message from its decoded wire array.
    ///
    /// # Errors
    /// [`DecodeError`] when the array is empty, the code is unknown, or an
    /// element is missing or has the wrong type.
    pub fn from_list(list: Vec<Value>) -> Result<Message, DecodeError> {
        let mut it = Fields::new(list)?;
        let code = it.code;
        use code::*;
        let msg = match code {
            HELLO => Message::Hello(Hello {
                realm: it.nullable_string("Realm")?,
                details: it.dict("Details")?,
            }),
            WELCOME => Message::Welcome(Welcome {
                session: SessionId(it.id("Session")?),
                details: it.dict("Details")?,
            }),
            ABORT => Message::Abort(Abort {
                details: it.dict("Details")?,
                reason: it.string("Reason")?,
                payload: it.payload()?,
            }),
            CHALLENGE => Message::Challenge(Challenge {
                auth_method: it.string("AuthMethod")?,
                extra: it.dict("Extra")?,
            }),
            AUTHENTICATE => Message::Authenticate(Authenticate {
                signature: it.string("Signature")?,
                extra: it.dict("Extra")?,
            }),
            GOODBYE => Message::Goodbye(Goodbye {
                details: it.dict("Details")?,
                reason: it.string("Reason")?,
            }),
            ERROR => Message::Error(Error {
                request_type: it.uint("REQUEST.Type")?,
                request: RequestId(it.id("REQUEST.Request")?),
                details: it.dict("Details")?,
                error: it.string("Error")?,
                payload: it.payload()?,
            }),
            PUBLISH => Message::Publish(Publish {
                request: RequestId(it.id("Request")?),
                options: it.dict("Options")?,
                topic: it.string("Topic")?,
                payload: it.payload()?,
            }),
            PUBLISHED => Message::Published(Published {
                request: RequestId(it.id("PUBLISH.Request")?),
                publication: PublicationId(it.id("Publication")?),
            }),
            SUBSCRIBE => Message::Subscribe(Subscribe {
                request: RequestId(it.id("Request")?),
                options: it.dict("Options")?,
                topic: it.string("Topic")?,
            }),
            SUBSCRIBED => Message::Subscribed(Subscribed {
                request: RequestId(it.id("SUBSCRIBE.Request")?),
                subscription: SubscriptionId(it.id("Subscription")?),
            }),
            UNSUBSCRIBE => Message::Unsubscribe(Unsubscribe {
                request: RequestId(it.id("Request")?),
                subscription: SubscriptionId(it.id("SUBSCRIBED.Subscription")?),
            }),
            UNSUBSCRIBED => Message::Unsubscribed(Unsubscribed {
                request: RequestId(it.uint("UNSUBSCRIBE.Request")?),
                details: it.opt_dict("Details")?,
            }),
            EVENT => Message::Event(Event {
                subscription: SubscriptionId(it.id("SUBSCRIBED.Subscription")?),
                publication: PublicationId(it.id("PUBLISHED.Publication")?),
                details: it.dict("Details")?,
                payload: it.payload()?,
            }),
            CALL => Message::Call(Call {
                request: RequestId(it.id("Request")?),
                options: it.dict("Options")?,
                procedure: it.string("Procedure")?,
                payload: it.payload()?,
            }),
            CANCEL => Message::Cancel(Cancel {
                request: RequestId(it.id("CALL.Request")?),
                options: it.dict("Options")?,
            }),
            RESULT => Message::Result(CallResult {
                request: RequestId(it.id("CALL.Request")?),
                details: it.dict("Details")?,
                payload: it.payload()?,
            }),
            REGISTER => Message::Register(Register {
                request: RequestId(it.id("Request")?),
                options: it.dict("Options")?,
                procedure: it.string("Procedure")?,
            }),
            REGISTERED => Message::Registered(Registered {
                request: RequestId(it.id("REGISTER.Request")?),
                registration: RegistrationId(it.id("Registration")?),
            }),
            UNREGISTER => Message::Unregister(Unregister {
                request: RequestId(it.id("Request")?),
                registration: RegistrationId(it.id("REGISTERED.Registration")?),
            }),
            UNREGISTERED => Message::Unregistered(Unregistered {
                request: RequestId(it.uint("UNREGISTER.Request")?),
                details: it.opt_dict("Details")?,
            }),
            INVOCATION => Message::Invocation(Invocation {
                request: RequestId(it.id("Request")?),
                registration: RegistrationId(it.id("REGISTERED.Registration")?),
                details: it.dict("Details")?,
                payload: it.payload()?,
            }),
            INTERRUPT => Message::Interrupt(Interrupt {
                request: RequestId(it.id("INVOCATION.Request")?),
                options: it.dict("Options")?,
            }),
            YIELD => Message::Yield(Yield {
                request: RequestId(it.id("INVOCATION.Request")?),
                options: it.dict("Options")?,
                payload: it.payload()?,
            }),
            other => return Err(DecodeError::UnknownMessageType(other)),
        };
        it.finish(msg)
    }
}

/// Takes a wire array apart element by element, with errors that name the field.
struct Fields {
    code: u64,
    items: std::vec::IntoIter<Value>,
    /// The last dict read announced a transparent payload (`enc_algo`): the
    /// payload may stand bare in place of the arguments list.
    transparent: bool,
}

impl Fields {
    fn new(list: Vec<Value>) -> Result<Self, DecodeError> {
        let mut items = list.into_iter();
        let code = match items.next() {
            Some(v) => v.as_u64().ok_or(DecodeError::BadMessageType)?,
            None => return Err(DecodeError::EmptyMessage),
        };
        Ok(Fields {
            code,
            items,
            transparent: false,
        })
    }

    fn next(&mut self, field: &'static str) -> Result<Value, DecodeError> {
        self.items.next().ok_or(DecodeError::MissingField {
            message: code_name(self.code),
            field,
        })
    }

    fn wrong(&self, field: &'static str, expected: &'static str) -> DecodeError {
        DecodeError::WrongType {
            message: code_name(self.code),
            field,
            expected,
        }
    }

    fn string(&mut self, field: &'static str) -> Result<String, DecodeError> {
        match self.next(field)? {
            Value::Str(s) => Ok(s),
            _ => Err(self.wrong(field, "a string")),
        }
    }

    /// A string or `null` (HELLO.Realm, see [`Hello::realm`]).
    fn nullable_string(&mut self, field: &'static str) -> Result<Option<String>, DecodeError> {
        match self.next(field)? {
            Value::Str(s) => Ok(Some(s)),
            Value::Null => Ok(None),
            _ => Err(self.wrong(field, "a string (or null)")),
        }
    }

    fn uint(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        let v = self.next(field)?;
        v.as_u64()
            .ok_or_else(|| self.wrong(field, "a non-negative integer"))
    }

    fn id(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        let v = self.uint(field)?;
        if is_valid_id(v) {
            Ok(v)
        } else {
            Err(self.wrong(field, "an ID in [1, 2^53]"))
        }
    }

    fn dict(&mut self, field: &'static str) -> Result<Dict, DecodeError> {
        match self.next(field)? {
            Value::Dict(d) => {
                self.transparent = passthru::transparent(&d);
                Ok(d)
            }
            _ => Err(self.wrong(field, "a dict")),
        }
    }

    fn opt_dict(&mut self, field: &'static str) -> Result<Option<Dict>, DecodeError> {
        match self.items.next() {
            None => Ok(None),
            Some(Value::Dict(d)) => Ok(Some(d)),
            Some(_) => Err(self.wrong(field, "a dict")),
        }
    }

    fn payload(&mut self) -> Result<Payload, DecodeError> {
        let args = match self.items.next() {
            None => return Ok(Payload::empty()),
            Some(Value::List(l)) => l,
            // A transparent payload (see `passthru`): nothing may follow it.
            Some(v @ (Value::Bytes(_) | Value::Str(_))) if self.transparent => {
                return Ok(Payload::args(vec![v]));
            }
            Some(_) => return Err(self.wrong("Arguments", "a list")),
        };
        let kwargs = match self.items.next() {
            None => None,
            Some(Value::Dict(d)) => Some(d),
            Some(_) => return Err(self.wrong("ArgumentsKw", "a dict")),
        };
        Ok(Payload {
            args: Some(args),
            kwargs,
        })
    }

    fn finish(mut self, msg: Message) -> Result<Message, DecodeError> {
        if self.items.next().is_some() {
            return Err(DecodeError::TrailingFields {
                message: code_name(self.code),
            });
        }
        Ok(msg)
    }
}
