//! What the pages are made of, read from the state dir: every run with its
//! request and where it stands, newest first.
//!
//! A directory under `runs/` is a run of `ccci-run` when it holds `plan.json`
//! and `request.json`: the runner writes the plan first, and `ccci-deploy new`
//! the request when the install starts. Anything else is skipped quietly: a
//! leftover, a run still planning, an app made by hand with `ccci-deploy`, or a
//! dependency app (`<run>-dep-<recipe>`, which has no plan; its parent's page
//! shows it).

use anyhow::Result;
use ccci_core::results::{self, Results, Verdict};
use ccci_core::rundir::{self, Request, RunDir};
use ccci_core::{exit, state};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

pub use ccci_core::rundir::Progress;

#[derive(Debug, Clone)]
pub struct Run {
    pub id: String,
    pub path: PathBuf,
    pub request: Request,
    pub state: State,
    /// A rerun alone of that run: not the recipe's latest word.
    pub rerun_of: Option<String>,
}

#[derive(Debug, Clone)]
pub enum State {
    Finished(Box<Results>),
    /// Someone holds the run's lock; `None` until the first tier starts.
    Running(Option<Progress>),
    /// No results and nobody holds the lock: the runner was killed or its
    /// machine went down before it could write them.
    Stopped,
    /// A file the run must have did not parse; the reason, in one line.
    Unreadable(String),
}

impl Run {
    pub fn results(&self) -> Option<&Results> {
        match &self.state {
            State::Finished(r) => Some(r),
            _ => None,
        }
    }

    /// One word for the run's standing, also its CSS class.
    pub fn class(&self) -> &'static str {
        match &self.state {
            State::Finished(r) => r.verdict.as_str(),
            State::Running(_) => "running",
            State::Stopped => "stopped",
            State::Unreadable(_) => "unreadable",
        }
    }

    /// `L3 red`, `running`, `stopped`, ...
    pub fn label(&self) -> String {
        match &self.state {
            State::Finished(r) => format!("L{} {}", r.level, r.verdict),
            _ => self.class().to_string(),
        }
    }

    /// The class of its mark in a history picture: green runs are green,
    /// others take their level's colour, runs without a level are grey.
    pub fn mark_class(&self) -> String {
        match &self.state {
            State::Finished(r) if r.verdict == Verdict::Green => "m-green".into(),
            State::Finished(r) if r.verdict == Verdict::Red => format!("m-l{}", r.level.min(5)),
            State::Running(_) => "m-running".into(),
            _ => "m-grey".into(),
        }
    }
}

/// Every run of the state dir, newest first.
pub struct Runs {
    pub runs: Vec<Run>,
    /// Every directory name under `runs/`, to find a run's dependency apps.
    pub dirs: BTreeSet<String>,
    /// Inputs that could not be read, one line each.
    pub problems: Vec<String>,
}

impl Runs {
    pub fn scan(state_dir: &Path) -> Result<Runs> {
        let root = RunDir::runs_root(state_dir);
        let mut out = Runs {
            runs: vec![],
            dirs: BTreeSet::new(),
            problems: vec![],
        };
        let entries = match std::fs::read_dir(&root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(exit::usage(format!("cannot read {}: {e}", root.display()))),
        };
        for e in entries {
            let e = e?;
            let Some(id) = e.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if !rundir::valid_id(&id) || !e.file_type()?.is_dir() {
                continue;
            }
            out.dirs.insert(id.clone());
            match read_run(&e.path(), &id) {
                Ok(Some(run)) => {
                    if let State::Unreadable(why) = &run.state {
                        out.problems.push(format!("run {id}: {why}"));
                    }
                    out.runs.push(run)
                }
                Ok(None) => {}
                Err(e) => out
                    .problems
                    .push(format!("run {id}: {}", exit::one_line(&e))),
            }
        }
        // Run ids start with their time, but a run may be given any id: the
        // request's own time orders them.
        out.runs
            .sort_by(|a, b| (&b.request.created, &b.id).cmp(&(&a.request.created, &a.id)));
        Ok(out)
    }

    pub fn get(&self, id: &str) -> Option<&Run> {
        self.runs.iter().find(|r| r.id == id)
    }

    /// A recipe's runs, newest first.
    pub fn of_recipe<'a>(&'a self, recipe: &'a str) -> impl Iterator<Item = &'a Run> + 'a {
        self.runs
            .iter()
            .filter(move |r| r.request.recipe == recipe && r.rerun_of.is_none())
    }

    /// The dependency apps' run directories of a run: the ones its results
    /// name, and (while it runs) the ones named after it.
    pub fn dependency_dirs(&self, run: &Run) -> BTreeSet<String> {
        let prefix = format!("{}-dep-", run.id);
        let mut out: BTreeSet<String> = self
            .dirs
            .range(prefix.clone()..)
            .take_while(|d| d.starts_with(&prefix))
            .cloned()
            .collect();
        if let Some(r) = run.results() {
            out.extend(
                r.apps
                    .iter()
                    .filter(|a| a.role == results::Role::Dependency && rundir::valid_id(&a.run_id))
                    .map(|a| a.run_id.clone()),
            );
        }
        out.remove(&run.id);
        out
    }
}

/// One run directory; `None` when it is not a run of `ccci-run` (yet).
fn read_run(path: &Path, id: &str) -> Result<Option<Run>> {
    let dir = RunDir {
        id: id.to_string(),
        path: path.to_path_buf(),
    };
    if !dir.file("plan.json").is_file() {
        return Ok(None);
    }
    let Some(request) = state::read_json_opt::<Request>(&dir.request_path())? else {
        return Ok(None);
    };
    if !ccci_core::recipe_name::RecipeName::is_valid(&request.recipe) {
        return Err(exit::usage(format!(
            "request.json names recipe {:?}, which is not a recipe name",
            request.recipe
        )));
    }
    let state = match state::read_json_opt::<Results>(&dir.file(results::FILE)) {
        Ok(Some(r)) => State::Finished(Box::new(r)),
        Err(e) => State::Unreadable(exit::one_line(&e)),
        // A lock we cannot even try is taken for a live run: a page that
        // refreshes for nothing is better than a live run shown as dead.
        Ok(None) if state::Lock::is_held(&dir.lock_path()).unwrap_or(true) => {
            match state::read_json_opt::<Progress>(&dir.file(rundir::PROGRESS)) {
                Ok(p) => State::Running(p),
                Err(e) => State::Unreadable(exit::one_line(&e)),
            }
        }
        Ok(None) => State::Stopped,
    };
    let rerun_of = std::fs::read_to_string(dir.file(rundir::RERUN_OF))
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    Ok(Some(Run {
        id: id.to_string(),
        path: path.to_path_buf(),
        request,
        state,
        rerun_of,
    }))
}
