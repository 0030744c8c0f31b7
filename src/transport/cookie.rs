//! WebSocket cookie tracking (Crossbar's `cookie` object on a WebSocket
//! service), which cookie authentication builds on: the store of logins by
//! cookie ([`Jar`], the core's [`CookieJar`]) and what the upgrade does
//! ([`track`]: reuse the cookie the client presents if it is known, else
//! issue a new one with `Set-Cookie` on the 101 answer).
//!
//! One jar per service (transport ID, cookie name and store), shared by
//! every shard (a cookie set on one shard is presented on another) and
//! kept across reloads: a process-wide registry behind a mutex. It is
//! touched when a WebSocket connection opens and when it logs in, never on
//! the routing path.
//!
//! Only logins are stored: a cookie the router issued and that has not
//! logged in yet is not remembered, and a cookie a client presents that
//! the jar does not know is replaced by a fresh one (so nobody can plant a
//! cookie value on a victim and use it after the victim logs in). Entries
//! expire after `max_age`; the memory store holds at most
//! [`MAX_COOKIES`] (the oldest go first).
//!
//! The `file` store appends one JSON line per login (`id`, `created`,
//! `realm`, `authid`, `authrole`, `authmethod`) and reads the file back
//! when the jar is first opened (expired lines skipped; the last line of a
//! cookie wins); `purge_on_startup` empties it first. The append is a small
//! synchronous write when a session logs in.

use std::collections::{HashMap, VecDeque};
use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use rand::Rng as _;
use rand::distr::Alphanumeric;

use crate::config::auth::{CookieConfig, CookieStore, SameSite};
use crate::core::api::{CookieJar, CookieLogin, LinkCookie};
use crate::proto::http::cookie::{SameSite as CookieSameSite, SetCookie};

/// Most logins one memory store keeps.
pub const MAX_COOKIES: usize = 100_000;

/// Seconds since the Unix epoch.
fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The logins of one service's cookies.
#[derive(Debug)]
pub struct Jar {
    max_age_s: u64,
    file: Option<PathBuf>,
    inner: Mutex<Logins>,
}

#[derive(Debug, Default)]
struct Logins {
    /// Cookie ID → (created, login).
    by_id: HashMap<String, (u64, CookieLogin)>,
    /// Cookie IDs in the order they were first remembered (eviction).
    order: VecDeque<String>,
}

impl Logins {
    fn insert(&mut self, id: String, created: u64, login: CookieLogin) {
        if self.by_id.insert(id.clone(), (created, login)).is_none() {
            self.order.push_back(id);
        }
        while self.by_id.len() > MAX_COOKIES {
            match self.order.pop_front() {
                Some(old) => {
                    self.by_id.remove(&old);
                }
                None => break,
            }
        }
    }
}

/// One line of the file store.
#[derive(serde::Serialize, serde::Deserialize)]
struct Line {
    id: String,
    created: u64,
    realm: String,
    authid: String,
    authrole: String,
    authmethod: String,
}

impl Jar {
    /// A jar for `config`, reading its file when it has one.
    pub fn open(config: &CookieConfig) -> Jar {
        let mut logins = Logins::default();
        let file = match &config.store {
            CookieStore::Memory => None,
            CookieStore::File {
                path,
                purge_on_startup,
            } => {
                // A `database` store's directory may not exist yet.
                if let Some(dir) = path.parent()
                    && !dir.as_os_str().is_empty()
                    && let Err(e) = std::fs::create_dir_all(dir)
                {
                    tracing::warn!(dir = %dir.display(), error = %e, "cookie store directory");
                }
                if *purge_on_startup {
                    let _ = std::fs::write(path, b"");
                } else {
                    read_file(path, config.max_age_s, &mut logins);
                }
                Some(path.clone())
            }
        };
        Jar {
            max_age_s: config.max_age_s,
            file,
            inner: Mutex::new(logins),
        }
    }

    fn expired(&self, created: u64) -> bool {
        now_s().saturating_sub(created) >= self.max_age_s
    }
}

/// Reads the file store's lines into `logins`, skipping expired ones and
/// lines that do not parse (a torn last line after a crash).
fn read_file(path: &Path, max_age_s: u64, logins: &mut Logins) {
    let Ok(f) = std::fs::File::open(path) else {
        return;
    };
    let now = now_s();
    for line in BufReader::new(f).lines() {
        let Ok(line) = line else { break };
        let Ok(l) = serde_json::from_str::<Line>(&line) else {
            continue;
        };
        if now.saturating_sub(l.created) >= max_age_s {
            continue;
        }
        logins.insert(
            l.id,
            l.created,
            CookieLogin {
                realm: l.realm,
                authid: l.authid,
                authrole: l.authrole,
                authmethod: l.authmethod,
            },
        );
    }
}

impl CookieJar for Jar {
    fn login(&self, id: &str) -> Option<CookieLogin> {
        let inner = self.inner.lock().expect("cookie jar lock");
        let (created, login) = inner.by_id.get(id)?;
        (!self.expired(*created)).then(|| login.clone())
    }

