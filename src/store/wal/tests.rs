//! Tests of the log through its files: reopen, recovery of damaged segments
//! at every byte offset, compaction, acknowledgements, the queue bound and
//! the directory lock.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use proptest::prelude::*;

use super::frame::{self, HEADER_LEN, OpCode, SegmentHeader, VERSION};
use super::*;

type Contents = BTreeMap<Vec<u8>, Vec<Vec<u8>>>;

fn opts(fsync: FsyncPolicy) -> Options {
    Options {
        name: "test".into(),
        fsync,
        max_size: 1 << 30,
        segment_size: 1 << 30,
        queue: 1024,
    }
}

fn open(dir: &Path, o: Options) -> (Wal<Vec<u8>>, Recovery, Contents) {
    let mut c = Contents::new();
    let (w, r) = Wal::open(dir, o, |k, v| {
        c.entry(k.to_vec()).or_default().push(v.to_vec());
    })
    .expect("open");
    (w, r, c)
}

fn put(k: &str, v: &str) -> Op<Vec<u8>> {
    Op::Put {
        key: k.as_bytes().to_vec(),
        value: v.as_bytes().to_vec(),
    }
}

fn contents(pairs: &[(&str, &[&str])]) -> Contents {
    pairs
        .iter()
        .map(|(k, vs)| {
            (
                k.as_bytes().to_vec(),
                vs.iter().map(|v| v.as_bytes().to_vec()).collect(),
            )
        })
        .collect()
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    v.sort();
    v
}

/// Writes `n` puts `k<i>` = `v<i>` (then closes), returning the segment's
/// bytes and where each record starts in it.
fn write_puts(dir: &Path, n: usize) -> (Vec<u8>, Vec<usize>) {
    let (w, _, _) = open(dir, opts(FsyncPolicy::Never));
    let s = w.sender();
    for i in 0..n {
        s.append(put(&format!("k{i}"), &format!("v{i}")))
            .expect("queued");
    }
    w.close();
    let seg = segments(dir);
    assert_eq!(seg.len(), 1);
    let bytes = fs::read(&seg[0]).expect("read");
    let mut starts = Vec::new();
    let mut scan = frame::Scan::new(&bytes[HEADER_LEN..]);
    for (off, _) in scan.by_ref() {
        starts.push(HEADER_LEN + off);
    }
    assert_eq!(starts.len(), n);
    (bytes, starts)
}

fn puts(range: std::ops::Range<usize>) -> Contents {
    range
        .map(|i| {
            (
                format!("k{i}").into_bytes(),
                vec![format!("v{i}").into_bytes()],
            )
        })
        .collect()
}

#[test]
fn operations_survive_a_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (w, r, c) = open(dir.path(), opts(FsyncPolicy::Always));
    assert_eq!((r, c.len()), (Recovery::default(), 0));
    let s = w.sender();
    for op in [
        put("a", "1"),
        put("a", "2"),
        Op::Append {
            key: b"h".to_vec(),
            keep: 2,
            value: b"x".to_vec(),
        },
        Op::Append {
            key: b"h".to_vec(),
            keep: 2,
            value: b"y".to_vec(),
        },
        Op::Append {
            key: b"h".to_vec(),
            keep: 2,
            value: b"z".to_vec(),
        },
        put("s/1/a", "p"),
        put("s/2/a", "q"),
        put("gone", "x"),
        Op::Delete {
            key: b"gone".to_vec(),
        },
        Op::DeletePrefix {
            prefix: b"s/1/".to_vec(),
        },
    ] {
        s.append(op).expect("queued");
    }
    w.flush().expect("flush");
    let stats = w.stats();
    assert_eq!((stats.queued, stats.records_written), (10, 10));
    assert!(stats.syncs >= 1);
    w.close();
    assert!(matches!(s.append(put("late", "x")), Err(WalError::Closed)));
    let (_w, r, c) = open(dir.path(), opts(FsyncPolicy::Always));
    assert_eq!(r.records, 10);
    assert_eq!(r.live, 4);
    assert!(r.damage.is_empty());
    assert_eq!(
        c,
        contents(&[("a", &["2"]), ("h", &["y", "z"]), ("s/2/a", &["q"])])
    );
}

