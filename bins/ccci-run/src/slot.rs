//! Run slots: at most `max_parallel_runs` runs deploy on one host at once (one
//! by default: two heavy recipes on a small CI machine make each other time
//! out). A run waiting for a slot says so, and for which runs.

use anyhow::Result;
use ccci_core::{exit, log, state};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub struct Slot {
    _lock: state::Lock,
    holder: PathBuf,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.holder);
    }
}

fn dir(state_dir: &Path) -> PathBuf {
    state_dir.join("locks")
}

/// One recipe is never run twice at once on a host: two runs of it would
/// race for its measures and promotions, and a recipe with a fixed name or
/// port would fail only for sharing the host with itself. A second run waits
/// for the first, saying which (a rerun alone waits for nothing: its first
/// run lets go before it starts).
pub fn recipe(state_dir: &Path, recipe: &str, run_id: &str, stop: &AtomicBool) -> Result<Slot> {
    let d = dir(state_dir);
    std::fs::create_dir_all(&d)?;
    let lock_path = d.join(format!("recipe-{recipe}.lock"));
    let holder = d.join(format!("recipe-{recipe}.run"));
    let mut said = false;
    loop {
        if let Some(lock) = state::Lock::try_acquire(&lock_path)? {
            state::write_atomic(&holder, run_id.as_bytes(), 0o644)?;
            if said {
                log::info(&format!("run {run_id}: {recipe} is free now"));
            }
            return Ok(Slot {
                _lock: lock,
                holder,
            });
        }
        if !said {
            let other = std::fs::read_to_string(&holder).unwrap_or_else(|_| "?".into());
            log::info(&format!(
                "run {run_id}: waiting: run {} is testing {recipe}, and one recipe is never run twice at once",
                other.trim()
            ));
            said = true;
        }
        if stop.load(Ordering::SeqCst) {
            return Err(exit::tempfail(format!(
                "run {run_id}: interrupted while waiting for the other run of {recipe}"
            )));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Take a free slot, waiting (and saying so once) while all are busy.
pub fn acquire(state_dir: &Path, max: u32, run_id: &str, stop: &AtomicBool) -> Result<Slot> {
    let d = dir(state_dir);
    std::fs::create_dir_all(&d)?;
    let mut said = false;
    loop {
        for i in 0..max {
            if let Some(lock) = state::Lock::try_acquire(&d.join(format!("run-slot-{i}.lock")))? {
                let holder = d.join(format!("run-slot-{i}.run"));
                state::write_atomic(&holder, run_id.as_bytes(), 0o644)?;
                if said {
                    log::info(&format!("run {run_id}: got run slot {i}"));
                }
                return Ok(Slot {
                    _lock: lock,
                    holder,
                });
            }
        }
        if !said {
            let busy: Vec<String> = (0..max)
                .filter_map(|i| std::fs::read_to_string(d.join(format!("run-slot-{i}.run"))).ok())
                .collect();
            log::info(&format!(
                "run {run_id}: waiting for a run slot: all {max} are busy (running: {}); \
                 max_parallel_runs sets how many runs may deploy at once",
                if busy.is_empty() {
                    "?".to_string()
                } else {
                    busy.join(", ")
                }
            ));
            said = true;
        }
        if stop.load(Ordering::SeqCst) {
            return Err(exit::tempfail(format!(
                "run {run_id}: interrupted while waiting for a run slot"
            )));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Take every slot of the host, one after the other, waiting while others
/// hold them: a run alone, with nothing else loading the machine (to tell a
/// flake from a defect).
pub fn acquire_all(
    state_dir: &Path,
    max: u32,
    run_id: &str,
    stop: &AtomicBool,
) -> Result<Vec<Slot>> {
    let d = dir(state_dir);
    std::fs::create_dir_all(&d)?;
    let mut held = vec![];
    let mut said = false;
    for i in 0..max {
        loop {
            if let Some(lock) = state::Lock::try_acquire(&d.join(format!("run-slot-{i}.lock")))? {
                let holder = d.join(format!("run-slot-{i}.run"));
                state::write_atomic(&holder, run_id.as_bytes(), 0o644)?;
                held.push(Slot {
                    _lock: lock,
                    holder,
                });
                break;
            }
            if !said {
                log::info(&format!(
                    "run {run_id}: runs alone: waiting until every one of the {max} run slots is free"
                ));
                said = true;
            }
            if stop.load(Ordering::SeqCst) {
                return Err(exit::tempfail(format!(
                    "run {run_id}: interrupted while waiting for the run slots"
                )));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
    Ok(held)
}
