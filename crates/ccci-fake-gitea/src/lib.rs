//! A fake Gitea for tests, built from Gitea's own API description (the contract
//! is docs/gitea.md; responses are checked against Gitea's Swagger data in
//! `tests/swagger.rs`): real paths under `/api/v1`, token authentication in
//! every form Gitea accepts, Gitea's pagination (`page`/`limit`, `Link`,
//! `X-Total-Count`), its status codes and JSON error bodies, and a log of every
//! request for tests to assert on.
//!
//! It listens on 127.0.0.1 (port 0 by default) in a thread, with all state in
//! memory. Tests set the world up through the methods here (users, tokens,
//! repositories, pull requests, comments) and read it back the same way; the
//! code under test only ever sees HTTP. It behaves as Gitea 1.27 does; where
//! versions differ docs/gitea.md (versions) says which one was chosen.
//!
//! Implemented: `GET /version`, `GET /user`, `GET /repos/{o}/{r}`,
//! `GET /repos/{o}/{r}/pulls`, `GET|PATCH /repos/{o}/{r}/pulls/{n}` (close and
//! reopen), `GET|POST /repos/{o}/{r}/issues/{n}/comments`,
//! `GET /repos/{o}/{r}/issues/comments` (repository-wide),
//! `GET|PATCH|DELETE /repos/{o}/{r}/issues/comments/{id}`,
//! `GET /repos/{o}/{r}/collaborators/{user}` and `…/{user}/permission`, and
//! `POST /repos/{o}/{r}/statuses/{sha}`. Other real endpoints answer 501 so a
//! test never mistakes them for a 404.
//!
//! **Faults.** [`FakeGitea::fault`] scripts misbehaviour with a small builder,
//! [`Fault`]: a status with Gitea's JSON error or any body (a proxy's
//! `text/html` 502 page), a delay before answering (to provoke client
//! timeouts), a 200 whose JSON is cut off, for the next `n` matching requests or
//! for every matching request during a time (a storm):
//!
//! ```no_run
//! # use ccci_fake_gitea::{FakeGitea, Fault};
//! # use std::time::Duration;
//! # let fake = FakeGitea::start().unwrap();
//! fake.fault(Fault::status(502).text("502 Bad Gateway").method("GET").path("/pulls").times(3));
//! fake.fault(Fault::latency(Duration::from_secs(10)).path("/comments"));
//! fake.fault(Fault::truncated().path("/issues/comments"));
//! fake.fault(Fault::status(503).for_duration(Duration::from_secs(2)));
//! ```
//!
//! [`FakeGitea::fail`] and [`FakeGitea::fail_for`] are shorthands.
//!
//! **Webhooks.** [`FakeGitea::add_webhook`] registers a receiver for a
//! repository. Comments created, edited or deleted (through the API or the
//! helpers here) send `issue_comment` deliveries, and pull requests closed,
//! merged or reopened send `pull_request` deliveries, with Gitea's payloads,
//! headers and signatures ([`sign`]). One worker thread delivers them in order,
//! outside the world's lock; [`FakeGitea::wait_deliveries`] waits for them and
//! [`FakeGitea::deliveries`] shows what was sent and answered.

// The Repository object is one large `json!` literal.
#![recursion_limit = "256"]

mod api;
mod fault;
mod hooks;
pub mod http;
pub mod state;
pub mod time;

pub use fault::Fault;
pub use hooks::{DELIVER_TIMEOUT, Delivery, sign, sign_sha1};
pub use state::{Comment, Issue, Logged, Perm, Pull, State, Status};

use hooks::{Deliveries, Hook};
use state::{Repo, Token, User, World};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

/// What a test may get wrong when setting the world up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

fn err<T>(msg: String) -> Result<T> {
    Err(Error(msg))
}

/// A pull request to open: its head branch and commit, and its base.
#[derive(Debug, Clone, Default)]
pub struct PullSpec {
    pub title: String,
    pub body: String,
    /// Login of the author (created as a user if unknown).
    pub poster: String,
    pub head_branch: String,
    pub head_sha: String,
    pub base_branch: String,
    pub base_sha: String,
}

