//! Authentication methods (static and dynamic), cookie tracking, roles with
//! dynamic authorizers, TLS endpoints, and secret redaction.

use super::*;
use crate::config::auth::{
    AnonymousAuth, AuthConfig, CertificateAuthid, CertificateLogin, CookieConfig, CookieStore,
    CryptosignAuth, DEFAULT_COOKIE_MAX_AGE_S, DynamicAuth, ScramAuth, ScramKdf, TicketAuth,
    TlsAuth, WampCraAuth,
};

const AUTH: &str = "/workers/0/transports/0/auth";
const AT: &str = "workers[0].transports[0].auth";

/// The first transport's (WebSocket) auth config.
fn auth_of(c: &Config) -> AuthConfig {
    served_ws(c, 0).wamp.auth.clone()
}

const KEY: &str = "545efb0a2192db8d43f118e9bf9aee081466e1ef36c708b96ee6f62dddad9122";
const HEX32: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

#[rstest]
#[case(json!({}), Some("anonymous"))]
#[case(json!({"anonymous": {"type": "static"}}), Some("anonymous"))]
#[case(json!({"anonymous": {"type": "static", "role": "public"}}), Some("public"))]
#[case(json!({"ticket": {"type": "static", "principals": {}}}), None)]
#[case(json!({"anonymous": {"type": "dynamic", "authenticator": "com.auth"}}), None)]
fn anonymous_role_seen_by_the_runtime(#[case] auth: Value, #[case] role: Option<&str>) {
    let c = model(&with(AUTH, auth));
    assert_eq!(c.transports[0].auth.anonymous_role(), role);
}

#[test]
fn static_methods_load_with_their_defaults() {
    let c = model(&with(
        AUTH,
        json!({
            "ticket": {"type": "static", "principals": {"joe": {"ticket": "t1", "role": "anonymous"}}},
            "wampcra": {"type": "static", "users": {"ann": {"secret": "s", "role": "anonymous"}}},
            "scram": {"type": "static", "principals": {"sam": {
                "kdf": "pbkdf2", "iterations": 4096, "salt": "00ff", "stored-key": HEX32,
                "server-key": HEX32, "role": "anonymous"}}},
            "cryptosign": {"type": "static", "principals": {"dev": {"authorized_keys": [KEY, KEY.to_uppercase()]}}},
            "tls": {"type": "static", "principals": {"srv": {"certificate-sha1": "b6e5e6f22a86db3cdc9f514258399b14925da1eb", "role": "anonymous"}}},
            "cookie": {}
        }),
    ));
    let a = auth_of(&c);
    assert_eq!(
        a.anonymous, None,
        "an auth object without anonymous allows no anonymous login"
    );
    let Some(TicketAuth::Static { principals, .. }) = &a.ticket else {
        panic!("ticket");
    };
    assert_eq!(principals["joe"].ticket.expose(), b"t1");
    let Some(WampCraAuth::Static { users }) = &a.wampcra else {
        panic!("wampcra");
    };
    assert_eq!(users["ann"].salt, None);
    let Some(ScramAuth::Static { principals }) = &a.scram else {
        panic!("scram");
    };
    let sam = &principals["sam"];
    assert_eq!(
        (sam.kdf, sam.memory, sam.salt.clone()),
        (ScramKdf::Pbkdf2, 0, vec![0, 255])
    );
    let Some(CryptosignAuth::Static { principals }) = &a.cryptosign else {
        panic!("cryptosign");
    };
    let keys = &principals["dev"].authorized_keys;
    assert_eq!(keys[0], keys[1], "hex is case-insensitive");
    assert_eq!(principals["dev"].role, None);
    let Some(TlsAuth::Static {
        principals,
        from_certificate,
    }) = &a.tls
    else {
        panic!("tls");
    };
    assert_eq!(principals["srv"].certificate_sha1[19], 0xeb);
    assert_eq!(from_certificate, &None::<CertificateLogin>);
    assert!(a.cookie);
    // A principal without a role cannot log in: warned.
    assert_eq!(
        warnings_at(&c, &format!("{AT}.cryptosign")),
        vec![format!(
            "{AT}.cryptosign.principals.dev: no `role`: this principal cannot log in (Crossbar refuses it too: no authrole assigned)"
        )]
    );
    // Cookie authentication without cookie tracking, TLS authentication without TLS: warned.
    assert!(warning_paths(&c).contains(&"workers[0].transports[0].auth.cookie"));
    assert!(warning_paths(&c).contains(&"workers[0].transports[0].auth.tls"));
    // Every method runs.
    assert!(c.unsupported().is_empty(), "{:#?}", c.unsupported());
}

