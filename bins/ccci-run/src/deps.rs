//! Dependency apps: another recipe the app needs (an SSO provider, say),
//! deployed with its own settings (its `recipe.json`: health, timeouts, env,
//! secret hook, pre-deploy hooks, CI overlays) and healthy before the app's
//! one deploy. A dependency is a run of its own, `<run>-dep-<recipe>`, torn
//! down after the app; a `shared` one is one long-lived app per host
//! (`ccci_core::shared`), found or created once and never torn down by a run,
//! with per-run `setup` and `cleanup` hooks.

use crate::runner::{Abort, Runner};
use crate::tier;
use anyhow::Result;
use ccci_core::overlay;
use ccci_core::plan::Step;
use ccci_core::results::{AppRef, Outcome, Role};
use ccci_core::rundir::{LOCK_HELD_ENV, RunDir};
use ccci_core::settings::{Dependency, Settings};
use ccci_core::{ids, log, shared, state};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// A dependency app of this run. A shared one's cleanup hook runs at
/// teardown when its setup ran; a run's own dependency is torn down whole.
pub(crate) struct DepApp {
    pub(crate) recipe: String,
    pub(crate) run: RunDir,
    pub(crate) shared: bool,
    /// The cleanup hook to run at teardown: set once the setup hook ran.
    pub(crate) cleanup: Option<PathBuf>,
}

/// How long a run waits for another to finish creating a shared app.
const SHARED_WAIT_EXTRA: Duration = Duration::from_secs(120);

impl Runner {
    /// Every dependency, in order. The first that does not come up (or whose
    /// setup hook fails) is returned as why the install is red; trouble with
    /// a shared app is the host's, not the recipe's (`Abort::Trouble`).
    pub(crate) fn dependencies(&mut self) -> Result<Option<String>> {
        let deps: Vec<Dependency> = self.plan.settings.dependencies.clone();
        let mut names = vec![];
        for d in deps {
            names.push(d.recipe.clone());
            self.vars.insert("CCCI_DEPS".into(), names.join(" "));
            let own = match Settings::load(&self.recipes, &d.recipe) {
                Ok(s) => s,
                Err(e) => {
                    return Ok(Some(format!(
                        "dependency {}: {}",
                        d.recipe,
                        ccci_core::cli::one_line(&e)
                    )));
                }
            };
            if !own.dependencies.is_empty() {
                log::warn(&format!(
                    "dependency {}: its own dependencies are not deployed (one level only)",
                    d.recipe
                ));
            }
            let up = if d.shared {
                self.shared_dependency(&d, &own)?
            } else {
                self.own_dependency(&d, &own)?
            };
            if self.abort.is_some() {
                return Ok(None);
            }
            if let Err(why) = up {
                return Ok(Some(format!("dependency {} {why}", d.recipe)));
            }
        }
        Ok(None)
    }

    /// The dependencies' setup hooks, once the app exists (they may need its
    /// domain: a client's redirect URI) and before its deploy.
    pub(crate) fn setup_dependencies(&mut self) -> Result<Option<String>> {
        let deps: Vec<Dependency> = self.plan.settings.dependencies.clone();
        for d in deps.iter().filter(|d| d.setup.is_some()) {
            if let Some(why) = self.setup_hook(d)? {
                return Ok(Some(format!("dependency {}: {why}", d.recipe)));
            }
        }
        Ok(None)
    }

