//! The fake's in-memory world: users and their tokens, repositories with
//! collaborators, pull requests and plain issues (which share the per-repo
//! index), plain comments, commit statuses, webhooks, scripted faults, and a log
//! of every request.
//!
//! Shaped for what a CI bot meets: comments carry ids, authors and times (a
//! `!testme` poller de-duplicates on them), pull requests open, close, reopen and
//! get new heads, and statuses get Gitea's per-SHA index.

use crate::fault::{Fault, Hit};
use crate::hooks::{Hook, Job};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::mpsc::Sender;

/// A repository permission, as `collaborators/{u}/permission` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Perm {
    None,
    Read,
    Write,
    Admin,
    Owner,
}

impl Perm {
    /// Gitea's `AccessMode.ToString()`.
    pub fn as_str(self) -> &'static str {
        match self {
            Perm::None => "none",
            Perm::Read => "read",
            Perm::Write => "write",
            Perm::Admin => "admin",
            Perm::Owner => "owner",
        }
    }
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: i64,
    pub login: String,
    pub full_name: String,
    pub is_admin: bool,
    pub created: i64,
}

#[derive(Debug, Clone)]
pub struct Token {
    pub token: String,
    pub user_id: i64,
    /// Fine-grained scopes (`write:issue`, `read:repository`, `all`); `None` is
    /// a token from before scopes existed, allowed everything.
    pub scopes: Option<Vec<String>>,
}

#[derive(Debug, Clone)]
pub struct Repo {
    pub id: i64,
    pub owner_id: i64,
    pub name: String,
    pub private: bool,
    pub archived: bool,
    pub has_pull_requests: bool,
    pub default_branch: String,
    pub created: i64,
    pub collaborators: BTreeMap<i64, Perm>,
    /// Full commit ids the repository is known to hold (PR heads and bases are
    /// added automatically); statuses can only be set on these.
    pub commits: BTreeSet<String>,
    /// The next issue/PR index.
    pub next_index: i64,
    /// Where the repository's git data really is, for tests that clone it
    /// (the fake serves no git); `None`: `{ROOT_URL}{owner}/{name}.git`.
    pub clone_url: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Open,
    Closed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Open => "open",
            State::Closed => "closed",
        }
    }
}

/// A pull request as the tests see it.
#[derive(Debug, Clone, Serialize)]
pub struct Pull {
    /// The `pull_request` row id (not the issue id).
    pub id: i64,
    /// The id of the issue row behind it (webhook payloads' `issue.id`).
    pub issue_id: i64,
    pub repo_id: i64,
    pub number: i64,
    pub poster_id: i64,
    pub title: String,
    pub body: String,
    pub state: State,
    pub draft: bool,
    pub is_locked: bool,
    pub merged: bool,
    pub merged_at: Option<i64>,
    pub merge_commit_sha: Option<String>,
    pub merged_by: Option<i64>,
    pub head_branch: String,
    /// False once the head branch is deleted: `head.ref` becomes `refs/pull/N/head`.
    pub head_branch_exists: bool,
    pub head_sha: String,
    pub base_branch: String,
    pub base_sha: String,
    pub created: i64,
    pub updated: i64,
    pub closed_at: Option<i64>,
}

/// A plain issue (not a pull request); its comments are mixed with pull
/// requests' in the repository-wide comment list.
#[derive(Debug, Clone, Serialize)]
pub struct Issue {
    pub id: i64,
    pub repo_id: i64,
    pub number: i64,
    pub poster_id: i64,
    pub title: String,
    pub body: String,
    pub state: State,
    pub created: i64,
    pub updated: i64,
    pub closed_at: Option<i64>,
}

/// What an issue and a pull request have in common, as Gitea's issue row holds
/// it: comments, webhook payloads' `issue` object.
#[derive(Debug, Clone, Copy)]
pub struct Thread<'a> {
    /// The issue id (for a pull request, not its `pull_request` id).
    pub id: i64,
    pub number: i64,
    pub poster_id: i64,
    pub title: &'a str,
    pub body: &'a str,
    pub state: State,
    pub is_locked: bool,
    pub created: i64,
    pub updated: i64,
    pub closed_at: Option<i64>,
    /// Set when the thread is a pull request.
    pub pull: Option<&'a Pull>,
}

/// A plain conversation comment (type 0), on a pull request or an issue.
#[derive(Debug, Clone, Serialize)]
pub struct Comment {
    /// Global across the instance.
    pub id: i64,
    pub repo_id: i64,
    pub issue_index: i64,
    pub user_id: i64,
    pub body: String,
    pub created: i64,
    pub updated: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// Gitea's per-(repo, sha) index: 1, 2, 3, ... for each SHA.
    pub id: i64,
    pub repo_id: i64,
    pub sha: String,
    pub state: String,
    pub target_url: String,
    pub description: String,
    pub context: String,
    pub creator_id: i64,
    pub created: i64,
}

/// One request as the server saw and answered it.
#[derive(Debug, Clone, Serialize)]
pub struct Logged {
    pub method: String,
    /// The path, still percent-encoded, without the query.
    pub path: String,
    pub query: Vec<(String, String)>,
    /// The login the credentials resolved to, if any.
    pub user: Option<String>,
    pub status: u16,
    pub body: String,
}