    fn remember(&self, id: &str, login: CookieLogin) {
        let mut inner = self.inner.lock().expect("cookie jar lock");
        // The cookie's age counts from its first login (its Max-Age was
        // set when it was issued, just before).
        let created = match inner.by_id.get(id) {
            Some((c, _)) if !self.expired(*c) => *c,
            _ => now_s(),
        };
        if let Some(path) = &self.file {
            let line = Line {
                id: id.to_owned(),
                created,
                realm: login.realm.clone(),
                authid: login.authid.clone(),
                authrole: login.authrole.clone(),
                authmethod: login.authmethod.clone(),
            };
            let written = serde_json::to_string(&line)
                .map_err(std::io::Error::other)
                .and_then(|mut text| {
                    text.push('\n');
                    OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)?
                        .write_all(text.as_bytes())
                });
            if let Err(e) = written {
                tracing::warn!(file = %path.display(), error = %e, "cookie store: cannot append");
            }
        }
        inner.insert(id.to_owned(), created, login);
    }
}

/// The jar of a service: transport `transport`, tracking `config`; the same
/// one every time (every shard, every reload) for the same transport, name
/// and store.
pub fn jar(transport: &str, config: &CookieConfig) -> Arc<Jar> {
    static JARS: OnceLock<Mutex<HashMap<String, Arc<Jar>>>> = OnceLock::new();
    let key = format!(
        "{transport}\0{}\0{:?}\0{}",
        config.name, config.store, config.max_age_s
    );
    let mut jars = JARS
        .get_or_init(Default::default)
        .lock()
        .expect("cookie jars lock");
    Arc::clone(
        jars.entry(key)
            .or_insert_with(|| Arc::new(Jar::open(config))),
    )
}

/// The cookie of an upgrade on a service with tracking `config`: the one
/// the client presented (`presented`: the values of cookies with the
/// tracking name) if the jar knows it, else a new one. The `Set-Cookie`
/// field value comes with a new one (`secure` also when `tls`).
pub fn track<'a>(
    transport: &str,
    config: &CookieConfig,
    presented: impl IntoIterator<Item = &'a str>,
    tls: bool,
) -> (LinkCookie, Option<String>) {
    let jar = jar(transport, config);
    if let Some(id) = presented.into_iter().find(|id| jar.login(id).is_some()) {
        let id = id.to_owned();
        return (
            LinkCookie {
                id,
                jar: jar as Arc<dyn CookieJar>,
            },
            None,
        );
    }
    let id: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(config.length)
        .map(char::from)
        .collect();
    let mut set = SetCookie::new(&config.name, &id)
        .expect("names are checked by the config, IDs are alphanumeric")
        .max_age(i64::try_from(config.max_age_s).unwrap_or(i64::MAX));
    if config.secure || (tls && config.same_site == Some(SameSite::None)) {
        set = set.secure();
    }
    if config.http_only {
        set = set.http_only();
    }
    if let Some(s) = config.same_site {
        set = set.same_site(match s {
            SameSite::Strict => CookieSameSite::Strict,
            SameSite::Lax => CookieSameSite::Lax,
            SameSite::None => CookieSameSite::None,
        });
    }
    (
        LinkCookie {
            id,
            jar: jar as Arc<dyn CookieJar>,
        },
        Some(set.to_header_value()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login(authid: &str) -> CookieLogin {
        CookieLogin {
            realm: "realm1".into(),
            authid: authid.into(),
            authrole: "user".into(),
            authmethod: "ticket".into(),
        }
    }

    #[test]
    fn unknown_cookies_are_replaced_and_logins_are_found_again() {
        let config = CookieConfig::default();
        let (first, set) = track("cookie-test-1", &config, ["planted"], false);
        let set = set.expect("a new cookie is set");
        assert_ne!(first.id, "planted", "an unknown cookie is not adopted");
        assert_eq!(first.id.len(), config.length);
        assert!(
            set.starts_with(&format!("cbtid={}; Max-Age=604800", first.id)),
            "{set}"
        );
        first.jar.remember(&first.id, login("joe"));
        let (again, set) = track("cookie-test-1", &config, ["x", first.id.as_str()], false);
        assert_eq!(set, None);
        assert_eq!(again.id, first.id);
        assert_eq!(again.jar.login(&again.id), Some(login("joe")));
        // Another transport has its own jar.
        let (other, _) = track("cookie-test-2", &config, [first.id.as_str()], false);
        assert_ne!(other.id, first.id);
    }

    #[test]
    fn the_file_store_survives_a_restart_and_expires() {
        let dir = tempfile::tempdir().expect("tempdir");
        // In a directory not made yet (a Crossbar `database` store's).
        let path = dir.path().join("cookies.db").join("junction-cookies.jsonl");
        let config = CookieConfig {
            store: CookieStore::File {
                path: path.clone(),
                purge_on_startup: false,
            },
            ..CookieConfig::default()
        };
        Jar::open(&config).remember("abc", login("ann"));
        Jar::open(&config).remember("abc", login("bob"));
        assert_eq!(
            Jar::open(&config).login("abc"),
            Some(login("bob")),
            "last line wins"
        );
        let expired = CookieConfig {
            max_age_s: 0,
            ..config.clone()
        };
        assert_eq!(Jar::open(&expired).login("abc"), None);
        let purged = CookieConfig {
            store: CookieStore::File {
                path,
                purge_on_startup: true,
            },
            ..config
        };
        assert_eq!(Jar::open(&purged).login("abc"), None);
    }

    #[test]
    fn the_memory_store_is_bounded() {
        let mut l = Logins::default();
        for i in 0..MAX_COOKIES + 5 {
            l.insert(i.to_string(), 0, login("x"));
        }
        assert_eq!(l.by_id.len(), MAX_COOKIES);
        assert!(!l.by_id.contains_key("0"));
        assert!(l.by_id.contains_key(&(MAX_COOKIES + 4).to_string()));
    }
}
