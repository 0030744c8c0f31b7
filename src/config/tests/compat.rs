//! What real Crossbar configs use and Junction reads since the corpus check
//! (tests/compat/crossbar_examples.sh, docs/config.md "Checking your own
//! configs"): routers without realms or transports, copies of a realm-less
//! router (Crossbar's multi-process web servers), `resource` paths served
//! as 404, roles with `allow-by-default`, realm `stats`, and serializers
//! Junction lacks left out of a list. Each fixture in
//! `tests/config_files/compat_*` is our own minimal config.

use super::*;
use crate::config::web::WebService;

const WEB_ONLY: &str = include_str!("../../../tests/config_files/compat_web_only.json");
const NO_TRANSPORT: &str = include_str!("../../../tests/config_files/compat_no_transport.json");
const ROLES: &str = include_str!("../../../tests/config_files/compat_roles.json");

fn parse(text: &str) -> Value {
    serde_json::from_str(text).expect("fixture is JSON")
}

fn role<'c>(c: &'c Config, name: &str) -> &'c RoleConfig {
    c.realms[0]
        .roles
        .iter()
        .find(|r| r.name == name)
        .expect("role defined")
}

#[test]
fn web_only_router_copies_load_as_one_router() {
    let c = load_ok(&parse(WEB_ONLY));
    assert!(c.realms.is_empty());
    assert_eq!(c.transports.len(), 1, "the copy's transport is not added");
    let TransportKind::Web(web) = &c.transports[0].kind else {
        panic!("web transport expected");
    };
    // The Python resource answers 404 rather than falling through to `/`.
    assert_eq!(web.paths["hook"], WebService::NotFound);
    assert!(matches!(web.paths["/"], WebService::Json(_)));
    assert_eq!(
        warning_paths(&c),
        vec![
            "workers[0].options.cpu_affinity",
            "workers[0].options.title",
            "workers[0].realms",
            "workers[0].transports[0].paths.hook.type",
            "workers[1]",
        ]
    );
    assert!(
        warnings_at(&c, "workers[1]")[0].contains("a copy of workers[0] without realms"),
        "{:?}",
        c.warnings
    );
    assert!(
        warnings_at(&c, "workers[0].transports[0].paths.hook.type")[0]
            .contains("served as 404 (as a `none` path): the Python Twisted resource \"site.hooks.HookResource\""),
        "{:?}",
        c.warnings
    );
}

/// A router worker that is not a realm-less copy of the first is a second
/// router: where it listens on the first one's shared port, the clash is an
/// error (Crossbar would spread connections between two different routers).
#[rstest]
#[case::with_realms("/workers/1/realms", json!([{"name": "realm2", "roles": []}]))]
#[case::not_shared("/workers/1/transports/0/endpoint/shared", json!(false))]
#[case::another_path("/workers/1/transports/0/paths/extra", json!({"type": "none"}))]
#[case::another_option("/workers/1/options/pythonpath", json!([".."]))]
fn a_second_router_on_the_first_ones_port_is_refused(#[case] pointer: &str, #[case] change: Value) {
    let mut v = parse(WEB_ONLY);
    for w in 0..2 {
        set(
            &mut v,
            &format!("/workers/{w}/transports/0/endpoint/port"),
            json!(8080),
        );
    }
    // As it is, a copy.
    assert!(load_ok(&v).transports.len() == 1);
    set(&mut v, pointer, change);
    let all = issues(&v);
    assert!(
        all.iter()
            .any(|i| i.path == "workers[1].transports[0].endpoint.port"
                && i.message
                    .contains("already used by workers[0].transports[0]")),
        "{all:#?}"
    );
}

