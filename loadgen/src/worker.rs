//! A worker's side of `--procs` (see [`crate::multiproc`], the parent's):
//! whether this process is a worker, the lines it says to its parent on
//! stdout (ready, measured) and the encoding of the latency histogram it
//! hands over in its report.
//!
//! The measurement code ([`crate::stats`]) and the runner ask here; this
//! module imports neither them nor the parent's side.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::bail;
use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer as _, V2DeflateSerializer};

/// What a worker says once it is ready to measure.
pub const READY: &str = "loadgen-worker: ready";

/// What a worker says when its measured phase is over (before it closes
/// its sessions, which the router's figures must not include).
pub const MEASURED: &str = "loadgen-worker: measured";

/// Whether this process is a worker of `--procs`.
static WORKER: AtomicBool = AtomicBool::new(false);

/// Marks this process as a worker.
pub fn set_worker() {
    WORKER.store(true, Ordering::Relaxed);
}

/// Whether this process is a worker.
pub fn is_worker() -> bool {
    WORKER.load(Ordering::Relaxed)
}

/// In a worker: says it is ready and waits for the parent's go. Elsewhere
/// nothing.
///
/// # Errors
/// The parent went away.
pub fn barrier() -> anyhow::Result<()> {
    if !is_worker() {
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "{READY}")?;
    out.flush()?;
    drop(out);
    let mut line = String::new();
    if std::io::stdin().read_line(&mut line)? == 0 {
        bail!("the parent loadgen went away before the start");
    }
    Ok(())
}

/// In a worker: tells the parent the measured phase is over.
pub fn measured() {
    if is_worker() {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{MEASURED}");
        let _ = out.flush();
    }
}

/// `h` as base64 of its deflated V2 serialization.
pub fn encode_histogram(h: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h, &mut bytes)
        .expect("serializing into memory");
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The histogram [`encode_histogram`] wrote.
///
/// # Errors
/// Not base64 of a serialized histogram.
pub fn decode_histogram(s: &str) -> anyhow::Result<Histogram<u64>> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(s)?;
    let h: Histogram<u64> = Deserializer::new()
        .deserialize(&mut &bytes[..])
        .map_err(|e| anyhow::anyhow!("bad histogram: {e:?}"))?;
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_survive_the_round_trip() {
        let mut h = Histogram::<u64>::new(3).expect("histogram");
        for v in [1_000u64, 5_000, 5_000, 1_000_000] {
            h.record(v).expect("in range");
        }
        let back = decode_histogram(&encode_histogram(&h)).expect("decode");
        assert_eq!(back.len(), 4);
        assert_eq!(back.max(), h.max());
        assert_eq!(back.value_at_quantile(0.5), h.value_at_quantile(0.5));
        assert!(decode_histogram("not base64!").is_err());
    }
}
