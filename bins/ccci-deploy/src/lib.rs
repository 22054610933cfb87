//! `ccci-deploy`: create, deploy, upgrade, health-check and tear down one recipe app
//! on Docker Swarm the way abra does, watching convergence itself.

pub mod app;
pub mod converge;
pub mod decoy;
pub mod health;
pub mod objects;
pub mod ownership;
pub mod recipe;
pub mod secrets;
pub mod snapshot;
pub mod teardown;
pub mod warm;

mod cmd;
mod env_args;
mod infra;

use anyhow::Result;
use app::{Health, HealthKind};
use ccci_core::cli::Ctx;
use ccci_core::rundir::RunDir;
use clap::{Args, Parser, Subcommand};

// Part of the public API: the upgrade proof.
pub use cmd::upgrade::runs_ref;

#[derive(Parser, Debug)]
#[command(
    name = "ccci-deploy",
    version,
    about = "Create, deploy, upgrade, health-check and tear down one recipe app on Docker Swarm",
    long_about = "Create, deploy, upgrade, health-check and tear down one recipe app on Docker Swarm.\n\n\
Each subcommand works on one run directory (<state>/runs/<run-id>) and records what it did in its \
ledger. It creates, changes and removes only Docker objects labelled with the run and this \
instance. Exit codes: 0 success/converged, 1 red verdict (did not converge, leftovers, a stack \
name held by objects ccci did not create), 2 bad input, 75 temporary trouble (Docker \
unreachable, run busy, a ref that moved since the run planned it).",
    after_help = "Examples:\n  \
run=$(ccci-deploy new --recipe demo --repo /srv/mirrors/demo.git --ref 0.2.0+1.1 --install-ref 0.1.0+1.0)\n  \
ccci-deploy deploy --wait \"$run\"              # the previous release, 0.1.0+1.0\n  \
ccci-deploy upgrade \"$run\" --ref 0.2.0+1.1    # the ref under test, over the same volumes\n  \
ccci-deploy teardown \"$run\""
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
    /// Create a run's app: clone the recipe at a ref, write the app env, generate secrets
    #[command(
        after_help = "Example:\n  ccci-deploy new --recipe demo --repo /srv/mirrors/demo.git --ref 0.2.0+1.1 --install-ref 0.1.0+1.0 --pr 12"
    )]
    New(Box<NewArgs>),
    /// Pull images and deploy the app (at its ref, or --ref); --wait also waits
    #[command(after_help = "Example:\n  ccci-deploy deploy --wait 20261130T020000Z-ab12cd")]
    Deploy(DeployArgs),
    /// Wait until the last deploy converged and is healthy, or failed
    #[command(
        after_help = "Example:\n  ccci-deploy wait --since-now --timeout 600 20261130T020000Z-ab12cd"
    )]
    Wait(WaitArgs),
    /// Redeploy another ref over the same app and volumes and prove it runs
    #[command(
        after_help = "Example:\n  ccci-deploy upgrade 20261130T020000Z-ab12cd --ref 0.2.0+1.1"
    )]
    Upgrade(UpgradeArgs),
    /// Remove everything the run created and verify nothing is left (a run
    /// that retains its data keeps its volumes and secrets unless --release)
    #[command(
        after_help = "Examples:\n  ccci-deploy teardown 20261130T020000Z-ab12cd\n  ccci-deploy teardown --keep-volumes 20261130T020000Z-ab12cd   # a green run for ccci-promote"
    )]
    Teardown(TeardownArgs),
    /// Tear down the leftovers of runs that are no longer alive
    #[command(
        after_help = "Examples:\n  ccci-deploy reap --dry-run\n  ccci-deploy reap --grace 900      # what the reaper timer runs"
    )]
    Reap(ReapArgs),
    /// Show the app and the state of its services
    #[command(after_help = "Example:\n  ccci-deploy status 20261130T020000Z-ab12cd")]
    Status(RunArg),
    /// Run a command in the running container of one of the app's services
    /// (exits with the command's status)
    #[command(
        after_help = "Example:\n  ccci-deploy exec 20261130T020000Z-ab12cd db sh -c 'ls /var/lib/db'"
    )]
    Exec(ExecArgs),
    /// Probe the app once, as the health check does (the health settings, with
    /// flags on top): 0 answered as expected, 1 not
    #[command(
        after_help = "Example:\n  ccci-deploy probe 20261130T020000Z-ab12cd --health-path / --health-codes 200,301"
    )]
    Probe(ProbeArgs),
    /// Does the app's service run this commit (and release tag)? 0 yes, 1 no:
    /// its version label is the tag, or its chaos-version label the commit
    #[command(
        after_help = "Example:\n  ccci-deploy runs 20261130T020000Z-ab12cd --sha 3f2a9c1 --tag 0.2.0+1.1"
    )]
    Runs(RunsArgs),
}

