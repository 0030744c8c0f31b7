//! The HTTP bridge's router components, native: Crossbar's
//! `crossbar.bridge.rest.MessageForwarder` (events → HTTP requests) and
//! `crossbar.bridge.rest.RESTCallee` (a procedure that makes an HTTP
//! request), with the same `extra` keys.
//!
//! Each component is one session of the router (a service session with the
//! component's realm and role, authid its `id`), run on the first shard
//! only, as Crossbar runs each component once; its subscriptions and
//! registration reach publishers and callers on every shard like any
//! session's. The requests go out with the small client in [`super::client`].
//!
//! - MessageForwarder: for every event on a `subscriptions` entry, `method`
//!   (POST) to its `url` with `Content-Type: application/json` and the body
//!   `{"args": [...], "kwargs": {...}}` (compact JSON, as Crossbar sends);
//!   an answer other than `expectedcode` (when given) or a failed request is
//!   logged (Crossbar raises in its event handler, which only logs too).
//! - RESTCallee: `procedure` is registered; a call with keyword arguments
//!   `method`, `url` (joined to `baseurl`), `body` (text), `headers`
//!   (`{name: value}` or `{name: [values]}`), `params` (`{name: value}`,
//!   added to the query)
//!   makes that request and yields one keyword-free result
//!   `{"code": status, "content": text, "headers": {name: [values]}}`; a
//!   failed request answers the call with `wamp.error.runtime_error`.
//!
//! Reload: components start with the shard and keep running across reloads
//! (a changed `components` list takes a restart).

use std::future::poll_fn;
use std::rc::Rc;
use std::time::Duration;

use ahash::AHashMap;
use bytes::BytesMut;

use super::client;
use super::port::WebRouter;
use crate::config::worker::{
    ComponentConfig, ComponentKind, ForwardedTopic, MessageForwarder, RestCallee,
};
use crate::config::{Config, Endpoint, TransportConfig, TransportKind, WebSocketService};
use crate::core::api::{FrontEnd, LinkId, LinkInfo, MessageQueue, MessageQueueRef, Output};
use crate::proto::codec::json::encode_value;
use crate::proto::message::code;
use crate::proto::{
    Dict, DictKey, Error as WampError, Invocation, Message, Payload, Register, RequestId,
    Subscribe, SubscriptionId, Value, Yield,
};

/// How long one HTTP request of a component may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on a component's queue of events and invocations.
const QUEUE_LIMIT: usize = 16 << 20;

/// Starts the native bridge components of `config` (call on one shard);
/// Python components are not run here (the node's component host runs
/// the classes; the config check warned about the rest).
/// The tasks run until dropped.
pub fn start(config: &Config, router: &Rc<dyn WebRouter>) -> Vec<glommio::Task<()>> {
    let mut tasks = Vec::new();
    for c in &config.components {
        let run = match &c.kind {
            ComponentKind::MessageForwarder(_) | ComponentKind::RestCallee(_) => {
                run(c.clone(), Rc::clone(router))
            }
            // Python classes run in the node's component host
            // (node/workers/router_components.rs); the check warned about the rest.
            ComponentKind::Python(_) => continue,
        };
        tasks.push(glommio::spawn_local(run));
    }
    tasks
}

/// The transport component sessions report.
fn component_transport(id: &str) -> Rc<TransportConfig> {
    Rc::new(TransportConfig::new(
        format!("component:{id}"),
        TransportKind::WebSocket(WebSocketService::default()),
        Endpoint::Unix {
            path: "internal".into(),
        },
    ))
}

/// One component's session: its link and queue, closed when dropped.
struct Session {
    router: Rc<dyn WebRouter>,
    link: LinkId,
    queue: MessageQueueRef,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.router.close(self.link);
    }
}

