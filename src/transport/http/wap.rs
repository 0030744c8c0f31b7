//! The `wap` path (Crossbar's WAMP Application Pages): a request that
//! matches one of the path's routes calls a WAMP procedure and answers with
//! the result rendered by a Jinja template (minijinja), or as JSON for a
//! client that accepts only `application/json`.
//!
//! - Routes are Werkzeug rules below the mount point (`/greeting/<name>`,
//!   `<int:id>`, `<float:x>`, `<path:rest>`), tried in the config's order.
//!   Their variables, then the query's parameters (the first value of each;
//!   a parameter overrides a variable of the same name, as in Crossbar)
//!   become the call's keyword arguments; a POST's body is added as `data`
//!   (bytes) with `data_type` (its `Content-Type`).
//! - The call goes through the path's service session on this shard
//!   (realm and role from `wamp`), as the HTTP bridge's do, so authorization
//!   applies to that role.
//! - The template gets the result as its context: the one argument when it
//!   is a dictionary, else the keyword results. Anything else cannot be
//!   rendered (500).
//! - Errors answer a small HTML page (JSON `{"error": ...}` for a JSON
//!   client): 404 when no route matches, 405 with `Allow` when the path
//!   matches another method (Crossbar answers 511, which is not what HTTP
//!   says), 500 when the call fails (its error URI and message) or the
//!   template fails.
//!
//! [`load`] reads the template files when the node starts or reloads
//! (`resolve_packages`, before the shards see the config, and `junction
//! check`), and refuses templates that do not compile or a route whose
//! template is missing. Each shard compiles them once from those sources:
//! no file is read while a request is answered.

use std::collections::BTreeMap;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use minijinja::Environment;

use super::bridge::session::SessionSlot;
use super::conn::{Body, HttpConn, Stop};
use super::port::WebRouter;
use crate::config::TransportConfig;
use crate::config::web::{
    WAP_MAX_TEMPLATE_BYTES, WAP_MAX_TEMPLATES, WapRoute, WapSegment, WapService, WapVar,
};
use crate::proto::codec::json::encode_value;
use crate::proto::http::path::{percent_decode_lossy, query_pairs};
use crate::proto::http::{BodyLength, Method, Request, ResponseBody, ResponseHead};
use crate::proto::{Call, Dict, Message, Payload, Value};

/// A `wap` path, prepared once per listener and shard.
pub(crate) struct Wap {
    env: Environment<'static>,
    routes: Vec<WapRoute>,
    session: SessionSlot,
}

impl std::fmt::Debug for Wap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wap")
            .field("routes", &self.routes.len())
            .field("realm", &self.session.realm())
            .finish_non_exhaustive()
    }
}

impl Wap {
    /// The path `s` on `transport`.
    pub fn new(transport: &Rc<TransportConfig>, s: &WapService) -> Self {
        Wap {
            env: environment(&s.sources),
            routes: s.routes.clone(),
            session: SessionSlot::new(transport, &s.realm, &s.role),
        }
    }
}

/// Reads the templates under `dir` into `w.sources` (names are paths
/// relative to `dir`, `/`-separated; files that are not UTF-8 are skipped),
/// at most [`WAP_MAX_TEMPLATES`] files and [`WAP_MAX_TEMPLATE_BYTES`], and
/// checks that they compile and that every route's template is there.
/// Blocking: call it before the shards start.
///
/// # Errors
/// What is wrong, for [`super::SiteError::Wap`].
pub(super) fn load(w: &mut WapService, dir: &Path) -> Result<(), String> {
    let mut sources = BTreeMap::new();
    let mut total = 0u64;
    let mut pending = vec![dir.to_owned()];
    while let Some(d) = pending.pop() {
        let entries =
            std::fs::read_dir(&d).map_err(|e| format!("cannot read {}: {e}", d.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("cannot read {}: {e}", d.display()))?;
            let path = entry.path();
            let kind = entry
                .file_type()
                .map_err(|e| format!("{}: {e}", path.display()))?;
            if kind.is_dir() {
                pending.push(path);
                continue;
            }
            let Ok(rel) = path.strip_prefix(dir) else {
                continue;
            };
            let Some(name) = rel.to_str().map(|n| n.replace('\\', "/")) else {
                continue;
            };
            if sources.len() == WAP_MAX_TEMPLATES {
                return Err(format!(
                    "more than {WAP_MAX_TEMPLATES} files in {}",
                    dir.display()
                ));
            }
            let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            total += bytes.len() as u64;
            if total > WAP_MAX_TEMPLATE_BYTES {
                return Err(format!(
                    "the files in {} are larger than {WAP_MAX_TEMPLATE_BYTES} bytes",
                    dir.display()
                ));
            }
            if let Ok(text) = String::from_utf8(bytes) {
                sources.insert(name, text);
            }
        }
    }
    let sources = Arc::new(sources);
    let env = environment(&sources);
    for r in &w.routes {
        if let Err(e) = env.get_template(&r.render) {
            return Err(match e.kind() {
                minijinja::ErrorKind::TemplateNotFound => format!(
                    "route {}: no template \"{}\" in {}",
                    r.rule,
                    r.render,
                    dir.display()
                ),
                _ => format!("route {}: {e}", r.rule),
            });
        }
    }
    w.sources = sources;
    Ok(())
}

