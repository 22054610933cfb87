//! The host's budget: the memory and disk that runs side by side may take
//! together (docs/budget.md). A run says what it needs before it starts,
//! holds a claim on the budget while it runs, and waits while the budget is
//! spent; what it really took is measured and remembered for its next runs.
//!
//! - [`estimate`]: what one app of a recipe takes: declared in `recipe.json`
//!   (`budget`), else learnt from its last runs ([`learned`]), else a default.
//! - [`need`]: what a run takes: its app, a second app when it runs two, its
//!   dependencies, and a shared dependency app it will be the one to make.
//! - [`claims`]: the host's budget, the claims on it, and the wait.

pub mod claims;
pub mod learned;

use crate::settings::Settings;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// What an app that was never measured and declares nothing is counted at: a
/// small web app with a database, as the demo-class recipes are.
pub const DEFAULT: Figures = Figures {
    memory_mb: 512,
    disk_mb: 1024,
};

/// MiB of memory and of disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Figures {
    pub memory_mb: u64,
    pub disk_mb: u64,
}

impl std::ops::Add for Figures {
    type Output = Figures;
    fn add(self, o: Figures) -> Figures {
        Figures {
            memory_mb: self.memory_mb.saturating_add(o.memory_mb),
            disk_mb: self.disk_mb.saturating_add(o.disk_mb),
        }
    }
}

impl std::iter::Sum for Figures {
    fn sum<I: Iterator<Item = Figures>>(it: I) -> Figures {
        it.fold(Figures::default(), |a, b| a + b)
    }
}

/// `recipe.json` `budget`: the peak of one app of the recipe (its services
/// and volumes, not its dependencies'). Either figure may be left to what
/// the recipe's runs measure.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Declared {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_mb: Option<u64>,
}

impl Declared {
    pub fn validate(&self) -> Result<()> {
        if self.memory_mb == Some(0) || self.disk_mb == Some(0) {
            anyhow::bail!("budget figures must be at least 1 MiB (leave one out to learn it)");
        }
        let max = crate::config::MAX_MIB;
        if self.memory_mb.max(self.disk_mb).is_some_and(|v| v > max) {
            anyhow::bail!("budget figures are in MiB: more than {max} (1 PiB) is a unit mix-up");
        }
        Ok(())
    }
}

/// What an app is to the run that makes it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    #[default]
    App,
    /// The second app of the recipe beside the first (`two_instances`).
    Second,
    Dependency,
    /// A shared dependency app the run will be the one to make.
    Shared,
}

/// Where a figure comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Declared,
    #[serde(alias = "learned")]
    Learnt,
    Default,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Source::Declared => "declared",
            Source::Learnt => "learnt",
            Source::Default => "default",
        })
    }
}

/// One app of a run, and what it is counted at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    /// `demo`, `demo (second app)`, `db (dependency)`, `sso (shared
    /// dependency, made by this run)`.
    pub what: String,
    pub recipe: String,
    #[serde(default)]
    pub role: Role,
    pub memory_mb: u64,
    pub memory_from: Source,
    pub disk_mb: u64,
    pub disk_from: Source,
}

impl Part {
    pub fn figures(&self) -> Figures {
        Figures {
            memory_mb: self.memory_mb,
            disk_mb: self.disk_mb,
        }
    }

    /// `demo 512 MiB (learnt)`, for the wait's message.
    pub fn memory_text(&self) -> String {
        format!(
            "{} {} MiB ({})",
            self.what, self.memory_mb, self.memory_from
        )
    }

    pub fn disk_text(&self) -> String {
        format!("{} {} MiB ({})", self.what, self.disk_mb, self.disk_from)
    }
}

/// What one app of `recipe` takes: each figure declared, else learnt, else
/// the default.
pub fn estimate(
    state_dir: &Path,
    recipe: &str,
    declared: Option<&Declared>,
    role: Role,
) -> Result<Part> {
    let what = match role {
        Role::App => recipe.to_string(),
        Role::Second => format!("{recipe} (second app)"),
        Role::Dependency => format!("{recipe} (dependency)"),
        Role::Shared => format!("{recipe} (shared dependency, made by this run)"),
    };
    let learnt = learned::figures(state_dir, recipe)?;
    let pick = |declared: Option<u64>, learnt: Option<u64>, default: u64| match (declared, learnt) {
        (Some(d), _) => (d, Source::Declared),
        (None, Some(l)) => (l, Source::Learnt),
        (None, None) => (default, Source::Default),
    };
    let (memory_mb, memory_from) = pick(
        declared.and_then(|d| d.memory_mb),
        learnt.map(|f| f.memory_mb),
        DEFAULT.memory_mb,
    );
    let (disk_mb, disk_from) = pick(
        declared.and_then(|d| d.disk_mb),
        learnt.map(|f| f.disk_mb),
        DEFAULT.disk_mb,
    );
    Ok(Part {
        what,
        recipe: recipe.to_string(),
        role,
        memory_mb,
        memory_from,
        disk_mb,
        disk_from,
    })
}

/// What a run takes at its peak: the apps it will make.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Need {
    pub parts: Vec<Part>,
    /// Shared dependency apps this run will be the one to make: counted in
    /// its claim while it runs, on their own once they stand.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub makes_shared: Vec<String>,
}

impl Need {
    pub fn total(&self) -> Figures {
        self.parts.iter().map(Part::figures).sum()
    }
}

