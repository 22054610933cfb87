//! `ccci-promote`: may this run's release become the recipe's canonical (last
//! known-good) release? If so, record it; if a canonical app exists, advance it
//! warm first: redeploy the new release on its retained volumes.

use anyhow::Result;
use ccci_core::canonical::{self, Canonical};
use ccci_core::results::{self, Results};
use ccci_core::rundir::RunDir;
use ccci_core::settings::{self, Settings};
use ccci_core::tool;
use ccci_core::version::Version;
use ccci_core::{exit, log, state};
use clap::Parser;
use serde_json::json;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "ccci-promote",
    version,
    about = "Decide whether a green run may become a recipe's canonical release, and record it",
    long_about = "Decide whether a green run may become a recipe's canonical release, and record it.\n\n\
Promotes only when the recipe is enrolled, the run was fully green, cold (not a quick reattach), \
tested a release tag whose commit it recorded, and kept its data (ccci-run --keep-volumes). The \
first promote makes the run's app the canonical app; later ones advance that app warm: the new \
release is redeployed on its retained volumes and must come up healthy, else the canonical stays \
as it was. The run's own kept data is released either way.\n\n\
Exit codes: 0 promoted, 1 refused (why on stdout), 2 bad input (also a corrupt canonical file), \
75 busy or Docker unreachable.",
    after_help = "Example:\n  \
ccci-run --recipe demo --repo /srv/mirrors/demo.git --ref 0.2.0+1.1 --trigger sweep --keep-volumes --run-id 20261130T020000Z-ab12cd\n  \
ccci-promote 20261130T020000Z-ab12cd"
)]
pub struct Cli {
    #[command(flatten)]
    global: ccci_core::cli::Global,
    /// Recipes directory (default: config `recipes_dir` or $CCCI_RECIPES_DIR)
    #[arg(long, value_name = "DIR")]
    recipes_dir: Option<PathBuf>,
    /// Run id or run directory of a finished run
    run: String,
}

/// The command line, for generated man pages and shell completions.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

/// Why a run may not be promoted, or `None` when it may.
pub fn refusal(r: &Results, s: &Settings, retained: bool) -> Option<String> {
    if !s.enrolled {
        return Some(format!("recipe {} is not enrolled", r.recipe));
    }
    if r.mode != results::Mode::Cold {
        return Some(format!(
            "the run was a {} run (a warm reattach); only cold runs promote",
            r.mode
        ));
    }
    let Some(tag) = &r.tested_tag else {
        return Some(format!(
            "{} is not a release tag: an untagged green never promotes",
            r.r#ref
        ));
    };
    if Version::parse(tag).is_err() {
        return Some(format!("{tag} is not a release tag"));
    }
    if r.verdict != results::Verdict::Green || !results::green(&r.tiers, &r.teardown) {
        let first = r
            .tiers
            .iter()
            .find(|t| !t.status.climbed())
            .map(|t| format!("; {} is {}: {}", t.name, t.status.as_str(), t.summary))
            .unwrap_or_default();
        return Some(format!(
            "the run is not green (verdict {}, level L{}{first})",
            r.verdict, r.level
        ));
    }
    if !retained {
        return Some(
            "the run kept no data to carry forward (run it with ccci-run --keep-volumes)".into(),
        );
    }
    None
}

struct Tools {
    state_dir: PathBuf,
    /// The promoted run, whose lock we hold for the children.
    run_id: String,
}

impl Tools {
    /// Call ccci-deploy (`ccci_core::tool`): its yes or no and its one-line
    /// summary; its stderr goes to ours. Trouble or a bug is an error here.
    fn deploy(&self, args: &[&str]) -> Result<(i32, String)> {
        let what = format!("ccci-deploy {} failed", args.join(" "));
        let (yes, v) = tool::call_for_run("ccci-deploy", args, &self.state_dir, &self.run_id)?
            .yes_or_no(&what)?;
        Ok((if yes { exit::OK } else { exit::NO }, v.summary))
    }
}

