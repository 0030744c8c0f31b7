//! Sessions: the links of one shard, the state machine each link goes
//! through, and authentication.
//!
//! ```text
//!              HELLO                 CHALLENGE sent            WELCOME sent
//! Connected ─────────► Authenticating ─────────► Challenged ─────────► Established
//!     ▲   (authenticator decides now or later)  (AUTHENTICATE)              │
//!     └────────────────────────── GOODBYE exchanged ────────────────────────┘
//! ABORT, a protocol violation, a denied login, a slow consumer or shutdown
//! close the link from any state (`Link::closing`).
//! ```
//!
//! - `links.rs`: `Links`, the table of links and sessions, and the one
//!   place that encodes and queues what is sent to them;
//! - `authn/`: the [`Authenticator`](authn::Authenticator) seam and its methods;
//! - `hello.rs`: HELLO, CHALLENGE/AUTHENTICATE, WELCOME, GOODBYE, ABORT:
//!   the transitions above, driven by `Sessions`;
//! - `throttle.rs`: the per-address limit on failed logins.
//!
//! This folder imports the core's `api`, `outbox`, `cluster` and `realm`
//! parts; nothing of the broker, the dealer or the meta API (they build on it).

pub mod authn;
mod hello;
mod links;
mod oversize;
pub mod peer;
mod throttle;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::task::Waker;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use ahash::AHashMap;

use self::authn::{AuthCall, AuthJob, Challenged, Methods, Ticket};
pub use self::links::{EventOut, FrontCache};
pub(crate) use self::links::{Links, Sent};
use self::throttle::{Source, Throttle};
use crate::config::TransportConfig;
use crate::config::auth::AuthSettings;
use crate::core::api::{LinkId, LinkInfo, Output};
use crate::core::cluster::RealmIdx;
use crate::proto::uri::MatchPolicy;
use crate::proto::{Dict, Message, RegistrationId, SessionId, SubscriptionId, Value};

/// A map keyed by IDs the router itself assigns (subscription, registration
/// and invocation IDs). Peers cannot choose these keys, so a fixed-key hasher
/// is safe, and it saves each map the 32 octets of a random hasher state.
pub(crate) type IdMap<K, V> =
    std::collections::HashMap<K, V, std::hash::BuildHasherDefault<ahash::AHasher>>;

/// A session's subscriptions or registrations: allocated at the first,
/// freed with the last (most held sessions have none: a pointer instead of
/// a map's 32 octets).
#[derive(Debug)]
pub(crate) struct IdTable<K, V>(Option<Box<IdMap<K, V>>>);

impl<K, V> Default for IdTable<K, V> {
    fn default() -> Self {
        IdTable(None)
    }
}

impl<K: std::hash::Hash + Eq, V> IdTable<K, V> {
    /// Adds (or replaces) `k`.
    pub fn insert(&mut self, k: K, v: V) -> Option<V> {
        self.0.get_or_insert_default().insert(k, v)
    }

    /// Removes `k`; the map goes with its last entry.
    pub fn remove(&mut self, k: &K) -> Option<V> {
        let m = self.0.as_mut()?;
        let v = m.remove(k);
        if m.is_empty() {
            self.0 = None;
        }
        v
    }

    /// The value of `k`, if in.
    pub fn get(&self, k: &K) -> Option<&V> {
        self.0.as_ref().and_then(|m| m.get(k))
    }

    /// Whether `k` is in.
    pub fn contains_key(&self, k: &K) -> bool {
        self.0.as_ref().is_some_and(|m| m.contains_key(k))
    }

    /// Entries.
    pub fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |m| m.len())
    }
}

impl<K, V> IntoIterator for IdTable<K, V> {
    type Item = (K, V);
    type IntoIter = std::iter::Flatten<std::option::IntoIter<IdMap<K, V>>>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.map(|m| *m).into_iter().flatten()
    }
}

/// One link: how to reach the front end, and where its session stands.
pub(crate) struct Link {
    /// What the router sends goes here.
    pub out: Output,
    /// Transport details.
    pub info: LinkInfo,
    /// The session state machine (see the module header).
    pub phase: Phase,
}

impl Link {
    /// Set once the router asked the front end to close: no more input is
    /// processed (kept in `info`'s padding).
    pub fn closing(&self) -> bool {
        self.info.closing
    }

    /// The router asked the front end to close.
    pub fn set_closing(&mut self) {
        self.info.closing = true;
    }

