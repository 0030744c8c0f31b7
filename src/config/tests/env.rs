//! `${VAR}` references: where they resolve, their errors, the escape, and
//! Crossbar's `$PORT` and `disabled` forms.

use super::*;
use crate::config::auth::TicketAuth;

fn ticket(v: &Value) -> Value {
    let mut base = with(
        "/workers/0/transports/0/auth",
        json!({"ticket": {"type": "static", "principals": {"joe": {"ticket": v, "role": "anonymous"}}}}),
    );
    set(&mut base, "/workers/0/transports/0/id", json!("main"));
    base
}

fn ticket_of(c: &Config) -> Vec<u8> {
    let Some(TicketAuth::Static { principals, .. }) = &served_ws(c, 0).wamp.auth.ticket else {
        panic!("static ticket");
    };
    principals["joe"].ticket.expose().to_vec()
}

#[test]
fn references_resolve_in_strings_numbers_and_booleans() {
    let c = load_in(&ticket(&json!("${T}")), &[("T", "from env")]).expect("loads");
    assert_eq!(ticket_of(&c), b"from env");
    // Not the whole value: literal, as in Crossbar.
    let c = load_in(&ticket(&json!("x${T}")), &[("T", "y")]).expect("loads");
    assert_eq!(ticket_of(&c), b"x${T}");
    // The escape: `$${...}` is a literal `${...}`.
    let c = load_in(&ticket(&json!("$${T}")), &[("T", "y")]).expect("loads");
    assert_eq!(ticket_of(&c), b"${T}");

    let mut v = with("/workers/0/transports/0/endpoint/port", json!("${PORT}"));
    set(
        &mut v,
        "/workers/0/transports/0/endpoint/interface",
        json!("${HOST}"),
    );
    set(&mut v, "/workers/0/realms/0/name", json!("${REALM}"));
    set(
        &mut v,
        "/workers/0/realms/0/roles/0/permissions/0/allow/call",
        json!("${CALL}"),
    );
    let env = [
        ("PORT", "9000"),
        ("HOST", "127.0.0.1"),
        ("REALM", "realm9"),
        ("CALL", "false"),
    ];
    let c = load_in(&v, &env).expect("loads");
    assert_eq!(
        c.transports[0].endpoint,
        Endpoint::Tcp {
            host: "127.0.0.1".into(),
            port: 9000
        }
    );
    assert_eq!(c.realms[0].name, "realm9");
    assert!(!c.realms[0].roles[0].permissions[0].allow.call);
    // Crossbar's `$PORT` form for ports.
    let v = with("/workers/0/transports/0/endpoint/port", json!("$PORT"));
    let c = load_in(&v, &[("PORT", "8123")]).expect("loads");
    assert_eq!(c.transports[0].endpoint.tcp(), Some(("0.0.0.0", 8123)));
}

#[test]
fn unset_and_bad_references_name_the_key_and_the_variable() {
    let err = load_in(&ticket(&json!("${NOPE}")), &[]).expect_err("unset");
    assert_eq!(
        err.to_string(),
        "workers[0].transports[0].auth.ticket.principals.joe.ticket: environment variable NOPE is not set"
    );
    let err = load_in(&ticket(&json!("${1X}")), &[]).expect_err("bad name");
    assert!(
        err.to_string()
            .contains("not a valid environment variable reference"),
        "{err}"
    );
    let p = "/workers/0/transports/0/endpoint/port";
    for (value, env, needle) in [
        (
            json!("${PORT}"),
            ("PORT", "http"),
            "the environment gives \"http\"",
        ),
        (json!("${PORT}"), ("PORT", "70000"), "out of range"),
        (json!("$PORT"), ("PORT", "-1"), "expected a port"),
        (
            json!("$PORT"),
            ("OTHER", "1"),
            "environment variable PORT is not set",
        ),
    ] {
        let err = load_in(&with(p, value), &[env]).expect_err("bad port");
        assert_eq!(
            err.issues()[0].path,
            "workers[0].transports[0].endpoint.port"
        );
        assert!(err.to_string().contains(needle), "{err}");
    }
    let err = load_in(
        &with(
            "/workers/0/realms/0/roles/0/permissions/0/allow/call",
            json!("${CALL}"),
        ),
        &[("CALL", "yes")],
    )
    .expect_err("not a boolean");
    assert!(
        err.to_string()
            .contains("expected true or false, the environment gives \"yes\""),
        "{err}"
    );
    // A `$NAME` where a number is wanted hints at the `${NAME}` form.
    let err = load_in(&with("/junction", json!({"shards": "$SHARDS"})), &[]).expect_err("hint");
    assert!(err.to_string().contains("write \"${SHARDS}\""), "{err}");
}

#[test]
fn secrets_from_the_environment_stay_out_of_messages() {
    // A bad value read for a secret-holding key is reported without its value.
    let v = with(
        "/workers/0/transports/0/auth",
        json!({"scram": {"type": "static", "principals": {"a": {
            "kdf": "pbkdf2", "iterations": 1, "salt": "00", "stored-key": "${KEY}",
            "server-key": "${KEY}", "role": "anonymous"}}}}),
    );
    let err = load_in(&v, &[("KEY", "not-hex-SECRETVALUE")]).expect_err("bad key");
    assert!(!err.to_string().contains("SECRETVALUE"), "{err}");
}

#[test]
fn disabled_follows_crossbar() {
    let guest = |disabled: Value| {
        with(
            "/workers/1",
            json!({"type": "guest", "executable": "x", "options": {"disabled": disabled}}),
        )
    };
    let skipped =
        |v: &Value, env: &[(&str, &str)]| load_in(v, env).expect("loads").workers.is_empty();
    assert!(!skipped(&guest(json!("${OFF}")), &[]), "unset: runs");
    assert!(
        !skipped(&guest(json!("${OFF}")), &[("OFF", "")]),
        "empty: runs"
    );
    assert!(skipped(&guest(json!("${OFF}")), &[("OFF", "1")]));
    assert!(
        skipped(&guest(json!("${OFF}")), &[("OFF", "false")]),
        "any value disables, as in Crossbar"
    );
    assert!(skipped(&guest(json!(true)), &[]));
    assert!(!skipped(&guest(json!(false)), &[]));
}

proptest::proptest! {
    /// Whatever a variable holds, a `${NAME}` reference to it yields it
    /// exactly, and `$${NAME}` stays the literal `${NAME}`.
    #[test]
    fn any_value_resolves_exactly(value in "\\PC*", name in "[A-Z_][A-Z0-9_]{0,12}") {
        let c = load_in(&ticket(&json!(format!("${{{name}}}"))), &[(&name, &value)])
            .expect("loads");
        proptest::prop_assert_eq!(ticket_of(&c), value.as_bytes());
        let c = load_in(&ticket(&json!(format!("$${{{name}}}"))), &[(&name, &value)])
            .expect("loads");
        proptest::prop_assert_eq!(ticket_of(&c), format!("${{{name}}}").into_bytes());
    }
}