    /// `ccci-deploy new` arguments for a dependency, from its own settings
    /// with the depending recipe's `env` for it on top.
    fn dep_new_args(&self, id: &str, d: &Dependency, own: &Settings) -> Result<Vec<String>> {
        let mut args = self.new_args(id, &d.recipe, &d.repo, &d.r#ref);
        for (k, v) in own.env.iter().chain(&d.env) {
            args.extend(["--env".into(), format!("{k}={v}")]);
        }
        args.extend(["--health".into(), serde_json::to_string(&own.health)?]);
        if let Some(t) = own.timeouts.deploy {
            args.extend(["--timeout".into(), t.to_string()]);
        }
        let dir = self.recipes.join(&d.recipe);
        if let Some(h) = &own.secret_hook {
            args.extend(["--secret-hook".into(), dir.join(h).display().to_string()]);
        }
        for o in overlay::scan(&dir.join("compose"))? {
            args.extend(["--overlay".into(), o.path.display().to_string()]);
        }
        Ok(args)
    }

    /// Create, prepare (its own pre-deploy hooks) and deploy one dependency
    /// app as run `id`. `Err` says why it is not up.
    fn bring_up(
        &mut self,
        id: &str,
        d: &Dependency,
        own: &Settings,
    ) -> Result<std::result::Result<(), String>> {
        let log = format!("logs/install/dep-{}.log", d.recipe);
        let args = self.dep_new_args(id, d, own)?;
        let Some((created, why)) = self.tool("ccci-deploy", &args, &log)? else {
            return Ok(Err("could not be created: the run stopped".into()));
        };
        if !created {
            return Ok(Err(format!("could not be created: {why}")));
        }
        let run = RunDir::open(&self.state_dir, id)?;
        let hook = self.recipes.join(&d.recipe).join("hooks/pre-deploy");
        if hook.is_file() {
            let step = Step {
                id: format!("{}/hooks/pre-deploy", d.recipe),
                path: hook,
                source: "hook".into(),
                timeout_s: own.timeouts.test,
            };
            let r = self.dep_step(&run, &step)?;
            if r.outcome != Outcome::Pass {
                return Ok(Err(format!(
                    "pre-deploy hook {} {}: {}",
                    r.id, r.outcome, r.summary
                )));
            }
        }
        let deploy = ["deploy".to_string(), id.to_string(), "--wait".into()];
        let Some((up, verdict)) = self.tool("ccci-deploy", &deploy, &log)? else {
            return Ok(Err("did not come up: the run stopped".into()));
        };
        Ok(if up {
            Ok(())
        } else {
            Err(format!("did not come up: {verdict}"))
        })
    }

    /// A step for a dependency app: the run's context, with the names, env
    /// and checkout of the dependency where a hook of the app would see the
    /// app's.
    fn dep_step(&mut self, dep: &RunDir, step: &Step) -> Result<ccci_core::results::TestResult> {
        let app = ccci_core::app::App::load(dep)?;
        let mut vars: BTreeMap<String, String> = self.vars.clone();
        for (k, v) in [
            ("CCCI_APP_ENV", dep.env_path().display().to_string()),
            ("CCCI_RECIPE_DIR", dep.recipe_dir().display().to_string()),
            ("CCCI_DOMAIN", app.domain),
            ("CCCI_STACK", app.stack),
            ("CCCI_RUN_DIR", dep.path.display().to_string()),
        ] {
            vars.insert(k.into(), v);
        }
        let env = tier::Env {
            run_dir: &self.run.path,
            vars: &vars,
            stop: &self.stop,
        };
        let r = tier::step(&env, "install", step)?;
        self.ran(&r);
        Ok(r)
    }

    /// A dependency of this run only: `<run>-dep-<recipe>`.
    fn own_dependency(
        &mut self,
        d: &Dependency,
        own: &Settings,
    ) -> Result<std::result::Result<(), String>> {
        let id = ccci_core::rundir::dependency_id(&self.run.id, &d.recipe);
        let held = format!(
            "{},{id}",
            self.vars.get(LOCK_HELD_ENV).cloned().unwrap_or_default()
        );
        self.vars.insert(LOCK_HELD_ENV.into(), held);
        // The dependency's run dir sits next to ours; we hold its lock too,
        // so the reaper leaves it alone while this run lives.
        let dep = RunDir::create(&self.state_dir, &id)?;
        if let Some(l) = dep.lock()? {
            self.dep_locks.push(l);
        }
        self.deps.push(DepApp {
            recipe: d.recipe.clone(),
            run: dep,
            shared: false,
            cleanup: None,
        });
        let up = self.bring_up(&id, d, own)?;
        self.publish(d, &id, up.is_ok())?;
        Ok(up)
    }

    /// The host's shared app of the recipe: found healthy, or created once
    /// under the recipe's shared lock. Never torn down by this run.
    fn shared_dependency(
        &mut self,
        d: &Dependency,
        own: &Settings,
    ) -> Result<std::result::Result<(), String>> {
        let id = shared::run_id(&d.recipe);
        let wait = Duration::from_secs(own.timeouts.deploy.unwrap_or(300)) + SHARED_WAIT_EXTRA;
        let _guard = shared::lock(&self.state_dir, &d.recipe, wait)?;
        let log = format!("logs/install/dep-{}.log", d.recipe);
        match shared::read(&self.state_dir, &d.recipe)? {
            Some(rec) => {
                if rec.r#ref != d.r#ref {
                    log::warn(&format!(
                        "shared {} runs {} where this recipe asks for {}; an operator upgrades it with `ccci-deploy upgrade {id} --ref {}`",
                        d.recipe, rec.r#ref, d.r#ref, d.r#ref
                    ));
                }
                let probe = ["probe".to_string(), id.clone()];
                let Some((serves, answered)) = self.tool("ccci-deploy", &probe, &log)? else {
                    return Ok(Err("could not be probed: the run stopped".into()));
                };
                if !serves {
                    // Not the recipe's fault: the host's long-lived app is down.
                    self.abort = Some(Abort::Trouble(format!(
                        "shared dependency {} (run {id}) does not serve: {answered}; see `ccci-deploy status {id}`",
                        d.recipe
                    )));
                    return Ok(Err("does not serve".into()));
                }
            }
            None => {
                if let Err(why) = self.bring_up(&id, d, own)? {
                    // Never shared: ours to remove.
                    let _ = self.tool("ccci-deploy", &["teardown".into(), id.clone()], &log)?;
                    return Ok(Err(why));
                }
                let app = ccci_core::app::App::load(&RunDir::open(&self.state_dir, &id)?)?;
                shared::write(
                    &self.state_dir,
                    &shared::Shared {
                        schema: shared::SCHEMA,
                        recipe: d.recipe.clone(),
                        run_id: id.clone(),
                        repo: d.repo.clone(),
                        r#ref: d.r#ref.clone(),
                        domain: app.domain,
                        stack: app.stack,
                        since: ids::now_rfc3339(),
                    },
                )?;
                log::info(&format!(
                    "shared dependency {} created as run {id}; it stays for later runs",
                    d.recipe
                ));
            }
        }
        self.deps.push(DepApp {
            recipe: d.recipe.clone(),
            run: RunDir::open(&self.state_dir, &id)?,
            shared: true,
            cleanup: None,
        });
        self.publish(d, &id, true)?;
        self.vars.insert(
            format!("CCCI_DEP_{}_SHARED", var_name(&d.recipe)),
            "1".into(),
        );
        Ok(Ok(()))
    }

