//! Outgoing webhooks as Gitea 1.27 sends them (docs/gitea.md, webhooks): the
//! payload is 2-space indented JSON with no trailing newline, signed with
//! HMAC-SHA256 (and SHA-1 for `X-Hub-Signature`) over its exact bytes, and
//! POSTed with every header family Gitea (or Forgejo) adds, a 5 s timeout and no
//! retry.
//!
//! Events are built while the world is locked (they show the world as it was
//! then) and queued; one worker thread delivers them in order, outside the lock,
//! and records each delivery for tests to read.

use crate::api;
use crate::http::go_escape;
use crate::state::{Comment, Pull, World};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Gitea's `[webhook] DELIVER_TIMEOUT` default.
pub const DELIVER_TIMEOUT: Duration = Duration::from_secs(5);

/// A repository webhook, subscribed to every event the fake emits.
#[derive(Debug, Clone)]
pub struct Hook {
    pub id: i64,
    pub repo_id: i64,
    pub url: String,
    /// Empty when the hook has no secret (Gitea then sends empty signatures).
    pub secret: String,
    /// A Forgejo hook: `X-Forgejo-*` headers too, no `…-Hook-Installation-Target-Type`.
    pub forgejo: bool,
}

/// One payload for one hook, as queued; every send of it gets a new delivery id.
#[derive(Debug, Clone)]
pub struct Job {
    url: String,
    secret: String,
    forgejo: bool,
    event: &'static str,
    event_type: &'static str,
    body: String,
}

impl Job {
    pub fn new(h: &Hook, event: &'static str, event_type: &'static str, body: &str) -> Job {
        Job {
            url: h.url.clone(),
            secret: h.secret.clone(),
            forgejo: h.forgejo,
            event,
            event_type,
            body: body.to_string(),
        }
    }
}

/// One delivery attempt, as sent and as answered.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub url: String,
    /// Every header sent, in the order sent.
    pub headers: Vec<(String, String)>,
    /// The exact body sent (and signed).
    pub body: String,
    /// The status the receiver answered (any, not only 2xx), or why there was
    /// no answer (refused, timed out, not an HTTP answer).
    pub outcome: Result<u16, String>,
    job: Job,
}

impl Delivery {
    /// A header's value; names match in any case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The payload, parsed.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    pub(crate) fn job(&self) -> Job {
        self.job.clone()
    }
}

/// What the worker has delivered, and how long it waits for an answer.
#[derive(Debug)]
pub struct Deliveries {
    log: Mutex<Vec<Delivery>>,
    grew: Condvar,
    timeout: Mutex<Duration>,
}

impl Deliveries {
    pub fn new() -> Arc<Deliveries> {
        Arc::new(Deliveries {
            log: Mutex::new(vec![]),
            grew: Condvar::new(),
            timeout: Mutex::new(DELIVER_TIMEOUT),
        })
    }

    pub fn log(&self) -> MutexGuard<'_, Vec<Delivery>> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set_timeout(&self, t: Duration) {
        *self.timeout.lock().unwrap_or_else(|p| p.into_inner()) = t;
    }

    /// Every delivery once there are at least `n`, or `None` at the deadline.
    pub fn wait(&self, n: usize, timeout: Duration) -> Option<Vec<Delivery>> {
        let deadline = Instant::now() + timeout;
        let mut log = self.log();
        while log.len() < n {
            let left = deadline.checked_duration_since(Instant::now())?;
            log = self
                .grew
                .wait_timeout(log, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        Some(log.clone())
    }

    /// The worker: one delivery at a time, in the order events happened; ends
    /// when the fake drops the queue.
    pub fn run(self: Arc<Self>, queue: Receiver<Job>) {
        for job in queue {
            let timeout = *self.timeout.lock().unwrap_or_else(|p| p.into_inner());
            let d = deliver(job, timeout);
            self.log().push(d);
            self.grew.notify_all();
        }
    }
}

/// Lowercase hex HMAC-SHA256 of `body` keyed with `secret`: `X-Gitea-Signature`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    hmac_hex(hmac::HMAC_SHA256, secret, body)
}

/// Lowercase hex HMAC-SHA1: what `X-Hub-Signature` carries after `sha1=`.
pub fn sign_sha1(secret: &str, body: &[u8]) -> String {
    hmac_hex(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret, body)
}