/// Two router workers with realms (`routers.rs`): one router whose
/// transports each serve only their worker's realms; generated IDs do not
/// clash; what cannot be folded is refused.
#[test]
fn router_workers_fold_into_one_router_with_routed_transports() {
    let mut v = base();
    let mut second = v["workers"][0].clone();
    second["realms"][0]["name"] = json!("realm2");
    second["transports"][0]["endpoint"]["port"] = json!(8081);
    v["workers"].as_array_mut().expect("list").push(second);
    let c = load_ok(&v);
    let names: Vec<&str> = c.realms.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["realm1", "realm2"]);
    let routes: Vec<(&str, Vec<&str>)> = c
        .transports
        .iter()
        .map(|t| {
            let r = t.routes.as_ref().expect("routed");
            (t.id.as_str(), r.keys().map(String::as_str).collect())
        })
        .collect();
    assert_eq!(
        routes,
        [
            ("transport1", vec!["realm1"]),
            ("worker002.transport1", vec!["realm2"])
        ]
    );
    assert!(c.transports[1].serves_role("realm2", "anyone"));
    assert!(!c.transports[1].serves_realm("realm1"));
    assert!(
        warnings_at(&c, "workers[0]")
            .iter()
            .any(|w| w.contains("several router workers"))
    );
    // One router alone: no routes (every realm).
    assert!(
        load_ok(&base())
            .transports
            .iter()
            .all(|t| t.routes.is_none())
    );

    for (pointer, change, at, needle) in [
        (
            "/workers/1/realms/0/name",
            json!("realm1"),
            "workers[1].realms[0].name",
            "also defined by workers[0]",
        ),
        (
            "/workers/1/junction",
            json!({}),
            "workers[1].junction",
            "first router worker",
        ),
        (
            "/workers/1/transports/1",
            json!({"type": "mqtt", "endpoint": {"type": "tcp", "port": 1883}, "options": {"realm": "realm1"}}),
            "workers[1].transports[1].options.realm",
            "not served on this transport",
        ),
        (
            "/workers/1/components",
            json!([{"type": "class", "realm": "realm1", "classname": "a.B"}]),
            "workers[1].components[0].realm",
            "not a realm of this router worker",
        ),
    ] {
        let mut bad = v.clone();
        set(&mut bad, pointer, change);
        let all = issues(&bad);
        assert!(
            all.iter()
                .any(|i| i.path == at && i.message.contains(needle)),
            "{pointer}: {all:#?}"
        );
    }
}

#[test]
fn a_router_without_transports_loads_with_a_warning() {
    let c = load_ok(&parse(NO_TRANSPORT));
    assert!(c.transports.is_empty());
    assert_eq!(c.components.len(), 1);
    assert_eq!(warning_paths(&c), vec!["workers[0].transports"]);
    assert!(c.warnings[0].contains("no client can connect"));
    assert_eq!(
        role(&c, "forwarder").permissions,
        vec![Permission::allow_all()]
    );
}

#[test]
fn allow_by_default_roles_and_realm_stats() {
    let c = load_ok(&parse(ROLES));
    assert_eq!(role(&c, "clerk").permissions, vec![Permission::allow_all()]);
    assert_eq!(role(&c, "visitor").permissions, vec![]);
    // With `permissions` (or an authorizer) Crossbar ignores the key.
    let auditor = &role(&c, "auditor").permissions;
    assert_eq!(auditor.len(), 1);
    assert_eq!(auditor[0].uri, "org.shop.audit.");
    assert_eq!(
        warning_paths(&c),
        vec![
            "workers[0].realms[0].stats",
            "workers[0].realms[0].roles[2].allow-by-default",
            "workers[0].transports[0].serializers[1]",
            "workers[0].transports[1].serializers[0]",
        ]
    );
    assert!(warnings_at(&c, "workers[0].realms[0].stats")[0].contains("wamp.session.on_stats"));
}

#[test]
fn serializers_junction_lacks_are_left_out_of_a_list() {
    let c = load_ok(&parse(ROLES));
    let ws = c.transports[0].kind.runtime_service().expect("ws");
    assert_eq!(ws.serializers, vec![Serializer::Cbor, Serializer::Json]);
    let rs = c.transports[1].kind.runtime_service().expect("rawsocket");
    assert_eq!(rs.serializers, vec![Serializer::MsgPack]);
    let w = warnings_at(&c, "workers[0].transports[0].serializers[1]");
    assert!(w[0].contains("no \"ubjson\" serializer"), "{w:?}");
    // Alone, or with only other missing ones, it is still refused.
    let mut v = parse(ROLES);
    set(
        &mut v,
        "/workers/0/transports/1/serializers",
        json!(["flatbuffers", "ubjson"]),
    );
    let all = issues(&v);
    let paths: Vec<&str> = all.iter().map(|i| i.path.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            "workers[0].transports[1].serializers[0]",
            "workers[0].transports[1].serializers[1]"
        ]
    );
    assert!(all.iter().all(|i| i.kind == Unsupported));
}