#[test]
fn dynamic_methods_load_every_authenticator_key() {
    let c = model(&with(
        AUTH,
        json!({
            "ticket": {"type": "dynamic", "authenticator": "com.example.authenticate",
                       "authenticator-realm": "realm1", "authenticator-role": "auth", "default-role": "anonymous"},
            "wampcra": {"type": "dynamic", "authenticator": "com.example.cra"},
            "anonymous": {"type": "dynamic", "authenticator": "com.example.anon"}
        }),
    ));
    let a = auth_of(&c);
    assert_eq!(
        a.ticket,
        Some(TicketAuth::Dynamic(DynamicAuth {
            authenticator: "com.example.authenticate".into(),
            realm: Some("realm1".into()),
            role: Some("auth".into()),
            default_role: Some("anonymous".into()),
        }))
    );
    assert!(matches!(a.anonymous, Some(AnonymousAuth::Dynamic(_))));
    // Dynamic authenticators run, dynamic tls too.
    assert!(c.unsupported().is_empty(), "{:#?}", c.unsupported());
    let tls = model(&with(
        AUTH,
        json!({"tls": {"type": "dynamic", "authenticator": "com.example.tls"}}),
    ));
    assert!(tls.unsupported().is_empty(), "{:#?}", tls.unsupported());
    assert!(matches!(auth_of(&tls).tls, Some(TlsAuth::Dynamic(_))));
}

