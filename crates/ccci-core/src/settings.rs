//! Per-recipe settings: one data file per recipe, `recipes/<recipe>/recipe.json`.
//!
//! ```json
//! {
//!   "schema": 1,
//!   "enrolled": true,
//!   "approved": false,
//!   "repo": "https://git.example.org/recipes/demo.git",
//!   "health": {"kind": "http", "service": "app", "path": "/", "codes": [200],
//!              "start_window": 120, "max_restarts": 5},
//!   "timeouts": {"deploy": 300, "test": 300},
//!   "env": {"LOG_LEVEL": "debug", "MAIL_FROM": "noreply@{domain}"},
//!   "upgrade_env": {"COMPOSE_FILE": "compose.yml:compose.smtp.yml"},
//!   "secret_hook": "hooks/secret",
//!   "marker_hooks": {"db": "hooks/backup-marker"},
//!   "dependencies": [{"recipe": "keycloak", "repo": "...", "ref": "...", "tests": ["custom/sso-login"]}]
//! }
//! ```
//!
//! Every key but `schema` is optional. Unknown keys are refused (exit 2 naming the
//! file): a misspelt `"aproved"` must not silently mean "not approved".

use crate::exit::{self, WithCode};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const SCHEMA: u32 = 1;
pub const FILE: &str = "recipe.json";

/// The directory of generic tests shared by every recipe.
pub const GENERIC: &str = "_generic";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub schema: u32,
    /// Swept weekly and eligible to become canonical.
    #[serde(default)]
    pub enrolled: bool,
    /// Tests carried by the recipe's own pull requests may run (default deny).
    #[serde(default)]
    pub approved: bool,
    /// Where the sweep fetches the recipe from (its mirror).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    /// The upstream repository the mirror follows; when set, the sweep syncs
    /// the mirror from it (ccci-mirror-sync) before deciding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
    /// The mirror's repository on Gitea (`owner/name`), whose pull requests
    /// the mirror sync closes when upstream already has their changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gitea_repo: Option<String>,
    #[serde(default)]
    pub health: HealthSettings,
    #[serde(default)]
    pub timeouts: Timeouts,
    /// Extra app env, set on top of `.env.sample` when the app is created.
    /// Values may use the run's names (`crate::placeholders`).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// App env set only at the upgrade, before the new release is deployed
    /// (a release that adds a compose file needs it in `COMPOSE_FILE` then,
    /// and not before).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub upgrade_env: BTreeMap<String, String>,
    /// Executable printing the secrets the recipe marks `generate=false`,
    /// relative to the recipe's test directory (`ccci-deploy new --secret-hook`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_hook: Option<String>,
    /// What the restore waits for after the app is healthy again, before the
    /// restored data is checked (`ccci-verify-backup --ready-hook`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness: Option<Readiness>,
    /// A red run (class `recipe` or `test`) is run again alone this many
    /// times (0 to 3) to tell a flake from a defect; the sweep always does
    /// at least once.
    #[serde(default)]
    pub rerun_alone: u8,
    /// The custom tier also runs a second app of the recipe beside the
    /// first (bins/ccci-run/src/second.rs).
    #[serde(default)]
    pub two_instances: bool,
    /// Tests known to be flaky, by `<tier>/<name>`: a failure is reported
    /// but does not make the tier red until `until`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub flaky: BTreeMap<String, Flaky>,
    /// Data-marker hooks by service, relative to the recipe's test directory
    /// (see `ccci-verify-backup --marker-hook`).
    #[serde(default)]
    pub marker_hooks: BTreeMap<String, String>,
    #[serde(default)]
    pub dependencies: Vec<Dependency>,
    /// What one app of the recipe takes at its peak, where its measured runs
    /// should not decide (docs/budget.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<crate::budget::Declared>,
}

/// A recipe's health settings are the app's health probe, one type.
pub use crate::app::Health as HealthSettings;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Timeouts {
    /// Convergence of one deploy, seconds (default: the recipe's timeout label, else 300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy: Option<u64>,
    /// One test or hook, seconds.
    #[serde(default = "default_test_timeout")]
    pub test: u64,
}

