//! The HTTP bridge: `publisher`, `caller` and `webhook` paths, answering
//! as Crossbar's REST bridge does (`crossbar/bridge/rest`).
//!
//! A request is checked in Crossbar's order: the method (`POST` or `PUT`;
//! `OPTIONS` answers the CORS preflight; anything else 405), the
//! `Content-Type` (`application/json` when given; `webhook` takes any) and
//! its charset (UTF-8), `post_body_limit` (413), GitHub's signature
//! (`webhook` with `github_secret`), the signed-request fields and
//! signature ([`sign`]), `require_ip`, `require_tls`, UTF-8, then the JSON
//! body (an object). Refusals answer `{"error": <message>, "args": [],
//! "kwargs": {}}` with Crossbar's status and message.
//!
//! Then the path's **service session** ([`session`]) publishes or calls on
//! the shard that got the request, as a session of the router with the
//! path's realm and role, so authorization applies to that role and the
//! publication or call is routed across shards like any other:
//!
//! - `publisher`: `{"topic", "args", "kwargs", "options"}` → PUBLISH with
//!   `acknowledge` (and the options Crossbar forwards) → 200 `{"id": N}`;
//! - `caller`: `{"procedure", "args", "kwargs"}` → CALL → 200 with the
//!   result as Autobahn|Python hands it to Crossbar (`{"args": [v]}` for one
//!   value or none, `{"args": [...]}` for several, with `"kwargs"` when
//!   there are keyword results);
//! - `webhook`: any body → an event on `options.topic` whose one argument is
//!   `{"headers": {Name: [values]}, "body": <text>}` → 202
//!   `success_response`.
//!
//! A WAMP error (not authorized, no callee, the callee's error) answers 200
//! with `{"error": uri, "args": [...], "kwargs": {...}}` (500 with
//! `error_response` for a webhook), as Crossbar does; the router unable to
//! take the request answers 500 `wamp.error.runtime_error`.

pub(super) mod session;
pub mod sign;

use std::rc::Rc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};

use self::session::{ServiceSession, SessionSlot};
use self::sign::{Denied, SignedFields, Signing};
use super::conn::{Body, HttpConn, Stop, peer_ip};
use super::port::WebRouter;
use crate::config::web::{BridgeService, IpNetwork, WebhookService};
use crate::config::{Endpoint, TransportConfig};
use crate::proto::codec::json::{decode_object_fields, encode_value};
use crate::proto::http::{BodyLength, Method, Request, RequestHead, ResponseBody, ResponseHead};
use crate::proto::{Call, Dict, DictKey, Message, Payload, Publish, Value};

/// The publish options a `publisher` request may set (Crossbar forwards these).
const PUBLISH_OPTIONS: &[&str] = &[
    "forward_for",
    "retain",
    "exclude_me",
    "exclude_authid",
    "exclude_authrole",
    "exclude",
    "eligible_authid",
    "eligible_authrole",
    "eligible",
];

/// What a bridge path does with a request.
#[derive(Debug)]
enum Kind {
    /// `publisher`.
    Publisher,
    /// `caller`.
    Caller,
    /// `webhook`: publishes to this topic.
    Webhook {
        topic: String,
        success_response: Bytes,
        error_response: Bytes,
        github_secret: Option<Vec<u8>>,
    },
}

/// A bridge path, prepared once per listener and shard.
pub(crate) struct Bridge {
    kind: Kind,
    /// `key` and `secret` (publisher, caller).
    signing: Option<(String, Vec<u8>)>,
    timestamp_delta_limit_s: u64,
    require_ip: Vec<IpNetwork>,
    require_tls: bool,
    post_body_limit: usize,
    /// Whether the transport is served over TLS.
    secure: bool,
    /// This path's service session on this shard (realm and role).
    session: SessionSlot,
}

