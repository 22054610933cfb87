//! The host's budget and the claims on it (docs/budget.md).
//!
//! A run claims what it needs (`<state>/budget/claims/<run>.json`) and holds
//! the claim's lock (`<run>.lock`) while it runs: a run killed outright leaves
//! a claim nobody holds, which the next look removes. A red run kept up for
//! probing (`--keep-app`) keeps its claim until its app is torn down. Shared
//! dependency apps stand between runs and count while they stand.
//!
//! A run goes when, with it, the claims and standing apps fit:
//! - memory: within `budget_memory_mb` (default: three quarters of the
//!   engine's host memory);
//! - disk: within `budget_disk_mb` when set; and the runs' disk within what
//!   Docker's data root has free above `min_free_disk_mb` (apps that stand
//!   are on the disk already, so only runs count there).
//!
//! A run that would not fit even alone goes when no other run holds a claim:
//! waiting would never end, and the deploy's own disk check still guards.

use super::{Figures, Need, estimate};
use crate::config::Config;
use crate::docker::Docker;
use crate::rundir::RunDir;
use crate::settings::Settings;
use crate::state::{self, Lock};
use crate::{exit, ids, log, shared};
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub const SCHEMA: u32 = 1;

fn dir(state_dir: &Path) -> PathBuf {
    state_dir.join("budget").join("claims")
}

/// What the host may give to runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub memory_mb: u64,
    /// Where `memory_mb` comes from, for messages.
    pub memory_from: String,
    /// `budget_disk_mb`, when set.
    pub disk_cap_mb: Option<u64>,
    /// MiB free on Docker's data root above `min_free_disk_mb`, when the
    /// engine is local (a remote one's disk is out of reach).
    pub disk_free_mb: Option<u64>,
}

impl Host {
    /// The budget of the engine's host, as configured or from the engine.
    pub fn of(cfg: &Config, docker: &Docker) -> Result<Host> {
        let (memory_mb, memory_from) = if cfg.budget_memory_mb > 0 {
            (cfg.budget_memory_mb, "budget_memory_mb".to_string())
        } else {
            let total = engine_memory_mb(docker)?;
            (
                total / 4 * 3,
                format!("three quarters of the host's {total} MiB; budget_memory_mb sets it"),
            )
        };
        let disk_free_mb = crate::disk::data_root_free(docker)?
            .map(|(_, free)| free.saturating_sub(cfg.min_free_disk_mb));
        Ok(Host {
            memory_mb,
            memory_from,
            disk_cap_mb: (cfg.budget_disk_mb > 0).then_some(cfg.budget_disk_mb),
            disk_free_mb,
        })
    }
}

/// The memory of the host Docker runs on, in MiB.
fn engine_memory_mb(docker: &Docker) -> Result<u64> {
    let bytes = match docker.api() {
        Some(api) => api.get("/info")?["MemTotal"].as_u64(),
        None => docker
            .run(&["info", "--format", "{{.MemTotal}}"])?
            .trim()
            .parse()
            .ok(),
    };
    bytes
        .map(|b| b / (1024 * 1024))
        .ok_or_else(|| exit::tempfail("Docker did not say how much memory its host has (MemTotal)"))
}

/// A claim as written down.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    pub schema: u32,
    pub run_id: String,
    pub recipe: String,
    pub need: Need,
    /// RFC 3339 UTC.
    pub since: String,
    /// The run's apps are kept up for probing: the claim stands until they
    /// are torn down.
    #[serde(default)]
    pub kept: bool,
}

/// Something that holds part of the budget now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// `run r1 (demo)`, `shared dependency app sso`.
    pub what: String,
    pub figures: Figures,
    /// An app that stands (already on disk), not a run.
    pub standing: bool,
}

/// A run's claim, held until dropped (or kept, see [`Claim::keep`]).
pub struct Claim {
    _lock: Lock,
    path: PathBuf,
    record: Record,
    /// How long the run waited for the budget.
    pub waited: Duration,
}

