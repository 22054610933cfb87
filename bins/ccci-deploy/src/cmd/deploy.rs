//! `ccci-deploy deploy`, and the deploy of one ref that `upgrade` shares.

use super::wait::{report_verdict, wait_app};
use crate::DeployArgs;
use crate::app::App;
use crate::converge::Verdict;
use crate::{health, infra, ownership, recipe, secrets};
use crate::{open_run, print_json};
use anyhow::Result;
use ccci_core::cli::Ctx;
use ccci_core::docker::Docker;
use ccci_core::envfile::EnvFile;
use ccci_core::overlay::Phase;
use ccci_core::rundir::{Request, RunDir};
use ccci_core::{exit, ids, state};
use serde_json::json;

pub(crate) fn cmd_deploy(ctx: &Ctx, a: DeployArgs) -> Result<i32> {
    let run = open_run(ctx, &a.run)?;
    let _lock = run.lock()?;
    let mut app = App::load(&run)?;
    let r#ref = match a.r#ref {
        Some(r) => r,
        // Redeploy what runs; a first deploy is of the ref the app was created at.
        None => match (&app.deployed, &app.install_ref) {
            (Some(d), _) => d.r#ref.clone(),
            (None, Some(r)) => r.clone(),
            (None, None) => state::read_json::<Request>(&run.request_path())?.r#ref,
        },
    };
    let resolved = match deploy_ref(
        ctx,
        &run,
        &mut app,
        &r#ref,
        a.expect_sha.as_deref(),
        Phase::Install,
    ) {
        Ok((r, _)) => r,
        Err(e) => {
            let v = red_verdict(e)?;
            run.ledger("deploy-failed", json!({"reason": v.reason}))?;
            return Ok(report_verdict(ctx, &v, json!({})));
        }
    };
    if a.wait {
        let v = wait_app(ctx, &run, &app, a.timeout, false)?;
        return Ok(report_verdict(
            ctx,
            &v,
            json!({"ref": resolved.r#ref, "sha": resolved.sha}),
        ));
    }
    if ctx.json {
        print_json(
            "ok",
            &format!(
                "deployed {} ({}) as stack {}",
                resolved.r#ref,
                &resolved.sha[..12],
                app.stack
            ),
            json!({"ok": true, "ref": resolved.r#ref, "sha": resolved.sha, "stack": app.stack}),
        );
    } else {
        println!(
            "deployed {} ({}) as stack {}",
            resolved.r#ref,
            &resolved.sha[..12],
            app.stack
        );
    }
    Ok(exit::OK)
}

/// Pull every image before deploying, so a missing tag fails fast with the
/// registry's own words and nothing half-deployed is left; a registry in
/// trouble is tried again, then exit 75 (infra::pull).
fn pull_images(docker: &Docker, images: &[String]) -> Result<()> {
    for image in images {
        infra::pull(docker, image)?;
    }
    Ok(())
}

/// Check out `ref`, refresh the env with settings the ref adds, create missing
/// secrets, pull and deploy. Returns the resolved ref.
pub(crate) fn deploy_ref(
    ctx: &Ctx,
    run: &RunDir,
    app: &mut App,
    r#ref: &str,
    expect_sha: Option<&str>,
    phase: Phase,
) -> Result<(recipe::Resolved, Asks)> {
    // No separate reachability check: the first docker call below maps an
    // unreachable engine to exit 75 itself, and `new` checked for a swarm manager.
    // The disk comes first, before anything is created: an upgrade briefly
    // needs both releases' images.
    infra::check_free_disk(&ctx.docker, ctx.cfg.min_free_disk_mb)?;
    let resolved = recipe::resolve(run, r#ref)?;
    expect_commit(&resolved, expect_sha)?;
    let sample = recipe::checkout(run, &resolved)?;
    let mut env = EnvFile::read(&run.env_path())?;
    let added = env.add_missing(&sample);
    if !added.is_empty() {
        run.write_private("app.env", env.render().as_bytes())?;
    }
    let mut config = recipe::render(&ctx.docker, run, app, &env, phase)?;
    // Which CI overlays this deploy layered: the run says it was adjusted.
    let overlays: Vec<&str> = app
        .overlays
        .iter()
        .filter(|o| o.phase.applies_to(phase))
        .map(|o| o.file.as_str())
        .collect();
    if !overlays.is_empty() {
        ccci_core::log::info(&format!(
            "{phase} deploy with CI overlays: {}",
            overlays.join(", ")
        ));
    }
    // Before anything is created: `docker stack deploy` would adopt anything of
    // the same name in the namespace (rewrite a foreign service with our
    // labels, mount a foreign volume) and hand it all to our teardown. A
    // refusal is a red verdict, before the deploy is counted or recorded.
    ownership::refuse_foreign(&ctx.docker, app)?;
    let secrets_created = secrets::ensure(&ctx.docker, app, run, &config, &env)?;
    recipe::label(&mut config, app, &resolved)?;
    recipe::expose_app_env(&mut config, app, &recipe::deploy_vars(run, app, &env)?)?;
    health::inject(
        &mut config,
        &app.health,
        &ctx.cfg.probe_image,
        &app.labels(),
    );
    recipe::pin(&mut config, app)?;
    // Before the deploy, so the recipe's first lookups already meet them.
    let decoys = crate::decoy::place(&ctx.docker, app, &config, &ctx.cfg.probe_image)?;
    if !decoys.is_empty() {
        run.ledger("decoys", json!({"services": decoys}))?;
    }
    let images = recipe::images(&config);
    pull_images(&ctx.docker, &images)?;
    ccci_core::compose::write_rendered(&config, &run.rendered_path())?;

    // Anything swarm reports from one second before this point belongs to us.
    app.deploy_started_ms = (ids::now_nanos() / 1_000_000) as u64 - 1000;
    app.deploys += 1;
    app.save(run)?;
    run.ledger(
        "deploy-start",
        json!({"ref": resolved.r#ref, "sha": resolved.sha, "tag": resolved.tag, "images": images, "env_added": added, "overlays": overlays}),
    )?;
    let rendered = run.rendered_path();
    ctx.docker
        .run(&[
            "stack",
            "deploy",
            // ccci waits itself; the CLI's default has changed before.
            "--detach=true",
            "--resolve-image",
            "always",
            "-c",
            &rendered.to_string_lossy(),
            &app.stack,
        ])
        .map_err(|e| {
            if exit::code_of(&e) == exit::TEMPFAIL {
                e
            } else {
                exit::no(format!(
                    "docker stack deploy failed: {}",
                    ccci_core::cli::one_line(&e)
                ))
            }
        })?;
    app.deployed = Some(recipe::deployed_record(&resolved));
    app.save(run)?;
    run.ledger(
        "deploy",
        json!({"ref": resolved.r#ref, "sha": resolved.sha, "stack": app.stack}),
    )?;
    Ok((
        resolved,
        Asks {
            env: added,
            secrets: secrets_created,
        },
    ))
}

/// What a deploy added on its own that an operator deploying with abra must
/// add by hand (abra warns about a missing env key and a missing secret and
/// stops): on an upgrade, what the new release asks of operators.
#[derive(Debug, Default)]
pub(crate) struct Asks {
    /// Env keys of the release's `.env.sample` the app env did not have.
    pub(crate) env: Vec<String>,
    /// Docker secrets created for it (a new secret, or a new version of one).
    pub(crate) secrets: Vec<String>,
}

impl Asks {
    /// "operators must add env SMTP_HOST and secret smtp_password (v1)", or
    /// nothing.
    pub(crate) fn sentence(&self, stack: &str) -> Option<String> {
        let mut parts = vec![];
        if !self.env.is_empty() {
            parts.push(format!("env {}", self.env.join(", ")));
        }
        if !self.secrets.is_empty() {
            let names: Vec<String> = self
                .secrets
                .iter()
                .map(|s| {
                    let short = s.strip_prefix(&format!("{stack}_")).unwrap_or(s);
                    match short.rsplit_once('_') {
                        Some((key, version)) => format!("{key} ({version})"),
                        None => short.to_string(),
                    }
                })
                .collect();
            parts.push(format!("secret {}", names.join(", ")));
        }
        (!parts.is_empty()).then(|| format!("operators must add {}", parts.join(" and ")))
    }
}

/// The commit a run planned is its identity: a ref that names another one now
/// (a branch pushed during the run) is not deployed. Exit 75: the run is worth
/// repeating on the new head, and the recipe is not to blame.
pub(crate) fn expect_commit(resolved: &recipe::Resolved, expect: Option<&str>) -> Result<()> {
    match expect {
        Some(want) if !resolved.sha.starts_with(want) || want.len() < 7 => {
            Err(exit::tempfail(format!(
                "{} names {} now, not {want} the run planned: it moved during the run",
                resolved.r#ref,
                &resolved.sha[..12]
            )))
        }
        _ => Ok(()),
    }
}

/// A deploy that failed for the recipe's reasons (missing image, rejected spec)
/// is a red verdict; anything else (bad input, Docker unreachable) stays an error.
pub(crate) fn red_verdict(e: anyhow::Error) -> Result<Verdict> {
    if exit::code_of(&e) != exit::NO {
        return Err(e);
    }
    Ok(Verdict {
        ok: false,
        reason: ccci_core::cli::one_line(&e),
        service: None,
        logs: vec![],
        elapsed_ms: 0,
    })
}