fn default_test_timeout() -> u64 {
    300
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            deploy: None,
            test: default_test_timeout(),
        }
    }
}

/// A readiness probe: an executable (relative to the recipe's test directory)
/// that exits 0 once the app is ready, run until it does, within `timeout`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Readiness {
    pub hook: String,
    #[serde(default = "default_ready_timeout")]
    pub timeout: u64,
}

fn default_ready_timeout() -> u64 {
    60
}

/// A known-flaky test: why, and until when (a date, `YYYY-MM-DD`, UTC) its
/// failures do not count. After that date they count again.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Flaky {
    pub reason: String,
    pub until: String,
}

impl Flaky {
    /// Does it still hold on `today` (`YYYY-MM-DD`)?
    pub fn holds(&self, today: &str) -> bool {
        today <= self.until.as_str()
    }
}

/// `YYYY-MM-DD` with plausible numbers.
fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && s.split('-').all(|p| p.bytes().all(|c| c.is_ascii_digit()))
        && (1..=12).contains(&s[5..7].parse::<u8>().unwrap_or(0))
        && (1..=31).contains(&s[8..10].parse::<u8>().unwrap_or(0))
}

/// Another recipe the app needs (an SSO provider, say), deployed as its own app
/// in the same run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Dependency {
    pub recipe: String,
    pub repo: String,
    #[serde(rename = "ref")]
    pub r#ref: String,
    /// Test ids (`<tier>/<name>`) that exercise this dependency. If every one of
    /// them skips, the run is not green: the integration was never verified.
    #[serde(default)]
    pub tests: Vec<String>,
    /// Set on top of the dependency's own `recipe.json` env; `{domain}` and
    /// `{stack}` are the dependency app's own.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// One long-lived app per host, kept between runs (`crate::shared`).
    #[serde(default)]
    pub shared: bool,
    /// Run once the dependency is up, before the app is deployed (create a
    /// realm and a client), relative to this recipe's test directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup: Option<String>,
    /// Run at teardown, after the app is gone, when `setup` ran (remove what
    /// it created: the point of it on a shared app).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleanup: Option<String>,
}

impl Settings {
    /// Settings of a recipe with no file: not enrolled, not approved, defaults.
    pub fn unlisted() -> Settings {
        Settings {
            schema: SCHEMA,
            enrolled: false,
            approved: false,
            repo: None,
            upstream: None,
            gitea_repo: None,
            health: HealthSettings::default(),
            timeouts: Timeouts::default(),
            env: BTreeMap::new(),
            upgrade_env: BTreeMap::new(),
            secret_hook: None,
            readiness: None,
            rerun_alone: 0,
            two_instances: false,
            flaky: BTreeMap::new(),
            marker_hooks: BTreeMap::new(),
            dependencies: vec![],
            budget: None,
        }
    }

