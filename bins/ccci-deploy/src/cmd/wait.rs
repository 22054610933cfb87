//! `ccci-deploy wait`: wait for convergence and health, and report the verdict.

use crate::WaitArgs;
use crate::app::App;
use crate::converge::{self, Verdict};
use crate::health;
use crate::{open_run, print_json};
use anyhow::Result;
use ccci_core::cli::Ctx;
use ccci_core::rundir::RunDir;
use ccci_core::{exit, ids};
use serde_json::json;
use std::time::Duration;

/// Default convergence timeout when neither the run nor the recipe gives one.
const DEFAULT_TIMEOUT: u64 = 300;

pub(crate) fn cmd_wait(ctx: &Ctx, a: WaitArgs) -> Result<i32> {
    let run = open_run(ctx, &a.run)?;
    let _lock = run.lock()?;
    let app = App::load(&run)?;
    if app.deployed.is_none() {
        return Err(exit::usage(format!("run {} has not been deployed", run.id)));
    }
    ctx.docker.check_swarm_manager()?;
    let v = wait_app(ctx, &run, &app, a.timeout, a.since_now)?;
    Ok(report_verdict(ctx, &v, json!({})))
}

fn timeout_for(run: &RunDir, app: &App, flag: Option<u64>) -> Duration {
    // The recipe's timeout label, as last deployed.
    let from_label = || -> Option<u64> {
        let text = std::fs::read_to_string(run.rendered_path()).ok()?;
        let config: serde_json::Value = serde_norway::from_str(&text).ok()?;
        let labels = ccci_core::compose::deploy_labels(&config["services"]["app"]);
        let key = ccci_core::labels::coop_cloud(&app.stack, ccci_core::labels::coop::TIMEOUT);
        let text = labels.get(&key)?.as_str()?;
        match text.trim().parse() {
            Ok(secs) => Some(secs),
            Err(_) => {
                // Said, not swallowed: the recipe meant some timeout.
                ccci_core::log::warn(&format!(
                    "label {key} is {text:?}, not a number of seconds: ignored, the default of {DEFAULT_TIMEOUT} s applies"
                ));
                None
            }
        }
    };
    Duration::from_secs(
        flag.or(app.timeout_secs)
            .or_else(from_label)
            .unwrap_or(DEFAULT_TIMEOUT),
    )
}

pub(crate) fn wait_app(
    ctx: &Ctx,
    run: &RunDir,
    app: &App,
    timeout: Option<u64>,
    since_now: bool,
) -> Result<Verdict> {
    let timeout = timeout_for(run, app, timeout);
    let probe = health::Probe {
        health: app.health.clone(),
    };
    let since = if since_now {
        ids::now_nanos()
    } else {
        app.deploy_started_ms as u128 * 1_000_000
    };
    let mut v = converge::wait(&ctx.docker, app, since, timeout, &probe)?;
    // A decoy reached is the defect, healthy or not: another stack's
    // service would have answered in production.
    match crate::decoy::explain_for(&ctx.docker, app, run) {
        Ok(Some(why)) => {
            v.reason = if v.ok {
                why
            } else {
                format!("{why}; {}", v.reason)
            };
            v.ok = false;
        }
        Ok(None) => {}
        Err(e) => ccci_core::log::warn(&format!(
            "cannot read the decoys' logs: {}",
            ccci_core::cli::one_line(&e)
        )),
    }
    run.ledger("wait", serde_json::to_value(&v)?)?;
    Ok(v)
}

pub(crate) fn report_verdict(ctx: &Ctx, v: &Verdict, extra: serde_json::Value) -> i32 {
    if ctx.json {
        let mut out = serde_json::to_value(v).unwrap_or_default();
        if let (Some(o), Some(e)) = (out.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        print_json(ccci_core::verdict::ok_or_red(v.ok), &v.reason, out);
    } else {
        let secs = v.elapsed_ms as f64 / 1000.0;
        if v.ok {
            println!("ok: {} in {secs:.1} s", v.reason);
        } else {
            println!("red: {} (after {secs:.1} s)", v.reason);
            for l in &v.logs {
                println!("  | {l}");
            }
        }
    }
    if v.ok { exit::OK } else { exit::NO }
}
