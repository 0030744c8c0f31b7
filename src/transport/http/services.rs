//! The path services and the dispatch of a routed request: `websocket`
//! (the upgrade, then the WAMP session on the shared connection driver),
//! `redirect`, `json`, `nodeinfo`, `none`; `static` lives in
//! [`super::static_files`].
//!
//! Methods: each service says which it answers (`GET` and `HEAD` for all of
//! these); another method gets 405 with `Allow`. A request body a service
//! does not take is read and dropped first (within `max_body_size`, else
//! 413), so that the connection stays usable.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::{Instant, SystemTime};

use bytes::{Bytes, BytesMut};

use super::Site;
use super::driver::{Body, HttpConn, Stop};
use super::mqtt_ws::{self, MqttPath};
use super::static_files::StaticFiles;
use crate::config::auth::AuthConfig;
use crate::config::web::JsonService;
use crate::config::{TransportConfig, TransportKind, WebSocketOptions, WebSocketService};
use crate::core::api::{FrontEnd, HttpInfo, LinkInfo};
use crate::proto::http::listing::escape_html;
use crate::proto::http::{
    BodyLength, HttpDate, Method, Request, RequestHead, ResponseBody, ResponseHead,
};
use crate::proto::websocket::check_upgrade;
use crate::transport::conn::Conn;
use crate::transport::upgrade;
use crate::transport::websocket::{WsFraming, open_session, ws_framing};
use crate::transport::{ConnectionHooks, Stream};

/// The methods every service here answers.
const GET_HEAD: &[Method] = &[Method::Get, Method::Head];

/// One path's prepared service.
#[derive(Debug)]
pub(super) enum Service {
    /// `static`: files from a directory.
    Static(Rc<StaticFiles>),
    /// `websocket`: WAMP over WebSocket.
    WebSocket(Rc<WsPath>),
    /// `redirect`.
    Redirect(Redirect),
    /// `json`.
    Json(JsonDoc),
    /// `nodeinfo`.
    NodeInfo(NodeInfo),
    /// `none`: 404 for everything.
    NotFound,
    /// `mqtt` (Junction extension): MQTT over WebSocket.
    Mqtt(Rc<MqttPath>),
    /// `publisher`, `caller`, `webhook`: the HTTP bridge.
    Bridge(Rc<super::bridge::Bridge>),
    /// `longpoll`: WAMP over HTTP long-poll.
    LongPoll(Rc<super::longpoll::LongPoll>),
    /// `cgi`: scripts.
    Cgi(Rc<super::cgi::Cgi>),
    /// `reverseproxy` (and `wsgi`, a proxy to its Python host).
    Proxy(Rc<super::proxy::Proxy>),
    /// `metrics`: the Prometheus text of every shard.
    Metrics,
}

/// A `websocket` path: its own view of the transport (serializers,
/// authentication and options of this path), and what of the upgrade
/// request its sessions keep.
#[derive(Debug)]
pub(super) struct WsPath {
    /// The transport as this path's links see it: a `websocket` transport
    /// with this path's service (the router reads serializers and
    /// authentication from it).
    transport: Rc<TransportConfig>,
    /// The cookie that authentication may read (cookie tracking's name),
    /// kept from the request; `None`: no cookie is kept.
    keep_cookie: Option<String>,
    /// Whether the request's header fields are kept (a dynamic
    /// authenticator gets them).
    keep_headers: bool,
}

impl WsPath {
    /// The path `service` of web transport `transport`.
    pub fn new(transport: &TransportConfig, service: &WebSocketService) -> Self {
        let keep_cookie = match (&service.cookie, has_cookie_auth(&service.wamp.auth)) {
            (Some(c), _) => Some(c.name.clone()),
            (None, true) => Some("cbtid".to_owned()),
            (None, false) => None,
        };
        let keep_headers = service
            .wamp
            .auth
            .methods()
            .iter()
            .any(|(_, dynamic)| dynamic.is_some());
        WsPath {
            transport: Rc::new(TransportConfig::new(
                transport.id.clone(),
                TransportKind::WebSocket(service.clone()),
                transport.endpoint.clone(),
            )),
            keep_cookie,
            keep_headers,
        }
    }

