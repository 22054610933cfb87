//! systemd's notify protocol (`Type=notify`): `READY=1`, `STATUS=...`,
//! `WATCHDOG=1`, `STOPPING=1` as datagrams to `$NOTIFY_SOCKET`. A few lines of
//! std instead of a crate: the protocol is one datagram per message. Without
//! `$NOTIFY_SOCKET` (by hand, in tests) every call does nothing.

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

pub struct Notifier {
    socket: Option<(UnixDatagram, String)>,
    /// Half of `$WATCHDOG_USEC`, as systemd advises; `None`: no watchdog.
    watchdog_every: Option<Duration>,
    last_fed: Instant,
}

impl Notifier {
    pub fn from_env() -> Notifier {
        let socket = std::env::var("NOTIFY_SOCKET")
            .ok()
            .filter(|s| !s.is_empty())
            .and_then(|s| UnixDatagram::unbound().ok().map(|u| (u, s)));
        // `$WATCHDOG_PID`, when set, must be us.
        let ours = std::env::var("WATCHDOG_PID")
            .ok()
            .is_none_or(|p| p.trim() == std::process::id().to_string());
        let watchdog_every = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|u| u.trim().parse::<u64>().ok())
            .filter(|u| *u > 0 && ours)
            .map(|u| Duration::from_micros(u / 2));
        Notifier {
            socket,
            watchdog_every,
            last_fed: Instant::now() - Duration::from_secs(3600),
        }
    }

    pub fn send(&self, msg: &str) {
        let Some((sock, path)) = &self.socket else {
            return;
        };
        let r = if let Some(name) = path.strip_prefix('@') {
            use std::os::linux::net::SocketAddrExt;
            std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
                .and_then(|a| sock.send_to_addr(msg.as_bytes(), &a))
        } else {
            sock.send_to(msg.as_bytes(), path)
        };
        if let Err(e) = r {
            crate::log::debug(&format!("cannot notify systemd: {e}"));
        }
    }

    /// Feed the watchdog if half its period has passed.
    pub fn feed(&mut self) {
        if let Some(every) = self.watchdog_every
            && self.last_fed.elapsed() >= every
        {
            self.send("WATCHDOG=1");
            self.last_fed = Instant::now();
        }
    }
}