async fn run(c: ComponentConfig, router: Rc<dyn WebRouter>) {
    // Let the shard finish starting (the router may be borrowed by the caller).
    futures_lite::future::yield_now().await;
    let queue = MessageQueue::new_ref(QUEUE_LIMIT);
    let info = LinkInfo::new(component_transport(&c.id), FrontEnd::Internal, "internal");
    let link = match router.open_service(
        info,
        Output::Typed(Rc::clone(&queue)),
        &c.realm,
        &c.id,
        &c.role,
    ) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(component = %c.id, realm = %c.realm, why = e.0, "router component not started");
            return;
        }
    };
    let s = Session {
        router,
        link,
        queue,
    };
    tracing::info!(component = %c.id, class = %c.kind.describe(), "router component started");
    match &c.kind {
        ComponentKind::MessageForwarder(f) => forward(&c.id, &s, f).await,
        ComponentKind::RestCallee(r) => callee(&c.id, &s, r).await,
        ComponentKind::Python(_) => {}
    }
    tracing::warn!(component = %c.id, "router component's session ended");
}

/// The next messages for the component; `None` once its session is closed.
async fn next(s: &Session) -> Option<Vec<Message>> {
    poll_fn(|cx| s.queue.borrow_mut().poll_ready(cx)).await;
    let mut q = s.queue.borrow_mut();
    if q.is_empty() && q.close_reason().is_some() {
        return None;
    }
    Some(q.take())
}

async fn forward(id: &str, s: &Session, f: &MessageForwarder) {
    // Subscribe to each entry; SUBSCRIBED maps its subscription to the entries.
    let mut by_request: AHashMap<RequestId, usize> = AHashMap::new();
    for (i, t) in f.subscriptions.iter().enumerate() {
        let request = RequestId(i as u64 + 1);
        by_request.insert(request, i);
        let options = match t.match_policy.as_str() {
            "exact" => Dict::new(),
            other => Dict::new().with("match", other),
        };
        s.router.feed(
            s.link,
            Message::Subscribe(Subscribe {
                request,
                options,
                topic: t.topic.clone(),
            }),
        );
    }
    let mut targets: AHashMap<SubscriptionId, Vec<usize>> = AHashMap::new();
    while let Some(msgs) = next(s).await {
        for m in msgs {
            match m {
                Message::Subscribed(ok) => {
                    if let Some(i) = by_request.get(&ok.request) {
                        targets.entry(ok.subscription).or_default().push(*i);
                    }
                }
                Message::Error(e) => {
                    let topic = by_request
                        .get(&e.request)
                        .map_or("?", |i| f.subscriptions[*i].topic.as_str());
                    tracing::error!(component = %id, topic, error = %e.error, "MessageForwarder could not subscribe");
                }
                Message::Event(ev) => {
                    let body = event_body(&ev.payload);
                    for i in targets.get(&ev.subscription).into_iter().flatten() {
                        let t: &ForwardedTopic = &f.subscriptions[*i];
                        glommio::spawn_local(post_event(
                            id.to_owned(),
                            f.method.clone(),
                            t.url.clone(),
                            body.clone(),
                            f.expected_code,
                            f.debug,
                        ))
                        .detach();
                    }
                }
                _ => {}
            }
        }
    }
}

/// `{"args": [...], "kwargs": {...}}` of an event.
fn event_body(p: &Payload) -> bytes::Bytes {
    let d = Dict::new()
        .with("args", p.args.clone().unwrap_or_default())
        .with("kwargs", p.kwargs.clone().unwrap_or_default());
    let mut out = BytesMut::new();
    encode_value(&Value::Dict(d), &mut out);
    out.freeze()
}

async fn post_event(
    id: String,
    method: String,
    url: String,
    body: bytes::Bytes,
    expected: Option<u16>,
    debug: bool,
) {
    let headers = [("Content-Type".to_owned(), "application/json".to_owned())];
    match client::request(&method, &url, &headers, &body, REQUEST_TIMEOUT).await {
        Ok(r) => {
            if let Some(want) = expected
                && r.status != want
            {
                tracing::error!(component = %id, %url, got = r.status, want, "MessageForwarder: unexpected status");
            }
            if debug {
                tracing::debug!(component = %id, %url, body = %String::from_utf8_lossy(&r.body), "MessageForwarder answer");
            }
        }
        Err(e) => {
            tracing::error!(component = %id, %url, error = %e, "MessageForwarder request failed")
        }
    }
}

