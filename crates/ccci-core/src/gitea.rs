//! A small client for the Gitea (and Forgejo) REST API: the calls ccci makes on
//! pull requests, comments and commit statuses. Behaviour and field names follow
//! docs/gitea.md.
//!
//! Exit codes of failures (docs/gitea.md, errors; docs/contracts.md, exit
//! codes): the server unreachable, a timeout, 5xx,
//! 429 or 408 are temporary (75); a rejected token, missing permission, unknown
//! repository or invalid request are bad input (2), since retrying cannot fix
//! them; a request the server refuses because of the object's state (409, 412,
//! 423: already merged, archived) is a clean no (1).
//!
//! The token comes from a file or the environment, never from the command line
//! (where `ps` shows it), and is registered with the redactor so that no log
//! line can carry it.

use crate::exit;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Gitea clamps larger pages to 50 (`MAX_RESPONSE_ITEMS`).
const PAGE: usize = 50;
/// A list longer than this many pages is a server that never stops paging.
const MAX_PAGES: usize = 1000;

/// `owner/name` of a repository on the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoRef {
    pub owner: String,
    pub name: String,
}

impl std::str::FromStr for RepoRef {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<RepoRef> {
        let ok = |p: &str| {
            !p.is_empty()
                && !p.starts_with('.')
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        };
        match s.split_once('/') {
            Some((o, n)) if ok(o) && ok(n) => Ok(RepoRef {
                owner: o.to_string(),
                name: n.to_string(),
            }),
            _ => Err(exit::usage(format!(
                "{s:?} is not a repository on the server (OWNER/NAME)"
            ))),
        }
    }
}

impl std::fmt::Display for RepoRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    pub login: String,
    #[serde(default)]
    pub id: i64,
}

/// One side of a pull request. `ref_` is the branch name while the branch
/// exists, else `refs/pull/N/head`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PrBranch {
    #[serde(rename = "ref")]
    pub ref_: String,
    pub sha: String,
    #[serde(default)]
    pub label: String,
    /// `null` when the head fork was deleted.
    #[serde(default)]
    pub repo: Option<Repository>,
}

/// The fields of a repository ccci reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Repository {
    #[serde(default)]
    pub full_name: String,
    #[serde(default)]
    pub clone_url: String,
    #[serde(default)]
    pub archived: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PullRequest {
    pub number: i64,
    #[serde(default)]
    pub title: String,
    /// `open` or `closed`; a merged pull request is `closed` with `merged`.
    pub state: String,
    #[serde(default)]
    pub merged: bool,
    #[serde(default)]
    pub html_url: String,
    pub user: Option<User>,
    pub head: PrBranch,
    pub base: PrBranch,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Comment {
    pub id: i64,
    pub body: String,
    pub user: Option<User>,
    #[serde(default)]
    pub html_url: String,
    /// The pull request's HTML URL on a pull request comment, else `""`.
    #[serde(default)]
    pub pull_request_url: String,
    #[serde(default)]
    pub issue_url: String,
    #[serde(default)]
    pub created_at: String,
    #[serde(default)]
    pub updated_at: String,
}

impl Comment {
    /// The pull request's number, parsed from `pull_request_url` (a comment
    /// carries no numeric field for it); `None` on an issue comment.
    pub fn pull_number(&self) -> Option<i64> {
        let u = self.pull_request_url.trim_end_matches('/');
        let (head, n) = u.rsplit_once('/')?;
        if !head.ends_with("/pulls") {
            return None;
        }
        n.parse().ok().filter(|n| *n > 0)
    }
}

/// One page of a list and the total Gitea counted (`X-Total-Count`).
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: Option<usize>,
}

