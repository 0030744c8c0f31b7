//! Authentication methods in the running core (issue 10): ticket, wampcra
//! plain and salted, scram in both dialects, cryptosign and anonymous, each
//! from a static config, driven by wire peers whose client side is computed
//! with `proto::auth` (itself checked against Autobahn's vectors); the
//! per-address limit on failed logins; bad input during authentication.
//! Dynamic authenticators and authorizers are in `auth_dynamic.rs`.

use std::cell::Cell;
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;

use super::*;
use crate::config::auth::{
    AnonymousAuth, AuthConfig, CryptosignAuth, CryptosignPrincipal, ScramAuth, ScramKdf,
    ScramPrincipal, Secret, TicketAuth, TicketPrincipal, WampCraAuth, WampCraSalt, WampCraUser,
};
use crate::core::Clock;
use crate::proto::auth::AuthLimits;
use crate::proto::auth::scram::{Kdf, KdfParams};

/// A manual clock shared by every shard.
#[derive(Clone)]
pub(super) struct ManualClock(pub(super) Rc<Cell<Instant>>);

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.0.get()
    }
    fn unix_ms(&self) -> u64 {
        1_714_566_896_789
    }
}

impl ManualClock {
    pub(super) fn advance(&self, by: Duration) -> Instant {
        self.0.set(self.0.get() + by);
        self.0.get()
    }
}

/// Installs one manual clock on every shard.
pub(super) fn manual_clock(c: &mut Cluster) -> ManualClock {
    let clock = ManualClock(Rc::new(Cell::new(Instant::now())));
    for r in &mut c.routers {
        r.set_clock(Box::new(clock.clone()));
    }
    clock
}

/// `test_config()` with roles `user` on realm1 and realm2.
pub(super) fn config() -> Config {
    let mut c = test_config();
    let all = Allow {
        call: true,
        register: true,
        publish: true,
        subscribe: true,
    };
    for realm in &mut c.realms[..2] {
        realm.roles.push(RoleConfig {
            name: "user".into(),
            permissions: vec![Permission {
                uri: String::new(),
                match_policy: MatchPolicy::Prefix,
                allow: all,
                disclose: Default::default(),
            }],
            trustlevel: None,
        });
    }
    c
}

/// A cluster whose test transport has `auth`.
pub(super) fn cluster_with(shards: u16, config: Config, auth: AuthConfig) -> Cluster {
    let mut c = Cluster::with_config(shards, config);
    set_auth(&mut c, auth);
    c
}

/// Later connections use a transport with `auth` (a new config object).
pub(super) fn set_auth(c: &mut Cluster, auth: AuthConfig) {
    let mut t = (*c.transport).clone();
    t.auth.methods = auth;
    c.transport = Rc::new(t);
}

pub(super) fn details(methods: &[&str], authid: Option<&str>) -> Dict {
    let mut d = Dict::new().with(
        "authmethods",
        Value::List(methods.iter().map(|m| Value::from(*m)).collect()),
    );
    if let Some(a) = authid {
        d.insert("authid", a);
    }
    d
}

/// A new peer on `shard` sends HELLO for `realm` (`None`: a null realm);
/// returns it and what it got.
pub(super) fn hello<'r>(
    c: &mut Cluster,
    shard: usize,
    realm: impl Into<Option<&'r str>>,
    d: Dict,
) -> (Peer, Vec<Message>) {
    let p = c.connect_raw(shard, Serializer::Json, 1 << 20);
    c.send(
        &p,
        Message::Hello(Hello {
            realm: realm.into().map(str::to_owned),
            details: d,
        }),
    );
    c.pump();
    let got = c.recv(&p);
    (p, got)
}

pub(super) fn authenticate(
    c: &mut Cluster,
    p: &Peer,
    signature: &str,
    extra: Dict,
) -> Vec<Message> {
    c.send(
        p,
        Message::Authenticate(Authenticate {
            signature: signature.into(),
            extra,
        }),
    );
    c.pump();
    c.recv(p)
}

/// Runs the shard's offloaded jobs (as the runtime does, on another thread).
pub(super) fn run_jobs(c: &mut Cluster, shard: usize) -> usize {
    let jobs = c.routers[shard].take_auth_jobs();
    let n = jobs.len();
    for job in jobs {
        let ticket = job.ticket;
        let step = std::thread::spawn(job.run).join().expect("job ran");
        c.routers[shard].resolve_authentication(ticket, step);
    }
    c.pump();
    n
}