#[rstest]
#[case(json!({"ticket": {"type": "static"}}), "ticket.principals", Invalid, "missing")]
#[case(json!({"ticket": {"type": "static", "principals": {"joe": {"role": "x"}}}}), "ticket.principals.joe.ticket", Invalid, "missing")]
#[case(json!({"ticket": {"type": "static", "principals": {"joe": {"ticket": 5}}}}), "ticket.principals.joe.ticket", Invalid, "expected a string")]
#[case(json!({"ticket": {"type": "static", "principals": {"joe": {"ticket": "t", "realm": "r"}}}}), "ticket.principals.joe.realm", Invalid, "unknown key")]
#[case(json!({"ticket": {"type": "static", "principals": {"": {"ticket": "t"}}}}), "ticket.principals.", Invalid, "authid must not be empty")]
#[case(json!({"ticket": {"type": "dynamic"}}), "ticket.authenticator", Invalid, "missing")]
#[case(json!({"ticket": {"type": "dynamic", "authenticator": "com. bad"}}), "ticket.authenticator", Invalid, "invalid URI")]
#[case(json!({"ticket": {"type": "dynamic", "authenticator": "a.b", "authenticator-realm": "x"}}), "ticket.authenticator-realm", Invalid, "invalid realm name")]
#[case(json!({"ticket": {"type": "dynamic", "authenticator": "a.b", "principals": {}}}), "ticket.principals", Invalid, "unknown key")]
#[case(json!({"ticket": {"type": "function"}}), "ticket.create", Invalid, "missing")]
#[case(json!({"ticket": {"type": "function", "create": "nodots"}}), "ticket.create", Invalid, "not a qualified name")]
#[case(json!({"ticket": {"type": "magic"}}), "ticket.type", Invalid, "\"static\" or \"dynamic\"")]
#[case(json!({"wampcra": {"type": "static", "users": {"a": {"secret": "s", "salt": "x", "iterations": 10}}}}), "wampcra.users.a", Invalid, "together")]
#[case(json!({"wampcra": {"type": "static", "users": {"a": {"secret": "s", "salt": "x", "iterations": 0, "keylen": 32}}}}), "wampcra.users.a.iterations", Invalid, "out of range")]
#[case(json!({"scram": {"type": "static", "principals": {"a": {"kdf": "md5", "iterations": 1, "memory": 8, "salt": "00", "stored-key": HEX32, "server-key": HEX32}}}}), "scram.principals.a.kdf", Invalid, "\"argon2id-13\" or \"pbkdf2\"")]
#[case(json!({"scram": {"type": "static", "principals": {"a": {"kdf": "argon2id-13", "iterations": 1, "salt": "00", "stored-key": HEX32, "server-key": HEX32}}}}), "scram.principals.a.memory", Invalid, "required for argon2id-13")]
#[case(json!({"scram": {"type": "static", "principals": {"a": {"kdf": "pbkdf2", "iterations": 1, "salt": "xyz", "stored-key": HEX32, "server-key": HEX32}}}}), "scram.principals.a.salt", Invalid, "hex digits")]
#[case(json!({"scram": {"type": "static", "principals": {"a": {"kdf": "pbkdf2", "iterations": 1, "salt": "00", "stored-key": "abcd", "server-key": HEX32}}}}), "scram.principals.a.stored-key", Invalid, "64 hex digits")]
#[case(json!({"cryptosign": {"type": "static"}}), "cryptosign.principals", Invalid, "missing")]
#[case(json!({"cryptosign": {"type": "static", "trustroots": {}}}), "cryptosign.trustroots", Unsupported, "trust roots")]
#[case(json!({"cryptosign": {"type": "static", "principals": {"a": {"authorized_keys": ["abc"]}}}}), "cryptosign.principals.a.authorized_keys[0]", Invalid, "Ed25519 public key")]
#[case(json!({"tls": {"type": "static", "principals": {"a": {"certificate-sha1": "B6:E5"}}}}), "tls.principals.a.certificate-sha1", Invalid, "SHA-1 fingerprint")]
#[case(json!({"tls": {"type": "static"}}), "tls.principals", Invalid, "missing")]
#[case(json!({"tls": {"type": "static", "junction": {"authid": "email", "role": "r"}}}), "tls.junction.authid", Invalid, "\"cn\", \"sha1\" or \"sha256\"")]
#[case(json!({"anonymous-proxy": {"type": "static"}}), "anonymous-proxy", Unsupported, "proxy workers")]
fn bad_auth(#[case] auth: Value, #[case] at: &str, #[case] kind: IssueKind, #[case] needle: &str) {
    assert_one_issue(&with(AUTH, auth), &format!("{AT}.{at}"), kind, needle);
}

#[test]
fn tls_auth_from_the_certificate_needs_no_principals() {
    let c = model(&with(
        AUTH,
        json!({"tls": {"type": "static", "junction": {"authid": "cn", "role": "anonymous"}}}),
    ));
    assert_eq!(
        auth_of(&c).tls,
        Some(TlsAuth::Static {
            principals: Default::default(),
            from_certificate: Some(CertificateLogin {
                authid: CertificateAuthid::CommonName,
                role: "anonymous".into()
            }),
        })
    );
}

#[test]
fn secrets_do_not_show_in_debug_output() {
    let mut v = with(
        AUTH,
        json!({
            "ticket": {"type": "static", "principals": {"joe": {"ticket": "T1CK3T", "role": "anonymous"}}},
            "wampcra": {"type": "static", "users": {"ann": {"secret": "${CRA}", "role": "anonymous"}}}
        }),
    );
    set(
        &mut v,
        "/workers/0/transports/1",
        json!({"type": "web", "endpoint": {"type": "tcp", "port": 8081}, "paths": {
            "p": {"type": "publisher", "realm": "realm1", "role": "anonymous", "options": {"key": "k", "secret": "BR1DG3"}},
            "h": {"type": "webhook", "realm": "realm1", "role": "anonymous", "options": {"topic": "t.x", "github_secret": "G1THUB"}}
        }}),
    );
    let c = load_in(&v, &[("CRA", "CR4S3CR3T")]).expect("loads");
    let text = format!("{c:?}\n{c:#?}\n{}", c.warnings.join("\n"));
    for secret in ["T1CK3T", "CR4S3CR3T", "BR1DG3", "G1THUB"] {
        assert!(!text.contains(secret), "{secret} leaked");
    }
    assert!(text.contains("Secret(<redacted>)"));
}

