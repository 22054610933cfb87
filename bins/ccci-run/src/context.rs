//! What hooks and tests see: the run's context variables, the dependency
//! apps, and the environment of each step.

use crate::runner::Runner;
use crate::tier;
use anyhow::Result;
use ccci_core::results::{AppRef, Role};

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

    pub(crate) fn env(&self) -> tier::Env<'_> {
        tier::Env {
            run_dir: &self.run.path,
            vars: &self.vars,
            stop: &self.stop,
        }
    }
}