#[test]
fn a_torn_tail_at_every_byte_of_the_last_record_is_cut_off() {
    let src = tempfile::tempdir().expect("tempdir");
    let (bytes, starts) = write_puts(src.path(), 4);
    let last = starts[3];
    for cut in last + 1..bytes.len() {
        let dir = tempfile::tempdir().expect("tempdir");
        let seg = dir.path().join(recover::segment_name(1));
        fs::write(&seg, &bytes[..cut]).expect("write");
        let (w, r, c) = open(dir.path(), opts(FsyncPolicy::Always));
        assert_eq!(c, puts(0..3), "cut at {cut}");
        assert_eq!(
            r.damage,
            vec![Damage {
                file: seg.clone(),
                offset: last as u64,
                what: DamageKind::Torn
            }],
            "cut at {cut}"
        );
        assert_eq!(fs::metadata(&seg).expect("stat").len(), last as u64);
        // The log goes on after the cut, and the next open is clean.
        w.sender().append(put("k3", "again")).expect("queued");
        w.close();
        let (_w, r, c) = open(dir.path(), opts(FsyncPolicy::Always));
        assert!(r.damage.is_empty(), "cut at {cut}: {:?}", r.damage);
        let mut want = puts(0..3);
        want.insert(b"k3".to_vec(), vec![b"again".to_vec()]);
        assert_eq!(c, want, "cut at {cut}");
    }
}

#[test]
fn a_corrupt_record_in_the_middle_drops_the_rest_of_its_segment_only() {
    let src = tempfile::tempdir().expect("tempdir");
    let (bytes, starts) = write_puts(src.path(), 5);
    let dir = tempfile::tempdir().expect("tempdir");
    // Segment 1: records 0..5 with a flipped byte in record 2's value.
    let mut bad = bytes.clone();
    bad[starts[3] - 1] ^= 0x40;
    let seg1 = dir.path().join(recover::segment_name(1));
    fs::write(&seg1, &bad).expect("write");
    // Segment 2 (a later, intact segment) is still read.
    let mut seg2 = SegmentHeader::new(2, false).encode().to_vec();
    let s = frame::begin_record(&mut seg2, OpCode::Put, 0, b"later");
    seg2.extend_from_slice(b"ok");
    frame::finish_record(&mut seg2, s).expect("small");
    fs::write(dir.path().join(recover::segment_name(2)), &seg2).expect("write");
    let (w, r, c) = open(dir.path(), opts(FsyncPolicy::Always));
    let mut want = puts(0..2);
    want.insert(b"later".to_vec(), vec![b"ok".to_vec()]);
    assert_eq!(c, want);
    assert_eq!(
        r.damage,
        vec![Damage {
            file: seg1.clone(),
            offset: starts[2] as u64,
            what: DamageKind::Corrupt
        }]
    );
    assert_eq!(r.segments, 2);
    drop(w);
    let (_w, r, c2) = open(dir.path(), opts(FsyncPolicy::Always));
    assert!(r.damage.is_empty());
    assert_eq!(c2, want);
}

#[test]
fn empty_and_header_only_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = dir.path().join(recover::segment_name(1));
    fs::write(&empty, b"").expect("write");
    let half = dir.path().join(recover::segment_name(2));
    fs::write(&half, &SegmentHeader::new(2, false).encode()[..10]).expect("write");
    let (w, r, c) = open(dir.path(), opts(FsyncPolicy::Always));
    assert!(c.is_empty());
    assert_eq!(
        r.damage.iter().map(|d| d.what).collect::<Vec<_>>(),
        vec![
            DamageKind::Header(HeaderError::Short),
            DamageKind::Header(HeaderError::Short)
        ]
    );
    assert!(
        !empty.exists() && !half.exists(),
        "removed: they held nothing"
    );
    w.sender().append(put("a", "1")).expect("queued");
    w.close();
    // A segment that is only a header holds nothing and is fine.
    let (_w, r, c) = open(dir.path(), opts(FsyncPolicy::Always));
    assert!(r.damage.is_empty());
    assert_eq!(c, contents(&[("a", &["1"])]));
}

