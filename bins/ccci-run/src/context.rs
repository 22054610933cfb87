//! What hooks and tests see: the run's context variables, the dependency
//! apps, and the environment of each step.

use crate::runner::Runner;
use crate::tier;
use anyhow::Result;
use ccci_core::results::{AppRef, Role};
use ccci_core::rundir::{LOCK_HELD_ENV, RunDir};
use ccci_core::settings::Dependency;
use ccci_core::{log, state};

impl Runner {
    /// The run's context for hooks and tests, from the app the deploy tool made.
    pub(crate) fn context_vars(&mut self) -> Result<()> {
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
            // For pre-deploy hooks: the app env the next deploy reads, and
            // the recipe checkout it deploys from.
            ("CCCI_APP_ENV", self.run.env_path().display().to_string()),
            (
                "CCCI_RECIPE_DIR",
                self.run.recipe_dir().display().to_string(),
            ),
        ];
        for (k, v) in set {
            self.vars.insert(k.into(), v);
        }
        // The app is listed first, before the dependencies made for it.
        self.apps.insert(
            0,
            AppRef {
                role: Role::App,
                recipe: p.recipe.clone(),
                run_id: self.run.id.clone(),
                domain,
                stack,
            },
        );
        Ok(())
    }

    /// Dependency apps, each a run of its own (`<run>-dep-<recipe>`) torn down
    /// with this one. Their tests learn whether they came up from
    /// `CCCI_DEP_<NAME>_READY`.
    pub(crate) fn dependencies(&mut self) -> Result<()> {
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

    pub(crate) fn env(&self) -> tier::Env<'_> {
        tier::Env {
            run_dir: &self.run.path,
            vars: &self.vars,
            stop: &self.stop,
        }
    }
}