    /// Load `<recipes_dir>/<recipe>/recipe.json`; absent means [`Settings::unlisted`].
    pub fn load(recipes_dir: &Path, recipe: &str) -> Result<Settings> {
        let p = recipes_dir.join(recipe).join(FILE);
        let text = match std::fs::read_to_string(&p) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::unlisted()),
            Err(e) => {
                return Err(exit::wrap(
                    anyhow::Error::new(e).context(format!("cannot read {}", p.display())),
                    exit::USAGE,
                ));
            }
        };
        let s: Settings = serde_json::from_str(&text)
            .with_context(|| format!("{} is invalid", p.display()))
            .code(exit::USAGE)?;
        s.validate()
            .with_context(|| format!("{} is invalid", p.display()))
            .code(exit::USAGE)?;
        Ok(s)
    }

    fn validate(&self) -> Result<()> {
        if self.schema != SCHEMA {
            anyhow::bail!("schema {} is not {SCHEMA}", self.schema);
        }
        if self.timeouts.test == 0 || self.timeouts.deploy == Some(0) {
            anyhow::bail!("timeouts must be at least 1 second");
        }
        let deps: Vec<&str> = self
            .dependencies
            .iter()
            .map(|d| d.recipe.as_str())
            .collect();
        check_env("env", &self.env, &deps)?;
        check_env("upgrade_env", &self.upgrade_env, &deps)?;
        let hooks = [
            ("secret_hook", self.secret_hook.as_ref()),
            ("readiness.hook", self.readiness.as_ref().map(|r| &r.hook)),
        ];
        for (what, h) in hooks {
            if let Some(h) = h
                && !inside(h)
            {
                anyhow::bail!("{what} {h:?} must be a path inside the recipe's test directory");
            }
        }
        if let Some(b) = &self.budget {
            b.validate()?;
        }
        if self.rerun_alone > 3 {
            anyhow::bail!("rerun_alone {} is more than 3", self.rerun_alone);
        }
        for (id, f) in &self.flaky {
            match id.split_once('/') {
                Some((tier, name))
                    if crate::plan::TIERS.contains(&tier)
                        && !name.is_empty()
                        && !name.contains('/') => {}
                _ => anyhow::bail!(
                    "flaky test {id:?} is not <tier>/<name> of one of the recipe's own tests"
                ),
            }
            if !is_date(&f.until) {
                anyhow::bail!(
                    "flaky test {id}: until {:?} is not a date (YYYY-MM-DD)",
                    f.until
                );
            }
            if f.reason.trim().is_empty() {
                anyhow::bail!("flaky test {id}: a reason is required");
            }
        }
        if self.readiness.as_ref().is_some_and(|r| r.timeout == 0) {
            anyhow::bail!("readiness.timeout must be at least 1 second");
        }
        for d in &self.dependencies {
            // A dependency's own settings name its own app: no dependencies of its own.
            check_env(&format!("dependency {} env", d.recipe), &d.env, &[])?;
            for (what, h) in [("setup", &d.setup), ("cleanup", &d.cleanup)] {
                if let Some(h) = h
                    && !inside(h)
                {
                    anyhow::bail!(
                        "dependency {} {what} {h:?} must be a path inside the recipe's test directory",
                        d.recipe
                    );
                }
            }
            if d.shared && d.cleanup.is_none() && d.setup.is_some() {
                anyhow::bail!(
                    "shared dependency {} has a setup hook but no cleanup hook: what each run sets up on the shared app would pile up",
                    d.recipe
                );
            }
            if !valid_recipe_name(&d.recipe) {
                anyhow::bail!("dependency recipe {:?} is not a recipe name", d.recipe);
            }
            for t in &d.tests {
                if t.split('/').count() != 2 {
                    anyhow::bail!("dependency test {t:?} is not <tier>/<name>");
                }
            }
        }
        Ok(())
    }
}

/// A relative path that stays inside the directory it is relative to.
fn inside(rel: &str) -> bool {
    let p = Path::new(rel);
    !rel.is_empty() && !p.is_absolute() && !p.components().any(|c| c.as_os_str() == "..")
}

/// Keys are variable names; placeholders in values are ones a run can fill.
fn check_env(what: &str, env: &BTreeMap<String, String>, deps: &[&str]) -> Result<()> {
    for (k, v) in env {
        if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            anyhow::bail!("{what} key {k:?} is not a variable name");
        }
        for n in crate::placeholders::names(v) {
            if let Err(why) = crate::placeholders::check_name(n, deps) {
                anyhow::bail!("{what} {k}: {why}");
            }
        }
    }
    Ok(())
}

/// Recipe names are safe as a path component and a stack-name prefix (the one
/// rule is [`crate::recipe_name::RecipeName`]).
pub fn valid_recipe_name(n: &str) -> bool {
    crate::recipe_name::RecipeName::is_valid(n)
}

