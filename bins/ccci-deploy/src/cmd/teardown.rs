//! `ccci-deploy teardown`: remove what the run created and report what is left.

use crate::TeardownArgs;
use crate::app::App;
use crate::teardown;
use crate::{open_run, print_json};
use anyhow::Result;
use ccci_core::cli::Ctx;
use ccci_core::{exit, ids, state};
use serde_json::json;
use std::time::Duration;

pub(crate) fn cmd_teardown(ctx: &Ctx, a: TeardownArgs) -> Result<i32> {
    let run = open_run(ctx, &a.run)?;
    let _lock = run.lock()?;
    let app = state::read_json_opt::<App>(&run.app_path())?;
    ctx.docker.check_swarm_manager()?;
    let retained = run.retained()?;
    let keep: &[&str] = if a.release {
        &[]
    } else if a.keep_volumes || retained.is_some() {
        &teardown::RETAINED_KINDS
    } else {
        &[]
    };
    run.ledger(
        "teardown-start",
        json!({"keep": keep, "release": a.release}),
    )?;
    // The instance the app's objects were labelled with; a run that died before
    // its app.json was written can only have been this state dir's.
    let instance = match &app {
        Some(a) => a.instance.clone(),
        None => ctx.cfg.instance_id()?,
    };
    let report = teardown::teardown(
        &ctx.docker,
        &run.id,
        &instance,
        app.as_ref().map(|a| a.stack.as_str()),
        Duration::from_secs(60),
        keep,
    )?;
    if report.leftovers.is_empty() {
        // Torn down on purpose: no longer kept for probing (if it was).
        match std::fs::remove_file(run.kept_path()) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
        if keep.is_empty() {
            if retained.is_some() {
                std::fs::remove_file(run.retained_path())?;
            }
        } else {
            let names = |kind: &str| -> Vec<String> {
                report
                    .kept
                    .iter()
                    .filter(|o| o.kind == kind)
                    .map(|o| o.name.clone())
                    .collect()
            };
            state::write_json(
                &run.retained_path(),
                &ccci_core::rundir::Retained {
                    schema: ccci_core::rundir::SCHEMA,
                    volumes: names("volume"),
                    secrets: names("secret"),
                    since: retained.map(|r| r.since).unwrap_or_else(ids::now_rfc3339),
                },
            )?;
        }
    }
    run.ledger("teardown", serde_json::to_value(&report)?)?;
    Ok(report_teardown(ctx, &run.id, &report))
}

fn report_teardown(ctx: &Ctx, run_id: &str, r: &teardown::Report) -> i32 {
    if ctx.json {
        let (outcome, summary) = if r.leftovers.is_empty() {
            (
                "clean",
                format!("run {run_id}: removed {} objects, nothing left", r.removed),
            )
        } else {
            (
                "leftovers",
                format!("run {run_id}: {} objects left behind", r.leftovers.len()),
            )
        };
        print_json(
            outcome,
            &summary,
            json!({"run_id": run_id, "clean": r.leftovers.is_empty(), "removed": r.removed, "leftovers": r.leftovers, "kept": r.kept, "foreign": r.foreign, "elapsed_ms": r.elapsed_ms}),
        );
    } else {
        // Foreign objects do not make a teardown red (they were never ours to
        // remove), but the verdict line says they are there, and each gets a
        // line saying whose it is.
        let foreign = if r.foreign.is_empty() {
            String::new()
        } else {
            format!(
                "; {} objects in its stack namespace are not this run's and were left alone",
                r.foreign.len()
            )
        };
        if r.leftovers.is_empty() {
            let kept = if r.kept.is_empty() {
                String::new()
            } else {
                format!(" but the {} retained volumes and secrets", r.kept.len())
            };
            println!(
                "clean: run {run_id}: removed {} objects in {:.1} s, nothing left{kept}{foreign}",
                r.removed,
                r.elapsed_ms as f64 / 1000.0
            );
        } else {
            println!(
                "red: run {run_id}: {} objects left behind{foreign}:",
                r.leftovers.len()
            );
            for o in &r.leftovers {
                println!("  {} {} ({})", o.kind, o.name, o.id);
            }
        }
        for f in &r.foreign {
            println!("left: {} {}: not this run's ({})", f.kind, f.name, f.owner);
        }
    }
    if r.leftovers.is_empty() {
        exit::OK
    } else {
        exit::NO
    }
}