    /// Largest message the peer accepts (`usize::MAX`: no limit).
    pub fn max_outbound(&self) -> usize {
        self.info.max_outbound().unwrap_or(usize::MAX)
    }
}

/// Where a link's session stands.
pub(crate) enum Phase {
    /// Waiting for HELLO (at first, and again after GOODBYE).
    Connected,
    /// HELLO received; the authenticator has not decided yet.
    Authenticating(Box<Joining>),
    /// CHALLENGE sent; waiting for AUTHENTICATE.
    Challenged(Box<(Joining, Box<dyn Challenged>)>),
    /// WELCOME sent.
    Established(Session),
}

/// What a session being authenticated keeps until WELCOME.
pub(crate) struct Joining {
    /// The realm asked for; `Err(Some(name))` when this router has none,
    /// `Err(None)` when HELLO named no realm (`null`): the login may still
    /// place the session in a realm of its own, else WELCOME is refused.
    pub realm: Result<RealmIdx, Option<String>>,
    /// The session ID it will get.
    pub id: SessionId,
    /// What the client announced in HELLO.
    pub features: Features,
    /// The decision being waited for, when one is.
    pub ticket: Option<Ticket>,
    /// `HELLO.Details.authid`, for the log of a failed login.
    pub authid: Option<String>,
    /// The method chosen, for the log.
    pub method: String,
    /// Where the login comes from, for the failed-login limit.
    pub source: Option<Source>,
}

/// A joined session (48 bytes: what only some sessions have is in one
/// box, absent while none of it is).
#[derive(Debug)]
pub(crate) struct Session {
    /// The session's global ID.
    pub id: SessionId,
    /// Its realm.
    pub realm: RealmIdx,
    /// Its role, method, provider and trust level: shared by the shard's
    /// sessions with the same four (see [`Links::auth`]).
    pub auth: Rc<Auth>,
    /// This session's subscriptions: ID → key in the realm's index.
    pub subscriptions: IdTable<SubscriptionId, (String, MatchPolicy)>,
    /// This session's registrations: ID → key.
    pub registrations: IdTable<RegistrationId, (String, MatchPolicy)>,
    /// What the client announced in HELLO, as far as the router acts on it.
    pub features: Features,
    /// The router's own session (see `core/internal.rs`): authorization
    /// lets it through, and the session meta API does not show it.
    pub trusted: bool,
    /// The authid given, the authextra and the parked requests: `None`
    /// while all three are absent (an anonymous session's authid is
    /// derived, see [`Session::authid`]).
    rare: Option<Box<SessionRare>>,
}

/// What only some sessions have (see [`Session`]).
#[derive(Debug, Default)]
struct SessionRare {
    /// The authentication ID its authentication gave, if it gave one.
    authid: Option<Box<str>>,
    /// `WELCOME.Details.authextra`, if any.
    authextra: Option<Box<Dict>>,
    /// Requests waiting for an authorization decision, oldest first; while
    /// any wait, later requests wait behind them (a session's requests are
    /// handled in order). Only deferred authorizers ever use it.
    #[allow(clippy::box_collection)]
    parked: Option<Box<std::collections::VecDeque<Message>>>,
}

impl Session {
    /// A session just joined, with no subscriptions or registrations and
    /// nothing parked; `authid_given`: the authid its authentication gave.
    pub fn new(
        id: SessionId,
        realm: RealmIdx,
        auth: Rc<Auth>,
        authid_given: Option<Box<str>>,
        authextra: Option<Dict>,
        features: Features,
        trusted: bool,
    ) -> Session {
        let rare = (authid_given.is_some() || authextra.is_some()).then(|| {
            Box::new(SessionRare {
                authid: authid_given,
                authextra: authextra.map(Box::new),
                parked: None,
            })
        });
        Session {
            id,
            realm,
            auth,
            subscriptions: IdTable::default(),
            registrations: IdTable::default(),
            features,
            trusted,
            rare,
        }
    }

    /// The authentication ID its authentication gave; `None` when it gave
    /// none: the session's authid is then derived from its ID
    /// ([`anonymous_authid`]).
    pub fn authid_given(&self) -> Option<&str> {
        self.rare.as_ref()?.authid.as_deref()
    }

