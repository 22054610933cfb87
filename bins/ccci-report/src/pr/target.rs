//! Where a run's verdict goes on Gitea: the repository, the pull request (if
//! any) and the commit whose status is set.
//!
//! A run the bridge queued says it all in its queue entry. Any other run (a
//! sweep, a hand-run `ccci-run`) is reported when its recipe names its Gitea
//! repository (`gitea_repo` in recipe.json): a commit status on the tested
//! commit, and a comment when the run tested a pull request.

use anyhow::Result;
use ccci_core::gitea::RepoRef;
use ccci_core::plan::Plan;
use ccci_core::results::Results;
use ccci_core::rundir::{Request, RunDir};
use ccci_core::{queue, state};
use std::path::Path;

#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub repo: RepoRef,
    pub pr: Option<i64>,
    pub sha: String,
    pub recipe: String,
}

/// The target of run `id`, or `None` when nothing says where on Gitea it
/// belongs (then there is nothing to report, which is no error).
pub fn of(state_dir: &Path, id: &str) -> Result<Option<Target>> {
    if let Some(e) = queue::load_all(state_dir)?
        .into_iter()
        .find(|e| e.run_id == id)
        && let Some(g) = &e.gitea_repo
    {
        return Ok(Some(Target {
            repo: g.parse()?,
            pr: e.pr.map(|n| n as i64),
            sha: e.head_sha,
            recipe: e.recipe,
        }));
    }
    let dir = RunDir::runs_root(state_dir).join(id);
    let plan: Option<Plan> = state::read_json_opt(&dir.join("plan.json"))?;
    let Some(plan) = plan else {
        return Ok(None);
    };
    let Some(g) = plan.settings.gitea_repo.as_deref() else {
        return Ok(None);
    };
    let results: Option<Results> = state::read_json_opt(&dir.join(ccci_core::results::FILE))?;
    let request: Option<Request> = state::read_json_opt(&dir.join("request.json"))?;
    let pr = results
        .as_ref()
        .and_then(|r| r.pr)
        .or_else(|| request.as_ref().and_then(|r| r.pr));
    Ok(Some(Target {
        repo: g.parse()?,
        pr: pr.map(|n| n as i64),
        sha: plan.head_sha,
        recipe: plan.recipe,
    }))
}