impl Claim {
    /// The run's apps stay up: so does its claim, until they are torn down.
    pub fn keep(&mut self) -> Result<()> {
        self.record.kept = true;
        state::write_json(&self.path, &self.record)
    }

    pub fn need(&self) -> &Need {
        &self.record.need
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if !self.record.kept {
            // The lock file too: it is this run's alone, and nobody waits on it.
            let _ = std::fs::remove_file(&self.path);
            let _ = std::fs::remove_file(self.path.with_extension("lock"));
        }
    }
}

/// Is a written claim still held? Its run holds the lock, or its apps are
/// kept up for probing.
fn live(state_dir: &Path, d: &Path, r: &Record) -> Result<bool> {
    if Lock::is_held(&d.join(format!("{}.lock", r.run_id)))? {
        return Ok(true);
    }
    let run = RunDir {
        id: r.run_id.clone(),
        path: RunDir::runs_root(state_dir).join(&r.run_id),
    };
    Ok(r.kept && run.kept_path().exists())
}

/// Everything that holds part of the budget, but `except` (the asking run).
/// Claims nobody holds any longer are removed: call with the budget lock held.
pub fn holders(state_dir: &Path, recipes_dir: &Path, except: &str) -> Result<Vec<Holder>> {
    let d = dir(state_dir);
    let mut out = vec![];
    let mut makes_shared = vec![];
    if let Ok(entries) = std::fs::read_dir(&d) {
        for e in entries {
            let p = e?.path();
            if p.extension().is_none_or(|x| x != "json") {
                continue;
            }
            let id = p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            if id == except {
                continue;
            }
            let held = Lock::is_held(&d.join(format!("{id}.lock")))?;
            match state::read_json::<Record>(&p) {
                Ok(r) if live(state_dir, &d, &r)? => {
                    makes_shared.extend(r.need.makes_shared.iter().cloned());
                    out.push(Holder {
                        what: format!(
                            "run {} ({}){}",
                            r.run_id,
                            r.recipe,
                            if held { "" } else { ", kept up for probing" }
                        ),
                        figures: r.need.total(),
                        standing: false,
                    });
                }
                // A run that holds a claim it cannot say: counted at the
                // default rather than taken for nothing.
                Err(_) if held => out.push(Holder {
                    what: format!("run {id} (unreadable claim)"),
                    figures: super::DEFAULT,
                    standing: false,
                }),
                _ => {
                    let _ = std::fs::remove_file(&p);
                    let _ = std::fs::remove_file(d.join(format!("{id}.lock")));
                }
            }
        }
    }
    for recipe in shared::app_runs(state_dir)?.into_values() {
        if makes_shared.contains(&recipe) {
            continue;
        }
        let declared = Settings::load(recipes_dir, &recipe)
            .ok()
            .and_then(|s| s.budget);
        let p = estimate(state_dir, &recipe, declared.as_ref(), recipe.clone())?;
        out.push(Holder {
            what: format!("shared dependency app {recipe}"),
            figures: p.figures(),
            standing: true,
        });
    }
    out.sort_by(|a, b| a.what.cmp(&b.what));
    Ok(out)
}

/// Everything that holds part of the budget now, for an operator's look.
pub fn look(state_dir: &Path, recipes_dir: &Path) -> Result<Vec<Holder>> {
    let d = dir(state_dir);
    std::fs::create_dir_all(&d)?;
    let _l = Lock::acquire(
        &d.join("budget.lock"),
        Duration::from_secs(30),
        "the host's budget",
    )?;
    holders(state_dir, recipes_dir, "")
}

/// Whether a run that needs `need` may go now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Go,
    /// It does not fit even alone, and no other run holds a claim: it goes,
    /// and says so.
    GoAlone(String),
    /// Why it waits: what it needs, what is left, who holds the rest.
    Wait(String),
}