    /// The session's authid.
    pub fn authid(&self) -> Cow<'_, str> {
        match self.authid_given() {
            Some(a) => Cow::Borrowed(a),
            None => Cow::Owned(anonymous_authid(self.id)),
        }
    }

    /// `WELCOME.Details.authextra`, if any.
    pub fn authextra(&self) -> Option<&Dict> {
        self.rare.as_ref()?.authextra.as_deref()
    }

    /// The requests waiting for an authorization decision, if any wait.
    pub fn parked_mut(&mut self) -> Option<&mut std::collections::VecDeque<Message>> {
        self.rare.as_mut()?.parked.as_deref_mut()
    }

    /// `msg` waits for an authorization decision (nothing else waits).
    pub fn park(&mut self, msg: Message) {
        self.rare.get_or_insert_default().parked =
            Some(Box::new(std::collections::VecDeque::from([msg])));
    }

    /// Takes the waiting requests out (none wait then); the box goes when
    /// nothing else is in it.
    pub fn take_parked(&mut self) -> Option<std::collections::VecDeque<Message>> {
        let rare = self.rare.as_mut()?;
        let parked = rare.parked.take().map(|p| *p);
        if rare.authid.is_none() && rare.authextra.is_none() {
            self.rare = None;
        }
        parked
    }
}

/// The authid of a session whose authentication gave none (anonymous):
/// 24 characters of an unambiguous alphabet in groups of four
/// (`XXXX-XXXX-XXXX-XXXX-XXXX-XXXX`), derived from the session ID with a
/// key drawn at random once per thread (a shard's sessions never leave its
/// thread). Derived, not kept: a held anonymous session saves the string's
/// allocation. Not a secret: like any authid it is shown to other sessions
/// (meta API, disclosure).
pub(crate) fn anonymous_authid(id: SessionId) -> String {
    thread_local! {
        static KEY: ahash::RandomState = ahash::RandomState::with_seeds(
            rand::random(),
            rand::random(),
            rand::random(),
            rand::random(),
        );
    }
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let (hi, lo) = KEY.with(|k| (k.hash_one((id.0, 0u8)), k.hash_one((id.0, 1u8))));
    let mut bits = (u128::from(hi) << 64) | u128::from(lo);
    let mut s = String::with_capacity(29);
    for i in 0..24 {
        if i > 0 && i % 4 == 0 {
            s.push('-');
        }
        s.push(char::from(ALPHABET[(bits & 31) as usize]));
        bits >>= 5;
    }
    s
}

/// How a session authenticated, as far as the router acts on it. Sessions
/// are many and combinations few: each shard keeps one allocation per
/// combination ([`Links::auth`]), and a session a pointer to it.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct Auth {
    /// Authentication role (permissions come from it).
    pub authrole: Rc<str>,
    /// The method that authenticated it.
    pub authmethod: Rc<str>,
    /// Who vouched for it.
    pub authprovider: Rc<str>,
    /// Trust level of the session's publications and calls: its role's
    /// (`junction.trustlevel`), else its transport's; fixed at WELCOME.
    pub trustlevel: Option<u64>,
}

impl Auth {
    /// A combination of its own (not shared; the router's own sessions).
    pub fn new(authrole: &str, authmethod: &str, authprovider: &str) -> Rc<Auth> {
        Rc::new(Auth {
            authrole: authrole.into(),
            authmethod: authmethod.into(),
            authprovider: authprovider.into(),
            trustlevel: None,
        })
    }
}

/// What a client announced in `HELLO.Details.roles.<role>.features`, as far
/// as the router acts on it. `progressive_call_results` is not among them:
/// `receive_progress` reaches every callee whose caller asked (see
/// `dealer/callee.rs`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Features(u8);

impl Features {
    /// callee: `call_canceling` (or the spelling `call_cancelling`).
    pub const CALLEE_CANCELING: u8 = 1;
    /// callee: `progressive_call_invocations`.
    pub const CALLEE_PROGRESSIVE_INVOCATIONS: u8 = 2;
    /// callee: `registration_revocation`.
    pub const CALLEE_REVOCATION: u8 = 4;
    /// caller: `progressive_call_invocations`.
    pub const CALLER_PROGRESSIVE_INVOCATIONS: u8 = 8;
    /// publisher: `payload_passthru_mode`.
    pub const PUBLISHER_PPT: u8 = 16;
    /// caller: `payload_passthru_mode`.
    pub const CALLER_PPT: u8 = 32;
    /// callee: `payload_passthru_mode`.
    pub const CALLEE_PPT: u8 = 64;