pub(super) fn challenge(msgs: &[Message]) -> &Challenge {
    match msgs {
        [Message::Challenge(ch)] => ch,
        other => panic!("expected CHALLENGE, got {other:?}"),
    }
}

pub(super) fn welcome(msgs: &[Message]) -> &Dict {
    match msgs {
        [Message::Welcome(w)] => &w.details,
        other => panic!("expected WELCOME, got {other:?}"),
    }
}

pub(super) fn abort(msgs: &[Message]) -> (String, String) {
    match msgs {
        [Message::Abort(a)] => (
            a.reason.clone(),
            a.details
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        ),
        other => panic!("expected ABORT, got {other:?}"),
    }
}

pub(super) fn s<'a>(d: &'a Dict, key: &str) -> &'a str {
    d.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// The identity WELCOME reports: (authid, authrole, authmethod, authprovider).
pub(super) fn identity(d: &Dict) -> (String, String, String, String) {
    (
        s(d, "authid").into(),
        s(d, "authrole").into(),
        s(d, "authmethod").into(),
        s(d, "authprovider").into(),
    )
}

pub(super) fn ids(a: &str, r: &str, m: &str, p: &str) -> (String, String, String, String) {
    (a.into(), r.into(), m.into(), p.into())
}

fn ticket_config() -> AuthConfig {
    let p = |t: &str, role: Option<&str>| TicketPrincipal {
        ticket: Secret::new(t),
        role: role.map(str::to_owned),
    };
    AuthConfig {
        ticket: Some(TicketAuth::Static {
            principals: [
                ("joe".to_owned(), p("secret-1", Some("user"))),
                ("norole".to_owned(), p("secret-2", None)),
            ]
            .into(),
            password_file: None,
        }),
        ..AuthConfig::none()
    }
}

#[test]
fn ticket_static_welcomes_the_right_ticket_and_refuses_the_rest_alike() {
    let mut c = cluster_with(2, config(), ticket_config());
    let (p, got) = hello(&mut c, 0, "realm1", details(&["ticket"], Some("joe")));
    assert_eq!(challenge(&got).auth_method, "ticket");
    assert!(challenge(&got).extra.is_empty());
    let got = authenticate(&mut c, &p, "secret-1", Dict::new());
    assert_eq!(
        identity(welcome(&got)),
        ids("joe", "user", "ticket", "static")
    );
    // A wrong ticket and an unknown authid get the same CHALLENGE and ABORT.
    let mut refusals = Vec::new();
    for authid in ["joe", "nobody"] {
        let (p, got) = hello(&mut c, 1, "realm1", details(&["ticket"], Some(authid)));
        assert_eq!(challenge(&got).auth_method, "ticket", "{authid}");
        refusals.push(abort(&authenticate(&mut c, &p, "Zq9-guess", Dict::new())));
        assert!(p.outbox.borrow().is_closed());
    }
    assert_eq!(refusals[0], refusals[1]);
    assert_eq!(refusals[0].0, uris::AUTHENTICATION_FAILED);
    assert!(!refusals[0].1.contains("Zq9"), "never echoes the ticket");
    // No authid; a ticket over the limit; a principal without a role.
    let (_, got) = hello(&mut c, 0, "realm1", details(&["ticket"], None));
    assert!(abort(&got).1.contains("needs an authid"));
    let (p, _) = hello(&mut c, 0, "realm1", details(&["ticket"], Some("joe")));
    let long = "x".repeat(AuthLimits::default().max_ticket_len + 1);
    let (reason, message) = abort(&authenticate(&mut c, &p, &long, Dict::new()));
    assert_eq!(reason, uris::AUTHENTICATION_FAILED);
    assert!(message.contains("over the limit of 4096"), "{message}");
    let (p, _) = hello(&mut c, 0, "realm1", details(&["ticket"], Some("norole")));
    let got = authenticate(&mut c, &p, "secret-2", Dict::new());
    assert_eq!(abort(&got).0, uris::NO_SUCH_ROLE);
    assert_eq!(c.routers[0].pending_decision_count(), 0);
}