/// The template environment of `sources` (name → text): Jinja2's defaults
/// (HTML escaping for `.html`, `.htm` and `.xml` templates, undefined
/// values empty). A template is compiled when first used, as Jinja2's
/// file loader does, so other files in the directory need not be templates.
pub(crate) fn environment(sources: &Arc<BTreeMap<String, String>>) -> Environment<'static> {
    let mut env = Environment::new();
    let sources = Arc::clone(sources);
    env.set_loader(move |name| Ok(sources.get(name).cloned()));
    // Strings escaped as Jinja2 (markupsafe) does: minijinja also escapes
    // `/`, so a page would differ from Crossbar's in its source.
    env.set_formatter(|out, state, value| {
        if matches!(state.auto_escape(), minijinja::AutoEscape::Html)
            && !value.is_safe()
            && let Some(text) = value.as_str()
        {
            return markupsafe(out, text)
                .map_err(|_| minijinja::Error::from(minijinja::ErrorKind::WriteFailure));
        }
        minijinja::escape_formatter(out, state, value)
    });
    // `|e` and `|escape` likewise (Jinja2's escape filter is markupsafe's).
    env.add_filter("escape", escape_filter);
    env.add_filter("e", escape_filter);
    env
}

/// Jinja2's `escape` filter: a value not marked safe is turned into text,
/// escaped as markupsafe escapes it and marked safe; a safe one is kept.
fn escape_filter(value: &minijinja::Value) -> Result<minijinja::Value, minijinja::Error> {
    if value.is_safe() {
        return Ok(value.clone());
    }
    let owned;
    let text = match value.as_str() {
        Some(text) => text,
        None => {
            owned = value.to_string();
            &owned
        }
    };
    let mut out = String::with_capacity(text.len());
    markupsafe(&mut out, text)
        .map_err(|_| minijinja::Error::from(minijinja::ErrorKind::WriteFailure))?;
    Ok(minijinja::Value::from_safe_string(out))
}

/// Writes `text` HTML-escaped as Jinja2's markupsafe escapes it.
fn markupsafe(out: &mut dyn std::fmt::Write, text: &str) -> std::fmt::Result {
    let mut last = 0;
    for (i, b) in text.bytes().enumerate() {
        let rep = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&#34;",
            b'\'' => "&#39;",
            _ => continue,
        };
        out.write_str(&text[last..i])?;
        out.write_str(rep)?;
        last = i + 1;
    }
    out.write_str(&text[last..])
}

/// What a request's path and method found.
enum Found<'a> {
    /// A route, with the keyword arguments from its variables.
    Route(&'a WapRoute, Dict),
    /// The path matches only routes of another method.
    OtherMethod(&'static [Method]),
    /// Nothing matches.
    Nothing,
}

/// The route for `rest` (the path below the mount, still percent-encoded).
fn find<'a>(routes: &'a [WapRoute], rest: &str, post: bool) -> Found<'a> {
    let parts: Vec<&str> = match rest.trim_start_matches('/') {
        "" => Vec::new(),
        r => r.split('/').collect(),
    };
    let mut other = false;
    for r in routes {
        let Some(vars) = matches(&r.path, &parts) else {
            continue;
        };
        if r.post == post {
            return Found::Route(r, vars);
        }
        other = true;
    }
    match (other, post) {
        (false, _) => Found::Nothing,
        (true, true) => Found::OtherMethod(&[Method::Get]),
        (true, false) => Found::OtherMethod(&[Method::Post]),
    }
}

