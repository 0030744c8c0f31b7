//! The `wap` web service (Crossbar's WAMP Application Pages): its
//! templates, routes (Werkzeug rule syntax) and WAMP realm and role. The
//! template files are read later, when the node starts or reloads
//! (`transport::http::resolve_packages`).

use serde_json::Value;

use super::realm::is_realm_name;
use super::{Key, Loader, Obj};
use crate::config::path::{child, index};
use crate::config::web::{StaticSource, WapRoute, WapSegment, WapService, WapVar};

impl Loader<'_> {
    /// A `wap` service.
    pub(super) fn wap_service(&mut self, path: &str, obj: &Obj) -> Option<WapService> {
        self.keys(
            path,
            obj,
            &[
                ("id", Key::Ignore),
                ("type", Key::Read),
                ("templates", Key::Read),
                ("sandbox", Key::Read),
                ("routes", Key::Read),
                ("wamp", Key::Read),
                (
                    "path",
                    Key::Warn("ignored: routes are relative to the path the service is mounted at"),
                ),
            ],
        );
        let tp = child(path, "templates");
        let templates = match obj.get("templates") {
            Some(Value::Object(o)) => {
                self.keys(&tp, o, &[("package", Key::Read), ("resource", Key::Read)]);
                let package = self.required(&tp, o, "package", Self::nonempty);
                let resource = self.required(&tp, o, "resource", Self::nonempty);
                Some(StaticSource::Package {
                    package: package?.into_owned(),
                    resource: resource?.into_owned(),
                })
            }
            Some(v) => self.node_path(&tp, v).map(StaticSource::Directory),
            None => {
                self.error(&tp, "missing (required)");
                None
            }
        };
        // Junction's templates are always sandboxed: they cannot reach
        // anything but the call's result (no Python objects, no files).
        if obj.contains_key("sandbox") {
            self.opt_bool(path, obj, "sandbox");
        }
        let wp = child(path, "wamp");
        let (realm, role) = match obj.get("wamp") {
            Some(v) => {
                let o = self.object(&wp, v)?;
                self.keys(&wp, o, &[("realm", Key::Read), ("authrole", Key::Read)]);
                let realm = self.required(&wp, o, "realm", |l, p, v| {
                    let r = l.string(p, v)?;
                    if !is_realm_name(&r) {
                        l.error(p, format!("invalid realm name \"{r}\""));
                        return None;
                    }
                    Some(r.into_owned())
                });
                let role = match o.get("authrole") {
                    Some(v) => self.nonempty(&child(&wp, "authrole"), v)?.into_owned(),
                    None => "anonymous".to_owned(),
                };
                (realm?, role)
            }
            None => {
                self.error(&wp, "missing (required)");
                return None;
            }
        };
        let rp = child(path, "routes");
        let mut routes = Vec::new();
        let items = match obj.get("routes") {
            Some(v) => self.array(&rp, v)?,
            None => {
                self.error(&rp, "missing (required)");
                return None;
            }
        };
        for (i, r) in items.iter().enumerate() {
            if let Some(route) = self.wap_route(&index(&rp, i), r) {
                routes.push(route);
            }
        }
        Some(WapService {
            templates: templates?,
            sources: Default::default(),
            routes,
            realm,
            role,
        })
    }

    fn wap_route(&mut self, path: &str, v: &Value) -> Option<WapRoute> {
        let obj = self.object(path, v)?;
        self.keys(
            path,
            obj,
            &[
                ("path", Key::Read),
                ("method", Key::Read),
                ("call", Key::Read),
                ("render", Key::Read),
            ],
        );
        let rule = self
            .required(path, obj, "path", Self::nonempty)?
            .into_owned();
        let segments = match parse_rule(&rule) {
            Ok(s) => s,
            Err(why) => {
                self.error(&child(path, "path"), why);
                return None;
            }
        };
        let post = match obj.get("method") {
            None => false,
            Some(v) => match self.string(&child(path, "method"), v)?.as_ref() {
                "GET" => false,
                "POST" => true,
                other => {
                    self.error(
                        &child(path, "method"),
                        format!("\"{other}\" is not \"GET\" or \"POST\""),
                    );
                    return None;
                }
            },
        };
        let call = match obj.get("call") {
            None | Some(Value::Null) => None,
            Some(v) => Some(self.uri(&child(path, "call"), v)?),
        };
        let render = self
            .required(path, obj, "render", Self::nonempty)?
            .into_owned();
        Some(WapRoute {
            path: segments,
            rule,
            post,
            call,
            render,
        })
    }
}

/// A Werkzeug rule (`/product/<int:id>/<report>`) as segments.
fn parse_rule(rule: &str) -> Result<Vec<WapSegment>, String> {
    let Some(rest) = rule.strip_prefix('/') else {
        return Err(format!("\"{rule}\" does not start with '/'"));
    };
    let parts: Vec<&str> = if rest.is_empty() {
        Vec::new()
    } else {
        rest.split('/').collect()
    };
    let mut out = Vec::with_capacity(parts.len());
    let mut names: Vec<&str> = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let Some(inner) = part.strip_prefix('<').and_then(|p| p.strip_suffix('>')) else {
            if part.contains(['<', '>']) {
                return Err(format!(
                    "\"{part}\": a variable is a whole segment (<name> or <converter:name>)"
                ));
            }
            out.push(WapSegment::Literal((*part).to_owned()));
            continue;
        };
        let (conv, name) = inner.split_once(':').unwrap_or(("string", inner));
        let kind = match conv {
            "string" | "default" => WapVar::Str,
            "int" => WapVar::Int,
            "float" => WapVar::Float,
            "path" if i + 1 == parts.len() => WapVar::Path,
            "path" => return Err(format!("\"{part}\": a path variable must come last")),
            other => {
                return Err(format!(
                    "\"{part}\": unknown converter \"{other}\" (string, int, float or path)"
                ));
            }
        };
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(format!("\"{part}\": \"{name}\" is not a variable name"));
        }
        if names.contains(&name) {
            return Err(format!("variable \"{name}\" appears twice"));
        }
        names.push(name);
        out.push(WapSegment::Var {
            name: name.to_owned(),
            kind,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn werkzeug_rules_parse() {
        let s = parse_rule("/product/<int:product_id>/<report>/<path:rest>").expect("valid");
        assert_eq!(
            s,
            vec![
                WapSegment::Literal("product".into()),
                WapSegment::Var {
                    name: "product_id".into(),
                    kind: WapVar::Int
                },
                WapSegment::Var {
                    name: "report".into(),
                    kind: WapVar::Str
                },
                WapSegment::Var {
                    name: "rest".into(),
                    kind: WapVar::Path
                },
            ]
        );
        assert_eq!(parse_rule("/").expect("root"), vec![]);
        for (bad, needle) in [
            ("greeting", "start with"),
            ("/a<b>", "whole segment"),
            ("/<uuid:x>", "unknown converter"),
            ("/<path:x>/y", "must come last"),
            ("/<1x>", "not a variable name"),
            ("/<x>/<x>", "twice"),
        ] {
            let e = parse_rule(bad).expect_err(bad);
            assert!(e.contains(needle), "{bad}: {e}");
        }
    }
}