impl std::fmt::Debug for Bridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bridge")
            .field("kind", &self.kind)
            .field("realm", &self.session.realm())
            .field("role", &self.session.role())
            .finish_non_exhaustive()
    }
}

impl Bridge {
    /// A `publisher` (`caller` when `caller`) path on `transport`.
    pub fn new(transport: &Rc<TransportConfig>, s: &BridgeService, caller: bool) -> Self {
        Bridge {
            kind: if caller {
                Kind::Caller
            } else {
                Kind::Publisher
            },
            signing: s
                .signing
                .as_ref()
                .map(|g| (g.key.clone(), g.secret.expose().to_vec())),
            timestamp_delta_limit_s: s.timestamp_delta_limit_s,
            require_ip: s.require_ip.clone(),
            require_tls: s.require_tls,
            post_body_limit: s.post_body_limit,
            secure: is_tls(transport),
            session: SessionSlot::new(transport, &s.realm, &s.role),
        }
    }

    /// A `webhook` path on `transport`.
    pub fn webhook(transport: &Rc<TransportConfig>, s: &WebhookService) -> Self {
        Bridge {
            kind: Kind::Webhook {
                topic: s.topic.clone(),
                success_response: Bytes::from(s.success_response.clone()),
                error_response: Bytes::from(s.error_response.clone()),
                github_secret: s.github_secret.as_ref().map(|g| g.expose().to_vec()),
            },
            signing: None,
            timestamp_delta_limit_s: crate::config::web::DEFAULT_TIMESTAMP_DELTA_LIMIT_S,
            require_ip: Vec::new(),
            require_tls: false,
            post_body_limit: s.post_body_limit,
            secure: is_tls(transport),
            session: SessionSlot::new(transport, &s.realm, &s.role),
        }
    }

    /// Checks a request whose body is `body` (everything before the WAMP
    /// action), in Crossbar's order.
    fn check(&self, head: &RequestHead<Bytes>, body: &[u8], peer: &str) -> Result<(), Denied> {
        let headers = head.headers();
        let content_type = headers.get_str("content-type").unwrap_or("");
        // Compared without case (no lowered copies; only a refusal's
        // message lowers the media type).
        let mut elements = content_type
            .split(';')
            .map(str::trim)
            .filter(|e| !e.is_empty());
        let media = elements.next();
        let webhook = matches!(self.kind, Kind::Webhook { .. });
        if !webhook
            && let Some(m) = media
            && !m.eq_ignore_ascii_case("application/json")
        {
            let m = m.to_ascii_lowercase();
            return Err(Denied::new(
                400,
                format!(
                    "Non-accepted content type. (must be one of 'application/json', not '{m}')"
                ),
            ));
        }
        for param in elements {
            if let Some((k, v)) = param.split_once('=')
                && k.trim().eq_ignore_ascii_case("charset")
                && !is_utf8_label(v.trim().trim_matches('"'))
            {
                return Err(Denied::new(
                    400,
                    "Non-accepted request encoding, must be UTF-8.",
                ));
            }
        }
        if headers.count("content-length") > 1 {
            return Err(Denied::new(
                400,
                "Multiple versions of the same header is not allowed.",
            ));
        }
        if let Kind::Webhook {
            github_secret: Some(secret),
            ..
        } = &self.kind
            && !sign::github_signature_ok(secret, headers.get("x-hub-signature"), body)
        {
            return Err(Denied::new(400, "GitHub signature missing or invalid."));
        }
        let fields = SignedFields::parse(head.query().unwrap_or(""));
        let signing = self.signing.as_ref().map(|(key, secret)| Signing {
            key,
            secret,
            delta_limit_s: self.timestamp_delta_limit_s,
        });
        // The clock is read only for a timestamp to compare with it.
        let now = if fields.timestamp.is_some() {
            now_unix_ms()
        } else {
            0
        };
        sign::check(&fields, signing, body, now)?;
        if !self.require_ip.is_empty()
            && !peer_ip(peer).is_some_and(|ip| self.require_ip.iter().any(|n| n.contains(ip)))
        {
            return Err(Denied::new(400, "Request denied based on IP address."));
        }
        if self.require_tls && !self.secure {
            return Err(Denied::new(400, "Malformed request to the REST bridge."));
        }
        if std::str::from_utf8(body).is_err() {
            return Err(Denied::new(
                400,
                "Non-decodable request body, was not UTF-8.",
            ));
        }
        Ok(())
    }
}