/// Every recipe directory with its settings, by name (`_generic` and other
/// `_`-prefixed directories are not recipes).
pub fn all(recipes_dir: &Path) -> Result<Vec<(String, Settings)>> {
    let entries = std::fs::read_dir(recipes_dir)
        .with_context(|| format!("cannot read recipes dir {}", recipes_dir.display()))
        .code(exit::USAGE)?;
    let mut out = vec![];
    for e in entries {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if !e.file_type()?.is_dir() || !valid_recipe_name(&name) {
            continue;
        }
        let s = Settings::load(recipes_dir, &name)?;
        out.push((name, s));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// The recipes directory: `--recipes-dir`, else the config's `recipes_dir`
/// (which `$CCCI_RECIPES_DIR` overrides).
pub fn recipes_dir(flag: Option<&Path>, cfg: &crate::config::Config) -> Result<PathBuf> {
    let d = flag
        .map(Path::to_path_buf)
        .unwrap_or_else(|| cfg.recipes_dir.clone());
    if !d.join(GENERIC).is_dir() {
        return Err(exit::usage(format!(
            "recipes dir {} has no {GENERIC}/ (set --recipes-dir or $CCCI_RECIPES_DIR)",
            d.display()
        )));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ccci-settings-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("r")).unwrap();
        d
    }

    #[test]
    fn absent_file_is_unlisted_and_defaults_fill_in() {
        let d = dir("absent");
        assert_eq!(Settings::load(&d, "r").unwrap(), Settings::unlisted());
        std::fs::write(d.join("r/recipe.json"), r#"{"schema":1,"enrolled":true}"#).unwrap();
        let s = Settings::load(&d, "r").unwrap();
        assert!(s.enrolled && !s.approved);
        assert_eq!(s.health.codes, vec![200]);
        assert_eq!(s.timeouts.test, 300);
        assert_eq!((s.health.start_window, s.health.max_restarts), (None, None));
    }

    #[test]
    fn the_fair_start_is_a_health_setting() {
        let d = dir("fair");
        std::fs::write(
            d.join("r/recipe.json"),
            r#"{"schema":1,"health":{"start_window":90,"max_restarts":8}}"#,
        )
        .unwrap();
        let s = Settings::load(&d, "r").unwrap();
        assert_eq!(s.health.start_window, Some(90));
        assert_eq!(s.health.max_restarts, Some(8));
        // Passed to ccci-deploy as `--health JSON`: unset keys stay out of it.
        let json = serde_json::to_string(&HealthSettings::default()).unwrap();
        assert!(
            !json.contains("start_window") && !json.contains("max_restarts"),
            "{json}"
        );
        for bad in [
            r#"{"schema":1,"health":{"start_window":"1m"}}"#,
            r#"{"schema":1,"health":{"max_restarts":-1}}"#,
        ] {
            std::fs::write(d.join("r/recipe.json"), bad).unwrap();
            let e = Settings::load(&d, "r").unwrap_err();
            assert_eq!(exit::code_of(&e), exit::USAGE, "{bad}");
        }
    }

    #[test]
    fn typos_and_bad_values_are_usage_errors_naming_the_file() {
        let d = dir("bad");
        for bad in [
            r#"{"schema":1,"aproved":true}"#,
            r#"{"schema":2}"#,
            r#"{"schema":1,"health":{"kind":"udp"}}"#,
            r#"{"schema":1,"timeouts":{"test":0}}"#,
            r#"{"schema":1,"env":{"MAIL":"x@{domian}"}}"#,
            r#"{"schema":1,"upgrade_env":{"ISS":"https://{dep.sso.domain}/"}}"#,
            r#"{"schema":1,"secret_hook":"../outside"}"#,
            r#"{"schema":1,"readiness":{"hook":"/abs"}}"#,
            r#"{"schema":1,"rerun_alone":4}"#,
            r#"{"schema":1,"flaky":{"custom/x":{"reason":"r","until":"31.12.2026"}}}"#,
            r#"{"schema":1,"flaky":{"x":{"reason":"r","until":"2026-12-31"}}}"#,
            r#"{"schema":1,"flaky":{"custom/x":{"reason":" ","until":"2026-12-31"}}}"#,
            r#"{"schema":1,"readiness":{"hook":"hooks/ready","timeout":0}}"#,
            r#"{"schema":1,"dependencies":[{"recipe":"k","repo":"r","ref":"x","tests":["nope"]}]}"#,
            "not json",
        ] {
            std::fs::write(d.join("r/recipe.json"), bad).unwrap();
            let e = Settings::load(&d, "r").unwrap_err();
            assert_eq!(exit::code_of(&e), exit::USAGE, "{bad}");
            assert!(format!("{e:#}").contains("recipe.json"), "{bad}: {e:#}");
        }
    }
}
