//! `ccci-bridge serve`: the long-running loop under systemd (`Type=notify`).
//!
//! READY once the ledgers and the queue have been read (a corrupt one is exit
//! 2 before READY); then, until SIGTERM: webhook events as they come, a poll
//! cycle when one is due, a dispatch step every second. The watchdog is fed
//! from the loop and after every request to Gitea, so only a loop that is
//! really stuck gets restarted. Gitea in trouble never stops the loop: the
//! next cycle waits longer (exponential, with jitter, up to
//! `max_backoff_s`), one log line says when a repository goes into trouble
//! and one when it comes back.

use crate::accept;
use crate::context::Bridge;
use crate::dispatch::Dispatcher;
use crate::ledger::Ledger;
use crate::poll::{self, Cycle};
use crate::webhook::Event;
use anyhow::Result;
use ccci_core::gitea::RepoRef;
use ccci_core::notify::Notifier;
use ccci_core::{exit, ids, log, queue};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub fn serve(mut b: Bridge, stop: &AtomicBool) -> Result<i32> {
    let notifier = Rc::new(RefCell::new(Notifier::from_env()));
    {
        let n = notifier.clone();
        b.tick = Box::new(move || n.borrow_mut().feed());
    }
    let sd = b.cfg.state_dir.clone();
    let mut repos = poll::configured(&b)?;
    // Read every ledger and the queue now: corrupt state is an operator's
    // problem to see at start, not a silent reset later.
    for r in &repos {
        Ledger::load_or_start(&sd, r, &ids::now_rfc3339())?;
    }
    queue::load_all(&sd)?;
    let (tx, rx) = mpsc::channel::<Event>();
    // The listener thread lives as long as the process.
    let _listener = match &b.cfg.bridge.listen {
        Some(addr) => {
            let secret = crate::secret::load(b.cfg.bridge.webhook_secret_file.as_deref())?;
            let www = sd.join("www");
            let l = crate::listen::start(addr, secret, www, tx)?;
            log::info(&format!(
                "listening on {} for webhooks and run pages",
                l.addr
            ));
            Some(l)
        }
        None => None,
    };
    let interval = Duration::from_secs(b.cfg.bridge.poll_interval_s);
    let max_backoff = Duration::from_secs(b.cfg.bridge.max_backoff_s).max(interval);
    let org_refresh = Duration::from_secs(b.cfg.bridge.org_refresh_s.max(1));
    let mut orgs_listed: Option<Instant> = None;
    let mut health = Health::default();
    let mut failures = 0u32;
    let mut next_poll = Instant::now();
    let mut last_poll = String::from("none yet");
    let mut disp = Dispatcher::default();
    let mut reporter = crate::report::Reporter::default();
    let mut status = String::new();
    notifier.borrow().send("READY=1");
    log::info(&format!(
        "watching {} repositories and {} organisations; polling every {}s",
        repos.len(),
        b.cfg.bridge.orgs.len(),
        interval.as_secs()
    ));
    while !stop.load(Ordering::SeqCst) {
        notifier.borrow_mut().feed();
        if Instant::now() >= next_poll {
            if !b.cfg.bridge.orgs.is_empty()
                && orgs_listed.is_none_or(|t| t.elapsed() >= org_refresh)
            {
                match with_orgs(&mut b, &mut health) {
                    Some(list) => {
                        repos = list;
                        orgs_listed = Some(Instant::now());
                    }
                    None => failures += 1,
                }
            }
            let c = poll::cycle(&mut b, &repos)?;
            health.update(&c);
            // Only Gitea's own trouble slows polling down; a repository that
            // cannot be polled as configured is logged, not waited for.
            failures = if c.trouble.is_empty() {
                0
            } else {
                failures + 1
            };
            last_poll = format!(
                "{}{}",
                ids::now_rfc3339(),
                if c.trouble.is_empty() {
                    String::new()
                } else {
                    format!(" ({} in trouble)", c.trouble.len())
                }
            );
            next_poll = Instant::now() + backoff(interval, max_backoff, failures);
            reporter.deliver(&sd);
        }
        // A hand-run poll may hold the lock a while: wait for it next time
        // round instead of stopping.
        let step = match b.lock() {
            Ok(_l) => disp.step(&b.cfg)?,
            Err(e) => {
                log::warn(&format!("dispatch waits: {}", exit::one_line(&e)));
                crate::dispatch::Step::default()
            }
        };
        for (id, _) in &step.finished {
            reporter.finished(&sd, id);
        }
        let s = format!(
            "watching {} repositories; last poll {last_poll}; {} running, {} waiting{}",
            repos.len(),
            step.running,
            step.waiting,
            if failures > 0 {
                format!(
                    "; Gitea in trouble, next poll in {}s",
                    next_poll
                        .saturating_duration_since(Instant::now())
                        .as_secs()
                )
            } else {
                String::new()
            }
        );
        if s != status {
            notifier.borrow().send(&format!("STATUS={s}"));
            status = s;
        }
        let wait = next_poll
            .saturating_duration_since(Instant::now())
            .min(Duration::from_secs(1));
        if let Ok(ev) = rx.recv_timeout(wait) {
            on_event(&mut b, &repos, ev);
            while let Ok(ev) = rx.try_recv() {
                on_event(&mut b, &repos, ev);
            }
        }
    }
    notifier.borrow().send("STOPPING=1");
    if disp.children() > 0 {
        log::info(&format!(
            "stopping: asking {} runs to tear down",
            disp.children()
        ));
        let n = notifier.clone();
        disp.stop_all(Duration::from_secs(280), &mut || n.borrow_mut().feed());
        let _l = b.lock()?;
        disp.step(&b.cfg)?;
    }
    log::info("stopped");
    Ok(0)
}

