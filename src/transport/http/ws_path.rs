//! The `websocket` path service: a path's prepared view of the transport,
//! the upgrade (101 with what was negotiated, or a refusal) and the opening
//! of the WAMP session on the shared connection driver.
//!
//! Imports the web server's connection and shared answers, and the
//! transport's WebSocket session; no other service, nor the dispatcher.

use std::rc::Rc;

use bytes::Bytes;

use super::conn::{HttpConn, Stop};
use super::reply::{check_ws_request, refusal};
use crate::config::auth::AuthConfig;
use crate::config::{TransportConfig, TransportKind, WebSocketOptions, WebSocketService};
use crate::core::api::{FrontEnd, HttpInfo, LinkInfo};
use crate::proto::http::{Request, RequestHead};
use crate::transport::conn::Conn;
use crate::transport::upgrade;
use crate::transport::websocket::{WsFraming, open_session, ws_framing};
use crate::transport::{ConnectionHooks, Stream};

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
            transport: Rc::new(transport.service(TransportKind::WebSocket(service.clone()))),
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

/// A WAMP WebSocket upgrade accepted.
pub(super) struct WampAccepted {
    /// The path.
    path: Rc<WsPath>,
    /// What was negotiated (serializer, compression).
    negotiated: upgrade::Accepted,
    /// What the link keeps of the request.
    http: Option<Box<HttpInfo>>,
}

/// A WebSocket path: the upgrade (101, then the session), or a refusal.
pub(super) async fn upgrade(
    c: &mut HttpConn,
    ws: &Rc<WsPath>,
    req: &Request,
) -> Result<(u16, u64, Option<WampAccepted>), Stop> {
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
        Some(WampAccepted {
            path: Rc::clone(ws),
            http: ws.http_info(&req.head),
            negotiated,
        }),
    ))
}

/// Opens the WAMP session of an accepted upgrade on the shared connection
/// driver (messages up to `max_message` octets); `None` when the router
/// refused it (the client got close 1013).
pub(super) async fn open<H: ConnectionHooks + 'static>(
    accepted: WampAccepted,
    sock: Stream,
    hooks: H,
    peer: String,
    max_message: usize,
) -> Option<Box<Conn<H, WsFraming>>> {
    let path = accepted.path;
    let opts = path.options();
    let conn = Conn::new(sock, hooks, ws_framing(opts, max_message));
    let mut info = LinkInfo::new(Rc::clone(&path.transport), FrontEnd::WebSocket, peer);
    info.set_http(accepted.http);
    open_session(conn, info, opts, &accepted.negotiated).await
}