    /// Reads the features from HELLO details; anything malformed counts as absent.
    pub fn from_hello(details: &Dict) -> Features {
        let roles = details.get("roles").and_then(Value::as_dict);
        let features = |role: &str| {
            roles
                .and_then(|r| r.get(role))
                .and_then(Value::as_dict)
                .and_then(|r| r.get("features"))
                .and_then(Value::as_dict)
        };
        let on = |f: Option<&Dict>, key: &str| {
            f.and_then(|f| f.get(key))
                .and_then(Value::as_bool)
                .unwrap_or(false)
        };
        let mut bits = 0;
        let callee = features("callee");
        if on(callee, "call_canceling") || on(callee, "call_cancelling") {
            bits |= Self::CALLEE_CANCELING;
        }
        if on(callee, "progressive_call_invocations") {
            bits |= Self::CALLEE_PROGRESSIVE_INVOCATIONS;
        }
        if on(callee, "registration_revocation") {
            bits |= Self::CALLEE_REVOCATION;
        }
        let caller = features("caller");
        if on(caller, "progressive_call_invocations") {
            bits |= Self::CALLER_PROGRESSIVE_INVOCATIONS;
        }
        for (f, flag) in [
            (features("publisher"), Self::PUBLISHER_PPT),
            (caller, Self::CALLER_PPT),
            (callee, Self::CALLEE_PPT),
        ] {
            if on(f, "payload_passthru_mode") {
                bits |= flag;
            }
        }
        Features(bits)
    }

    /// Whether every bit of `flag` is set.
    pub fn has(self, flag: u8) -> bool {
        self.0 & flag == flag
    }
}

/// What the session state machine needs of the rest of its shard's core
/// (implemented by the core's shared context; the session layer does not
/// import it, so nothing here depends on the parts built on sessions).
pub(crate) trait Host {
    /// The links, to send and to change state.
    fn links(&mut self) -> &mut Links;
    /// The index of the realm called `name`, if served.
    fn realm_index(&self, name: &str) -> Option<RealmIdx>;
    /// A realm's name.
    fn realm_name(&self, realm: RealmIdx) -> &str;
    /// Whether `role` exists on `realm`.
    fn has_role(&self, realm: RealmIdx, role: &str) -> bool;
    /// The trust level configured for `role` on `realm`.
    fn role_trustlevel(&self, realm: RealmIdx, role: &str) -> Option<u64>;
    /// A new session ID, unique across shards.
    fn new_session_id(&mut self) -> SessionId;
    /// This shard's index (announced in WELCOME as `x_junction_shard`).
    fn shard_index(&self) -> u16;
    /// Ends the link for a protocol violation (ABORT, close, session ends).
    fn violation(&mut self, link: LinkId, reason: std::borrow::Cow<'static, str>);
}

/// Where the session layer reads the time (the router injects the same
/// clock as the dealer's; tests control it).
pub trait AuthClock {
    /// Monotonic time (failed-login buckets, held-back denials).
    fn now(&self) -> Instant;
    /// Wall-clock milliseconds since the Unix epoch (challenge timestamps).
    fn unix_ms(&self) -> u64;
}

/// The operating system's clocks.
struct SystemAuthClock;

impl AuthClock for SystemAuthClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn unix_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
}

/// Transports whose methods are kept built (a real router has a handful;
/// tests make one per case).
const MAX_CACHED_TRANSPORTS: usize = 64;

/// The session part of a shard's core: authentication state. (The links
/// themselves live in [`Links`], which every part uses to send.)
pub(crate) struct Sessions {
    /// Methods added by the program (beyond the transports' configs), by transport ID.
    added: AHashMap<String, Vec<Rc<dyn authn::Authenticator>>>,
    /// Each transport's methods, built on its first HELLO (keyed by the
    /// config's allocation, which the entry keeps alive).
    built: Vec<(Rc<TransportConfig>, Methods)>,
    /// Router-wide authentication settings.
    settings: AuthSettings,
    /// Authentications waiting for a decision → their link.
    pending: AHashMap<Ticket, LinkId>,
    /// Last ticket handed out.
    last_ticket: u64,
    /// Work to run off the reactor (see [`AuthJob`]).
    jobs: Vec<AuthJob>,
    /// Procedure calls authenticators asked for, to make from the router's session.
    calls: Vec<(Ticket, AuthCall)>,
    /// Failed logins per source address.
    throttle: Throttle,
    /// Denials held back for throttled addresses: (due, ticket) → (reason, message).
    delayed: BTreeMap<(Instant, Ticket), (String, String)>,
    /// Bumped when a held-back denial became the earliest deadline.
    timer_epoch: u64,
    /// The runtime's timer task, woken when `timer_epoch` changes.
    timer_waker: Option<Waker>,
    /// Time.
    clock: Box<dyn AuthClock>,
}

