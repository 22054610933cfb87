//! Climbing the tier ladder: install, upgrade (and settling after a failed
//! one), then backup, restore, custom and lint; each tier folded into a status.

use crate::runner::{Abort, Runner};
use crate::tier;
use anyhow::Result;
use ccci_core::log;
use ccci_core::plan::{TIERS, TierPlan};
use ccci_core::results::{Outcome, Status, TestResult, Tier};
use ccci_core::rundir::PROGRESS;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

impl Runner {
    pub(crate) fn execute(&mut self) {
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

    /// A tier a partial run left out: `skip`, saying so. True when it was.
    fn left_out(&mut self, name: &str) -> bool {
        if self.request.tiers.has(name) {
            return false;
        }
        let why = format!(
            "left out: a partial run of {} (--tiers)",
            self.request.tiers.describe()
        );
        self.push(name, Status::Skip, why, Instant::now(), vec![]);
        true
    }

    fn tiers_in_order(&mut self) -> Result<()> {
        self.progress("install");
        self.install()?;
        if self.interrupted() {
            return Ok(());
        }
        if !self.left_out("upgrade") {
            self.progress("upgrade");
            self.upgrade()?;
        }
        for name in ["backup", "restore", "custom"] {
            if self.interrupted() {
                return Ok(());
            }
            if self.left_out(name) {
                continue;
            }
            self.progress(name);
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
            let (hook, mut tests) = self.steps(name)?;
            if name == "custom" && hook.is_none() && !self.interrupted() {
                tests.extend(self.second_instance()?);
            }
            let (st, summary) = self.fold(hook, &tests, Status::Na);
            self.push(name, st, summary, t0, tests);
        }
        if self.interrupted() {
            return Ok(());
        }
        if self.left_out("lint") {
            return Ok(());
        }
        // Lint reads the recipe, not the app: it runs whatever happened above.
        self.progress("lint");
        let t0 = Instant::now();
        let (hook, tests) = self.steps("lint")?;
        let (st, summary) = self.fold(hook, &tests, Status::Na);
        self.push("lint", st, summary, t0, tests);
        Ok(())
    }

    /// Say which tier runs now (`progress.json`), for the run's web page
    /// while there is no results.json yet. Best effort: a page a little
    /// behind is no reason to stop a run.
    fn progress(&self, tier: &str) {
        let p = ccci_core::rundir::Progress {
            schema: 1,
            tier: tier.to_string(),
            since: ccci_core::ids::now_rfc3339(),
        };
        if let Err(e) = ccci_core::state::write_json(&self.run.file(PROGRESS), &p) {
            ccci_core::log::warn(&format!("cannot write {PROGRESS}: {e:#}"));
        }
        crate::report::progress(&self.state_dir, &self.run.id);
        self.notify
            .send(&format!("STATUS=tier {tier} since {}", p.since));
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
            red: None,
        });
    }

    /// Fold hooks and tests into a status, given that the tier's own work (a
    /// deploy, an upgrade) passed.
    ///
    /// A failing test the recipe marks known-flaky (`recipe.json` `flaky`,
    /// before its `until` date) is reported but does not count; after the
    /// date it counts again. Nothing else turns a red into a green.
    fn fold(
        &self,
        hook: Option<TestResult>,
        tests: &[TestResult],
        none: Status,
    ) -> (Status, String) {
        if let Some(h) = hook {
            return (
                Status::Fail,
                format!("hook {} {}: {}", h.id, h.outcome, h.summary),
            );
        }
        let today = &ccci_core::ids::now_rfc3339()[..10];
        let flaky = &self.plan.settings.flaky;
        // Only the recipe's own tests: ccci's generic ones (a data-loss
        // check) can never be excused by a recipe.
        let excused = |t: &TestResult| {
            t.outcome != Outcome::Pass
                && t.outcome != Outcome::Skip
                && !t
                    .id
                    .starts_with(&format!("{}/", ccci_core::settings::GENERIC))
                && flaky
                    .get(ccci_core::plan::Step::tier_name(&t.id))
                    .is_some_and(|f| f.holds(today))
        };
        let counted: Vec<TestResult> = tests.iter().filter(|t| !excused(t)).cloned().collect();
        let st = match tier::status_of(&counted) {
            // Only excused failures: the tier's other tests decide, or it passes.
            Status::Na if counted.len() < tests.len() => Status::Pass,
            st => st,
        };
        let st = if st == Status::Na { none } else { st };
        let mut summary = tier::summarize(&counted);
        for t in tests.iter().filter(|t| excused(t)) {
            let f = &flaky[ccci_core::plan::Step::tier_name(&t.id)];
            summary.push_str(&format!(
                "; known flaky, not counted until {}: {} {} ({}): {}",
                f.until, t.id, t.outcome, f.reason, t.summary
            ));
        }
        (st, summary)
    }

    fn install(&mut self) -> Result<()> {
        let t0 = Instant::now();
        let p = self.plan.clone();
        let install_ref = p.previous.clone().unwrap_or_else(|| p.r#ref.clone());
        let mut args = self.new_args(&self.run.id.clone(), &p.recipe, &p.source_repo, &p.r#ref);
        // The plan's commit is the run's identity: the app is made of it or not at all.
        args.extend(["--expect-sha".into(), p.head_sha.clone()]);
        // A URL was cloned once, for the plan: the app is made from that clone.
        let planned_clone = self.run.file("source.git");
        if planned_clone.is_dir() {
            args.extend(["--clone-from".into(), planned_clone.display().to_string()]);
        }
        if let Some(prev) = &p.previous {
            args.extend(["--install-ref".into(), prev.clone()]);
        }
        if self.request.quick {
            args.push("--from-canonical".into());
        }
        if let Some(pr) = self.request.pr {
            args.extend(["--pr".into(), pr.to_string()]);
        }
        // Dependencies come first: the app's env may name their domains.
        let dep_failed = self.dependencies()?;
        if self.abort.is_some() {
            return Ok(());
        }
        if let Some(why) = dep_failed {
            self.push("install", Status::Fail, why, t0, vec![]);
            return Ok(());
        }
        args.extend(self.settings_args()?);
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
        if let Some(why) = self.setup_dependencies()? {
            self.push("install", Status::Fail, why, t0, vec![]);
            return Ok(());
        }
        if self.abort.is_some() {
            return Ok(());
        }
        if let Some(h) = self.pre_deploy()? {
            self.push(
                "install",
                Status::Fail,
                format!("pre-deploy hook {} {}: {}", h.id, h.outcome, h.summary),
                t0,
                vec![h],
            );
            return Ok(());
        }
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
        let (st, summary) = self.fold(hook, &tests, Status::Pass);
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
                if self.request.quick {
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
                self.ran(&r);
                if r.outcome != Outcome::Pass {
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
        let mut args: Vec<String> = vec![
            "upgrade".into(),
            id,
            "--ref".into(),
            p.r#ref.clone(),
            // The plan's commit is the run's identity.
            "--expect-sha".into(),
            p.head_sha.clone(),
        ];
        for (k, v) in &p.settings.upgrade_env {
            args.extend(["--env".into(), format!("{k}={v}")]);
        }
        if !p.settings.upgrade_env.is_empty() {
            args.extend(self.dep_domain_args());
        }
        let Some((ok, verdict)) = self.tool("ccci-deploy", &args, "logs/upgrade.log")? else {
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
        let (st, summary) = self.fold(None, &tests, Status::Pass);
        self.push(
            "upgrade",
            st,
            format!("{prev} -> {}: {verdict}; {summary}", p.r#ref),
            t0,
            tests,
        );
        Ok(())
    }

    /// What every app of the recipe is created with: its env, the
    /// dependencies' domains, CI overlays, secret hook, health and timeout.
    pub(crate) fn settings_args(&self) -> Result<Vec<String>> {
        let p = &self.plan;
        let s = &p.settings;
        let mut args: Vec<String> = vec![];
        for (k, v) in &s.env {
            args.extend(["--env".into(), format!("{k}={v}")]);
        }
        args.extend(self.dep_domain_args());
        for o in &p.overlays {
            args.extend(["--overlay".into(), o.path.display().to_string()]);
        }
        if let Some(h) = &s.secret_hook {
            let hook = self.recipes.join(&p.recipe).join(h);
            args.extend(["--secret-hook".into(), hook.display().to_string()]);
        }
        // The recipe's health settings, typed on both ends (one type, in core).
        args.extend(["--health".into(), serde_json::to_string(&s.health)?]);
        if let Some(t) = s.timeouts.deploy {
            args.extend(["--timeout".into(), t.to_string()]);
        }
        Ok(args)
    }

    /// The `hooks/pre-deploy` steps, once, between creating the app and its
    /// first deploy. The first that does not pass is returned (the install is
    /// red and nothing is deployed).
    fn pre_deploy(&mut self) -> Result<Option<TestResult>> {
        let steps = self.plan.pre_deploy.clone();
        for h in &steps {
            let r = tier::step(&self.env(), "install", h)?;
            self.ran(&r);
            if r.outcome != Outcome::Pass {
                return Ok(Some(r));
            }
        }
        Ok(None)
    }

    /// `--dep-domain RECIPE=DOMAIN` for every dependency of the run (an empty
    /// domain when it could not be created: a placeholder naming it then
    /// fails with that reason).
    fn dep_domain_args(&self) -> Vec<String> {
        self.apps
            .iter()
            .filter(|a| a.role == ccci_core::results::Role::Dependency)
            .flat_map(|a| ["--dep-domain".into(), format!("{}={}", a.recipe, a.domain)])
            .collect()
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
}
