//! Gitea and Forgejo webhook deliveries: the signature, and the comment they
//! carry (docs/bridge.md, "Webhooks").
//!
//! A delivery is believed only when its HMAC-SHA256 over the exact body bytes
//! matches the shared secret (`X-Forgejo-Signature`, else
//! `X-Gitea-Signature`; lowercase hex), compared in constant time. A webhook
//! only makes the bridge faster: its comment is decided exactly as a polled
//! one, and the poll would have found it anyway.

use crate::accept::Candidate;
use serde::Deserialize;

/// Why a delivery was turned away.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// 401: no signature, or the wrong one.
    Unsigned(&'static str),
    /// 400: signed, but not a payload we can read.
    Malformed(String),
}

/// Check the signature headers against `secret`.
pub fn verify(
    secret: &[u8],
    header: impl Fn(&str) -> Option<String>,
    body: &[u8],
) -> Result<(), Refusal> {
    let sig = header("x-forgejo-signature")
        .filter(|s| !s.is_empty())
        .or_else(|| header("x-gitea-signature"))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .ok_or(Refusal::Unsigned("no signature"))?;
    let raw = decode_hex(&sig).ok_or(Refusal::Unsigned("signature is not hex"))?;
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    ring::hmac::verify(&key, body, &raw).map_err(|_| Refusal::Unsigned("signature does not match"))
}

/// Lowercase hex HMAC-SHA256, as Gitea signs (for tests and the benchmark).
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    ring::hmac::sign(&key, body)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A comment event worth deciding: its repository and the comment.
#[derive(Debug)]
pub struct Event {
    pub repo: String,
    pub comment: Candidate,
}

#[derive(Deserialize)]
struct Payload {
    action: String,
    #[serde(default)]
    is_pull: bool,
    issue: Issue,
    comment: PComment,
    repository: PRepo,
}

#[derive(Deserialize)]
struct Issue {
    number: i64,
    #[serde(default)]
    pull_request: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct PComment {
    id: i64,
    #[serde(default)]
    body: String,
    user: PUser,
    created_at: String,
}

#[derive(Deserialize)]
struct PUser {
    login: String,
}

#[derive(Deserialize)]
struct PRepo {
    full_name: String,
}

/// The comment of a verified delivery, or `None` for events that cannot
/// trigger (other events, issue comments, deletions).
pub fn parse(event: Option<&str>, body: &[u8]) -> Result<Option<Event>, Refusal> {
    if event != Some("issue_comment") {
        return Ok(None);
    }
    let p: Payload = serde_json::from_slice(body)
        .map_err(|e| Refusal::Malformed(format!("not a comment payload: {e}")))?;
    if !(p.is_pull || p.issue.pull_request.as_ref().is_some_and(|v| !v.is_null())) {
        return Ok(None);
    }
    if !matches!(p.action.as_str(), "created" | "edited") {
        return Ok(None);
    }
    let created = ccci_core::ids::parse_rfc3339(&p.comment.created_at)
        .ok_or_else(|| Refusal::Malformed(format!("bad created_at {:?}", p.comment.created_at)))?;
    Ok(Some(Event {
        repo: p.repository.full_name,
        comment: Candidate {
            id: p.comment.id,
            pr: p.issue.number,
            author: p.comment.user.login,
            body: p.comment.body,
            created,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_vectors() {
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            sign(b"s3cr3t", b"{\n  \"action\": \"created\"\n}"),
            "ecaf335074194b15298ab99195d105bb06a4070b2480712aa44e910ebf172862"
        );
    }

    #[test]
    fn verification() {
        let body = b"{}";
        let good = sign(b"k", body);
        let h = |v: Option<&str>| {
            let v = v.map(str::to_string);
            move |n: &str| (n == "x-gitea-signature").then(|| v.clone()).flatten()
        };
        assert_eq!(verify(b"k", h(Some(&good)), body), Ok(()));
        assert!(verify(b"other", h(Some(&good)), body).is_err());
        assert!(verify(b"k", h(Some(&good)), b"{ }").is_err());
        assert!(verify(b"k", h(None), body).is_err());
        assert!(verify(b"k", h(Some("")), body).is_err());
        assert!(verify(b"k", h(Some("zz")), body).is_err());
        assert!(verify(b"k", h(Some(&good[..62])), body).is_err());
        // Forgejo's header wins when present.
        let f = |n: &str| match n {
            "x-forgejo-signature" => Some(good.clone()),
            "x-gitea-signature" => Some("00".repeat(32)),
            _ => None,
        };
        assert_eq!(verify(b"k", f, body), Ok(()));
    }

    #[test]
    fn payloads() {
        let p = br#"{"action":"created","is_pull":true,"issue":{"number":7,"pull_request":{"merged":false}},
            "comment":{"id":42,"body":"!testme","user":{"login":"bob"},"created_at":"2026-07-27T10:00:00Z"},
            "repository":{"full_name":"o/r"}}"#;
        let e = parse(Some("issue_comment"), p).unwrap().unwrap();
        assert_eq!(
            (e.repo.as_str(), e.comment.id, e.comment.pr),
            ("o/r", 42, 7)
        );
        assert!(parse(Some("pull_request"), p).unwrap().is_none());
        let issue = String::from_utf8_lossy(p)
            .replace("\"is_pull\":true", "\"is_pull\":false")
            .replace("{\"merged\":false}", "null");
        assert!(
            parse(Some("issue_comment"), issue.as_bytes())
                .unwrap()
                .is_none()
        );
        let deleted = String::from_utf8_lossy(p).replace("created\",\"is", "deleted\",\"is");
        assert!(
            parse(Some("issue_comment"), deleted.as_bytes())
                .unwrap()
                .is_none()
        );
        assert!(matches!(
            parse(Some("issue_comment"), b"{\"action\":"),
            Err(Refusal::Malformed(_))
        ));
    }
}