impl Sessions {
    /// Authentication state; each link's methods come from its own
    /// transport config (plus any added with [`Sessions::add_authenticator`]).
    pub fn new(settings: &AuthSettings) -> Sessions {
        Sessions {
            added: AHashMap::new(),
            built: Vec::new(),
            settings: settings.clone(),
            pending: AHashMap::new(),
            last_ticket: 0,
            jobs: Vec::new(),
            calls: Vec::new(),
            throttle: Throttle::new(settings),
            delayed: BTreeMap::new(),
            timer_epoch: 0,
            timer_waker: None,
            clock: Box::new(SystemAuthClock),
        }
    }

    /// Replaces the clock.
    pub fn set_clock(&mut self, clock: Box<dyn AuthClock>) {
        self.clock = clock;
    }

    /// Adds an authentication method to transport `transport` (one of the
    /// same name is replaced).
    pub fn add_authenticator(&mut self, transport: &str, a: Box<dyn authn::Authenticator>) {
        let list = self.added.entry(transport.to_owned()).or_default();
        let a: Rc<dyn authn::Authenticator> = Rc::from(a);
        list.retain(|m| m.method() != a.method());
        list.push(a);
        self.built.retain(|(t, _)| t.id != transport);
    }

    /// The methods of `transport`: its config's, then those added for its ID.
    fn methods_of(&mut self, transport: &Rc<TransportConfig>) -> Methods {
        if let Some((_, m)) = self.built.iter().find(|(t, _)| Rc::ptr_eq(t, transport)) {
            return m.clone();
        }
        let mut m = Methods::from_config(transport, &self.settings);
        for a in self.added.get(&transport.id).into_iter().flatten() {
            m.add(Rc::clone(a));
        }
        if self.built.len() >= MAX_CACHED_TRANSPORTS {
            self.built.clear();
        }
        self.built.push((Rc::clone(transport), m.clone()));
        m
    }

    /// Jobs to run off the reactor, handed to the runtime.
    pub fn take_jobs(&mut self) -> Vec<AuthJob> {
        std::mem::take(&mut self.jobs)
    }

    /// Calls to make from the router's own session, each for a ticket.
    pub fn take_calls(&mut self) -> Vec<(Ticket, AuthCall)> {
        std::mem::take(&mut self.calls)
    }

    /// Authentications in progress (tests: zero once everything settled).
    pub fn pending_count(&self) -> usize {
        self.pending.len()
    }

    /// The link's authentication is forgotten (the link is gone).
    pub fn forget(&mut self, link: LinkId, phase: &Phase) {
        let ticket = match phase {
            Phase::Authenticating(j) => j.ticket,
            Phase::Challenged(c) => c.0.ticket,
            _ => None,
        };
        if let Some(t) = ticket {
            self.pending.remove(&t);
        }
        let _ = link;
    }