#[test]
fn cookie_tracking_defaults_and_errors() {
    let c = model(&with("/workers/0/transports/0/cookie", json!({})));
    assert_eq!(served_ws(&c, 0).cookie, Some(CookieConfig::default()));
    assert_eq!(CookieConfig::default().max_age_s, DEFAULT_COOKIE_MAX_AGE_S);
    assert_eq!(CookieConfig::default().store, CookieStore::Memory);
    assert!(warning_paths(&c).is_empty(), "tracking runs: no warning");
    let c = model(&with(
        "/workers/0/transports/0/cookie",
        json!({"store": {"type": "file", "filename": "/var/lib/j/cookies", "purge_on_startup": true}, "length": 6}),
    ));
    let cookie = served_ws(&c, 0).cookie.clone().expect("cookie");
    assert_eq!(cookie.length, 6);
    assert_eq!(
        cookie.store,
        CookieStore::File {
            path: "/var/lib/j/cookies".into(),
            purge_on_startup: true
        }
    );
    let p = "workers[0].transports[0].cookie";
    // Crossbar's LMDB store: Junction's file, in that directory.
    let c = model(&with(
        "/workers/0/transports/0/cookie",
        json!({"store": {"type": "database", "path": "/var/lib/j/cookies.db", "maxsize": 1048576}}),
    ));
    let cookie = served_ws(&c, 0).cookie.clone().expect("cookie");
    assert_eq!(
        cookie.store,
        CookieStore::File {
            path: "/var/lib/j/cookies.db/junction-cookies.jsonl".into(),
            purge_on_startup: false,
        }
    );
    assert_eq!(
        warning_paths(&c),
        vec![
            "workers[0].transports[0].cookie.store.maxsize",
            "workers[0].transports[0].cookie.store.type",
        ]
    );
    for (cookie, at, needle) in [
        (json!({"name": "Cbtid"}), "name", "invalid cookie name"),
        (json!({"length": 5}), "length", "out of range"),
        (json!({"max_age": 0}), "max_age", "out of range"),
        (
            json!({"same_site": "strict"}),
            "same_site",
            "\"Strict\", \"Lax\" or \"None\"",
        ),
        (
            json!({"store": {"type": "database"}}),
            "store.path",
            "missing",
        ),
        (
            json!({"store": {"type": "file"}}),
            "store.filename",
            "missing",
        ),
        (json!({"domain": "x"}), "domain", "unknown key"),
    ] {
        let found = issues(&with("/workers/0/transports/0/cookie", cookie));
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].path, format!("{p}.{at}"));
        assert!(found[0].message.contains(needle), "{:?}", found[0].message);
    }
}