/// Ticket principals from a mosquitto password file beside `principals`:
/// a `$7$` (PBKDF2) password is checked off the reactor, a `$6$` one at
/// once; an unknown authid costs a decoy PBKDF2 and fails as a wrong
/// password does.
#[test]
fn ticket_users_of_a_mosquitto_password_file_log_in_with_their_role() {
    use crate::config::auth::PasswordFile;
    use crate::proto::auth::mosquitto::{TEST_FILE, parse_file};
    let mut auth = ticket_config();
    if let Some(TicketAuth::Static { password_file, .. }) = &mut auth.ticket {
        *password_file = Some(PasswordFile {
            path: "passwd".into(),
            role: "user".into(),
            users: parse_file(TEST_FILE).expect("test file"),
        });
    }
    let mut c = cluster_with(1, config(), auth);
    let login = |c: &mut Cluster, authid: &str, password: &str| {
        let (p, got) = hello(c, 0, "realm1", details(&["ticket"], Some(authid)));
        assert_eq!(challenge(&got).auth_method, "ticket");
        let now = authenticate(c, &p, password, Dict::new());
        let jobs = run_jobs(c, 0);
        let got = if now.is_empty() { c.recv(&p) } else { now };
        (jobs, got)
    };
    let (jobs, got) = login(&mut c, "alice", "correct horse");
    assert_eq!(jobs, 1, "PBKDF2 off the reactor");
    assert_eq!(
        identity(welcome(&got)),
        ids("alice", "user", "ticket", "static")
    );
    let (jobs, got) = login(&mut c, "bob", "s3cret");
    assert_eq!(jobs, 0, "one SHA-512: at once");
    assert_eq!(s(welcome(&got), "authid"), "bob");
    let (_, got) = login(&mut c, "carol", "ünïcode pass");
    assert_eq!(s(welcome(&got), "authid"), "carol");
    let (_, got) = login(&mut c, "joe", "secret-1");
    assert_eq!(s(welcome(&got), "authid"), "joe", "principals still log in");
    let mut refusals = Vec::new();
    for (authid, password) in [("alice", "s3cret"), ("bob", ""), ("nobody", "x")] {
        let (jobs, got) = login(&mut c, authid, password);
        assert_eq!(jobs, usize::from(authid != "bob"), "{authid}");
        refusals.push(abort(&got));
    }
    assert!(refusals.iter().all(|r| *r == refusals[0]), "{refusals:?}");
    assert_eq!(refusals[0].0, uris::AUTHENTICATION_FAILED);
}

#[test]
fn the_clients_order_picks_among_the_transports_methods() {
    let mut auth = ticket_config();
    auth.anonymous = Some(AnonymousAuth::Static {
        role: "anonymous".into(),
        authid: Some("visitor".into()),
    });
    let mut c = cluster_with(1, config(), auth);
    let (_, got) = hello(
        &mut c,
        0,
        "realm1",
        details(&["ticket", "anonymous"], Some("joe")),
    );
    assert_eq!(challenge(&got).auth_method, "ticket");
    let (_, got) = hello(
        &mut c,
        0,
        "realm1",
        details(&["scram", "anonymous", "ticket"], None),
    );
    assert_eq!(
        identity(welcome(&got)),
        ids("visitor", "anonymous", "anonymous", "static"),
        "anonymous with the configured authid"
    );
    let (_, got) = hello(&mut c, 0, "realm1", details(&["cryptosign"], None));
    let (reason, message) = abort(&got);
    assert_eq!(reason, uris::NO_AUTH_METHOD);
    assert!(message.contains("anonymous, ticket"), "{message}");
}

const SALT: &str = "salt123";
const ITER: u32 = 100;

fn salted(secret: &str) -> WampCraUser {
    WampCraUser {
        secret: Secret::new(secret),
        role: Some("user".into()),
        salt: Some(WampCraSalt {
            salt: SALT.into(),
            iterations: ITER,
            keylen: 32,
        }),
    }
}

fn wampcra_config() -> AuthConfig {
    let limits = AuthLimits::default();
    let derived =
        crate::proto::auth::wampcra::derive_key(b"pw2", SALT.as_bytes(), ITER, 32, &limits)
            .expect("derive");
    AuthConfig {
        wampcra: Some(WampCraAuth::Static {
            users: [
                (
                    "ann".to_owned(),
                    WampCraUser {
                        secret: Secret::new("s3cret"),
                        role: Some("user".into()),
                        salt: None,
                    },
                ),
                // Crossbar's reading: the config holds the password.
                ("sal".to_owned(), salted("pw")),
                // The spec's reading: the config holds the derived key.
                ("spec".to_owned(), salted(&derived)),
            ]
            .into(),
        }),
        ..AuthConfig::none()
    }
}

