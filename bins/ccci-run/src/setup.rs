//! Setting up a run: configuration, the parallel-run slot, the run lock, the
//! plan (`ccci-discover`), and the runner built from them.

use crate::runner::{RunRequest, Runner};
use crate::{Cli, signals, slot};
use anyhow::Result;
use ccci_core::plan::Plan;
use ccci_core::rundir::{LOCK_HELD_ENV, RunDir};
use ccci_core::tool::{self, Answer};
use ccci_core::{budget, settings};
use ccci_core::{exit, ids, log, state};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// The run: its configuration, slot, lock and plan, then the runner over the
/// tiers, the teardown and the results.
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
    let selection = crate::selection::Selection::parse(&cli.tiers)?;
    if cli.keep_app && cli.trigger == ccci_core::results::Trigger::Sweep {
        return Err(exit::usage(
            "--keep-app is refused for sweep runs: a sweep leaves nothing up",
        ));
    }
    ctx.docker.check_swarm_manager()?;
    let stop = signals::install()?;
    let run_id = match &cli.run_id {
        Some(id) => id.clone(),
        None => ids::new_run_id()?,
    };
    if !ccci_core::rundir::valid_id(&run_id) {
        return Err(exit::usage(format!("invalid run id {run_id:?}")));
    }
    // One run of a recipe at a time, then a run slot, then the host's budget.
    // Under systemd each wait keeps the unit's start from timing out and says
    // what it waits for (`systemctl status`).
    let notify = ccci_core::notify::Notifier::from_env();
    let told = std::cell::Cell::new(None::<Instant>);
    let on_wait = |why: &str| {
        if told
            .get()
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(10))
        {
            notify.send(&format!("EXTEND_TIMEOUT_USEC=60000000\nSTATUS={why}"));
            told.set(Some(Instant::now()));
        }
    };
    let recipe_lock = slot::recipe(&state_dir, &cli.recipe, &run_id, &stop, &on_wait)?;
    let slots = if cli.alone {
        slot::acquire_all(
            &state_dir,
            ctx.cfg.max_parallel_runs,
            &run_id,
            &stop,
            &on_wait,
        )?
    } else {
        vec![slot::acquire(
            &state_dir,
            ctx.cfg.max_parallel_runs,
            &run_id,
            &stop,
            &on_wait,
        )?]
    };
    let mut claim = claim_budget(
        &ctx, &state_dir, &recipes, &cli, &selection, &run_id, &stop, &on_wait,
    )?;
    if told.get().is_some() {
        // Past the unit's start timeout, systemd holds a run to the last
        // extension: the plan (a clone) gets its own 15 minutes, as a run
        // that never waited has.
        notify.send("EXTEND_TIMEOUT_USEC=900000000\nSTATUS=planning");
    }
    let run = RunDir::create(&state_dir, &run_id)?;
    let _lock = run.lock()?;
    if let Some(parent) = &cli.rerun_of {
        state::write_atomic(
            &run.file(ccci_core::rundir::RERUN_OF),
            format!("{parent}\n").as_bytes(),
            0o644,
        )?;
    }
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
        env_remove: vec![],
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
    if selection.is_partial() && !selection.has("upgrade") && plan.previous.is_some() {
        // No upgrade: the app is the ref under test from the start.
        plan.previous = None;
        state::write_json(&run.file("plan.json"), &plan)?;
    }
    let recipes_dir = recipes.clone();
    let mut r = Runner {
        state_dir: state_dir.clone(),
        dep_locks: vec![],
        run,
        plan,
        recipes,
        bin_dir,
        vars,
        stop,
        request: RunRequest::from_cli(&cli, selection),
        tiers: vec![],
        apps: vec![],
        deps: vec![],
        app_created: false,
        converged: false,
        not_serving: None,
        abort: None,
        child_time: Duration::ZERO,
        second: None,
        budget: None,
        docker: ccci_core::docker::Docker::new(&ctx.cfg.docker_context),
        notify,
    };
    // Planned: the unit is up (READY), and says what it runs.
    r.notify.send(&format!(
        "READY=1\nSTATUS=planned {} at {}",
        r.plan.recipe,
        &r.plan.head_sha[..12.min(r.plan.head_sha.len())]
    ));
    crate::report::start(&r.state_dir, &r.run.id);
    r.budget = Some(ccci_core::results::BudgetUse {
        need: claim.need().parts.clone(),
        waited_s: claim.waited.as_secs_f64(),
        measured: Default::default(),
    });
    if claim.waited.as_secs() > 0 {
        r.run.ledger(
            "budget-wait",
            json!({"waited_s": claim.waited.as_secs(), "need": claim.need().total()}),
        )?;
    }
    // Its apps, by the run ids they will have.
    let mut apps = vec![r.run.id.clone(), ccci_core::rundir::second_id(&r.run.id)];
    apps.extend(
        r.plan
            .settings
            .dependencies
            .iter()
            .filter(|d| !d.shared)
            .map(|d| ccci_core::rundir::dependency_id(&r.run.id, &d.recipe)),
    );
    let sampler = crate::measure::start(
        r.docker.api(),
        apps,
        &ctx.cfg.instance_id()?,
        r.run.path.clone(),
    );
    r.execute();
    // Measured before the teardown removes what is measured.
    if let (Some(s), Some(b)) = (sampler, r.budget.as_mut()) {
        b.measured = s.stop();
    }
    r.notify.send("STATUS=tearing down");
    let teardown = r.teardown();
    if teardown.status == ccci_core::results::TeardownStatus::Kept {
        // Its apps stay up: so does its share of the budget.
        if let Err(e) = claim.keep() {
            log::warn(&format!("cannot keep the run's budget claim: {e:#}"));
        }
    }
    let (sd, id) = (r.state_dir.clone(), r.run.id.clone());
    let reruns = cli.rerun_alone.unwrap_or(r.plan.settings.rerun_alone);
    let stop = r.stop.clone();
    let code = r.finish(&ctx, started, &started_at, teardown);
    // A rerun alone needs every run slot, this run's too, and is a run of
    // the same recipe with its own claim on the budget.
    drop(slots);
    drop(claim);
    drop(recipe_lock);
    if matches!(code, Ok(c) if c == exit::NO) {
        crate::rerun::alone(&cli, &recipes_dir, &sd, &id, reruns, &stop);
        if stop.load(std::sync::atomic::Ordering::SeqCst) {
            // Stopped while running it again: the run was interrupted.
            crate::report::finish(&sd, &id);
            return Ok(exit::TEMPFAIL);
        }
    }
    crate::report::finish(&sd, &id);
    code
}

