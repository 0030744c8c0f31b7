//! A service's `auth` object (every method, static and dynamic) and its
//! WebSocket `cookie` tracking object.

use std::collections::BTreeMap;

use serde_json::Value;

use super::realm::is_realm_name;
use super::{Key, Loader, Obj};
use crate::config::auth::{
    AnonymousAuth, AuthConfig, AuthSettings, CertificateAuthid, CertificateLogin, CookieConfig,
    CookieStore, CryptosignAuth, CryptosignPrincipal, DynamicAuth, PasswordFile, SameSite,
    ScramAuth, ScramKdf, ScramPrincipal, Secret, TicketAuth, TicketPrincipal, TlsAuth,
    TlsPrincipal, WampCraAuth, WampCraSalt, WampCraUser,
};
use crate::config::path::child;

/// Crossbar's upper bound for a cookie's `max_age`: about ten years.
const MAX_COOKIE_AGE_S: u64 = 86_400 * 360 * 10;

/// The file a `database` cookie store keeps its logins in, in its directory.
const COOKIE_FILE: &str = "junction-cookies.jsonl";

/// Crossbar's LMDB settings, which Junction's file store has no use for.
const LMDB_TUNING: &str =
    "ignored (LMDB tuning): Junction's cookie file is appended to as logins happen";

/// Whether a method is `static` or `dynamic` (after `type` was read).
enum Mode {
    Static,
    Dynamic(DynamicAuth),
}

/// Decodes hex (`:` separators allowed when `colons`), any case.
fn hex(s: &str, colons: bool) -> Option<Vec<u8>> {
    let digits: Vec<u8> = s.bytes().filter(|&b| !(colons && b == b':')).collect();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    digits
        .chunks(2)
        .map(|pair| {
            let text = std::str::from_utf8(pair).ok()?;
            u8::from_str_radix(text, 16).ok()
        })
        .collect()
}

/// Crossbar's rule for cookie names: `^[a-z][a-z0-9_]+$`.
fn is_cookie_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_lowercase()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

/// The warning for a key inside the `cookie` authentication method.
const COOKIE_METHOD_KEY: &str = "ignored: the cookie method has no settings (Crossbar does not read \
     them either); cookies are kept as the WebSocket service's `cookie.store` says";