/// The client's WAMP-CRA signature for a CHALLENGE (salted: derived from `secret`).
fn cra_sign(ch: &Challenge, secret: &str) -> String {
    use crate::proto::auth::wampcra::{compute_signature, derive_key};
    let text = s(&ch.extra, "challenge");
    let key = match ch.extra.get("salt").and_then(Value::as_str) {
        None => secret.to_owned(),
        Some(salt) => {
            let it = ch
                .extra
                .get("iterations")
                .and_then(Value::as_u64)
                .expect("iterations");
            let kl = ch
                .extra
                .get("keylen")
                .and_then(Value::as_u64)
                .expect("keylen");
            derive_key(
                secret.as_bytes(),
                salt.as_bytes(),
                it as u32,
                kl as u32,
                &AuthLimits::default(),
            )
            .expect("derive")
        }
    };
    compute_signature(key.as_bytes(), text)
}

#[test]
fn wampcra_plain_and_salted_both_readings_with_the_kdf_off_the_reactor() {
    let mut c = cluster_with(1, config(), wampcra_config());
    manual_clock(&mut c);
    // Plain: verified at once.
    let (p, got) = hello(&mut c, 0, "realm1", details(&["wampcra"], Some("ann")));
    let ch = challenge(&got).clone();
    let text = s(&ch.extra, "challenge");
    let fields: serde_json::Value = serde_json::from_str(text).expect("JSON challenge");
    assert_eq!(fields["authid"], "ann");
    assert_eq!(fields["authrole"], "user");
    assert_eq!(fields["authmethod"], "wampcra");
    assert_eq!(fields["authprovider"], "static");
    assert_eq!(
        fields["timestamp"], "2024-05-01T12:34:56.789Z",
        "the injected clock"
    );
    assert!(fields["session"].as_u64().is_some() && fields["nonce"].as_str().is_some());
    assert!(ch.extra.get("salt").is_none());
    let got = authenticate(&mut c, &p, &cra_sign(&ch, "s3cret"), Dict::new());
    assert_eq!(
        identity(welcome(&got)),
        ids("ann", "user", "wampcra", "static")
    );
    assert_eq!(c.routers[0].take_auth_jobs().len(), 0, "nothing offloaded");
    // Salted, the password in the config (Crossbar) and the derived key (spec).
    for (authid, password) in [("sal", "pw"), ("spec", "pw2")] {
        let (p, got) = hello(&mut c, 0, "realm1", details(&["wampcra"], Some(authid)));
        let ch = challenge(&got).clone();
        assert_eq!(s(&ch.extra, "salt"), SALT);
        assert_eq!(
            ch.extra.get("iterations").and_then(Value::as_u64),
            Some(100)
        );
        assert_eq!(ch.extra.get("keylen").and_then(Value::as_u64), Some(32));
        let got = authenticate(&mut c, &p, &cra_sign(&ch, password), Dict::new());
        assert!(
            got.is_empty(),
            "{authid}: the key is derived off the reactor first"
        );
        assert_eq!(run_jobs(&mut c, 0), 1);
        assert_eq!(
            identity(welcome(&c.recv(&p))),
            ids(authid, "user", "wampcra", "static")
        );
        // The derived key is kept: the next login needs no job.
        let (p, got) = hello(&mut c, 0, "realm1", details(&["wampcra"], Some(authid)));
        let ch = challenge(&got).clone();
        let got = authenticate(&mut c, &p, &cra_sign(&ch, password), Dict::new());
        assert_eq!(s(welcome(&got), "authid"), authid);
    }
    // A wrong password fails (for a salted user after the cached key).
    let (p, got) = hello(&mut c, 0, "realm1", details(&["wampcra"], Some("sal")));
    let ch = challenge(&got).clone();
    let (reason, _) = abort(&authenticate(
        &mut c,
        &p,
        &cra_sign(&ch, "nope"),
        Dict::new(),
    ));
    assert_eq!(reason, uris::AUTHENTICATION_FAILED);
    // An unknown authid gets a salted challenge, the same salt every time, then fails.
    let mut salts = Vec::new();
    for _ in 0..2 {
        let (p, got) = hello(&mut c, 0, "realm1", details(&["wampcra"], Some("ghost")));
        let ch = challenge(&got).clone();
        salts.push(s(&ch.extra, "salt").to_owned());
        assert_eq!(
            ch.extra.get("iterations").and_then(Value::as_u64),
            Some(100)
        );
        let got = authenticate(&mut c, &p, &cra_sign(&ch, "pw"), Dict::new());
        assert_eq!(abort(&got).0, uris::AUTHENTICATION_FAILED);
    }
    assert_eq!(salts[0], salts[1]);
    assert_ne!(salts[0], SALT);
    // Malformed signatures are refused before anything is derived.
    for bad in ["not base64!", "AAAA", &"A".repeat(600)] {
        let (p, _) = hello(&mut c, 0, "realm1", details(&["wampcra"], Some("ann")));
        let (reason, message) = abort(&authenticate(&mut c, &p, bad, Dict::new()));
        assert_eq!(reason, uris::AUTHENTICATION_FAILED);
        assert!(message.contains("signature"), "{message}");
    }
    assert_eq!(c.routers[0].take_auth_jobs().len(), 0);
}