/// A running fake server; stops when dropped.
pub struct FakeGitea {
    addr: SocketAddr,
    root: String,
    world: Arc<Mutex<World>>,
    deliveries: Arc<Deliveries>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeGitea {
    /// Listen on a free port of 127.0.0.1.
    pub fn start() -> std::io::Result<FakeGitea> {
        Self::start_on("127.0.0.1:0")
    }

    pub fn start_on(addr: &str) -> std::io::Result<FakeGitea> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let root = format!("http://{addr}/");
        let (queue, jobs) = mpsc::channel();
        let deliveries = Deliveries::new();
        {
            let d = deliveries.clone();
            std::thread::spawn(move || d.run(jobs));
        }
        let world = Arc::new(Mutex::new(World {
            hook_queue: Some(queue),
            ..World::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (world, stop, root) = (world.clone(), stop.clone(), root.clone());
            std::thread::spawn(move || serve(listener, world, stop, root))
        };
        Ok(FakeGitea {
            addr,
            root,
            world,
            deliveries,
            stop,
            thread: Some(thread),
        })
    }

    /// `ROOT_URL`, e.g. `http://127.0.0.1:41234/` (ends in `/`, as Gitea's does).
    pub fn root_url(&self) -> &str {
        &self.root
    }

    /// The API base, `ROOT_URL` + `api/v1`.
    pub fn api_url(&self) -> String {
        format!("{}api/v1", self.root)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Create a user (idempotent); returns its id.
    pub fn add_user(&self, login: &str) -> i64 {
        let mut w = self.world();
        ensure_user(&mut w, login)
    }

    /// Create a site administrator.
    pub fn add_admin(&self, login: &str) -> i64 {
        let mut w = self.world();
        let id = ensure_user(&mut w, login);
        if let Some(u) = w.users.iter_mut().find(|u| u.id == id) {
            u.is_admin = true;
        }
        id
    }

    /// Give `login` a personal access token. `scopes: None` is an unscoped
    /// (legacy, all-powerful) token; otherwise Gitea's names, e.g.
    /// `["write:issue", "write:repository"]`.
    pub fn add_token(&self, login: &str, token: &str, scopes: Option<&[&str]>) {
        let mut w = self.world();
        let user_id = ensure_user(&mut w, login);
        w.tokens.push(Token {
            token: token.to_string(),
            user_id,
            scopes: scopes.map(|s| s.iter().map(|x| x.to_string()).collect()),
        });
    }

    /// Create a public repository `owner/name` (the owner is created if unknown).
    pub fn add_repo(&self, owner: &str, name: &str) -> Result<()> {
        let mut w = self.world();
        if w.repo_index(owner, name).is_some() {
            return err(format!("repository {owner}/{name} exists"));
        }
        let owner_id = ensure_user(&mut w, owner);
        let (id, created) = (w.id(), w.now());
        w.repos.push(Repo {
            id,
            owner_id,
            name: name.to_string(),
            private: false,
            archived: false,
            has_pull_requests: true,
            default_branch: "main".into(),
            created,
            collaborators: BTreeMap::new(),
            commits: BTreeSet::new(),
            next_index: 1,
            clone_url: None,
        });
        Ok(())
    }

    fn with_repo<T>(&self, owner: &str, name: &str, f: impl FnOnce(&mut Repo) -> T) -> Result<T> {
        let mut w = self.world();
        match w.repo_index(owner, name) {
            Some(i) => Ok(f(&mut w.repos[i])),
            None => err(format!("no repository {owner}/{name}")),
        }
    }

    pub fn set_private(&self, owner: &str, name: &str, private: bool) -> Result<()> {
        self.with_repo(owner, name, |r| r.private = private)
    }

    /// Answer `url` as the repository's `clone_url`: a test points it at a
    /// real git repository (a `file://` URL) the code under test can clone.
    pub fn set_clone_url(&self, owner: &str, name: &str, url: &str) -> Result<()> {
        self.with_repo(owner, name, |r| r.clone_url = Some(url.to_string()))
    }

    pub fn set_archived(&self, owner: &str, name: &str, archived: bool) -> Result<()> {
        self.with_repo(owner, name, |r| r.archived = archived)
    }

    /// Make `login` an explicit collaborator with `perm` (read, write, admin).
    pub fn add_collaborator(&self, owner: &str, name: &str, login: &str, perm: Perm) -> Result<()> {
        let uid = self.add_user(login);
        self.with_repo(owner, name, |r| {
            r.collaborators.insert(uid, perm);
        })
    }

    /// Tell the fake a commit exists in the repository (statuses need it).
    pub fn add_commit(&self, owner: &str, name: &str, sha: &str) -> Result<()> {
        self.with_repo(owner, name, |r| {
            r.commits.insert(sha.to_ascii_lowercase());
        })
    }

    /// Open a pull request; returns its number (shared with issues' index).
    pub fn open_pull(&self, owner: &str, name: &str, spec: PullSpec) -> Result<i64> {
        let mut w = self.world();
        let Some(ri) = w.repo_index(owner, name) else {
            return err(format!("no repository {owner}/{name}"));
        };
        for (what, sha) in [("head", &spec.head_sha), ("base", &spec.base_sha)] {
            if sha.len() != 40 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
                return err(format!("{what} sha {sha:?} is not a full commit id"));
            }
        }
        if spec.head_branch.is_empty() || spec.base_branch.is_empty() {
            return err("a pull request needs head and base branches".into());
        }
        let poster = if spec.poster.is_empty() {
            owner
        } else {
            &spec.poster
        };
        let poster_id = ensure_user(&mut w, poster);
        let (id, issue_id, now) = (w.id(), w.issue_id(), w.now());
        let repo = &mut w.repos[ri];
        let number = repo.next_index;
        repo.next_index += 1;
        repo.commits.insert(spec.head_sha.to_ascii_lowercase());
        repo.commits.insert(spec.base_sha.to_ascii_lowercase());
        let repo_id = repo.id;
        w.pulls.push(Pull {
            id,
            issue_id,
            repo_id,
            number,
            poster_id,
            title: spec.title,
            body: spec.body,
            state: State::Open,
            draft: false,
            is_locked: false,
            merged: false,
            merged_at: None,
            merge_commit_sha: None,
            merged_by: None,
            head_branch: spec.head_branch,
            head_branch_exists: true,
            head_sha: spec.head_sha.to_ascii_lowercase(),
            base_branch: spec.base_branch,
            base_sha: spec.base_sha.to_ascii_lowercase(),
            created: now,
            updated: now,
            closed_at: None,
        });
        Ok(number)
    }

    /// Run `f` on pull request `n` with the world locked (index into
    /// `w.pulls`, and the time now).
    fn with_pull<T>(
        &self,
        owner: &str,
        name: &str,
        n: i64,
        f: impl FnOnce(&mut World, usize, i64) -> T,
    ) -> Result<T> {
        let mut w = self.world();
        let now = w.now();
        let Some(ri) = w.repo_index(owner, name) else {
            return err(format!("no repository {owner}/{name}"));
        };
        let rid = w.repos[ri].id;
        match w
            .pulls
            .iter()
            .position(|p| p.repo_id == rid && p.number == n)
        {
            Some(pi) => Ok(f(&mut w, pi, now)),
            None => err(format!("no pull request {owner}/{name}#{n}")),
        }
    }

    /// New commits pushed to the head branch (a `synchronized` event, which
    /// sends no webhook here).
    pub fn push_pull(&self, owner: &str, name: &str, n: i64, head_sha: &str) -> Result<()> {
        self.add_commit(owner, name, head_sha)?;
        self.with_pull(owner, name, n, |w, pi, now| {
            let p = &mut w.pulls[pi];
            p.head_sha = head_sha.to_ascii_lowercase();
            p.updated = now;
        })
    }

    /// Merge it, as the web UI would: closed, merged, with the merge commit (a
    /// `pull_request` `closed` webhook, sent by `by`).
    pub fn merge_pull(
        &self,
        owner: &str,
        name: &str,
        n: i64,
        merge_sha: &str,
        by: &str,
    ) -> Result<()> {
        let by = self.add_user(by);
        self.add_commit(owner, name, merge_sha)?;
        self.with_pull(owner, name, n, |w, pi, now| {
            let p = &mut w.pulls[pi];
            p.state = State::Closed;
            p.merged = true;
            p.merged_at = Some(now);
            p.closed_at = Some(now);
            p.merged_by = Some(by);
            p.merge_commit_sha = Some(merge_sha.to_ascii_lowercase());
            p.updated = now;
            hooks::pull_event(w, &self.root, &w.pulls[pi], "closed", by);
        })
    }

    /// Close or reopen it from outside the API (the web UI), as its author: a
    /// `pull_request` `closed` or `reopened` webhook when the state changes.
    pub fn set_pull_state(&self, owner: &str, name: &str, n: i64, state: State) -> Result<()> {
        self.with_pull(owner, name, n, |w, pi, now| {
            let p = &mut w.pulls[pi];
            if p.state != state {
                p.state = state;
                p.closed_at = (state == State::Closed).then_some(now);
                p.updated = now;
                let action = match state {
                    State::Closed => "closed",
                    State::Open => "reopened",
                };
                let p = &w.pulls[pi];
                hooks::pull_event(w, &self.root, p, action, p.poster_id);
            }
        })
    }

    /// Its head branch was deleted: `head.ref` becomes `refs/pull/N/head`.
    pub fn delete_head_branch(&self, owner: &str, name: &str, n: i64) -> Result<()> {
        self.with_pull(owner, name, n, |w, pi, _| {
            w.pulls[pi].head_branch_exists = false;
        })
    }

    pub fn set_locked(&self, owner: &str, name: &str, n: i64, locked: bool) -> Result<()> {
        self.with_pull(owner, name, n, |w, pi, _| w.pulls[pi].is_locked = locked)
    }

    /// Open a plain issue (not a pull request) written by `poster`; returns its
    /// number, from the index pull requests share.
    pub fn open_issue(&self, owner: &str, name: &str, poster: &str, title: &str) -> Result<i64> {
        let mut w = self.world();
        let Some(ri) = w.repo_index(owner, name) else {
            return err(format!("no repository {owner}/{name}"));
        };
        let poster_id = ensure_user(&mut w, poster);
        let (id, now) = (w.issue_id(), w.now());
        let repo = &mut w.repos[ri];
        let number = repo.next_index;
        repo.next_index += 1;
        let repo_id = repo.id;
        w.issues.push(Issue {
            id,
            repo_id,
            number,
            poster_id,
            title: title.to_string(),
            body: String::new(),
            state: State::Open,
            created: now,
            updated: now,
            closed_at: None,
        });
        Ok(number)
    }

    /// A comment written by `login` (through the web UI) on issue or pull
    /// request `n`; returns its id. Sends the `created` webhook.
    pub fn add_comment(
        &self,
        owner: &str,
        name: &str,
        n: i64,
        login: &str,
        body: &str,
    ) -> Result<i64> {
        let mut w = self.world();
        let uid = ensure_user(&mut w, login);
        let Some(ri) = w.repo_index(owner, name) else {
            return err(format!("no repository {owner}/{name}"));
        };
        let repo_id = w.repos[ri].id;
        if w.thread(repo_id, n).is_none() {
            return err(format!("no issue or pull request {owner}/{name}#{n}"));
        }
        let (id, now) = (w.id(), w.now());
        let c = Comment {
            id,
            repo_id,
            issue_index: n,
            user_id: uid,
            body: body.to_string(),
            created: now,
            updated: now,
        };
        w.touch(repo_id, n, now);
        w.comments.push(c.clone());
        hooks::comment_event(&w, &self.root, ri, &c, "created", uid, None);
        Ok(id)
    }

    /// `login` edits comment `id` in the web UI (no permission check): when the
    /// text changes, `updated_at` moves and the `edited` webhook is sent.
    pub fn edit_comment(&self, id: i64, login: &str, body: &str) -> Result<()> {
        let mut w = self.world();
        let uid = ensure_user(&mut w, login);
        let now = w.now();
        let Some(i) = w.comments.iter().position(|c| c.id == id) else {
            return err(format!("no comment {id}"));
        };
        let c = &mut w.comments[i];
        if c.body == body {
            return Ok(());
        }
        let old = std::mem::replace(&mut c.body, body.to_string());
        c.updated = now;
        let c = c.clone();
        if let Some(ri) = w.repos.iter().position(|r| r.id == c.repo_id) {
            hooks::comment_event(&w, &self.root, ri, &c, "edited", uid, Some(&old));
        }
        Ok(())
    }

    /// Comment `id` is deleted in the web UI by its author (the `deleted`
    /// webhook's sender).
    pub fn delete_comment(&self, id: i64) -> Result<()> {
        let mut w = self.world();
        let Some(i) = w.comments.iter().position(|c| c.id == id) else {
            return err(format!("no comment {id}"));
        };
        let c = w.comments.remove(i);
        if let Some(ri) = w.repos.iter().position(|r| r.id == c.repo_id) {
            hooks::comment_event(&w, &self.root, ri, &c, "deleted", c.user_id, None);
        }
        Ok(())
    }

    /// A snapshot of one pull request.
    pub fn pull(&self, owner: &str, name: &str, n: i64) -> Option<Pull> {
        self.with_pull(owner, name, n, |w, pi, _| w.pulls[pi].clone())
            .ok()
    }

    /// The comments on issue or pull request `n`, oldest first.
    pub fn comments(&self, owner: &str, name: &str, n: i64) -> Vec<Comment> {
        let w = self.world();
        let Some(ri) = w.repo_index(owner, name) else {
            return vec![];
        };
        let rid = w.repos[ri].id;
        let mut c: Vec<Comment> = w
            .comments
            .iter()
            .filter(|c| c.repo_id == rid && c.issue_index == n)
            .cloned()
            .collect();
        c.sort_by_key(|c| (c.created, c.id));
        c
    }

    /// One comment, wherever it is.
    pub fn comment(&self, id: i64) -> Option<Comment> {
        self.world().comments.iter().find(|c| c.id == id).cloned()
    }

    /// The statuses posted on a full commit id, in the order they were posted.
    pub fn statuses(&self, owner: &str, name: &str, sha: &str) -> Vec<Status> {
        let w = self.world();
        let Some(ri) = w.repo_index(owner, name) else {
            return vec![];
        };
        let rid = w.repos[ri].id;
        w.statuses
            .iter()
            .filter(|s| s.repo_id == rid && s.sha == sha)
            .cloned()
            .collect()
    }

    /// The login of a user id (comment authors, status creators).
    pub fn login(&self, user_id: i64) -> Option<String> {
        self.world().user(user_id).map(|u| u.login.clone())
    }

    /// Every request so far, in the order they were answered (arrival order,
    /// unless a fault delayed one).
    pub fn requests(&self) -> Vec<Logged> {
        self.world().log.clone()
    }

    pub fn clear_requests(&self) {
        self.world().log.clear();
    }

    /// Script a fault (see [`Fault`]); faults are tried in the order added, the
    /// first that matches a request takes it.
    pub fn fault(&self, fault: Fault) {
        if let Some(f) = fault.armed() {
            self.world().faults.push_back(f);
        }
    }

    /// Answer the next `times` requests with `method` (any, when `None`) whose
    /// path contains `path_contains` with `status` and Gitea's JSON error body
    /// instead of serving them.
    pub fn fail(&self, method: Option<&str>, path_contains: &str, status: u16, times: u32) {
        self.fault(matching(Fault::status(status), method, path_contains).times(times));
    }

    /// A storm: answer every such request with `status` until `duration` has
    /// passed, with `body` as `text/plain` (a proxy's page) or, when `None`,
    /// Gitea's JSON error.
    pub fn fail_for(
        &self,
        method: Option<&str>,
        path_contains: &str,
        status: u16,
        body: Option<&str>,
        duration: Duration,
    ) {
        let mut f = matching(Fault::status(status), method, path_contains);
        if let Some(text) = body {
            f = f.text(text);
        }
        self.fault(f.for_duration(duration));
    }

    /// Register a webhook on `owner/name` for every event the fake sends; with
    /// `forgejo`, deliveries carry Forgejo's headers. Returns the hook's id.
    pub fn add_webhook(
        &self,
        owner: &str,
        name: &str,
        url: &str,
        secret: Option<&str>,
        forgejo: bool,
    ) -> Result<i64> {
        let mut w = self.world();
        let Some(ri) = w.repo_index(owner, name) else {
            return err(format!("no repository {owner}/{name}"));
        };
        let (id, repo_id) = (w.id(), w.repos[ri].id);
        w.hooks.push(Hook {
            id,
            repo_id,
            url: url.to_string(),
            secret: secret.unwrap_or_default().to_string(),
            forgejo,
        });
        Ok(id)
    }

    /// Every delivery finished so far, in the order the events happened.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.deliveries.log().clone()
    }

    /// Wait until at least `n` deliveries have finished (answered or failed);
    /// returns them all, or an error saying how many there were at `timeout`.
    pub fn wait_deliveries(&self, n: usize, timeout: Duration) -> Result<Vec<Delivery>> {
        self.deliveries.wait(n, timeout).ok_or_else(|| {
            let had = self.deliveries.log().len();
            Error(format!(
                "{had} webhook deliveries after {timeout:?}, expected {n}"
            ))
        })
    }

    /// Send delivery `index` again as Gitea's "Redeliver" button does: the same
    /// body, a new delivery id. The new attempt is recorded as a new delivery.
    pub fn redeliver(&self, index: usize) -> Result<()> {
        let Some(job) = self.deliveries.log().get(index).map(Delivery::job) else {
            return err(format!("no delivery {index}"));
        };
        match &self.world().hook_queue {
            Some(q) => q
                .send(job)
                .map_err(|_| Error("the delivery worker stopped".into())),
            None => err("the fake is stopping".into()),
        }
    }

    /// How long a delivery waits for an answer (Gitea's `[webhook]
    /// DELIVER_TIMEOUT`, 5 s by default).
    pub fn set_deliver_timeout(&self, timeout: Duration) {
        self.deliveries.set_timeout(timeout);
    }

    /// Fix the clock at `unix` seconds (`None`: the real clock again).
    pub fn set_clock(&self, unix: Option<i64>) {
        self.world().clock = unix;
    }

    pub fn advance_clock(&self, secs: i64) {
        let mut w = self.world();
        let now = w.now();
        w.clock = Some(now + secs);
    }
}

fn matching(f: Fault, method: Option<&str>, path_contains: &str) -> Fault {
    let f = f.path(path_contains);
    match method {
        Some(m) => f.method(m),
        None => f,
    }
}

fn ensure_user(w: &mut World, login: &str) -> i64 {
    if let Some(u) = w.user_by_login(login) {
        return u.id;
    }
    let (id, created) = (w.id(), w.now());
    w.users.push(User {
        id,
        login: login.to_string(),
        full_name: String::new(),
        is_admin: false,
        created,
    });
    id
}

impl Drop for FakeGitea {
    fn drop(&mut self) {
        // The delivery worker ends once the deliveries queued so far are sent.
        self.world().hook_queue = None;
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(listener: TcpListener, world: Arc<Mutex<World>>, stop: Arc<AtomicBool>, root: String) {
    for conn in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = conn else { continue };
        let (world, root) = (world.clone(), root.clone());
        std::thread::spawn(move || connection(stream, &world, &root));
    }
}

fn connection(stream: TcpStream, world: &Mutex<World>, root: &str) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = stream.set_nodelay(true);
    let lock = || world.lock().unwrap_or_else(|p| p.into_inner());
    let req = match http::read_request(&stream) {
        Ok(req) => req,
        Err(status) => {
            let _ = http::write_response(&stream, &http::Response::empty(status));
            return;
        }
    };
    let fault = lock().take_fault(&req.method, &req.path);
    // Sleep with the world unlocked: other requests go on meanwhile.
    if let Some(f) = &fault {
        std::thread::sleep(f.delay);
    }
    let mut w = lock();
    let (resp, user) = match fault.as_ref().and_then(|f| f.answer(root)) {
        Some(resp) => (resp, None),
        None => api::handle(&mut w, root, &req),
    };
    let resp = match &fault {
        Some(f) => f.after(resp),
        None => resp,
    };
    w.log.push(Logged {
        method: req.method.clone(),
        path: req.path.clone(),
        query: req.query.clone(),
        user,
        status: resp.status,
        body: String::from_utf8_lossy(&req.body).into_owned(),
    });
    drop(w);
    let _ = http::write_response(&stream, &resp);
}
