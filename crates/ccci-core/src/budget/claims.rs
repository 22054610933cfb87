//! The host's budget and the claims on it (docs/budget.md).
//!
//! A run claims what it needs (`<state>/budget/claims/<run>.json`) and holds
//! the claim's lock (`<run>.lock`) while it runs. A claim nobody holds stands
//! while its run's apps do: a red run kept up for probing (`--keep-app`), or a
//! run killed outright whose objects wait for the reaper; once they are gone,
//! the next look removes it. Shared dependency apps stand between runs and
//! count while they stand. What stands does not end on its own: it never
//! makes a run wait forever (below), and its disk is on the disk already.
//!
//! A run goes when, with it, the claims and standing apps fit:
//! - memory: within `budget_memory_mb` (default: three quarters of the
//!   engine's host memory);
//! - disk: within `budget_disk_mb` when set; and the runs' disk within what
//!   Docker's data root has free above `min_free_disk_mb` (apps that stand
//!   are on the disk already, so only runs count there).
//!
//! A run that would not fit even alone goes when no other run is going:
//! waiting would never end, and the deploy's own disk check still guards.

use super::{Figures, Need, Role, estimate};
use crate::config::Config;
use crate::docker::Docker;
use crate::rundir::RunDir;
use crate::settings::Settings;
use crate::state::{self, Lock};
use crate::{exit, ids, log, shared};
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub const SCHEMA: u32 = 1;

fn dir(state_dir: &Path) -> PathBuf {
    state_dir.join("budget").join("claims")
}

/// Held while a claim is weighed and written (outside `claims/`, where any
/// name is a run's).
fn take_lock(state_dir: &Path) -> Result<Lock> {
    std::fs::create_dir_all(dir(state_dir))?;
    Lock::acquire(
        &state_dir.join("budget").join("budget.lock"),
        Duration::from_secs(30),
        "the host's budget",
    )
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
    /// engine is local, the check is on and `df` can see the data root.
    pub disk_free_mb: Option<u64>,
    /// The runs of this ccci instance with services or volumes on the engine
    /// now, when the engine is local: a claim nobody holds stands while its
    /// run's apps are up.
    pub runs_up: Option<BTreeSet<String>>,
}

impl Host {
    /// The budget of the engine's host, as configured or from the engine.
    pub fn of(cfg: &Config, docker: &Docker) -> Result<Host> {
        let api = docker.api();
        // One look at the engine: its memory and its data root.
        let info = match &api {
            Some(a) => Some(a.get("/info").map_err(|e| {
                exit::wrap(e, exit::TEMPFAIL).context("cannot ask Docker about its host")
            })?),
            None => None,
        };
        let (memory_mb, memory_from) = if cfg.budget_memory_mb > 0 {
            (cfg.budget_memory_mb, "budget_memory_mb".to_string())
        } else {
            let bytes = match &info {
                Some(i) => i["MemTotal"].as_u64(),
                None => docker
                    .run(&["info", "--format", "{{.MemTotal}}"])?
                    .trim()
                    .parse()
                    .ok(),
            };
            let total = bytes.map(|b| b / (1024 * 1024)).ok_or_else(|| {
                exit::tempfail("Docker did not say how much memory its host has (MemTotal)")
            })?;
            (
                total / 4 * 3,
                format!("three quarters of the host's {total} MiB; budget_memory_mb sets it"),
            )
        };
        // With the minimum off, the operator said the data root is not to be
        // measured (it may be out of reach of df here).
        let root = info
            .as_ref()
            .and_then(|i| i["DockerRootDir"].as_str().map(str::to_string))
            .filter(|r| !r.is_empty() && cfg.min_free_disk_mb > 0);
        let disk_free_mb = root.and_then(|r| match crate::disk::free_mib(&r) {
            Ok(free) => Some(free.saturating_sub(cfg.min_free_disk_mb)),
            Err(e) => {
                log::debug(&format!(
                    "budget: free disk not known: {}",
                    exit::one_line(&e)
                ));
                None
            }
        });
        let runs_up = match &api {
            Some(a) => Some(runs_up(a, &cfg.instance_id()?)?),
            None => None,
        };
        Ok(Host {
            memory_mb,
            memory_from,
            disk_cap_mb: (cfg.budget_disk_mb > 0).then_some(cfg.budget_disk_mb),
            disk_free_mb,
            runs_up,
        })
    }
}