/// Decide a webhook's comment right away (the poll would find it later).
fn on_event(b: &mut Bridge, repos: &[RepoRef], ev: Event) {
    let Some(repo) = repos
        .iter()
        .find(|r| r.to_string().eq_ignore_ascii_case(&ev.repo))
        .cloned()
    else {
        log::debug(&format!("webhook for unwatched repository {}", ev.repo));
        return;
    };
    let r = (|| -> Result<()> {
        let _l = b.lock()?;
        let (mut ledger, _) = Ledger::load_or_start(&b.cfg.state_dir, &repo, &ids::now_rfc3339())
            .map_err(poll::fatal_error)?;
        if let Some(d) = accept::consider(b, &repo, &mut ledger, &ev.comment)? {
            accept::record(b, &repo, &mut ledger, ev.comment.id, d)?;
        }
        Ok(())
    })();
    if let Err(e) = r {
        // The next poll decides it.
        log::warn(&format!(
            "{repo}: webhook comment {} left to the next poll: {}",
            ev.comment.id,
            exit::one_line(&e)
        ));
    }
}

fn with_orgs(b: &mut Bridge, health: &mut Health) -> Option<Vec<RepoRef>> {
    let mut all = poll::configured(b).ok()?;
    for org in b.cfg.bridge.orgs.clone() {
        match poll::org_repos(b, &org) {
            Ok(list) => {
                health.set(&format!("org {org}"), None);
                for r in list {
                    if !all.contains(&r) {
                        all.push(r);
                    }
                }
            }
            Err(e) => {
                health.set(&format!("org {org}"), Some(exit::one_line(&e)));
                return None;
            }
        }
    }
    Some(all)
}

/// The wait before the next cycle: the interval, doubled per failed cycle up
/// to `max`, plus up to a fifth more at random so that many bridges behind
/// one proxy do not come back in step.
pub fn backoff(interval: Duration, max: Duration, failures: u32) -> Duration {
    let base = interval.saturating_mul(1u32 << failures.min(16)).min(max);
    if failures == 0 {
        return base;
    }
    let r = ids::random_bytes(2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .unwrap_or(0);
    base + base / 5 * u32::from(r) / u32::from(u16::MAX)
}

/// Per repository, the trouble it is in (if any), to log changes only.
#[derive(Default)]
struct Health {
    state: BTreeMap<String, Option<String>>,
}

impl Health {
    fn update(&mut self, c: &Cycle) {
        let known: Vec<String> = self.state.keys().cloned().collect();
        for (repo, msg) in &c.trouble {
            self.set(repo, Some(msg.clone()));
        }
        for (repo, msg) in &c.broken {
            self.set(repo, Some(format!("{CONFIG}{msg}")));
        }
        for repo in known {
            if !c.trouble.contains_key(&repo)
                && !c.broken.contains_key(&repo)
                && !repo.starts_with("org ")
            {
                self.set(&repo, None);
            }
        }
    }

    fn set(&mut self, what: &str, trouble: Option<String>) {
        let class = trouble.as_deref().map(class_of);
        let before = self
            .state
            .get(what)
            .cloned()
            .flatten()
            .map(|m| class_of(&m));
        let said = trouble.as_deref().unwrap_or_default();
        match (&before, &class) {
            (None, Some(_)) if said.starts_with(CONFIG) => log::error(&format!(
                "{what}: cannot be polled as configured: {}",
                &said[CONFIG.len()..]
            )),
            (None, Some(_)) => {
                log::warn(&format!("{what}: Gitea is in trouble, backing off: {said}"))
            }
            (Some(a), Some(b)) if a != b => log::warn(&format!(
                "{what}: Gitea trouble changed: {}",
                trouble.as_deref().unwrap_or_default()
            )),
            (Some(_), None) => log::info(&format!("{what}: Gitea answers again")),
            _ => {}
        }
        match trouble {
            Some(t) => {
                self.state.insert(what.to_string(), Some(t));
            }
            None => {
                self.state.remove(what);
            }
        }
    }
}

/// Marks a repository's problem as one of configuration, not of Gitea.
const CONFIG: &str = "config: ";

/// What kind of trouble a message describes, without the parts that change
/// from request to request.
fn class_of(msg: &str) -> String {
    if let Some(i) = msg.find("HTTP ") {
        return msg[i..].chars().take(8).collect();
    }
    for k in ["no answer", "JSON we cannot read"] {
        if msg.contains(k) {
            return k.to_string();
        }
    }
    msg.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_and_jitters_within_a_fifth() {
        let (i, m) = (Duration::from_secs(10), Duration::from_secs(300));
        assert_eq!(backoff(i, m, 0), i);
        for f in 1..30 {
            let d = backoff(i, m, f);
            let base = (i * (1 << f.min(16))).min(m);
            assert!(d >= base && d <= base + base / 5, "{f}: {d:?}");
        }
    }

    #[test]
    fn trouble_classes_ignore_details() {
        assert_eq!(
            class_of("Gitea GET http://x/api/v1/repos/o/r/issues/comments: HTTP 503: busy"),
            class_of("Gitea GET http://x/api/v1/repos/o/q/issues/comments: HTTP 503")
        );
        assert_ne!(class_of("x: HTTP 503"), class_of("x: HTTP 429"));
    }
}