/// The variables of `rule` if it matches `parts`.
fn matches(rule: &[WapSegment], parts: &[&str]) -> Option<Dict> {
    let mut vars = Dict::new();
    let mut i = 0;
    for seg in rule {
        match seg {
            WapSegment::Literal(l) => {
                let p = parts.get(i)?;
                if percent_decode_lossy(p, false) != l.as_str() {
                    return None;
                }
            }
            WapSegment::Var { name, kind } => {
                if *kind == WapVar::Path {
                    let rest = parts.get(i..).filter(|r| !r.is_empty())?;
                    let joined = rest.join("/");
                    if joined.is_empty() {
                        return None;
                    }
                    vars.insert(
                        name.clone(),
                        percent_decode_lossy(&joined, false).into_owned(),
                    );
                    return Some(vars);
                }
                let text = percent_decode_lossy(parts.get(i)?, false);
                if text.is_empty() {
                    return None;
                }
                let v = match kind {
                    WapVar::Str => Value::from(text.into_owned()),
                    WapVar::Int => {
                        if !text.bytes().all(|b| b.is_ascii_digit()) {
                            return None;
                        }
                        Value::from(text.parse::<i64>().ok()?)
                    }
                    WapVar::Float => {
                        let (a, b) = text.split_once('.')?;
                        if a.is_empty()
                            || b.is_empty()
                            || !a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit())
                        {
                            return None;
                        }
                        Value::Float(text.parse::<f64>().ok()?)
                    }
                    WapVar::Path => unreachable!("handled above"),
                };
                vars.insert(name.clone(), v);
            }
        }
        i += 1;
    }
    (i == parts.len()).then_some(vars)
}

/// Answers a request on a `wap` path (`rest`: the path below it).
pub(super) async fn answer(
    c: &mut HttpConn,
    wap: &Wap,
    router: Option<&Rc<dyn WebRouter>>,
    req: &Request,
    rest: &str,
) -> Result<(u16, u64), Stop> {
    let method = req.head.method();
    let json = wants_json(req);
    let post = match method {
        Method::Get => false,
        Method::Post => true,
        _ => {
            if req.framing.body != BodyLength::Empty {
                c.discard_body().await?;
            }
            let mut head = ResponseHead::method_not_allowed(&[Method::Get, Method::Post]);
            head.body(ResponseBody::Empty);
            let sent = c.respond(&head, Body::Empty).await?;
            return Ok((405, sent));
        }
    };
    let mut body = BytesMut::new();
    if req.framing.body != BodyLength::Empty {
        while let Some(piece) = c.body_piece().await? {
            if post {
                body.extend_from_slice(&piece);
            }
        }
    }
    let (mut head, out) = match find(&wap.routes, rest, post) {
        Found::Nothing => error_page(404, &format!("no page at \"{}\"", req.head.path()), json),
        Found::OtherMethod(allow) => {
            let (mut head, out) = error_page(
                405,
                &format!("{} is not accepted here", req.head.method_str()),
                json,
            );
            let allow = if allow == [Method::Get] {
                "GET"
            } else {
                "POST"
            };
            let _ = head.header("Allow", allow);
            (head, out)
        }
        Found::Route(route, mut kwargs) => {
            let mut seen: Vec<String> = Vec::new();
            for (k, v) in query_pairs(req.head.query().unwrap_or("")) {
                // The first value of each parameter (Crossbar's).
                if seen.iter().any(|s| *s == k) {
                    continue;
                }
                seen.push(k.clone().into_owned());
                kwargs.insert(k.into_owned(), v.into_owned());
            }
            if !body.is_empty() {
                let ctype = req
                    .head
                    .headers()
                    .get_str("content-type")
                    .unwrap_or("application/octet-stream")
                    .to_owned();
                kwargs.insert("data", Value::Bytes(body.freeze()));
                kwargs.insert("data_type", ctype);
            }
            respond(wap, router, route, kwargs, json).await
        }
    };
    let _ = head.header("Cache-Control", "no-store");
    let sent = c.respond(&head, out).await?;
    Ok((head.status(), sent))
}

