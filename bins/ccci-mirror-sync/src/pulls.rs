//! The mirror's open pull requests after the sync: one whose merge into the
//! new main would change nothing (its changes are already upstream) is closed
//! with a comment saying why; every other one is left exactly as it was. The
//! test is on trees, not on commit ids, so a change upstream took over as a
//! cherry-pick, a squash or a re-typed commit counts as merged.

use crate::git::{Cache, Refs};
use crate::report::{PullOutcome, Pulls};
use anyhow::Result;
use ccci_core::gitea::{Gitea, PullRequest, RepoRef};

/// Every closing comment starts with this, so that a run which commented but
/// could not close does not comment twice.
pub const MARKER: &str = "Closed by ccci-mirror-sync:";

pub struct Check<'a> {
    pub cache: &'a Cache,
    pub gitea: &'a Gitea,
    pub repo: &'a RepoRef,
    pub branch: &'a str,
    /// The mirror's main after the sync: upstream's main.
    pub main: &'a str,
    /// Every ref the mirror advertised before the sync (branches, `refs/pull/*`).
    pub mirror_refs: &'a Refs,
    /// The cache's own refs: pull request heads fetched by earlier runs.
    pub cached: &'a Refs,
    pub dry_run: bool,
}

/// One pull request whose head commit is on the mirror, ready to be judged.
struct Candidate {
    pull: PullRequest,
    src: String,
}

fn outcome(p: &PullRequest, reason: impl Into<String>) -> PullOutcome {
    PullOutcome {
        number: p.number,
        title: p.title.replace(['\n', '\r'], " "),
        head: p.head.sha.clone(),
        reason: reason.into(),
    }
}

pub fn check(c: &Check) -> Result<Pulls> {
    let mut result = Pulls {
        checked: true,
        ..Pulls::default()
    };
    let open = c.gitea.open_pulls(c.repo)?;
    if open.is_empty() {
        return Ok(result);
    }
    let mut candidates = vec![];
    for p in open {
        if p.base.ref_ != c.branch {
            let why = format!("targets {}, not {}", p.base.ref_, c.branch);
            result.left.push(outcome(&p, why));
            continue;
        }
        // Gitea keeps refs/pull/N/head for every pull request, even after its
        // branch is deleted; the branch itself is the fallback.
        let pull_ref = format!("refs/pull/{}/head", p.number);
        let branch_ref = if p.head.ref_.starts_with("refs/") {
            p.head.ref_.clone()
        } else {
            format!("refs/heads/{}", p.head.ref_)
        };
        let found = [&pull_ref, &branch_ref].into_iter().find_map(|r| {
            c.mirror_refs
                .get(r.as_str())
                .map(|oid| (r.clone(), oid.clone()))
        });
        match found {
            Some((src, oid)) if oid == p.head.sha => candidates.push(Candidate { pull: p, src }),
            Some((src, oid)) => {
                let why = format!(
                    "its head moved during the sync: Gitea says {}, the mirror's {src} is {}",
                    short(&p.head.sha),
                    short(&oid)
                );
                result.left.push(outcome(&p, why));
            }
            None => {
                let why = format!("its head {} is not on the mirror", short(&p.head.sha));
                result.left.push(outcome(&p, why));
            }
        }
    }
    if !candidates.is_empty() {
        judge(c, candidates, &mut result)?;
    }
    result.left.sort_by_key(|p| p.number);
    Ok(result)
}

/// Fetch the candidates' heads and close those whose merge changes nothing.
fn judge(c: &Check, candidates: Vec<Candidate>, result: &mut Pulls) -> Result<()> {
    // Only heads the cache does not hold yet: a sync with nothing new fetches nothing.
    let refspecs: Vec<String> = candidates
        .iter()
        .filter(|k| {
            c.cached
                .get(&format!("refs/mirror/pulls/{}", k.pull.number))
                != Some(&k.pull.head.sha)
        })
        .map(|k| format!("+{}:refs/mirror/pulls/{}", k.src, k.pull.number))
        .collect();
    if !refspecs.is_empty() {
        c.cache.fetch("mirror", &refspecs, false)?;
    }
    let main_tree = c.cache.tree_of(c.main)?;
    for k in candidates {
        let p = &k.pull;
        match c.cache.merge_tree(c.main, &p.head.sha)? {
            None => result
                .left
                .push(outcome(p, format!("it conflicts with {}", c.branch))),
            Some(tree) if tree != main_tree => result
                .left
                .push(outcome(p, format!("merging it would change {}", c.branch))),
            Some(_) => {
                if !c.dry_run {
                    close(c, p)?;
                }
                result.closed.push(outcome(
                    p,
                    format!(
                        "already upstream: merging it would change nothing in {}",
                        c.branch
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn close(c: &Check, p: &PullRequest) -> Result<()> {
    let said = c
        .gitea
        .comments(c.repo, p.number)?
        .iter()
        .any(|cm| cm.body.starts_with(MARKER));
    if !said {
        let body = format!(
            "{MARKER} merging this pull request into `{b}` would change nothing. \
             Upstream's `{b}` ({main}) already contains its changes, and this mirror's \
             `{b}` now equals upstream's.\n\nThe branch `{head}` ({sha}) is left as it is.",
            b = c.branch,
            main = c.main,
            head = p.head.ref_,
            sha = p.head.sha,
        );
        c.gitea.comment(c.repo, p.number, &body)?;
    }
    c.gitea.close_pull(c.repo, p.number)?;
    Ok(())
}

fn short(sha: &str) -> &str {
    sha.get(..10).unwrap_or(sha)
}
