//! `ccci-deploy status`: the app and the state of its services.

use super::upgrade::{describe_running, identity_of, runs_ref};
use crate::RunArg;
use crate::app::App;
use crate::converge;
use crate::{open_run, print_json};
use anyhow::Result;
use ccci_core::cli::Ctx;
use ccci_core::exit;
use serde_json::json;

pub(crate) fn cmd_status(ctx: &Ctx, a: RunArg) -> Result<i32> {
    let run = open_run(ctx, &a.run)?;
    let app = App::load(&run)?;
    ctx.docker.check_swarm_manager()?;
    let snap = converge::snapshot(&ctx.docker, &app.stack)?;
    let since = app.deploy_started_ms as u128 * 1_000_000;
    let pending = converge::pending(&snap, &app.stack, since, 1);
    // Judged with the recipe's own start window and allowance, as `wait` does.
    let failure = converge::Judge::new(converge::StartPolicy::of(&app.health), since)
        .failure(&snap, &app.stack, ccci_core::ids::now_nanos())
        .map(|f| format!("service {}: {}", f.service, f.reason));
    // What runs is what the app service's labels say now, which after a
    // rollback is not what was last asked for.
    // The snapshot already holds the service: no second inspect.
    let app_service = app.service_name("app");
    let running = app.deployed.as_ref().and_then(|_| {
        snap.services
            .iter()
            .find(|s| s["Spec"]["Name"] == app_service.as_str())
            .map(|s| identity_of(&app, s))
    });
    let running_text = running.as_ref().map(|(version, chaos)| {
        let what = describe_running(version, chaos);
        let asked = app
            .deployed
            .as_ref()
            .map(|d| runs_ref(version, chaos, &d.sha, d.tag.as_deref()))
            .unwrap_or(true);
        if asked {
            what
        } else {
            format!("{what}, not the ref last deployed (rolled back or paused)")
        }
    });
    let kept = run.kept()?;
    if ctx.json {
        print_json(
            "ok",
            &format!(
                "run {}: {}",
                app.run_id,
                running_text
                    .clone()
                    .unwrap_or_else(|| "not deployed".into())
            ),
            json!({
                "app": app, "services": snap.services.len(), "pending": pending, "failure": failure,
                "running_version": running.as_ref().map(|r| &r.0),
                "running_chaos_version": running.as_ref().map(|r| &r.1),
                "running": running_text, "kept": kept,
            }),
        );
    } else {
        println!("run      {}", app.run_id);
        println!("recipe   {}", app.recipe);
        println!("domain   {}", app.domain);
        println!("stack    {}", app.stack);
        if let Some(d) = &app.deployed {
            println!("deployed {} ({}) at {}", d.r#ref, d.sha, d.at);
        }
        if let Some(r) = &running_text {
            println!("running  {r}");
        }
        println!("services {}", snap.services.len());
        for p in &pending {
            println!("pending  {p}");
        }
        if let Some(f) = &failure {
            println!("failure  {f}");
        }
        if let Some(k) = &kept {
            println!(
                "kept     for probing since {} ({}); `ccci-deploy teardown {}` removes it",
                k.since, k.reason, app.run_id
            );
        }
    }
    Ok(exit::OK)
}