/// What a run of `recipe` needs. `settings` are the recipe's (`None` when
/// they do not load: the run says why in its plan, and is counted at the
/// default meanwhile); `second` when the run will make a second app beside
/// the first. A dependency's figures are its own recipe's.
pub fn need(
    state_dir: &Path,
    recipes_dir: &Path,
    recipe: &str,
    settings: Option<&Settings>,
    second: bool,
) -> Result<Need> {
    let own = settings.and_then(|s| s.budget.as_ref());
    let mut n = Need {
        parts: vec![estimate(state_dir, recipe, own, Role::App)?],
        ..Need::default()
    };
    if second {
        n.parts
            .push(estimate(state_dir, recipe, own, Role::Second)?);
    }
    for d in settings.map(|s| s.dependencies.as_slice()).unwrap_or(&[]) {
        let declared = Settings::load(recipes_dir, &d.recipe)
            .ok()
            .and_then(|s| s.budget);
        if d.shared {
            // A shared app that stands is counted on its own (claims.rs).
            if crate::shared::read(state_dir, &d.recipe)?.is_some() {
                continue;
            }
            n.makes_shared.push(d.recipe.clone());
            n.parts.push(estimate(
                state_dir,
                &d.recipe,
                declared.as_ref(),
                Role::Shared,
            )?);
        } else {
            n.parts.push(estimate(
                state_dir,
                &d.recipe,
                declared.as_ref(),
                Role::Dependency,
            )?);
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn scratch(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("ccci-budget-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// A shared dependency app of `recipe` stands on this host.
    pub(crate) fn stands(sd: &Path, recipe: &str) {
        crate::shared::write(
            sd,
            &crate::shared::Shared {
                schema: crate::shared::SCHEMA,
                recipe: recipe.into(),
                run_id: crate::shared::run_id(recipe),
                repo: format!("/r/{recipe}"),
                r#ref: "1.0".into(),
                domain: format!("{recipe}.ci.localhost"),
                stack: format!("{recipe}_ci_localhost"),
                since: "2026-01-01T00:00:00Z".into(),
            },
        )
        .unwrap();
    }

    fn write_recipe(dir: &Path, name: &str, json: serde_json::Value) {
        std::fs::create_dir_all(dir.join(name)).unwrap();
        std::fs::write(dir.join(name).join("recipe.json"), json.to_string()).unwrap();
    }

    #[test]
    fn declared_wins_then_learnt_then_the_default() {
        let sd = scratch("estimate");
        let d = Declared {
            memory_mb: Some(300),
            disk_mb: None,
        };
        let p = estimate(&sd, "web", Some(&d), Role::App).unwrap();
        assert_eq!((p.memory_mb, p.memory_from), (300, Source::Declared));
        assert_eq!((p.disk_mb, p.disk_from), (DEFAULT.disk_mb, Source::Default));
        learned::record(
            &sd,
            "web",
            learned::Sample {
                run_id: "r1".into(),
                at: "2026-01-01T00:00:00Z".into(),
                memory_mb: 100,
                disk_mb: 50,
            },
        )
        .unwrap();
        let p = estimate(&sd, "web", Some(&d), Role::App).unwrap();
        assert_eq!((p.memory_mb, p.memory_from), (300, Source::Declared));
        assert_eq!((p.disk_mb, p.disk_from), (60, Source::Learnt));
        assert_eq!(p.memory_text(), "web 300 MiB (declared)");
        assert_eq!(p.disk_text(), "web 60 MiB (learnt)");
    }

    #[test]
    fn a_run_counts_its_second_app_its_dependencies_and_a_shared_app_it_makes() {
        let sd = scratch("need");
        let rd = sd.join("recipes");
        write_recipe(
            &rd,
            "web",
            serde_json::json!({"schema": 1, "budget": {"memory_mb": 400, "disk_mb": 100},
                "dependencies": [
                    {"recipe": "db", "repo": "/r/db", "ref": "1.0"},
                    {"recipe": "sso", "repo": "/r/sso", "ref": "1.0", "shared": true}]}),
        );
        write_recipe(
            &rd,
            "db",
            serde_json::json!({"schema": 1, "budget": {"memory_mb": 250}}),
        );
        let s = Settings::load(&rd, "web").unwrap();
        let n = need(&sd, &rd, "web", Some(&s), true).unwrap();
        let whats: Vec<&str> = n.parts.iter().map(|p| p.what.as_str()).collect();
        assert_eq!(
            whats,
            [
                "web",
                "web (second app)",
                "db (dependency)",
                "sso (shared dependency, made by this run)"
            ]
        );
        assert_eq!(n.makes_shared, ["sso"]);
        assert_eq!(
            n.total(),
            Figures {
                memory_mb: 400 + 400 + 250 + DEFAULT.memory_mb,
                disk_mb: 100 + 100 + DEFAULT.disk_mb + DEFAULT.disk_mb
            }
        );
        // Once the shared app stands it is no longer this run's to count.
        stands(&sd, "sso");
        let n = need(&sd, &rd, "web", Some(&s), false).unwrap();
        assert_eq!(n.parts.len(), 2);
        assert!(n.makes_shared.is_empty());
        // Settings that do not load: the app at the default, nothing else.
        let n = need(&sd, &rd, "broken", None, false).unwrap();
        assert_eq!(n.total(), DEFAULT);
    }

    #[test]
    fn a_zero_figure_is_refused() {
        let d = Declared {
            memory_mb: Some(0),
            disk_mb: None,
        };
        assert!(d.validate().is_err());
        assert!(Declared::default().validate().is_ok());
        let huge = Declared {
            memory_mb: Some(u64::MAX),
            disk_mb: None,
        };
        assert!(
            huge.validate()
                .unwrap_err()
                .to_string()
                .contains("unit mix-up")
        );
    }
}