/// Calls the route's procedure and renders its result.
async fn respond(
    wap: &Wap,
    router: Option<&Rc<dyn WebRouter>>,
    route: &WapRoute,
    kwargs: Dict,
    json: bool,
) -> (ResponseHead, Body) {
    let result = match &route.call {
        None => Payload::kwargs(Dict::new()),
        Some(procedure) => {
            let Some(s) = router.and_then(|r| wap.session.get(r)) else {
                return error_page(500, "the router refused the page's WAMP session", json);
            };
            let request = s.next_request();
            let msg = Message::Call(Call {
                request,
                options: Dict::new(),
                procedure: procedure.clone(),
                payload: Payload::kwargs(kwargs),
            });
            match s.request(request, msg).await {
                Some(Message::Result(r)) => r.payload,
                Some(Message::Error(e)) => {
                    let why = match e.payload.args.as_deref() {
                        Some([Value::Str(m), ..]) => format!("{}: {m}", e.error),
                        _ => e.error,
                    };
                    return error_page(500, &why, json);
                }
                _ => return error_page(500, "the call got no answer", json),
            }
        }
    };
    if json {
        let mut out = BytesMut::new();
        encode_value(&result_value(result), &mut out);
        return page(200, "application/json; charset=utf-8", out.freeze());
    }
    let context = match (result.args.as_deref(), result.kwargs) {
        (Some([Value::Dict(d)]), _) => to_template(&Value::Dict(d.clone())),
        (None | Some([]), kwargs) => to_template(&Value::Dict(kwargs.unwrap_or_default())),
        _ => {
            let why = format!(
                "the result of {} is not a dictionary: the template cannot be rendered",
                route.call.as_deref().unwrap_or("")
            );
            return error_page(500, &why, false);
        }
    };
    let rendered = wap
        .env
        .get_template(&route.render)
        .and_then(|t| t.render(context));
    match rendered {
        Ok(html) => page(200, "text/html; charset=utf-8", Bytes::from(html)),
        Err(e) => {
            tracing::warn!(template = %route.render, error = %e, "wap render");
            error_page(500, &format!("template {}: {e}", route.render), false)
        }
    }
}

/// A call's result as one value, as Autobahn|Python hands it over: the one
/// argument, the keyword results, or both as `{"args", "kwargs"}`.
fn result_value(p: Payload) -> Value {
    let args = p.args.unwrap_or_default();
    match p.kwargs {
        Some(kw) if !kw.is_empty() && args.is_empty() => Value::Dict(kw),
        Some(kw) if !kw.is_empty() => {
            Value::Dict(Dict::new().with("args", args).with("kwargs", kw))
        }
        _ if args.len() == 1 => args.into_iter().next().unwrap_or(Value::Null),
        _ if args.is_empty() => Value::Null,
        _ => Value::List(args),
    }
}

/// A WAMP value as a template value (dictionaries keep their order).
fn to_template(v: &Value) -> minijinja::Value {
    use minijinja::Value as V;
    match v {
        Value::Null => V::from(()),
        Value::Bool(b) => V::from(*b),
        Value::Int(i) => V::from(*i),
        Value::UInt(u) => V::from(*u),
        Value::Float(f) => V::from(*f),
        Value::Str(s) => V::from(s.as_str()),
        Value::Bytes(b) => V::from_bytes(b.to_vec()),
        Value::List(l) => l.iter().map(to_template).collect(),
        Value::Dict(d) => V::from(
            d.0.iter()
                .map(|(k, v)| (V::from(k.as_ref()), to_template(v)))
                .collect::<indexmap::IndexMap<V, V>>(),
        ),
    }
}

/// Whether the client accepts only JSON (Crossbar's test: the `Accept`
/// header is `application/json`).
fn wants_json(req: &Request) -> bool {
    req.head.headers().get_str("accept").is_some_and(|a| {
        let first = a.split(';').next().unwrap_or("").trim();
        !a.contains(',') && first.eq_ignore_ascii_case("application/json")
    })
}

fn page(status: u16, content_type: &'static str, body: Bytes) -> (ResponseHead, Body) {
    let mut head = ResponseHead::new(status);
    head.header_static("Content-Type", content_type);
    head.body(ResponseBody::Length(body.len() as u64));
    (head, Body::Bytes(body))
}