/// Whether a `charset` parameter names UTF-8 (any case).
fn is_utf8_label(v: &str) -> bool {
    v.eq_ignore_ascii_case("utf-8") || v.eq_ignore_ascii_case("utf8")
}

/// Whether `transport` listens with TLS.
fn is_tls(transport: &TransportConfig) -> bool {
    matches!(transport.endpoint, Endpoint::TcpTls { .. })
}

fn now_unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Answers a request on a bridge path: status and body octets sent.
pub(super) async fn answer(
    c: &mut HttpConn,
    bridge: &Bridge,
    router: Option<&Rc<dyn WebRouter>>,
    peer: &str,
    req: &Request,
) -> Result<(u16, u64), Stop> {
    let method = req.head.method();
    if !matches!(method, Method::Post | Method::Put) {
        if req.framing.body != BodyLength::Empty {
            c.discard_body().await?;
        }
        let (mut head, body) = if method == Method::Options {
            let mut head = ResponseHead::new(200);
            let _ = head.header("Allow", "POST,PUT,OPTIONS");
            let _ = head.header("Access-Control-Allow-Methods", "POST,PUT,OPTIONS");
            head.body(ResponseBody::Length(0));
            (head, Body::Empty)
        } else {
            let msg = format!(
                "Method not accepted by the REST bridge. ({} not allowed, only POST, PUT)",
                req.head.method_str()
            );
            let (mut head, body) = denied(405, &msg);
            let _ = head.header("Allow", "POST, PUT, OPTIONS");
            (head, body)
        };
        common_headers(&req.head, &mut head);
        let sent = c.respond(&head, body).await?;
        return Ok((head.status(), sent));
    }
    // The body, within `post_body_limit` (413 and close beyond it).
    let limit = bridge.post_body_limit as u64;
    let too_long = |n: u64| {
        let msg = format!("Request too long. ({n} is longer than accepted {limit})");
        let (mut head, body) = denied(413, &msg);
        head.close();
        common_headers(&req.head, &mut head);
        (head, body)
    };
    if let BodyLength::Length(n) = req.framing.body
        && limit > 0
        && n > limit
    {
        let (head, body) = too_long(n);
        let sent = c.respond(&head, body).await?;
        return Ok((413, sent));
    }
    // A body that came in one piece is used as it is; more are joined.
    let mut body = Bytes::new();
    let mut joined: Option<BytesMut> = None;
    while let Some(piece) = c.body_piece().await? {
        let len = match &mut joined {
            None if body.is_empty() => {
                body = piece;
                body.len()
            }
            None => {
                let mut all = BytesMut::from(&body[..]);
                all.extend_from_slice(&piece);
                joined.insert(all).len()
            }
            Some(all) => {
                all.extend_from_slice(&piece);
                all.len()
            }
        };
        if limit > 0 && len as u64 > limit {
            let (head, b) = too_long(len as u64);
            let sent = c.respond(&head, b).await?;
            return Ok((413, sent));
        }
    }
    if let Some(all) = joined {
        body = all.freeze();
    }
    let (mut head, out) = match bridge.check(&req.head, &body, peer) {
        Err(d) => denied(d.status, &d.message),
        Ok(()) => match router.and_then(|r| bridge.session.get(r)) {
            None => runtime_error(),
            Some(s) => act(bridge, &s, &req.head, &body).await,
        },
    };
    common_headers(&req.head, &mut head);
    let sent = c.respond(&head, out).await?;
    Ok((head.status(), sent))
}