async fn callee(id: &str, s: &Session, r: &RestCallee) {
    s.router.feed(
        s.link,
        Message::Register(Register {
            request: RequestId(1),
            options: Dict::new(),
            procedure: r.procedure.clone(),
        }),
    );
    while let Some(msgs) = next(s).await {
        for m in msgs {
            match m {
                Message::Registered(_) => {
                    tracing::info!(component = %id, procedure = %r.procedure, "RESTCallee registered");
                }
                Message::Error(e) if e.request_type == code::REGISTER => {
                    tracing::error!(component = %id, procedure = %r.procedure, error = %e.error, "RESTCallee could not register");
                }
                Message::Invocation(inv) => {
                    glommio::spawn_local(invoke(
                        Rc::clone(&s.router),
                        s.link,
                        r.base_url.clone(),
                        inv,
                    ))
                    .detach();
                }
                _ => {}
            }
        }
    }
}

/// What a RESTCallee invocation asks for.
#[derive(Debug, PartialEq)]
struct HttpCall {
    method: String,
    url: String,
    body: String,
    headers: Vec<(String, String)>,
}

/// Reads an invocation's keyword (or, as Autobahn|Python binds them,
/// positional) arguments `method, url, body, headers, params`.
fn http_call(base: &str, p: &Payload) -> Result<HttpCall, String> {
    const NAMES: [&str; 5] = ["method", "url", "body", "headers", "params"];
    let args = p.args.as_deref().unwrap_or(&[]);
    let get = |i: usize| -> Option<&Value> {
        p.kwargs
            .as_ref()
            .and_then(|k| k.get(NAMES[i]))
            .or_else(|| args.get(i))
            .filter(|v| **v != Value::Null)
    };
    let text = |i: usize| -> Result<Option<String>, String> {
        match get(i) {
            None => Ok(None),
            Some(Value::Str(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("'{}' must be a string", NAMES[i])),
        }
    };
    // `{name: value}`; header values may also be lists of values, as
    // Crossbar hands `headers` to Twisted's `Headers` (which takes lists).
    let dict = |i: usize, lists: bool| -> Result<Vec<(String, String)>, String> {
        let Some(v) = get(i) else {
            return Ok(Vec::new());
        };
        let Value::Dict(d) = v else {
            return Err(format!("'{}' must be a dictionary", NAMES[i]));
        };
        let mut out = Vec::with_capacity(d.len());
        for (k, v) in d.iter() {
            match v {
                Value::Str(s) => out.push((k.to_owned(), s.clone())),
                Value::List(l) if lists => {
                    for item in l {
                        let Value::Str(s) = item else {
                            return Err(format!("'{}' values must be strings", NAMES[i]));
                        };
                        out.push((k.to_owned(), s.clone()));
                    }
                }
                _ if lists => {
                    return Err(format!(
                        "'{}' values must be strings or lists of strings",
                        NAMES[i]
                    ));
                }
                _ => return Err(format!("'{}' values must be strings", NAMES[i])),
            }
        }
        Ok(out)
    };
    let method = text(0)?.ok_or("'method' is required")?;
    let mut url = client::join(base, &text(1)?.unwrap_or_default());
    let params = dict(4, false)?;
    if !params.is_empty() {
        let q: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
            .collect();
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&q.join("&"));
    }
    Ok(HttpCall {
        method,
        url,
        body: text(2)?.unwrap_or_default(),
        headers: dict(3, true)?,
    })
}

/// `application/x-www-form-urlencoded` encoding of a query name or value.
fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