/// A SCRAM principal derived from `password` (PBKDF2, few iterations: a test).
fn scram_principal(password: &str) -> ScramPrincipal {
    let params = KdfParams {
        kdf: Kdf::Pbkdf2,
        iterations: 64,
        memory: None,
    };
    let salt = b"0123456789abcdef".to_vec();
    let cred = crate::proto::auth::scram::derive_credentials(
        password.as_bytes(),
        &salt,
        params,
        &AuthLimits::default(),
    )
    .expect("derive");
    let d = cred.to_crossbar();
    let key = |k: &str| Secret::new(hex::decode(s(&d, k)).expect("hex"));
    ScramPrincipal {
        kdf: ScramKdf::Pbkdf2,
        iterations: 64,
        memory: 0,
        salt,
        stored_key: key("stored-key"),
        server_key: key("server-key"),
        role: Some("user".into()),
    }
}

/// The client's SCRAM answer to a CHALLENGE: (proof, the AuthMessage).
pub(super) fn scram_answer(
    ch: &Challenge,
    authid: &str,
    client_nonce: &str,
    password: &str,
) -> (String, String) {
    use base64::Engine as _;
    let e = &ch.extra;
    let nonce = s(e, "nonce");
    assert!(nonce.starts_with(client_nonce));
    let salt = base64::engine::general_purpose::STANDARD
        .decode(s(e, "salt"))
        .expect("salt");
    let iterations = e.get("iterations").and_then(Value::as_u64).expect("it") as u32;
    assert_eq!(s(e, "kdf"), "pbkdf2");
    let c = if ch.auth_method == "wamp-scram" {
        "biws"
    } else {
        ""
    };
    let auth_message = format!(
        "n={authid},r={client_nonce},r={nonce},s={},i={iterations},c={c},r={nonce}",
        s(e, "salt")
    );
    let params = KdfParams {
        kdf: Kdf::Pbkdf2,
        iterations,
        memory: None,
    };
    let sp = crate::proto::auth::scram::salted_password(
        password.as_bytes(),
        &salt,
        &params,
        &AuthLimits::default(),
    )
    .expect("salted password");
    (
        crate::proto::auth::scram::client_proof(sp.expose(), &auth_message),
        auth_message,
    )
}

