//! Deciding one comment: the one place a `!testme` becomes a queued run or a
//! recorded refusal. Polls and webhooks both end here, under the bridge lock,
//! so the same comment seen twice is decided once.

use crate::context::{Bridge, recipe_for};
use crate::ledger::{Decision, Ledger};
use crate::trigger;
use anyhow::Result;
use ccci_core::gitea::RepoRef;
use ccci_core::queue::{self, Entry, QueueState};
use ccci_core::results::Trigger;
use ccci_core::{ids, log};

/// A comment on a pull request, as a poll or a webhook saw it.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub id: i64,
    pub pr: i64,
    pub author: String,
    pub body: String,
    /// Unix seconds.
    pub created: i64,
}

/// Decide `c` unless it was decided before or cannot trigger. `Ok(None)`:
/// nothing to record (not a trigger, written before watching began, already
/// decided). An error (Gitea in trouble) leaves the comment undecided, to be
/// tried again.
pub fn consider(
    b: &mut Bridge,
    repo: &RepoRef,
    ledger: &mut Ledger,
    c: &Candidate,
) -> Result<Option<Decision>> {
    if ledger.handled.contains_key(&c.id) {
        return Ok(None);
    }
    let since = ids::parse_rfc3339(&ledger.watching_since).unwrap_or(i64::MAX);
    if c.created < since {
        return Ok(None);
    }
    // Only the words decide whether to look further: an edit that turns a
    // typo into `!testme` still triggers, once.
    let Some(ask) = trigger::parse(&c.body) else {
        return Ok(None);
    };
    let decided = |outcome: &str, run_id: Option<String>, detail: String| Decision {
        at: ids::now_rfc3339(),
        pr: c.pr,
        author: c.author.clone(),
        outcome: outcome.into(),
        run_id,
        detail,
    };
    if b.know_bot()?.eq_ignore_ascii_case(&c.author) {
        return Ok(Some(decided("own-comment", None, String::new())));
    }
    if let Some(why) = refused(b, repo, &c.author)? {
        return Ok(Some(decided("not-permitted", None, why)));
    }
    let pull = b.gitea.pull(repo, c.pr);
    (b.tick)();
    let pull = match pull {
        Ok(p) => p,
        // Deleted since (or never visible to the bot): nothing to run.
        Err(e) if ccci_core::gitea::http_status(&e) == Some(404) => {
            return Ok(Some(decided(
                "not-open",
                None,
                "no such pull request".into(),
            )));
        }
        Err(e) => return Err(e),
    };
    if pull.state != "open" || pull.merged {
        let st = if pull.merged { "merged" } else { &pull.state };
        return Ok(Some(decided(
            "not-open",
            None,
            format!("pull request is {st}"),
        )));
    }
    let sha = pull.head.sha.to_ascii_lowercase();
    let full = repo.to_string();
    let entries = queue::load_all(&b.cfg.state_dir)?;
    // A crash after writing the entry but before recording the decision:
    // the entry is the decision.
    if let Some(e) = entries
        .iter()
        .find(|e| e.comment_id == Some(c.id) && same_repo(e, &full))
    {
        return Ok(Some(decided(
            "queued",
            Some(e.run_id.clone()),
            String::new(),
        )));
    }
    if let Some(e) = entries.iter().find(|e| {
        e.state == QueueState::Queued
            && same_repo(e, &full)
            && e.pr == Some(c.pr as u64)
            && e.head_sha == sha
            && e.quick == ask.quick
    }) {
        return Ok(Some(decided(
            "duplicate",
            Some(e.run_id.clone()),
            "a run of this head is already queued".into(),
        )));
    }
    let (recipe, settings) = recipe_for(&b.recipes_dir(), repo)?;
    // The pull request's base repository holds `refs/pull/<n>/head`, fork or
    // not; the recipe's configured mirror is the fallback.
    let clone = pull
        .base
        .repo
        .as_ref()
        .map(|r| r.clone_url.clone())
        .filter(|u| !u.is_empty())
        .or_else(|| settings.repo.clone())
        .ok_or_else(|| {
            ccci_core::exit::usage(format!(
                "{full}#{}: Gitea did not say the repository's clone URL and recipe {recipe} sets no repo",
                c.pr
            ))
        })?;
    let entry = Entry {
        schema: queue::SCHEMA,
        seq: queue::next_seq(&entries),
        run_id: ids::new_run_id()?,
        recipe,
        repo: clone,
        gitea_repo: Some(full.clone()),
        pr: Some(c.pr as u64),
        head_sha: sha,
        comment_id: Some(c.id),
        author: Some(c.author.clone()),
        trigger: Trigger::Testme,
        quick: ask.quick,
        state: QueueState::Queued,
        queued_at: ids::now_rfc3339(),
        started_at: None,
        finished_at: None,
        exit_code: None,
        launched: None,
    };
    queue::save(&b.cfg.state_dir, &entry)?;
    let mut detail = String::new();
    if !ask.ignored.is_empty() {
        detail = format!("ignored words: {}", ask.ignored.join(" "));
    }
    log::info(&format!(
        "{full}#{}: !testme{} by {} (comment {}): queued run {} of {}",
        c.pr,
        if ask.quick { " quick" } else { "" },
        c.author,
        c.id,
        entry.run_id,
        &entry.head_sha[..12.min(entry.head_sha.len())]
    ));
    Ok(Some(decided("queued", Some(entry.run_id), detail)))
}

fn same_repo(e: &Entry, full: &str) -> bool {
    e.gitea_repo
        .as_deref()
        .is_some_and(|g| g.eq_ignore_ascii_case(full))
}

/// Why `login` may not trigger on `repo`, or `None` when it may: on the allow
/// list, or write, admin or owner permission (the effective one, which
/// counts owners and teams; the plain collaborator check does not).
fn refused(b: &mut Bridge, repo: &RepoRef, login: &str) -> Result<Option<String>> {
    if b.cfg
        .bridge
        .allow
        .iter()
        .any(|a| a.eq_ignore_ascii_case(login))
    {
        return Ok(None);
    }
    let perm = b.gitea.permission(repo, login);
    (b.tick)();
    let perm = match perm {
        Ok(p) => p,
        // An unknown user (deleted since) has no permission.
        Err(e) if ccci_core::gitea::http_status(&e) == Some(404) => "none".into(),
        Err(e) => return Err(e),
    };
    Ok((!matches!(perm.as_str(), "write" | "admin" | "owner"))
        .then(|| format!("{login} has {perm} permission; write, admin or owner is needed")))
}

/// Record a decision and save the ledger at once, so a crash right after
/// loses at most the write in flight (the queue entry then decides).
pub fn record(b: &Bridge, repo: &RepoRef, ledger: &mut Ledger, id: i64, d: Decision) -> Result<()> {
    if d.outcome != "queued" {
        log::info(&format!(
            "{repo}#{}: !testme by {} (comment {id}) starts no run: {}{}",
            d.pr,
            d.author,
            d.outcome,
            if d.detail.is_empty() {
                String::new()
            } else {
                format!(" ({})", d.detail)
            }
        ));
    }
    ledger.handled.insert(id, d);
    ledger.save(&b.cfg.state_dir, repo)
}
