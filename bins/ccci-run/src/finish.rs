//! Ending a run: the dependency rule, the teardown, and results.json with
//! its verdict and exit code.

use crate::output;
use crate::runner::{Abort, Runner};
use anyhow::Result;
use ccci_core::plan::TIERS;
use ccci_core::results::{self, Mode, Outcome, Results, Status, Teardown, TeardownStatus, Verdict};
use ccci_core::rundir::LOCK_HELD_ENV;
use ccci_core::tool::Answer;
use ccci_core::{exit, ids, log, state};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

impl Runner {
    /// A dependency whose every test skipped was never verified: the tier
    /// holding those tests fails, so the run is not green.
    pub(crate) fn dependency_rule(&mut self) {
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

    /// Always: the app, then its own dependencies in reverse order (a shared
    /// dependency is not torn down: its cleanup hook runs, if its setup did).
    /// Not interruptible: a second signal must not leave half a stack behind.
    pub(crate) fn teardown(&mut self) -> Teardown {
        if let Some(kept) = self.keep_for_probing() {
            return kept;
        }
        let never = Arc::new(AtomicBool::new(false));
        let saved = std::mem::replace(&mut self.stop, never);
        let mut held: Vec<String> = vec![self.run.id.clone()];
        held.extend(
            self.deps
                .iter()
                .filter(|d| !d.shared)
                .map(|d| d.run.id.clone()),
        );
        self.vars.insert(LOCK_HELD_ENV.into(), held.join(","));
        let t0 = Instant::now();
        let mut status = TeardownStatus::Clean;
        let mut summaries = vec![];
        // Only a green run's data is worth keeping for a promotion.
        let keep = self.request.keep_volumes
            && self.abort.is_none()
            && self.tiers.iter().all(|t| t.status.climbed());
        let worse = |status: &mut TeardownStatus, to: TeardownStatus| {
            if *status != TeardownStatus::Error {
                *status = to;
            }
        };
        // The second instance goes first: it is the app's double.
        if let Some(second) = self.second.clone() {
            held.push(second.clone());
            self.vars.insert(LOCK_HELD_ENV.into(), held.join(","));
            match self.call(
                "ccci-deploy",
                &["teardown".into(), second.clone()],
                "logs/teardown.log",
            ) {
                Ok(Answer::Yes(_)) => {}
                Ok(a) => {
                    worse(&mut status, TeardownStatus::Leftovers);
                    summaries.push(format!("second instance: {}", a.summary()));
                }
                Err(e) => {
                    status = TeardownStatus::Error;
                    summaries.push(format!("second instance: {}", ccci_core::cli::one_line(&e)));
                }
            }
        }
        let mut steps: Vec<Option<usize>> = vec![None];
        steps.extend((0..self.deps.len()).rev().map(Some));
        for step in steps {
            let (id, label) = match step {
                None => (self.run.id.clone(), String::new()),
                Some(i) => {
                    if let Err(why) = self.cleanup_hook(i) {
                        log::warn(&why);
                        worse(&mut status, TeardownStatus::Leftovers);
                        summaries.push(why);
                    }
                    if self.deps[i].shared {
                        continue;
                    }
                    (
                        self.deps[i].run.id.clone(),
                        format!("dependency {}: ", self.deps[i].recipe),
                    )
                }
            };
            let mut args = vec!["teardown".to_string(), id.clone()];
            if keep && id == self.run.id {
                args.push("--keep-volumes".into());
            }
            let answer = match self.call("ccci-deploy", &args, "logs/teardown.log") {
                Ok(a) => a,
                Err(e) => {
                    status = TeardownStatus::Error;
                    summaries.push(format!("{label}{}", ccci_core::cli::one_line(&e)));
                    continue;
                }
            };
            match &answer {
                Answer::Yes(_) => {}
                Answer::No(_) => worse(&mut status, TeardownStatus::Leftovers),
                _ => status = TeardownStatus::Error,
            }
            if !matches!(answer, Answer::Yes(_)) && !label.is_empty() {
                log::warn(&format!("{label}teardown: {}", answer.summary()));
            }
            summaries.push(format!("{label}{}", answer.summary()));
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

    /// `--keep-app` on a red run: record every app of the run as kept (the
    /// reaper leaves it, `ccci-deploy status` says so) instead of tearing it
    /// down. An interrupted run or one that created nothing is torn down.
    fn keep_for_probing(&mut self) -> Option<Teardown> {
        let red = self
            .tiers
            .iter()
            .find(|t| t.status == Status::Fail)?
            .clone();
        if !self.request.keep_app || !self.app_created || self.abort.is_some() {
            return None;
        }
        // The second instance is not what is probed: it goes.
        if let Some(second) = self.second.clone() {
            let never = Arc::new(AtomicBool::new(false));
            let saved = std::mem::replace(&mut self.stop, never);
            if let Err(e) = self.call(
                "ccci-deploy",
                &["teardown".into(), second],
                "logs/teardown.log",
            ) {
                log::warn(&ccci_core::cli::one_line(&e));
            }
            self.stop = saved;
        }
        // A shared dependency is not this run's to keep: what the run set up
        // on it is cleaned up now, as at any teardown.
        let shared: Vec<usize> = (0..self.deps.len())
            .filter(|i| self.deps[*i].shared)
            .collect();
        for i in shared {
            if let Err(why) = self.cleanup_hook(i) {
                log::warn(&why);
            }
        }
        let kept = ccci_core::rundir::Kept {
            schema: 1,
            since: ids::now_rfc3339(),
            reason: format!("{} {}: {}", red.name, red.status.as_str(), red.summary),
        };
        let own_deps = self.deps.iter().filter(|d| !d.shared).map(|d| &d.run);
        for run in own_deps.chain(std::iter::once(&self.run)) {
            if let Err(e) = state::write_json(&run.kept_path(), &kept) {
                // Unrecorded, the reaper would take it: tear down after all.
                log::warn(&format!("cannot record {} as kept: {e:#}", run.id));
                return None;
            }
            let _ = run.ledger("kept", json!({"reason": kept.reason}));
        }
        let summary = format!(
            "left up for probing (--keep-app): `ccci-deploy status {0}` shows it, `ccci-deploy teardown {0}` removes it{1}",
            self.run.id,
            match self.deps.iter().filter(|d| !d.shared).count() {
                0 => String::new(),
                n => format!(" (and its {n} dependency app(s), each by its own run id)"),
            }
        );
        log::info(&format!("teardown: kept - {summary}"));
        Some(Teardown {
            status: TeardownStatus::Kept,
            summary,
            log: "logs/teardown.log".into(),
        })
    }

    /// What each app of the run took becomes a measure of its recipe, for
    /// the budget of its next runs. A partial or stopped run's peak says
    /// less than a whole run's, and so does one whose app never came up (a
    /// crash-looping install takes a few MiB, not what the recipe takes).
    fn learn(&self) {
        let Some(b) = &self.budget else { return };
        if self.request.tiers.is_partial() || self.abort.is_some() || !self.converged {
            return;
        }
        for (app_run, f) in &b.measured {
            let recipe = self
                .apps
                .iter()
                .find(|a| &a.run_id == app_run)
                .map(|a| a.recipe.clone())
                .or_else(|| {
                    (self.second.as_ref() == Some(app_run)).then(|| self.plan.recipe.clone())
                });
            let Some(recipe) = recipe.filter(|_| f.memory_mb > 0) else {
                continue;
            };
            let sample = ccci_core::budget::learned::Sample {
                run_id: app_run.clone(),
                at: ids::now_rfc3339(),
                memory_mb: f.memory_mb,
                disk_mb: f.disk_mb,
            };
            if let Err(e) = ccci_core::budget::learned::record(&self.state_dir, &recipe, sample) {
                log::warn(&format!("cannot keep what {app_run} took: {e:#}"));
            }
        }
    }

    pub(crate) fn finish(
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
        self.classify();
        let level = results::level(&self.tiers);
        let green = results::green(&self.tiers, &teardown);
        let partial = self.request.tiers.is_partial();
        // A partial run passes when every tier it ran did; it is never green.
        let ran_clean = self
            .tiers
            .iter()
            .filter(|t| self.request.tiers.has(&t.name))
            .all(|t| t.status.climbed())
            && teardown.status == TeardownStatus::Clean;
        let (verdict, code) = match &self.abort {
            Some(Abort::Interrupted) => (Verdict::Interrupted, exit::TEMPFAIL),
            Some(Abort::Trouble(_)) => (Verdict::Error, exit::TEMPFAIL),
            Some(Abort::Bug(_)) => (Verdict::Error, exit::BUG),
            None if teardown.status == TeardownStatus::Error => (Verdict::Error, exit::TEMPFAIL),
            None if partial && ran_clean => (Verdict::Partial, exit::OK),
            None if green && !partial => (Verdict::Green, exit::OK),
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
            pr: self.request.pr,
            r#ref: self.plan.r#ref.clone(),
            head_sha: self.plan.head_sha.clone(),
            tested_tag: self.plan.tested_tag.clone(),
            previous: self.plan.previous.clone(),
            trigger: req.map(|q| q.trigger).unwrap_or(self.request.trigger),
            mode: if self.request.quick {
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
            left_out: self.request.tiers.left_out(),
            overlays: self
                .plan
                .overlays
                .iter()
                .map(|o| results::OverlayUse {
                    file: o.file.clone(),
                    phase: o.phase,
                })
                .collect(),
            reruns: vec![],
            reproduced_alone: 0,
            rerun_of: self.request.rerun_of.clone(),
            budget: self.budget.clone(),
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
        self.learn();
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
