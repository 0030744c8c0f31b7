//! Authentication settings of a WAMP service (a `websocket` or `rawsocket`
//! transport, a websocket path of a `web` transport, the options of an MQTT
//! service): the transport's `auth` object in Crossbar's format, one entry
//! per method, each `static` (principals in the config) or `dynamic` (a
//! procedure that decides). Also WebSocket cookie tracking (`cookie`), which
//! cookie authentication builds on, and [`Secret`], the type of every secret
//! the config holds.
//!
//! Only types live here; `load/auth.rs` reads them, `support.rs` says which
//! ones the runtime uses yet.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

pub use crate::proto::auth::AuthLimits;

/// A secret from the config: a ticket, a WAMP-CRA secret, an HTTP bridge
/// signing secret, a SCRAM key. Its `Debug` never shows the value, so a
/// logged or printed config does not leak it; [`Secret::expose`] gives it to
/// the code that checks credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<Vec<u8>>) -> Secret {
        Secret(value.into())
    }

    /// The secret's bytes (UTF-8 text for tickets and passwords).
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Authentication methods a WAMP service accepts (Crossbar's `auth` object).
///
/// Without an `auth` object (or with `auth: {}`) the loader gives
/// [`AuthConfig::default`]: anonymous with role `anonymous`, as Crossbar does
/// when no authentication is configured. A client offering several methods
/// gets the first one of its own list that is configured here.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthConfig {
    /// `anonymous`: anyone may join, with a fixed role or as a dynamic authenticator says.
    pub anonymous: Option<AnonymousAuth>,
    /// `ticket`: a shared secret (password) sent in AUTHENTICATE.
    pub ticket: Option<TicketAuth>,
    /// `wampcra`: HMAC challenge-response over a (possibly salted) secret.
    pub wampcra: Option<WampCraAuth>,
    /// `scram`: SCRAM with Argon2id or PBKDF2 (the router stores derived keys only).
    pub scram: Option<ScramAuth>,
    /// `cryptosign`: Ed25519 public keys.
    pub cryptosign: Option<CryptosignAuth>,
    /// `tls`: the client's TLS certificate.
    pub tls: Option<TlsAuth>,
    /// `cookie`: a later connection presenting the cookie handed out on an
    /// earlier successful login is authenticated as that login (needs cookie
    /// tracking, [`CookieConfig`], on the same WebSocket service).
    pub cookie: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            anonymous: Some(AnonymousAuth::Static {
                role: "anonymous".to_owned(),
                authid: None,
            }),
            ..AuthConfig::none()
        }
    }
}

impl AuthConfig {
    /// No method at all (every login is refused); the start for an `auth`
    /// object that lists methods.
    pub fn none() -> AuthConfig {
        AuthConfig {
            anonymous: None,
            ticket: None,
            wampcra: None,
            scram: None,
            cryptosign: None,
            tls: None,
            cookie: false,
        }
    }

    /// The role of static anonymous authentication, if configured.
    pub fn anonymous_role(&self) -> Option<&str> {
        match &self.anonymous {
            Some(AnonymousAuth::Static { role, .. }) => Some(role),
            _ => None,
        }
    }