fn hmac_hex(alg: hmac::Algorithm, secret: &str, body: &[u8]) -> String {
    let tag = hmac::sign(&hmac::Key::new(alg, secret.as_bytes()), body);
    tag.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// A random (version 4) UUID, as Gitea gives each delivery.
fn uuid_v4() -> String {
    let mut b = [0u8; 16];
    if SystemRandom::new().fill(&mut b).is_err() {
        // Only uniqueness matters here: fall back to the clock.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        b = t.to_le_bytes();
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// The headers Gitea's `addDefaultHeaders` sets (Forgejo's when `forgejo`),
/// sorted as Go writes them.
fn event_headers(job: &Job, delivery: &str) -> Vec<(String, String)> {
    let (sha256, sha1) = if job.secret.is_empty() {
        (String::new(), String::new())
    } else {
        let b = job.body.as_bytes();
        (sign(&job.secret, b), sign_sha1(&job.secret, b))
    };
    let (event, kind) = (job.event, job.event_type);
    let mut h: Vec<(&str, String)> = vec![
        ("Content-Type", "application/json".into()),
        ("X-GitHub-Delivery", delivery.into()),
        ("X-GitHub-Event", event.into()),
        ("X-GitHub-Event-Type", kind.into()),
        ("X-Gitea-Delivery", delivery.into()),
        ("X-Gitea-Event", event.into()),
        ("X-Gitea-Event-Type", kind.into()),
        ("X-Gitea-Signature", sha256.clone()),
        ("X-Gogs-Delivery", delivery.into()),
        ("X-Gogs-Event", event.into()),
        ("X-Gogs-Event-Type", kind.into()),
        ("X-Gogs-Signature", sha256.clone()),
        ("X-Hub-Signature", format!("sha1={sha1}")),
        ("X-Hub-Signature-256", format!("sha256={sha256}")),
    ];
    if job.forgejo {
        h.extend([
            ("X-Forgejo-Delivery", delivery.into()),
            ("X-Forgejo-Event", event.into()),
            ("X-Forgejo-Event-Type", kind.into()),
            ("X-Forgejo-Signature", sha256),
        ]);
    } else {
        // Gitea ≥ 1.24; a repository's own hook.
        h.extend([
            (
                "X-GitHub-Hook-Installation-Target-Type",
                "repository".into(),
            ),
            ("X-Gitea-Hook-Installation-Target-Type", "repository".into()),
        ]);
    }
    // Go's Header.Write sorts by key bytes: `X-GitHub` before `X-Gitea`.
    h.sort_by(|a, b| a.0.cmp(b.0));
    h.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

fn deliver(job: Job, timeout: Duration) -> Delivery {
    let id = uuid_v4();
    let authority = job
        .url
        .strip_prefix("http://")
        .map(|r| r.split(['/', '?']).next().unwrap_or(r))
        .unwrap_or("");
    // What Go's client writes before and after the request's own headers.
    let mut headers = vec![
        ("Host".to_string(), authority.to_string()),
        ("User-Agent".into(), "Go-http-client/1.1".into()),
        ("Content-Length".into(), job.body.len().to_string()),
    ];
    headers.extend(event_headers(&job, &id));
    headers.push(("Accept-Encoding".into(), "gzip".into()));
    let outcome = post(&job.url, &headers, job.body.as_bytes(), timeout);
    Delivery {
        url: job.url.clone(),
        headers,
        body: job.body.clone(),
        outcome,
        job,
    }
}

/// POST over plain HTTP/1.1 and read the status line, all within `timeout`.
fn post(
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
    timeout: Duration,
) -> Result<u16, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url}: the fake delivers to http:// URLs only"))?;
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, target) = rest.split_at(split);
    let target = match target {
        "" => "/".to_string(),
        t if t.starts_with('?') => format!("/{t}"),
        t => t.to_string(),
    };
    let host_port = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| !p.contains(']'))
    {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let deadline = Instant::now() + timeout;
    let timed_out = || format!("no answer within {timeout:?}");
    let left = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
    };
    let addr = host_port
        .to_socket_addrs()
        .map_err(|e| format!("{authority}: {e}"))?
        .next()
        .ok_or_else(|| format!("{authority}: no address"))?;
    let stream = TcpStream::connect_timeout(&addr, left().ok_or_else(timed_out)?)
        .map_err(|e| format!("connect {addr}: {e}"))?;
    let mut head = format!("POST {target} HTTP/1.1\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let io = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => timed_out(),
        _ => e.to_string(),
    };
    stream
        .set_write_timeout(left())
        .map_err(|e| e.to_string())?;
    (&stream).write_all(head.as_bytes()).map_err(io)?;
    (&stream).write_all(body).map_err(io)?;
    stream
        .set_read_timeout(Some(left().ok_or_else(timed_out)?))
        .map_err(|e| e.to_string())?;
    let mut status = String::new();
    BufReader::new(&stream).read_line(&mut status).map_err(io)?;
    status
        .split_whitespace()
        .nth(1)
        .filter(|_| status.starts_with("HTTP/1."))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("not an HTTP answer: {:?}", status.trim_end()))
}