pub fn decide(host: &Host, need: &Need, holders: &[Holder]) -> Decision {
    let want = need.total();
    let all: Figures = holders.iter().map(|h| h.figures).sum();
    let runs: Figures = holders
        .iter()
        .filter(|h| !h.standing)
        .map(|h| h.figures)
        .sum();
    let mut short = vec![];
    let list = |f: fn(&Figures) -> u64, runs_only: bool| {
        let held: Vec<String> = holders
            .iter()
            .filter(|h| !(runs_only && h.standing) && f(&h.figures) > 0)
            .map(|h| format!("{} {} MiB", h.what, f(&h.figures)))
            .collect();
        if held.is_empty() {
            "nothing else holds any".to_string()
        } else {
            format!("held by {}", held.join(", "))
        }
    };
    let parts = |text: fn(&super::Part) -> String| {
        need.parts.iter().map(text).collect::<Vec<_>>().join(" + ")
    };
    if all.memory_mb + want.memory_mb > host.memory_mb {
        short.push(format!(
            "memory: it needs {} MiB ({}) and {} MiB of the {} MiB budget ({}) are left, {}",
            want.memory_mb,
            parts(super::Part::memory_text),
            host.memory_mb.saturating_sub(all.memory_mb),
            host.memory_mb,
            host.memory_from,
            list(|f| f.memory_mb, false)
        ));
    }
    if let Some(cap) = host.disk_cap_mb
        && all.disk_mb + want.disk_mb > cap
    {
        short.push(format!(
            "disk: it needs {} MiB ({}) and {} MiB of the {cap} MiB budget (budget_disk_mb) are left, {}",
            want.disk_mb,
            parts(super::Part::disk_text),
            cap.saturating_sub(all.disk_mb),
            list(|f| f.disk_mb, false)
        ));
    }
    if let Some(free) = host.disk_free_mb
        && runs.disk_mb + want.disk_mb > free
    {
        short.push(format!(
            "disk: it needs {} MiB ({}) and Docker's data root has {free} MiB free above \
             min_free_disk_mb, of which the runs going claim {} MiB, {}",
            want.disk_mb,
            parts(super::Part::disk_text),
            runs.disk_mb,
            list(|f| f.disk_mb, true)
        ));
    }
    if short.is_empty() {
        Decision::Go
    } else if holders.iter().all(|h| h.standing) {
        Decision::GoAlone(format!(
            "it does not fit the host's budget even with no other run ({}): it goes alone",
            short.join("; ")
        ))
    } else {
        Decision::Wait(short.join("; "))
    }
}