    /// `(method name, dynamic authenticator)` of every configured method,
    /// in Crossbar's documentation order; `None` for static ones and cookie.
    pub fn methods(&self) -> Vec<(&'static str, Option<&DynamicAuth>)> {
        let listed: [(&'static str, Option<Option<&DynamicAuth>>); 6] = [
            (
                "anonymous",
                self.anonymous.as_ref().map(|m| match m {
                    AnonymousAuth::Dynamic(d) => Some(d),
                    AnonymousAuth::Static { .. } => None,
                }),
            ),
            (
                "ticket",
                self.ticket.as_ref().map(|m| match m {
                    TicketAuth::Dynamic(d) => Some(d),
                    TicketAuth::Static { .. } => None,
                }),
            ),
            (
                "wampcra",
                self.wampcra.as_ref().map(|m| match m {
                    WampCraAuth::Dynamic(d) => Some(d),
                    WampCraAuth::Static { .. } => None,
                }),
            ),
            (
                "scram",
                self.scram.as_ref().map(|m| match m {
                    ScramAuth::Dynamic(d) => Some(d),
                    ScramAuth::Static { .. } => None,
                }),
            ),
            (
                "cryptosign",
                self.cryptosign.as_ref().map(|m| match m {
                    CryptosignAuth::Dynamic(d) => Some(d),
                    CryptosignAuth::Static { .. } => None,
                }),
            ),
            (
                "tls",
                self.tls.as_ref().map(|m| match m {
                    TlsAuth::Dynamic(d) => Some(d),
                    TlsAuth::Static { .. } => None,
                }),
            ),
        ];
        let mut out: Vec<(&'static str, Option<&DynamicAuth>)> = listed
            .into_iter()
            .filter_map(|(name, m)| m.map(|d| (name, d)))
            .collect();
        if self.cookie {
            out.push(("cookie", None));
        }
        out
    }
}

/// A dynamic authenticator: a procedure the router calls for each login
/// (`"type": "dynamic"`). It answers a role, or a dict with `role`, `authid`,
/// `realm`, `extra` (and the method's secret or public key), or an error (deny).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynamicAuth {
    /// `authenticator`: the procedure URI.
    pub authenticator: String,
    /// `authenticator-realm`: the realm the procedure is registered on;
    /// `None`: the realm the client asked for (Crossbar's default).
    pub realm: Option<String>,
    /// `authenticator-role`: the role the router calls the procedure with;
    /// `None`: the role of the session being authenticated (Crossbar's default).
    pub role: Option<String>,
    /// `default-role`: the role given when the authenticator's answer names none.
    pub default_role: Option<String>,
}

/// `auth.anonymous`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnonymousAuth {
    /// Everyone joins with `role`.
    Static {
        /// `role`, default `anonymous`.
        role: String,
        /// `authid` given to every anonymous session; `None`: a random one.
        authid: Option<String>,
    },
    /// A dynamic authenticator decides (it gets no credentials).
    Dynamic(DynamicAuth),
}

/// `auth.ticket`.
#[derive(Debug, Clone, PartialEq)]
pub enum TicketAuth {
    /// Principals by authid.
    Static {
        /// `principals`: authid → ticket and role.
        principals: BTreeMap<String, TicketPrincipal>,
        /// `junction.password_file`: more principals, from a mosquitto
        /// password file (Junction extension).
        password_file: Option<PasswordFile>,
    },
    /// The authenticator gets the ticket and decides.
    Dynamic(DynamicAuth),
}

/// Principals from a mosquitto password file (`mosquitto_passwd`), read
/// when the config is loaded (so a reload reads it again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordFile {
    /// The file, resolved against the node directory.
    pub path: std::path::PathBuf,
    /// `role`: the role of every user in it.
    pub role: String,
    /// The users and their hashes, in the file's order.
    pub users: Vec<(String, crate::proto::auth::mosquitto::MosquittoHash)>,
}

/// A static ticket principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketPrincipal {
    /// `ticket`: the expected secret.
    pub ticket: Secret,
    /// `role`. Crossbar refuses the login of a principal without one.
    pub role: Option<String>,
}

/// `auth.wampcra`.
#[derive(Debug, Clone, PartialEq)]
pub enum WampCraAuth {
    /// Users by authid.
    Static {
        /// `users`: authid → secret and role.
        users: BTreeMap<String, WampCraUser>,
    },
    /// The authenticator returns the user's secret (and salt parameters).
    Dynamic(DynamicAuth),
}

/// A static WAMP-CRA user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WampCraUser {
    /// `secret`: the key of the HMAC (or, salted, the password the key is derived from).
    pub secret: Secret,
    /// `role`. Crossbar refuses the login of a user without one.
    pub role: Option<String>,
    /// `salt`, `iterations`, `keylen`: PBKDF2 parameters sent in the
    /// CHALLENGE; the HMAC key is then PBKDF2-SHA256(secret, salt).
    pub salt: Option<WampCraSalt>,
}

/// Salted WAMP-CRA: the PBKDF2 parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WampCraSalt {
    /// `salt`, as the text the client gets.
    pub salt: String,
    /// `iterations`.
    pub iterations: u32,
    /// `keylen`: derived key length in bytes.
    pub keylen: u32,
}

/// `auth.scram`.
#[derive(Debug, Clone, PartialEq)]
pub enum ScramAuth {
    /// Principals by authid.
    Static {
        /// `principals`: authid → derived keys.
        principals: BTreeMap<String, ScramPrincipal>,
    },
    /// The authenticator returns the principal's parameters and keys.
    Dynamic(DynamicAuth),
}

