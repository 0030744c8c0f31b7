//! The answers and checks every path service shares: a plain-text answer,
//! an upgrade's refusal, the checks of a WebSocket upgrade request,
//! Crossbar's cross-origin header fields.
//!
//! Imports only the connection ([`super::conn`]); no service, nor the
//! dispatcher.

use bytes::Bytes;

use super::conn::{Body, HttpConn, Stop};
use crate::proto::http::{BodyLength, Request, RequestHead, ResponseBody, ResponseHead};
use crate::proto::websocket::{UpgradeRequest, check_upgrade};

/// A plain-text answer.
pub(super) fn text(status: u16, body: impl Into<Bytes>) -> (ResponseHead, Body) {
    let body: Bytes = body.into();
    let mut head = ResponseHead::new(status);
    let _ = head.header("Content-Type", "text/plain; charset=utf-8");
    head.body(ResponseBody::Length(body.len() as u64));
    (head, Body::Bytes(body))
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
) -> Result<Result<UpgradeRequest, (u16, u64)>, Stop> {
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
    head.header_static("Access-Control-Allow-Credentials", "true");
    if let Some(h) = headers.get("access-control-request-headers") {
        let _ = head.header("Access-Control-Allow-Headers", h);
    }
}
