//! The answers the file services share (`static`, `archive`): a file's
//! answer with its validators (conditional requests: 304, 412), one byte
//! range (206, 416), its content type and caching fields; the request path
//! below the mount point, checked; the redirect that adds a folder's
//! trailing slash.
//!
//! Imports the connection and [`super::reply`]; no service, nor the
//! dispatcher.

use std::fs;
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use super::conn::{Body, FileBody};
use super::reply::{cross_origin, text};
use crate::proto::http::conditional::{EntityTag, Precondition, Validators, evaluate};
use crate::proto::http::path::StaticPath;
use crate::proto::http::range::{RangeDecision, evaluate_range};
use crate::proto::http::{HttpDate, RequestHead, ResponseBody, ResponseHead};

/// What a file's octets are.
#[derive(Debug)]
pub(super) enum Content {
    /// All of them (a small file, or one held in memory).
    Whole(Bytes),
    /// The open file (a large one).
    Open(fs::File),
}

/// What the answer for a file says about it.
#[derive(Debug)]
pub(super) struct FileInfo<'a> {
    /// Its length.
    pub len: u64,
    /// Its entity tag.
    pub etag: EntityTag,
    /// Its modification time.
    pub last_modified: HttpDate,
    /// Its `Content-Type`.
    pub content_type: &'a str,
}

/// How a service answers for its files.
#[derive(Debug, Default)]
pub(super) struct FilePolicy {
    /// `Cache-Control` value and its time in seconds (`Expires`).
    pub cache_control: Option<(String, u64)>,
    /// Crossbar's cross-origin fields.
    pub cors: bool,
}

impl FilePolicy {
    /// The answer for a file: 200, 206, 304, 412 or 416.
    pub fn answer(
        &self,
        req: &RequestHead<Bytes>,
        file: &FileInfo<'_>,
        content: Content,
    ) -> (ResponseHead, Body) {
        let validators = Validators {
            etag: Some(&file.etag),
            last_modified: Some(file.last_modified),
        };
        let headers = req.headers();
        let method = req.method();
        let mut head;
        match evaluate(method, &headers, &validators) {
            Precondition::NotModified => {
                head = ResponseHead::new(304);
                self.validators(&mut head, file);
                return (head, Body::Empty);
            }
            Precondition::Failed => return text(412, "precondition failed\n"),
            Precondition::Proceed => {}
        }
        let decision = evaluate_range(method, &headers, file.len, &validators);
        let (first, end) = match decision {
            RangeDecision::Full => {
                head = ResponseHead::new(200);
                (0, file.len)
            }
            RangeDecision::Partial { first, last } => {
                head = ResponseHead::new(206);
                (first, last + 1)
            }
            RangeDecision::NotSatisfiable => {
                let mut head = ResponseHead::new(416);
                if let Some(range) = decision.content_range(file.len) {
                    let _ = head.header("Content-Range", range);
                }
                return (head, Body::Empty);
            }
        };
        let _ = head.header("Content-Type", file.content_type);
        let _ = head.header("Accept-Ranges", "bytes");
        if let Some(range) = decision.content_range(file.len) {
            let _ = head.header("Content-Range", range);
        }
        self.validators(&mut head, file);
        if self.cors {
            cross_origin(req, &mut head);
        }
        head.body(ResponseBody::Length(end - first));
        let body = match content {
            Content::Whole(b) => {
                let (a, z) = (first as usize, (end as usize).min(b.len()));
                Body::Bytes(b.slice(a.min(z)..z))
            }
            Content::Open(f) => Body::File(FileBody::new(f, first, end)),
        };
        (head, body)
    }

    /// `ETag`, `Last-Modified` and the caching fields.
    fn validators(&self, head: &mut ResponseHead, file: &FileInfo<'_>) {
        let _ = head.header("ETag", file.etag.to_header_value());
        let _ = head.header("Last-Modified", file.last_modified.to_bytes());
        if let Some((value, secs)) = &self.cache_control {
            let _ = head.header("Cache-Control", value);
            let expires = SystemTime::now() + Duration::from_secs(*secs);
            let _ = head.header("Expires", HttpDate::from_system_time(expires).to_bytes());
        }
    }
}

/// The path below a file service's mount point, checked: `Err` with the
/// answer when it is the mount point itself without its slash (301 to it
/// with the slash) or not a plain path (400, see [`StaticPath`]).
pub(super) fn service_path(
    req: &RequestHead<Bytes>,
    mount: &str,
    rest: &str,
) -> Result<StaticPath, Box<(ResponseHead, Body)>> {
    if rest.is_empty() && !mount.is_empty() {
        // `/app` for a service at `app`: its folder, without the slash.
        return Err(Box::new(redirect(&format!("{mount}/"), req.query())));
    }
    StaticPath::parse(rest).map_err(|e| Box::new(text(e.status(), format!("{e}\n"))))
}

/// 301 to `location` (with the request's query).
pub(super) fn redirect(location: &str, query: Option<&str>) -> (ResponseHead, Body) {
    let location = match query {
        Some(q) => format!("{location}?{q}"),
        None => location.to_owned(),
    };
    let (mut head, body) = text(301, format!("moved to {location}\n"));
    if head.header("Location", &location).is_err() {
        return text(400, "bad request path\n");
    }
    (head, body)
}