/// `json.MarshalIndent(payload, "", "  ")`: no trailing newline. Keys come in
/// alphabetical order, not Gitea's struct order; receivers never depend on it.
fn payload_text(v: &Value) -> String {
    go_escape(serde_json::to_string_pretty(v).unwrap_or_default())
}

/// `issue_comment` (X-Gitea-Event-Type `pull_request_comment` on a pull
/// request): `created`, `edited` (with the old body) or `deleted`, by `doer`.
pub fn comment_event(
    w: &World,
    root: &str,
    repo: usize,
    c: &Comment,
    action: &str,
    doer: i64,
    old_body: Option<&str>,
) {
    let r = &w.repos[repo];
    let Some(t) = w.thread(r.id, c.issue_index).filter(|_| w.has_hooks(r.id)) else {
        return;
    };
    let mut p = json!({
        "action": action,
        "issue": api::issue_json(w, root, r, &t, Some(doer)),
        "comment": api::comment_json(w, root, r, c),
        "repository": api::repo_json(w, root, r, w.perm(r, Some(doer))),
        "sender": api::user_or_ghost(w, root, doer, None),
        "is_pull": t.pull.is_some(),
    });
    // Gitea ≥ 1.23 adds the pull request itself.
    if let Some(pull) = t.pull {
        p["pull_request"] = api::pull_json(w, root, pull, Some(doer));
    }
    if let Some(from) = old_body {
        p["changes"] = json!({"body": {"from": from}});
    }
    let kind = if t.pull.is_some() {
        "pull_request_comment"
    } else {
        "issue_comment"
    };
    w.emit(r.id, "issue_comment", kind, &payload_text(&p));
}

/// `pull_request`: `closed` (also a merge) or `reopened`, by `doer`.
pub fn pull_event(w: &World, root: &str, pull: &Pull, action: &str, doer: i64) {
    let Some(r) = w.repos.iter().find(|r| r.id == pull.repo_id) else {
        return;
    };
    if !w.has_hooks(r.id) {
        return;
    }
    // Gitea's IssueChangeStatus renders the repository with the poster's
    // permission, not the doer's.
    let perm = w.perm(r, Some(pull.poster_id));
    let p = json!({
        "action": action,
        "number": pull.number,
        "pull_request": api::pull_json(w, root, pull, Some(doer)),
        "requested_reviewer": null,
        "repository": api::repo_json(w, root, r, perm),
        "sender": api::user_or_ghost(w, root, doer, None),
        "commit_id": "",
        "review": null,
    });
    w.emit(r.id, "pull_request", "pull_request", &payload_text(&p));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_the_test_vectors() {
        // RFC 4231, test case 2.
        assert_eq!(
            sign("Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let body = b"{\n  \"action\": \"created\"\n}";
        assert_eq!(
            sign("s3cr3t", body),
            "ecaf335074194b15298ab99195d105bb06a4070b2480712aa44e910ebf172862"
        );
        assert_eq!(
            sign_sha1("s3cr3t", body),
            "392f74431a8ea8e820fb966ee3c3c60e227c2115"
        );
        // The indented form Gitea signs is exactly what payload_text writes.
        assert_eq!(payload_text(&json!({"action": "created"})).as_bytes(), body);
    }

    #[test]
    fn delivery_ids_are_version_4_uuids() {
        let (a, b) = (uuid_v4(), uuid_v4());
        assert_ne!(a, b);
        let parts: Vec<&str> = a.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'), "{a}");
        assert!(matches!(&parts[3][..1], "8" | "9" | "a" | "b"), "{a}");
        assert!(
            a.bytes()
                .all(|c| c == b'-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
    }

    #[test]
    fn without_a_secret_signatures_are_empty() {
        let h = Hook {
            id: 1,
            repo_id: 1,
            url: "http://x/".into(),
            secret: String::new(),
            forgejo: true,
        };
        let headers = event_headers(
            &Job::new(&h, "issue_comment", "pull_request_comment", "{}"),
            "u",
        );
        let get = |k: &str| {
            headers
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("X-Gitea-Signature"), Some(""));
        assert_eq!(get("X-Forgejo-Signature"), Some(""));
        assert_eq!(get("X-Hub-Signature"), Some("sha1="));
        assert_eq!(get("X-Hub-Signature-256"), Some("sha256="));
        assert_eq!(get("X-Gitea-Hook-Installation-Target-Type"), None);
    }
}