#[test]
fn a_segment_of_a_later_version_is_set_aside_not_read_not_deleted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ours = SegmentHeader::new(1, false).encode().to_vec();
    let s = frame::begin_record(&mut ours, OpCode::Put, 0, b"a");
    ours.extend_from_slice(b"1");
    frame::finish_record(&mut ours, s).expect("small");
    fs::write(dir.path().join(recover::segment_name(1)), &ours).expect("write");
    let mut future = SegmentHeader::new(2, true).encode();
    future[4..6].copy_from_slice(&(VERSION + 1).to_le_bytes());
    let crc = crc32c::crc32c(&future[..28]);
    future[28..].copy_from_slice(&crc.to_le_bytes());
    let mut future = future.to_vec();
    future.extend_from_slice(b"whatever a later build writes");
    let fpath = dir.path().join(recover::segment_name(2));
    fs::write(&fpath, &future).expect("write");
    let (w, r, c) = open(dir.path(), opts(FsyncPolicy::Always));
    assert_eq!(c, contents(&[("a", &["1"])]));
    assert_eq!(
        r.damage,
        vec![Damage {
            file: fpath.clone(),
            offset: 0,
            what: DamageKind::Header(HeaderError::Version(VERSION + 1))
        }]
    );
    let mut aside = fpath.into_os_string();
    aside.push(".bad");
    assert_eq!(fs::read(&aside).expect("kept"), future);
    // New segments do not reuse its number.
    w.sender().append(put("b", "2")).expect("queued");
    w.close();
    let (_w, r, c) = open(dir.path(), opts(FsyncPolicy::Always));
    assert!(r.damage.is_empty());
    assert_eq!(c, contents(&[("a", &["1"]), ("b", &["2"])]));
    assert!(Path::new(&aside).exists());
}

#[test]
fn segments_before_the_last_snapshot_and_stray_temporaries_are_removed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seg = |seq: u64, snap: bool, k: &[u8], v: &[u8]| {
        let mut b = SegmentHeader::new(seq, snap).encode().to_vec();
        let s = frame::begin_record(&mut b, OpCode::Put, 0, k);
        b.extend_from_slice(v);
        frame::finish_record(&mut b, s).expect("small");
        fs::write(dir.path().join(recover::segment_name(seq)), b).expect("write");
    };
    seg(1, false, b"old", b"x"); // compacted into 2, removal interrupted
    seg(2, true, b"a", b"snap");
    seg(3, false, b"b", b"after");
    let tmp = dir.path().join("0000000000000004.wal.tmp");
    fs::write(&tmp, b"half a snapshot").expect("write");
    let (_w, r, c) = open(dir.path(), opts(FsyncPolicy::Always));
    assert_eq!(c, contents(&[("a", &["snap"]), ("b", &["after"])]));
    assert!(r.damage.is_empty());
    assert_eq!(r.segments, 2);
    assert!(!tmp.exists());
    assert!(!dir.path().join(recover::segment_name(1)).exists());
}

#[test]
fn compaction_keeps_the_log_bounded_and_the_image_intact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = Options {
        max_size: 64 << 10,
        segment_size: 16 << 10,
        ..opts(FsyncPolicy::Never)
    };
    let (w, _, _) = open(dir.path(), o.clone());
    let s = w.sender();
    let value = vec![b'v'; 200];
    for i in 0..5000u32 {
        s.append(Op::Append {
            key: b"hist".to_vec(),
            keep: 5,
            value: [&i.to_le_bytes()[..], &value].concat(),
        })
        .expect("queued");
        s.append(Op::Put {
            key: b"retained".to_vec(),
            value: i.to_le_bytes().to_vec(),
        })
        .expect("queued");
        if i % 500 == 0 {
            w.flush().expect("flush");
            let on_disk: u64 = segments(dir.path())
                .iter()
                .map(|p| fs::metadata(p).expect("stat").len())
                .sum();
            assert!(on_disk <= (64 << 10) + (16 << 10), "log grew to {on_disk}");
        }
    }
    w.flush().expect("flush");
    assert!(w.stats().compactions > 0);
    w.close();
    let (_w, r, c) = open(dir.path(), o);
    assert!(r.damage.is_empty());
    let hist: Vec<u32> = c[&b"hist".to_vec()]
        .iter()
        .map(|v| u32::from_le_bytes(v[..4].try_into().expect("4 bytes")))
        .collect();
    assert_eq!(hist, vec![4995, 4996, 4997, 4998, 4999]);
    assert_eq!(
        c[&b"retained".to_vec()],
        vec![4999u32.to_le_bytes().to_vec()]
    );
}

#[test]
fn segments_roll_and_all_are_replayed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = Options {
        segment_size: 1024,
        ..opts(FsyncPolicy::Always)
    };
    let (w, _, _) = open(dir.path(), o.clone());
    for i in 0..300 {
        w.sender()
            .append(put(&format!("k{i}"), &format!("v{i}")))
            .expect("queued");
    }
    w.close();
    assert!(segments(dir.path()).len() > 5);
    let (_w, r, c) = open(dir.path(), o);
    assert!(r.damage.is_empty());
    assert_eq!(c, puts(0..300));
}