    fn options(&self) -> &WebSocketOptions {
        match &self.transport.kind {
            TransportKind::WebSocket(ws) => &ws.options,
            _ => unreachable!("built as a websocket transport"),
        }
    }

    /// What a link opened by `head` keeps of it: `None` unless
    /// authentication needs something (held sessions stay small).
    fn http_info(&self, head: &RequestHead<Bytes>) -> Option<Box<HttpInfo>> {
        if self.keep_cookie.is_none() && !self.keep_headers {
            return None;
        }
        let headers = head.headers();
        let cookies = match &self.keep_cookie {
            Some(name) => crate::proto::http::cookie::cookies(&headers)
                .filter(|(n, _)| n == name)
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .collect(),
            None => Vec::new(),
        };
        let headers = if self.keep_headers {
            headers
                .iter()
                .map(|(n, v)| {
                    (
                        n.to_ascii_lowercase(),
                        String::from_utf8_lossy(v).into_owned(),
                    )
                })
                .collect()
        } else {
            Vec::new()
        };
        Some(Box::new(HttpInfo {
            path: head.path().to_owned(),
            headers,
            cookies,
        }))
    }
}

/// Whether an `auth` object has the `cookie` method.
fn has_cookie_auth(auth: &AuthConfig) -> bool {
    auth.methods().iter().any(|(m, _)| *m == "cookie")
}

/// An upgrade accepted (its 101 written).
pub(super) enum Accepted {
    /// WAMP over WebSocket.
    Wamp(WampAccepted),
    /// MQTT over WebSocket.
    Mqtt(Rc<MqttPath>),
}

/// A WAMP WebSocket upgrade accepted.
pub(super) struct WampAccepted {
    /// The path.
    path: Rc<WsPath>,
    /// What was negotiated (serializer, compression).
    negotiated: upgrade::Accepted,
    /// What the link keeps of the request.
    http: Option<Box<HttpInfo>>,
}

impl Accepted {
    /// With the socket and the octets that followed the request head.
    pub fn with_leftover(self, sock: Stream, leftover: BytesMut) -> Upgraded {
        Upgraded {
            accepted: self,
            sock,
            leftover: leftover.to_vec(),
        }
    }
}

/// A connection handed to a WebSocket session.
pub(super) struct Upgraded {
    /// What was negotiated.
    accepted: Accepted,
    /// The socket.
    sock: Stream,
    /// The client's first frames, sent with its upgrade request.
    leftover: Vec<u8>,
}

/// What an opened upgrade runs for the rest of the connection.
pub(super) enum MainPhase<H: ConnectionHooks> {
    /// A WAMP session on the shared connection driver, with the client's
    /// first frames.
    Wamp(Box<Conn<H, WsFraming>>, Vec<u8>),
    /// Another protocol's driver (MQTT over WebSocket), boxed: a WAMP
    /// session's future must not carry room for it.
    Other(Pin<Box<dyn Future<Output = ()>>>),
}

/// Opens the session of an upgraded connection (the WAMP link); `None`
/// when the router refused it (the client got close 1013).
pub(super) async fn open_upgraded<H: ConnectionHooks + 'static>(
    up: Upgraded,
    hooks: H,
    peer: String,
    site: &Site,
) -> Option<MainPhase<H>> {
    let Upgraded {
        accepted,
        sock,
        leftover,
    } = up;
    let accepted = match accepted {
        Accepted::Wamp(a) => a,
        Accepted::Mqtt(path) => {
            let max = site.max_message_size;
            return Some(MainPhase::Other(Box::pin(async move {
                mqtt_ws::run(&path, sock, leftover, hooks, peer, max).await;
            })));
        }
    };
    let path = accepted.path;
    let opts = path.options();
    let conn = Conn::new(sock, hooks, ws_framing(opts, site.max_message_size));
    let mut info = LinkInfo::new(Rc::clone(&path.transport), FrontEnd::WebSocket, peer);
    info.http = accepted.http;
    let conn = open_session(conn, info, opts, &accepted.negotiated).await?;
    Some(MainPhase::Wamp(conn, leftover))
}

