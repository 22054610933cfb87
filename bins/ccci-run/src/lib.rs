//! `ccci-run`: one recipe at one ref through every tier, with `results.json`.
//!
//! The runner holds the run's lock for the whole run and drives the other tools
//! as child processes (`ccci-discover`, `ccci-deploy`; the generic tests call
//! `ccci-verify-backup` and `ccci-lint`), so every step it takes is a command
//! an operator can rerun by hand; each one's output is in the run's `logs/`.

pub use ccci_core::proc as child;
pub mod output;
pub use ccci_core::signals;
pub mod slot;
pub mod tier;

mod classify;
mod context;
mod deps;
mod finish;
mod ladder;
mod measure;
mod report;
mod rerun;
mod runner;
mod second;
mod selection;
mod setup;

use ccci_core::results::Trigger;
use clap::Parser;
use std::path::PathBuf;

pub use setup::run;

#[derive(Parser, Debug)]
#[command(
    name = "ccci-run",
    version,
    about = "Run one recipe at one ref through every tier and write results.json",
    long_about = "Run one recipe at one ref through every tier and write results.json.\n\n\
Before anything is created it waits, saying why, for its recipe (never run twice at once), a run \
slot (max_parallel_runs) and room in the host's memory and disk budget (docs/budget.md). \
Plans the tests (ccci-discover), installs the previous release, upgrades to the ref, backs up and \
restores, runs the recipe's functional tests and lint, and always tears down. Prints a tier table \
(or results.json with --json). Exit codes: 0 green (or partial: every tier that --tiers ran \
passed), 1 red, 2 bad input, 75 infrastructure trouble \
or interrupted (SIGTERM/SIGINT: the run stops, tears down, and says so).",
    after_help = "Examples:\n  \
ccci-run --recipe demo --repo /srv/mirrors/demo.git --ref 0.2.0+1.1\n  \
ccci-run --recipe demo --repo /srv/mirrors/demo.git --ref 0.2.0+1.1 --trigger sweep --keep-volumes\n  \
ccci-run --recipe demo --repo /srv/mirrors/demo.git --ref fix-healthcheck --pr 12 --quick\n  \
ccci-run --recipe demo --repo /srv/mirrors/demo.git --ref main --tiers custom --keep-app"
)]
pub struct Cli {
    #[command(flatten)]
    global: ccci_core::cli::Global,
    /// Recipes directory (default: config `recipes_dir` or $CCCI_RECIPES_DIR)
    #[arg(long, value_name = "DIR")]
    recipes_dir: Option<PathBuf>,
    /// Recipe name (its settings are <recipes>/<recipe>/recipe.json)
    #[arg(long, env = "CCCI_RUN_RECIPE")]
    recipe: String,
    /// Recipe repository: a local path or a git URL
    #[arg(long, env = "CCCI_RUN_REPO")]
    repo: String,
    /// The ref under test (release tag, branch, SHA)
    #[arg(long = "ref", env = "CCCI_RUN_REF")]
    r#ref: String,
    /// Pull request number, when the run tests one
    #[arg(long, env = "CCCI_RUN_PR")]
    pr: Option<u64>,
    /// What started the run
    #[arg(long, env = "CCCI_RUN_TRIGGER", value_enum, default_value_t = Trigger::Manual)]
    trigger: Trigger,
    /// Run id (default: a new unique id)
    #[arg(long)]
    run_id: Option<String>,
    /// When the run is green, keep the app's volumes and secrets after teardown
    /// (for ccci-promote, which adopts or releases them)
    #[arg(long, conflicts_with = "quick")]
    keep_volumes: bool,
    /// Start warm instead of cold: install the canonical release on a copy of
    /// the canonical app's data, then upgrade to the ref (never promotes)
    #[arg(long, env = "CCCI_RUN_QUICK")]
    quick: bool,
    /// Run only these tiers and what they need (install always; restore
    /// brings backup). Without upgrade the app is installed at the ref itself.
    /// The run is partial: never green, never promoted
    #[arg(
        long,
        env = "CCCI_RUN_TIERS",
        value_delimiter = ',',
        value_name = "TIER,..."
    )]
    tiers: Vec<String>,
    /// When the run is red, leave its apps up for probing by hand (recorded;
    /// the reaper leaves them until `ccci-deploy teardown RUN`). Refused for
    /// sweep runs
    #[arg(long)]
    keep_app: bool,
    /// When the run is red for the recipe's or its tests' reasons, run it
    /// again alone (cold, holding every run slot) up to N times (0 to 3) to
    /// tell a flake from a defect (default: recipe.json `rerun_alone`, else 0)
    #[arg(long, env = "CCCI_RUN_RERUN_ALONE", value_name = "N",
          value_parser = clap::value_parser!(u8).range(0..=3))]
    rerun_alone: Option<u8>,
    /// Hold every run slot of the host for the whole run, so nothing else
    /// loads the machine (what a rerun alone does)
    #[arg(long)]
    alone: bool,
    /// Set by a rerun alone: the run this one tests again (kept off the
    /// recipe's badge and history, never reported on a pull request)
    #[arg(long, value_name = "RUN", requires = "alone")]
    rerun_of: Option<String>,
}

/// The command line, for generated man pages and shell completions.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