/// The WAMP side of a checked request.
async fn act(
    bridge: &Bridge,
    s: &ServiceSession,
    head: &RequestHead<Bytes>,
    body: &[u8],
) -> (ResponseHead, Body) {
    match &bridge.kind {
        Kind::Webhook {
            topic,
            success_response,
            error_response,
            ..
        } => {
            let text = String::from_utf8_lossy(body).into_owned();
            let event = Dict::new()
                .with("headers", Value::Dict(header_lists(head)))
                .with("body", text);
            let request = s.next_request();
            let msg = Message::Publish(Publish {
                request,
                options: Dict::new().with("acknowledge", true),
                topic: topic.clone(),
                payload: Payload::args(vec![Value::Dict(event)]),
            });
            match s.request(request, msg).await {
                Some(Message::Published(_)) => raw(202, success_response.clone()),
                Some(Message::Error(e)) => {
                    tracing::error!(topic, error = %e.error, "HTTP bridge webhook publish failed");
                    raw(500, error_response.clone())
                }
                _ => raw(500, error_response.clone()),
            }
        }
        Kind::Publisher | Kind::Caller => {
            let caller = matches!(bridge.kind, Kind::Caller);
            let (uri, payload, given) = match read_body(body, caller) {
                Ok(read) => read,
                Err(why) => return denied(400, &why),
            };
            let request = s.next_request();
            let msg = if caller {
                Message::Call(Call {
                    request,
                    options: Dict::new(),
                    procedure: uri,
                    payload,
                })
            } else {
                let mut options = Dict::new().with("acknowledge", true);
                if let Some(Value::Dict(given)) = given {
                    for (k, v) in given.0 {
                        if PUBLISH_OPTIONS.contains(&&*k) && v != Value::Null {
                            options.insert(k, v);
                        }
                    }
                }
                Message::Publish(Publish {
                    request,
                    options,
                    topic: uri,
                    payload,
                })
            };
            match s.request(request, msg).await {
                Some(Message::Published(p)) => raw(200, published_body(p.publication.0)),
                Some(Message::Result(r)) => json(200, &Value::Dict(call_result(r.payload))),
                Some(Message::Error(e)) => {
                    let d = Dict::new()
                        .with("error", e.error)
                        .with("args", e.payload.args.unwrap_or_default())
                        .with("kwargs", e.payload.kwargs.unwrap_or_default());
                    json(200, &Value::Dict(d))
                }
                _ => runtime_error(),
            }
        }
    }
}

/// A `publisher` (`caller` when `caller`) request body, an object read for
/// its URI (`topic` or `procedure`), `args`, `kwargs` and `options` (the
/// first entry of a key sent twice) and nothing else kept: the URI, the
/// payload and the options as given. `Err`: the refusal's message.
fn read_body(body: &[u8], caller: bool) -> Result<(String, Payload, Option<Value>), String> {
    let key = if caller { "procedure" } else { "topic" };
    let [uri, args, kwargs, options] =
        match decode_object_fields(body, [key, "args", "kwargs", "options"]) {
            Ok(Some(fields)) => fields,
            Ok(None) => {
                return Err(
                    "Request body was valid JSON, but not well formed (must be a dict).".into(),
                );
            }
            Err(_) => return Err("Request body was invalid JSON.".into()),
        };
    let Some(Value::Str(uri)) = uri else {
        return Err(format!(
            "Request body was valid JSON, but not well formed (missing key '{key}')."
        ));
    };
    Ok((uri, payload_of(args, kwargs), options))
}

/// A payload from a request body's `args` and `kwargs` (absent, null or
/// empty: none).
fn payload_of(args: Option<Value>, kwargs: Option<Value>) -> Payload {
    let args = match args {
        Some(Value::List(l)) if !l.is_empty() => Some(l),
        _ => None,
    };
    let kwargs = match kwargs {
        Some(Value::Dict(d)) if !d.is_empty() => Some(d),
        _ => None,
    };
    match (args, kwargs) {
        (args, Some(kw)) => Payload {
            args: Some(args.unwrap_or_default()),
            kwargs: Some(kw),
        },
        (Some(a), None) => Payload::args(a),
        (None, None) => Payload::empty(),
    }
}

