//! Run slots: at most `max_parallel_runs` runs deploy on one host at once (one
//! by default: two heavy recipes on a small CI machine make each other time
//! out), and one run of a recipe at a time. A run waiting for either says so,
//! and for which runs.

use anyhow::Result;
use ccci_core::{exit, log, state};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// A held lock of `<state>/locks/`, with the file naming its run beside it.
pub struct Slot {
    _lock: state::Lock,
    holder: PathBuf,
}

impl Drop for Slot {
    fn drop(&mut self) {
        // Before the lock goes (fields drop after this): a run that takes it
        // next writes its own name, never to have it removed.
        let _ = std::fs::remove_file(&self.holder);
    }
}

fn dir(state_dir: &Path) -> Result<PathBuf> {
    let d = state_dir.join("locks");
    std::fs::create_dir_all(&d)?;
    Ok(d)
}

/// Take `<name>.lock` if it is free, writing `run_id` to `<name>.run`.
fn try_take(d: &Path, name: &str, run_id: &str) -> Result<Option<Slot>> {
    let Some(lock) = state::Lock::try_acquire(&d.join(format!("{name}.lock")))? else {
        return Ok(None);
    };
    let holder = d.join(format!("{name}.run"));
    state::write_atomic(&holder, run_id.as_bytes(), 0o644)?;
    Ok(Some(Slot {
        _lock: lock,
        holder,
    }))
}

/// Who holds `<name>.lock`, as its run file says.
fn holder_of(d: &Path, name: &str) -> Option<String> {
    std::fs::read_to_string(d.join(format!("{name}.run")))
        .ok()
        .map(|s| s.trim().to_string())
}

/// Try `take` until it gives something, saying once why the run waits
/// (`waiting()` is asked only then; `on_wait` hears it on every try) and
/// stopping with exit 75 when asked to.
fn wait_for<T>(
    stop: &AtomicBool,
    mut take: impl FnMut() -> Result<Option<T>>,
    waiting: impl Fn() -> String,
    interrupted: &str,
    on_wait: &dyn Fn(&str),
) -> Result<T> {
    let mut said = false;
    loop {
        if let Some(t) = take()? {
            return Ok(t);
        }
        let why = waiting();
        if !said {
            log::info(&why);
            said = true;
        }
        on_wait(&why);
        if stop.load(Ordering::SeqCst) {
            return Err(exit::tempfail(interrupted.to_string()));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// One recipe is never run twice at once on a host: two runs of it would
/// race for its measures and promotions, and a recipe with a fixed name or
/// port would fail only for sharing the host with itself. A second run waits
/// for the first, saying which (a rerun alone waits for nothing: its first
/// run lets go before it starts).
pub fn recipe(
    state_dir: &Path,
    recipe: &str,
    run_id: &str,
    stop: &AtomicBool,
    on_wait: &dyn Fn(&str),
) -> Result<Slot> {
    let d = dir(state_dir)?;
    let name = format!("recipe-{recipe}");
    wait_for(
        stop,
        || try_take(&d, &name, run_id),
        || {
            format!(
                "run {run_id}: waiting: run {} is testing {recipe}, and one recipe is never run twice at once",
                holder_of(&d, &name).unwrap_or_else(|| "?".into())
            )
        },
        &format!("run {run_id}: interrupted while waiting for the other run of {recipe}"),
        on_wait,
    )
}

/// Take a free slot, waiting (and saying so once) while all are busy.
pub fn acquire(
    state_dir: &Path,
    max: u32,
    run_id: &str,
    stop: &AtomicBool,
    on_wait: &dyn Fn(&str),
) -> Result<Slot> {
    let d = dir(state_dir)?;
    let name = |i: u32| format!("run-slot-{i}");
    wait_for(
        stop,
        || {
            for i in 0..max {
                if let Some(s) = try_take(&d, &name(i), run_id)? {
                    return Ok(Some(s));
                }
            }
            Ok(None)
        },
        || {
            let busy: Vec<String> = (0..max).filter_map(|i| holder_of(&d, &name(i))).collect();
            format!(
                "run {run_id}: waiting for a run slot: all {max} are busy (running: {}); \
                 max_parallel_runs sets how many runs may deploy at once",
                if busy.is_empty() {
                    "?".to_string()
                } else {
                    busy.join(", ")
                }
            )
        },
        &format!("run {run_id}: interrupted while waiting for a run slot"),
        on_wait,
    )
}

/// Take every slot of the host, one after the other, waiting while others
/// hold them: a run alone, with nothing else loading the machine (to tell a
/// flake from a defect).
pub fn acquire_all(
    state_dir: &Path,
    max: u32,
    run_id: &str,
    stop: &AtomicBool,
    on_wait: &dyn Fn(&str),
) -> Result<Vec<Slot>> {
    let d = dir(state_dir)?;
    let mut held = vec![];
    for i in 0..max {
        held.push(wait_for(
            stop,
            || try_take(&d, &format!("run-slot-{i}"), run_id),
            || {
                format!(
                    "run {run_id}: runs alone: waiting until every one of the {max} run slots is free"
                )
            },
            &format!("run {run_id}: interrupted while waiting for the run slots"),
            on_wait,
        )?);
    }
    Ok(held)
}