#[test]
fn tls_endpoints_resolve_paths_and_read_the_extensions() {
    let ep = "/workers/0/transports/0/endpoint";
    let c = model(&with(
        ep,
        json!({"type": "tcp", "port": 443, "tls": {
            "key": "server.key", "certificate": "/etc/ssl/server.crt",
            "ca_certificates": ["ca.crt"], "dhparam": "dh.pem", "ciphers": "A:B::C"
        }}),
    ));
    let Endpoint::TcpTls { host, port, tls } = &c.transports[0].endpoint else {
        panic!("TLS endpoint");
    };
    assert_eq!((host.as_str(), *port), ("0.0.0.0", 443));
    assert_eq!(tls.key, Path::new("/node/server.key"));
    assert_eq!(tls.certificate, Path::new("/etc/ssl/server.crt"));
    assert_eq!(
        tls.ca_certificates,
        vec![Path::new("/node/ca.crt").to_owned()]
    );
    assert_eq!(tls.dhparam.as_deref(), Some(Path::new("/node/dh.pem")));
    assert_eq!(tls.ciphers, Some(vec!["A".into(), "B".into(), "C".into()]));
    assert_eq!(
        tls.client_certificates,
        ClientCertificates::Required,
        "Crossbar: CA given = verify"
    );
    assert!(
        c.unsupported().is_empty(),
        "TLS runs: {:#?}",
        c.unsupported()
    );
    assert!(warning_paths(&c).contains(&"workers[0].transports[0].endpoint.tls.dhparam"));
    let tp = "workers[0].transports[0].endpoint.tls";
    for (tls, at, needle) in [
        (json!({"key": "k"}), "certificate", "missing"),
        (
            json!({"key": "k", "certificate": "c", "ciphers": ":"}),
            "ciphers",
            "names no cipher",
        ),
        (
            json!({"key": "k", "certificate": "c", "junction": {"client_certificates": "required"}}),
            "junction.client_certificates",
            "need `ca_certificates`",
        ),
        (
            json!({"key": "k", "certificate": "c", "junction": {"min_version": "1.1"}}),
            "junction.min_version",
            "\"1.2\" or \"1.3\"",
        ),
        (
            json!({"key": "k", "certificate": "c", "verify": true}),
            "verify",
            "unknown key",
        ),
        (
            json!({"key": "", "certificate": "c"}),
            "key",
            "must not be empty",
        ),
    ] {
        let found = issues(&with(ep, json!({"type": "tcp", "port": 443, "tls": tls})));
        assert_eq!(found[0].path, format!("{tp}.{at}"), "{found:#?}");
        assert!(found[0].message.contains(needle), "{:?}", found[0].message);
    }
    // A TLS port clashes with a plain one on the same port.
    let mut v = with(
        ep,
        json!({"type": "tcp", "port": 8080, "tls": {"key": "k", "certificate": "c"}}),
    );
    set(
        &mut v,
        "/workers/0/transports/1",
        json!({"type": "rawsocket", "endpoint": {"type": "tcp", "port": 8080}}),
    );
    assert_eq!(issues(&v)[0].path, "workers[0].transports[1].endpoint.port");
}

#[test]
fn roles_with_authorizers() {
    let v = with(
        "/workers/0/realms/0/roles/1",
        json!({"name": "dyn", "authorizer": "com.example.authorize"}),
    );
    let c = model(&v);
    assert_eq!(
        c.role_authorizer("realm1", "dyn"),
        Some("com.example.authorize")
    );
    assert_eq!(c.role_authorizer("realm1", "anonymous"), None);
    assert_eq!(
        c.role_authorizers,
        vec![RoleAuthorizer {
            realm: "realm1".into(),
            role: "dyn".into(),
            authorizer: "com.example.authorize".into()
        }]
    );
    assert!(c.realms[0].roles[1].permissions.is_empty());
    assert!(c.unsupported().is_empty(), "dynamic authorization runs");
}

#[test]
fn undefined_roles_and_realms_are_warned() {
    let c = model(&with(
        AUTH,
        json!({
            "ticket": {"type": "static", "principals": {"joe": {"ticket": "t", "role": "ghost"}}},
            "wampcra": {"type": "dynamic", "authenticator": "a.b", "authenticator-realm": "nowhere"}
        }),
    ));
    assert_eq!(
        c.warnings,
        vec![
            format!(
                "{AT}.ticket.principals.joe: this principal gets role \"ghost\", which no realm defines; every action they try will be denied"
            ),
            format!(
                "{AT}.wampcra.authenticator-realm: realm \"nowhere\" is not defined; every login through this authenticator will fail"
            ),
        ]
    );
}

#[test]
fn junction_auth_settings() {
    use crate::config::auth::{AuthLimits, AuthSettings};
    let c = load_ok(&with(
        "/junction",
        json!({"auth": {
            "authenticator_timeout": 2500,
            "failed_login_burst": 0,
            "failed_logins_per_minute": 5,
            "throttle_delay": 0,
            "max_authid_len": 64,
            "max_ticket_len": 100,
            "max_pbkdf2_iterations": 50000
        }}),
    ));
    assert_eq!(
        c.limits.auth,
        AuthSettings {
            authenticator_timeout_ms: 2500,
            failed_login_burst: 0,
            failed_logins_per_minute: 5,
            throttle_delay_ms: 0,
            limits: AuthLimits {
                max_authid_len: 64,
                max_ticket_len: 100,
                max_pbkdf2_iterations: 50_000,
                ..AuthLimits::default()
            },
        }
    );
    assert_eq!(load_ok(&base()).limits.auth, AuthSettings::default());
    for (auth, at, needle) in [
        (
            json!({"authenticator_timeout": 0}),
            "authenticator_timeout",
            "out of range",
        ),
        (
            json!({"throttle_delay": 60001}),
            "throttle_delay",
            "out of range",
        ),
        (
            json!({"max_signature_len": 10}),
            "max_signature_len",
            "out of range",
        ),
        (
            json!({"failed_logins_per_minute": "many"}),
            "failed_logins_per_minute",
            "whole number",
        ),
        (
            json!({"min_nonce_len": 300, "max_nonce_len": 200}),
            "min_nonce_len",
            "max_nonce_len",
        ),
        (json!({"retries": 3}), "retries", "unknown key"),
    ] {
        assert_one_issue(
            &with("/junction", json!({ "auth": auth })),
            &format!("junction.auth.{at}"),
            Invalid,
            needle,
        );
    }
}