#[test]
fn scram_in_both_dialects_welcomes_with_the_server_signature() {
    let auth = AuthConfig {
        scram: Some(ScramAuth::Static {
            principals: [("sam".to_owned(), scram_principal("pencil"))].into(),
        }),
        ..AuthConfig::none()
    };
    let mut c = cluster_with(2, config(), auth);
    for (method, verifier) in [
        ("scram", "scram_server_signature"),
        ("wamp-scram", "verifier"),
    ] {
        let nonce = "rOprNGfwEbeRWgbNEkqO";
        let mut d = details(&[method], Some("sam"));
        d.insert("authextra", Dict::new().with("nonce", nonce));
        let (p, got) = hello(&mut c, 1, "realm1", d.clone());
        let ch = challenge(&got).clone();
        assert_eq!(ch.auth_method, method);
        let (proof, _) = scram_answer(&ch, "sam", nonce, "pencil");
        let got = authenticate(&mut c, &p, &proof, Dict::new());
        let w = welcome(&got);
        assert_eq!(identity(w), ids("sam", "user", method, "static"));
        let extra = w
            .get("authextra")
            .and_then(Value::as_dict)
            .expect("authextra");
        assert_eq!(
            s(extra, verifier).len(),
            44,
            "{method}: base64 server signature"
        );
        // A wrong password fails; an unknown authid gets a challenge and fails alike.
        let (p, got) = hello(&mut c, 1, "realm1", d.clone());
        let (proof, _) = scram_answer(challenge(&got), "sam", nonce, "wrong");
        let wrong = abort(&authenticate(&mut c, &p, &proof, Dict::new()));
        let mut ghost = details(&[method], Some("ghost"));
        ghost.insert("authextra", Dict::new().with("nonce", nonce));
        let (p, got) = hello(&mut c, 1, "realm1", ghost.clone());
        let ch = challenge(&got).clone();
        let (_, again) = hello(&mut c, 1, "realm1", ghost);
        assert_eq!(
            s(&ch.extra, "salt"),
            s(&challenge(&again).extra, "salt"),
            "a stable mock salt"
        );
        let (proof, _) = scram_answer(&ch, "ghost", nonce, "pencil");
        let unknown = abort(&authenticate(&mut c, &p, &proof, Dict::new()));
        assert_eq!(wrong, unknown);
        assert_eq!(wrong.0, uris::AUTHENTICATION_FAILED);
    }
    // A nonce that is too short, and no nonce at all.
    let mut d = details(&["scram"], Some("sam"));
    d.insert("authextra", Dict::new().with("nonce", "abc"));
    let (_, got) = hello(&mut c, 0, "realm1", d);
    assert!(
        abort(&got).1.contains("authextra.nonce"),
        "{:?}",
        abort(&got)
    );
    let (_, got) = hello(&mut c, 0, "realm1", details(&["scram"], Some("sam")));
    assert!(abort(&got).1.contains("authextra.nonce is missing"));
    // Channel binding over a link without TLS is refused.
    let mut d = details(&["wamp-scram"], Some("sam"));
    d.insert(
        "authextra",
        Dict::new()
            .with("nonce", "rOprNGfwEbeRWgbNEkqO")
            .with("channel_binding", "tls-unique"),
    );
    let (_, got) = hello(&mut c, 0, "realm1", d);
    assert!(abort(&got).1.contains("channel id"), "{:?}", abort(&got));
}

pub(super) fn key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

fn pubkey(n: u8) -> String {
    hex::encode(key(n).verifying_key().to_bytes())
}

fn cryptosign_config() -> AuthConfig {
    let p = |keys: &[u8], realm: Option<&str>| CryptosignPrincipal {
        authorized_keys: keys
            .iter()
            .map(|n| key(*n).verifying_key().to_bytes())
            .collect(),
        role: Some("user".into()),
        realm: realm.map(str::to_owned),
    };
    AuthConfig {
        cryptosign: Some(CryptosignAuth::Static {
            principals: [
                ("dev".to_owned(), p(&[1], None)),
                ("multi".to_owned(), p(&[2, 3, 4], None)),
                ("roam".to_owned(), p(&[5], Some("realm2"))),
                ("dup1".to_owned(), p(&[6], None)),
                ("dup2".to_owned(), p(&[6], None)),
            ]
            .into(),
        }),
        ..AuthConfig::none()
    }
}

fn cs_hello(authid: Option<&str>, pk: Option<u8>) -> Dict {
    let mut d = details(&["cryptosign"], authid);
    if let Some(n) = pk {
        d.insert("authextra", Dict::new().with("pubkey", pubkey(n)));
    }
    d
}

/// The client's cryptosign signature (96 bytes, hex) of a CHALLENGE.
pub(super) fn cs_sign(ch: &Challenge, n: u8) -> String {
    let challenge: [u8; 32] = hex::decode(s(&ch.extra, "challenge"))
        .expect("hex")
        .try_into()
        .expect("32 bytes");
    crate::proto::auth::cryptosign::sign(&key(n), &challenge, None)
}