/// Answers one request; `Some` when it was a WebSocket upgrade (accepted:
/// the HTTP phase ends).
pub(super) async fn dispatch(
    c: &mut HttpConn,
    site: &Site,
    peer: &str,
    req: Request,
    router: Option<&Rc<dyn super::WebRouter>>,
) -> Result<Option<Accepted>, Stop> {
    let started = Instant::now();
    let path = req.head.path();
    let route = if path.starts_with('/') {
        site.routes.route(path)
    } else {
        None
    };
    let (status, sent, accepted) = match route {
        None if !path.starts_with('/') => {
            let (status, sent) = plain(c, 400, "request target is not a path").await?;
            (status, sent, None)
        }
        None => {
            let (status, sent) = not_found(c).await?;
            (status, sent, None)
        }
        Some(route) => {
            let rest = &path[route.mount..];
            let mount = &path[..route.mount];
            match route.service {
                Service::WebSocket(ws) => upgrade(c, ws, &req).await?,
                Service::Mqtt(m) => mqtt_ws::upgrade(c, m, &req).await?,
                Service::Bridge(b) => {
                    let (status, sent) = super::bridge::answer(c, b, router, peer, &req).await?;
                    (status, sent, None)
                }
                Service::LongPoll(lp) => {
                    let (status, sent) =
                        super::longpoll::answer(c, lp, router, peer, &req, rest).await?;
                    (status, sent, None)
                }
                service => {
                    let (status, sent) = answer(c, site, peer, service, &req, mount, rest).await?;
                    (status, sent, None)
                }
            }
        }
    };
    if site.access_log {
        tracing::info!(
            target: "junction::access",
            transport = %site.transport.id,
            %peer,
            method = req.head.method_str(),
            target = req.head.target(),
            status,
            bytes = sent,
            micros = started.elapsed().as_micros() as u64,
            "http"
        );
    }
    Ok(accepted)
}

/// Answers a request on a service other than a WebSocket: status and body
/// octets sent.
async fn answer(
    c: &mut HttpConn,
    site: &Site,
    peer: &str,
    service: &Service,
    req: &Request,
    mount: &str,
    rest: &str,
) -> Result<(u16, u64), Stop> {
    // Services that take any method and read the body themselves.
    match service {
        Service::Cgi(cgi) => return cgi.serve(c, req, mount, rest, peer).await,
        Service::Proxy(p) => return p.serve(c, req, mount, rest, peer).await,
        Service::Metrics => return super::metrics::serve(c, req, rest).await,
        _ => {}
    }
    let method = req.head.method();
    if !GET_HEAD.contains(&method) {
        let mut head = ResponseHead::method_not_allowed(GET_HEAD);
        head.body(ResponseBody::Empty);
        let sent = c.respond(&head, Body::Empty).await?;
        return Ok((405, sent));
    }
    if req.framing.body != BodyLength::Empty {
        c.discard_body().await?;
    }
    let (head, body) = match service {
        Service::Static(s) => s.answer(&req.head, mount, rest).await,
        Service::Redirect(r) => r.answer(),
        Service::Json(j) => j.answer(&req.head, rest),
        Service::NodeInfo(_) => NodeInfo::answer(site, peer, rest),
        Service::NotFound => text(404, "not found\n"),
        Service::WebSocket(_) | Service::Mqtt(_) => unreachable!("dispatched as an upgrade"),
        Service::Bridge(_) | Service::LongPoll(_) => {
            unreachable!("dispatched to the bridge or long-poll")
        }
        Service::Cgi(_) | Service::Proxy(_) | Service::Metrics => {
            unreachable!("answered above")
        }
    };
    let sent = c.respond(&head, body).await?;
    Ok((head.status(), sent))
}

/// A WebSocket path: the upgrade (101, then the session), or a refusal.
async fn upgrade(
    c: &mut HttpConn,
    ws: &Rc<WsPath>,
    req: &Request,
) -> Result<(u16, u64, Option<Accepted>), Stop> {
    let request = match check_ws_request(c, req).await? {
        Ok(r) => r,
        Err((status, sent)) => return Ok((status, sent, None)),
    };
    let mut negotiated =
        match upgrade::accept(&request, &ws.transport.serializers, ws.options(), false) {
            Ok(done) => done,
            Err(r) => {
                let (head, body) = refusal(r.status, r.body);
                let sent = c.respond(&head, body).await?;
                return Ok((r.status, sent, None));
            }
        };
    if let TransportKind::WebSocket(service) = &ws.transport.kind {
        let tls = c.sock.is_tls();
        upgrade::track_cookie(&mut negotiated, service, &ws.transport.id, &request, tls);
    }
    // The empty body's end, so that nothing of the request is left.
    c.body_piece().await?;
    c.write_parts(&[&negotiated.answer]).await?;
    // Written: a held session does not keep the 101's text.
    negotiated.answer = Vec::new();
    Ok((
        101,
        0,
        Some(Accepted::Wamp(WampAccepted {
            path: Rc::clone(ws),
            http: ws.http_info(&req.head),
            negotiated,
        })),
    ))
}

