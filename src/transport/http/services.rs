//! The dispatcher: a routed request to its path service (each in a file
//! of its own, below this one), the access log line, and the hand-over of
//! an accepted upgrade (`websocket`: the WAMP session on the shared
//! connection driver; `mqtt`: the MQTT front end's driver).
//!
//! Methods: each service says which it answers (`GET` and `HEAD` for
//! `static`, `archive`, `redirect`, `json`, `nodeinfo`, `none`); another method gets
//! 405 with `Allow`. A request body a service does not take is read and
//! dropped first (within `max_body_size`, else 413), so that the
//! connection stays usable.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Instant;

use bytes::BytesMut;

use super::conn::{Body, HttpConn, Stop};
use super::mqtt_ws::{self, MqttPath};
use super::pages::NodeInfo;
use super::port::WebRouter;
use super::reply::text;
use super::ws_path::{self, WampAccepted};
use super::{Service, Site};
use crate::proto::http::{BodyLength, Method, Request, ResponseBody, ResponseHead};
use crate::transport::conn::Conn;
use crate::transport::websocket::WsFraming;
use crate::transport::{ConnectionHooks, Stream};

/// The methods every service here answers.
const GET_HEAD: &[Method] = &[Method::Get, Method::Head];

/// An upgrade accepted (its 101 written).
pub(super) enum Accepted {
    /// WAMP over WebSocket.
    Wamp(WampAccepted),
    /// MQTT over WebSocket.
    Mqtt(Rc<MqttPath>),
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
    let conn = ws_path::open(accepted, sock, hooks, peer, site.max_message_size).await?;
    Some(MainPhase::Wamp(conn, leftover))
}

/// Answers one request; `Some` when it was a WebSocket upgrade (accepted:
/// the HTTP phase ends).
pub(super) async fn dispatch(
    c: &mut HttpConn,
    site: &Site,
    peer: &str,
    req: Request,
    router: Option<&Rc<dyn WebRouter>>,
) -> Result<Option<Accepted>, Stop> {
    // The clock is read only for the access log.
    let started = site.access_log.then(Instant::now);
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
                Service::WebSocket(ws) => {
                    let (status, sent, up) = ws_path::upgrade(c, ws, &req).await?;
                    (status, sent, up.map(Accepted::Wamp))
                }
                Service::Mqtt(m) => {
                    let (status, sent, up) = mqtt_ws::upgrade(c, m, &req).await?;
                    (status, sent, up.map(Accepted::Mqtt))
                }
                Service::Bridge(b) => {
                    let (status, sent) = super::bridge::answer(c, b, router, peer, &req).await?;
                    (status, sent, None)
                }
                Service::LongPoll(lp) => {
                    let (status, sent) =
                        super::longpoll::answer(c, lp, router, peer, &req, rest).await?;
                    (status, sent, None)
                }
                Service::Wap(w) => {
                    let (status, sent) = super::wap::answer(c, w, router, &req, rest).await?;
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
            micros = started.map_or(0, |t| t.elapsed().as_micros() as u64),
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
        Service::Archive(a) => a.answer(&req.head, mount, rest),
        Service::Redirect(r) => r.answer(),
        Service::Json(j) => j.answer(&req.head, rest),
        Service::NodeInfo(_) => NodeInfo::answer(site.started, &site.transport.id, peer, rest),
        Service::NotFound => text(404, "not found\n"),
        Service::WebSocket(_) | Service::Mqtt(_) => unreachable!("dispatched as an upgrade"),
        Service::Bridge(_) | Service::LongPoll(_) | Service::Wap(_) => {
            unreachable!("dispatched to the bridge, long-poll or wap")
        }
        Service::Cgi(_) | Service::Proxy(_) | Service::Metrics => {
            unreachable!("answered above")
        }
    };
    let sent = c.respond(&head, body).await?;
    Ok((head.status(), sent))
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
