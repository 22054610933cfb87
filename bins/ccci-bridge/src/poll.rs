//! One poll cycle: for each watched repository, the comments updated since
//! its cursor, each decided once (docs/bridge.md, "Polling").
//!
//! An idle repository costs one request: page 1 of the repository-wide
//! comment list with `since` (it answers `X-Total-Count`; further pages only
//! when there are more than 50). A pull request is fetched, and the author's
//! permission asked, only for a comment that triggers.

use crate::accept::{self, Candidate};
use crate::context::Bridge;
use crate::ledger::Ledger;
use anyhow::Result;
use ccci_core::gitea::RepoRef;
use ccci_core::{exit, ids, log};
use std::collections::BTreeMap;

/// What a cycle did, for the status line and the tests.
#[derive(Debug, Default, Clone)]
pub struct Cycle {
    pub repos: usize,
    pub requests: usize,
    pub queued: Vec<String>,
    /// Repositories Gitea could not answer for (75: down, 5xx, 429,
    /// garbage), with the one-line reason: the next cycle waits longer.
    pub trouble: BTreeMap<String, String>,
    /// Repositories that cannot be polled as configured (a 404, a 403 on
    /// the permission check, a lock held too long): waiting longer does not
    /// help, and they must not slow the others down.
    pub broken: BTreeMap<String, String>,
}

/// Poll every repository once. A repository in trouble (Gitea down, 5xx,
/// 429, garbage) is skipped with its cursor unchanged and tried again next
/// cycle; a corrupt ledger is fatal (exit 2), since going on would replay or
/// lose comments.
pub fn cycle(b: &mut Bridge, repos: &[RepoRef]) -> Result<Cycle> {
    let mut out = Cycle {
        repos: repos.len(),
        ..Cycle::default()
    };
    for repo in repos {
        let polled = b.lock().and_then(|_lock| poll_repo(b, repo, &mut out));
        match polled {
            Ok(()) => {}
            Err(e) if fatal(&e) => return Err(e),
            Err(e) if exit::code_of(&e) == exit::TEMPFAIL => {
                out.trouble.insert(repo.to_string(), exit::one_line(&e));
            }
            Err(e) => {
                out.broken.insert(repo.to_string(), exit::one_line(&e));
            }
        }
        (b.tick)();
    }
    Ok(out)
}

/// Errors that stop the bridge instead of being retried: our own state is
/// unreadable, or the state dir cannot be written.
fn fatal(e: &anyhow::Error) -> bool {
    e.downcast_ref::<Fatal>().is_some()
}

/// The carrier of a fatal error's message.
#[derive(Debug)]
pub struct Fatal(String);

impl std::fmt::Display for Fatal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Fatal {}

/// Mark an error as one the daemon must stop on, keeping its exit code.
pub fn fatal_error(e: anyhow::Error) -> anyhow::Error {
    anyhow::Error::new(exit::Code(exit::code_of(&e))).context(Fatal(exit::one_line(&e)))
}

fn poll_repo(b: &mut Bridge, repo: &RepoRef, out: &mut Cycle) -> Result<()> {
    let state_dir = b.cfg.state_dir.clone();
    let (mut ledger, fresh) =
        Ledger::load_or_start(&state_dir, repo, &ids::now_rfc3339()).map_err(fatal_error)?;
    if fresh {
        log::info(&format!(
            "{repo}: watching from {} on; earlier comments never trigger",
            ledger.watching_since
        ));
        ledger.save(&state_dir, repo).map_err(fatal_error)?;
    }
    let since = ledger.cursor.clone();
    let mut newest: Option<i64> = None;
    let mut first_total = None;
    let mut consistent = true;
    for page in 1.. {
        let got = b.gitea.repo_comments(repo, &since, page);
        out.requests += 1;
        (b.tick)();
        let got = got?;
        if page == 1 {
            first_total = got.total;
        } else if got.total != first_total {
            // The list changed under us (a comment deleted shifts the pages):
            // keep the cursor so the next cycle reads it whole again.
            consistent = false;
        }
        for c in &got.items {
            let updated = ids::parse_rfc3339(&c.updated_at);
            newest = newest.max(updated);
            let (Some(pr), Some(created)) = (c.pull_number(), ids::parse_rfc3339(&c.created_at))
            else {
                continue;
            };
            let cand = Candidate {
                id: c.id,
                pr,
                author: c.user.as_ref().map(|u| u.login.clone()).unwrap_or_default(),
                body: c.body.clone(),
                created,
            };
            if let Some(d) = accept::consider(b, repo, &mut ledger, &cand)? {
                if let Some(r) = d.run_id.clone().filter(|_| d.outcome == "queued") {
                    out.queued.push(r);
                }
                accept::record(b, repo, &mut ledger, cand.id, d).map_err(fatal_error)?;
            }
        }
        if !got.more_after(page) || got.items.is_empty() {
            break;
        }
    }
    if consistent && let Some(n) = newest {
        let old = ledger.cursor.clone();
        ledger.advance(n);
        if ledger.cursor != old {
            ledger.save(&state_dir, repo).map_err(fatal_error)?;
        }
    }
    Ok(())
}

/// The repositories to watch: the configured ones, plus every repository of
/// the configured organisations (listed by the caller at its own pace). A
/// configured repository that holds no recipe is exit 2 at start, not a
/// surprise when someone first comments.
pub fn configured(b: &Bridge) -> Result<Vec<RepoRef>> {
    let mut out: Vec<RepoRef> = vec![];
    for r in &b.cfg.bridge.repos {
        let r: RepoRef = r.parse()?;
        crate::context::recipe_for(&b.cfg.recipes_dir, &r)?;
        if !out.contains(&r) {
            out.push(r);
        }
    }
    Ok(out)
}

/// Every repository of `org` that is not archived.
pub fn org_repos(b: &mut Bridge, org: &str) -> Result<Vec<RepoRef>> {
    let mut out = vec![];
    for page in 1..=1000 {
        let got = b.gitea.org_repos(org, page);
        (b.tick)();
        let got = got?;
        let n = got.items.len();
        for r in &got.items {
            let Ok(rr) = r.full_name.parse::<RepoRef>() else {
                continue;
            };
            // An organisation holds more than recipes (docs, tools): only
            // repositories that hold one are watched.
            if !r.archived && crate::context::recipe_for(&b.cfg.recipes_dir, &rr).is_ok() {
                out.push(rr);
            }
        }
        if n == 0 || !got.more_after(page) {
            break;
        }
    }
    Ok(out)
}