    /// Tell hooks and tests about the dependency (`CCCI_DEP_<NAME>_*`), and
    /// list it among the run's apps.
    fn publish(&mut self, d: &Dependency, id: &str, ready: bool) -> Result<()> {
        let var = var_name(&d.recipe);
        // A dependency that could not be created has no app.json: empty names.
        let dir = RunDir::runs_root(&self.state_dir).join(id);
        let app: Option<ccci_core::app::App> = state::read_json_opt(&dir.join("app.json"))?;
        let (domain, stack) = app.map(|a| (a.domain, a.stack)).unwrap_or_default();
        for (k, v) in [
            ("READY", if ready { "1" } else { "0" }.to_string()),
            ("DOMAIN", domain.clone()),
            ("STACK", stack.clone()),
            ("RUN_DIR", dir.display().to_string()),
        ] {
            self.vars.insert(format!("CCCI_DEP_{var}_{k}"), v);
        }
        self.apps.push(AppRef {
            role: Role::Dependency,
            recipe: d.recipe.clone(),
            run_id: id.to_string(),
            domain,
            stack,
        });
        Ok(())
    }

    /// The dependency's per-run setup hook, once it is up. Its cleanup hook is
    /// then owed at teardown.
    fn setup_hook(&mut self, d: &Dependency) -> Result<Option<String>> {
        let Some(setup) = &d.setup else {
            return Ok(None);
        };
        let own_dir = self.recipes.join(&self.plan.recipe);
        let step = Step {
            id: format!("{}/{setup}", self.plan.recipe),
            path: own_dir.join(setup),
            source: "hook".into(),
            timeout_s: self.plan.settings.timeouts.test,
        };
        let env = self.env();
        let r = tier::step(&env, "install", &step)?;
        self.ran(&r);
        if let Some(dep) = self.deps.iter_mut().rev().find(|x| x.recipe == d.recipe) {
            // Even a failed setup may have made something: clean up after it.
            dep.cleanup = d.cleanup.as_ref().map(|c| own_dir.join(c));
        }
        Ok((r.outcome != Outcome::Pass)
            .then(|| format!("setup hook {} {}: {}", r.id, r.outcome, r.summary)))
    }

    /// At teardown: a dependency's cleanup hook, if its setup ran. `Err` is
    /// what to report.
    pub(crate) fn cleanup_hook(&mut self, i: usize) -> std::result::Result<(), String> {
        let Some(path) = self.deps[i].cleanup.take() else {
            return Ok(());
        };
        let recipe = self.deps[i].recipe.clone();
        let step = Step {
            id: format!("{}/cleanup-{recipe}", self.plan.recipe),
            path,
            source: "hook".into(),
            timeout_s: self.plan.settings.timeouts.test,
        };
        let env = self.env();
        match tier::step(&env, "teardown", &step) {
            Ok(r) if r.outcome == Outcome::Pass => Ok(()),
            Ok(r) => Err(format!(
                "cleanup hook of dependency {recipe} {}: {}",
                r.outcome, r.summary
            )),
            Err(e) => Err(format!(
                "cleanup hook of dependency {recipe} could not run: {}",
                ccci_core::cli::one_line(&e)
            )),
        }
    }
}

/// `keycloak-ng` → `KEYCLOAK_NG`, for `CCCI_DEP_<NAME>_*`.
fn var_name(recipe: &str) -> String {
    recipe.to_uppercase().replace('-', "_")
}
