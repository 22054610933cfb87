//! `ccci-deploy reap`: tear down the leftovers of runs that are no longer alive.

use crate::ReapArgs;
use crate::app::App;
use crate::print_json;
use crate::{ownership, teardown};
use anyhow::Result;
use ccci_core::cli::Ctx;
use ccci_core::rundir::RunDir;
use ccci_core::{exit, ids, state};
use serde_json::json;
use std::time::Duration;

/// When did the run last do anything? (The newest ledger event, else the run dir.)
fn last_activity_secs_ago(run: &RunDir) -> Option<u64> {
    let now = ids::now_nanos();
    let last = run
        .ledger_events()
        .ok()?
        .last()
        .map(|e| ids::parse_docker_time(&e.ts))
        .filter(|t| *t > 0)
        .or_else(|| {
            let m = std::fs::metadata(&run.path).ok()?.modified().ok()?;
            Some(m.duration_since(std::time::UNIX_EPOCH).ok()?.as_nanos())
        })?;
    Some((now.saturating_sub(last) / 1_000_000_000) as u64)
}

pub(crate) fn cmd_reap(ctx: &Ctx, a: ReapArgs) -> Result<i32> {
    let state_dir = ctx.cfg.ensure_state_dir()?.to_path_buf();
    ctx.docker.check_swarm_manager()?;
    let instance = ctx.cfg.instance_id()?;
    let runs = teardown::runs_on_engine(&ctx.docker, &instance)?;
    // The canonical apps are named in their canonical.json files, the one
    // record of them; an unreadable one stops the reaper (exit 2) rather than
    // let it reap a canonical app's data.
    let canonical = ccci_core::canonical::app_runs(&state_dir)?;
    // Shared dependency apps live between runs by design (ccci_core::shared).
    let shared = ccci_core::shared::app_runs(&state_dir)?;
    let mut results = vec![];
    let mut code = exit::OK;
    for run_id in runs {
        // The id comes from a docker label anyone on this engine could set; it
        // must never lead outside the runs directory.
        if !ccci_core::rundir::valid_id(&run_id) {
            results.push(json!({"run_id": run_id, "verdict": "kept: not a valid run id"}));
            continue;
        }
        let dir = RunDir::runs_root(&state_dir).join(&run_id);
        let run = RunDir {
            id: run_id.clone(),
            path: dir.clone(),
        };
        let mut foreign: Vec<ownership::ForeignObject> = vec![];
        let verdict = if let Some(recipe) = canonical.get(&run_id) {
            format!("kept: canonical app of {recipe}")
        } else if let Some(recipe) = shared.get(&run_id) {
            format!("kept: shared dependency app of {recipe}")
        } else if dir.is_dir() && state::Lock::is_held(&run.lock_path())? {
            "kept: run is alive".to_string()
        } else if let Some(k) = dir.is_dir().then(|| run.kept()).transpose()?.flatten() {
            format!(
                "kept: left up for probing since {} ({}); `ccci-deploy teardown {run_id}` removes it",
                k.since, k.reason
            )
        } else if dir.is_dir() && last_activity_secs_ago(&run).is_some_and(|s| s < a.grace) {
            format!("kept: active within the last {} s", a.grace)
        } else if a.dry_run {
            "would reap".to_string()
        } else {
            // Take the run lock so a run resuming right now cannot race the reaper.
            let _lock = if dir.is_dir() {
                match state::Lock::try_acquire(&run.lock_path())? {
                    Some(l) => Some(l),
                    None => {
                        results.push(json!({"run_id": run_id, "verdict": "kept: run is alive"}));
                        continue;
                    }
                }
            } else {
                None
            };
            let stack = state::read_json_opt::<App>(&run.app_path())
                .ok()
                .flatten()
                .map(|a| a.stack);
            // A run retaining its data (awaiting promotion, or canonical) keeps it.
            let keep: &[&str] = if dir.is_dir() && run.retained()?.is_some() {
                &teardown::RETAINED_KINDS
            } else {
                &[]
            };
            // The runs were found by this instance's label, so this instance
            // is whose objects the reaper may remove.
            let r = teardown::teardown(
                &ctx.docker,
                &run_id,
                &instance,
                stack.as_deref(),
                Duration::from_secs(60),
                keep,
            )?;
            if dir.is_dir() {
                let _ = run.ledger("reap", serde_json::to_value(&r)?);
            }
            // What the reaper found in the run's namespace but left alone.
            let left: String = r
                .foreign
                .iter()
                .map(|f| format!("; left {} {}: not this run's ({})", f.kind, f.name, f.owner))
                .collect();
            foreign = r.foreign;
            if r.leftovers.is_empty() {
                format!("reaped: {} objects{left}", r.removed)
            } else {
                code = exit::NO;
                let names: Vec<String> = r
                    .leftovers
                    .iter()
                    .map(|o| format!("{} {}", o.kind, o.name))
                    .collect();
                format!("red: leftovers: {}{left}", names.join(", "))
            }
        };
        results.push(json!({"run_id": run_id, "verdict": verdict, "foreign": foreign}));
    }
    if ctx.json {
        let reaped = results
            .iter()
            .filter(|r| {
                r["verdict"]
                    .as_str()
                    .is_some_and(|v| v.starts_with("reaped"))
            })
            .count();
        print_json(
            ccci_core::verdict::ok_or_red(code == exit::OK),
            &format!("{reaped} of {} runs reaped", results.len()),
            json!({"runs": results}),
        );
    } else if results.is_empty() {
        println!("nothing to reap");
    } else {
        for r in &results {
            println!(
                "{} {}",
                r["run_id"].as_str().unwrap_or(""),
                r["verdict"].as_str().unwrap_or("")
            );
        }
    }
    Ok(code)
}
