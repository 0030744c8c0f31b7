//! The small path services, each answered from what was prepared at
//! start: `redirect`, `json` and `nodeinfo`.
//!
//! Imports the web server's shared answers; no other service, nor the
//! dispatcher.

use std::time::SystemTime;

use bytes::Bytes;

use super::conn::Body;
use super::reply::{cross_origin, text};
use crate::config::web::JsonService;
use crate::proto::http::listing::escape_html;
use crate::proto::http::{HttpDate, RequestHead, ResponseBody, ResponseHead};

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

    /// The redirect.
    pub(super) fn answer(&self) -> (ResponseHead, Body) {
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

    /// The document, for a request below the mount point `rest`.
    pub(super) fn answer(&self, req: &RequestHead<Bytes>, rest: &str) -> (ResponseHead, Body) {
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

/// The `nodeinfo` service: a page about the node.
#[derive(Debug)]
pub(super) struct NodeInfo;

impl NodeInfo {
    /// The page for a request below the mount point `rest`, from peer
    /// `peer`, on transport `transport_id` of a site built at `started`.
    pub(super) fn answer(
        started: SystemTime,
        transport_id: &str,
        peer: &str,
        rest: &str,
    ) -> (ResponseHead, Body) {
        if !matches!(rest, "" | "/") {
            return text(404, "not found\n");
        }
        let started = HttpDate::from_system_time(started);
        let started = String::from_utf8_lossy(&started.to_bytes()).into_owned();
        let now = HttpDate::from_system_time(SystemTime::now());
        let now = String::from_utf8_lossy(&now.to_bytes()).into_owned();
        let rows = [
            ("Release", format!("Junction {}", env!("CARGO_PKG_VERSION"))),
            ("Node started", started),
            ("Now", now),
            ("Process ID", std::process::id().to_string()),
            ("Transport", transport_id.to_owned()),
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