/// A call's result as Crossbar answers it (Autobahn|Python's result
/// shapes): keyword results give `{"args"?, "kwargs"}`, several positional
/// results `{"args": [...]}`, one or none `{"args": [v]}` (`[null]`).
pub(crate) fn call_result(p: Payload) -> Dict {
    let args = p.args.unwrap_or_default();
    match p.kwargs {
        Some(kw) if !kw.is_empty() => {
            let mut d = Dict::new();
            if !args.is_empty() {
                d.insert("args", args);
            }
            d.insert("kwargs", kw);
            d
        }
        _ if args.len() > 1 => Dict::new().with("args", args),
        _ => {
            let one = args.into_iter().next().unwrap_or(Value::Null);
            Dict::new().with("args", vec![one])
        }
    }
}

/// The request's header fields as Twisted lists them: names in canonical
/// capitalisation (`Content-Type`), each with its values in order.
fn header_lists(head: &RequestHead<Bytes>) -> Dict {
    let mut out: Vec<(DictKey, Value)> = Vec::new();
    for (name, value) in head.headers().iter() {
        let name = canonical_name(name);
        let value = Value::from(String::from_utf8_lossy(value).into_owned());
        match out.iter_mut().find(|(n, _)| *n == name) {
            Some((_, Value::List(l))) => l.push(value),
            _ => out.push((name.into(), Value::List(vec![value]))),
        }
    }
    Dict(out)
}