#[derive(Args, Debug)]
struct RunsArgs {
    /// Run id or run directory
    run: String,
    /// The commit that must run (7 to 40 hex digits)
    #[arg(long, value_name = "SHA")]
    sha: String,
    /// The release tag that must run (its version label), for a tagged commit
    #[arg(long, value_name = "TAG")]
    tag: Option<String>,
}

#[derive(Args, Debug)]
struct ProbeArgs {
    /// Run id or run directory
    run: String,
    #[command(flatten)]
    health: HealthArgs,
}

#[derive(Args, Debug)]
struct ExecArgs {
    /// Run id or run directory
    run: String,
    /// Service name within the stack (`app`, `db`, `ccci-probe`, ...)
    service: String,
    /// The command and its arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    command: Vec<String>,
}

#[derive(Args, Debug)]
struct NewArgs {
    /// Recipe name (e.g. `demo`)
    #[arg(long)]
    recipe: String,
    /// Recipe repository: a path or a git URL
    #[arg(long)]
    repo: String,
    /// Git ref under test (tag, branch or SHA); the app is created at it unless
    /// --install-ref says otherwise
    #[arg(long = "ref")]
    r#ref: String,
    /// Refuse (exit 75) unless --ref names this commit (the one the run planned)
    #[arg(long, value_name = "SHA")]
    expect_sha: Option<String>,
    /// Clone from this local clone of --repo instead of fetching it again
    /// (origin still points at --repo); the runner passes planning's clone
    #[arg(long, value_name = "PATH")]
    clone_from: Option<String>,
    /// Create the app at this ref instead (the previous release a run installs
    /// before upgrading to --ref)
    #[arg(long, value_name = "REF")]
    install_ref: Option<String>,
    /// Start warm: the app gets copies of the recipe's canonical app's env,
    /// secrets and volumes (the canonical itself is never touched)
    #[arg(long)]
    from_canonical: bool,
    /// Pull request number, if the run tests one
    #[arg(long)]
    pr: Option<u64>,
    /// Run id (default: a new unique id)
    #[arg(long)]
    run_id: Option<String>,
    /// What started the run
    #[arg(long, value_enum, default_value_t = ccci_core::results::Trigger::Manual)]
    trigger: ccci_core::results::Trigger,
    /// Extra app env settings, KEY=VALUE (repeatable); the value is literal
    /// text and may use {domain}, {stack} and {dep.RECIPE.domain}
    #[arg(long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// The domain of a dependency app, for {dep.RECIPE.domain} (repeatable)
    #[arg(long = "dep-domain", value_name = "RECIPE=DOMAIN")]
    dep_domain: Vec<String>,
    /// A CI compose overlay to layer after the recipe's compose files
    /// (repeatable); `install-*.yml` applies only to the first deploy,
    /// `upgrade-*.yml` only to upgrades, any other name to both
    #[arg(long = "overlay", value_name = "FILE")]
    overlays: Vec<std::path::PathBuf>,
    /// Executable printing secrets marked generate=false (args: NAME VERSION)
    #[arg(long, value_name = "PATH")]
    secret_hook: Option<String>,
    #[command(flatten)]
    health: HealthArgs,
    /// Convergence timeout in seconds (default: the recipe's timeout label, else 300)
    #[arg(long)]
    timeout: Option<u64>,
}

#[derive(Args, Debug, Default)]
struct HealthArgs {
    /// The whole probe as JSON (`{"kind": "http", "service": "app", "path": "/",
    /// "codes": [200], "port": 8080, "url": null}`, every field optional): how
    /// other tools pass a recipe's health settings, typed on both ends
    #[arg(long, value_name = "JSON", conflicts_with_all = ["health_kind", "health_service", "health_port", "health_path", "health_codes", "health_url"])]
    health: Option<String>,
    /// Health probe kind
    #[arg(long, value_enum)]
    health_kind: Option<HealthKind>,
    /// Service the probe targets
    #[arg(long)]
    health_service: Option<String>,
    /// Port to probe (default: the service's traefik port label)
    #[arg(long)]
    health_port: Option<u16>,
    /// HTTP path to probe
    #[arg(long)]
    health_path: Option<String>,
    /// Accepted HTTP codes, comma-separated
    #[arg(long, value_delimiter = ',')]
    health_codes: Option<Vec<u16>>,
    /// Probe this URL from the host instead of the app network:
    /// `https://{domain}/` for the public route, or `tcp://HOST:PORT`
    #[arg(long, value_name = "URL")]
    health_url: Option<String>,
}

#[derive(Args, Debug)]
struct RunArg {
    /// Run id or run directory
    run: String,
}

