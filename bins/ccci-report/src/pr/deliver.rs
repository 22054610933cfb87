//! Delivering a report, durably: `<state>/reports/<run-id>.json` records the
//! comment's id, what was asked last (`start` or `finish`) and whether it
//! still has to be sent. The run directory cannot hold it: a queued run is
//! reported as started before its runner has made that directory.
//!
//! - The comment is created once and edited after: its id is saved the moment
//!   Gitea answers, and before creating one the pull request's comments are
//!   searched for this run's marker (a crash between the two does not make a
//!   second comment).
//! - A comment deleted by someone is recreated once; deleted again, only the
//!   commit status is kept up to date.
//! - Gitea down, 429 or 5xx: three tries with growing pauses, then the report
//!   stays `pending` and exit 75; `ccci-report deliver` (the bridge calls it
//!   every cycle) or `resend` sends it later. A report is never dropped.
//! - `start` never overwrites a `finish`: a late start report changes nothing.

use crate::pr::body::{self, StatusLine};
use crate::pr::target::Target;
use anyhow::Result;
use ccci_core::gitea::{Gitea, NewStatus, RepoRef, http_status};
use ccci_core::{exit, ids, log, state};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const SCHEMA: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Start,
    Finish,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Report {
    pub schema: u32,
    pub run_id: String,
    pub repo: String,
    pub pr: Option<i64>,
    pub sha: String,
    pub recipe: String,
    pub comment_id: Option<i64>,
    /// The comment was deleted once and made again.
    #[serde(default)]
    pub recreated: bool,
    /// The newest phase asked for.
    pub want: Phase,
    /// The newest phase delivered in full (comment and status).
    pub sent: Option<Phase>,
    pub pending: bool,
    #[serde(default)]
    pub last_error: String,
    pub updated: String,
}

pub fn dir(state_dir: &Path) -> PathBuf {
    state_dir.join("reports")
}

fn path(state_dir: &Path, id: &str) -> PathBuf {
    dir(state_dir).join(format!("{id}.json"))
}

/// What to send for a phase: the comment body and the status.
pub struct Message {
    pub body: String,
    pub status: StatusLine,
    pub target_url: String,
}

/// Record that `phase` is wanted for the run, then try to deliver it.
/// `make` builds the message from the report (called only when sending).
pub fn report(
    state_dir: &Path,
    gitea: &Gitea,
    t: &Target,
    run_id: &str,
    phase: Phase,
    make: &dyn Fn(Phase) -> Result<Message>,
) -> Result<Report> {
    std::fs::create_dir_all(dir(state_dir))
        .map_err(|e| exit::usage(format!("cannot create {}: {e}", dir(state_dir).display())))?;
    let _lock = state::Lock::acquire(
        &dir(state_dir).join(format!("{run_id}.lock")),
        Duration::from_secs(60),
        "the run's report",
    )?;
    let p = path(state_dir, run_id);
    let mut r = match state::read_json_opt::<Report>(&p)? {
        Some(r) => r,
        None => Report {
            schema: SCHEMA,
            run_id: run_id.to_string(),
            repo: t.repo.to_string(),
            pr: t.pr,
            sha: t.sha.clone(),
            recipe: t.recipe.clone(),
            comment_id: None,
            recreated: false,
            want: phase,
            sent: None,
            pending: true,
            last_error: String::new(),
            updated: ids::now_rfc3339(),
        },
    };
    if phase >= r.want {
        r.want = phase;
        r.pending = true;
    } else if !r.pending {
        // A start reported after the finish: the verdict stands.
        return Ok(r);
    }
    // A hand-run run may say its pull request only in its results.
    if r.pr.is_none() {
        r.pr = t.pr;
    }
    r.updated = ids::now_rfc3339();
    state::write_json(&p, &r)?;
    send(state_dir, gitea, &mut r, make)?;
    Ok(r)
}