/// Key derivation function of a SCRAM principal (`kdf`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScramKdf {
    /// `argon2id-13`: Argon2id, version 0x13.
    Argon2id13,
    /// `pbkdf2`: PBKDF2-HMAC-SHA256.
    Pbkdf2,
}

/// A static SCRAM principal: only keys derived from the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramPrincipal {
    /// `kdf`.
    pub kdf: ScramKdf,
    /// `iterations` (Argon2id time cost, or PBKDF2 rounds).
    pub iterations: u32,
    /// `memory`: Argon2id memory cost in KiB (unused by PBKDF2).
    pub memory: u32,
    /// `salt`, decoded from hex.
    pub salt: Vec<u8>,
    /// `stored-key`, decoded from hex (32 bytes).
    pub stored_key: Secret,
    /// `server-key`, decoded from hex (32 bytes).
    pub server_key: Secret,
    /// `role`.
    pub role: Option<String>,
}

/// `auth.cryptosign`.
#[derive(Debug, Clone, PartialEq)]
pub enum CryptosignAuth {
    /// Principals by authid.
    Static {
        /// `principals`: authid → authorized keys.
        principals: BTreeMap<String, CryptosignPrincipal>,
    },
    /// The authenticator gets the client's public key and decides.
    Dynamic(DynamicAuth),
}

/// A static Cryptosign principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CryptosignPrincipal {
    /// `authorized_keys`: Ed25519 public keys (decoded from 64 hex digits).
    pub authorized_keys: Vec<[u8; 32]>,
    /// `role`.
    pub role: Option<String>,
    /// `realm`: the realm this principal joins whatever it asked for.
    pub realm: Option<String>,
}

/// `auth.tls`: authentication by the client's TLS certificate (needs an
/// `endpoint.tls` with `ca_certificates`).
#[derive(Debug, Clone, PartialEq)]
pub enum TlsAuth {
    /// Certificates listed in the config, and (Junction extension) any
    /// certificate the CA vouches for.
    Static {
        /// `principals`: authid → certificate fingerprint and role.
        principals: BTreeMap<String, TlsPrincipal>,
        /// Junction extension `"junction": {"authid": ..., "role": ...}`:
        /// a verified certificate not listed in `principals` logs in with
        /// the authid taken from it and this role. `None`: only listed ones.
        from_certificate: Option<CertificateLogin>,
    },
    /// The authenticator gets the certificate's details and decides.
    Dynamic(DynamicAuth),
}

/// A static TLS principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsPrincipal {
    /// `certificate-sha1`: SHA-1 fingerprint of the client certificate.
    pub certificate_sha1: [u8; 20],
    /// `role`.
    pub role: Option<String>,
}

/// Junction extension of static TLS authentication: log in any certificate
/// the transport's `ca_certificates` verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateLogin {
    /// Where the authid comes from.
    pub authid: CertificateAuthid,
    /// The role given.
    pub role: String,
}

/// What of a client certificate becomes the authid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateAuthid {
    /// `"cn"`: the subject's common name.
    CommonName,
    /// `"sha1"`: the SHA-1 fingerprint, as colon-separated upper-case hex (Crossbar's spelling).
    Sha1,
    /// `"sha256"`: the SHA-256 fingerprint, as colon-separated upper-case hex.
    Sha256,
}

/// Default for [`AuthSettings::authenticator_timeout_ms`]: 30 s. Crossbar
/// waits forever; authenticators that call out to other services (Crossbar's
/// own tests use one that answers after 10 s) need more than a few seconds.
pub const DEFAULT_AUTHENTICATOR_TIMEOUT_MS: u64 = 30_000;
/// Default for [`AuthSettings::failed_login_burst`].
pub const DEFAULT_FAILED_LOGIN_BURST: u32 = 10;
/// Default for [`AuthSettings::failed_logins_per_minute`].
pub const DEFAULT_FAILED_LOGINS_PER_MINUTE: u32 = 30;
/// Default for [`AuthSettings::throttle_delay_ms`].
pub const DEFAULT_THROTTLE_DELAY_MS: u64 = 1_000;

