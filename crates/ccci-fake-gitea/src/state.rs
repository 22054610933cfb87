//! The fake's in-memory world: users and their tokens, repositories with
//! collaborators, pull requests (which share the per-repo issue index), plain
//! comments, commit statuses, and a log of every request.
//!
//! Shaped for what a CI bot meets: comments carry ids, authors and times (a
//! `!testme` poller de-duplicates on them), pull requests open, close, reopen and
//! get new heads, and statuses get Gitea's per-SHA index.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

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

/// An injected failure: the next `times` requests whose method matches and whose
/// path contains `path_contains` get `status` (a proxy's 502/503, a 500).
#[derive(Debug, Clone)]
pub struct Fault {
    pub method: Option<String>,
    pub path_contains: String,
    pub status: u16,
    pub times: u32,
}

#[derive(Debug, Default)]
pub struct World {
    pub users: Vec<User>,
    pub tokens: Vec<Token>,
    pub repos: Vec<Repo>,
    pub pulls: Vec<Pull>,
    pub comments: Vec<Comment>,
    pub statuses: Vec<Status>,
    pub log: Vec<Logged>,
    pub faults: VecDeque<Fault>,
    /// A fixed clock for deterministic times; `None` is the real clock.
    pub clock: Option<i64>,
    pub next_id: i64,
}

impl World {
    pub fn now(&self) -> i64 {
        self.clock.unwrap_or_else(crate::time::now)
    }

    pub fn id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
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

    /// What `user` may do in `repo`: owner, site admin, explicit collaborator,
    /// else read on a public repository.
    pub fn perm(&self, repo: &Repo, user: Option<i64>) -> Perm {
        let Some(uid) = user else {
            return if repo.private { Perm::None } else { Perm::Read };
        };
        if repo.owner_id == uid {
            return Perm::Owner;
        }
        if self.user(uid).is_some_and(|u| u.is_admin) {
            return Perm::Admin;
        }
        match repo.collaborators.get(&uid) {
            Some(p) => *p,
            None if repo.private => Perm::None,
            None => Perm::Read,
        }
    }

    /// The first fault matching this request, used up by one.
    pub fn take_fault(&mut self, method: &str, path: &str) -> Option<u16> {
        let i = self.faults.iter().position(|f| {
            f.method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
                && path.contains(&f.path_contains)
        })?;
        let f = &mut self.faults[i];
        let status = f.status;
        f.times -= 1;
        if f.times == 0 {
            self.faults.remove(i);
        }
        Some(status)
    }
}
