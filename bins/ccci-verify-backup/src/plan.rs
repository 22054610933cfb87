//! `plan` and `labelled`: what the stack's `backupbot.*` labels say would be
//! backed up.

use crate::app_json;
use crate::labels;
use anyhow::Result;
use ccci_core::app::App;
use ccci_core::cli::Ctx;
use ccci_core::rundir::RunDir;
use ccci_core::{exit, verdict};
use labels::ServicePlan;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The stack's services as docker reports them.
fn services(ctx: &Ctx, stack: &str) -> Result<Vec<Value>> {
    let ids = ctx.docker.stack_service_ids(stack)?;
    if ids.is_empty() {
        return Err(exit::usage(format!("stack {stack} is not deployed")));
    }
    ctx.docker.inspect("service", &ids)
}

fn plan_for(ctx: &Ctx, run: &RunDir) -> Result<(App, Vec<ServicePlan>)> {
    let (app, plan, _) = plan_with_images(ctx, run)?;
    Ok((app, plan))
}

/// The plan, and each service's image (the role of a service is read from it).
pub(crate) fn plan_with_images(
    ctx: &Ctx,
    run: &RunDir,
) -> Result<(App, Vec<ServicePlan>, BTreeMap<String, String>)> {
    let app = app_json(run)?;
    let stack = app.stack.clone();
    let svcs = services(ctx, &stack)?;
    let images = svcs
        .iter()
        .map(|s| {
            let name = s["Spec"]["Name"].as_str().unwrap_or("");
            (
                name.strip_prefix(&format!("{stack}_"))
                    .unwrap_or(name)
                    .to_string(),
                s["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            )
        })
        .collect();
    let plan = labels::plan(&svcs, &stack);
    Ok((app, plan, images))
}

pub(crate) fn cmd_plan(ctx: &Ctx, run_arg: &str) -> Result<i32> {
    let run = RunDir::open(&ctx.cfg.state_dir, run_arg)?;
    let (_, plan) = plan_for(ctx, &run)?;
    if ctx.json {
        let backed = plan.iter().filter(|s| s.enabled).count();
        verdict::print(
            "ok",
            format!("{backed} of {} services backed up", plan.len()),
            json!({"services": plan}),
        );
        return Ok(exit::OK);
    }
    for s in &plan {
        println!(
            "service {}{}",
            s.service,
            if s.enabled { "" } else { " (not backed up)" }
        );
        for (what, h) in [
            ("pre-hook", &s.pre_hook),
            ("post-hook", &s.post_hook),
            ("restore pre-hook", &s.restore_pre_hook),
            ("restore post-hook", &s.restore_post_hook),
        ] {
            if let Some(h) = h {
                println!("  {what}: {h}");
            }
        }
        for v in &s.volumes {
            println!(
                "  volume {} at {}: {}",
                v.volume,
                v.target,
                coverage_text(v)
            );
        }
    }
    Ok(exit::OK)
}

/// The question the generic hooks and tests ask before anything else, answered
/// by exit code so no caller reads this tool's words.
pub(crate) fn cmd_labelled(ctx: &Ctx, run_arg: &str) -> Result<i32> {
    let run = RunDir::open(&ctx.cfg.state_dir, run_arg)?;
    let (app, plan) = plan_for(ctx, &run)?;
    let labelled = plan.iter().any(|s| s.enabled);
    if ctx.json {
        verdict::print(
            if labelled { "labelled" } else { "unlabelled" },
            if labelled {
                "backup labels: yes".to_string()
            } else {
                format!(
                    "no backup labels: no service of stack {} has backupbot.backup=true",
                    app.stack
                )
            },
            json!({"labelled": labelled}),
        );
    } else if labelled {
        println!("backup labels: yes");
    } else {
        println!(
            "no backup labels: no service of stack {} has backupbot.backup=true",
            app.stack.as_str()
        );
    }
    Ok(if labelled { exit::OK } else { exit::NO })
}

pub(crate) fn coverage_text(v: &labels::VolumePlan) -> String {
    if !v.covered {
        format!("not covered ({})", v.why)
    } else if v.paths.is_empty() {
        "whole volume".into()
    } else {
        v.paths.join(", ")
    }
}