/// Crossbar's functional tests (conftest.py, `auth_crossbar`) give the
/// cookie method a `store`: Crossbar's checker accepts any content there and
/// its router never reads it, so a key there is warned, not refused.
#[test]
fn cookie_method_settings_are_warned_not_refused() {
    let c = model(&with(
        AUTH,
        json!({
            "anonymous": {"type": "static"},
            "cookie": {"store": {"type": "file", "filename": "foo.cookies.dat"}, "max_age": 5}
        }),
    ));
    assert!(auth_of(&c).cookie);
    for key in ["store", "max_age"] {
        let w = warnings_at(&c, &format!("{AT}.cookie.{key}"));
        assert_eq!(w.len(), 1, "{:#?}", c.warnings);
        assert!(w[0].contains("ignored"), "{}", w[0]);
    }
}

/// `ticket.junction.password_file`: the users of a mosquitto password file
/// become principals with `junction.role`, beside `principals` or alone; a
/// file that cannot be read or parsed, and a user also in `principals`,
/// are errors naming the file and line.
#[test]
fn a_mosquitto_password_file_adds_ticket_principals() {
    let dir = std::env::temp_dir().join(format!("junction-pwfile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let good = dir.join("passwd");
    std::fs::write(&good, crate::proto::auth::mosquitto::TEST_FILE).expect("write");
    let bad = dir.join("bad");
    std::fs::write(&bad, "# users\nalice:plain\n").expect("write");
    let file = |path: &std::path::Path| json!({"password_file": path, "role": "device"});
    let alone = json!({"ticket": {"type": "static", "junction": file(&good)}});
    let c = model(&with(AUTH, alone));
    let Some(TicketAuth::Static {
        principals,
        password_file: Some(f),
    }) = &auth_of(&c).ticket
    else {
        panic!("ticket with a password file");
    };
    assert!(principals.is_empty());
    assert_eq!(
        (f.path.as_path(), f.role.as_str()),
        (good.as_path(), "device")
    );
    let users: Vec<&str> = f.users.iter().map(|(u, _)| u.as_str()).collect();
    assert_eq!(users, ["alice", "bob", "carol"]);
    // Beside principals; relative to the node directory (here /node).
    let both = json!({"ticket": {"type": "static",
        "principals": {"joe": {"ticket": "t", "role": "anonymous"}},
        "junction": {"password_file": "no-such-file", "role": "device"}}});
    let at = format!("{AT}.ticket.junction.password_file");
    assert_one_issue(
        &with(AUTH, both),
        &at,
        Invalid,
        "cannot read /node/no-such-file",
    );
    let dup = json!({"ticket": {"type": "static",
        "principals": {"bob": {"ticket": "t", "role": "anonymous"}}, "junction": file(&good)}});
    assert_one_issue(
        &with(AUTH, dup),
        &at,
        Invalid,
        "user \"bob\" is also one of `principals`",
    );
    let unhashed = json!({"ticket": {"type": "static", "junction": file(&bad)}});
    assert_one_issue(
        &with(AUTH, unhashed),
        &at,
        Invalid,
        "line 2: user \"alice\": the password is not hashed",
    );
    let no_role = json!({"ticket": {"type": "static", "junction": {"password_file": good}}});
    assert_one_issue(
        &with(AUTH, no_role),
        &format!("{AT}.ticket.junction.role"),
        Invalid,
        "",
    );
    let _ = std::fs::remove_dir_all(&dir);
}
