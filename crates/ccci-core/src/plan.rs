//! A run's test plan (`plan.json`): what `ccci-discover` found and the runner
//! executes, in tier order.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

pub const SCHEMA: u32 = 1;

/// The tiers, bottom of the ladder first.
pub const TIERS: [&str; 6] = ["install", "upgrade", "backup", "restore", "custom", "lint"];

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Plan {
    pub schema: u32,
    pub recipe: String,
    pub source_repo: String,
    #[serde(rename = "ref")]
    pub r#ref: String,
    pub head_sha: String,
    /// The release tag under test, when the ref is one.
    pub tested_tag: Option<String>,
    /// The release the app is installed at before upgrading to the ref; `None`
    /// when nothing older was released (then upgrade is `na`).
    pub previous: Option<String>,
    /// The recipe may run tests its own pull requests carry.
    pub approved: bool,
    pub settings: crate::settings::Settings,
    /// `hooks/pre-deploy`, generic then the recipe's: run once, after the app
    /// is created and before its first deploy (they may edit the app env).
    #[serde(default)]
    pub pre_deploy: Vec<Step>,
    /// CI compose overlays of the recipe (`crate::overlay`), layered over its
    /// own compose files when they apply.
    #[serde(default)]
    pub overlays: Vec<crate::overlay::Overlay>,
    pub tiers: Vec<TierPlan>,
    /// Said loudly when the plan is made (deprecated folders, denied PR tests).
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TierPlan {
    pub name: String,
    /// Run before the tier's tests, in order; a failing hook fails the tier.
    pub hooks: Vec<Step>,
    pub tests: Vec<Step>,
}

/// One executable: a hook or a test.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Step {
    /// `<source>/<tier>/<name>`: `_generic/install/http-serves`, `demo/custom/rows`,
    /// `pr/custom/smoke`.
    pub id: String,
    pub path: PathBuf,
    /// `generic`, `overlay`, `custom`, `deprecated`, `pr`, `hook`.
    pub source: String,
    pub timeout_s: u64,
}

impl Step {
    /// `<tier>/<name>`: the id without its source, as dependency settings name tests.
    pub fn tier_name(id: &str) -> &str {
        id.split_once('/').map(|(_, rest)| rest).unwrap_or("")
    }
}

impl Plan {
    pub fn tier(&self, name: &str) -> Option<&TierPlan> {
        self.tiers.iter().find(|t| t.name == name)
    }
}
