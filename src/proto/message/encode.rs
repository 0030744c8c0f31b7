//! A typed [`Message`] → its wire array, written through a codec's
//! [`Writer`] (no intermediate `Value` tree).

use super::*;

impl Message {
    /// Writes the message's wire array through a codec's [`Writer`].
    pub fn write_to<W: Writer>(&self, w: &mut W) {
        let code = self.code();
        match self {
            Message::Hello(m) => {
                w.begin_list(3);
                w.uint(code);
                w.sep();
                match &m.realm {
                    Some(r) => w.str(r),
                    None => w.value(&Value::Null),
                }
                w.sep();
                w.dict(&m.details);
            }
            Message::Welcome(m) => {
                w.begin_list(3);
                w.uint(code);
                w.sep();
                w.uint(m.session.0);
                w.sep();
                w.dict(&m.details);
            }
            Message::Abort(m) => {
                w.begin_list(3 + payload_len(&m.payload));
                w.uint(code);
                w.sep();
                w.dict(&m.details);
                w.sep();
                w.str(&m.reason);
                write_payload(w, &m.payload, &m.details);
            }
            Message::Challenge(m) => {
                w.begin_list(3);
                w.uint(code);
                w.sep();
                w.str(&m.auth_method);
                w.sep();
                w.dict(&m.extra);
            }
            Message::Authenticate(m) => {
                w.begin_list(3);
                w.uint(code);
                w.sep();
                w.str(&m.signature);
                w.sep();
                w.dict(&m.extra);
            }
            Message::Goodbye(m) => {
                w.begin_list(3);
                w.uint(code);
                w.sep();
                w.dict(&m.details);
                w.sep();
                w.str(&m.reason);
            }
            Message::Error(m) => {
                w.begin_list(5 + payload_len(&m.payload));
                w.uint(code);
                w.sep();
                w.uint(m.request_type);
                w.sep();
                w.uint(m.request.0);
                w.sep();
                w.dict(&m.details);
                w.sep();
                w.str(&m.error);
                write_payload(w, &m.payload, &m.details);
            }
            Message::Publish(m) => {
                w.begin_list(4 + payload_len(&m.payload));
                w.uint(code);
                w.sep();
                w.uint(m.request.0);
                w.sep();
                w.dict(&m.options);
                w.sep();
                w.str(&m.topic);
                write_payload(w, &m.payload, &m.options);
            }
            Message::Published(m) => write_ids(w, code, m.request.0, m.publication.0),
            Message::Subscribe(m) => {
                w.begin_list(4);
                w.uint(code);
                w.sep();
                w.uint(m.request.0);
                w.sep();
                w.dict(&m.options);
                w.sep();
                w.str(&m.topic);
            }
            Message::Subscribed(m) => write_ids(w, code, m.request.0, m.subscription.0),
            Message::Unsubscribe(m) => write_ids(w, code, m.request.0, m.subscription.0),
            Message::Unsubscribed(m) => write_ack(w, code, m.request.0, m.details.as_ref()),
            Message::Event(m) => {
                write_event(w, m.subscription, m.publication, &m.details, &m.payload);
                return;
            }
            Message::Call(m) => {
                w.begin_list(4 + payload_len(&m.payload));
                w.uint(code);
                w.sep();
                w.uint(m.request.0);
                w.sep();
                w.dict(&m.options);
                w.sep();
                w.str(&m.procedure);
                write_payload(w, &m.payload, &m.options);
            }
            Message::Cancel(m) => write_id_dict(w, code, m.request.0, &m.options),
            Message::Result(m) => {
                w.begin_list(3 + payload_len(&m.payload));
                w.uint(code);
                w.sep();
                w.uint(m.request.0);
                w.sep();
                w.dict(&m.details);
                write_payload(w, &m.payload, &m.details);
            }
            Message::Register(m) => {
                w.begin_list(4);
                w.uint(code);
                w.sep();
                w.uint(m.request.0);
                w.sep();
                w.dict(&m.options);
                w.sep();
                w.str(&m.procedure);
            }
            Message::Registered(m) => write_ids(w, code, m.request.0, m.registration.0),
            Message::Unregister(m) => write_ids(w, code, m.request.0, m.registration.0),
            Message::Unregistered(m) => write_ack(w, code, m.request.0, m.details.as_ref()),
            Message::Invocation(m) => {
                w.begin_list(4 + payload_len(&m.payload));
                w.uint(code);
                w.sep();
                w.uint(m.request.0);
                w.sep();
                w.uint(m.registration.0);
                w.sep();
                w.dict(&m.details);
                write_payload(w, &m.payload, &m.details);
            }
            Message::Interrupt(m) => write_id_dict(w, code, m.request.0, &m.options),
            Message::Yield(m) => {
                w.begin_list(3 + payload_len(&m.payload));
                w.uint(code);
                w.sep();
                w.uint(m.request.0);
                w.sep();
                w.dict(&m.options);
                write_payload(w, &m.payload, &m.options);
            }
        }
        w.end_list();
    }
}

