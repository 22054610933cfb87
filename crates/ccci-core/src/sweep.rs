//! `sweeps/<time>-<pid>.json`: what one weekly sweep did for each recipe.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const SCHEMA: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    pub schema: u32,
    /// The sweep's stamp (`<UTC time>-<pid>`), also in its file name and run ids.
    pub started: String,
    pub finished: String,
    pub recipes: Vec<Row>,
}

/// One recipe's line of the sweep.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Row {
    pub recipe: String,
    /// `ccci-sweep-decide`'s word (`run`, `run:seed`, `skip:...`), or `error`
    /// when the recipe could not be decided (no repo, a failed mirror sync).
    pub decision: String,
    /// The run's verdict (`green`, `red`, `error`, `interrupted`), `-` when
    /// nothing ran.
    pub result: String,
    /// `L0`..`L5`, `-` when nothing ran.
    pub level: String,
    /// The run tested, empty when nothing ran.
    pub run_id: String,
    pub seconds: u64,
    /// One line: why it was skipped, why it is red, or what promotion said.
    pub note: String,
    /// The recipe was handled (a red run or a refused promotion is handled; a
    /// failed sync, bad settings or Docker trouble is not).
    pub handled: bool,
}

/// `<state>/sweeps/`.
pub fn dir(state_dir: &Path) -> PathBuf {
    state_dir.join("sweeps")
}