#[derive(Debug, Default)]
pub struct World {
    pub users: Vec<User>,
    pub tokens: Vec<Token>,
    pub repos: Vec<Repo>,
    pub pulls: Vec<Pull>,
    pub issues: Vec<Issue>,
    pub comments: Vec<Comment>,
    pub statuses: Vec<Status>,
    pub log: Vec<Logged>,
    pub faults: VecDeque<Fault>,
    pub hooks: Vec<Hook>,
    /// The delivery worker's queue: sending never blocks, so events are queued
    /// under the world's lock and delivered outside it.
    pub hook_queue: Option<Sender<Job>>,
    /// A fixed clock for deterministic times; `None` is the real clock.
    pub clock: Option<i64>,
    pub next_id: i64,
    /// Issue rows have their own ids in Gitea; a separate counter also keeps the
    /// other objects' ids what they were before issues existed here.
    pub next_issue_id: i64,
}

impl World {
    pub fn now(&self) -> i64 {
        self.clock.unwrap_or_else(crate::time::now)
    }

    pub fn id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    pub fn issue_id(&mut self) -> i64 {
        self.next_issue_id += 1;
        self.next_issue_id
    }

    pub fn user(&self, id: i64) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }

    pub fn user_by_login(&self, login: &str) -> Option<&User> {
        self.users
            .iter()
            .find(|u| u.login.eq_ignore_ascii_case(login))
    }

    /// Owner and name are matched case-insensitively, as Gitea does by `lower_name`.
    pub fn repo_index(&self, owner: &str, name: &str) -> Option<usize> {
        let owner_id = self.user_by_login(owner)?.id;
        self.repos
            .iter()
            .position(|r| r.owner_id == owner_id && r.name.eq_ignore_ascii_case(name))
    }

    /// What `user` may do in `repo`, as Gitea's `GetUserRepoPermission` says:
    /// the owner and site administrators `owner`, an explicit collaborator their
    /// permission, anyone else `read` on a public repository.
    pub fn perm(&self, repo: &Repo, user: Option<i64>) -> Perm {
        let Some(uid) = user else {
            return if repo.private { Perm::None } else { Perm::Read };
        };
        if repo.owner_id == uid || self.user(uid).is_some_and(|u| u.is_admin) {
            return Perm::Owner;
        }
        match repo.collaborators.get(&uid) {
            Some(p) => *p,
            None if repo.private => Perm::None,
            None => Perm::Read,
        }
    }

    /// Issue or pull request `number` of repository `repo_id`.
    pub fn thread(&self, repo_id: i64, number: i64) -> Option<Thread<'_>> {
        if let Some(p) = self
            .pulls
            .iter()
            .find(|p| p.repo_id == repo_id && p.number == number)
        {
            return Some(Thread {
                id: p.issue_id,
                number,
                poster_id: p.poster_id,
                title: &p.title,
                body: &p.body,
                state: p.state,
                is_locked: p.is_locked,
                created: p.created,
                updated: p.updated,
                closed_at: p.closed_at,
                pull: Some(p),
            });
        }
        let i = self
            .issues
            .iter()
            .find(|i| i.repo_id == repo_id && i.number == number)?;
        Some(Thread {
            id: i.id,
            number,
            poster_id: i.poster_id,
            title: &i.title,
            body: &i.body,
            state: i.state,
            is_locked: false,
            created: i.created,
            updated: i.updated,
            closed_at: i.closed_at,
            pull: None,
        })
    }

    pub fn is_pull(&self, repo_id: i64, number: i64) -> bool {
        self.pulls
            .iter()
            .any(|p| p.repo_id == repo_id && p.number == number)
    }

    /// A new comment bumps its issue's `updated_at`.
    pub fn touch(&mut self, repo_id: i64, number: i64, now: i64) {
        if let Some(p) = self
            .pulls
            .iter_mut()
            .find(|p| p.repo_id == repo_id && p.number == number)
        {
            p.updated = now;
        } else if let Some(i) = self
            .issues
            .iter_mut()
            .find(|i| i.repo_id == repo_id && i.number == number)
        {
            i.updated = now;
        }
    }

    /// The first fault matching this request, used up by one (or, for a storm,
    /// still running); faults whose time is up are dropped on the way.
    pub fn take_fault(&mut self, method: &str, path: &str) -> Option<Hit> {
        self.faults.retain(|f| !f.expired());
        let i = self.faults.iter().position(|f| f.matches(method, path))?;
        let (hit, used_up) = self.faults[i].take();
        if used_up {
            self.faults.remove(i);
        }
        Some(hit)
    }

    pub fn has_hooks(&self, repo_id: i64) -> bool {
        self.hooks.iter().any(|h| h.repo_id == repo_id)
    }

    /// Queue one event for every hook of the repository.
    pub fn emit(&self, repo_id: i64, event: &'static str, event_type: &'static str, body: &str) {
        let Some(queue) = &self.hook_queue else {
            return;
        };
        for h in self.hooks.iter().filter(|h| h.repo_id == repo_id) {
            // The worker only stops when the fake is dropped.
            let _ = queue.send(Job::new(h, event, event_type, body));
        }
    }
}