/// An HTTP answer refusing an upgrade with `status` and why.
pub(super) fn refusal(status: u16, why: String) -> (ResponseHead, Body) {
    let (mut head, body) = text(status, why);
    match status {
        405 => {
            let _ = head.header("Allow", "GET");
        }
        426 => {
            let _ = head.header("Sec-WebSocket-Version", "13");
        }
        _ => {}
    }
    head.close();
    (head, body)
}

/// The checks every WebSocket path makes of a request: `Ok(Ok(request))`
/// for a valid upgrade request, `Ok(Err((status, octets sent)))` when it was
/// answered with a refusal (426 for a plain request).
pub(super) async fn check_ws_request(
    c: &mut HttpConn,
    req: &Request,
) -> Result<Result<crate::proto::websocket::UpgradeRequest, (u16, u64)>, Stop> {
    if !req.framing.upgrade {
        // A plain request (a browser opening the URL): say what this is.
        let (mut head, body) = text(426, "This is a WebSocket endpoint.\n");
        let _ = head.header("Upgrade", "websocket");
        let _ = head.header("Sec-WebSocket-Version", "13");
        if req.framing.body != BodyLength::Empty {
            c.discard_body().await?;
        }
        let sent = c.respond(&head, body).await?;
        return Ok(Err((426, sent)));
    }
    let checked = check_upgrade(&req.head)
        .map_err(|r| (r.status, r.body))
        .and_then(|u| {
            if req.framing.body == BodyLength::Empty {
                Ok(u)
            } else {
                Err((400, "a WebSocket upgrade request has no body\n".to_owned()))
            }
        });
    match checked {
        Ok(r) => Ok(Ok(r)),
        Err((status, why)) => {
            let (head, body) = refusal(status, why);
            let sent = c.respond(&head, body).await?;
            Ok(Err((status, sent)))
        }
    }
}

/// A plain-text answer.
pub(super) fn text(status: u16, body: impl Into<Bytes>) -> (ResponseHead, Body) {
    let body: Bytes = body.into();
    let mut head = ResponseHead::new(status);
    let _ = head.header("Content-Type", "text/plain; charset=utf-8");
    head.body(ResponseBody::Length(body.len() as u64));
    (head, Body::Bytes(body))
}

async fn plain(c: &mut HttpConn, status: u16, why: &'static str) -> Result<(u16, u64), Stop> {
    let (head, body) = text(status, format!("{why}\n"));
    let sent = c.respond(&head, body).await?;
    Ok((status, sent))
}

async fn not_found(c: &mut HttpConn) -> Result<(u16, u64), Stop> {
    let (head, body) = text(404, "not found\n");
    let sent = c.respond(&head, body).await?;
    Ok((404, sent))
}

/// A `redirect` service: 302 to its URL, for its path and everything below.
#[derive(Debug)]
pub(super) struct Redirect {
    /// `Location`.
    url: String,
    /// The HTML body (a link, for clients that do not follow).
    page: Bytes,
}

impl Redirect {
    pub fn new(url: &str) -> Self {
        let url_html = escape_html(url);
        let page = format!(
            "<!DOCTYPE html>\n<html><head><title>302 Found</title></head><body>\
             <a href=\"{url_html}\">{url_html}</a></body></html>\n"
        );
        Redirect {
            url: url.to_owned(),
            page: Bytes::from(page),
        }
    }

