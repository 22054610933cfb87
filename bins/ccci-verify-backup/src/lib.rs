//! `ccci-verify-backup`: back an app up the way backup-bot-two does (its
//! `backupbot.*` labels, restic), disturb its data, restore, and prove the data
//! came back, per service and per volume.
//!
//! Each step is a subcommand for an operator to run by hand; `roundtrip` runs them
//! all and, when it fails after disturbing the data, puts the markers back.

mod backup;
mod check;
pub mod labels;
pub mod live;
mod plan;
mod ready;
pub mod restic;
mod restore;
mod roundtrip;
mod seed;
mod state;

use crate::backup::backup;
use crate::check::cmd_check;
use crate::plan::{cmd_labelled, cmd_plan};
use crate::restore::{disturb, restore};
use crate::roundtrip::roundtrip;
use crate::seed::cmd_seed;
use crate::state::{BackupState, load_state, save_state};
use anyhow::Result;
use ccci_core::app::App;
use ccci_core::cli::Ctx;
use ccci_core::rundir::RunDir;
use ccci_core::{exit, verdict};
use clap::{Args, Parser, Subcommand};
use serde_json::json;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "ccci-verify-backup",
    version,
    about = "Back up a recipe app, disturb its data, restore, and prove the data came back",
    long_about = "Back up a recipe app the way backup-bot-two does (its backupbot.* labels, restic), \
disturb its data, restore, and prove the data came back, per service and per volume.\n\n\
Steps: plan, seed, backup, disturb, restore, check; `roundtrip` runs them all. State lives in \
<run>/backup/. A volume its service writes while running needs a marker hook or a dump and \
restore hook pair: otherwise its restore is NOT PROVABLE (red). Exit codes: 0 every marker came \
back, 1 red (marker missing, not provable, hook failed), 2 bad input (no backup labels, \
unreadable repository, wrong password), 75 temporary trouble.",
    after_help = "Examples:\n  \
ccci-verify-backup plan 20261130T020000Z-ab12cd\n  \
ccci-verify-backup roundtrip 20261130T020000Z-ab12cd --marker-hook db=recipes/demo/hooks/backup-marker"
)]
pub struct Cli {
    #[command(flatten)]
    global: ccci_core::cli::Global,
    #[command(subcommand)]
    cmd: Cmd,
}

/// The command line, for generated man pages and shell completions.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Show what would be backed up: services, volumes, paths, hooks
    #[command(after_help = "Example:\n  ccci-verify-backup plan 20261130T020000Z-ab12cd")]
    Plan(Target),
    /// Exit 0 when some service has backupbot.backup=true, 1 when none does
    #[command(after_help = "Example:\n  ccci-verify-backup labelled 20261130T020000Z-ab12cd")]
    Labelled(Target),
    /// Prepare the repository and seed markers
    #[command(
        after_help = "Example:\n  ccci-verify-backup seed 20261130T020000Z-ab12cd --marker-hook db=recipes/demo/hooks/backup-marker"
    )]
    Seed(SeedArgs),
    /// Run pre-hooks, take the restic snapshot, run post-hooks, check its contents
    #[command(after_help = "Example:\n  ccci-verify-backup backup 20261130T020000Z-ab12cd")]
    Backup(Target),
    /// Remove the markers (the data loss a restore must undo)
    #[command(after_help = "Example:\n  ccci-verify-backup disturb 20261130T020000Z-ab12cd")]
    Disturb(Target),
    /// Restore the snapshot in place, run restore hooks, wait until healthy
    #[command(
        after_help = "Example:\n  ccci-verify-backup restore --timeout 300 20261130T020000Z-ab12cd"
    )]
    Restore(RestoreArgs),
    /// Check every marker is back and report per service and volume
    #[command(after_help = "Example:\n  ccci-verify-backup check --json 20261130T020000Z-ab12cd")]
    Check(Target),
    /// All of the above in order
    #[command(
        after_help = "Examples:\n  ccci-verify-backup roundtrip 20261130T020000Z-ab12cd --marker-hook db=recipes/demo/hooks/backup-marker\n  ccci-verify-backup roundtrip --existing 20261130T020000Z-ab12cd   # from the snapshot `backup` took"
    )]
    Roundtrip(RoundtripArgs),
}

#[derive(Args, Debug)]
struct Target {
    /// Run id or run directory
    run: String,
}