/// Router-wide authentication settings (Junction extension `junction.auth`):
/// how long the router waits for dynamic authenticators and authorizers, the
/// per-address limit on failed logins, and the size limits of what clients
/// send while they authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSettings {
    /// `authenticator_timeout`: milliseconds the router waits for a dynamic
    /// authenticator's or authorizer's answer (the CALL timeout the dealer
    /// enforces); a login then fails, an action is denied.
    pub authenticator_timeout_ms: u64,
    /// `failed_login_burst`: failed logins one source address may have
    /// before it is throttled (0: no limit). The bucket refills at
    /// [`failed_logins_per_minute`](Self::failed_logins_per_minute).
    pub failed_login_burst: u32,
    /// `failed_logins_per_minute`: refill rate of the failed-login bucket.
    pub failed_logins_per_minute: u32,
    /// `throttle_delay`: milliseconds a throttled address waits for its
    /// ABORT (0: refused at once).
    pub throttle_delay_ms: u64,
    /// Size limits (`max_authid_len`, `max_ticket_len`, ...).
    pub limits: AuthLimits,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            authenticator_timeout_ms: DEFAULT_AUTHENTICATOR_TIMEOUT_MS,
            failed_login_burst: DEFAULT_FAILED_LOGIN_BURST,
            failed_logins_per_minute: DEFAULT_FAILED_LOGINS_PER_MINUTE,
            throttle_delay_ms: DEFAULT_THROTTLE_DELAY_MS,
            limits: AuthLimits::default(),
        }
    }
}

/// Default cookie name (Crossbar's).
pub const DEFAULT_COOKIE_NAME: &str = "cbtid";
/// Default cookie ID length in characters (Crossbar's).
pub const DEFAULT_COOKIE_LENGTH: usize = 24;
/// Default cookie lifetime: 7 days (what Crossbar's code uses; its docs say one day).
pub const DEFAULT_COOKIE_MAX_AGE_S: u64 = 7 * 86_400;

/// Cookie tracking of a WebSocket service (Crossbar's `cookie` object on a
/// `websocket` transport or a web transport's websocket path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieConfig {
    /// `name`: the cookie's name (default `cbtid`).
    pub name: String,
    /// `length`: characters of the random cookie ID (6 – 64, default 24).
    pub length: usize,
    /// `max_age`: lifetime in seconds (default 7 days).
    pub max_age_s: u64,
    /// `store`: where cookies live (default memory).
    pub store: CookieStore,
    /// `secure`: the cookie gets `Secure` (default false).
    pub secure: bool,
    /// `http_strict`: the cookie gets `HttpOnly` (default false).
    pub http_only: bool,
    /// `same_site`: the cookie's `SameSite` attribute (default none sent).
    pub same_site: Option<SameSite>,
}

impl Default for CookieConfig {
    fn default() -> Self {
        CookieConfig {
            name: DEFAULT_COOKIE_NAME.to_owned(),
            length: DEFAULT_COOKIE_LENGTH,
            max_age_s: DEFAULT_COOKIE_MAX_AGE_S,
            store: CookieStore::Memory,
            secure: false,
            http_only: false,
            same_site: None,
        }
    }
}

/// The cookie store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CookieStore {
    /// `"type": "memory"`: gone at restart.
    Memory,
    /// `"type": "file"`: an append-only file that survives restarts.
    File {
        /// `filename`, resolved against the node directory.
        path: PathBuf,
        /// `purge_on_startup`: start with an empty store.
        purge_on_startup: bool,
    },
}

/// The cookie's `SameSite` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    /// `Strict`.
    Strict,
    /// `Lax`.
    Lax,
    /// `None`.
    None,
}

impl SameSite {
    /// The attribute value as sent.
    pub fn as_str(self) -> &'static str {
        match self {
            SameSite::Strict => "Strict",
            SameSite::Lax => "Lax",
            SameSite::None => "None",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_in_debug() {
        let p = TicketPrincipal {
            ticket: Secret::new("hunter2"),
            role: Some("user".into()),
        };
        let text = format!("{p:?} {p:#?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("<redacted>"), "{text}");
        assert_eq!(p.ticket.expose(), b"hunter2");
    }

    #[test]
    fn default_is_anonymous_and_methods_lists_what_is_set() {
        let a = AuthConfig::default();
        assert_eq!(a.anonymous_role(), Some("anonymous"));
        assert_eq!(a.methods(), vec![("anonymous", None)]);
        let d = DynamicAuth {
            authenticator: "com.auth".into(),
            realm: None,
            role: None,
            default_role: None,
        };
        let b = AuthConfig {
            ticket: Some(TicketAuth::Dynamic(d.clone())),
            cookie: true,
            ..AuthConfig::none()
        };
        assert_eq!(b.anonymous_role(), None);
        assert_eq!(b.methods(), vec![("ticket", Some(&d)), ("cookie", None)]);
    }
}