#[test]
fn cryptosign_by_authid_or_by_key_with_many_keys_off_the_reactor() {
    let mut c = cluster_with(1, config(), cryptosign_config());
    let login = |c: &mut Cluster, d: Dict, n: u8| {
        let (p, got) = hello(c, 0, "realm1", d);
        let ch = challenge(&got).clone();
        assert_eq!(ch.auth_method, "cryptosign");
        assert_eq!(ch.extra.get("channel_binding"), Some(&Value::Null));
        let got = authenticate(c, &p, &cs_sign(&ch, n), Dict::new());
        (p, got)
    };
    let (_, got) = login(&mut c, cs_hello(Some("dev"), Some(1)), 1);
    assert_eq!(
        identity(welcome(&got)),
        ids("dev", "user", "cryptosign", "static")
    );
    // No authid: the announced key names the principal.
    let (_, got) = login(&mut c, cs_hello(None, Some(1)), 1);
    assert_eq!(s(welcome(&got), "authid"), "dev");
    // Three keys and none announced: verified off the reactor.
    let (p, got) = login(&mut c, cs_hello(Some("multi"), None), 4);
    assert!(got.is_empty());
    assert_eq!(run_jobs(&mut c, 0), 1);
    assert_eq!(s(welcome(&c.recv(&p)), "authid"), "multi");
    // The principal's realm wins over the one asked for.
    let (_, got) = login(&mut c, cs_hello(Some("roam"), Some(5)), 5);
    assert_eq!(s(welcome(&got), "realm"), "realm2");
    // A key two principals list cannot identify anyone.
    let (_, got) = hello(&mut c, 0, "realm1", cs_hello(None, Some(6)));
    assert!(abort(&got).1.contains("several principals"));
    // Wrong key, unknown authid, unlisted announced key: a challenge, then the same refusal.
    let (_, wrong) = login(&mut c, cs_hello(Some("dev"), None), 9);
    let (_, ghost) = login(&mut c, cs_hello(Some("ghost"), Some(1)), 1);
    let (_, unlisted) = login(&mut c, cs_hello(Some("dev"), Some(9)), 9);
    assert_eq!(abort(&wrong), abort(&ghost));
    assert_eq!(abort(&wrong), abort(&unlisted));
    assert_eq!(abort(&wrong).0, uris::AUTHENTICATION_FAILED);
    // A signature of the wrong length is refused with the reason.
    let (p, _) = hello(&mut c, 0, "realm1", cs_hello(Some("dev"), Some(1)));
    let (reason, message) = abort(&authenticate(&mut c, &p, "abcd", Dict::new()));
    assert_eq!(reason, uris::AUTHENTICATION_FAILED);
    assert!(message.contains("must be 96 bytes, not 2"), "{message}");
    // Neither an authid nor a key; a malformed key.
    let (_, got) = hello(&mut c, 0, "realm1", cs_hello(None, None));
    assert!(
        abort(&got)
            .1
            .contains("needs an authid or authextra.pubkey")
    );
    let mut d = details(&["cryptosign"], Some("dev"));
    d.insert("authextra", Dict::new().with("pubkey", "zz"));
    let (_, got) = hello(&mut c, 0, "realm1", d);
    assert!(
        abort(&got).1.contains("authextra.pubkey"),
        "{:?}",
        abort(&got)
    );
    assert_eq!(c.routers[0].pending_decision_count(), 0);
}

/// A link from `peer` (`tcp4:...`) on shard 0.
fn connect_from(c: &mut Cluster, peer: &str) -> Peer {
    let outbox = crate::core::outbox::Outbox::new_ref(1 << 20);
    let info = LinkInfo::new(Rc::clone(&c.transport), FrontEnd::RawSocket, peer);
    let out = Output::Wire {
        outbox: Rc::clone(&outbox),
        serializer: Serializer::Json,
    };
    let conn = c.routers[0].open(info, out).expect("open");
    Peer {
        shard: 0,
        conn,
        outbox,
        serializer: Serializer::Json,
    }
}

/// One ticket login of joe from `peer`: what the router answered to
/// AUTHENTICATE (nothing yet, when it is held back).
fn ticket_login(c: &mut Cluster, peer: &str, ticket: &str) -> (Peer, Vec<Message>) {
    let p = connect_from(c, peer);
    c.send(
        &p,
        Message::Hello(Hello {
            realm: Some("realm1".into()),
            details: details(&["ticket"], Some("joe")),
        }),
    );
    let got = c.recv(&p);
    if !matches!(got.as_slice(), [Message::Challenge(_)]) {
        return (p, got);
    }
    (p.clone(), authenticate(c, &p, ticket, Dict::new()))
}

