//! THE gap list: what the config model holds but the runtime does not do
//! yet. [`gap`] has one arm per feature; when a feature lands, its arm is
//! deleted and configs using it start. Everything else here finds where a
//! loaded [`Config`] uses each feature, with the JSON path to report.
//!
//! A gap is either an error (`junction start` refuses the config, `junction
//! check` reports it as "... is not supported yet") or a warning (the
//! setting is accepted and ignored, as Junction did before the model had
//! it, so configs that ran before still run).

use super::auth::{AnonymousAuth, AuthConfig};
use super::error::{ConfigIssue, IssueKind};
use super::path::{child, index};
use super::worker::ComponentKind;
use super::{Config, ServiceKind};

/// A feature a config can use that the runtime may lack.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Feature {
    /// `endpoint.tls.dhparam`.
    TlsDhparam,
    /// A static authentication method other than anonymous (by name).
    Auth(&'static str),
    /// A method with `"type": "dynamic"` (by name).
    DynamicAuth(&'static str),
    /// `auth.anonymous.authid`.
    AnonymousAuthid,
    /// A role's `authorizer`.
    RoleAuthorizer,
    /// A web path service type other than `websocket`.
    WebService(&'static str),
    /// The router worker's `python` / `pythonpath`.
    PythonOptions,
    /// The router worker's `env` (without Python components).
    RouterEnv,
    /// An HTTP bridge component (class name).
    BridgeComponent(String),
    /// A router component class of Crossbar's own package (class name).
    CrossbarClass(String),
    /// A worker type other than the router.
    Worker(&'static str),
}

/// What the runtime does about a feature in use.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Gap {
    /// Refused: "`what` is not supported yet".
    Error(String),
    /// Accepted and ignored, with this warning.
    Warn(String),
}

fn error(what: impl Into<String>) -> Option<Gap> {
    Some(Gap::Error(what.into()))
}

fn warn(why: impl Into<String>) -> Option<Gap> {
    Some(Gap::Warn(why.into()))
}

/// The gap list: one arm per feature the runtime lacks. Delete the arm
/// when the feature lands.
fn gap(f: &Feature) -> Option<Gap> {
    use Feature as F;
    match f {
        // #10: authentication, authorization and TLS.
        F::TlsDhparam => warn(
            "ignored: rustls has no finite-field DHE cipher suites (key exchange is ECDHE only)",
        ),
        // #12: the web transport.
        F::PythonOptions => {
            warn("used only to locate `static` package sources and to run `wsgi` applications")
        }
        F::RouterEnv => warn("ignored: used only for the router's Python components (none here)"),
        // Never: Junction does not serve Crossbar's upload service (Crossbar
        // 26 checks its config but does not serve it). (`resource` paths,
        // Python code, are served as 404 with a warning by the loader.)
        F::WebService("upload") => {
            error("web service type \"upload\" (Crossbar does not serve it either)")
        }
        F::CrossbarClass(what) => warn(format!(
            "{what} is Crossbar's own code: it runs in Junction's component host only where \
             the router's Python has Crossbar installed"
        )),
        _ => None,
    }
}

/// JSON paths of a config's items (those of the document it was read from).
#[derive(Debug, Clone, Default)]
pub(super) struct Paths {
    /// The router worker, `workers[i]`.
    pub router: String,
    /// Each realm, in order.
    pub realms: Vec<String>,
    /// Each transport, in order.
    pub transports: Vec<String>,
    /// Each router component, in order.
    pub components: Vec<String>,
}

impl Paths {
    /// The paths of a complete config: items in document order.
    fn of(c: &Config) -> Paths {
        let router = index("workers", c.router_index);
        let list = |key: &str, n: usize| -> Vec<String> {
            (0..n).map(|i| index(&child(&router, key), i)).collect()
        };
        Paths {
            realms: list("realms", c.realms.len()),
            transports: list("transports", c.transports.len()),
            components: list("components", c.components.len()),
            router,
        }
    }
}

/// The gaps of a config: errors and warnings.
#[derive(Debug, Default)]
pub(super) struct Gaps {
    /// Features the runtime refuses, as issues.
    pub errors: Vec<ConfigIssue>,
    /// Settings it ignores, as warning lines.
    pub warnings: Vec<String>,
}

/// Every gap of `c`, with paths from `at`.
pub(super) fn gaps(c: &Config, at: &Paths) -> Gaps {
    let mut out = Gaps::default();
    for (feature, path) in features(c, at) {
        match gap(&feature) {
            Some(Gap::Error(what)) => out.errors.push(ConfigIssue {
                path,
                kind: IssueKind::Unsupported,
                message: format!("{what} is not supported yet"),
            }),
            Some(Gap::Warn(why)) => out.warnings.push(format!("{path}: {why}")),
            None => {}
        }
    }
    out
}

/// The errors of [`gaps`] for a complete config.
pub(super) fn unsupported(c: &Config) -> Vec<ConfigIssue> {
    gaps(c, &Paths::of(c)).errors
}

/// Where `c` uses each feature.
fn features(c: &Config, at: &Paths) -> Vec<(Feature, String)> {
    let mut out = Vec::new();
    let options = child(&at.router, "options");
    // They run the router's Python components (the node's component host).
    let hosts_classes = c
        .components
        .iter()
        .any(|k| matches!(&k.kind, ComponentKind::Python(_)));
    if c.python.executable.is_some() && !hosts_classes {
        out.push((Feature::PythonOptions, child(&options, "python")));
    }
    if !c.python.path.is_empty() && !hosts_classes {
        out.push((Feature::PythonOptions, child(&options, "pythonpath")));
    }
    if c.python.env.is_some() && !hosts_classes {
        out.push((Feature::RouterEnv, child(&options, "env")));
    }
    for (realm, rp) in c.realms.iter().zip(&at.realms) {
        for (k, role) in realm.roles.iter().enumerate() {
            if c.role_authorizer(&realm.name, &role.name).is_some() {
                let p = index(&child(rp, "roles"), k);
                out.push((Feature::RoleAuthorizer, child(&p, "authorizer")));
            }
        }
    }
    for (t, tp) in c.transports.iter().zip(&at.transports) {
        if let Some(tls) = t.endpoint.tls() {
            let p = child(&child(tp, "endpoint"), "tls");
            if tls.dhparam.is_some() {
                out.push((Feature::TlsDhparam, child(&p, "dhparam")));
            }
        }
        for (rel, service) in t.kind.services() {
            let sp = if rel.is_empty() {
                tp.clone()
            } else {
                child(tp, &rel)
            };
            match service {
                ServiceKind::WebSocket(s) => auth(&s.wamp.auth, &sp, &mut out),
                ServiceKind::RawSocket(s) => auth(&s.wamp.auth, &sp, &mut out),
                ServiceKind::Mqtt(m) => {
                    // On a web path; an `mqtt` or `universal` transport is reported whole.
                    if rel.contains("paths.") {
                        out.push((Feature::WebService("mqtt"), child(&sp, "type")));
                    }
                    auth(&m.auth, &child(&sp, "options"), &mut out);
                }
                ServiceKind::Http(s) => {
                    out.push((Feature::WebService(s.type_name()), child(&sp, "type")));
                }
            }
        }
    }
    for (component, cp) in c.components.iter().zip(&at.components) {
        match &component.kind {
            ComponentKind::MessageForwarder(_) | ComponentKind::RestCallee(_) => out.push((
                Feature::BridgeComponent(component.kind.describe()),
                child(cp, "classname"),
            )),
            // Python classes and functions run in the node's component host.
            ComponentKind::Python(super::worker::PythonComponent {
                entry: super::worker::PythonEntry::Class(class),
                ..
            }) => {
                if class.starts_with("crossbar.") {
                    out.push((
                        Feature::CrossbarClass(class.clone()),
                        child(cp, "classname"),
                    ));
                }
            }
            ComponentKind::Python(_) => {}
        }
    }
    // Every container component runs in the container's host: classes,
    // `function` components and the HTTP bridge classes (the host's own code).
    for w in &c.workers {
        let wp = index("workers", w.index);
        out.push((Feature::Worker(w.kind.type_name()), child(&wp, "type")));
    }
    out
}

/// The features an `auth` object uses; `sp` is the service's path.
fn auth(auth: &AuthConfig, sp: &str, out: &mut Vec<(Feature, String)>) {
    let ap = child(sp, "auth");
    if let Some(AnonymousAuth::Static {
        authid: Some(_), ..
    }) = &auth.anonymous
    {
        out.push((
            Feature::AnonymousAuthid,
            child(&child(&ap, "anonymous"), "authid"),
        ));
    }
    for (method, dynamic) in auth.methods() {
        let mp = child(&ap, method);
        if dynamic.is_some() {
            out.push((Feature::DynamicAuth(method), mp));
        } else if method != "anonymous" {
            out.push((Feature::Auth(method), mp));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_default_has_no_gap() {
        let c = Config::embedded_default();
        let g = gaps(&c, &Paths::of(&c));
        assert!(g.errors.is_empty(), "{:#?}", g.errors);
        assert!(g.warnings.is_empty(), "{:#?}", g.warnings);
    }

    #[test]
    fn router_python_components_run_and_use_the_router_python_options() {
        let config = |components: &str| {
            Config::from_json_str(&format!(
                r#"{{"version": 2, "workers": [
                {{"type": "router", "options": {{"pythonpath": ["apps"]}},
                 "realms": [{{"name": "realm1", "roles": [{{"name": "anonymous"}}]}}],
                 "transports": [{{"type": "websocket", "endpoint": {{"type": "tcp", "port": 8080}}}}],
                 "components": [{components}]}}]}}"#
            ))
            .expect("loads")
        };
        // A class runs: no warning, pythonpath included (it finds the class).
        let c = config(r#"{"type": "class", "classname": "app.Backend", "realm": "realm1"}"#);
        let g = gaps(&c, &Paths::of(&c));
        assert!(g.errors.is_empty() && g.warnings.is_empty(), "{g:?}");
        // Crossbar's own classes need Crossbar installed.
        let c = config(
            r#"{"type": "class", "classname": "crossbar.network._api.Network", "realm": "realm1"}"#,
        );
        let g = gaps(&c, &Paths::of(&c));
        assert_eq!(
            g.warnings,
            vec![
                "workers[0].components[0].classname: crossbar.network._api.Network is Crossbar's own code: it runs in Junction's component host only where the router's Python has Crossbar installed"
            ]
        );
        // So does a function component.
        let c =
            config(r#"{"type": "function", "realm": "realm1", "callbacks": {"join": "app.j"}}"#);
        let g = gaps(&c, &Paths::of(&c));
        assert!(g.errors.is_empty() && g.warnings.is_empty(), "{g:?}");
        // Without Python components, pythonpath serves nothing here.
        let c = config(
            r#"{"type": "class", "classname": "crossbar.bridge.rest.RESTCallee", "realm": "realm1",
                "extra": {"procedure": "com.x", "baseurl": "http://h/"}}"#,
        );
        let g = gaps(&c, &Paths::of(&c));
        assert_eq!(
            g.warnings,
            vec![
                "workers[0].options.pythonpath: used only to locate `static` package sources and to run `wsgi` applications"
            ]
        );
        // Nor does the router's env.
        let c = Config::from_json_str(
            r#"{"version": 2, "workers": [
                {"type": "router", "options": {"env": {"vars": {"A": "1"}}},
                 "realms": [{"name": "realm1", "roles": [{"name": "anonymous"}]}],
                 "transports": [{"type": "websocket", "endpoint": {"type": "tcp", "port": 8080}}]}]}"#,
        )
        .expect("loads");
        let g = gaps(&c, &Paths::of(&c));
        assert_eq!(
            g.warnings,
            vec![
                "workers[0].options.env: ignored: used only for the router's Python components (none here)"
            ]
        );
    }

    #[test]
    fn every_feature_with_an_arm_is_named_in_its_message() {
        for (f, needle) in [(Feature::WebService("upload"), "upload")] {
            match gap(&f) {
                Some(Gap::Error(what)) => assert!(what.contains(needle), "{what}"),
                other => panic!("{f:?}: {other:?}"),
            }
        }
        // Supported features have no arm.
        assert_eq!(gap(&Feature::Auth("anonymous")), None);
        for m in ["ticket", "wampcra", "scram", "cryptosign", "tls"] {
            assert_eq!(gap(&Feature::Auth(m)), None, "{m}");
            assert_eq!(gap(&Feature::DynamicAuth(m)), None, "dynamic {m}");
        }
        assert_eq!(gap(&Feature::DynamicAuth("anonymous")), None);
        assert_eq!(gap(&Feature::Auth("cookie")), None);
        assert_eq!(gap(&Feature::AnonymousAuthid), None);
        assert_eq!(gap(&Feature::RoleAuthorizer), None);
        assert_eq!(gap(&Feature::WebService("websocket")), None);
        assert!(matches!(gap(&Feature::TlsDhparam), Some(Gap::Warn(w)) if w.contains("DHE")));
        for served in [
            "static",
            "redirect",
            "json",
            "path",
            "nodeinfo",
            "none",
            "cgi",
            "reverseproxy",
            "wsgi",
            "metrics",
        ] {
            assert_eq!(gap(&Feature::WebService(served)), None, "{served}");
        }
        assert_eq!(gap(&Feature::Worker("websocket-testee")), None);
        assert_eq!(gap(&Feature::Worker("guest")), None);
        assert_eq!(gap(&Feature::Worker("container")), None);
    }
}