    fn answer(&self) -> (ResponseHead, Body) {
        let mut head = ResponseHead::new(302);
        if head.header("Location", &self.url).is_err() {
            // The config loader keeps control characters out of URLs; should
            // one get here, refuse rather than write a broken header.
            return text(500, "invalid redirect URL\n");
        }
        let _ = head.header("Content-Type", "text/html; charset=utf-8");
        head.body(ResponseBody::Length(self.page.len() as u64));
        (head, Body::Bytes(self.page.clone()))
    }
}

/// A `json` service: its document, rendered once.
#[derive(Debug)]
pub(super) struct JsonDoc {
    /// The rendered document.
    doc: Bytes,
    /// CORS header fields.
    allow_cross_origin: bool,
    /// `Cache-Control: no-store, ...`.
    discourage_caching: bool,
}

impl JsonDoc {
    pub fn new(s: &JsonService) -> Self {
        let doc = if s.prettify {
            // Crossbar indents by three spaces.
            let mut out = Vec::new();
            let fmt = serde_json::ser::PrettyFormatter::with_indent(b"   ");
            let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
            serde::Serialize::serialize(&s.value, &mut ser).expect("a JSON value serializes");
            out
        } else {
            serde_json::to_vec(&s.value).expect("a JSON value serializes")
        };
        JsonDoc {
            doc: Bytes::from(doc),
            allow_cross_origin: s.allow_cross_origin,
            discourage_caching: s.discourage_caching,
        }
    }

    fn answer(&self, req: &RequestHead<Bytes>, rest: &str) -> (ResponseHead, Body) {
        if !matches!(rest, "" | "/") {
            return text(404, "not found\n");
        }
        let mut head = ResponseHead::new(200);
        let _ = head.header("Content-Type", "application/json");
        if self.allow_cross_origin {
            cross_origin(req, &mut head);
        }
        if self.discourage_caching {
            let _ = head.header(
                "Cache-Control",
                "no-store, no-cache, must-revalidate, max-age=0",
            );
        }
        head.body(ResponseBody::Length(self.doc.len() as u64));
        (head, Body::Bytes(self.doc.clone()))
    }
}

/// Crossbar's cross-origin fields: the request's `Origin` (or `*`), with
/// credentials, and the headers a preflight asked for.
pub(super) fn cross_origin(req: &RequestHead<Bytes>, head: &mut ResponseHead) {
    let headers = req.headers();
    let origin = match headers.get("origin") {
        None | Some(b"null") => &b"*"[..],
        Some(o) => o,
    };
    if head.header("Access-Control-Allow-Origin", origin).is_err() {
        let _ = head.header("Access-Control-Allow-Origin", "*");
    }
    let _ = head.header("Access-Control-Allow-Credentials", "true");
    if let Some(h) = headers.get("access-control-request-headers") {
        let _ = head.header("Access-Control-Allow-Headers", h);
    }
}

/// The `nodeinfo` service: a page about the node.
#[derive(Debug)]
pub(super) struct NodeInfo;

impl NodeInfo {
    fn answer(site: &Site, peer: &str, rest: &str) -> (ResponseHead, Body) {
        if !matches!(rest, "" | "/") {
            return text(404, "not found\n");
        }
        let started = HttpDate::from_system_time(site.started);
        let started = String::from_utf8_lossy(&started.to_bytes()).into_owned();
        let now = HttpDate::from_system_time(SystemTime::now());
        let now = String::from_utf8_lossy(&now.to_bytes()).into_owned();
        let rows = [
            ("Release", format!("Junction {}", env!("CARGO_PKG_VERSION"))),
            ("Node started", started),
            ("Now", now),
            ("Process ID", std::process::id().to_string()),
            ("Transport", site.transport.id.clone()),
            ("Your address", peer.to_owned()),
        ];
        let mut page = String::from(
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Junction node</title>\
             </head><body><h1>Junction node</h1><table>\n",
        );
        for (k, v) in rows {
            page.push_str(&format!(
                "<tr><td>{}</td><td><b>{}</b></td></tr>\n",
                escape_html(k),
                escape_html(&v)
            ));
        }
        page.push_str("</table></body></html>\n");
        let mut head = ResponseHead::new(200);
        let _ = head.header("Content-Type", "text/html; charset=utf-8");
        let _ = head.header("Cache-Control", "no-store");
        head.body(ResponseBody::Length(page.len() as u64));
        (head, Body::Bytes(Bytes::from(page)))
    }
}
