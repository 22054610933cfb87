//! What a recipe's apps took in its last runs: `<state>/budget/learned/<recipe>.json`,
//! one sample per app measured (as the app, its second app, or a dependency
//! of another recipe's run), the newest [`KEEP`] kept.
//!
//! The figure a run is counted at is the largest sample plus [`HEADROOM_PERCENT`]:
//! memory is sampled every few seconds and a short peak between two samples
//! is missed; a recipe that grew since is caught at its next run.

use super::Figures;
use crate::state::{self, Lock};
use crate::{log, settings};
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const SCHEMA: u32 = 1;
/// Samples kept per recipe: enough to ride out one quiet run, few enough that
/// a recipe that shrank is counted smaller within a month of sweeps.
pub const KEEP: usize = 5;
pub const HEADROOM_PERCENT: u64 = 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    pub run_id: String,
    /// RFC 3339 UTC.
    pub at: String,
    pub memory_mb: u64,
    pub disk_mb: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Learned {
    pub schema: u32,
    pub recipe: String,
    /// Oldest first.
    pub samples: Vec<Sample>,
}

pub fn dir(state_dir: &Path) -> PathBuf {
    state_dir.join("budget").join("learned")
}

fn path(state_dir: &Path, recipe: &str) -> PathBuf {
    dir(state_dir).join(format!("{recipe}.json"))
}

/// The record, if the recipe was ever measured. A record that does not parse
/// is a measure lost, not a reason to stop runs: warned about, taken as none
/// (the next sample replaces it).
pub fn read(state_dir: &Path, recipe: &str) -> Result<Option<Learned>> {
    if !settings::valid_recipe_name(recipe) {
        return Ok(None);
    }
    match state::read_json_opt::<Learned>(&path(state_dir, recipe)) {
        Ok(l) => Ok(l),
        Err(e) => {
            // Once per recipe and process: a run waiting for the budget
            // reads it on every look.
            static WARNED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
            let mut warned = WARNED.lock().unwrap_or_else(|p| p.into_inner());
            if !warned.iter().any(|r| r == recipe) {
                warned.push(recipe.to_string());
                log::warn(&format!(
                    "budget: the measures of {recipe} are unreadable and are ignored: {}",
                    crate::exit::one_line(&e)
                ));
            }
            Ok(None)
        }
    }
}

/// The figure runs of `recipe` are counted at, from its samples.
pub fn figures(state_dir: &Path, recipe: &str) -> Result<Option<Figures>> {
    Ok(read(state_dir, recipe)?.and_then(|l| of(&l.samples)))
}

/// The largest sample of each figure, with the headroom, rounded up (and
/// never past 1 PiB: a hand-edited record must not overflow the sums).
pub fn of(samples: &[Sample]) -> Option<Figures> {
    let with_headroom = |mb: u64| {
        let mb = mb.min(crate::config::MAX_MIB);
        mb + (mb * HEADROOM_PERCENT).div_ceil(100)
    };
    let max = |f: fn(&Sample) -> u64| samples.iter().map(f).max();
    Some(Figures {
        memory_mb: with_headroom(max(|s| s.memory_mb)?),
        disk_mb: with_headroom(max(|s| s.disk_mb)?),
    })
}

/// Add a sample, keeping the newest [`KEEP`].
pub fn record(state_dir: &Path, recipe: &str, sample: Sample) -> Result<()> {
    std::fs::create_dir_all(dir(state_dir))?;
    // Two runs may measure one recipe at once (as a dependency of each).
    let _l = Lock::acquire(
        &dir(state_dir).join(format!("{recipe}.lock")),
        Duration::from_secs(30),
        &format!("the measures of {recipe}"),
    )?;
    let mut l = read(state_dir, recipe)?.unwrap_or(Learned {
        schema: SCHEMA,
        recipe: recipe.to_string(),
        samples: vec![],
    });
    l.samples.push(sample);
    let extra = l.samples.len().saturating_sub(KEEP);
    l.samples.drain(..extra);
    state::write_json(&path(state_dir, recipe), &l)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(n: u64, memory_mb: u64, disk_mb: u64) -> Sample {
        Sample {
            run_id: format!("r{n}"),
            at: "2026-01-01T00:00:00Z".into(),
            memory_mb,
            disk_mb,
        }
    }

    #[test]
    fn the_largest_of_the_last_five_with_headroom() {
        let sd = super::super::tests::scratch("learned");
        assert_eq!(figures(&sd, "web").unwrap(), None);
        record(&sd, "web", sample(1, 1000, 10)).unwrap();
        for n in 2..=6 {
            record(&sd, "web", sample(n, 100, 1)).unwrap();
        }
        let l = read(&sd, "web").unwrap().unwrap();
        assert_eq!(l.samples.len(), KEEP);
        assert_eq!(l.samples[0].run_id, "r2", "the oldest went first");
        // The 1000 MiB run fell out of the window.
        assert_eq!(
            figures(&sd, "web").unwrap(),
            Some(Figures {
                memory_mb: 120,
                disk_mb: 2
            })
        );
    }

    #[test]
    fn an_absurd_sample_is_bounded() {
        let f = of(&[sample(1, u64::MAX, u64::MAX)]).unwrap();
        let max = crate::config::MAX_MIB;
        assert!(
            f.memory_mb > max && f.memory_mb <= max + max / 5 + 1,
            "{f:?}"
        );
    }

    #[test]
    fn an_unreadable_record_is_no_measure_and_is_replaced() {
        let sd = super::super::tests::scratch("learned-bad");
        std::fs::create_dir_all(dir(&sd)).unwrap();
        std::fs::write(path(&sd, "web"), "{not json").unwrap();
        assert_eq!(figures(&sd, "web").unwrap(), None);
        record(&sd, "web", sample(1, 10, 10)).unwrap();
        assert_eq!(read(&sd, "web").unwrap().unwrap().samples.len(), 1);
    }
}