async fn invoke(router: Rc<dyn WebRouter>, link: LinkId, base: String, inv: Invocation) {
    let answer = match http_call(&base, &inv.payload) {
        Err(why) => error(inv.request, "wamp.error.invalid_argument", why),
        Ok(call) => {
            match client::request(
                &call.method,
                &call.url,
                &call.headers,
                call.body.as_bytes(),
                REQUEST_TIMEOUT,
            )
            .await
            {
                Ok(r) => {
                    let mut headers: Vec<(DictKey, Value)> = Vec::new();
                    for (n, v) in r.headers {
                        let v = Value::from(v);
                        match headers.iter_mut().find(|(k, _)| k.eq_ignore_ascii_case(&n)) {
                            Some((_, Value::List(l))) => l.push(v),
                            _ => headers.push((n.into(), Value::List(vec![v]))),
                        }
                    }
                    let result = Dict::new()
                        .with("code", u64::from(r.status))
                        .with("content", String::from_utf8_lossy(&r.body).into_owned())
                        .with("headers", Value::Dict(Dict(headers)));
                    Message::Yield(Yield {
                        request: inv.request,
                        options: Dict::new(),
                        payload: Payload::args(vec![Value::Dict(result)]),
                    })
                }
                Err(e) => error(inv.request, "wamp.error.runtime_error", e.to_string()),
            }
        }
    };
    router.feed(link, answer);
}

fn error(request: RequestId, uri: &str, why: String) -> Message {
    Message::Error(WampError {
        request_type: code::INVOCATION,
        request,
        details: Dict::new(),
        error: uri.to_owned(),
        payload: Payload::args(vec![Value::from(why)]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_callee_arguments_by_name_or_position() {
        let kw = Dict::new()
            .with("method", "GET")
            .with("url", "items")
            .with("params", Dict::new().with("q", "a b&c"))
            .with("headers", Dict::new().with("Accept", "text/plain"));
        let p = Payload {
            args: None,
            kwargs: Some(kw),
        };
        let c = http_call("http://h/api/", &p).expect("ok");
        assert_eq!(
            c,
            HttpCall {
                method: "GET".into(),
                url: "http://h/api/items?q=a+b%26c".into(),
                body: String::new(),
                headers: vec![("Accept".into(), "text/plain".into())],
            }
        );
        let p = Payload::args(vec![
            Value::from("POST"),
            Value::from("/x"),
            Value::from("hi"),
        ]);
        let c = http_call("http://h/api/", &p).expect("ok");
        assert_eq!(
            (c.method.as_str(), c.url.as_str(), c.body.as_str()),
            ("POST", "http://h/x", "hi")
        );
        assert!(
            http_call("http://h/", &Payload::empty()).is_err(),
            "method is required"
        );
        let bad = Payload {
            args: None,
            kwargs: Some(Dict::new().with("method", "GET").with("headers", 3i64)),
        };
        assert!(http_call("http://h/", &bad).is_err());
        // Header values as Twisted's `Headers` takes them (lists), or text;
        // query parameters are text only.
        let listed = |headers: Value, params: Value| Payload {
            args: None,
            kwargs: Some(
                Dict::new()
                    .with("method", "GET")
                    .with("headers", headers)
                    .with("params", params),
            ),
        };
        let c = http_call(
            "https://h/",
            &listed(
                Value::Dict(
                    Dict::new()
                        .with("Accept", vec![Value::from("a/b"), Value::from("c/d")])
                        .with("X-One", "1"),
                ),
                Value::Dict(Dict::new()),
            ),
        )
        .expect("ok");
        assert_eq!(
            c.headers,
            vec![
                ("Accept".to_owned(), "a/b".to_owned()),
                ("Accept".to_owned(), "c/d".to_owned()),
                ("X-One".to_owned(), "1".to_owned()),
            ]
        );
        let e = http_call(
            "http://h/",
            &listed(
                Value::Dict(Dict::new().with("Accept", vec![Value::from(1i64)])),
                Value::Dict(Dict::new()),
            ),
        )
        .expect_err("a number in a header list");
        assert_eq!(e, "'headers' values must be strings");
        let e = http_call(
            "http://h/",
            &listed(
                Value::Dict(Dict::new()),
                Value::Dict(Dict::new().with("q", vec![Value::from("x")])),
            ),
        )
        .expect_err("a list as a query value");
        assert_eq!(e, "'params' values must be strings");
    }

    #[test]
    fn event_bodies_are_compact_json() {
        let p = Payload {
            args: Some(vec![Value::from(1i64)]),
            kwargs: None,
        };
        assert_eq!(&event_body(&p)[..], br#"{"args":[1],"kwargs":{}}"#);
    }
}