/// Claim `need` for `run_id`, waiting while the budget is spent and saying
/// for what (again whenever that changes). `host` is asked on every look:
/// free disk moves as other runs go.
pub fn acquire(
    state_dir: &Path,
    recipes_dir: &Path,
    mut host: impl FnMut() -> Result<Host>,
    run_id: &str,
    recipe: &str,
    need: Need,
    stop: &AtomicBool,
) -> Result<Claim> {
    let d = dir(state_dir);
    std::fs::create_dir_all(&d)?;
    let started = Instant::now();
    let mut said = String::new();
    loop {
        {
            let _l = Lock::acquire(
                &d.join("budget.lock"),
                Duration::from_secs(30),
                "the host's budget",
            )?;
            let holders = holders(state_dir, recipes_dir, run_id)?;
            let decision = decide(&host()?, &need, &holders);
            if let Decision::GoAlone(why) = &decision {
                log::warn(&format!("run {run_id}: {why}"));
            }
            if let Decision::Go | Decision::GoAlone(_) = decision {
                let lock =
                    Lock::try_acquire(&d.join(format!("{run_id}.lock")))?.ok_or_else(|| {
                        exit::usage(format!("run {run_id} already holds a claim on the budget"))
                    })?;
                let record = Record {
                    schema: SCHEMA,
                    run_id: run_id.to_string(),
                    recipe: recipe.to_string(),
                    need,
                    since: ids::now_rfc3339(),
                    kept: false,
                };
                let path = d.join(format!("{run_id}.json"));
                state::write_json(&path, &record)?;
                if !said.is_empty() {
                    log::info(&format!(
                        "run {run_id}: the budget has room now (waited {}s)",
                        started.elapsed().as_secs()
                    ));
                }
                return Ok(Claim {
                    _lock: lock,
                    path,
                    record,
                    waited: started.elapsed(),
                });
            }
            if let Decision::Wait(why) = decision
                && why != said
            {
                log::info(&format!(
                    "run {run_id}: waiting for the host's budget: {why}; it goes when they end"
                ));
                said = why;
            }
        }
        if stop.load(Ordering::SeqCst) {
            return Err(exit::tempfail(format!(
                "run {run_id}: interrupted while waiting for the host's budget"
            )));
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[cfg(test)]
mod tests {
    use super::super::{DEFAULT, Part, Source};
    use super::*;

    fn host(memory_mb: u64, disk_cap_mb: Option<u64>, disk_free_mb: Option<u64>) -> Host {
        Host {
            memory_mb,
            memory_from: "budget_memory_mb".into(),
            disk_cap_mb,
            disk_free_mb,
        }
    }

    fn need(memory_mb: u64, disk_mb: u64) -> Need {
        Need {
            parts: vec![Part {
                what: "web".into(),
                recipe: "web".into(),
                memory_mb,
                memory_from: Source::Declared,
                disk_mb,
                disk_from: Source::Learnt,
            }],
            makes_shared: vec![],
        }
    }

    fn holder(what: &str, memory_mb: u64, disk_mb: u64, standing: bool) -> Holder {
        Holder {
            what: what.into(),
            figures: Figures { memory_mb, disk_mb },
            standing,
        }
    }

    #[test]
    fn fits_waits_says_for_what_and_goes_alone_when_nothing_else_runs() {
        let h = host(1000, None, None);
        assert_eq!(decide(&h, &need(600, 10), &[]), Decision::Go);
        let busy = [holder("run r1 (pg)", 600, 10, false)];
        match decide(&h, &need(600, 10), &busy) {
            Decision::Wait(why) => assert_eq!(
                why,
                "memory: it needs 600 MiB (web 600 MiB (declared)) and 400 MiB of the 1000 MiB \
                 budget (budget_memory_mb) are left, held by run r1 (pg) 600 MiB"
            ),
            other => panic!("{other:?}"),
        }
        assert_eq!(decide(&h, &need(400, 10), &busy), Decision::Go);
        // Too big even alone: it goes, next to a shared app only.
        let shared = [holder("shared dependency app sso", 300, 10, true)];
        assert!(matches!(
            decide(&h, &need(2000, 10), &shared),
            Decision::GoAlone(w) if w.contains("even with no other run")
        ));
        assert!(matches!(
            decide(&h, &need(800, 10), &shared),
            Decision::GoAlone(_)
        ));
    }

    #[test]
    fn disk_counts_against_the_cap_and_the_free_space() {
        let standing = holder("shared dependency app sso", 0, 500, true);
        let run = holder("run r1 (pg)", 0, 300, false);
        // The cap counts everything that holds disk.
        let h = host(1000, Some(1000), None);
        assert_eq!(
            decide(&h, &need(1, 200), &[standing.clone(), run.clone()]),
            Decision::Go
        );
        assert!(matches!(
            decide(&h, &need(1, 201), &[standing.clone(), run.clone()]),
            Decision::Wait(w) if w.starts_with("disk: it needs 201 MiB") && w.contains("budget_disk_mb")
        ));
        // Free space: standing apps are on the disk already.
        let h = host(1000, None, Some(800));
        assert_eq!(
            decide(&h, &need(1, 500), &[standing.clone(), run.clone()]),
            Decision::Go
        );
        assert!(matches!(
            decide(&h, &need(1, 501), &[standing, run]),
            Decision::Wait(w) if w.contains("min_free_disk_mb") && w.contains("run r1 (pg) 300 MiB")
        ));
    }

    #[test]
    fn claims_are_held_released_kept_and_stale_ones_removed() {
        let sd = super::super::tests::scratch("claims");
        let rd = sd.join("recipes");
        let stop = AtomicBool::new(false);
        let h = || Ok(host(1000, None, None));
        let a = acquire(&sd, &rd, h, "r1", "web", need(600, 10), &stop).unwrap();
        let held = holders(&sd, &rd, "r2").unwrap();
        assert_eq!(held, [holder("run r1 (web)", 600, 10, false)]);
        assert_eq!(holders(&sd, &rd, "r1").unwrap(), []);
        // A second run that does not fit waits; stopped, it says so (75).
        stop.store(true, Ordering::SeqCst);
        let e = acquire(&sd, &rd, h, "r2", "pg", need(600, 10), &stop)
            .err()
            .unwrap();
        assert_eq!(exit::code_of(&e), exit::TEMPFAIL);
        assert!(
            format!("{e:#}").contains("waiting for the host's budget"),
            "{e:#}"
        );
        stop.store(false, Ordering::SeqCst);
        drop(a);
        assert_eq!(holders(&sd, &rd, "r2").unwrap(), []);
        // A claim whose run is gone (killed: the file stays, nobody holds
        // the lock) is removed at the next look.
        let d = dir(&sd);
        let rec = Record {
            schema: SCHEMA,
            run_id: "dead".into(),
            recipe: "web".into(),
            need: need(900, 10),
            since: "2026-01-01T00:00:00Z".into(),
            kept: false,
        };
        state::write_json(&d.join("dead.json"), &rec).unwrap();
        assert_eq!(holders(&sd, &rd, "r2").unwrap(), []);
        assert!(!d.join("dead.json").exists());
        // Kept up for probing: it stands while its run says it is kept.
        let mut k = acquire(&sd, &rd, h, "kept", "web", need(700, 10), &stop).unwrap();
        k.keep().unwrap();
        drop(k);
        let run = RunDir::runs_root(&sd).join("kept");
        std::fs::create_dir_all(&run).unwrap();
        std::fs::write(run.join("kept.json"), "{}").unwrap();
        assert_eq!(
            holders(&sd, &rd, "r2").unwrap(),
            [holder(
                "run kept (web), kept up for probing",
                700,
                10,
                false
            )]
        );
        std::fs::remove_file(run.join("kept.json")).unwrap();
        assert_eq!(holders(&sd, &rd, "r2").unwrap(), []);
        assert!(!d.join("kept.json").exists());
    }

    #[test]
    fn a_shared_app_stands_at_its_estimate_unless_a_run_is_making_it() {
        let sd = super::super::tests::scratch("standing");
        let rd = sd.join("recipes");
        shared::write(
            &sd,
            &shared::Shared {
                schema: shared::SCHEMA,
                recipe: "sso".into(),
                run_id: shared::run_id("sso"),
                repo: "/r/sso".into(),
                r#ref: "1.0".into(),
                domain: "sso.ci.localhost".into(),
                stack: "sso_ci_localhost".into(),
                since: "2026-01-01T00:00:00Z".into(),
            },
        )
        .unwrap();
        assert_eq!(
            holders(&sd, &rd, "r1").unwrap(),
            [holder(
                "shared dependency app sso",
                DEFAULT.memory_mb,
                DEFAULT.disk_mb,
                true
            )]
        );
        let stop = AtomicBool::new(false);
        let mut n = need(100, 10);
        n.makes_shared = vec!["sso".into()];
        let _c = acquire(
            &sd,
            &rd,
            || Ok(host(10_000, None, None)),
            "r1",
            "web",
            n,
            &stop,
        )
        .unwrap();
        let held = holders(&sd, &rd, "r2").unwrap();
        assert_eq!(held.len(), 1, "{held:?}");
        assert_eq!(held[0].what, "run r1 (web)");
    }
}
