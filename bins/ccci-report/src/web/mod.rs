//! The web view: static pages under `<state>/www/`, for any web server to
//! serve as they are.
//!
//! ```text
//! index.html                 every recipe's last level; what runs, what waits
//! style.css, favicon.svg
//! runs/<id>/index.html       one run; reloads every 10 s while it runs
//! runs/<id>/logs/...log.txt  its logs, masked
//! runs/<id>/junit.xml        masked
//! recipes/<recipe>/index.html  history (a picture of every run), newest runs
//! badges/<recipe>.svg        ccci | L5
//! ```
//!
//! Every link is relative and stays inside the folder; a run is linked only
//! once its page exists.

mod badge;
mod history;
mod index;
mod layout;
mod logs;
// The pull request reports mask what they quote with it too.
pub(crate) mod mask;
mod model;
mod out;
mod recipe_page;
mod run_page;

use anyhow::Result;
use ccci_core::canonical::{self, Canonical};
use ccci_core::cli::Ctx;
use ccci_core::{exit, queue, rundir, state, verdict};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Held while pages are written, beside the folder (not served from it).
const LOCK: &str = "www.lock";

/// A recipe's canonical record: none yet, or why it could not be read.
type Canon = Result<Option<Canonical>, String>;

/// What a regeneration wrote.
#[derive(Debug, Serialize)]
pub struct Written {
    pub www: PathBuf,
    /// Pages and badges written, relative to `www`.
    pub pages: Vec<String>,
    /// Every file produced (pages, badges, copied logs, the stylesheet)...
    pub files: usize,
    /// ...and how many of them changed; the others already held that content.
    pub changed: usize,
    /// Inputs that could not be read, one line each. Their pages, and the
    /// index, say so; a run whose secrets cannot be read gets no page.
    pub problems: Vec<String>,
}

/// Regenerate run `run`'s page, its recipe's page and badge and the index;
/// or, without a run, every page.
pub fn regenerate(state_dir: &Path, run: Option<&str>) -> Result<Written> {
    // One regeneration at a time, from its reading to its last write: the
    // runner asks at every tier, and a slower one that read earlier must not
    // write its older picture over a newer one.
    let _lock = state::Lock::acquire(
        &state_dir.join(LOCK),
        Duration::from_secs(120),
        "the web pages",
    )?;
    let runs = model::Runs::scan(state_dir)?;
    let mut problems = runs.problems.clone();
    let (run_pages, recipe_pages): (Vec<&model::Run>, Vec<String>) = match run {
        Some(id) => match find(state_dir, &runs, id)? {
            Some(r) => (vec![r], vec![r.request.recipe.clone()]),
            None => (vec![], vec![]),
        },
        None => (runs.runs.iter().collect(), vec![]),
    };
    let mut www = out::Www::open(state_dir)?;
    let mut pages = vec![];
    www.write("style.css", layout::STYLE.as_bytes())?;
    www.write("favicon.svg", layout::FAVICON.as_bytes())?;
    for r in run_pages {
        match run_page::write(&mut www, state_dir, r, &runs) {
            Ok(p) => {
                problems.extend(p);
                pages.push(out::run_page(&r.id));
            }
            Err(e) => problems.push(format!(
                "run {} not published: {}",
                r.id,
                exit::one_line(&e)
            )),
        }
    }
    let recipes = recipes(state_dir, &runs)?;
    for (recipe, canon) in &recipes {
        if let Err(why) = canon {
            problems.push(format!("recipe {recipe}: {why}"));
        }
        if run.is_some() && !recipe_pages.contains(recipe) {
            continue;
        }
        recipe_page::write(&mut www, recipe, &runs, canon)?;
        pages.push(out::recipe_page(recipe));
        let b = badge::of(runs.of_recipe(recipe));
        www.write(&out::badge(recipe), badge::svg(&b).as_bytes())?;
        pages.push(out::badge(recipe));
    }
    let queue = queue::load_all(state_dir).map_err(|e| exit::one_line(&e));
    if let Err(why) = &queue {
        problems.push(format!("queue: {why}"));
    }
    let inputs = index::Inputs {
        runs: &runs,
        recipes: &recipes,
        queue: &queue,
        problems: &problems,
    };
    index::write(&mut www, &inputs)?;
    pages.push("index.html".into());
    Ok(Written {
        www: www.root().to_path_buf(),
        pages,
        files: www.files,
        changed: www.changed,
        problems,
    })
}

/// The run `--run` names; `None` for a directory that is no run (yet): the
/// runner asks for pages from its first moment, before `request.json`
/// exists, and then the index is all there is to show. A run id that names
/// no directory is exit 2.
fn find<'a>(state_dir: &Path, runs: &'a model::Runs, id: &str) -> Result<Option<&'a model::Run>> {
    if !rundir::valid_id(id) {
        return Err(exit::usage(format!("invalid run id {id:?}")));
    }
    if let Some(r) = runs.get(id) {
        return Ok(Some(r));
    }
    let dir = rundir::RunDir::runs_root(state_dir).join(id);
    if dir.is_dir() {
        Ok(None)
    } else {
        Err(exit::usage(format!("no such run: {}", dir.display())))
    }
}

/// Every recipe that has runs or a canonical record, with that record.
fn recipes(state_dir: &Path, runs: &model::Runs) -> Result<BTreeMap<String, Canon>> {
    let mut names: BTreeSet<String> = runs.runs.iter().map(|r| r.request.recipe.clone()).collect();
    let root = state_dir.join("canonical");
    if let Ok(entries) = std::fs::read_dir(&root) {
        for e in entries {
            let e = e?;
            if let Some(name) = e.file_name().to_str()
                && ccci_core::recipe_name::RecipeName::is_valid(name)
                && canonical::path(state_dir, name).exists()
            {
                names.insert(name.to_string());
            }
        }
    }
    Ok(names
        .into_iter()
        .map(|n| {
            let c = canonical::read(state_dir, &n).map_err(|e| exit::one_line(&e));
            (n, c)
        })
        .collect())
}

#[derive(clap::Args, Debug)]
pub struct PagesArgs {
    /// Only this run's page, its recipe's page and badge, and the index
    #[arg(long, value_name = "RUN_ID")]
    pub run: Option<String>,
}

pub fn pages_command(ctx: &Ctx, args: &PagesArgs) -> Result<i32> {
    let state_dir = ctx.cfg.ensure_state_dir()?;
    let w = regenerate(state_dir, args.run.as_deref())?;
    if let Some(first) = w.problems.first() {
        // The pages are written and say what was unreadable; the exit code
        // tells whoever called us that an input needs a look.
        return Err(exit::usage(format!(
            "{} input(s) could not be read, see {}: {first}",
            w.problems.len(),
            w.www.join("index.html").display()
        )));
    }
    let mut said = format!(
        "{} page{} under {} ({} of {} files changed)",
        w.pages.len(),
        if w.pages.len() == 1 { "" } else { "s" },
        w.www.display(),
        w.changed,
        w.files
    );
    if let Some(id) = &args.run
        && !w.pages.contains(&out::run_page(id))
    {
        said.push_str(&format!(
            "; run {id} has no page yet (it has no plan.json and request.json: still \
             planning, a leftover, or an app made by hand or as a dependency)"
        ));
    }
    if ctx.json {
        verdict::print("ok", &said, serde_json::to_value(&w)?);
    } else {
        println!("{said}");
    }
    Ok(exit::OK)
}
