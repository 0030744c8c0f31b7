//! Crash test of the store's write-ahead log: a child process (this binary,
//! re-executed with `JUNCTION_WAL_CRASH_CHILD` set) appends a stream of
//! records with a given fsync policy and prints the index of every record
//! acknowledged as durable; the parent kills it with SIGKILL at a random
//! point, reopens the log and checks that every acknowledged record is
//! there, that what is there is exactly a prefix of the stream with no
//! damaged value, and that the next open is clean. Several rounds per
//! policy on the same log, each child going on from what survived.
//!
//! A kill leaves what was written in the page cache, so under every policy
//! an acknowledged record must survive it (`never` acknowledges after the
//! write, the others after the sync). Power cuts are not simulated here; the
//! unit tests cut segments at every byte instead.
//!
//! Own `main` (no libtest harness): the child mode must not run as a test.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use junction::config::FsyncPolicy;
use junction::store::wal::{Op, Options, Wal, WalError};
use rand::{Rng, SeedableRng};

const CHILD_ENV: &str = "JUNCTION_WAL_CRASH_CHILD";
/// Puts cycle over this many keys (so there is garbage to compact).
const KEYS: u64 = 4096;
/// The list key keeps this many values.
const KEEP: u32 = 8;
const ROUNDS: usize = 4;

fn options(policy: &str) -> Options {
    let fsync = match policy {
        "always" => FsyncPolicy::Always,
        "interval" => FsyncPolicy::Interval(Duration::from_millis(5)),
        "never" => FsyncPolicy::Never,
        other => panic!("unknown policy {other}"),
    };
    Options {
        segment_size: 256 << 10,
        queue: 4096,
        ..Options::new("crash", fsync, 1 << 20)
    }
}

/// Record `i` of the stream: a put of key `p<i % KEYS>` or, every third, an
/// append to `list`; its value says `i` and is checkable byte for byte.
fn op(i: u64) -> Op<Vec<u8>> {
    let value = value(i);
    if i % 3 == 2 {
        Op::Append {
            key: b"list".to_vec(),
            keep: KEEP,
            value,
        }
    } else {
        Op::Put {
            key: put_key(i % KEYS),
            value,
        }
    }
}

fn put_key(k: u64) -> Vec<u8> {
    let mut key = b"p".to_vec();
    key.extend_from_slice(&(k as u16).to_be_bytes());
    key
}

fn value(i: u64) -> Vec<u8> {
    let len = (i.wrapping_mul(7919) % 600) as usize;
    let mut v = i.to_le_bytes().to_vec();
    v.extend((0..len).map(|n| (i as u8) ^ (n as u8) ^ 0x5a));
    v
}

/// The `i` a value says, if the value is exactly what `value(i)` makes.
fn check_value(v: &[u8]) -> Option<u64> {
    let i = u64::from_le_bytes(v.get(..8)?.try_into().ok()?);
    (value(i) == v).then_some(i)
}

/// Everything a log holds: puts by key, and the list.
#[derive(Debug, Default)]
struct Seen {
    puts: BTreeMap<Vec<u8>, u64>,
    list: Vec<u64>,
    corrupt: usize,
}

fn open(dir: &Path, policy: &str) -> (Wal<Vec<u8>>, junction::store::wal::Recovery, Seen) {
    let mut seen = Seen::default();
    let (wal, rec) = Wal::open(dir, options(policy), |k, v| match check_value(v) {
        Some(i) if k == b"list" => seen.list.push(i),
        Some(i) => {
            seen.puts.insert(k.to_vec(), i);
        }
        None => seen.corrupt += 1,
    })
    .expect("the log opens");
    (wal, rec, seen)
}

impl Seen {
    /// One past the highest record index present.
    fn next(&self) -> u64 {
        self.puts
            .values()
            .chain(&self.list)
            .max()
            .map_or(0, |m| m + 1)
    }
}