/// The runs with services of this instance on the engine. Volumes are left
/// out: a run's volumes kept on purpose (`--keep-volumes`) hold no memory,
/// and what they hold of the disk is in its free space.
fn runs_up(api: &crate::docker_api::Api, instance: &str) -> Result<BTreeSet<String>> {
    let label = format!("{}={instance}", crate::labels::INSTANCE);
    Ok(api
        .services_with_label(&label)?
        .iter()
        .filter_map(|s| {
            s["Spec"]["Labels"][crate::labels::RUN]
                .as_str()
                .map(str::to_string)
        })
        .collect())
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
    /// Its second app is torn down at once, and a shared app it made stands
    /// on its own: neither is in the kept claim.
    pub fn keep(&mut self) -> Result<()> {
        self.record.kept = true;
        self.record
            .need
            .parts
            .retain(|p| matches!(p.role, Role::App | Role::Dependency));
        self.record.need.makes_shared.clear();
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

/// How a written claim stands now.
enum Standing {
    /// Its run is going (holds the claim's lock).
    Going,
    /// Kept up for probing, until `ccci-deploy teardown`.
    Kept,
    /// Its run ended without its teardown; its apps wait for the reaper.
    Orphaned,
    /// Its run ended without its teardown, and whether its apps are up
    /// cannot be seen (the engine is not local): kept, never taken for gone.
    Unknown,
    Gone,
}

fn standing(
    state_dir: &Path,
    d: &Path,
    r: &Record,
    up: Option<&BTreeSet<String>>,
) -> Result<Standing> {
    if Lock::is_held(&d.join(format!("{}.lock", r.run_id)))? {
        return Ok(Standing::Going);
    }
    let run = RunDir {
        id: r.run_id.clone(),
        path: RunDir::runs_root(state_dir).join(&r.run_id),
    };
    if r.kept && run.kept_path().exists() {
        return Ok(Standing::Kept);
    }
    let Some(up) = up else {
        return Ok(Standing::Unknown);
    };
    // Its own apps, by their full run ids: the run itself, its second app,
    // its dependencies (another run's id may start with this one's).
    let mut apps = vec![r.run_id.clone(), crate::rundir::second_id(&r.run_id)];
    apps.extend(
        r.need
            .parts
            .iter()
            .filter(|p| p.role == Role::Dependency)
            .map(|p| crate::rundir::dependency_id(&r.run_id, &p.recipe)),
    );
    Ok(if apps.iter().any(|a| up.contains(a)) {
        Standing::Orphaned
    } else {
        Standing::Gone
    })
}

/// Everything that holds part of the budget, but `except` (the asking run).
/// With `tidy`, claims that hold nothing any longer are removed: call with
/// the budget lock held.
pub fn holders(
    state_dir: &Path,
    recipes_dir: &Path,
    except: &str,
    host: &Host,
    tidy: bool,
) -> Result<Vec<Holder>> {
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
            // A claim names its own run: anything else is not one of ours.
            let record = state::read_json::<Record>(&p).and_then(|r| {
                if r.run_id == id && crate::rundir::valid_id(&r.run_id) {
                    Ok(r)
                } else {
                    anyhow::bail!("claim {} names run {:?}", p.display(), r.run_id)
                }
            });
            let how = match &record {
                Ok(r) => standing(state_dir, &d, r, host.runs_up.as_ref())?,
                // A run that holds a claim it cannot say is counted at the
                // default rather than taken for nothing.
                Err(_) if Lock::is_held(&d.join(format!("{id}.lock")))? => {
                    out.push(Holder {
                        what: format!("run {id} (unreadable claim)"),
                        figures: super::DEFAULT,
                        standing: false,
                    });
                    continue;
                }
                Err(_) => Standing::Gone,
            };
            let r = match (&how, record) {
                (Standing::Gone, _) | (_, Err(_)) => {
                    if tidy {
                        let _ = std::fs::remove_file(&p);
                        let _ = std::fs::remove_file(d.join(format!("{id}.lock")));
                    }
                    continue;
                }
                (_, Ok(r)) => r,
            };
            let what = match how {
                Standing::Going => format!("run {} ({})", r.run_id, r.recipe),
                Standing::Kept => format!(
                    "run {0} ({1}), kept up for probing until `ccci-deploy teardown {0}`",
                    r.run_id, r.recipe
                ),
                Standing::Unknown => format!(
                    "run {0} ({1}), stopped before its teardown (the engine is not local: \
                     whether its apps are up cannot be seen; `ccci-deploy teardown {0}` ends it)",
                    r.run_id, r.recipe
                ),
                _ => format!(
                    "run {0} ({1}), stopped before its teardown: its apps are up until the reaper or `ccci-deploy teardown {0}` removes them",
                    r.run_id, r.recipe
                ),
            };
            let going = matches!(how, Standing::Going);
            if going {
                makes_shared.extend(r.need.makes_shared.iter().cloned());
            }
            // A shared app a run that is no longer going made stands on its
            // own (or was never made): not in its claim.
            let figures = r
                .need
                .parts
                .iter()
                .filter(|p| going || p.role != Role::Shared)
                .map(super::Part::figures)
                .sum();
            out.push(Holder {
                what,
                figures,
                standing: !going,
            });
        }
    }
    for recipe in shared::app_runs(state_dir)?.into_values() {
        if makes_shared.contains(&recipe) {
            continue;
        }
        let declared = Settings::load(recipes_dir, &recipe)
            .ok()
            .and_then(|s| s.budget);
        let p = estimate(state_dir, &recipe, declared.as_ref(), Role::App)?;
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
pub fn look(state_dir: &Path, recipes_dir: &Path, host: &Host) -> Result<Vec<Holder>> {
    let _l = take_lock(state_dir)?;
    holders(state_dir, recipes_dir, "", host, false)
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
    if all.memory_mb.saturating_add(want.memory_mb) > host.memory_mb {
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
        && all.disk_mb.saturating_add(want.disk_mb) > cap
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
        && runs.disk_mb.saturating_add(want.disk_mb) > free
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
            "it does not fit the host's budget even with no other run going ({}): it goes alone",
            short.join("; ")
        ))
    } else {
        Decision::Wait(short.join("; "))
    }
}