/// Send what `r` wants, with retries; the outcome is saved either way.
pub fn send(
    state_dir: &Path,
    gitea: &Gitea,
    r: &mut Report,
    make: &dyn Fn(Phase) -> Result<Message>,
) -> Result<()> {
    let p = path(state_dir, &r.run_id);
    let msg = make(r.want)?;
    let mut last = None;
    for attempt in 0..3u32 {
        if attempt > 0 {
            std::thread::sleep(Duration::from_millis(500 << attempt));
        }
        match send_once(gitea, r, &msg, &p) {
            Ok(()) => {
                r.sent = Some(r.want);
                r.pending = false;
                r.last_error.clear();
                r.updated = ids::now_rfc3339();
                state::write_json(&p, r)?;
                return Ok(());
            }
            Err(e) if exit::code_of(&e) == exit::TEMPFAIL => last = Some(e),
            Err(e) => {
                last = Some(e);
                break;
            }
        }
    }
    let e = last.unwrap_or_else(|| exit::coded(exit::BUG, "no attempt was made"));
    r.pending = true;
    r.last_error = exit::one_line(&e);
    r.updated = ids::now_rfc3339();
    state::write_json(&p, r)?;
    Err(e)
}

fn send_once(gitea: &Gitea, r: &mut Report, msg: &Message, p: &Path) -> Result<()> {
    let repo: RepoRef = r.repo.parse()?;
    if let Some(pr) = r.pr {
        comment(gitea, &repo, pr, r, &msg.body, p)?;
    }
    gitea.create_status(
        &repo,
        &r.sha,
        &NewStatus {
            state: msg.status.state,
            context: body::CONTEXT,
            description: &msg.status.description,
            target_url: &msg.target_url,
        },
    )?;
    Ok(())
}

/// Create or edit the run's one comment.
fn comment(
    gitea: &Gitea,
    repo: &RepoRef,
    pr: i64,
    r: &mut Report,
    text: &str,
    p: &Path,
) -> Result<()> {
    if r.comment_id.is_none() {
        // Made by an earlier try that died before saving the id?
        let marker = body::marker(&r.run_id);
        r.comment_id = gitea
            .comments(repo, pr)?
            .into_iter()
            .find(|c| c.body.starts_with(&marker))
            .map(|c| c.id);
    }
    match r.comment_id {
        Some(id) => match gitea.edit_comment(repo, id, text) {
            Ok(_) => Ok(()),
            Err(e) if http_status(&e) == Some(404) => {
                if r.recreated {
                    log::warn(&format!(
                        "{repo}#{pr}: the run's comment was deleted twice; only the commit status is updated"
                    ));
                    return Ok(());
                }
                log::info(&format!(
                    "{repo}#{pr}: the run's comment was deleted; making it again"
                ));
                let c = gitea.comment(repo, pr, text)?;
                r.comment_id = Some(c.id);
                r.recreated = true;
                state::write_json(p, r)
            }
            Err(e) => Err(e),
        },
        None => {
            let c = gitea.comment(repo, pr, text)?;
            r.comment_id = Some(c.id);
            state::write_json(p, r)
        }
    }
}

/// Every report still pending, and the files that could not be read (one
/// damaged file must not hold back every other verdict).
pub fn pending(state_dir: &Path) -> (Vec<Report>, Vec<String>) {
    let d = dir(state_dir);
    let Ok(rd) = std::fs::read_dir(&d) else {
        return (vec![], vec![]);
    };
    let (mut out, mut bad) = (vec![], vec![]);
    for e in rd.flatten() {
        let n = e.file_name().to_string_lossy().to_string();
        if n.ends_with(".json") && !n.starts_with('.') {
            match state::read_json::<Report>(&e.path()) {
                Ok(r) if r.pending => out.push(r),
                Ok(_) => {}
                Err(err) => bad.push(exit::one_line(&err)),
            }
        }
    }
    out.sort_by(|a, b| a.updated.cmp(&b.updated));
    (out, bad)
}

pub fn load(state_dir: &Path, id: &str) -> Result<Option<Report>> {
    state::read_json_opt(&path(state_dir, id))
}