#[derive(Args, Debug, Clone, Default)]
struct RepoArgs {
    /// Use this restic repository instead of a fresh one in the run directory
    #[arg(long, value_name = "PATH")]
    repo: Option<PathBuf>,
    /// Password file of --repo
    #[arg(long, value_name = "FILE", requires = "repo")]
    password_file: Option<PathBuf>,
    /// A recipe's marker hook for one service, SERVICE=PATH (repeatable, or
    /// comma-separated in $CCCI_MARKER_HOOKS); called with `seed`, `remove` or `check`
    #[arg(
        long = "marker-hook",
        value_name = "SERVICE=PATH",
        env = "CCCI_MARKER_HOOKS",
        value_delimiter = ','
    )]
    marker_hooks: Vec<String>,
    /// How long to watch volumes that hold only file markers for writes by
    /// their service (a live volume needs dump and restore hooks or a marker
    /// hook before its round trip can prove anything)
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 2.0,
        env = "CCCI_OBSERVE_SECS"
    )]
    observe: f64,
}

#[derive(Args, Debug)]
struct SeedArgs {
    /// Run id or run directory
    run: String,
    #[command(flatten)]
    repo: RepoArgs,
}

#[derive(Args, Debug)]
struct RestoreArgs {
    /// Run id or run directory
    run: String,
    #[command(flatten)]
    after: ready::AfterRestore,
}

#[derive(Args, Debug)]
struct RoundtripArgs {
    /// Run id or run directory
    run: String,
    #[command(flatten)]
    repo: RepoArgs,
    /// Start from the snapshot an earlier `backup` took (disturb, restore,
    /// check), instead of seeding and backing up first
    #[arg(long, conflicts_with_all = ["repo", "password_file"])]
    existing: bool,
    #[command(flatten)]
    after: ready::AfterRestore,
}

pub fn run(cli: Cli) -> Result<i32> {
    let ctx = cli.global.ctx()?;
    match cli.cmd {
        Cmd::Plan(t) => cmd_plan(&ctx, &t.run),
        Cmd::Labelled(t) => cmd_labelled(&ctx, &t.run),
        Cmd::Seed(a) => cmd_seed(&ctx, &a),
        Cmd::Backup(t) => step(&ctx, "backup", &t.run, backup),
        Cmd::Disturb(t) => step(&ctx, "disturb", &t.run, |_, run, st| disturb(run, st)),
        Cmd::Restore(a) => step(&ctx, "restore", &a.run, |ctx, run, st| {
            restore(ctx, run, st, &a.after)
        }),
        Cmd::Check(t) => cmd_check(&ctx, &t.run),
        Cmd::Roundtrip(a) => roundtrip(&ctx, &a),
    }
}

fn app_json(run: &RunDir) -> Result<App> {
    App::load(run)
}

/// Backups read and restores write the volumes' host paths: only the node
/// that holds them can. The app is pinned to one node (`App::node`).
fn on_app_node(ctx: &Ctx, run: &RunDir) -> Result<()> {
    let app = app_json(run)?;
    let Some(node) = &app.node else {
        return Ok(());
    };
    let here = ctx.docker.node_id()?;
    if &here != node {
        return Err(exit::usage(format!(
            "run {}: its volumes are on swarm node {node}, this engine is node {here}: run ccci-verify-backup on that node",
            run.id
        )));
    }
    Ok(())
}

fn stack_of(run: &RunDir) -> Result<String> {
    Ok(app_json(run)?.stack)
}

/// Run one step on the saved state, under the run lock; the state is saved
/// whatever the outcome, so a later step or an operator sees what happened.
fn step(
    ctx: &Ctx,
    what: &str,
    run_arg: &str,
    f: impl FnOnce(&Ctx, &RunDir, &mut BackupState) -> Result<()>,
) -> Result<i32> {
    let run = RunDir::open(&ctx.cfg.state_dir, run_arg)?;
    let _lock = run.lock()?;
    let mut st = load_state(&run)?;
    let result = f(ctx, &run, &mut st);
    save_state(&run, &st)?;
    match result {
        Ok(()) => {
            if ctx.json {
                verdict::print(
                    "ok",
                    format!("{what} done"),
                    json!({"snapshot": st.snapshot}),
                );
            }
            Ok(exit::OK)
        }
        Err(e) => red_or_err(ctx, e),
    }
}

/// A red verdict prints and exits 1; other errors keep their codes.
fn red_or_err(ctx: &Ctx, e: anyhow::Error) -> Result<i32> {
    if exit::code_of(&e) != exit::NO {
        return Err(e);
    }
    let reason = ccci_core::cli::one_line(&e);
    if ctx.json {
        verdict::print("red", &reason, json!({"ok": false, "reason": reason}));
    } else {
        println!("red: {reason}");
    }
    Ok(exit::NO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