fn child(spec: &str) {
    let (dir, policy) = spec.split_once('|').expect("dir|policy");
    let (wal, _, seen) = open(Path::new(dir), policy);
    let tx = wal.sender();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut i = seen.next();
    while Instant::now() < deadline {
        let ack = Box::new(move |r: Result<(), _>| {
            if r.is_ok() {
                let _ = writeln!(std::io::stdout(), "{i}");
            }
        });
        match tx.append_acked(op(i), ack) {
            Ok(()) => i += 1,
            Err(WalError::QueueFull) => std::thread::sleep(Duration::from_micros(50)),
            Err(e) => panic!("append: {e}"),
        }
    }
    // Not reached in the test: the parent kills us long before.
    wal.close();
}

fn round(dir: &Path, policy: &str, kill_after: usize) -> (u64, u64) {
    let exe = std::env::current_exe().expect("own path");
    let mut child = Command::new(exe)
        .env(CHILD_ENV, format!("{}|{policy}", dir.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("child starts");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut acked: Option<u64> = None;
    let mut lines = 0usize;
    let mut line = String::new();
    let mut killed = false;
    loop {
        line.clear();
        if out.read_line(&mut line).expect("read") == 0 {
            break;
        }
        let i: u64 = line.trim().parse().expect("an index");
        assert!(acked.is_none_or(|a| i > a), "acks come in order");
        acked = Some(i);
        lines += 1;
        if lines == kill_after && !killed {
            child.kill().expect("SIGKILL");
            killed = true;
        }
    }
    let status = child.wait().expect("wait");
    assert!(
        killed,
        "the child exited before {kill_after} acks: {status}"
    );
    // Reopen: every acknowledged record is there, nothing else is damaged.
    let (wal, rec, seen) = open(dir, policy);
    assert_eq!(seen.corrupt, 0, "a damaged value was returned");
    let next = seen.next();
    let acked = acked.expect("acks");
    assert!(
        acked < next,
        "record {acked} was acknowledged but the log ends at {next}"
    );
    // Exactly the prefix 0..next: each key holds its latest put below
    // `next`, the list its last KEEP appends below `next`.
    let mut latest = BTreeMap::new();
    for i in (0..next).filter(|i| i % 3 != 2) {
        latest.insert(put_key(i % KEYS), i);
    }
    assert_eq!(seen.puts, latest, "the puts after a crash at {next}");
    let appends: Vec<u64> = (0..next).filter(|i| i % 3 == 2).collect();
    let want = &appends[appends.len().saturating_sub(KEEP as usize)..];
    assert_eq!(seen.list, want, "the list after a crash at {next}");
    drop(wal);
    let (_w, again, _) = open(dir, policy);
    assert!(
        again.damage.is_empty(),
        "the next open is clean: {:?}",
        again.damage
    );
    (next, rec.damage.len() as u64)
}

fn crash_test(policy: &str, rng: &mut rand::rngs::SmallRng) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut last = 0;
    for r in 0..ROUNDS {
        let kill_after = rng.random_range(50..4000);
        let (next, damaged) = round(dir.path(), policy, kill_after);
        println!(
            "  {policy} round {r}: killed after {kill_after} acks; {next} records survive, {damaged} damaged tails cut"
        );
        assert!(next >= last, "a later round lost records");
        last = next;
    }
}

fn main() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        child(&spec);
        return;
    }
    let names = [
        "wal_survives_sigkill_always",
        "wal_survives_sigkill_interval",
        "wal_survives_sigkill_never",
    ];
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        for n in names {
            println!("{n}: test");
        }
        return;
    }
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let seed: u64 = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().random());
    println!("crash test seed {seed} (set CRASH_SEED to repeat)");
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let mut passed = 0;
    for (name, policy) in names.iter().zip(["always", "interval", "never"]) {
        if !filters.is_empty() && !filters.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        println!("test {name} ...");
        crash_test(policy, &mut rng);
        println!("test {name} ... ok");
        passed += 1;
    }
    println!("\ntest result: ok. {passed} passed; 0 failed; 0 ignored; 0 measured");
}
