//! `ccci-run`: one recipe at one ref through every tier, with `results.json`.
//!
//! The runner holds the run's lock for the whole run and drives the other tools
//! as child processes (`ccci-discover`, `ccci-deploy`; the generic tests call
//! `ccci-verify-backup` and `ccci-lint`), so every step it takes is a command
//! an operator can rerun by hand; each one's output is in the run's `logs/`.

pub use ccci_core::proc as child;
pub mod output;
pub mod signals;
pub mod slot;
pub mod tier;

use anyhow::Result;
use ccci_core::plan::{Plan, TIERS, TierPlan};
use ccci_core::results::{
    self, AppRef, Mode, Outcome, Results, Role, Status, Teardown, TeardownStatus, TestResult, Tier,
    Trigger, Verdict,
};
use ccci_core::rundir::{LOCK_HELD_ENV, RunDir};
use ccci_core::settings::{self, Dependency};
use ccci_core::tool::{self, Answer};
use ccci_core::{exit, ids, log, state};
use clap::Parser;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(
    name = "ccci-run",
    version,
    about = "Run one recipe at one ref through every tier and write results.json",
    long_about = "Run one recipe at one ref through every tier and write results.json.\n\n\
Plans the tests (ccci-discover), installs the previous release, upgrades to the ref, backs up and \
restores, runs the recipe's functional tests and lint, and always tears down. Prints a tier table \
(or results.json with --json). Exit codes: 0 green, 1 red, 2 bad input, 75 infrastructure trouble \
or interrupted (SIGTERM/SIGINT: the run stops, tears down, and says so)."
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
    #[arg(long)]
    quick: bool,
}

/// The command line, for generated man pages and shell completions.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

/// Why a run stopped early: every tier after it is `skip` with this reason.
#[derive(Debug, Clone)]
enum Abort {
    Interrupted,
    /// Docker or the network: worth retrying (exit 75).
    Trouble(String),
    /// A ccci tool broke (exit 70).
    Bug(String),
}

impl Abort {
    fn reason(&self) -> String {
        match self {
            Abort::Interrupted => "interrupted (SIGTERM/SIGINT)".into(),
            Abort::Trouble(r) => format!("infrastructure trouble: {r}"),
            Abort::Bug(r) => format!("ccci failed: {r}"),
        }
    }
}

struct Runner<'a> {
    state_dir: PathBuf,
    run: RunDir,
    /// Locks of the dependency runs, held for the whole run.
    dep_locks: Vec<state::Lock>,
    plan: Plan,
    recipes: PathBuf,
    bin_dir: PathBuf,
    /// Environment of every child: the run's context.
    vars: BTreeMap<String, String>,
    stop: Arc<AtomicBool>,
    cli: &'a Cli,
    tiers: Vec<Tier>,
    apps: Vec<AppRef>,
    deps: Vec<RunDir>,
    app_created: bool,
    /// Install or upgrade converged at some point: there is an app to test.
    converged: bool,
    /// Why the app cannot be tested, in words that are true for this run (set
    /// when a failed upgrade left nothing serving).
    not_serving: Option<String>,
    abort: Option<Abort>,
    /// Wall time spent in children (tools that drive Docker, hooks, tests).
    child_time: Duration,
}

