//! systemd's notification protocol, without libsystemd: one datagram per
//! state change to the Unix socket named by `$NOTIFY_SOCKET` (a path, or an
//! abstract name written `@name`), carrying newline-separated `KEY=value`
//! lines. Junction sends `READY=1` once every listener of every shard is
//! up, `RELOADING=1` (with `MONOTONIC_USEC`) and then `READY=1` around a
//! reload, `STOPPING=1` when a drain starts, `STATUS=...` lines for
//! `systemctl status`, and `WATCHDOG=1` at half the interval systemd asks
//! for in `$WATCHDOG_USEC` — only while every shard answers (see
//! [`Watchdog`]). Without `$NOTIFY_SOCKET` every call does nothing.

use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// Where notifications go (nowhere when not started by systemd).
pub struct Notifier {
    target: Option<(UnixDatagram, SocketAddr)>,
}

impl Notifier {
    /// The notifier `$NOTIFY_SOCKET` asks for; inert when it is unset or unusable.
    pub fn from_env() -> Notifier {
        match std::env::var_os("NOTIFY_SOCKET") {
            Some(v) => match Notifier::to(&v.to_string_lossy()) {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e, "NOTIFY_SOCKET is set but unusable; no sd_notify");
                    Notifier::none()
                }
            },
            None => Notifier::none(),
        }
    }

    /// A notifier that sends nothing.
    pub fn none() -> Notifier {
        Notifier { target: None }
    }

    /// A notifier sending to `socket`: a path, or `@name` for an abstract socket.
    ///
    /// # Errors
    /// When the address is invalid or a socket cannot be made.
    pub fn to(socket: &str) -> io::Result<Notifier> {
        let addr = match socket.strip_prefix('@') {
            Some(name) => {
                use std::os::linux::net::SocketAddrExt;
                SocketAddr::from_abstract_name(name.as_bytes())?
            }
            None if socket.starts_with('/') => SocketAddr::from_pathname(socket)?,
            None => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{socket:?} is neither an absolute path nor @abstract"),
                ));
            }
        };
        let sock = UnixDatagram::unbound()?;
        Ok(Notifier {
            target: Some((sock, addr)),
        })
    }

    /// Whether notifications go anywhere.
    pub fn is_active(&self) -> bool {
        self.target.is_some()
    }

    /// Sends `state` (`KEY=value` lines); a failure is logged, never fatal.
    pub fn send(&self, state: &str) {
        if let Some((sock, addr)) = &self.target
            && let Err(e) = sock.send_to_addr(state.as_bytes(), addr)
        {
            tracing::debug!(error = %e, "sd_notify failed");
        }
    }

    /// `READY=1` with a status line.
    pub fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={status}"));
    }

    /// `RELOADING=1`, with the monotonic time systemd wants with it.
    pub fn reloading(&self) {
        self.send(&format!(
            "RELOADING=1\nMONOTONIC_USEC={}\nSTATUS=reloading the configuration",
            monotonic_usec()
        ));
    }

    /// `STOPPING=1` with a status line.
    pub fn stopping(&self, status: &str) {
        self.send(&format!("STOPPING=1\nSTATUS={status}"));
    }

    /// `WATCHDOG=1`.
    pub fn watchdog(&self) {
        self.send("WATCHDOG=1");
    }
}

/// `CLOCK_MONOTONIC` in microseconds (what `MONOTONIC_USEC` means).
fn monotonic_usec() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the valid, local timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64) * 1_000_000 + (ts.tv_nsec as u64) / 1_000
}

/// How often to ping the watchdog: half of `WATCHDOG_USEC`, if it is set
/// for this process (`WATCHDOG_PID` unset or ours).
pub fn watchdog_interval() -> Option<Duration> {
    let usec = std::env::var("WATCHDOG_USEC").ok()?;
    let pid = std::env::var("WATCHDOG_PID").ok();
    interval_for(&usec, pid.as_deref(), std::process::id())
}

fn interval_for(usec: &str, pid: Option<&str>, me: u32) -> Option<Duration> {
    if let Some(p) = pid
        && p.trim().parse::<u32>().ok() != Some(me)
    {
        return None;
    }
    let usec: u64 = usec.trim().parse().ok().filter(|u| *u > 0)?;
    Some(Duration::from_micros(usec / 2))
}

/// The watchdog's rule: ping systemd only if every shard answered the
/// liveness check sent at the previous tick, so a stalled shard (a reactor
/// stuck in a loop) stops the pings and systemd restarts the process.
#[derive(Debug, Default)]
pub struct Watchdog {
    /// The check sent at the last tick (0: none yet).
    sent: u64,
}

impl Watchdog {
    /// One tick: `answered(seq)` tells whether every shard answered check
    /// `seq`. Returns whether to send `WATCHDOG=1`, and the next check to send.
    pub fn tick(&mut self, answered: impl Fn(u64) -> bool) -> (bool, u64) {
        let ping = self.sent == 0 || answered(self.sent);
        self.sent += 1;
        (ping, self.sent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watchdog_interval_is_half_and_for_this_pid_only() {
        assert_eq!(
            interval_for("2000000", None, 7),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            interval_for("2000000", Some("7"), 7),
            Some(Duration::from_secs(1))
        );
        assert_eq!(interval_for("2000000", Some("8"), 7), None);
        assert_eq!(interval_for("0", None, 7), None);
        assert_eq!(interval_for("soon", None, 7), None);
    }

    #[test]
    fn a_shard_that_stops_answering_stops_the_pings() {
        let mut w = Watchdog::default();
        // Shards answered checks up to `answered`.
        let mut answered = 0;
        let mut pings = Vec::new();
        for tick in 1..=6 {
            let (ping, next) = w.tick(|seq| answered >= seq);
            pings.push(ping);
            // Shards answer the new check before the next tick, except from tick 3 on.
            if tick < 3 {
                answered = next;
            }
        }
        // The first tick pings (nothing to wait for); ticks 2 and 3 see their
        // checks answered; from tick 4 the check sent at tick 3 is unanswered.
        assert_eq!(pings, vec![true, true, true, false, false, false]);
        // The shard comes back: the next tick after it answers pings again.
        let (ping, next) = w.tick(|_| true);
        assert!(ping);
        assert_eq!(next, 7);
    }

    #[test]
    fn notifications_reach_a_datagram_socket() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("notify.sock");
        let server = UnixDatagram::bind(&path).expect("bind");
        let n = Notifier::to(path.to_str().expect("UTF-8")).expect("notifier");
        assert!(n.is_active());
        n.ready("serving");
        n.watchdog();
        let mut buf = [0u8; 256];
        let k = server.recv(&mut buf).expect("recv");
        assert_eq!(&buf[..k], b"READY=1\nSTATUS=serving");
        let k = server.recv(&mut buf).expect("recv");
        assert_eq!(&buf[..k], b"WATCHDOG=1");
        assert!(Notifier::to("relative/path").is_err());
        // Not started by systemd: nothing is sent, nothing fails.
        Notifier::none().ready("x");
    }
}