/// Claim what `need` says for `run_id`, waiting while the budget is spent
/// and saying for what (again whenever that changes). `host` and `need` are
/// asked on every look: free disk moves as other runs go, and a shared app
/// another run made meanwhile is no longer this run's to count. `on_wait`
/// hears why on every look while it waits (systemd's status).
#[allow(clippy::too_many_arguments)]
pub fn acquire(
    state_dir: &Path,
    recipes_dir: &Path,
    mut host: impl FnMut() -> Result<Host>,
    mut need: impl FnMut() -> Result<Need>,
    run_id: &str,
    recipe: &str,
    stop: &AtomicBool,
    on_wait: &dyn Fn(&str),
) -> Result<Claim> {
    let d = dir(state_dir);
    let started = Instant::now();
    let mut said = String::new();
    let mut last: Option<Host> = None;
    loop {
        // Docker in trouble for a moment while the run waits: the last look
        // stands in, rather than ending a wait that may have lasted an hour.
        let host = match host() {
            Ok(h) => {
                last = Some(h.clone());
                h
            }
            Err(e) => match &last {
                Some(h) => {
                    log::debug(&format!("budget: {}", exit::one_line(&e)));
                    h.clone()
                }
                None => return Err(e),
            },
        };
        let need = need()?;
        {
            let _l = take_lock(state_dir)?;
            let holders = holders(state_dir, recipes_dir, run_id, &host, true)?;
            match decide(&host, &need, &holders) {
                Decision::Wait(why) => {
                    // Said again when what is short or who holds it changes,
                    // not each time the free space moves by a MiB.
                    let key = format!(
                        "{:?} {:?}",
                        why.split("; ")
                            .map(|p| p.split(':').next().unwrap_or(""))
                            .collect::<Vec<_>>(),
                        holders.iter().map(|h| &h.what).collect::<Vec<_>>()
                    );
                    if key != said {
                        log::info(&format!(
                            "run {run_id}: waiting for the host's budget: {why}; it goes when runs holding it end"
                        ));
                        said = key;
                    }
                    on_wait(&format!("waiting for the host's budget: {why}"));
                }
                decision => {
                    if let Decision::GoAlone(why) = &decision {
                        log::warn(&format!("run {run_id}: {why}"));
                    }
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
            }
        }
        if stop.load(Ordering::SeqCst) {
            return Err(exit::tempfail(format!(
                "run {run_id}: interrupted while waiting for the host's budget"
            )));
        }
        std::thread::sleep(Duration::from_secs(2));
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
            runs_up: Some(BTreeSet::new()),
        }
    }

    fn part(role: Role, memory_mb: u64, disk_mb: u64) -> Part {
        Part {
            what: "web".into(),
            recipe: "web".into(),
            role,
            memory_mb,
            memory_from: Source::Declared,
            disk_mb,
            disk_from: Source::Learnt,
        }
    }

    fn need(memory_mb: u64, disk_mb: u64) -> Need {
        Need {
            parts: vec![part(Role::App, memory_mb, disk_mb)],
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

    fn take(sd: &Path, h: Host, id: &str, n: Need, stop: &AtomicBool) -> Result<Claim> {
        acquire(
            sd,
            &sd.join("recipes"),
            || Ok(h.clone()),
            || Ok(n.clone()),
            id,
            "web",
            stop,
            &|_| {},
        )
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
        // Too big even alone: it goes, next to what stands only (a shared
        // app, a kept run): they never end on their own.
        let standing = [
            holder("shared dependency app sso", 300, 10, true),
            holder("run k (web), kept up for probing", 500, 10, true),
        ];
        assert!(matches!(
            decide(&h, &need(2000, 10), &standing),
            Decision::GoAlone(w) if w.contains("even with no other run going")
        ));
        assert!(matches!(
            decide(&h, &need(800, 10), &standing),
            Decision::GoAlone(_)
        ));
        // Figures at the edge of u64 never wrap into a fit.
        let huge = [holder("run r1 (pg)", u64::MAX, u64::MAX, false)];
        assert!(matches!(
            decide(
                &host(1000, Some(10), Some(10)),
                &need(u64::MAX, u64::MAX),
                &huge
            ),
            Decision::Wait(_)
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
        // Free space: what stands is on the disk already.
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
    fn claims_are_held_released_kept_orphaned_and_removed_when_nothing_is_up() {
        let sd = super::super::tests::scratch("claims");
        let rd = sd.join("recipes");
        let stop = AtomicBool::new(false);
        let h = host(1000, None, None);
        let a = take(&sd, h.clone(), "r1", need(600, 10), &stop).unwrap();
        assert_eq!(
            holders(&sd, &rd, "r2", &h, true).unwrap(),
            [holder("run r1 (web)", 600, 10, false)]
        );
        assert_eq!(holders(&sd, &rd, "r1", &h, true).unwrap(), []);
        // A second run that does not fit waits; stopped, it says so (75).
        stop.store(true, Ordering::SeqCst);
        let heard = std::cell::RefCell::new(vec![]);
        let e = acquire(
            &sd,
            &rd,
            || Ok(h.clone()),
            || Ok(need(600, 10)),
            "r2",
            "pg",
            &stop,
            &|why| heard.borrow_mut().push(why.to_string()),
        )
        .err()
        .unwrap();
        assert_eq!(exit::code_of(&e), exit::TEMPFAIL);
        assert!(
            format!("{e:#}").contains("waiting for the host's budget"),
            "{e:#}"
        );
        assert!(heard.borrow()[0].starts_with("waiting for the host's budget: memory"));
        stop.store(false, Ordering::SeqCst);
        drop(a);
        assert_eq!(holders(&sd, &rd, "r2", &h, true).unwrap(), []);
        let d = dir(&sd);
        assert!(!d.join("r1.json").exists() && !d.join("r1.lock").exists());
        // A run killed outright: the file stays, nobody holds the lock. While
        // its apps are up it stands; once the reaper took them it is removed.
        let mut dead_need = need(900, 10);
        dead_need.parts.push(Part {
            recipe: "db".into(),
            role: Role::Dependency,
            ..part(Role::Dependency, 100, 10)
        });
        // The shared app it made stands on its own: not in its claim now.
        dead_need.parts.push(part(Role::Shared, 5000, 10));
        let rec = Record {
            schema: SCHEMA,
            run_id: "dead".into(),
            recipe: "web".into(),
            need: dead_need,
            since: "2026-01-01T00:00:00Z".into(),
            kept: false,
        };
        state::write_json(&d.join("dead.json"), &rec).unwrap();
        let mut up = h.clone();
        up.runs_up = Some(["dead-dep-db".to_string()].into());
        let held = holders(&sd, &rd, "r2", &up, true).unwrap();
        assert_eq!(held.len(), 1);
        assert!(
            held[0].standing && held[0].what.contains("stopped before its teardown"),
            "{held:?}"
        );
        assert_eq!(held[0].figures.memory_mb, 1000, "{held:?}");
        assert!(d.join("dead.json").exists());
        // Where the engine cannot be seen, it is kept, not taken for gone;
        // an operator's look removes nothing.
        up.runs_up = None;
        let held = holders(&sd, &rd, "r2", &up, true).unwrap();
        assert!(held[0].what.contains("the engine is not local"), "{held:?}");
        up.runs_up = Some(BTreeSet::new());
        look(&sd, &rd, &up).unwrap();
        assert!(d.join("dead.json").exists());
        // A run whose id starts with its id (`dead-sso`) keeps nothing up for it.
        up.runs_up = Some(["dead-sso".to_string()].into());
        assert_eq!(holders(&sd, &rd, "r2", &up, true).unwrap(), []);
        assert!(!d.join("dead.json").exists());
        // Kept up for probing: it stands while its run says it is kept,
        // without the second app torn down at once.
        let mut n = need(700, 10);
        n.parts.push(part(Role::Second, 700, 10));
        let mut k = take(&sd, h.clone(), "kept", n, &stop).unwrap();
        k.keep().unwrap();
        drop(k);
        let run = RunDir::runs_root(&sd).join("kept");
        std::fs::create_dir_all(&run).unwrap();
        std::fs::write(run.join("kept.json"), "{}").unwrap();
        assert_eq!(
            holders(&sd, &rd, "r2", &h, true).unwrap(),
            [holder(
                "run kept (web), kept up for probing until `ccci-deploy teardown kept`",
                700,
                10,
                true
            )]
        );
        // It stands, so it makes no run wait forever: a run too big beside
        // it goes alone.
        let big = take(&sd, h.clone(), "big", need(900, 10), &stop).unwrap();
        drop(big);
        std::fs::remove_file(run.join("kept.json")).unwrap();
        assert_eq!(holders(&sd, &rd, "r2", &h, true).unwrap(), []);
        assert!(!d.join("kept.json").exists());
        // A run may be called anything, `budget` too.
        drop(take(&sd, h.clone(), "budget", need(1, 1), &stop).unwrap());
    }

    #[test]
    fn a_shared_app_stands_at_its_estimate_unless_a_run_is_making_it() {
        let sd = super::super::tests::scratch("standing");
        let rd = sd.join("recipes");
        super::super::tests::stands(&sd, "sso");
        let h = host(10_000, None, None);
        assert_eq!(
            holders(&sd, &rd, "r1", &h, true).unwrap(),
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
        let _c = take(&sd, h.clone(), "r1", n, &stop).unwrap();
        let held = holders(&sd, &rd, "r2", &h, true).unwrap();
        assert_eq!(held.len(), 1, "{held:?}");
        assert_eq!(held[0].what, "run r1 (web)");
    }
}