#[test]
fn failed_logins_are_limited_per_address_and_slow_only_the_offender() {
    let mut cfg = config();
    cfg.limits.auth.failed_login_burst = 3;
    cfg.limits.auth.failed_logins_per_minute = 60;
    cfg.limits.auth.throttle_delay_ms = 500;
    let mut c = cluster_with(1, cfg, ticket_config());
    let clock = manual_clock(&mut c);
    let bad = "tcp4:10.0.0.66:4000";
    // A login challenged before the address runs out of failures...
    let (early, got) = hello_from(&mut c, bad);
    assert_eq!(challenge(&got).auth_method, "ticket");
    for _ in 0..3 {
        let (_, got) = ticket_login(&mut c, bad, "guess");
        assert_eq!(abort(&got).0, uris::AUTHENTICATION_FAILED, "at once");
    }
    // The fourth failure: its ABORT is held back.
    let (p4, got) = ticket_login(&mut c, bad, "guess");
    assert!(got.is_empty(), "held back: {got:?}");
    // ... gets no guess after it, even with the right ticket.
    let got = authenticate(&mut c, &early, "secret-1", Dict::new());
    assert!(got.is_empty(), "refused, held back: {got:?}");
    let at = c.routers[0].next_deadline().expect("a deadline");
    // While throttled even the right ticket is not looked at.
    let (p5, got) = hello_from(&mut c, bad);
    assert!(got.is_empty(), "no CHALLENGE, the refusal is held back too");
    // Another address is not slowed, and sessions keep routing.
    let (_, got) = ticket_login(&mut c, "tcp4:10.0.0.7:4000", "secret-1");
    assert_eq!(s(welcome(&got), "authid"), "joe");
    clock.0.set(at);
    c.routers[0].poll_timers(at);
    for p in [&p4, &p5, &early] {
        let (reason, _) = abort(&c.recv(p));
        assert_eq!(reason, uris::AUTHENTICATION_FAILED);
        assert!(p.outbox.borrow().is_closed());
    }
    // A token per second comes back: one real attempt gets through.
    clock.advance(Duration::from_millis(1_000));
    let (_, got) = ticket_login(&mut c, bad, "secret-1");
    assert_eq!(s(welcome(&got), "authid"), "joe");
    assert_eq!(c.routers[0].pending_decision_count(), 0);
}

fn hello_from(c: &mut Cluster, peer: &str) -> (Peer, Vec<Message>) {
    let p = connect_from(c, peer);
    c.send(
        &p,
        Message::Hello(Hello {
            realm: Some("realm1".into()),
            details: details(&["ticket"], Some("joe")),
        }),
    );
    let got = c.recv(&p);
    (p, got)
}

#[test]
fn bad_input_during_authentication_aborts_with_a_reason() {
    let mut c = cluster_with(1, config(), ticket_config());
    // A second HELLO while the CHALLENGE is unanswered.
    let (p, _) = hello(&mut c, 0, "realm1", details(&["ticket"], Some("joe")));
    c.send(
        &p,
        Message::Hello(Hello {
            realm: Some("realm1".into()),
            details: details(&["ticket"], Some("joe")),
        }),
    );
    let (reason, message) = abort(&c.recv(&p));
    assert_eq!(reason, uris::PROTOCOL_VIOLATION);
    assert!(message.contains("HELLO"), "{message}");
    // AUTHENTICATE without a CHALLENGE.
    let p = c.connect_raw(0, Serializer::Json, 1 << 20);
    let got = authenticate(&mut c, &p, "x", Dict::new());
    assert_eq!(abort(&got).0, uris::PROTOCOL_VIOLATION);
    // An authid over the limit, and one that is not a string.
    let long = "a".repeat(257);
    let (_, got) = hello(&mut c, 0, "realm1", details(&["ticket"], Some(&long)));
    let (reason, message) = abort(&got);
    assert_eq!(reason, uris::INVALID_ARGUMENT);
    assert!(message.contains("at most 256 bytes"), "{message}");
    let mut d = details(&["ticket"], None);
    d.insert("authid", 5u64);
    let (_, got) = hello(&mut c, 0, "realm1", d);
    assert_eq!(abort(&got).0, uris::INVALID_ARGUMENT);
}