/// Claim the run's share of the host's budget, waiting while it is spent
/// (docs/budget.md). Settings that do not load count the app at the default:
/// the plan says what is wrong with them.
#[allow(clippy::too_many_arguments)]
fn claim_budget(
    ctx: &ccci_core::cli::Ctx,
    state_dir: &Path,
    recipes: &Path,
    cli: &Cli,
    selection: &crate::selection::Selection,
    run_id: &str,
    stop: &std::sync::atomic::AtomicBool,
    on_wait: &dyn Fn(&str),
) -> Result<budget::claims::Claim> {
    let settings = settings::Settings::load(recipes, &cli.recipe).ok();
    let second = settings.as_ref().is_some_and(|s| s.two_instances) && selection.has("custom");
    budget::claims::acquire(
        state_dir,
        recipes,
        || budget::claims::Host::of(&ctx.cfg, &ctx.docker),
        || budget::need(state_dir, recipes, &cli.recipe, settings.as_ref(), second),
        run_id,
        &cli.recipe,
        stop,
        on_wait,
    )
}

impl RunRequest {
    /// Taken once, here: the runner never holds the `Cli` itself.
    fn from_cli(cli: &Cli, tiers: crate::selection::Selection) -> Self {
        RunRequest {
            trigger: cli.trigger,
            pr: cli.pr,
            quick: cli.quick,
            keep_volumes: cli.keep_volumes,
            tiers,
            keep_app: cli.keep_app,
            rerun_of: cli.rerun_of.clone(),
        }
    }
}