#[derive(Args, Debug)]
struct DeployArgs {
    /// Run id or run directory
    run: String,
    /// Deploy this ref instead of the run's current one
    #[arg(long = "ref")]
    r#ref: Option<String>,
    /// Refuse (exit 75) unless the ref names this commit (the one the run planned)
    #[arg(long, value_name = "SHA")]
    expect_sha: Option<String>,
    /// Wait for convergence and health after deploying
    #[arg(long)]
    wait: bool,
    /// Convergence timeout in seconds
    #[arg(long)]
    timeout: Option<u64>,
}

#[derive(Args, Debug)]
struct WaitArgs {
    /// Run id or run directory
    run: String,
    /// Judge the app as it is from now on: what failed before (an update that
    /// was rolled back) is history; wait for it to settle and be healthy
    #[arg(long)]
    since_now: bool,
    /// Convergence timeout in seconds
    #[arg(long)]
    timeout: Option<u64>,
}

#[derive(Args, Debug)]
struct UpgradeArgs {
    /// Run id or run directory
    run: String,
    /// The ref to upgrade to
    #[arg(long = "ref")]
    r#ref: String,
    /// Refuse (exit 75) unless the ref still names this commit (the one the
    /// run planned; a branch pushed meanwhile is not what is under test)
    #[arg(long, value_name = "SHA")]
    expect_sha: Option<String>,
    /// Convergence timeout in seconds
    #[arg(long)]
    timeout: Option<u64>,
    /// App env to set before the new release is deployed, KEY=VALUE
    /// (repeatable; literal text, may use {domain}, {stack}, {dep.RECIPE.domain})
    #[arg(long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// The domain of a dependency app, for {dep.RECIPE.domain} (repeatable)
    #[arg(long = "dep-domain", value_name = "RECIPE=DOMAIN")]
    dep_domain: Vec<String>,
}

#[derive(Args, Debug)]
struct TeardownArgs {
    /// Run id or run directory
    run: String,
    /// Keep the app's volumes and secrets (its data) and mark the run as
    /// retaining them: a green run waiting for promotion, a canonical app
    #[arg(long, conflicts_with = "release")]
    keep_volumes: bool,
    /// Remove retained volumes and secrets too, and end the retention
    #[arg(long)]
    release: bool,
}

#[derive(Args, Debug)]
struct ReapArgs {
    /// Leave runs whose last ledger event is younger than this many seconds
    /// (a run driven by hand between two commands holds no lock)
    #[arg(long, default_value_t = 900)]
    grace: u64,
    /// Only say what would be removed
    #[arg(long)]
    dry_run: bool,
}

pub fn run(cli: Cli) -> Result<i32> {
    let ctx = cli.global.ctx()?;
    match cli.cmd {
        Cmd::New(a) => cmd::new::cmd_new(&ctx, *a),
        Cmd::Deploy(a) => cmd::deploy::cmd_deploy(&ctx, a),
        Cmd::Wait(a) => cmd::wait::cmd_wait(&ctx, a),
        Cmd::Upgrade(a) => cmd::upgrade::cmd_upgrade(&ctx, a),
        Cmd::Teardown(a) => cmd::teardown::cmd_teardown(&ctx, a),
        Cmd::Reap(a) => cmd::reap::cmd_reap(&ctx, a),
        Cmd::Status(a) => cmd::status::cmd_status(&ctx, a),
        Cmd::Exec(a) => cmd::exec::cmd_exec(&ctx, a),
        Cmd::Probe(a) => cmd::probe::cmd_probe(&ctx, a),
        Cmd::Runs(a) => cmd::runs::cmd_runs(&ctx, a),
    }
}

/// The `--json` answer of a command, in the shape every tool shares.
fn print_json(outcome: &str, summary: &str, detail: serde_json::Value) {
    ccci_core::verdict::print(outcome, summary, detail);
}

fn open_run(ctx: &Ctx, run: &str) -> Result<RunDir> {
    RunDir::open(&ctx.cfg.state_dir, run)
}

fn apply_health(h: &mut Health, a: &HealthArgs) -> Result<()> {
    if let Some(j) = &a.health {
        *h = serde_json::from_str(j)
            .map_err(|e| ccci_core::exit::usage(format!("--health is not a health probe: {e}")))?;
        return Ok(());
    }
    if let Some(k) = a.health_kind {
        h.kind = k;
    }
    if let Some(s) = &a.health_service {
        h.service = s.clone();
    }
    if a.health_port.is_some() {
        h.port = a.health_port;
    }
    if let Some(p) = &a.health_path {
        h.path = p.clone();
    }
    if let Some(c) = &a.health_codes {
        h.codes = c.clone();
    }
    if let Some(u) = &a.health_url {
        h.url = Some(u.clone());
    }
    Ok(())
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
