//! The path router of a web transport: Crossbar's `paths` as a tree, and the
//! lookup of a request path in it.
//!
//! Crossbar's rules (Twisted's resource traversal), kept here:
//!
//! - each level (the transport's `paths`, or a nested `path` service's) has
//!   named children, one path component each, and optionally a `/` service
//!   that answers for the level itself;
//! - a request path is walked one component at a time: a component naming a
//!   child descends into it (a nested `path` level, or a service that then
//!   gets the rest of the path); when none matches, the level's `/` service
//!   gets the whole remaining path (a `static` service at `/` serves
//!   `/css/site.css` unless `css` is a child); a level without `/` answers 404;
//! - so the deepest, i.e. longest, configured prefix wins, component by
//!   component: `/a/b` never matches a key `a/b` spelled some other way, and
//!   `/ab` never matches `a`.
//!
//! Components are compared after percent-decoding (`/%77s` is `/ws`, as in
//! Twisted); keys are `[A-Za-z0-9_-]+`, so no decoded form can smuggle a
//! separator. The router never touches the file system: a static service
//! normalises its own rest of the path (see `proto::http::path`).

use crate::proto::http::path::percent_decode;

/// One level of the tree: named children and the level's own service.
#[derive(Debug)]
pub(super) struct Level<S> {
    /// The `/` service of this level (answers for the level and any path
    /// below it that no child claims).
    root: Option<S>,
    /// Children by path component, sorted by name.
    children: Vec<(String, Node<S>)>,
}

/// A child: a service, or a nested level (`path` service).
#[derive(Debug)]
pub(super) enum Node<S> {
    /// A service mounted at this component.
    Service(S),
    /// A nested `path` service.
    Level(Level<S>),
}

/// Where a request path led.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Route<'a, S> {
    /// The service.
    pub service: &'a S,
    /// How many octets of the request path the mount point took (the
    /// service's own path is `path[..mount]`; an empty mount is the root).
    pub mount: usize,
}

impl<S> Default for Level<S> {
    fn default() -> Self {
        Level {
            root: None,
            children: Vec::new(),
        }
    }
}

impl<S> Level<S> {
    /// Sets this level's `/` service.
    pub fn set_root(&mut self, service: S) {
        self.root = Some(service);
    }

    /// Adds a child at path component `name`.
    pub fn add(&mut self, name: String, node: Node<S>) {
        let at = self
            .children
            .partition_point(|(n, _)| n.as_str() < name.as_str());
        self.children.insert(at, (name, node));
    }

    /// The level's `/` service and its children.
    pub fn into_parts(self) -> (Option<S>, Vec<(String, Node<S>)>) {
        (self.root, self.children)
    }

    /// The service for `path` (a request target's path, percent-encoded,
    /// starting with `/`), or `None` (404).
    pub fn route<'a>(&'a self, path: &str) -> Option<Route<'a, S>> {
        let mut level = self;
        let mut pos = 0; // octets of `path` consumed; `path[pos..]` starts with '/'
        loop {
            let rest = &path[pos..];
            let comp_end = rest[1..].find('/').map_or(rest.len(), |i| i + 1);
            let component = &rest[1..comp_end];
            let child = (!component.is_empty())
                .then(|| level.child(component))
                .flatten();
            match child {
                Some(Node::Service(s)) => {
                    return Some(Route {
                        service: s,
                        mount: pos + comp_end,
                    });
                }
                Some(Node::Level(l)) => {
                    pos += comp_end;
                    if pos == path.len() {
                        // `/a` names the nested level itself: its `/` service.
                        return l.root.as_ref().map(|s| Route {
                            service: s,
                            mount: pos,
                        });
                    }
                    level = l;
                }
                None => {
                    return level.root.as_ref().map(|s| Route {
                        service: s,
                        mount: pos,
                    });
                }
            }
        }
    }

    /// The child named by `component` (percent-decoded first).
    fn child(&self, component: &str) -> Option<&Node<S>> {
        let decoded = percent_decode(component.as_bytes()).ok()?;
        let name = std::str::from_utf8(&decoded).ok()?;
        self.children
            .binary_search_by(|(n, _)| n.as_str().cmp(name))
            .ok()
            .map(|i| &self.children[i].1)
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    /// `/` → "root", `ws` → "ws", `info` → "info", `app` → level {`/` →
    /// "app-root", `api` → "app-api", `deep` → level {`x` → "deep-x"}}.
    fn tree() -> Level<&'static str> {
        let mut deep = Level::default();
        deep.add("x".into(), Node::Service("deep-x"));
        let mut app = Level::default();
        app.set_root("app-root");
        app.add("api".into(), Node::Service("app-api"));
        app.add("deep".into(), Node::Level(deep));
        let mut top = Level::default();
        top.set_root("root");
        top.add("ws".into(), Node::Service("ws"));
        top.add("info".into(), Node::Service("info"));
        top.add("app".into(), Node::Level(app));
        top
    }

    fn at(path: &str) -> Option<(&'static str, &str)> {
        let t = Box::leak(Box::new(tree()));
        t.route(path).map(|r| (*r.service, &path[..r.mount]))
    }

    #[rstest]
    #[case("/", Some(("root", "")))]
    #[case("/index.html", Some(("root", "")))]
    #[case("/css/site.css", Some(("root", "")))]
    #[case("/ws", Some(("ws", "/ws")))]
    #[case("/ws/", Some(("ws", "/ws")))]
    #[case("/ws/more", Some(("ws", "/ws")))]
    #[case("/wss", Some(("root", "")))]
    #[case("/w", Some(("root", "")))]
    #[case("/%77s", Some(("ws", "/%77s")))]
    #[case("/app", Some(("app-root", "/app")))]
    #[case("/app/", Some(("app-root", "/app")))]
    #[case("/app/page.html", Some(("app-root", "/app")))]
    #[case("/app/api", Some(("app-api", "/app/api")))]
    #[case("/app/api/v1", Some(("app-api", "/app/api")))]
    #[case("/app/deep/x", Some(("deep-x", "/app/deep/x")))]
    #[case("//ws", Some(("root", "")))]
    fn longest_configured_prefix_wins_component_by_component(
        #[case] path: &str,
        #[case] want: Option<(&str, &str)>,
    ) {
        assert_eq!(at(path), want, "{path}");
    }

    #[test]
    fn a_level_without_root_is_404_below_its_children() {
        let t = tree();
        // `deep` has no `/` service.
        assert!(t.route("/app/deep").is_none());
        assert!(t.route("/app/deep/").is_none());
        assert!(t.route("/app/deep/y").is_none());
        let mut bare: Level<&str> = Level::default();
        bare.add("ws".into(), Node::Service("ws"));
        assert!(bare.route("/").is_none());
        assert!(bare.route("/other").is_none());
        assert_eq!(bare.route("/ws").map(|r| *r.service), Some("ws"));
    }

    #[test]
    fn malformed_escapes_match_no_child() {
        let t = tree();
        assert_eq!(t.route("/%zz/ws").map(|r| *r.service), Some("root"));
        assert_eq!(t.route("/w%73").map(|r| *r.service), Some("ws"));
    }
}