impl<T> Page<T> {
    /// Is there a page after page `page` (1-based) of `PAGE` items?
    pub fn more_after(&self, page: usize) -> bool {
        match self.total {
            Some(t) => page * PAGE < t,
            None => self.items.len() == PAGE,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CommitStatus {
    /// The per-commit index, not a global id.
    pub id: i64,
    /// Gitea answers `status`, although it is sent as `state`.
    pub status: String,
    #[serde(default)]
    pub context: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub target_url: String,
}

/// A commit status to set: `state` is pending, success, error, failure or warning.
#[derive(Debug, Clone, Serialize)]
pub struct NewStatus<'a> {
    pub state: &'a str,
    pub context: &'a str,
    pub description: &'a str,
    pub target_url: &'a str,
}

/// A connection to one Gitea server.
pub struct Gitea {
    /// `ROOT_URL`, ending in `/`.
    root: String,
    token: Option<String>,
    agent: ureq::Agent,
}

impl Gitea {
    /// `root_url` is the server's `ROOT_URL` (`https://git.example.org/`); the
    /// API lives under `api/v1` there.
    pub fn new(root_url: &str, token: Option<String>, timeout: Duration) -> Result<Gitea> {
        let scheme_ok = root_url.starts_with("http://") || root_url.starts_with("https://");
        let host_ok = root_url
            .split_once("://")
            .is_some_and(|(_, rest)| !rest.is_empty() && !rest.starts_with('/'));
        if !scheme_ok || !host_ok || root_url.contains(char::is_whitespace) {
            return Err(exit::usage(format!(
                "Gitea URL {root_url:?} is not an http(s) URL"
            )));
        }
        let mut root = root_url.trim_end_matches('/').to_string();
        root = root.trim_end_matches("/api/v1").to_string();
        root.push('/');
        if let Some(t) = &token {
            crate::redact::global().add(t);
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            // A renamed repository answers 301, and a client that follows it
            // turns a POST into a GET; we stop and say so instead.
            .max_redirects(0)
            .user_agent(concat!("ccci/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(Gitea { root, token, agent })
    }

    pub fn root_url(&self) -> &str {
        &self.root
    }

    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// Every open pull request of `repo`, oldest first, across all pages.
    pub fn open_pulls(&self, repo: &RepoRef) -> Result<Vec<PullRequest>> {
        let mut all: Vec<PullRequest> = vec![];
        for page in 1..=MAX_PAGES {
            // Oldest first, so a pull request opened while we page is appended
            // at the end instead of shifting one onto a page we already read.
            let path =
                format!("repos/{repo}/pulls?state=open&sort=oldest&limit={PAGE}&page={page}");
            let resp = self.call("GET", &path, None)?;
            let items: Vec<PullRequest> = resp.json(&path)?;
            let got = items.len();
            for p in items {
                if !all.iter().any(|q| q.number == p.number) {
                    all.push(p);
                }
            }
            // Gitea's own advice: follow Link rel="next", or X-Total-Count; a
            // short page alone does not mean the end.
            let more = resp.has_next()
                || resp.total.is_some_and(|t| page * PAGE < t)
                || (resp.total.is_none() && resp.link.is_none() && got == PAGE);
            if got == 0 || !more {
                return Ok(all);
            }
        }
        Err(exit::usage(format!(
            "Gitea {}: the pull request list of {repo} did not end after {MAX_PAGES} pages",
            self.root
        )))
    }

    pub fn pull(&self, repo: &RepoRef, number: i64) -> Result<PullRequest> {
        let path = format!("repos/{repo}/pulls/{number}");
        self.call("GET", &path, None)?.json(&path)
    }

    /// Every comment of a pull request or issue (this endpoint does not page).
    pub fn comments(&self, repo: &RepoRef, number: i64) -> Result<Vec<Comment>> {
        let path = format!("repos/{repo}/issues/{number}/comments");
        self.call("GET", &path, None)?.json(&path)
    }

    pub fn comment(&self, repo: &RepoRef, number: i64, body: &str) -> Result<Comment> {
        let path = format!("repos/{repo}/issues/{number}/comments");
        let req = serde_json::json!({ "body": body });
        self.call("POST", &path, Some(&req))?.json(&path)
    }

    /// The user the token belongs to (to tell the bot's own comments apart).
    pub fn current_user(&self) -> Result<User> {
        self.call("GET", "user", None)?.json("user")
    }

    /// One page (50) of the repository-wide list of plain comments on issues
    /// and pull requests with `updated_at >= since` (inclusive, whole
    /// seconds), oldest created first. This list sends `X-Total-Count` but no
    /// `Link` (docs/gitea.md, paging).
    pub fn repo_comments(&self, repo: &RepoRef, since: &str, page: usize) -> Result<Page<Comment>> {
        // `+` in an offset would arrive as a space; RFC 3339 UTC has none, but
        // encode it anyway.
        let since = since.replace('+', "%2B").replace(':', "%3A");
        let path = format!("repos/{repo}/issues/comments?since={since}&limit={PAGE}&page={page}");
        let resp = self.call("GET", &path, None)?;
        Ok(Page {
            items: resp.json(&path)?,
            total: resp.total,
        })
    }

    /// A user's effective permission on a repository: `none`, `read`,
    /// `write`, `admin` or `owner` (ownership and teams included, unlike the
    /// plain collaborator check, which answers 404 for owners).
    pub fn permission(&self, repo: &RepoRef, login: &str) -> Result<String> {
        #[derive(Deserialize)]
        struct Perm {
            permission: String,
        }
        let path = format!("repos/{repo}/collaborators/{login}/permission");
        let p: Perm = self.call("GET", &path, None)?.json(&path)?;
        Ok(p.permission)
    }

    /// One page (50) of an organisation's repositories, in id order.
    pub fn org_repos(&self, org: &str, page: usize) -> Result<Page<Repository>> {
        let path = format!("orgs/{org}/repos?limit={PAGE}&page={page}");
        let resp = self.call("GET", &path, None)?;
        let more = resp.has_next();
        let mut p = Page {
            items: resp.json(&path)?,
            total: resp.total,
        };
        // Rows the caller cannot see are dropped after paging, so a short page
        // is not the end; trust Link, then the total.
        if more && p.total.is_none() {
            p.total = Some(usize::MAX);
        }
        Ok(p)
    }

    /// Read one comment (404 if it was deleted).
    pub fn get_comment(&self, repo: &RepoRef, id: i64) -> Result<Comment> {
        let path = format!("repos/{repo}/issues/comments/{id}");
        self.call("GET", &path, None)?.json(&path)
    }

    /// Replace a comment's body (Gitea answers 200).
    pub fn edit_comment(&self, repo: &RepoRef, id: i64, body: &str) -> Result<Comment> {
        let path = format!("repos/{repo}/issues/comments/{id}");
        let req = serde_json::json!({ "body": body });
        self.call("PATCH", &path, Some(&req))?.json(&path)
    }

    /// Close a pull request (Gitea answers 201; closing a closed one is a no-op).
    pub fn close_pull(&self, repo: &RepoRef, number: i64) -> Result<PullRequest> {
        let path = format!("repos/{repo}/pulls/{number}");
        let req = serde_json::json!({ "state": "closed" });
        self.call("PATCH", &path, Some(&req))?.json(&path)
    }

    /// Set a commit status on the full commit id `sha`.
    pub fn create_status(&self, repo: &RepoRef, sha: &str, st: &NewStatus) -> Result<CommitStatus> {
        let path = format!("repos/{repo}/statuses/{sha}");
        let req = serde_json::to_value(st)?;
        self.call("POST", &path, Some(&req))?.json(&path)
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Reply> {
        let url = format!("{}api/v1/{path}", self.root);
        let what = format!("Gitea {method} {}", url.split('?').next().unwrap_or(&url));
        let auth = self.token.as_ref().map(|t| format!("token {t}"));
        let result = match (method, body) {
            ("GET", _) => {
                let mut r = self.agent.get(&url).header("Accept", "application/json");
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                r.call()
            }
            (m, b) => {
                let mut r = match m {
                    "POST" => self.agent.post(&url),
                    "PATCH" => self.agent.patch(&url),
                    _ => self.agent.put(&url),
                }
                .header("Accept", "application/json")
                .content_type("application/json");
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                r.send(b.map(Value::to_string).unwrap_or_default())
            }
        };
        let mut resp = result.map_err(|e| transport_error(&what, e))?;
        let status = resp.status().as_u16();
        let header = |n: &str| {
            resp.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let (link, total, location) = (
            header("link"),
            header("x-total-count").and_then(|t| t.trim().parse().ok()),
            header("location"),
        );
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        if (200..300).contains(&status) {
            return Ok(Reply { text, link, total });
        }
        let e = status_error(&what, status, &text, location.as_deref());
        Err(
            anyhow::Error::new(exit::Code(exit::code_of(&e))).context(HttpStatus {
                status,
                message: exit::one_line(&e),
            }),
        )
    }
}

/// A successful answer: its body and paging headers.
struct Reply {
    text: String,
    link: Option<String>,
    total: Option<usize>,
}

impl Reply {
    fn json<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T> {
        // A 2xx that is not the JSON Gitea sends comes from something in
        // between (a proxy's error page, a cut connection): trouble, retried.
        serde_json::from_str(&self.text)
            .with_context(|| format!("Gitea answered {path} with JSON we cannot read"))
            .map_err(|e| exit::wrap(e, exit::TEMPFAIL))
    }

    /// `Link` is a comma-separated list (Gitea joins without a space).
    fn has_next(&self) -> bool {
        self.link
            .as_deref()
            .is_some_and(|l| l.split(',').any(|e| e.contains("rel=\"next\"")))
    }
}

/// The HTTP status of a failed call, kept in the error (as its message's
/// carrier) so callers can tell "no such user" (404) from trouble without
/// reading the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpStatus {
    pub status: u16,
    pub message: String,
}

impl std::fmt::Display for HttpStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for HttpStatus {}

/// The HTTP status Gitea answered with, when a call failed on one.
pub fn http_status(e: &anyhow::Error) -> Option<u16> {
    e.downcast_ref::<HttpStatus>().map(|s| s.status)
}

fn transport_error(what: &str, e: ureq::Error) -> anyhow::Error {
    match e {
        ureq::Error::BadUri(_) | ureq::Error::Http(_) => {
            exit::usage(format!("{what}: bad URL: {e}"))
        }
        _ => exit::tempfail(format!("{what}: no answer: {e}")),
    }
}

fn status_error(what: &str, status: u16, body: &str, location: Option<&str>) -> anyhow::Error {
    // Error bodies are `{"message": ..., "url": ...}`, or empty.
    let message = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
        .filter(|m| !m.is_empty());
    let mut msg = format!("{what}: HTTP {status}");
    if let Some(m) = &message {
        msg.push_str(&format!(": {m}"));
    }
    match status {
        300..=399 => exit::usage(format!(
            "{msg}: moved to {}; configure the repository by its current name",
            location.unwrap_or("another address")
        )),
        401 => exit::usage(format!("{msg} (the token is missing, wrong or expired)")),
        403 => exit::usage(format!("{msg} (the token lacks a scope or permission)")),
        404 => exit::usage(format!(
            "{msg} (no such repository or pull request, or not visible to this token)"
        )),
        408 | 429 | 500..=599 => exit::tempfail(msg),
        409 | 412 | 423 => exit::no(msg),
        _ => exit::usage(msg),
    }
}

/// The Gitea token, from (first found): `file` (a relative path is looked up in
/// systemd's `$CREDENTIALS_DIRECTORY`), `$CCCI_GITEA_TOKEN_FILE`, the credential
/// `$CREDENTIALS_DIRECTORY/gitea-token`, `$CCCI_GITEA_TOKEN`. `None` if none is set.
pub fn load_token(file: Option<&Path>) -> Result<Option<String>> {
    let from_env = std::env::var_os("CCCI_GITEA_TOKEN_FILE").map(PathBuf::from);
    let path = crate::credential::locate(file.or(from_env.as_deref()), "gitea-token");
    let token = match path {
        Some(p) => {
            let text = std::fs::read_to_string(&p)
                .with_context(|| format!("cannot read the Gitea token file {}", p.display()))
                .map_err(|e| exit::wrap(e, exit::USAGE))?;
            let t = text.trim().to_string();
            if t.is_empty() {
                return Err(exit::usage(format!(
                    "the Gitea token file {} is empty",
                    p.display()
                )));
            }
            Some(t)
        }
        None => std::env::var("CCCI_GITEA_TOKEN")
            .ok()
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty()),
    };
    if let Some(t) = &token {
        if t.contains(char::is_whitespace) {
            return Err(exit::usage("the Gitea token contains whitespace"));
        }
        crate::redact::global().add(t);
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_refs() {
        let r: RepoRef = "recipes/custom-html".parse().unwrap();
        assert_eq!(r.to_string(), "recipes/custom-html");
        for bad in ["", "x", "a/b/c", "/b", "a/", "a/..", "a b/c"] {
            let e = bad.parse::<RepoRef>().unwrap_err();
            assert_eq!(exit::code_of(&e), exit::USAGE, "{bad}");
        }
    }

    #[test]
    fn status_codes_map_to_exit_codes() {
        let code = |s| exit::code_of(&status_error("x", s, "", None));
        for s in [401, 403, 404, 422, 400, 301] {
            assert_eq!(code(s), exit::USAGE, "{s}");
        }
        for s in [500, 502, 503, 429, 408] {
            assert_eq!(code(s), exit::TEMPFAIL, "{s}");
        }
        for s in [409, 412, 423] {
            assert_eq!(code(s), exit::NO, "{s}");
        }
        let e = status_error(
            "Gitea GET u",
            404,
            r#"{"message":"not found","url":"x"}"#,
            None,
        );
        assert!(format!("{e:#}").starts_with("Gitea GET u: HTTP 404: not found"));
    }

    #[test]
    fn failed_calls_keep_their_status_code_and_message() {
        let fake = ccci_fake_gitea::FakeGitea::start().unwrap();
        let g = Gitea::new(fake.root_url(), None, Duration::from_secs(5)).unwrap();
        let e = g.pull(&"nobody/nothing".parse().unwrap(), 1).unwrap_err();
        assert_eq!(http_status(&e), Some(404));
        assert_eq!(exit::code_of(&e), exit::USAGE);
        assert!(e.to_string().contains("HTTP 404"), "{e}");
        let e = e.context("while looking");
        assert_eq!(http_status(&e), Some(404));
    }

    #[test]
    fn urls() {
        let t = Duration::from_secs(1);
        let g = Gitea::new("http://127.0.0.1:3000", None, t).unwrap();
        assert_eq!(g.root_url(), "http://127.0.0.1:3000/");
        let g = Gitea::new("https://git.example.org/api/v1/", None, t).unwrap();
        assert_eq!(g.root_url(), "https://git.example.org/");
        for bad in ["git.example.org", "ftp://x/", "http://", "http:///x"] {
            assert!(Gitea::new(bad, None, t).is_err(), "{bad}");
        }
    }
}