fn ack_channel() -> (Ack, mpsc::Receiver<Result<(), AckError>>) {
    let (tx, rx) = mpsc::channel();
    (
        Box::new(move |r| {
            let _ = tx.send(r);
        }),
        rx,
    )
}

/// Waits (bounded) until the writer has written `n` records.
fn wait_written(w: &Wal<Vec<u8>>, n: u64) {
    for _ in 0..5000 {
        if w.stats().records_written >= n {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("the writer did not write {n} records");
}

/// `interval`: written at once, acknowledged only by the sync.
#[test]
fn interval_acks_wait_for_the_sync() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (w, _, _) = open(
        dir.path(),
        opts(FsyncPolicy::Interval(Duration::from_secs(3600))),
    );
    let (ack, rx) = ack_channel();
    w.sender().append_acked(put("a", "1"), ack).expect("queued");
    wait_written(&w, 1);
    assert!(rx.try_recv().is_err(), "not acknowledged before a sync");
    assert_eq!(w.stats().syncs, 0);
    w.flush().expect("flush");
    assert_eq!(rx.try_recv(), Ok(Ok(())));
    w.close();
}

/// `always`: acknowledged after its own sync; `never`: once written, with no sync.
#[rstest::rstest]
#[case::always(FsyncPolicy::Always, 1)]
#[case::never(FsyncPolicy::Never, 0)]
fn acks_come_after_the_write_or_its_sync(#[case] policy: FsyncPolicy, #[case] syncs: u64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (w, _, _) = open(dir.path(), opts(policy));
    let (ack, rx) = ack_channel();
    w.sender().append_acked(put("a", "1"), ack).expect("queued");
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(Ok(())));
    assert_eq!(w.stats().syncs, syncs);
    w.close();
}

/// A marker is acknowledged with the records queued before it: after their
/// sync (`interval`, `always`), and at once when nothing is unsynced; it
/// writes no record.
#[test]
fn markers_wait_for_what_was_queued_before_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (w, _, _) = open(
        dir.path(),
        opts(FsyncPolicy::Interval(Duration::from_secs(3600))),
    );
    let (ack, rx) = ack_channel();
    w.sender().append(put("a", "1")).expect("queued");
    w.sender().mark_acked(ack).expect("queued");
    wait_written(&w, 1);
    std::thread::sleep(Duration::from_millis(20));
    assert!(rx.try_recv().is_err(), "not before the record's sync");
    w.flush().expect("flush");
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(Ok(())));
    // Nothing unsynced: a marker is answered at once, and costs no record.
    let (ack, rx) = ack_channel();
    w.sender().mark_acked(ack).expect("queued");
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(Ok(())));
    assert_eq!(w.stats().records_written, 1);
    w.close();
    let dir = tempfile::tempdir().expect("tempdir");
    let (w, _, _) = open(dir.path(), opts(FsyncPolicy::Always));
    let (ack, rx) = ack_channel();
    w.sender().append(put("a", "1")).expect("queued");
    w.sender().mark_acked(ack).expect("queued");
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(Ok(())));
    assert_eq!(w.stats().syncs, 1);
    w.close();
}

/// A written-marker is acknowledged once the records before it are written
/// (no sync under `interval`), after their sync under `always`.
#[rstest::rstest]
#[case::interval(FsyncPolicy::Interval(Duration::from_secs(3600)), 0)]
#[case::always(FsyncPolicy::Always, 1)]
fn written_markers_wait_for_the_write(#[case] policy: FsyncPolicy, #[case] syncs: u64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (w, _, _) = open(dir.path(), opts(policy));
    let (ack, rx) = ack_channel();
    w.sender().append(put("a", "1")).expect("queued");
    w.sender().mark_written(ack).expect("queued");
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(Ok(())));
    assert_eq!(w.stats().records_written, 1, "acknowledged after the write");
    assert_eq!(w.stats().syncs, syncs);
    w.close();
}

/// A value whose encoding waits for a signal: holds the writer still.
struct Gate {
    entered: mpsc::SyncSender<()>,
    release: std::sync::Mutex<mpsc::Receiver<()>>,
}

impl Encode for Gate {
    fn encode(&self, out: &mut Vec<u8>) {
        let _ = self.entered.send(());
        let _ = self.release.lock().expect("lock").recv();
        out.push(1);
    }
}