pub fn run(cli: Cli) -> Result<i32> {
    let ctx = cli.global.ctx()?;
    let state_dir = ctx.cfg.ensure_state_dir()?.to_path_buf();
    let recipes = settings::recipes_dir(cli.recipes_dir.as_deref(), &ctx.cfg)?;
    let run = RunDir::open(&state_dir, &cli.run)?;
    // A run still going holds its lock; wait for it, say so, then give up (75).
    let _lock = run.lock()?;
    let r: Results = state::read_json_opt(&run.file(results::FILE))?.ok_or_else(|| {
        exit::usage(format!(
            "run {} has no {} (did it finish?)",
            run.id,
            results::FILE
        ))
    })?;
    let s = Settings::load(&recipes, &r.recipe)?;
    let retained = run.retained()?;
    let tools = Tools {
        state_dir: state_dir.clone(),
        run_id: run.id.clone(),
    };
    let report = |promoted: bool, why: &str, c: Option<&Canonical>| -> Result<i32> {
        run.ledger("promote", json!({"promoted": promoted, "why": why}))?;
        if ctx.json {
            ccci_core::verdict::print(
                if promoted { "promoted" } else { "refused" },
                why,
                json!({"promoted": promoted, "recipe": r.recipe, "run_id": run.id, "reason": why, "canonical": c}),
            );
        } else {
            println!("{}: {why}", if promoted { "promoted" } else { "refused" });
        }
        Ok(if promoted { exit::OK } else { exit::NO })
    };
    // Whatever the outcome, a run's own kept data does not outlive the decision
    // unless it becomes the canonical app.
    let release = |tools: &Tools| -> Result<()> {
        if run.retained()?.is_some() {
            let (code, text) = tools.deploy(&["teardown", &run.id, "--release"])?;
            if code != exit::OK {
                log::warn(&format!("releasing the data of run {}: {text}", run.id));
            }
        }
        Ok(())
    };

    if let Some(why) = refusal(&r, &s, retained.is_some()) {
        release(&tools)?;
        return report(false, &why, None);
    }
    let tag = r.tested_tag.clone().unwrap_or_default();
    let version = Version::parse(&tag).map_err(|e| exit::usage(e.to_string()))?;
    // The tag's own commit, as the run's clone knows it: a tag moved since the
    // run means the run did not test what the tag now names.
    let commit = canonical::tag_commit(&run.recipe_dir(), &tag)?;
    if commit != r.head_sha {
        release(&tools)?;
        return report(
            false,
            &format!(
                "tag {tag} names commit {commit}, but the run tested {}",
                r.head_sha
            ),
            None,
        );
    }
    let guard = canonical::lock(&state_dir, &r.recipe)?;
    // A corrupt canonical file is exit 2 here, before anything changes.
    let current = guard.read()?;
    if let Some(c) = &current
        && c.version >= version
    {
        release(&tools)?;
        return report(
            false,
            &format!(
                "the canonical release of {} is already {} (not older than {tag})",
                r.recipe, c.version
            ),
            Some(c),
        );
    }
    let retained = retained.unwrap_or_else(|| unreachable!("checked by refusal"));
    let Some(current) = current else {
        // The first promote: this run's app becomes the canonical app.
        let c = Canonical::new(&r.recipe, version, &commit, &run.id, retained.volumes);
        guard.write(&c)?;
        return report(
            true,
            &format!(
                "{} {tag} ({}) is canonical, seeded from run {}; {} volumes retained",
                r.recipe,
                &commit[..12],
                run.id,
                c.retained_volumes.len()
            ),
            Some(&c),
        );
    };
    // Advance warm: the new release on the canonical app's long-lived data.
    let app_run = current.app_run().to_string();
    let (code, verdict) = tools.deploy(&["upgrade", &app_run, "--ref", &tag])?;
    // Stop the canonical app again, keeping its data, whatever the upgrade did.
    let (down, down_text) = tools.deploy(&["teardown", &app_run])?;
    release(&tools)?;
    if code != exit::OK {
        return report(
            false,
            &format!(
                "warm advance of the canonical app (run {app_run}) from {} to {tag} failed: {}; \
                 the canonical stays {}",
                current.version,
                verdict.lines().next().unwrap_or(""),
                current.version
            ),
            Some(&current),
        );
    }
    if down != exit::OK {
        log::warn(&format!("stopping the canonical app: {down_text}"));
    }
    let app_dir = RunDir::open(&state_dir, &app_run)?;
    let volumes = app_dir
        .retained()?
        .map(|r| r.volumes)
        .unwrap_or(current.retained_volumes.clone());
    let mut c = Canonical::new(&r.recipe, version, &commit, &run.id, volumes);
    c.app_run = Some(app_run.clone());
    guard.write(&c)?;
    report(
        true,
        &format!(
            "{} advanced warm from {} to {tag} ({}) on the data of run {app_run}; tested by run {}",
            r.recipe,
            current.version,
            &commit[..12],
            run.id
        ),
        Some(&c),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