    /// The earliest held-back denial.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.delayed.keys().next().map(|(at, _)| *at)
    }

    /// Changes whenever a held-back denial became the earliest deadline.
    pub fn timer_epoch(&self) -> u64 {
        self.timer_epoch
    }

    /// The waker of the runtime's timer task.
    pub fn set_timer_waker(&mut self, waker: &Waker) {
        match &self.timer_waker {
            Some(w) if w.will_wake(waker) => {}
            _ => self.timer_waker = Some(waker.clone()),
        }
    }

    /// Holds back the denial of `ticket` until `at`.
    fn delay(&mut self, at: Instant, ticket: Ticket, reason: String, message: String) {
        let earliest = self.next_deadline().is_none_or(|first| at < first);
        self.delayed.insert((at, ticket), (reason, message));
        if earliest {
            self.timer_epoch += 1;
            if let Some(w) = &self.timer_waker {
                w.wake_by_ref();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What every held session keeps in the core (issues #9 and #11):
    /// the link's box holds the session itself, so its size is what each
    /// link costs beyond its outbox and front end.
    #[test]
    fn a_held_link_stays_small() {
        let (link, session, info) = (
            std::mem::size_of::<Link>(),
            std::mem::size_of::<Session>(),
            std::mem::size_of::<LinkInfo>(),
        );
        eprintln!("Link {link} B, Session {session} B, LinkInfo {info} B");
        // TLS, HTTP request and cookie in one box, the outbound limit in
        // 32 bits next to the kind.
        assert!(info <= 40, "LinkInfo is {info} bytes");
        // One pointer for role, method, provider and trust level, one for
        // the authid given, authextra and parked requests.
        assert!(session <= 48, "Session is {session} bytes");
        // 112: the box in that size class (mimalloc's; glibc's 128), not
        // the 160 (an IPv4 peer inline in 16 bytes, the session's rare
        // parts boxed, the closing flag in `LinkInfo`'s padding).
        assert!(link <= 112, "Link is {link} bytes");
    }

    /// A session without an authid given, authextra or parked requests
    /// keeps no box; parking allocates it and taking the requests frees it
    /// unless the authid or authextra is in it.
    #[test]
    fn a_sessions_rare_box_exists_only_while_needed() {
        let auth = Auth::new("r", "anonymous", "static");
        let mut s = Session::new(
            SessionId(1),
            0,
            Rc::clone(&auth),
            None,
            None,
            Features::default(),
            false,
        );
        assert!(s.rare.is_none());
        assert_eq!(s.authid_given(), None);
        assert_eq!(s.authid(), anonymous_authid(SessionId(1)));
        assert!(s.parked_mut().is_none() && s.take_parked().is_none());
        s.park(Message::Goodbye(crate::proto::Goodbye {
            details: Dict::new(),
            reason: "x".into(),
        }));
        assert!(s.rare.is_some());
        assert_eq!(s.parked_mut().map(|p| p.len()), Some(1));
        assert_eq!(s.take_parked().map(|p| p.len()), Some(1));
        assert!(s.rare.is_none(), "freed with its last part");
        let mut s = Session::new(
            SessionId(2),
            0,
            auth,
            Some("joe".into()),
            Some(Dict::new().with("k", 1u64)),
            Features::default(),
            false,
        );
        assert_eq!(s.authid(), "joe");
        assert_eq!(
            s.authextra()
                .and_then(|d| d.get("k"))
                .and_then(Value::as_u64),
            Some(1)
        );
        s.park(Message::Goodbye(crate::proto::Goodbye {
            details: Dict::new(),
            reason: "x".into(),
        }));
        assert!(s.take_parked().is_some());
        assert_eq!(s.authid_given(), Some("joe"), "kept with the authid");
        assert!(s.rare.is_some());
    }

    /// An anonymous session's authid is derived, not kept: the same for the
    /// same session every time it is read, in the usual form, and different
    /// between sessions.
    #[test]
    fn anonymous_authids_are_stable_well_formed_and_distinct() {
        let a = anonymous_authid(SessionId(42));
        assert_eq!(a, anonymous_authid(SessionId(42)));
        assert_eq!(a.len(), 29);
        for (i, group) in a.split('-').enumerate() {
            assert!(i < 6 && group.len() == 4, "{a}");
            assert!(
                group
                    .bytes()
                    .all(|b| b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789".contains(&b))
            );
        }
        let many: std::collections::HashSet<String> =
            (1..1000).map(|i| anonymous_authid(SessionId(i))).collect();
        assert_eq!(many.len(), 999);
    }

    #[test]
    fn id_tables_allocate_with_their_first_entry_and_free_with_their_last() {
        let mut t: IdTable<u64, &str> = IdTable::default();
        assert!(t.0.is_none());
        assert_eq!(t.remove(&1), None);
        assert!(
            t.0.is_none(),
            "removing from an empty table allocates nothing"
        );
        t.insert(1, "a");
        t.insert(2, "b");
        assert!(t.contains_key(&1) && t.len() == 2);
        assert_eq!(t.remove(&1), Some("a"));
        assert!(t.0.is_some());
        assert_eq!(t.remove(&2), Some("b"));
        assert!(t.0.is_none(), "freed with the last entry");
        t.insert(3, "c");
        assert_eq!(t.into_iter().collect::<Vec<_>>(), vec![(3, "c")]);
    }
}