#[test]
fn a_full_queue_refuses_instead_of_blocking() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = Options {
        queue: 2,
        ..opts(FsyncPolicy::Never)
    };
    let (w, _) = Wal::<Gate>::open(dir.path(), o, |_, _| {}).expect("open");
    let s = w.sender();
    let (entered_tx, entered) = mpsc::sync_channel(8);
    let (release_tx, release_rx) = mpsc::channel();
    let release = std::sync::Mutex::new(release_rx);
    let gate = Gate {
        entered: entered_tx.clone(),
        release,
    };
    s.append(Op::Put {
        key: b"g".to_vec(),
        value: gate,
    })
    .expect("queued");
    entered.recv().expect("the writer holds the first");
    let more = || {
        let (_, r) = mpsc::channel();
        Op::Put {
            key: b"x".to_vec(),
            value: Gate {
                entered: entered_tx.clone(),
                release: std::sync::Mutex::new(r),
            },
        }
    };
    s.append(more()).expect("room for two");
    s.append(more()).expect("room for two");
    assert!(matches!(s.append(more()), Err(WalError::QueueFull)));
    assert_eq!(w.stats().dropped, 1);
    release_tx.send(()).expect("release");
    w.close();
}

#[test]
fn a_second_open_of_the_same_log_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (w, _, _) = open(dir.path(), opts(FsyncPolicy::Never));
    let second = Wal::<Vec<u8>>::open(dir.path(), opts(FsyncPolicy::Never), |_, _| {});
    assert!(matches!(second, Err(WalError::Locked(_))));
    w.close();
    let again = Wal::<Vec<u8>>::open(dir.path(), opts(FsyncPolicy::Never), |_, _| {});
    assert!(again.is_ok(), "free once closed");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Random appends, the log cut at a random byte: recovery yields exactly
    /// the records that were wholly before the cut, in order, and the next
    /// open is clean.
    #[test]
    fn any_cut_recovers_exactly_a_prefix(
        sizes in proptest::collection::vec(0usize..400, 1..60),
        segment_size in prop_oneof![Just(1usize << 30), 256usize..2048],
        cut_frac in 0.0f64..=1.0,
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let o = Options { segment_size: segment_size as u64, ..opts(FsyncPolicy::Never) };
        let (w, _, _) = open(dir.path(), o.clone());
        for (i, n) in sizes.iter().enumerate() {
            w.sender().append(Op::Put {
                key: (i as u32).to_be_bytes().to_vec(),
                value: vec![i as u8; *n],
            }).expect("queued");
        }
        w.close();
        // Cut the last segment; records in earlier segments are whole.
        let segs = segments(dir.path());
        let last = segs.last().expect("a segment");
        let bytes = fs::read(last).expect("read");
        let cut = HEADER_LEN + ((bytes.len() - HEADER_LEN) as f64 * cut_frac) as usize;
        fs::write(last, &bytes[..cut]).expect("truncate");
        let before: usize = segs[..segs.len() - 1]
            .iter()
            .map(|p| frame::Scan::new(&fs::read(p).expect("read")[HEADER_LEN..]).count())
            .sum();
        let in_last = frame::Scan::new(&bytes[HEADER_LEN..cut]).count();
        let (w, r, c) = open(dir.path(), o.clone());
        let want: Contents = (0..before + in_last)
            .map(|i| ((i as u32).to_be_bytes().to_vec(), vec![vec![i as u8; sizes[i]]]))
            .collect();
        prop_assert_eq!(&c, &want);
        prop_assert_eq!(r.records as usize, before + in_last);
        drop(w);
        let (_w, r, c) = open(dir.path(), o);
        prop_assert!(r.damage.is_empty());
        prop_assert_eq!(c, want);
    }
}

#[test]
fn map_turns_values_and_keeps_keys_and_tombstones() {
    let len = |v: Vec<u8>| v.len();
    assert_eq!(
        put("k", "abc").map(len),
        Op::Put {
            key: b"k".to_vec(),
            value: 3
        }
    );
    let append = Op::Append {
        key: b"h".to_vec(),
        keep: 7,
        value: b"xy".to_vec(),
    };
    assert_eq!(
        append.map(len),
        Op::Append {
            key: b"h".to_vec(),
            keep: 7,
            value: 2
        }
    );
    let delete: Op<Vec<u8>> = Op::Delete { key: b"d".to_vec() };
    assert_eq!(delete.map(len), Op::Delete { key: b"d".to_vec() });
    let prefix: Op<Vec<u8>> = Op::DeletePrefix {
        prefix: b"m".to_vec(),
    };
    assert_eq!(
        prefix.map(len),
        Op::DeletePrefix {
            prefix: b"m".to_vec()
        }
    );
}