/// An error answer: a small HTML page, or `{"error": why}` for JSON.
fn error_page(status: u16, why: &str, json: bool) -> (ResponseHead, Body) {
    if json {
        let mut out = BytesMut::new();
        encode_value(&Value::Dict(Dict::new().with("error", why)), &mut out);
        return page(status, "application/json; charset=utf-8", out.freeze());
    }
    let mut html = String::with_capacity(why.len() + 160);
    html.push_str(
        "<!DOCTYPE html>\n<html><head><title>WAMP Application Page error</title></head>\
         <body><h1>WAMP Application Page error</h1><pre>",
    );
    let _ = markupsafe(&mut html, why);
    html.push_str("</pre></body></html>\n");
    page(status, "text/html; charset=utf-8", Bytes::from(html))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(rule: &str, post: bool) -> WapRoute {
        let path = rule
            .trim_start_matches('/')
            .split('/')
            .filter(|s| !s.is_empty())
            .map(
                |s| match s.strip_prefix('<').and_then(|s| s.strip_suffix('>')) {
                    None => WapSegment::Literal(s.to_owned()),
                    Some(inner) => {
                        let (conv, name) = inner.split_once(':').unwrap_or(("string", inner));
                        let kind = match conv {
                            "int" => WapVar::Int,
                            "float" => WapVar::Float,
                            "path" => WapVar::Path,
                            _ => WapVar::Str,
                        };
                        WapSegment::Var {
                            name: name.to_owned(),
                            kind,
                        }
                    }
                },
            )
            .collect();
        WapRoute {
            path,
            rule: rule.to_owned(),
            post,
            call: Some("com.example.x".into()),
            render: "x.html".into(),
        }
    }

    fn vars(f: Found<'_>) -> Option<Dict> {
        match f {
            Found::Route(_, d) => Some(d),
            _ => None,
        }
    }

    #[test]
    fn routes_match_werkzeug_rules() {
        let routes = vec![
            route("/greeting/<name>", false),
            route("/product/<int:id>/<float:price>", false),
            route("/files/<path:rest>", false),
            route("/forms", true),
            route("/", false),
        ];
        let got = vars(find(&routes, "/greeting/J%C3%BCrgen", false)).expect("match");
        assert_eq!(got.get("name"), Some(&Value::from("Jürgen")));
        let got = vars(find(&routes, "/product/42/9.5", false)).expect("match");
        assert_eq!(got.get("id"), Some(&Value::from(42i64)));
        assert_eq!(got.get("price"), Some(&Value::Float(9.5)));
        assert!(vars(find(&routes, "/product/4x/9.5", false)).is_none());
        assert!(vars(find(&routes, "/product/4/9", false)).is_none());
        let got = vars(find(&routes, "/files/a/b.txt", false)).expect("match");
        assert_eq!(got.get("rest"), Some(&Value::from("a/b.txt")));
        assert!(vars(find(&routes, "/files/", false)).is_none());
        assert!(vars(find(&routes, "/", false)).is_some());
        assert!(vars(find(&routes, "", false)).is_some());
        assert!(vars(find(&routes, "/greeting/a/b", false)).is_none());
        assert!(matches!(
            find(&routes, "/forms", false),
            Found::OtherMethod([Method::Post])
        ));
        assert!(matches!(
            find(&routes, "/greeting/x", true),
            Found::OtherMethod([Method::Get])
        ));
        assert!(matches!(find(&routes, "/nope", false), Found::Nothing));
    }

    #[test]
    fn results_become_template_contexts_in_order() {
        let d = Dict::new()
            .with("b", 1i64)
            .with("a", vec![Value::from("x")]);
        let v = to_template(&Value::Dict(d));
        let keys: Vec<String> = v
            .try_iter()
            .expect("a map")
            .map(|k| k.to_string())
            .collect();
        assert_eq!(keys, ["b", "a"]);
        let mut env = Environment::new();
        env.add_template(
            "t.html",
            "{{ name }} {% for k, v in d|items %}{{ k }}={{ v }};{% endfor %}",
        )
        .expect("compiles");
        let ctx = to_template(&Value::Dict(
            Dict::new()
                .with("name", "<b>")
                .with("d", Dict::new().with("z", 1i64).with("y", 2i64)),
        ));
        let out = env
            .get_template("t.html")
            .and_then(|t| t.render(ctx))
            .expect("renders");
        assert_eq!(out, "&lt;b&gt; z=1;y=2;");
        // Escaping as Jinja2 does, automatic or by filter: `/` stays.
        let sources = Arc::new(BTreeMap::from([(
            "p.html".to_owned(),
            "{{ u }}|{{ u|e }}|{{ u|escape }}|{{ n|e }}|{% autoescape false %}{{ u|e }}{% endautoescape %}".to_owned(),
        )]));
        let out = environment(&sources)
            .get_template("p.html")
            .and_then(|t| {
                t.render(to_template(&Value::Dict(
                    Dict::new().with("u", "a/b <'&\">").with("n", 7i64),
                )))
            })
            .expect("renders");
        let esc = "a/b &lt;&#39;&amp;&#34;&gt;";
        assert_eq!(out, format!("{esc}|{esc}|{esc}|7|{esc}"));
        assert_eq!(
            result_value(Payload::args(vec![Value::from(1i64)])),
            Value::from(1i64)
        );
        assert_eq!(
            result_value(Payload::kwargs(Dict::new().with("a", 1i64))),
            Value::Dict(Dict::new().with("a", 1i64))
        );
    }
}