/// `content-type` → `Content-Type`.
fn canonical_name(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut cs = part.chars();
            match cs.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + &cs.as_str().to_ascii_lowercase(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// Crossbar's refusal body with `status`.
fn denied(status: u16, message: &str) -> (ResponseHead, Body) {
    let d = Dict::new()
        .with("error", message)
        .with("args", Vec::<Value>::new())
        .with("kwargs", Dict::new());
    json(status, &Value::Dict(d))
}

/// The router could not take the request.
fn runtime_error() -> (ResponseHead, Body) {
    let d = Dict::new()
        .with("error", "wamp.error.runtime_error")
        .with(
            "args",
            vec![Value::from("Sorry, the router has encountered a problem.")],
        )
        .with("kwargs", Dict::new());
    json(500, &Value::Dict(d))
}

/// `{"id":N}`, the answer to a publication, as [`encode_value`] writes
/// it, without building the dictionary.
fn published_body(id: u64) -> Bytes {
    let mut out = BytesMut::with_capacity(32);
    out.extend_from_slice(b"{\"id\":");
    out.extend_from_slice(itoa::Buffer::new().format(id).as_bytes());
    out.extend_from_slice(b"}");
    out.freeze()
}

fn json(status: u16, v: &Value) -> (ResponseHead, Body) {
    let mut out = BytesMut::new();
    encode_value(v, &mut out);
    raw(status, out.freeze())
}

fn raw(status: u16, body: Bytes) -> (ResponseHead, Body) {
    let mut head = ResponseHead::new(status);
    head.body(ResponseBody::Length(body.len() as u64));
    (head, Body::Bytes(body))
}

/// Crossbar's header fields on every bridge answer.
fn common_headers(req: &RequestHead<Bytes>, head: &mut ResponseHead) {
    super::reply::cross_origin(req, head);
    head.header_static(
        "Cache-Control",
        "no-store,no-cache,must-revalidate,max-age=0",
    );
    head.header_static("Content-Type", "application/json; charset=UTF-8");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_results_take_autobahns_shapes() {
        let v = |x: i64| Value::from(x);
        assert_eq!(
            call_result(Payload::args(vec![v(3)])),
            Dict::new().with("args", vec![v(3)])
        );
        assert_eq!(
            call_result(Payload::empty()),
            Dict::new().with("args", vec![Value::Null])
        );
        assert_eq!(
            call_result(Payload::args(vec![v(1), v(2)])),
            Dict::new().with("args", vec![v(1), v(2)])
        );
        let kw = Dict::new().with("a", 1i64);
        assert_eq!(
            call_result(Payload {
                args: Some(vec![]),
                kwargs: Some(kw.clone())
            }),
            Dict::new().with("kwargs", kw.clone())
        );
        assert_eq!(
            call_result(Payload {
                args: Some(vec![v(1)]),
                kwargs: Some(kw.clone())
            }),
            Dict::new().with("args", vec![v(1)]).with("kwargs", kw)
        );
    }

    #[test]
    fn request_payloads_drop_empty_parts() {
        let payload = |s: &str| read_body(s.as_bytes(), false).expect("valid").1;
        assert_eq!(payload(r#"{"topic":"t"}"#), Payload::empty());
        assert_eq!(
            payload(r#"{"topic":"t","args":[],"kwargs":{}}"#),
            Payload::empty()
        );
        assert_eq!(
            payload(r#"{"topic":"t","args":[1,"a"]}"#),
            Payload::args(vec![Value::from(1i64), Value::from("a")])
        );
        let p = payload(r#"{"topic":"t","kwargs":{"x":true}}"#);
        assert_eq!(p.args, Some(vec![]));
        assert_eq!(p.kwargs, Some(Dict::new().with("x", true)));
    }

    #[test]
    fn request_bodies_are_read_for_their_uri_payload_and_options() {
        let (uri, payload, options) = read_body(
            br#"{"topic":"a","topic":"b","extra":[1],"options":{"retain":true},"args":[2]}"#,
            false,
        )
        .expect("valid");
        assert_eq!(uri, "a", "the first entry of a key sent twice");
        assert_eq!(payload, Payload::args(vec![Value::from(2i64)]));
        assert_eq!(options, Some(Value::Dict(Dict::new().with("retain", true))));
        let (uri, ..) = read_body(br#"{"procedure":"p"}"#, true).expect("valid");
        assert_eq!(uri, "p");
        let refused = |body: &str, caller| read_body(body.as_bytes(), caller).expect_err("refused");
        assert_eq!(
            refused(r#"{"topic":1}"#, false),
            "Request body was valid JSON, but not well formed (missing key 'topic')."
        );
        assert_eq!(
            refused(r#"{"topic":"t"}"#, true),
            "Request body was valid JSON, but not well formed (missing key 'procedure')."
        );
        assert_eq!(
            refused("[1]", false),
            "Request body was valid JSON, but not well formed (must be a dict)."
        );
        assert_eq!(refused("{", false), "Request body was invalid JSON.");
        assert_eq!(
            refused(r#"{"topic":"t","x":"\u0000!!"}"#, false),
            "Request body was invalid JSON.",
            "a bad binary string anywhere, as the whole body decoded"
        );
    }

    #[test]
    fn publication_answers_match_the_json_encoder() {
        for id in [0u64, 7, 4_503_599_627_370_496, 9_007_199_254_740_992] {
            let mut want = BytesMut::new();
            encode_value(&Value::Dict(Dict::new().with("id", id)), &mut want);
            assert_eq!(published_body(id), want.freeze(), "id {id}");
        }
    }

    #[test]
    fn content_types_compare_without_case() {
        assert!(is_utf8_label("UTF-8"));
        assert!(is_utf8_label("utf8"));
        assert!(!is_utf8_label("latin-1"));
    }

    #[test]
    fn header_names() {
        assert_eq!(canonical_name("content-type"), "Content-Type");
        assert_eq!(canonical_name("x-hub-SIGNATURE"), "X-Hub-Signature");
    }
}