#[rstest]
#[case("/allow-by-default", json!("yes"), "roles[0].allow-by-default", "expected true or false")]
#[case("/allow-by-default", json!(1), "roles[0].allow-by-default", "expected true or false")]
fn allow_by_default_is_a_boolean(
    #[case] pointer: &str,
    #[case] value: Value,
    #[case] at: &str,
    #[case] needle: &str,
) {
    let mut v = parse(ROLES);
    set(
        &mut v,
        &format!("/workers/0/realms/0/roles/0{pointer}"),
        value,
    );
    assert_one_issue(&v, &format!("workers[0].realms[0].{at}"), Invalid, needle);
}

#[rstest]
#[case(json!({"rated_message_size": 1023, "trigger_after_duration": 5}), "stats.rated_message_size", "odd")]
#[case(json!({"rated_message_size": 0, "trigger_after_duration": 5}), "stats.rated_message_size", "out of range")]
#[case(json!({"trigger_on_join": true}), "stats", "must be non-zero")]
#[case(json!({"trigger_after_rated_messages": 0, "trigger_after_duration": 0}), "stats", "must be non-zero")]
#[case(json!({"trigger_after_duration": -1}), "stats.trigger_after_duration", "")]
#[case(json!({"trigger_after_duration": 5, "trigger_on_leave": "no"}), "stats.trigger_on_leave", "expected true or false")]
#[case(json!({"trigger_after_duration": 5, "interval": 1}), "stats.interval", "unknown key")]
#[case(json!(true), "stats", "expected an object")]
fn realm_stats_are_checked_as_crossbar_checks_them(
    #[case] stats: Value,
    #[case] at: &str,
    #[case] needle: &str,
) {
    let mut v = parse(ROLES);
    set(&mut v, "/workers/0/realms/0/stats", stats);
    assert_one_issue(&v, &format!("workers[0].realms[0].{at}"), Invalid, needle);
}

const STORE: &str = include_str!("../../../tests/config_files/compat_store.json");

#[test]
fn a_cfxdb_store_is_read_as_a_file_store_in_the_node_directory() {
    let c = load_ok(&parse(STORE));
    let store = &c.realms[0].store;
    assert_eq!(store.path.as_deref(), Some(Path::new("/node/history-db")));
    assert_eq!(store.max_size, 8_388_608);
    assert_eq!(
        store.event_history,
        vec![HistoryConfig {
            uri: "org.compat.metrics.".into(),
            match_policy: MatchPolicy::Prefix,
            limit: 50,
        }]
    );
    assert_eq!(
        warning_paths(&c),
        vec![
            "workers[0].realms[0].store.buffer-flush",
            "workers[0].realms[0].store.type"
        ]
    );
    assert!(
        warnings_at(&c, "workers[0].realms[0].store.type")[0]
            .contains("persist in /node/history-db/<realm>.events/"),
        "{:?}",
        c.warnings
    );
    // Crossbar's store needs its path as Junction's `file` store does.
    let mut v = parse(STORE);
    v["workers"][0]["realms"][0]["store"]
        .as_object_mut()
        .expect("store object")
        .remove("path");
    assert_one_issue(
        &v,
        "workers[0].realms[0].store.path",
        Invalid,
        "missing (required for a \"cfxdb\" store)",
    );
}

const TESTEE_ONLY: &str = include_str!("../../../tests/config_files/compat_testee_only.json");

#[test]
fn a_node_of_testee_workers_only_runs_without_a_router() {
    let c = load_ok(&parse(TESTEE_ONLY));
    assert!(c.realms.is_empty() && c.transports.is_empty() && c.components.is_empty());
    assert_eq!(c.workers.len(), 1);
    assert_eq!(c.workers[0].kind.type_name(), "websocket-testee");
    assert_eq!(warning_paths(&c), vec!["workers"]);
    assert!(c.warnings[0].contains("serves only its websocket-testee workers"));
    // The top-level `junction` block applies to such a node too.
    let mut v = parse(TESTEE_ONLY);
    set(
        &mut v,
        "/junction",
        json!({"shards": 1, "shutdown_timeout": 3}),
    );
    let c = load_ok(&v);
    assert_eq!(c.shards, Some(1));
    assert_eq!(c.node.shutdown_timeout, std::time::Duration::from_secs(3));
    // Guests alone still need a router.
    let v = json!({"version": 2, "workers": [{"type": "guest", "executable": "true"}]});
    assert_one_issue(&v, "workers", Invalid, "no router worker");
}

const PROXY: &str = include_str!("../../../tests/config_files/compat_proxy.json");