pub fn run(cli: Cli) -> Result<i32> {
    let ctx = cli.global.ctx()?;
    ccci_core::recipe_name::RecipeName::parse(&cli.recipe)?;
    let recipes = settings::recipes_dir(cli.recipes_dir.as_deref(), &ctx.cfg)?;
    let recipes = std::fs::canonicalize(&recipes).unwrap_or(recipes);
    let state_dir = ctx.cfg.ensure_state_dir()?.to_path_buf();
    // A quick run starts from the canonical app's data; without one it cannot.
    let canonical = if cli.quick {
        Some(
            ccci_core::canonical::read(&state_dir, &cli.recipe)?.ok_or_else(|| {
                exit::usage(format!(
                    "recipe {} has no canonical release: a quick run needs one; run it cold",
                    cli.recipe
                ))
            })?,
        )
    } else {
        None
    };
    ctx.docker.check_swarm_manager()?;
    let stop = signals::install()?;
    let run_id = match &cli.run_id {
        Some(id) => id.clone(),
        None => ids::new_run_id()?,
    };
    if !ccci_core::rundir::valid_id(&run_id) {
        return Err(exit::usage(format!("invalid run id {run_id:?}")));
    }
    let _slot = slot::acquire(&state_dir, ctx.cfg.max_parallel_runs, &run_id, &stop)?;
    let run = RunDir::create(&state_dir, &run_id)?;
    let _lock = run.lock()?;
    let started = Instant::now();
    let started_at = ids::now_rfc3339();
    run.ledger(
        "run-start",
        json!({"recipe": cli.recipe, "repo": cli.repo, "ref": cli.r#ref, "pr": cli.pr, "trigger": cli.trigger}),
    )?;
    let bin_dir = std::env::current_exe()?
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    vars.insert("CCCI_STATE_DIR".into(), state_dir.display().to_string());
    vars.insert("CCCI_RECIPES_DIR".into(), recipes.display().to_string());
    vars.insert(LOCK_HELD_ENV.into(), run_id.clone());
    let path = std::env::var("PATH").unwrap_or_default();
    vars.insert("PATH".into(), format!("{}:{path}", bin_dir.display()));

    // The plan: a bad ref or settings file is bad input, said in one line.
    let plan_log = run.file("logs/plan.log");
    std::fs::create_dir_all(run.file("logs"))?;
    let planned = tool::call(tool::Call {
        tool: "ccci-discover",
        args: [
            "plan",
            "--recipe",
            &cli.recipe,
            "--repo",
            &cli.repo,
            "--ref",
            &cli.r#ref,
            "--out",
        ]
        .iter()
        .map(|a| a.to_string())
        .chain([run.path.display().to_string()])
        .collect(),
        state_dir: Some(&state_dir),
        env: vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        log: Some(&plan_log),
        timeout: None,
        stop: &stop,
    })?;
    if !planned.answer.is_yes() {
        let why = planned.answer.summary();
        run.ledger("run-end", json!({"verdict": "error", "reason": why}))?;
        // The request's own fault (a bad ref, settings that do not parse) is
        // bad input; anything else is trouble or a bug of ccci's.
        let code = match planned.answer {
            Answer::Input(_) | Answer::No(_) => exit::USAGE,
            Answer::Trouble(_) | Answer::Interrupted => exit::TEMPFAIL,
            _ => exit::BUG,
        };
        return Err(exit::coded(code, format!("cannot plan the run: {why}")));
    }
    let mut plan: Plan = state::read_json(&run.file("plan.json"))?;
    for w in &plan.warnings {
        log::warn(w);
    }
    if let Some(c) = &canonical {
        // Warm: the app starts as the canonical release on its data, and the
        // upgrade is from there (none when the ref is that release).
        let v = c.version.to_string();
        plan.previous = (plan.tested_tag.as_deref() != Some(v.as_str())).then_some(v);
        // plan.json says what the run did, as results.json will.
        state::write_json(&run.file("plan.json"), &plan)?;
    }
    let mut r = Runner {
        state_dir: state_dir.clone(),
        dep_locks: vec![],
        run,
        plan,
        recipes,
        bin_dir,
        vars,
        stop,
        cli: &cli,
        tiers: vec![],
        apps: vec![],
        deps: vec![],
        app_created: false,
        converged: false,
        not_serving: None,
        abort: None,
        child_time: Duration::ZERO,
    };
    r.execute();
    let teardown = r.teardown();
    r.finish(&ctx, started, &started_at, teardown)
}

impl Runner<'_> {
    /// Call a sibling tool (`ccci_core::tool`: `--json`, `--state-dir`, one
    /// exit-code table). Its yes or no comes back with its one-line summary;
    /// bad input counts as a no (what the recipe under test gave it). Trouble,
    /// a ccci bug or an interrupt end the run: `None`.
    fn tool(
        &mut self,
        name: &str,
        args: &[String],
        log_rel: &str,
    ) -> Result<Option<(bool, String)>> {
        Ok(match self.call(name, args, log_rel)? {
            Answer::Yes(v) => Some((true, v.summary)),
            Answer::No(v) | Answer::Input(v) => Some((false, v.summary)),
            Answer::Trouble(why) => {
                self.abort = Some(Abort::Trouble(why));
                None
            }
            Answer::Bug(why) => {
                self.abort = Some(Abort::Bug(why));
                None
            }
            Answer::Interrupted => {
                self.abort = Some(Abort::Interrupted);
                None
            }
        })
    }

    /// The tool's answer as it is, for a caller that judges it itself.
    fn call(&mut self, name: &str, args: &[String], log_rel: &str) -> Result<Answer> {
        let log = self.run.file(log_rel);
        if let Some(d) = log.parent() {
            std::fs::create_dir_all(d)?;
        }
        let reply = tool::call(tool::Call {
            tool: name,
            args: args.to_vec(),
            state_dir: Some(&self.state_dir),
            env: self
                .vars
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            log: Some(&log),
            timeout: None,
            stop: &self.stop,
        })?;
        self.child_time += reply.duration;
        Ok(reply.answer)
    }

    fn env(&self) -> tier::Env<'_> {
        tier::Env {
            run_dir: &self.run.path,
            vars: &self.vars,
            stop: &self.stop,
        }
    }

    fn tier_plan(&self, name: &str) -> TierPlan {
        self.plan.tier(name).cloned().unwrap_or(TierPlan {
            name: name.into(),
            hooks: vec![],
            tests: vec![],
        })
    }

    /// Hooks and tests of a tier; a failed hook fails the tier.
    fn steps(&mut self, name: &str) -> Result<(Option<TestResult>, Vec<TestResult>)> {
        let tp = self.tier_plan(name);
        let (hooks, tests) = tier::run(&self.env(), &tp)?;
        let spent: f64 = hooks.iter().chain(&tests).map(|t| t.duration_s).sum();
        self.child_time += Duration::from_secs_f64(spent);
        if hooks
            .iter()
            .chain(&tests)
            .any(|t| t.outcome == Outcome::Interrupted)
        {
            self.abort = Some(Abort::Interrupted);
        }
        Ok((
            hooks.into_iter().find(|h| h.outcome != Outcome::Pass),
            tests,
        ))
    }

    fn push(
        &mut self,
        name: &str,
        status: Status,
        summary: String,
        t0: Instant,
        tests: Vec<TestResult>,
    ) {
        log::info(&format!("{name}: {} - {summary}", status.as_str()));
        self.tiers.push(Tier {
            name: name.into(),
            status,
            summary,
            duration_s: t0.elapsed().as_secs_f64(),
            log: format!("logs/{name}.log"),
            tests,
        });
    }

    /// Fold hooks and tests into a status, given that the tier's own work (a
    /// deploy, an upgrade) passed.
    fn fold(hook: Option<TestResult>, tests: &[TestResult], none: Status) -> (Status, String) {
        if let Some(h) = hook {
            return (
                Status::Fail,
                format!("hook {} {}: {}", h.id, h.outcome, h.summary),
            );
        }
        let st = tier::status_of(tests);
        let st = if st == Status::Na { none } else { st };
        (st, tier::summarize(tests))
    }

    fn execute(&mut self) {
        if let Err(e) = self.tiers_in_order() {
            self.abort = Some(Abort::Bug(ccci_core::cli::one_line(&e)));
        }
        // Whatever did not run is reported, never left out.
        let reason = self
            .abort
            .as_ref()
            .map(Abort::reason)
            .unwrap_or_else(|| "not run".into());
        for name in TIERS {
            if !self.tiers.iter().any(|t| t.name == name) {
                self.push(
                    name,
                    Status::Skip,
                    format!("not run: {reason}"),
                    Instant::now(),
                    vec![],
                );
            }
        }
        self.dependency_rule();
    }

    fn interrupted(&mut self) -> bool {
        if self.stop.load(Ordering::SeqCst) && self.abort.is_none() {
            self.abort = Some(Abort::Interrupted);
        }
        self.abort.is_some()
    }

    fn tiers_in_order(&mut self) -> Result<()> {
        self.install()?;
        if self.interrupted() {
            return Ok(());
        }
        self.upgrade()?;
        for name in ["backup", "restore", "custom"] {
            if self.interrupted() {
                return Ok(());
            }
            let t0 = Instant::now();
            if !self.converged {
                let why = match &self.not_serving {
                    Some(why) => why.clone(),
                    None if self.app_created => {
                        "no healthy app: neither install nor upgrade converged".into()
                    }
                    None => "no app: it could not be created".into(),
                };
                self.push(name, Status::Skip, why, t0, vec![]);
                continue;
            }
            let (hook, tests) = self.steps(name)?;
            let (st, summary) = Self::fold(hook, &tests, Status::Na);
            self.push(name, st, summary, t0, tests);
        }
        if self.interrupted() {
            return Ok(());
        }
        // Lint reads the recipe, not the app: it runs whatever happened above.
        let t0 = Instant::now();
        let (hook, tests) = self.steps("lint")?;
        let (st, summary) = Self::fold(hook, &tests, Status::Na);
        self.push("lint", st, summary, t0, tests);
        Ok(())
    }

    fn new_args(&self, run_id: &str, recipe: &str, repo: &str, r#ref: &str) -> Vec<String> {
        let mut a: Vec<String> = [
            "new", "--run-id", run_id, "--recipe", recipe, "--repo", repo, "--ref", r#ref,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend(["--trigger".into(), self.cli.trigger.to_string()]);
        a
    }

    fn install(&mut self) -> Result<()> {
        let t0 = Instant::now();
        let p = self.plan.clone();
        let s = &p.settings;
        let install_ref = p.previous.clone().unwrap_or_else(|| p.r#ref.clone());
        let mut args = self.new_args(&self.run.id.clone(), &p.recipe, &p.source_repo, &p.r#ref);
        // The plan's commit is the run's identity: the app is made of it or not at all.
        args.extend(["--expect-sha".into(), p.head_sha.clone()]);
        if let Some(prev) = &p.previous {
            args.extend(["--install-ref".into(), prev.clone()]);
        }
        if self.cli.quick {
            args.push("--from-canonical".into());
        }
        if let Some(pr) = self.cli.pr {
            args.extend(["--pr".into(), pr.to_string()]);
        }
        for (k, v) in &s.env {
            args.extend(["--env".into(), format!("{k}={v}")]);
        }
        let h = &s.health;
        args.extend([
            "--health-kind".into(),
            h.kind.to_string(),
            "--health-service".into(),
            h.service.clone(),
            "--health-path".into(),
            h.path.clone(),
            "--health-codes".into(),
            h.codes
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(","),
        ]);
        if let Some(port) = h.port {
            args.extend(["--health-port".into(), port.to_string()]);
        }
        if let Some(u) = &h.url {
            args.extend(["--health-url".into(), u.clone()]);
        }
        if let Some(t) = s.timeouts.deploy {
            args.extend(["--timeout".into(), t.to_string()]);
        }
        let Some((created, why)) = self.tool("ccci-deploy", &args, "logs/install.log")? else {
            return Ok(());
        };
        if !created {
            // The recipe itself is broken (no compose file, a malformed env
            // sample, a compose Docker rejects): a red install, not bad input.
            self.push(
                "install",
                Status::Fail,
                format!("cannot create the app: {why}"),
                t0,
                vec![],
            );
            return Ok(());
        }
        self.app_created = true;
        self.context_vars()?;
        self.dependencies()?;
        if self.abort.is_some() {
            return Ok(());
        }
        let id = self.run.id.clone();
        let mut deploy = vec![
            "deploy".into(),
            id,
            "--ref".into(),
            install_ref.clone(),
            "--wait".into(),
        ];
        if p.previous.is_none() {
            // Installing the ref under test itself: exactly the planned commit.
            deploy.extend(["--expect-sha".into(), p.head_sha.clone()]);
        }
        let Some((ok, verdict)) = self.tool("ccci-deploy", &deploy, "logs/install.log")? else {
            return Ok(());
        };
        if !ok {
            self.push(
                "install",
                Status::Fail,
                format!("{install_ref}: {verdict}"),
                t0,
                vec![],
            );
            return Ok(());
        }
        self.converged = true;
        let (hook, tests) = self.steps("install")?;
        let (st, summary) = Self::fold(hook, &tests, Status::Pass);
        self.push(
            "install",
            st,
            format!("{install_ref}: {verdict}; {summary}"),
            t0,
            tests,
        );
        Ok(())
    }

    fn upgrade(&mut self) -> Result<()> {
        let t0 = Instant::now();
        let p = self.plan.clone();
        let Some(prev) = &p.previous else {
            self.push(
                "upgrade",
                Status::Na,
                if self.cli.quick {
                    format!("{} is the canonical release the app started from", p.r#ref)
                } else {
                    format!(
                        "nothing older than {} was released: installed it directly",
                        p.r#ref
                    )
                },
                t0,
                vec![],
            );
            return Ok(());
        };
        if !self.app_created {
            self.push(
                "upgrade",
                Status::Skip,
                "no app: it could not be created".into(),
                t0,
                vec![],
            );
            return Ok(());
        }
        // Seed the marker only into an app that came up; an upgrade over a
        // failed install still runs, to say whether the new ref works.
        let installed = self.converged;
        let mut hook = None;
        if installed {
            let tp = self.tier_plan("upgrade");
            for h in &tp.hooks {
                let r = tier::step(&self.env(), "upgrade", h)?;
                self.child_time += Duration::from_secs_f64(r.duration_s);
                if r.outcome != Outcome::Pass {
                    if r.outcome == Outcome::Interrupted {
                        self.abort = Some(Abort::Interrupted);
                    }
                    hook = Some(r);
                    break;
                }
            }
        }
        if let Some(h) = hook {
            self.push(
                "upgrade",
                Status::Fail,
                format!("hook {} {}: {}", h.id, h.outcome, h.summary),
                t0,
                vec![h],
            );
            return Ok(());
        }
        let id = self.run.id.clone();
        let Some((ok, verdict)) = self.tool(
            "ccci-deploy",
            &[
                "upgrade".into(),
                id,
                "--ref".into(),
                p.r#ref.clone(),
                // The plan's commit is the run's identity.
                "--expect-sha".into(),
                p.head_sha.clone(),
            ],
            "logs/upgrade.log",
        )?
        else {
            return Ok(());
        };
        if !ok {
            // The tiers above test whatever runs now: wait for the app to settle
            // (a rollback to finish) and say which way it went.
            let settled = self.settle()?;
            self.push(
                "upgrade",
                Status::Fail,
                format!("{prev} -> {}: {verdict}; {settled}", p.r#ref),
                t0,
                vec![],
            );
            return Ok(());
        }
        self.converged = true;
        if !installed {
            self.push(
                "upgrade",
                Status::Fail,
                format!(
                    "{prev} -> {}: {verdict}; but install failed, so nothing was upgraded",
                    p.r#ref
                ),
                t0,
                vec![],
            );
            return Ok(());
        }
        let tp = self.tier_plan("upgrade");
        let tests: Vec<TestResult> = {
            let env = self.env();
            let mut out = vec![];
            for t in &tp.tests {
                out.push(tier::step(&env, "upgrade", t)?);
            }
            out
        };
        self.child_time += Duration::from_secs_f64(tests.iter().map(|t| t.duration_s).sum());
        let (st, summary) = Self::fold(None, &tests, Status::Pass);
        self.push(
            "upgrade",
            st,
            format!("{prev} -> {}: {verdict}; {summary}", p.r#ref),
            t0,
            tests,
        );
        Ok(())
    }

    /// After a failed upgrade: is the app healthy again (on whatever spec swarm
    /// kept)? Later tiers run only on a healthy app.
    fn settle(&mut self) -> Result<String> {
        let id = self.run.id.clone();
        let Some((settled, waited)) = self.tool(
            "ccci-deploy",
            &["wait".into(), id, "--since-now".into()],
            "logs/upgrade.log",
        )?
        else {
            return Ok("could not wait for the app to settle".into());
        };
        if settled {
            return Ok(format!("the app settled back: {waited}"));
        }
        // Swarm may keep an update paused with the old task still serving
        // (start-first): what counts for the tiers above is whether the app
        // answers, so ask it once.
        let id = self.run.id.clone();
        let Some((serves, answered)) =
            self.tool("ccci-deploy", &["probe".into(), id], "logs/upgrade.log")?
        else {
            return Ok("could not probe the app after the failed upgrade".into());
        };
        if serves {
            return Ok(format!(
                "the app did not settle ({waited}) but serves: {answered}"
            ));
        }
        self.converged = false;
        self.not_serving = Some(format!(
            "the app does not serve after the failed upgrade: {answered}"
        ));
        Ok(format!("the app did not settle: {waited}"))
    }

    /// The run's context for hooks and tests, from the app the deploy tool made.
    fn context_vars(&mut self) -> Result<()> {
        let app = ccci_core::app::App::load(&self.run)?;
        let (domain, stack) = (app.domain, app.stack);
        let p = &self.plan;
        let h = &p.settings.health;
        let marker_hooks: Vec<String> = p
            .settings
            .marker_hooks
            .iter()
            .map(|(svc, rel)| format!("{svc}={}", self.recipes.join(&p.recipe).join(rel).display()))
            .collect();
        let run_dir = self.run.path.display().to_string();
        let set = [
            ("CCCI_RUN_ID", self.run.id.clone()),
            ("CCCI_RUN_DIR", run_dir.clone()),
            ("CCCI_RECIPE", p.recipe.clone()),
            ("CCCI_SOURCE_REPO", p.source_repo.clone()),
            ("CCCI_REF", p.r#ref.clone()),
            ("CCCI_HEAD_SHA", p.head_sha.clone()),
            ("CCCI_TESTED_TAG", p.tested_tag.clone().unwrap_or_default()),
            ("CCCI_PREVIOUS", p.previous.clone().unwrap_or_default()),
            ("CCCI_DOMAIN", domain.clone()),
            ("CCCI_STACK", stack.clone()),
            ("CCCI_URL", format!("https://{domain}/")),
            (
                "CCCI_EXEC",
                format!(
                    "{} exec {run_dir}",
                    self.bin_dir.join("ccci-deploy").display()
                ),
            ),
            ("CCCI_HEALTH_KIND", h.kind.to_string()),
            ("CCCI_HEALTH_SERVICE", h.service.clone()),
            ("CCCI_HEALTH_PATH", h.path.clone()),
            (
                "CCCI_HEALTH_CODES",
                h.codes
                    .iter()
                    .map(u16::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            ("CCCI_HEALTH_URL", h.url.clone().unwrap_or_default()),
            (
                "CCCI_RECIPE_TESTS",
                self.recipes.join(&p.recipe).display().to_string(),
            ),
            ("CCCI_MARKER_HOOKS", marker_hooks.join(",")),
        ];
        for (k, v) in set {
            self.vars.insert(k.into(), v);
        }
        self.apps.push(AppRef {
            role: Role::App,
            recipe: p.recipe.clone(),
            run_id: self.run.id.clone(),
            domain,
            stack,
        });
        Ok(())
    }

    /// Dependency apps, each a run of its own (`<run>-dep-<recipe>`) torn down
    /// with this one. Their tests learn whether they came up from
    /// `CCCI_DEP_<NAME>_READY`.
    fn dependencies(&mut self) -> Result<()> {
        let deps: Vec<Dependency> = self.plan.settings.dependencies.clone();
        let mut names = vec![];
        for d in deps {
            let var = d.recipe.to_uppercase().replace('-', "_");
            names.push(d.recipe.clone());
            let dep_id = format!("{}-dep-{}", self.run.id, d.recipe);
            let log = format!("logs/install/dep-{}.log", d.recipe);
            let held = format!(
                "{},{dep_id}",
                self.vars.get(LOCK_HELD_ENV).cloned().unwrap_or_default()
            );
            self.vars.insert(LOCK_HELD_ENV.into(), held);
            // The dependency's run dir sits next to ours; we hold its lock too,
            // so the reaper leaves it alone while this run lives.
            let dep = RunDir::create(&self.state_dir, &dep_id)?;
            if let Some(l) = dep.lock()? {
                self.dep_locks.push(l);
            }
            let mut args = self.new_args(&dep_id, &d.recipe, &d.repo, &d.r#ref);
            for (k, v) in &d.env {
                args.extend(["--env".into(), format!("{k}={v}")]);
            }
            let mut ready = false;
            let created = self.tool("ccci-deploy", &args, &log)?;
            self.deps.push(dep);
            let Some((created, why)) = created else {
                return Ok(());
            };
            if created {
                let Some((up, verdict)) = self.tool(
                    "ccci-deploy",
                    &["deploy".into(), dep_id.clone(), "--wait".into()],
                    &log,
                )?
                else {
                    return Ok(());
                };
                ready = up;
                if !ready {
                    log::warn(&format!(
                        "dependency {} did not come up: {verdict}",
                        d.recipe
                    ));
                }
            } else {
                log::warn(&format!(
                    "dependency {} could not be created: {why}",
                    d.recipe
                ));
            }
            // A dependency that could not be created has no app.json: empty names.
            let app: Option<ccci_core::app::App> =
                state::read_json_opt(&self.deps.last().map(|r| r.app_path()).unwrap_or_default())?;
            let (domain, stack) = app.map(|a| (a.domain, a.stack)).unwrap_or_default();
            self.vars.insert(
                format!("CCCI_DEP_{var}_READY"),
                if ready { "1" } else { "0" }.into(),
            );
            self.vars
                .insert(format!("CCCI_DEP_{var}_DOMAIN"), domain.clone());
            self.vars
                .insert(format!("CCCI_DEP_{var}_STACK"), stack.clone());
            let dep_dir = self
                .deps
                .last()
                .map(|r| r.path.display().to_string())
                .unwrap_or_default();
            self.vars.insert(format!("CCCI_DEP_{var}_RUN_DIR"), dep_dir);
            self.apps.push(AppRef {
                role: Role::Dependency,
                recipe: d.recipe.clone(),
                run_id: dep_id,
                domain,
                stack,
            });
        }
        self.vars.insert("CCCI_DEPS".into(), names.join(" "));
        Ok(())
    }

    /// A dependency whose every test skipped was never verified: the tier
    /// holding those tests fails, so the run is not green.
    fn dependency_rule(&mut self) {
        for d in &self.plan.settings.dependencies {
            if d.tests.is_empty() {
                continue;
            }
            let mut ran = vec![];
            for t in &self.tiers {
                for r in &t.tests {
                    let short = ccci_core::plan::Step::tier_name(&r.id);
                    if d.tests.iter().any(|w| w == short) {
                        ran.push((t.name.clone(), r.outcome));
                    }
                }
            }
            if ran.iter().any(|(_, o)| *o != Outcome::Skip) {
                continue;
            }
            let msg = format!(
                "dependency {} unverified: {}",
                d.recipe,
                if ran.is_empty() {
                    "none of its tests ran".to_string()
                } else {
                    format!("all {} of its tests skipped", ran.len())
                }
            );
            log::warn(&msg);
            let tier_name = ran
                .first()
                .map(|(n, _)| n.clone())
                .unwrap_or_else(|| d.tests[0].split('/').next().unwrap_or("custom").to_string());
            if let Some(t) = self.tiers.iter_mut().find(|t| t.name == tier_name)
                && t.status != Status::Skip
            {
                t.status = Status::Fail;
                t.summary = format!("{msg}; {}", t.summary);
            }
        }
    }

    /// Always: the dependencies, then the app. Not interruptible: a second
    /// signal must not leave half a stack behind.
    fn teardown(&mut self) -> Teardown {
        let never = Arc::new(AtomicBool::new(false));
        let saved = std::mem::replace(&mut self.stop, never);
        let mut runs: Vec<String> = self.deps.iter().map(|d| d.id.clone()).collect();
        runs.push(self.run.id.clone());
        let mut held = runs.join(",");
        if held.is_empty() {
            held = self.run.id.clone();
        }
        self.vars.insert(LOCK_HELD_ENV.into(), held);
        let t0 = Instant::now();
        let mut status = TeardownStatus::Clean;
        let mut summaries = vec![];
        // Only a green run's data is worth keeping for a promotion.
        let keep = self.cli.keep_volumes
            && self.abort.is_none()
            && self.tiers.iter().all(|t| t.status.climbed());
        for id in runs {
            let mut args = vec!["teardown".to_string(), id.clone()];
            if keep && id == self.run.id {
                args.push("--keep-volumes".into());
            }
            let answer = match self.call("ccci-deploy", &args, "logs/teardown.log") {
                Ok(a) => a,
                Err(e) => {
                    status = TeardownStatus::Error;
                    summaries.push(ccci_core::cli::one_line(&e));
                    continue;
                }
            };
            match &answer {
                Answer::Yes(_) => {}
                Answer::No(_) => {
                    if status != TeardownStatus::Error {
                        status = TeardownStatus::Leftovers;
                    }
                }
                _ => status = TeardownStatus::Error,
            }
            summaries.push(answer.summary());
        }
        self.stop = saved;
        let summary = summaries.join("; ");
        log::info(&format!(
            "teardown: {status} - {summary} ({:.1} s)",
            t0.elapsed().as_secs_f64()
        ));
        Teardown {
            status,
            summary,
            log: "logs/teardown.log".into(),
        }
    }

    fn finish(
        mut self,
        ctx: &ccci_core::cli::Ctx,
        started: Instant,
        started_at: &str,
        teardown: Teardown,
    ) -> Result<i32> {
        // Keep ladder order whatever order the tiers were pushed in.
        self.tiers.sort_by_key(|t| {
            TIERS
                .iter()
                .position(|n| *n == t.name)
                .unwrap_or(usize::MAX)
        });
        let level = results::level(&self.tiers);
        let green = results::green(&self.tiers, &teardown);
        let (verdict, code) = match &self.abort {
            Some(Abort::Interrupted) => (Verdict::Interrupted, exit::TEMPFAIL),
            Some(Abort::Trouble(_)) => (Verdict::Error, exit::TEMPFAIL),
            Some(Abort::Bug(_)) => (Verdict::Error, exit::BUG),
            None if teardown.status == TeardownStatus::Error => (Verdict::Error, exit::TEMPFAIL),
            None if green => (Verdict::Green, exit::OK),
            None => (Verdict::Red, exit::NO),
        };
        let total = started.elapsed();
        let mut warnings = self.plan.warnings.clone();
        if let Some(a) = &self.abort {
            warnings.push(a.reason());
        }
        let req: Option<ccci_core::rundir::Request> =
            state::read_json_opt(&self.run.request_path())?;
        let r = Results {
            schema: results::SCHEMA,
            run_id: self.run.id.clone(),
            recipe: self.plan.recipe.clone(),
            source_repo: self.plan.source_repo.clone(),
            pr: self.cli.pr,
            r#ref: self.plan.r#ref.clone(),
            head_sha: self.plan.head_sha.clone(),
            tested_tag: self.plan.tested_tag.clone(),
            previous: self.plan.previous.clone(),
            trigger: req.map(|q| q.trigger).unwrap_or(self.cli.trigger),
            mode: if self.cli.quick {
                Mode::Quick
            } else {
                Mode::Cold
            },
            started: started_at.into(),
            finished: ids::now_rfc3339(),
            duration_s: total.as_secs_f64(),
            overhead_s: total.saturating_sub(self.child_time).as_secs_f64(),
            tiers: self.tiers.clone(),
            retained_volumes: self
                .run
                .retained()
                .ok()
                .flatten()
                .map(|r| r.volumes)
                .unwrap_or_default(),
            deploy_count: self.apps.len() as u32,
            apps: self.apps.clone(),
            teardown,
            level,
            verdict,
            warnings,
            plan: "plan.json".into(),
            junit: "junit.xml".into(),
        };
        state::write_atomic(
            &self.run.file("junit.xml"),
            results::junit(&r).as_bytes(),
            0o644,
        )?;
        state::write_json(&self.run.file(results::FILE), &r)?;
        self.run
            .ledger("run-end", json!({"verdict": verdict, "level": level}))?;
        if ctx.json {
            ccci_core::verdict::print(
                r.verdict.as_str(),
                format!(
                    "level L{} ({}), {} app(s) deployed, {:.1} s",
                    r.level, r.verdict, r.deploy_count, r.duration_s
                ),
                serde_json::to_value(&r)?,
            );
        } else {
            output::table(&r, &self.run.path);
        }
        Ok(code)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
