//! The backup state a run keeps in `<run>/backup/state.json`: the plan, the
//! markers, the snapshot, and whether the data is disturbed or restored.

use crate::{labels, live, restic};
use anyhow::Result;
use ccci_core::rundir::RunDir;
use ccci_core::{exit, state};
use labels::ServicePlan;
use restic::{Restic, Summary};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

pub(crate) const SCHEMA: u32 = 1;

/// One marker: a file in a volume, or a recipe hook's data in a service.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub(crate) enum Marker {
    File {
        service: String,
        volume: String,
        path: PathBuf,
        value: String,
    },
    Hook {
        service: String,
        hook: PathBuf,
        value: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct BackupState {
    pub(crate) schema: u32,
    pub(crate) repo: PathBuf,
    pub(crate) password_file: PathBuf,
    pub(crate) plan: Vec<ServicePlan>,
    /// Docker volume name → host mountpoint.
    pub(crate) mountpoints: BTreeMap<String, PathBuf>,
    pub(crate) markers: Vec<Marker>,
    pub(crate) snapshot: Option<Summary>,
    /// The covered host paths, each confirmed present in the snapshot.
    #[serde(default)]
    pub(crate) contents: Vec<String>,
    pub(crate) disturbed: bool,
    /// Volumes their service writes while running (see `live`), with why.
    #[serde(default)]
    pub(crate) live: Vec<live::Evidence>,
    /// The snapshot has been restored since the last backup: only then can a
    /// check speak for the restore.
    #[serde(default)]
    pub(crate) restored: bool,
    /// What the restore hooks of the last restore printed, redacted: a hook
    /// that exits 0 may still have loaded nothing, and its words are then the
    /// only account of why the data is gone.
    #[serde(default)]
    pub(crate) hook_output: Vec<HookOutput>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct HookOutput {
    pub(crate) service: String,
    /// "restore pre-hook" or "restore post-hook".
    pub(crate) what: String,
    pub(crate) output: String,
}

/// At most this many of a hook's last lines are kept: the error is at the end.
const HOOK_LINES: usize = 20;

impl HookOutput {
    pub(crate) fn new(service: &str, what: &str, output: &str) -> Option<HookOutput> {
        let lines: Vec<&str> = output.lines().filter(|l| !l.trim().is_empty()).collect();
        if lines.is_empty() {
            return None;
        }
        let keep = &lines[lines.len().saturating_sub(HOOK_LINES)..];
        Some(HookOutput {
            service: service.into(),
            what: what.into(),
            output: keep.join("\n"),
        })
    }

    /// One line per output line, each saying whose hook said it.
    pub(crate) fn log_lines(&self) -> impl Iterator<Item = String> + '_ {
        self.output
            .lines()
            .map(|l| format!("service {} {}: {l}", self.service, self.what))
    }
}

pub(crate) fn backup_dir(run: &RunDir) -> PathBuf {
    run.file("backup")
}

fn state_path(run: &RunDir) -> PathBuf {
    backup_dir(run).join("state.json")
}

pub(crate) fn load_state(run: &RunDir) -> Result<BackupState> {
    state::read_json_opt(&state_path(run))?.ok_or_else(|| {
        exit::usage(format!(
            "run {} has no backup state; run `ccci-verify-backup seed` first",
            run.id
        ))
    })
}

pub(crate) fn save_state(run: &RunDir, st: &BackupState) -> Result<()> {
    state::write_json(&state_path(run), st)
}

pub(crate) fn restic_of(st: &BackupState) -> Restic {
    Restic {
        repo: st.repo.clone(),
        password_file: st.password_file.clone(),
    }
}