impl Loader<'_> {
    /// `junction.auth`: router-wide authentication settings (every key
    /// optional; defaults in [`AuthSettings::default`]).
    pub(super) fn auth_settings(&mut self, path: &str, v: &Value) -> Option<AuthSettings> {
        let obj = self.object(path, v)?;
        const LIMITS: [&str; 10] = [
            "max_authid_len",
            "max_ticket_len",
            "max_signature_len",
            "max_nonce_len",
            "min_nonce_len",
            "max_cbind_data_len",
            "max_pbkdf2_iterations",
            "max_argon2_iterations",
            "max_argon2_memory_kib",
            "max_wampcra_keylen",
        ];
        let mut table = vec![
            ("authenticator_timeout", Key::Read),
            ("failed_login_burst", Key::Read),
            ("failed_logins_per_minute", Key::Read),
            ("throttle_delay", Key::Read),
        ];
        table.extend(LIMITS.iter().map(|k| (*k, Key::Read)));
        self.keys(path, obj, &table);
        let mut s = AuthSettings::default();
        let mut ok = true;
        let mut num = |l: &mut Self, key: &str, min: u64, max: u64, out: &mut u64| {
            if let Some(v) = obj.get(key) {
                match l.uint(&child(path, key), v, min, max) {
                    Some(n) => *out = n,
                    None => ok = false,
                }
            }
        };
        let day_ms = 86_400_000;
        num(
            self,
            "authenticator_timeout",
            1,
            day_ms,
            &mut s.authenticator_timeout_ms,
        );
        let mut burst = u64::from(s.failed_login_burst);
        num(self, "failed_login_burst", 0, 1_000_000, &mut burst);
        let mut rate = u64::from(s.failed_logins_per_minute);
        num(self, "failed_logins_per_minute", 1, 1_000_000, &mut rate);
        num(self, "throttle_delay", 0, 60_000, &mut s.throttle_delay_ms);
        let l = &mut s.limits;
        let mut sizes = [
            (l.max_authid_len as u64, 1, 1 << 20),
            (l.max_ticket_len as u64, 1, 1 << 20),
            (l.max_signature_len as u64, 64, 1 << 20),
            (l.max_nonce_len as u64, 8, 4096),
            (l.min_nonce_len as u64, 1, 4096),
            (l.max_cbind_data_len as u64, 32, 4096),
            (u64::from(l.max_pbkdf2_iterations), 1, u64::from(u32::MAX)),
            (u64::from(l.max_argon2_iterations), 1, u64::from(u32::MAX)),
            (u64::from(l.max_argon2_memory_kib), 8, u64::from(u32::MAX)),
            (u64::from(l.max_wampcra_keylen), 1, 1024),
        ];
        for (key, (value, min, max)) in LIMITS.iter().zip(sizes.iter_mut()) {
            num(self, key, *min, *max, value);
        }
        let [a, t, sig, nmax, nmin, cb, pb, ai, am, kl] = sizes.map(|(v, _, _)| v);
        // Every value is within the bounds just checked, which fit the types.
        *l = crate::config::auth::AuthLimits {
            max_authid_len: a as usize,
            max_ticket_len: t as usize,
            max_signature_len: sig as usize,
            max_nonce_len: nmax as usize,
            min_nonce_len: nmin as usize,
            max_cbind_data_len: cb as usize,
            max_pbkdf2_iterations: pb as u32,
            max_argon2_iterations: ai as u32,
            max_argon2_memory_kib: am as u32,
            max_wampcra_keylen: kl as u32,
        };
        s.failed_login_burst = burst as u32;
        s.failed_logins_per_minute = rate as u32;
        if s.limits.min_nonce_len > s.limits.max_nonce_len {
            self.error(
                &child(path, "min_nonce_len"),
                "must not be above max_nonce_len",
            );
            ok = false;
        }
        ok.then_some(s)
    }

    /// `auth`. Empty: anonymous with role `anonymous`, as Crossbar does when
    /// no authentication is configured.
    pub(super) fn auth(&mut self, path: &str, v: &Value) -> Option<AuthConfig> {
        let methods = self.object(path, v)?;
        if methods.is_empty() {
            return Some(AuthConfig::default());
        }
        let mut auth = AuthConfig::none();
        let mut ok = true;
        for (method, cfg) in methods {
            let mp = child(path, method);
            let done = match method.as_str() {
                "anonymous" => self.anonymous(&mp, cfg).map(|a| auth.anonymous = Some(a)),
                "ticket" => self.ticket(&mp, cfg).map(|a| auth.ticket = Some(a)),
                "wampcra" => self.wampcra(&mp, cfg).map(|a| auth.wampcra = Some(a)),
                "scram" => self.scram(&mp, cfg).map(|a| auth.scram = Some(a)),
                "cryptosign" => self.cryptosign(&mp, cfg).map(|a| auth.cryptosign = Some(a)),
                "tls" => self.tls_auth(&mp, cfg).map(|a| auth.tls = Some(a)),
                // Crossbar's checker accepts anything here and its
                // router never reads it (the store is the service's
                // `cookie.store`): Crossbar's own functional tests put a
                // `store` in it. Every key is warned, none refused.
                "cookie" => self.object(&mp, cfg).map(|o| {
                    for k in o.keys() {
                        self.warn(&child(&mp, k), COOKIE_METHOD_KEY);
                    }
                    auth.cookie = true;
                }),
                // Between Crossbar's proxy workers and routers: never a
                // method of Junction's; what becomes of it is decided once
                // every worker is read (`proxy.rs`).
                // (Its content, how the proxy itself logs in, is not read.)
                "cryptosign-proxy" | "anonymous-proxy" => self.object(&mp, cfg).map(|_| {
                    self.proxy_methods.push(mp.clone());
                }),
                other => {
                    self.error(
                        &mp,
                        format!(
                            "unknown authentication method \"{other}\" (anonymous, ticket, \
                             wampcra, scram, cryptosign, tls or cookie)"
                        ),
                    );
                    None
                }
            };
            ok &= done.is_some();
        }
        ok.then_some(auth)
    }

    /// A method's `type` and, for `dynamic`, its authenticator. Checks the
    /// keys: `static_keys` for static methods, the authenticator keys for dynamic ones.
    fn mode(&mut self, path: &str, obj: &Obj, static_keys: &[(&str, Key)]) -> Option<Mode> {
        let type_path = child(path, "type");
        let t = self.required_str(path, obj, "type")?;
        match &*t {
            "static" => {
                let mut table = vec![("type", Key::Read)];
                table.extend_from_slice(static_keys);
                self.keys(path, obj, &table);
                Some(Mode::Static)
            }
            "dynamic" => {
                self.keys(
                    path,
                    obj,
                    &[
                        ("type", Key::Read),
                        ("authenticator", Key::Read),
                        ("authenticator-realm", Key::Read),
                        ("authenticator-role", Key::Read),
                        ("default-role", Key::Read),
                    ],
                );
                let authenticator = self.required(path, obj, "authenticator", Self::uri);
                let realm = self.optional(path, obj, "authenticator-realm", |l, p, v| {
                    let r = l.string(p, v)?;
                    if !is_realm_name(&r) {
                        l.error(p, format!("invalid realm name \"{r}\""));
                        return None;
                    }
                    Some(r.into_owned())
                });
                let role = self.optional(path, obj, "authenticator-role", Self::role_name);
                let default_role = self.optional(path, obj, "default-role", Self::role_name);
                Some(Mode::Dynamic(DynamicAuth {
                    authenticator: authenticator?,
                    realm: realm.ok()?,
                    role: role.ok()?,
                    default_role: default_role.ok()?,
                }))
            }
            "function" => self.function_auth(path, obj).map(Mode::Dynamic),
            other => {
                self.error(
                    &type_path,
                    format!("\"{other}\" is not \"static\" or \"dynamic\""),
                );
                None
            }
        }
    }

    /// A role name: a non-empty string.
    fn role_name(&mut self, path: &str, v: &Value) -> Option<String> {
        self.nonempty(path, v).map(|s| s.into_owned())
    }

    /// A principal's optional `role`; warns when missing, since Crossbar
    /// then refuses the principal's logins ("no authrole assigned").
    fn principal_role(&mut self, path: &str, obj: &Obj) -> Result<Option<String>, ()> {
        let role = self.optional(path, obj, "role", Self::role_name)?;
        if role.is_none() {
            self.warn(
                path,
                "no `role`: this principal cannot log in (Crossbar refuses it too: no authrole assigned)",
            );
        }
        Ok(role)
    }

    /// The map of principals under `key`, each read with `read`.
    fn principals<T>(
        &mut self,
        path: &str,
        obj: &Obj,
        key: &str,
        mut read: impl FnMut(&mut Self, &str, &Obj) -> Option<T>,
    ) -> Option<BTreeMap<String, T>> {
        let map = self.required(path, obj, key, |l, p, v| l.object(p, v))?;
        let p = child(path, key);
        let mut out = BTreeMap::new();
        let mut ok = true;
        for (authid, v) in map {
            let ap = child(&p, authid);
            if authid.is_empty() {
                self.error(&ap, "an authid must not be empty");
                ok = false;
                continue;
            }
            match self.object(&ap, v).and_then(|o| read(self, &ap, o)) {
                Some(item) => {
                    out.insert(authid.clone(), item);
                }
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn anonymous(&mut self, path: &str, v: &Value) -> Option<AnonymousAuth> {
        let obj = self.object(path, v)?;
        let mode = self.mode(
            path,
            obj,
            &[
                ("role", Key::Read),
                (
                    "realm",
                    Key::Warn(
                        "ignored: the client's requested realm is used (Crossbar ignores it too)",
                    ),
                ),
                ("authid", Key::Read),
            ],
        )?;
        match mode {
            Mode::Dynamic(d) => Some(AnonymousAuth::Dynamic(d)),
            Mode::Static => {
                let role = self.optional(path, obj, "role", Self::role_name);
                let authid = self.optional(path, obj, "authid", Self::role_name);
                Some(AnonymousAuth::Static {
                    role: role.ok()?.unwrap_or_else(|| "anonymous".to_owned()),
                    authid: authid.ok()?,
                })
            }
        }
    }

    /// A method's object whose static form has `principals` and Junction's
    /// `junction` block (either may stand alone), and its mode.
    fn with_junction<'v>(&mut self, path: &str, v: &'v Value) -> Option<(&'v Obj, Mode)> {
        let obj = self.object(path, v)?;
        let keys = [("principals", Key::Read), ("junction", Key::Read)];
        let mode = self.mode(path, obj, &keys)?;
        Some((obj, mode))
    }

    fn ticket(&mut self, path: &str, v: &Value) -> Option<TicketAuth> {
        let (obj, mode) = self.with_junction(path, v)?;
        if let Mode::Dynamic(d) = mode {
            return Some(TicketAuth::Dynamic(d));
        }
        let password_file = match obj.get("junction") {
            None => None,
            Some(v) => Some(self.password_file(&child(path, "junction"), v)?),
        };
        let principals = if password_file.is_some() && !obj.contains_key("principals") {
            BTreeMap::new()
        } else {
            self.principals(path, obj, "principals", |l, p, o| {
                l.keys(p, o, &[("ticket", Key::Read), ("role", Key::Read)]);
                let ticket = l.required(p, o, "ticket", Self::secret);
                let role = l.principal_role(p, o);
                Some(TicketPrincipal {
                    ticket: ticket?,
                    role: role.ok()?,
                })
            })?
        };
        if let Some(f) = &password_file
            && let Some((user, _)) = f.users.iter().find(|(u, _)| principals.contains_key(u))
        {
            self.error(
                &child(&child(path, "junction"), "password_file"),
                format!("user \"{user}\" is also one of `principals`"),
            );
            return None;
        }
        Some(TicketAuth::Static {
            principals,
            password_file,
        })
    }

    /// `auth.ticket.junction`: `password_file` (a mosquitto password file,
    /// read now) and the `role` of its users.
    fn password_file(&mut self, path: &str, v: &Value) -> Option<PasswordFile> {
        let j = self.object(path, v)?;
        self.keys(
            path,
            j,
            &[("password_file", Key::Read), ("role", Key::Read)],
        );
        let file = self.required(path, j, "password_file", Self::node_path);
        let role = self.required(path, j, "role", Self::role_name);
        let (file, role) = (file?, role?);
        let at = child(path, "password_file");
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) => {
                self.error(&at, format!("cannot read {}: {e}", file.display()));
                return None;
            }
        };
        match crate::proto::auth::mosquitto::parse_file(&text) {
            Ok(users) => Some(PasswordFile {
                path: file,
                role,
                users,
            }),
            Err((line, message)) => {
                self.error(&at, format!("{} line {line}: {message}", file.display()));
                None
            }
        }
    }

    fn wampcra(&mut self, path: &str, v: &Value) -> Option<WampCraAuth> {
        let obj = self.object(path, v)?;
        match self.mode(path, obj, &[("users", Key::Read)])? {
            Mode::Dynamic(d) => Some(WampCraAuth::Dynamic(d)),
            Mode::Static => {
                let users = self.principals(path, obj, "users", |l, p, o| {
                    l.keys(
                        p,
                        o,
                        &[
                            ("secret", Key::Read),
                            ("role", Key::Read),
                            ("salt", Key::Read),
                            ("iterations", Key::Read),
                            ("keylen", Key::Read),
                        ],
                    );
                    let secret = l.required(p, o, "secret", Self::secret);
                    let role = l.principal_role(p, o);
                    let salt = l.optional(p, o, "salt", Self::nonempty);
                    let iterations = l.optional(p, o, "iterations", |l, p, v| {
                        l.uint(p, v, 1, u64::from(u32::MAX))
                    });
                    let keylen = l.optional(p, o, "keylen", |l, p, v| l.uint(p, v, 1, 1024));
                    let salted = match (salt.ok()?, iterations.ok()?, keylen.ok()?) {
                        (Some(salt), Some(iterations), Some(keylen)) => Some(WampCraSalt {
                            salt: salt.into_owned(),
                            iterations: u32::try_from(iterations).ok()?,
                            keylen: u32::try_from(keylen).ok()?,
                        }),
                        (None, None, None) => None,
                        _ => {
                            // Crossbar would silently use the unsalted secret.
                            l.error(
                                p,
                                "give `salt`, `iterations` and `keylen` together (or none of them)",
                            );
                            return None;
                        }
                    };
                    Some(WampCraUser {
                        secret: secret?,
                        role: role.ok()?,
                        salt: salted,
                    })
                })?;
                Some(WampCraAuth::Static { users })
            }
        }
    }

    fn scram(&mut self, path: &str, v: &Value) -> Option<ScramAuth> {
        let obj = self.object(path, v)?;
        match self.mode(path, obj, &[("principals", Key::Read)])? {
            Mode::Dynamic(d) => Some(ScramAuth::Dynamic(d)),
            Mode::Static => {
                let principals = self.principals(path, obj, "principals", |l, p, o| {
                    l.keys(
                        p,
                        o,
                        &[
                            ("kdf", Key::Read),
                            ("iterations", Key::Read),
                            ("memory", Key::Read),
                            ("salt", Key::Read),
                            ("stored-key", Key::Read),
                            ("server-key", Key::Read),
                            ("role", Key::Read),
                        ],
                    );
                    let kdf = l.required(p, o, "kdf", |l, p, v| match l.string(p, v)?.as_ref() {
                        "argon2id-13" => Some(ScramKdf::Argon2id13),
                        "pbkdf2" => Some(ScramKdf::Pbkdf2),
                        other => {
                            l.error(
                                p,
                                format!("\"{other}\" is not \"argon2id-13\" or \"pbkdf2\""),
                            );
                            None
                        }
                    });
                    let iterations = l.required(p, o, "iterations", |l, p, v| {
                        l.uint(p, v, 1, u64::from(u32::MAX))
                    });
                    // Argon2id's memory cost in KiB: at least 8 (its minimum), at most 4 GiB.
                    let memory = l.optional(p, o, "memory", |l, p, v| l.uint(p, v, 8, 4 << 20));
                    let salt = l.required(p, o, "salt", |l, p, v| {
                        let s = l.nonempty(p, v)?;
                        hex(&s, false).or_else(|| {
                            l.error(p, "expected hex digits");
                            None
                        })
                    });
                    let key = |l: &mut Self, name: &str| {
                        l.required(p, o, name, |l, kp, v| {
                            let s = l.string(kp, v)?;
                            match hex(&s, false) {
                                Some(k) if k.len() == 32 => Some(Secret::new(k)),
                                // The value is a secret: not echoed.
                                _ => {
                                    l.error(kp, "expected 64 hex digits (a SHA-256 output)");
                                    None
                                }
                            }
                        })
                    };
                    let stored_key = key(l, "stored-key");
                    let server_key = key(l, "server-key");
                    let role = l.principal_role(p, o);
                    let kdf = kdf?;
                    let memory = match (kdf, memory.ok()?) {
                        (_, Some(m)) => u32::try_from(m).ok()?,
                        (ScramKdf::Pbkdf2, None) => 0,
                        (ScramKdf::Argon2id13, None) => {
                            l.error(&child(p, "memory"), "missing (required for argon2id-13)");
                            return None;
                        }
                    };
                    Some(ScramPrincipal {
                        kdf,
                        iterations: u32::try_from(iterations?).ok()?,
                        memory,
                        salt: salt?,
                        stored_key: stored_key?,
                        server_key: server_key?,
                        role: role.ok()?,
                    })
                })?;
                Some(ScramAuth::Static { principals })
            }
        }
    }

    fn cryptosign(&mut self, path: &str, v: &Value) -> Option<CryptosignAuth> {
        let obj = self.object(path, v)?;
        let mode = self.mode(
            path,
            obj,
            &[
                ("principals", Key::Read),
                (
                    "trustroots",
                    Key::Unsupported("Cryptosign trust roots (certificate chains, `trustroots`)"),
                ),
            ],
        )?;
        match mode {
            Mode::Dynamic(d) => Some(CryptosignAuth::Dynamic(d)),
            Mode::Static if obj.contains_key("trustroots") => {
                if obj.contains_key("principals") {
                    self.error(
                        &child(path, "trustroots"),
                        "give either `principals` or `trustroots`, not both",
                    );
                }
                None
            }
            Mode::Static => {
                let principals = self.principals(path, obj, "principals", |l, p, o| {
                    l.keys(
                        p,
                        o,
                        &[
                            ("authorized_keys", Key::Read),
                            ("role", Key::Read),
                            ("realm", Key::Read),
                        ],
                    );
                    let keys = l.required(p, o, "authorized_keys", |l, kp, v| {
                        let items = l.array(kp, v)?;
                        let mut out = Vec::with_capacity(items.len());
                        for (i, item) in items.iter().enumerate() {
                            let ip = super::index(kp, i);
                            let s = l.string(&ip, item)?;
                            match hex(&s, false).and_then(|k| <[u8; 32]>::try_from(k).ok()) {
                                Some(k) => out.push(k),
                                None => {
                                    l.error(
                                        &ip,
                                        format!(
                                            "\"{s}\" is not an Ed25519 public key (64 hex digits)"
                                        ),
                                    );
                                    return None;
                                }
                            }
                        }
                        Some(out)
                    });
                    let role = l.principal_role(p, o);
                    let realm = l.optional(p, o, "realm", |l, rp, v| {
                        let r = l.string(rp, v)?;
                        if !is_realm_name(&r) {
                            l.error(rp, format!("invalid realm name \"{r}\""));
                            return None;
                        }
                        Some(r.into_owned())
                    });
                    Some(CryptosignPrincipal {
                        authorized_keys: keys?,
                        role: role.ok()?,
                        realm: realm.ok()?,
                    })
                })?;
                Some(CryptosignAuth::Static { principals })
            }
        }
    }

    fn tls_auth(&mut self, path: &str, v: &Value) -> Option<TlsAuth> {
        let (obj, mode) = self.with_junction(path, v)?;
        if let Mode::Dynamic(d) = mode {
            return Some(TlsAuth::Dynamic(d));
        }
        let from_certificate = match obj.get("junction") {
            None => None,
            Some(v) => {
                let jp = child(path, "junction");
                let j = self.object(&jp, v)?;
                self.keys(&jp, j, &[("authid", Key::Read), ("role", Key::Read)]);
                let authid =
                    self.required(&jp, j, "authid", |l, p, v| match l.string(p, v)?.as_ref() {
                        "cn" => Some(CertificateAuthid::CommonName),
                        "sha1" => Some(CertificateAuthid::Sha1),
                        "sha256" => Some(CertificateAuthid::Sha256),
                        other => {
                            l.error(
                                p,
                                format!("\"{other}\" is not \"cn\", \"sha1\" or \"sha256\""),
                            );
                            None
                        }
                    });
                let role = self.required(&jp, j, "role", Self::role_name);
                Some(CertificateLogin {
                    authid: authid?,
                    role: role?,
                })
            }
        };
        let principals = if from_certificate.is_some() && !obj.contains_key("principals") {
            BTreeMap::new()
        } else {
            self.principals(path, obj, "principals", |l, p, o| {
                l.keys(p, o, &[("certificate-sha1", Key::Read), ("role", Key::Read)]);
                let sha1 = l.required(p, o, "certificate-sha1", |l, fp, v| {
                    let s = l.string(fp, v)?;
                    match hex(&s, true).and_then(|k| <[u8; 20]>::try_from(k).ok()) {
                        Some(k) => Some(k),
                        None => {
                            l.error(
                                fp,
                                format!("\"{s}\" is not a SHA-1 fingerprint (20 hex bytes, `:` between them allowed)"),
                            );
                            None
                        }
                    }
                });
                let role = l.principal_role(p, o);
                Some(TlsPrincipal {
                    certificate_sha1: sha1?,
                    role: role.ok()?,
                })
            })?
        };
        Some(TlsAuth::Static {
            principals,
            from_certificate,
        })
    }

    /// `cookie` of a WebSocket service: cookie tracking.
    pub(super) fn cookie(&mut self, path: &str, v: &Value) -> Option<CookieConfig> {
        let obj = self.object(path, v)?;
        self.keys(
            path,
            obj,
            &[
                ("name", Key::Read),
                ("length", Key::Read),
                ("max_age", Key::Read),
                ("store", Key::Read),
                ("secure", Key::Read),
                ("http_strict", Key::Read),
                ("same_site", Key::Read),
            ],
        );
        let mut c = CookieConfig::default();
        let name = self.optional(path, obj, "name", |l, p, v| {
            let n = l.string(p, v)?;
            if !is_cookie_name(&n) {
                l.error(
                    p,
                    format!("invalid cookie name \"{n}\" (a-z, then a-z, 0-9 and _; at least 2 characters)"),
                );
                return None;
            }
            Some(n.into_owned())
        });
        let length = self.optional(path, obj, "length", |l, p, v| l.size(p, v, 6, 64));
        let max_age = self.optional(path, obj, "max_age", |l, p, v| {
            l.uint(p, v, 1, MAX_COOKIE_AGE_S)
        });
        let store = self.optional(path, obj, "store", Self::cookie_store);
        let same_site = self.optional(path, obj, "same_site", |l, p, v| {
            match l.string(p, v)?.as_ref() {
                "Strict" => Some(SameSite::Strict),
                "Lax" => Some(SameSite::Lax),
                "None" => Some(SameSite::None),
                other => {
                    l.error(
                        p,
                        format!("\"{other}\" is not \"Strict\", \"Lax\" or \"None\""),
                    );
                    None
                }
            }
        });
        if let Some(n) = name.ok()? {
            c.name = n;
        }
        if let Some(n) = length.ok()? {
            c.length = n;
        }
        if let Some(n) = max_age.ok()? {
            c.max_age_s = n;
        }
        if let Some(s) = store.ok()? {
            c.store = s;
        }
        c.same_site = same_site.ok()?;
        c.secure = self.opt_bool(path, obj, "secure").unwrap_or(false);
        c.http_only = self.opt_bool(path, obj, "http_strict").unwrap_or(false);
        Some(c)
    }

    fn cookie_store(&mut self, path: &str, v: &Value) -> Option<CookieStore> {
        let obj = self.object(path, v)?;
        let t = self.required_str(path, obj, "type")?;
        match &*t {
            "memory" => {
                self.keys(path, obj, &[("type", Key::Read)]);
                Some(CookieStore::Memory)
            }
            "file" => {
                self.keys(
                    path,
                    obj,
                    &[
                        ("type", Key::Read),
                        ("filename", Key::Read),
                        ("purge_on_startup", Key::Read),
                    ],
                );
                let file = self.required(path, obj, "filename", Self::node_path)?;
                Some(CookieStore::File {
                    path: file,
                    purge_on_startup: self
                        .opt_bool(path, obj, "purge_on_startup")
                        .unwrap_or(false),
                })
            }
            // Crossbar's LMDB store: Junction's file store, in that directory.
            "database" => {
                self.keys(
                    path,
                    obj,
                    &[
                        ("type", Key::Read),
                        ("path", Key::Read),
                        ("purge_on_startup", Key::Read),
                        ("maxsize", Key::Warn(LMDB_TUNING)),
                        ("readonly", Key::Warn(LMDB_TUNING)),
                        ("sync", Key::Warn(LMDB_TUNING)),
                    ],
                );
                let dir = self.required(path, obj, "path", Self::node_path)?;
                let file = dir.join(COOKIE_FILE);
                self.warn(
                    &child(path, "type"),
                    &format!(
                        "read as Junction's \"file\" cookie store: logins persist in {} \
                         (an LMDB database in that directory is not read)",
                        file.display()
                    ),
                );
                Some(CookieStore::File {
                    path: file,
                    purge_on_startup: self
                        .opt_bool(path, obj, "purge_on_startup")
                        .unwrap_or(false),
                })
            }
            other => {
                self.error(
                    &child(path, "type"),
                    format!("\"{other}\" is not \"memory\", \"file\" or \"database\""),
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_decodes_with_and_without_colons() {
        assert_eq!(hex("0aFF", false), Some(vec![0x0a, 0xff]));
        assert_eq!(hex("0a:ff", true), Some(vec![0x0a, 0xff]));
        assert_eq!(hex("0a:ff", false), None);
        assert_eq!(hex("abc", false), None);
        assert_eq!(hex("zz", false), None);
        assert_eq!(hex("", false), Some(vec![]));
    }

    #[test]
    fn cookie_names_follow_crossbar() {
        assert!(is_cookie_name("cbtid"));
        assert!(is_cookie_name("a_1"));
        assert!(!is_cookie_name("a"));
        assert!(!is_cookie_name("Cb"));
        assert!(!is_cookie_name("1a"));
    }
}