/// Crossbar proxy workers (`load/proxy.rs`): their transports become the
/// router's, limited to their routes; copies are served once; the router's
/// proxy-only transport is not opened.
#[test]
fn proxy_workers_become_routed_transports() {
    let c = load_ok(&parse(PROXY));
    assert_eq!(
        c.transports.len(),
        1,
        "one proxy transport, the backend dropped"
    );
    let t = &c.transports[0];
    assert_eq!(t.id, "edge1.transport1");
    assert!(t.serves_role("realm1", "user") && t.serves_role("realm1", "anonymous"));
    assert!(!t.serves_role("realm1", "admin"));
    assert!(!t.serves_realm("realm2"));
    assert_eq!(
        t.auth.methods.methods().len(),
        2,
        "the proxy's own authentication"
    );
    assert_eq!(
        warning_paths(&c),
        vec!["workers[2]", "workers[0].transports[0]"]
    );
    assert!(warnings_at(&c, "workers[2]")[0].contains("a copy of workers[1]"));
    assert!(warnings_at(&c, "workers[0].transports[0]")[0].contains("not opened"));

    // A route to a role the realm does not define is warned.
    let mut v = parse(PROXY);
    set(&mut v, "/workers/1/routes/realm1/ghost", json!("conn1"));
    let c = load_ok(&v);
    assert!(warnings_at(&c, "workers[1].routes.realm1.ghost")[0].contains("defines no role"));

    // The backend keeps its other methods (and is then opened).
    let mut v = parse(PROXY);
    set(
        &mut v,
        "/workers/0/transports/0/auth/anonymous",
        json!({"type": "static", "role": "anonymous"}),
    );
    let c = load_ok(&v);
    assert_eq!(c.transports.len(), 2);
    assert_eq!(
        c.transports[0].auth.methods.anonymous_role(),
        Some("anonymous")
    );
    assert!(c.transports[0].routes.is_none());
    assert!(
        warnings_at(&c, "workers[0].transports[0].auth.anonymous-proxy")[0].contains("ignored")
    );
}

/// Crossbar's proxy reads only `transport`, `auth` and `realm` of a
/// connection and its checker none: another key (its functional tests'
/// `"url": "rs://localhost"`, test_cb_proxy.py) is warned, not refused.
#[test]
fn a_proxy_connections_unknown_key_is_warned() {
    let mut v = parse(PROXY);
    for w in [1, 2] {
        set(
            &mut v,
            &format!("/workers/{w}/connections/conn1/url"),
            json!("rs://localhost"),
        );
    }
    let c = load_ok(&v);
    let w = warnings_at(&c, "workers[1].connections.conn1.url");
    assert_eq!(w.len(), 1, "{:#?}", c.warnings);
    assert!(w[0].contains("ignored"), "{}", w[0]);
    assert_eq!(c.transports.len(), 1, "the proxy is folded as before");
}

#[test]
fn proxy_workers_that_cannot_be_folded_are_refused() {
    for (pointer, change, at, needle) in [
        (
            "/workers/1/connections/conn1/transport/endpoint",
            json!({"type": "tcp", "host": "10.0.0.7", "port": 9000}),
            "workers[1].connections.conn1",
            "a proxy connection to anything but a router transport of this node",
        ),
        (
            "/workers/1/routes/realm9",
            json!({"user": "conn1"}),
            "workers[1].routes.realm9",
            "no realm \"realm9\"",
        ),
        (
            "/workers/1/routes/realm1/user",
            json!("conn7"),
            "workers[1].routes.realm1.user",
            "no connection \"conn7\"",
        ),
        (
            "/workers/1/routes",
            json!(null),
            "workers[1].routes",
            "expected an object",
        ),
        (
            "/workers/1/connections/conn1",
            json!({"auth": {}}),
            "workers[1].connections.conn1.transport",
            "missing",
        ),
    ] {
        let mut v = parse(PROXY);
        set(&mut v, pointer, change);
        let all = issues(&v);
        assert!(
            all.iter()
                .any(|i| i.path == at && i.message.contains(needle)),
            "{pointer}: {all:#?}"
        );
    }
    // Proxy authentication on a node without proxies trusts the client.
    let mut v = parse(PROXY);
    v["workers"].as_array_mut().expect("list").truncate(1);
    let all = issues(&v);
    assert!(
        all.iter().any(
            |i| i.path == "workers[0].transports[0].auth.anonymous-proxy"
                && i.kind == Unsupported
                && i.message.contains("node without proxy workers")
        ),
        "{all:#?}"
    );
}