/// Writes an EVENT from borrowed parts, so the broker can encode one event for
/// many subscriptions without cloning the payload into a [`Message`].
pub fn write_event<W: Writer>(
    w: &mut W,
    subscription: SubscriptionId,
    publication: PublicationId,
    details: &Dict,
    payload: &Payload,
) {
    w.begin_list(4 + payload_len(payload));
    w.uint(code::EVENT);
    w.sep();
    w.uint(subscription.0);
    w.sep();
    w.uint(publication.0);
    w.sep();
    w.dict(details);
    write_payload(w, payload, details);
    w.end_list();
}

/// The element to write in place of the arguments list: `Some` when
/// `details` announce a transparent payload (`enc_algo`) and `p` is one
/// binary or string argument without keyword arguments.
fn bare_payload<'a>(p: &'a Payload, details: &Dict) -> Option<&'a Value> {
    match (p.args.as_deref(), &p.kwargs) {
        (Some([v @ (Value::Bytes(_) | Value::Str(_))]), None) if passthru::transparent(details) => {
            Some(v)
        }
        _ => None,
    }
}

fn payload_len(p: &Payload) -> usize {
    match (&p.args, &p.kwargs) {
        (_, Some(_)) => 2,
        (Some(_), None) => 1,
        (None, None) => 0,
    }
}

/// Writes args and kwargs; when only kwargs are present, args go out as `[]`
/// because the wire format is positional. A transparent payload (`dict`, the
/// message's options or details, has `enc_algo`) goes out bare, in place of
/// the list (see [`super::passthru`]).
fn write_payload<W: Writer>(w: &mut W, p: &Payload, dict: &Dict) {
    if let Some(v) = bare_payload(p, dict) {
        w.sep();
        w.value(v);
        return;
    }
    match (&p.args, &p.kwargs) {
        (None, None) => {}
        (Some(a), None) => {
            w.sep();
            w.list(a);
        }
        (a, Some(k)) => {
            w.sep();
            w.list(a.as_deref().unwrap_or(&[]));
            w.sep();
            w.dict(k);
        }
    }
}

fn write_ids<W: Writer>(w: &mut W, code: u64, a: u64, b: u64) {
    w.begin_list(3);
    w.uint(code);
    w.sep();
    w.uint(a);
    w.sep();
    w.uint(b);
}

fn write_id_dict<W: Writer>(w: &mut W, code: u64, id: u64, d: &Dict) {
    w.begin_list(3);
    w.uint(code);
    w.sep();
    w.uint(id);
    w.sep();
    w.dict(d);
}

fn write_ack<W: Writer>(w: &mut W, code: u64, id: u64, details: Option<&Dict>) {
    w.begin_list(if details.is_some() { 3 } else { 2 });
    w.uint(code);
    w.sep();
    w.uint(id);
    if let Some(d) = details {
        w.sep();
        w.dict(d);
    }
}
