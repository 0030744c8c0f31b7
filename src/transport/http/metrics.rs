//! The `metrics` path service (Junction extension): the Prometheus text
//! format of every shard's counters.
//!
//! The transport layer cannot read the shards, so the shard runtime gives
//! each shard's thread a [`MetricsSource`] ([`set_metrics_source`]): a
//! request asks it, and it asks every shard (its own included) for a report
//! through the control channels and renders them (`shard::metrics`). The
//! connection's task awaits that; the reactor keeps running, and the
//! shard's main loop answers its own report meanwhile. A scrape that gets
//! no answer within [`SCRAPE_TIMEOUT`] (a shard stopping) is answered 503.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;

use super::conn::{Body, HttpConn, Stop};
use super::reply::text;
use crate::proto::http::{BodyLength, Method, Request, ResponseBody, ResponseHead};

/// The content type of the Prometheus text format, version 0.0.4.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How long a scrape waits for the shards.
pub const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);

/// Where a shard's `metrics` paths get their text.
pub trait MetricsSource {
    /// Every shard's metrics in the Prometheus text format.
    fn scrape(&self) -> Pin<Box<dyn Future<Output = String>>>;
}

thread_local! {
    /// This shard's source (set by the shard runtime on its thread).
    static SOURCE: RefCell<Option<Rc<dyn MetricsSource>>> = const { RefCell::new(None) };
}

/// Sets the calling shard thread's metrics source.
pub fn set_metrics_source(source: Rc<dyn MetricsSource>) {
    SOURCE.with(|s| *s.borrow_mut() = Some(source));
}

fn source() -> Option<Rc<dyn MetricsSource>> {
    SOURCE.with(|s| s.borrow().clone())
}

/// Answers a request to a `metrics` path: GET and HEAD of the path itself.
pub(super) async fn serve(c: &mut HttpConn, req: &Request, rest: &str) -> Result<(u16, u64), Stop> {
    const ALLOWED: &[Method] = &[Method::Get, Method::Head];
    if req.framing.body != BodyLength::Empty {
        c.discard_body().await?;
    }
    if !ALLOWED.contains(&req.head.method()) {
        let mut head = ResponseHead::method_not_allowed(ALLOWED);
        head.body(ResponseBody::Empty);
        let sent = c.respond(&head, Body::Empty).await?;
        return Ok((405, sent));
    }
    let (head, body) = if !matches!(rest, "" | "/") {
        text(404, "not found\n")
    } else {
        match source() {
            None => text(503, "metrics are not available here\n"),
            Some(src) => match crate::transport::with_timeout(SCRAPE_TIMEOUT, src.scrape()).await {
                None => text(503, "the shards did not answer in time\n"),
                Some(page) => {
                    let page = Bytes::from(page);
                    let mut head = ResponseHead::new(200);
                    let _ = head.header("Content-Type", METRICS_CONTENT_TYPE);
                    let _ = head.header("Cache-Control", "no-store");
                    head.body(ResponseBody::Length(page.len() as u64));
                    (head, Body::Bytes(page))
                }
            },
        }
    };
    let sent = c.respond(&head, body).await?;
    Ok((head.status(), sent))
}
